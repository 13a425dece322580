//! ThreatFeedActor: schedules every enabled feed with tokio-cron-scheduler
//! and runs updates: fetch (HTTP with timeouts, a size limit and conditional
//! requests, or a file), parse, de-duplicate, diff against the last good
//! list, render, check, install, reload. A failed update keeps the last good
//! zone, records the error and raises a `security_alert`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bind::dynamic;
use crate::events::{BulkOperation, Event, FeedUpdated, RpzUpdated};
use crate::rpz::{self, feed};
use chrono::Utc;
use dashmap::DashMap;
use hdns_entities::enums::FeedStatus;
use hdns_entities::threat_feeds;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set};
use serde_json::json;
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use super::alerts::{self, Alert};
use crate::bind::commit::Dns;

#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// File feeds must live under this directory.
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub timeout: Duration,
}

/// A cron expression as tokio-cron-scheduler takes it: 5 fields get a
/// leading `0` (seconds). `None` when it does not parse.
pub fn normalize_schedule(s: &str) -> Option<String> {
    let s = s.trim();
    let fields = s.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {s}"),
        6 | 7 => s.to_string(),
        _ => return None,
    };
    Job::new_async(full.as_str(), |_, _| Box::pin(async {}))
        .ok()
        .map(|_| full)
}

/// The worker behind the ThreatFeedActor: what an update needs, shared
/// with the update tasks.
#[derive(Clone)]
struct Feeds {
    inner: Arc<Inner>,
}

/// ThreatFeedActor: owns the feeds' schedules and starts their updates.
/// `UpdateFeed` runs one update of a feed (one at a time per feed; the
/// schedules send it too), `Reschedule` and `Unschedule` follow changes.
/// An update runs on a task of its own: a panic there is reported as a
/// critical `health_alert` and releases the feed (`supervise::guarded`).
pub struct ThreatFeedActor {
    feeds: Feeds,
}

/// Update a feed now. `Err` holds the operation already running.
#[derive(actix::Message)]
#[rtype(result = "Result<String, String>")]
pub struct UpdateFeed {
    pub feed_id: i32,
    /// Who asked: progress events go to them (none for schedules).
    pub user_id: Option<i32>,
}

/// (Re)schedule a feed after it was created or changed; a disabled feed
/// only loses its job.
#[derive(actix::Message)]
#[rtype(result = "Result<(), String>")]
pub struct Reschedule(pub threat_feeds::Model);

/// Drop a deleted feed's schedule.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Unschedule {
    pub feed_id: i32,
}

impl actix::Actor for ThreatFeedActor {
    type Context = actix::Context<Self>;
}

impl actix::Supervised for ThreatFeedActor {}

impl actix::Handler<UpdateFeed> for ThreatFeedActor {
    type Result = Result<String, String>;

    fn handle(&mut self, msg: UpdateFeed, _: &mut Self::Context) -> Self::Result {
        self.feeds.run_now(msg.feed_id, msg.user_id)
    }
}

impl actix::Handler<Reschedule> for ThreatFeedActor {
    type Result = actix::ResponseFuture<Result<(), String>>;

    fn handle(&mut self, msg: Reschedule, ctx: &mut Self::Context) -> Self::Result {
        use actix::AsyncContext;
        let (feeds, addr) = (self.feeds.clone(), ctx.address());
        Box::pin(async move { feeds.schedule(&msg.0, addr).await })
    }
}

impl actix::Handler<Unschedule> for ThreatFeedActor {
    type Result = actix::ResponseFuture<()>;

    fn handle(&mut self, msg: Unschedule, _: &mut Self::Context) -> Self::Result {
        let feeds = self.feeds.clone();
        Box::pin(async move { feeds.unschedule(msg.feed_id).await })
    }
}

/// Why an update did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotStarted {
    /// This operation is updating the feed already.
    Running(String),
    /// The actor cannot be reached (it is restarting).
    Unavailable(String),
}

/// A handle on the ThreatFeedActor for the services. Cheap to clone.
#[derive(Clone)]
pub struct ThreatFeeds {
    addr: actix::Addr<ThreatFeedActor>,
    feeds: Feeds,
}

