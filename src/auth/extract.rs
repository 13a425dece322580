//! The one place that decides who a request is: `AuthUser` for any signed-in
//! user, `AdminUser` for admin-only routes. Each request re-checks the session
//! and the user in the database, so logout, deactivation and role changes apply at once.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};
use chrono::Utc;
use hdns_entities::{sessions, users};
use sea_orm::EntityTrait;

use crate::error::ApiError;
use crate::services::credentials::tokens::Claims;
use crate::services::Caller;
use crate::state::AppState;

/// Paths a user who must change their password may still call.
const PASSWORD_CHANGE_PATHS: &[&str] = &[
    "/api/auth/me",
    "/api/auth/change-password",
    "/api/auth/logout",
];

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: users::Model,
    pub session_id: String,
    pub claims: Claims,
    /// Who services act for: this user, their role and address.
    pub caller: Caller,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.caller.is_admin()
    }
}

/// A signed-in admin; anyone else gets 403 `permission_denied`.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn unauthenticated() -> ApiError {
    ApiError::unauthorized("unauthorized", "A valid access token is required")
}

pub async fn authenticate(
    state: &AppState,
    token: &str,
    ip: Option<String>,
) -> Result<AuthUser, ApiError> {
    let claims = state.jwt.verify(token).ok_or_else(unauthenticated)?;
    let user_id = claims.user_id().ok_or_else(unauthenticated)?;
    let (session, user) = sessions::Entity::find_by_id(claims.sid.clone())
        .find_also_related(users::Entity)
        .one(&state.db)
        .await?
        .ok_or_else(unauthenticated)?;
    let user = user.ok_or_else(unauthenticated)?;
    let now = Utc::now();
    if session.revoked_at.is_some()
        || session.expires_at <= now
        || user.id != user_id
        || session.user_id != user_id
    {
        return Err(ApiError::unauthorized(
            "session_revoked",
            "The session has ended; sign in again",
        ));
    }
    if !user.is_active {
        return Err(ApiError::unauthorized(
            "account_disabled",
            "The account is disabled",
        ));
    }
    Ok(AuthUser {
        caller: Caller::user(&user, ip),
        user,
        session_id: session.id,
        claims,
    })
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req).map(str::to_owned);
        let path = req.path().to_owned();
        let ip = crate::http::client_ip(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = token.ok_or_else(unauthenticated)?;
            let auth = authenticate(&state, &token, ip).await?;
            if auth.user.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&path.as_str()) {
                return Err(ApiError::forbidden(
                    "password_change_required",
                    "The password must be changed before using the API",
                ));
            }
            Ok(auth)
        })
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let fut = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let user = fut.await?;
            if user.is_admin() {
                Ok(AdminUser(user))
            } else {
                Err(ApiError::permission_denied())
            }
        })
    }
}
