//! Shared application state handed to every handler.

use std::sync::Arc;
use std::time::Instant;

use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::services::bulk::BulkRegistry;
use crate::services::credentials::tokens::JwtKeys;
use hdns_actors::bind::commit::Dns;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub jwt: Arc<JwtKeys>,
    /// What the authentication service needs (database, keys, policy).
    pub auth: crate::services::auth::Context,
    pub started_at: Instant,
    pub dns: Dns,
    pub bulk: BulkRegistry,
    pub hub: Arc<crate::ws::Hub>,
    pub monitor: hdns_actors::monitor::Monitor,
    pub security: hdns_actors::rpz::security::Security,
}
