//! Login, refresh rotation and reuse detection, logout, lockout, 2FA, password change.

use hdns_entities::{audit_log, sessions};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(
    login_returns_tokens_and_user,
    refresh_rotates_and_reuse_revokes_family,
    logout_revokes_session,
    lockout_and_admin_unlock,
    two_factor_flow,
    change_password_ends_other_sessions,
);

async fn login_returns_tokens_and_user(b: Backend) {
    let s = TestServer::start(b).await;
    let r = s.login_raw("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert_eq!(r.body["user"]["username"], "admin");
    assert_eq!(r.body["user"]["role"], "admin");
    assert!(r.body["user"].get("password_hash").is_none());
    let access = r.body["access_token"].as_str().unwrap();
    assert!(r.body["refresh_token"].as_str().unwrap().len() >= 40);

    let me = s.get("/api/auth/me", Some(access)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "admin");

    // Usernames are case-insensitive; passwords are not.
    assert_eq!(s.login_raw("ADMIN", ADMIN_PASSWORD, None).await.status, 200);
    assert_error(
        &s.login_raw("admin", "ADMIN-PASSWORD-123", None).await,
        401,
        "invalid_credentials",
    );
    // An unknown user gets the very same answer as a wrong password.
    assert_error(
        &s.login_raw("nobody", "whatever-password", None).await,
        401,
        "invalid_credentials",
    );

    // The login and the failures are in the audit log.
    let db = s.db().await;
    let rows = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("auth.login"))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let failed = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("auth.login_failed"))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(failed.len(), 2);
}

async fn refresh_rotates_and_reuse_revokes_family(b: Backend) {
    let s = TestServer::start(b).await;
    let (access1, refresh1) = s.login("admin", ADMIN_PASSWORD).await;

    let r = s
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": refresh1 }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let access2 = r.body["access_token"].as_str().unwrap().to_string();
    let refresh2 = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(refresh1, refresh2);
    assert_eq!(s.get("/api/auth/me", Some(&access2)).await.status, 200);

    // Presenting the rotated token again is theft: the whole family dies.
    let reuse = s
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": refresh1 }),
        )
        .await;
    assert_error(&reuse, 401, "token_reused");
    assert_error(
        &s.post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": refresh2 }),
        )
        .await,
        401,
        "invalid_token",
    );
    assert_error(
        &s.get("/api/auth/me", Some(&access2)).await,
        401,
        "session_revoked",
    );
    assert_error(
        &s.get("/api/auth/me", Some(&access1)).await,
        401,
        "session_revoked",
    );

    let db = s.db().await;
    let sess = sessions::Entity::find().all(&db).await.unwrap();
    assert_eq!(sess.len(), 1);
    assert_eq!(sess[0].revoked_reason.as_deref(), Some("token_reused"));
    // Only hashes are stored.
    let tokens = hdns_entities::refresh_tokens::Entity::find()
        .order_by_asc(hdns_entities::refresh_tokens::Column::Id)
        .all(&db)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(tokens
        .iter()
        .all(|t| t.token_hash != refresh1 && t.token_hash != refresh2 && t.token_hash.len() == 64));
    assert_eq!(tokens[1].parent_id, Some(tokens[0].id));

    // A second, independent session is untouched.
    let (other, _) = s.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(s.get("/api/auth/me", Some(&other)).await.status, 200);
    assert_error(
        &s.post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": "not-a-token" }),
        )
        .await,
        401,
        "invalid_token",
    );
}

async fn logout_revokes_session(b: Backend) {
    let s = TestServer::start(b).await;
    let (access, refresh) = s.login("admin", ADMIN_PASSWORD).await;
    let (other, _) = s.login("admin", ADMIN_PASSWORD).await;
    let r = s
        .call(Method::POST, "/api/auth/logout", Some(&access), None)
        .await;
    assert_eq!(r.status, 204);
    assert_error(
        &s.get("/api/auth/me", Some(&access)).await,
        401,
        "session_revoked",
    );
    assert_eq!(
        s.post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": refresh })
        )
        .await
        .status,
        401
    );
    assert_eq!(s.get("/api/auth/me", Some(&other)).await.status, 200);
    assert_error(
        &s.call(Method::POST, "/api/auth/logout", None, None).await,
        401,
        "unauthorized",
    );
}

async fn lockout_and_admin_unlock(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    let id = s.create_user(&admin, "bob", "bob-password-1", "user").await;
    for _ in 0..4 {
        assert_error(
            &s.login_raw("bob", "wrong-password", None).await,
            401,
            "invalid_credentials",
        );
    }
    let locked = s.login_raw("bob", "wrong-password", None).await;
    assert_error(&locked, 423, "account_locked");
    assert_eq!(locked.body["details"]["retry_after"], 900);
    assert_eq!(locked.headers["retry-after"], "900");
    // Even the right password is refused while locked.
    let r = s.login_raw("bob", "bob-password-1", None).await;
    assert_error(&r, 423, "account_locked");
    let retry = r.body["details"]["retry_after"].as_u64().unwrap();
    assert!(retry > 0 && retry <= 900);

    let user = s.get(&format!("/api/users/{id}"), Some(&admin)).await;
    assert!(user.body["locked_until"].is_string());
    let un = s
        .post(&format!("/api/users/{id}/unlock"), Some(&admin), json!({}))
        .await;
    assert_eq!(un.status, 200);
    assert!(un.body["locked_until"].is_null());
    assert_eq!(s.login_raw("bob", "bob-password-1", None).await.status, 200);

    let db = s.db().await;
    let rows = audit_log::Entity::find()
        .filter(audit_log::Column::Action.is_in(["user.locked", "user.unlock"]))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
}

