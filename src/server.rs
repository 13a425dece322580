//! Builds the application and runs the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_cors::Cors;
use actix_governor::Governor;
use actix_web::{web, App, HttpServer};

use actix::Actor as _;
use hdns_actors::bind::actor::SharedStatus;
use hdns_actors::bind::sync::BindFiles;
use hdns_actors::bind::{BindActor, BindMode};
use hdns_actors::bus::EventBus;

use crate::bootstrap;
use crate::config::Config;
use crate::error::ApiError;
use crate::http::{errors, rate_limit, request_log::RequestLog, security_headers};
use crate::services::credentials::tokens::JwtKeys;
use crate::state::AppState;
use crate::{api, db};
use hdns_actors::bind::commit::Dns;

/// Everything `serve` needs before it accepts connections. Errors are one line.
pub async fn prepare(cfg: Config) -> Result<AppState, String> {
    bootstrap::prepare_data_dir(&cfg.data_dir)?;
    // Redis first: a cluster member that cannot join does not start at all.
    let cluster = match &cfg.redis_url {
        Some(url) => Some(
            hdns_actors::cluster::Cluster::connect(url, &cfg.redis_prefix)
                .await
                .map_err(|e| {
                    format!(
                        "cannot connect to Redis at {}: {e}",
                        crate::config::redact_url(url)
                    )
                })?,
        ),
        None => None,
    };
    let conn = db::connect(&cfg.effective_database_url()).await?;
    db::migrate(&conn).await?;
    let secret = bootstrap::jwt_secret(&cfg)?;
    if let Some(password) = bootstrap::ensure_admin(&conn, &cfg).await? {
        // Printed once, on the terminal only: it never goes through the logger.
        eprintln!(
            "\n  Bootstrap admin created.\n    username: admin\n    password: {password}\n  \
             It must be changed at first login (POST /api/auth/change-password).\n"
        );
    }
    let dns = start_bind(&cfg, &conn).await?;
    let hub = crate::ws::Hub::new(
        cfg.ws_max_connections_per_user,
        std::time::Duration::from_secs(cfg.ws_ping_interval_secs),
        cfg.ws_queue_capacity,
        cluster.clone(),
    );
    hub.dispatcher
        .spawn(&dns.bus)
        .map_err(|e| format!("cannot start the event dispatcher: {e}"))?;
    crate::ws::spawn_session_sweeper(hub.clone(), conn.clone(), std::time::Duration::from_secs(2));
    let cfg = Arc::new(cfg);
    let monitor = hdns_actors::monitor::start(&cfg.monitor_settings(), &conn, &dns).await?;
    let security = hdns_actors::rpz::security::start(
        cfg.feed_settings(),
        std::time::Duration::from_secs(cfg.threat_alert_window_secs),
        &conn,
        &dns,
        monitor.scheduler.clone(),
    )
    .await?;
    let jwt = Arc::new(JwtKeys::new(&secret));
    let state = AppState {
        security,
        monitor,
        hub,
        dns,
        bulk: Default::default(),
        db: conn.clone(),
        auth: crate::services::auth::Context {
            db: conn.clone(),
            jwt: jwt.clone(),
            policy: cfg.auth_policy(),
        },
        jwt,
        config: cfg,
        started_at: Instant::now(),
    };
    if let Some(cluster) = cluster {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        cluster.spawn(&state.dns.bus, tx);
        let st = state.clone();
        tokio::spawn(async move {
            while let Some(c) = rx.recv().await {
                crate::ws::hooks::apply_remote(&st, c).await;
            }
        });
        tracing::info!(instance = %cluster.instance, "cluster bridge on");
    }
    Ok(state)
}

/// The DNS side without a running BindActor (CLI commands).
pub fn dns_context(cfg: &Config, conn: &sea_orm::DatabaseConnection) -> Result<Dns, String> {
    let files = BindFiles::new(Arc::new(cfg.bind_settings()))?;
    let status: SharedStatus = Default::default();
    Ok(Dns::new(files, EventBus::new(Some(conn.clone())), status))
}

/// Renders every BIND file from the database, then starts BindActor (which
/// spawns named in managed mode). Must run inside the actix System.
async fn start_bind(cfg: &Config, conn: &sea_orm::DatabaseConnection) -> Result<Dns, String> {
    let mut dns = dns_context(cfg, conn)?;
    let settings = dns.files.settings.clone();
    if settings.mode == BindMode::Managed && settings.tools.named.is_none() {
        return Err("bind_mode is managed but `named` is not installed (install Debian's bind9 or use --bind-mode disabled)".into());
    }
    let zones = dns
        .sync_all(conn)
        .await
        .map_err(|e| format!("cannot render BIND files: {e}"))?;
    tracing::info!(mode = settings.mode.as_str(), dir = %settings.paths.dir.display(), zones = zones.len(), "BIND files rendered");
    let actor = BindActor::new(settings, dns.bus.clone(), dns.status.clone()).start();
    dns.actor = Some(actor);
    Ok(dns)
}

pub async fn serve(state: AppState) -> Result<(), String> {
    let cfg = state.config.clone();
    let listener = TcpListener::bind(&cfg.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!(
        "hybrid-dns {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    tracing::info!(%addr, "listening");

    let per_ip = rate_limit::per_minute(rate_limit::ByIp, cfg.rate_limit_per_ip);
    let per_user = rate_limit::per_minute(
        rate_limit::ByUser(state.jwt.clone()),
        cfg.rate_limit_per_user,
    );
    HttpServer::new(move || {
        let cfg = &state.config;
        let mut cors = Cors::default()
            .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
            .allowed_headers(["Authorization", "Content-Type"])
            .max_age(3600);
        for origin in &cfg.cors_origins {
            cors = cors.allowed_origin(origin);
        }
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(errors::json_config(cfg.max_body_bytes))
            .app_data(web::PayloadConfig::new(cfg.max_body_bytes))
            .app_data(errors::query_config())
            .app_data(errors::path_config())
            .configure(|c| api::configure(c, cfg.max_zone_file_bytes))
            .configure(crate::ws::configure)
            .default_service(web::to(|| async {
                ApiError::from_status(actix_web::http::StatusCode::NOT_FOUND)
            }))
            .wrap(Governor::new(&per_user))
            .wrap(Governor::new(&per_ip))
            .wrap(cors)
            .wrap(errors::error_bodies())
            .wrap(security_headers::headers(cfg.hsts))
            .wrap(RequestLog)
    })
    .on_connect(crate::ws::socket::on_connect)
    .listen(listener)
    .map_err(|e| format!("cannot start the HTTP server: {e}"))?
    .run()
    .await
    .map_err(|e| format!("HTTP server failed: {e}"))
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &actix_web::HttpRequest) -> actix_web::HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}
