//! The one path by which a DNS change reaches BIND: the caller changes rows
//! inside a transaction while holding the zone's lock; `commit_zone` bumps
//! the serial, renders and checks the files, and only when BIND's checkers
//! accept them commits, installs by atomic rename and asks BindActor to
//! reload. A refused check rolls everything back and leaves the old files.

use std::time::{Duration, Instant};

use actix::Addr;
use chrono::{Datelike, Utc};
use hdns_entities::enums::ZoneType;
use hdns_entities::{dns_records, zones};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, DbErr, IntoActiveModel, Set};

use super::actor::SharedStatus;
use super::sync::{BindError, BindFiles, StageTimings};
use super::{BindActor, Reload, Staged};
use crate::bus::EventBus;
use crate::events::{now_iso, Event, HealthEvent};

/// Why a change did not reach BIND. A refusal rolled the transaction back
/// and left the old files in place.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("BIND refused the change: {}", .output.lines().next().unwrap_or(""))]
    Refused { output: String },
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error("{0}")]
    Internal(String),
}

pub type CommitResult<T> = Result<T, CommitError>;

/// Where committing a zone change spent its time.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitTimings {
    pub stage: StageTimings,
    pub commit: Duration,
    /// Atomic renames plus waiting for `rndc reload` to finish.
    pub install_reload: Duration,
}

/// Where installing a policy zone spent its time.
#[derive(Debug, Clone, Copy, Default)]
pub struct InstallTimings {
    /// Renames (behind freeze/thaw for a dynamic zone).
    pub install: Duration,
    /// Until named serves the new serial.
    pub reload: Duration,
}

/// What services need to publish DNS changes. Cheap to clone.
#[derive(Clone)]
pub struct Dns {
    pub files: BindFiles,
    pub actor: Option<Addr<BindActor>>,
    pub status: SharedStatus,
    pub bus: EventBus,
}

/// The next SOA serial: YYYYMMDDnn of today, or one more than the old one
/// when that is already higher. Serials never go down.
pub fn next_serial(old: i64) -> i64 {
    let today = Utc::now().date_naive();
    let base =
        (today.year() as i64 * 10_000 + today.month() as i64 * 100 + today.day() as i64) * 100;
    (old + 1).max(base)
}

impl Dns {
    pub fn new(files: BindFiles, bus: EventBus, status: SharedStatus) -> Self {
        Self {
            files,
            actor: None,
            status,
            bus,
        }
    }

