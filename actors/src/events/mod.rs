//! Typed events, their priorities and payloads (the shapes of the unified
//! WebSocket spec). A publisher passes a payload struct; the event
//! serializes it once for admins and once more, field-filtered, for users.

/// Lists the fields of a payload users may see.
macro_rules! user_fields {
    ($($f:ident),* $(,)?) => {
        const USER_FIELDS: &'static [&'static str] = &[$(stringify!($f)),*];
    };
}

/// Compile-time check that every name in a `user_fields!` is a field.
macro_rules! check_fields {
    ($t:ty: $($f:ident),* $(,)?) => {
        const _: fn(&$t) = |p| { $(let _ = &p.$f;)* };
    };
}

pub mod metrics;
pub mod payloads;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use metrics::SystemMetrics;
pub use payloads::*;

/// Every event type the WebSocket API knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    ZoneCreated,
    ZoneUpdated,
    ZoneDeleted,
    RecordCreated,
    RecordUpdated,
    RecordDeleted,
    BulkOperationProgress,
    BulkOperationComplete,
    SecurityAlert,
    ThreatDetected,
    RpzUpdated,
    ThreatFeedUpdated,
    HealthUpdate,
    HealthAlert,
    ForwarderStatusChange,
    SystemMetrics,
    BindReload,
    ConfigChange,
    UserLogin,
    UserLogout,
    SessionExpired,
    PermissionChanged,
    /// One query named answered (from its query log); not in the spec's
    /// list, defined in docs/websocket-api.md.
    DnsQuery,
}

impl EventType {
    /// How many event types there are.
    pub const COUNT: usize = Self::DnsQuery as usize + 1;

    /// A dense index in `0..COUNT`, for per-type tables.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ZoneCreated => "zone_created",
            Self::ZoneUpdated => "zone_updated",
            Self::ZoneDeleted => "zone_deleted",
            Self::RecordCreated => "record_created",
            Self::RecordUpdated => "record_updated",
            Self::RecordDeleted => "record_deleted",
            Self::BulkOperationProgress => "bulk_operation_progress",
            Self::BulkOperationComplete => "bulk_operation_complete",
            Self::SecurityAlert => "security_alert",
            Self::ThreatDetected => "threat_detected",
            Self::RpzUpdated => "rpz_updated",
            Self::ThreatFeedUpdated => "threat_feed_updated",
            Self::HealthUpdate => "health_update",
            Self::HealthAlert => "health_alert",
            Self::ForwarderStatusChange => "forwarder_status_change",
            Self::SystemMetrics => "system_metrics",
            Self::BindReload => "bind_reload",
            Self::ConfigChange => "config_change",
            Self::UserLogin => "user_login",
            Self::UserLogout => "user_logout",
            Self::SessionExpired => "session_expired",
            Self::PermissionChanged => "permission_changed",
            Self::DnsQuery => "dns_query",
        }
    }

    /// The priority an event of this type is delivered with by default.
    pub fn default_priority(self) -> Priority {
        match self {
            Self::SecurityAlert
            | Self::ThreatDetected
            | Self::SessionExpired
            | Self::PermissionChanged => Priority::Critical,
            Self::ZoneCreated
            | Self::ZoneUpdated
            | Self::ZoneDeleted
            | Self::RecordCreated
            | Self::RecordUpdated
            | Self::RecordDeleted
            | Self::BulkOperationComplete
            | Self::HealthAlert
            | Self::ForwarderStatusChange
            | Self::BindReload
            | Self::ConfigChange => Priority::High,
            Self::BulkOperationProgress
            | Self::HealthUpdate
            | Self::SystemMetrics
            | Self::RpzUpdated
            | Self::ThreatFeedUpdated
            | Self::UserLogin
            | Self::UserLogout => Priority::Normal,
            Self::DnsQuery => Priority::Low,
        }
    }
}

/// Delivery priority: critical goes out at once; the others are batched within
/// 1 s (high), 5 s (normal) and 30 s (low).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
    Critical,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// One field changed by an update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub field: String,
    pub old_value: Value,
    pub new_value: Value,
}

