//! QueryLogActor: follows named's query log, streams each query as a
//! `dns_query` event (bounded per second), keeps live aggregates for the
//! dashboard and stores one row of aggregates per minute.

pub mod parse;
pub mod stats;
pub mod tail;
pub mod zones;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hdns_entities::query_stats;
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use serde::Serialize;
use serde_json::json;

use crate::bus::EventBus;
use crate::events::{DnsQuery, Event};
use stats::{top, Aggregator, Count, Minute, TOP_N};
use zones::ZoneIndex;

pub struct Settings {
    pub path: PathBuf,
    /// How often the file is read.
    pub poll: Duration,
    /// At most this many `dns_query` events per second; the rest are counted
    /// in `not_streamed` (the aggregates still see every query).
    pub stream_max_per_sec: u64,
}

/// The latest queries kept for a dashboard's first paint.
pub const RECENT: usize = 50;

/// What a dashboard shows now; replaced after every read.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Live {
    pub queries_per_second: f64,
    pub queries_per_second_1m: f64,
    pub total_queries: u64,
    pub queries_this_minute: u64,
    /// Unix time the top lists, `by_type` and `recursive_ratio` count from:
    /// the start of the previous minute, or of this one after a quiet minute.
    pub window_start: i64,
    pub top_domains: Vec<Count>,
    pub top_clients: Vec<Count>,
    pub by_type: BTreeMap<String, u64>,
    pub recursive_ratio: f64,
    pub recent: VecDeque<serde_json::Value>,
    pub unparsed_lines: u64,
    pub streamed: u64,
    pub not_streamed: u64,
    pub rotations: u64,
    pub truncations: u64,
    /// Minutes whose row could not be written.
    pub store_failures: u64,
}

#[derive(Clone)]
pub struct QueryLog {
    pub live: Arc<RwLock<Live>>,
    pub zones: Arc<RwLock<Arc<ZoneIndex>>>,
    store_failures: Arc<AtomicU64>,
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn query_event(q: &parse::Query<'_>, zone: Option<(i32, &str)>) -> Event {
    Event::new(DnsQuery {
        timestamp: crate::events::now_iso(),
        client_ip: q.client_ip.into(),
        client_port: q.client_port,
        query_name: q.name.into(),
        query_type: q.qtype.into(),
        query_class: q.class.into(),
        flags: q.flags.into(),
        server_ip: q.server_ip.into(),
        view: q.view.map(str::to_owned),
        zone: zone.map(|(_, n)| n.to_owned()),
        zone_id: zone.map(|(id, _)| id),
    })
}

fn row(m: &Minute) -> query_stats::ActiveModel {
    let by_type: BTreeMap<&str, u64> = m.by_type.iter().map(|(k, v)| (&**k, *v)).collect();
    query_stats::ActiveModel {
        minute: Set(chrono::DateTime::from_timestamp(m.start, 0).unwrap_or_default()),
        total: Set(m.total as i64),
        recursive: Set(m.recursive as i64),
        tcp: Set(m.tcp as i64),
        by_type: Set(json!(by_type)),
        top_domains: Set(json!(top(&m.domains, TOP_N))),
        top_clients: Set(json!(top(&m.clients, TOP_N))),
        other_domains: Set(m.other_domains as i64),
        other_clients: Set(m.other_clients as i64),
        ..Default::default()
    }
}

impl QueryLog {
    /// Starts following `settings.path` on its own thread (parsing is CPU
    /// work that must not hold up the async workers) and a task that stores
    /// finished minutes. Must be called inside a tokio runtime.
    pub fn spawn(settings: Settings, bus: EventBus, db: Option<DatabaseConnection>) -> Self {
        let me = Self {
            live: Arc::new(RwLock::new(Live::default())),
            zones: Arc::new(RwLock::new(Arc::new(ZoneIndex::default()))),
            store_failures: Arc::new(AtomicU64::new(0)),
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Minute>();
        let failures = me.store_failures.clone();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let Some(db) = db.as_ref() else { continue };
                if let Err(e) = row(&m).insert(db).await {
                    failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "query stats write failed");
                }
            }
        });
        let handle = tokio::runtime::Handle::current();
        let worker = me.clone();
        std::thread::Builder::new()
            .name("querylog".into())
            .spawn(move || {
                let _rt = handle.enter();
                worker.run(settings, bus, tx);
            })
            .expect("spawn the query-log thread");
        me
    }

    fn run(
        &self,
        settings: Settings,
        bus: EventBus,
        minutes: tokio::sync::mpsc::UnboundedSender<Minute>,
    ) {
        let mut follower = tail::Follower::new(&settings.path, true);
        let mut agg = Aggregator::new();
        let mut recent: VecDeque<serde_json::Value> = VecDeque::with_capacity(RECENT);
        let (mut streamed, mut not_streamed) = (0u64, 0u64);
        let (mut second, mut this_second) = (0i64, 0u64);
        let mut failed_reads = 0u64;
        let mut painted = i64::MIN;
        loop {
            let now = unix_now();
            if now != second {
                (second, this_second) = (now, 0);
            }
            let zones = self.zones.read().map(|z| z.clone()).unwrap_or_default();
            let mut read_any = false;
            let read = follower.read(|line| {
                read_any = true;
                let (q, ended) = agg.ingest(line, now);
                if let Some(m) = ended {
                    let _ = minutes.send(m);
                }
                let Some(q) = q else { return };
                let zone = zones.find(q.name);
                if this_second < settings.stream_max_per_sec {
                    this_second += 1;
                    streamed += 1;
                    let e = query_event(&q, zone);
                    if recent.len() == RECENT {
                        recent.pop_front();
                    }
                    recent.push_back(e.data.clone());
                    bus.publish(e);
                } else {
                    not_streamed += 1;
                }
            });
            if let Err(e) = read {
                failed_reads += 1;
                if failed_reads == 1 || failed_reads.is_multiple_of(600) {
                    tracing::warn!(error = %e, path = %settings.path.display(), "query log unreadable");
                }
            }
            if let Some(m) = agg.roll(now) {
                let _ = minutes.send(m);
            }
            // Repainted when lines arrived, and once a second for the rates.
            if !read_any && now == painted {
                std::thread::sleep(settings.poll);
                continue;
            }
            painted = now;
            let (qps, qps_1m) = agg.rates(now);
            let w = agg.window(10);
            let live = Live {
                queries_per_second: qps,
                queries_per_second_1m: qps_1m,
                total_queries: agg.queries,
                queries_this_minute: agg.current().total,
                window_start: w.start,
                top_domains: w.top_domains,
                top_clients: w.top_clients,
                by_type: w.by_type,
                recursive_ratio: if w.total == 0 {
                    0.0
                } else {
                    w.recursive as f64 / w.total as f64
                },
                recent: recent.clone(),
                unparsed_lines: agg.unparsed,
                streamed,
                not_streamed,
                rotations: follower.rotations,
                truncations: follower.truncations,
                store_failures: self.store_failures.load(Ordering::Relaxed),
            };
            if let Ok(mut l) = self.live.write() {
                *l = live;
            }
            std::thread::sleep(settings.poll);
        }
    }

    /// Replaces the zone index (after zones were created or deleted).
    pub fn set_zones(&self, zones: impl IntoIterator<Item = (i32, String)>) {
        if let Ok(mut z) = self.zones.write() {
            *z = Arc::new(ZoneIndex::new(zones));
        }
    }

    pub fn snapshot(&self) -> Live {
        self.live.read().map(|l| l.clone()).unwrap_or_default()
    }
}
