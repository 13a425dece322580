//! `/ws`: the unified WebSocket. One session actor per connection
//! (actix-web-actors) drains its outbox, which the Dispatcher fills.

pub mod hooks;
pub mod messages;
pub mod protocol;
pub mod session;
pub mod socket;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use hdns_actors::cluster::Cluster;
use hdns_actors::events::EventType;
use hdns_actors::ws::{permissions, Dispatcher, Registry, SessionHandle};
use serde::Deserialize;

use crate::auth::extract::authenticate;
use crate::services::grants;
use crate::state::AppState;
use protocol::ErrorCode;
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
    /// The role may not use this endpoint (admin-only events, debug mode).
    pub const PERMISSION_DENIED: u16 = 4030;
    /// The server cannot admit the connection now (RFC 6455 internal error).
    pub const UNAVAILABLE: u16 = 1011;
}

/// Shared by every session.
pub struct Hub {
    pub registry: Arc<Registry>,
    pub dispatcher: Arc<Dispatcher>,
    pub ping_interval: Duration,
    pub queue_capacity: usize,
    /// Other instances, when `redis_url` is set.
    pub cluster: Option<Arc<Cluster>>,
    /// Each session's TCP socket, for the watchdog.
    pub sockets: dashmap::DashMap<u64, socket::Socket>,
}

impl Hub {
    pub fn new(
        max_per_user: usize,
        ping_interval: Duration,
        queue_capacity: usize,
        cluster: Option<Arc<Cluster>>,
    ) -> Arc<Self> {
        let registry = Arc::new(Registry::new(max_per_user));
        Arc::new(Self {
            dispatcher: Dispatcher::new(registry.clone()),
            registry,
            ping_interval,
            queue_capacity,
            cluster,
            sockets: Default::default(),
        })
    }

