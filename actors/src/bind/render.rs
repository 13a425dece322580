//! Tera rendering of named.conf, the zone statements and zone files. The
//! templates are compiled into the binary from `templates/`.

use hdns_entities::enums::{ForwardPolicy, ZoneType};
use serde::Serialize;
use tera::{Context, Tera};

const TEMPLATES: &[(&str, &str)] = &[
    (
        "config/named.conf.tera",
        include_str!("../../../templates/config/named.conf.tera"),
    ),
    (
        "config/zones.conf.tera",
        include_str!("../../../templates/config/zones.conf.tera"),
    ),
    (
        "zones/master.zone.tera",
        include_str!("../../../templates/zones/master.zone.tera"),
    ),
    (
        "zones/reverse.zone.tera",
        include_str!("../../../templates/zones/reverse.zone.tera"),
    ),
    (
        "rpz_manual.zone.tera",
        include_str!("../../../templates/rpz_manual.zone.tera"),
    ),
    (
        "threat_feed_zone.tera",
        include_str!("../../../templates/threat_feed_zone.tera"),
    ),
];

pub struct Renderer {
    tera: Tera,
}

/// Options of named.conf.
#[derive(Debug, Clone, Serialize)]
pub struct NamedConf {
    pub directory: String,
    pub dns_port: u16,
    pub rndc_port: u16,
    pub stats_port: u16,
    pub rndc_key_name: String,
    pub listen_addresses: Vec<String>,
    pub recursion: &'static str,
    pub allow_recursion: Vec<String>,
    pub allow_query: Vec<String>,
    pub forwarders: Vec<String>,
    pub query_log: String,
    /// Where named logs RPZ rewrites (the ThreatDetector follows it).
    pub rpz_log: String,
    /// `response-policy` zones in order (manual first, so its passthru
    /// rules win over every feed).
    pub policy_zones: Vec<String>,
    /// The zone statements file named.conf includes.
    pub zones_conf: String,
}

/// One `zone` statement.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneStanza {
    pub name: String,
    pub zone_type: ZoneType,
    pub file: String,
    pub primaries: Vec<String>,
    pub forwarders: Vec<String>,
    pub forward_policy: ForwardPolicy,
    pub allow_transfer: Vec<String>,
    pub also_notify: Vec<String>,
}

/// A response-policy zone's statement.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyZoneStanza {
    pub name: String,
    pub file: String,
    /// The key allowed to send dynamic updates (feed zones of our own named).
    pub update_key: Option<String>,
}

/// One record of the manual policy zone.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyLine {
    pub owner: String,
    pub rtype: String,
    pub rdata: String,
    pub category: String,
}

/// A conditional forwarder, rendered as a forward zone per domain.
#[derive(Debug, Clone, Serialize)]
pub struct ForwarderStanza {
    pub label: String,
    pub domain: String,
    pub policy: String,
    /// `ip` or `ip port n`.
    pub servers: Vec<String>,
}

/// SOA and defaults of a master zone file.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneHeader {
    pub name: String,
    pub primary_ns: String,
    pub rname: String,
    pub serial: i64,
    pub refresh: i32,
    pub retry: i32,
    pub expire: i32,
    pub minimum: i32,
    pub default_ttl: i32,
}

/// One record line, already in master-file form.
#[derive(Debug, Clone, Serialize)]
pub struct RecordLine {
    pub name: String,
    /// Empty to inherit `$TTL`.
    pub ttl: String,
    pub rtype: String,
    pub rdata: String,
}

