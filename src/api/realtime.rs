//! `GET /api/realtime`: the current values a dashboard shows, for clients
//! without a WebSocket (polling).

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use hdns_actors::monitor::health::Status;
use hdns_actors::monitor::metrics::SystemMetrics;

#[derive(Serialize, ToSchema)]
pub struct ComponentStatus {
    pub component: &'static str,
    pub name: String,
    pub status: Status,
}

#[derive(Serialize, ToSchema)]
pub struct Realtime {
    pub queries_per_second: f64,
    /// Averaged over the last 60 seconds.
    pub queries_per_second_1m: f64,
    pub queries_this_minute: u64,
    /// Queries read from the log since the service started.
    pub total_queries: u64,
    pub health: Vec<ComponentStatus>,
    /// Open WebSocket sessions (all users).
    pub websocket_sessions: usize,
    /// The latest `system_metrics` sample (admins only).
    pub system: Option<SystemMetrics>,
    pub timestamp: String,
}

pub fn health_statuses(state: &AppState) -> Vec<ComponentStatus> {
    state
        .monitor
        .health
        .latest()
        .into_iter()
        .map(|c| ComponentStatus {
            component: c.component,
            name: c.name,
            status: c.status,
        })
        .collect()
}

pub fn latest_metrics(state: &AppState) -> Option<SystemMetrics> {
    state.monitor.metrics.read().ok().and_then(|m| m.clone())
}

/// Current query rates, component health and (admins) host metrics.
#[utoipa::path(get, path = "/api/realtime", tag = "monitoring", security(("bearer" = [])),
    responses((status = 200, body = Realtime), (status = 401, body = ErrorBody)))]
pub async fn realtime(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let q = state.monitor.queries.snapshot();
    Ok(HttpResponse::Ok().json(Realtime {
        queries_per_second: q.queries_per_second,
        queries_per_second_1m: q.queries_per_second_1m,
        queries_this_minute: q.queries_this_minute,
        total_queries: q.total_queries,
        health: health_statuses(&state),
        websocket_sessions: state.hub.registry.len(),
        system: user.is_admin().then(|| latest_metrics(&state)).flatten(),
        timestamp: crate::now_iso(),
    }))
}