    /// Asks BindActor to reload and waits (at most 10 s) until it has, so a
    /// caller's next query sees the change. A failed reload does not undo
    /// the committed change: it is logged, kept in the BIND status and
    /// published as a `bind_reload` event with `success: false`.
    pub async fn reload(
        &self,
        zones: Vec<String>,
        reconfig: bool,
        flush: Vec<String>,
        expect: Vec<(String, i64)>,
    ) {
        let Some(a) = &self.actor else { return };
        let msg = Reload {
            zones,
            reconfig,
            flush,
            expect,
        };
        let wait = tokio::time::timeout(std::time::Duration::from_secs(10), a.send(msg));
        match wait.await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "BIND reload failed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "BindActor unreachable"),
            Err(_) => tracing::warn!("BIND reload still running after 10 s"),
        }
    }

    fn refused(&self, what: &str, output: String) -> CommitError {
        self.bus.publish(Event::new(HealthEvent {
            component: "bind9".into(),
            status: "warning".into(),
            metrics: serde_json::json!({}),
            message: format!("{what} refused by BIND's checker: {output}"),
            timestamp: now_iso(),
            alert: true,
        }));
        CommitError::Refused { output }
    }

    fn map(&self, what: &str, e: BindError) -> CommitError {
        match e {
            BindError::Check(m) => self.refused(what, m),
            BindError::Internal(m) => CommitError::Internal(m),
        }
    }

    /// Finishes a change to `zone` (the caller holds its lock): bumps the
    /// serial of a master zone, stages and checks its file and, with
    /// `reconfig`, the zone statements; commits and installs. Returns the
    /// zone as committed.
    pub async fn commit_zone(
        &self,
        txn: DatabaseTransaction,
        zone: zones::Model,
        reconfig: bool,
    ) -> CommitResult<zones::Model> {
        self.commit_zone_timed(txn, zone, reconfig, None)
            .await
            .map(|(z, _)| z)
    }

    /// As `commit_zone`, saying where the time went. A caller that holds the
    /// zone's complete record set (an import) passes it as `records` so it is
    /// not read back from the database.
    pub async fn commit_zone_timed(
        &self,
        txn: DatabaseTransaction,
        zone: zones::Model,
        reconfig: bool,
        records: Option<Vec<dns_records::Model>>,
    ) -> CommitResult<(zones::Model, CommitTimings)> {
        let mut t = CommitTimings::default();
        let zone = if zone.zone_type == ZoneType::Master {
            let mut am = zone.clone().into_active_model();
            am.serial = Set(next_serial(zone.serial));
            am.updated_at = Set(Utc::now());
            am.update(&txn).await?
        } else {
            zone
        };
        let what = format!("zone {}", zone.name);
        let staged_zone = match (zone.enabled, records) {
            (false, _) => None,
            (true, None) => self
                .files
                .stage_zone_from_db_timed(&txn, &zone, &mut t.stage)
                .await
                .map_err(|e| self.map(&what, e))?,
            (true, Some(mut records)) => {
                // The order the database read would give: by name, then age.
                records.sort_by(|a, b| a.name.cmp(&b.name));
                self.files
                    .stage_zone_timed(&zone, &records, &mut t.stage)
                    .await
                    .map_err(|e| self.map(&what, e))?
            }
        };
        let conf_guard = if reconfig {
            Some(self.files.lock_conf().await)
        } else {
            None
        };
        let staged_conf = if reconfig {
            self.files
                .stage_config(&txn)
                .await
                .map_err(|e| self.map(&what, e))?
        } else {
            Vec::new()
        };
        let start = Instant::now();
        txn.commit().await?;
        t.commit = start.elapsed();
        let start = Instant::now();
        let mut zones = Vec::new();
        if let Some(s) = staged_zone {
            install(s).await?;
            zones.push(zone.name.clone());
        }
        for s in staged_conf {
            install(s).await?;
        }
        drop(conf_guard);
        // A forward zone whose servers changed must not keep serving old answers.
        let flush = if reconfig && zone.zone_type == ZoneType::Forward {
            vec![zone.name.clone()]
        } else {
            Vec::new()
        };
        let expect = zones.iter().map(|z| (z.clone(), zone.serial)).collect();
        self.reload(zones, reconfig, flush, expect).await;
        t.install_reload = start.elapsed();
        Ok((zone, t))
    }

    /// Finishes a change that only touches the zone statements (a zone or a
    /// forwarder removed or changed): stages, checks, commits, installs, reconfigures.
    /// `flush` names cached answers to drop (domains no longer forwarded, or
    /// forwarded elsewhere).
    pub async fn commit_config(
        &self,
        txn: DatabaseTransaction,
        what: &str,
        flush: Vec<String>,
    ) -> CommitResult<()> {
        let _conf = self.files.lock_conf().await;
        let staged = self
            .files
            .stage_config(&txn)
            .await
            .map_err(|e| self.map(what, e))?;
        txn.commit().await?;
        for s in staged {
            install(s).await?;
        }
        self.reload(Vec::new(), true, flush, Vec::new()).await;
        Ok(())
    }

    /// Finishes a change to the manual response-policy rules (the caller
    /// holds the zone's lock): renders and checks the zone, commits,
    /// installs and waits until named serves it. Returns the zone's serial.
    pub async fn commit_policy(&self, txn: DatabaseTransaction, what: &str) -> CommitResult<i64> {
        let (staged, serial) = self
            .files
            .stage_manual_rpz(&txn)
            .await
            .map_err(|e| self.map(what, e))?;
        txn.commit().await?;
        install(staged).await?;
        let zone = crate::rpz::MANUAL_ZONE.to_string();
        self.reload(vec![zone.clone()], false, Vec::new(), vec![(zone, serial)])
            .await;
        Ok(serial)
    }

    /// Sends a feed's small change to its dynamic policy zone as signed
    /// DNS UPDATEs (the zone's lock is held by the caller).
    pub async fn update_policy_zone(&self, script: &str) -> Result<(), String> {
        super::dynamic::apply(&self.files.settings, script).await
    }

    /// Installs a rendered and checked feed zone (the caller holds its
    /// lock) and waits until named serves `serial`: behind freeze/thaw for a
    /// dynamic zone, by atomic rename and reload otherwise.
    pub async fn install_policy_zone(
        &self,
        zone: &str,
        staged: Staged,
        serial: i64,
    ) -> Result<InstallTimings, String> {
        let settings = &self.files.settings;
        let start = Instant::now();
        let mut t = InstallTimings::default();
        if super::dynamic::feeds_dynamic(settings) {
            super::dynamic::replace(settings, zone, || staged.install()).await?;
            t.install = start.elapsed();
            let start = Instant::now();
            crate::dns_client::wait_for_serial(
                settings.dns_port,
                zone,
                serial,
                Duration::from_secs(60),
            )
            .await;
            t.reload = start.elapsed();
        } else {
            staged.install().await.map_err(|e| e.to_string())?;
            t.install = start.elapsed();
            let start = Instant::now();
            let z = zone.to_string();
            self.reload(vec![z.clone()], false, Vec::new(), vec![(z, serial)])
                .await;
            t.reload = start.elapsed();
        }
        Ok(t)
    }

    /// Renders every file from the database and reloads (start-up, `bind sync`).
    pub async fn sync_all(&self, db: &sea_orm::DatabaseConnection) -> Result<Vec<String>, String> {
        let txn = crate::db::write_txn(db).await.map_err(|e| e.to_string())?;
        let names = self.files.sync_all(&txn).await.map_err(|e| e.to_string())?;
        txn.commit().await.map_err(|e| e.to_string())?;
        Ok(names)
    }

    pub fn publish(&self, event: Event) {
        self.bus.publish(event);
    }
}

async fn install(s: Staged) -> CommitResult<()> {
    s.install()
        .await
        .map_err(|e| CommitError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_follow_the_date_and_always_increase() {
        let today = next_serial(0);
        assert_eq!(today % 100, 0);
        assert_eq!(
            today / 100,
            Utc::now()
                .format("%Y%m%d")
                .to_string()
                .parse::<i64>()
                .unwrap()
        );
        assert_eq!(next_serial(today), today + 1);
        assert_eq!(next_serial(today + 99), today + 100);
        assert_eq!(next_serial(2099123199), 2099123200);
    }
}
