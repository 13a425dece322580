//! The Dispatcher: reads every published event once, visits the sessions
//! subscribed to its type (the registry's index) that may see it, serializes
//! it once per audience (admins, users) and queues the shared frame in each
//! session's outbox. It never waits on a session: a full outbox sheds or
//! closes that session only. It runs on threads of its own, so neither the
//! actors on the main thread nor the sessions' writes delay a fan-out: one
//! for critical events alone, one for the rest.
//!
//! It also keeps the batching deadlines of every session in one heap and
//! wakes each session when its batch is due: a session runs only to write,
//! never just to arm a timer, so a burst of events does not turn into a
//! burst of wake-ups on the workers just ahead of a critical frame.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::latency::Histogram;
use super::outbox::{window_for, Frame, Push, Wake};
use super::permissions;
use super::registry::{Registry, SessionHandle};
use crate::bus::EventBus;
use crate::events::{Event, EventType, Payload, PermissionChange, PermissionChanged, Priority};

/// Close code for a session whose outbox overflowed with events it must not lose.
pub const CLOSE_TOO_SLOW: u16 = 4008;

/// A thread of the Dispatcher and the events it delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Critical,
    /// Everything else: queued for the sessions' batches.
    Batched,
}

impl Lane {
    fn takes(self, e: &Event) -> bool {
        (e.priority == Priority::Critical) == (self == Lane::Critical)
    }
}

/// How long the Dispatcher sleeps when no batch is due (an event wakes it).
const IDLE: Duration = Duration::from_secs(3600);

#[derive(Default, Debug, Serialize)]
pub struct DispatchStats {
    pub events: AtomicU64,
    pub deliveries: AtomicU64,
    /// Events a Dispatcher lane missed because it fell behind the bus (they
    /// may have been the other lane's).
    pub lagged: AtomicU64,
    pub shed: AtomicU64,
    /// Events a session could not take: its queue held only events that may
    /// not be shed, so it is being closed (4008) instead.
    pub overflowed: AtomicU64,
    /// Sessions closed that way.
    pub closed_too_slow: AtomicU64,
    /// Sessions whose peer stopped reading so long that the actor could not
    /// run (not even to close): their sockets were reset by the watchdog.
    pub aborted_stalled: AtomicU64,
    /// Publish -> frame written, per priority (low, normal, high, critical).
    #[serde(serialize_with = "by_priority")]
    pub latency: [Histogram; 4],
    /// Publish -> the Dispatcher starts its fan-out, per priority: the part
    /// of `latency` spent before any session is involved.
    #[serde(serialize_with = "by_priority")]
    pub pickup: [Histogram; 4],
}

fn by_priority<S: serde::Serializer>(h: &[Histogram; 4], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(4))?;
    for (name, h) in ["low", "normal", "high", "critical"].iter().zip(h) {
        m.serialize_entry(name, h)?;
    }
    m.end()
}

impl DispatchStats {
    pub fn latency_of(&self, p: Priority) -> &Histogram {
        &self.latency[p as usize]
    }
}

pub struct Dispatcher {
    pub registry: Arc<Registry>,
    pub stats: DispatchStats,
    /// Sessions to wake when their earliest batch is due.
    deadlines: Mutex<BinaryHeap<Deadline>>,
}

/// A session's batch falls due at `at`. Ordered by `at` alone.
struct Deadline {
    at: Reverse<Instant>,
    session: Arc<SessionHandle>,
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Deadline {}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    event_type: EventType,
    data: &'a Value,
    timestamp: &'a str,
    priority: Priority,
}

/// The `{type:"event", ...}` envelope of an event, as JSON.
pub fn envelope(event: &Event, data: &Value) -> Frame {
    let env = Envelope {
        kind: "event",
        event_type: event.event_type,
        data,
        timestamp: &event.timestamp,
        priority: event.priority,
    };
    Arc::from(serde_json::to_string(&env).unwrap_or_default())
}

