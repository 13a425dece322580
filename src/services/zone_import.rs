//! Zone file import (merge or replace, all-or-nothing) and validation of
//! zone files before import. The file goes through the same record
//! validation as the REST API, then BIND's checker sees the result.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use hdns_entities::{dns_records, zones};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{self, Entry};
use super::error::{Error, Result};
use super::{records, zones as zone_svc, Caller};
use crate::dns::masterfile::{self, Soa};
use crate::dns::{names, RecordKind, ValidRecord};
use hdns_actors::bind::commit::{CommitTimings, Dns};

/// How many problems one failed import reports.
const MAX_REPORTED: usize = 50;
const INSERT_CHUNK: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportMode {
    /// Add the file's records to the zone; records already present are skipped.
    #[default]
    Merge,
    /// The zone's records become exactly the file's; its SOA and `$TTL` are adopted.
    Replace,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The master file text.
    pub content: String,
    #[serde(default)]
    pub mode: ImportMode,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub zone_id: i32,
    pub zone_name: String,
    pub mode: ImportMode,
    pub records_in_file: usize,
    pub created: usize,
    /// Records of the file already in the zone (merge) or repeated in the file.
    pub skipped: usize,
    pub deleted: u64,
    pub serial: i64,
    pub duration_ms: u64,
    pub timings_ms: ImportTimings,
}

/// Milliseconds per phase. Ours: `parse_validate`, `database`, `load`,
/// `render`, `commit`; BIND's: `check` (named-checkzone) and `reload`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ImportTimings {
    pub parse_validate: u64,
    pub database: u64,
    pub load: u64,
    pub render: u64,
    pub check: u64,
    pub commit: u64,
    pub reload: u64,
}

impl ImportTimings {
    /// Milliseconds per phase: ours (parse and validate, database), then the
    /// commit path's (load, render, check, commit, reload).
    fn of(parse_validate: Duration, database: Duration, t: &CommitTimings) -> Self {
        let ms = |d: Duration| d.as_millis() as u64;
        Self {
            parse_validate: ms(parse_validate),
            database: ms(database),
            load: ms(t.stage.load),
            render: ms(t.stage.render),
            check: ms(t.stage.check),
            commit: ms(t.commit),
            reload: ms(t.install_reload),
        }
    }
}

/// A parsed and validated file.
pub struct Prepared {
    pub records: Vec<ValidRecord>,
    pub in_file: usize,
    pub duplicates: usize,
    pub soa: Option<Soa>,
    pub default_ttl: Option<i64>,
    pub parse_validate: Duration,
}

fn invalid(errors: Vec<String>) -> Error {
    let first = errors.first().cloned().unwrap_or_default();
    Error::validation("content", format!("the zone file is invalid: {first}"))
        .with_details(json!({"field": "content", "errors": errors}))
}

