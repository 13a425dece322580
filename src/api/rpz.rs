//! `/api/rpz`: response-policy rules, threat feeds and security alerts.
//! Admins only: blocking names and reading who looked them up is a
//! server-wide security function.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use hdns_actors::rpz::feed_actor::NotStarted;
use hdns_entities::security_alerts;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::pagination::{ListQuery, Page};
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::services::rpz::{
    self as rules, BulkInput, BulkResult, RuleFilter, RuleInput, RuleView, Statistics,
};
use crate::services::threat_feeds::{self as feeds, FeedInput, FeedView};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/rules")
            .route(web::get().to(list_rules))
            .route(web::post().to(create_rule)),
    )
    .service(web::resource("/rules/bulk").route(web::post().to(bulk_rules)))
    .service(
        web::resource("/rules/{id}")
            .route(web::get().to(get_rule))
            .route(web::put().to(update_rule))
            .route(web::patch().to(update_rule))
            .route(web::delete().to(delete_rule)),
    )
    .service(web::resource("/statistics").route(web::get().to(statistics)))
    .service(
        web::resource("/feeds")
            .route(web::get().to(list_feeds))
            .route(web::post().to(create_feed)),
    )
    .service(
        web::resource("/feeds/{id}")
            .route(web::get().to(get_feed))
            .route(web::put().to(update_feed))
            .route(web::patch().to(update_feed))
            .route(web::delete().to(delete_feed)),
    )
    .service(web::resource("/feeds/{id}/update").route(web::post().to(run_feed)))
    .service(web::resource("/alerts").route(web::get().to(list_alerts)))
    .service(web::resource("/alerts/{id}/acknowledge").route(web::post().to(acknowledge)));
}

/// Search manual rules: `?q=` (substring of the domain), `category`, `action`,
/// `enabled`, `sort=domain|created_at|category`, pagination.
#[utoipa::path(get, path = "/api/rpz/rules", tag = "rpz", security(("bearer" = [])), params(ListQuery, RuleFilter),
    responses((status = 200, body = Page<RuleView>), (status = 403, body = ErrorBody)))]
pub async fn list_rules(
    state: web::Data<AppState>,
    _admin: AdminUser,
    q: web::Query<ListQuery>,
    f: web::Query<RuleFilter>,
) -> ApiResult<HttpResponse> {
    use hdns_entities::rpz_rules::Column;
    let page = q.page_request()?;
    let sort = q.sort_by(
        Column::Domain,
        |s| match s {
            "domain" => Some(Column::Domain),
            "created_at" => Some(Column::CreatedAt),
            "category" => Some(Column::Category),
            _ => None,
        },
        "domain, created_at, category",
    )?;
    let (items, total) = rules::list(
        &state.db,
        q.q.as_deref(),
        &f,
        sort,
        page.order.clone(),
        page.page,
        page.per_page,
    )
    .await?;
    let items: Vec<RuleView> = items.iter().map(RuleView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, total, &page)))
}

/// Add a rule: `{domain, action, category, redirect_target?, comment?}`.
/// named answers by it once this returns.
#[utoipa::path(post, path = "/api/rpz/rules", tag = "rpz", security(("bearer" = [])), request_body = RuleInput,
    responses((status = 201, body = RuleView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_rule(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: web::Json<RuleInput>,
) -> ApiResult<HttpResponse> {
    let r = rules::create(&state.db, &state.dns, &admin.0.caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(RuleView::from(&r)))
}

/// Add and remove many rules at once (all or nothing): `{add: [rule], remove: [domain]}`.
#[utoipa::path(post, path = "/api/rpz/rules/bulk", tag = "rpz", security(("bearer" = [])), request_body = BulkInput,
    responses((status = 200, body = BulkResult), (status = 422, body = ErrorBody)))]
pub async fn bulk_rules(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: web::Json<BulkInput>,
) -> ApiResult<HttpResponse> {
    let r = rules::bulk(&state.db, &state.dns, &admin.0.caller, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(r))
}