impl Renderer {
    pub fn new() -> Result<Self, String> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES.to_vec())
            .map_err(|e| format!("template error: {e}"))?;
        tera.autoescape_on(vec![]);
        Ok(Self { tera })
    }

    fn render(&self, name: &str, ctx: &Context) -> Result<String, String> {
        self.tera.render(name, ctx).map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            msg
        })
    }

    pub fn named_conf(&self, conf: &NamedConf) -> Result<String, String> {
        let ctx = Context::from_serialize(conf).map_err(|e| e.to_string())?;
        self.render("config/named.conf.tera", &ctx)
    }

    pub fn zones_conf(
        &self,
        zones: &[ZoneStanza],
        forwarders: &[ForwarderStanza],
        policy_zones: &[PolicyZoneStanza],
    ) -> Result<String, String> {
        let mut ctx = Context::new();
        ctx.insert("zones", zones);
        ctx.insert("conditional_forwarders", forwarders);
        ctx.insert("policy_zones", policy_zones);
        self.render("config/zones.conf.tera", &ctx)
    }

    /// The manual policy zone: every enabled rule.
    pub fn rpz_manual(
        &self,
        zone: &str,
        serial: i64,
        rules: &[PolicyLine],
    ) -> Result<String, String> {
        let mut ctx = Context::new();
        ctx.insert("zone", zone);
        ctx.insert("serial", &serial);
        ctx.insert("rules", rules);
        self.render("rpz_manual.zone.tera", &ctx)
    }

    /// The header of a feed's policy zone (the body is written by
    /// `rpz::zone::write_body`).
    pub fn feed_header(&self, ctx: &serde_json::Value) -> Result<String, String> {
        let ctx = Context::from_serialize(ctx).map_err(|e| e.to_string())?;
        self.render("threat_feed_zone.tera", &ctx)
    }

    pub fn zone_file(&self, zone: &ZoneHeader, records: &[RecordLine]) -> Result<String, String> {
        let mut ctx = Context::new();
        ctx.insert("zone", zone);
        ctx.insert("records", records);
        let template = if is_reverse(&zone.name) {
            "zones/reverse.zone.tera"
        } else {
            "zones/master.zone.tera"
        };
        self.render(template, &ctx)
    }
}

/// Reverse zones are recognised from their name.
pub use crate::names::is_reverse;

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str) -> ZoneHeader {
        ZoneHeader {
            name: name.into(),
            primary_ns: "ns1.example.com.".into(),
            rname: "hostmaster.example.com.".into(),
            serial: 2026112201,
            refresh: 3600,
            retry: 600,
            expire: 604800,
            minimum: 300,
            default_ttl: 3600,
        }
    }

    #[test]
    fn zone_file_has_soa_and_records() {
        let r = Renderer::new().unwrap();
        let text = r
            .zone_file(
                &header("example.com"),
                &[RecordLine {
                    name: "www".into(),
                    ttl: "300".into(),
                    rtype: "A".into(),
                    rdata: "192.0.2.1".into(),
                }],
            )
            .unwrap();
        assert!(text.contains("$ORIGIN example.com."));
        assert!(text.contains("2026112201 ; serial"));
        assert!(text.contains("www 300 IN A 192.0.2.1"));
        assert!(is_reverse("2.0.192.in-addr.arpa"));
        assert!(!is_reverse("example.com"));
    }

    #[test]
    fn zones_conf_renders_each_type() {
        let r = Renderer::new().unwrap();
        let z = |t: &str| ZoneStanza {
            name: format!("{t}.test"),
            zone_type: ZoneType::parse(t).unwrap(),
            file: format!("zones/{t}.test.db"),
            primaries: vec!["192.0.2.53".into()],
            forwarders: vec!["192.0.2.54 port 5300".into()],
            forward_policy: ForwardPolicy::Only,
            allow_transfer: vec!["none".into()],
            also_notify: vec![],
        };
        let text = r
            .zones_conf(&[z("master"), z("slave"), z("forward")], &[], &[])
            .unwrap();
        assert!(text.contains("zone \"master.test\" {\n    type primary;"));
        assert!(text.contains("primaries { 192.0.2.53; };"));
        assert!(text.contains("forwarders { 192.0.2.54 port 5300; };"));
        assert!(text.contains("forward only;"));
    }
}
