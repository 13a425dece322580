//! The runtime of hybrid-dns: typed events and their priorities, the event
//! bus, and the actors that own BIND (and later health checks, threat feeds
//! and metrics). Nothing here knows about HTTP.

pub mod bind;
pub mod bus;
pub mod events;
pub mod querylog;
pub mod rpz;
pub mod ws;
