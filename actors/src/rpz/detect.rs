//! Threat detection: follows named's `rpz` log. Every rewrite of a blocked
//! name becomes a `threat_detected` event and, at most once per client and
//! name per window, a persisted `security_alert`. Passthru (whitelisted)
//! hits are not threats.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::bus::EventBus;
use crate::events::{Event, ThreatAlert};
use crate::querylog::stats::{bump, top, Map};
use crate::querylog::tail::Follower;
use crate::rpz::{self, log, Category};
use hdns_entities::{blocked_stats, rpz_rules, threat_feeds};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::json;
use tokio::sync::mpsc;

use super::alerts::{self, Alert};

/// How long a rule's category is reused before it is read again.
const SOURCE_TTL: Duration = Duration::from_secs(10);

/// At most this many `threat_detected` events per second; the rest are counted.
const EVENTS_PER_SEC: u32 = 200;

#[derive(Debug)]
struct Hit {
    client_ip: String,
    qname: String,
    qtype: String,
    policy: String,
    via: String,
}

/// One minute of blocked lookups, stored as a `blocked_stats` row when it ends.
#[derive(Default)]
struct BlockedMinute {
    start: i64,
    total: u64,
    by_category: BTreeMap<String, u64>,
    domains: Map,
    clients: Map,
}

impl BlockedMinute {
    fn add(&mut self, category: &str, domain: &str, client: &str) {
        self.total += 1;
        *self.by_category.entry(category.to_string()).or_default() += 1;
        // Past the cap a name or client only counts in `total`.
        let mut spare = 0;
        bump(&mut self.domains, domain, &mut spare);
        bump(&mut self.clients, client, &mut spare);
    }

    /// Starts the minute of `now`; hands back the finished one if it counted anything.
    fn roll(&mut self, now: i64) -> Option<BlockedMinute> {
        let start = now - now.rem_euclid(60);
        if start == self.start {
            return None;
        }
        let done = std::mem::replace(
            self,
            BlockedMinute {
                start,
                ..Default::default()
            },
        );
        (done.total > 0).then_some(done)
    }

    fn row(&self) -> blocked_stats::ActiveModel {
        blocked_stats::ActiveModel {
            minute: Set(chrono::DateTime::from_timestamp(self.start, 0).unwrap_or_default()),
            total: Set(self.total as i64),
            by_category: Set(json!(self.by_category)),
            top_domains: Set(json!(top(&self.domains, 20))),
            top_clients: Set(json!(top(&self.clients, 20))),
            ..Default::default()
        }
    }
}

async fn store(db: &DatabaseConnection, m: Option<BlockedMinute>) {
    if let Some(m) = m {
        if let Err(e) = m.row().insert(db).await {
            tracing::warn!(error = %e, "blocked-lookup minute not stored");
        }
    }
}

/// What detection counted, for `/api/system`.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct DetectStats {
    pub hits: u64,
    pub events_suppressed: u64,
    pub alerts_suppressed: u64,
}

pub type SharedDetectStats = std::sync::Arc<std::sync::Mutex<DetectStats>>;

/// Starts the follower thread and the task that turns hits into events.
pub fn spawn(
    path: PathBuf,
    db: DatabaseConnection,
    bus: EventBus,
    alert_window: Duration,
) -> SharedDetectStats {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("rpz-log".into())
        .spawn(move || follow(path, tx))
        .expect("spawn the rpz log follower");
    let stats = SharedDetectStats::default();
    tokio::spawn(consume(rx, db, bus, alert_window, stats.clone()));
    stats
}

