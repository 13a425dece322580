//! Server-side delivery latency: from the moment an event is published until
//! its session writes the frame to the socket, per priority. Lock-free
//! buckets, four per doubling from 64 µs, so a percentile is known to within
//! 19 % (the bucket's upper bound is reported).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

const BUCKETS: usize = 89;

fn bound_us(i: usize) -> f64 {
    64.0 * 2f64.powf(i as f64 / 4.0)
}

fn index(us: f64) -> usize {
    if us <= 64.0 {
        0
    } else {
        (((us / 64.0).log2() * 4.0).ceil() as usize).min(BUCKETS)
    }
}

pub struct Histogram {
    /// `counts[i]`: samples in (bound(i-1), bound(i)]; the last one is overflow.
    counts: [AtomicU64; BUCKETS + 1],
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub mean_ms: f64,
    /// Upper bounds of the buckets holding the 50th and 99th percentile.
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Histogram {
    pub fn record(&self, d: Duration) {
        let us = d.as_secs_f64() * 1e6;
        self.counts[index(us)].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us as u64, Ordering::Relaxed);
    }

    fn counts(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    pub fn summary(&self) -> Summary {
        let counts = self.counts();
        let total: u64 = counts.iter().sum();
        let pct = |p: f64| {
            if total == 0 {
                return 0.0;
            }
            let rank = ((total as f64) * p).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return (bound_us(i.min(BUCKETS - 1)) / 10.0).round() / 100.0;
                }
            }
            f64::INFINITY
        };
        Summary {
            count: total,
            mean_ms: if total == 0 {
                0.0
            } else {
                self.sum_us.load(Ordering::Relaxed) as f64 / total as f64 / 1000.0
            },
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
        }
    }

    /// Cumulative counts at power-of-two bounds (seconds), for a Prometheus
    /// histogram, then the total and the sum in seconds.
    pub fn cumulative(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let counts = self.counts();
        let mut out = Vec::new();
        let mut seen = 0;
        for (i, c) in counts.iter().take(BUCKETS).enumerate() {
            seen += c;
            if i % 4 == 0 {
                out.push((bound_us(i) / 1e6, seen));
            }
        }
        let total = counts.iter().sum();
        (out, total, self.sum_us.load(Ordering::Relaxed) as f64 / 1e6)
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.summary().fmt(f)
    }
}

impl Serialize for Histogram {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.summary().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_within_a_bucket() {
        let h = Histogram::default();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 100);
        assert!((50.0..=50.0 * 1.19 + 0.01).contains(&s.p50_ms), "{s:?}");
        assert!((99.0..=99.0 * 1.19 + 0.01).contains(&s.p99_ms), "{s:?}");
        assert!((s.mean_ms - 50.5).abs() < 0.1, "{s:?}");
        let (buckets, total, sum) = h.cumulative();
        assert_eq!(total, 100);
        assert!((sum - 5.05).abs() < 0.01);
        assert!(buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(buckets.last().unwrap().1, 100);
        assert_eq!(Histogram::default().summary().p99_ms, 0.0);
    }
}
