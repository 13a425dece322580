//! A session's bounded queue. Critical frames go out at once; the others wait
//! for their priority's window and leave together in one `batch` frame. When
//! the queue is full, low events are shed before normal ones (and counted);
//! when only high or critical ones are left, the session has fallen behind
//! for good and must be closed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::events::{EventType, Priority};

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

/// The window of an event: its priority's, except for the live query
/// stream, which is low priority (shed first) yet must look live: its events
/// leave within 250 ms, coalesced with whatever else is pending.
pub fn window_for(t: EventType, p: Priority) -> Duration {
    match t {
        EventType::DnsQuery => Duration::from_millis(250),
        _ => window(p),
    }
}

/// One serialized event envelope, shared by every recipient.
pub type Frame = Arc<str>;

struct Pending {
    priority: Priority,
    frame: Frame,
    /// When the event was published.
    since: Instant,
}

/// Whether the session must run for a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Nothing new is due earlier than before.
    No,
    /// A critical frame: at once.
    Now,
    /// The earliest deadline moved to this moment.
    At(Instant),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued, after shedding an older event of priority `shed` if the
    /// queue was full.
    Queued { wake: Wake, shed: Option<Priority> },
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
    /// This session's share of each window, in [0.5, 1]: sessions that got the
    /// same events flush at different moments instead of all at once, so a
    /// critical frame never queues behind every session's batch.
    spread: f64,
    critical: VecDeque<(Frame, Instant)>,
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
    /// Priority and publish time of every frame taken, for the latency histogram.
    pub stamps: Vec<(Priority, Instant)>,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self::spread(capacity, 1.0)
    }

    /// An outbox whose windows are `0.5..=1` of the full window, chosen from
    /// `seed` (the session id) so neighbours differ.
    pub fn with_seed(capacity: usize, seed: u64) -> Self {
        let h = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        Self::spread(capacity, 0.5 + 0.5 * (h as f64 / (1u64 << 53) as f64))
    }

    fn spread(capacity: usize, spread: f64) -> Self {
        Self {
            capacity: capacity.max(1),
            spread,
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
        self.push_within(priority, window(priority), frame, now, now)
    }

    /// Queues `frame` to leave within `within` (critical: at once).
    pub fn push_within(
        &mut self,
        priority: Priority,
        within: Duration,
        frame: Frame,
        now: Instant,
        since: Instant,
    ) -> Push {
        let mut shed = None;
        if self.len() >= self.capacity {
            let victim = [Priority::Low, Priority::Normal].into_iter().find_map(|p| {
                self.pending
                    .iter()
                    .position(|e| e.priority == p)
                    .map(|i| (p, i))
            });
            let Some((p, i)) = victim else {
                return Push::Overflow;
            };
            self.pending.remove(i);
            match p {
                Priority::Low => self.shed.low += 1,
                _ => self.shed.normal += 1,
            }
            shed = Some(p);
        }
        let wake = if priority == Priority::Critical {
            self.critical.push_back((frame, since));
            Wake::Now
        } else {
            let due = now + within.mul_f64(self.spread);
            self.pending.push_back(Pending {
                priority,
                frame,
                since,
            });
            if self.next_due.is_none_or(|d| due < d) {
                self.next_due = Some(due);
                Wake::At(due)
            } else {
                Wake::No
            }
        };
        Push::Queued { wake, shed }
    }

    /// Takes what is due at `now`: all critical frames, and, once the
    /// earliest deadline has come, every pending frame (later ones ride along).
    pub fn take_due(&mut self, now: Instant) -> Due {
        let mut stamps = Vec::with_capacity(self.critical.len());
        let critical = self
            .critical
            .drain(..)
            .map(|(f, since)| {
                stamps.push((Priority::Critical, since));
                f
            })
            .collect();
        let mut batch = Vec::new();
        if self.next_due.is_some_and(|d| d <= now) {
            batch = self
                .pending
                .drain(..)
                .map(|p| {
                    stamps.push((p.priority, p.since));
                    p.frame
                })
                .collect();
            self.next_due = None;
        }
        Due {
            critical,
            batch,
            next: self.next_due,
            stamps,
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
        let queued = |wake| Push::Queued { wake, shed: None };
        let normal_due = t + window(Priority::Normal);
        assert_eq!(
            o.push(Priority::Normal, f("n1"), t),
            queued(Wake::At(normal_due))
        );
        assert_eq!(o.push(Priority::Normal, f("n2"), t), queued(Wake::No));
        assert_eq!(o.push(Priority::Critical, f("c"), t), queued(Wake::Now));
        let d = o.take_due(t);
        assert_eq!(d.critical, vec![f("c")]);
        assert!(d.batch.is_empty());
        assert_eq!(d.next, Some(normal_due));
        // A high event pulls the deadline forward; all pending leave together.
        assert_eq!(
            o.push(Priority::High, f("h"), t),
            queued(Wake::At(t + window(Priority::High)))
        );
        let d = o.take_due(t + window(Priority::High));
        assert_eq!(d.batch, vec![f("n1"), f("n2"), f("h")]);
        assert!(o.is_empty());
    }

    #[test]
    fn seeded_windows_stay_inside_the_full_window_and_differ() {
        let t = Instant::now();
        let dues: Vec<Instant> = (1..50u64)
            .map(|id| {
                let mut o = Outbox::with_seed(4, id);
                o.push(Priority::Normal, f("n"), t);
                o.take_due(t).next.unwrap()
            })
            .collect();
        let w = window(Priority::Normal);
        assert!(dues.iter().all(|d| *d >= t + w / 2 && *d <= t + w));
        let mut distinct = dues.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 40, "flush moments are spread");
    }

    #[test]
    fn sheds_low_before_normal_and_overflows_on_high() {
        let mut o = Outbox::new(3);
        let t = Instant::now();
        o.push(Priority::Normal, f("n"), t);
        o.push(Priority::Low, f("l"), t);
        o.push(Priority::High, f("h1"), t);
        let h = t + window(Priority::High);
        assert_eq!(
            o.push(Priority::High, f("h2"), t),
            Push::Queued {
                wake: Wake::No,
                shed: Some(Priority::Low)
            }
        );
        // A critical frame that had to shed still wakes the session.
        assert_eq!(
            o.push(Priority::Critical, f("c1"), t),
            Push::Queued {
                wake: Wake::Now,
                shed: Some(Priority::Normal)
            }
        );
        assert_eq!(o.push(Priority::Critical, f("c2"), t), Push::Overflow);
        assert_eq!(o.take_due(h).critical, vec![f("c1")]);
        assert_eq!((o.shed.low, o.shed.normal), (1, 1));
    }
}
