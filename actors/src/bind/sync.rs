//! Database -> files: renders a zone or the configuration, checks it with
//! BIND's own tools on a temporary file, and hands back something to install
//! by atomic rename once the database transaction committed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hdns_entities::enums::ZoneType;
use hdns_entities::{dns_records, forwarders, rpz_rules, threat_feeds, zones};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::files::{self, Staged};
use super::render::{ForwarderStanza, PolicyLine, PolicyZoneStanza, Renderer, ZoneStanza};
use super::{zonedata, BindMode, BindSettings};
use crate::rpz::{self, Action};

/// The statements zones.conf is rendered from.
struct Stanzas {
    zones: Vec<ZoneStanza>,
    forwarders: Vec<ForwarderStanza>,
    /// Policy zones in `response-policy` order: manual first.
    policy_names: Vec<String>,
    policy: Vec<PolicyZoneStanza>,
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// BIND's checker refused the result: the caller's change is invalid.
    #[error("{0}")]
    Check(String),
    #[error("{0}")]
    Internal(String),
}

impl From<std::io::Error> for BindError {
    fn from(e: std::io::Error) -> Self {
        BindError::Internal(format!("BIND file I/O failed: {e}"))
    }
}

impl From<sea_orm::DbErr> for BindError {
    fn from(e: sea_orm::DbErr) -> Self {
        BindError::Internal(e.to_string())
    }
}

/// Entries from which a feed zone is checked in parallel shards.
const SHARD_MIN: usize = 100_000;

/// Where staging a zone spent its time (for benchmarks and slow-change logs).
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimings {
    /// Reading the zone's records from the database.
    pub load: Duration,
    /// Rendering the master file and writing it to a temporary file.
    pub render: Duration,
    /// `named-checkzone`.
    pub check: Duration,
}

/// Renders and checks BIND files. One per process; cheap to clone.
#[derive(Clone)]
pub struct BindFiles {
    pub settings: Arc<BindSettings>,
    renderer: Arc<Renderer>,
    zone_locks: Arc<DashMap<String, Arc<Mutex<()>>>>,
    conf_lock: Arc<Mutex<()>>,
    rpz_serial: Arc<std::sync::atomic::AtomicI64>,
}

impl BindFiles {
    pub fn new(settings: Arc<BindSettings>) -> Result<Self, String> {
        settings.paths.create_dirs().map_err(|e| {
            format!(
                "cannot create BIND directory {}: {e}",
                settings.paths.dir.display()
            )
        })?;
        // External mode uses the system named's key; the others render our own.
        if settings.mode != BindMode::External {
            settings
                .ensure_rndc_key()
                .map_err(|e| format!("cannot write the rndc key: {e}"))?;
        }
        Ok(Self {
            settings,
            renderer: Arc::new(Renderer::new()?),
            zone_locks: Arc::new(DashMap::new()),
            conf_lock: Arc::new(Mutex::new(())),
            rpz_serial: Arc::new(std::sync::atomic::AtomicI64::new(0)),
        })
    }

    /// Serializes changes to one zone from read to install, so two concurrent
    /// writers cannot install a file that misses the other's change.
    pub async fn lock_zone(&self, zone: &str) -> OwnedMutexGuard<()> {
        let m = self.zone_locks.entry(zone.to_string()).or_default().clone();
        m.lock_owned().await
    }

    pub async fn lock_conf(&self) -> OwnedMutexGuard<()> {
        self.conf_lock.clone().lock_owned().await
    }

    /// Renders one master zone's file and checks it. `None` for zone types
    /// that have no master file of ours.
    pub fn render_zone_text(
        &self,
        zone: &zones::Model,
        records: &[dns_records::Model],
    ) -> Result<String, BindError> {
        let lines: Vec<_> = records
            .iter()
            .filter(|r| r.enabled)
            .map(zonedata::line)
            .collect();
        self.renderer
            .zone_file(&zonedata::header(zone), &lines)
            .map_err(BindError::Internal)
    }

