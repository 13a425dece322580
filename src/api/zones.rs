//! `/api/zones`: zones, their file (export, import, validate) and grants.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::pagination::{ListQuery, Page};
use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiResult, ErrorBody};
use crate::http::errors;
use crate::services::grants::{self, GrantRequest, GrantView, Level};
use crate::services::zone_import::{
    self, ImportRequest, ImportResult, ValidateRequest, ValidateResult,
};
use crate::services::zones::{self as svc, CreateZone, UpdateZone, ZoneFilter, ZoneSort, ZoneView};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig, max_zone_file: usize) {
    cfg.service(
        web::resource("")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::put().to(update))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/{id}/export").route(web::get().to(export)))
    .service(
        web::resource("/{id}/import")
            .app_data(errors::json_config(max_zone_file))
            .route(web::post().to(import)),
    )
    .service(
        web::resource("/{id}/validate")
            .app_data(errors::json_config(max_zone_file))
            .route(web::post().to(validate)),
    )
    .service(
        web::resource("/{id}/permissions")
            .route(web::get().to(permissions))
            .route(web::put().to(grant))
            .route(web::post().to(grant)),
    )
    .service(web::resource("/{id}/permissions/{user_id}").route(web::delete().to(revoke)));
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ZoneListQuery {
    /// `master`, `slave` or `forward`.
    pub zone_type: Option<String>,
}

/// Zones the caller may see. Sort by `id`, `name`, `zone_type`, `created_at`, `updated_at`; `q` searches names.
#[utoipa::path(get, path = "/api/zones", tag = "zones", security(("bearer" = [])), params(ListQuery, ZoneListQuery),
    responses((status = 200, body = Page<ZoneView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthUser,
    q: web::Query<ListQuery>,
    f: web::Query<ZoneListQuery>,
) -> ApiResult<HttpResponse> {
    let page = q.page_request()?;
    let sort = q.sort_by(
        ZoneSort::Name,
        ZoneSort::parse,
        "id, name, zone_type, created_at, updated_at",
    )?;
    let filter = ZoneFilter {
        q: q.q.as_deref(),
        zone_type: f.zone_type.as_deref(),
    };
    let (items, total) = svc::list(
        &state.db,
        &auth.caller,
        filter,
        sort,
        page.order.clone(),
        page.page,
        page.per_page,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page::new(items, total, &page)))
}

/// Create a zone (admin). Master zones get an SOA and an apex NS record.
#[utoipa::path(post, path = "/api/zones", tag = "zones", security(("bearer" = [])), request_body = CreateZone,
    responses((status = 201, body = ZoneView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: web::Json<CreateZone>,
) -> ApiResult<HttpResponse> {
    let zone = svc::create(&state.db, &state.dns, &admin.0.caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(svc::view(&state.db, &zone).await?))
}

/// One zone (read grant or admin).
#[utoipa::path(get, path = "/api/zones/{id}", tag = "zones", security(("bearer" = [])),
    responses((status = 200, body = ZoneView), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    let zone = grants::require_zone(&state.db, &auth.caller, *id, Level::Read).await?;
    Ok(HttpResponse::Ok().json(svc::view(&state.db, &zone).await?))
}

/// Update a zone's SOA, TTL, servers, lists or state (write grant or admin). Name and type cannot change.
#[utoipa::path(patch, path = "/api/zones/{id}", tag = "zones", security(("bearer" = [])), request_body = UpdateZone,
    responses((status = 200, body = ZoneView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i32>,
    body: web::Json<UpdateZone>,
) -> ApiResult<HttpResponse> {
    let zone = svc::update(&state.db, &state.dns, &auth.caller, *id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(svc::view(&state.db, &zone).await?))
}

/// Delete a zone and its records (admin).
#[utoipa::path(delete, path = "/api/zones/{id}", tag = "zones", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    svc::delete(&state.db, &state.dns, &admin.0.caller, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The zone as an RFC 1035 master file (read grant or admin).
#[utoipa::path(get, path = "/api/zones/{id}/export", tag = "zones", security(("bearer" = [])),
    responses((status = 200, content_type = "text/dns", body = String), (status = 404, body = ErrorBody)))]
pub async fn export(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    let zone = grants::require_zone(&state.db, &auth.caller, *id, Level::Read).await?;
    let text = svc::export(&state.db, &state.dns, &zone).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/dns; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}.zone\"", zone.name),
        ))
        .body(text))
}

/// Import a master file, `merge` (default) or `replace`; all or nothing (write grant or admin).
#[utoipa::path(post, path = "/api/zones/{id}/import", tag = "zones", security(("bearer" = [])), request_body = ImportRequest,
    responses((status = 200, body = ImportResult), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i32>,
    body: web::Json<ImportRequest>,
) -> ApiResult<HttpResponse> {
    let zone = grants::require_zone(&state.db, &auth.caller, *id, Level::Write).await?;
    let body = body.into_inner();
    let prepared = zone_import::prepare(&zone, &body.content, state.config.max_zone_file_bytes)?;
    let result = zone_import::import(
        &state.db,
        &state.dns,
        &auth.caller,
        zone.id,
        prepared,
        body.mode,
        None,
    )
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Check the zone (or a candidate file in `content`) with our validation and named-checkzone.
#[utoipa::path(post, path = "/api/zones/{id}/validate", tag = "zones", security(("bearer" = [])), request_body = ValidateRequest,
    responses((status = 200, body = ValidateResult), (status = 404, body = ErrorBody)))]
pub async fn validate(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i32>,
    body: Option<web::Json<ValidateRequest>>,
) -> ApiResult<HttpResponse> {
    let zone = grants::require_zone(&state.db, &auth.caller, *id, Level::Read).await?;
    let req = body.map(|b| b.into_inner()).unwrap_or_default();
    let result = zone_import::validate(
        &state.db,
        &state.dns,
        &zone,
        req,
        state.config.max_zone_file_bytes,
    )
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Users granted this zone (admin).
#[utoipa::path(get, path = "/api/zones/{id}/permissions", tag = "zones", security(("bearer" = [])),
    responses((status = 200, body = Vec<GrantView>), (status = 403, body = ErrorBody)))]
pub async fn permissions(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(grants::list(&state.db, *id).await?))
}

/// Grant a user `read` or `write` on this zone, or change their level (admin).
#[utoipa::path(put, path = "/api/zones/{id}/permissions", tag = "zones", security(("bearer" = [])), request_body = GrantRequest,
    responses((status = 200, body = GrantView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn grant(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
    body: web::Json<GrantRequest>,
) -> ApiResult<HttpResponse> {
    let g = grants::grant(
        &state.db,
        &state.dns,
        &admin.0.caller,
        *id,
        body.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(g))
}

/// Revoke a user's grant (admin).
#[utoipa::path(delete, path = "/api/zones/{id}/permissions/{user_id}", tag = "zones", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<(i32, i32)>,
) -> ApiResult<HttpResponse> {
    let (id, user_id) = path.into_inner();
    grants::revoke(&state.db, &state.dns, &admin.0.caller, id, user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
