//! DNS benchmarks against a real named, with the release binary:
//!
//! * import of a 100,000-record zone file until named answers its last record,
//!   with our own phases split from BIND's, next to `named-checkzone` alone;
//! * one record created through REST until named answers it (p50/p95).
//!
//! Run: `cargo bench --bench dns` (results on stdout; docs/benchmarks.md).

use futures_util::StreamExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

use serde_json::{json, Value};

mod common;

use common::{start, which};

const RECORDS: usize = 100_000;
const IMPORT_RUNS: usize = 3;
const REST_SAMPLES: usize = 200;
const LIVE_SAMPLES: usize = 50;

fn zone_file(zone: &str) -> String {
    let mut s = format!(
        "$ORIGIN {zone}.\n$TTL 3600\n@ IN SOA ns1 hostmaster ( 1 3600 600 604800 300 )\n  IN NS ns1\nns1 IN A 192.0.2.53\n"
    );
    for i in 0..RECORDS - 2 {
        let (a, b, c) = ((i >> 16) & 255, (i >> 8) & 255, i & 255);
        match i % 10 {
            0 => s.push_str(&format!("t{i} IN TXT \"bench record {i}; with spaces\"\n")),
            1 => s.push_str(&format!(
                "v{i} IN AAAA 2001:db8::{:x}:{:x}\n",
                i >> 16,
                i & 0xffff
            )),
            2 => s.push_str(&format!("c{i} IN CNAME h{}.{zone}.\n", i - 1)),
            _ => s.push_str(&format!("h{i} 300 IN A 10.{a}.{b}.{c}\n")),
        }
    }
    s.push_str("zz-last IN A 203.0.113.99\n");
    s
}

fn dig(port: u16, name: &str) -> Vec<String> {
    let out = Command::new(which("dig").unwrap())
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+short",
            "+time=1",
            "+tries=1",
            name,
            "A",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn wait_answer(port: u16, name: &str, want: &str, limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if dig(port, name).iter().any(|l| l == want) {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn post(c: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut r = c.post(url).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
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
    let server = start(&[]);
    let token = server.admin_token(&c).await;

    // 1. Import 100,000 records.
    let text = zone_file("bench0.test");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench0.test.zone");
    std::fs::write(&path, &text).unwrap();
    let mut checkzone = Vec::new();
    for _ in 0..IMPORT_RUNS {
        let t = Instant::now();
        let ok = Command::new(which("named-checkzone").unwrap())
            .args(["bench0.test", &path.to_string_lossy()])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "named-checkzone refused the generated file");
        checkzone.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!("zone file: {RECORDS} records, {} bytes", text.len());
    println!(
        "named-checkzone alone: median {:.0} ms over {IMPORT_RUNS} runs",
        median(checkzone)
    );

    let mut end_to_end = Vec::new();
    let mut ours = Vec::new();
    for run in 0..IMPORT_RUNS {
        let zone = format!("bench{run}.test");
        let (st, z) = post(
            &c,
            format!("{}/api/zones", server.base),
            Some(&token),
            json!({"name": zone}),
        )
        .await;
        assert_eq!(st, 201, "{z}");
        let content = if run == 0 {
            text.clone()
        } else {
            zone_file(&zone)
        };
        let t0 = Instant::now();
        let (st, res) = post(
            &c,
            format!("{}/api/zones/{}/import", server.base, z["id"]),
            Some(&token),
            json!({"content": content, "mode": "replace"}),
        )
        .await;
        let t_resp = t0.elapsed();
        assert_eq!(st, 200, "{res}");
        let answered = wait_answer(
            server.dns_port,
            &format!("zz-last.{zone}"),
            "203.0.113.99",
            Duration::from_secs(60),
        )
        .expect("named never answered the last record");
        let e2e = answered.duration_since(t0).as_secs_f64() * 1000.0;
        let t = &res["timings_ms"];
        let own: u64 = ["parse_validate", "database", "load", "render", "commit"]
            .iter()
            .map(|k| t[k].as_u64().unwrap())
            .sum();
        println!(
            "import run {run}: response {:.0} ms, named answers last record after {e2e:.0} ms; ours {own} ms \
             (parse+validate {} / database {} / load {} / render {} / commit {}), BIND: checkzone {} / reload {}",
            t_resp.as_secs_f64() * 1000.0,
            t["parse_validate"], t["database"], t["load"], t["render"], t["commit"], t["check"], t["reload"]
        );
        end_to_end.push(e2e);
        ours.push(own as f64);
    }
    println!(
        "import {RECORDS} records: end to end median {:.0} ms (target < 5000), our part median {:.0} ms (target < 2000)",
        median(end_to_end),
        median(ours)
    );

    // 2. One record through REST until named answers it.
    let (_, z) = post(
        &c,
        format!("{}/api/zones", server.base),
        Some(&token),
        json!({"name": "rest.test"}),
    )
    .await;
    let mut lat = Vec::new();
    for i in 0..REST_SAMPLES {
        let value = format!("198.51.{}.{}", i / 250, i % 250 + 1);
        let t0 = Instant::now();
        let (st, body) = post(
            &c,
            format!("{}/api/dns-records", server.base),
            Some(&token),
            json!({"zone_id": z["id"], "name": format!("r{i}"), "record_type": "A", "value": value}),
        )
        .await;
        assert_eq!(st, 201, "{body}");
        let at = wait_answer(
            server.dns_port,
            &format!("r{i}.rest.test"),
            &value,
            Duration::from_secs(10),
        )
        .expect("never answered");
        lat.push(at.duration_since(t0).as_secs_f64() * 1000.0);
    }
    println!(
        "REST create -> dig answer, {REST_SAMPLES} records: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms (target p50 < 300)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        percentile(&lat, 1.0)
    );

    // 3. The live path: a dig until its `dns_query` event arrives on /ws/queries.
    let ws_url = format!(
        "{}/ws/queries?token={token}",
        server.base.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let mut live = Vec::new();
    for i in 0..LIVE_SAMPLES {
        let name = format!("live{i}.rest.test");
        let t0 = Instant::now();
        let (port, n) = (server.dns_port, name.clone());
        tokio::task::spawn_blocking(move || dig(port, &n));
        let deadline = t0 + Duration::from_secs(10);
        'wait: while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline.into(), ws.next()).await
        {
            let Message::Text(text) = m else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            let events = match v["type"].as_str() {
                Some("batch") => v["events"].as_array().cloned().unwrap_or_default(),
                _ => vec![v],
            };
            for e in events {
                if e["event_type"] == "dns_query" && e["data"]["query_name"] == name.as_str() {
                    live.push(t0.elapsed().as_secs_f64() * 1000.0);
                    break 'wait;
                }
            }
        }
    }
    assert_eq!(live.len(), LIVE_SAMPLES, "every query arrived");
    println!(
        "dig -> dns_query event on /ws/queries, {LIVE_SAMPLES} queries: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms (target p50 < 1000)",
        percentile(&live, 0.5),
        percentile(&live, 0.95),
        percentile(&live, 1.0)
    );
}
