//! What the REST side tells live WebSocket sessions: sign-ins and sign-outs
//! become events; ended sessions, disabled accounts and role changes reach
//! the connections at once.

use hdns_actors::cluster::Control;
use hdns_actors::events::{Event, PermissionChange, PermissionChanged, UserSession};
use hdns_actors::ws::{permissions, Registry};

use super::close;
use crate::services::grants;
use crate::state::AppState;

fn user_event(logout: bool, user_id: i32, username: &str, ip: Option<String>) -> Event {
    Event::new(UserSession {
        user_id: user_id.to_string(),
        username: username.into(),
        ip,
        timestamp: crate::now_iso(),
        logout,
    })
}

pub fn logged_in(state: &AppState, user_id: i32, username: &str, ip: Option<String>) {
    state.dns.publish(user_event(false, user_id, username, ip));
}

pub fn logged_out(
    state: &AppState,
    user_id: i32,
    username: &str,
    session_id: &str,
    ip: Option<String>,
) {
    state.dns.publish(user_event(true, user_id, username, ip));
    control(
        state,
        Control::CloseSession {
            session_id: session_id.to_string(),
            code: close::SESSION_REVOKED,
            reason: "logout".into(),
        },
    );
}

/// The user's other login sessions ended (password change).
pub fn other_sessions_ended(state: &AppState, user_id: i32, keep: &str) {
    control(
        state,
        Control::CloseUser {
            user_id,
            code: close::SESSION_REVOKED,
            reason: "password_changed".into(),
            keep: Some(keep.to_string()),
        },
    );
}

/// Every login session of the user ended (disabled, deleted, password reset).
pub fn all_sessions_ended(state: &AppState, user_id: i32, reason: &str) {
    control(
        state,
        Control::CloseUser {
            user_id,
            code: close::SESSION_REVOKED,
            reason: reason.to_string(),
            keep: None,
        },
    );
}

/// Applies `c` here at once and tells the other instances (cluster mode).
fn control(state: &AppState, c: Control) {
    close_local(&state.hub.registry, &c);
    if let Some(cluster) = state.hub.cluster.clone() {
        tokio::spawn(async move { cluster.broadcast(c).await });
    }
}

fn close_local(registry: &Registry, c: &Control) {
    match c {
        Control::CloseSession {
            session_id,
            code,
            reason,
        } => registry.close_session(session_id, *code, reason),
        Control::CloseUser {
            user_id,
            code,
            reason,
            keep: Some(keep),
        } => registry.close_user_except(*user_id, keep, *code, reason),
        Control::CloseUser {
            user_id,
            code,
            reason,
            keep: None,
        } => registry.close_user(*user_id, *code, reason),
        Control::Role { .. } => {}
    }
}

/// What another instance asked of this one's sockets (applied here only:
/// the sender told everyone).
pub async fn apply_remote(state: &AppState, c: Control) {
    match c {
        Control::Role { user_id, is_admin } => {
            apply_role(state, user_id, is_admin).await;
        }
        close => close_local(&state.hub.registry, &close),
    }
}

/// Applies a user's current role and grants to their live sessions: drops
/// subscriptions the role may no longer have and announces the change.
pub async fn role_changed(state: &AppState, user_id: i32, is_admin: bool) {
    let changed_here = apply_role(state, user_id, is_admin).await;
    let cluster = state.hub.cluster.clone();
    if !changed_here && cluster.is_none() {
        return;
    }
    // Other instances re-filter their sockets before the event reaches them.
    if let Some(c) = cluster {
        c.broadcast(Control::Role { user_id, is_admin }).await;
    }
    let role = if is_admin { "admin" } else { "user" };
    state.dns.publish(Event::new(PermissionChanged {
        user_id: user_id.to_string(),
        change: PermissionChange::Role { role: role.into() },
        timestamp: crate::now_iso(),
    }));
}

/// Re-filters this instance's sessions of the user; true if any changed.
async fn apply_role(state: &AppState, user_id: i32, is_admin: bool) -> bool {
    let live = state.hub.registry.of_user(user_id);
    if live.is_empty() || live.iter().all(|s| s.is_admin() == is_admin) {
        return false;
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
        let registry = &state.hub.registry;
        registry.retain_subscriptions(s, |t| permissions::may_subscribe(is_admin, t));
    }
    true
}
