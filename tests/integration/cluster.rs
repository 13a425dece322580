//! Two instances on one PostgreSQL database and one Redis (the cluster
//! bridge): events, connection limits, role changes and logouts cross them.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::ws::{collect, gather, of, Next, WsClient};
use crate::common::{Backend, TestServer};

/// Redis when reachable; required under `CI=true`, skipped elsewhere.
fn redis_or_skip() -> Option<String> {
    let url =
        std::env::var("HDNS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let addr = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    match std::net::TcpStream::connect(&addr) {
        Ok(_) => Some(url),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("Redis is required under CI=true but {url} is unreachable: {e}")
        }
        Err(e) => {
            eprintln!("SKIP cluster suite: Redis at {url} is unreachable: {e}");
            None
        }
    }
}

/// The close frame's code and reason.
async fn close_of(c: &mut WsClient, within: Duration) -> (u16, String) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, c.stream.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                return (u16::from(f.code), f.reason.to_string())
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn connect(s: &TestServer, token: &str) -> WsClient {
    WsClient::connect(&s.base, &format!("?token={token}")).await
}

/// A connection the server refuses: its error code and close code.
async fn refused(s: &TestServer, token: &str) -> (Value, u16) {
    let mut c = connect(s, token).await;
    let f = c.frame().await;
    let code = c.closed(Duration::from_secs(5)).await.unwrap_or(0);
    (f["error_code"].clone(), code)
}

