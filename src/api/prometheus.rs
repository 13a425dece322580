//! `GET /metrics`: Prometheus text format (0.0.4). With `metrics_token`
//! set, the scraper must send it as a bearer token (compared in constant
//! time); unset, only loopback clients are answered.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use actix_web::{web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

use crate::auth::extract::bearer_token;
use crate::error::ApiError;
use crate::state::AppState;
use hdns_actors::monitor::health::Status;

/// Prometheus label values escape `\`, `"` and newlines.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn metric(&mut self, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(self.0, "{name}{labels} {v}");
        }
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, v: f64) {
        self.metric(name, kind, help, &[(String::new(), v)]);
    }
}

fn allowed(state: &AppState, req: &HttpRequest) -> bool {
    match &state.config.metrics_token {
        Some(expected) => {
            bearer_token(req).is_some_and(|t| bool::from(t.as_bytes().ct_eq(expected.as_bytes())))
        }
        None => req.peer_addr().is_some_and(|a| a.ip().is_loopback()),
    }
}

/// The service's figures for Prometheus.
#[utoipa::path(get, path = "/metrics", tag = "monitoring",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"), (status = 401, body = crate::error::ErrorBody)))]
pub async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !allowed(&state, &req) {
        return Err(ApiError::unauthorized(
            "unauthorized",
            "The metrics token is required",
        ));
    }
    let mut o = Out(String::with_capacity(4096));
    let q = state.monitor.queries.snapshot();
    o.one("hdns_up", "gauge", "The service is running.", 1.0);
    o.one(
        "hdns_uptime_seconds",
        "gauge",
        "Seconds since the service started.",
        state.started_at.elapsed().as_secs_f64(),
    );
    o.one(
        "hdns_dns_queries_total",
        "counter",
        "Queries read from named's query log since start.",
        q.total_queries as f64,
    );
    o.one(
        "hdns_dns_queries_per_second",
        "gauge",
        "Queries in the last full second.",
        q.queries_per_second,
    );
    o.one(
        "hdns_dns_queries_per_second_1m",
        "gauge",
        "Queries per second over the last minute.",
        q.queries_per_second_1m,
    );
    o.one(
        "hdns_querylog_unparsed_lines_total",
        "counter",
        "Query-log lines that were not queries.",
        q.unparsed_lines as f64,
    );
    o.one(
        "hdns_querylog_not_streamed_total",
        "counter",
        "Queries over the stream limit (counted, not streamed).",
        q.not_streamed as f64,
    );
    let by_type: Vec<(String, f64)> = q
        .by_type
        .iter()
        .map(|(t, n)| (format!("{{type=\"{}\"}}", label(t)), *n as f64))
        .collect();
    o.metric(
        "hdns_dns_queries_this_minute",
        "gauge",
        "Queries this minute by type.",
        &by_type,
    );
    let bind = state
        .dns
        .status
        .lock()
        .map(|s| (s.running, s.restarts))
        .unwrap_or_default();
    o.one(
        "hdns_bind_running",
        "gauge",
        "The managed named is running.",
        f64::from(u8::from(bind.0)),
    );
    o.one(
        "hdns_bind_restarts_total",
        "counter",
        "Times the managed named was restarted.",
        f64::from(bind.1),
    );
    let health: Vec<(String, f64)> = state
        .monitor
        .health
        .latest()
        .iter()
        .map(|c| {
            let v = match c.status {
                Status::Healthy => 0.0,
                Status::Warning => 1.0,
                Status::Critical => 2.0,
                Status::Unknown => -1.0,
            };
            (
                format!(
                    "{{component=\"{}\",name=\"{}\"}}",
                    c.component,
                    label(&c.name)
                ),
                v,
            )
        })
        .collect();
    o.metric(
        "hdns_health_status",
        "gauge",
        "0 healthy, 1 warning, 2 critical, -1 unknown.",
        &health,
    );
    let stats = &state.hub.dispatcher.stats;
    o.one(
        "hdns_ws_sessions",
        "gauge",
        "Open WebSocket sessions.",
        state.hub.registry.len() as f64,
    );
    o.one(
        "hdns_ws_events_total",
        "counter",
        "Events the Dispatcher handled.",
        stats.events.load(Ordering::Relaxed) as f64,
    );
    o.one(
        "hdns_ws_deliveries_total",
        "counter",
        "Events queued to sessions.",
        stats.deliveries.load(Ordering::Relaxed) as f64,
    );
    o.one(
        "hdns_ws_shed_total",
        "counter",
        "Low and normal events shed from full queues.",
        stats.shed.load(Ordering::Relaxed) as f64,
    );
    o.one(
        "hdns_ws_overflowed_total",
        "counter",
        "Events a session could not take (its queue held only events that may not be shed; it is closed).",
        stats.overflowed.load(Ordering::Relaxed) as f64,
    );
    o.one(
        "hdns_ws_closed_too_slow_total",
        "counter",
        "Sessions closed because their queue overflowed.",
        stats.closed_too_slow.load(Ordering::Relaxed) as f64,
    );
    o.one(
        "hdns_ws_aborted_stalled_total",
        "counter",
        "Sessions whose peer stopped reading: sockets reset by the watchdog.",
        stats.aborted_stalled.load(Ordering::Relaxed) as f64,
    );
    o.one(
        "hdns_ws_dispatcher_lagged_total",
        "counter",
        "Events the Dispatcher missed behind the bus.",
        stats.lagged.load(Ordering::Relaxed) as f64,
    );
    let _ = writeln!(
        o.0,
        "# HELP hdns_ws_delivery_seconds Publish until the session wrote the frame, per priority.\n# TYPE hdns_ws_delivery_seconds histogram"
    );
    for (i, p) in ["low", "normal", "high", "critical"].iter().enumerate() {
        let (buckets, count, sum) = stats.latency[i].cumulative();
        for (le, n) in buckets {
            let _ = writeln!(
                o.0,
                "hdns_ws_delivery_seconds_bucket{{priority=\"{p}\",le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            o.0,
            "hdns_ws_delivery_seconds_bucket{{priority=\"{p}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            o.0,
            "hdns_ws_delivery_seconds_sum{{priority=\"{p}\"}} {sum}"
        );
        let _ = writeln!(
            o.0,
            "hdns_ws_delivery_seconds_count{{priority=\"{p}\"}} {count}"
        );
    }
    o.one(
        "hdns_event_log_failures_total",
        "counter",
        "Events whose event-log write failed.",
        state.dns.bus.log_failures.load(Ordering::Relaxed) as f64,
    );
    if let Some(m) = state.monitor.metrics.read().ok().and_then(|m| m.clone()) {
        let m = m.metrics;
        o.one(
            "hdns_cpu_usage_percent",
            "gauge",
            "Host CPU usage.",
            m.cpu.usage_percent,
        );
        o.one(
            "hdns_load_average_1m",
            "gauge",
            "Host load average over 1 minute.",
            m.cpu.load_average.first().copied().unwrap_or(0.0),
        );
        o.one(
            "hdns_memory_used_bytes",
            "gauge",
            "Host memory in use.",
            m.memory.used as f64,
        );
        o.one(
            "hdns_memory_total_bytes",
            "gauge",
            "Host memory.",
            m.memory.total as f64,
        );
        o.one(
            "hdns_disk_used_bytes",
            "gauge",
            "Used space on the data directory's disk.",
            m.disk.used as f64,
        );
        o.one(
            "hdns_disk_total_bytes",
            "gauge",
            "Size of the data directory's disk.",
            m.disk.total as f64,
        );
        o.one(
            "hdns_zones_active",
            "gauge",
            "Enabled zones.",
            m.dns.active_zones as f64,
        );
        o.one(
            "hdns_records_total",
            "gauge",
            "DNS records.",
            m.dns.total_records as f64,
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(o.0))
}
