//! Monitoring: the QueryLogActor, MetricsActor and HealthActor, started with
//! the server and read by the Dashboard, Health, Realtime and Reports areas.

pub mod bind_stats;
pub mod health;
pub mod metrics;
pub mod retention;

use std::sync::Arc;
use std::time::Duration;

use hdns_actors::events::EventType;
use hdns_actors::querylog::{QueryLog, Settings};
use hdns_entities::zones;
use sea_orm::{DatabaseConnection, EntityTrait, QuerySelect};

use crate::config::Config;
use hdns_actors::bind::commit::Dns;

#[derive(Clone)]
pub struct Monitor {
    pub queries: QueryLog,
    pub metrics: metrics::Latest,
    pub ratios: metrics::SharedRatios,
    pub health: health::Health,
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
pub async fn start(
    cfg: &Arc<Config>,
    db: &DatabaseConnection,
    dns: &Dns,
) -> Result<Monitor, String> {
    let path = cfg
        .query_log_path
        .clone()
        .unwrap_or_else(|| dns.files.settings.paths.query_log());
    let queries = QueryLog::spawn(
        Settings {
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
        (settings.mode != hdns_actors::bind::BindMode::Disabled).then_some(settings.stats_port);
    let (metrics, ratios) = metrics::spawn(
        Duration::from_secs(cfg.metrics_interval_secs),
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
    let health = health::spawn(
        &scheduler,
        Duration::from_secs(cfg.health_interval_secs),
        dns.clone(),
        db.clone(),
        &cfg.data_dir,
    )
    .await?;
    retention::schedule(&scheduler, db.clone(), cfg.clone()).await?;
    scheduler
        .start()
        .await
        .map_err(|e| format!("scheduler: {e}"))?;
    Ok(Monitor {
        queries,
        metrics,
        ratios,
        health,
        scheduler,
    })
}