    /// A session actor that has not run for three ping intervals is stuck
    /// behind a peer that stopped reading (it would have pinged, or closed
    /// the connection for missed pongs): reset its socket.
    fn abort_stalled(&self) {
        let limit = self.ping_interval * 3 + Duration::from_secs(2);
        self.registry.for_each(|s| {
            if s.idle_for() <= limit {
                return;
            }
            let Some(sock) = self.sockets.get(&s.id).map(|e| *e.value()) else {
                return;
            };
            if sock.abort() {
                self.sockets.remove(&s.id);
                let stats = &self.dispatcher.stats;
                stats
                    .aborted_stalled
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    connection = s.id,
                    user = s.user_id,
                    idle_ms = s.idle_for().as_millis() as u64,
                    "websocket peer stopped reading; socket reset"
                );
            }
        });
    }

    /// Counts a new connection against the user's limit on every instance.
    /// Redis being unreachable does not lock users out: the local limit
    /// still holds, and the failure is counted.
    async fn acquire_cluster_slot(&self, user_id: i32) -> Result<bool, ()> {
        let Some(c) = &self.cluster else {
            return Ok(false);
        };
        match c.acquire(user_id, self.registry.max_per_user).await {
            Ok(true) => Ok(true),
            Ok(false) => Err(()),
            Err(e) => {
                c.stats
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(error = %e, "cluster connection count unavailable");
                Ok(false)
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ConnectQuery {
    pub token: Option<String>,
    /// `true`: log every frame of this connection (admins only).
    pub debug: Option<bool>,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ws").route(web::get().to(connect)))
        .service(web::resource("/ws/{topic}").route(web::get().to(topic)))
        .service(web::resource("/ws/{topic}/{user_id}").route(web::get().to(legacy)));
}

/// Largest frame the server reads; bigger text messages are INVALID_MESSAGE.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// How a connection was opened: the unified endpoint or a legacy one.
struct Entry {
    /// Subscriptions instead of the role's defaults.
    preset: Option<Vec<EventType>>,
    /// A frame sent first (the legacy endpoints' deprecation warning).
    greeting: Option<String>,
    /// Legacy endpoints name a user in the path: it must be the token's.
    path_user: Option<i32>,
}

async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    q: web::Query<ConnectQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    let entry = Entry {
        preset: None,
        greeting: None,
        path_user: None,
    };
    open(req, stream, state, q.into_inner(), entry).await
}

/// The per-topic endpoints: the unified protocol, starting with one topic's
/// subscriptions instead of the role's defaults.
fn topic_preset(topic: &str) -> Option<Vec<EventType>> {
    use EventType::*;
    Some(match topic {
        "queries" => vec![DnsQuery],
        "metrics" => vec![SystemMetrics],
        "health" => vec![HealthUpdate, HealthAlert, ForwarderStatusChange],
        // Every event notification the role may have (the defaults).
        "events" => permissions::defaults(true),
        _ => return None,
    })
}

/// The legacy per-area endpoints' subscriptions.
fn legacy_preset(topic: &str) -> Option<Vec<EventType>> {
    use EventType::*;
    Some(match topic {
        "health" => vec![HealthUpdate, HealthAlert],
        "dns_management" => vec![
            ZoneCreated,
            ZoneUpdated,
            ZoneDeleted,
            RecordCreated,
            RecordUpdated,
            RecordDeleted,
            BulkOperationProgress,
            BulkOperationComplete,
        ],
        "security" => vec![SecurityAlert, ThreatDetected, RpzUpdated, ThreatFeedUpdated],
        _ => return None,
    })
}

fn no_such_endpoint() -> HttpResponse {
    let e = crate::error::ApiError::not_found("WebSocket endpoint");
    actix_web::ResponseError::error_response(&e)
}

/// `/ws/queries`, `/ws/metrics`, `/ws/events`, `/ws/health`.
async fn topic(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    q: web::Query<ConnectQuery>,
    path: web::Path<String>,
) -> Result<HttpResponse, actix_web::Error> {
    let Some(preset) = topic_preset(&path) else {
        return Ok(no_such_endpoint());
    };
    let entry = Entry {
        preset: Some(preset),
        greeting: None,
        path_user: None,
    };
    open(req, stream, state, q.into_inner(), entry).await
}

/// The legacy per-area endpoints, kept for old dashboards: same token rules,
/// preset subscriptions and a deprecation warning first.
async fn legacy(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    q: web::Query<ConnectQuery>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, actix_web::Error> {
    let (topic, user) = path.into_inner();
    let Some(preset) = legacy_preset(&topic) else {
        return Ok(no_such_endpoint());
    };
    let greeting = messages::warning(
        "DEPRECATED_ENDPOINT",
        &format!("/ws/{topic}/{{user_id}} is deprecated; use /ws and subscribe to the event types you need"),
    );
    let entry = Entry {
        preset: Some(preset),
        greeting: Some(greeting),
        path_user: Some(user.parse().unwrap_or(-1)),
    };
    open(req, stream, state, q.into_inner(), entry).await
}

/// A connection let in: its session, ready to start.
pub struct Admission {
    session: WsSession,
}

/// Opens a WebSocket: admitted, the session starts; refused, one error
/// frame and a close code.
async fn open(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    q: ConnectQuery,
    entry: Entry,
) -> Result<HttpResponse, actix_web::Error> {
    // A request that is no WebSocket handshake is refused before anything
    // is registered: the actor would never start, nor stop to unregister.
    actix_web_actors::ws::handshake(&req)?;
    match admit(&req, &state, q, entry).await {
        Ok(a) => start(a.session, &req, stream),
        Err(r) => start(r, &req, stream),
    }
}

/// What a new session is subscribed to: a legacy endpoint's preset (what
/// of it the role may receive; `None` when nothing), else the role's defaults.
fn first_subscriptions(
    preset: Option<Vec<EventType>>,
    is_admin: bool,
) -> Option<HashSet<EventType>> {
    match preset {
        Some(list) => {
            let allowed: HashSet<EventType> = list
                .iter()
                .copied()
                .filter(|t| permissions::may_subscribe(is_admin, *t))
                .collect();
            (!allowed.is_empty()).then_some(allowed)
        }
        None => Some(permissions::defaults(is_admin).into_iter().collect()),
    }
}

/// Who may open this connection, with which subscriptions, within the
/// per-user (and cluster-wide) connection limit.
// Long on purpose: the door's checks in the order a client meets them
// (token, path, role, grants, limits), each refusing with its own code.
async fn admit(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    q: ConnectQuery,
    entry: Entry,
) -> Result<Admission, Rejected> {
    let token = q.token.unwrap_or_default();
    let auth_failed =
        |message: &str| Rejected::new(ErrorCode::AuthFailed, message, close::AUTH_FAILED);
    let denied = |message: &str| {
        Rejected::new(
            ErrorCode::PermissionDenied,
            message,
            close::PERMISSION_DENIED,
        )
    };
    let auth = match authenticate(state, &token, crate::http::client_ip(req)).await {
        Ok(a) if !a.user.must_change_password => a,
        Ok(_) => return Err(auth_failed("The password must be changed first")),
        Err(_) => return Err(auth_failed("A valid access token is required")),
    };
    if entry.path_user.is_some_and(|u| u != auth.user.id) {
        return Err(auth_failed("The path's user is not the token's user"));
    }
    let is_admin = auth.is_admin();
    let subscriptions = first_subscriptions(entry.preset, is_admin)
        .ok_or_else(|| denied("Your role may not receive these events"))?;
    if q.debug == Some(true) && !is_admin {
        return Err(denied("Debug mode is for admins"));
    }
    let hub = state.hub.clone();
    let zones: HashSet<i32> = if is_admin {
        HashSet::new()
    } else {
        grants::granted_zone_ids(&state.db, auth.user.id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "websocket admission: zone grants unreadable");
                Rejected::new(
                    ErrorCode::Unavailable,
                    "The service cannot read your grants right now",
                    close::UNAVAILABLE,
                )
            })?
            .into_iter()
            .collect()
    };
    let handle = Arc::new(SessionHandle::new(
        hub.registry.next_id(),
        auth.user.id,
        auth.session_id.clone(),
        is_admin,
        zones,
        subscriptions,
        hub.queue_capacity,
    ));
    let registered = hub.registry.register(handle.clone()).is_ok();
    let counted = match registered {
        true => hub.acquire_cluster_slot(auth.user.id).await,
        false => Err(()),
    };
    let Ok(counted) = counted else {
        if registered {
            hub.registry.unregister(handle.id);
        }
        return Err(Rejected::new(
            ErrorCode::ConnectionLimit,
            &format!("At most {} connections per user", hub.registry.max_per_user),
            close::CONNECTION_LIMIT,
        ));
    };
    if let Some(sock) = req.conn_data::<socket::Socket>() {
        hub.sockets.insert(handle.id, *sock);
    }
    let opts = session::Options {
        counted_in_cluster: counted,
        greeting: entry.greeting,
        debug: q.debug == Some(true),
        username: auth.user.username.clone(),
        ip: crate::http::client_ip(req),
        path: req.path().to_string(),
    };
    let session = WsSession::new(
        handle,
        hub,
        state.get_ref().clone(),
        token,
        auth.claims.exp,
        opts,
    );
    Ok(Admission { session })
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
/// refresh-token reuse, the CLI, another instance) are closed, and sockets
/// of stalled sessions are reset.
pub fn spawn_session_sweeper(hub: Arc<Hub>, db: sea_orm::DatabaseConnection, every: Duration) {
    use hdns_entities::{sessions, users};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            hub.abort_stalled();
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
