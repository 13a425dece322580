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
pub mod names;
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

/// What a rule does to a matching query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Nxdomain,
    Nodata,
    Passthru,
    Drop,
    Redirect,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Self::Nxdomain,
        Self::Nodata,
        Self::Passthru,
        Self::Drop,
        Self::Redirect,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nxdomain => "nxdomain",
            Self::Nodata => "nodata",
            Self::Passthru => "passthru",
            Self::Drop => "drop",
            Self::Redirect => "redirect",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Why a domain is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Malware,
    Phishing,
    Suspicious,
    PolicyViolation,
    Custom,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Self::Malware,
        Self::Phishing,
        Self::Suspicious,
        Self::PolicyViolation,
        Self::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malware => "malware",
            Self::Phishing => "phishing",
            Self::Suspicious => "suspicious",
            Self::PolicyViolation => "policy_violation",
            Self::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The SecurityEvent severity of a lookup of a domain in this category.
    pub fn severity(self) -> &'static str {
        match self {
            Self::Malware | Self::Phishing => "critical",
            Self::Suspicious => "medium",
            Self::PolicyViolation | Self::Custom => "low",
        }
    }

    /// The spec's SecurityEvent knows four categories; custom rules report
    /// as policy violations.
    pub fn event_category(self) -> &'static str {
        match self {
            Self::Custom => "policy_violation",
            c => c.as_str(),
        }
    }
}
