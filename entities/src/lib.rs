//! sea-orm entities: one module per table. Nothing here knows about HTTP.

pub mod audit_log;
pub mod blocked_stats;
pub mod dns_records;
pub mod enums;
pub mod event_log;
pub mod forwarders;
pub mod health_checks;
pub mod query_stats;
pub mod refresh_tokens;
pub mod rpz_rules;
pub mod security_alerts;
pub mod sessions;
pub mod threat_feeds;
pub mod users;
pub mod zone_permissions;
pub mod zones;
