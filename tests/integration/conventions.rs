//! REST conventions: the error body for every failure class, security headers,
//! rate limits, docs served offline, hostile input, and no secrets in logs.

use hdns_entities::users;
use reqwest::Method;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(error_bodies_for_every_class, hostile_input_changes_nothing);

async fn error_bodies_for_every_class(b: Backend) {
    let s = TestServer::start_with(b, &[("HDNS_MAX_BODY_BYTES", "4096")]).await;
    let admin = s.admin_token().await;
    s.create_user(&admin, "bob", "bob-password-1", "user").await;
    let (user, _) = s.login("bob", "bob-password-1").await;

    // 400 malformed JSON
    let r = s
        .http
        .post(s.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_error(&TestServer::into_resp(r).await, 400, "invalid_json");
    // 401
    assert_error(&s.get("/api/auth/me", None).await, 401, "unauthorized");
    // 403
    assert_error(
        &s.get("/api/users", Some(&user)).await,
        403,
        "permission_denied",
    );
    // 404: unknown route, unknown id, non-numeric id
    assert_error(&s.get("/api/nothing-here", None).await, 404, "not_found");
    assert_error(
        &s.get("/api/users/99999", Some(&admin)).await,
        404,
        "not_found",
    );
    assert_error(
        &s.get("/api/users/abc", Some(&admin)).await,
        404,
        "not_found",
    );
    // 405 keeps the Allow header
    let r = s
        .call(Method::PUT, "/api/auth/login", None, Some(json!({})))
        .await;
    assert_error(&r, 405, "method_not_allowed");
    assert!(r.headers.get("allow").is_some());
    // 413
    let big = json!({ "username": "x".repeat(10_000), "password": "y" });
    assert_error(
        &s.post("/api/auth/login", None, big).await,
        413,
        "payload_too_large",
    );
    // 415
    let r = s
        .http
        .post(s.url("/api/auth/login"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(
        &TestServer::into_resp(r).await,
        415,
        "unsupported_media_type",
    );
    // 422: wrong types, missing fields, unknown fields, validation
    assert_error(
        &s.post(
            "/api/auth/login",
            None,
            json!({ "username": 5, "password": [] }),
        )
        .await,
        422,
        "validation_error",
    );
    assert_error(
        &s.post("/api/auth/login", None, json!({ "username": "a" }))
            .await,
        422,
        "validation_error",
    );
    assert_error(
        &s.post(
            "/api/auth/login",
            None,
            json!({ "username": "a", "password": "b", "role": "x" }),
        )
        .await,
        422,
        "validation_error",
    );
    let r = s
        .post(
            "/api/users",
            Some(&admin),
            json!({ "username": "ok-name", "password": "short" }),
        )
        .await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.body["details"]["field"], "password");

    // Security headers on success and on errors alike.
    for r in [
        s.get("/api/health", None).await,
        s.get("/api/nope", None).await,
    ] {
        for h in [
            "content-security-policy",
            "x-content-type-options",
            "x-frame-options",
            "referrer-policy",
            "x-request-id",
        ] {
            assert!(r.headers.get(h).is_some(), "missing {h}");
        }
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert!(r.headers.get("strict-transport-security").is_none());
        // No CORS origin is allowed by default.
        assert!(r.headers.get("access-control-allow-origin").is_none());
    }
}

async fn hostile_input_changes_nothing(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    let db = s.db().await;
    let before = users::Entity::find().count(&db).await.unwrap();

    // Invalid UTF-8 inside a JSON string.
    let mut body = b"{\"username\":\"".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    body.extend_from_slice(b"\",\"password\":\"pw-pw-pw-pw\"}");
    let r = s
        .http
        .post(s.url("/api/users"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_error(&TestServer::into_resp(r).await, 400, "invalid_json");
    // SQL-looking strings are only data.
    let sqli = s.login_raw("admin' OR '1'='1", "' OR 1=1 --", None).await;
    assert_error(&sqli, 401, "invalid_credentials");
    let r = s
        .post(
            "/api/users",
            Some(&admin),
            json!({ "username": "x'; DROP TABLE users; --", "password": "long-enough-pw" }),
        )
        .await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.body["details"]["field"], "username");
    let r = s
        .get("/api/users?q=%27%20OR%201%3D1%20--", Some(&admin))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["total"], 0);
    // Overlong username.
    let r = s
        .post(
            "/api/users",
            Some(&admin),
            json!({ "username": "a".repeat(65), "password": "long-enough-pw" }),
        )
        .await;
    assert_error(&r, 422, "validation_error");
    assert_error(
        &s.login_raw(&"a".repeat(5000), "pw", None).await,
        422,
        "validation_error",
    );
    // Huge body over the default 1 MiB limit.
    let huge = json!({ "username": "u".repeat(2 * 1024 * 1024), "password": "p" });
    assert_error(
        &s.post("/api/users", Some(&admin), huge).await,
        413,
        "payload_too_large",
    );
    // Wrong JSON types.
    let r = s
        .post(
            "/api/users",
            Some(&admin),
            json!({ "username": ["a"], "password": 12345678901u64, "role": "root" }),
        )
        .await;
    assert_error(&r, 422, "validation_error");

    assert_eq!(users::Entity::find().count(&db).await.unwrap(), before);
    assert_eq!(s.get("/api/health", None).await.status, 200);
}

#[tokio::test]
async fn rate_limits_per_ip_and_per_user() {
    let s = TestServer::start_with(Backend::Sqlite, &[("HDNS_RATE_LIMIT_PER_IP", "8")]).await;
    let mut limited = None;
    for _ in 0..12 {
        let r = s.get("/api/health", None).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("the per-IP limit never answered 429");
    assert_error(&r, 429, "rate_limited");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.body["details"]["retry_after"], retry);

    let s = TestServer::start_with(Backend::Sqlite, &[("HDNS_RATE_LIMIT_PER_USER", "5")]).await;
    let (tok, _) = s.login("admin", ADMIN_PASSWORD).await;
    for _ in 0..5 {
        assert_eq!(s.get("/api/auth/me", Some(&tok)).await.status, 200);
    }
    assert_error(
        &s.get("/api/auth/me", Some(&tok)).await,
        429,
        "rate_limited",
    );
    // Anonymous callers from the same address have their own allowance.
    assert_eq!(s.get("/api/health", None).await.status, 200);
}

#[tokio::test]
async fn docs_are_served_without_network() {
    let s = TestServer::start(Backend::Sqlite).await;
    let spec = s.get("/openapi.json", None).await;
    assert_eq!(spec.status, 200);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/2fa/setup",
        "/api/users",
        "/api/users/{id}",
        "/api/health",
    ] {
        assert!(
            spec.body["paths"].get(p).is_some(),
            "{p} missing from OpenAPI"
        );
    }
    assert!(spec.body["components"]["securitySchemes"]["bearer"].is_object());

    let ui = s.http.get(s.url("/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    let html = ui.text().await.unwrap();
    assert!(html.contains("swagger"));
    assert!(
        !html.contains("https://"),
        "Swagger UI must not load from a CDN"
    );
    let init = s
        .http
        .get(s.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"));

    let redoc = s
        .http
        .get(s.url("/redoc"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(redoc.contains("/redoc/redoc.standalone.js") && !redoc.contains("https://"));
    let js = s
        .http
        .get(s.url("/redoc/redoc.standalone.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await.unwrap().len() > 500_000);
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let s = TestServer::start(Backend::Sqlite).await;
    let admin = s.admin_token().await;
    s.create_user(&admin, "bob", "bob-secret-password", "user")
        .await;
    let r = s.login_raw("bob", "bob-secret-password", None).await;
    let access = r.body["access_token"].as_str().unwrap().to_string();
    let refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    let r = s
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    let refresh2 = r.body["refresh_token"].as_str().unwrap().to_string();
    let setup = s
        .post("/api/auth/2fa/setup", Some(&access), json!({}))
        .await;
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    s.login_raw("bob", "wrong-secret-password", None).await;
    // A token in a query string (as WebSocket clients send it) is not logged either.
    s.get(&format!("/api/health?token={access}"), None).await;

    let logs = s.logs();
    assert!(
        logs.contains("path=/api/auth/login"),
        "request log lines are missing:\n{logs}"
    );
    for secret in [
        ADMIN_PASSWORD,
        "bob-secret-password",
        "wrong-secret-password",
        &access,
        &refresh,
        &refresh2,
        &secret,
    ] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
}

#[tokio::test]
async fn bootstrap_admin_gets_a_one_time_password() {
    let s = TestServer::start_with(Backend::Sqlite, &[("HDNS_ADMIN_PASSWORD", "")]).await;
    let logs = s.logs();
    let line = logs
        .lines()
        .find(|l| l.trim_start().starts_with("password:"))
        .expect("password printed");
    let password = line
        .trim_start()
        .trim_start_matches("password:")
        .trim()
        .to_string();
    assert!(logs.contains("listening on http://127.0.0.1:"));
    let (tok, _) = s.login("admin", &password).await;
    assert_error(
        &s.get("/api/users", Some(&tok)).await,
        403,
        "password_change_required",
    );
    let r = s
        .post(
            "/api/auth/change-password",
            Some(&tok),
            json!({ "current_password": password, "new_password": "my-own-admin-pw" }),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(s.get("/api/users", Some(&tok)).await.status, 200);
    // The JWT secret was generated into the data dir, readable by the owner only.
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(s.dir.path().join("data/jwt_secret")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let s = TestServer::start_with(
        Backend::Sqlite,
        &[("HDNS_CORS_ORIGINS", "[\"https://dash.example.com\"]")],
    )
    .await;
    let ok = s
        .http
        .get(s.url("/api/health"))
        .header("origin", "https://dash.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
    let bad = s
        .http
        .get(s.url("/api/health"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(bad.headers().get("access-control-allow-origin").is_none());
}
