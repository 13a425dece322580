//! Login, refresh-token rotation with reuse detection, logout, password change
//! and TOTP two-factor authentication.

use std::sync::Arc;

use chrono::{Duration, Utc};
use hdns_entities::{refresh_tokens, sessions, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::{self, Entry};
use super::credentials::{password, tokens, totp};
use super::error::{Error, Result};
use super::users::{self as user_service, UserView};
use super::Caller;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// A 6-digit TOTP code or a backup code, when 2FA is on.
    pub totp_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
    pub user: UserView,
}

/// Where a request came from, stored with the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What authentication needs: the database, the signing keys and the rules
/// for lifetimes and lockouts. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub db: DatabaseConnection,
    pub jwt: Arc<tokens::JwtKeys>,
    pub policy: Policy,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub lockout_threshold: u32,
    pub lockout_duration_secs: u64,
}

fn invalid_credentials() -> Error {
    Error::unauthenticated("invalid_credentials", "Invalid username or password")
}

pub async fn login(ctx: &Context, req: LoginRequest, client: ClientInfo) -> Result<TokenResponse> {
    if req.username.len() > 64 {
        return Err(Error::validation(
            "username",
            "username must be at most 64 characters",
        ));
    }
    if req.password.len() > password::MAX_PASSWORD_LEN {
        return Err(Error::validation("password", "password is too long"));
    }
    let cfg = &ctx.policy;
    let db = &ctx.db;
    let now = Utc::now();
    let actor_anon = Caller::anonymous(
        Some(req.username.chars().take(64).collect()),
        client.ip.clone(),
    );
    let Some(user) = user_service::find_by_username(db, &req.username).await? else {
        password::verify_dummy(&req.password);
        let txn = crate::db::write_txn(db).await?;
        audit_login(&txn, &actor_anon, "auth.login_failed", None, "unknown_user").await?;
        txn.commit().await?;
        return Err(invalid_credentials());
    };
    let actor = Caller::user(&user, client.ip.clone());

    if let Some(until) = user.locked_until.filter(|t| *t > now) {
        return Err(Error::Locked {
            retry_after: (until - now).num_seconds().max(1) as u64,
        });
    }
    if !password::verify(&req.password, &user.password_hash) {
        return Err(register_failure(ctx, &user, &actor, "bad_password").await);
    }
    if !user.is_active {
        return Err(Error::forbidden(
            "account_disabled",
            "The account is disabled",
        ));
    }

    let txn = crate::db::write_txn(db).await?;
    let mut am: users::ActiveModel = user.clone().into();
    if user.totp_enabled {
        let Some(code) = req.totp_code.as_deref().filter(|c| !c.trim().is_empty()) else {
            return Err(Error::unauthenticated(
                "totp_required",
                "A two-factor code is required for this account",
            ));
        };
        match check_second_factor(&user, code)? {
            SecondFactor::Totp(step) => am.totp_last_step = Set(step as i64),
            SecondFactor::Backup(remaining) => {
                am.backup_codes = Set(Some(serde_json::json!(remaining)))
            }
            SecondFactor::Invalid => {
                drop(txn);
                return Err(register_failure(ctx, &user, &actor, "bad_totp").await);
            }
        }
    }
    am.failed_login_count = Set(0);
    am.locked_until = Set(None);
    am.last_login_at = Set(Some(now));
    let user = am.update(&txn).await?;
    let (session_id, refresh) =
        create_session(&txn, &user, &client, cfg.refresh_token_ttl_secs).await?;
    audit_login(&txn, &actor, "auth.login", Some(session_id.clone()), "ok").await?;
    txn.commit().await?;
    token_response(ctx, &user, &session_id, refresh)
}

enum SecondFactor {
    Totp(u64),
    /// The hashes of the backup codes still unused after this one.
    Backup(Vec<String>),
    Invalid,
}

fn check_second_factor(user: &users::Model, code: &str) -> Result<SecondFactor> {
    let secret = user.totp_secret.as_deref().unwrap_or_default();
    let t = totp::build(secret, &user.username).map_err(Error::internal)?;
    if let Some(step) = totp::matching_step(&t, code) {
        // RFC 6238 §5.2: a code is accepted once; its step and older are spent.
        return Ok(if step as i64 > user.totp_last_step {
            SecondFactor::Totp(step)
        } else {
            SecondFactor::Invalid
        });
    }
    let normalized = totp::normalize_backup_code(code);
    if normalized.len() == 10 {
        let hashes = backup_hashes(user);
        if let Some(pos) = hashes.iter().position(|h| password::verify(&normalized, h)) {
            let mut remaining = hashes;
            remaining.remove(pos);
            return Ok(SecondFactor::Backup(remaining));
        }
    }
    Ok(SecondFactor::Invalid)
}

