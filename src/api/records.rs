//! `/api/dns-records`: records of the zones the caller may see, and bulk changes.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::pagination::{ListQuery, Page};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::services::bulk::{self, BulkRequest, BulkStatus};
use crate::services::grants::Level;
use crate::services::records::{
    self as svc, CreateRecord, RecordFilter, RecordSort, RecordView, UpdateRecord,
};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource("/bulk").route(web::post().to(bulk_start)))
    .service(web::resource("/bulk/{operation_id}").route(web::get().to(bulk_status)))
    .service(
        web::resource("/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::put().to(update))
            .route(web::delete().to(delete)),
    );
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordListQuery {
    /// Only this zone's records.
    pub zone_id: Option<i32>,
    pub record_type: Option<String>,
    /// Exact owner name, relative to the zone.
    pub name: Option<String>,
}

/// Records of the zones the caller may see. Sort by `id`, `name`, `record_type`, `value`, `ttl`, `updated_at`; `q` searches names and values.
#[utoipa::path(get, path = "/api/dns-records", tag = "records", security(("bearer" = [])), params(ListQuery, RecordListQuery),
    responses((status = 200, body = Page<RecordView>), (status = 404, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthUser,
    q: web::Query<ListQuery>,
    f: web::Query<RecordListQuery>,
) -> ApiResult<HttpResponse> {
    let page = q.page_request()?;
    let sort = q.sort_by(
        RecordSort::Name,
        RecordSort::parse,
        "id, name, record_type, value, ttl, updated_at",
    )?;
    let filter = RecordFilter {
        zone_id: f.zone_id,
        record_type: f.record_type.as_deref(),
        name: f.name.as_deref(),
        q: q.q.as_deref(),
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

/// Create a record (write grant on its zone or admin). BIND answers it once this returns.
#[utoipa::path(post, path = "/api/dns-records", tag = "records", security(("bearer" = [])), request_body = CreateRecord,
    responses((status = 201, body = RecordView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<CreateRecord>,
) -> ApiResult<HttpResponse> {
    let (rec, zone) = svc::create(&state.db, &state.dns, &auth.caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(RecordView::new(&rec, &zone.name)))
}

#[utoipa::path(get, path = "/api/dns-records/{id}", tag = "records", security(("bearer" = [])),
    responses((status = 200, body = RecordView), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    let (rec, zone) = svc::get(&state.db, &auth.caller, *id, Level::Read).await?;
    Ok(HttpResponse::Ok().json(RecordView::new(&rec, &zone.name)))
}

/// Change a record; `"ttl": null` returns to the zone default.
#[utoipa::path(patch, path = "/api/dns-records/{id}", tag = "records", security(("bearer" = [])), request_body = UpdateRecord,
    responses((status = 200, body = RecordView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i32>,
    body: web::Json<UpdateRecord>,
) -> ApiResult<HttpResponse> {
    let (rec, zone) =
        svc::update(&state.db, &state.dns, &auth.caller, *id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(RecordView::new(&rec, &zone.name)))
}

#[utoipa::path(delete, path = "/api/dns-records/{id}", tag = "records", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    svc::delete(&state.db, &state.dns, &auth.caller, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Start a bulk change (up to 10,000 create/update/delete operations). Answers 202 at once;
/// progress comes as `bulk_operation_progress` events and from `GET /api/dns-records/bulk/{operation_id}`.
#[utoipa::path(post, path = "/api/dns-records/bulk", tag = "records", security(("bearer" = [])), request_body = BulkRequest,
    responses((status = 202, body = BulkStatus), (status = 422, body = ErrorBody)))]
pub async fn bulk_start(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<BulkRequest>,
) -> ApiResult<HttpResponse> {
    let status = bulk::start(
        state.db.clone(),
        state.dns.clone(),
        state.bulk.clone(),
        auth.caller,
        body.into_inner(),
    )?;
    Ok(HttpResponse::Accepted().json(status))
}

/// Progress and per-operation errors of a bulk change (its owner or an admin).
#[utoipa::path(get, path = "/api/dns-records/bulk/{operation_id}", tag = "records", security(("bearer" = [])),
    responses((status = 200, body = BulkStatus), (status = 404, body = ErrorBody)))]
pub async fn bulk_status(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let status = state
        .bulk
        .get(id.as_str())
        .map(|s| s.clone())
        .filter(|s| auth.is_admin() || s.user_id == auth.user.id)
        .ok_or_else(|| ApiError::not_found("Bulk operation"))?;
    Ok(HttpResponse::Ok().json(status))
}
