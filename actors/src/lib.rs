//! The runtime of hybrid-dns: typed events and their priorities, the event
//! bus, the WebSocket registry and Dispatcher, the cluster bridge, and the
//! actors that own BIND, the query log and policy zones. Nothing here knows
//! about HTTP.

pub mod bind;
pub mod bus;
pub mod cluster;
pub mod db;
pub mod dns_client;
pub mod events;
pub mod querylog;
pub mod rpz;
pub mod ws;
