//! `GET /metrics`: Prometheus text format (0.0.4). With `metrics_token`
//! set, the scraper must send it as a bearer token (compared in constant
//! time); unset, only loopback clients are answered.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

use crate::auth::extract::bearer_token;
use crate::error::ApiError;
use crate::state::AppState;
use hdns_actors::events::metrics::Metrics;
use hdns_actors::monitor::health::Status;
use hdns_actors::querylog::Live;
use hdns_actors::ws::dispatcher::DispatchStats;

/// Prometheus label values escape `\`, `"` and newlines.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn header(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        };
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn metric(&mut self, name: &str, kind: Kind, help: &str, samples: &[(String, f64)]) {
        self.header(name, kind, help);
        for (labels, v) in samples {
            let _ = writeln!(self.0, "{name}{labels} {v}");
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
    Histogram,
}

/// What one scrape reads, each source once.
struct Scrape<'a> {
    state: &'a AppState,
    queries: Live,
    bind: (bool, u32),
    host: Option<Metrics>,
}

impl Scrape<'_> {
    fn ws(&self, counter: impl Fn(&DispatchStats) -> &AtomicU64) -> Option<f64> {
        Some(counter(&self.state.hub.dispatcher.stats).load(Ordering::Relaxed) as f64)
    }
}

/// One unlabelled series: name, type, help, value (`None`: not sampled yet).
type Series = (&'static str, Kind, &'static str, fn(&Scrape) -> Option<f64>);

const SERIES: &[Series] = &[
    ("hdns_up", Kind::Gauge, "The service is running.", |_| Some(1.0)),
    ("hdns_uptime_seconds", Kind::Gauge, "Seconds since the service started.", |s| {
        Some(s.state.started_at.elapsed().as_secs_f64())
    }),
    ("hdns_dns_queries_total", Kind::Counter, "Queries read from named's query log since start.", |s| {
        Some(s.queries.total_queries as f64)
    }),
    ("hdns_dns_queries_per_second", Kind::Gauge, "Queries in the last full second.", |s| {
        Some(s.queries.queries_per_second)
    }),
    ("hdns_dns_queries_per_second_1m", Kind::Gauge, "Queries per second over the last minute.", |s| {
        Some(s.queries.queries_per_second_1m)
    }),
    ("hdns_querylog_unparsed_lines_total", Kind::Counter, "Query-log lines that were not queries.", |s| {
        Some(s.queries.unparsed_lines as f64)
    }),
    ("hdns_querylog_not_streamed_total", Kind::Counter, "Queries over the stream limit (counted, not streamed).", |s| {
        Some(s.queries.not_streamed as f64)
    }),
    ("hdns_bind_running", Kind::Gauge, "The managed named is running.", |s| {
        Some(f64::from(u8::from(s.bind.0)))
    }),
    ("hdns_bind_restarts_total", Kind::Counter, "Times the managed named was restarted.", |s| {
        Some(f64::from(s.bind.1))
    }),
    ("hdns_ws_sessions", Kind::Gauge, "Open WebSocket sessions.", |s| {
        Some(s.state.hub.registry.len() as f64)
    }),
    ("hdns_ws_events_total", Kind::Counter, "Events the Dispatcher handled.", |s| s.ws(|d| &d.events)),
    ("hdns_ws_deliveries_total", Kind::Counter, "Events queued to sessions.", |s| s.ws(|d| &d.deliveries)),
    ("hdns_ws_shed_total", Kind::Counter, "Low and normal events shed from full queues.", |s| s.ws(|d| &d.shed)),
    ("hdns_ws_overflowed_total", Kind::Counter, "Events a session could not take (its queue held only events that may not be shed; it is closed).", |s| s.ws(|d| &d.overflowed)),
    ("hdns_ws_closed_too_slow_total", Kind::Counter, "Sessions closed because their queue overflowed.", |s| s.ws(|d| &d.closed_too_slow)),
    ("hdns_ws_aborted_stalled_total", Kind::Counter, "Sessions whose peer stopped reading: sockets reset by the watchdog.", |s| s.ws(|d| &d.aborted_stalled)),
    ("hdns_ws_dispatcher_lagged_total", Kind::Counter, "Events the Dispatcher missed behind the bus.", |s| s.ws(|d| &d.lagged)),
    ("hdns_event_log_failures_total", Kind::Counter, "Events whose event-log write failed.", |s| {
        Some(s.state.dns.bus.log_failures.load(Ordering::Relaxed) as f64)
    }),
    ("hdns_cpu_usage_percent", Kind::Gauge, "Host CPU usage.", |s| s.host.as_ref().map(|m| m.cpu.usage_percent)),
    ("hdns_load_average_1m", Kind::Gauge, "Host load average over 1 minute.", |s| {
        s.host.as_ref().map(|m| m.cpu.load_average.first().copied().unwrap_or(0.0))
    }),
    ("hdns_memory_used_bytes", Kind::Gauge, "Host memory in use.", |s| s.host.as_ref().map(|m| m.memory.used as f64)),
    ("hdns_memory_total_bytes", Kind::Gauge, "Host memory.", |s| s.host.as_ref().map(|m| m.memory.total as f64)),
    ("hdns_disk_used_bytes", Kind::Gauge, "Used space on the data directory's disk.", |s| s.host.as_ref().map(|m| m.disk.used as f64)),
    ("hdns_disk_total_bytes", Kind::Gauge, "Size of the data directory's disk.", |s| s.host.as_ref().map(|m| m.disk.total as f64)),
    ("hdns_zones_active", Kind::Gauge, "Enabled zones.", |s| s.host.as_ref().map(|m| m.dns.active_zones as f64)),
    ("hdns_records_total", Kind::Gauge, "DNS records.", |s| s.host.as_ref().map(|m| m.dns.total_records as f64)),
];

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
    let scrape = Scrape {
        state: &state,
        queries: state.monitor.queries.snapshot(),
        bind: state
            .dns
            .status
            .lock()
            .map(|s| (s.running, s.restarts))
            .unwrap_or_default(),
        host: state
            .monitor
            .metrics
            .read()
            .ok()
            .and_then(|m| m.clone())
            .map(|m| m.metrics),
    };
    for (name, kind, help, value) in SERIES {
        if let Some(v) = value(&scrape) {
            o.metric(name, *kind, help, &[(String::new(), v)]);
        }
    }
    labelled(&mut o, &scrape);
    delivery_histogram(&mut o, &state.hub.dispatcher.stats);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(o.0))
}

