//! Security: the ThreatFeedActor (scheduled threat-feed updates), threat
//! detection from named's RPZ log, and security alerts.

use std::time::Duration;

use sea_orm::DatabaseConnection;

use super::{detect, feed_actor as feeds};
use crate::bind::commit::Dns;

#[derive(Clone)]
pub struct Security {
    pub feeds: feeds::ThreatFeeds,
    pub detect: detect::SharedDetectStats,
}

/// Starts feed scheduling and threat detection (inside the actix System).
pub async fn start(
    settings: feeds::FeedSettings,
    alert_window: Duration,
    db: &DatabaseConnection,
    dns: &Dns,
    scheduler: tokio_cron_scheduler::JobScheduler,
) -> Result<Security, String> {
    let dir = &settings.dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the feed directory {}: {e}", dir.display()))?;
    let feeds = feeds::ThreatFeeds::start(db.clone(), dns.clone(), settings, scheduler).await?;
    let detect = detect::spawn(
        dns.files.settings.paths.rpz_log(),
        db.clone(),
        dns.bus.clone(),
        alert_window,
    );
    Ok(Security { feeds, detect })
}
