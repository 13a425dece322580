//! `GET /api/health`: liveness and a database round trip.

use std::time::Instant;

use actix_web::{web, HttpResponse};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::state::AppState;
use hdns_actors::bind::BindMode;

#[derive(Serialize, ToSchema)]
pub struct ComponentHealth {
    #[schema(example = "healthy")]
    pub status: &'static str,
    pub response_time_ms: f64,
    pub message: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    /// `healthy`, `degraded` (BIND down) or `critical` (database down).
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub database: ComponentHealth,
    pub bind: BindHealth,
    pub timestamp: String,
}

/// BIND as BindActor sees it.
#[derive(Serialize, ToSchema)]
pub struct BindHealth {
    /// `healthy`, `critical` (managed named down) or `disabled`.
    pub status: &'static str,
    /// `managed`, `external` or `disabled`.
    pub mode: String,
    pub running: bool,
    pub pid: Option<u32>,
    pub restarts: u32,
    pub last_reload: Option<String>,
    pub last_error: Option<String>,
    pub message: Option<String>,
}

pub fn bind_health(state: &AppState) -> BindHealth {
    let s = state
        .dns
        .status
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let settings = &state.dns.files.settings;
    let (status, message) = match settings.mode {
        BindMode::Disabled if settings.tools.named.is_none() => (
            "disabled",
            Some("BIND is disabled: named is not installed; files are rendered only".to_string()),
        ),
        BindMode::Disabled => (
            "disabled",
            Some("BIND is disabled by configuration; files are rendered only".into()),
        ),
        BindMode::Managed if !s.running => {
            ("critical", Some("the managed named is not running".into()))
        }
        _ => ("healthy", None),
    };
    BindHealth {
        status,
        mode: settings.mode.as_str().into(),
        running: s.running,
        pid: s.pid,
        restarts: s.restarts,
        last_reload: s.last_reload,
        last_error: s.last_error,
        message,
    }
}

/// Liveness plus a database check; 503 when the database does not answer.
#[utoipa::path(get, path = "/api/health", tag = "health",
    responses((status = 200, body = HealthResponse), (status = 503, body = HealthResponse)))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let start = Instant::now();
    let db = state.db.execute_unprepared("SELECT 1").await;
    let response_time_ms = start.elapsed().as_secs_f64() * 1000.0;
    let database = match &db {
        Ok(_) => ComponentHealth {
            status: "healthy",
            response_time_ms,
            message: None,
        },
        Err(e) => {
            tracing::warn!(error = %e, "database health check failed");
            ComponentHealth {
                status: "critical",
                response_time_ms,
                message: Some("database did not answer".into()),
            }
        }
    };
    let ok = db.is_ok();
    let bind = bind_health(&state);
    let body = HealthResponse {
        status: match (ok, bind.status) {
            (false, _) => "critical",
            (true, "critical") => "degraded",
            _ => "healthy",
        },
        bind,
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started_at.elapsed().as_secs(),
        database,
        timestamp: crate::now_iso(),
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[derive(Serialize, ToSchema)]
pub struct ComponentsResponse {
    /// The worst component status: `healthy`, `warning`, `critical` or `unknown`
    /// (before the first round of checks).
    pub status: hdns_actors::monitor::health::Status,
    pub components: Vec<hdns_actors::monitor::health::Check>,
    pub timestamp: String,
}

/// Every component's latest check: bind9, each forwarder, the database, the host.
#[utoipa::path(get, path = "/api/health/components", tag = "health", security(("bearer" = [])),
    responses((status = 200, body = ComponentsResponse), (status = 401, body = crate::error::ErrorBody)))]
pub async fn components(state: web::Data<AppState>, _user: crate::auth::AuthUser) -> HttpResponse {
    use hdns_actors::monitor::health::Status;
    let components = state.monitor.health.latest();
    let rank = |s: Status| match s {
        Status::Critical => 3,
        Status::Warning => 2,
        Status::Healthy => 1,
        Status::Unknown => 0,
    };
    let status = components
        .iter()
        .filter(|c| c.status != Status::Unknown)
        .map(|c| c.status)
        .max_by_key(|s| rank(*s))
        .unwrap_or(Status::Unknown);
    HttpResponse::Ok().json(ComponentsResponse {
        status,
        components,
        timestamp: crate::now_iso(),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// `bind9`, `forwarder`, `database` or `system`.
    pub component: Option<String>,
    /// A forwarder's name.
    pub name: Option<String>,
    /// At most this many rows, newest first (default 100, at most 1000).
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryEntry {
    pub component: String,
    pub name: String,
    pub status: String,
    pub response_time_ms: Option<f64>,
    pub message: Option<String>,
    pub checked_at: String,
}

/// Past check results over a time range, newest first.
#[utoipa::path(get, path = "/api/health/history", tag = "health", security(("bearer" = [])),
    params(HistoryQuery, super::range::RangeQuery),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn history(
    state: web::Data<AppState>,
    _user: crate::auth::AuthUser,
    q: web::Query<HistoryQuery>,
    range: web::Query<super::range::RangeQuery>,
) -> crate::error::ApiResult<HttpResponse> {
    use hdns_entities::health_checks;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let r = range.range()?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(crate::error::ApiError::validation(
            "limit",
            "limit must be 1 to 1000",
        ));
    }
    let mut find = health_checks::Entity::find()
        .filter(health_checks::Column::CheckedAt.gte(r.from))
        .filter(health_checks::Column::CheckedAt.lt(r.to));
    if let Some(c) = &q.component {
        if !matches!(c.as_str(), "bind9" | "forwarder" | "database" | "system") {
            return Err(crate::error::ApiError::validation(
                "component",
                "bind9, forwarder, database or system",
            ));
        }
        find = find.filter(health_checks::Column::Component.eq(c.as_str()));
    }
    if let Some(n) = &q.name {
        find = find.filter(health_checks::Column::Name.eq(n.as_str()));
    }
    let rows = find
        .order_by_desc(health_checks::Column::Id)
        .limit(limit)
        .all(&state.db)
        .await?;
    let items: Vec<HistoryEntry> = rows
        .into_iter()
        .map(|h| HistoryEntry {
            component: h.component,
            name: h.name,
            status: h.status.as_str().into(),
            response_time_ms: h.response_time_ms,
            message: h.message,
            checked_at: h
                .checked_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}
