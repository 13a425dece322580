//! MetricsActor: every `metrics_interval_secs` samples CPU (with load
//! average), memory, the data directory's disk and network counters with
//! sysinfo, adds the DNS figures, and publishes `system_metrics` in exactly
//! the spec's SystemMetricsEvent shape.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::bus::EventBus;
use crate::events::Event;
use crate::querylog::QueryLog;
use hdns_entities::{dns_records, zones};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use sysinfo::{Disks, Networks, System};

use super::bind_stats::{self, ratios as ratios_between, Counters, Ratios};

pub use crate::events::metrics::{Cpu, DnsFigures, Metrics, Network, SystemMetrics, Usage};

fn percent(used: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (used as f64 * 10_000.0 / total as f64).round() / 100.0
    }
}

/// Reads the host; keeps sysinfo's state between samples (CPU usage is a
/// difference between two refreshes).
pub struct Sampler {
    sys: System,
    disks: Disks,
    networks: Networks,
    data_dir: PathBuf,
}

impl Sampler {
    pub fn new(data_dir: &Path) -> Self {
        let mut sys = System::new();
        sys.refresh_cpu_usage();
        sys.refresh_memory();
        Self {
            sys,
            disks: Disks::new_with_refreshed_list(),
            networks: Networks::new_with_refreshed_list(),
            data_dir: data_dir
                .canonicalize()
                .unwrap_or_else(|_| data_dir.to_path_buf()),
        }
    }

    /// CPU, memory, disk and network now.
    pub fn host(&mut self) -> (Cpu, Usage, Usage, Network) {
        self.sys.refresh_cpu_usage();
        self.sys.refresh_memory();
        self.disks.refresh(true);
        self.networks.refresh(true);
        let load = System::load_average();
        let cpu = Cpu {
            usage_percent: (f64::from(self.sys.global_cpu_usage()) * 100.0).round() / 100.0,
            load_average: vec![load.one, load.five, load.fifteen],
        };
        let (total, available) = (self.sys.total_memory(), self.sys.available_memory());
        let memory = Usage {
            total,
            used: total.saturating_sub(available),
            available,
            usage_percent: percent(total.saturating_sub(available), total),
        };
        // The disk holding the data directory: the longest matching mount point.
        let disk = self
            .disks
            .list()
            .iter()
            .filter(|d| self.data_dir.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len())
            .map(|d| {
                let (t, a) = (d.total_space(), d.available_space());
                Usage {
                    total: t,
                    used: t.saturating_sub(a),
                    available: a,
                    usage_percent: percent(t.saturating_sub(a), t),
                }
            })
            .unwrap_or(Usage {
                total: 0,
                used: 0,
                available: 0,
                usage_percent: 0.0,
            });
        let mut network = Network {
            bytes_sent: 0,
            bytes_received: 0,
            packets_sent: 0,
            packets_received: 0,
        };
        for (_, n) in self.networks.iter() {
            network.bytes_sent += n.total_transmitted();
            network.bytes_received += n.total_received();
            network.packets_sent += n.total_packets_transmitted();
            network.packets_received += n.total_packets_received();
        }
        (cpu, memory, disk, network)
    }
}

pub async fn dns_figures(db: &DatabaseConnection, queries: &QueryLog) -> DnsFigures {
    let active_zones = zones::Entity::find()
        .filter(zones::Column::Enabled.eq(true))
        .count(db)
        .await
        .unwrap_or(0);
    let total_records = dns_records::Entity::find().count(db).await.unwrap_or(0);
    DnsFigures {
        queries_per_second: queries.snapshot().queries_per_second,
        active_zones,
        total_records,
    }
}

/// The latest sample, for `/api/realtime`, `/api/dashboard` and `/metrics`.
pub type Latest = Arc<RwLock<Option<SystemMetrics>>>;
/// NXDOMAIN and blocked ratios from named's statistics channel.
pub type SharedRatios = Arc<RwLock<Ratios>>;

/// Where named's statistics channel answers (`None`: BIND disabled).
pub struct Sources {
    pub data_dir: PathBuf,
    pub stats_port: Option<u16>,
}

/// What one sample needs between rounds: the host sampler and the last
/// minute of named's counters (ratios span it).
#[derive(Default)]
struct Window {
    sampler: Option<Sampler>,
    counters: std::collections::VecDeque<(std::time::Instant, Counters)>,
}

