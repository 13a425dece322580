//! Frames of the unified WebSocket protocol.

use serde::Serialize;
use serde_json::Value;

/// `{"type":"error", error_code, message, details?, timestamp, id?}`.
pub fn error(
    code: super::protocol::ErrorCode,
    message: &str,
    details: Option<Value>,
    id: Option<&Value>,
) -> String {
    let mut v = serde_json::json!({
        "type": "error",
        "error_code": code.as_str(),
        "message": message,
        "timestamp": crate::now_iso(),
    });
    if let Some(d) = details {
        v["details"] = d;
    }
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    v.to_string()
}

/// `{"type":"warning", code, message, timestamp}`.
pub fn warning(code: &str, message: &str) -> String {
    serde_json::json!({
        "type": "warning",
        "code": code,
        "message": message,
        "timestamp": crate::now_iso(),
    })
    .to_string()
}

/// `{"type":"response", data, timestamp, id?}`.
pub fn response(data: impl Serialize, id: Option<&Value>) -> String {
    let mut v = serde_json::json!({
        "type": "response",
        "data": data,
        "timestamp": crate::now_iso(),
    });
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    v.to_string()
}

/// `{"type": kind, timestamp, id?}` for ping and pong.
pub fn bare(kind: &str, id: Option<&Value>) -> String {
    let mut v = serde_json::json!({ "type": kind, "timestamp": crate::now_iso() });
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    v.to_string()
}

/// `batch_<instance>_<n>`: unique without a random draw per batch (the
/// instance part is drawn once per process, so restarts and cluster members
/// do not repeat each other's ids).
fn batch_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let instance =
        INSTANCE.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string());
    format!("batch_{instance}_{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A `batch` frame from already serialized event envelopes: nothing is
/// serialized twice.
pub fn batch(frames: &[std::sync::Arc<str>]) -> String {
    let len: usize = frames.iter().map(|f| f.len() + 1).sum();
    let mut s = String::with_capacity(len + 120);
    s.push_str("{\"type\":\"batch\",\"events\":[");
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(f);
    }
    s.push_str("],\"batch_id\":\"");
    s.push_str(&batch_id());
    s.push_str("\",\"timestamp\":\"");
    s.push_str(&crate::now_iso());
    s.push_str("\"}");
    s
}
