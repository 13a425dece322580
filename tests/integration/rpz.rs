//! Response-policy zones against a real named: manual rules answer by every
//! action, a passthru rule beats a feed, feeds come from a real HTTP server
//! in the test on their schedule, bad feeds keep the last good blocks and
//! raise alerts, and blocked lookups reach admins as `threat_detected`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::bind::{self, dig};
use crate::common::ws::{collect, gather, of, WsClient};
use crate::common::{assert_error, Backend, TestServer};

const RECURSION: (&str, &str) = ("HDNS_BIND_ALLOW_RECURSION", "[\"127.0.0.1\"]");

/// What the feed server answers.
#[derive(Clone)]
struct Served {
    status: u16,
    body: String,
    etag: Option<String>,
}

/// A tiny HTTP/1.1 server: one feed, an ETag, request counters.
struct FeedServer {
    url: String,
    served: Arc<Mutex<Served>>,
    hits: Arc<AtomicU32>,
    not_modified: Arc<AtomicU32>,
}

impl FeedServer {
    async fn start(body: &str) -> Self {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/feed.txt", l.local_addr().unwrap());
        let served = Arc::new(Mutex::new(Served {
            status: 200,
            body: body.into(),
            etag: Some("\"v1\"".into()),
        }));
        let (hits, not_modified) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let (s, h, n) = (served.clone(), hits.clone(), not_modified.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = l.accept().await else {
                    return;
                };
                let (s, h, n) = (s.clone(), h.clone(), n.clone());
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => req.extend_from_slice(&buf[..k]),
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
                    let inm = text
                        .lines()
                        .find_map(|l| l.strip_prefix("if-none-match:"))
                        .map(|v| v.trim().to_string());
                    let cur = s.lock().unwrap().clone();
                    let etag = cur.etag.clone().unwrap_or_default();
                    let (status, body) = if cur.status == 200 && inm.as_deref() == Some(&etag) {
                        n.fetch_add(1, Ordering::SeqCst);
                        (304, String::new())
                    } else {
                        (cur.status, cur.body)
                    };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nETag: {etag}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(body.as_bytes()).await;
                });
            }
        });
        Self {
            url,
            served,
            hits,
            not_modified,
        }
    }

    fn serve(&self, status: u16, body: &str, etag: &str) {
        *self.served.lock().unwrap() = Served {
            status,
            body: body.into(),
            etag: Some(etag.into()),
        };
    }
}

async fn managed(extra: &[(&str, &str)]) -> (TestServer, String) {
    let mut env = vec![RECURSION];
    env.extend_from_slice(extra);
    let s = TestServer::start_managed(Backend::Sqlite, &env).await;
    let t = s.admin_token().await;
    (s, t)
}

