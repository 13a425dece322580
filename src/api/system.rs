//! `GET /api/system`: version, uptime, BIND mode and status, the redacted
//! configuration and the runtime's own counters (admin).

use actix_web::{web, HttpResponse};
use hdns_actors::ws::dispatcher::DispatchStats;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::health::{bind_health, BindHealth};
use crate::auth::AdminUser;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct QueryLogStatus {
    pub path: String,
    pub total_queries: u64,
    pub unparsed_lines: u64,
    pub streamed: u64,
    /// Queries over `query_stream_max_per_sec`: counted, not streamed.
    pub not_streamed: u64,
    pub rotations: u64,
    pub truncations: u64,
    pub store_failures: u64,
}

#[derive(Serialize, ToSchema)]
pub struct WebSocketStatus {
    pub sessions: usize,
    #[schema(value_type = Object)]
    pub dispatcher: Value,
    /// The cluster bridge (null on a single instance): this instance's id,
    /// events and control messages sent and received, lag and errors.
    #[schema(value_type = Object)]
    pub cluster: Value,
}

#[derive(Serialize, ToSchema)]
pub struct SystemInfo {
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub started_at: String,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    pub bind: BindHealth,
    pub query_log: QueryLogStatus,
    pub websocket: WebSocketStatus,
    /// Blocked lookups read from named's `rpz` log; `threat_detected` events
    /// over the per-second cap and alerts within a client's window are counted, not sent.
    #[schema(value_type = Object)]
    pub threat_detection: hdns_actors::rpz::detect::DetectStats,
    /// Events whose event-log write failed.
    pub event_log_failures: u64,
    /// The configuration in force; secrets are `<redacted>`.
    #[schema(value_type = Object)]
    pub config: Value,
}

fn stats_json(s: &DispatchStats) -> Value {
    serde_json::to_value(s).unwrap_or_default()
}

/// Version, uptime, BIND, counters and the redacted configuration (admin).
#[utoipa::path(get, path = "/api/system", tag = "monitoring", security(("bearer" = [])),
    responses((status = 200, body = SystemInfo), (status = 403, body = ErrorBody)))]
pub async fn system(state: web::Data<AppState>, _admin: AdminUser) -> ApiResult<HttpResponse> {
    let q = state.monitor.queries.snapshot();
    let cfg = &state.config;
    let uptime = state.started_at.elapsed();
    let started = chrono::Utc::now() - chrono::Duration::from_std(uptime).unwrap_or_default();
    let path = cfg
        .query_log_path
        .clone()
        .unwrap_or_else(|| state.dns.files.settings.paths.query_log());
    Ok(HttpResponse::Ok().json(SystemInfo {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: uptime.as_secs(),
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        database: if cfg.effective_database_url().starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        },
        bind: bind_health(&state),
        query_log: QueryLogStatus {
            path: path.display().to_string(),
            total_queries: q.total_queries,
            unparsed_lines: q.unparsed_lines,
            streamed: q.streamed,
            not_streamed: q.not_streamed,
            rotations: q.rotations,
            truncations: q.truncations,
            store_failures: q.store_failures,
        },
        websocket: WebSocketStatus {
            sessions: state.hub.registry.len(),
            dispatcher: stats_json(&state.hub.dispatcher.stats),
            cluster: state.hub.cluster.as_ref().map_or(Value::Null, |c| {
                let mut v = serde_json::to_value(&c.stats).unwrap_or_default();
                v["instance"] = Value::from(c.instance.clone());
                v
            }),
        },
        threat_detection: state
            .security
            .detect
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default(),
        event_log_failures: state
            .dns
            .bus
            .log_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        config: serde_json::to_value(cfg.redacted()).unwrap_or_default(),
    }))
}
