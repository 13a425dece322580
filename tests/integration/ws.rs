//! The unified WebSocket with real clients against the real server.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::ws::{Next, WsClient};
use crate::common::{Backend, TestServer};

fn types(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_needs_a_valid_token() {
    let s = TestServer::start(Backend::Sqlite).await;
    for query in ["", "?token=", "?token=not.a.jwt"] {
        let mut c = WsClient::connect(&s.base, query).await;
        let f = c.frame().await;
        assert_eq!(f["type"], "error", "{f}");
        assert_eq!(f["error_code"], "AUTH_FAILED");
        assert!(f["timestamp"].is_string());
        assert_eq!(c.closed(Duration::from_secs(5)).await, Some(4001));
    }
    // A logged-out session's token is refused too.
    let t = s.admin_token().await;
    s.call(reqwest::Method::POST, "/api/auth/logout", Some(&t), None)
        .await;
    let mut c = WsClient::connect(&s.base, &format!("?token={t}")).await;
    assert_eq!(c.frame().await["error_code"], "AUTH_FAILED");
    assert_eq!(c.closed(Duration::from_secs(5)).await, Some(4001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_messages_and_their_errors() {
    let s = TestServer::start(Backend::Sqlite).await;
    let t = s.admin_token().await;
    let mut c = WsClient::connect(&s.base, &format!("?token={t}")).await;

    let r = c.ask(json!({"type": "ping", "id": "p1"})).await;
    assert_eq!(
        (r["type"].as_str(), r["id"].as_str()),
        (Some("pong"), Some("p1"))
    );

    let r = c.ask(json!({"type": "get_subscriptions", "id": 7})).await;
    assert_eq!(r["type"], "response");
    assert_eq!(r["id"], 7);
    let defaults = types(&r["data"]["default_subscriptions"]);
    assert_eq!(defaults.len(), 22, "admins get every type by default");
    assert_eq!(types(&r["data"]["subscriptions"]), defaults);

    let r = c.ask(json!({"type": "unsubscribe", "data": {"event_types": ["zone_created", "record_created"]}, "id": "u"})).await;
    assert_eq!(r["type"], "response", "{r}");
    assert_eq!(
        types(&r["data"]["unsubscribed"]),
        ["zone_created", "record_created"]
    );
    assert!(!types(&r["data"]["subscriptions"]).contains(&"zone_created".to_string()));
    let r = c
        .ask(json!({"type": "subscribe", "data": {"event_types": ["zone_created"]}}))
        .await;
    assert!(types(&r["data"]["subscriptions"]).contains(&"zone_created".to_string()));

    let r = c.ask(json!({"type": "subscribe", "data": {"event_types": ["zone_created", "no_such_event"]}, "id": "s"})).await;
    assert_eq!(
        (r["error_code"].as_str(), r["id"].as_str()),
        (Some("SUBSCRIPTION_FAILED"), Some("s"))
    );
    assert_eq!(
        r["details"]["unknown_event_types"],
        json!(["no_such_event"])
    );
    for bad in [
        json!({"type": "subscribe"}),
        json!({"type": "subscribe", "data": {"event_types": "zone_created"}}),
        json!({"type": "launch_missiles"}),
        json!({"data": {}}),
        json!(["not", "an", "object"]),
    ] {
        let r = c.ask(bad.clone()).await;
        assert_eq!(r["error_code"], "INVALID_MESSAGE", "{bad} -> {r}");
    }
    c.send_raw("{not json").await;
    assert_eq!(c.reply().await["error_code"], "INVALID_MESSAGE");
    c.send_raw(&format!(
        "{{\"type\":\"ping\",\"pad\":\"{}\"}}",
        "x".repeat(20_000)
    ))
    .await;
    let r = c.reply().await;
    assert_eq!(r["error_code"], "INVALID_MESSAGE");
    assert!(r["message"].as_str().unwrap().contains("too large"));

    let r = c.ask(json!({"type": "get_stats", "id": "st"})).await;
    let d = &r["data"];
    assert!(d["connection_id"].as_str().unwrap().starts_with("conn_"));
    assert!(d["messages_received"].as_u64().unwrap() >= 12, "{d}");
    assert!(d["messages_sent"].as_u64().unwrap() >= 11, "{d}");
    for k in ["connected_at", "last_activity", "subscriptions", "shed"] {
        assert!(!d[k].is_null(), "{k} missing: {d}");
    }
    // Still alive after every error.
    assert_eq!(c.ask(json!({"type": "ping"})).await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_only_their_zones() {
    let s = TestServer::start(Backend::Sqlite).await;
    let t = s.admin_token().await;
    let za = s.create_zone(&t, json!({"name": "alpha.test"})).await["id"]
        .as_i64()
        .unwrap();
    let zb = s.create_zone(&t, json!({"name": "beta.test"})).await["id"]
        .as_i64()
        .unwrap();
    let ua = s.create_user(&t, "usera", "usera-password-1", "user").await;
    let ub = s.create_user(&t, "userb", "userb-password-1", "user").await;
    for (zone, user) in [(za, ua), (zb, ub)] {
        let r = s
            .call(
                reqwest::Method::PUT,
                &format!("/api/zones/{zone}/permissions"),
                Some(&t),
                Some(json!({"user_id": user, "level": "read"})),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let (ta, _) = s.login("usera", "usera-password-1").await;
    let (tb, _) = s.login("userb", "userb-password-1").await;
    let mut admin = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let mut a = WsClient::connect(&s.base, &format!("?token={ta}")).await;
    let mut b = WsClient::connect(&s.base, &format!("?token={tb}")).await;

    let r = a.ask(json!({"type": "get_subscriptions"})).await;
    let defaults = types(&r["data"]["default_subscriptions"]);
    assert!(
        defaults.contains(&"record_created".to_string())
            && !defaults.contains(&"security_alert".to_string())
    );
    let r = a
        .ask(json!({"type": "subscribe", "data": {"event_types": ["security_alert"]}, "id": 1}))
        .await;
    assert_eq!(r["error_code"], "PERMISSION_DENIED");
    assert_eq!(r["details"]["event_types"], json!(["security_alert"]));

    s.create_record(
        &t,
        json!({"zone_id": za, "name": "www", "record_type": "A", "value": "192.0.2.1"}),
    )
    .await;
    s.create_record(
        &t,
        json!({"zone_id": zb, "name": "www", "record_type": "A", "value": "192.0.2.2"}),
    )
    .await;

    let zones_of = |evs: &[(String, Value)]| -> Vec<String> {
        evs.iter()
            .filter(|(_, e)| e["event_type"] == "record_created")
            .map(|(_, e)| e["data"]["zone_name"].as_str().unwrap().to_string())
            .collect()
    };
    let ea = a.events(Duration::from_millis(600)).await;
    let eb = b.events(Duration::from_millis(200)).await;
    let ead = admin.events(Duration::from_millis(200)).await;
    assert_eq!(zones_of(&ea), ["alpha.test"], "{ea:?}");
    assert_eq!(zones_of(&eb), ["beta.test"], "{eb:?}");
    assert_eq!(zones_of(&ead), ["alpha.test", "beta.test"]);
    // Envelopes carry the spec's fields; the payload is the spec's RecordEvent.
    let (_, e) = ea
        .iter()
        .find(|(_, e)| e["event_type"] == "record_created")
        .unwrap();
    assert_eq!(e["type"], "event");
    assert_eq!(e["priority"], "high");
    assert!(e["timestamp"].is_string());
    let mut keys: Vec<&str> = e["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "action",
            "record_id",
            "record_name",
            "record_type",
            "record_value",
            "timestamp",
            "user_id",
            "zone_id",
            "zone_name"
        ]
    );
    // Admin-only events never reach users.
    assert!(
        ea.iter()
            .all(|(_, e)| e["event_type"] != "bind_reload" && e["event_type"] != "zone_created"),
        "{ea:?}"
    );

    // A new grant takes effect on the live connection, announced first.
    s.call(
        reqwest::Method::PUT,
        &format!("/api/zones/{zb}/permissions"),
        Some(&t),
        Some(json!({"user_id": ua, "level": "read"})),
    )
    .await;
    let ev = a.events(Duration::from_millis(300)).await;
    assert!(
        ev.iter()
            .any(|(_, e)| e["event_type"] == "permission_changed"),
        "{ev:?}"
    );
    s.create_record(
        &t,
        json!({"zone_id": zb, "name": "new", "record_type": "A", "value": "192.0.2.3"}),
    )
    .await;
    let ev = a.events(Duration::from_millis(600)).await;
    assert_eq!(zones_of(&ev), ["beta.test"], "{ev:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_per_user() {
    let s = TestServer::start_with(
        Backend::Sqlite,
        &[("HDNS_WS_MAX_CONNECTIONS_PER_USER", "2")],
    )
    .await;
    let t = s.admin_token().await;
    // Plain GETs (no WebSocket handshake) are refused and take no place.
    for _ in 0..3 {
        let r = s.get(&format!("/ws?token={t}"), None).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
    }
    let mut c1 = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let _c2 = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let mut c3 = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let f = c3.frame().await;
    assert_eq!(f["error_code"], "CONNECTION_LIMIT");
    assert_eq!(c3.closed(Duration::from_secs(5)).await, Some(4029));
    // Closing one frees a place.
    c1.stream.close(None).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut c4 = WsClient::connect(&s.base, &format!("?token={t}")).await;
        let r = c4.ask(json!({"type": "ping"})).await;
        if r["type"] == "pong" {
            break;
        }
        assert_eq!(r["error_code"], "CONNECTION_LIMIT", "{r}");
        assert!(
            std::time::Instant::now() < deadline,
            "the closed connection never freed its place"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_pings() {
    let s = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("HDNS_ACCESS_TOKEN_TTL_SECS", "10"),
            ("HDNS_WS_PING_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let t = s.admin_token().await;
    // A client that answers pings stays; one that does not is closed after two.
    let mut quiet = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let mut live = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let mut pings = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    while std::time::Instant::now() < deadline {
        if let Next::Frame(f) = live.next(Duration::from_millis(200)).await {
            if f["type"] == "ping" {
                pings += 1;
                live.send(json!({"type": "pong"})).await;
            }
        }
    }
    assert!(pings >= 2, "server pings every second");
    assert_eq!(quiet.closed(Duration::from_secs(2)).await, Some(4004));
    // The token expires while the connection idles: session_expired, then 4002.
    let mut saw_expired = false;
    loop {
        match live.next(Duration::from_secs(10)).await {
            Next::Frame(f) if f["event_type"] == "session_expired" => {
                assert_eq!(f["priority"], "critical");
                saw_expired = true;
            }
            Next::Frame(f) if f["type"] == "ping" => live.send(json!({"type": "pong"})).await,
            Next::Frame(_) => {}
            Next::Closed(code) => {
                assert_eq!(code, Some(4002));
                break;
            }
            Next::Timeout => panic!("not closed at token expiry"),
        }
    }
    assert!(saw_expired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_per_user() {
    let s = TestServer::start(Backend::Sqlite).await;
    let t = s.admin_token().await;
    s.create_user(&t, "carl", "carl-password-12", "user").await;
    let (ut, _) = s.login("carl", "carl-password-12").await;

    // Non-admins: 5 administrative commands a minute.
    let mut u = WsClient::connect(&s.base, &format!("?token={ut}")).await;
    for i in 0..5 {
        let r = u
            .ask(json!({"type": if i % 2 == 0 { "get_stats" } else { "get_subscriptions" }}))
            .await;
        assert_eq!(r["type"], "response", "{r}");
    }
    let r = u.ask(json!({"type": "get_stats", "id": "x"})).await;
    assert_eq!(r["error_code"], "RATE_LIMITED");
    assert_eq!(r["id"], "x");
    assert_eq!(
        (
            r["details"]["limit"].as_u64(),
            r["details"]["window"].as_u64()
        ),
        (Some(5), Some(60))
    );
    let retry = r["details"]["retry_after"].as_u64().unwrap();
    assert!((1..=60).contains(&retry), "{r}");

    // 10 subscription changes a minute, across all of the user's connections.
    let mut u2 = WsClient::connect(&s.base, &format!("?token={ut}")).await;
    for i in 0..10 {
        let c = if i % 2 == 0 { &mut u } else { &mut u2 };
        let r = c
            .ask(json!({"type": "subscribe", "data": {"event_types": ["health_update"]}}))
            .await;
        assert_eq!(r["type"], "response", "change {i}: {r}");
    }
    let r = u2
        .ask(json!({"type": "unsubscribe", "data": {"event_types": ["health_update"]}}))
        .await;
    assert_eq!(r["error_code"], "RATE_LIMITED");
    assert_eq!(r["details"]["limit"], 10);

    // 100 messages a minute in all (the 17 above count too); pings still answer below it.
    let mut sent = 17;
    loop {
        let r = u.ask(json!({"type": "ping"})).await;
        sent += 1;
        if r["type"] == "error" {
            assert_eq!(r["error_code"], "RATE_LIMITED");
            assert_eq!(r["details"]["limit"], 100);
            break;
        }
        assert!(sent <= 100, "no limit after {sent} messages");
    }
    assert_eq!(sent, 101);
    // The connection survives; admins are not limited on administrative commands.
    assert_eq!(
        u.ask(json!({"type": "ping"})).await["error_code"],
        "RATE_LIMITED",
        "still over the limit, still connected"
    );
    let mut a = WsClient::connect(&s.base, &format!("?token={t}")).await;
    for _ in 0..8 {
        assert_eq!(
            a.ask(json!({"type": "get_stats"})).await["type"],
            "response"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_close_their_sockets() {
    let s = TestServer::start(Backend::Sqlite).await;
    let t = s.admin_token().await;
    let uid = s.create_user(&t, "dana", "dana-password-12", "user").await;
    let (t1, _) = s.login("dana", "dana-password-12").await;
    let (t2, _) = s.login("dana", "dana-password-12").await;
    let mut c1 = WsClient::connect(&s.base, &format!("?token={t1}")).await;
    let mut c2 = WsClient::connect(&s.base, &format!("?token={t2}")).await;
    assert_eq!(c1.ask(json!({"type": "ping"})).await["type"], "pong");

    // Logout closes that session's sockets at once, not the other session's.
    s.call(reqwest::Method::POST, "/api/auth/logout", Some(&t1), None)
        .await;
    assert_eq!(c1.closed(Duration::from_secs(2)).await, Some(4003));
    assert_eq!(c2.ask(json!({"type": "ping"})).await["type"], "pong");

    // Deactivation closes every socket of the user.
    let r = s
        .patch(
            &format!("/api/users/{uid}"),
            Some(&t),
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(c2.closed(Duration::from_secs(2)).await, Some(4003));

    // A session revoked behind the hooks' back (here: straight in the
    // database) is found by the sweeper within seconds.
    let (ta, _) = s.login("admin", crate::common::ADMIN_PASSWORD).await;
    let mut c3 = WsClient::connect(&s.base, &format!("?token={ta}")).await;
    let db = s.db().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("UPDATE sessions SET revoked_at = CURRENT_TIMESTAMP WHERE revoked_at IS NULL AND user_id = 1")
        .await
        .unwrap();
    assert_eq!(c3.closed(Duration::from_secs(5)).await, Some(4003));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priorities_batches_and_deadlines() {
    let s = TestServer::start(Backend::Sqlite).await;
    let t = s.admin_token().await;
    let z = s.create_zone(&t, json!({"name": "batch.test"})).await["id"]
        .as_i64()
        .unwrap();
    let uid = s.create_user(&t, "erin", "erin-password-12", "user").await;
    let mut a = WsClient::connect(&s.base, &format!("?token={t}")).await;

    // A normal event (user_login, 1 s window) is pending when a critical one
    // (permission_changed) arrives: the critical one is delivered first, alone.
    s.login("erin", "erin-password-12").await;
    s.call(
        reqwest::Method::PUT,
        &format!("/api/zones/{z}/permissions"),
        Some(&t),
        Some(json!({"user_id": uid, "level": "read"})),
    )
    .await;
    let mut order = Vec::new();
    let start = std::time::Instant::now();
    while order.len() < 2 && start.elapsed() < Duration::from_secs(6) {
        if let Next::Frame(f) = a.next(Duration::from_secs(6)).await {
            let list = if f["type"] == "batch" {
                f["events"].as_array().unwrap().clone()
            } else {
                vec![f.clone()]
            };
            for e in list {
                let kind = e["event_type"].as_str().unwrap_or("").to_string();
                if kind == "permission_changed" || kind == "user_login" {
                    order.push((
                        kind,
                        f["type"].as_str().unwrap().to_string(),
                        start.elapsed(),
                    ));
                }
            }
        }
    }
    assert_eq!(order.len(), 2, "{order:?}");
    assert_eq!(
        order[0].0, "permission_changed",
        "critical overtakes: {order:?}"
    );
    assert_eq!(order[0].1, "event", "critical is never batched");
    assert!(order[0].2 < Duration::from_millis(900), "{order:?}");
    assert_eq!(order[1].0, "user_login");
    assert!(
        order[1].2 < Duration::from_secs(5),
        "normal within 5 s: {order:?}"
    );

    // A burst of high events leaves in batch frames, each event within 1 s.
    let ops: Vec<Value> = (0..30)
        .map(|i| json!({"action": "create", "zone_id": z, "name": format!("b{i}"), "record_type": "A", "value": "192.0.2.7"}))
        .collect();
    let r = s
        .post(
            "/api/dns-records/bulk",
            Some(&t),
            json!({"operations": ops}),
        )
        .await;
    assert_eq!(r.status, 202);
    let evs = a.events(Duration::from_millis(2500)).await;
    let records: Vec<&(String, Value)> = evs
        .iter()
        .filter(|(_, e)| e["event_type"] == "record_created")
        .collect();
    assert_eq!(records.len(), 30, "{evs:?}");
    assert!(
        records.iter().all(|(kind, _)| kind == "batch"),
        "a burst is batched"
    );
    for (_, e) in &records {
        let sent = chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).unwrap();
        let late = chrono::Utc::now().signed_duration_since(sent);
        assert!(late < chrono::Duration::seconds(3), "{late:?}");
    }
    let complete = evs
        .iter()
        .find(|(_, e)| e["event_type"] == "bulk_operation_complete")
        .expect("complete event");
    assert_eq!(complete.1["data"]["succeeded"], 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_neither_delays_others_nor_stays() {
    let s = TestServer::start_with(Backend::Sqlite, &[("HDNS_WS_PING_INTERVAL_SECS", "1")]).await;
    let t = s.admin_token().await;
    let z = s.create_zone(&t, json!({"name": "stall.test"})).await["id"]
        .as_i64()
        .unwrap();
    let mut stalled = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let mut live = WsClient::connect(&s.base, &format!("?token={t}")).await;
    // `stalled` never reads from here on; `live` does and answers pings.
    for i in 0..5 {
        let started = std::time::Instant::now();
        s.create_record(&t, json!({"zone_id": z, "name": format!("s{i}"), "record_type": "A", "value": "192.0.2.9"})).await;
        let mut got = false;
        while !got && started.elapsed() < Duration::from_secs(2) {
            match live.next(Duration::from_secs(2)).await {
                Next::Frame(f) if f["type"] == "ping" => live.send(json!({"type": "pong"})).await,
                Next::Frame(f) => {
                    let list = if f["type"] == "batch" {
                        f["events"].as_array().unwrap().clone()
                    } else {
                        vec![f]
                    };
                    got = list.iter().any(|e| {
                        e["event_type"] == "record_created"
                            && e["data"]["record_name"] == format!("s{i}")
                    });
                }
                other => panic!("live client: {other:?}"),
            }
        }
        assert!(got, "the live client got record s{i} promptly");
    }
    // The stalled client misses its pings (every second) and is closed.
    assert_eq!(stalled.closed(Duration::from_secs(8)).await, Some(4004));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_endpoints_debug_mode_and_audit() {
    let s = TestServer::start(Backend::Sqlite).await;
    let t = s.admin_token().await;
    let uid = s.create_user(&t, "fred", "fred-password-12", "user").await;
    let (ut, _) = s.login("fred", "fred-password-12").await;

    // Legacy: a deprecation warning first, then preset subscriptions.
    let mut c = WsClient::connect(&s.base, &format!("/health/{uid}?token={ut}")).await;
    let w = c.frame().await;
    assert_eq!(
        (w["type"].as_str(), w["code"].as_str()),
        (Some("warning"), Some("DEPRECATED_ENDPOINT")),
        "{w}"
    );
    let r = c.ask(json!({"type": "get_subscriptions"})).await;
    assert_eq!(
        types(&r["data"]["subscriptions"]),
        ["health_update", "health_alert"]
    );
    let mut c = WsClient::connect(&s.base, &format!("/dns_management/{uid}?token={ut}")).await;
    c.frame().await;
    let r = c.ask(json!({"type": "get_subscriptions"})).await;
    assert!(types(&r["data"]["subscriptions"]).contains(&"record_created".to_string()));
    // Someone else's path, or an admin-only topic for a user: refused.
    let mut c = WsClient::connect(&s.base, &format!("/health/1?token={ut}")).await;
    assert_eq!(c.frame().await["error_code"], "AUTH_FAILED");
    assert_eq!(c.closed(Duration::from_secs(5)).await, Some(4001));
    let mut c = WsClient::connect(&s.base, &format!("/security/{uid}?token={ut}")).await;
    assert_eq!(c.frame().await["error_code"], "PERMISSION_DENIED");
    assert_eq!(c.closed(Duration::from_secs(5)).await, Some(4030));
    let mut c = WsClient::connect(&s.base, &format!("/security/1?token={t}")).await;
    assert_eq!(c.frame().await["type"], "warning");
    let r = c.ask(json!({"type": "get_subscriptions"})).await;
    assert_eq!(
        types(&r["data"]["subscriptions"]),
        [
            "security_alert",
            "threat_detected",
            "rpz_updated",
            "threat_feed_updated"
        ]
    );

    // Debug mode: admins only; it logs the connection's frames.
    let mut c = WsClient::connect(&s.base, &format!("?token={ut}&debug=true")).await;
    assert_eq!(c.frame().await["error_code"], "PERMISSION_DENIED");
    let mut c = WsClient::connect(&s.base, &format!("?token={t}&debug=true")).await;
    c.ask(json!({"type": "ping", "id": "debug-me"})).await;
    assert!(s.wait_log("debug-me").await && s.logs().contains("ws debug: received"));
    assert!(!s.logs().contains(&t), "the token never reaches the log");
    c.ask(json!({"type": "unsubscribe", "data": {"event_types": ["system_metrics"]}}))
        .await;
    drop(c);

    // Connects, subscription changes and disconnects are audited.
    for action in ["ws.connect", "ws.unsubscribe", "ws.disconnect"] {
        assert!(
            s.wait_count("audit_log", "action", action, 1).await >= 1,
            "{action} audited"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_publish_through_the_dispatcher() {
    let s = TestServer::start(Backend::Sqlite).await;
    let t = s.admin_token().await;
    s.create_user(&t, "gina", "gina-password-12", "user").await;
    let (ut, _) = s.login("gina", "gina-password-12").await;
    let mut a = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let mut u = WsClient::connect(&s.base, &format!("?token={ut}")).await;

    let alert = json!({"alert_id": "a1", "severity": "high", "category": "malware", "message": "test", "source_ip": "192.0.2.1", "details": {}, "timestamp": "2026-01-01T00:00:00Z"});
    let r = s
        .post(
            "/api/events/publish",
            Some(&t),
            json!({"event_type": "security_alert", "data": alert, "count": 3}),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["published"], 3);
    let got = a.events(Duration::from_millis(500)).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|(kind, e)| kind == "event"
        && e["priority"] == "critical"
        && e["data"]["alert_id"] == "a1"));
    assert!(
        u.events(Duration::from_millis(200)).await.is_empty(),
        "security events are admin-only"
    );

    // A health update reaches users too, without admin-only fields.
    let r = s
        .post("/api/events/publish", Some(&t), json!({"event_type": "health_update", "data": {"component": "system", "status": "healthy", "metrics": {}, "ip": "192.0.2.5", "timestamp": "2026-01-01T00:00:00Z"}}))
        .await;
    assert_eq!(r.status, 202);
    let got = u.events(Duration::from_millis(1500)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1["priority"], "normal");
    assert!(got[0].1["data"].get("ip").is_none(), "{got:?}");
    let got = a.events(Duration::from_millis(1500)).await;
    assert_eq!(got[0].1["data"]["ip"], "192.0.2.5");

    assert_eq!(
        s.post(
            "/api/events/publish",
            Some(&ut),
            json!({"event_type": "health_update", "data": {}})
        )
        .await
        .status,
        403
    );
    let r = s
        .post(
            "/api/events/publish",
            Some(&t),
            json!({"event_type": "nope", "data": {}}),
        )
        .await;
    assert_eq!(r.body["details"]["field"], "event_type");
    let r = s
        .post(
            "/api/events/publish",
            Some(&t),
            json!({"event_type": "health_update", "data": {}, "count": 10001}),
        )
        .await;
    assert_eq!(r.body["details"]["field"], "count");

    // The server's own timings: three critical events, each picked up by the
    // Dispatcher's critical lane and written to the one admin socket (the
    // user's socket does not receive them).
    let sys = s.get("/api/system", Some(&t)).await;
    let d = &sys.body["websocket"]["dispatcher"];
    assert_eq!(d["pickup"]["critical"]["count"], 3, "{d}");
    assert_eq!(d["latency"]["critical"]["count"], 3, "{d}");
    // Normal ones too (the logins' user_login events and the health update).
    assert!(d["pickup"]["normal"]["count"].as_u64().unwrap() >= 2, "{d}");
    assert!(d["pickup"]["critical"]["p99_ms"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_topic_endpoints() {
    let s = TestServer::start(Backend::Sqlite).await;
    let t = s.admin_token().await;
    s.create_user(&t, "hank", "hank-password-12", "user").await;
    let (ut, _) = s.login("hank", "hank-password-12").await;

    // No deprecation warning: the first frame is the answer to our question.
    let mut q = WsClient::connect(&s.base, &format!("/queries?token={t}")).await;
    let r = q.ask(json!({"type": "get_subscriptions", "id": 1})).await;
    assert_eq!(types(&r["data"]["subscriptions"]), ["dns_query"], "{r}");
    assert!(!types(&r["data"]["default_subscriptions"]).contains(&"dns_query".to_string()));
    let mut h = WsClient::connect(&s.base, &format!("/health?token={ut}")).await;
    let r = h.ask(json!({"type": "get_subscriptions"})).await;
    assert_eq!(
        types(&r["data"]["subscriptions"]),
        ["health_update", "health_alert"],
        "a user's health topic drops the admin-only forwarder type"
    );
    let mut e = WsClient::connect(&s.base, &format!("/events?token={ut}")).await;
    let r = e.ask(json!({"type": "get_subscriptions"})).await;
    assert_eq!(
        r["data"]["subscriptions"],
        r["data"]["default_subscriptions"]
    );
    let mut m = WsClient::connect(&s.base, &format!("/metrics?token={t}")).await;
    let r = m.ask(json!({"type": "get_subscriptions"})).await;
    assert_eq!(types(&r["data"]["subscriptions"]), ["system_metrics"]);
    // Metrics are admin-only; a missing token is refused as on /ws.
    let mut c = WsClient::connect(&s.base, &format!("/metrics?token={ut}")).await;
    assert_eq!(c.frame().await["error_code"], "PERMISSION_DENIED");
    assert_eq!(c.closed(Duration::from_secs(5)).await, Some(4030));
    let mut c = WsClient::connect(&s.base, "/queries").await;
    assert_eq!(c.frame().await["error_code"], "AUTH_FAILED");
    assert_eq!(c.closed(Duration::from_secs(5)).await, Some(4001));

    // Events flow by topic: a query event reaches /ws/queries, not /ws/health.
    let r = s
        .post("/api/events/publish", Some(&t), json!({"event_type": "dns_query", "data": {"query_name": "www.example.com.", "query_type": "A"}, "priority": "high"}))
        .await;
    assert_eq!(r.status, 202);
    let got = q.events(Duration::from_millis(600)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1["event_type"], "dns_query");
    assert!(h.events(Duration::from_millis(300)).await.is_empty());
    let r = s.get("/ws/nonsense", None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_under_load_is_reset() {
    let s = TestServer::start_with(Backend::Sqlite, &[("HDNS_WS_PING_INTERVAL_SECS", "1")]).await;
    let t = s.admin_token().await;
    let _stalled = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let mut live = WsClient::connect(&s.base, &format!("?token={t}")).await;
    // 60 critical frames of 400 KB (24 MB): far more than the stalled
    // client's socket buffers hold, so the server cannot write to it and
    // its session actor stops running.
    let blob = "x".repeat(400_000);
    for _ in 0..3 {
        let body = json!({"event_type": "security_alert", "data": {"blob": blob}, "count": 20});
        assert_eq!(
            s.post("/api/events/publish", Some(&t), body).await.status,
            202
        );
    }
    let mut got = 0;
    while got < 60 {
        match live.next(Duration::from_secs(10)).await {
            Next::Frame(f) if f["type"] == "ping" => live.send(json!({"type": "pong"})).await,
            Next::Frame(f) if f["event_type"] == "security_alert" => got += 1,
            Next::Frame(_) => {}
            other => panic!("live client after {got} alerts: {other:?}"),
        }
    }
    // The watchdog resets the stalled socket (3 ping intervals + 2 s, swept
    // every 2 s); the live session stays.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let ws = loop {
        let sys = s.get("/api/system", Some(&t)).await.body;
        if sys["websocket"]["sessions"] == 1 {
            break sys["websocket"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled session is still registered: {}",
            sys["websocket"]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        while let Next::Frame(f) = live.next(Duration::from_millis(10)).await {
            if f["type"] == "ping" {
                live.send(json!({"type": "pong"})).await;
            }
        }
    };
    assert_eq!(ws["dispatcher"]["aborted_stalled"], 1, "{ws}");
    live.send(json!({"type": "ping", "id": "after"})).await;
    loop {
        let f = live.frame().await;
        if f["type"] == "pong" {
            assert_eq!(f["id"], "after");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_of_events_that_may_not_be_shed_closes_with_4008() {
    let s = TestServer::start_with(Backend::Sqlite, &[("HDNS_WS_QUEUE_CAPACITY", "4")]).await;
    let t = s.admin_token().await;
    s.create_user(&t, "hank", "hank-password-12", "user").await;
    let (ut, _) = s.login("hank", "hank-password-12").await;
    let mut a = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let mut u = WsClient::connect(&s.base, &format!("?token={ut}")).await;

    // Fifty high-priority events at once, to the admin only: the queue (4)
    // fills before their 100 ms window ends, and high events are never shed.
    let r = s
        .post(
            "/api/events/publish",
            Some(&t),
            json!({"event_type": "bind_reload", "data": {"success": true}, "count": 50}),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let mut error = None;
    let code = loop {
        match a.next(Duration::from_secs(5)).await {
            Next::Frame(f) if f["type"] == "error" => error = Some(f),
            Next::Frame(_) => {}
            Next::Closed(code) => break code,
            Next::Timeout => panic!("the overflowing session was not closed"),
        }
    };
    assert_eq!(code, Some(4008));
    let error = error.expect("an error frame before the close");
    assert_eq!(error["error_code"], "SLOW_CONSUMER", "{error}");

    // The other session is untouched and answers at once.
    let pong = u.ask(json!({"type": "ping", "id": 1})).await;
    assert_eq!(
        (pong["type"].as_str(), pong["id"].as_i64()),
        (Some("pong"), Some(1))
    );
    let sys = s.get("/api/system", Some(&t)).await;
    let d = &sys.body["websocket"]["dispatcher"];
    assert_eq!(d["closed_too_slow"], 1, "one session closed: {d}");
    // 46 unless the session got to write a batch in the middle of the burst.
    let overflowed = d["overflowed"].as_u64().unwrap();
    assert!(
        (1..=46).contains(&overflowed),
        "the events it could not take: {d}"
    );
    assert_eq!(d["shed"], 0, "{d}");
}
