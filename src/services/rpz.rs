//! Manual response-policy rules: validation, CRUD and bulk changes. Every
//! change re-renders the manual policy zone, has BIND check it, and commits
//! only when the check passed (the one path of `dns_commit`).

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;
use hdns_actors::events::{Event, RpzUpdated};
use hdns_actors::rpz::{self, names::normalize, Action, Category};
use hdns_entities::{rpz_rules, security_alerts, threat_feeds};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, IntoActiveModel, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::audit::{self, Entry};
use super::error::{Error, Result};
use super::Caller;
use hdns_actors::bind::commit::Dns;

/// Most rules one bulk request may add or remove.
pub const MAX_BULK: usize = 10_000;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RuleInput {
    /// `bad.example` (that name) or `*.bad.example` (every name under it).
    pub domain: Option<String>,
    /// `nxdomain` (default), `nodata`, `passthru` (whitelist), `drop` or `redirect`.
    pub action: Option<String>,
    /// `malware`, `phishing`, `suspicious`, `policy_violation` or `custom` (default).
    pub category: Option<String>,
    /// Required for `redirect`: a domain name or an IP address.
    pub redirect_target: Option<String>,
    pub comment: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleView {
    pub id: i32,
    pub domain: String,
    pub action: Action,
    pub category: Category,
    pub redirect_target: Option<String>,
    pub source: String,
    pub enabled: bool,
    pub comment: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&rpz_rules::Model> for RuleView {
    fn from(r: &rpz_rules::Model) -> Self {
        Self {
            id: r.id,
            domain: r.domain.clone(),
            action: r.action,
            category: r.category,
            redirect_target: r.redirect_target.clone(),
            source: r.source.clone(),
            enabled: r.enabled,
            comment: r.comment.clone(),
            created_at: r.created_at.to_rfc3339(),
            updated_at: r.updated_at.to_rfc3339(),
        }
    }
}

/// A rule's values once checked.
struct Checked {
    domain: String,
    action: Action,
    category: Category,
    redirect_target: Option<String>,
}

pub fn check_action(s: &str) -> Result<Action> {
    Action::parse(s).ok_or_else(|| {
        Error::validation(
            "action",
            "action must be nxdomain, nodata, passthru, drop or redirect",
        )
    })
}

pub fn check_category(s: &str) -> Result<Category> {
    Category::parse(s).ok_or_else(|| {
        Error::validation(
            "category",
            "category must be malware, phishing, suspicious, policy_violation or custom",
        )
    })
}

/// A redirect needs a target (an IP address or a domain); no other action takes one.
pub fn check_target(action: Action, target: Option<&str>) -> Result<Option<String>> {
    match (action, target.map(str::trim).filter(|t| !t.is_empty())) {
        (Action::Redirect, None) => Err(Error::validation(
            "redirect_target",
            "a redirect needs redirect_target (an IP address or a domain name)",
        )),
        (Action::Redirect, Some(t)) => {
            if t.parse::<std::net::IpAddr>().is_ok() {
                return Ok(Some(t.to_string()));
            }
            match normalize(t) {
                Ok(n) if !n.starts_with("*.") => Ok(Some(n)),
                _ => Err(Error::validation(
                    "redirect_target",
                    "redirect_target must be an IP address or a domain name",
                )),
            }
        }
        (_, Some(_)) => Err(Error::validation(
            "redirect_target",
            "only a redirect takes redirect_target",
        )),
        (_, None) => Ok(None),
    }
}

fn check(input: &RuleInput, old: Option<&rpz_rules::Model>) -> Result<Checked> {
    let domain = match (&input.domain, old) {
        (Some(d), _) => normalize(d).map_err(|why| Error::validation("domain", why))?,
        (None, Some(o)) => o.domain.clone(),
        (None, None) => return Err(Error::validation("domain", "domain is required")),
    };
    if domain.trim_start_matches("*.").ends_with(rpz::RPZ_SUFFIX) {
        return Err(Error::validation(
            "domain",
            format!("names under {} are hybrid-dns's own", rpz::RPZ_SUFFIX),
        ));
    }
    let action = check_action(
        input
            .action
            .as_deref()
            .or(old.map(|o| o.action.as_str()))
            .unwrap_or("nxdomain"),
    )?;
    let category = check_category(
        input
            .category
            .as_deref()
            .or(old.map(|o| o.category.as_str()))
            .unwrap_or("custom"),
    )?;
    let target = match (&input.redirect_target, old) {
        (Some(t), _) => Some(t.as_str()),
        (None, Some(o)) if action == Action::Redirect => o.redirect_target.as_deref(),
        _ => None,
    };
    let redirect_target = check_target(action, target)?;
    if input.comment.as_ref().is_some_and(|c| c.len() > 1024) {
        return Err(Error::validation(
            "comment",
            "comment is at most 1024 characters",
        ));
    }
    Ok(Checked {
        domain,
        action,
        category,
        redirect_target,
    })
}

fn snapshot(r: &rpz_rules::Model) -> Value {
    serde_json::to_value(RuleView::from(r)).unwrap_or(Value::Null)
}

async fn taken<C: ConnectionTrait>(db: &C, domain: &str, except: Option<i32>) -> Result<()> {
    let mut q = rpz_rules::Entity::find().filter(rpz_rules::Column::Domain.eq(domain));
    if let Some(id) = except {
        q = q.filter(rpz_rules::Column::Id.ne(id));
    }
    if q.one(db).await?.is_some() {
        return Err(
            Error::conflict("rule_exists", format!("a rule for {domain} exists"))
                .with_details(json!({"field": "domain"})),
        );
    }
    Ok(())
}

/// Renders, checks and installs the manual zone, commits, reloads and
/// publishes `rpz_updated`. The caller holds the zone's lock.
async fn commit(
    dns: &Dns,
    txn: DatabaseTransaction,
    actor: &Caller,
    what: &str,
    (added, removed): (u64, u64),
) -> Result<()> {
    let total = rpz_rules::Entity::find()
        .filter(rpz_rules::Column::Enabled.eq(true))
        .count(&txn)
        .await?;
    let serial = dns.commit_policy(txn, what).await?;
    dns.publish(Event::new(RpzUpdated {
        zone: rpz::MANUAL_ZONE.into(),
        source: "manual".into(),
        feed_id: None,
        change: what.into(),
        added,
        removed,
        total: total as u64,
        serial,
        user_id: actor.event_user_id(),
        timestamp: crate::now_iso(),
    }));
    Ok(())
}

fn new_row(c: &Checked, input: &RuleInput, actor: &Caller) -> rpz_rules::ActiveModel {
    let now = Utc::now();
    rpz_rules::ActiveModel {
        domain: Set(c.domain.clone()),
        action: Set(c.action),
        redirect_target: Set(c.redirect_target.clone()),
        category: Set(c.category),
        source: Set("manual".into()),
        enabled: Set(input.enabled.unwrap_or(true)),
        comment: Set(input.comment.clone()),
        created_by: Set(actor.user_id),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

pub async fn create(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    input: RuleInput,
) -> Result<rpz_rules::Model> {
    let c = check(&input, None)?;
    let _zone = dns.files.lock_zone(rpz::MANUAL_ZONE).await;
    let txn = crate::db::write_txn(db).await?;
    taken(&txn, &c.domain, None).await?;
    let row = new_row(&c, &input, actor).insert(&txn).await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "rpz_rule.create",
            resource_type: "rpz_rule",
            resource_id: Some(row.id.to_string()),
            before: None,
            after: Some(snapshot(&row)),
        },
    )
    .await?;
    commit(
        dns,
        txn,
        actor,
        &format!("rule {} created", row.domain),
        (1, 0),
    )
    .await?;
    Ok(row)
}

pub async fn get(db: &DatabaseConnection, id: i32) -> Result<rpz_rules::Model> {
    rpz_rules::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("Rule"))
}

pub async fn update(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    id: i32,
    input: RuleInput,
) -> Result<rpz_rules::Model> {
    let _zone = dns.files.lock_zone(rpz::MANUAL_ZONE).await;
    let txn = crate::db::write_txn(db).await?;
    let old = rpz_rules::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("Rule"))?;
    let c = check(&input, Some(&old))?;
    taken(&txn, &c.domain, Some(id)).await?;
    let mut am = old.clone().into_active_model();
    am.domain = Set(c.domain);
    am.action = Set(c.action);
    am.category = Set(c.category);
    am.redirect_target = Set(c.redirect_target);
    if let Some(e) = input.enabled {
        am.enabled = Set(e);
    }
    if input.comment.is_some() {
        am.comment = Set(input.comment.clone());
    }
    am.updated_at = Set(Utc::now());
    let row = am.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "rpz_rule.update",
            resource_type: "rpz_rule",
            resource_id: Some(id.to_string()),
            before: Some(snapshot(&old)),
            after: Some(snapshot(&row)),
        },
    )
    .await?;
    commit(
        dns,
        txn,
        actor,
        &format!("rule {} updated", row.domain),
        (0, 0),
    )
    .await?;
    Ok(row)
}

