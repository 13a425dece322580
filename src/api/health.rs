//! `GET /api/health`: liveness and a database round trip.

use std::time::Instant;

use actix_web::{web, HttpResponse};
use sea_orm::ConnectionTrait;
use serde::Serialize;
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

fn bind_health(state: &AppState) -> BindHealth {
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