fn backup_hashes(user: &users::Model) -> Vec<String> {
    user.backup_codes
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Counts a failed login; locks the account at the threshold. Returns the error to send.
async fn register_failure(
    ctx: &Context,
    user: &users::Model,
    actor: &Caller,
    reason: &str,
) -> Error {
    let cfg = &ctx.policy;
    let result: Result<Error> = async {
        let txn = crate::db::write_txn(&ctx.db).await?;
        let count = user.failed_login_count + 1;
        let mut am: users::ActiveModel = user.clone().into();
        let locked = count as u32 >= cfg.lockout_threshold;
        if locked {
            am.locked_until = Set(Some(
                Utc::now() + Duration::seconds(cfg.lockout_duration_secs as i64),
            ));
            am.failed_login_count = Set(0);
        } else {
            am.failed_login_count = Set(count);
        }
        am.update(&txn).await?;
        audit_login(&txn, actor, "auth.login_failed", None, reason).await?;
        if locked {
            audit::record(
                &txn,
                actor,
                Entry {
                    action: "user.locked",
                    resource_type: "user",
                    resource_id: Some(user.id.to_string()),
                    before: None,
                    after: Some(
                        serde_json::json!({ "lockout_duration_secs": cfg.lockout_duration_secs }),
                    ),
                },
            )
            .await?;
        }
        txn.commit().await?;
        Ok(if locked {
            Error::Locked {
                retry_after: cfg.lockout_duration_secs,
            }
        } else if reason == "bad_totp" {
            Error::unauthenticated(
                "invalid_totp",
                "The two-factor code is invalid or already used",
            )
        } else {
            invalid_credentials()
        })
    }
    .await;
    result.unwrap_or_else(|e| e)
}

async fn audit_login<C: ConnectionTrait>(
    db: &C,
    actor: &Caller,
    action: &str,
    session: Option<String>,
    outcome: &str,
) -> Result<()> {
    audit::record(
        db,
        actor,
        Entry {
            action,
            resource_type: "session",
            resource_id: session,
            before: None,
            after: Some(serde_json::json!({ "outcome": outcome })),
        },
    )
    .await?;
    Ok(())
}

async fn create_session(
    txn: &DatabaseTransaction,
    user: &users::Model,
    client: &ClientInfo,
    ttl_secs: u64,
) -> Result<(String, String)> {
    let now = Utc::now();
    let session_id = uuid::Uuid::new_v4().to_string();
    sessions::ActiveModel {
        id: Set(session_id.clone()),
        user_id: Set(user.id),
        ip: Set(client.ip.clone()),
        user_agent: Set(client
            .user_agent
            .as_ref()
            .map(|s| s.chars().take(256).collect())),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + Duration::seconds(ttl_secs as i64)),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    }
    .insert(txn)
    .await?;
    let refresh = insert_refresh_token(txn, &session_id, None, ttl_secs)
        .await?
        .1;
    Ok((session_id, refresh))
}

