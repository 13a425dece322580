//! DNS records: validated with `dns::records`, checked for conflicts with
//! the other records at the same name, committed through `Dns::commit_zone`.

use chrono::Utc;
use hdns_actors::events::{diff, ChangeAction, Event, RecordEvent};
use hdns_entities::{dns_records, zones};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::audit::{self, Entry};
use super::error::{Error, Result};
use super::grants::{self, Level};
use super::Caller;
use crate::dns::{names, records, RecordInput, ValidRecord};
use hdns_actors::bind::commit::Dns;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordView {
    pub id: i32,
    pub zone_id: i32,
    pub zone_name: String,
    /// Relative to the zone; `@` is the apex.
    pub name: String,
    /// The full name, with the trailing dot.
    pub fqdn: String,
    pub record_type: hdns_entities::enums::RecordType,
    pub value: String,
    /// `null`: the zone's default TTL.
    pub ttl: Option<i32>,
    pub priority: Option<i32>,
    pub weight: Option<i32>,
    pub port: Option<i32>,
    pub enabled: bool,
    pub comment: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl RecordView {
    pub fn new(r: &dns_records::Model, zone: &str) -> Self {
        Self {
            id: r.id,
            zone_id: r.zone_id,
            zone_name: zone.to_string(),
            name: r.name.clone(),
            fqdn: names::absolute(zone, &r.name),
            record_type: r.record_type,
            value: r.value.clone(),
            ttl: r.ttl,
            priority: r.priority,
            weight: r.weight,
            port: r.port,
            enabled: r.enabled,
            comment: r.comment.clone(),
            created_at: r.created_at.to_rfc3339(),
            updated_at: r.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecord {
    pub zone_id: i32,
    pub name: String,
    pub record_type: String,
    pub value: String,
    pub ttl: Option<i64>,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
    pub port: Option<i64>,
    pub enabled: Option<bool>,
    pub comment: Option<String>,
}

/// A partial update; `"ttl": null` returns to the zone's default TTL.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRecord {
    pub name: Option<String>,
    pub record_type: Option<String>,
    pub value: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub ttl: Option<Option<i64>>,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
    pub port: Option<i64>,
    pub enabled: Option<bool>,
    pub comment: Option<String>,
}

/// Tells "absent" (outer `None`) from "null" (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub fn validate(zone: &zones::Model, input: &RecordInput) -> Result<ValidRecord> {
    if zone.zone_type != hdns_entities::enums::ZoneType::Master {
        return Err(Error::validation(
            "zone_id",
            "records can be managed only in master zones",
        ));
    }
    records::validate(&zone.name, input).map_err(|e| Error::validation(e.field, e.message))
}

fn comment(c: Option<String>) -> Result<Option<String>> {
    match c {
        Some(c) if c.chars().count() > 500 => Err(Error::validation(
            "comment",
            "comment is at most 500 characters",
        )),
        Some(c) if c.contains(['\n', '\r']) => {
            Err(Error::validation("comment", "comment must be one line"))
        }
        other => Ok(other),
    }
}

/// Whether two records carry the same data (an exact duplicate).
pub fn same_data(a: &dns_records::Model, b: &ValidRecord) -> bool {
    a.name == b.name
        && a.record_type == b.kind
        && a.value.eq_ignore_ascii_case(&b.value)
        && a.priority == b.priority
        && a.weight == b.weight
        && a.port == b.port
}

/// A CNAME stands alone at its name; an identical record is refused.
pub async fn check_conflicts<C: ConnectionTrait>(
    db: &C,
    zone_id: i32,
    rec: &ValidRecord,
    exclude: Option<i32>,
) -> Result<()> {
    let mut q = dns_records::Entity::find()
        .filter(dns_records::Column::ZoneId.eq(zone_id))
        .filter(dns_records::Column::Name.eq(rec.name.clone()))
        .filter(dns_records::Column::Enabled.eq(true));
    if let Some(id) = exclude {
        q = q.filter(dns_records::Column::Id.ne(id));
    }
    let others = q.all(db).await?;
    conflicts_with(&others, rec)
}

pub fn conflicts_with(others: &[dns_records::Model], rec: &ValidRecord) -> Result<()> {
    if let Some(dup) = others.iter().find(|o| same_data(o, rec)) {
        return Err(
            Error::conflict("duplicate_record", "an identical record already exists")
                .with_details(json!({"field": "value", "existing_id": dup.id})),
        );
    }
    let is_cname = rec.kind == crate::dns::RecordKind::CNAME;
    if is_cname && !others.is_empty() {
        return Err(Error::validation(
            "name",
            format!(
                "{} already has other records; a CNAME must be the only record at its name",
                rec.name
            ),
        ));
    }
    if !is_cname
        && others
            .iter()
            .any(|o| o.record_type == crate::dns::RecordKind::CNAME)
    {
        return Err(Error::validation(
            "name",
            format!(
                "{} has a CNAME; no other record can share its name",
                rec.name
            ),
        ));
    }
    Ok(())
}

pub fn record_event(
    r: &dns_records::Model,
    zone: &zones::Model,
    action: ChangeAction,
    changes: Option<Vec<hdns_actors::events::Change>>,
    actor: &Caller,
) -> Event {
    Event::new(RecordEvent {
        record_id: r.id.to_string(),
        zone_id: zone.id.to_string(),
        zone_name: zone.name.clone(),
        record_name: r.name.clone(),
        record_type: r.record_type,
        record_value: hdns_actors::bind::zonedata::rdata(r),
        action,
        changes,
        user_id: actor.event_user_id(),
        timestamp: crate::now_iso(),
    })
}

fn snapshot(r: &dns_records::Model, zone: &str) -> Value {
    serde_json::to_value(RecordView::new(r, zone)).unwrap_or(Value::Null)
}

/// Inserts a validated record inside the caller's transaction.
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    actor: &Caller,
    zone: &zones::Model,
    rec: ValidRecord,
    enabled: bool,
    comment_text: Option<String>,
) -> Result<dns_records::Model> {
    if enabled {
        check_conflicts(db, zone.id, &rec, None).await?;
    }
    let now = Utc::now();
    let row = dns_records::ActiveModel {
        zone_id: Set(zone.id),
        name: Set(rec.name),
        record_type: Set(rec.kind),
        value: Set(rec.value),
        ttl: Set(rec.ttl),
        priority: Set(rec.priority),
        weight: Set(rec.weight),
        port: Set(rec.port),
        enabled: Set(enabled),
        comment: Set(comment(comment_text)?),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    audit::record(
        db,
        actor,
        Entry {
            action: "record.create",
            resource_type: "dns_record",
            resource_id: Some(row.id.to_string()),
            before: None,
            after: Some(snapshot(&row, &zone.name)),
        },
    )
    .await?;
    Ok(row)
}

pub fn input_of(r: &CreateRecord) -> RecordInput {
    RecordInput {
        name: r.name.clone(),
        record_type: r.record_type.clone(),
        value: r.value.clone(),
        ttl: r.ttl,
        priority: r.priority,
        weight: r.weight,
        port: r.port,
    }
}

pub async fn create(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    req: CreateRecord,
) -> Result<(dns_records::Model, zones::Model)> {
    let zone = grants::require_zone(db, actor, req.zone_id, Level::Write)
        .await
        .map_err(|e| {
            if e.is_not_found() {
                Error::validation("zone_id", "no such zone")
            } else {
                e
            }
        })?;
    let rec = validate(&zone, &input_of(&req))?;
    let _lock = dns.files.lock_zone(&zone.name).await;
    let txn = crate::db::write_txn(db).await?;
    let zone = fresh_zone(&txn, zone.id).await?;
    let row = insert(
        &txn,
        actor,
        &zone,
        rec,
        req.enabled.unwrap_or(true),
        req.comment,
    )
    .await?;
    let zone = dns.commit_zone(txn, zone, false).await?;
    dns.publish(record_event(
        &row,
        &zone,
        ChangeAction::Created,
        None,
        actor,
    ));
    Ok((row, zone))
}

async fn fresh_zone<C: ConnectionTrait>(db: &C, id: i32) -> Result<zones::Model> {
    zones::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("Zone"))
}

/// Loads a record and its zone, checking the caller's level on the zone.
pub async fn get(
    db: &DatabaseConnection,
    actor: &Caller,
    id: i32,
    need: Level,
) -> Result<(dns_records::Model, zones::Model)> {
    let rec = dns_records::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("Record"))?;
    let zone = grants::require_zone(db, actor, rec.zone_id, need)
        .await
        .map_err(|e| {
            if e.is_not_found() {
                Error::not_found("Record")
            } else {
                e
            }
        })?;
    Ok((rec, zone))
}

