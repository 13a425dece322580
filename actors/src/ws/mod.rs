//! The delivery side of the unified WebSocket: per-session outboxes, the
//! registry of live sessions, permission rules and the Dispatcher. It knows
//! nothing of HTTP; the session actor in `src/ws/` drains the outboxes.

pub mod dispatcher;
pub mod latency;
pub mod outbox;
pub mod permissions;
pub mod ratelimit;
pub mod registry;

pub use dispatcher::Dispatcher;
pub use outbox::{Outbox, Push};
pub use registry::{Registry, SessionHandle};
