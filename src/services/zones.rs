//! Zones: create, list, update, delete. Every change goes through
//! `Dns::commit_zone` so BIND's checkers guard it.

use std::net::IpAddr;

use chrono::Utc;
use hdns_actors::events::{diff, Change, ChangeAction, Event, ZoneEvent};
use hdns_entities::enums::{ForwardPolicy, ZoneType};
use hdns_entities::{dns_records, zone_permissions, zones};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::audit::{self, Entry};
use super::error::{Error, Result};
use super::grants;
use super::Caller;
use crate::dns::names;
use hdns_actors::bind::commit::Dns;

/// A server as clients may write it: `"192.0.2.1"`, `"192.0.2.1:5300"`,
/// `"[2001:db8::1]:53"` or `{"address": "...", "port": 5300}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ServerInput {
    Text(String),
    Object { address: String, port: Option<u16> },
}

/// Servers in stored form: `[{"address": ip, "port": n?}]`.
pub fn servers(field: &'static str, list: &[ServerInput]) -> Result<Value> {
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        let (addr, port) = match s {
            ServerInput::Object { address, port } => (address.trim().to_string(), *port),
            ServerInput::Text(t) => {
                let t = t.trim();
                if let Ok(sa) = t.parse::<std::net::SocketAddr>() {
                    (sa.ip().to_string(), Some(sa.port()))
                } else {
                    (t.to_string(), None)
                }
            }
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| Error::validation(field, format!("`{addr}` is not an IP address")))?;
        if port == Some(0) {
            return Err(Error::validation(field, "port must be 1 to 65535"));
        }
        out.push(match port {
            Some(p) => json!({"address": ip.to_string(), "port": p}),
            None => json!({"address": ip.to_string()}),
        });
    }
    Ok(Value::Array(out))
}

/// Address match list items: `any`, `none`, an IP or a CIDR prefix.
fn acl(field: &'static str, list: &[String]) -> Result<Value> {
    let mut out = Vec::new();
    for item in list {
        let t = item.trim();
        let ok = matches!(t, "any" | "none")
            || t.parse::<IpAddr>().is_ok()
            || t.parse::<ipnet::IpNet>().is_ok();
        if !ok {
            return Err(Error::validation(
                field,
                format!("`{t}` is not an address, a prefix, `any` or `none`"),
            ));
        }
        out.push(Value::String(t.to_string()));
    }
    Ok(Value::Array(out))
}

