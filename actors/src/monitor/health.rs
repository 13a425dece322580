//! HealthActor: on a schedule (tokio-cron-scheduler) checks bind9 (process,
//! `rndc status`, a real SOA query and its latency), every forwarder (a real
//! query to each server), the database (a round trip) and the host (disk and
//! memory thresholds). Publishes `health_update` per component, `health_alert`
//! on every status change (critical priority when down) and
//! `forwarder_status_change`, and keeps each result as history.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::bind::{actor::rndc, BindMode};
use crate::events::{Event, ForwarderStatusChange, HealthEvent};
use hdns_entities::{forwarders, health_checks, zones};
use hickory_proto::rr::{Name, RecordType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::Serialize;
use serde_json::{json, Value};

use super::metrics::Sampler;
use crate::bind::commit::Dns;
use crate::dns_client::probe as query;

/// Usage at or above these is `warning`, then `critical`.
const WARN_PERCENT: f64 = 85.0;
const CRIT_PERCENT: f64 = 95.0;
/// A DNS or database answer slower than this is `warning`.
const SLOW_MS: f64 = 500.0;

pub use hdns_entities::enums::HealthLevel as Status;

/// One component's latest result.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Check {
    /// `bind9`, `forwarder`, `database` or `system`.
    pub component: &'static str,
    /// The forwarder's name, or the component again.
    pub name: String,
    pub status: Status,
    pub response_time_ms: Option<f64>,
    pub message: String,
    /// `cpu_usage`, `memory_usage`, `disk_usage`, `error_rate` where they apply.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metrics: Value,
    #[serde(skip)]
    pub forwarder_id: Option<i32>,
    pub checked_at: String,
}

impl Check {
    fn key(&self) -> String {
        format!("{}/{}", self.component, self.name)
    }

    /// The spec's `HealthEvent`: a sample, or with `alert` a change of status.
    fn event(&self, alert: bool) -> HealthEvent {
        let mut metrics = self.metrics.clone();
        if let (Some(m), Some(rt)) = (metrics.as_object_mut(), self.response_time_ms) {
            m.insert("response_time".into(), json!(rt));
        }
        HealthEvent {
            component: self.component.to_string(),
            status: self.status.as_str().to_string(),
            metrics,
            message: self.message.clone(),
            timestamp: self.checked_at.clone(),
            alert,
        }
    }
}

/// The latest result per component, for `/api/health`, the dashboard and `/metrics`.
#[derive(Clone, Default)]
pub struct Health {
    pub latest: Arc<RwLock<Vec<Check>>>,
}

