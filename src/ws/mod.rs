//! `/ws`: the unified WebSocket. One session actor per connection
//! (actix-web-actors) drains its outbox, which the Dispatcher fills.

pub mod hooks;
pub mod messages;
pub mod session;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use hdns_actors::ws::{permissions, Dispatcher, Registry, SessionHandle};
use serde::Deserialize;

use crate::auth::extract::authenticate;
use crate::services::grants;
use crate::state::AppState;
use session::{Rejected, WsSession};

/// Close codes (documented in docs/websocket-api.md).
pub mod close {
    /// Missing, invalid or expired token at connect, or on a message.
    pub const AUTH_FAILED: u16 = 4001;
    /// The token expired while connected.
    pub const SESSION_EXPIRED: u16 = 4002;
    /// Logout, deactivation or a revoked session.
    pub const SESSION_REVOKED: u16 = 4003;
    /// The client missed two pings.
    pub const PING_TIMEOUT: u16 = 4004;
    /// The outbox overflowed with events that must not be dropped.
    pub const TOO_SLOW: u16 = hdns_actors::ws::dispatcher::CLOSE_TOO_SLOW;
    /// More connections than the per-user limit.
    pub const CONNECTION_LIMIT: u16 = 4029;
}

/// Shared by every session.
pub struct Hub {
    pub registry: Arc<Registry>,
    pub dispatcher: Arc<Dispatcher>,
    pub ping_interval: Duration,
    pub queue_capacity: usize,
}

impl Hub {
    pub fn new(max_per_user: usize, ping_interval: Duration, queue_capacity: usize) -> Arc<Self> {
        let registry = Arc::new(Registry::new(max_per_user));
        Arc::new(Self {
            dispatcher: Dispatcher::new(registry.clone()),
            registry,
            ping_interval,
            queue_capacity,
        })
    }
}

#[derive(Deserialize)]
pub struct ConnectQuery {
    pub token: Option<String>,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ws").route(web::get().to(connect)));
}

/// Largest frame the server reads; bigger text messages are INVALID_MESSAGE.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    q: web::Query<ConnectQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    let token = q.token.clone().unwrap_or_default();
    let auth = match authenticate(&state, &token).await {
        Ok(a) if !a.user.must_change_password => a,
        Ok(_) => {
            let r = Rejected::new(
                "AUTH_FAILED",
                "The password must be changed first",
                close::AUTH_FAILED,
            );
            return start(r, &req, stream);
        }
        Err(_) => {
            let r = Rejected::new(
                "AUTH_FAILED",
                "A valid access token is required",
                close::AUTH_FAILED,
            );
            return start(r, &req, stream);
        }
    };
    let hub = state.hub.clone();
    let is_admin = auth.is_admin();
    let zones: HashSet<i32> = if is_admin {
        HashSet::new()
    } else {
        grants::granted_zone_ids(&state.db, auth.user.id)
            .await
            .map_err(|e| actix_web::error::ErrorInternalServerError(e.message))?
            .into_iter()
            .collect()
    };
    let handle = Arc::new(SessionHandle::new(
        hub.registry.next_id(),
        auth.user.id,
        auth.session_id.clone(),
        is_admin,
        zones,
        permissions::defaults(is_admin).into_iter().collect(),
        hub.queue_capacity,
    ));
    if hub.registry.register(handle.clone()).is_err() {
        let r = Rejected::new(
            "CONNECTION_LIMIT",
            &format!("At most {} connections per user", hub.registry.max_per_user),
            close::CONNECTION_LIMIT,
        );
        return start(r, &req, stream);
    }
    let session = WsSession::new(handle, hub, state.get_ref().clone(), token, auth.claims.exp);
    start(session, &req, stream)
}

fn start<A>(
    actor: A,
    req: &HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error>
where
    A: actix::Actor<Context = actix_web_actors::ws::WebsocketContext<A>>
        + actix::StreamHandler<
            Result<actix_web_actors::ws::Message, actix_web_actors::ws::ProtocolError>,
        >,
{
    actix_web_actors::ws::WsResponseBuilder::new(actor, req, stream)
        .frame_size(4 * MAX_MESSAGE_BYTES)
        .start()
}

/// A backstop for the hooks: every few seconds, sessions whose login session
/// was revoked or expired, or whose account was disabled, by any path (a
/// refresh-token reuse, the CLI, another instance) are closed.
pub fn spawn_session_sweeper(hub: Arc<Hub>, db: sea_orm::DatabaseConnection, every: Duration) {
    use hdns_entities::{sessions, users};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let live = hub.registry.sessions();
            if live.is_empty() {
                continue;
            }
            let mut sids: Vec<String> = live.iter().map(|s| s.session_id.clone()).collect();
            sids.sort();
            sids.dedup();
            let mut valid = HashSet::new();
            for chunk in sids.chunks(500) {
                let rows = sessions::Entity::find()
                    .filter(sessions::Column::Id.is_in(chunk.to_vec()))
                    .find_also_related(users::Entity)
                    .all(&db)
                    .await;
                let Ok(rows) = rows else {
                    // The database is unreachable: keep connections rather than guess.
                    valid.extend(chunk.iter().cloned());
                    continue;
                };
                let now = chrono::Utc::now();
                for (s, u) in rows {
                    if s.revoked_at.is_none()
                        && s.expires_at > now
                        && u.is_some_and(|u| u.is_active)
                    {
                        valid.insert(s.id);
                    }
                }
            }
            for s in live.iter().filter(|s| !valid.contains(&s.session_id)) {
                s.request_close(close::SESSION_REVOKED, "session_revoked");
            }
        }
    });
}
