//! BindActor: owns the `named` process in managed mode (spawn, supervise,
//! restart with back-off) and turns bursts of changes into one `rndc reload`
//! per zone (and one `rndc reconfig` when zones were added or removed).

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use tokio::process::Command;
use tokio::sync::oneshot;

use super::{BindMode, BindSettings};
use crate::bus::EventBus;
use crate::events::{now_iso, BindReload, Event, HealthEvent};

/// Changes settle this long before BIND is told, so a burst costs one reload.
const COALESCE: Duration = Duration::from_millis(25);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What health checks and `/api/system` report about BIND.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BindStatus {
    pub mode: String,
    pub running: bool,
    pub pid: Option<u32>,
    pub restarts: u32,
    pub last_reload: Option<String>,
    pub last_error: Option<String>,
}

pub type SharedStatus = Arc<Mutex<BindStatus>>;

pub struct BindActor {
    settings: Arc<BindSettings>,
    bus: EventBus,
    status: SharedStatus,
    pending_zones: BTreeSet<String>,
    pending_reconfig: bool,
    pending_flush: BTreeSet<String>,
    /// The highest serial each zone must be served with after the reload.
    pending_expect: std::collections::BTreeMap<String, i64>,
    /// Callers waiting for the reload that covers their change.
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    flush_scheduled: bool,
    flushing: bool,
    backoff: Duration,
    started_at: Option<Instant>,
    stopping: bool,
}

/// Tell BIND that zone files (and, with `reconfig`, the zone list) changed.
/// Resolves once the reload that covers the change has run.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<(), String>")]
pub struct Reload {
    pub zones: Vec<String>,
    pub reconfig: bool,
    /// Names whose cached answers must go (forwarding changed or removed).
    pub flush: Vec<String>,
    /// `(zone, serial)`: the reply waits until named serves these serials.
    pub expect: Vec<(String, i64)>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct NamedExited(String);

#[derive(Message)]
#[rtype(result = "()")]
struct FlushDone;

impl BindActor {
    pub fn new(settings: Arc<BindSettings>, bus: EventBus, status: SharedStatus) -> Self {
        {
            let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
            s.mode = settings.mode.as_str().into();
        }
        Self {
            settings,
            bus,
            status,
            pending_zones: BTreeSet::new(),
            pending_reconfig: false,
            pending_flush: BTreeSet::new(),
            pending_expect: Default::default(),
            waiters: Vec::new(),
            flush_scheduled: false,
            flushing: false,
            backoff: Duration::from_millis(250),
            started_at: None,
            stopping: false,
        }
    }

    fn set_status(&self, f: impl FnOnce(&mut BindStatus)) {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
    }

    fn health_alert(&self, status: &str, message: String) {
        self.bus.publish(Event::new(HealthEvent {
            component: "bind9".into(),
            status: status.into(),
            metrics: serde_json::json!({}),
            message,
            timestamp: now_iso(),
            alert: true,
        }));
    }

    fn spawn_named(&mut self, ctx: &mut Context<Self>) {
        let Some(named) = self.settings.tools.named.clone() else {
            self.set_status(|s| s.last_error = Some("named is not installed".into()));
            return;
        };
        let paths = &self.settings.paths;
        let stderr = std::fs::File::create(paths.logs_dir().join("named.stderr")).ok();
        let mut cmd = Command::new(named);
        // -f, not -g: -g forces all logging to stderr, and the query log must
        // go to its file for the query-log reader.
        cmd.arg("-f")
            .arg("-c")
            .arg(paths.named_conf())
            .args(["-n", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr.map(Stdio::from).unwrap_or_else(Stdio::null))
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; it makes named die with us even
        // when we are killed without a chance to clean up.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                let pid = child.id();
                self.started_at = Some(Instant::now());
                self.set_status(|s| {
                    s.running = true;
                    s.pid = pid;
                });
                tracing::info!(?pid, port = self.settings.dns_port, "named started");
                let addr = ctx.address();
                tokio::spawn(async move {
                    let status = child.wait().await;
                    let text = match status {
                        Ok(s) => s.to_string(),
                        Err(e) => e.to_string(),
                    };
                    addr.do_send(NamedExited(text));
                });
            }
            Err(e) => {
                let msg = format!("cannot start named: {e}");
                tracing::error!("{msg}");
                self.set_status(|s| s.last_error = Some(msg.clone()));
                self.schedule_restart(ctx, msg);
            }
        }
    }