#[utoipa::path(get, path = "/api/rpz/rules/{id}", tag = "rpz", security(("bearer" = [])),
    responses((status = 200, body = RuleView), (status = 404, body = ErrorBody)))]
pub async fn get_rule(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(RuleView::from(&rules::get(&state.db, *id).await?)))
}

#[utoipa::path(put, path = "/api/rpz/rules/{id}", tag = "rpz", security(("bearer" = [])), request_body = RuleInput,
    responses((status = 200, body = RuleView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_rule(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
    body: web::Json<RuleInput>,
) -> ApiResult<HttpResponse> {
    let r = rules::update(
        &state.db,
        &state.dns,
        &admin.0.caller,
        *id,
        body.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(RuleView::from(&r)))
}

#[utoipa::path(delete, path = "/api/rpz/rules/{id}", tag = "rpz", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    rules::delete(&state.db, &state.dns, &admin.0.caller, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rules per category, action and source; feed entries; alerts.
#[utoipa::path(get, path = "/api/rpz/statistics", tag = "rpz", security(("bearer" = [])),
    responses((status = 200, body = Statistics)))]
pub async fn statistics(state: web::Data<AppState>, _admin: AdminUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(rules::statistics(&state.db).await?))
}

#[utoipa::path(get, path = "/api/rpz/feeds", tag = "rpz", security(("bearer" = [])),
    responses((status = 200, body = Vec<FeedView>)))]