fn unreachable_actor(e: actix::MailboxError) -> String {
    format!("the threat-feed actor is unavailable: {e}")
}

impl ThreatFeeds {
    /// Starts the supervised ThreatFeedActor (inside the actix System) and
    /// schedules every enabled feed.
    pub async fn start(
        db: DatabaseConnection,
        dns: Dns,
        settings: FeedSettings,
        scheduler: JobScheduler,
    ) -> Result<Self, String> {
        let feeds = Feeds::new(db, dns, settings, scheduler)?;
        let worker = feeds.clone();
        let addr = actix::Supervisor::start(move |_| ThreatFeedActor { feeds: worker });
        let me = Self { addr, feeds };
        let rows = threat_feeds::Entity::find()
            .all(&me.feeds.inner.db)
            .await
            .map_err(|e| e.to_string())?;
        for f in rows {
            if let Err(e) = me.schedule(&f).await {
                tracing::warn!(feed = %f.name, error = %e, "threat feed not scheduled");
            }
            // An update cut short by a restart left "running" behind.
            if f.last_status == FeedStatus::Running {
                let mut am = f.into_active_model();
                am.last_status = Set(FeedStatus::Failed);
                am.last_error = Set(Some("interrupted by a restart".into()));
                if let Err(e) = am.update(&me.feeds.inner.db).await {
                    tracing::warn!(error = %e, "threat feed status write failed");
                }
            }
        }
        Ok(me)
    }

    pub fn settings(&self) -> &FeedSettings {
        &self.feeds.inner.settings
    }

    /// The operation updating this feed now, if any.
    pub fn running(&self, feed_id: i32) -> Option<String> {
        self.feeds.running(feed_id)
    }

    pub async fn schedule(&self, f: &threat_feeds::Model) -> Result<(), String> {
        self.addr
            .send(Reschedule(f.clone()))
            .await
            .map_err(unreachable_actor)?
    }

    pub async fn unschedule(&self, feed_id: i32) {
        if let Err(e) = self.addr.send(Unschedule { feed_id }).await {
            tracing::warn!(error = %unreachable_actor(e), "threat feed not unscheduled");
        }
    }

    /// Starts an update in the background and answers its operation id.
    pub async fn run_now(&self, feed_id: i32, user_id: Option<i32>) -> Result<String, NotStarted> {
        match self.addr.send(UpdateFeed { feed_id, user_id }).await {
            Ok(Ok(op)) => Ok(op),
            Ok(Err(running)) => Err(NotStarted::Running(running)),
            Err(e) => Err(NotStarted::Unavailable(unreachable_actor(e))),
        }
    }
}

struct Inner {
    db: DatabaseConnection,
    dns: Dns,
    settings: FeedSettings,
    scheduler: JobScheduler,
    jobs: DashMap<i32, Uuid>,
    running: DashMap<i32, String>,
    http: reqwest::Client,
}

/// Who asked for an update: progress events go to them.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub user_id: i32,
}