/// Compares two JSON objects field by field (`skip` names fields to ignore).
pub fn diff(old: &Value, new: &Value, skip: &[&str]) -> Vec<Change> {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return Vec::new();
    };
    n.iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            let before = o.get(k).cloned().unwrap_or(Value::Null);
            (before != *v).then(|| Change {
                field: k.clone(),
                old_value: before,
                new_value: v.clone(),
            })
        })
        .collect()
}

/// Every payload, typed: what an event is about.
#[derive(Debug, Clone)]
pub enum Payload {
    Zone(ZoneEvent),
    Record(RecordEvent),
    Bulk(BulkOperation),
    Threat(ThreatAlert),
    Rpz(RpzUpdated),
    Feed(FeedUpdated),
    Health(HealthEvent),
    Forwarder(ForwarderStatusChange),
    Metrics(Box<SystemMetrics>),
    Reload(BindReload),
    Config(ConfigChange),
    Session(UserSession),
    Expired(SessionExpired),
    Permission(PermissionChanged),
    Query(DnsQuery),
    /// Published as given through `/api/events/publish`, or from another
    /// instance in a shape this one does not know: the data is the event's
    /// `data` (kept once), users see the fields of its type's payload only.
    Raw,
}

macro_rules! payload_from {
    ($($variant:ident($t:ty)),* $(,)?) => {
        $(impl From<$t> for Payload {
            fn from(p: $t) -> Self {
                Payload::$variant(p.into())
            }
        })*
    };
}

payload_from!(
    Zone(ZoneEvent),
    Record(RecordEvent),
    Bulk(BulkOperation),
    Threat(ThreatAlert),
    Rpz(RpzUpdated),
    Feed(FeedUpdated),
    Health(HealthEvent),
    Forwarder(ForwarderStatusChange),
    Metrics(SystemMetrics),
    Reload(BindReload),
    Config(ConfigChange),
    Session(UserSession),
    Expired(SessionExpired),
    Permission(PermissionChanged),
    Query(DnsQuery),
);

/// Calls `$body` with the payload struct inside any typed variant.
macro_rules! with_payload {
    ($p:expr, $x:ident => $body:expr, raw => $raw:expr) => {
        match $p {
            Payload::Zone($x) => $body,
            Payload::Record($x) => $body,
            Payload::Bulk($x) => $body,
            Payload::Threat($x) => $body,
            Payload::Rpz($x) => $body,
            Payload::Feed($x) => $body,
            Payload::Health($x) => $body,
            Payload::Forwarder($x) => $body,
            Payload::Metrics($x) => {
                let $x = &**$x;
                $body
            }
            Payload::Reload($x) => $body,
            Payload::Config($x) => $body,
            Payload::Session($x) => $body,
            Payload::Expired($x) => $body,
            Payload::Permission($x) => $body,
            Payload::Query($x) => $body,
            Payload::Raw => $raw,
        }
    };
}

fn typed<P: EventPayload>(p: &P) -> (EventType, Priority, Scope, Value) {
    (
        p.event_type(),
        p.priority(),
        p.scope(),
        serde_json::to_value(p).unwrap_or(Value::Null),
    )
}

impl Payload {
    /// Decodes an event's data back into its payload (an event of another
    /// instance); `Raw` when it does not fit the type's struct.
    pub fn decode(t: EventType, data: &Value) -> Self {
        use EventType as T;
        // Deserialized from the borrowed value: nothing is copied first.
        fn de<'a, P: serde::Deserialize<'a>>(v: &'a Value) -> Option<P> {
            P::deserialize(v).ok()
        }
        let typed = match t {
            T::ZoneCreated | T::ZoneUpdated | T::ZoneDeleted => de(data).map(Payload::Zone),
            T::RecordCreated | T::RecordUpdated | T::RecordDeleted => de(data).map(Payload::Record),
            T::BulkOperationProgress | T::BulkOperationComplete => de(data).map(Payload::Bulk),
            T::SecurityAlert | T::ThreatDetected => de::<ThreatAlert>(data).map(|mut a| {
                a.detected = t == T::ThreatDetected;
                Payload::Threat(a)
            }),
            T::RpzUpdated => de(data).map(Payload::Rpz),
            T::ThreatFeedUpdated => de(data).map(Payload::Feed),
            T::HealthUpdate | T::HealthAlert => de::<HealthEvent>(data).map(|mut h| {
                h.alert = t == T::HealthAlert;
                Payload::Health(h)
            }),
            T::ForwarderStatusChange => de(data).map(Payload::Forwarder),
            T::SystemMetrics => de::<SystemMetrics>(data).map(|m| Payload::Metrics(Box::new(m))),
            T::BindReload => de(data).map(Payload::Reload),
            T::ConfigChange => de(data).map(Payload::Config),
            T::UserLogin | T::UserLogout => de::<UserSession>(data).map(|mut u| {
                u.logout = t == T::UserLogout;
                Payload::Session(u)
            }),
            T::SessionExpired => de(data).map(Payload::Expired),
            T::PermissionChanged => de(data).map(Payload::Permission),
            T::DnsQuery => de(data).map(Payload::Query),
        };
        // A payload whose own type disagrees (a bulk status that is not
        // final under bulk_operation_complete) stays as it came.
        match typed {
            Some(p) if p.event_type() == Some(t) => p,
            _ => Payload::Raw,
        }
    }