pub async fn delete(db: &DatabaseConnection, dns: &Dns, actor: &Caller, id: i32) -> Result<()> {
    let _zone = dns.files.lock_zone(rpz::MANUAL_ZONE).await;
    let txn = crate::db::write_txn(db).await?;
    let old = rpz_rules::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("Rule"))?;
    rpz_rules::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "rpz_rule.delete",
            resource_type: "rpz_rule",
            resource_id: Some(id.to_string()),
            before: Some(snapshot(&old)),
            after: None,
        },
    )
    .await?;
    commit(
        dns,
        txn,
        actor,
        &format!("rule {} deleted", old.domain),
        (0, 1),
    )
    .await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct BulkInput {
    #[serde(default)]
    pub add: Vec<RuleInput>,
    /// Domains whose rules go.
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    pub added: u64,
    pub removed: u64,
    pub total: u64,
}

/// Adds and removes many rules in one check and one reload. All or nothing:
/// any invalid item refuses the whole request and names every bad item.
/// Each item of a bulk change checked on its own: the rules to add, the
/// domains to remove, and one error per bad item (by its index).
fn check_bulk(input: &BulkInput) -> (Vec<(Checked, &RuleInput)>, Vec<String>, Vec<Value>) {
    let mut errors = Vec::new();
    let mut checked = Vec::new();
    let mut seen = HashSet::new();
    for (i, item) in input.add.iter().enumerate() {
        match check(item, None) {
            Ok(c) if !seen.insert(c.domain.clone()) => {
                errors.push(json!({"index": i, "field": "domain", "message": "listed twice"}))
            }
            Ok(c) => checked.push((c, item)),
            Err(e) => errors.push(
                json!({"index": i, "field": e.details()["field"], "message": e.public_message()}),
            ),
        }
    }
    let mut remove = Vec::new();
    for (i, d) in input.remove.iter().enumerate() {
        match normalize(d) {
            Ok(n) => remove.push(n),
            Err(why) => errors.push(json!({"remove_index": i, "field": "domain", "message": why})),
        }
    }
    (checked, remove, errors)
}

