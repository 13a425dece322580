//! BIND's files on disk: layout, atomic installation, and the checks
//! (`named-checkzone`, `named-checkconf`) that guard every write.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// Where everything of one BIND instance lives.
#[derive(Debug, Clone)]
pub struct BindPaths {
    pub dir: PathBuf,
}

impl BindPaths {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    pub fn named_conf(&self) -> PathBuf {
        self.dir.join("named.conf")
    }
    pub fn zones_conf(&self) -> PathBuf {
        self.dir.join("zones.conf")
    }
    pub fn rndc_key(&self) -> PathBuf {
        self.dir.join("rndc.key")
    }
    pub fn rndc_conf(&self) -> PathBuf {
        self.dir.join("rndc.conf")
    }
    pub fn zones_dir(&self) -> PathBuf {
        self.dir.join("zones")
    }
    pub fn secondary_dir(&self) -> PathBuf {
        self.dir.join("secondary")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }
    pub fn query_log(&self) -> PathBuf {
        self.logs_dir().join("query.log")
    }
    /// named's log of RPZ rewrites.
    pub fn rpz_log(&self) -> PathBuf {
        self.logs_dir().join("rpz.log")
    }
    /// Response-policy zones (manual and feeds) and each feed's last good list.
    pub fn rpz_dir(&self) -> PathBuf {
        self.dir.join("rpz")
    }
    pub fn rpz_file(&self, zone: &str) -> PathBuf {
        self.rpz_dir().join(format!("{zone}.db"))
    }
    /// A feed's last good entries, sorted, one per line (what the next
    /// update diffs against).
    pub fn feed_list(&self, feed_id: i32) -> PathBuf {
        self.rpz_dir().join(format!("feed-{feed_id}.list"))
    }
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("named.pid")
    }
    /// The master file of a zone. Zone names are validated DNS names, so they
    /// are safe as file names (no `/`, no leading dot).
    pub fn zone_file(&self, zone: &str) -> PathBuf {
        self.zones_dir().join(format!("{zone}.db"))
    }
    pub fn secondary_file(&self, zone: &str) -> PathBuf {
        self.secondary_dir().join(format!("{zone}.db"))
    }

    pub fn create_dirs(&self) -> std::io::Result<()> {
        for d in [
            self.dir.clone(),
            self.zones_dir(),
            self.secondary_dir(),
            self.logs_dir(),
            self.rpz_dir(),
        ] {
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    }
}

/// A rendered file written next to its destination, checked, waiting to be
/// installed by an atomic rename. Dropping it removes the temporary file.
#[derive(Debug)]
pub struct Staged {
    pub temp: PathBuf,
    pub target: PathBuf,
    installed: bool,
}

impl Staged {
    fn temp_for(target: &Path) -> PathBuf {
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file");
        target.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()))
    }

    pub async fn write(target: PathBuf, content: &str) -> std::io::Result<Self> {
        let temp = Self::temp_for(&target);
        tokio::fs::write(&temp, content).await?;
        Ok(Self {
            temp,
            target,
            installed: false,
        })
    }

    /// For large files written in a blocking task: the staged file and its
    /// open temporary file.
    pub fn create_sync(target: PathBuf) -> std::io::Result<(Self, std::fs::File)> {
        let temp = Self::temp_for(&target);
        let file = std::fs::File::create(&temp)?;
        Ok((
            Self {
                temp,
                target,
                installed: false,
            },
            file,
        ))
    }

    /// Renames into place: readers see the old file or the new, never half of one.
    pub async fn install(mut self) -> std::io::Result<()> {
        tokio::fs::rename(&self.temp, &self.target).await?;
        self.installed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.installed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Names of the BIND tools; `None` when not installed.
#[derive(Debug, Clone)]
pub struct Tools {
    pub named: Option<PathBuf>,
    pub checkzone: Option<PathBuf>,
    pub checkconf: Option<PathBuf>,
    pub rndc: Option<PathBuf>,
    /// For incremental feed updates (dynamic DNS updates signed with our key).
    pub nsupdate: Option<PathBuf>,
}

impl Tools {
    pub fn discover() -> Self {
        Self {
            named: which("named"),
            checkzone: which("named-checkzone"),
            checkconf: which("named-checkconf"),
            rndc: which("rndc"),
            nsupdate: which("nsupdate"),
        }
    }
}

/// Looks a program up on PATH and in the sbin directories Debian uses.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Runs a checker; `Err` carries what it printed, which is what a user needs.
async fn run_check(bin: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Err(clean_checker_output(&text))
    }
}

/// Drops the temporary path from checker messages and the trailing noise.
fn clean_checker_output(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim().is_empty() && l.trim() != "OK")
        .map(|l| match l.find(".tmp:") {
            Some(i) => l[i + 5..].trim().to_string(),
            None => l.trim().to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn check_zone(tools: &Tools, zone: &str, file: &Path) -> Result<(), String> {
    match &tools.checkzone {
        Some(bin) => run_check(
            bin,
            &["-k", "fail", "-i", "local", zone, &file.to_string_lossy()],
        )
        .await
        .map_err(|e| {
            if e.is_empty() {
                format!("zone {zone} failed named-checkzone")
            } else {
                e
            }
        }),
        None => Ok(()),
    }
}

pub async fn check_conf(tools: &Tools, file: &Path) -> Result<(), String> {
    match &tools.checkconf {
        Some(bin) => run_check(bin, &[&file.to_string_lossy()]).await,
        None => Ok(()),
    }
}
