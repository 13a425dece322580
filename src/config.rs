//! Configuration: defaults < TOML file (`--config`) < `HDNS_*` environment < CLI flags.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use hdns_actors::bind::{BindMode, BindPaths, BindSettings, Tools};
use serde::{Deserialize, Serialize};

/// Every setting of the service. Flat, so each key maps to one `HDNS_<KEY>` variable.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// Directory for the SQLite database, the JWT secret and BIND files.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; SQLite inside `data_dir` when unset.
    pub database_url: Option<String>,
    /// HMAC secret for access tokens; generated into `data_dir/jwt_secret` when unset.
    pub jwt_secret: Option<String>,
    /// Password of the bootstrap admin created on first start (random when unset).
    pub admin_password: Option<String>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Failed logins before an account is locked.
    pub lockout_threshold: u32,
    pub lockout_duration_secs: u64,
    /// Origins allowed by CORS; none by default.
    pub cors_origins: Vec<String>,
    /// Requests per minute from one IP address (0 disables the limit).
    pub rate_limit_per_ip: u32,
    /// Requests per minute for one authenticated user (0 disables the limit).
    pub rate_limit_per_user: u32,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Send Strict-Transport-Security (set when a TLS proxy fronts the service).
    pub hsts: bool,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter directive, e.g. `info` or `hybrid_dns=debug`.
    pub log_level: String,
    /// `managed`, `external` or `disabled`; unset: `managed` when `named` is
    /// installed, else `disabled`.
    pub bind_mode: Option<String>,
    /// Where BIND's files are written [default: `<data_dir>/bind`]. In external
    /// mode: a directory the system named reads (include its `zones.conf`).
    pub bind_dir: Option<PathBuf>,
    /// Loopback port the managed named answers DNS on.
    pub dns_port: u16,
    /// Loopback port of the managed named's rndc control channel.
    pub rndc_port: u16,
    /// Loopback port of the managed named's statistics channel.
    pub bind_stats_port: u16,
    /// Clients the managed named recurses for.
    pub bind_allow_recursion: Vec<String>,
    /// Global forwarders of the managed named (none: it resolves itself).
    pub bind_forwarders: Vec<String>,
    /// External mode: the rndc.conf that reaches the system named.
    pub bind_rndc_conf: Option<PathBuf>,
    /// Largest zone file accepted by import, in bytes.
    pub max_zone_file_bytes: usize,
    /// Open WebSocket connections allowed per user.
    pub ws_max_connections_per_user: usize,
    /// Seconds between the server's pings; two missed pings close the socket.
    pub ws_ping_interval_secs: u64,
    /// Events a session may have queued before low, then normal ones are shed.
    pub ws_queue_capacity: usize,
    /// named's query log [default: the managed named's `<bind_dir>/logs/query.log`].
    pub query_log_path: Option<PathBuf>,
    /// `dns_query` events streamed per second at most; the rest are only counted.
    pub query_stream_max_per_sec: u64,
    /// Seconds between `system_metrics` samples.
    pub metrics_interval_secs: u64,
    /// Seconds between health checks.
    pub health_interval_secs: u64,
    /// Days kept of per-minute query aggregates, the event log and health history.
    pub retention_query_stats_days: u32,
    pub retention_events_days: u32,
    pub retention_health_days: u32,
    /// A bearer token Prometheus sends to `/metrics`; unset: `/metrics`
    /// answers loopback clients only.
    pub metrics_token: Option<String>,
    /// File feeds must live here [default: `<data_dir>/feeds`].
    pub threat_feed_dir: Option<PathBuf>,
    /// Largest threat feed accepted, in bytes.
    pub threat_feed_max_bytes: u64,
    /// Seconds a feed download may take.
    pub threat_feed_timeout_secs: u64,
    /// One security alert per client and blocked name per this many seconds.
    pub threat_alert_window_secs: u64,
    /// Redis for several instances (cluster bridge): events, session control
    /// and WebSocket connection counts are shared through it. Unset: one instance.
    pub redis_url: Option<String>,
    /// Namespace of this cluster's Redis keys and channels.
    pub redis_prefix: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8000".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            jwt_secret: None,
            admin_password: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 7 * 24 * 3600,
            lockout_threshold: 5,
            lockout_duration_secs: 15 * 60,
            cors_origins: Vec::new(),
            rate_limit_per_ip: 1200,
            rate_limit_per_user: 600,
            max_body_bytes: 1024 * 1024,
            hsts: false,
            log_format: "text".into(),
            log_level: "info".into(),
            bind_mode: None,
            bind_dir: None,
            dns_port: 5353,
            rndc_port: 9953,
            bind_stats_port: 8053,
            bind_allow_recursion: vec!["127.0.0.1".into()],
            bind_forwarders: Vec::new(),
            bind_rndc_conf: None,
            max_zone_file_bytes: 32 * 1024 * 1024,
            ws_max_connections_per_user: 5,
            ws_ping_interval_secs: 30,
            ws_queue_capacity: 1024,
            query_log_path: None,
            query_stream_max_per_sec: 500,
            metrics_interval_secs: 5,
            health_interval_secs: 30,
            retention_query_stats_days: 30,
            retention_events_days: 30,
            retention_health_days: 7,
            metrics_token: None,
            threat_feed_dir: None,
            threat_feed_max_bytes: 64 * 1024 * 1024,
            threat_feed_timeout_secs: 60,
            threat_alert_window_secs: 60,
            redis_url: None,
            redis_prefix: "hdns".into(),
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers in force.
#[derive(Debug, Default, Serialize)]
pub struct CliOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_port: Option<u16>,
}

