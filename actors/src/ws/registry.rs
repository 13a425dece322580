//! Live sessions: who they are, what they subscribed to, their outbox. The
//! Dispatcher reads this directly (no message per recipient); session actors
//! register on connect and unregister when they stop.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;
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
    pub subscriptions: RwLock<HashSet<EventType>>,
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
            subscriptions: RwLock::new(subscriptions),
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

    pub fn subscribed(&self, t: EventType) -> bool {
        self.subscriptions
            .read()
            .map(|s| s.contains(&t))
            .unwrap_or(false)
    }

    pub fn may_read_zone(&self, zone: i32) -> bool {
        self.zones
            .read()
            .map(|z| z.contains(&zone))
            .unwrap_or(false)
    }

    /// Asks the session actor to close with `reason` (the first reason wins).
    pub fn request_close(&self, code: u16, reason: &str) {
        if let Ok(mut c) = self.close.lock() {
            c.get_or_insert(CloseReason {
                code,
                reason: reason.to_string(),
            });
        }
        self.notify.notify_one();
    }

    pub fn close_requested(&self) -> Option<CloseReason> {
        self.close.lock().ok().and_then(|c| c.clone())
    }
}

/// Milliseconds on a monotonic clock shared by every session.
fn clock_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

/// The registry refused a session: the user has too many open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimit(pub usize);

pub struct Registry {
    sessions: DashMap<u64, Arc<SessionHandle>>,
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
        self.sessions.insert(s.id, s);
        Ok(())
    }

    pub fn unregister(&self, id: u64) {
        if let Some((_, s)) = self.sessions.remove(&id) {
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

    /// Visits sessions without collecting them (the Dispatcher's hot path).
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
        Arc::new(SessionHandle::new(
            r.next_id(),
            user,
            "sid".into(),
            false,
            HashSet::new(),
            HashSet::new(),
            8,
        ))
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
}