/// Applies a partial update inside the caller's transaction.
pub async fn apply_update<C: ConnectionTrait>(
    db: &C,
    actor: &Caller,
    zone: &zones::Model,
    old: dns_records::Model,
    req: UpdateRecord,
) -> Result<(dns_records::Model, Vec<hdns_actors::events::Change>)> {
    let kind_changed = req
        .record_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case(old.record_type.as_str()));
    let keep = |v: Option<i32>| if kind_changed { None } else { v.map(i64::from) };
    let input = RecordInput {
        name: req.name.clone().unwrap_or_else(|| old.name.clone()),
        record_type: req
            .record_type
            .clone()
            .unwrap_or_else(|| old.record_type.as_str().into()),
        value: req.value.clone().unwrap_or_else(|| old.value.clone()),
        ttl: match req.ttl {
            Some(t) => t,
            None => old.ttl.map(i64::from),
        },
        priority: req.priority.or(keep(old.priority)),
        weight: req.weight.or(keep(old.weight)),
        port: req.port.or(keep(old.port)),
    };
    let rec = validate(zone, &input)?;
    let enabled = req.enabled.unwrap_or(old.enabled);
    if enabled {
        check_conflicts(db, zone.id, &rec, Some(old.id)).await?;
    }
    let mut am = old.clone().into_active_model();
    am.name = Set(rec.name);
    am.record_type = Set(rec.kind);
    am.value = Set(rec.value);
    am.ttl = Set(rec.ttl);
    am.priority = Set(rec.priority);
    am.weight = Set(rec.weight);
    am.port = Set(rec.port);
    am.enabled = Set(enabled);
    if req.comment.is_some() {
        am.comment = Set(comment(req.comment)?);
    }
    am.updated_at = Set(Utc::now());
    let new = am.update(db).await?;
    let (before, after) = (snapshot(&old, &zone.name), snapshot(&new, &zone.name));
    let changes = diff(&before, &after, &["updated_at", "fqdn"]);
    audit::record(
        db,
        actor,
        Entry {
            action: "record.update",
            resource_type: "dns_record",
            resource_id: Some(new.id.to_string()),
            before: Some(before),
            after: Some(after),
        },
    )
    .await?;
    Ok((new, changes))
}

