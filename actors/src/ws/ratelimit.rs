//! Per-user limits on client messages, shared by all of a user's
//! connections: a sliding window of the last hits, so `retry_after` is exact.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);
/// Client messages per minute per user.
pub const MESSAGES: usize = 100;
/// Subscribe and unsubscribe messages per minute per user.
pub const SUBSCRIPTION_CHANGES: usize = 10;
/// `get_stats` and `get_subscriptions` per minute for non-admins.
pub const ADMIN_COMMANDS: usize = 5;

#[derive(Debug)]
pub struct Window {
    limit: usize,
    hits: VecDeque<Instant>,
}

/// A refused hit: the limit and the seconds until a place frees up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: usize,
    pub retry_after: u64,
}

impl Window {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            hits: VecDeque::with_capacity(limit),
        }
    }

    pub fn hit(&mut self, now: Instant) -> Result<(), Exceeded> {
        while self
            .hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.hits.pop_front();
        }
        if self.hits.len() >= self.limit {
            let oldest = self.hits.front().copied().unwrap_or(now);
            let wait = WINDOW.saturating_sub(now.duration_since(oldest));
            return Err(Exceeded {
                limit: self.limit,
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        self.hits.push_back(now);
        Ok(())
    }
}

/// The three windows of one user.
#[derive(Debug)]
pub struct UserLimits {
    pub messages: Window,
    pub subscriptions: Window,
    pub admin_commands: Window,
}

impl Default for UserLimits {
    fn default() -> Self {
        Self {
            messages: Window::new(MESSAGES),
            subscriptions: Window::new(SUBSCRIPTION_CHANGES),
            admin_commands: Window::new(ADMIN_COMMANDS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_refuses_then_frees() {
        let mut w = Window::new(2);
        let t = Instant::now();
        assert!(w.hit(t).is_ok());
        assert!(w.hit(t + Duration::from_secs(10)).is_ok());
        let e = w.hit(t + Duration::from_secs(20)).unwrap_err();
        assert_eq!((e.limit, e.retry_after), (2, 40));
        assert!(w.hit(t + Duration::from_secs(60)).is_ok());
    }
}
