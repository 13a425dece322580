//! The session actor of one WebSocket connection: answers client messages,
//! drains the outbox the Dispatcher fills, pings, and closes the connection
//! when its token expires or its session ends.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web_actors::ws;
use hdns_actors::events::EventType;
use hdns_actors::ws::{permissions, ratelimit, SessionHandle};
use serde_json::{json, Value};

use super::messages;
use super::protocol::{ClientMessage, ErrorCode};
use super::{close, Hub, MAX_MESSAGE_BYTES};
use crate::state::AppState;

/// A connection refused at the door: one error frame, then the close code.
pub struct Rejected {
    code: ErrorCode,
    message: String,
    close: u16,
}

impl Rejected {
    pub fn new(code: ErrorCode, message: &str, close: u16) -> Self {
        Self {
            code,
            message: message.to_string(),
            close,
        }
    }
}

impl Actor for Rejected {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.text(messages::error(self.code, &self.message, None, None));
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Other(self.close),
            description: Some(self.code.as_str().to_string()),
        }));
        ctx.stop();
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Rejected {
    fn handle(&mut self, _: Result<ws::Message, ws::ProtocolError>, _: &mut Self::Context) {}
}

/// How the connection was opened.
pub struct Options {
    /// A frame sent first (legacy endpoints: a deprecation warning).
    pub greeting: Option<String>,
    /// Log every frame (admins only, `?debug=true`).
    pub debug: bool,
    pub username: String,
    pub ip: Option<String>,
    pub path: String,
    /// The connection is counted in Redis (cluster mode) and must be released.
    pub counted_in_cluster: bool,
}

pub struct WsSession {
    opts: Options,
    handle: Arc<SessionHandle>,
    hub: Arc<Hub>,
    state: AppState,
    token: String,
    expires_at: i64,
    missed_pings: u32,
    last_activity: String,
}

/// The outbox has something (or a close was requested).
struct Wake;

impl WsSession {
    pub fn new(
        handle: Arc<SessionHandle>,
        hub: Arc<Hub>,
        state: AppState,
        token: String,
        expires_at: i64,
        opts: Options,
    ) -> Self {
        Self {
            opts,
            handle,
            hub,
            state,
            token,
            expires_at,
            missed_pings: 0,
            last_activity: crate::now_iso(),
        }
    }

    fn send(&self, ctx: &mut ws::WebsocketContext<Self>, text: String) {
        self.handle.messages_sent.fetch_add(1, Ordering::Relaxed);
        if self.opts.debug {
            tracing::info!(connection = self.handle.id, bytes = text.len(), frame = %text, "ws debug: sent");
        }
        ctx.text(text);
    }

