//! Services: the business rules behind the REST handlers. Each mutation runs
//! in one transaction together with its audit-log row.

pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod bulk;
pub mod dns_commit;
pub mod forwarders;
pub mod grants;
pub mod records;
pub mod rpz;
pub mod threat_feeds;
pub mod users;
pub mod zone_import;
pub mod zones;

/// Who is acting, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub id: Option<i32>,
    pub username: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn user(user: &hdns_entities::users::Model, ip: Option<String>) -> Self {
        Self {
            id: Some(user.id),
            username: Some(user.username.clone()),
            ip,
        }
    }

    pub fn system() -> Self {
        Self {
            id: None,
            username: Some("system".into()),
            ip: None,
        }
    }
}
