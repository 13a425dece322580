//! One payload struct per event type (the spec's shapes). Each says which
//! event type it is, whom it concerns (zone, user) and, field by field, what
//! a non-admin may see: a field added to a struct stays admin-only until it
//! is listed in its `user_fields!`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Change, EventType, Priority};

/// What a change did to a zone or record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeAction {
    Created,
    Updated,
    Deleted,
}

/// Whom an event concerns: DNS events the zone's readers, user events that user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope {
    pub zone_id: Option<i32>,
    pub user_id: Option<i32>,
}

impl Scope {
    fn zone(id: &str) -> Self {
        Self {
            zone_id: id.parse().ok(),
            user_id: None,
        }
    }

    fn user(id: &str) -> Self {
        Self {
            zone_id: None,
            user_id: id.parse().ok(),
        }
    }
}

/// A payload of an event.
pub trait EventPayload: Serialize {
    /// The fields a non-admin sees (`user_fields!`).
    const USER_FIELDS: &'static [&'static str];

    fn event_type(&self) -> EventType;

    fn priority(&self) -> Priority {
        self.event_type().default_priority()
    }

    fn scope(&self) -> Scope {
        Scope::default()
    }
}

/// `ZoneEvent` of the spec: zone_created / zone_updated / zone_deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZoneEvent {
    pub zone_id: String,
    pub zone_name: String,
    pub zone_type: hdns_entities::enums::ZoneType,
    pub action: ChangeAction,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub changes: Option<Vec<Change>>,
    pub user_id: String,
    pub timestamp: String,
}

check_fields!(ZoneEvent: zone_id, zone_name, zone_type, action, changes, user_id, timestamp);
impl EventPayload for ZoneEvent {
    user_fields!(zone_id, zone_name, zone_type, action, changes, user_id, timestamp);

    fn event_type(&self) -> EventType {
        match self.action {
            ChangeAction::Created => EventType::ZoneCreated,
            ChangeAction::Updated => EventType::ZoneUpdated,
            ChangeAction::Deleted => EventType::ZoneDeleted,
        }
    }

    fn scope(&self) -> Scope {
        Scope::zone(&self.zone_id)
    }
}

/// `RecordEvent` of the spec: record_created / record_updated / record_deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordEvent {
    pub record_id: String,
    pub zone_id: String,
    pub zone_name: String,
    pub record_name: String,
    pub record_type: hdns_entities::enums::RecordType,
    pub record_value: String,
    pub action: ChangeAction,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub changes: Option<Vec<Change>>,
    pub user_id: String,
    pub timestamp: String,
}

check_fields!(RecordEvent: record_id, zone_id, zone_name, record_name, record_type, record_value, action, changes, user_id, timestamp);
impl EventPayload for RecordEvent {
    user_fields!(
        record_id,
        zone_id,
        zone_name,
        record_name,
        record_type,
        record_value,
        action,
        changes,
        user_id,
        timestamp
    );

    fn event_type(&self) -> EventType {
        match self.action {
            ChangeAction::Created => EventType::RecordCreated,
            ChangeAction::Updated => EventType::RecordUpdated,
            ChangeAction::Deleted => EventType::RecordDeleted,
        }
    }

    fn scope(&self) -> Scope {
        Scope::zone(&self.zone_id)
    }
}

/// Progress of a long operation (bulk record changes, a feed update), for
/// the user who started it: bulk_operation_progress, and
/// bulk_operation_complete once `status` is final.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkOperation {
    pub operation_id: String,
    /// What runs, when not bulk record changes (`threat_feed_update`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub feed_id: Option<i32>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub processed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub succeeded: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failed: Option<u64>,
    /// As the operation counts it: a fraction for bulk record changes
    /// (`12.5`), a whole number for feed updates (`40`).
    pub percent: serde_json::Number,
    pub user_id: String,
    pub timestamp: String,
    /// Per-operation errors, in the final event.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub errors: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<u64>,
}

impl BulkOperation {
    /// Statuses after which nothing more happens.
    pub const FINAL: [&'static str; 3] = ["completed", "completed_with_errors", "failed"];
}

check_fields!(BulkOperation: operation_id, operation, feed_id, status, total, processed, succeeded, failed, percent, user_id, timestamp, errors, duration_ms);
impl EventPayload for BulkOperation {
    user_fields!(
        operation_id,
        operation,
        feed_id,
        status,
        total,
        processed,
        succeeded,
        failed,
        percent,
        user_id,
        timestamp,
        errors,
        duration_ms
    );

    fn event_type(&self) -> EventType {
        if Self::FINAL.contains(&self.status.as_str()) {
            EventType::BulkOperationComplete
        } else {
            EventType::BulkOperationProgress
        }
    }

