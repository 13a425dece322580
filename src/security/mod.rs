//! Security: the ThreatFeedActor (scheduled threat-feed updates), threat
//! detection from named's RPZ log, and security alerts.

pub mod alerts;
pub mod detect;
pub mod feeds;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::config::Config;
use hdns_actors::bind::commit::Dns;

#[derive(Clone)]
pub struct Security {
    pub feeds: feeds::ThreatFeedActor,
    pub detect: detect::SharedDetectStats,
}

/// Starts feed scheduling and threat detection (inside the actix System).
pub async fn start(
    cfg: &Arc<Config>,
    db: &DatabaseConnection,
    dns: &Dns,
    scheduler: tokio_cron_scheduler::JobScheduler,
) -> Result<Security, String> {
    let dir = cfg.threat_feed_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create the feed directory {}: {e}", dir.display()))?;
    let feeds = feeds::ThreatFeedActor::start(
        db.clone(),
        dns.clone(),
        feeds::FeedSettings {
            dir,
            max_bytes: cfg.threat_feed_max_bytes,
            timeout: Duration::from_secs(cfg.threat_feed_timeout_secs),
        },
        scheduler,
    )
    .await?;
    let detect = detect::spawn(
        dns.files.settings.paths.rpz_log(),
        db.clone(),
        dns.bus.clone(),
        Duration::from_secs(cfg.threat_alert_window_secs),
    );
    Ok(Security { feeds, detect })
}
