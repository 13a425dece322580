//! Users and RBAC: admin CRUD, self-service limits, deactivation, audit rows.

use hdns_entities::{audit_log, users};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(
    rbac_denies_users_admin_routes,
    admin_crud_with_pagination_and_audit,
    deactivation_and_last_admin
);

async fn rbac_denies_users_admin_routes(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    let bob = s.create_user(&admin, "bob", "bob-password-1", "user").await;
    let carol = s
        .create_user(&admin, "carol", "carol-password-1", "user")
        .await;
    let (tok, _) = s.login("bob", "bob-password-1").await;

    assert_error(
        &s.get("/api/users", Some(&tok)).await,
        403,
        "permission_denied",
    );
    let r = s
        .post(
            "/api/users",
            Some(&tok),
            json!({ "username": "eve", "password": "eve-password-1", "role": "admin" }),
        )
        .await;
    assert_error(&r, 403, "permission_denied");
    assert_error(
        &s.get(&format!("/api/users/{carol}"), Some(&tok)).await,
        403,
        "permission_denied",
    );
    assert_error(
        &s.call(
            Method::DELETE,
            &format!("/api/users/{carol}"),
            Some(&tok),
            None,
        )
        .await,
        403,
        "permission_denied",
    );
    assert_error(
        &s.post(&format!("/api/users/{carol}/unlock"), Some(&tok), json!({}))
            .await,
        403,
        "permission_denied",
    );

    // Own profile: readable, name and email editable, role not.
    assert_eq!(
        s.get(&format!("/api/users/{bob}"), Some(&tok)).await.body["username"],
        "bob"
    );
    let upd = s
        .call(
            Method::PATCH,
            &format!("/api/users/{bob}"),
            Some(&tok),
            Some(json!({ "full_name": "Bob B", "email": "bob@example.com" })),
        )
        .await;
    assert_eq!(upd.status, 200);
    assert_eq!(upd.body["full_name"], "Bob B");
    let esc = s
        .call(
            Method::PATCH,
            &format!("/api/users/{bob}"),
            Some(&tok),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_error(&esc, 403, "permission_denied");
    let db = s.db().await;
    let row = users::Entity::find_by_id(bob as i32)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.role.as_str(), "user");
    assert_eq!(users::Entity::find().count(&db).await.unwrap(), 3);
    // Without any token: 401.
    assert_error(&s.get("/api/users", None).await, 401, "unauthorized");
    assert_error(
        &s.get("/api/users", Some("not.a.jwt")).await,
        401,
        "unauthorized",
    );
}

async fn admin_crud_with_pagination_and_audit(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    for i in 0..7 {
        s.create_user(&admin, &format!("user{i}"), "user-password-1", "user")
            .await;
    }
    let dup = s
        .post(
            "/api/users",
            Some(&admin),
            json!({ "username": "USER3", "password": "user-password-1" }),
        )
        .await;
    assert_error(&dup, 409, "username_taken");

    let p = s
        .get(
            "/api/users?page=2&per_page=3&sort=username&order=desc",
            Some(&admin),
        )
        .await;
    assert_eq!(p.status, 200);
    assert_eq!(p.body["total"], 8);
    assert_eq!(p.body["page"], 2);
    assert_eq!(p.body["per_page"], 3);
    assert_eq!(p.body["pages"], 3);
    let names: Vec<&str> = p.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["user3", "user2", "user1"]);
    let q = s.get("/api/users?q=user&per_page=100", Some(&admin)).await;
    assert_eq!(q.body["total"], 7);
    assert_error(
        &s.get("/api/users?sort=password_hash", Some(&admin)).await,
        422,
        "validation_error",
    );
    assert_error(
        &s.get("/api/users?per_page=10000", Some(&admin)).await,
        422,
        "validation_error",
    );
    assert_error(
        &s.get("/api/users?page=abc", Some(&admin)).await,
        422,
        "validation_error",
    );

    // Update and delete, each audited with before/after.
    let id = q.body["items"][0]["id"].as_i64().unwrap();
    let up = s
        .call(
            Method::PATCH,
            &format!("/api/users/{id}"),
            Some(&admin),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(up.body["role"], "admin");
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("/api/users/{id}"),
            Some(&admin),
            None
        )
        .await
        .status,
        204
    );
    assert_error(
        &s.get(&format!("/api/users/{id}"), Some(&admin)).await,
        404,
        "not_found",
    );

    let db = s.db().await;
    let upd = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("user.update"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(upd.before.unwrap()["role"], "user");
    assert_eq!(upd.after.unwrap()["role"], "admin");
    assert_eq!(upd.actor_username.as_deref(), Some("admin"));
    assert_eq!(upd.ip.as_deref(), Some("127.0.0.1"));
    let del = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("user.delete"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(del.resource_id, Some(id.to_string()));
    // No secret ever lands in the audit log.
    for row in audit_log::Entity::find().all(&db).await.unwrap() {
        let text = format!("{:?}{:?}", row.before, row.after);
        assert!(
            !text.contains("argon2")
                && !text.contains("password_hash")
                && !text.contains("totp_secret")
        );
    }
    let creates = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("user.create"))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(creates, 8); // bootstrap admin + seven
}

async fn deactivation_and_last_admin(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    let me = s.get("/api/auth/me", Some(&admin)).await.body["id"]
        .as_i64()
        .unwrap();
    let bob = s.create_user(&admin, "bob", "bob-password-1", "user").await;
    let (tok, _) = s.login("bob", "bob-password-1").await;
    assert_eq!(s.get("/api/auth/me", Some(&tok)).await.status, 200);
    let r = s
        .call(
            Method::PATCH,
            &format!("/api/users/{bob}"),
            Some(&admin),
            Some(json!({ "is_active": false })),
        )
        .await;
    assert_eq!(r.status, 200);
    // A deactivated user's live token stops at once, and they cannot sign in.
    assert_eq!(s.get("/api/auth/me", Some(&tok)).await.status, 401);
    assert_error(
        &s.login_raw("bob", "bob-password-1", None).await,
        403,
        "account_disabled",
    );

    // The only admin can be neither demoted, disabled nor deleted.
    let demote = s
        .call(
            Method::PATCH,
            &format!("/api/users/{me}"),
            Some(&admin),
            Some(json!({ "role": "user" })),
        )
        .await;
    assert_error(&demote, 409, "last_admin");
    assert_error(
        &s.call(
            Method::DELETE,
            &format!("/api/users/{me}"),
            Some(&admin),
            None,
        )
        .await,
        409,
        "cannot_delete_self",
    );
    // Admin password reset forces a change at next login.
    let reset = s
        .post(
            &format!("/api/users/{bob}/password"),
            Some(&admin),
            json!({ "password": "fresh-password-9" }),
        )
        .await;
    assert_eq!(reset.status, 200);
    s.call(
        Method::PATCH,
        &format!("/api/users/{bob}"),
        Some(&admin),
        Some(json!({ "is_active": true })),
    )
    .await;
    let (t2, _) = s.login("bob", "fresh-password-9").await;
    assert_error(
        &s.get(&format!("/api/users/{bob}"), Some(&t2)).await,
        403,
        "password_change_required",
    );
    let ch = s
        .post(
            "/api/auth/change-password",
            Some(&t2),
            json!({ "current_password": "fresh-password-9", "new_password": "bobs-own-password" }),
        )
        .await;
    assert_eq!(ch.status, 204);
    assert_eq!(
        s.get(&format!("/api/users/{bob}"), Some(&t2)).await.status,
        200
    );
}
