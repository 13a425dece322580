//! named's own counters from its statistics channel (JSON): queries,
//! NXDOMAIN answers and RPZ rewrites, for the NXDOMAIN and blocked ratios.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counters {
    /// Requests over IPv4 and IPv6 since named started.
    pub queries: u64,
    pub nxdomain: u64,
    /// Answers rewritten by a response-policy zone (blocked).
    pub rpz_rewrites: u64,
}

/// Ratios over the last minute (0 when there were no queries).
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ratios {
    pub nxdomain_ratio: f64,
    pub blocked_ratio: f64,
    /// named's counters at the last sample.
    pub totals: Counters,
}

fn count(ns: &Value, key: &str) -> u64 {
    ns.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The counters, or `None` when the channel does not answer (BIND disabled,
/// external named without a statistics channel).
pub async fn fetch(http: &reqwest::Client, port: u16) -> Option<Counters> {
    let v: Value = http
        .get(format!("http://127.0.0.1:{port}/json/v1/server"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let ns = v.get("nsstats")?;
    Some(Counters {
        queries: count(ns, "Requestv4") + count(ns, "Requestv6"),
        nxdomain: count(ns, "QryNXDOMAIN"),
        rpz_rewrites: count(ns, "RPZRewrites"),
    })
}

/// Ratios between two samples (a restart of named resets the counters:
/// then the new totals count from zero).
pub fn ratios(before: Counters, now: Counters) -> Ratios {
    let d = |a: u64, b: u64| if b >= a { b - a } else { b };
    let q = d(before.queries, now.queries);
    let r = |n: u64| {
        if q == 0 {
            0.0
        } else {
            (n as f64 / q as f64 * 10_000.0).round() / 10_000.0
        }
    };
    Ratios {
        nxdomain_ratio: r(d(before.nxdomain, now.nxdomain)),
        blocked_ratio: r(d(before.rpz_rewrites, now.rpz_rewrites)),
        totals: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_over_an_interval_and_across_a_restart() {
        let a = Counters {
            queries: 100,
            nxdomain: 10,
            rpz_rewrites: 0,
        };
        let b = Counters {
            queries: 200,
            nxdomain: 35,
            rpz_rewrites: 5,
        };
        let r = ratios(a, b);
        assert_eq!((r.nxdomain_ratio, r.blocked_ratio), (0.25, 0.05));
        let restarted = Counters {
            queries: 4,
            nxdomain: 1,
            rpz_rewrites: 0,
        };
        assert_eq!(ratios(b, restarted).nxdomain_ratio, 0.25);
        assert_eq!(ratios(b, b).nxdomain_ratio, 0.0);
    }
}