    fn schedule_restart(&mut self, ctx: &mut Context<Self>, reason: String) {
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.health_alert(
            "critical",
            format!(
                "named stopped ({reason}); restarting in {} ms",
                delay.as_millis()
            ),
        );
        ctx.run_later(delay, |act, ctx| {
            if !act.stopping {
                act.set_status(|s| s.restarts += 1);
                act.spawn_named(ctx);
                act.health_alert("healthy", "named restarted".into());
            }
        });
    }

    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if self.flush_scheduled || self.flushing {
            return;
        }
        self.flush_scheduled = true;
        ctx.run_later(COALESCE, |act, ctx| {
            act.flush_scheduled = false;
            act.flush(ctx);
        });
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.pending_zones.is_empty()
            && !self.pending_reconfig
            && self.pending_flush.is_empty()
            && self.waiters.is_empty()
        {
            return;
        }
        let flush: Vec<String> = std::mem::take(&mut self.pending_flush)
            .into_iter()
            .collect();
        let zones: Vec<String> = std::mem::take(&mut self.pending_zones)
            .into_iter()
            .collect();
        let reconfig = std::mem::replace(&mut self.pending_reconfig, false);
        let waiters = std::mem::take(&mut self.waiters);
        let expect = std::mem::take(&mut self.pending_expect);
        if self.settings.mode == BindMode::Disabled {
            for w in waiters {
                let _ = w.send(Ok(()));
            }
            return;
        }
        self.flushing = true;
        let settings = self.settings.clone();
        let bus = self.bus.clone();
        let addr = ctx.address();
        let status = self.status.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let errors = reload(&settings, reconfig, &zones, &flush, &expect).await;
            let ok = errors.is_empty();
            let message = if ok { None } else { Some(errors.join("; ")) };
            for w in waiters {
                let _ = w.send(message.clone().map_or(Ok(()), Err));
            }
            {
                let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
                s.last_reload = Some(now_iso());
                if let Some(m) = &message {
                    s.last_error = Some(m.clone());
                }
            }
            bus.publish(Event::new(BindReload {
                zones,
                reconfig,
                success: ok,
                message,
                duration_ms: started.elapsed().as_millis() as u64,
                timestamp: now_iso(),
            }));
            addr.do_send(FlushDone);
        });
    }
}

/// One round of reloads: reconfig, zone reloads and cache flushes by rndc,
/// then (managed mode) a wait until named serves each expected serial,
/// since rndc only queues a load. Returns what failed.
async fn reload(
    settings: &BindSettings,
    reconfig: bool,
    zones: &[String],
    flush: &[String],
    expect: &std::collections::BTreeMap<String, i64>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let mut commands: Vec<Vec<&str>> = Vec::new();
    if reconfig {
        commands.push(vec!["reconfig"]);
    }
    commands.extend(zones.iter().map(|z| vec!["reload", z.as_str()]));
    commands.extend(flush.iter().map(|n| vec!["flushtree", n.as_str()]));
    for args in commands {
        if let Err(e) = rndc(settings, &args).await {
            errors.push(e);
        }
    }
    if settings.mode == BindMode::Managed && errors.is_empty() {
        for (zone, serial) in expect {
            let limit = Duration::from_secs(10);
            if !crate::dns_client::wait_for_serial(settings.dns_port, zone, *serial, limit).await {
                errors.push(format!(
                    "named did not serve serial {serial} of {zone} within 10 s"
                ));
            }
        }
    }
    errors
}

/// Runs one rndc command against our named (or the system one in external mode).
pub async fn rndc(settings: &BindSettings, args: &[&str]) -> Result<String, String> {
    let Some(bin) = &settings.tools.rndc else {
        return Err("rndc is not installed".into());
    };
    let mut cmd = Command::new(bin);
    if let Some(conf) = settings.rndc_conf_path() {
        cmd.arg("-c").arg(conf);
    }
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        cmd.args(args).stdin(Stdio::null()).output(),
    )
    .await
    .map_err(|_| format!("rndc {} timed out", args.join(" ")))?
    .map_err(|e| format!("cannot run rndc: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text.trim().to_string())
    } else {
        Err(format!("rndc {}: {}", args.join(" "), text.trim()))
    }
}

impl Actor for BindActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.settings.mode == BindMode::Managed {
            self.spawn_named(ctx);
        }
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.stopping = true;
        let pid = self.status.lock().map(|s| s.pid).unwrap_or(None);
        if let Some(pid) = pid {
            // SAFETY: plain kill(2) on the pid of our own child.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
        Running::Stop
    }
}

impl Handler<Reload> for BindActor {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, msg: Reload, ctx: &mut Self::Context) -> Self::Result {
        self.pending_zones.extend(msg.zones);
        self.pending_reconfig |= msg.reconfig;
        self.pending_flush.extend(msg.flush);
        for (zone, serial) in msg.expect {
            let e = self.pending_expect.entry(zone).or_insert(serial);
            *e = (*e).max(serial);
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        self.schedule_flush(ctx);
        Box::pin(async move { rx.await.unwrap_or_else(|_| Err("BindActor stopped".into())) })
    }
}

impl Handler<FlushDone> for BindActor {
    type Result = ();

    fn handle(&mut self, _: FlushDone, ctx: &mut Self::Context) {
        self.flushing = false;
        if !self.pending_zones.is_empty() || self.pending_reconfig || !self.waiters.is_empty() {
            self.schedule_flush(ctx);
        }
    }
}

impl Handler<NamedExited> for BindActor {
    type Result = ();

    fn handle(&mut self, msg: NamedExited, ctx: &mut Self::Context) {
        self.set_status(|s| {
            s.running = false;
            s.pid = None;
        });
        if self.stopping {
            return;
        }
        tracing::warn!(status = %msg.0, "named exited");
        // A named that stayed up a while gets a fresh back-off.
        if self
            .started_at
            .is_some_and(|t| t.elapsed() > Duration::from_secs(60))
        {
            self.backoff = Duration::from_millis(250);
        }
        self.schedule_restart(ctx, msg.0);
    }
}
