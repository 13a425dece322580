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

/// The windows a client message can count against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Messages,
    SubscriptionChanges,
    AdminCommands,
}

impl Limit {
    pub fn max(self) -> usize {
        match self {
            Self::Messages => MESSAGES,
            Self::SubscriptionChanges => SUBSCRIPTION_CHANGES,
            Self::AdminCommands => ADMIN_COMMANDS,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::SubscriptionChanges => "subscription_changes",
            Self::AdminCommands => "admin_commands",
        }
    }
}

/// What a message of `kind` counts against. A pong only answers the
/// server's ping: it is not the client talking, and counts against nothing.
pub fn limits_for(kind: &str, admin: bool) -> Vec<Limit> {
    match kind {
        "pong" => vec![],
        "subscribe" | "unsubscribe" => vec![Limit::Messages, Limit::SubscriptionChanges],
        "get_stats" | "get_subscriptions" if !admin => vec![Limit::Messages, Limit::AdminCommands],
        _ => vec![Limit::Messages],
    }
}

/// The three windows of one user.
#[derive(Debug)]
pub struct UserLimits {
    pub messages: Window,
    pub subscriptions: Window,
    pub admin_commands: Window,
}

impl UserLimits {
    fn window(&mut self, l: Limit) -> &mut Window {
        match l {
            Limit::Messages => &mut self.messages,
            Limit::SubscriptionChanges => &mut self.subscriptions,
            Limit::AdminCommands => &mut self.admin_commands,
        }
    }

    /// Counts one hit in each window of `limits` in turn, up to the first
    /// that is full: a subscribe refused for too many subscription changes
    /// is still a message received.
    pub fn hit(&mut self, limits: &[Limit], now: Instant) -> Result<(), Exceeded> {
        for l in limits {
            self.window(*l).hit(now)?;
        }
        Ok(())
    }
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

    #[test]
    fn a_message_refused_by_a_later_window_still_counts_as_a_message() {
        let mut u = UserLimits::default();
        let t = Instant::now();
        let subs = limits_for("subscribe", false);
        for _ in 0..SUBSCRIPTION_CHANGES {
            assert!(u.hit(&subs, t).is_ok());
        }
        let e = u.hit(&subs, t).unwrap_err();
        assert_eq!(e.limit, SUBSCRIPTION_CHANGES);
        assert_eq!(u.messages.hits.len(), SUBSCRIPTION_CHANGES + 1);
        assert_eq!(u.subscriptions.hits.len(), SUBSCRIPTION_CHANGES);
        assert!(limits_for("pong", false).is_empty());
        assert_eq!(limits_for("get_stats", true), [Limit::Messages]);
        assert_eq!(
            limits_for("get_stats", false),
            [Limit::Messages, Limit::AdminCommands]
        );
    }
}
