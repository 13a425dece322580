//! Query-log parsing and aggregation on one core: our parser + Aggregator
//! against a straightforward regex parser feeding the same counts, on a
//! generated log of realistic BIND 9.18 lines.
//!
//! Run: `cargo bench --bench querylog` (`QUERYLOG_LINES`, default 2,000,000).

use std::collections::HashMap;
use std::time::Instant;

use hdns_actors::querylog::stats::Aggregator;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Lines as named writes them: a mix of types, flags, IPv4/IPv6 clients, some
/// views and ECS, 5,000 distinct names and 500 clients (a skewed mix).
fn generate(n: usize) -> String {
    let types = [
        "A", "A", "A", "AAAA", "AAAA", "MX", "TXT", "PTR", "SRV", "HTTPS", "CNAME", "NS",
    ];
    let flags = ["+E(0)K", "+E(0)DK", "-E(0)TK", "+", "+E(0)DC"];
    let mut s = String::with_capacity(n * 150);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let name_id = (x % 5000) * (x % 7) / 6;
        let name = match name_id % 4 {
            0 => format!("www{name_id}.example.com"),
            1 => format!("api{name_id}.Corp.Example"),
            2 => format!("host-{name_id}.lan"),
            _ => format!("cdn{name_id}.edge.example.net"),
        };
        let client = if x.is_multiple_of(10) {
            format!("2001:db8::{:x}", x % 500)
        } else {
            format!("10.{}.{}.{}", x % 4, (x >> 8) % 250, (x >> 16) % 50)
        };
        let view = if x.is_multiple_of(20) {
            "view internal: "
        } else {
            ""
        };
        let ecs = if x.is_multiple_of(50) {
            " [ECS 10.0.0.0/24/0]"
        } else {
            ""
        };
        s.push_str(&format!(
            "23-Nov-2026 12:{:02}:{:02}.{:03} client @0x7f3a2c01b{:03x} {client}#{} ({name}): {view}query: {name} IN {} {} (10.0.0.53){ecs}\n",
            (i / 60_000) % 60,
            (i / 1000) % 60,
            i % 1000,
            x % 4096,
            1024 + x % 60000,
            types[(x % types.len() as u64) as usize],
            flags[((x >> 3) % flags.len() as u64) as usize],
        ));
    }
    s
}

struct RegexAgg {
    re: regex::Regex,
    total: u64,
    by_type: HashMap<String, u64>,
    domains: HashMap<String, u64>,
    clients: HashMap<String, u64>,
}

impl RegexAgg {
    fn ingest(&mut self, line: &str) {
        let Some(c) = self.re.captures(line) else {
            return;
        };
        self.total += 1;
        *self.by_type.entry(c[4].to_string()).or_default() += 1;
        *self.domains.entry(c[3].to_lowercase()).or_default() += 1;
        *self.clients.entry(c[1].to_string()).or_default() += 1;
    }
}

fn main() {
    let n = env_or("QUERYLOG_LINES", 2_000_000);
    let log = generate(n);
    println!("querylog: {n} lines, {:.1} MB", log.len() as f64 / 1e6);
    let mut ours_best = 0f64;
    let mut base_best = 0f64;
    let re = regex::Regex::new(
        r"client (?:@\S+ )?(\S+)#(\d+) \((\S+)\): (?:view \S+: )?query: \S+ IN (\S+) (\S+) \(([^)]+)\)",
    )
    .unwrap();
    for round in 1..=3 {
        let mut agg = Aggregator::new();
        let t = Instant::now();
        for (i, line) in log.lines().enumerate() {
            // One clock reading per 1,000 lines, as the tailer reads in chunks.
            agg.ingest(line, 1_800_000_000 + (i / 1_000_000) as i64);
        }
        let ours = n as f64 / t.elapsed().as_secs_f64();
        assert_eq!(agg.queries as usize, n, "every line parsed");

        let mut base = RegexAgg {
            re: re.clone(),
            total: 0,
            by_type: HashMap::new(),
            domains: HashMap::new(),
            clients: HashMap::new(),
        };
        let t = Instant::now();
        for line in log.lines() {
            base.ingest(line);
        }
        let baseline = n as f64 / t.elapsed().as_secs_f64();
        assert_eq!(base.total as usize, n);
        assert_eq!(
            base.domains.len(),
            agg.current().domains.len(),
            "same distinct names"
        );
        println!(
            "round {round}: ours {ours:.0} lines/s, regex baseline {baseline:.0} lines/s, ratio {:.1}x",
            ours / baseline
        );
        ours_best = ours_best.max(ours);
        base_best = base_best.max(baseline);
    }
    println!(
        "result: ours {ours_best:.0} lines/s (best of 3), regex {base_best:.0} lines/s, ratio {:.1}x",
        ours_best / base_best
    );
}
