//! What the DNS and threat-feed benchmarks share: finding BIND's tools, free
//! ports, and a release `hybrid-dns` with its own named.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const ADMIN_PASSWORD: &str = "admin-password-123";

pub fn which(p: &str) -> Option<std::path::PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(p))
        .find(|p| p.is_file())
}

/// A port free for both TCP and UDP (named listens on both).
pub fn free_port() -> u16 {
    loop {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = t.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub dns_port: u16,
    /// The data directory (removed with the server).
    #[allow(dead_code)] // read by some benchmarks only
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the release binary with a managed named; `env` adds to (or
/// overrides) the defaults.
pub fn start(env: &[(&str, String)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (http, dns) = (free_port(), free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hybrid-dns"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HDNS_LISTEN", format!("127.0.0.1:{http}"))
        .env("HDNS_DATA_DIR", dir.path().join("data"))
        .env("HDNS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("HDNS_BIND_MODE", "managed")
        .env("HDNS_DNS_PORT", dns.to_string())
        .env("HDNS_RNDC_PORT", free_port().to_string())
        .env("HDNS_BIND_STATS_PORT", free_port().to_string())
        .env("HDNS_BIND_ALLOW_RECURSION", "[]")
        .env("HDNS_RATE_LIMIT_PER_USER", "0")
        .env("HDNS_RATE_LIMIT_PER_IP", "0")
        .env("HDNS_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Server {
        child: cmd.spawn().unwrap(),
        base: format!("http://127.0.0.1:{http}"),
        dns_port: dns,
        dir,
    }
}

impl Server {
    /// Waits until the server answers, signs in as admin; returns the token.
    pub async fn admin_token(&self, c: &reqwest::Client) -> String {
        let ready = Instant::now();
        while c
            .get(format!("{}/api/health", self.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                ready.elapsed() < Duration::from_secs(30),
                "server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let login: Value = c
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        login["access_token"].as_str().unwrap().to_string()
    }
}
