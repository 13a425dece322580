//! hybrid-dns: the edge of the service (CLI, config, REST, WebSocket, auth).
//! The runtime lives in the `hdns-actors` crate, the schema in `hdns-entities`.

pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod cli;
mod cli_zone;
pub mod config;
pub mod db;
pub mod dns;
pub mod error;
pub mod http;
pub mod server;
pub mod services;
pub mod state;
pub mod ws;

pub use hdns_actors::events::now_iso;