    fn close_with(&self, ctx: &mut ws::WebsocketContext<Self>, code: u16, reason: &str) {
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Other(code),
            description: Some(reason.to_string()),
        }));
        ctx.stop();
    }

    fn error(
        &self,
        ctx: &mut ws::WebsocketContext<Self>,
        code: ErrorCode,
        message: &str,
        details: Option<Value>,
        id: Option<&Value>,
    ) {
        self.send(ctx, messages::error(code, message, details, id));
    }

    /// Writes what is due: critical frames, and the batch once its deadline
    /// has come.
    fn flush(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        self.handle.tick();
        if let Some(c) = self.handle.close_requested() {
            if c.code == close::TOO_SLOW {
                self.error(ctx, ErrorCode::SlowConsumer, &c.reason, None, None);
            }
            self.close_with(ctx, c.code, &c.reason);
            return;
        }
        let now = Instant::now();
        let due = match self.handle.outbox.lock() {
            Ok(mut o) => o.take_due(now),
            Err(_) => return,
        };
        for f in due.critical {
            self.send(ctx, f.to_string());
        }
        match due.batch.len() {
            0 => {}
            1 => self.send(ctx, due.batch[0].to_string()),
            _ => self.send(ctx, messages::batch(&due.batch)),
        }
        let stats = &self.hub.dispatcher.stats;
        for (p, since) in &due.stamps {
            stats.latency_of(*p).record(since.elapsed());
        }
        // What is left is due later: the Dispatcher wakes us then.
    }

    fn on_text(&mut self, ctx: &mut ws::WebsocketContext<Self>, text: &str) {
        self.handle
            .messages_received
            .fetch_add(1, Ordering::Relaxed);
        self.last_activity = crate::now_iso();
        if self.opts.debug {
            tracing::info!(connection = self.handle.id, frame = %text, "ws debug: received");
        }
        // The token is checked on every message, not only at connect.
        if self.state.jwt.verify(&self.token).is_none() {
            self.error(
                ctx,
                ErrorCode::AuthFailed,
                "The access token has expired",
                None,
                None,
            );
            self.close_with(ctx, close::AUTH_FAILED, ErrorCode::AuthFailed.as_str());
            return;
        }
        if text.len() > MAX_MESSAGE_BYTES {
            let details = json!({"max_bytes": MAX_MESSAGE_BYTES});
            return self.error(
                ctx,
                ErrorCode::InvalidMessage,
                "The message is too large",
                Some(details),
                None,
            );
        }
        let msg: Value = match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return self.error(
                    ctx,
                    ErrorCode::InvalidMessage,
                    "Messages are JSON objects with a `type`",
                    None,
                    None,
                )
            }
        };
        let Some(kind) = msg.get("type").and_then(|t| t.as_str()) else {
            return self.error(
                ctx,
                ErrorCode::InvalidMessage,
                "The message has no `type`",
                None,
                message_id(&msg).as_ref(),
            );
        };
        let limits = ratelimit::limits_for(kind, self.handle.is_admin());
        match self.hub.cluster.clone() {
            // Several instances: the windows live in Redis. The actor handles
            // nothing else meanwhile, so messages keep their order.
            Some(cluster) if !limits.is_empty() => {
                let user = self.handle.user_id;
                let check = async move {
                    let hit = cluster.hit(user, &limits);
                    match tokio::time::timeout(CLUSTER_LIMIT_TIMEOUT, hit).await {
                        Ok(Ok(r)) => Ok(r),
                        _ => {
                            cluster.stats.errors.fetch_add(1, Ordering::Relaxed);
                            Err(limits)
                        }
                    }
                };
                ctx.wait(check.into_actor(self).map(move |r, act, ctx| {
                    // Redis unreachable: this instance's windows still hold.
                    let r = r.unwrap_or_else(|limits| act.local_hit(&limits));
                    act.handle_message(ctx, &msg, r);
                }));
            }
            _ => {
                let r = self.local_hit(&limits);
                self.handle_message(ctx, &msg, r);
            }
        }
    }

    /// A message within the limits (or refused by them) is answered here.
    fn handle_message(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        msg: &Value,
        limited: Result<(), ratelimit::Exceeded>,
    ) {
        let id = message_id(msg);
        let id = id.as_ref();
        let kind = msg.get("type").and_then(|t| t.as_str()).unwrap_or_default();
        if let Err(e) = limited {
            let details = json!({"limit": e.limit, "window": ratelimit::WINDOW.as_secs(), "retry_after": e.retry_after});
            let text = format!(
                "Rate limit exceeded. Try again in {} seconds.",
                e.retry_after
            );
            return self.error(ctx, ErrorCode::RateLimited, &text, Some(details), id);
        }
        let Some(message) = ClientMessage::parse(msg) else {
            return self.error(
                ctx,
                ErrorCode::InvalidMessage,
                &format!("Unknown message type `{kind}`"),
                Some(json!({"allowed": ClientMessage::TYPES})),
                id,
            );
        };
        match message {
            ClientMessage::Ping => self.send(ctx, messages::bare("pong", id)),
            ClientMessage::Pong => self.missed_pings = 0,
            ClientMessage::Subscribe { data } => {
                self.change_subscriptions(ctx, true, data.as_ref(), id)
            }
            ClientMessage::Unsubscribe { data } => {
                self.change_subscriptions(ctx, false, data.as_ref(), id)
            }
            ClientMessage::GetSubscriptions => {
                let data = json!({
                    "subscriptions": self.subscriptions(),
                    "default_subscriptions": names(&permissions::defaults(self.handle.is_admin())),
                });
                self.send(ctx, messages::response(data, id));
            }
            ClientMessage::GetStats => {
                let (shed, queued) = match self.handle.outbox.lock() {
                    Ok(o) => (o.shed, o.len()),
                    Err(_) => return,
                };
                let data = json!({
                    "connection_id": format!("conn_{}", self.handle.id),
                    "connected_at": self.handle.connected_at,
                    "messages_sent": self.handle.messages_sent.load(Ordering::Relaxed),
                    "messages_received": self.handle.messages_received.load(Ordering::Relaxed),
                    "subscriptions": self.subscriptions(),
                    "last_activity": self.last_activity,
                    "queued": queued,
                    "shed": shed,
                });
                self.send(ctx, messages::response(data, id));
            }
        }
    }

    /// Counts the message against the user's limits (all of their
    /// connections on this instance together).
    fn local_hit(&self, limits: &[ratelimit::Limit]) -> Result<(), ratelimit::Exceeded> {
        let now = Instant::now();
        self.hub
            .registry
            .with_limits(self.handle.user_id, |l| l.hit(limits, now))
    }

    fn subscriptions(&self) -> Vec<&'static str> {
        let mut v: Vec<EventType> = self.handle.subscriptions().into_iter().collect();
        v.sort_by_key(|t| permissions::ALL.iter().position(|a| a == t));
        names(&v)
    }

    /// All or nothing: one unknown or forbidden type refuses the request.
    fn change_subscriptions(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        add: bool,
        data: Option<&Value>,
        id: Option<&Value>,
    ) {
        let Some(list) = data
            .and_then(|d| d.get("event_types"))
            .and_then(|v| v.as_array())
        else {
            return self.error(
                ctx,
                ErrorCode::InvalidMessage,
                "`data.event_types` must be an array of event types",
                None,
                id,
            );
        };
        let mut types = Vec::with_capacity(list.len());
        let mut unknown = Vec::new();
        for v in list {
            match v.as_str().and_then(permissions::parse) {
                Some(t) => types.push(t),
                None => unknown.push(v.clone()),
            }
        }
        if !unknown.is_empty() {
            let details = json!({"unknown_event_types": unknown});
            return self.error(
                ctx,
                ErrorCode::SubscriptionFailed,
                "Unknown event type",
                Some(details),
                id,
            );
        }
        let admin = self.handle.is_admin();
        let forbidden: Vec<&str> = types
            .iter()
            .filter(|t| !permissions::may_subscribe(admin, **t))
            .map(|t| t.as_str())
            .collect();
        if add && !forbidden.is_empty() {
            let details = json!({"event_types": forbidden});
            return self.error(
                ctx,
                ErrorCode::PermissionDenied,
                "Your role may not subscribe to these event types",
                Some(details),
                id,
            );
        }
        let registry = &self.hub.registry;
        if add {
            registry.subscribe(&self.handle, &types);
        } else {
            registry.unsubscribe(&self.handle, &types);
        }
        let key = if add { "subscribed" } else { "unsubscribed" };
        self.audit(
            if add {
                "ws.subscribe"
            } else {
                "ws.unsubscribe"
            },
            json!({ "event_types": names(&types) }),
        );
        let data = json!({ key: names(&types), "subscriptions": self.subscriptions() });
        self.send(ctx, messages::response(data, id));
    }
}