    /// The event type a typed payload is; `None` for raw data.
    pub fn event_type(&self) -> Option<EventType> {
        with_payload!(self, p => Some(p.event_type()), raw => None)
    }
}

/// An event on its way to subscribers. `zone_id` and `user_id` scope who may
/// see it: DNS events go to admins and users granted the zone; user events to
/// admins and that user.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub event_type: EventType,
    pub priority: Priority,
    /// The payload as admins see it, serialized once when published.
    pub data: Value,
    /// As users see it, when that differs from `data`.
    #[serde(skip)]
    pub user_data: Option<Value>,
    #[serde(skip)]
    pub payload: Payload,
    #[serde(skip)]
    pub zone_id: Option<i32>,
    #[serde(skip)]
    pub user_id: Option<i32>,
    pub timestamp: String,
    /// When it was published: delivery latency is measured from here.
    #[serde(skip)]
    pub published: std::time::Instant,
    /// Came from another instance through the cluster bridge: delivered
    /// here, never logged or forwarded again.
    #[serde(skip)]
    pub remote: bool,
}

/// `data` with only `fields` kept; `None` when that keeps everything.
fn filtered(data: &Value, fields: &[&str]) -> Option<Value> {
    let obj = data.as_object()?;
    if obj.keys().all(|k| fields.contains(&k.as_str())) {
        return None;
    }
    Some(Value::Object(
        obj.iter()
            .filter(|(k, _)| fields.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    ))
}

impl Event {
    /// An event of a typed payload: its type, priority and scope come from it.
    pub fn new<P: EventPayload + Into<Payload>>(payload: P) -> Self {
        let (event_type, priority, scope, data) = typed(&payload);
        let user_data = filtered(&data, P::USER_FIELDS);
        Self {
            event_type,
            priority,
            data,
            user_data,
            payload: payload.into(),
            zone_id: scope.zone_id,
            user_id: scope.user_id,
            timestamp: now_iso(),
            published: std::time::Instant::now(),
            remote: false,
        }
    }

    /// An event of `event_type` with data as given (`/api/events/publish`):
    /// users see the fields of that type's payload only.
    pub fn raw(event_type: EventType, data: Value) -> Self {
        Self {
            event_type,
            priority: event_type.default_priority(),
            user_data: filtered(&data, user_fields_of(event_type)),
            data,
            payload: Payload::Raw,
            zone_id: None,
            user_id: None,
            timestamp: now_iso(),
            published: std::time::Instant::now(),
            remote: false,
        }
    }

    /// An event of another instance, decoded back into its payload.
    pub fn decode(event_type: EventType, data: Value) -> Self {
        let payload = Payload::decode(event_type, &data);
        let fields = with_payload!(&payload, p => user_fields_of_payload(p), raw => user_fields_of(event_type));
        Self {
            event_type,
            priority: event_type.default_priority(),
            user_data: filtered(&data, fields),
            data,
            payload,
            zone_id: None,
            user_id: None,
            timestamp: now_iso(),
            published: std::time::Instant::now(),
            remote: false,
        }
    }

    /// Scopes a raw event to a zone's readers.
    pub fn for_zone(mut self, zone_id: i32) -> Self {
        self.zone_id = Some(zone_id);
        self
    }

    /// Scopes a raw event to a user.
    pub fn for_user(mut self, user_id: i32) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// What a non-admin receives.
    pub fn user_view(&self) -> &Value {
        self.user_data.as_ref().unwrap_or(&self.data)
    }
}

fn user_fields_of_payload<P: EventPayload>(_: &P) -> &'static [&'static str] {
    P::USER_FIELDS
}

pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_match_the_spec() {
        let json = serde_json::to_value(EventType::BulkOperationProgress).unwrap();
        let _ = Event::raw(EventType::SystemMetrics, serde_json::json!({}));
        assert_eq!(json, "bulk_operation_progress");
        assert_eq!(
            EventType::ForwarderStatusChange.as_str(),
            "forwarder_status_change"
        );
        assert!(Priority::Critical > Priority::High && Priority::Normal > Priority::Low);
    }

    #[test]
    fn users_see_listed_fields_only() {
        let q = DnsQuery {
            timestamp: "t".into(),
            client_ip: "192.0.2.1".into(),
            client_port: 5300,
            query_name: "www.example.com".into(),
            query_type: "A".into(),
            query_class: "IN".into(),
            flags: "+".into(),
            server_ip: "127.0.0.1".into(),
            view: None,
            zone: Some("example.com".into()),
            zone_id: Some(7),
        };
        let e = Event::new(q);
        assert_eq!(e.event_type, EventType::DnsQuery);
        assert_eq!(e.zone_id, Some(7));
        assert_eq!(e.data["client_ip"], "192.0.2.1");
        assert!(e.user_view().get("client_ip").is_none());
        assert_eq!(e.user_view()["query_name"], "www.example.com");
        // Raw data is filtered by its type's payload: unknown keys are admin-only.
        let raw = Event::raw(
            EventType::HealthUpdate,
            serde_json::json!({"component": "x", "status": "healthy", "ip": "192.0.2.5", "extra": 1}),
        );
        assert_eq!(raw.data["extra"], 1);
        assert_eq!(
            raw.user_view(),
            &serde_json::json!({"component": "x", "status": "healthy"})
        );
        // Nothing to hide: one view.
        let h = Event::new(HealthEvent {
            component: "database".into(),
            status: "critical".into(),
            metrics: serde_json::json!({}),
            message: "down".into(),
            timestamp: "t".into(),
            alert: true,
        });
        assert!(h.user_data.is_none());
        assert_eq!(
            (h.event_type, h.priority),
            (EventType::HealthAlert, Priority::Critical)
        );
    }

    #[test]
    fn remote_events_decode_into_their_payloads() {
        let grant = Event::new(PermissionChanged {
            user_id: "3".into(),
            change: PermissionChange::Grant {
                zone_id: "7".into(),
                zone_name: "example.com".into(),
                level: None,
            },
            timestamp: "t".into(),
        });
        assert_eq!(grant.data["level"], serde_json::Value::Null);
        assert_eq!(grant.user_id, Some(3));
        let back = Event::decode(EventType::PermissionChanged, grant.data.clone());
        assert!(matches!(
            back.payload,
            Payload::Permission(PermissionChanged {
                change: PermissionChange::Grant { .. },
                ..
            })
        ));
        let role = Payload::decode(
            EventType::PermissionChanged,
            &serde_json::json!({"user_id": "3", "role": "admin", "timestamp": "t"}),
        );
        assert!(matches!(
            role,
            Payload::Permission(PermissionChanged {
                change: PermissionChange::Role { .. },
                ..
            })
        ));
        let alert = Payload::decode(
            EventType::HealthAlert,
            &serde_json::json!({"component": "c", "status": "s", "metrics": {}, "message": "m", "timestamp": "t"}),
        );
        assert_eq!(alert.event_type(), Some(EventType::HealthAlert));
        let odd = Payload::decode(EventType::ZoneCreated, &serde_json::json!({"n": 1}));
        assert!(matches!(odd, Payload::Raw));
    }

    #[test]
    fn diff_lists_changed_fields_only() {
        let a = serde_json::json!({"ttl": 300, "value": "1.2.3.4", "updated_at": "x"});
        let b = serde_json::json!({"ttl": 600, "value": "1.2.3.4", "updated_at": "y"});
        let d = diff(&a, &b, &["updated_at"]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].field, "ttl");
        assert_eq!(d[0].old_value, 300);
    }
}
