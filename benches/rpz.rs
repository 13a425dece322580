//! Threat-feed benchmark against a real named, with the release binary:
//!
//! * a 1,000,000-domain feed from a local file: from the update's start
//!   until named blocks its last domain, our own phases split from BIND's,
//!   the server's peak memory, next to `named-checkzone` alone on the zone;
//! * a second update in which 1% of the domains changed, and a third with
//!   the same list (nothing to install).
//!
//! Run: `cargo bench --bench rpz` (results on stdout; docs/benchmarks.md).

use futures_util::StreamExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

use serde_json::{json, Value};

mod common;

use common::{start, which};

const DOMAINS: usize = 1_000_000;

/// `DOMAINS` names; `shift` renames the first `changed` of them.
fn feed(shift: usize, changed: usize, last: &str) -> String {
    let mut s = String::with_capacity(DOMAINS * 32);
    s.push_str("# benchmark feed\n");
    for i in 0..DOMAINS - 1 {
        if i < changed {
            s.push_str(&format!("n{shift}-{i}.mal{}.bench.test\n", i % 997));
        } else {
            s.push_str(&format!("h{i}.mal{}.bench.test\n", i % 997));
        }
    }
    s.push_str(last);
    s.push('\n');
    s
}

fn status(port: u16, name: &str) -> String {
    let out = Command::new(which("dig").unwrap())
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+time=1",
            "+tries=1",
            name,
            "A",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("NO_ANSWER")
        .to_string()
}

fn wait_blocked(port: u16, name: &str, limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if status(port, name) == "NXDOMAIN" {
            return Some(Instant::now());
        }
        // Each dig is a process; polling faster steals the CPU named loads with.
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Peak resident memory of a process, in MiB.
fn peak_mib(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn named_pid(dir: &std::path::Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("data/bind/named.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next `threat_feed_updated` event's data.
async fn feed_updated(ws: &mut Ws) -> Value {
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("websocket closed")
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        let events = match v["type"].as_str() {
            Some("batch") => v["events"].as_array().cloned().unwrap_or_default(),
            Some("event") => vec![v],
            _ => continue,
        };
        if let Some(e) = events
            .into_iter()
            .find(|e| e["event_type"] == "threat_feed_updated")
        {
            return e["data"].clone();
        }
    }
}

fn report(label: &str, total: Duration, d: &Value, server_pid: u32, named: Option<u32>) {
    let t = &d["timings_ms"];
    let n = |k: &str| t[k].as_u64().unwrap_or(0);
    let ours = n("fetch") + n("parse") + n("render") + n("install");
    println!(
        "{label}: until named blocks the last domain {:.0} ms | ours {ours} ms (fetch {} parse+dedupe+diff {} render {} install {}) | BIND: checkzone {} reload {} | added {} removed {} total {} | peak RSS server {:.0} MiB, named {:.0} MiB",
        total.as_secs_f64() * 1000.0,
        n("fetch"),
        n("parse"),
        n("render"),
        n("install"),
        n("check"),
        n("reload"),
        d["added"],
        d["removed"],
        d["total"],
        peak_mib(server_pid),
        named.map_or(0.0, peak_mib),
    );
}

#[tokio::main]
async fn main() {
    if which("named").is_none() || which("dig").is_none() {
        println!("SKIP: BIND (named, dig) is not installed");
        return;
    }
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let server = start(&[
        ("HDNS_BIND_ALLOW_RECURSION", "[\"127.0.0.1\"]".into()),
        ("HDNS_THREAT_FEED_MAX_BYTES", (256u64 << 20).to_string()),
    ]);
    let token = server.admin_token(&c).await;
    let ws_url = format!("{}/ws?token={token}", server.base.replace("http", "ws"));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let sub = json!({"type": "subscribe", "data": {"event_types": ["threat_feed_updated"]}});
    use futures_util::SinkExt;
    ws.send(Message::Text(sub.to_string().into()))
        .await
        .unwrap();

    // A hosted wildcard answers every benchmark name until a policy blocks
    // it, so NXDOMAIN can only come from the policy zone.
    let zone: Value = c
        .post(format!("{}/api/zones", server.base))
        .bearer_auth(&token)
        .json(&json!({"name": "bench.test"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = c
        .post(format!("{}/api/dns-records", server.base))
        .bearer_auth(&token)
        .json(
            &json!({"zone_id": zone["id"], "name": "*", "record_type": "A", "value": "192.0.2.1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "wildcard record");
    assert_eq!(status(server.dns_port, "zz-last.bench.test"), "NOERROR");

    let feeds = server.dir.path().join("data/feeds");
    std::fs::create_dir_all(&feeds).unwrap();
    let path = feeds.join("bench.txt");
    std::fs::write(&path, feed(0, 0, "zz-last.bench.test")).unwrap();
    let port = server.dns_port;
    let pid = server.child.id();

    // 1. The whole feed, new.
    let t0 = Instant::now();
    let r = c
        .post(format!("{}/api/rpz/feeds", server.base))
        .bearer_auth(&token)
        .json(&json!({"name": "bench", "file_path": path, "format": "domains", "category": "malware", "schedule": "0 0 1 1 *"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let done = wait_blocked(port, "zz-last.bench.test", Duration::from_secs(120)).expect("blocked");
    let d = feed_updated(&mut ws).await;
    report(
        "full, 1,000,000 domains",
        done - t0,
        &d,
        pid,
        named_pid(server.dir.path()),
    );

    // named-checkzone alone on the same zone.
    let zone = server.dir.path().join("data/bind/rpz/feed-1.rpz.hdns.db");
    let mut alone = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let ok = Command::new(which("named-checkzone").unwrap())
            .args(["feed-1.rpz.hdns", &zone.to_string_lossy()])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok);
        alone.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!("named-checkzone alone on that zone: {alone:.0?} ms");

    // 2. 1% of the domains changed (10,000 out, 10,000 in).
    for round in 1..=2 {
        let last = format!("zz-new{round}.bench.test");
        std::fs::write(&path, feed(round, DOMAINS / 100, &last)).unwrap();
        assert_eq!(
            status(port, &last),
            "NOERROR",
            "not blocked before the update"
        );
        let t0 = Instant::now();
        let r = c
            .post(format!("{}/api/rpz/feeds/{id}/update", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let done = wait_blocked(port, &last, Duration::from_secs(120)).expect("blocked");
        let d = feed_updated(&mut ws).await;
        report(
            &format!("1% changed, round {round}"),
            done - t0,
            &d,
            pid,
            named_pid(server.dir.path()),
        );
    }

    // 3. The same list again: nothing to install.
    let t0 = Instant::now();
    c.post(format!("{}/api/rpz/feeds/{id}/update", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let d = feed_updated(&mut ws).await;
    println!(
        "unchanged list: {:.0} ms until threat_feed_updated (status {}), timings {}",
        t0.elapsed().as_secs_f64() * 1000.0,
        d["status"],
        d["timings_ms"]
    );
}
