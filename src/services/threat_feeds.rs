//! Threat feeds: validation and CRUD. Each feed has its own policy zone,
//! listed in `response-policy` after the manual one; the ThreatFeeds
//! fills it on the feed's schedule.

use chrono::Utc;
use hdns_actors::events::{ChangeAction, ConfigChange, ConfigSubject, Event};
use hdns_actors::rpz::{self, feed::Format, Action, Category};
use hdns_entities::threat_feeds;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::audit::{self, Entry};
use super::error::{Error, Result};
use super::rpz::{check_action, check_category, check_target};
use super::Caller;
use hdns_actors::bind::commit::Dns;
use hdns_actors::rpz::feed_actor::{check_file, normalize_schedule, redact_url, ThreatFeeds};

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct FeedInput {
    pub name: Option<String>,
    /// `http(s)://...`; or give `file_path` (under `threat_feed_dir`).
    pub url: Option<String>,
    pub file_path: Option<String>,
    /// `domains` (default), `hosts`, `adblock` or `rpz`.
    pub format: Option<String>,
    /// Default `malware`.
    pub category: Option<String>,
    /// Default `nxdomain`.
    pub action: Option<String>,
    pub redirect_target: Option<String>,
    /// Cron, 5 fields (`0 */6 * * *`) or 6 with seconds first. Default hourly.
    pub schedule: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedView {
    pub id: i32,
    pub name: String,
    /// Without credentials or query string.
    pub url: Option<String>,
    pub file_path: Option<String>,
    pub format: hdns_entities::enums::FeedFormat,
    pub category: hdns_entities::enums::RpzCategory,
    pub action: hdns_entities::enums::RpzAction,
    pub redirect_target: Option<String>,
    pub schedule: String,
    pub enabled: bool,
    pub zone: String,
    pub last_run_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_status: hdns_entities::enums::FeedStatus,
    pub last_error: Option<String>,
    pub entry_count: i64,
    pub invalid_lines: i64,
    /// The operation updating the feed now.
    pub running: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl FeedView {
    pub fn new(f: &threat_feeds::Model, actor: &ThreatFeeds) -> Self {
        Self {
            id: f.id,
            name: f.name.clone(),
            url: f.url.as_deref().map(redact_url),
            file_path: f.file_path.clone(),
            format: f.format,
            category: f.category,
            action: f.action,
            redirect_target: f.redirect_target.clone(),
            schedule: f.schedule.clone(),
            enabled: f.enabled,
            zone: rpz::feed_zone(f.id),
            last_run_at: f.last_run_at.map(|t| t.to_rfc3339()),
            last_success_at: f.last_success_at.map(|t| t.to_rfc3339()),
            last_status: f.last_status,
            last_error: f.last_error.clone(),
            entry_count: f.entry_count,
            invalid_lines: f.invalid_lines,
            running: actor.running(f.id),
            created_at: f.created_at.to_rfc3339(),
            updated_at: f.updated_at.to_rfc3339(),
        }
    }
}

fn snapshot(f: &threat_feeds::Model) -> Value {
    json!({
        "name": f.name, "url": f.url.as_deref().map(redact_url), "file_path": f.file_path,
        "format": f.format, "category": f.category, "action": f.action,
        "redirect_target": f.redirect_target, "schedule": f.schedule, "enabled": f.enabled,
    })
}

/// Applies `input` over `am` (a new row or the old one), checking every field.
/// Where the feed comes from: an http(s) URL or a file under the feed
/// directory, exactly one of them.
fn apply_source(
    am: &mut threat_feeds::ActiveModel,
    input: &FeedInput,
    feeds: &ThreatFeeds,
    new: bool,
) -> Result<()> {
    match (&input.url, &input.file_path) {
        (Some(_), Some(_)) => {
            return Err(Error::validation("url", "give url or file_path, not both"))
        }
        (Some(u), None) => {
            let ok = reqwest::Url::parse(u)
                .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some());
            if !ok || u.len() > 2048 {
                return Err(Error::validation("url", "url must be an http or https URL"));
            }
            am.url = Set(Some(u.clone()));
            am.file_path = Set(None);
        }
        (None, Some(p)) => {
            check_file(&feeds.settings().dir, p)
                .map_err(|why| Error::validation("file_path", why))?;
            am.file_path = Set(Some(p.clone()));
            am.url = Set(None);
        }
        (None, None) if new => {
            return Err(Error::validation("url", "url or file_path is required"))
        }
        (None, None) => {}
    }
    Ok(())
}

fn apply(
    am: &mut threat_feeds::ActiveModel,
    input: &FeedInput,
    feeds: &ThreatFeeds,
    new: bool,
) -> Result<()> {
    if let Some(n) = &input.name {
        let n = n.trim();
        if n.is_empty() || n.len() > 128 || n.chars().any(char::is_control) {
            return Err(Error::validation(
                "name",
                "name is 1 to 128 printable characters",
            ));
        }
        am.name = Set(n.to_string());
    } else if new {
        return Err(Error::validation("name", "name is required"));
    }
    apply_source(am, input, feeds, new)?;
    let format = match input.format.as_deref() {
        Some(f) => Format::parse(f).ok_or_else(|| {
            Error::validation("format", "format must be domains, hosts, adblock or rpz")
        })?,
        None => am.format.try_as_ref().copied().unwrap_or(Format::Domains),
    };
    am.format = Set(format);
    let category = match input.category.as_deref() {
        Some(c) => check_category(c)?,
        None => am
            .category
            .try_as_ref()
            .copied()
            .unwrap_or(Category::Malware),
    };
    am.category = Set(category);
    let action = match input.action.as_deref() {
        Some(a) => check_action(a)?,
        None => am.action.try_as_ref().copied().unwrap_or(Action::Nxdomain),
    };
    if action == Action::Passthru {
        return Err(Error::validation(
            "action",
            "a feed blocks; whitelist with a manual passthru rule instead",
        ));
    }
    let target = match &input.redirect_target {
        Some(t) => Some(t.clone()),
        None if action == Action::Redirect => am.redirect_target.try_as_ref().cloned().flatten(),
        None => None,
    };
    am.redirect_target = Set(check_target(action, target.as_deref())?);
    am.action = Set(action);
    let schedule = input
        .schedule
        .as_deref()
        .or(am.schedule.try_as_ref().map(String::as_str))
        .unwrap_or("0 * * * *");
    normalize_schedule(schedule).ok_or_else(|| {
        Error::validation(
            "schedule",
            "schedule must be a cron expression: 5 fields, or 6 with seconds first",
        )
    })?;
    am.schedule = Set(schedule.trim().to_string());
    if let Some(e) = input.enabled {
        am.enabled = Set(e);
    }
    Ok(())
}

async fn name_taken(
    db: &impl sea_orm::ConnectionTrait,
    name: &str,
    except: Option<i32>,
) -> Result<()> {
    let mut q = threat_feeds::Entity::find().filter(threat_feeds::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(threat_feeds::Column::Id.ne(id));
    }
    if q.one(db).await?.is_some() {
        return Err(
            Error::conflict("feed_exists", format!("a feed named {name} exists"))
                .with_details(json!({"field": "name"})),
        );
    }
    Ok(())
}

fn config_event(action: ChangeAction, f: &threat_feeds::Model, actor: &Caller) -> Event {
    Event::new(ConfigChange {
        component: "threat_feeds".into(),
        action,
        subject: ConfigSubject::ThreatFeed {
            feed_id: f.id.to_string(),
            feed_name: f.name.clone(),
        },
        user_id: actor.event_user_id(),
        timestamp: crate::now_iso(),
    })
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<threat_feeds::Model>> {
    Ok(threat_feeds::Entity::find()
        .order_by_asc(threat_feeds::Column::Name)
        .all(db)
        .await?)
}

pub async fn get(db: &DatabaseConnection, id: i32) -> Result<threat_feeds::Model> {
    threat_feeds::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("Feed"))
}

/// Creates a feed, adds its (empty) zone to `response-policy`, schedules it
/// and starts its first update.
pub async fn create(
    db: &DatabaseConnection,
    dns: &Dns,
    feeds: &ThreatFeeds,
    actor: &Caller,
    input: FeedInput,
) -> Result<threat_feeds::Model> {
    let now = Utc::now();
    let mut am = threat_feeds::ActiveModel {
        serial: Set(0),
        last_status: Set(hdns_entities::enums::FeedStatus::Never),
        entry_count: Set(0),
        invalid_lines: Set(0),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    apply(&mut am, &input, feeds, true)?;
    let txn = crate::db::write_txn(db).await?;
    name_taken(&txn, am.name.as_ref(), None).await?;
    let row = am.insert(&txn).await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "threat_feed.create",
            resource_type: "threat_feed",
            resource_id: Some(row.id.to_string()),
            before: None,
            after: Some(snapshot(&row)),
        },
    )
    .await?;
    dns.files
        .ensure_feed_zone(row.id)
        .await
        .map_err(Error::internal)?;
    dns.commit_config(txn, &format!("threat feed {}", row.name), Vec::new())
        .await?;
    start(feeds, &row, actor).await;
    dns.publish(config_event(ChangeAction::Created, &row, actor));
    Ok(row)
}

