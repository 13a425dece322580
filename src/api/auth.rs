//! `/api/auth`: login, refresh, logout, me, change-password and 2FA.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiResult, ErrorBody};
use crate::http::client_ip;
use crate::services::auth::{
    self as svc, BackupCodesResponse, ChangePasswordRequest, ClientInfo, LoginRequest,
    TokenResponse, TotpCode, TotpDisableRequest, TotpSetupResponse,
};
use crate::services::users::UserView;
use crate::state::AppState;
use crate::ws::hooks;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/login").route(web::post().to(login)))
        .service(web::resource("/refresh").route(web::post().to(refresh)))
        .service(web::resource("/logout").route(web::post().to(logout)))
        .service(web::resource("/me").route(web::get().to(me)))
        .service(web::resource("/change-password").route(web::post().to(change_password)))
        .service(web::resource("/2fa/setup").route(web::post().to(totp_setup)))
        .service(web::resource("/2fa/enable").route(web::post().to(totp_enable)))
        .service(web::resource("/2fa/disable").route(web::post().to(totp_disable)));
}

fn client(req: &HttpRequest) -> ClientInfo {
    ClientInfo {
        ip: client_ip(req),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// Sign in with username and password (and a TOTP or backup code when 2FA is on).
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "invalid_credentials, totp_required or invalid_totp", body = ErrorBody),
        (status = 403, description = "account_disabled", body = ErrorBody),
        (status = 423, description = "account_locked; details.retry_after in seconds", body = ErrorBody),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let res = svc::login(&state.auth, body.into_inner(), client(&req)).await?;
    hooks::logged_in(&state, res.user.id, &res.user.username, client_ip(&req));
    Ok(HttpResponse::Ok().json(res))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Exchange a refresh token for a new pair. Reusing a rotated token revokes the session.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "invalid_token or token_reused", body = ErrorBody),
    ))]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let res = svc::refresh(&state.auth, &body.refresh_token, client(&req)).await?;
    Ok(HttpResponse::Ok().json(res))
}

/// End the current session; its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    svc::logout(&state.auth, &auth.user, &auth.session_id, client_ip(&req)).await?;
    hooks::logged_out(
        &state,
        auth.user.id,
        &auth.user.username,
        &auth.session_id,
        client_ip(&req),
    );
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn me(auth: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(UserView::from(&auth.user))
}

/// Change the caller's password; other sessions are signed out.
#[utoipa::path(post, path = "/api/auth/change-password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
    body: web::Json<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    svc::change_password(
        &state.auth,
        &auth.user,
        &auth.session_id,
        body.into_inner(),
        client_ip(&req),
    )
    .await?;
    hooks::other_sessions_ended(&state, auth.user.id, &auth.session_id);
    Ok(HttpResponse::NoContent().finish())
}

/// Start 2FA enrolment: returns the secret, an otpauth URL and a QR code.
#[utoipa::path(post, path = "/api/auth/2fa/setup", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TotpSetupResponse), (status = 409, body = ErrorBody)))]
pub async fn totp_setup(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(svc::totp_setup(&state.auth, &auth.user, client_ip(&req)).await?))
}

/// Confirm enrolment with a current code; returns ten one-time backup codes.
#[utoipa::path(post, path = "/api/auth/2fa/enable", tag = "auth", security(("bearer" = [])),
    request_body = TotpCode,
    responses((status = 200, body = BackupCodesResponse), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn totp_enable(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
    body: web::Json<TotpCode>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(svc::totp_enable(&state.auth, &auth.user, &body.code, client_ip(&req)).await?))
}

/// Turn 2FA off; needs the password and a current code.
#[utoipa::path(post, path = "/api/auth/2fa/disable", tag = "auth", security(("bearer" = [])),
    request_body = TotpDisableRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn totp_disable(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
    body: web::Json<TotpDisableRequest>,
) -> ApiResult<HttpResponse> {
    svc::totp_disable(&state.auth, &auth.user, body.into_inner(), client_ip(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}