pub async fn list_feeds(state: web::Data<AppState>, _admin: AdminUser) -> ApiResult<HttpResponse> {
    let f = &state.security.feeds;
    let list: Vec<FeedView> = feeds::list(&state.db)
        .await?
        .iter()
        .map(|m| FeedView::new(m, f))
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Subscribe a feed: `{name, url | file_path, format, category, action, schedule}`.
/// Its first update starts at once.
#[utoipa::path(post, path = "/api/rpz/feeds", tag = "rpz", security(("bearer" = [])), request_body = FeedInput,
    responses((status = 201, body = FeedView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_feed(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: web::Json<FeedInput>,
) -> ApiResult<HttpResponse> {
    let f = &state.security.feeds;
    let row = feeds::create(&state.db, &state.dns, f, &admin.0.caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(FeedView::new(&row, f)))
}

#[utoipa::path(get, path = "/api/rpz/feeds/{id}", tag = "rpz", security(("bearer" = [])),
    responses((status = 200, body = FeedView), (status = 404, body = ErrorBody)))]
pub async fn get_feed(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    let row = feeds::get(&state.db, *id).await?;
    Ok(HttpResponse::Ok().json(FeedView::new(&row, &state.security.feeds)))
}

#[utoipa::path(put, path = "/api/rpz/feeds/{id}", tag = "rpz", security(("bearer" = [])), request_body = FeedInput,
    responses((status = 200, body = FeedView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_feed(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
    body: web::Json<FeedInput>,
) -> ApiResult<HttpResponse> {
    let f = &state.security.feeds;
    let row = feeds::update(
        &state.db,
        &state.dns,
        f,
        &admin.0.caller,
        *id,
        body.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(FeedView::new(&row, f)))
}

#[utoipa::path(delete, path = "/api/rpz/feeds/{id}", tag = "rpz", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_feed(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    feeds::delete(
        &state.db,
        &state.dns,
        &state.security.feeds,
        &admin.0.caller,
        *id,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct Started {
    pub operation_id: String,
    pub feed_id: i32,
    pub status: &'static str,
}

/// Update a feed now, in the background: 202 with the operation id; progress
/// arrives as `bulk_operation_progress`/`bulk_operation_complete` events, the
/// result as `threat_feed_updated`. 409 while an update runs.
#[utoipa::path(post, path = "/api/rpz/feeds/{id}/update", tag = "rpz", security(("bearer" = [])),
    responses((status = 202, body = Started), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn run_feed(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    let row = feeds::get(&state.db, *id).await?;
    match state
        .security
        .feeds
        .run_now(row.id, Some(admin.0.user.id))
        .await
    {
        Ok(op) => Ok(HttpResponse::Accepted().json(Started {
            operation_id: op,
            feed_id: row.id,
            status: "started",
        })),
        Err(NotStarted::Running(running)) => Err(ApiError::conflict(
            "update_running",
            format!("feed {} is being updated", row.name),
        )
        .with_details(json!({"operation_id": running}))),
        Err(NotStarted::Unavailable(why)) => Err(crate::services::Error::Unavailable(why).into()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertFilter {
    pub acknowledged: Option<bool>,
    pub severity: Option<String>,
    pub category: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AlertView {
    pub id: i32,
    pub alert_id: String,
    pub severity: String,
    pub category: String,
    pub message: String,
    pub source_ip: Option<String>,
    pub domain: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub acknowledged: bool,
    pub acknowledged_by: Option<i32>,
    pub acknowledged_at: Option<String>,
    pub timestamp: String,
}

impl From<security_alerts::Model> for AlertView {
    fn from(a: security_alerts::Model) -> Self {
        Self {
            id: a.id,
            alert_id: a.alert_id,
            severity: a.severity,
            category: a.category,
            message: a.message,
            source_ip: a.source_ip,
            domain: a.domain,
            details: a.details,
            acknowledged: a.acknowledged,
            acknowledged_by: a.acknowledged_by,
            acknowledged_at: a.acknowledged_at.map(|t| t.to_rfc3339()),
            timestamp: a.created_at.to_rfc3339(),
        }
    }
}

/// Security alerts, newest first.
#[utoipa::path(get, path = "/api/rpz/alerts", tag = "rpz", security(("bearer" = [])), params(ListQuery, AlertFilter),
    responses((status = 200, body = Page<AlertView>)))]
pub async fn list_alerts(
    state: web::Data<AppState>,
    _admin: AdminUser,
    q: web::Query<ListQuery>,
    f: web::Query<AlertFilter>,
) -> ApiResult<HttpResponse> {
    use security_alerts::Column;
    let page = q.page_request()?;
    let mut sel = security_alerts::Entity::find();
    if let Some(a) = f.acknowledged {
        sel = sel.filter(Column::Acknowledged.eq(a));
    }
    if let Some(s) = &f.severity {
        sel = sel.filter(Column::Severity.eq(s.as_str()));
    }
    if let Some(c) = &f.category {
        sel = sel.filter(Column::Category.eq(c.as_str()));
    }
    if let Some(s) = q.q.as_deref().filter(|s| !s.is_empty()) {
        sel = sel.filter(Column::Domain.contains(s.to_ascii_lowercase()));
    }
    let total = sel.clone().count(&state.db).await?;
    let items: Vec<AlertView> = sel
        .order_by(Column::Id, Order::Desc)
        .offset((page.page - 1) * page.per_page)
        .limit(page.per_page)
        .all(&state.db)
        .await?
        .into_iter()
        .map(AlertView::from)
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(items, total, &page)))
}

#[utoipa::path(post, path = "/api/rpz/alerts/{id}/acknowledge", tag = "rpz", security(("bearer" = [])),
    responses((status = 200, body = AlertView), (status = 404, body = ErrorBody)))]
pub async fn acknowledge(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    let row = security_alerts::Entity::find_by_id(*id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("Alert"))?;
    if row.acknowledged {
        return Ok(HttpResponse::Ok().json(AlertView::from(row)));
    }
    let mut am = row.into_active_model();
    am.acknowledged = Set(true);
    am.acknowledged_by = Set(Some(admin.0.user.id));
    am.acknowledged_at = Set(Some(Utc::now()));
    let row = am.update(&state.db).await?;
    Ok(HttpResponse::Ok().json(AlertView::from(row)))
}