async fn start(feeds: &ThreatFeeds, row: &threat_feeds::Model, actor: &Caller) {
    if let Err(e) = feeds.schedule(row).await {
        tracing::warn!(feed = %row.name, error = %e, "threat feed not scheduled");
    }
    if row.enabled {
        let _ = feeds.run_now(row.id, actor.user_id).await;
    }
}

pub async fn update(
    db: &DatabaseConnection,
    dns: &Dns,
    feeds: &ThreatFeeds,
    actor: &Caller,
    id: i32,
    input: FeedInput,
) -> Result<threat_feeds::Model> {
    let txn = crate::db::write_txn(db).await?;
    let old = threat_feeds::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("Feed"))?;
    let mut am = old.clone().into_active_model();
    apply(&mut am, &input, feeds, false)?;
    name_taken(&txn, am.name.as_ref(), Some(id)).await?;
    am.updated_at = Set(Utc::now());
    let source_changed = am.url.as_ref() != &old.url
        || am.file_path.as_ref() != &old.file_path
        || am.format.as_ref() != &old.format
        || am.action.as_ref() != &old.action
        || am.redirect_target.as_ref() != &old.redirect_target;
    if source_changed {
        // Re-render from scratch: no conditional request, no "same list" shortcut.
        am.serial = Set(0);
        am.etag = Set(None);
        am.last_modified = Set(None);
    }
    let row = am.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "threat_feed.update",
            resource_type: "threat_feed",
            resource_id: Some(id.to_string()),
            before: Some(snapshot(&old)),
            after: Some(snapshot(&row)),
        },
    )
    .await?;
    if row.enabled != old.enabled {
        dns.files
            .ensure_feed_zone(row.id)
            .await
            .map_err(Error::internal)?;
        dns.commit_config(txn, &format!("threat feed {}", row.name), Vec::new())
            .await?;
    } else {
        txn.commit().await?;
    }
    if let Err(e) = feeds.schedule(&row).await {
        tracing::warn!(feed = %row.name, error = %e, "threat feed not scheduled");
    }
    if row.enabled && (source_changed || !old.enabled) {
        let _ = feeds.run_now(row.id, actor.user_id).await;
    }
    dns.publish(config_event(ChangeAction::Updated, &row, actor));
    Ok(row)
}

pub async fn delete(
    db: &DatabaseConnection,
    dns: &Dns,
    feeds: &ThreatFeeds,
    actor: &Caller,
    id: i32,
) -> Result<()> {
    let txn = crate::db::write_txn(db).await?;
    let old = threat_feeds::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("Feed"))?;
    threat_feeds::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "threat_feed.delete",
            resource_type: "threat_feed",
            resource_id: Some(id.to_string()),
            before: Some(snapshot(&old)),
            after: None,
        },
    )
    .await?;
    feeds.unschedule(id).await;
    dns.commit_config(txn, &format!("threat feed {}", old.name), Vec::new())
        .await?;
    dns.files.remove_feed_files(id).await;
    dns.publish(config_event(ChangeAction::Deleted, &old, actor));
    Ok(())
}