impl Health {
    pub fn latest(&self) -> Vec<Check> {
        self.latest.read().map(|l| l.clone()).unwrap_or_default()
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

fn check(
    component: &'static str,
    name: &str,
    status: Status,
    rt: Option<f64>,
    message: String,
) -> Check {
    Check {
        component,
        name: name.to_string(),
        status,
        response_time_ms: rt,
        message,
        metrics: json!({}),
        forwarder_id: None,
        checked_at: crate::events::now_iso(),
    }
}

/// A result of the `bind9` component.
fn bind9(status: Status, rt: Option<f64>, message: String) -> Check {
    check("bind9", "bind9", status, rt, message)
}

async fn check_bind(dns: &Dns, db: &DatabaseConnection) -> Check {
    let settings = &dns.files.settings;
    if settings.mode == BindMode::Disabled {
        return bind9(
            Status::Unknown,
            None,
            "BIND is disabled: files are rendered only".into(),
        );
    }
    let running = dns.status.lock().map(|s| s.running).unwrap_or(false);
    if settings.mode == BindMode::Managed && !running {
        return bind9(Status::Critical, None, "named is not running".into());
    }
    let start = Instant::now();
    // named refuses the control channel briefly while it starts or
    // reconfigures; one retry keeps that from raising a critical alert.
    let mut status = rndc(settings, &["status"]).await;
    if status.is_err() {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        status = rndc(settings, &["status"]).await;
    }
    if let Err(e) = status {
        return bind9(Status::Critical, None, format!("rndc status failed: {e}"));
    }
    let rndc_ms = ms(start.elapsed());
    // A real query: the SOA of a hosted zone, answered by named itself.
    let zone: Option<String> = zones::Entity::find()
        .filter(zones::Column::Enabled.eq(true))
        .filter(zones::Column::ZoneType.eq(hdns_entities::enums::ZoneType::Master))
        .order_by_asc(zones::Column::Id)
        .one(db)
        .await
        .ok()
        .flatten()
        .map(|z| z.name);
    let Some(zone) = zone else {
        return bind9(
            Status::Healthy,
            Some(rndc_ms),
            "named answers rndc (no zone to query)".into(),
        );
    };
    let Ok(name) = Name::from_ascii(format!("{zone}.")) else {
        return bind9(Status::Healthy, Some(rndc_ms), "named answers rndc".into());
    };
    let server = SocketAddr::from(([127, 0, 0, 1], settings.dns_port));
    let r = query(server, name, RecordType::SOA).await;
    match (r.success, r.latency_ms) {
        (true, Some(l)) if l <= SLOW_MS => bind9(
            Status::Healthy,
            Some(l),
            format!("a hosted zone's SOA answered in {l} ms"),
        ),
        (true, l) => bind9(
            Status::Warning,
            l,
            "a hosted zone's SOA answered slowly".to_string(),
        ),
        _ => bind9(
            Status::Warning,
            Some(rndc_ms),
            format!(
                "rndc answers but the SOA query for a hosted zone failed: {}",
                r.error.or(r.rcode).unwrap_or_default()
            ),
        ),
    }
}

async fn check_forwarders(db: &DatabaseConnection) -> Vec<Check> {
    let list = forwarders::Entity::find()
        .filter(forwarders::Column::Enabled.eq(true))
        .filter(forwarders::Column::HealthCheck.eq(true))
        .all(db)
        .await
        .unwrap_or_default();
    let checks = list.into_iter().map(|f| async move {
        let domain = f.domain_list()
            .first()
            .map(|d| d.trim_end_matches('.').to_string())
            .unwrap_or_default();
        let name = Name::from_ascii(format!("{domain}.")).unwrap_or_else(|_| Name::root());
        let servers = f.server_addrs();
        let results = futures_util::future::join_all(
            servers.iter().map(|s| query(*s, name.clone(), RecordType::SOA)),
        )
        .await;
        let ok = results.iter().filter(|r| r.success).count();
        let latency = results
            .iter()
            .filter_map(|r| r.latency_ms)
            .fold(None, |m: Option<f64>, l| Some(m.map_or(l, |m| m.max(l))));
        let (status, message) = match ok {
            _ if servers.is_empty() => (Status::Unknown, "no servers configured".to_string()),
            n if n == servers.len() => (Status::Healthy, format!("{n} of {} servers answer", servers.len())),
            0 => (
                Status::Critical,
                format!(
                    "no server answers: {}",
                    results
                        .iter()
                        .map(|r| format!("{}:{} {}", r.address, r.port, r.error.clone().or(r.rcode.clone()).unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ),
            n => (Status::Warning, format!("{n} of {} servers answer", servers.len())),
        };
        let failed = servers.len() - ok;
        let mut c = check("forwarder", &f.name, status, latency, message);
        c.metrics = json!({"error_rate": if servers.is_empty() { 0.0 } else { failed as f64 / servers.len() as f64 }});
        c.forwarder_id = Some(f.id);
        c
    });
    futures_util::future::join_all(checks).await
}

async fn check_database(db: &DatabaseConnection) -> Check {
    let start = Instant::now();
    let r = db.execute_unprepared("SELECT 1").await;
    let t = ms(start.elapsed());
    match r {
        Ok(_) if t <= SLOW_MS => check(
            "database",
            "database",
            Status::Healthy,
            Some(t),
            "SELECT 1 answered".into(),
        ),
        Ok(_) => check(
            "database",
            "database",
            Status::Warning,
            Some(t),
            "the database answers slowly".into(),
        ),
        Err(_) => check(
            "database",
            "database",
            Status::Critical,
            None,
            "the database does not answer".into(),
        ),
    }
}

fn check_system(sampler: &mut Sampler) -> Check {
    let (cpu, memory, disk, _) = sampler.host();
    let worst = memory.usage_percent.max(disk.usage_percent);
    let status = if worst >= CRIT_PERCENT {
        Status::Critical
    } else if worst >= WARN_PERCENT {
        Status::Warning
    } else {
        Status::Healthy
    };
    let mut c = check(
        "system",
        "system",
        status,
        None,
        format!(
            "memory {:.1} %, disk {:.1} %",
            memory.usage_percent, disk.usage_percent
        ),
    );
    c.metrics = json!({"cpu_usage": cpu.usage_percent, "memory_usage": memory.usage_percent, "disk_usage": disk.usage_percent});
    c
}

struct Runner {
    dns: Dns,
    db: DatabaseConnection,
    sampler: Mutex<Option<Sampler>>,
    data_dir: std::path::PathBuf,
    previous: Mutex<HashMap<String, Status>>,
    health: Health,
}

impl Runner {
    async fn run_once(&self) {
        let mut checks = vec![check_bind(&self.dns, &self.db).await];
        checks.extend(check_forwarders(&self.db).await);
        checks.push(check_database(&self.db).await);
        // sysinfo reads /proc and statfs: off the async workers. The sampler
        // is made there too, on first use, and kept between rounds.
        let sampler = self.sampler.lock().ok().and_then(|mut s| s.take());
        let data_dir = self.data_dir.clone();
        let system = tokio::task::spawn_blocking(move || {
            let mut s = sampler.unwrap_or_else(|| Sampler::new(&data_dir));
            let c = check_system(&mut s);
            (s, c)
        })
        .await;
        match system {
            Ok((s, c)) => {
                checks.push(c);
                if let Ok(mut slot) = self.sampler.lock() {
                    *slot = Some(s);
                }
            }
            Err(e) => tracing::warn!(error = %e, "host health check failed"),
        }
        let bus = &self.dns.bus;
        for c in &checks {
            bus.publish(Event::new(c.event(false)));
            let before = self
                .previous
                .lock()
                .ok()
                .and_then(|mut p| p.insert(c.key(), c.status));
            // An alert on every change; at start only when something is wrong.
            let changed = match before {
                Some(b) => b != c.status,
                None => c.status != Status::Healthy && c.status != Status::Unknown,
            };
            if changed {
                bus.publish(Event::new(c.event(true)));
                if let Some(id) = c.forwarder_id {
                    bus.publish(Event::new(ForwarderStatusChange {
                        forwarder_id: id.to_string(),
                        name: c.name.clone(),
                        old_status: before.unwrap_or(Status::Unknown).as_str().into(),
                        new_status: c.status.as_str().into(),
                        response_time: c.response_time_ms,
                        message: c.message.clone(),
                        timestamp: c.checked_at.clone(),
                    }));
                }
            }
            let row = health_checks::ActiveModel {
                component: Set(c.component.to_string()),
                name: Set(c.name.clone()),
                status: Set(c.status),
                response_time_ms: Set(c.response_time_ms),
                message: Set(Some(c.message.chars().take(1024).collect())),
                checked_at: Set(chrono::Utc::now()),
                ..Default::default()
            };
            if let Err(e) = row.insert(&self.db).await {
                tracing::warn!(error = %e, "health history write failed");
            }
        }
        if let Ok(mut l) = self.health.latest.write() {
            *l = checks;
        }
    }
}

/// HealthActor: runs a round of checks when started and every `every`
/// after. A round is one `RunChecks`; a slow round (timeouts) is never
/// overlapped by the next one. Supervised: a round that panics raises a
/// `health_alert` and restarts the actor with its alert memory cleared.
pub struct HealthActor {
    runner: Arc<Runner>,
    every: Duration,
    busy: bool,
}

/// Run one round of checks now (skipped while a round is running).
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct RunChecks;

impl actix::Actor for HealthActor {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        use actix::AsyncContext;
        ctx.notify(RunChecks);
        ctx.run_interval(self.every, |_, ctx| ctx.notify(RunChecks));
    }
}

impl actix::Supervised for HealthActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.busy = false;
        // A panic mid-round may have poisoned the lock: start from scratch.
        self.runner.previous.clear_poison();
        if let Ok(mut p) = self.runner.previous.lock() {
            p.clear();
        }
        self.runner.sampler.clear_poison();
    }
}

impl crate::supervise::Rounds for HealthActor {
    fn busy(&mut self) -> &mut bool {
        &mut self.busy
    }
}

impl actix::Handler<RunChecks> for HealthActor {
    type Result = ();

    fn handle(&mut self, _: RunChecks, ctx: &mut Self::Context) {
        let runner = self.runner.clone();
        let bus = runner.dns.bus.clone();
        crate::supervise::spawn_round(
            self,
            ctx,
            "health",
            bus,
            async move { runner.run_once().await },
        );
    }
}

/// Starts the supervised HealthActor on the current arbiter.
pub fn spawn(
    every: Duration,
    dns: Dns,
    db: DatabaseConnection,
    data_dir: &std::path::Path,
) -> (actix::Addr<HealthActor>, Health) {
    let health = Health::default();
    let runner = Arc::new(Runner {
        dns,
        db,
        sampler: Mutex::new(None),
        data_dir: data_dir.to_path_buf(),
        previous: Mutex::new(HashMap::new()),
        health: health.clone(),
    });
    let addr = actix::Supervisor::start(move |_| HealthActor {
        runner,
        every,
        busy: false,
    });
    (addr, health)
}
