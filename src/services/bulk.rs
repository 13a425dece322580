//! Bulk record changes as a background operation. Consecutive operations on
//! one zone are applied in one transaction (each inside a savepoint, so one
//! bad operation fails alone) and cost one check and one reload. Progress is
//! published as `bulk_operation_progress` events and kept for polling.

use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use hdns_actors::events::{BulkOperation, ChangeAction, Event};
use hdns_entities::{dns_records, zones};
use sea_orm::{DatabaseConnection, EntityTrait, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::error::{Error, Result};
use super::grants::{self, Level};
use super::records::{self, CreateRecord, UpdateRecord};
use super::Caller;
use hdns_actors::bind::commit::Dns;

pub const MAX_OPERATIONS: usize = 10_000;
/// Operations applied per transaction (one zone check and reload each).
const CHUNK: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BulkAction {
    Create,
    Update,
    Delete,
}

/// One operation: `create` takes the record fields, `update` an `id` and the
/// fields to change, `delete` an `id`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkOp {
    pub action: BulkAction,
    pub id: Option<i32>,
    pub zone_id: Option<i32>,
    pub name: Option<String>,
    pub record_type: Option<String>,
    pub value: Option<String>,
    pub ttl: Option<i64>,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
    pub port: Option<i64>,
    pub enabled: Option<bool>,
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub operations: Vec<BulkOp>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkError {
    /// Position of the operation in the request.
    pub index: usize,
    pub error: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkStatus {
    pub operation_id: String,
    /// `running`, `completed` or `completed_with_errors`.
    pub status: String,
    pub total: usize,
    pub processed: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub percent: f64,
    pub errors: Vec<BulkError>,
    pub user_id: i32,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// Operations of this process, for `GET /api/dns-records/bulk/{id}`.
pub type BulkRegistry = Arc<DashMap<String, BulkStatus>>;

impl BulkStatus {
    /// Its progress event; the final one carries the errors and duration.
    fn event(&self, duration_ms: Option<u64>) -> Event {
        Event::new(BulkOperation {
            operation_id: self.operation_id.clone(),
            operation: None,
            feed_id: None,
            status: self.status.clone(),
            total: Some(self.total as u64),
            processed: Some(self.processed as u64),
            succeeded: Some(self.succeeded as u64),
            failed: Some(self.failed as u64),
            percent: serde_json::Number::from_f64(self.percent).unwrap_or_else(|| 0.into()),
            user_id: self.user_id.to_string(),
            timestamp: crate::now_iso(),
            errors: duration_ms.map(|_| json!(self.errors)),
            duration_ms,
        })
    }
}

/// Checks the request shape and starts it; the caller gets the id at once.
pub fn start(
    db: DatabaseConnection,
    dns: Dns,
    registry: BulkRegistry,
    actor: Caller,
    req: BulkRequest,
) -> Result<BulkStatus> {
    if req.operations.is_empty() || req.operations.len() > MAX_OPERATIONS {
        return Err(Error::validation(
            "operations",
            format!("give 1 to {MAX_OPERATIONS} operations"),
        ));
    }
    for (i, op) in req.operations.iter().enumerate() {
        let missing = match op.action {
            BulkAction::Create => [
                ("zone_id", op.zone_id.is_none()),
                ("name", op.name.is_none()),
                ("record_type", op.record_type.is_none()),
                ("value", op.value.is_none()),
            ]
            .into_iter()
            .find(|(_, m)| *m)
            .map(|(f, _)| f),
            BulkAction::Update | BulkAction::Delete => op.id.is_none().then_some("id"),
        };
        if let Some(field) = missing {
            return Err(Error::validation(
                "operations",
                format!("operation {i}: {field} is required"),
            )
            .with_details(json!({"field": "operations", "index": i, "missing": field})));
        }
    }
    let status = BulkStatus {
        operation_id: uuid::Uuid::new_v4().to_string(),
        status: "running".into(),
        total: req.operations.len(),
        processed: 0,
        succeeded: 0,
        failed: 0,
        percent: 0.0,
        errors: Vec::new(),
        user_id: actor.user_id.unwrap_or(-1),
        started_at: crate::now_iso(),
        finished_at: None,
    };
    registry.insert(status.operation_id.clone(), status.clone());
    let id = status.operation_id.clone();
    tokio::spawn(async move {
        run(&db, &dns, &registry, &actor, &id, req.operations).await;
    });
    Ok(status)
}

fn api_error(index: usize, e: Error) -> BulkError {
    BulkError {
        index,
        error: e.code().into(),
        message: e.public_message(),
        details: e.details(),
    }
}

/// The zone an operation touches, checked against the caller's grants.
async fn zone_of(db: &DatabaseConnection, actor: &Caller, op: &BulkOp) -> Result<zones::Model> {
    match op.action {
        BulkAction::Create => {
            grants::require_zone(db, actor, op.zone_id.unwrap_or_default(), Level::Write).await
        }
        _ => records::get(db, actor, op.id.unwrap_or_default(), Level::Write)
            .await
            .map(|(_, z)| z),
    }
}

async fn run(
    db: &DatabaseConnection,
    dns: &Dns,
    registry: &BulkRegistry,
    actor: &Caller,
    id: &str,
    ops: Vec<BulkOp>,
) {
    let started = Instant::now();
    let total = ops.len();
    let mut i = 0;
    let mut last_event = Instant::now();
    while i < total {
        // Resolve the zone of operation i; a failure fails that operation alone.
        let zone = match zone_of(db, actor, &ops[i]).await {
            Ok(z) => Some(z),
            Err(e) => {
                finish_ops(registry, id, vec![Err(api_error(i, e))]);
                i += 1;
                None
            }
        };
        if let Some(zone) = zone {
            // Extend the chunk over following operations of the same zone.
            let mut end = i + 1;
            while end < total && end - i < CHUNK {
                match zone_of(db, actor, &ops[end]).await {
                    Ok(z) if z.id == zone.id => end += 1,
                    _ => break,
                }
            }
            let outcomes = apply_chunk(db, dns, actor, &zone, i, &ops[i..end]).await;
            finish_ops(registry, id, outcomes);
            i = end;
        }
        if last_event.elapsed().as_millis() >= 250 || i == total {
            last_event = Instant::now();
            if let Some(s) = registry.get(id).map(|s| s.clone()) {
                dns.publish(s.event(None));
            }
        }
    }
    if let Some(mut s) = registry.get_mut(id) {
        s.status = if s.failed == 0 {
            "completed".into()
        } else {
            "completed_with_errors".into()
        };
        s.finished_at = Some(crate::now_iso());
        dns.publish(s.event(Some(started.elapsed().as_millis() as u64)));
    }
}

fn finish_ops(registry: &BulkRegistry, id: &str, outcomes: Vec<Result<(), BulkError>>) {
    if let Some(mut s) = registry.get_mut(id) {
        for o in outcomes {
            s.processed += 1;
            match o {
                Ok(()) => s.succeeded += 1,
                Err(e) => {
                    s.failed += 1;
                    s.errors.push(e);
                }
            }
        }
        s.percent = (s.processed as f64 * 1000.0 / s.total as f64).round() / 10.0;
    }
}

/// Applies operations of one zone in one transaction; if BIND's checker
/// refuses the result, retries them one by one so only the culprits fail.
async fn apply_chunk(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    zone: &zones::Model,
    first: usize,
    ops: &[BulkOp],
) -> Vec<Result<(), BulkError>> {
    match try_chunk(db, dns, actor, zone, first, ops).await {
        Ok(outcomes) => outcomes,
        Err(e) if ops.len() == 1 => vec![Err(api_error(first, e))],
        Err(_) => {
            let mut out = Vec::with_capacity(ops.len());
            for (k, op) in ops.iter().enumerate() {
                out.extend(
                    Box::pin(apply_chunk(
                        db,
                        dns,
                        actor,
                        zone,
                        first + k,
                        std::slice::from_ref(op),
                    ))
                    .await,
                );
            }
            out
        }
    }
}

async fn try_chunk(
    db: &DatabaseConnection,
    dns: &Dns,
    actor: &Caller,
    zone: &zones::Model,
    first: usize,
    ops: &[BulkOp],
) -> Result<Vec<Result<(), BulkError>>> {
    let _lock = dns.files.lock_zone(&zone.name).await;
    let txn = crate::db::write_txn(db).await?;
    let zone = zones::Entity::find_by_id(zone.id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("Zone"))?;
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut events = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        let sp = txn.begin().await?;
        let res = apply_one(&sp, actor, &zone, op).await;
        match res {
            Ok(ev) => {
                sp.commit().await?;
                events.push(ev);
                outcomes.push(Ok(()));
            }
            Err(e) => {
                sp.rollback().await?;
                outcomes.push(Err(api_error(first + k, e)));
            }
        }
    }
    if !events.is_empty() {
        dns.commit_zone(txn, zone, false).await?;
        for e in events {
            dns.publish(e);
        }
    }
    Ok(outcomes)
}

/// One operation inside its savepoint; the event to publish once the
/// chunk commits.
async fn apply_one(
    sp: &sea_orm::DatabaseTransaction,
    actor: &Caller,
    zone: &zones::Model,
    op: &BulkOp,
) -> Result<Event> {
    match op.action {
        BulkAction::Create => {
            let input = CreateRecord {
                zone_id: zone.id,
                name: op.name.clone().unwrap_or_default(),
                record_type: op.record_type.clone().unwrap_or_default(),
                value: op.value.clone().unwrap_or_default(),
                ttl: op.ttl,
                priority: op.priority,
                weight: op.weight,
                port: op.port,
                enabled: op.enabled,
                comment: op.comment.clone(),
            };
            let rec = records::validate(zone, &records::input_of(&input))?;
            let row = records::insert(
                sp,
                actor,
                zone,
                rec,
                input.enabled.unwrap_or(true),
                input.comment,
            )
            .await?;
            Ok(records::record_event(
                &row,
                zone,
                ChangeAction::Created,
                None,
                actor,
            ))
        }
        BulkAction::Update => {
            let old = dns_records::Entity::find_by_id(op.id.unwrap_or_default())
                .one(sp)
                .await?
                .filter(|r| r.zone_id == zone.id)
                .ok_or_else(|| Error::not_found("Record"))?;
            let patch = UpdateRecord {
                name: op.name.clone(),
                record_type: op.record_type.clone(),
                value: op.value.clone(),
                ttl: op.ttl.map(Some),
                priority: op.priority,
                weight: op.weight,
                port: op.port,
                enabled: op.enabled,
                comment: op.comment.clone(),
            };
            let (new, changes) = records::apply_update(sp, actor, zone, old, patch).await?;
            Ok(records::record_event(
                &new,
                zone,
                ChangeAction::Updated,
                Some(changes),
                actor,
            ))
        }
        BulkAction::Delete => {
            let old = records::remove(sp, actor, zone, op.id.unwrap_or_default()).await?;
            Ok(records::record_event(
                &old,
                zone,
                ChangeAction::Deleted,
                None,
                actor,
            ))
        }
    }
}