pub async fn update(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    id: i32,
    req: UpdateRecord,
) -> Result<(dns_records::Model, zones::Model)> {
    let (_, zone) = get(db, actor, id, Level::Write).await?;
    let _lock = dns.files.lock_zone(&zone.name).await;
    let txn = crate::db::write_txn(db).await?;
    let zone = fresh_zone(&txn, zone.id).await?;
    let old = dns_records::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("Record"))?;
    let (new, changes) = apply_update(&txn, actor, &zone, old, req).await?;
    let zone = dns.commit_zone(txn, zone, false).await?;
    dns.publish(record_event(
        &new,
        &zone,
        ChangeAction::Updated,
        Some(changes),
        actor,
    ));
    Ok((new, zone))
}

/// Deletes inside the caller's transaction.
pub async fn remove<C: ConnectionTrait>(
    db: &C,
    actor: &Caller,
    zone: &zones::Model,
    id: i32,
) -> Result<dns_records::Model> {
    let old = dns_records::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|r| r.zone_id == zone.id)
        .ok_or_else(|| Error::not_found("Record"))?;
    dns_records::Entity::delete_by_id(id).exec(db).await?;
    audit::record(
        db,
        actor,
        Entry {
            action: "record.delete",
            resource_type: "dns_record",
            resource_id: Some(id.to_string()),
            before: Some(snapshot(&old, &zone.name)),
            after: None,
        },
    )
    .await?;
    Ok(old)
}

