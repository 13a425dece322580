//! Live sessions: who they are, what they subscribed to, their outbox. The
//! Dispatcher reads this directly (no message per recipient): an index from
//! event type to its subscribers, so an event visits only the sessions that
//! asked for it. Session actors register on connect and unregister when they
//! stop; every subscription change goes through here to keep the index true.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;
use indexmap::IndexMap;
use tokio::sync::Notify;

use super::outbox::Outbox;
use super::ratelimit::UserLimits;
use crate::events::EventType;

/// Why the server closes a session: a WebSocket close code and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: String,
}

pub struct SessionHandle {
    pub id: u64,
    pub user_id: i32,
    /// The login session (JWT `sid`) the connection was opened with.
    pub session_id: String,
    pub is_admin: AtomicBool,
    pub connected_at: String,
    /// Zones this user may read (unused for admins).
    pub zones: RwLock<HashSet<i32>>,
    /// What the session subscribed to; changed only through the Registry,
    /// which keeps its index in step.
    subscriptions: RwLock<Subscriptions>,
    pub outbox: Mutex<Outbox>,
    /// Wakes the session actor when something is due.
    pub notify: Notify,
    pub close: Mutex<Option<CloseReason>>,
    pub messages_sent: AtomicU64,
    pub messages_received: AtomicU64,
    /// When the session actor last ran (ms on the registry's clock): the
    /// watchdog aborts sockets whose actor stopped running.
    pub ticked_at: AtomicU64,
}

impl SessionHandle {
    pub fn new(
        id: u64,
        user_id: i32,
        session_id: String,
        is_admin: bool,
        zones: HashSet<i32>,
        subscriptions: HashSet<EventType>,
        capacity: usize,
    ) -> Self {
        Self {
            id,
            user_id,
            session_id,
            is_admin: AtomicBool::new(is_admin),
            connected_at: crate::events::now_iso(),
            zones: RwLock::new(zones),
            subscriptions: RwLock::new(Subscriptions {
                types: subscriptions,
                registered: false,
            }),
            outbox: Mutex::new(Outbox::with_seed(capacity, id)),
            notify: Notify::new(),
            close: Mutex::new(None),
            messages_sent: AtomicU64::new(0),
            messages_received: AtomicU64::new(0),
            ticked_at: AtomicU64::new(clock_ms()),
        }
    }

    /// The actor ran just now.
    pub fn tick(&self) {
        self.ticked_at.store(clock_ms(), Ordering::Relaxed);
    }

    /// How long since the actor last ran.
    pub fn idle_for(&self) -> std::time::Duration {
        let ms = clock_ms().saturating_sub(self.ticked_at.load(Ordering::Relaxed));
        std::time::Duration::from_millis(ms)
    }

    pub fn is_admin(&self) -> bool {
        self.is_admin.load(Ordering::Relaxed)
    }

    /// The event types this session receives.
    pub fn subscriptions(&self) -> HashSet<EventType> {
        self.subscriptions
            .read()
            .map(|s| s.types.clone())
            .unwrap_or_default()
    }

    pub fn may_read_zone(&self, zone: i32) -> bool {
        self.zones
            .read()
            .map(|z| z.contains(&zone))
            .unwrap_or(false)
    }

    /// Asks the session actor to close with `reason` (the first reason
    /// wins); true when this was the first.
    pub fn request_close(&self, code: u16, reason: &str) -> bool {
        let mut first = false;
        if let Ok(mut c) = self.close.lock() {
            if c.is_none() {
                *c = Some(CloseReason {
                    code,
                    reason: reason.to_string(),
                });
                first = true;
            }
        }
        self.notify.notify_one();
        first
    }

    pub fn close_requested(&self) -> Option<CloseReason> {
        self.close.lock().ok().and_then(|c| c.clone())
    }
}

struct Subscriptions {
    types: HashSet<EventType>,
    /// In the registry's index: false before `register` and after
    /// `unregister`, so a late change cannot put a closed session back.
    registered: bool,
}

/// Milliseconds on a monotonic clock shared by every session.
fn clock_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

/// A poisoned lock still holds consistent data here (every critical section
/// is a few inserts or removes): keep using it rather than lose deliveries.
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// The registry refused a session: the user has too many open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimit(pub usize);

/// Subscribers of one event type, by session id. An `IndexMap` iterates a
/// contiguous vector (the Dispatcher's hot loop) and removes in O(1).
type Subscribers = RwLock<IndexMap<u64, Arc<SessionHandle>>>;