/// Sends `msg` with `id` and returns the answer carrying that id (events
/// that arrive meanwhile are skipped).
async fn answer(c: &mut WsClient, mut msg: Value, id: u64) -> Value {
    msg["id"] = json!(id);
    c.send(msg).await;
    loop {
        let f = c.frame().await;
        if f["id"] == json!(id) {
            return f;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_events_limits_roles_and_logouts() {
    let Some(Backend::Postgres(pg)) = Backend::postgres_or_skip("cluster").await else {
        return;
    };
    let Some(redis) = redis_or_skip() else {
        return;
    };
    let prefix = format!("hdns-test-{}", uuid::Uuid::new_v4().simple());
    let shared = [
        ("HDNS_REDIS_URL", redis.as_str()),
        ("HDNS_REDIS_PREFIX", prefix.as_str()),
        (
            "HDNS_JWT_SECRET",
            "cluster-test-secret-0123456789abcdef-xyz",
        ),
        ("HDNS_WS_MAX_CONNECTIONS_PER_USER", "2"),
    ];
    let a = TestServer::start_with(Backend::Postgres(pg), &shared).await;
    let mut env_b = shared.to_vec();
    env_b.push(("HDNS_DATABASE_URL", a.database_url.as_str()));
    let b = TestServer::start_with(Backend::Sqlite, &env_b).await;

    // A token from one instance works on the other (shared secret and database).
    let admin = a.admin_token().await;
    let z1 = a.create_zone(&admin, json!({"name": "one.test"})).await["id"]
        .as_i64()
        .unwrap();
    let z2 = a.create_zone(&admin, json!({"name": "two.test"})).await["id"]
        .as_i64()
        .unwrap();
    let carol = a
        .create_user(&admin, "carol", "carol-password-1", "user")
        .await;
    let r = a
        .call(
            reqwest::Method::PUT,
            &format!("/api/zones/{z1}/permissions"),
            Some(&admin),
            Some(json!({"user_id": carol, "level": "read"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let (tc, _) = b.login("carol", "carol-password-1").await;
    let mut admin_b = connect(&b, &admin).await;
    let mut carol_b = connect(&b, &tc).await;

    // Changes made through A reach sockets on B, filtered by B's grants.
    for zone in [z1, z2] {
        let body =
            json!({"zone_id": zone, "name": "www", "record_type": "A", "value": "192.0.2.1"});
        a.create_record(&admin, body).await;
    }
    let seen = collect(
        &mut admin_b,
        "record_created",
        2,
        Duration::from_secs(10),
        |_| true,
    )
    .await;
    assert_eq!(seen.len(), 2, "admin on B sees both records: {seen:?}");
    let mine = gather(&mut carol_b, Duration::from_secs(3), |_| false).await;
    let records = of(&mine, "record_created", |_| true);
    assert_eq!(records.len(), 1, "carol sees only her zone: {mine:?}");
    assert_eq!(records[0]["data"]["zone_name"], "one.test");
    // Logged once, by the instance that made the change.
    assert_eq!(
        a.count_where("event_log", "event_type", "record_created")
            .await,
        2
    );
    let sys = b.get("/api/system", Some(&admin)).await.body;
    let cluster = &sys["websocket"]["cluster"];
    assert!(cluster["events_in"].as_u64().unwrap() >= 2, "{cluster}");
    let sys_a = a.get("/api/system", Some(&admin)).await.body;
    assert_ne!(
        cluster["instance"],
        sys_a["websocket"]["cluster"]["instance"]
    );
    assert!(!sys["config"]["redis_url"].as_str().unwrap().is_empty());

    // The per-user limit (2) counts sockets on every instance.
    let carol_a = connect(&a, &tc).await;
    let (code, close) = refused(&b, &tc).await;
    assert_eq!((code, close), (json!("CONNECTION_LIMIT"), 4029));
    drop(carol_a);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut carol_b2 = loop {
        let mut c = connect(&b, &tc).await;
        match c.next(Duration::from_millis(500)).await {
            Next::Frame(f) if f["error_code"] == "CONNECTION_LIMIT" => {
                assert!(
                    Instant::now() < deadline,
                    "the closed socket was never released"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => break c,
        }
    };
    assert_eq!(carol_b2.ask(json!({"type": "ping"})).await["type"], "pong");

    // Rate limits are per user across instances: 10 subscription changes
    // per minute, spent on A and on B together.
    let mut admin_a = connect(&a, &admin).await;
    let sub = json!({"type": "subscribe", "data": {"event_types": ["health_update"]}});
    for i in 0..10 {
        let c = if i % 2 == 0 {
            &mut admin_a
        } else {
            &mut admin_b
        };
        let r = answer(c, sub.clone(), 100 + i).await;
        assert_eq!(r["type"], "response", "change {i}: {r}");
    }
    let r = answer(&mut admin_b, sub.clone(), 200).await;
    assert_eq!(r["error_code"], "RATE_LIMITED", "{r}");
    assert_eq!(r["details"]["limit"], 10);
    assert!(r["details"]["retry_after"].as_u64().unwrap() >= 1);
    drop(admin_a);

    // A role change made on A re-filters carol's sockets on B.
    let r = a
        .patch(
            &format!("/api/users/{carol}"),
            Some(&admin),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let changed = collect(
        &mut carol_b,
        "permission_changed",
        1,
        Duration::from_secs(10),
        |_| true,
    )
    .await;
    assert_eq!(changed[0]["data"]["role"], "admin");
    let r = carol_b
        .ask(json!({"type": "subscribe", "data": {"event_types": ["security_alert"]}, "id": 7}))
        .await;
    assert_eq!(r["type"], "response", "{r}");

    // Logging out on A closes carol's sockets on B at once, by the bridge
    // (reason `logout`), not by the database sweep (`session_revoked`).
    let r = a.post("/api/auth/logout", Some(&tc), json!({})).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    for c in [&mut carol_b, &mut carol_b2] {
        assert_eq!(
            close_of(c, Duration::from_secs(5)).await,
            (4003, "logout".to_string())
        );
    }
    // The admin's socket on B is untouched (events may come before the pong).
    admin_b.send(json!({"type": "ping", "id": "last"})).await;
    loop {
        let f = admin_b.frame().await;
        if f["type"] == "pong" {
            assert_eq!(f["id"], "last");
            break;
        }
    }
}