pub async fn delete(db: &DatabaseConnection, dns: &Dns, actor: &Caller, id: i32) -> Result<()> {
    let (_, zone) = get(db, actor, id, Level::Write).await?;
    let _lock = dns.files.lock_zone(&zone.name).await;
    let txn = crate::db::write_txn(db).await?;
    let zone = fresh_zone(&txn, zone.id).await?;
    let old = remove(&txn, actor, &zone, id).await?;
    let zone = dns.commit_zone(txn, zone, false).await?;
    dns.publish(record_event(
        &old,
        &zone,
        ChangeAction::Deleted,
        None,
        actor,
    ));
    Ok(())
}

pub struct RecordFilter<'a> {
    pub zone_id: Option<i32>,
    pub record_type: Option<&'a str>,
    pub name: Option<&'a str>,
    pub q: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
pub enum RecordSort {
    Id,
    Name,
    RecordType,
    Value,
    Ttl,
    UpdatedAt,
}

impl RecordSort {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "id" => Self::Id,
            "name" => Self::Name,
            "record_type" => Self::RecordType,
            "value" => Self::Value,
            "ttl" => Self::Ttl,
            "updated_at" => Self::UpdatedAt,
            _ => return None,
        })
    }
    fn column(self) -> dns_records::Column {
        match self {
            Self::Id => dns_records::Column::Id,
            Self::Name => dns_records::Column::Name,
            Self::RecordType => dns_records::Column::RecordType,
            Self::Value => dns_records::Column::Value,
            Self::Ttl => dns_records::Column::Ttl,
            Self::UpdatedAt => dns_records::Column::UpdatedAt,
        }
    }
}

pub async fn list(
    db: &DatabaseConnection,
    actor: &Caller,
    f: RecordFilter<'_>,
    sort: RecordSort,
    order: Order,
    page: u64,
    per_page: u64,
) -> Result<(Vec<RecordView>, u64)> {
    let mut q = dns_records::Entity::find();
    if let Some(zid) = f.zone_id {
        grants::require_zone(db, actor, zid, Level::Read).await?;
        q = q.filter(dns_records::Column::ZoneId.eq(zid));
    } else if !actor.is_admin() {
        q = q.filter(
            dns_records::Column::ZoneId
                .is_in(grants::granted_zone_ids(db, actor.user_id.unwrap_or(-1)).await?),
        );
    }
    if let Some(t) = f.record_type {
        let kind = crate::dns::RecordKind::parse_ignore_case(t)
            .ok_or_else(|| Error::validation("record_type", "unknown record type"))?;
        q = q.filter(dns_records::Column::RecordType.eq(kind.as_str()));
    }
    if let Some(n) = f.name {
        q = q.filter(dns_records::Column::Name.eq(n.to_lowercase()));
    }
    if let Some(s) = f.q.filter(|s| !s.is_empty()) {
        let s = s.to_lowercase();
        q = q.filter(
            sea_orm::Condition::any()
                .add(dns_records::Column::Name.contains(&s))
                .add(dns_records::Column::Value.contains(&s)),
        );
    }
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by(sort.column(), order)
        .order_by_asc(dns_records::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    // One query for the names of the zones on this page.
    let mut zone_ids: Vec<i32> = rows.iter().map(|r| r.zone_id).collect();
    zone_ids.dedup();
    let zone_names: std::collections::HashMap<i32, String> = zones::Entity::find()
        .filter(zones::Column::Id.is_in(zone_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|z| (z.id, z.name))
        .collect();
    let out = rows
        .iter()
        .map(|r| RecordView::new(r, zone_names.get(&r.zone_id).map_or("", String::as_str)))
        .collect();
    Ok((out, total))
}
