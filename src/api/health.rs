//! `GET /api/health`: liveness and a database round trip.

use std::time::Instant;

use actix_web::{web, HttpResponse};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ComponentHealth {
    #[schema(example = "healthy")]
    pub status: &'static str,
    pub response_time_ms: f64,
    pub message: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    /// `healthy` or `critical`.
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub database: ComponentHealth,
    pub timestamp: String,
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
    let body = HealthResponse {
        status: if ok { "healthy" } else { "critical" },
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