/// Milliseconds per phase of an update. Ours: `fetch`, `parse` (parse,
/// de-duplicate, read the last list), `render` (the zone file; for an
/// incremental update the diff and the update script), `install` (renames
/// and the kept list); BIND's: `check` (named-checkzone) and `reload` (until
/// named serves the new serial; for an incremental update, nsupdate).
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Timings {
    pub fetch: u64,
    pub parse: u64,
    pub render: u64,
    pub check: u64,
    pub install: u64,
    pub reload: u64,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

struct Outcome {
    timings: Timings,
    added: u64,
    removed: u64,
    total: u64,
    invalid: u64,
    duplicates: u64,
    /// `full` (zone rendered and reloaded), `incremental` (DNS updates) or
    /// `unchanged` (not modified, or the same list: nothing installed).
    mode: &'static str,
    serial: i64,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// How a fetched list reaches named.
enum FeedPlan {
    /// The same entries as installed: nothing to do.
    Unchanged,
    /// A small change to an installed dynamic zone: signed DNS UPDATEs.
    Incremental {
        script: String,
        messages: usize,
        entries: Arc<Vec<String>>,
    },
    /// Render, check and install the whole zone.
    Full { entries: Arc<Vec<String>> },
}

enum Fetched {
    NotModified,
    Body {
        text: String,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

impl Feeds {
    fn new(
        db: DatabaseConnection,
        dns: Dns,
        settings: FeedSettings,
        scheduler: JobScheduler,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(settings.timeout))
            .timeout(settings.timeout)
            .user_agent(concat!("hybrid-dns/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                dns,
                settings,
                scheduler,
                jobs: DashMap::new(),
                running: DashMap::new(),
                http,
            }),
        })
    }

    /// (Re)schedules a feed: its job sends `UpdateFeed` to the actor.
    async fn schedule(
        &self,
        f: &threat_feeds::Model,
        actor: actix::Addr<ThreatFeedActor>,
    ) -> Result<(), String> {
        self.unschedule(f.id).await;
        if !f.enabled {
            return Ok(());
        }
        let cron = normalize_schedule(&f.schedule).ok_or("invalid schedule")?;
        let feed_id = f.id;
        let job = Job::new_async(cron.as_str(), move |_, _| {
            actor.do_send(UpdateFeed {
                feed_id,
                user_id: None,
            });
            Box::pin(async {})
        })
        .map_err(|e| e.to_string())?;
        let uuid = self
            .inner
            .scheduler
            .add(job)
            .await
            .map_err(|e| e.to_string())?;
        self.inner.jobs.insert(f.id, uuid);
        Ok(())
    }

    async fn unschedule(&self, feed_id: i32) {
        if let Some((_, uuid)) = self.inner.jobs.remove(&feed_id) {
            if let Err(e) = self.inner.scheduler.remove(&uuid).await {
                tracing::warn!(error = %e, "threat feed job not removed");
            }
        }
    }

    /// Marks a feed as updating; false when an update already runs.
    fn claim(&self, feed_id: i32, op: &str) -> bool {
        match self.inner.running.entry(feed_id) {
            dashmap::Entry::Occupied(_) => false,
            dashmap::Entry::Vacant(v) => {
                v.insert(op.to_string());
                true
            }
        }
    }

    fn running(&self, feed_id: i32) -> Option<String> {
        self.inner.running.get(&feed_id).map(|r| r.clone())
    }

    /// Claims the feed and starts an update on a guarded task. `Err` holds
    /// the operation already running.
    fn run_now(&self, feed_id: i32, user_id: Option<i32>) -> Result<String, String> {
        let op = Uuid::new_v4().to_string();
        if !self.claim(feed_id, &op) {
            return Err(self.running(feed_id).unwrap_or_default());
        }
        let me = self.clone();
        let operation = user_id.map(|user_id| Operation {
            id: op.clone(),
            user_id,
        });
        let bus = self.inner.dns.bus.clone();
        tokio::spawn(async move {
            let work = async move { me.update(feed_id, operation).await };
            crate::supervise::guarded("threat_feeds", &bus, work).await;
        });
        Ok(op)
    }

    fn progress(&self, op: &Option<Operation>, feed_id: i32, stage: &str, percent: u8) {
        let Some(op) = op else { return };
        // `completed` and `failed` make it a bulk_operation_complete.
        self.inner.dns.publish(Event::new(BulkOperation {
            operation_id: op.id.clone(),
            operation: Some("threat_feed_update".into()),
            feed_id: Some(feed_id),
            status: stage.into(),
            total: None,
            processed: None,
            succeeded: None,
            failed: None,
            percent: percent.into(),
            user_id: op.user_id.to_string(),
            timestamp: crate::events::now_iso(),
            errors: None,
            duration_ms: None,
        }));
    }

    /// One update of one feed (claimed by the caller); never panics the job.
    async fn update(&self, feed_id: i32, op: Option<Operation>) {
        // Releases the claim however this ends (a panic included).
        struct Claim<'a>(&'a DashMap<i32, String>, i32);
        impl Drop for Claim<'_> {
            fn drop(&mut self) {
                self.0.remove(&self.1);
            }
        }
        let _claim = Claim(&self.inner.running, feed_id);
        let started = Instant::now();
        let db = &self.inner.db;
        let Ok(Some(feed)) = threat_feeds::Entity::find_by_id(feed_id).one(db).await else {
            return;
        };
        let mut am = feed.clone().into_active_model();
        am.last_run_at = Set(Some(Utc::now()));
        am.last_status = Set(FeedStatus::Running);
        if let Err(e) = am.update(db).await {
            tracing::warn!(error = %e, "threat feed status write failed");
        }
        self.progress(&op, feed_id, "fetching", 5);
        let result = self.try_update(&feed, &op).await;
        let elapsed = ms(started.elapsed());
        match result {
            Ok(o) => self.succeeded(&feed, &op, o, elapsed).await,
            Err(error) => self.failed(&feed, &op, error, elapsed).await,
        }
    }

    /// Records a good update, publishes it, and the policy change if any.
    async fn succeeded(
        &self,
        feed: &threat_feeds::Model,
        op: &Option<Operation>,
        o: Outcome,
        elapsed: u64,
    ) {
        let (db, feed_id) = (&self.inner.db, feed.id);
        let mut am = feed.clone().into_active_model();
        am.updated_at = Set(Utc::now());
        let status = if o.mode == "unchanged" {
            FeedStatus::Unchanged
        } else {
            FeedStatus::Updated
        };
        am.last_status = Set(status);
        am.last_error = Set(None);
        am.last_success_at = Set(Some(Utc::now()));
        am.entry_count = Set(o.total as i64);
        am.invalid_lines = Set(o.invalid as i64);
        am.serial = Set(o.serial);
        if o.etag.is_some() || o.last_modified.is_some() {
            am.etag = Set(o.etag.clone());
            am.last_modified = Set(o.last_modified.clone());
        }
        if let Err(e) = am.update(db).await {
            tracing::warn!(error = %e, "threat feed status write failed");
        }
        let zone = rpz::feed_zone(feed_id);
        self.inner.dns.publish(Event::new(FeedUpdated {
            feed_id,
            feed_name: feed.name.clone(),
            zone: zone.clone(),
            status: status.as_str().into(),
            error: None,
            added: o.added,
            removed: o.removed,
            total: o.total as i64,
            invalid_lines: Some(o.invalid),
            duplicates: Some(o.duplicates),
            duration_ms: elapsed,
            timings_ms: serde_json::to_value(o.timings).ok(),
            mode: Some(o.mode.to_string()),
            timestamp: crate::events::now_iso(),
        }));
        if o.mode != "unchanged" {
            self.inner.dns.publish(Event::new(RpzUpdated {
                zone: zone.clone(),
                source: "feed".into(),
                feed_id: Some(feed_id),
                change: format!("feed {} updated", feed.name),
                added: o.added,
                removed: o.removed,
                total: o.total,
                serial: o.serial,
                user_id: op
                    .as_ref()
                    .map(|o| o.user_id.to_string())
                    .unwrap_or_else(|| "system".into()),
                timestamp: crate::events::now_iso(),
            }));
        }
        tracing::info!(feed = %feed.name, added = o.added, removed = o.removed, total = o.total, invalid = o.invalid, ms = elapsed, timings = ?o.timings, "threat feed updated");
        self.progress(op, feed_id, "completed", 100);
    }

    /// Records a failed update: the last good list stays; an alert says so.
    async fn failed(
        &self,
        feed: &threat_feeds::Model,
        op: &Option<Operation>,
        error: String,
        elapsed: u64,
    ) {
        let (db, feed_id) = (&self.inner.db, feed.id);
        let mut am = feed.clone().into_active_model();
        am.updated_at = Set(Utc::now());
        am.last_status = Set(FeedStatus::Failed);
        am.last_error = Set(Some(error.chars().take(1000).collect()));
        if let Err(e) = am.update(db).await {
            tracing::warn!(error = %e, "threat feed status write failed");
        }
        tracing::warn!(feed = %feed.name, %error, "threat feed update failed; the last good list stays");
        self.inner.dns.publish(Event::new(FeedUpdated {
            feed_id,
            feed_name: feed.name.clone(),
            zone: rpz::feed_zone(feed_id),
            status: "failed".into(),
            error: Some(error.clone()),
            added: 0,
            removed: 0,
            total: feed.entry_count,
            invalid_lines: None,
            duplicates: None,
            duration_ms: elapsed,
            timings_ms: None,
            mode: None,
            timestamp: crate::events::now_iso(),
        }));
        let category = feed.category;
        alerts::raise(
            db,
            &self.inner.dns.bus,
            Alert {
                severity: "high",
                category: category.event_category(),
                message: format!(
                    "threat feed {} failed to update; its last good list ({} entries) stays in force: {error}",
                    feed.name, feed.entry_count
                ),
                source_ip: None,
                domain: None,
                details: json!({"kind": "feed_update_failed", "feed_id": feed_id, "feed_name": feed.name, "error": error}),
            },
        )
        .await;
        self.progress(op, feed_id, "failed", 100);
    }

    /// One update: fetch, plan (what changed and how it reaches named),
    /// apply.
    async fn try_update(
        &self,
        feed: &threat_feeds::Model,
        op: &Option<Operation>,
    ) -> Result<Outcome, String> {
        let zone = rpz::feed_zone(feed.id);
        let installed =
            feed.serial > 0 && self.inner.dns.files.settings.paths.rpz_file(&zone).exists();
        let mut timings = Timings::default();
        let start = Instant::now();
        let fetched = self.fetch(feed, installed).await?;
        timings.fetch = ms(start.elapsed());
        let (text, etag, last_modified) = match fetched {
            Fetched::NotModified => {
                return Ok(Outcome {
                    timings,
                    added: 0,
                    removed: 0,
                    total: feed.entry_count as u64,
                    invalid: feed.invalid_lines as u64,
                    duplicates: 0,
                    mode: "unchanged",
                    serial: feed.serial,
                    etag: None,
                    last_modified: None,
                })
            }
            Fetched::Body {
                text,
                etag,
                last_modified,
            } => (text, etag, last_modified),
        };
        self.progress(op, feed.id, "parsing", 40);
        let (plan, mut outcome) = self.plan(feed, &zone, text, installed).await?;
        outcome.timings.fetch = timings.fetch;
        outcome.etag = etag;
        outcome.last_modified = last_modified;
        self.apply(feed, op, &zone, plan, outcome).await
    }

    /// Parses the new list, diffs it against the installed one and decides
    /// how it reaches named.
    async fn plan(
        &self,
        feed: &threat_feeds::Model,
        zone: &str,
        text: String,
        installed: bool,
    ) -> Result<(FeedPlan, Outcome), String> {
        let settings = &self.inner.dns.files.settings;
        let format = feed.format;
        let list = settings.paths.feed_list(feed.id);
        let start = Instant::now();
        let (parsed, old) = tokio::task::spawn_blocking(move || {
            let parsed = feed::parse(&text, format);
            drop(text);
            let old: Vec<String> = std::fs::read_to_string(&list)
                .map(|s| s.lines().map(str::to_owned).collect())
                .unwrap_or_default();
            (parsed, old)
        })
        .await
        .map_err(|e| e.to_string())?;
        if parsed.entries.is_empty() && parsed.invalid > 0 {
            return Err(format!(
                "no valid entry in the {} format ({} invalid lines, e.g. {:?})",
                feed.format, parsed.invalid, parsed.samples
            ));
        }
        let parse_ms = ms(start.elapsed());
        let (rtype, data) = rpz::zone::rdata(feed.action, feed.redirect_target.as_deref());
        // A small change to an installed dynamic zone goes as DNS updates.
        let start = Instant::now();
        let (added, removed, updates) = {
            let (a, r) = feed::diff(&old, &parsed.entries);
            let small = a.len() + r.len() <= (parsed.entries.len() / 20).max(1000);
            let updates = (small && installed && dynamic::feeds_dynamic(settings))
                .then(|| dynamic::script(settings.dns_port, zone, &r, &a, (rtype, &data)));
            (a.len() as u64, r.len() as u64, updates)
        };
        drop(old);
        let outcome = Outcome {
            timings: Timings {
                parse: parse_ms,
                render: ms(start.elapsed()),
                ..Timings::default()
            },
            added,
            removed,
            total: parsed.entries.len() as u64,
            invalid: parsed.invalid,
            duplicates: parsed.duplicates,
            mode: "full",
            serial: feed.serial,
            etag: None,
            last_modified: None,
        };
        let entries = Arc::new(parsed.entries);
        let plan = match updates {
            _ if installed && added == 0 && removed == 0 => FeedPlan::Unchanged,
            Some((script, messages)) => FeedPlan::Incremental {
                script,
                messages,
                entries,
            },
            None => FeedPlan::Full { entries },
        };
        Ok((plan, outcome))
    }

    /// Puts a plan into named (through `bind::commit`, under the zone's
    /// lock) and keeps the list it installed.
    async fn apply(
        &self,
        feed: &threat_feeds::Model,
        op: &Option<Operation>,
        zone: &str,
        plan: FeedPlan,
        mut outcome: Outcome,
    ) -> Result<Outcome, String> {
        let (updates, entries) = match plan {
            FeedPlan::Unchanged => {
                outcome.mode = "unchanged";
                return Ok(outcome);
            }
            FeedPlan::Incremental {
                script,
                messages,
                entries,
            } => (Some((script, messages)), entries),
            FeedPlan::Full { entries } => (None, entries),
        };
        self.progress(op, feed.id, "rendering", 60);
        let _lock = self.inner.dns.files.lock_zone(zone).await;
        if let Some((script, messages)) = updates {
            let start = Instant::now();
            match self.inner.dns.update_policy_zone(&script).await {
                Ok(()) => {
                    outcome.timings.reload = ms(start.elapsed());
                    let start = Instant::now();
                    self.keep_list(feed.id, entries).await?;
                    outcome.timings.install = ms(start.elapsed());
                    // named bumps the serial once per update message.
                    outcome.serial = feed.serial + messages as i64;
                    outcome.mode = "incremental";
                    return Ok(outcome);
                }
                // Some messages may have landed: a full render puts named
                // back in step with the list.
                Err(e) => {
                    tracing::warn!(feed = %feed.name, error = %e, "dynamic update failed; rendering the whole zone")
                }
            }
        }
        self.install_full(feed, op, zone, entries, outcome).await
    }

    /// Renders and checks the whole zone, installs it and waits for named.
    async fn install_full(
        &self,
        feed: &threat_feeds::Model,
        op: &Option<Operation>,
        zone: &str,
        entries: Arc<Vec<String>>,
        mut outcome: Outcome,
    ) -> Result<Outcome, String> {
        let files = &self.inner.dns.files;
        let serial = files.rpz_serial().max(feed.serial + 1);
        let source = feed
            .url
            .as_deref()
            .map(redact_url)
            .or(feed.file_path.clone())
            .unwrap_or_default();
        let header = json!({
            "zone": zone,
            "feed": feed.name.replace(['\n', '\r'], " "),
            "category": feed.category,
            "source": source.replace(['\n', '\r'], " "),
            "rendered_at": crate::events::now_iso(),
            "entries": outcome.total,
            "serial": serial,
        });
        let (staged, stage) = files
            .stage_feed_zone(
                feed.id,
                header,
                entries.clone(),
                feed.action,
                feed.redirect_target.clone(),
            )
            .await
            .map_err(|e| format!("BIND refused the rendered zone: {e}"))?;
        outcome.timings.render = ms(stage.render);
        outcome.timings.check = ms(stage.check);
        self.progress(op, feed.id, "reloading", 85);
        let installed = self
            .inner
            .dns
            .install_policy_zone(zone, staged, serial)
            .await?;
        let start = Instant::now();
        self.keep_list(feed.id, entries).await?;
        outcome.timings.install = ms(installed.install + start.elapsed());
        outcome.timings.reload = ms(installed.reload);
        outcome.serial = serial;
        Ok(outcome)
    }

    /// Keeps the installed list: what the next update diffs against.
    async fn keep_list(&self, feed_id: i32, entries: Arc<Vec<String>>) -> Result<(), String> {
        let list = self.inner.dns.files.settings.paths.feed_list(feed_id);
        tokio::task::spawn_blocking(move || write_list(&list, &entries))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot keep the list: {e}"))
    }

    async fn fetch(
        &self,
        feed: &threat_feeds::Model,
        conditional: bool,
    ) -> Result<Fetched, String> {
        let max = self.inner.settings.max_bytes;
        if let Some(path) = &feed.file_path {
            let path = check_file(&self.inner.settings.dir, path)?;
            let len = tokio::fs::metadata(&path)
                .await
                .map_err(|e| format!("cannot read the feed file: {e}"))?
                .len();
            if len > max {
                return Err(format!(
                    "the feed file is {len} bytes, more than the limit of {max}"
                ));
            }
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|e| format!("cannot read the feed file: {e}"))?;
            return Ok(Fetched::Body {
                text: into_text(bytes),
                etag: None,
                last_modified: None,
            });
        }
        let url = feed
            .url
            .as_deref()
            .ok_or("the feed has neither url nor file_path")?;
        let mut req = self.inner.http.get(url);
        if conditional {
            if let Some(e) = &feed.etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, e);
            }
            if let Some(m) = &feed.last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, m);
            }
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| format!("fetch failed: {}", e.without_url()))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(format!("the server answered HTTP {status}"));
        }
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(format!("the feed is larger than the limit of {max} bytes"));
        }
        let header = |h: reqwest::header::HeaderName| {
            resp.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("download failed: {}", e.without_url()))?
        {
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err(format!("the feed is larger than the limit of {max} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body {
            text: into_text(body),
            etag,
            last_modified,
        })
    }
}

fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A file feed must resolve (symlinks too) to a file under `dir`, so an
/// admin cannot read arbitrary files through a feed's error samples.
pub fn check_file(dir: &Path, path: &str) -> Result<PathBuf, String> {
    let dir = dir
        .canonicalize()
        .map_err(|_| format!("the feed directory {} does not exist", dir.display()))?;
    let p = Path::new(path)
        .canonicalize()
        .map_err(|_| format!("the feed file {path} does not exist"))?;
    if !p.starts_with(&dir) || !p.is_file() {
        return Err(format!("feed files must be files under {}", dir.display()));
    }
    Ok(p)
}

/// A feed URL as shown: no credentials, no query string.
pub fn redact_url(url: &str) -> String {
    crate::redact::redact_url(url, crate::redact::Redact::Credentials)
}

fn write_list(path: &Path, entries: &[String]) -> std::io::Result<()> {
    use std::io::Write;
    let temp = path.with_extension("list.tmp");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&temp)?);
    for e in entries {
        w.write_all(e.as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_and_urls() {
        assert_eq!(
            normalize_schedule("*/5 * * * *").as_deref(),
            Some("0 */5 * * * *")
        );
        assert_eq!(
            normalize_schedule("*/2 * * * * *").as_deref(),
            Some("*/2 * * * * *")
        );
        assert!(normalize_schedule("every hour").is_none());
        assert!(normalize_schedule("61 * * * *").is_none());
        assert_eq!(
            redact_url("https://user:secret@feeds.example/list.txt?key=abc"),
            "https://feeds.example/list.txt"
        );
    }

    #[test]
    fn file_feeds_stay_in_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("list.txt");
        std::fs::write(&inside, "a.example\n").unwrap();
        assert!(check_file(dir.path(), inside.to_str().unwrap()).is_ok());
        assert!(check_file(dir.path(), "/etc/passwd").is_err());
        let escape = format!("{}/../../etc/passwd", dir.path().display());
        assert!(check_file(dir.path(), &escape).is_err());
    }
}