    pub async fn stage_zone(
        &self,
        zone: &zones::Model,
        records: &[dns_records::Model],
    ) -> Result<Option<Staged>, BindError> {
        let mut t = StageTimings::default();
        self.stage_zone_timed(zone, records, &mut t).await
    }

    /// As `stage_zone`, saying where the time went.
    pub async fn stage_zone_timed(
        &self,
        zone: &zones::Model,
        records: &[dns_records::Model],
        t: &mut StageTimings,
    ) -> Result<Option<Staged>, BindError> {
        if zone.zone_type != ZoneType::Master {
            return Ok(None);
        }
        let start = Instant::now();
        let text = self.render_zone_text(zone, records)?;
        let staged = Staged::write(self.settings.paths.zone_file(&zone.name), &text).await?;
        t.render = start.elapsed();
        let start = Instant::now();
        files::check_zone(&self.settings.tools, &zone.name, &staged.temp)
            .await
            .map_err(BindError::Check)?;
        t.check = start.elapsed();
        Ok(Some(staged))
    }

    /// Loads a zone's records and stages its file.
    pub async fn stage_zone_from_db<C: ConnectionTrait>(
        &self,
        db: &C,
        zone: &zones::Model,
    ) -> Result<Option<Staged>, BindError> {
        let mut t = StageTimings::default();
        self.stage_zone_from_db_timed(db, zone, &mut t).await
    }

    /// As `stage_zone_from_db`, saying where the time went.
    pub async fn stage_zone_from_db_timed<C: ConnectionTrait>(
        &self,
        db: &C,
        zone: &zones::Model,
        t: &mut StageTimings,
    ) -> Result<Option<Staged>, BindError> {
        let start = Instant::now();
        let records = dns_records::Entity::find()
            .filter(dns_records::Column::ZoneId.eq(zone.id))
            .order_by_asc(dns_records::Column::Name)
            .order_by_asc(dns_records::Column::Id)
            .all(db)
            .await?;
        t.load = start.elapsed();
        self.stage_zone_timed(zone, &records, t).await
    }

    /// Renders zones.conf (and named.conf outside external mode) from the
    /// database and checks them with named-checkconf.
    pub async fn stage_config<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<Staged>, BindError> {
        let st = self.stanzas(db).await?;
        let zones_text = self
            .renderer
            .zones_conf(&st.zones, &st.forwarders, &st.policy)
            .map_err(BindError::Internal)?;
        let zones_staged = Staged::write(self.settings.paths.zones_conf(), &zones_text).await?;
        let mut staged = Vec::new();
        if self.settings.mode == BindMode::External {
            files::check_conf(&self.settings.tools, &zones_staged.temp)
                .await
                .map_err(BindError::Check)?;
        } else {
            staged.push(
                self.stage_named_conf(&zones_staged, st.policy_names)
                    .await?,
            );
        }
        staged.insert(0, zones_staged);
        Ok(staged)
    }

