//! `POST /api/events/publish`: admins publish an event through the real
//! Dispatcher (announcements, checking a dashboard, load tests).

use actix_web::{web, HttpRequest, HttpResponse};
use hdns_actors::events::{Event, Priority};
use hdns_actors::ws::permissions;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::client_ip;
use crate::services::audit::{self, Entry};
use crate::services::Actor;
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
    cfg.service(web::resource("/publish").route(web::post().to(publish)));
}

/// Publish an event to every session that subscribed to its type and may see it (admin).
#[utoipa::path(post, path = "/api/events/publish", tag = "events", security(("bearer" = [])), request_body = PublishRequest,
    responses((status = 202, body = PublishResult), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn publish(
    state: web::Data<AppState>,
    admin: AdminUser,
    req: HttpRequest,
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
    let actor = Actor::user(&admin.0.user, client_ip(&req));
    let entry = Entry {
        action: "event.publish",
        resource_type: "event",
        resource_id: None,
        before: None,
        after: Some(serde_json::json!({"event_type": t.as_str(), "count": count})),
    };
    audit::record(&state.db, &actor, entry).await?;
    for _ in 0..count {
        let mut e = Event::new(t, &body.data);
        if let Some(p) = body.priority {
            e.priority = p;
        }
        e.zone_id = body.zone_id;
        e.user_id = body.user_id;
        state.dns.publish(e);
    }
    Ok(HttpResponse::Accepted().json(PublishResult { published: count }))
}