/// MetricsActor: takes a `Sample` every interval and publishes it as
/// `system_metrics`. Supervised: a sample that panics raises a
/// `health_alert` and restarts the actor with a fresh window.
pub struct MetricsActor {
    every: Duration,
    sources: Arc<Sources>,
    db: DatabaseConnection,
    queries: QueryLog,
    bus: EventBus,
    http: reqwest::Client,
    window: Arc<tokio::sync::Mutex<Window>>,
    latest: Latest,
    ratios: SharedRatios,
    busy: bool,
}

/// Take one sample now (skipped while one is being taken).
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Sample;

impl actix::Actor for MetricsActor {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        use actix::AsyncContext;
        ctx.run_interval(self.every, |_, ctx| ctx.notify(Sample));
    }
}

impl actix::Supervised for MetricsActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.busy = false;
        self.window = Default::default();
    }
}

impl crate::supervise::Rounds for MetricsActor {
    fn busy(&mut self) -> &mut bool {
        &mut self.busy
    }
}

impl actix::Handler<Sample> for MetricsActor {
    type Result = ();

    fn handle(&mut self, _: Sample, ctx: &mut Self::Context) {
        let work = sample(
            self.sources.clone(),
            self.window.clone(),
            self.http.clone(),
            self.db.clone(),
            self.queries.clone(),
            self.bus.clone(),
            self.latest.clone(),
            self.ratios.clone(),
        );
        crate::supervise::spawn_round(self, ctx, "metrics", self.bus.clone(), work);
    }
}

#[allow(clippy::too_many_arguments)] // the actor's parts, moved onto a task
async fn sample(
    sources: Arc<Sources>,
    window: Arc<tokio::sync::Mutex<Window>>,
    http: reqwest::Client,
    db: DatabaseConnection,
    queries: QueryLog,
    bus: EventBus,
    latest: Latest,
    ratios: SharedRatios,
) {
    let mut w = window.lock().await;
    // sysinfo reads /proc and statfs: keep it off the async workers (the
    // sampler is made there on first use and kept).
    let (kept, dir) = (w.sampler.take(), sources.data_dir.clone());
    let sampled = tokio::task::spawn_blocking(move || {
        let mut s = kept.unwrap_or_else(|| Sampler::new(&dir));
        let h = s.host();
        (s, h)
    })
    .await;
    let (s, host) = match sampled {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "metrics sample failed");
            return;
        }
    };
    w.sampler = Some(s);
    if let Some(port) = sources.stats_port {
        if let Some(now) = bind_stats::fetch(&http, port).await {
            let t = std::time::Instant::now();
            while w
                .counters
                .get(1)
                .is_some_and(|(at, _)| t.duration_since(*at) >= Duration::from_secs(60))
            {
                w.counters.pop_front();
            }
            let r = ratios_between(w.counters.front().map_or(now, |(_, c)| *c), now);
            w.counters.push_back((t, now));
            if let Ok(mut slot) = ratios.write() {
                *slot = r;
            }
        }
    }
    drop(w);
    let (cpu, memory, disk, network) = host;
    let dns = dns_figures(&db, &queries).await;
    let m = SystemMetrics {
        metrics: Metrics {
            cpu,
            memory,
            disk,
            network,
            dns,
        },
        timestamp: crate::events::now_iso(),
    };
    bus.publish(Event::new(m.clone()));
    if let Ok(mut l) = latest.write() {
        *l = Some(m);
    }
}

/// Starts the supervised MetricsActor on the current arbiter.
pub fn spawn(
    every: Duration,
    sources: Sources,
    db: DatabaseConnection,
    queries: QueryLog,
    bus: EventBus,
) -> (actix::Addr<MetricsActor>, Latest, SharedRatios) {
    let latest: Latest = Arc::new(RwLock::new(None));
    let ratios: SharedRatios = Arc::new(RwLock::new(Ratios::default()));
    let sources = Arc::new(sources);
    let (l, r) = (latest.clone(), ratios.clone());
    let addr = actix::Supervisor::start(move |_| MetricsActor {
        every,
        sources,
        db,
        queries,
        bus,
        http: reqwest::Client::new(),
        window: Default::default(),
        latest: l,
        ratios: r,
        busy: false,
    });
    (addr, latest, ratios)
}