impl Dispatcher {
    /// A grant changed: live sessions of that user see the zone from now on
    /// (or no longer), before the event itself is delivered.
    fn apply_grant_change(&self, event: &Event) {
        let Payload::Permission(PermissionChanged {
            user_id,
            change: PermissionChange::Grant { zone_id, level, .. },
            ..
        }) = &event.payload
        else {
            return;
        };
        let (Ok(user), Ok(zone)) = (user_id.parse::<i32>(), zone_id.parse::<i32>()) else {
            return;
        };
        let granted = level.is_some();
        for s in self.registry.of_user(user) {
            if let Ok(mut zones) = s.zones.write() {
                if granted {
                    zones.insert(zone);
                } else {
                    zones.remove(&zone);
                }
            }
        }
    }

    pub fn new(registry: Arc<Registry>) -> Arc<Self> {
        Arc::new(Self {
            registry,
            stats: DispatchStats::default(),
            deadlines: Mutex::default(),
        })
    }

    /// Starts the Dispatcher's two lanes, a thread each; they run until the
    /// bus closes. Both read every event and take their own: the critical
    /// lane does nothing else, so a critical event never waits for the fan-out
    /// of a normal one to finish.
    pub fn spawn(self: &Arc<Self>, bus: &EventBus) -> std::io::Result<()> {
        for (lane, name) in [
            (Lane::Critical, "hdns-critical"),
            (Lane::Batched, "hdns-dispatcher"),
        ] {
            let rx = bus.subscribe();
            let me = self.clone();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?;
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || rt.block_on(me.run(lane, rx)))?;
        }
        Ok(())
    }

    async fn run(&self, lane: Lane, mut rx: tokio::sync::broadcast::Receiver<Arc<Event>>) {
        loop {
            // The batched lane also wakes sessions whose batch is due.
            let due = match lane {
                Lane::Batched => self.next_deadline(),
                Lane::Critical => None,
            };
            let due = due.unwrap_or_else(|| Instant::now() + IDLE);
            tokio::select! {
                biased;
                r = rx.recv() => match r {
                    Ok(e) if lane.takes(&e) => self.dispatch(&e),
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => self.lagged(lane, n),
                    Err(RecvError::Closed) => break,
                },
                _ = tokio::time::sleep_until(due.into()) => {}
            }
            if lane == Lane::Batched {
                self.wake_due(Instant::now());
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let heap = self.deadlines.lock().unwrap_or_else(|e| e.into_inner());
        heap.peek().map(|d| d.at.0)
    }

    /// Wakes every session whose batch is due by `now`.
    fn wake_due(&self, now: Instant) {
        let mut heap = self.deadlines.lock().unwrap_or_else(|e| e.into_inner());
        while heap.peek().is_some_and(|d| d.at.0 <= now) {
            if let Some(d) = heap.pop() {
                d.session.notify.notify_one();
            }
        }
    }

    fn lagged(&self, lane: Lane, n: u64) {
        self.stats.lagged.fetch_add(n, Ordering::Relaxed);
        tracing::warn!(missed = n, ?lane, "dispatcher fell behind the event bus");
    }

    pub fn dispatch(&self, event: &Event) {
        let now = Instant::now();
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        self.stats.pickup[event.priority as usize]
            .record(now.saturating_duration_since(event.published));
        if event.event_type == EventType::PermissionChanged {
            self.apply_grant_change(event);
        }
        let within = window_for(event.event_type, event.priority);
        let mut admin_frame: Option<Frame> = None;
        let mut user_frame: Option<Frame> = None;
        let mut delivered = 0u64;
        let mut due = Vec::new();
        self.registry.for_each_subscriber(event.event_type, |s| {
            let admin = s.is_admin();
            if !permissions::visible(event, admin, s.user_id, |z| s.may_read_zone(z)) {
                return;
            }
            let frame = if admin {
                admin_frame
                    .get_or_insert_with(|| envelope(event, &event.data))
                    .clone()
            } else {
                user_frame
                    .get_or_insert_with(|| match &event.user_data {
                        Some(v) => envelope(event, v),
                        None => admin_frame
                            .get_or_insert_with(|| envelope(event, &event.data))
                            .clone(),
                    })
                    .clone()
            };
            let pushed = match s.outbox.lock() {
                Ok(mut o) => o.push_within(event.priority, within, frame, now, event.published),
                Err(_) => return,
            };
            match pushed {
                Push::Queued { wake, shed } => {
                    delivered += 1;
                    if shed.is_some() {
                        self.stats.shed.fetch_add(1, Ordering::Relaxed);
                    }
                    match wake {
                        Wake::Now => s.notify.notify_one(),
                        Wake::At(at) => due.push(Deadline {
                            at: Reverse(at),
                            session: s.clone(),
                        }),
                        Wake::No => {}
                    }
                }
                Push::Overflow => {
                    self.stats.overflowed.fetch_add(1, Ordering::Relaxed);
                    if s.request_close(CLOSE_TOO_SLOW, "too slow: the event queue overflowed") {
                        self.stats.closed_too_slow.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        if !due.is_empty() {
            let mut heap = self.deadlines.lock().unwrap_or_else(|e| e.into_inner());
            heap.extend(due);
        }
        self.stats
            .deliveries
            .fetch_add(delivered, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn session(r: &Registry, admin: bool, types: &[EventType]) -> Arc<SessionHandle> {
        let s = Arc::new(SessionHandle::new(
            r.next_id(),
            1,
            "sid".into(),
            admin,
            HashSet::new(),
            types.iter().copied().collect(),
            16,
        ));
        r.register(s.clone()).unwrap();
        s
    }

    /// Whether the session is woken within `ms`.
    async fn woken(s: &SessionHandle, ms: u64) -> bool {
        tokio::time::timeout(Duration::from_millis(ms), s.notify.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn batches_wake_their_session_when_due_and_critical_at_once() {
        let registry = Arc::new(Registry::new(10));
        let d = Dispatcher::new(registry.clone());
        let admin = session(
            &registry,
            true,
            &[EventType::HealthUpdate, EventType::SecurityAlert],
        );
        let other = session(&registry, true, &[EventType::ZoneCreated]);
        let t = Instant::now();
        d.dispatch(&Event::raw(
            EventType::HealthUpdate,
            serde_json::json!({"n": 1}),
        ));
        // Queued for the session's batch, nobody woken yet: the deadline is
        // the Dispatcher's, within the normal window.
        assert!(!woken(&admin, 20).await);
        let due = d.next_deadline().expect("a deadline");
        assert!(
            due > t
                && due
                    <= t + window_for(EventType::HealthUpdate, Priority::Normal)
                        + Duration::from_millis(50)
        );
        d.wake_due(due - Duration::from_millis(1));
        assert!(!woken(&admin, 5).await, "not before its deadline");
        d.wake_due(due);
        assert!(woken(&admin, 5).await);
        assert!(d.next_deadline().is_none());
        let batch = admin.outbox.lock().unwrap().take_due(due).batch;
        assert_eq!(batch.len(), 1);
        assert!(batch[0].contains("\"event_type\":\"health_update\""));

        d.dispatch(&Event::raw(
            EventType::SecurityAlert,
            serde_json::json!({"n": 2}),
        ));
        assert!(woken(&admin, 5).await, "critical wakes at once");
        let critical = admin
            .outbox
            .lock()
            .unwrap()
            .take_due(Instant::now())
            .critical;
        assert!(critical[0].contains("\"priority\":\"critical\""));
        assert!(!woken(&other, 5).await, "only subscribers are visited");
        assert_eq!(d.stats.deliveries.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn the_lanes_deliver_from_the_bus() {
        let registry = Arc::new(Registry::new(10));
        let d = Dispatcher::new(registry.clone());
        let bus = EventBus::new(None);
        d.spawn(&bus).unwrap();
        let s = session(
            &registry,
            true,
            &[EventType::HealthUpdate, EventType::SecurityAlert],
        );
        bus.publish(Event::raw(EventType::HealthUpdate, serde_json::json!({})));
        bus.publish(Event::raw(EventType::SecurityAlert, serde_json::json!({})));
        // The critical one first, at once; the batch once its window is over.
        assert!(woken(&s, 500).await);
        let first = s.outbox.lock().unwrap().take_due(Instant::now());
        assert_eq!((first.critical.len(), first.batch.len()), (1, 0));
        assert!(
            woken(&s, 2_000).await,
            "the batched lane wakes the session when due"
        );
        let due = s.outbox.lock().unwrap().take_due(Instant::now());
        assert_eq!(due.batch.len(), 1);
        assert_eq!(d.stats.events.load(Ordering::Relaxed), 2);
    }
}