    /// The zone, forwarder and policy-zone statements of every enabled row.
    async fn stanzas<C: ConnectionTrait>(&self, db: &C) -> Result<Stanzas, BindError> {
        let zones = zones::Entity::find()
            .filter(zones::Column::Enabled.eq(true))
            .order_by_asc(zones::Column::Name)
            .all(db)
            .await?;
        let fwds = forwarders::Entity::find()
            .filter(forwarders::Column::Enabled.eq(true))
            .order_by_asc(forwarders::Column::Name)
            .all(db)
            .await?;
        let paths = &self.settings.paths;
        let zones = zones
            .iter()
            .map(|z| ZoneStanza {
                name: z.name.clone(),
                zone_type: z.zone_type,
                file: match z.zone_type {
                    ZoneType::Slave => paths.secondary_file(&z.name),
                    ZoneType::Master | ZoneType::Forward => paths.zone_file(&z.name),
                }
                .to_string_lossy()
                .into_owned(),
                primaries: servers(&z.primaries),
                forwarders: servers(&z.forwarders),
                forward_policy: z.forward_policy,
                allow_transfer: non_empty_or_none(strings(&z.allow_transfer)),
                also_notify: strings(&z.also_notify),
            })
            .collect();
        let forwarders = fwds
            .iter()
            .flat_map(|f| {
                let servers = servers(&f.servers);
                strings(&f.domains)
                    .into_iter()
                    .map(move |d| ForwarderStanza {
                        label: f.name.replace(['"', '\\'], ""),
                        domain: d,
                        policy: f.policy.as_str().into(),
                        servers: servers.clone(),
                    })
            })
            .collect();
        // Policy zones: the manual one, then each enabled feed's.
        let feeds = threat_feeds::Entity::find()
            .filter(threat_feeds::Column::Enabled.eq(true))
            .order_by_asc(threat_feeds::Column::Id)
            .all(db)
            .await?;
        let mut policy_names: Vec<String> = vec![rpz::MANUAL_ZONE.to_string()];
        policy_names.extend(feeds.iter().map(|f| rpz::feed_zone(f.id)));
        let dynamic = super::dynamic::feeds_dynamic(&self.settings);
        let policy = policy_names
            .iter()
            .map(|z| PolicyZoneStanza {
                name: z.clone(),
                file: paths.rpz_file(z).to_string_lossy().into_owned(),
                update_key: (dynamic && z != rpz::MANUAL_ZONE).then(|| super::RNDC_KEY_NAME.into()),
            })
            .collect();
        Ok(Stanzas {
            zones,
            forwarders,
            policy_names,
            policy,
        })
    }

    /// Checks a named.conf that includes the staged zone statements, then
    /// stages the real one that includes the final path.
    async fn stage_named_conf(
        &self,
        zones_staged: &Staged,
        policy_names: Vec<String>,
    ) -> Result<Staged, BindError> {
        let paths = &self.settings.paths;
        let mut conf = self.settings.named_conf();
        conf.policy_zones = policy_names.clone();
        conf.zones_conf = zones_staged.temp.to_string_lossy().into_owned();
        let probe = Staged::write(
            paths.named_conf(),
            &self
                .renderer
                .named_conf(&conf)
                .map_err(BindError::Internal)?,
        )
        .await?;
        files::check_conf(&self.settings.tools, &probe.temp)
            .await
            .map_err(BindError::Check)?;
        drop(probe);
        let mut conf = self.settings.named_conf();
        conf.policy_zones = policy_names;
        let real = self
            .renderer
            .named_conf(&conf)
            .map_err(BindError::Internal)?;
        Ok(Staged::write(paths.named_conf(), &real).await?)
    }

    /// Re-renders everything from the database (start-up, `hybrid-dns bind sync`).
    pub async fn sync_all<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<String>, BindError> {
        let _conf = self.lock_conf().await;
        let zones = zones::Entity::find()
            .filter(zones::Column::Enabled.eq(true))
            .all(db)
            .await?;
        let mut names = Vec::new();
        for z in &zones {
            let _z = self.lock_zone(&z.name).await;
            if let Some(staged) = self.stage_zone_from_db(db, z).await? {
                staged.install().await?;
                names.push(z.name.clone());
            }
        }
        // Policy zones exist before named.conf names them: the manual zone
        // from the database, and an empty zone for a feed never fetched.
        let (staged, _) = self.stage_manual_rpz(db).await?;
        staged.install().await?;
        for f in threat_feeds::Entity::find().all(db).await? {
            self.ensure_feed_zone(f.id).await?;
        }
        for f in self.stage_config(db).await? {
            f.install().await?;
        }
        Ok(names)
    }

