//! The Dispatcher: reads every published event once, finds the sessions that
//! subscribed to its type and may see it, serializes it once per audience
//! (admins, users) and queues the shared frame in each session's outbox. It
//! never waits on a session: a full outbox sheds or closes that session only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::latency::Histogram;
use super::outbox::{window_for, Frame, Push};
use super::permissions;
use super::registry::Registry;
use crate::bus::EventBus;
use crate::events::{Event, EventType, Priority};

/// Close code for a session whose outbox overflowed with events it must not lose.
pub const CLOSE_TOO_SLOW: u16 = 4008;

/// Keys removed from event data before users (not admins) see it.
const ADMIN_ONLY_FIELDS: [&str; 5] = ["ip", "ip_address", "source_ip", "client_ip", "user_agent"];

#[derive(Default, Debug, Serialize)]
pub struct DispatchStats {
    pub events: AtomicU64,
    pub deliveries: AtomicU64,
    /// Events the Dispatcher missed because it fell behind the bus.
    pub lagged: AtomicU64,
    pub shed: AtomicU64,
    pub closed_too_slow: AtomicU64,
    /// Sessions whose peer stopped reading so long that the actor could not
    /// run (not even to close): their sockets were reset by the watchdog.
    pub aborted_stalled: AtomicU64,
    /// Publish -> frame written, per priority (low, normal, high, critical).
    #[serde(serialize_with = "by_priority")]
    pub latency: [Histogram; 4],
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

fn user_view(data: &Value) -> Option<Value> {
    let obj = data.as_object()?;
    if !ADMIN_ONLY_FIELDS.iter().any(|k| obj.contains_key(*k)) {
        return None;
    }
    let mut o = obj.clone();
    for k in ADMIN_ONLY_FIELDS {
        o.remove(k);
    }
    Some(Value::Object(o))
}

impl Dispatcher {
    /// A grant changed: live sessions of that user see the zone from now on
    /// (or no longer), before the event itself is delivered.
    fn apply_grant_change(&self, event: &Event) {
        let (Some(user), Some(zone)) = (
            event.user_id,
            event
                .data
                .get("zone_id")
                .and_then(|z| z.as_str())
                .and_then(|z| z.parse::<i32>().ok()),
        ) else {
            return;
        };
        let granted = event.data.get("level").is_some_and(|l| !l.is_null());
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
        })
    }

    /// Runs until the bus closes.
    pub fn spawn(self: &Arc<Self>, bus: &EventBus) -> tokio::task::JoinHandle<()> {
        let mut rx = bus.subscribe();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(e) => me.dispatch(&e),
                    Err(RecvError::Lagged(n)) => {
                        me.stats.lagged.fetch_add(n, Ordering::Relaxed);
                        tracing::warn!(missed = n, "dispatcher fell behind the event bus");
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    pub fn dispatch(&self, event: &Event) {
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        if event.event_type == EventType::PermissionChanged {
            self.apply_grant_change(event);
        }
        let now = Instant::now();
        let within = window_for(event.event_type, event.priority);
        let mut admin_frame: Option<Frame> = None;
        let mut user_frame: Option<Frame> = None;
        let mut delivered = 0u64;
        self.registry.for_each(|s| {
            if !s.subscribed(event.event_type) {
                return;
            }
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
                    .get_or_insert_with(|| match user_view(&event.data) {
                        Some(v) => envelope(event, &v),
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
                Push::Queued { wake } => {
                    delivered += 1;
                    if wake {
                        s.notify.notify_one();
                    }
                }
                Push::Shed(_) => {
                    delivered += 1;
                    self.stats.shed.fetch_add(1, Ordering::Relaxed);
                }
                Push::Overflow => {
                    self.stats.closed_too_slow.fetch_add(1, Ordering::Relaxed);
                    s.request_close(CLOSE_TOO_SLOW, "too slow: the event queue overflowed");
                }
            }
        });
        self.stats
            .deliveries
            .fetch_add(delivered, Ordering::Relaxed);
    }
}
