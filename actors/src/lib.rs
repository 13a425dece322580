//! The runtime of hybrid-dns: typed events and their priorities, the event
//! bus, the WebSocket registry and Dispatcher, the cluster bridge, the one
//! path to BIND (`bind::commit`), the DNS client, and the actors that own
//! BIND, health, metrics, the query log, threat feeds and detection.
//! Nothing here knows about HTTP.

pub mod bind;
pub mod bus;
pub mod cluster;
pub mod db;
pub mod dns_client;
pub mod events;
pub mod monitor;
pub mod names;
pub mod querylog;
pub mod redact;
pub mod rpz;
pub mod supervise;
pub mod ws;
