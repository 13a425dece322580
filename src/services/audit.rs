//! The audit log: written inside the caller's transaction, so a change and its
//! record commit or roll back together.

use chrono::Utc;
use hdns_entities::audit_log;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};
use serde_json::Value;

use super::Caller;

pub struct Entry<'a> {
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

pub async fn record<C: ConnectionTrait>(
    db: &C,
    actor: &Caller,
    entry: Entry<'_>,
) -> Result<(), DbErr> {
    audit_log::ActiveModel {
        actor_id: Set(actor.user_id),
        actor_username: Set(actor.username.clone()),
        action: Set(entry.action.to_string()),
        resource_type: Set(entry.resource_type.to_string()),
        resource_id: Set(entry.resource_id),
        before: Set(entry.before),
        after: Set(entry.after),
        ip: Set(actor.ip.clone()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map(|_| ())
}