pub async fn bulk(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    input: BulkInput,
) -> Result<BulkResult> {
    if input.add.is_empty() && input.remove.is_empty() {
        return Err(Error::validation("add", "nothing to add or remove"));
    }
    if input.add.len() + input.remove.len() > MAX_BULK {
        return Err(Error::validation(
            "add",
            format!("at most {MAX_BULK} rules per request"),
        ));
    }
    let (checked, remove, mut errors) = check_bulk(&input);
    let _zone = dns.files.lock_zone(rpz::MANUAL_ZONE).await;
    let txn = crate::db::write_txn(db).await?;
    let existing: HashSet<String> = rpz_rules::Entity::find()
        .select_only()
        .column(rpz_rules::Column::Domain)
        .into_tuple::<String>()
        .all(&txn)
        .await?
        .into_iter()
        .collect();
    for (i, (c, _)) in checked.iter().enumerate() {
        if existing.contains(&c.domain) && !remove.contains(&c.domain) {
            errors.push(json!({"index": i, "field": "domain", "message": format!("a rule for {} exists", c.domain)}));
        }
    }
    for (i, d) in remove.iter().enumerate() {
        if !existing.contains(d) {
            errors.push(json!({"remove_index": i, "field": "domain", "message": format!("no rule for {d}")}));
        }
    }
    if !errors.is_empty() {
        return Err(Error::validation(
            "add",
            format!("{} invalid items; nothing was changed", errors.len()),
        )
        .with_details(json!({"field": "add", "errors": errors})));
    }
    let removed = if remove.is_empty() {
        0
    } else {
        rpz_rules::Entity::delete_many()
            .filter(rpz_rules::Column::Domain.is_in(remove.clone()))
            .exec(&txn)
            .await?
            .rows_affected
    };
    let added = checked.len() as u64;
    for chunk in checked.chunks(500) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|(c, item)| new_row(c, item, actor))
            .collect();
        rpz_rules::Entity::insert_many(rows).exec(&txn).await?;
    }
    audit::record(
        &txn,
        actor,
        Entry {
            action: "rpz_rule.bulk",
            resource_type: "rpz_rule",
            resource_id: None,
            before: Some(json!({"removed": remove})),
            after: Some(
                json!({"added": checked.iter().map(|(c, _)| c.domain.clone()).collect::<Vec<_>>()}),
            ),
        },
    )
    .await?;
    commit(dns, txn, actor, "bulk change", (added, removed)).await?;
    let total = rpz_rules::Entity::find().count(db).await?;
    Ok(BulkResult {
        added,
        removed,
        total,
    })
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RuleFilter {
    pub category: Option<String>,
    pub action: Option<String>,
    pub enabled: Option<bool>,
}