    /// A serial for a policy zone: the clock's seconds, and always more than
    /// the last one handed out (policy zones are never transferred, so a
    /// serial only has to change for the SOA probe to see a reload).
    pub fn rpz_serial(&self) -> i64 {
        let now = chrono::Utc::now().timestamp();
        let mut last = self.rpz_serial.load(std::sync::atomic::Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.rpz_serial.compare_exchange(
                last,
                next,
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// Renders and checks the manual policy zone from the enabled rules.
    /// Returns it staged with its serial. The caller holds the zone's lock.
    pub async fn stage_manual_rpz<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<(Staged, i64), BindError> {
        let rules = rpz_rules::Entity::find()
            .filter(rpz_rules::Column::Enabled.eq(true))
            .order_by_asc(rpz_rules::Column::Domain)
            .all(db)
            .await?;
        let lines: Vec<PolicyLine> = rules
            .iter()
            .map(|r| {
                let action = r.action;
                let (rtype, rdata) = rpz::zone::rdata(action, r.redirect_target.as_deref());
                PolicyLine {
                    owner: r.domain.clone(),
                    rtype: rtype.into(),
                    rdata,
                    category: r.category.as_str().into(),
                }
            })
            .collect();
        let serial = self.rpz_serial();
        let text = self
            .renderer
            .rpz_manual(rpz::MANUAL_ZONE, serial, &lines)
            .map_err(BindError::Internal)?;
        let staged = self.stage_policy_text(rpz::MANUAL_ZONE, &text).await?;
        Ok((staged, serial))
    }

    async fn stage_policy_text(&self, zone: &str, text: &str) -> Result<Staged, BindError> {
        let staged = Staged::write(self.settings.paths.rpz_file(zone), text).await?;
        files::check_zone(&self.settings.tools, zone, &staged.temp)
            .await
            .map_err(BindError::Check)?;
        Ok(staged)
    }

    /// Renders a feed's zone: the header from its template, then one record
    /// per entry, written and checked off the async threads.
    pub async fn stage_feed_zone(
        &self,
        feed_id: i32,
        header: serde_json::Value,
        entries: std::sync::Arc<Vec<String>>,
        action: Action,
        target: Option<String>,
    ) -> Result<(Staged, StageTimings), BindError> {
        let mut t = StageTimings::default();
        let start = Instant::now();
        let zone = rpz::feed_zone(feed_id);
        let head = self
            .renderer
            .feed_header(&header)
            .map_err(BindError::Internal)?;
        let target_path = self.settings.paths.rpz_file(&zone);
        // A big zone is checked as shards on every core at once: entries are
        // sorted and unique, so no check spans two lines of different shards.
        let shards = if entries.len() >= SHARD_MIN {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
        } else {
            1
        };
        let (staged, parts) = tokio::task::spawn_blocking(move || {
            let write = |path: std::path::PathBuf, part: &[String]| -> std::io::Result<Staged> {
                use std::io::Write;
                let (staged, file) = Staged::create_sync(path)?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
                w.write_all(head.as_bytes())?;
                rpz::zone::write_body(&mut w, part, action, target.as_deref())?;
                w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                Ok(staged)
            };
            let staged = write(target_path.clone(), &entries)?;
            let mut parts = Vec::new();
            if shards > 1 {
                for (k, part) in entries.chunks(entries.len().div_ceil(shards)).enumerate() {
                    parts.push(write(
                        target_path.with_extension(format!("shard{k}")),
                        part,
                    )?);
                }
            }
            Ok::<_, std::io::Error>((staged, parts))
        })
        .await
        .map_err(|e| BindError::Internal(e.to_string()))??;
        t.render = start.elapsed();
        let start = Instant::now();
        if parts.is_empty() {
            files::check_zone(&self.settings.tools, &zone, &staged.temp)
                .await
                .map_err(BindError::Check)?;
        } else {
            let mut checks = tokio::task::JoinSet::new();
            for p in &parts {
                let (tools, zone, file) =
                    (self.settings.tools.clone(), zone.clone(), p.temp.clone());
                checks.spawn(async move { files::check_zone(&tools, &zone, &file).await });
            }
            while let Some(r) = checks.join_next().await {
                r.map_err(|e| BindError::Internal(e.to_string()))?
                    .map_err(BindError::Check)?;
            }
        }
        drop(parts);
        t.check = start.elapsed();
        Ok((staged, t))
    }

    /// Writes an empty policy zone for a feed that has none yet, so named
    /// can load every zone `response-policy` names.
    pub async fn ensure_feed_zone(&self, feed_id: i32) -> Result<(), BindError> {
        let zone = rpz::feed_zone(feed_id);
        if self.settings.paths.rpz_file(&zone).exists() {
            return Ok(());
        }
        let header = serde_json::json!({
            "zone": zone, "feed": format!("feed {feed_id}"), "category": "-",
            "source": "nothing yet", "rendered_at": chrono::Utc::now().to_rfc3339(),
            "entries": 0, "serial": self.rpz_serial(),
        });
        let head = self
            .renderer
            .feed_header(&header)
            .map_err(BindError::Internal)?;
        self.stage_policy_text(&zone, &head)
            .await?
            .install()
            .await?;
        Ok(())
    }

    /// Removes a deleted feed's zone and list (after the config no longer names it).
    pub async fn remove_feed_files(&self, feed_id: i32) {
        let p = &self.settings.paths;
        let zone = p.rpz_file(&rpz::feed_zone(feed_id));
        let _ = tokio::fs::remove_file(zone.with_extension("db.jnl")).await;
        let _ = tokio::fs::remove_file(zone).await;
        let _ = tokio::fs::remove_file(p.feed_list(feed_id)).await;
    }

    /// Removes a deleted zone's file (after the config no longer names it).
    pub async fn remove_zone_file(&self, zone: &str) {
        let _ = tokio::fs::remove_file(self.settings.paths.zone_file(zone)).await;
        let _ = tokio::fs::remove_file(self.settings.paths.secondary_file(zone)).await;
    }
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn non_empty_or_none(v: Vec<String>) -> Vec<String> {
    if v.is_empty() {
        vec!["none".into()]
    } else {
        v
    }
}

/// `[{"address": ip, "port": n?}]` as BIND's `ip port n` items.
fn servers(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    let addr = s.get("address")?.as_str()?;
                    Some(match s.get("port").and_then(|p| p.as_u64()) {
                        Some(p) => format!("{addr} port {p}"),
                        None => addr.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bind::{BindPaths, Tools};

    #[tokio::test]
    async fn big_feed_zones_are_checked_in_shards_and_leave_one_file() {
        let tools = Tools::discover();
        if tools.checkzone.is_none() {
            eprintln!("SKIP: named-checkzone is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let settings = BindSettings {
            mode: BindMode::Disabled,
            paths: BindPaths::new(dir.path()),
            dns_port: 5353,
            rndc_port: 9953,
            stats_port: 8053,
            allow_recursion: Vec::new(),
            global_forwarders: Vec::new(),
            rndc_conf: None,
            tools,
        };
        let files = BindFiles::new(Arc::new(settings)).unwrap();
        let mut entries: Vec<String> = (0..SHARD_MIN + 10)
            .map(|i| format!("h{i}.bad.example"))
            .collect();
        entries.sort();
        let header = serde_json::json!({"zone": "feed-1.rpz.hdns", "feed": "t", "category": "malware",
            "source": "test", "rendered_at": "now", "entries": entries.len(), "serial": 7});
        let (staged, t) = files
            .stage_feed_zone(1, header, Arc::new(entries), Action::Nxdomain, None)
            .await
            .unwrap();
        assert!(t.check > Duration::ZERO);
        let text = std::fs::read_to_string(&staged.temp).unwrap();
        assert_eq!(
            text.lines().filter(|l| l.ends_with(" CNAME .")).count(),
            SHARD_MIN + 10
        );
        let rpz_dir = dir.path().join("rpz");
        let left: Vec<_> = std::fs::read_dir(&rpz_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "only the staged zone remains: {left:?}");
        staged.install().await.unwrap();
        assert!(rpz_dir.join("feed-1.rpz.hdns.db").exists());
    }
}
