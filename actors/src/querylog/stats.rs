//! Aggregates over parsed queries: per-second counts for the rates, and per
//! minute the total, counts per type, top domains and top clients. A minute's
//! maps are capped so a flood of random names cannot exhaust memory.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::parse::{self, Query};

/// Distinct domains or clients kept per minute; the rest count as `other`.
pub const MAX_KEYS: usize = 50_000;
/// Distinct query types kept per minute; the rest count as `OTHER` (clients
/// choose the type, and may send thousands of unknown ones).
pub const MAX_TYPES: usize = 64;
/// How many entries a stored minute keeps of each top list.
pub const TOP_N: usize = 20;

/// Counts per key.
pub type Map = HashMap<Box<str>, u64, ahash::RandomState>;

/// Counts `key`; past `MAX_KEYS` distinct keys, counts it in `other`.
pub fn bump(map: &mut Map, key: &str, other: &mut u64) {
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else if map.len() < MAX_KEYS {
        map.insert(key.into(), 1);
    } else {
        *other += 1;
    }
}

/// Domains are counted lowercased; most already are, so only mixed-case
/// names pay for a copy.
fn bump_name(map: &mut Map, name: &str, other: &mut u64, buf: &mut String) {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        buf.clear();
        buf.push_str(name);
        buf.make_ascii_lowercase();
        bump(map, buf, other);
    } else {
        bump(map, name, other);
    }
}

/// One minute of queries.
#[derive(Debug, Default, Clone)]
pub struct Minute {
    /// Unix time of the minute's first second.
    pub start: i64,
    pub total: u64,
    pub recursive: u64,
    pub tcp: u64,
    pub by_type: Map,
    pub domains: Map,
    pub clients: Map,
    /// Queries whose domain or client did not fit in the maps.
    pub other_domains: u64,
    pub other_clients: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub key: String,
    pub count: u64,
}

/// The biggest `n` entries, largest first (ties by key, so output is stable).
pub fn top(map: &Map, n: usize) -> Vec<Count> {
    top_of(map.iter().map(|(k, c)| (&**k, *c)), n)
}

/// The biggest `n` of any `(key, count)` list, largest first.
pub fn top_of<'a>(entries: impl Iterator<Item = (&'a str, u64)>, n: usize) -> Vec<Count> {
    let mut v: Vec<(&str, u64)> = entries.collect();
    let by = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
    if v.len() > n {
        v.select_nth_unstable_by(n, by);
        v.truncate(n);
    }
    v.sort_by(by);
    v.into_iter()
        .map(|(k, count)| Count {
            key: k.to_string(),
            count,
        })
        .collect()
}

impl Minute {
    fn new(start: i64) -> Self {
        Self {
            start,
            ..Self::default()
        }
    }

    fn add(&mut self, q: &Query<'_>, buf: &mut String) {
        self.total += 1;
        self.recursive += u64::from(parse::recursion_desired(q.flags));
        self.tcp += u64::from(parse::over_tcp(q.flags));
        let mut spare = 0;
        if self.by_type.len() < MAX_TYPES || self.by_type.contains_key(q.qtype) {
            bump(&mut self.by_type, q.qtype, &mut spare);
        } else {
            bump(&mut self.by_type, "OTHER", &mut spare);
        }
        bump_name(&mut self.domains, q.name, &mut self.other_domains, buf);
        bump(&mut self.clients, q.client_ip, &mut self.other_clients);
    }
}

/// Per-second counts of the last minute, the minute being filled and the
/// one before it (so live top lists do not empty at each minute boundary).
pub struct Aggregator {
    seconds: [(i64, u64); 64],
    current: Minute,
    previous: Option<Minute>,
    buf: String,
    pub lines: u64,
    pub queries: u64,
    /// Lines that were neither queries nor blank.
    pub unparsed: u64,
}

impl Default for Aggregator {
    fn default() -> Self {
        Self::new()
    }
}

impl Aggregator {
    pub fn new() -> Self {
        Self {
            seconds: [(i64::MIN, 0); 64],
            current: Minute::new(0),
            previous: None,
            buf: String::new(),
            lines: 0,
            queries: 0,
            unparsed: 0,
        }
    }

