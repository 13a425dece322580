//! Talking to BIND from tests: `dig` against a named, a second named that the
//! tests start as the authority behind forward zones, and the skip rule.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether BIND's programs are here. Under `CI=true` they must be; elsewhere
/// the suite is skipped with one line.
pub fn available(test: &str) -> bool {
    let found = ["named", "dig", "named-checkzone", "rndc"]
        .iter()
        .all(|p| which(p).is_some());
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("BIND (named, rndc, dig, named-checkzone) is required under CI=true");
        }
        eprintln!("SKIP BIND suite ({test}): install Debian's bind9 bind9-utils bind9-dnsutils");
    }
    found
}

pub fn which(p: &str) -> Option<std::path::PathBuf> {
    [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ]
    .iter()
    .map(|d| Path::new(d).join(p))
    .find(|p| p.is_file())
}

/// What `dig` saw: the status (`NOERROR`, `NXDOMAIN`, ...) and the answers'
/// data fields (`192.0.2.1`, `10 mail.example.com.`, `"text"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: String,
    pub data: Vec<String>,
}

pub fn dig(port: u16, name: &str, rtype: &str) -> Answer {
    let out = Command::new(which("dig").expect("dig"))
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+time=1",
            "+tries=2",
            "+noall",
            "+comments",
            "+answer",
            name,
            rtype,
        ])
        .output()
        .expect("run dig");
    let text = String::from_utf8_lossy(&out.stdout);
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("NO_ANSWER")
        .to_string();
    let data = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 4 && f[3] == rtype).then(|| f[4..].join(" "))
        })
        .collect();
    Answer { status, data }
}

/// Polls `dig` until `ok` holds (BIND reloads asynchronously after restarts).
pub async fn wait_for(
    port: u16,
    name: &str,
    rtype: &str,
    timeout: Duration,
    ok: impl Fn(&Answer) -> bool,
) -> Answer {
    let deadline = Instant::now() + timeout;
    loop {
        let a = dig(port, name, rtype);
        if ok(&a) || Instant::now() > deadline {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a named answers on `port` (a CHAOS query it answers itself).
pub async fn wait_answering(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = Command::new(which("dig").expect("dig"))
            .args([
                "@127.0.0.1",
                "-p",
                &port.to_string(),
                "+time=1",
                "+tries=1",
                "-c",
                "CH",
                "version.bind",
                "TXT",
            ])
            .output()
            .expect("run dig");
        if String::from_utf8_lossy(&out.stdout).contains("status: ") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "named on port {port} never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A plain named started by a test, authoritative for the given zones
/// (`(name, zone file text)`), on a free loopback port.
pub struct AuthorityNamed {
    pub port: u16,
    child: Child,
    conf: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl AuthorityNamed {
    pub async fn start(zones: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_dns_port();
        let d = dir.path().display();
        let mut conf = format!(
            "options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; session-keyfile \"{d}/s.key\"; \
             listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }}; recursion no; dnssec-validation no; }};\n\
             controls {{ }};\n"
        );
        for (name, text) in zones {
            std::fs::write(dir.path().join(format!("{name}.db")), text).unwrap();
            conf.push_str(&format!(
                "zone \"{name}\" {{ type primary; file \"{d}/{name}.db\"; }};\n"
            ));
        }
        let conf_path = dir.path().join("named.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let s = Self {
            port,
            child: Self::spawn(&conf_path),
            conf: conf_path,
            _dir: dir,
        };
        wait_answering(port).await;
        s
    }

    fn spawn(conf: &std::path::Path) -> Child {
        let log = conf.with_file_name("named.log");
        Command::new(which("named").expect("named"))
            .args(["-g", "-c"])
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("start the authority named")
    }

    /// Stops answering (the process ends).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts again on the same port with the same zones.
    pub async fn restart(&mut self) {
        self.stop();
        self.child = Self::spawn(&self.conf);
        wait_answering(self.port).await;
    }
}

impl Drop for AuthorityNamed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `named-checkzone` on a text; `Err` has its output.
pub fn checkzone(zone: &str, text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zone.db");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(which("named-checkzone").expect("named-checkzone"))
        .args([zone, &path.to_string_lossy()])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
