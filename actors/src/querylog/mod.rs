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

use actix::{Actor, Addr, AsyncContext, Context, Handler, Message};
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
    /// Which hosted zone a name falls in (to filter for a user's zones).
    #[serde(skip)]
    pub zones: Arc<ZoneIndex>,
}

/// A handle on the QueryLogActor: its latest aggregates, and where to send
/// the zone index. Cheap to clone.
#[derive(Clone)]
pub struct QueryLog {
    live: Arc<RwLock<Live>>,
    actor: Addr<QueryLogActor>,
}

/// QueryLogActor: follows the log on an arbiter (thread) of its own, since
/// reading and parsing is CPU work that must not hold up the async
/// workers; one `run_interval` tick reads what is new. Finished minutes go
/// to a task that stores them.
pub struct QueryLogActor {
    settings: Settings,
    bus: EventBus,
    minutes: tokio::sync::mpsc::UnboundedSender<Minute>,
    store_failures: Arc<AtomicU64>,
    live: Arc<RwLock<Live>>,
    zones: Arc<ZoneIndex>,
    follower: tail::Follower,
    agg: Aggregator,
    recent: VecDeque<serde_json::Value>,
    streamed: u64,
    not_streamed: u64,
    /// The current second and how many events were streamed in it.
    second: i64,
    this_second: u64,
    failed_reads: u64,
    /// The second the live figures were last repainted.
    painted: i64,
}

/// Replaces the zone index (after zones were created or deleted).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetZones(pub Vec<(i32, String)>);

impl Actor for QueryLogActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.settings.poll, |act, _| {
            let bus = act.bus.clone();
            if crate::supervise::guarded_sync("querylog", &bus, || act.tick()).is_none() {
                act.restart();
            }
        });
    }
}

impl Handler<SetZones> for QueryLogActor {
    type Result = ();

    fn handle(&mut self, msg: SetZones, _: &mut Self::Context) {
        self.zones = Arc::new(ZoneIndex::new(msg.0));
        if let Ok(mut l) = self.live.write() {
            l.zones = self.zones.clone();
        }
    }
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
    /// Starts the QueryLogActor on an arbiter of its own (inside the actix
    /// System) and a task that stores finished minutes.
    pub fn spawn(settings: Settings, bus: EventBus, db: Option<DatabaseConnection>) -> Self {
        let live = Arc::new(RwLock::new(Live::default()));
        let store_failures = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Minute>();
        let failures = store_failures.clone();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let Some(db) = db.as_ref() else { continue };
                if let Err(e) = row(&m).insert(db).await {
                    failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "query stats write failed");
                }
            }
        });
        let shared = live.clone();
        let arbiter = actix::Arbiter::new();
        let actor = QueryLogActor::start_in_arbiter(&arbiter.handle(), move |_| QueryLogActor {
            follower: tail::Follower::new(&settings.path, true),
            settings,
            bus,
            minutes: tx,
            store_failures,
            live: shared,
            zones: Arc::default(),
            agg: Aggregator::new(),
            recent: VecDeque::with_capacity(RECENT),
            streamed: 0,
            not_streamed: 0,
            second: 0,
            this_second: 0,
            failed_reads: 0,
            painted: i64::MIN,
        });
        Self { live, actor }
    }

    /// Replaces the zone index (after zones were created or deleted).
    pub fn set_zones(&self, zones: impl IntoIterator<Item = (i32, String)>) {
        self.actor.do_send(SetZones(zones.into_iter().collect()));
    }

    pub fn snapshot(&self) -> Live {
        self.live.read().map(|l| l.clone()).unwrap_or_default()
    }
}

impl QueryLogActor {
    /// After a panic: follow the log again from its end (the line that
    /// panicked is not read twice) with fresh aggregates; counters stay.
    fn restart(&mut self) {
        self.follower = tail::Follower::new(&self.settings.path, true);
        self.agg = Aggregator::new();
        self.recent.clear();
    }

    /// Reads what is new: streams queries (bounded per second), rolls the
    /// minute aggregates, repaints the live figures when lines arrived and
    /// once a second for the rates.
    fn tick(&mut self) {
        let now = unix_now();
        if now != self.second {
            (self.second, self.this_second) = (now, 0);
        }
        let zones = self.zones.clone();
        let mut read_any = false;
        let Self {
            follower,
            agg,
            minutes,
            settings,
            bus,
            recent,
            streamed,
            not_streamed,
            this_second,
            ..
        } = self;
        let read = follower.read(|line| {
            read_any = true;
            let (q, ended) = agg.ingest(line, now);
            if let Some(m) = ended {
                let _ = minutes.send(m);
            }
            let Some(q) = q else { return };
            let zone = zones.find(q.name);
            if *this_second < settings.stream_max_per_sec {
                *this_second += 1;
                *streamed += 1;
                let e = query_event(&q, zone);
                if recent.len() == RECENT {
                    recent.pop_front();
                }
                recent.push_back(e.data.clone());
                bus.publish(e);
            } else {
                *not_streamed += 1;
            }
        });
        if let Err(e) = read {
            self.failed_reads += 1;
            if self.failed_reads == 1 || self.failed_reads.is_multiple_of(600) {
                tracing::warn!(error = %e, path = %self.settings.path.display(), "query log unreadable");
            }
        }
        if let Some(m) = self.agg.roll(now) {
            let _ = self.minutes.send(m);
        }
        if !read_any && now == self.painted {
            return;
        }
        self.painted = now;
        self.paint(now);
    }

    fn paint(&self, now: i64) {
        let agg = &self.agg;
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
            recent: self.recent.clone(),
            unparsed_lines: agg.unparsed,
            streamed: self.streamed,
            not_streamed: self.not_streamed,
            rotations: self.follower.rotations,
            truncations: self.follower.truncations,
            store_failures: self.store_failures.load(Ordering::Relaxed),
            zones: self.zones.clone(),
        };
        if let Ok(mut l) = self.live.write() {
            *l = live;
        }
    }
}
