//! Scheduled clean-up: per-minute query and blocked-lookup aggregates, the
//! event log, acknowledged security alerts and health history older than
//! their configured retention are deleted every hour.

use hdns_entities::{blocked_stats, event_log, health_checks, query_stats, security_alerts};
use sea_orm::{ColumnTrait, DatabaseConnection, DeleteResult, EntityTrait, QueryFilter};

/// Days each kind of history is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub query_stats_days: u32,
    pub events_days: u32,
    pub health_days: u32,
}

fn cutoff(days: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::days(i64::from(days))
}

/// Deletes what is past retention; returns rows deleted per table.
pub async fn sweep(
    db: &DatabaseConnection,
    cfg: &Retention,
) -> Result<[(&'static str, u64); 5], sea_orm::DbErr> {
    let q: DeleteResult = query_stats::Entity::delete_many()
        .filter(query_stats::Column::Minute.lt(cutoff(cfg.query_stats_days)))
        .exec(db)
        .await?;
    let b = blocked_stats::Entity::delete_many()
        .filter(blocked_stats::Column::Minute.lt(cutoff(cfg.query_stats_days)))
        .exec(db)
        .await?;
    // Alerts nobody acknowledged stay until someone has seen them.
    let a = security_alerts::Entity::delete_many()
        .filter(security_alerts::Column::Acknowledged.eq(true))
        .filter(security_alerts::Column::CreatedAt.lt(cutoff(cfg.events_days)))
        .exec(db)
        .await?;
    let e = event_log::Entity::delete_many()
        .filter(event_log::Column::CreatedAt.lt(cutoff(cfg.events_days)))
        .exec(db)
        .await?;
    let h = health_checks::Entity::delete_many()
        .filter(health_checks::Column::CheckedAt.lt(cutoff(cfg.health_days)))
        .exec(db)
        .await?;
    Ok([
        ("query_stats", q.rows_affected),
        ("event_log", e.rows_affected),
        ("health_checks", h.rows_affected),
        ("blocked_stats", b.rows_affected),
        ("security_alerts", a.rows_affected),
    ])
}

async fn sweep_logged(db: &DatabaseConnection, cfg: &Retention) {
    match sweep(db, cfg).await {
        Ok(counts) => tracing::info!(?counts, "retention sweep"),
        Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
    }
}

/// Runs `sweep` at start and at minute 7 of every hour.
pub async fn schedule(
    scheduler: &tokio_cron_scheduler::JobScheduler,
    db: DatabaseConnection,
    cfg: Retention,
) -> Result<(), String> {
    let db0 = db.clone();
    tokio::spawn(async move { sweep_logged(&db0, &cfg).await });
    let job = tokio_cron_scheduler::Job::new_async("0 7 * * * *", move |_id, _sched| {
        let db = db.clone();
        Box::pin(async move { sweep_logged(&db, &cfg).await })
    })
    .map_err(|e| format!("retention schedule: {e}"))?;
    scheduler
        .add(job)
        .await
        .map(|_| ())
        .map_err(|e| format!("retention schedule: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdns_migrations::MigratorTrait;
    use sea_orm::{ActiveModelTrait, PaginatorTrait, Set};

    #[tokio::test]
    async fn deletes_only_what_is_past_retention() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = sea_orm::Database::connect(&url).await.unwrap();
        hdns_migrations::Migrator::up(&db, None).await.unwrap();
        let cfg = Retention {
            query_stats_days: 30,
            events_days: 30,
            health_days: 7,
        };
        for days_ago in [1, 31, 400] {
            event_log::ActiveModel {
                event_type: Set("zone_created".into()),
                priority: Set("high".into()),
                payload: Set(serde_json::json!({})),
                created_at: Set(chrono::Utc::now() - chrono::Duration::days(days_ago)),
                ..Default::default()
            }
            .insert(&db)
            .await
            .unwrap();
            health_checks::ActiveModel {
                component: Set("database".into()),
                name: Set("database".into()),
                status: Set(hdns_entities::enums::HealthLevel::Healthy),
                response_time_ms: Set(Some(1.0)),
                message: Set(None),
                checked_at: Set(chrono::Utc::now() - chrono::Duration::days(days_ago)),
                ..Default::default()
            }
            .insert(&db)
            .await
            .unwrap();
            for acknowledged in [false, true] {
                security_alerts::ActiveModel {
                    alert_id: Set(uuid::Uuid::new_v4().to_string()),
                    severity: Set("critical".into()),
                    category: Set("malware".into()),
                    message: Set("m".into()),
                    details: Set(serde_json::json!({})),
                    acknowledged: Set(acknowledged),
                    created_at: Set(chrono::Utc::now() - chrono::Duration::days(days_ago)),
                    ..Default::default()
                }
                .insert(&db)
                .await
                .unwrap();
            }
        }
        let counts = sweep(&db, &cfg).await.unwrap();
        assert_eq!(
            counts,
            [
                ("query_stats", 0),
                ("event_log", 2),
                ("health_checks", 2),
                ("blocked_stats", 0),
                ("security_alerts", 2)
            ],
            "only acknowledged alerts past retention go"
        );
        assert_eq!(event_log::Entity::find().count(&db).await.unwrap(), 1);
        assert_eq!(health_checks::Entity::find().count(&db).await.unwrap(), 1);
    }
}
