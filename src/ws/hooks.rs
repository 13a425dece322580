//! What the REST side tells live WebSocket sessions: sign-ins and sign-outs
//! become events; ended sessions, disabled accounts and role changes reach
//! the connections at once.

use hdns_actors::events::{Event, EventType};
use hdns_actors::ws::permissions;
use serde_json::json;

use super::close;
use crate::services::grants;
use crate::state::AppState;

fn user_event(t: EventType, user_id: i32, username: &str, ip: Option<String>) -> Event {
    Event::new(
        t,
        json!({
            "user_id": user_id.to_string(),
            "username": username,
            "ip": ip,
            "timestamp": crate::now_iso(),
        }),
    )
    .for_user(user_id)
}

pub fn logged_in(state: &AppState, user_id: i32, username: &str, ip: Option<String>) {
    state
        .dns
        .publish(user_event(EventType::UserLogin, user_id, username, ip));
}

pub fn logged_out(
    state: &AppState,
    user_id: i32,
    username: &str,
    session_id: &str,
    ip: Option<String>,
) {
    state
        .dns
        .publish(user_event(EventType::UserLogout, user_id, username, ip));
    state
        .hub
        .registry
        .close_session(session_id, close::SESSION_REVOKED, "logout");
}

/// The user's other login sessions ended (password change).
pub fn other_sessions_ended(state: &AppState, user_id: i32, keep: &str) {
    state
        .hub
        .registry
        .close_user_except(user_id, keep, close::SESSION_REVOKED, "password_changed");
}

/// Every login session of the user ended (disabled, deleted, password reset).
pub fn all_sessions_ended(state: &AppState, user_id: i32, reason: &str) {
    state
        .hub
        .registry
        .close_user(user_id, close::SESSION_REVOKED, reason);
}

/// Applies a user's current role and grants to their live sessions: drops
/// subscriptions the role may no longer have and announces the change.
pub async fn role_changed(state: &AppState, user_id: i32, is_admin: bool) {
    let live = state.hub.registry.of_user(user_id);
    if live.is_empty() || live.iter().all(|s| s.is_admin() == is_admin) {
        return;
    }
    let zones: std::collections::HashSet<i32> = if is_admin {
        Default::default()
    } else {
        grants::granted_zone_ids(&state.db, user_id)
            .await
            .unwrap_or_default()
            .into_iter()
            .collect()
    };
    for s in &live {
        s.is_admin
            .store(is_admin, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut z) = s.zones.write() {
            *z = zones.clone();
        }
        if let Ok(mut subs) = s.subscriptions.write() {
            subs.retain(|t| permissions::may_subscribe(is_admin, *t));
        }
    }
    let role = if is_admin { "admin" } else { "user" };
    state.dns.publish(
        Event::new(
            EventType::PermissionChanged,
            json!({"user_id": user_id.to_string(), "role": role, "timestamp": crate::now_iso()}),
        )
        .for_user(user_id),
    );
}