    fn scope(&self) -> Scope {
        Scope::user(&self.user_id)
    }
}

/// `SecurityAlert` of the spec; `detected` marks a live detection
/// (threat_detected) rather than a stored alert (security_alert).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreatAlert {
    pub alert_id: String,
    pub severity: String,
    pub category: String,
    pub message: String,
    pub source_ip: Option<String>,
    pub domain: Option<String>,
    pub details: Value,
    pub timestamp: String,
    #[serde(skip)]
    pub detected: bool,
}

check_fields!(ThreatAlert: alert_id, severity, category, message, domain, details, timestamp);
impl EventPayload for ThreatAlert {
    // Admin-only types; the client address never reaches a user anyway.
    user_fields!(alert_id, severity, category, message, domain, details, timestamp);

    fn event_type(&self) -> EventType {
        if self.detected {
            EventType::ThreatDetected
        } else {
            EventType::SecurityAlert
        }
    }

    fn priority(&self) -> Priority {
        if self.severity == "critical" {
            Priority::Critical
        } else {
            Priority::High
        }
    }
}

/// A policy zone changed (rpz_updated).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RpzUpdated {
    pub zone: String,
    /// `manual` or `feed`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub feed_id: Option<i32>,
    pub change: String,
    pub added: u64,
    pub removed: u64,
    pub total: u64,
    pub serial: i64,
    pub user_id: String,
    pub timestamp: String,
}

check_fields!(RpzUpdated: zone, source, feed_id, change, added, removed, total, serial, user_id, timestamp);
impl EventPayload for RpzUpdated {
    user_fields!(zone, source, feed_id, change, added, removed, total, serial, user_id, timestamp);

    fn event_type(&self) -> EventType {
        EventType::RpzUpdated
    }
}

/// A threat feed update ended (threat_feed_updated).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedUpdated {
    pub feed_id: i32,
    pub feed_name: String,
    pub zone: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    pub added: u64,
    pub removed: u64,
    pub total: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub invalid_lines: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duplicates: Option<u64>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timings_ms: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mode: Option<String>,
    pub timestamp: String,
}

check_fields!(FeedUpdated: feed_id, feed_name, zone, status, error, added, removed, total, invalid_lines, duplicates, duration_ms, timings_ms, mode, timestamp);
impl EventPayload for FeedUpdated {
    user_fields!(
        feed_id,
        feed_name,
        zone,
        status,
        error,
        added,
        removed,
        total,
        invalid_lines,
        duplicates,
        duration_ms,
        timings_ms,
        mode,
        timestamp
    );

    fn event_type(&self) -> EventType {
        EventType::ThreatFeedUpdated
    }
}

/// `HealthEvent` of the spec: a sample (health_update) or, with `alert`, a
/// change of status (health_alert, critical when the status is).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthEvent {
    pub component: String,
    pub status: String,
    pub metrics: Value,
    pub message: String,
    pub timestamp: String,
    #[serde(skip)]
    pub alert: bool,
}

check_fields!(HealthEvent: component, status, metrics, message, timestamp);
impl EventPayload for HealthEvent {
    user_fields!(component, status, metrics, message, timestamp);

    fn event_type(&self) -> EventType {
        if self.alert {
            EventType::HealthAlert
        } else {
            EventType::HealthUpdate
        }
    }

    fn priority(&self) -> Priority {
        if self.alert && self.status == "critical" {
            Priority::Critical
        } else {
            self.event_type().default_priority()
        }
    }
}

/// A forwarder's health changed (forwarder_status_change).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwarderStatusChange {
    pub forwarder_id: String,
    pub name: String,
    pub old_status: String,
    pub new_status: String,
    pub response_time: Option<f64>,
    pub message: String,
    pub timestamp: String,
}

check_fields!(ForwarderStatusChange: forwarder_id, name, old_status, new_status, response_time, message, timestamp);
impl EventPayload for ForwarderStatusChange {
    user_fields!(
        forwarder_id,
        name,
        old_status,
        new_status,
        response_time,
        message,
        timestamp
    );

    fn event_type(&self) -> EventType {
        EventType::ForwarderStatusChange
    }
}

/// named reloaded zones or its configuration (bind_reload).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BindReload {
    pub zones: Vec<String>,
    pub reconfig: bool,
    pub success: bool,
    pub message: Option<String>,
    pub duration_ms: u64,
    pub timestamp: String,
}

check_fields!(BindReload: zones, reconfig, success, message, duration_ms, timestamp);
impl EventPayload for BindReload {
    user_fields!(zones, reconfig, success, message, duration_ms, timestamp);

    fn event_type(&self) -> EventType {
        EventType::BindReload
    }
}

/// What a configuration change touched.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConfigSubject {
    Forwarder {
        forwarder_id: String,
        forwarder_name: String,
        changes: Value,
    },
    ThreatFeed {
        feed_id: String,
        feed_name: String,
    },
}

