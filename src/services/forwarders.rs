//! Conditional forwarders: queries for their domains go to their servers.
//! Rendered as forward zones; `test` sends real DNS queries to each server.

use chrono::Utc;
use hdns_actors::dns_client::{probe, ServerResult};
use hdns_actors::events::{diff, ChangeAction, ConfigChange, ConfigSubject, Event};
use hdns_entities::{forwarders, zones};
use hickory_proto::rr::{Name, RecordType};
use sea_orm::QueryFilter;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::audit::{self, Entry};
use super::error::{Error, Result};
use super::zones::{servers, ServerInput};
use super::Caller;
use crate::dns::names;
use hdns_actors::bind::commit::Dns;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ForwarderView {
    pub id: i32,
    pub name: String,
    pub domains: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub servers: Value,
    /// `first` or `only`.
    pub policy: hdns_entities::enums::ForwardPolicy,
    pub health_check: bool,
    pub enabled: bool,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&forwarders::Model> for ForwarderView {
    fn from(f: &forwarders::Model) -> Self {
        Self {
            id: f.id,
            name: f.name.clone(),
            domains: f.domain_list(),
            servers: f.servers.clone(),
            policy: f.policy,
            health_check: f.health_check,
            enabled: f.enabled,
            description: f.description.clone(),
            created_at: f.created_at.to_rfc3339(),
            updated_at: f.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwarderInput {
    pub name: Option<String>,
    pub domains: Option<Vec<String>>,
    pub servers: Option<Vec<ServerInput>>,
    pub policy: Option<String>,
    pub health_check: Option<bool>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

/// Whether a domain is already forwarded by an enabled or disabled forwarder.
pub async fn domain_taken<C: ConnectionTrait>(db: &C, domain: &str) -> Result<bool> {
    Ok(forwarders::Entity::find()
        .all(db)
        .await?
        .iter()
        .any(|f| f.domain_list().iter().any(|d| d == domain)))
}

async fn check_domains<C: ConnectionTrait>(
    db: &C,
    list: &[String],
    exclude: Option<i32>,
) -> Result<Value> {
    if list.is_empty() {
        return Err(Error::validation(
            "domains",
            "at least one domain is required",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    // One read of the other forwarders for all domains of the request.
    let others = forwarders::Entity::find().all(db).await?;
    for d in list {
        let n =
            names::zone_name(d).map_err(|m| Error::validation("domains", format!("{d}: {m}")))?;
        if out.contains(&n) {
            continue;
        }
        if zones::Entity::find()
            .filter(zones::Column::Name.eq(n.clone()))
            .one(db)
            .await?
            .is_some()
        {
            return Err(
                Error::conflict("domain_in_use", format!("{n} is a managed zone"))
                    .with_details(json!({"field": "domains"})),
            );
        }
        if others
            .iter()
            .filter(|f| Some(f.id) != exclude)
            .any(|f| f.domain_list().contains(&n))
        {
            return Err(
                Error::conflict("domain_in_use", format!("{n} is already forwarded"))
                    .with_details(json!({"field": "domains"})),
            );
        }
        out.push(n);
    }
    Ok(json!(out))
}

fn check_name(n: &str) -> Result<String> {
    let n = n.trim();
    if n.is_empty() || n.chars().count() > 64 || n.contains(['"', '\\', '\n', '\r']) {
        return Err(Error::validation(
            "name",
            "name must be 1 to 64 characters without quotes or backslashes",
        ));
    }
    Ok(n.to_string())
}

fn check_servers(list: &[ServerInput]) -> Result<Value> {
    if list.is_empty() || list.len() > 16 {
        return Err(Error::validation("servers", "give 1 to 16 servers"));
    }
    servers("servers", list)
}

fn check_policy(p: &str) -> Result<hdns_entities::enums::ForwardPolicy> {
    hdns_entities::enums::ForwardPolicy::parse(p)
        .ok_or_else(|| Error::validation("policy", "policy must be `first` or `only`"))
}

fn config_event(
    action: ChangeAction,
    f: &forwarders::Model,
    actor: &Caller,
    changes: Value,
) -> Event {
    Event::new(ConfigChange {
        component: "forwarders".into(),
        action,
        subject: ConfigSubject::Forwarder {
            forwarder_id: f.id.to_string(),
            forwarder_name: f.name.clone(),
            changes,
        },
        user_id: actor.event_user_id(),
        timestamp: crate::now_iso(),
    })
}

fn snapshot(f: &forwarders::Model) -> Value {
    serde_json::to_value(ForwarderView::from(f)).unwrap_or(Value::Null)
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<ForwarderView>> {
    Ok(forwarders::Entity::find()
        .order_by_asc(forwarders::Column::Name)
        .all(db)
        .await?
        .iter()
        .map(ForwarderView::from)
        .collect())
}

pub async fn get(db: &DatabaseConnection, id: i32) -> Result<forwarders::Model> {
    forwarders::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("Forwarder"))
}

pub async fn create(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    req: ForwarderInput,
) -> Result<forwarders::Model> {
    let name = check_name(
        req.name
            .as_deref()
            .ok_or_else(|| Error::validation("name", "name is required"))?,
    )?;
    let servers = check_servers(
        req.servers
            .as_deref()
            .ok_or_else(|| Error::validation("servers", "servers are required"))?,
    )?;
    let policy = check_policy(req.policy.as_deref().unwrap_or("first"))?;
    let txn = crate::db::write_txn(db).await?;
    let domains = check_domains(&txn, req.domains.as_deref().unwrap_or_default(), None).await?;
    if forwarders::Entity::find()
        .filter(forwarders::Column::Name.eq(name.clone()))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(Error::conflict(
            "forwarder_exists",
            format!("a forwarder named {name} exists"),
        )
        .with_details(json!({"field": "name"})));
    }
    let now = Utc::now();
    let row = forwarders::ActiveModel {
        name: Set(name),
        domains: Set(domains),
        servers: Set(servers),
        policy: Set(policy),
        health_check: Set(req.health_check.unwrap_or(true)),
        enabled: Set(req.enabled.unwrap_or(true)),
        description: Set(req.description),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "forwarder.create",
            resource_type: "forwarder",
            resource_id: Some(row.id.to_string()),
            before: None,
            after: Some(snapshot(&row)),
        },
    )
    .await?;
    dns.commit_config(txn, &format!("forwarder {}", row.name), Vec::new())
        .await?;
    dns.publish(config_event(
        ChangeAction::Created,
        &row,
        actor,
        Value::Null,
    ));
    Ok(row)
}

pub async fn update(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    id: i32,
    req: ForwarderInput,
) -> Result<forwarders::Model> {
    let txn = crate::db::write_txn(db).await?;
    let old = forwarders::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("Forwarder"))?;
    let mut am = old.clone().into_active_model();
    if let Some(n) = &req.name {
        am.name = Set(check_name(n)?);
    }
    if let Some(d) = &req.domains {
        am.domains = Set(check_domains(&txn, d, Some(id)).await?);
    }
    if let Some(s) = &req.servers {
        am.servers = Set(check_servers(s)?);
    }
    if let Some(p) = &req.policy {
        am.policy = Set(check_policy(p)?);
    }
    if let Some(h) = req.health_check {
        am.health_check = Set(h);
    }
    if let Some(e) = req.enabled {
        am.enabled = Set(e);
    }
    if req.description.is_some() {
        am.description = Set(req.description);
    }
    am.updated_at = Set(Utc::now());
    let new = am.update(&txn).await?;
    let changes = diff(&snapshot(&old), &snapshot(&new), &["updated_at"]);
    audit::record(
        &txn,
        actor,
        Entry {
            action: "forwarder.update",
            resource_type: "forwarder",
            resource_id: Some(id.to_string()),
            before: Some(snapshot(&old)),
            after: Some(snapshot(&new)),
        },
    )
    .await?;
    dns.commit_config(txn, &format!("forwarder {}", new.name), old.domain_list())
        .await?;
    dns.publish(config_event(
        ChangeAction::Updated,
        &new,
        actor,
        json!(changes),
    ));
    Ok(new)
}

pub async fn delete(db: &DatabaseConnection, dns: &Dns, actor: &Caller, id: i32) -> Result<()> {
    let txn = crate::db::write_txn(db).await?;
    let old = forwarders::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("Forwarder"))?;
    forwarders::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "forwarder.delete",
            resource_type: "forwarder",
            resource_id: Some(id.to_string()),
            before: Some(snapshot(&old)),
            after: None,
        },
    )
    .await?;
    dns.commit_config(txn, &format!("forwarder {}", old.name), old.domain_list())
        .await?;
    dns.publish(config_event(
        ChangeAction::Deleted,
        &old,
        actor,
        Value::Null,
    ));
    Ok(())
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// Name to query [default: the forwarder's first domain].
    pub name: Option<String>,
    /// Record type [default: SOA].
    pub record_type: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    pub forwarder_id: i32,
    pub query_name: String,
    pub query_type: String,
    /// Every server answered.
    pub healthy: bool,
    pub results: Vec<ServerResult>,
}

pub async fn test(f: &forwarders::Model, req: TestRequest) -> Result<TestResult> {
    let qname = match req.name {
        Some(n) => names::target(&n).map_err(|m| Error::validation("name", m))?,
        None => format!("{}.", f.domain_list().first().cloned().unwrap_or_default()),
    };
    let rtype_text = req
        .record_type
        .unwrap_or_else(|| "SOA".into())
        .to_ascii_uppercase();
    let rtype: RecordType = rtype_text
        .parse()
        .map_err(|_| Error::validation("record_type", "unknown record type"))?;
    let name = Name::from_ascii(&qname).map_err(|e| Error::validation("name", e.to_string()))?;
    let results = futures_util::future::join_all(
        f.server_addrs()
            .into_iter()
            .map(|server| probe(server, name.clone(), rtype)),
    )
    .await;
    Ok(TestResult {
        forwarder_id: f.id,
        query_name: qname,
        query_type: rtype_text,
        healthy: !results.is_empty() && results.iter().all(|r| r.success),
        results,
    })
}
