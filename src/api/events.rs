//! `POST /api/events/publish`: admins publish an event through the real
//! Dispatcher (announcements, checking a dashboard, load tests).

use actix_web::{web, HttpResponse};
use hdns_actors::events::{Event, Priority};
use hdns_actors::ws::permissions;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::pagination::{ListQuery, Page};
use super::range::RangeQuery;

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::services::audit::{self, Entry};
use crate::state::AppState;

pub const MAX_COUNT: u32 = 10_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// One of the spec's event types.
    pub event_type: String,
    /// The event's `data` object.
    #[schema(value_type = Object)]
    pub data: Value,
    /// `critical`, `high`, `normal` or `low` [default: the type's priority].
    #[schema(value_type = Option<String>)]
    pub priority: Option<Priority>,
    /// Scope to a zone (users granted it see it) or a user.
    pub zone_id: Option<i32>,
    pub user_id: Option<i32>,
    /// Publish this many copies (1 to 10,000) [default 1].
    pub count: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublishResult {
    pub published: u32,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("").route(web::get().to(list)))
        .service(web::resource("/publish").route(web::post().to(publish)));
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Only this event type.
    pub event_type: Option<String>,
    /// Only this priority.
    pub priority: Option<String>,
    /// 1-based page (default 1).
    pub page: Option<u64>,
    /// Items per page (default 50, at most 500).
    pub per_page: Option<u64>,
}

/// One row of the event log.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedEvent {
    pub id: i32,
    pub event_type: String,
    pub priority: String,
    #[schema(value_type = Object)]
    pub data: Value,
    pub timestamp: String,
}

impl From<hdns_entities::event_log::Model> for LoggedEvent {
    fn from(e: hdns_entities::event_log::Model) -> Self {
        Self {
            id: e.id,
            event_type: e.event_type,
            priority: e.priority,
            data: e.payload,
            timestamp: e
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }
}

/// The event log, newest first, filtered by type, priority and time (admin).
#[utoipa::path(get, path = "/api/events", tag = "events", security(("bearer" = [])), params(EventFilter, RangeQuery),
    responses((status = 200, body = Page<LoggedEvent>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminUser,
    filter: web::Query<EventFilter>,
    range: web::Query<RangeQuery>,
) -> ApiResult<HttpResponse> {
    use hdns_entities::event_log;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
    let r = range.range()?;
    let page = ListQuery {
        page: filter.page,
        per_page: filter.per_page,
        sort: None,
        order: None,
        q: None,
    }
    .page_request()?;
    let mut q = event_log::Entity::find()
        .filter(event_log::Column::CreatedAt.gte(r.from))
        .filter(event_log::Column::CreatedAt.lt(r.to));
    if let Some(t) = &filter.event_type {
        let t = permissions::parse(t)
            .ok_or_else(|| ApiError::validation("event_type", "unknown event type"))?;
        q = q.filter(event_log::Column::EventType.eq(t.as_str()));
    }
    if let Some(p) = &filter.priority {
        if !matches!(p.as_str(), "critical" | "high" | "normal" | "low") {
            return Err(ApiError::validation(
                "priority",
                "critical, high, normal or low",
            ));
        }
        q = q.filter(event_log::Column::Priority.eq(p.as_str()));
    }
    let pages = q
        .order_by_desc(event_log::Column::Id)
        .paginate(&state.db, page.per_page);
    let total = pages.num_items().await?;
    let items = pages
        .fetch_page(page.page - 1)
        .await?
        .into_iter()
        .map(LoggedEvent::from)
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(items, total, &page)))
}

/// Publish an event to every session that subscribed to its type and may see it (admin).
#[utoipa::path(post, path = "/api/events/publish", tag = "events", security(("bearer" = [])), request_body = PublishRequest,
    responses((status = 202, body = PublishResult), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn publish(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: web::Json<PublishRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let t = permissions::parse(&body.event_type)
        .ok_or_else(|| ApiError::validation("event_type", "unknown event type"))?;
    if !body.data.is_object() {
        return Err(ApiError::validation("data", "data must be an object"));
    }
    let count = body.count.unwrap_or(1);
    if count == 0 || count > MAX_COUNT {
        return Err(ApiError::validation(
            "count",
            format!("count must be 1 to {MAX_COUNT}"),
        ));
    }
    let actor = admin.0.caller.clone();
    let entry = Entry {
        action: "event.publish",
        resource_type: "event",
        resource_id: None,
        before: None,
        after: Some(serde_json::json!({"event_type": t.as_str(), "count": count})),
    };
    audit::record(&state.db, &actor, entry).await?;
    for _ in 0..count {
        let mut e = Event::raw(t, body.data.clone());
        if let Some(p) = body.priority {
            e.priority = p;
        }
        e.zone_id = body.zone_id;
        e.user_id = body.user_id;
        state.dns.publish(e);
    }
    Ok(HttpResponse::Accepted().json(PublishResult { published: count }))
}