/// Forwarders or threat feeds changed (config_change).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigChange {
    pub component: String,
    pub action: ChangeAction,
    #[serde(flatten)]
    pub subject: ConfigSubject,
    pub user_id: String,
    pub timestamp: String,
}

check_fields!(ConfigChange: component, action, subject, user_id, timestamp);
impl EventPayload for ConfigChange {
    // Admin-only type: nothing is listed past what says what happened.
    user_fields!(component, action, user_id, timestamp);

    fn event_type(&self) -> EventType {
        EventType::ConfigChange
    }
}

/// A user signed in or out (user_login / user_logout).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserSession {
    pub user_id: String,
    pub username: String,
    /// Where from: admins only.
    pub ip: Option<String>,
    pub timestamp: String,
    #[serde(skip)]
    pub logout: bool,
}

check_fields!(UserSession: user_id, username, timestamp);
impl EventPayload for UserSession {
    user_fields!(user_id, username, timestamp);

    fn event_type(&self) -> EventType {
        if self.logout {
            EventType::UserLogout
        } else {
            EventType::UserLogin
        }
    }

    fn scope(&self) -> Scope {
        Scope::user(&self.user_id)
    }
}

/// A WebSocket session ends because its token expired (session_expired).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionExpired {
    pub user_id: String,
    pub reason: String,
    pub timestamp: String,
}

check_fields!(SessionExpired: user_id, reason, timestamp);
impl EventPayload for SessionExpired {
    user_fields!(user_id, reason, timestamp);

    fn event_type(&self) -> EventType {
        EventType::SessionExpired
    }

    fn scope(&self) -> Scope {
        Scope::user(&self.user_id)
    }
}

/// What changed in a user's rights.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PermissionChange {
    /// A zone grant given, changed (`level`) or revoked (`level: null`).
    Grant {
        zone_id: String,
        zone_name: String,
        level: Option<String>,
    },
    /// The user's role changed.
    Role { role: String },
}

/// A user's rights changed (permission_changed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PermissionChanged {
    pub user_id: String,
    #[serde(flatten)]
    pub change: PermissionChange,
    pub timestamp: String,
}

check_fields!(PermissionChanged: user_id, change, timestamp);
impl EventPayload for PermissionChanged {
    user_fields!(user_id, zone_id, zone_name, level, role, timestamp);

    fn event_type(&self) -> EventType {
        EventType::PermissionChanged
    }

    fn scope(&self) -> Scope {
        Scope::user(&self.user_id)
    }
}

/// One query named answered (dns_query).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsQuery {
    pub timestamp: String,
    /// Who asked: admins only.
    pub client_ip: String,
    pub client_port: u16,
    pub query_name: String,
    pub query_type: String,
    pub query_class: String,
    pub flags: String,
    pub server_ip: String,
    pub view: Option<String>,
    /// The hosted zone the name falls in, if any.
    pub zone: Option<String>,
    #[serde(skip)]
    pub zone_id: Option<i32>,
}

check_fields!(DnsQuery: timestamp, client_port, query_name, query_type, query_class, flags, server_ip, view, zone);
impl EventPayload for DnsQuery {
    user_fields!(
        timestamp,
        client_port,
        query_name,
        query_type,
        query_class,
        flags,
        server_ip,
        view,
        zone
    );

    fn event_type(&self) -> EventType {
        EventType::DnsQuery
    }

    fn scope(&self) -> Scope {
        Scope {
            zone_id: self.zone_id,
            user_id: None,
        }
    }
}

/// The fields of `t`'s payload users may see: how a raw event (published
/// through `/api/events/publish`, or one that does not decode) is filtered.
pub fn user_fields_of(t: EventType) -> &'static [&'static str] {
    use EventType as T;
    match t {
        T::ZoneCreated | T::ZoneUpdated | T::ZoneDeleted => ZoneEvent::USER_FIELDS,
        T::RecordCreated | T::RecordUpdated | T::RecordDeleted => RecordEvent::USER_FIELDS,
        T::BulkOperationProgress | T::BulkOperationComplete => BulkOperation::USER_FIELDS,
        T::SecurityAlert | T::ThreatDetected => ThreatAlert::USER_FIELDS,
        T::RpzUpdated => RpzUpdated::USER_FIELDS,
        T::ThreatFeedUpdated => FeedUpdated::USER_FIELDS,
        T::HealthUpdate | T::HealthAlert => HealthEvent::USER_FIELDS,
        T::ForwarderStatusChange => ForwarderStatusChange::USER_FIELDS,
        T::SystemMetrics => &[],
        T::BindReload => BindReload::USER_FIELDS,
        T::ConfigChange => ConfigChange::USER_FIELDS,
        T::UserLogin | T::UserLogout => UserSession::USER_FIELDS,
        T::SessionExpired => SessionExpired::USER_FIELDS,
        T::PermissionChanged => PermissionChanged::USER_FIELDS,
        T::DnsQuery => DnsQuery::USER_FIELDS,
    }
}