pub struct Registry {
    sessions: DashMap<u64, Arc<SessionHandle>>,
    /// `by_type[t.index()]`: the sessions subscribed to `t`.
    by_type: [Subscribers; EventType::COUNT],
    /// Rate-limit windows per user, shared by their connections. Kept after
    /// the last connection closes, so reconnecting does not reset them.
    limits: DashMap<i32, Mutex<UserLimits>>,
    per_user: DashMap<i32, usize>,
    next_id: AtomicU64,
    pub max_per_user: usize,
}

impl Registry {
    pub fn new(max_per_user: usize) -> Self {
        Self {
            sessions: DashMap::new(),
            by_type: std::array::from_fn(|_| RwLock::default()),
            limits: DashMap::new(),
            per_user: DashMap::new(),
            next_id: AtomicU64::new(1),
            max_per_user,
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn register(&self, s: Arc<SessionHandle>) -> Result<(), ConnectionLimit> {
        let mut n = self.per_user.entry(s.user_id).or_insert(0);
        if *n >= self.max_per_user {
            return Err(ConnectionLimit(self.max_per_user));
        }
        *n += 1;
        drop(n);
        self.sessions.insert(s.id, s.clone());
        let mut subs = write(&s.subscriptions);
        subs.registered = true;
        for t in &subs.types {
            write(self.subscribers_of(*t)).insert(s.id, s.clone());
        }
        Ok(())
    }

    pub fn unregister(&self, id: u64) {
        if let Some((_, s)) = self.sessions.remove(&id) {
            let mut subs = write(&s.subscriptions);
            subs.registered = false;
            for t in &subs.types {
                write(self.subscribers_of(*t)).swap_remove(&id);
            }
            drop(subs);
            let mut gone = false;
            if let Some(mut n) = self.per_user.get_mut(&s.user_id) {
                *n = n.saturating_sub(1);
                gone = *n == 0;
            }
            if gone {
                self.per_user.remove_if(&s.user_id, |_, n| *n == 0);
            }
        }
    }

    fn subscribers_of(&self, t: EventType) -> &Subscribers {
        &self.by_type[t.index()]
    }

    /// Adds `types` to the session's subscriptions.
    pub fn subscribe(&self, s: &Arc<SessionHandle>, types: &[EventType]) {
        let mut subs = write(&s.subscriptions);
        for t in types {
            if subs.types.insert(*t) && subs.registered {
                write(self.subscribers_of(*t)).insert(s.id, s.clone());
            }
        }
    }

    /// Removes `types` from the session's subscriptions.
    pub fn unsubscribe(&self, s: &SessionHandle, types: &[EventType]) {
        self.retain_subscriptions(s, |t| !types.contains(&t));
    }

    /// Keeps the subscriptions for which `keep` holds (a role change).
    pub fn retain_subscriptions(&self, s: &SessionHandle, keep: impl Fn(EventType) -> bool) {
        let mut subs = write(&s.subscriptions);
        let registered = subs.registered;
        subs.types.retain(|t| {
            let kept = keep(*t);
            if !kept && registered {
                write(self.subscribers_of(*t)).swap_remove(&s.id);
            }
            kept
        });
    }

    /// How many sessions receive `t`.
    pub fn subscriber_count(&self, t: EventType) -> usize {
        read(self.subscribers_of(t)).len()
    }

    /// Visits the sessions subscribed to `t` (the Dispatcher's hot path).
    /// Subscription changes of that type wait until the visit is done.
    pub fn for_each_subscriber(&self, t: EventType, mut f: impl FnMut(&Arc<SessionHandle>)) {
        for s in read(self.subscribers_of(t)).values() {
            f(s);
        }
    }

    /// Runs `f` on the user's rate-limit windows.
    pub fn with_limits<T>(&self, user_id: i32, f: impl FnOnce(&mut UserLimits) -> T) -> T {
        let entry = self.limits.entry(user_id).or_default();
        let mut guard = entry.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn sessions(&self) -> Vec<Arc<SessionHandle>> {
        self.sessions.iter().map(|e| e.value().clone()).collect()
    }

    pub fn of_user(&self, user_id: i32) -> Vec<Arc<SessionHandle>> {
        self.sessions
            .iter()
            .filter(|e| e.value().user_id == user_id)
            .map(|e| e.value().clone())
            .collect()
    }

    /// Closes every session of a user (logout, deactivation, password change).
    pub fn close_user(&self, user_id: i32, code: u16, reason: &str) {
        for s in self.of_user(user_id) {
            s.request_close(code, reason);
        }
    }

    /// Closes the connections opened with one login session (logout).
    pub fn close_session(&self, session_id: &str, code: u16, reason: &str) {
        for e in self.sessions.iter() {
            if e.value().session_id == session_id {
                e.value().request_close(code, reason);
            }
        }
    }

    /// Closes a user's connections except those of `keep` (password change).
    pub fn close_user_except(&self, user_id: i32, keep: &str, code: u16, reason: &str) {
        for s in self.of_user(user_id) {
            if s.session_id != keep {
                s.request_close(code, reason);
            }
        }
    }

    /// Visits every session without collecting them.
    pub fn for_each(&self, mut f: impl FnMut(&Arc<SessionHandle>)) {
        for e in self.sessions.iter() {
            f(e.value());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(r: &Registry, user: i32) -> Arc<SessionHandle> {
        subscribed(r, user, &[])
    }

    #[test]
    fn limits_connections_per_user() {
        let r = Registry::new(2);
        let (a, b, c) = (handle(&r, 1), handle(&r, 1), handle(&r, 1));
        assert!(r.register(a.clone()).is_ok());
        assert!(r.register(b).is_ok());
        assert_eq!(r.register(c), Err(ConnectionLimit(2)));
        assert!(r.register(handle(&r, 2)).is_ok());
        r.unregister(a.id);
        assert!(r.register(handle(&r, 1)).is_ok());
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn event_type_indexes_are_dense_and_in_spec_order() {
        assert_eq!(EventType::COUNT, crate::ws::permissions::ALL.len());
        for (i, t) in crate::ws::permissions::ALL.iter().enumerate() {
            assert_eq!(t.index(), i, "{t:?}");
        }
    }

    fn subscribed(r: &Registry, user: i32, types: &[EventType]) -> Arc<SessionHandle> {
        Arc::new(SessionHandle::new(
            r.next_id(),
            user,
            "sid".into(),
            false,
            HashSet::new(),
            types.iter().copied().collect(),
            8,
        ))
    }

    fn visited(r: &Registry, t: EventType) -> Vec<u64> {
        let mut ids = Vec::new();
        r.for_each_subscriber(t, |s| ids.push(s.id));
        ids.sort();
        ids
    }

    #[test]
    fn the_index_follows_every_subscription_change() {
        use EventType::{HealthUpdate, SecurityAlert, ZoneCreated};
        let r = Registry::new(10);
        let a = subscribed(&r, 1, &[HealthUpdate]);
        let b = subscribed(&r, 2, &[HealthUpdate, ZoneCreated]);
        // Not registered yet: nobody is visited.
        assert!(visited(&r, HealthUpdate).is_empty());
        r.register(a.clone()).unwrap();
        r.register(b.clone()).unwrap();
        assert_eq!(visited(&r, HealthUpdate), vec![a.id, b.id]);
        assert_eq!(visited(&r, ZoneCreated), vec![b.id]);
        assert!(visited(&r, SecurityAlert).is_empty());

        r.subscribe(&a, &[SecurityAlert, HealthUpdate]);
        assert_eq!(visited(&r, SecurityAlert), vec![a.id]);
        assert_eq!(r.subscriber_count(HealthUpdate), 2, "no duplicate entry");
        r.unsubscribe(&b, &[HealthUpdate]);
        assert_eq!(visited(&r, HealthUpdate), vec![a.id]);
        assert_eq!(b.subscriptions(), HashSet::from([ZoneCreated]));
        r.retain_subscriptions(&a, |t| t != SecurityAlert);
        assert!(visited(&r, SecurityAlert).is_empty());
        assert_eq!(a.subscriptions(), HashSet::from([HealthUpdate]));

        r.unregister(a.id);
        assert!(visited(&r, HealthUpdate).is_empty());
        // A change that comes after the session closed does not bring it back.
        r.subscribe(&a, &[ZoneCreated]);
        assert_eq!(visited(&r, ZoneCreated), vec![b.id]);
        r.unregister(b.id);
        assert!(crate::ws::permissions::ALL
            .iter()
            .all(|t| r.subscriber_count(*t) == 0));
    }
}
