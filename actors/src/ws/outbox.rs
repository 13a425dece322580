//! A session's bounded queue. Critical frames go out at once; the others wait
//! for their priority's window and leave together in one `batch` frame. When
//! the queue is full, low events are shed before normal ones (and counted);
//! when only high or critical ones are left, the session has fallen behind
//! for good and must be closed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::events::Priority;

/// How long an event may wait to be coalesced, per priority. Each is well
/// inside the spec's bound (high < 1 s, normal < 5 s, low < 30 s).
pub fn window(p: Priority) -> Duration {
    match p {
        Priority::Critical => Duration::ZERO,
        Priority::High => Duration::from_millis(100),
        Priority::Normal => Duration::from_secs(1),
        Priority::Low => Duration::from_secs(5),
    }
}

/// One serialized event envelope, shared by every recipient.
pub type Frame = Arc<str>;

struct Pending {
    priority: Priority,
    frame: Frame,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued; the session should be woken if `wake`.
    Queued { wake: bool },
    /// Queued after shedding an older event of this priority.
    Shed(Priority),
    /// Nothing left to shed: the session cannot keep up.
    Overflow,
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct ShedCounts {
    pub low: u64,
    pub normal: u64,
}

pub struct Outbox {
    capacity: usize,
    critical: VecDeque<Frame>,
    pending: VecDeque<Pending>,
    /// Earliest deadline among `pending`.
    next_due: Option<Instant>,
    pub shed: ShedCounts,
}

/// What a session should write now.
pub struct Due {
    pub critical: Vec<Frame>,
    /// Frames to send as one batch (or alone, when there is one).
    pub batch: Vec<Frame>,
    /// When to look again for the rest.
    pub next: Option<Instant>,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            critical: VecDeque::new(),
            pending: VecDeque::new(),
            next_due: None,
            shed: ShedCounts::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.critical.len() + self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, priority: Priority, frame: Frame, now: Instant) -> Push {
        let mut result = None;
        if self.len() >= self.capacity {
            let victim = [Priority::Low, Priority::Normal].into_iter().find_map(|p| {
                self.pending
                    .iter()
                    .position(|e| e.priority == p)
                    .map(|i| (p, i))
            });
            match victim {
                Some((p, i)) => {
                    self.pending.remove(i);
                    match p {
                        Priority::Low => self.shed.low += 1,
                        _ => self.shed.normal += 1,
                    }
                    result = Some(Push::Shed(p));
                }
                None => return Push::Overflow,
            }
        }
        let wake = if priority == Priority::Critical {
            self.critical.push_back(frame);
            true
        } else {
            let due = now + window(priority);
            let earlier = self.next_due.is_none_or(|d| due < d);
            if earlier {
                self.next_due = Some(due);
            }
            self.pending.push_back(Pending { priority, frame });
            earlier
        };
        result.unwrap_or(Push::Queued { wake })
    }

    /// Takes what is due at `now`: all critical frames, and, once the
    /// earliest deadline has come, every pending frame (later ones ride along).
    pub fn take_due(&mut self, now: Instant) -> Due {
        let critical = self.critical.drain(..).collect();
        let mut batch = Vec::new();
        if self.next_due.is_some_and(|d| d <= now) {
            batch = self.pending.drain(..).map(|p| p.frame).collect();
            self.next_due = None;
        }
        Due {
            critical,
            batch,
            next: self.next_due,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Frame {
        Arc::from(s)
    }

    #[test]
    fn critical_goes_first_and_batches_wait_for_their_window() {
        let mut o = Outbox::new(10);
        let t = Instant::now();
        assert_eq!(
            o.push(Priority::Normal, f("n1"), t),
            Push::Queued { wake: true }
        );
        assert_eq!(
            o.push(Priority::Normal, f("n2"), t),
            Push::Queued { wake: false }
        );
        assert_eq!(
            o.push(Priority::Critical, f("c"), t),
            Push::Queued { wake: true }
        );
        let d = o.take_due(t);
        assert_eq!(d.critical, vec![f("c")]);
        assert!(d.batch.is_empty());
        assert_eq!(d.next, Some(t + window(Priority::Normal)));
        // A high event pulls the deadline forward; all pending leave together.
        assert_eq!(
            o.push(Priority::High, f("h"), t),
            Push::Queued { wake: true }
        );
        let d = o.take_due(t + window(Priority::High));
        assert_eq!(d.batch, vec![f("n1"), f("n2"), f("h")]);
        assert!(o.is_empty());
    }

    #[test]
    fn sheds_low_before_normal_and_overflows_on_high() {
        let mut o = Outbox::new(3);
        let t = Instant::now();
        o.push(Priority::Normal, f("n"), t);
        o.push(Priority::Low, f("l"), t);
        o.push(Priority::High, f("h1"), t);
        assert_eq!(
            o.push(Priority::High, f("h2"), t),
            Push::Shed(Priority::Low)
        );
        assert_eq!(
            o.push(Priority::High, f("h3"), t),
            Push::Shed(Priority::Normal)
        );
        assert_eq!(o.push(Priority::Critical, f("c"), t), Push::Overflow);
        assert_eq!((o.shed.low, o.shed.normal), (1, 1));
    }
}