/// Parses and validates a file for `zone` without touching the database.
pub fn prepare(zone: &zones::Model, text: &str, max_bytes: usize) -> Result<Prepared> {
    let started = Instant::now();
    if text.len() > max_bytes {
        return Err(Error::TooLarge(format!(
            "the zone file is {} bytes; at most {max_bytes} are accepted",
            text.len()
        )));
    }
    if zone.zone_type != hdns_entities::enums::ZoneType::Master {
        return Err(Error::validation(
            "zone_type",
            "only master zones can be imported into",
        ));
    }
    let parsed = masterfile::parse(text, &zone.name).map_err(|e| invalid(vec![e.to_string()]))?;
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(parsed.records.len());
    let mut seen = HashSet::with_capacity(parsed.records.len());
    let mut duplicates = 0;
    for p in &parsed.records {
        match records::validate(zone, &p.input) {
            Ok(r) => {
                if seen.insert((
                    r.name.clone(),
                    r.kind,
                    r.value.to_ascii_lowercase(),
                    r.priority,
                    r.weight,
                    r.port,
                )) {
                    out.push(r);
                } else {
                    duplicates += 1;
                }
            }
            Err(e) => {
                let details = e.details();
                let field = details
                    .get("field")
                    .and_then(|f| f.as_str())
                    .unwrap_or("record");
                errors.push(format!("line {}: {field}: {}", p.line, e.public_message()));
                if errors.len() >= MAX_REPORTED {
                    break;
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    if let Some(soa) = &parsed.soa {
        names::target(&soa.primary_ns).map_err(|m| invalid(vec![format!("SOA: {m}")]))?;
    }
    Ok(Prepared {
        in_file: parsed.records.len(),
        records: out,
        duplicates,
        soa: parsed.soa,
        default_ttl: parsed.default_ttl,
        parse_validate: started.elapsed(),
    })
}

/// CNAMEs stand alone at their name, across the file and what stays in the zone.
fn check_cnames(existing: &[dns_records::Model], new: &[ValidRecord]) -> Result<()> {
    let mut kinds: HashMap<&str, (bool, usize)> = HashMap::new();
    for r in existing.iter().filter(|r| r.enabled) {
        let e = kinds.entry(r.name.as_str()).or_default();
        e.0 |= r.record_type == RecordKind::CNAME;
        e.1 += 1;
    }
    for r in new {
        let e = kinds.entry(r.name.as_str()).or_default();
        e.0 |= r.kind == RecordKind::CNAME;
        e.1 += 1;
    }
    let mut bad: Vec<String> = kinds
        .into_iter()
        .filter(|(_, (cname, n))| *cname && *n > 1)
        .map(|(name, _)| format!("{name}: a CNAME must be the only record at its name"))
        .collect();
    bad.sort();
    bad.truncate(MAX_REPORTED);
    if bad.is_empty() {
        Ok(())
    } else {
        Err(invalid(bad))
    }
}

fn apply_soa(am: &mut zones::ActiveModel, zone: &zones::Model, soa: &Soa) {
    am.soa_primary_ns = Set(soa.primary_ns.clone());
    am.soa_admin_email = Set(soa.admin_email.clone());
    let clamp = |v: i64| v.clamp(0, i32::MAX as i64) as i32;
    am.refresh = Set(clamp(soa.refresh));
    am.retry = Set(clamp(soa.retry));
    am.expire = Set(clamp(soa.expire));
    am.minimum = Set(clamp(soa.minimum));
    // Secondaries must never see the serial go down.
    am.serial = Set(zone.serial.max(soa.serial));
}

/// The records of a merge that the zone does not hold yet (same name,
/// type, value ignoring case, priority, weight and port).
fn not_present(existing: &[dns_records::Model], records: Vec<ValidRecord>) -> Vec<ValidRecord> {
    let key = |name: &str, kind, value: &str, p, w, port| {
        (
            name.to_string(),
            kind,
            value.to_ascii_lowercase(),
            p,
            w,
            port,
        )
    };
    let present: HashSet<_> = existing
        .iter()
        .map(|e| {
            key(
                &e.name,
                e.record_type,
                &e.value,
                e.priority,
                e.weight,
                e.port,
            )
        })
        .collect();
    records
        .into_iter()
        .filter(|r| {
            !present.contains(&key(
                &r.name, r.kind, &r.value, r.priority, r.weight, r.port,
            ))
        })
        .collect()
}

/// The rows of new records (a TTL equal to the zone's default is left unset).
fn rows_of(zone_id: i32, records: Vec<ValidRecord>, default_ttl: i32) -> Vec<dns_records::Model> {
    let now = Utc::now();
    records
        .into_iter()
        .map(|r| dns_records::Model {
            id: 0,
            zone_id,
            name: r.name,
            record_type: r.kind,
            value: r.value,
            ttl: r.ttl.filter(|t| *t != default_ttl),
            priority: r.priority,
            weight: r.weight,
            port: r.port,
            enabled: true,
            comment: None,
            created_at: now,
            updated_at: now,
        })
        .collect()
}

/// Inserts rows in chunks; `progress` hears how many were written.
async fn insert_rows(
    txn: &sea_orm::DatabaseTransaction,
    rows: &[dns_records::Model],
    progress: Option<&dyn Fn(usize)>,
) -> Result<()> {
    let mut done = 0;
    for chunk in rows.chunks(INSERT_CHUNK) {
        let chunk: Vec<dns_records::ActiveModel> = chunk
            .iter()
            .map(|m| {
                let mut am = m.clone().into_active_model();
                am.id = sea_orm::ActiveValue::NotSet;
                am
            })
            .collect();
        done += chunk.len();
        dns_records::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
        if let Some(p) = progress {
            p(done);
        }
    }
    Ok(())
}

/// What an import writes.
struct RowsPlan {
    insert: Vec<ValidRecord>,
    /// Rows a replacement deleted.
    deleted: u64,
    /// The TTL records are stored against (theirs is kept only when it differs).
    default_ttl: i32,
    /// Records of the file already in the zone, or repeated in the file.
    skipped: usize,
}

/// Replace: every row goes, the file's SOA and `$TTL` become the zone's.
/// Merge: only records the zone does not hold are added.
async fn plan_rows(
    txn: &sea_orm::DatabaseTransaction,
    am: &mut zones::ActiveModel,
    zone: &zones::Model,
    existing: &[dns_records::Model],
    prepared: Prepared,
    mode: ImportMode,
) -> Result<RowsPlan> {
    match mode {
        ImportMode::Replace => {
            check_cnames(&[], &prepared.records)?;
            let deleted = dns_records::Entity::delete_many()
                .filter(dns_records::Column::ZoneId.eq(zone.id))
                .exec(txn)
                .await?
                .rows_affected;
            let default_ttl = replace_header(am, zone, &prepared);
            Ok(RowsPlan {
                insert: prepared.records,
                deleted,
                default_ttl,
                skipped: prepared.duplicates,
            })
        }
        ImportMode::Merge => {
            let fresh = not_present(existing, prepared.records);
            check_cnames(existing, &fresh)?;
            Ok(RowsPlan {
                skipped: prepared.in_file - fresh.len(),
                insert: fresh,
                deleted: 0,
                default_ttl: zone.default_ttl,
            })
        }
    }
}

/// A replacing file's SOA and `$TTL` become the zone's; returns the
/// default TTL the records are stored against.
fn replace_header(am: &mut zones::ActiveModel, zone: &zones::Model, prepared: &Prepared) -> i32 {
    if let Some(soa) = &prepared.soa {
        apply_soa(am, zone, soa);
    }
    let ttl = prepared
        .default_ttl
        .map(|t| t.clamp(0, i32::MAX as i64) as i32)
        .unwrap_or(zone.default_ttl);
    am.default_ttl = Set(ttl);
    ttl
}

/// Imports a prepared file. `progress` hears how many records were written.
pub async fn import(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    zone_id: i32,
    prepared: Prepared,
    mode: ImportMode,
    progress: Option<&dyn Fn(usize)>,
) -> Result<ImportResult> {
    let started = Instant::now();
    let prepared_parse = prepared.parse_validate;
    let name = zones::Entity::find_by_id(zone_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("Zone"))?
        .name;
    let _lock = dns.files.lock_zone(&name).await;
    let txn = crate::db::write_txn(db).await?;
    let zone = zones::Entity::find_by_id(zone_id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("Zone"))?;
    let existing = dns_records::Entity::find()
        .filter(dns_records::Column::ZoneId.eq(zone.id))
        .all(&txn)
        .await?;
    let old_count = existing.len() as u64;
    let in_file = prepared.in_file;
    let mut am = zone.clone().into_active_model();
    let RowsPlan {
        insert: to_insert,
        deleted,
        default_ttl,
        skipped,
    } = plan_rows(&txn, &mut am, &zone, &existing, prepared, mode).await?;
    am.updated_at = Set(Utc::now());
    let zone = am.update(&txn).await?;
    let created = to_insert.len();
    let new_rows = rows_of(zone.id, to_insert, default_ttl);
    insert_rows(&txn, &new_rows, progress).await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "zone.import",
            resource_type: "zone",
            resource_id: Some(zone.id.to_string()),
            before: Some(json!({"records": old_count})),
            after: Some(
                json!({"mode": mode, "created": created, "deleted": deleted, "skipped": skipped}),
            ),
        },
    )
    .await?;
    let database = started.elapsed();
    // The zone's records are known here: render them without reading them back.
    let mut all = match mode {
        ImportMode::Replace => Vec::new(),
        ImportMode::Merge => existing,
    };
    all.extend(new_rows);
    let (zone, t) = dns.commit_zone_timed(txn, zone, false, Some(all)).await?;
    let timings_ms = ImportTimings::of(prepared_parse, database, &t);
    let new_count = old_count - deleted + created as u64;
    dns.publish(zone_svc::zone_event_for_records(
        &zone, old_count, new_count, actor,
    ));
    Ok(ImportResult {
        zone_id: zone.id,
        zone_name: zone.name.clone(),
        mode,
        records_in_file: in_file,
        created,
        skipped,
        deleted,
        serial: zone.serial,
        duration_ms: (started.elapsed() + prepared_parse).as_millis() as u64,
        timings_ms,
    })
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// A zone file to check instead of the zone's current content.
    pub content: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ValidateResult {
    pub valid: bool,
    pub zone_id: i32,
    pub zone_name: String,
    pub record_count: usize,
    /// Our own findings and BIND's checker output, one problem per entry.
    pub errors: Vec<String>,
}

/// Checks the zone as it is, or a candidate file, with our validation and `named-checkzone`.
pub async fn validate(
    db: &DatabaseConnection,
    dns: &Dns,
    zone: &zones::Model,
    req: ValidateRequest,
    max_bytes: usize,
) -> Result<ValidateResult> {
    let mut result = ValidateResult {
        valid: true,
        zone_id: zone.id,
        zone_name: zone.name.clone(),
        record_count: 0,
        errors: Vec::new(),
    };
    if zone.zone_type != hdns_entities::enums::ZoneType::Master {
        result
            .errors
            .push("only master zones have a zone file".into());
        result.valid = false;
        return Ok(result);
    }
    let rows: Vec<dns_records::Model> = match req.content {
        None => {
            dns_records::Entity::find()
                .filter(dns_records::Column::ZoneId.eq(zone.id))
                .all(db)
                .await?
        }
        Some(text) => match prepare(zone, &text, max_bytes)
            .and_then(|p| check_cnames(&[], &p.records).map(|_| p))
        {
            Err(e) => {
                result.valid = false;
                result.errors = match e.details().get("errors").and_then(|v| v.as_array()) {
                    Some(list) => list
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    None => vec![e.public_message()],
                };
                return Ok(result);
            }
            Ok(p) => p
                .records
                .into_iter()
                .enumerate()
                .map(|(i, r)| dns_records::Model {
                    id: i as i32,
                    zone_id: zone.id,
                    name: r.name,
                    record_type: r.kind,
                    value: r.value,
                    ttl: r.ttl,
                    priority: r.priority,
                    weight: r.weight,
                    port: r.port,
                    enabled: true,
                    comment: None,
                    created_at: Utc::now(),
                    updated_at: Utc::now(),
                })
                .collect(),
        },
    };
    result.record_count = rows.len();
    match dns.files.stage_zone(zone, &rows).await {
        Ok(_) => {}
        Err(hdns_actors::bind::sync::BindError::Check(m)) => {
            result.valid = false;
            result.errors.extend(m.lines().map(str::to_owned));
        }
        Err(e) => return Err(Error::internal(e)),
    }
    Ok(result)
}