/// A hosted zone whose names answer without recursion (there is no Internet).
async fn corp_zone(s: &TestServer, t: &str) {
    let id = s.create_zone(t, json!({"name": "corp.test"})).await["id"]
        .as_i64()
        .unwrap();
    let names = [
        "www",
        "ads",
        "mail",
        "promo",
        "drop",
        "b1",
        "b2",
        "login.shop",
        "mal1",
        "mal2",
        "mal3",
        "mal4",
        "mal5",
    ];
    let content: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{n} 60 IN A 192.0.2.{}\n", 10 + i))
        .collect();
    let r = s
        .post(
            &format!("/api/zones/{id}/import"),
            Some(t),
            json!({"content": content}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
}

async fn rule(s: &TestServer, t: &str, body: Value) -> Value {
    let r = s.post("/api/rpz/rules", Some(t), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body
}

/// Polls a feed until `ok` holds.
async fn wait_feed(
    s: &TestServer,
    t: &str,
    id: i64,
    limit: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let f = s.get(&format!("/api/rpz/feeds/{id}"), Some(t)).await.body;
        if ok(&f) || Instant::now() > deadline {
            return f;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_rules_refuse_bad_input_and_change_nothing() {
    if !bind::available("manual_rules_refuse_bad_input_and_change_nothing") {
        return;
    }
    let (s, t) = managed(&[]).await;
    corp_zone(&s, &t).await;
    rule(
        &s,
        &t,
        json!({"domain": "ads.corp.test", "action": "nxdomain"}),
    )
    .await;

    // Bad input is refused with a clear error and changes nothing.
    let zone_file = s.dir.path().join("data/bind/rpz/manual.rpz.hdns.db");
    let before = std::fs::read_to_string(&zone_file).unwrap();
    for (body, field) in [
        (json!({"domain": "com", "action": "nxdomain"}), "domain"),
        (
            json!({"domain": "a b.example", "action": "nxdomain"}),
            "domain",
        ),
        (
            json!({"domain": "x.example", "action": "redirect"}),
            "redirect_target",
        ),
        (
            json!({"domain": "x.example", "action": "nxdomain", "redirect_target": "192.0.2.1"}),
            "redirect_target",
        ),
        (json!({"domain": "x.example", "action": "block"}), "action"),
        (
            json!({"domain": "x.example", "category": "spam"}),
            "category",
        ),
        (json!({"domain": "x.manual.rpz.hdns"}), "domain"),
    ] {
        let r = s.post("/api/rpz/rules", Some(&t), body.clone()).await;
        assert_error(&r, 422, "validation_error");
        assert_eq!(r.body["details"]["field"], field, "{body}: {:?}", r.body);
    }
    let r = s
        .post(
            "/api/rpz/rules",
            Some(&t),
            json!({"domain": "ads.corp.test"}),
        )
        .await;
    assert_error(&r, 409, "rule_exists");
    assert_eq!(std::fs::read_to_string(&zone_file).unwrap(), before);
    assert_eq!(dig(s.dns_port(), "ads.corp.test", "A").status, "NXDOMAIN");
    assert_eq!(s.get("/api/rpz/rules", Some(&t)).await.body["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_rules_answer_by_action_and_passthru_beats_a_feed() {
    if !bind::available("manual_rules_answer_by_action_and_passthru_beats_a_feed") {
        return;
    }
    let (s, t) = managed(&[]).await;
    let port = s.dns_port();
    corp_zone(&s, &t).await;
    assert_eq!(dig(port, "ads.corp.test", "A").data, ["192.0.2.11"]);

    // Each action, answered as soon as the request returns.
    let r = rule(&s, &t, json!({"domain": "ADS.corp.test.", "action": "nxdomain", "category": "malware", "comment": "ad server"})).await;
    assert_eq!(
        (r["domain"].as_str(), r["source"].as_str()),
        (Some("ads.corp.test"), Some("manual"))
    );
    assert_eq!(dig(port, "ads.corp.test", "A").status, "NXDOMAIN");
    rule(
        &s,
        &t,
        json!({"domain": "mail.corp.test", "action": "nodata", "category": "suspicious"}),
    )
    .await;
    let a = dig(port, "mail.corp.test", "A");
    assert_eq!((a.status.as_str(), a.data.len()), ("NOERROR", 0), "{a:?}");
    rule(&s, &t, json!({"domain": "promo.corp.test", "action": "redirect", "redirect_target": "192.0.2.99", "category": "policy_violation"})).await;
    assert_eq!(dig(port, "promo.corp.test", "A").data, ["192.0.2.99"]);
    rule(
        &s,
        &t,
        json!({"domain": "drop.corp.test", "action": "drop", "category": "custom"}),
    )
    .await;
    assert_eq!(
        dig(port, "drop.corp.test", "A").status,
        "NO_ANSWER",
        "dropped: no reply at all"
    );
    rule(
        &s,
        &t,
        json!({"domain": "*.shop.corp.test", "action": "nxdomain", "category": "phishing"}),
    )
    .await;
    assert_eq!(dig(port, "login.shop.corp.test", "A").status, "NXDOMAIN");
    assert_eq!(
        dig(port, "www.corp.test", "A").data,
        ["192.0.2.10"],
        "others untouched"
    );

    // Search, filters and pagination.
    let l = s
        .get("/api/rpz/rules?q=ads.corp&category=malware", Some(&t))
        .await
        .body;
    assert_eq!(l["total"], 1, "{l}");
    assert_eq!(l["items"][0]["comment"], "ad server");
    let l = s
        .get("/api/rpz/rules?per_page=2&page=3&sort=domain", Some(&t))
        .await
        .body;
    assert_eq!(
        (l["total"].as_u64(), l["pages"].as_u64()),
        (Some(5), Some(3))
    );
    assert_eq!(l["items"][0]["domain"], "promo.corp.test");

    // Bulk: all or nothing.
    let r = s
        .post("/api/rpz/rules/bulk", Some(&t), json!({"add": [{"domain": "b1.corp.test"}, {"domain": "not valid"}], "remove": ["mail.corp.test"]}))
        .await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.body["details"]["errors"][0]["index"], 1, "{:?}", r.body);
    assert_eq!(s.get("/api/rpz/rules", Some(&t)).await.body["total"], 5);
    let r = s
        .post("/api/rpz/rules/bulk", Some(&t), json!({"add": [{"domain": "b1.corp.test", "category": "malware"}, {"domain": "b2.corp.test"}], "remove": ["mail.corp.test"]}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (r.body["added"].as_u64(), r.body["removed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(dig(port, "mail.corp.test", "A").data, ["192.0.2.12"]);
    assert_eq!(dig(port, "b2.corp.test", "A").status, "NXDOMAIN");

    // A feed (a file under the feed directory) blocks www; a passthru rule wins.
    let feeds = s.dir.path().join("data/feeds");
    std::fs::write(feeds.join("corp.txt"), "www.corp.test\nmail.corp.test\n").unwrap();
    let r = s
        .post("/api/rpz/feeds", Some(&t), json!({"name": "corp list", "file_path": feeds.join("corp.txt"), "format": "domains", "category": "phishing", "action": "nxdomain", "schedule": "0 0 * * *"}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    let f = wait_feed(&s, &t, id, Duration::from_secs(10), |f| {
        f["last_status"] == "updated"
    })
    .await;
    assert_eq!(
        (f["entry_count"].as_i64(), f["zone"].as_str()),
        (Some(2), Some("feed-1.rpz.hdns")),
        "{f}"
    );
    let a = bind::wait_for(port, "www.corp.test", "A", Duration::from_secs(10), |a| {
        a.status == "NXDOMAIN"
    })
    .await;
    assert_eq!(a.status, "NXDOMAIN");
    let pass = rule(
        &s,
        &t,
        json!({"domain": "www.corp.test", "action": "passthru", "comment": "false positive"}),
    )
    .await;
    assert_eq!(dig(port, "www.corp.test", "A").data, ["192.0.2.10"]);
    assert_eq!(
        dig(port, "mail.corp.test", "A").status,
        "NXDOMAIN",
        "the feed still blocks mail"
    );
    let conf = std::fs::read_to_string(s.dir.path().join("data/bind/named.conf")).unwrap();
    let (m, f1) = (
        conf.find("zone \"manual.rpz.hdns\"").unwrap(),
        conf.find("zone \"feed-1.rpz.hdns\"").unwrap(),
    );
    assert!(m < f1, "manual zone first: {conf}");
    // A file outside the feed directory is refused.
    let r = s
        .post(
            "/api/rpz/feeds",
            Some(&t),
            json!({"name": "passwd", "file_path": "/etc/passwd", "format": "domains"}),
        )
        .await;
    assert_error(&r, 422, "validation_error");

    let st = s.get("/api/rpz/statistics", Some(&t)).await.body;
    assert_eq!(st["rules"]["total"], 7, "{st}");
    assert_eq!(st["rules"]["by_action"]["passthru"], 1, "{st}");
    assert_eq!(
        (
            st["by_source"]["manual"].as_i64(),
            st["by_source"]["feed"].as_i64()
        ),
        (Some(6), Some(2)),
        "{st}"
    );

    // Removing the passthru brings the feed's block back; users may not touch RPZ.
    let r = s
        .delete(&format!("/api/rpz/rules/{}", pass["id"]), Some(&t))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(dig(port, "www.corp.test", "A").status, "NXDOMAIN");
    s.create_user(&t, "uma", "uma-password-1", "user").await;
    let (ut, _) = s.login("uma", "uma-password-1").await;
    for path in [
        "/api/rpz/rules",
        "/api/rpz/feeds",
        "/api/rpz/alerts",
        "/api/rpz/statistics",
    ] {
        assert_eq!(s.get(path, Some(&ut)).await.status, 403, "{path}");
    }
    assert_eq!(
        s.post("/api/rpz/rules", Some(&ut), json!({"domain": "x.example"}))
            .await
            .status,
        403
    );
    assert_eq!(
        s.count_where("audit_log", "resource_type", "rpz_rule")
            .await,
        8
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_update_on_schedule_and_failures_keep_the_last_good_list() {
    if !bind::available("feeds_update_on_schedule_and_failures_keep_the_last_good_list") {
        return;
    }
    let (s, t) = managed(&[("HDNS_THREAT_FEED_MAX_BYTES", "4096")]).await;
    let port = s.dns_port();
    corp_zone(&s, &t).await;
    let mut ws = WsClient::connect(&s.base, &format!("?token={t}")).await;
    ws.ask(json!({"type": "subscribe", "data": {"event_types": ["threat_feed_updated", "rpz_updated", "security_alert", "bulk_operation_complete"]}}))
        .await;
    // A hosts file with CRLF endings, duplicates, its preamble and bad lines.
    let hosts = "# blocklist\r\n127.0.0.1 localhost\r\n0.0.0.0 mal1.corp.test\r\n0.0.0.0 MAL1.corp.test\r\n0.0.0.0 mal2.corp.test mal3.corp.test # two\r\nmal4.corp.test\r\n0.0.0.0 bad_label-.corp.test\r\n\r\n";
    let srv = FeedServer::start(hosts).await;
    let r = s
        .post("/api/rpz/feeds", Some(&t), json!({"name": "hosts", "url": srv.url, "format": "hosts", "category": "malware", "action": "nxdomain", "schedule": "*/2 * * * * *"}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    let f = wait_feed(&s, &t, id, Duration::from_secs(10), |f| {
        f["last_status"] == "updated"
    })
    .await;
    assert_eq!(
        (f["entry_count"].as_i64(), f["invalid_lines"].as_i64()),
        (Some(3), Some(2)),
        "{f}"
    );
    for n in ["mal1.corp.test", "mal2.corp.test", "mal3.corp.test"] {
        assert_eq!(dig(port, n, "A").status, "NXDOMAIN", "{n}");
    }
    let evs = gather(&mut ws, Duration::from_secs(5), |e| {
        !of(e, "rpz_updated", |_| true).is_empty()
    })
    .await;
    let upd = of(&evs, "threat_feed_updated", |e| {
        e["data"]["status"] == "updated"
    });
    assert_eq!(upd[0]["data"]["added"], 3, "{evs:?}");
    assert_eq!(
        (
            upd[0]["data"]["duplicates"].as_u64(),
            upd[0]["data"]["invalid_lines"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(
        of(&evs, "rpz_updated", |_| true)[0]["data"]["zone"],
        "feed-1.rpz.hdns"
    );

    // The schedule (every 2 s) asks again with the ETag: not modified.
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.not_modified.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        srv.not_modified.load(Ordering::SeqCst) >= 1,
        "a conditional request on schedule"
    );
    assert!(srv.hits.load(Ordering::SeqCst) >= 2);
    // The list changes; the next scheduled run picks it up, without anyone asking.
    srv.serve(
        200,
        "0.0.0.0 mal1.corp.test\n0.0.0.0 mal5.corp.test\n",
        "\"v2\"",
    );
    let a = bind::wait_for(port, "mal5.corp.test", "A", Duration::from_secs(10), |a| {
        a.status == "NXDOMAIN"
    })
    .await;
    assert_eq!(a.status, "NXDOMAIN");
    let f = wait_feed(&s, &t, id, Duration::from_secs(5), |f| {
        f["entry_count"] == 2
    })
    .await;
    assert_eq!(f["entry_count"], 2, "{f}");
    assert_eq!(
        dig(port, "mal2.corp.test", "A").data,
        ["192.0.2.19"],
        "removed from the list: answered again"
    );
    // A small change reaches named as dynamic updates, not a re-rendered zone.
    let inc = collect(
        &mut ws,
        "threat_feed_updated",
        1,
        Duration::from_secs(5),
        |e| e["data"]["mode"] == "incremental",
    )
    .await;
    assert_eq!(
        (
            inc[0]["data"]["added"].as_u64(),
            inc[0]["data"]["removed"].as_u64()
        ),
        (Some(1), Some(2)),
        "{inc:?}"
    );

    // Oversized, then failing, then unreachable: the last good list stays, alerts are raised.
    s.patch(
        &format!("/api/rpz/feeds/{id}"),
        Some(&t),
        json!({"schedule": "0 0 * * *"}),
    )
    .await;
    srv.serve(200, &"0.0.0.0 big.corp.test\n".repeat(400), "\"v3\"");
    let r = s
        .post(&format!("/api/rpz/feeds/{id}/update"), Some(&t), json!({}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let f = wait_feed(&s, &t, id, Duration::from_secs(10), |f| {
        f["last_status"] == "failed"
    })
    .await;
    assert!(
        f["last_error"]
            .as_str()
            .unwrap()
            .contains("larger than the limit"),
        "{f}"
    );
    assert_eq!(f["entry_count"], 2);
    assert_eq!(
        dig(port, "mal5.corp.test", "A").status,
        "NXDOMAIN",
        "previous blocks stay"
    );
    srv.serve(500, "oops", "\"v4\"");
    s.post(&format!("/api/rpz/feeds/{id}/update"), Some(&t), json!({}))
        .await;
    let f = wait_feed(&s, &t, id, Duration::from_secs(10), |f| {
        f["last_error"].as_str().is_some_and(|e| e.contains("500"))
    })
    .await;
    assert_eq!(f["last_status"], "failed", "{f}");
    let dead = format!("http://127.0.0.1:{}/gone.txt", crate::common::free_port());
    let r = s
        .patch(
            &format!("/api/rpz/feeds/{id}"),
            Some(&t),
            json!({"url": dead}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let f = wait_feed(&s, &t, id, Duration::from_secs(15), |f| {
        f["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("fetch failed"))
    })
    .await;
    assert_eq!(f["last_status"], "failed", "{f}");
    assert_eq!(
        dig(port, "mal1.corp.test", "A").status,
        "NXDOMAIN",
        "previous blocks stay"
    );
    let alerts = s.get("/api/rpz/alerts?severity=high", Some(&t)).await.body;
    assert_eq!(alerts["total"], 3, "{alerts}");
    assert!(alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["details"]["kind"] == "feed_update_failed" && a["category"] == "malware"));
    // Live too (lookups of the blocked names above raised critical ones).
    let failed = |e: &Value| e["data"]["details"]["kind"] == "feed_update_failed";
    let live = collect(&mut ws, "security_alert", 3, Duration::from_secs(5), failed).await;
    assert_eq!(live.len(), 3, "{live:?}");
    assert_eq!(live[0]["priority"], "high");

    // Bad feed definitions are refused.
    for (body, field) in [
        (json!({"name": "x", "url": "ftp://example.com/list"}), "url"),
        (
            json!({"name": "x", "url": srv.url, "schedule": "every hour"}),
            "schedule",
        ),
        (
            json!({"name": "x", "url": srv.url, "format": "csv"}),
            "format",
        ),
        (
            json!({"name": "x", "url": srv.url, "action": "passthru"}),
            "action",
        ),
        (json!({"name": "x"}), "url"),
    ] {
        let r = s.post("/api/rpz/feeds", Some(&t), body.clone()).await;
        assert_error(&r, 422, "validation_error");
        assert_eq!(r.body["details"]["field"], field, "{body}");
    }
    // Deleting the feed removes its zone from named.conf and its blocks.
    assert_eq!(
        s.delete(&format!("/api/rpz/feeds/{id}"), Some(&t))
            .await
            .status,
        204
    );
    let conf = std::fs::read_to_string(s.dir.path().join("data/bind/named.conf")).unwrap();
    assert!(!conf.contains("feed-1.rpz.hdns"), "{conf}");
    assert_eq!(dig(port, "mal1.corp.test", "A").data, ["192.0.2.18"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_lookups_reach_admins_as_threats() {
    if !bind::available("blocked_lookups_reach_admins_as_threats") {
        return;
    }
    let (s, t) = managed(&[]).await;
    let port = s.dns_port();
    corp_zone(&s, &t).await;
    s.create_user(&t, "ulf", "ulf-password-1", "user").await;
    let (ut, _) = s.login("ulf", "ulf-password-1").await;
    let mut admin = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let mut user = WsClient::connect(&s.base, &format!("?token={ut}")).await;
    admin
        .ask(json!({"type": "subscribe", "data": {"event_types": ["threat_detected", "security_alert"]}}))
        .await;
    let r = user
        .ask(json!({"type": "subscribe", "data": {"event_types": ["threat_detected"]}}))
        .await;
    assert_eq!(r["error_code"], "PERMISSION_DENIED");
    rule(
        &s,
        &t,
        json!({"domain": "ads.corp.test", "category": "malware"}),
    )
    .await;
    rule(
        &s,
        &t,
        json!({"domain": "promo.corp.test", "category": "custom"}),
    )
    .await;

    assert_eq!(dig(port, "ads.corp.test", "A").status, "NXDOMAIN");
    assert_eq!(dig(port, "ads.corp.test", "A").status, "NXDOMAIN");
    assert_eq!(dig(port, "promo.corp.test", "A").status, "NXDOMAIN");
    let evs = gather(&mut admin, Duration::from_secs(8), |e| {
        of(e, "threat_detected", |_| true).len() >= 3
            && of(e, "security_alert", |_| true).len() >= 2
    })
    .await;
    let threats = of(&evs, "threat_detected", |_| true);
    assert_eq!(threats.len(), 3, "{evs:?}");
    let d = &threats[0]["data"];
    assert_eq!(
        (d["domain"].as_str(), d["source_ip"].as_str()),
        (Some("ads.corp.test"), Some("127.0.0.1"))
    );
    assert_eq!(
        (d["category"].as_str(), d["severity"].as_str()),
        (Some("malware"), Some("critical"))
    );
    assert_eq!(threats[0]["priority"], "critical");
    assert_eq!(d["details"]["source"], "manual");
    let custom = of(&evs, "threat_detected", |e| {
        e["data"]["domain"] == "promo.corp.test"
    });
    assert_eq!(
        (
            custom[0]["priority"].as_str(),
            custom[0]["data"]["category"].as_str()
        ),
        (Some("high"), Some("policy_violation"))
    );
    // One alert per client and name per window, however often it is looked up.
    let alerts = of(&evs, "security_alert", |_| true);
    assert_eq!(alerts.len(), 2, "{evs:?}");
    let stored = s
        .get("/api/rpz/alerts?acknowledged=false", Some(&t))
        .await
        .body;
    assert_eq!(stored["total"], 2, "{stored}");
    let a = &stored["items"][1];
    assert_eq!(
        (a["domain"].as_str(), a["severity"].as_str()),
        (Some("ads.corp.test"), Some("critical"))
    );
    let r = s
        .post(
            &format!("/api/rpz/alerts/{}/acknowledge", a["id"]),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["acknowledged"].as_bool()),
        (200, Some(true))
    );
    assert_eq!(
        s.get("/api/rpz/alerts?acknowledged=false", Some(&t))
            .await
            .body["total"],
        1
    );
    let sys = s.get("/api/system", Some(&t)).await.body;
    assert_eq!(
        sys["threat_detection"]["hits"], 3,
        "{}",
        sys["threat_detection"]
    );
    assert_eq!(sys["threat_detection"]["alerts_suppressed"], 1);
    // The user saw none of it.
    let mine = user.events(Duration::from_millis(500)).await;
    assert!(
        mine.iter()
            .all(|(_, e)| !["threat_detected", "security_alert"]
                .contains(&e["event_type"].as_str().unwrap())),
        "{mine:?}"
    );

    // Top blocked domains: each minute is stored when it ends; the report sums them.
    let deadline = Instant::now() + Duration::from_secs(130);
    let rep = loop {
        let rep = s.get("/api/reports/blocked", Some(&t)).await.body;
        if rep["total"] == 3 || Instant::now() > deadline {
            break rep;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(rep["total"], 3, "{rep}");
    assert_eq!(
        rep["top_domains"][0],
        json!({"key": "ads.corp.test", "count": 2}),
        "{rep}"
    );
    assert_eq!(
        rep["by_category"],
        json!({"malware": 2, "custom": 1}),
        "{rep}"
    );
    assert_eq!(
        rep["top_clients"][0],
        json!({"key": "127.0.0.1", "count": 3}),
        "{rep}"
    );
    let csv = s.raw_get("/api/reports/blocked?format=csv", Some(&t)).await;
    assert!(
        csv.starts_with("domain,blocked\n") && csv.contains("ads.corp.test,2\n"),
        "{csv}"
    );
    assert_eq!(s.get("/api/reports/blocked", Some(&ut)).await.status, 403);
}
