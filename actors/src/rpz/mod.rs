//! Response-policy zones: domain normalisation, threat-feed parsing and
//! diffing, zone rendering and parsing of named's `rpz` log (pure code), and
//! the runtime around them: the ThreatFeedActor (`feed_actor`), threat
//! detection from named's `rpz` log (`detect`), security alerts (`alerts`),
//! started together by `security::start`.

pub mod alerts;
pub mod detect;
pub mod feed;
pub mod feed_actor;
pub mod log;
/// Policy names live with every other name (`crate::names`).
pub use crate::names;
pub mod security;
pub mod zone;

/// Every policy zone lives under this suffix, which user zones may not use.
pub const RPZ_SUFFIX: &str = "rpz.hdns";
/// The zone of manual rules; listed first in `response-policy` so its
/// passthru rules (whitelist) win over every feed.
pub const MANUAL_ZONE: &str = "manual.rpz.hdns";

/// The zone of a threat feed.
pub fn feed_zone(feed_id: i32) -> String {
    format!("feed-{feed_id}.{RPZ_SUFFIX}")
}

pub use hdns_entities::enums::{RpzAction as Action, RpzCategory as Category};
