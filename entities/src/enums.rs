//! The domain's closed sets of values, as Rust enums stored as the strings
//! the tables always held (no data migration): zone types, roles, grant
//! levels, record types, forward policies, policy-zone actions and
//! categories, feed formats and statuses, health levels.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A string-backed enum: stored and serialized as the given strings, with
/// `ALL`, `as_str`, `parse` (exact) and `Display`.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, DeriveActiveEnum,
            Serialize, Deserialize,
        )]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $($(#[$vmeta])* #[sea_orm(string_value = $s)] #[serde(rename = $s)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($s => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What kind of zone named serves.
    ZoneType {
        /// Authoritative, from our records.
        Master = "master",
        /// Transferred from its primaries.
        Slave = "slave",
        /// Queries forwarded to its servers.
        Forward = "forward",
    }
);

string_enum!(
    /// A user's role: admins may do everything, users what their grants allow.
    Role {
        Admin = "admin",
        User = "user",
    }
);

string_enum!(
    /// A user's level on a zone; write includes read.
    GrantLevel {
        Read = "read",
        Write = "write",
    }
);

string_enum!(
    /// named's `forward` option.
    ForwardPolicy {
        First = "first",
        Only = "only",
    }
);

string_enum!(
    /// The record types hybrid-dns manages.
    RecordType {
        A = "A",
        AAAA = "AAAA",
        CNAME = "CNAME",
        MX = "MX",
        TXT = "TXT",
        SRV = "SRV",
        PTR = "PTR",
        NS = "NS",
        CAA = "CAA",
    }
);

impl RecordType {
    /// As a client may write it: any case, surrounding blanks.
    pub fn parse_ignore_case(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

string_enum!(
    /// What a response-policy rule does to a matching query.
    RpzAction {
        Nxdomain = "nxdomain",
        Nodata = "nodata",
        Passthru = "passthru",
        Drop = "drop",
        Redirect = "redirect",
    }
);

string_enum!(
    /// Why a domain is listed.
    RpzCategory {
        Malware = "malware",
        Phishing = "phishing",
        Suspicious = "suspicious",
        PolicyViolation = "policy_violation",
        Custom = "custom",
    }
);

impl RpzCategory {
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
            other => other.as_str(),
        }
    }
}

string_enum!(
    /// How a threat feed lists its domains.
    FeedFormat {
        /// One domain per line.
        Domains = "domains",
        /// `/etc/hosts` lines (`0.0.0.0 example.com`).
        Hosts = "hosts",
        /// Adblock Plus rules (`||example.com^`).
        Adblock = "adblock",
        /// An RPZ zone file.
        Rpz = "rpz",
    }
);

string_enum!(
    /// How a threat feed's last update went.
    FeedStatus {
        Never = "never",
        Running = "running",
        Updated = "updated",
        Unchanged = "unchanged",
        Failed = "failed",
    }
);

string_enum!(
    /// A health check's verdict.
    HealthLevel {
        Healthy = "healthy",
        Warning = "warning",
        Critical = "critical",
        Unknown = "unknown",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_strings_are_unchanged() {
        assert_eq!(ZoneType::Master.to_value(), "master");
        assert_eq!(RpzCategory::PolicyViolation.as_str(), "policy_violation");
        assert_eq!(serde_json::to_value(Role::Admin).unwrap(), "admin");
        assert_eq!(
            serde_json::from_value::<RecordType>(serde_json::json!("AAAA")).unwrap(),
            RecordType::AAAA
        );
        assert_eq!(
            RecordType::parse_ignore_case(" aaaa "),
            Some(RecordType::AAAA)
        );
        assert_eq!(FeedStatus::parse("updated"), Some(FeedStatus::Updated));
        assert_eq!(HealthLevel::parse("bogus"), None);
        assert!(GrantLevel::Write > GrantLevel::Read);
    }
}
