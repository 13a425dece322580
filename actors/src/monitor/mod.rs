//! Monitoring: the QueryLogActor, MetricsActor and HealthActor, the
//! retention job, started with the server and read by the edge's Dashboard,
//! Health, Realtime and Reports areas.

pub mod bind_stats;
pub mod health;
pub mod metrics;
pub mod retention;

use std::time::Duration;

use crate::events::EventType;
use crate::querylog::{self, QueryLog};
use hdns_entities::zones;
use sea_orm::{DatabaseConnection, EntityTrait, QuerySelect};

use crate::bind::commit::Dns;

/// What monitoring needs to know, from the edge's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// named's query log; `None`: the managed named's.
    pub query_log_path: Option<std::path::PathBuf>,
    pub query_stream_max_per_sec: u64,
    pub metrics_interval: Duration,
    pub health_interval: Duration,
    pub data_dir: std::path::PathBuf,
    pub retention: retention::Retention,
}

#[derive(Clone)]
pub struct Monitor {
    pub queries: QueryLog,
    pub metrics: metrics::Latest,
    pub ratios: metrics::SharedRatios,
    pub health: health::Health,
    pub health_actor: actix::Addr<health::HealthActor>,
    pub metrics_actor: actix::Addr<metrics::MetricsActor>,
    /// Keeps the scheduler (health checks, retention) alive with the state.
    pub scheduler: tokio_cron_scheduler::JobScheduler,
}

async fn zone_names(db: &DatabaseConnection) -> Vec<(i32, String)> {
    zones::Entity::find()
        .select_only()
        .column(zones::Column::Id)
        .column(zones::Column::Name)
        .into_tuple()
        .all(db)
        .await
        .unwrap_or_default()
}

/// Starts the monitoring actors. Must run inside the actix System.
pub async fn start(cfg: &Settings, db: &DatabaseConnection, dns: &Dns) -> Result<Monitor, String> {
    let path = cfg
        .query_log_path
        .clone()
        .unwrap_or_else(|| dns.files.settings.paths.query_log());
    let queries = QueryLog::spawn(
        querylog::Settings {
            path,
            poll: Duration::from_millis(200),
            stream_max_per_sec: cfg.query_stream_max_per_sec,
        },
        dns.bus.clone(),
        Some(db.clone()),
    );
    // Keep the zone index (which zone a queried name belongs to) current.
    queries.set_zones(zone_names(db).await);
    let mut rx = dns.bus.subscribe();
    let (q, db2) = (queries.clone(), db.clone());
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match rx.recv().await {
                Ok(e)
                    if matches!(
                        e.event_type,
                        EventType::ZoneCreated | EventType::ZoneDeleted
                    ) =>
                {
                    q.set_zones(zone_names(&db2).await)
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => q.set_zones(zone_names(&db2).await),
                Err(RecvError::Closed) => break,
            }
        }
    });
    let settings = &dns.files.settings;
    let stats_port =
        (settings.mode != crate::bind::BindMode::Disabled).then_some(settings.stats_port);
    let (metrics_actor, metrics, ratios) = metrics::spawn(
        cfg.metrics_interval,
        metrics::Sources {
            data_dir: cfg.data_dir.clone(),
            stats_port,
        },
        db.clone(),
        queries.clone(),
        dns.bus.clone(),
    );
    let scheduler = tokio_cron_scheduler::JobScheduler::new()
        .await
        .map_err(|e| format!("scheduler: {e}"))?;
    let (health_actor, health) =
        health::spawn(cfg.health_interval, dns.clone(), db.clone(), &cfg.data_dir);
    retention::schedule(&scheduler, db.clone(), cfg.retention).await?;
    scheduler
        .start()
        .await
        .map_err(|e| format!("scheduler: {e}"))?;
    Ok(Monitor {
        queries,
        metrics,
        ratios,
        health,
        health_actor,
        metrics_actor,
        scheduler,
    })
}