async fn insert_refresh_token(
    txn: &DatabaseTransaction,
    session_id: &str,
    parent: Option<i32>,
    ttl_secs: u64,
) -> Result<(i32, String)> {
    let now = Utc::now();
    let token = tokens::new_refresh_token();
    let row = refresh_tokens::ActiveModel {
        session_id: Set(session_id.to_string()),
        token_hash: Set(tokens::hash_refresh_token(&token)),
        parent_id: Set(parent),
        created_at: Set(now),
        expires_at: Set(now + Duration::seconds(ttl_secs as i64)),
        rotated_at: Set(None),
        replaced_by: Set(None),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok((row.id, token))
}

fn token_response(
    ctx: &Context,
    user: &users::Model,
    session_id: &str,
    refresh: String,
) -> Result<TokenResponse> {
    let ttl = ctx.policy.access_token_ttl_secs;
    let access = ctx
        .jwt
        .issue(user.id, user.role.as_str(), session_id, ttl)
        .map_err(Error::internal)?;
    Ok(TokenResponse {
        access_token: access,
        refresh_token: refresh,
        token_type: "bearer",
        expires_in: ttl,
        user: UserView::from(user),
    })
}

fn invalid_refresh() -> Error {
    Error::unauthenticated("invalid_token", "The refresh token is invalid or expired")
}

/// Rotates a refresh token. Presenting one that was already rotated means it was
/// copied: the whole session (token family) is revoked.
pub async fn refresh(ctx: &Context, presented: &str, client: ClientInfo) -> Result<TokenResponse> {
    if presented.is_empty() || presented.len() > 128 {
        return Err(invalid_refresh());
    }
    let db = &ctx.db;
    let now = Utc::now();
    let hash = tokens::hash_refresh_token(presented);
    let Some((token, session)) = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(hash))
        .find_also_related(sessions::Entity)
        .one(db)
        .await?
    else {
        return Err(invalid_refresh());
    };
    let session = session.ok_or_else(invalid_refresh)?;
    let user = user_service::get(db, session.user_id)
        .await
        .map_err(|_| invalid_refresh())?;
    let actor = Caller::user(&user, client.ip.clone());

    let txn = crate::db::write_txn(db).await?;
    // Claim the token atomically: of two concurrent refreshes only one wins.
    let claimed = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RotatedAt, Expr::value(now))
        .filter(refresh_tokens::Column::Id.eq(token.id))
        .filter(refresh_tokens::Column::RotatedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if !claimed {
        if session.revoked_at.is_none() {
            revoke_session(&txn, &session.id, "token_reused").await?;
            audit::record(
                &txn,
                &actor,
                Entry {
                    action: "auth.refresh_token_reused",
                    resource_type: "session",
                    resource_id: Some(session.id.clone()),
                    before: None,
                    after: Some(serde_json::json!({ "revoked": true })),
                },
            )
            .await?;
            txn.commit().await?;
        }
        return Err(Error::unauthenticated(
            "token_reused",
            "This refresh token was already used; the session has been revoked",
        ));
    }
    if session.revoked_at.is_some()
        || session.expires_at <= now
        || token.expires_at <= now
        || !user.is_active
    {
        return Err(invalid_refresh());
    }
    let (new_id, new_token) = insert_refresh_token(
        &txn,
        &session.id,
        Some(token.id),
        ctx.policy.refresh_token_ttl_secs,
    )
    .await?;
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::ReplacedBy, Expr::value(new_id))
        .filter(refresh_tokens::Column::Id.eq(token.id))
        .exec(&txn)
        .await?;
    sessions::Entity::update_many()
        .col_expr(sessions::Column::LastSeenAt, Expr::value(now))
        .filter(sessions::Column::Id.eq(session.id.clone()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    token_response(ctx, &user, &session.id, new_token)
}

async fn revoke_session<C: ConnectionTrait>(db: &C, session_id: &str, reason: &str) -> Result<()> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(sessions::Column::RevokedReason, Expr::value(reason))
        .filter(sessions::Column::Id.eq(session_id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub async fn logout(
    ctx: &Context,
    user: &users::Model,
    session_id: &str,
    ip: Option<String>,
) -> Result<()> {
    let txn = crate::db::write_txn(&ctx.db).await?;
    revoke_session(&txn, session_id, "logout").await?;
    audit_login(
        &txn,
        &Caller::user(user, ip),
        "auth.logout",
        Some(session_id.to_string()),
        "ok",
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the caller's password and ends their other sessions.
pub async fn change_password(
    ctx: &Context,
    user: &users::Model,
    session_id: &str,
    req: ChangePasswordRequest,
    ip: Option<String>,
) -> Result<()> {
    if req.current_password.len() > password::MAX_PASSWORD_LEN
        || !password::verify(&req.current_password, &user.password_hash)
    {
        return Err(Error::unauthenticated(
            "invalid_credentials",
            "The current password is wrong",
        ));
    }
    password::check_policy(&req.new_password).map_err(|m| Error::validation("new_password", m))?;
    if req.new_password == req.current_password {
        return Err(Error::validation(
            "new_password",
            "the new password must differ from the current one",
        ));
    }
    let hash = password::hash(&req.new_password).map_err(Error::internal)?;
    let txn = crate::db::write_txn(&ctx.db).await?;
    let mut am: users::ActiveModel = user.clone().into();
    am.password_hash = Set(hash);
    am.must_change_password = Set(false);
    am.updated_at = Set(Utc::now());
    am.update(&txn).await?;
    user_service::revoke_sessions(&txn, user.id, Some(session_id), "password_changed").await?;
    audit::record(
        &txn,
        &Caller::user(user, ip),
        Entry {
            action: "user.change_password",
            resource_type: "user",
            resource_id: Some(user.id.to_string()),
            before: None,
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[derive(Serialize, ToSchema)]
pub struct TotpSetupResponse {
    /// Base32 secret, for manual entry.
    pub secret: String,
    pub otpauth_url: String,
    /// PNG of the otpauth URL as a QR code, base64.
    pub qr_code_png_base64: String,
}

/// Starts 2FA enrolment: a fresh secret, not active until confirmed with a code.
pub async fn totp_setup(
    ctx: &Context,
    user: &users::Model,
    ip: Option<String>,
) -> Result<TotpSetupResponse> {
    if user.totp_enabled {
        return Err(Error::conflict(
            "totp_already_enabled",
            "Two-factor authentication is already enabled",
        ));
    }
    let secret = totp::new_secret();
    let t = totp::build(&secret, &user.username).map_err(Error::internal)?;
    let url = t.to_url().map_err(|e| Error::internal(format!("{e:?}")))?;
    let qr = t.to_qr_base64().map_err(Error::internal)?;
    let txn = crate::db::write_txn(&ctx.db).await?;
    let mut am: users::ActiveModel = user.clone().into();
    am.totp_secret = Set(Some(secret.clone()));
    am.totp_last_step = Set(0);
    am.updated_at = Set(Utc::now());
    am.update(&txn).await?;
    audit::record(
        &txn,
        &Caller::user(user, ip),
        Entry {
            action: "user.totp_setup",
            resource_type: "user",
            resource_id: Some(user.id.to_string()),
            before: None,
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(TotpSetupResponse {
        secret,
        otpauth_url: url,
        qr_code_png_base64: qr,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct BackupCodesResponse {
    /// Ten one-time codes, shown only now.
    pub backup_codes: Vec<String>,
}

pub async fn totp_enable(
    ctx: &Context,
    user: &users::Model,
    code: &str,
    ip: Option<String>,
) -> Result<BackupCodesResponse> {
    if user.totp_enabled {
        return Err(Error::conflict(
            "totp_already_enabled",
            "Two-factor authentication is already enabled",
        ));
    }
    let Some(secret) = user.totp_secret.as_deref() else {
        return Err(Error::conflict(
            "totp_not_set_up",
            "Call /api/auth/2fa/setup first",
        ));
    };
    let t = totp::build(secret, &user.username).map_err(Error::internal)?;
    let step = totp::matching_step(&t, code)
        .ok_or_else(|| Error::validation("code", "the code is not valid"))?;
    let codes = totp::new_backup_codes();
    let hashes = codes
        .iter()
        .map(|c| password::hash(&totp::normalize_backup_code(c)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::internal)?;
    let txn = crate::db::write_txn(&ctx.db).await?;
    let mut am: users::ActiveModel = user.clone().into();
    am.totp_enabled = Set(true);
    am.totp_last_step = Set(step as i64);
    am.backup_codes = Set(Some(serde_json::json!(hashes)));
    am.updated_at = Set(Utc::now());
    let after = am.update(&txn).await?;
    audit::record(
        &txn,
        &Caller::user(user, ip),
        Entry {
            action: "user.totp_enable",
            resource_type: "user",
            resource_id: Some(user.id.to_string()),
            before: Some(user_service::view_json(user)),
            after: Some(user_service::view_json(&after)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(BackupCodesResponse {
        backup_codes: codes,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpDisableRequest {
    pub password: String,
    pub code: String,
}

pub async fn totp_disable(
    ctx: &Context,
    user: &users::Model,
    req: TotpDisableRequest,
    ip: Option<String>,
) -> Result<()> {
    if !user.totp_enabled {
        return Err(Error::conflict(
            "totp_not_enabled",
            "Two-factor authentication is not enabled",
        ));
    }
    if req.password.len() > password::MAX_PASSWORD_LEN
        || !password::verify(&req.password, &user.password_hash)
    {
        return Err(Error::unauthenticated(
            "invalid_credentials",
            "The password is wrong",
        ));
    }
    if matches!(check_second_factor(user, &req.code)?, SecondFactor::Invalid) {
        return Err(Error::unauthenticated(
            "invalid_totp",
            "The two-factor code is invalid or already used",
        ));
    }
    let txn = crate::db::write_txn(&ctx.db).await?;
    let mut am: users::ActiveModel = user.clone().into();
    am.totp_enabled = Set(false);
    am.totp_secret = Set(None);
    am.backup_codes = Set(None);
    am.updated_at = Set(Utc::now());
    let after = am.update(&txn).await?;
    audit::record(
        &txn,
        &Caller::user(user, ip),
        Entry {
            action: "user.totp_disable",
            resource_type: "user",
            resource_id: Some(user.id.to_string()),
            before: Some(user_service::view_json(user)),
            after: Some(user_service::view_json(&after)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