impl Config {
    /// Token lifetimes and lockout rules, as the authentication service takes them.
    pub fn auth_policy(&self) -> crate::services::auth::Policy {
        crate::services::auth::Policy {
            access_token_ttl_secs: self.access_token_ttl_secs,
            refresh_token_ttl_secs: self.refresh_token_ttl_secs,
            lockout_threshold: self.lockout_threshold,
            lockout_duration_secs: self.lockout_duration_secs,
        }
    }
    /// What the monitoring actors take.
    pub fn monitor_settings(&self) -> hdns_actors::monitor::Settings {
        hdns_actors::monitor::Settings {
            query_log_path: self.query_log_path.clone(),
            query_stream_max_per_sec: self.query_stream_max_per_sec,
            metrics_interval: std::time::Duration::from_secs(self.metrics_interval_secs),
            health_interval: std::time::Duration::from_secs(self.health_interval_secs),
            data_dir: self.data_dir.clone(),
            retention: hdns_actors::monitor::retention::Retention {
                query_stats_days: self.retention_query_stats_days,
                events_days: self.retention_events_days,
                health_days: self.retention_health_days,
            },
        }
    }

    /// What the ThreatFeedActor takes.
    pub fn feed_settings(&self) -> hdns_actors::rpz::feed_actor::FeedSettings {
        hdns_actors::rpz::feed_actor::FeedSettings {
            dir: self.threat_feed_dir(),
            max_bytes: self.threat_feed_max_bytes,
            timeout: std::time::Duration::from_secs(self.threat_feed_timeout_secs),
        }
    }