fn ips(field: &'static str, list: &[String]) -> Result<Value> {
    for t in list {
        t.trim()
            .parse::<IpAddr>()
            .map_err(|_| Error::validation(field, format!("`{t}` is not an IP address")))?;
    }
    Ok(json!(list.iter().map(|s| s.trim()).collect::<Vec<_>>()))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ZoneView {
    pub id: i32,
    pub name: String,
    pub zone_type: ZoneType,
    pub is_reverse: bool,
    pub soa_primary_ns: String,
    pub soa_admin_email: String,
    pub serial: i64,
    pub refresh: i32,
    pub retry: i32,
    pub expire: i32,
    pub minimum: i32,
    pub default_ttl: i32,
    #[schema(value_type = Vec<Object>)]
    pub primaries: Value,
    #[schema(value_type = Vec<Object>)]
    pub forwarders: Value,
    pub forward_policy: ForwardPolicy,
    #[schema(value_type = Vec<String>)]
    pub allow_transfer: Value,
    #[schema(value_type = Vec<String>)]
    pub also_notify: Value,
    pub enabled: bool,
    pub description: Option<String>,
    pub owner_id: Option<i32>,
    pub record_count: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl ZoneView {
    pub fn new(z: &zones::Model, record_count: u64) -> Self {
        Self {
            id: z.id,
            name: z.name.clone(),
            zone_type: z.zone_type,
            is_reverse: names::is_reverse(&z.name),
            soa_primary_ns: z.soa_primary_ns.clone(),
            soa_admin_email: z.soa_admin_email.clone(),
            serial: z.serial,
            refresh: z.refresh,
            retry: z.retry,
            expire: z.expire,
            minimum: z.minimum,
            default_ttl: z.default_ttl,
            primaries: z.primaries.clone(),
            forwarders: z.forwarders.clone(),
            forward_policy: z.forward_policy,
            allow_transfer: z.allow_transfer.clone(),
            also_notify: z.also_notify.clone(),
            enabled: z.enabled,
            description: z.description.clone(),
            owner_id: z.owner_id,
            record_count,
            created_at: z.created_at.to_rfc3339(),
            updated_at: z.updated_at.to_rfc3339(),
        }
    }
}

pub async fn record_count<C: sea_orm::ConnectionTrait>(db: &C, zone_id: i32) -> Result<u64> {
    Ok(dns_records::Entity::find()
        .filter(dns_records::Column::ZoneId.eq(zone_id))
        .count(db)
        .await?)
}

pub async fn view<C: sea_orm::ConnectionTrait>(db: &C, z: &zones::Model) -> Result<ZoneView> {
    Ok(ZoneView::new(z, record_count(db, z.id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateZone {
    /// Zone name; Unicode names are stored as punycode.
    pub name: String,
    /// `master` (default), `slave` or `forward`.
    #[serde(default = "master")]
    pub zone_type: String,
    /// Primary name server in the SOA [default: `localhost.`].
    pub soa_primary_ns: Option<String>,
    /// Responsible person [default: `hostmaster@<zone>`].
    pub soa_admin_email: Option<String>,
    pub refresh: Option<i64>,
    pub retry: Option<i64>,
    pub expire: Option<i64>,
    pub minimum: Option<i64>,
    pub default_ttl: Option<i64>,
    /// Slave zones: the primaries to transfer from.
    #[serde(default)]
    pub primaries: Vec<ServerInput>,
    /// Forward zones: where queries go.
    #[serde(default)]
    pub forwarders: Vec<ServerInput>,
    /// Forward zones: `first` (default) or `only`.
    pub forward_policy: Option<String>,
    #[serde(default)]
    pub allow_transfer: Vec<String>,
    #[serde(default)]
    pub also_notify: Vec<String>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

fn master() -> String {
    "master".into()
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateZone {
    pub soa_primary_ns: Option<String>,
    pub soa_admin_email: Option<String>,
    pub refresh: Option<i64>,
    pub retry: Option<i64>,
    pub expire: Option<i64>,
    pub minimum: Option<i64>,
    pub default_ttl: Option<i64>,
    pub primaries: Option<Vec<ServerInput>>,
    pub forwarders: Option<Vec<ServerInput>>,
    pub forward_policy: Option<String>,
    pub allow_transfer: Option<Vec<String>>,
    pub also_notify: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

fn seconds(field: &'static str, v: Option<i64>, default: i32, min: i64) -> Result<i32> {
    match v {
        None => Ok(default),
        Some(n) if (min..=crate::dns::records::MAX_TTL).contains(&n) => Ok(n as i32),
        Some(_) => Err(Error::validation(
            field,
            format!("{field} must be {min} to {}", crate::dns::records::MAX_TTL),
        )),
    }
}

fn policy(v: Option<&str>) -> Result<ForwardPolicy> {
    ForwardPolicy::parse(v.unwrap_or("first")).ok_or_else(|| {
        Error::validation("forward_policy", "forward_policy must be `first` or `only`")
    })
}

fn zone_type(v: &str) -> Result<ZoneType> {
    ZoneType::parse(v).ok_or_else(|| {
        Error::validation(
            "zone_type",
            "zone_type must be `master`, `slave` or `forward`",
        )
    })
}

fn email(v: &str) -> Result<String> {
    let v = v.trim();
    let (local, domain) = v.split_once('@').ok_or_else(|| {
        Error::validation(
            "soa_admin_email",
            "soa_admin_email must be an email address",
        )
    })?;
    if local.is_empty()
        || local.contains(char::is_whitespace)
        || local.contains(['"', '\\', ';', '(', ')'])
    {
        return Err(Error::validation("soa_admin_email", "invalid local part"));
    }
    let domain = names::zone_name(domain).map_err(|m| Error::validation("soa_admin_email", m))?;
    Ok(format!("{local}@{domain}"))
}

fn primary_ns(v: &str) -> Result<String> {
    names::target(v).map_err(|m| Error::validation("soa_primary_ns", m))
}

fn description(v: Option<String>) -> Result<Option<String>> {
    match v {
        Some(d) if d.chars().count() > 500 => Err(Error::validation(
            "description",
            "description is at most 500 characters",
        )),
        other => Ok(other),
    }
}

/// Checks the fields a zone type needs.
fn check_type_fields(zone_type: ZoneType, primaries: &Value, forwarders: &Value) -> Result<()> {
    let empty = |v: &Value| v.as_array().is_none_or(|a| a.is_empty());
    match zone_type {
        ZoneType::Slave if empty(primaries) => Err(Error::validation(
            "primaries",
            "a slave zone needs at least one primary",
        )),
        ZoneType::Forward if empty(forwarders) => Err(Error::validation(
            "forwarders",
            "a forward zone needs at least one forwarder",
        )),
        ZoneType::Master | ZoneType::Slave | ZoneType::Forward => Ok(()),
    }
}

fn zone_event(
    z: &zones::Model,
    action: ChangeAction,
    changes: Option<Vec<Change>>,
    actor: &Caller,
) -> Event {
    Event::new(ZoneEvent {
        zone_id: z.id.to_string(),
        zone_name: z.name.clone(),
        zone_type: z.zone_type,
        action,
        changes,
        user_id: actor.event_user_id(),
        timestamp: crate::now_iso(),
    })
}

pub fn snapshot(z: &zones::Model) -> Value {
    serde_json::to_value(ZoneView::new(z, 0)).unwrap_or(Value::Null)
}

/// A new primary zone's NS record at the apex: its SOA's primary server.
async fn insert_apex_ns(txn: &sea_orm::DatabaseTransaction, zone: &zones::Model) -> Result<()> {
    dns_records::ActiveModel {
        zone_id: Set(zone.id),
        name: Set("@".into()),
        record_type: Set(hdns_entities::enums::RecordType::NS),
        value: Set(zone.soa_primary_ns.clone()),
        enabled: Set(true),
        created_at: Set(zone.created_at),
        updated_at: Set(zone.created_at),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

pub async fn create(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    req: CreateZone,
) -> Result<zones::Model> {
    let name = names::zone_name(&req.name).map_err(|m| Error::validation("name", m))?;
    let primaries = servers("primaries", &req.primaries)?;
    let forwarders = servers("forwarders", &req.forwarders)?;
    let kind = zone_type(&req.zone_type)?;
    check_type_fields(kind, &primaries, &forwarders)?;
    let now = Utc::now();
    let model = zones::ActiveModel {
        name: Set(name.clone()),
        zone_type: Set(kind),
        soa_primary_ns: Set(primary_ns(
            req.soa_primary_ns.as_deref().unwrap_or("localhost."),
        )?),
        soa_admin_email: Set(match &req.soa_admin_email {
            Some(e) => email(e)?,
            None => format!("hostmaster@{name}"),
        }),
        serial: Set(0),
        refresh: Set(seconds("refresh", req.refresh, 3600, 1)?),
        retry: Set(seconds("retry", req.retry, 600, 1)?),
        expire: Set(seconds("expire", req.expire, 604_800, 1)?),
        minimum: Set(seconds("minimum", req.minimum, 300, 0)?),
        default_ttl: Set(seconds("default_ttl", req.default_ttl, 3600, 0)?),
        primaries: Set(primaries),
        forwarders: Set(forwarders),
        forward_policy: Set(policy(req.forward_policy.as_deref())?),
        allow_transfer: Set(acl("allow_transfer", &req.allow_transfer)?),
        also_notify: Set(ips("also_notify", &req.also_notify)?),
        enabled: Set(req.enabled.unwrap_or(true)),
        description: Set(description(req.description)?),
        owner_id: Set(actor.user_id),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    let _lock = dns.files.lock_zone(&name).await;
    let txn = crate::db::write_txn(db).await?;
    let taken = zones::Entity::find()
        .filter(zones::Column::Name.eq(name.clone()))
        .one(&txn)
        .await?
        .is_some()
        || super::forwarders::domain_taken(&txn, &name).await?;
    if taken {
        return Err(Error::conflict(
            "zone_exists",
            format!("{name} is already a zone or a forwarded domain"),
        )
        .with_details(json!({"field": "name"})));
    }
    let zone = model.insert(&txn).await?;
    if zone.zone_type == ZoneType::Master {
        insert_apex_ns(&txn, &zone).await?;
    }
    audit::record(
        &txn,
        actor,
        Entry {
            action: "zone.create",
            resource_type: "zone",
            resource_id: Some(zone.id.to_string()),
            before: None,
            after: Some(snapshot(&zone)),
        },
    )
    .await?;
    let zone = dns.commit_zone(txn, zone, true).await?;
    dns.publish(zone_event(&zone, ChangeAction::Created, None, actor));
    Ok(zone)
}

#[derive(Debug, Clone, Copy)]
pub enum ZoneSort {
    Id,
    Name,
    ZoneType,
    CreatedAt,
    UpdatedAt,
}

impl ZoneSort {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "id" => Self::Id,
            "name" => Self::Name,
            "zone_type" => Self::ZoneType,
            "created_at" => Self::CreatedAt,
            "updated_at" => Self::UpdatedAt,
            _ => return None,
        })
    }
    fn column(self) -> zones::Column {
        match self {
            Self::Id => zones::Column::Id,
            Self::Name => zones::Column::Name,
            Self::ZoneType => zones::Column::ZoneType,
            Self::CreatedAt => zones::Column::CreatedAt,
            Self::UpdatedAt => zones::Column::UpdatedAt,
        }
    }
}

pub struct ZoneFilter<'a> {
    pub q: Option<&'a str>,
    pub zone_type: Option<&'a str>,
}

pub async fn list(
    db: &DatabaseConnection,
    actor: &Caller,
    filter: ZoneFilter<'_>,
    sort: ZoneSort,
    order: Order,
    page: u64,
    per_page: u64,
) -> Result<(Vec<ZoneView>, u64)> {
    let mut query = zones::Entity::find();
    if !actor.is_admin() {
        let ids = grants::granted_zone_ids(db, actor.user_id.unwrap_or(-1)).await?;
        query = query.filter(zones::Column::Id.is_in(ids));
    }
    if let Some(q) = filter.q.filter(|q| !q.is_empty()) {
        query = query.filter(zones::Column::Name.contains(q.to_lowercase()));
    }
    if let Some(t) = filter.zone_type {
        query = query.filter(zones::Column::ZoneType.eq(t));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by(sort.column(), order)
        .order_by_asc(zones::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    // Record counts of the whole page in one grouped query.
    let counts: std::collections::HashMap<i32, i64> = dns_records::Entity::find()
        .select_only()
        .column(dns_records::Column::ZoneId)
        .column_as(dns_records::Column::Id.count(), "n")
        .filter(dns_records::Column::ZoneId.is_in(rows.iter().map(|z| z.id)))
        .group_by(dns_records::Column::ZoneId)
        .into_tuple::<(i32, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let out = rows
        .iter()
        .map(|z| ZoneView::new(z, counts.get(&z.id).copied().unwrap_or(0) as u64))
        .collect();
    Ok((out, total))
}

/// Puts the fields a partial update gives, each validated, into `am`.
fn apply_changes(am: &mut zones::ActiveModel, req: &UpdateZone) -> Result<()> {
    if let Some(v) = &req.soa_primary_ns {
        am.soa_primary_ns = Set(primary_ns(v)?);
    }
    if let Some(v) = &req.soa_admin_email {
        am.soa_admin_email = Set(email(v)?);
    }
    if req.refresh.is_some() {
        am.refresh = Set(seconds("refresh", req.refresh, 0, 1)?);
    }
    if req.retry.is_some() {
        am.retry = Set(seconds("retry", req.retry, 0, 1)?);
    }
    if req.expire.is_some() {
        am.expire = Set(seconds("expire", req.expire, 0, 1)?);
    }
    if req.minimum.is_some() {
        am.minimum = Set(seconds("minimum", req.minimum, 0, 0)?);
    }
    if req.default_ttl.is_some() {
        am.default_ttl = Set(seconds("default_ttl", req.default_ttl, 0, 0)?);
    }
    if let Some(v) = &req.primaries {
        am.primaries = Set(servers("primaries", v)?);
    }
    if let Some(v) = &req.forwarders {
        am.forwarders = Set(servers("forwarders", v)?);
    }
    if req.forward_policy.is_some() {
        am.forward_policy = Set(policy(req.forward_policy.as_deref())?);
    }
    if let Some(v) = &req.allow_transfer {
        am.allow_transfer = Set(acl("allow_transfer", v)?);
    }
    if let Some(v) = &req.also_notify {
        am.also_notify = Set(ips("also_notify", v)?);
    }
    if let Some(v) = req.enabled {
        am.enabled = Set(v);
    }
    if req.description.is_some() {
        am.description = Set(description(req.description.clone())?);
    }
    Ok(())
}

pub async fn update(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    id: i32,
    req: UpdateZone,
) -> Result<zones::Model> {
    let zone = grants::require_zone(db, actor, id, grants::Level::Write).await?;
    let _lock = dns.files.lock_zone(&zone.name).await;
    let txn = crate::db::write_txn(db).await?;
    let old = zones::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("Zone"))?;
    let mut am = old.clone().into_active_model();
    apply_changes(&mut am, &req)?;
    am.updated_at = Set(Utc::now());
    let new = am.update(&txn).await?;
    check_type_fields(new.zone_type, &new.primaries, &new.forwarders)?;
    let changes = diff(
        &snapshot(&old),
        &snapshot(&new),
        &["updated_at", "serial", "record_count"],
    );
    let stanza_fields = [
        "primaries",
        "forwarders",
        "forward_policy",
        "allow_transfer",
        "also_notify",
        "enabled",
    ];
    let reconfig = changes
        .iter()
        .any(|c| stanza_fields.contains(&c.field.as_str()));
    audit::record(
        &txn,
        actor,
        Entry {
            action: "zone.update",
            resource_type: "zone",
            resource_id: Some(id.to_string()),
            before: Some(snapshot(&old)),
            after: Some(snapshot(&new)),
        },
    )
    .await?;
    let zone = dns.commit_zone(txn, new, reconfig).await?;
    dns.publish(zone_event(
        &zone,
        ChangeAction::Updated,
        Some(changes),
        actor,
    ));
    Ok(zone)
}

pub async fn delete(db: &DatabaseConnection, dns: &Dns, actor: &Caller, id: i32) -> Result<()> {
    let zone = zones::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("Zone"))?;
    let _lock = dns.files.lock_zone(&zone.name).await;
    let txn = crate::db::write_txn(db).await?;
    dns_records::Entity::delete_many()
        .filter(dns_records::Column::ZoneId.eq(id))
        .exec(&txn)
        .await?;
    zone_permissions::Entity::delete_many()
        .filter(zone_permissions::Column::ZoneId.eq(id))
        .exec(&txn)
        .await?;
    let res = zones::Entity::delete_by_id(id).exec(&txn).await?;
    if res.rows_affected == 0 {
        return Err(Error::not_found("Zone"));
    }
    audit::record(
        &txn,
        actor,
        Entry {
            action: "zone.delete",
            resource_type: "zone",
            resource_id: Some(id.to_string()),
            before: Some(snapshot(&zone)),
            after: None,
        },
    )
    .await?;
    dns.commit_config(
        txn,
        &format!("deleting zone {}", zone.name),
        vec![zone.name.clone()],
    )
    .await?;
    dns.files.remove_zone_file(&zone.name).await;
    dns.publish(zone_event(&zone, ChangeAction::Deleted, None, actor));
    Ok(())
}

/// The zone as an RFC 1035 master file, exactly as BIND serves it.
pub async fn export(db: &DatabaseConnection, dns: &Dns, zone: &zones::Model) -> Result<String> {
    if zone.zone_type != ZoneType::Master {
        return Err(Error::validation(
            "zone_type",
            "only master zones have a zone file to export",
        ));
    }
    let records = dns_records::Entity::find()
        .filter(dns_records::Column::ZoneId.eq(zone.id))
        .order_by_asc(dns_records::Column::Name)
        .order_by_asc(dns_records::Column::Id)
        .all(db)
        .await?;
    dns.files
        .render_zone_text(zone, &records)
        .map_err(Error::internal)
}

pub fn zone_event_for_records(
    z: &zones::Model,
    old_count: u64,
    new_count: u64,
    actor: &Caller,
) -> Event {
    zone_event(
        z,
        ChangeAction::Updated,
        Some(vec![Change {
            field: "records".into(),
            old_value: json!(old_count),
            new_value: json!(new_count),
        }]),
        actor,
    )
}

pub async fn by_name(db: &DatabaseConnection, name: &str) -> Result<zones::Model> {
    let n = names::zone_name(name).map_err(|m| Error::validation("name", m))?;
    zones::Entity::find()
        .filter(zones::Column::Name.eq(n))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("Zone"))
}
