//! Monitoring against real traffic: queries sent with `dig` to the managed
//! named stream over `/ws/queries` and land in the aggregates; a forwarder
//! that stops answering raises alerts; metrics have the spec's shape; the
//! Prometheus endpoint parses.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::bind::{self, dig, AuthorityNamed};
use crate::common::ws::{collect, gather, of, WsClient};
use crate::common::{Backend, TestServer};

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_queries_stream_and_aggregate() {
    if !bind::available("dig_queries_stream_and_aggregate") {
        return;
    }
    let s = TestServer::start_managed(
        Backend::Sqlite,
        &[
            ("HDNS_METRICS_INTERVAL_SECS", "1"),
            ("HDNS_HEALTH_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let port = s.dns_port();
    let t = s.admin_token().await;
    let alpha = s.create_zone(&t, json!({"name": "alpha.test"})).await["id"]
        .as_i64()
        .unwrap();
    s.create_zone(&t, json!({"name": "beta.test"})).await;
    for z in ["alpha.test", "beta.test"] {
        let id = s.get(&format!("/api/zones?q={z}"), Some(&t)).await.body["items"][0]["id"]
            .as_i64()
            .unwrap();
        s.create_record(
            &t,
            json!({"zone_id": id, "name": "www", "record_type": "A", "value": "192.0.2.1"}),
        )
        .await;
    }
    let uid = s.create_user(&t, "quinn", "quinn-password-1", "user").await;
    let r = s
        .call(
            reqwest::Method::PUT,
            &format!("/api/zones/{alpha}/permissions"),
            Some(&t),
            Some(json!({"user_id": uid, "level": "read"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (ut, _) = s.login("quinn", "quinn-password-1").await;
    let mut admin = WsClient::connect(&s.base, &format!("/queries?token={t}")).await;
    let mut user = WsClient::connect(&s.base, &format!("/queries?token={ut}")).await;
    // Both are registered before the first query.
    admin.ask(json!({"type": "ping"})).await;
    user.ask(json!({"type": "ping"})).await;

    let sent = Instant::now();
    for _ in 0..3 {
        assert_eq!(dig(port, "www.alpha.test", "A").data, vec!["192.0.2.1"]);
    }
    for _ in 0..2 {
        dig(port, "WWW.Beta.test", "AAAA");
    }
    let ours = |e: &Value| {
        e["data"]["query_name"]
            .as_str()
            .is_some_and(|n| n.to_ascii_lowercase().starts_with("www."))
    };
    let got = collect(&mut admin, "dns_query", 5, Duration::from_secs(8), ours).await;
    assert_eq!(got.len(), 5, "{got:?}");
    let first = sent.elapsed();
    let a = got
        .iter()
        .find(|e| e["data"]["query_name"] == "www.alpha.test")
        .expect("an alpha query");
    assert_eq!(a["priority"], "low");
    assert_eq!(a["data"]["query_type"], "A");
    assert_eq!(a["data"]["query_class"], "IN");
    assert_eq!(a["data"]["zone"], "alpha.test");
    assert_eq!(a["data"]["client_ip"], "127.0.0.1");
    assert_eq!(
        keys(&a["data"]),
        set(&[
            "timestamp",
            "client_ip",
            "client_port",
            "query_name",
            "query_type",
            "query_class",
            "flags",
            "server_ip",
            "view",
            "zone"
        ])
    );
    assert!(first < Duration::from_secs(8), "{first:?}");

    // The user sees the three alpha queries only, without client addresses.
    let mine = collect(&mut user, "dns_query", 5, Duration::from_secs(6), ours).await;
    assert_eq!(mine.len(), 3, "{mine:?}");
    assert!(mine
        .iter()
        .all(|e| e["data"]["zone"] == "alpha.test" && e["data"].get("client_ip").is_none()));

    // Live aggregates: counts per name, type and client.
    let d = s.get("/api/dashboard", Some(&t)).await;
    assert_eq!(d.status, 200, "{:?}", d.body);
    let top = &d.body["queries"]["top_domains"];
    let count = |name: &str| {
        top.as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == name)
            .map(|c| c["count"].as_u64().unwrap())
    };
    assert_eq!(count("www.alpha.test"), Some(3), "{top}");
    assert_eq!(
        count("www.beta.test"),
        Some(2),
        "names are counted lowercased: {top}"
    );
    assert!(d.body["queries"]["by_type"]["AAAA"].as_u64().unwrap() >= 2);
    assert!(d.body["queries"]["top_clients"][0]["key"] == "127.0.0.1");
    assert_eq!(d.body["counts"]["zones"], 2);
    let ud = s.get("/api/dashboard", Some(&ut)).await;
    assert_eq!(ud.status, 200);
    assert_eq!(ud.body["counts"]["zones"], 1);
    assert!(ud.body["queries"]["top_clients"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(ud.body["queries"]["top_domains"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["key"].as_str().unwrap().ends_with("alpha.test")));
    assert!(ud.body["system"].is_null() && ud.body["recent_events"].as_array().unwrap().is_empty());
    let rt = s.get("/api/realtime", Some(&t)).await;
    assert!(
        rt.body["total_queries"].as_u64().unwrap() >= 5,
        "{:?}",
        rt.body
    );

    // The minute's aggregate row is stored when the minute ends; the report sums it.
    let rows = s
        .wait_count_for("query_stats", Duration::from_secs(70))
        .await;
    assert!(rows >= 1);
    let rep = s.get("/api/reports/queries?bucket=minute", Some(&t)).await;
    assert_eq!(rep.status, 200, "{:?}", rep.body);
    assert!(rep.body["total"].as_u64().unwrap() >= 5, "{:?}", rep.body);
    assert!(rep.body["top_domains"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["key"] == "www.alpha.test" && c["count"].as_u64().unwrap() >= 3));
    let csv = s
        .raw_get("/api/reports/queries?format=csv&bucket=minute", Some(&t))
        .await;
    assert!(
        csv.starts_with("bucket_start,total,recursive,tcp\n"),
        "{csv}"
    );
    assert!(csv.lines().count() >= 2, "{csv}");
    assert_eq!(
        s.get("/api/reports/queries", Some(&ut)).await.status,
        403,
        "reports are for admins"
    );
    let from = (chrono::Utc::now() - chrono::Duration::days(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = s
        .get(
            &format!("/api/reports/queries?bucket=minute&from={from}"),
            Some(&t),
        )
        .await;
    assert_eq!(r.body["details"]["field"], "bucket", "{:?}", r.body);

    // named itself is checked (rndc and a real SOA query); what users see of
    // it names no zone.
    // Checked every second: wait for a round that found named healthy (a
    // round can meet named mid-reconfiguration, with rndc briefly refused).
    let deadline = Instant::now() + Duration::from_secs(10);
    let (h, bind9) = loop {
        let h = s.get("/api/health/components", Some(&ut)).await;
        let bind9 = h.body["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["component"] == "bind9")
            .unwrap()
            .clone();
        if bind9["status"] == "healthy" || Instant::now() > deadline {
            break (h, bind9);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(bind9["status"], "healthy", "{bind9}");
    assert!(bind9["response_time_ms"].as_f64().unwrap() > 0.0);
    assert!(!h.body.to_string().contains("beta.test"), "{}", h.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarder_that_stops_answering_raises_alerts() {
    if !bind::available("a_forwarder_that_stops_answering_raises_alerts") {
        return;
    }
    let zone = "$TTL 60\n@ IN SOA ns.corp.test. h.corp.test. 1 60 60 600 60\n@ IN NS ns.corp.test.\nns IN A 127.0.0.1\n";
    let mut authority = AuthorityNamed::start(&[("corp.test", zone)]).await;
    let s = TestServer::start_with(Backend::Sqlite, &[("HDNS_HEALTH_INTERVAL_SECS", "1")]).await;
    let t = s.admin_token().await;
    let r = s
        .post(
            "/api/forwarders",
            Some(&t),
            json!({"name": "corp", "domains": ["corp.test"], "servers": [{"address": "127.0.0.1", "port": authority.port}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let mut a = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let healthy =
        |e: &Value| e["data"]["component"] == "forwarder" && e["data"]["status"] == "healthy";
    // At least one: two check rounds can fall into one batch (a slow round
    // makes the 1 s interval catch up at once).
    let up = collect(&mut a, "health_update", 1, Duration::from_secs(6), healthy).await;
    assert!(!up.is_empty(), "the forwarder is checked and healthy");
    for u in &up {
        assert_eq!(
            keys(&u["data"]),
            set(&["component", "status", "metrics", "message", "timestamp"])
        );
    }

    authority.stop();
    let down = Instant::now();
    let critical = |e: &Value| e["data"]["status"] == "critical";
    let evs = gather(&mut a, Duration::from_secs(8), |evs| {
        !of(evs, "forwarder_status_change", |_| true).is_empty()
            && !of(evs, "health_alert", critical).is_empty()
    })
    .await;
    assert!(
        down.elapsed() < Duration::from_secs(8),
        "within one check interval (+ the 2 s query timeout)"
    );
    let change = of(&evs, "forwarder_status_change", |_| true);
    assert_eq!(change.len(), 1, "{evs:?}");
    let c = &change[0]["data"];
    assert_eq!(
        (
            c["name"].as_str(),
            c["old_status"].as_str(),
            c["new_status"].as_str()
        ),
        (Some("corp"), Some("healthy"), Some("critical"))
    );
    let alert = of(&evs, "health_alert", critical);
    assert_eq!(alert[0]["priority"], "critical");
    assert_eq!(alert[0]["data"]["component"], "forwarder");
    let h = s.get("/api/health/components", Some(&t)).await;
    assert_eq!(h.body["status"], "critical", "{:?}", h.body);
    let f = h.body["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "forwarder")
        .unwrap()
        .clone();
    assert_eq!(
        (f["name"].as_str(), f["status"].as_str()),
        (Some("corp"), Some("critical"))
    );

    authority.restart().await;
    let recovered =
        |e: &Value| e["data"]["status"] == "healthy" && e["data"]["component"] == "forwarder";
    let evs = gather(&mut a, Duration::from_secs(8), |evs| {
        !of(evs, "forwarder_status_change", |_| true).is_empty()
            && !of(evs, "health_alert", recovered).is_empty()
    })
    .await;
    let change = of(&evs, "forwarder_status_change", |_| true);
    assert_eq!(change.len(), 1, "recovery is announced: {evs:?}");
    assert_eq!(change[0]["data"]["new_status"], "healthy");
    assert_eq!(change[0]["data"]["old_status"], "critical");
    let alert = of(&evs, "health_alert", recovered);
    assert_eq!(alert.len(), 1);
    assert_eq!(alert[0]["priority"], "high");

    let hist = s
        .get(
            "/api/health/history?component=forwarder&name=corp&limit=1000",
            Some(&t),
        )
        .await;
    assert_eq!(hist.status, 200);
    let statuses: BTreeSet<&str> = hist
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, BTreeSet::from(["critical", "healthy"]));
    assert_eq!(
        s.get("/api/health/history?component=nope", Some(&t))
            .await
            .status,
        422
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_system_events_and_prometheus() {
    let s = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("HDNS_METRICS_INTERVAL_SECS", "1"),
            ("HDNS_METRICS_TOKEN", "scrape-secret-42"),
        ],
    )
    .await;
    let t = s.admin_token().await;
    s.create_user(&t, "rita", "rita-password-12", "user").await;
    let (ut, _) = s.login("rita", "rita-password-12").await;

    let mut m = WsClient::connect(&s.base, &format!("/metrics?token={t}")).await;
    let got = collect(&mut m, "system_metrics", 1, Duration::from_secs(5), |_| {
        true
    })
    .await;
    assert_eq!(got.len(), 1);
    let d = &got[0]["data"];
    assert_eq!(keys(d), set(&["metrics", "timestamp"]));
    let mm = &d["metrics"];
    assert_eq!(keys(mm), set(&["cpu", "memory", "disk", "network", "dns"]));
    assert_eq!(keys(&mm["cpu"]), set(&["usage_percent", "load_average"]));
    assert_eq!(mm["cpu"]["load_average"].as_array().unwrap().len(), 3);
    for k in ["memory", "disk"] {
        assert_eq!(
            keys(&mm[k]),
            set(&["total", "used", "available", "usage_percent"])
        );
        assert!(mm[k]["total"].as_u64().unwrap() > 0, "{k}: {mm}");
    }
    assert_eq!(
        keys(&mm["network"]),
        set(&[
            "bytes_sent",
            "bytes_received",
            "packets_sent",
            "packets_received"
        ])
    );
    assert_eq!(
        keys(&mm["dns"]),
        set(&["queries_per_second", "active_zones", "total_records"])
    );

    // Realtime: host figures for admins only.
    let rt = s.get("/api/realtime", Some(&t)).await;
    assert!(
        rt.body["system"]["metrics"]["memory"]["total"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(s.get("/api/realtime", Some(&ut)).await.body["system"].is_null());
    assert_eq!(s.get("/api/realtime", None).await.status, 401);

    // System: admin only, secrets redacted.
    let sys = s.get("/api/system", Some(&t)).await;
    assert_eq!(sys.status, 200, "{:?}", sys.body);
    assert_eq!(sys.body["config"]["metrics_token"], "<redacted>");
    assert_eq!(sys.body["bind"]["mode"], "disabled");
    assert!(!sys.body.to_string().contains("scrape-secret-42"));
    // The system_metrics frame above was timed from publish to socket write.
    let normal = &sys.body["websocket"]["dispatcher"]["latency"]["normal"];
    assert!(normal["count"].as_u64().unwrap() >= 1, "{normal}");
    assert!(
        normal["p99_ms"].as_f64().unwrap() <= 1200.0,
        "within the 1 s window: {normal}"
    );
    assert_eq!(s.get("/api/system", Some(&ut)).await.status, 403);

    // Prometheus: the token is required; the text parses.
    assert_eq!(s.get("/metrics", None).await.status, 401);
    assert_eq!(s.get("/metrics", Some("wrong")).await.status, 401);
    let text = s.raw_get("/metrics", Some("scrape-secret-42")).await;
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let names: BTreeSet<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for n in [
        "hdns_up",
        "hdns_dns_queries_total",
        "hdns_ws_sessions",
        "hdns_memory_total_bytes",
        "hdns_health_status",
    ] {
        assert!(names.contains(n), "{n} in {names:?}");
    }
    assert!(scrape.docs.contains_key("hdns_ws_deliveries_total"));
    assert!(scrape.docs.contains_key("hdns_ws_delivery_seconds"));
    assert!(text.contains("hdns_ws_delivery_seconds_count{priority=\"normal\"}"));

    // The event log: filtered, paginated, newest first, admin only.
    s.create_zone(&t, json!({"name": "evlog.test"})).await;
    s.wait_count("event_log", "event_type", "zone_created", 1)
        .await;
    let ev = s
        .get("/api/events?event_type=zone_created&per_page=5", Some(&t))
        .await;
    assert_eq!(ev.status, 200, "{:?}", ev.body);
    assert_eq!(ev.body["total"], 1);
    assert_eq!(ev.body["items"][0]["data"]["zone_name"], "evlog.test");
    let from = (chrono::Utc::now() - chrono::Duration::days(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let ev = s
        .get(&format!("/api/events?priority=high&from={from}"), Some(&t))
        .await;
    assert_eq!(ev.status, 200, "{:?}", ev.body);
    assert!(ev.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["priority"] == "high"));
    assert!(
        ev.body["total"].as_u64().unwrap() >= 1,
        "zone_created is high"
    );
    let r = s
        .get("/api/events?from=2020-01-01T00:00:00Z", Some(&t))
        .await;
    assert_eq!(
        r.body["details"]["field"], "from",
        "a range spans at most 366 days"
    );
    assert_eq!(
        s.get("/api/events?event_type=bogus", Some(&t)).await.status,
        422
    );
    assert_eq!(
        s.get("/api/events?from=yesterday", Some(&t)).await.status,
        422
    );
    assert_eq!(s.get("/api/events", Some(&ut)).await.status, 403);
    assert_eq!(
        s.count_where("event_log", "event_type", "system_metrics")
            .await,
        0,
        "samples are not event-log rows"
    );

    // Zone change history from the audit log, as JSON and CSV.
    let r = s.get("/api/reports/zone-changes", Some(&t)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["items"][0]["action"], "zone.create");
    assert_eq!(r.body["items"][0]["name"], "evlog.test");
    let csv = s
        .raw_get("/api/reports/zone-changes?format=csv", Some(&t))
        .await;
    assert!(
        csv.starts_with("timestamp,actor,action,resource_type,resource_id,name\n"),
        "{csv}"
    );
    assert!(csv.contains(",admin,zone.create,zone,"), "{csv}");
}
