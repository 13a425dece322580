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
    let mut c1 = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let _c2 = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let mut c3 = WsClient::connect(&s.base, &format!("?token={t}")).await;
    let f = c3.frame().await;
    assert_eq!(f["error_code"], "CONNECTION_LIMIT");
    assert_eq!(c3.closed(Duration::from_secs(5)).await, Some(4029));
    // Closing one frees a place.
    c1.stream.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut c4 = WsClient::connect(&s.base, &format!("?token={t}")).await;
    assert_eq!(c4.ask(json!({"type": "ping"})).await["type"], "pong");
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
