//! Per-user zone grants (`read` or `write`) and the access check every zone
//! and record route goes through. Admins have write access to every zone.

use chrono::Utc;
use hdns_actors::events::{Event, PermissionChange, PermissionChanged};
use hdns_entities::{users, zone_permissions, zones};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::{self, Entry};
use super::error::{Error, Result};
use super::Caller;
use hdns_actors::bind::commit::Dns;

pub use hdns_entities::enums::GrantLevel as Level;

/// The caller's level on a zone; `None` when they have no grant.
pub async fn level<C: ConnectionTrait>(
    db: &C,
    actor: &Caller,
    zone_id: i32,
) -> Result<Option<Level>> {
    if actor.is_admin() {
        return Ok(Some(Level::Write));
    }
    let grant = zone_permissions::Entity::find()
        .filter(zone_permissions::Column::ZoneId.eq(zone_id))
        .filter(zone_permissions::Column::UserId.eq(actor.user_id.unwrap_or(-1)))
        .one(db)
        .await?;
    Ok(grant.map(|g| g.level))
}

/// Loads a zone the caller may use at `need`. A zone without any grant is
/// reported as not found, so its existence does not leak.
pub async fn require_zone<C: ConnectionTrait>(
    db: &C,
    actor: &Caller,
    zone_id: i32,
    need: Level,
) -> Result<zones::Model> {
    let have = level(db, actor, zone_id).await?;
    let zone = zones::Entity::find_by_id(zone_id).one(db).await?;
    match (zone, have) {
        (Some(z), Some(l)) if l >= need => Ok(z),
        (Some(_), Some(_)) => Err(Error::forbidden(
            "permission_denied",
            "You have read-only access to this zone",
        )),
        _ => Err(Error::not_found("Zone")),
    }
}

/// Zones a non-admin user may see.
pub async fn granted_zone_ids<C: ConnectionTrait>(db: &C, user_id: i32) -> Result<Vec<i32>> {
    Ok(zone_permissions::Entity::find()
        .filter(zone_permissions::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|g| g.zone_id)
        .collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub user_id: i32,
    pub username: String,
    pub level: Level,
    pub created_at: String,
}

pub async fn list(db: &DatabaseConnection, zone_id: i32) -> Result<Vec<GrantView>> {
    zones::Entity::find_by_id(zone_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("Zone"))?;
    let rows = zone_permissions::Entity::find()
        .filter(zone_permissions::Column::ZoneId.eq(zone_id))
        .order_by_asc(zone_permissions::Column::UserId)
        .all(db)
        .await?;
    // One query for all usernames, not one per grant.
    let names: std::collections::HashMap<i32, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(rows.iter().map(|g| g.user_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    Ok(rows
        .into_iter()
        .map(|g| GrantView {
            username: names.get(&g.user_id).cloned().unwrap_or_default(),
            user_id: g.user_id,
            level: g.level,
            created_at: g.created_at.to_rfc3339(),
        })
        .collect())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub user_id: i32,
    pub level: Level,
}

fn changed_event(user_id: i32, zone: &zones::Model, level: Option<Level>) -> Event {
    Event::new(PermissionChanged {
        user_id: user_id.to_string(),
        change: PermissionChange::Grant {
            zone_id: zone.id.to_string(),
            zone_name: zone.name.clone(),
            level: level.map(|l| l.as_str().to_string()),
        },
        timestamp: crate::now_iso(),
    })
}

/// Grants (or changes) a user's access to a zone.
pub async fn grant(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    zone_id: i32,
    req: GrantRequest,
) -> Result<GrantView> {
    let zone = zones::Entity::find_by_id(zone_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("Zone"))?;
    let user = users::Entity::find_by_id(req.user_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::validation("user_id", "no such user"))?;
    let txn = crate::db::write_txn(db).await?;
    let existing = zone_permissions::Entity::find()
        .filter(zone_permissions::Column::ZoneId.eq(zone_id))
        .filter(zone_permissions::Column::UserId.eq(user.id))
        .one(&txn)
        .await?;
    let before = existing
        .as_ref()
        .map(|g| serde_json::json!({"level": g.level}));
    let row = match existing {
        Some(g) => {
            let mut am: zone_permissions::ActiveModel = g.into();
            am.level = Set(req.level);
            am.update(&txn).await?
        }
        None => {
            zone_permissions::ActiveModel {
                zone_id: Set(zone_id),
                user_id: Set(user.id),
                level: Set(req.level),
                created_at: Set(Utc::now()),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    audit::record(
        &txn,
        actor,
        Entry {
            action: "zone.grant",
            resource_type: "zone",
            resource_id: Some(zone_id.to_string()),
            before,
            after: Some(serde_json::json!({"user_id": user.id, "level": row.level})),
        },
    )
    .await?;
    txn.commit().await?;
    dns.publish(changed_event(user.id, &zone, Some(req.level)));
    Ok(GrantView {
        user_id: user.id,
        username: user.username,
        level: row.level,
        created_at: row.created_at.to_rfc3339(),
    })
}

pub async fn revoke(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    zone_id: i32,
    user_id: i32,
) -> Result<()> {
    let zone = zones::Entity::find_by_id(zone_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("Zone"))?;
    let txn = crate::db::write_txn(db).await?;
    let existing = zone_permissions::Entity::find()
        .filter(zone_permissions::Column::ZoneId.eq(zone_id))
        .filter(zone_permissions::Column::UserId.eq(user_id))
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("Grant"))?;
    let level = existing.level;
    zone_permissions::Entity::delete_by_id(existing.id)
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "zone.revoke",
            resource_type: "zone",
            resource_id: Some(zone_id.to_string()),
            before: Some(serde_json::json!({"user_id": user_id, "level": level})),
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    dns.publish(changed_event(user_id, &zone, None));
    Ok(())
}
