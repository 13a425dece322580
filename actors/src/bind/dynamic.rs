//! Feed zones of the managed named are dynamic: a small change reaches named
//! as signed DNS UPDATE messages (`nsupdate`), so named neither re-reads nor
//! re-indexes a million unchanged names. A full re-render freezes the zone,
//! swaps the file, drops the journal and thaws it.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::actor::rndc;
use super::{BindMode, BindSettings};

/// Changes per UPDATE message: well inside DNS's 64 KiB over TCP.
const PER_MESSAGE: usize = 500;

/// Whether feed zones take dynamic updates (our own named knows our key).
pub fn feeds_dynamic(settings: &BindSettings) -> bool {
    settings.mode == BindMode::Managed && settings.tools.nsupdate.is_some()
}

/// The nsupdate script that removes `removed` and adds `added` (each as one
/// `(type, data)` policy record). Returns the script and its message count.
pub fn script(
    port: u16,
    zone: &str,
    removed: &[&str],
    added: &[&str],
    (rtype, data): (&str, &str),
) -> (String, usize) {
    let mut s = String::with_capacity((removed.len() + added.len()) * 48);
    let mut messages = 0;
    let changes = removed
        .iter()
        .map(|n| (false, n))
        .chain(added.iter().map(|n| (true, n)));
    let mut in_message = 0;
    for (add, name) in changes {
        if in_message == 0 {
            s.push_str(&format!("server 127.0.0.1 {port}\nzone {zone}\n"));
        }
        if add {
            s.push_str(&format!("update add {name}.{zone}. 60 {rtype} {data}\n"));
        } else {
            s.push_str(&format!("update delete {name}.{zone}.\n"));
        }
        in_message += 1;
        if in_message == PER_MESSAGE {
            s.push_str("send\n");
            (in_message, messages) = (0, messages + 1);
        }
    }
    if in_message > 0 {
        s.push_str("send\n");
        messages += 1;
    }
    (s, messages)
}

/// Runs a script with nsupdate over TCP, signed with our key.
pub async fn apply(settings: &BindSettings, script: &str) -> Result<(), String> {
    let bin = settings
        .tools
        .nsupdate
        .as_ref()
        .ok_or("nsupdate is not installed")?;
    let mut child = Command::new(bin)
        .arg("-v")
        .arg("-k")
        .arg(settings.paths.rndc_key())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run nsupdate: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("nsupdate has no stdin")?;
    let text = script.to_string();
    let writer = tokio::spawn(async move {
        let r = stdin.write_all(text.as_bytes()).await;
        drop(stdin);
        r
    });
    let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .map_err(|_| "nsupdate timed out".to_string())?
        .map_err(|e| format!("nsupdate failed: {e}"))?;
    writer
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("nsupdate input: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "nsupdate: {}",
            err.lines().take(3).collect::<Vec<_>>().join("; ")
        ))
    }
}

/// Replaces a dynamic zone's file: freeze (named writes out its journal and
/// stops taking updates), `install`, drop the journal, thaw (named loads the
/// new file).
pub async fn replace<F, Fut>(settings: &BindSettings, zone: &str, install: F) -> Result<(), String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    // A zone named has not loaded yet cannot be frozen; it loads the file as is.
    let frozen = rndc(settings, &["freeze", zone]).await.is_ok();
    let installed = install().await.map_err(|e| e.to_string());
    if installed.is_ok() {
        let journal = settings.paths.rpz_file(zone).with_extension("db.jnl");
        let _ = tokio::fs::remove_file(journal).await;
    }
    if frozen {
        rndc(settings, &["thaw", zone]).await?;
    } else {
        let _ = rndc(settings, &["reload", zone]).await;
    }
    installed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_into_messages() {
        let removed: Vec<String> = (0..600).map(|i| format!("r{i}.example")).collect();
        let removed: Vec<&str> = removed.iter().map(String::as_str).collect();
        let (s, n) = script(
            5353,
            "feed-1.rpz.hdns",
            &removed,
            &["a.example", "*.b.example"],
            ("CNAME", "."),
        );
        assert_eq!(n, 2);
        assert_eq!(s.matches("send\n").count(), 2);
        assert!(s.starts_with("server 127.0.0.1 5353\nzone feed-1.rpz.hdns\nupdate delete r0.example.feed-1.rpz.hdns.\n"));
        assert!(s.contains("update add *.b.example.feed-1.rpz.hdns. 60 CNAME .\nsend\n"));
    }
}