/// Series with labels: queries by type, health by component.
fn labelled(o: &mut Out, s: &Scrape) {
    let by_type: Vec<(String, f64)> = s
        .queries
        .by_type
        .iter()
        .map(|(t, n)| (format!("{{type=\"{}\"}}", label(t)), *n as f64))
        .collect();
    o.metric(
        "hdns_dns_queries_this_minute",
        Kind::Gauge,
        "Queries this minute by type.",
        &by_type,
    );
    let health: Vec<(String, f64)> = s
        .state
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
            let labels = format!(
                "{{component=\"{}\",name=\"{}\"}}",
                c.component,
                label(&c.name)
            );
            (labels, v)
        })
        .collect();
    o.metric(
        "hdns_health_status",
        Kind::Gauge,
        "0 healthy, 1 warning, 2 critical, -1 unknown.",
        &health,
    );
}

/// Publish until written, per priority, as a Prometheus histogram.
fn delivery_histogram(o: &mut Out, stats: &DispatchStats) {
    let name = "hdns_ws_delivery_seconds";
    o.header(
        name,
        Kind::Histogram,
        "Publish until the session wrote the frame, per priority.",
    );
    for (i, p) in ["low", "normal", "high", "critical"].iter().enumerate() {
        let (buckets, count, sum) = stats.latency[i].cumulative();
        for (le, n) in buckets {
            let _ = writeln!(o.0, "{name}_bucket{{priority=\"{p}\",le=\"{le}\"}} {n}");
        }
        let _ = writeln!(o.0, "{name}_bucket{{priority=\"{p}\",le=\"+Inf\"}} {count}");
        let _ = writeln!(o.0, "{name}_sum{{priority=\"{p}\"}} {sum}");
        let _ = writeln!(o.0, "{name}_count{{priority=\"{p}\"}} {count}");
    }
}
