//! BIND integration: rendering, checks, and the BindActor that owns `named`.

pub mod actor;
pub mod commit;
pub mod dynamic;
pub mod files;
pub mod render;
pub mod sync;
pub mod zonedata;

use std::path::PathBuf;

pub use actor::{BindActor, BindStatus, Reload};
pub use files::{BindPaths, Staged, Tools};
pub use render::Renderer;

/// How hybrid-dns drives BIND.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Spawn and supervise our own `named` on a loopback port.
    Managed,
    /// Write into a system named's directories and reload it with rndc.
    External,
    /// Render files only; nothing is reloaded.
    Disabled,
}

impl BindMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "managed" => Some(Self::Managed),
            "external" => Some(Self::External),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Managed => "managed",
            Self::External => "external",
            Self::Disabled => "disabled",
        }
    }
}

/// Everything BindActor and the renderers need to know.
#[derive(Debug, Clone)]
pub struct BindSettings {
    pub mode: BindMode,
    pub paths: BindPaths,
    pub dns_port: u16,
    pub rndc_port: u16,
    pub stats_port: u16,
    pub allow_recursion: Vec<String>,
    pub global_forwarders: Vec<String>,
    /// External mode: the rndc.conf of the system named (`None`: rndc's default).
    pub rndc_conf: Option<PathBuf>,
    pub tools: Tools,
}

pub const RNDC_KEY_NAME: &str = "hdns-rndc";

impl BindSettings {
    /// The rndc configuration to use for this mode.
    pub fn rndc_conf_path(&self) -> Option<PathBuf> {
        match self.mode {
            BindMode::Managed => Some(self.paths.rndc_conf()),
            _ => self.rndc_conf.clone(),
        }
    }

    pub fn named_conf(&self) -> render::NamedConf {
        render::NamedConf {
            directory: self.paths.dir.to_string_lossy().into_owned(),
            dns_port: self.dns_port,
            rndc_port: self.rndc_port,
            stats_port: self.stats_port,
            rndc_key_name: RNDC_KEY_NAME.into(),
            listen_addresses: vec!["127.0.0.1".into()],
            recursion: "yes",
            allow_recursion: self.allow_recursion.clone(),
            allow_query: vec!["any".into()],
            forwarders: self.global_forwarders.clone(),
            query_log: self.paths.query_log().to_string_lossy().into_owned(),
            rpz_log: self.paths.rpz_log().to_string_lossy().into_owned(),
            policy_zones: Vec::new(),
            zones_conf: self.paths.zones_conf().to_string_lossy().into_owned(),
        }
    }

    /// Writes the rndc key and rndc.conf of a managed named once.
    pub fn ensure_rndc_key(&self) -> std::io::Result<()> {
        let key = self.paths.rndc_key();
        if !key.exists() {
            let mut secret = Vec::with_capacity(32);
            secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            let text = format!(
                "key \"{RNDC_KEY_NAME}\" {{\n    algorithm hmac-sha256;\n    secret \"{}\";\n}};\n",
                base64(&secret)
            );
            write_private(&key, &text)?;
        }
        let conf = format!(
            "include \"{}\";\noptions {{\n    default-key \"{RNDC_KEY_NAME}\";\n    default-server 127.0.0.1;\n    default-port {};\n}};\n",
            key.display(),
            self.rndc_port
        );
        write_private(&self.paths.rndc_conf(), &conf)
    }
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