/// The TOTP code for a fixed time, so the test does not depend on which
/// 30-second step it happens to run in.
fn code_at(secret: &str, unix_time: i64) -> String {
    let t = hybrid_dns::services::credentials::totp::build(secret, "x").unwrap();
    t.generate(unix_time as u64).to_string()
}

async fn two_factor_flow(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    s.create_user(&admin, "alice", "alice-password-1", "user")
        .await;
    let (tok, _) = s.login("alice", "alice-password-1").await;

    let setup = s.post("/api/auth/2fa/setup", Some(&tok), json!({})).await;
    assert_eq!(setup.status, 200, "{:?}", setup.body);
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    assert!(setup.body["otpauth_url"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(setup.body["qr_code_png_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    assert_error(
        &s.post(
            "/api/auth/2fa/enable",
            Some(&tok),
            json!({ "code": "000000x" }),
        )
        .await,
        422,
        "validation_error",
    );
    let t0 = chrono::Utc::now().timestamp();
    let en = s
        .post(
            "/api/auth/2fa/enable",
            Some(&tok),
            json!({ "code": code_at(&secret, t0) }),
        )
        .await;
    assert_eq!(en.status, 200, "{:?}", en.body);
    let backups: Vec<String> = serde_json::from_value(en.body["backup_codes"].clone()).unwrap();
    assert_eq!(backups.len(), 10);

    // Password alone is no longer enough.
    assert_error(
        &s.login_raw("alice", "alice-password-1", None).await,
        401,
        "totp_required",
    );
    // The code used to enable is spent; the next step's code works once.
    assert_error(
        &s.login_raw("alice", "alice-password-1", Some(&code_at(&secret, t0)))
            .await,
        401,
        "invalid_totp",
    );
    let next = code_at(&secret, t0 + 30);
    assert_eq!(
        s.login_raw("alice", "alice-password-1", Some(&next))
            .await
            .status,
        200
    );
    assert_error(
        &s.login_raw("alice", "alice-password-1", Some(&next)).await,
        401,
        "invalid_totp",
    );
    assert_error(
        &s.login_raw("alice", "alice-password-1", Some("123456"))
            .await,
        401,
        "invalid_totp",
    );

    // A backup code works exactly once, with or without dashes and case.
    let code = backups[3].to_uppercase();
    assert_eq!(
        s.login_raw("alice", "alice-password-1", Some(&code))
            .await
            .status,
        200
    );
    assert_error(
        &s.login_raw("alice", "alice-password-1", Some(&backups[3]))
            .await,
        401,
        "invalid_totp",
    );

    // Disabling needs password and code.
    let r = s
        .login_raw("alice", "alice-password-1", Some(&backups[0]))
        .await;
    let tok3 = r.body["access_token"].as_str().unwrap().to_string();
    assert_error(
        &s.post(
            "/api/auth/2fa/disable",
            Some(&tok3),
            json!({ "password": "wrong-password", "code": backups[1] }),
        )
        .await,
        401,
        "invalid_credentials",
    );
    let dis = s
        .post(
            "/api/auth/2fa/disable",
            Some(&tok3),
            json!({ "password": "alice-password-1", "code": backups[1] }),
        )
        .await;
    assert_eq!(dis.status, 204, "{:?}", dis.body);
    assert_eq!(
        s.login_raw("alice", "alice-password-1", None).await.status,
        200
    );
}

async fn change_password_ends_other_sessions(b: Backend) {
    let s = TestServer::start(b).await;
    let (a1, _) = s.login("admin", ADMIN_PASSWORD).await;
    let (a2, _) = s.login("admin", ADMIN_PASSWORD).await;
    let bad = s
        .post(
            "/api/auth/change-password",
            Some(&a1),
            json!({ "current_password": "nope-nope-nope", "new_password": "new-admin-password" }),
        )
        .await;
    assert_error(&bad, 401, "invalid_credentials");
    let weak = s
        .post(
            "/api/auth/change-password",
            Some(&a1),
            json!({ "current_password": ADMIN_PASSWORD, "new_password": "short" }),
        )
        .await;
    assert_error(&weak, 422, "validation_error");
    assert_eq!(weak.body["details"]["field"], "new_password");
    let ok = s
        .post(
            "/api/auth/change-password",
            Some(&a1),
            json!({ "current_password": ADMIN_PASSWORD, "new_password": "new-admin-password" }),
        )
        .await;
    assert_eq!(ok.status, 204);
    assert_eq!(s.get("/api/auth/me", Some(&a1)).await.status, 200);
    assert_error(
        &s.get("/api/auth/me", Some(&a2)).await,
        401,
        "session_revoked",
    );
    assert_error(
        &s.login_raw("admin", ADMIN_PASSWORD, None).await,
        401,
        "invalid_credentials",
    );
    assert_eq!(
        s.login_raw("admin", "new-admin-password", None)
            .await
            .status,
        200
    );
}
