//! `hybrid-dns bind sync` and `hybrid-dns zone import|export`.

use std::time::Instant;

use hdns_actors::bind::actor::rndc;
use hdns_actors::bind::BindMode;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::ZoneCommand;
use crate::config::Config;
use crate::error::ApiError;
use crate::services::zone_import::{self, ImportMode};
use crate::services::zones::{self, CreateZone};
use crate::services::Caller;
use crate::{db, server};
use hdns_actors::bind::commit::Dns;

async fn open(cfg: &Config) -> Result<(sea_orm::DatabaseConnection, Dns), String> {
    crate::bootstrap::prepare_data_dir(&cfg.data_dir)?;
    let conn = db::connect(&cfg.effective_database_url()).await?;
    db::migrate(&conn).await?;
    let dns = server::dns_context(cfg, &conn)?;
    Ok((conn, dns))
}

fn describe(e: crate::services::Error) -> String {
    let e = ApiError::from(e);
    let mut msg = e.message;
    if let Some(list) = e.details.get("errors").and_then(|v| v.as_array()) {
        for item in list.iter().skip(1).filter_map(|v| v.as_str()) {
            msg.push_str("\n  ");
            msg.push_str(item);
        }
    }
    if let Some(out) = e.details.get("checker_output").and_then(|v| v.as_str()) {
        msg.push_str("\n  ");
        msg.push_str(&out.replace('\n', "\n  "));
    }
    msg
}

/// Tells a running named (ours or the system one) to pick the change up.
async fn reload(dns: &Dns, args: &[&str]) {
    if dns.files.settings.mode == BindMode::Disabled {
        return;
    }
    if let Err(e) = rndc(&dns.files.settings, args).await {
        eprintln!(
            "note: named did not take `rndc {}` ({e}); it loads the files when it starts",
            args.join(" ")
        );
    }
}

pub async fn bind_sync(cfg: Config) -> Result<(), String> {
    let (conn, dns) = open(&cfg).await?;
    let zones = dns.sync_all(&conn).await?;
    reload(&dns, &["reconfig"]).await;
    reload(&dns, &["reload"]).await;
    println!(
        "rendered {} zone file(s) and the configuration into {}",
        zones.len(),
        dns.files.settings.paths.dir.display()
    );
    Ok(())
}

// Long on purpose: one arm per `zone` subcommand (export, import with its progress bar); splitting would scatter the CLI's one flow.
pub async fn zone_command(cfg: Config, cmd: ZoneCommand) -> Result<(), String> {
    let (conn, dns) = open(&cfg).await?;
    let actor = Caller::system_as("cli");
    match cmd {
        ZoneCommand::Export { zone, output } => {
            let z = zones::by_name(&conn, &zone).await.map_err(describe)?;
            let text = zones::export(&conn, &dns, &z).await.map_err(describe)?;
            match output {
                Some(path) => std::fs::write(&path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
                None => print!("{text}"),
            }
        }
        ZoneCommand::Import {
            file,
            zone,
            mode,
            create,
        } => {
            let started = Instant::now();
            let size = std::fs::metadata(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?
                .len();
            if size > cfg.max_zone_file_bytes as u64 {
                return Err(format!(
                    "{} is {size} bytes; at most {} are accepted (max_zone_file_bytes)",
                    file.display(),
                    cfg.max_zone_file_bytes
                ));
            }
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let z = match zones::by_name(&conn, &zone).await {
                Ok(z) => z,
                Err(e) if e.is_not_found() && create => {
                    let req = CreateZone {
                        name: zone.clone(),
                        zone_type: "master".into(),
                        soa_primary_ns: None,
                        soa_admin_email: None,
                        refresh: None,
                        retry: None,
                        expire: None,
                        minimum: None,
                        default_ttl: None,
                        primaries: Vec::new(),
                        forwarders: Vec::new(),
                        forward_policy: None,
                        allow_transfer: Vec::new(),
                        also_notify: Vec::new(),
                        enabled: None,
                        description: None,
                    };
                    let z = zones::create(&conn, &dns, &actor, req)
                        .await
                        .map_err(describe)?;
                    reload(&dns, &["reconfig"]).await;
                    z
                }
                Err(e) => return Err(describe(e)),
            };
            let spinner = ProgressBar::new_spinner()
                .with_message(format!("parsing {} ({size} bytes)", file.display()));
            let prepared =
                zone_import::prepare(&z, &text, cfg.max_zone_file_bytes).map_err(describe)?;
            spinner.finish_and_clear();
            let bar = ProgressBar::new(prepared.records.len() as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} records {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let mode = if mode == "replace" {
                ImportMode::Replace
            } else {
                ImportMode::Merge
            };
            let progress = |n: usize| bar.set_position(n as u64);
            let result =
                zone_import::import(&conn, &dns, &actor, z.id, prepared, mode, Some(&progress))
                    .await
                    .map_err(describe)?;
            bar.finish_and_clear();
            reload(&dns, &["reload", &z.name]).await;
            println!(
                "imported {}: {} created, {} skipped, {} deleted, serial {} ({} ms)",
                result.zone_name,
                result.created,
                result.skipped,
                result.deleted,
                result.serial,
                started.elapsed().as_millis()
            );
        }
    }
    Ok(())
}
