//! The cluster bridge. With `redis_url` set, several instances share one
//! PostgreSQL database and one Redis: every locally published event goes out
//! on a Redis channel and every remote one comes into the local Dispatcher
//! (not into the event log: its origin logged it), so a user sees every event
//! whichever instance holds their socket. Control messages (close a login
//! session's or a user's sockets, a role change) travel the same way, and
//! per-user connection counts and message rate windows live in Redis so the
//! limits hold across instances. Each instance keeps a heartbeat key; the counts of an instance
//! whose heartbeat expired (it crashed) stop counting.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast::error::RecvError, mpsc};

use crate::bus::EventBus;
use crate::events::{Event, EventType, Priority};
use crate::ws::ratelimit::{self, Exceeded, Limit};

/// How long an instance counts as alive after its last heartbeat.
const HEARTBEAT_TTL_SECS: u64 = 30;
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// Wait before reconnecting after Redis went away.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Something every instance must do to its own sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Control {
    /// Close the connections of one login session (logout).
    CloseSession {
        session_id: String,
        code: u16,
        reason: String,
    },
    /// Close a user's connections, except those of `keep` (password change).
    CloseUser {
        user_id: i32,
        code: u16,
        reason: String,
        keep: Option<String>,
    },
    /// The user's role changed: re-filter their live subscriptions.
    Role { user_id: i32, is_admin: bool },
}

/// Whether other instances' sessions get events of this type. A
/// `system_metrics` sample describes the machine that took it: each
/// instance's dashboards chart their own machine, not two interleaved.
pub fn crosses_instances(t: EventType) -> bool {
    t != EventType::SystemMetrics
}

/// An event as it crosses instances: the fields the Dispatcher needs.
#[derive(Serialize, Deserialize)]
struct WireEvent {
    event_type: EventType,
    priority: Priority,
    data: Value,
    timestamp: String,
    zone_id: Option<i32>,
    user_id: Option<i32>,
}

#[derive(Serialize, Deserialize)]
struct Wire<T> {
    origin: String,
    body: T,
}