    /// Counts `line` at unix second `now`. Returns the query, and the minute
    /// that just ended when `now` starts a new one.
    pub fn ingest<'a>(&mut self, line: &'a str, now: i64) -> (Option<Query<'a>>, Option<Minute>) {
        self.lines += 1;
        let ended = self.roll(now);
        let Some(q) = parse::parse(line) else {
            if !line.trim().is_empty() {
                self.unparsed += 1;
            }
            return (None, ended);
        };
        self.queries += 1;
        let slot = &mut self.seconds[(now as usize) & 63];
        if slot.0 != now {
            *slot = (now, 0);
        }
        slot.1 += 1;
        self.current.add(&q, &mut self.buf);
        (Some(q), ended)
    }

    /// Starts a new minute when `now` is past the current one; returns the
    /// finished minute if it saw any query.
    pub fn roll(&mut self, now: i64) -> Option<Minute> {
        let start = now - now.rem_euclid(60);
        if start == self.current.start {
            return None;
        }
        let done = std::mem::replace(&mut self.current, Minute::new(start));
        self.previous = (done.start == start - 60 && done.total > 0).then(|| done.clone());
        (done.total > 0).then_some(done)
    }

    /// Queries per second over the last full second and averaged over the last 60.
    pub fn rates(&self, now: i64) -> (f64, f64) {
        let at = |s: i64| {
            let slot = self.seconds[(s as usize) & 63];
            if slot.0 == s {
                slot.1
            } else {
                0
            }
        };
        let last = at(now - 1);
        let minute: u64 = (1..=60).map(|d| at(now - d)).sum();
        (last as f64, minute as f64 / 60.0)
    }

    pub fn current(&self) -> &Minute {
        &self.current
    }

    /// The current minute together with the one before it: what a
    /// dashboard's lists cover (60 to 120 seconds, so they do not empty at a
    /// minute boundary). Borrows the maps; only the `n` winners are copied.
    pub fn window(&self, n: usize) -> Window {
        let cur = &self.current;
        let prev = self.previous.as_ref().filter(|p| p.start == cur.start - 60);
        let both = |pick: fn(&Minute) -> &Map| {
            let (c, p) = (pick(cur), prev.map(pick));
            let seen = c
                .iter()
                .map(move |(k, n)| (&**k, n + p.and_then(|p| p.get(k)).copied().unwrap_or(0)));
            let only_before = p
                .into_iter()
                .flatten()
                .filter(|(k, _)| !c.contains_key(*k))
                .map(|(k, n)| (&**k, *n));
            seen.chain(only_before)
        };
        let mut by_type = BTreeMap::new();
        for (k, v) in both(|m| &m.by_type) {
            by_type.insert(k.to_string(), v);
        }
        Window {
            start: prev.map_or(cur.start, |p| p.start),
            total: cur.total + prev.map_or(0, |p| p.total),
            recursive: cur.recursive + prev.map_or(0, |p| p.recursive),
            top_domains: top_of(both(|m| &m.domains), n),
            top_clients: top_of(both(|m| &m.clients), n),
            by_type,
        }
    }
}

/// See [`Aggregator::window`].
#[derive(Debug, Default)]
pub struct Window {
    pub start: i64,
    pub total: u64,
    pub recursive: u64,
    pub top_domains: Vec<Count>,
    pub top_clients: Vec<Count>,
    pub by_type: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(client: &str, name: &str, t: &str) -> String {
        format!("23-Nov-2026 12:00:00.123 client @0x1 {client}#5300 ({name}): query: {name} IN {t} +E(0)K (127.0.0.1)")
    }

    #[test]
    fn counts_rates_and_top_lists() {
        let mut a = Aggregator::new();
        let t0: i64 = 1_800_000_000; // a minute boundary
        for i in 0..30 {
            let name = if i % 3 == 0 { "B.example" } else { "a.example" };
            a.ingest(&line("10.0.0.1", name, "A"), t0 + 1);
        }
        a.ingest(&line("10.0.0.2", "a.example", "AAAA"), t0 + 2);
        a.ingest("garbage", t0 + 2);
        a.ingest("", t0 + 2);
        assert_eq!((a.lines, a.queries, a.unparsed), (33, 31, 1));
        assert_eq!(a.rates(t0 + 2), (30.0, 30.0 / 60.0));
        assert_eq!(a.rates(t0 + 3).0, 1.0);
        let m = a.current();
        assert_eq!(
            top(&m.domains, 1),
            vec![Count {
                key: "a.example".into(),
                count: 21
            }]
        );
        assert_eq!(
            m.domains.get("b.example"),
            Some(&10),
            "names count lowercased"
        );
        assert_eq!(
            top(&m.clients, 5)[1],
            Count {
                key: "10.0.0.2".into(),
                count: 1
            }
        );
        assert_eq!(m.by_type.get("AAAA"), Some(&1));
        // The next minute hands back the finished one.
        let (_, done) = a.ingest(&line("10.0.0.3", "c.example", "MX"), t0 + 61);
        let done = done.expect("a finished minute");
        assert_eq!((done.start, done.total, done.recursive), (t0, 31, 31));
        assert_eq!(a.current().total, 1);
        // The window spans both minutes; two minutes on, only the current one.
        a.ingest(&line("10.0.0.3", "a.example", "A"), t0 + 62);
        let w = a.window(2);
        assert_eq!((w.start, w.total), (t0, 33));
        let counts: Vec<_> = w.top_domains.iter().map(|c| (&*c.key, c.count)).collect();
        assert_eq!(counts, [("a.example", 22), ("b.example", 10)]);
        assert_eq!(w.top_clients[0].key, "10.0.0.1");
        assert_eq!(
            (w.by_type.get("MX"), w.by_type.get("A")),
            (Some(&1), Some(&31))
        );
        a.ingest(&line("10.0.0.3", "d.example", "A"), t0 + 180);
        let w = a.window(5);
        assert_eq!((w.start, w.total), (t0 + 180, 1));
        assert_eq!(w.top_domains.len(), 1);
    }

    #[test]
    fn a_flood_of_types_is_capped() {
        let mut a = Aggregator::new();
        for i in 0..200 {
            a.ingest(&line("10.0.0.1", "a.example", &format!("TYPE{i}")), 60);
        }
        let m = a.current();
        assert_eq!(m.by_type.len(), MAX_TYPES + 1);
        assert_eq!(m.by_type.get("OTHER"), Some(&(200 - MAX_TYPES as u64)));
    }

    #[test]
    fn a_flood_of_names_is_capped() {
        let mut a = Aggregator::new();
        for i in 0..(MAX_KEYS + 10) {
            a.ingest(&line("10.0.0.1", &format!("r{i}.example"), "A"), 60);
        }
        assert_eq!(a.current().domains.len(), MAX_KEYS);
        assert_eq!(a.current().other_domains, 10);
    }
}
