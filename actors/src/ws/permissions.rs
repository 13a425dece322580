//! Who may subscribe to what, who sees which event, and the defaults a
//! session starts with. Users get DNS events for the zones they are granted,
//! health events, and events about themselves; security and system events
//! are for admins.

use crate::events::{Event, EventType};

/// Every event type, in the order of the spec.
pub const ALL: [EventType; 23] = [
    EventType::ZoneCreated,
    EventType::ZoneUpdated,
    EventType::ZoneDeleted,
    EventType::RecordCreated,
    EventType::RecordUpdated,
    EventType::RecordDeleted,
    EventType::BulkOperationProgress,
    EventType::BulkOperationComplete,
    EventType::SecurityAlert,
    EventType::ThreatDetected,
    EventType::RpzUpdated,
    EventType::ThreatFeedUpdated,
    EventType::HealthUpdate,
    EventType::HealthAlert,
    EventType::ForwarderStatusChange,
    EventType::SystemMetrics,
    EventType::BindReload,
    EventType::ConfigChange,
    EventType::UserLogin,
    EventType::UserLogout,
    EventType::SessionExpired,
    EventType::PermissionChanged,
    EventType::DnsQuery,
];

/// Types a non-admin user may subscribe to.
pub const USER_TYPES: [EventType; 15] = [
    EventType::ZoneCreated,
    EventType::ZoneUpdated,
    EventType::ZoneDeleted,
    EventType::RecordCreated,
    EventType::RecordUpdated,
    EventType::RecordDeleted,
    EventType::BulkOperationProgress,
    EventType::BulkOperationComplete,
    EventType::HealthUpdate,
    EventType::HealthAlert,
    EventType::UserLogin,
    EventType::UserLogout,
    EventType::SessionExpired,
    EventType::PermissionChanged,
    EventType::DnsQuery,
];

/// Opt-in types: a stream too busy to start every session with.
pub const OPT_IN: [EventType; 1] = [EventType::DnsQuery];

pub fn may_subscribe(is_admin: bool, t: EventType) -> bool {
    is_admin || USER_TYPES.contains(&t)
}

/// What a fresh session is subscribed to.
pub fn defaults(is_admin: bool) -> Vec<EventType> {
    let all: &[EventType] = if is_admin { &ALL } else { &USER_TYPES };
    all.iter()
        .copied()
        .filter(|t| !OPT_IN.contains(t))
        .collect()
}

/// Parses an event type name of the spec.
pub fn parse(name: &str) -> Option<EventType> {
    ALL.into_iter().find(|t| t.as_str() == name)
}

/// Whether a session of `user_id` sees `event`, given the zones it may read.
pub fn visible(event: &Event, is_admin: bool, user_id: i32, zone_ok: impl Fn(i32) -> bool) -> bool {
    if is_admin {
        return true;
    }
    if !USER_TYPES.contains(&event.event_type) {
        return false;
    }
    match event.event_type {
        EventType::HealthUpdate | EventType::HealthAlert => true,
        _ => {
            if let Some(z) = event.zone_id {
                zone_ok(z)
            } else {
                event.user_id == Some(user_id)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_see_their_zones_and_themselves() {
        let e = Event::raw(EventType::RecordCreated, serde_json::json!({})).for_zone(7);
        assert!(visible(&e, false, 1, |z| z == 7));
        assert!(!visible(&e, false, 1, |z| z == 8));
        assert!(visible(&e, true, 1, |_| false));
        let login = Event::raw(EventType::UserLogin, serde_json::json!({})).for_user(3);
        assert!(visible(&login, false, 3, |_| false));
        assert!(!visible(&login, false, 4, |_| false));
        let sec = Event::raw(EventType::SecurityAlert, serde_json::json!({}));
        assert!(!visible(&sec, false, 1, |_| true));
        assert!(!may_subscribe(false, EventType::SystemMetrics));
        assert_eq!(
            parse("bulk_operation_complete"),
            Some(EventType::BulkOperationComplete)
        );
        assert_eq!(defaults(true).len(), 22);
        assert!(!defaults(false).contains(&EventType::DnsQuery));
        let q = Event::raw(EventType::DnsQuery, serde_json::json!({})).for_zone(7);
        assert!(visible(&q, false, 1, |z| z == 7));
        let recursive = Event::raw(EventType::DnsQuery, serde_json::json!({}));
        assert!(!visible(&recursive, false, 1, |_| true));
    }
}