#[derive(Default, Debug, Serialize)]
pub struct ClusterStats {
    pub connected: AtomicBool,
    pub events_out: AtomicU64,
    pub events_in: AtomicU64,
    pub control_out: AtomicU64,
    pub control_in: AtomicU64,
    /// Local events the bridge missed because it fell behind the bus.
    pub lagged: AtomicU64,
    /// Failed Redis commands and lost connections.
    pub errors: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct ClusterError(#[from] redis::RedisError);

pub struct Cluster {
    client: redis::Client,
    conn: redis::aio::ConnectionManager,
    /// This process, for the lifetime of the process.
    pub instance: String,
    prefix: String,
    /// Makes each rate-limit hit a distinct member of its window.
    hits: AtomicU64,
    pub stats: ClusterStats,
}

/// Counts a connection if the user's live total (on instances whose
/// heartbeat is alive) is under the limit; forgets dead instances' counts.
const ACQUIRE: &str = r#"
local counts = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #counts, 2 do
  if redis.call('EXISTS', ARGV[3] .. counts[i]) == 1 then
    total = total + tonumber(counts[i + 1])
  else
    redis.call('HDEL', KEYS[1], counts[i])
  end
end
if total >= tonumber(ARGV[2]) then return -1 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return total + 1
"#;

/// Sliding one-minute windows shared by every instance (sorted sets of hit
/// times, Redis's clock), counted in turn up to the first full one, as the
/// local windows are. Returns {0, 0}, or {index of the full window, seconds
/// to wait}.
const HIT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local win = tonumber(ARGV[1])
for i, k in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now - win)
  if redis.call('ZCARD', k) >= tonumber(ARGV[2 + i]) then
    local oldest = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    local wait = math.ceil((tonumber(oldest[2]) + win - now) / 1000)
    if wait < 1 then wait = 1 end
    return {i, wait}
  end
  redis.call('ZADD', k, now, ARGV[2])
  redis.call('PEXPIRE', k, win)
end
return {0, 0}
"#;

const RELEASE: &str = r#"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n
"#;

impl Cluster {
    /// Connects to Redis and starts the heartbeat. `prefix` namespaces keys
    /// and channels (one Redis may serve several clusters).
    pub async fn connect(url: &str, prefix: &str) -> Result<Arc<Self>, ClusterError> {
        let client = redis::Client::open(url)?;
        // Short timeouts and few retries: a command waits at most a few
        // seconds, and a server configured with an unreachable Redis fails
        // at start instead of retrying for minutes.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(2)
            .set_max_delay(1_000);
        let conn = redis::aio::ConnectionManager::new_with_config(client.clone(), config).await?;
        let me = Arc::new(Self {
            client,
            conn,
            instance: uuid::Uuid::new_v4().simple().to_string(),
            prefix: prefix.to_string(),
            hits: AtomicU64::new(0),
            stats: ClusterStats::default(),
        });
        me.beat().await?;
        me.stats.connected.store(true, Ordering::Relaxed);
        let hb = me.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT_EVERY).await;
                if let Err(e) = hb.beat().await {
                    hb.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "cluster heartbeat failed");
                }
            }
        });
        Ok(me)
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    fn heartbeat_prefix(&self) -> String {
        self.key("instance:")
    }

    async fn beat(&self) -> Result<(), ClusterError> {
        let mut c = self.conn.clone();
        redis::cmd("SET")
            .arg(format!("{}{}", self.heartbeat_prefix(), self.instance))
            .arg(1)
            .arg("EX")
            .arg(HEARTBEAT_TTL_SECS)
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    /// Forwards local events to the other instances and feeds theirs into
    /// `bus` (delivery only); control messages from others go to `control`.
    pub fn spawn(self: &Arc<Self>, bus: &EventBus, control: mpsc::UnboundedSender<Control>) {
        let mut rx = bus.subscribe();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let event = match rx.recv().await {
                    Ok(e) => e,
                    Err(RecvError::Lagged(n)) => {
                        me.stats.lagged.fetch_add(n, Ordering::Relaxed);
                        continue;
                    }
                    Err(RecvError::Closed) => break,
                };
                if event.remote || !crosses_instances(event.event_type) {
                    continue;
                }
                let wire = WireEvent {
                    event_type: event.event_type,
                    priority: event.priority,
                    data: event.data.clone(),
                    timestamp: event.timestamp.clone(),
                    zone_id: event.zone_id,
                    user_id: event.user_id,
                };
                if me.send(&me.key("events"), wire).await {
                    me.stats.events_out.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let me = self.clone();
        let bus = bus.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.listen(&bus, &control).await {
                    me.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "cluster subscription lost; reconnecting");
                }
                me.stats.connected.store(false, Ordering::Relaxed);
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        });
    }

    async fn send<T: Serialize>(&self, channel: &str, body: T) -> bool {
        let wire = Wire {
            origin: self.instance.clone(),
            body,
        };
        let Ok(payload) = serde_json::to_string(&wire) else {
            return false;
        };
        let mut c = self.conn.clone();
        match redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<()>(&mut c)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "cluster publish failed");
                false
            }
        }
    }

    async fn listen(
        &self,
        bus: &EventBus,
        control: &mpsc::UnboundedSender<Control>,
    ) -> Result<(), ClusterError> {
        let (events, controls) = (self.key("events"), self.key("control"));
        let mut ps = self.client.get_async_pubsub().await?;
        ps.subscribe(&events).await?;
        ps.subscribe(&controls).await?;
        self.stats.connected.store(true, Ordering::Relaxed);
        let mut stream = ps.on_message();
        while let Some(msg) = stream.next().await {
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            if msg.get_channel_name() == events {
                let Ok(w) = serde_json::from_str::<Wire<WireEvent>>(&payload) else {
                    continue;
                };
                if w.origin == self.instance {
                    continue;
                }
                let b = w.body;
                let mut e = Event::decode(b.event_type, b.data);
                e.priority = b.priority;
                e.timestamp = b.timestamp;
                e.zone_id = b.zone_id;
                e.user_id = b.user_id;
                e.remote = true;
                bus.deliver(e);
                self.stats.events_in.fetch_add(1, Ordering::Relaxed);
            } else if let Ok(w) = serde_json::from_str::<Wire<Control>>(&payload) {
                if w.origin != self.instance {
                    self.stats.control_in.fetch_add(1, Ordering::Relaxed);
                    let _ = control.send(w.body);
                }
            }
        }
        Ok(())
    }

    /// Tells the other instances; the caller has done it locally already.
    pub async fn broadcast(&self, c: Control) {
        if self.send(&self.key("control"), c).await {
            self.stats.control_out.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn conns_key(&self, user_id: i32) -> String {
        self.key(&format!("ws:conns:{user_id}"))
    }

    /// Counts one more connection of `user_id` if the cluster-wide total is
    /// under `limit`. `Ok(false)`: the limit is reached.
    pub async fn acquire(&self, user_id: i32, limit: usize) -> Result<bool, ClusterError> {
        let mut c = self.conn.clone();
        let n: i64 = redis::Script::new(ACQUIRE)
            .key(self.conns_key(user_id))
            .arg(&self.instance)
            .arg(limit)
            .arg(self.heartbeat_prefix())
            .invoke_async(&mut c)
            .await?;
        Ok(n >= 0)
    }

    /// Counts a client message against the user's windows on every
    /// instance. `Ok(Err(_))`: a window is full.
    pub async fn hit(
        &self,
        user_id: i32,
        limits: &[Limit],
    ) -> Result<Result<(), Exceeded>, ClusterError> {
        let member = format!(
            "{}-{}",
            self.instance,
            self.hits.fetch_add(1, Ordering::Relaxed)
        );
        let hit = redis::Script::new(HIT);
        let mut script = hit.prepare_invoke();
        for l in limits {
            script.key(self.key(&format!("ws:rate:{user_id}:{}", l.name())));
        }
        script.arg(ratelimit::WINDOW.as_millis() as u64).arg(member);
        for l in limits {
            script.arg(l.max());
        }
        let mut c = self.conn.clone();
        let (full, wait): (usize, u64) = script.invoke_async(&mut c).await?;
        Ok(match full.checked_sub(1).and_then(|i| limits.get(i)) {
            None => Ok(()),
            Some(l) => Err(Exceeded {
                limit: l.max(),
                retry_after: wait,
            }),
        })
    }

    pub async fn release(&self, user_id: i32) {
        let mut c = self.conn.clone();
        let r: Result<i64, _> = redis::Script::new(RELEASE)
            .key(self.conns_key(user_id))
            .arg(&self.instance)
            .invoke_async(&mut c)
            .await;
        if let Err(e) = r {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "cluster connection release failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_samples_stay_on_their_instance() {
        assert!(!crosses_instances(EventType::SystemMetrics));
        assert!(crosses_instances(EventType::RecordCreated));
        assert!(crosses_instances(EventType::SecurityAlert));
    }

    #[test]
    fn control_messages_have_a_stable_wire_form() {
        let c = Control::CloseSession {
            session_id: "s1".into(),
            code: 4003,
            reason: "logout".into(),
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"op": "close_session", "session_id": "s1", "code": 4003, "reason": "logout"})
        );
        assert_eq!(serde_json::from_value::<Control>(json).unwrap(), c);
    }
}
