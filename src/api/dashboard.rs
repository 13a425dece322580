//! `GET /api/dashboard`: everything a dashboard's first paint needs, in one
//! call; later changes arrive over the WebSocket. Users see their zones only.

use std::collections::{BTreeMap, HashSet};

use actix_web::{web, HttpResponse};
use hdns_actors::querylog::stats::Count;
use hdns_entities::{dns_records, event_log, forwarders, zones};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::events::LoggedEvent;
use super::realtime::{health_statuses, latest_metrics, ComponentStatus};
use crate::auth::AuthUser;
use crate::error::{ApiResult, ErrorBody};
use crate::services::grants;
use crate::state::AppState;
use hdns_actors::monitor::metrics::SystemMetrics;

#[derive(Serialize, ToSchema)]
pub struct QueryPanel {
    pub queries_per_second: f64,
    pub queries_per_second_1m: f64,
    pub queries_this_minute: u64,
    /// Where the top lists, `by_type` and `recursive_ratio` start counting:
    /// the start of the previous minute (RFC 3339), so they cover 60-120 s
    /// and do not empty at a minute boundary.
    pub window_start: String,
    /// The window's busiest names (users: in their zones).
    #[schema(value_type = Vec<Object>)]
    pub top_domains: Vec<Count>,
    /// The window's busiest clients (admins only; empty for users).
    #[schema(value_type = Vec<Object>)]
    pub top_clients: Vec<Count>,
    /// The window's counts per query type (admins only).
    pub by_type: BTreeMap<String, u64>,
    pub recursive_ratio: f64,
    /// Share of queries answered NXDOMAIN over the last minute (named's counters).
    pub nxdomain_ratio: f64,
    /// Share of queries rewritten by a response-policy zone over the last minute.
    pub blocked_ratio: f64,
    /// The latest queries, newest last (users: in their zones, without client addresses).
    #[schema(value_type = Vec<Object>)]
    pub recent: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Counts {
    pub zones: u64,
    pub enabled_zones: u64,
    pub records: u64,
    /// Admins only.
    pub forwarders: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct Dashboard {
    pub queries: QueryPanel,
    pub health: Vec<ComponentStatus>,
    pub counts: Counts,
    /// Admins only: the latest host sample.
    pub system: Option<SystemMetrics>,
    /// Admins only: the 20 newest events of the event log.
    pub recent_events: Vec<LoggedEvent>,
    pub timestamp: String,
}

/// One call with the query panel, health, counts and (admins) metrics and events.
#[utoipa::path(get, path = "/api/dashboard", tag = "monitoring", security(("bearer" = [])),
    responses((status = 200, body = Dashboard), (status = 401, body = ErrorBody)))]
pub async fn dashboard(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let admin = user.is_admin();
    let live = state.monitor.queries.snapshot();
    let ratios = state.monitor.ratios.read().map(|r| *r).unwrap_or_default();
    let window_start = chrono::DateTime::from_timestamp(live.window_start, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let db = &state.db;

    // The zones this caller may see (None: all of them).
    let granted: Option<Vec<i32>> = if admin {
        None
    } else {
        Some(grants::granted_zone_ids(db, user.user.id).await?)
    };
    let counts = counts(db, granted.as_deref(), admin).await?;
    let queries = query_panel(
        live,
        ratios,
        window_start,
        granted.map(|g| g.into_iter().collect()),
    );

    let recent_events = if admin {
        event_log::Entity::find()
            .order_by_desc(event_log::Column::Id)
            .limit(20)
            .all(db)
            .await?
            .into_iter()
            .map(LoggedEvent::from)
            .collect()
    } else {
        Vec::new()
    };
    Ok(HttpResponse::Ok().json(Dashboard {
        queries,
        health: health_statuses(&state),
        counts,
        system: if admin { latest_metrics(&state) } else { None },
        recent_events,
        timestamp: crate::now_iso(),
    }))
}

/// Zones, enabled zones and records the caller may see; forwarders for admins.
async fn counts(
    db: &sea_orm::DatabaseConnection,
    granted: Option<&[i32]>,
    admin: bool,
) -> ApiResult<Counts> {
    let mut zq = zones::Entity::find();
    let mut rq = dns_records::Entity::find();
    if let Some(ids) = granted {
        zq = zq.filter(zones::Column::Id.is_in(ids.to_vec()));
        rq = rq.filter(dns_records::Column::ZoneId.is_in(ids.to_vec()));
    }
    Ok(Counts {
        zones: zq.clone().count(db).await?,
        enabled_zones: zq.filter(zones::Column::Enabled.eq(true)).count(db).await?,
        records: rq.count(db).await?,
        forwarders: if admin {
            Some(forwarders::Entity::find().count(db).await?)
        } else {
            None
        },
    })
}

/// The query panel: everything for admins; for a user, only what names
/// their zones, without client addresses.
fn query_panel(
    live: hdns_actors::querylog::Live,
    ratios: hdns_actors::monitor::bind_stats::Ratios,
    window_start: String,
    granted: Option<HashSet<i32>>,
) -> QueryPanel {
    match granted {
        None => QueryPanel {
            queries_per_second: live.queries_per_second,
            queries_per_second_1m: live.queries_per_second_1m,
            queries_this_minute: live.queries_this_minute,
            window_start,
            top_domains: live.top_domains,
            top_clients: live.top_clients,
            by_type: live.by_type,
            recursive_ratio: live.recursive_ratio,
            nxdomain_ratio: ratios.nxdomain_ratio,
            blocked_ratio: ratios.blocked_ratio,
            recent: live.recent.into_iter().collect(),
        },
        Some(ids) => {
            let index = live.zones.clone();
            let mine = |name: &str| index.find(name).is_some_and(|(id, _)| ids.contains(&id));
            QueryPanel {
                queries_per_second: live.queries_per_second,
                queries_per_second_1m: live.queries_per_second_1m,
                queries_this_minute: live.queries_this_minute,
                window_start,
                top_domains: live
                    .top_domains
                    .into_iter()
                    .filter(|c| mine(&c.key))
                    .collect(),
                top_clients: Vec::new(),
                by_type: BTreeMap::new(),
                recursive_ratio: live.recursive_ratio,
                nxdomain_ratio: ratios.nxdomain_ratio,
                blocked_ratio: ratios.blocked_ratio,
                recent: live
                    .recent
                    .into_iter()
                    .filter(|q| q["query_name"].as_str().is_some_and(&mine))
                    .map(|mut q| {
                        if let Some(o) = q.as_object_mut() {
                            o.remove("client_ip");
                            o.remove("client_port");
                        }
                        q
                    })
                    .collect(),
            }
        }
    }
}
