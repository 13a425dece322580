//! The runtime of hybrid-dns: typed events and their priorities, the
//! SubscriptionRegistry and Dispatcher, and the actors that own BIND, health
//! checks, threat feeds and metrics. Nothing here knows about HTTP.
//!
//! The crate is wired into the workspace now so the dependency direction
//! (`src` -> `actors` -> `entities`) is fixed from the start; the actors arrive
//! with the DNS and WebSocket work.
