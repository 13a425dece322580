//! `/api/reports`: query statistics and zone change history over a time
//! range, as JSON or CSV (admin).

use std::collections::{BTreeMap, HashMap};

use actix_web::{web, HttpResponse};
use hdns_actors::querylog::stats::{top_of, Count};
use hdns_entities::{audit_log, blocked_stats, query_stats};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::range::{Range, RangeQuery};
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// Rows a zone-change report returns at most.
pub const MAX_CHANGES: u64 = 10_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/queries").route(web::get().to(queries)))
        .service(web::resource("/zone-changes").route(web::get().to(zone_changes)))
        .service(web::resource("/blocked").route(web::get().to(blocked)));
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Format {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// Query report buckets: `minute`, `hour` (default) or `day`.
    pub bucket: Option<String>,
}

impl Format {
    fn csv(&self) -> ApiResult<bool> {
        match self.format.as_deref() {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(_) => Err(ApiError::validation("format", "json or csv")),
        }
    }

    fn bucket_secs(&self) -> ApiResult<i64> {
        match self.bucket.as_deref() {
            Some("minute") => Ok(60),
            None | Some("hour") => Ok(3600),
            Some("day") => Ok(86_400),
            Some(_) => Err(ApiError::validation("bucket", "minute, hour or day")),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    pub start: String,
    pub total: u64,
    pub recursive: u64,
    pub tcp: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueryReport {
    pub from: String,
    pub to: String,
    pub bucket: String,
    pub total: u64,
    pub recursive: u64,
    pub tcp: u64,
    pub by_type: BTreeMap<String, u64>,
    /// Merged from each minute's top list, so a name counts where it made a minute's top 20.
    #[schema(value_type = Vec<Object>)]
    pub top_domains: Vec<Count>,
    #[schema(value_type = Vec<Object>)]
    pub top_clients: Vec<Count>,
    pub buckets: Vec<Bucket>,
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Distinct names or clients a report merges at most (memory stays bounded
/// over long ranges; past it, only names already counted grow).
const MAX_MERGED: usize = 50_000;
/// Longest range reported per minute.
const MAX_MINUTE_BUCKET_DAYS: i64 = 7;

fn merge_top(into: &mut HashMap<String, u64>, list: &Value) {
    for e in list.as_array().into_iter().flatten() {
        if let (Some(k), Some(c)) = (e["key"].as_str(), e["count"].as_u64()) {
            if let Some(n) = into.get_mut(k) {
                *n += c;
            } else if into.len() < MAX_MERGED {
                into.insert(k.to_string(), c);
            }
        }
    }
}

fn top20(map: &HashMap<String, u64>) -> Vec<Count> {
    top_of(map.iter().map(|(k, c)| (k.as_str(), *c)), 20)
}

fn csv_response(name: &str, rows: csv::Writer<Vec<u8>>) -> ApiResult<HttpResponse> {
    let body = rows.into_inner().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(body))
}

/// A spreadsheet must not run what a DNS name or username smuggles in.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

async fn query_report(state: &AppState, r: Range, bucket: i64) -> ApiResult<QueryReport> {
    if bucket == 60 && r.to - r.from > chrono::Duration::days(MAX_MINUTE_BUCKET_DAYS) {
        return Err(ApiError::validation(
            "bucket",
            format!("minute buckets cover at most {MAX_MINUTE_BUCKET_DAYS} days; use hour or day"),
        ));
    }
    // A year is 527,040 minute rows: read them a page at a time.
    let mut pages = query_stats::Entity::find()
        .filter(query_stats::Column::Minute.gte(r.from))
        .filter(query_stats::Column::Minute.lt(r.to))
        .order_by_asc(query_stats::Column::Id)
        .paginate(&state.db, 2_000);
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    let (mut by_type, mut domains, mut clients) = (BTreeMap::new(), HashMap::new(), HashMap::new());
    let (mut total, mut recursive, mut tcp) = (0u64, 0u64, 0u64);
    while let Some(rows) = pages.fetch_and_next().await? {
        for row in rows {
            let ts = row.minute.timestamp();
            let start = ts - ts.rem_euclid(bucket);
            let b = buckets.entry(start).or_insert_with(|| Bucket {
                start: iso(chrono::DateTime::from_timestamp(start, 0).unwrap_or_default()),
                total: 0,
                recursive: 0,
                tcp: 0,
            });
            b.total += row.total as u64;
            b.recursive += row.recursive as u64;
            b.tcp += row.tcp as u64;
            total += row.total as u64;
            recursive += row.recursive as u64;
            tcp += row.tcp as u64;
            for (k, v) in row.by_type.as_object().into_iter().flatten() {
                *by_type.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
            }
            merge_top(&mut domains, &row.top_domains);
            merge_top(&mut clients, &row.top_clients);
        }
    }
    Ok(QueryReport {
        from: iso(r.from),
        to: iso(r.to),
        bucket: match bucket {
            60 => "minute",
            3600 => "hour",
            _ => "day",
        }
        .into(),
        total,
        recursive,
        tcp,
        by_type,
        top_domains: top20(&domains),
        top_clients: top20(&clients),
        buckets: buckets.into_values().collect(),
    })
}

/// Query counts per bucket, per type, top domains and clients over a range (admin).
#[utoipa::path(get, path = "/api/reports/queries", tag = "monitoring", security(("bearer" = [])), params(RangeQuery, Format),
    responses((status = 200, body = QueryReport, description = "JSON, or CSV of the buckets with format=csv"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn queries(
    state: web::Data<AppState>,
    _admin: AdminUser,
    range: web::Query<RangeQuery>,
    fmt: web::Query<Format>,
) -> ApiResult<HttpResponse> {
    let (csv, bucket) = (fmt.csv()?, fmt.bucket_secs()?);
    let report = query_report(&state, range.range()?, bucket).await?;
    if !csv {
        return Ok(HttpResponse::Ok().json(report));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, rec: &[String]| {
        w.write_record(rec).map_err(ApiError::internal)
    };
    write(
        &mut w,
        &[
            "bucket_start".into(),
            "total".into(),
            "recursive".into(),
            "tcp".into(),
        ],
    )?;
    for b in &report.buckets {
        write(
            &mut w,
            &[
                b.start.clone(),
                b.total.to_string(),
                b.recursive.to_string(),
                b.tcp.to_string(),
            ],
        )?;
    }
    csv_response("queries", w)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlockedReport {
    pub from: String,
    pub to: String,
    /// Lookups named answered from a response-policy zone (passthru excluded).
    pub total: u64,
    pub by_category: BTreeMap<String, u64>,
    /// Merged from each minute's top list.
    #[schema(value_type = Vec<Object>)]
    pub top_domains: Vec<Count>,
    #[schema(value_type = Vec<Object>)]
    pub top_clients: Vec<Count>,
}

/// Top blocked domains and clients over a range, per category (admin). CSV:
/// one row per domain.
#[utoipa::path(get, path = "/api/reports/blocked", tag = "monitoring", security(("bearer" = [])), params(RangeQuery, Format),
    responses((status = 200, body = BlockedReport, description = "JSON, or CSV of the top domains with format=csv"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn blocked(
    state: web::Data<AppState>,
    _admin: AdminUser,
    range: web::Query<RangeQuery>,
    fmt: web::Query<Format>,
) -> ApiResult<HttpResponse> {
    let csv = fmt.csv()?;
    let r = range.range()?;
    let rows = blocked_stats::Entity::find()
        .filter(blocked_stats::Column::Minute.gte(r.from))
        .filter(blocked_stats::Column::Minute.lt(r.to))
        .all(&state.db)
        .await?;
    let (mut total, mut by_category) = (0u64, BTreeMap::new());
    let (mut domains, mut clients) = (HashMap::new(), HashMap::new());
    for row in &rows {
        total += row.total as u64;
        for (k, v) in row.by_category.as_object().into_iter().flatten() {
            *by_category.entry(k.clone()).or_insert(0) += v.as_u64().unwrap_or(0);
        }
        merge_top(&mut domains, &row.top_domains);
        merge_top(&mut clients, &row.top_clients);
    }
    let report = BlockedReport {
        from: iso(r.from),
        to: iso(r.to),
        total,
        by_category,
        top_domains: top20(&domains),
        top_clients: top20(&clients),
    };
    if !csv {
        return Ok(HttpResponse::Ok().json(report));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["domain", "blocked"])
        .map_err(ApiError::internal)?;
    for c in &report.top_domains {
        w.write_record([cell(&c.key), c.count.to_string()])
            .map_err(ApiError::internal)?;
    }
    csv_response("blocked", w)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneChange {
    pub timestamp: String,
    pub actor: Option<String>,
    pub action: String,
    /// `zone` or `dns_record`.
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// The zone or record name, where the audit row carries it.
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneChangeReport {
    pub from: String,
    pub to: String,
    pub total: usize,
    /// True when more than `MAX_CHANGES` rows matched (the oldest are left out).
    pub truncated: bool,
    pub items: Vec<ZoneChange>,
}

fn name_of(row: &audit_log::Model) -> Option<String> {
    [row.after.as_ref(), row.before.as_ref()]
        .into_iter()
        .flatten()
        .find_map(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
}

/// Zone and record changes from the audit log over a range, newest first (admin).
#[utoipa::path(get, path = "/api/reports/zone-changes", tag = "monitoring", security(("bearer" = [])), params(RangeQuery, Format),
    responses((status = 200, body = ZoneChangeReport, description = "JSON, or CSV with format=csv"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn zone_changes(
    state: web::Data<AppState>,
    _admin: AdminUser,
    range: web::Query<RangeQuery>,
    fmt: web::Query<Format>,
) -> ApiResult<HttpResponse> {
    let csv = fmt.csv()?;
    let r = range.range()?;
    let rows = audit_log::Entity::find()
        .filter(audit_log::Column::ResourceType.is_in(["zone", "dns_record"]))
        .filter(audit_log::Column::CreatedAt.gte(r.from))
        .filter(audit_log::Column::CreatedAt.lt(r.to))
        .order_by_desc(audit_log::Column::Id)
        .limit(MAX_CHANGES + 1)
        .all(&state.db)
        .await?;
    let truncated = rows.len() as u64 > MAX_CHANGES;
    let items: Vec<ZoneChange> = rows
        .iter()
        .take(MAX_CHANGES as usize)
        .map(|row| ZoneChange {
            timestamp: iso(row.created_at),
            actor: row.actor_username.clone(),
            action: row.action.clone(),
            resource_type: row.resource_type.clone(),
            resource_id: row.resource_id.clone(),
            name: name_of(row),
        })
        .collect();
    if !csv {
        return Ok(HttpResponse::Ok().json(ZoneChangeReport {
            from: iso(r.from),
            to: iso(r.to),
            total: items.len(),
            truncated,
            items,
        }));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "timestamp",
        "actor",
        "action",
        "resource_type",
        "resource_id",
        "name",
    ])
    .map_err(ApiError::internal)?;
    for c in &items {
        w.write_record([
            c.timestamp.clone(),
            cell(c.actor.as_deref().unwrap_or("")),
            cell(&c.action),
            cell(&c.resource_type),
            cell(c.resource_id.as_deref().unwrap_or("")),
            cell(c.name.as_deref().unwrap_or("")),
        ])
        .map_err(ApiError::internal)?;
    }
    csv_response("zone-changes", w)
}