    pub fn load(file: Option<&Path>, cli: &CliOverrides) -> Result<Self, String> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(format!("config file {} does not exist", path.display()));
            }
            check_file_keys(path)?;
            fig = fig.merge(Toml::file(path));
        }
        fig = fig
            .merge(Env::prefixed("HDNS_").ignore(&["config"]))
            .merge(Serialized::defaults(cli));
        let cfg: Config = fig
            .extract()
            .map_err(|e| format!("invalid configuration: {e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err("log_format must be `text` or `json`".into());
        }
        if self.lockout_threshold == 0 {
            return Err("lockout_threshold must be at least 1".into());
        }
        if let Some(m) = &self.bind_mode {
            if BindMode::parse(m).is_none() {
                return Err("bind_mode must be `managed`, `external` or `disabled`".into());
            }
        }
        if self.ws_max_connections_per_user == 0
            || self.ws_queue_capacity == 0
            || self.ws_ping_interval_secs == 0
        {
            return Err("ws_max_connections_per_user, ws_queue_capacity and ws_ping_interval_secs must be at least 1".into());
        }
        if self.metrics_interval_secs == 0 || self.health_interval_secs == 0 {
            return Err("metrics_interval_secs and health_interval_secs must be at least 1".into());
        }
        for (key, days) in [
            (
                "retention_query_stats_days",
                self.retention_query_stats_days,
            ),
            ("retention_events_days", self.retention_events_days),
            ("retention_health_days", self.retention_health_days),
        ] {
            if !(1..=36_500).contains(&days) {
                return Err(format!("{key} must be 1 to 36500"));
            }
        }
        if self.threat_feed_max_bytes == 0 || self.threat_feed_timeout_secs == 0 {
            return Err(
                "threat_feed_max_bytes and threat_feed_timeout_secs must be at least 1".into(),
            );
        }
        if self.access_token_ttl_secs < 10 {
            return Err("access_token_ttl_secs must be at least 10".into());
        }
        Ok(())
    }

    /// The database URL in force: the configured one, or SQLite in the data dir.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("hybrid-dns.db").display()
            ),
        }
    }

    /// Where file feeds must live.
    pub fn threat_feed_dir(&self) -> PathBuf {
        let dir = self
            .threat_feed_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("feeds"));
        std::path::absolute(&dir).unwrap_or(dir)
    }

    /// The BIND mode in force.
    pub fn effective_bind_mode(&self) -> BindMode {
        match self.bind_mode.as_deref().and_then(BindMode::parse) {
            Some(m) => m,
            None if Tools::discover().named.is_some() => BindMode::Managed,
            None => BindMode::Disabled,
        }
    }

    pub fn bind_settings(&self) -> BindSettings {
        let dir = self
            .bind_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("bind"));
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        BindSettings {
            mode: self.effective_bind_mode(),
            paths: BindPaths::new(dir),
            dns_port: self.dns_port,
            rndc_port: self.rndc_port,
            stats_port: self.bind_stats_port,
            allow_recursion: self.bind_allow_recursion.clone(),
            global_forwarders: self.bind_forwarders.clone(),
            rndc_conf: self.bind_rndc_conf.clone(),
            tools: Tools::discover(),
        }
    }

    /// The configuration with every secret replaced, for `config show` and `/api/system`.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        let hide = |v: &mut Option<String>| {
            if v.is_some() {
                *v = Some("<redacted>".into());
            }
        };
        hide(&mut c.jwt_secret);
        hide(&mut c.admin_password);
        hide(&mut c.metrics_token);
        c.database_url = Some(redact_url(&self.effective_database_url()));
        c.redis_url = self.redis_url.as_deref().map(redact_url);
        c
    }
}

/// A misspelt key in the file is an error, not a silently ignored setting.
/// (Environment variables are not checked: other tools share the `HDNS_` prefix.)
fn check_file_keys(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| format!("invalid config file {}: {e}", path.display()))?;
    let known = serde_json::to_value(Config::default()).unwrap_or_default();
    for key in table.keys() {
        if known.get(key).is_none() {
            return Err(format!(
                "unknown key `{key}` in config file {}",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Hides the password in `scheme://user:password@host/...`.
/// A configured connection URL as shown: the password hidden.
pub fn redact_url(url: &str) -> String {
    hdns_actors::redact::redact_url(url, hdns_actors::redact::Redact::Password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_in_url() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db:5432/hdns"),
            "postgres://bob:<redacted>@db:5432/hdns"
        );
        assert_eq!(
            redact_url("postgres://bob@db/hdns"),
            "postgres://bob@db/hdns"
        );
        assert_eq!(redact_url("sqlite://./data/x.db"), "sqlite://./data/x.db");
    }

    #[test]
    fn redacted_hides_secrets() {
        let c = Config {
            jwt_secret: Some("abc".into()),
            admin_password: Some("pw".into()),
            ..Config::default()
        };
        let r = c.redacted();
        assert_eq!(r.jwt_secret.as_deref(), Some("<redacted>"));
        assert_eq!(r.admin_password.as_deref(), Some("<redacted>"));
    }
}
