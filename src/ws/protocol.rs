//! What a client may send, and the error codes it may get back
//! (docs/websocket-api.md).

use serde::Deserialize;
use serde_json::Value;

/// Error codes of `{"type":"error"}` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Missing, invalid or expired token; the connection closes (4001).
    AuthFailed,
    /// Not JSON, not an object, no or an unknown `type`, malformed data,
    /// too large.
    InvalidMessage,
    /// More messages than the role's limit per minute.
    RateLimited,
    /// An unknown event type in a subscription change.
    SubscriptionFailed,
    /// The role may not do this (admin-only events, debug mode).
    PermissionDenied,
    /// More connections than the per-user limit.
    ConnectionLimit,
    /// The outbox overflowed with events that may not be shed (then 4008).
    SlowConsumer,
    /// The server cannot admit the connection now (then 1011).
    Unavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthFailed => "AUTH_FAILED",
            Self::InvalidMessage => "INVALID_MESSAGE",
            Self::RateLimited => "RATE_LIMITED",
            Self::SubscriptionFailed => "SUBSCRIPTION_FAILED",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::ConnectionLimit => "CONNECTION_LIMIT",
            Self::SlowConsumer => "SLOW_CONSUMER",
            Self::Unavailable => "SERVICE_UNAVAILABLE",
        }
    }
}

/// A client frame, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Ping,
    Pong,
    /// `data.event_types` is checked by the session (its errors name it).
    Subscribe {
        #[serde(default)]
        data: Option<Value>,
    },
    Unsubscribe {
        #[serde(default)]
        data: Option<Value>,
    },
    GetSubscriptions,
    GetStats,
}

impl ClientMessage {
    /// The `type` names a client may send.
    pub const TYPES: [&'static str; 6] = [
        "ping",
        "pong",
        "subscribe",
        "unsubscribe",
        "get_subscriptions",
        "get_stats",
    ];

    /// The message of a JSON object whose `type` is one of `TYPES`; `None`
    /// for any other type. Unknown fields (`id`, ...) are ignored.
    pub fn parse(msg: &Value) -> Option<Self> {
        Self::deserialize(msg).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_parse_by_type() {
        assert!(matches!(
            ClientMessage::parse(&json!({"type": "ping", "id": 7})),
            Some(ClientMessage::Ping)
        ));
        match ClientMessage::parse(
            &json!({"type": "subscribe", "data": {"event_types": ["zone_created"]}}),
        ) {
            Some(ClientMessage::Subscribe { data: Some(d) }) => {
                assert_eq!(d["event_types"][0], "zone_created")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ClientMessage::parse(&json!({"type": "unsubscribe"})),
            Some(ClientMessage::Unsubscribe { data: None })
        ));
        assert!(ClientMessage::parse(&json!({"type": "nope"})).is_none());
        assert_eq!(ErrorCode::SlowConsumer.as_str(), "SLOW_CONSUMER");
    }
}
