//! Services: the business rules behind the REST handlers. Each mutation runs
//! in one transaction together with its audit-log row.

pub mod audit;
pub mod auth;
pub mod bulk;
pub mod credentials;
pub mod error;
pub mod forwarders;
pub mod grants;
pub mod records;
pub mod rpz;
pub mod threat_feeds;
pub mod users;
pub mod zone_import;
pub mod zones;

pub use error::{Error, FieldError, Result};
pub use users::Role;

/// Who is acting: the signed-in user (or the system, or an anonymous client
/// at login) with their role and address. Authorization and the audit log
/// both read it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: Option<i32>,
    pub role: Role,
    pub username: Option<String>,
    pub ip: Option<String>,
}

impl Caller {
    pub fn user(user: &hdns_entities::users::Model, ip: Option<String>) -> Self {
        Self {
            user_id: Some(user.id),
            role: user.role,
            username: Some(user.username.clone()),
            ip,
        }
    }

    /// The service itself (bootstrap, schedules).
    pub fn system() -> Self {
        Self::system_as("system")
    }

    /// An operator acting outside the API (the CLI), with every right.
    pub fn system_as(name: &str) -> Self {
        Self {
            user_id: None,
            role: Role::Admin,
            username: Some(name.into()),
            ip: None,
        }
    }

    /// Someone not signed in (a failed login names who they claimed to be).
    pub fn anonymous(username: Option<String>, ip: Option<String>) -> Self {
        Self {
            user_id: None,
            role: Role::User,
            username,
            ip,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Who acted, as events name them: the user's id, or `system`.
    pub fn event_user_id(&self) -> String {
        self.user_id
            .map(|i| i.to_string())
            .unwrap_or_else(|| "system".into())
    }
}