fn follow(path: PathBuf, tx: mpsc::UnboundedSender<Hit>) {
    let mut f = Follower::new(&path, true);
    loop {
        let _ = f.read(|line| {
            let Some(h) = log::parse(line) else { return };
            if h.policy.eq_ignore_ascii_case("PASSTHRU") {
                return;
            }
            let _ = tx.send(Hit {
                client_ip: h.client_ip.into(),
                qname: h.qname.to_ascii_lowercase(),
                qtype: h.qtype.into(),
                policy: h.policy.into(),
                via: h.via.to_ascii_lowercase(),
            });
        });
        if tx.is_closed() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where a hit's rule came from and what it says.
#[derive(Clone)]
struct Source {
    kind: &'static str,
    rule: String,
    category: Category,
    feed_id: Option<i32>,
    feed_name: Option<String>,
}

async fn source_of(db: &DatabaseConnection, via: &str) -> Source {
    let unknown = |rule: &str| Source {
        kind: "unknown",
        rule: rule.to_string(),
        category: Category::Custom,
        feed_id: None,
        feed_name: None,
    };
    if let Some(rule) = via.strip_suffix(&format!(".{}", rpz::MANUAL_ZONE)) {
        let row = rpz_rules::Entity::find()
            .filter(rpz_rules::Column::Domain.eq(rule))
            .one(db)
            .await
            .ok()
            .flatten();
        return match row {
            Some(r) => Source {
                kind: "manual",
                rule: rule.into(),
                category: r.category,
                feed_id: None,
                feed_name: None,
            },
            None => unknown(rule),
        };
    }
    let Some((rule, zone)) = via.rsplit_once(".feed-") else {
        return unknown(via);
    };
    let id = zone
        .strip_suffix(&format!(".{}", rpz::RPZ_SUFFIX))
        .and_then(|n| n.parse::<i32>().ok());
    let feed = match id {
        Some(id) => threat_feeds::Entity::find_by_id(id)
            .one(db)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    match feed {
        Some(f) => Source {
            kind: "feed",
            rule: rule.into(),
            category: f.category,
            feed_id: Some(f.id),
            feed_name: Some(f.name),
        },
        None => unknown(rule),
    }
}

/// What detection remembers between hits.
struct Detector {
    db: DatabaseConnection,
    bus: EventBus,
    window: Duration,
    stats: SharedDetectStats,
    /// The last alert per (client, name): one per `window`.
    last_alert: HashMap<(String, String), Instant>,
    /// The current second and the events published in it.
    second: Instant,
    this_second: u32,
    minute: BlockedMinute,
    /// Rules looked up recently, by what named logged.
    sources: HashMap<String, (Instant, Source)>,
}

async fn consume(
    mut rx: mpsc::UnboundedReceiver<Hit>,
    db: DatabaseConnection,
    bus: EventBus,
    window: Duration,
    stats: SharedDetectStats,
) {
    let mut d = Detector {
        db,
        bus,
        window,
        stats,
        last_alert: HashMap::new(),
        second: Instant::now(),
        this_second: 0,
        minute: BlockedMinute::default(),
        sources: HashMap::new(),
    };
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            h = rx.recv() => match h {
                Some(h) => d.hit(h).await,
                None => return,
            },
            _ = tick.tick() => {
                store(&d.db, d.minute.roll(chrono::Utc::now().timestamp())).await;
            }
        }
    }
}

impl Detector {
    /// One blocked lookup: counted, published (bounded per second), and
    /// raised as an alert once per client, name and window.
    async fn hit(&mut self, h: Hit) {
        let now = Instant::now();
        if now.duration_since(self.second) >= Duration::from_secs(1) {
            (self.second, self.this_second) = (now, 0);
        }
        if self.last_alert.len() > 10_000 {
            let window = self.window;
            self.last_alert
                .retain(|_, t| now.duration_since(*t) < window);
        }
        let src = self.source(&h.via, now).await;
        store(&self.db, self.minute.roll(chrono::Utc::now().timestamp())).await;
        self.minute
            .add(src.category.as_str(), &h.qname, &h.client_ip);
        let severity = src.category.severity();
        let message = format!(
            "{} looked up {} ({} {}), blocked by {} rule {}",
            h.client_ip,
            h.qname,
            src.category.as_str(),
            h.policy,
            src.kind,
            src.rule
        );
        let details = json!({
            "query_type": h.qtype,
            "policy": h.policy,
            "rule": src.rule,
            "source": src.kind,
            "feed_id": src.feed_id,
            "feed_name": src.feed_name,
            "rpz_category": src.category.as_str(),
        });
        self.detected(&h, &src, &message, &details);
        let key = (h.client_ip.clone(), h.qname.clone());
        if self
            .last_alert
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < self.window)
        {
            self.stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .alerts_suppressed += 1;
            return;
        }
        self.last_alert.insert(key, now);
        let alert = Alert {
            severity,
            category: src.category.event_category(),
            message,
            source_ip: Some(h.client_ip),
            domain: Some(h.qname),
            details,
        };
        alerts::raise(&self.db, &self.bus, alert).await;
    }

    /// The rule behind what named logged. A busy client repeats the same
    /// few names: each is looked up once per `SOURCE_TTL`, not per hit.
    async fn source(&mut self, via: &str, now: Instant) -> Source {
        if self.sources.len() > 10_000 {
            self.sources
                .retain(|_, (t, _)| now.duration_since(*t) < SOURCE_TTL);
        }
        match self.sources.get(via) {
            Some((t, src)) if now.duration_since(*t) < SOURCE_TTL => src.clone(),
            _ => {
                let src = source_of(&self.db, via).await;
                self.sources.insert(via.to_string(), (now, src.clone()));
                src
            }
        }
    }

    /// Publishes `threat_detected` (at most `EVENTS_PER_SEC` a second).
    fn detected(&mut self, h: &Hit, src: &Source, message: &str, details: &serde_json::Value) {
        {
            let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
            s.hits += 1;
            if self.this_second >= EVENTS_PER_SEC {
                s.events_suppressed += 1;
                return;
            }
        }
        self.this_second += 1;
        // Malware and phishing are critical (the severity says so).
        self.bus.publish(Event::new(ThreatAlert {
            alert_id: uuid::Uuid::new_v4().to_string(),
            severity: src.category.severity().into(),
            category: src.category.event_category().into(),
            message: message.to_string(),
            source_ip: Some(h.client_ip.clone()),
            domain: Some(h.qname.clone()),
            details: details.clone(),
            timestamp: crate::events::now_iso(),
            detected: true,
        }));
    }
}