pub async fn list(
    db: &DatabaseConnection,
    search: Option<&str>,
    filter: &RuleFilter,
    sort: rpz_rules::Column,
    order: Order,
    page: u64,
    per_page: u64,
) -> Result<(Vec<rpz_rules::Model>, u64)> {
    let mut q = rpz_rules::Entity::find();
    if let Some(s) = search.filter(|s| !s.is_empty()) {
        q = q.filter(rpz_rules::Column::Domain.contains(s.to_ascii_lowercase()));
    }
    if let Some(c) = &filter.category {
        q = q.filter(rpz_rules::Column::Category.eq(check_category(c)?.as_str()));
    }
    if let Some(a) = &filter.action {
        q = q.filter(rpz_rules::Column::Action.eq(check_action(a)?.as_str()));
    }
    if let Some(e) = filter.enabled {
        q = q.filter(rpz_rules::Column::Enabled.eq(e));
    }
    let total = q.clone().count(db).await?;
    let items = q
        .order_by(sort, order)
        .order_by(rpz_rules::Column::Id, Order::Asc)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    Ok((items, total))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Statistics {
    /// Manual rules (enabled ones) per category and per action.
    pub rules: RuleStats,
    /// Feed entries (enabled feeds) per category.
    pub feeds: FeedStats,
    /// Blocked names per source: `manual` rules (not counting passthru) and `feed` entries.
    pub by_source: BTreeMap<String, i64>,
    /// Alerts per severity, and how many wait for acknowledgement.
    pub alerts: AlertStats,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RuleStats {
    pub total: i64,
    pub enabled: i64,
    pub by_category: BTreeMap<String, i64>,
    pub by_action: BTreeMap<String, i64>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct FeedStats {
    pub total: i64,
    pub enabled: i64,
    pub failing: i64,
    pub entries: i64,
    pub by_category: BTreeMap<String, i64>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct AlertStats {
    pub total: i64,
    pub unacknowledged: i64,
    pub by_severity: BTreeMap<String, i64>,
}

pub async fn statistics(db: &DatabaseConnection) -> Result<Statistics> {
    let mut rules = RuleStats::default();
    let rows: Vec<(String, String, bool)> = rpz_rules::Entity::find()
        .select_only()
        .column(rpz_rules::Column::Category)
        .column(rpz_rules::Column::Action)
        .column(rpz_rules::Column::Enabled)
        .into_tuple()
        .all(db)
        .await?;
    let mut blocking = 0;
    for (category, action, enabled) in rows {
        rules.total += 1;
        if !enabled {
            continue;
        }
        rules.enabled += 1;
        *rules.by_category.entry(category).or_default() += 1;
        blocking += i64::from(action != "passthru");
        *rules.by_action.entry(action).or_default() += 1;
    }
    let mut feeds = FeedStats::default();
    for f in threat_feeds::Entity::find().all(db).await? {
        feeds.total += 1;
        feeds.failing += i64::from(f.last_status == hdns_entities::enums::FeedStatus::Failed);
        if f.enabled {
            feeds.enabled += 1;
            feeds.entries += f.entry_count;
            *feeds
                .by_category
                .entry(f.category.as_str().into())
                .or_default() += f.entry_count;
        }
    }
    let mut alerts = AlertStats::default();
    let count = |q: sea_orm::Select<security_alerts::Entity>| async move { q.count(db).await };
    alerts.total = count(security_alerts::Entity::find()).await? as i64;
    alerts.unacknowledged = count(
        security_alerts::Entity::find().filter(security_alerts::Column::Acknowledged.eq(false)),
    )
    .await? as i64;
    for s in ["low", "medium", "high", "critical"] {
        let n =
            count(security_alerts::Entity::find().filter(security_alerts::Column::Severity.eq(s)))
                .await?;
        alerts.by_severity.insert(s.to_string(), n as i64);
    }
    let by_source = BTreeMap::from([
        ("manual".to_string(), blocking),
        ("feed".to_string(), feeds.entries),
    ]);
    Ok(Statistics {
        rules,
        feeds,
        by_source,
        alerts,
    })
}