impl WsSession {
    /// Writes an audit row in the background: the socket never waits on it.
    fn audit(&self, action: &'static str, after: Value) {
        let db = self.state.db.clone();
        let actor = crate::services::Caller {
            user_id: Some(self.handle.user_id),
            role: if self.handle.is_admin() {
                crate::services::Role::Admin
            } else {
                crate::services::Role::User
            },
            username: Some(self.opts.username.clone()),
            ip: self.opts.ip.clone(),
        };
        let id = format!("conn_{}", self.handle.id);
        tokio::spawn(async move {
            let entry = crate::services::audit::Entry {
                action,
                resource_type: "websocket",
                resource_id: Some(id),
                before: None,
                after: Some(after),
            };
            if let Err(e) = crate::services::audit::record(&db, &actor, entry).await {
                tracing::warn!(error = %e, "websocket audit write failed");
            }
        });
    }
}

/// A client's `id`, echoed on the answer (strings and numbers only).
fn message_id(msg: &Value) -> Option<Value> {
    msg.get("id")
        .filter(|v| v.is_string() || v.is_number())
        .cloned()
}

/// How long a message waits for the shared rate-limit windows in Redis.
const CLUSTER_LIMIT_TIMEOUT: Duration = Duration::from_millis(500);

fn names(types: &[EventType]) -> Vec<&'static str> {
    types.iter().map(|t| t.as_str()).collect()
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.audit("ws.connect", json!({"path": self.opts.path, "subscriptions": self.subscriptions(), "debug": self.opts.debug}));
        if let Some(g) = self.opts.greeting.take() {
            self.send(ctx, g);
        }
        let handle = self.handle.clone();
        ctx.add_stream(futures_util::stream::unfold(handle, |h| async move {
            h.notify.notified().await;
            Some((Wake, h))
        }));
        ctx.run_interval(self.hub.ping_interval, |act, ctx| {
            act.handle.tick();
            if act.missed_pings >= 2 {
                act.close_with(ctx, close::PING_TIMEOUT, "missed two pings");
                return;
            }
            act.missed_pings += 1;
            act.send(ctx, messages::bare("ping", None));
        });
        // Close at token expiry even when idle, after telling the client why.
        let left = (self.expires_at - chrono::Utc::now().timestamp()).max(0) as u64;
        ctx.run_later(Duration::from_secs(left), |act, ctx| {
            let ev = hdns_actors::events::Event::new(hdns_actors::events::SessionExpired {
                user_id: act.handle.user_id.to_string(),
                reason: "token_expired".into(),
                timestamp: crate::now_iso(),
            });
            let frame = hdns_actors::ws::dispatcher::envelope(&ev, &ev.data);
            act.send(ctx, frame.to_string());
            act.state.dns.bus.record(ev);
            act.close_with(ctx, close::SESSION_EXPIRED, "session_expired");
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.hub.registry.unregister(self.handle.id);
        self.hub.sockets.remove(&self.handle.id);
        if let (true, Some(c)) = (self.opts.counted_in_cluster, self.hub.cluster.clone()) {
            let user = self.handle.user_id;
            tokio::spawn(async move { c.release(user).await });
        }
        let reason = self
            .handle
            .close_requested()
            .map(|c| json!({"code": c.code, "reason": c.reason}));
        self.audit(
            "ws.disconnect",
            json!({
                "messages_sent": self.handle.messages_sent.load(Ordering::Relaxed),
                "messages_received": self.handle.messages_received.load(Ordering::Relaxed),
                "closed_by_server": reason,
            }),
        );
    }
}

impl StreamHandler<Wake> for WsSession {
    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        self.flush(ctx);
    }

    // The wake stream never ends on its own; keep the actor alive if it does.
    fn finished(&mut self, _: &mut Self::Context) {}
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match msg {
            Ok(ws::Message::Text(t)) => self.on_text(ctx, &t),
            Ok(ws::Message::Binary(_)) => self.error(
                ctx,
                ErrorCode::InvalidMessage,
                "Binary frames are not supported",
                None,
                None,
            ),
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Pong(_)) => self.missed_pings = 0,
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(ws::Message::Continuation(_)) | Ok(ws::Message::Nop) => {}
            Err(_) => {
                self.error(
                    ctx,
                    ErrorCode::InvalidMessage,
                    "The frame could not be read (too large or malformed)",
                    None,
                    None,
                );
                ctx.stop();
            }
        }
    }
}
