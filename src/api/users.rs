//! `/api/users`: admin CRUD; a user may read and update their own profile.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::pagination::{ListQuery, Page};
use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::services::users::{self as svc, CreateUser, UpdateUser, UserSort, UserView};
use crate::state::AppState;
use crate::ws::hooks;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/{id}/unlock").route(web::post().to(unlock)))
    .service(web::resource("/{id}/password").route(web::post().to(reset_password)));
}

/// List users (admin). Sort by `id`, `username`, `created_at` or `role`; `q` searches usernames.
#[utoipa::path(get, path = "/api/users", tag = "users", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Page<UserView>), (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminUser,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let page = q.page_request()?;
    let sort = q.sort_by(
        UserSort::Id,
        UserSort::parse,
        "id, username, created_at, role",
    )?;
    let (items, total) = svc::list(
        &state.db,
        q.q.as_deref(),
        sort,
        page.order.clone(),
        page.page,
        page.per_page,
    )
    .await?;
    let items = items.iter().map(UserView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, total, &page)))
}

/// Create a user (admin).
#[utoipa::path(post, path = "/api/users", tag = "users", security(("bearer" = [])), request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: web::Json<CreateUser>,
) -> ApiResult<HttpResponse> {
    let user = svc::create(&state.db, &admin.0.caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(UserView::from(&user)))
}

fn self_or_admin(auth: &AuthUser, id: i32) -> ApiResult<()> {
    if auth.is_admin() || auth.user.id == id {
        Ok(())
    } else {
        Err(ApiError::permission_denied())
    }
}

/// One user: admins any, users themselves.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    self_or_admin(&auth, *id)?;
    Ok(HttpResponse::Ok().json(UserView::from(&svc::get(&state.db, *id).await?)))
}

/// Update a user. Admins may change role and `is_active`; users only their own email and name.
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", security(("bearer" = [])), request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i32>,
    body: web::Json<UpdateUser>,
) -> ApiResult<HttpResponse> {
    self_or_admin(&auth, *id)?;
    let user = svc::update(
        &state.db,
        &auth.caller,
        *id,
        body.into_inner(),
        auth.is_admin(),
    )
    .await?;
    if user.is_active {
        hooks::role_changed(
            &state,
            user.id,
            user.role == hdns_entities::enums::Role::Admin,
        )
        .await;
    } else {
        hooks::all_sessions_ended(&state, user.id, "account_disabled");
    }
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

/// Delete a user (admin). The last admin and yourself cannot be deleted.
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    svc::delete(&state.db, &admin.0.caller, *id).await?;
    hooks::all_sessions_ended(&state, *id, "account_deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Lift a lockout (admin).
#[utoipa::path(post, path = "/api/users/{id}/unlock", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlock(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    let user = svc::unlock(&state.db, &admin.0.caller, *id).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    pub password: String,
    /// Require a change at next login (default true).
    #[serde(default = "yes")]
    pub must_change_password: bool,
}

fn yes() -> bool {
    true
}

/// Set a user's password (admin); their sessions end.
#[utoipa::path(post, path = "/api/users/{id}/password", tag = "users", security(("bearer" = [])), request_body = ResetPassword,
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reset_password(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
    body: web::Json<ResetPassword>,
) -> ApiResult<HttpResponse> {
    let user = svc::set_password(
        &state.db,
        &admin.0.caller,
        *id,
        &body.password,
        body.must_change_password,
    )
    .await?;
    hooks::all_sessions_ended(&state, user.id, "password_reset");
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}
