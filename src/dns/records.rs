//! Record data validated per type. What passes here is stored as the
//! canonical text the zone file renders; BIND's checker is the second guard.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::{RData, RecordType};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::names;

/// Largest TTL RFC 2181 allows.
pub const MAX_TTL: i64 = 2_147_483_647;
/// Longest TXT text accepted (it is split into 255-byte strings on output).
pub const MAX_TXT_BYTES: usize = 4096;

pub use hdns_entities::enums::RecordType as RecordKind;

/// A record as a client sends it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct RecordInput {
    /// Relative to the zone (`@` is the apex) or a full name inside it.
    pub name: String,
    pub record_type: String,
    /// The record data without the fields kept separately: an address, a
    /// target name, TXT text, or `flags tag "value"` for CAA. MX and SRV also
    /// accept their full data here (`10 mail.example.com.`).
    pub value: String,
    pub ttl: Option<i64>,
    /// MX preference or SRV priority.
    pub priority: Option<i64>,
    pub weight: Option<i64>,
    pub port: Option<i64>,
}

/// A record that passed validation, in stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRecord {
    pub name: String,
    pub kind: RecordKind,
    pub value: String,
    pub ttl: Option<i32>,
    pub priority: Option<i32>,
    pub weight: Option<i32>,
    pub port: Option<i32>,
}

/// A validation failure naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Validates one record for `zone` (a stored zone name, without the dot).
// Long on purpose: one arm per record type, each a few lines of field rules; together they are the table of what each type accepts.
pub fn validate(zone: &str, input: &RecordInput) -> Result<ValidRecord, FieldError> {
    let kind = RecordKind::parse_ignore_case(&input.record_type).ok_or_else(|| {
        err(
            "record_type",
            format!(
                "unsupported record type `{}`; use one of A, AAAA, CNAME, MX, TXT, SRV, PTR, NS, CAA",
                input.record_type
            ),
        )
    })?;
    let name = names::owner(zone, &input.name).map_err(|m| err("name", m))?;
    let ttl = match input.ttl {
        None => None,
        Some(t) if (0..=MAX_TTL).contains(&t) => Some(t as i32),
        Some(_) => return Err(err("ttl", format!("ttl must be 0 to {MAX_TTL} seconds"))),
    };
    let mut rec = ValidRecord {
        name,
        kind,
        value: String::new(),
        ttl,
        priority: None,
        weight: None,
        port: None,
    };
    let value = input.value.trim();
    if value.is_empty() && kind != RecordKind::TXT {
        return Err(err("value", "the value is empty"));
    }
    match kind {
        RecordKind::A => {
            let ip: Ipv4Addr = value
                .parse()
                .map_err(|_| err("value", format!("`{value}` is not an IPv4 address")))?;
            rec.value = ip.to_string();
        }
        RecordKind::AAAA => {
            let ip: Ipv6Addr = value
                .parse()
                .map_err(|_| err("value", format!("`{value}` is not an IPv6 address")))?;
            rec.value = ip.to_string();
        }
        RecordKind::CNAME | RecordKind::NS => {
            rec.value = names::target(value).map_err(|m| err("value", m))?;
            if kind == RecordKind::CNAME && rec.name == "@" {
                return Err(err("name", "a CNAME cannot be at the zone apex"));
            }
        }
        RecordKind::PTR => {
            if !names::is_reverse(zone) {
                return Err(err(
                    "record_type",
                    "PTR records belong in reverse zones (in-addr.arpa or ip6.arpa)",
                ));
            }
            rec.value = names::target(value).map_err(|m| err("value", m))?;
        }
        RecordKind::MX => {
            let (fields, target) = split_numbers(value, 1, "MX", "preference target")?;
            rec.priority = Some(u16_field(
                "priority",
                input.priority.or(fields.first().copied()),
            )?);
            rec.value = names::target(target).map_err(|m| err("value", m))?;
        }
        RecordKind::SRV => {
            let (fields, target) = split_numbers(value, 3, "SRV", "priority weight port target")?;
            let get = |i: usize, explicit: Option<i64>| explicit.or(fields.get(i).copied());
            rec.priority = Some(u16_field("priority", get(0, input.priority))?);
            rec.weight = Some(u16_field("weight", get(1, input.weight))?);
            rec.port = Some(u16_field("port", get(2, input.port))?);
            rec.value = names::target(target).map_err(|m| err("value", m))?;
        }
        RecordKind::TXT => {
            let text = txt_text(&input.value).map_err(|m| err("value", m))?;
            if text.len() > MAX_TXT_BYTES {
                return Err(err(
                    "value",
                    format!(
                        "TXT text is {} bytes; at most {MAX_TXT_BYTES} are allowed",
                        text.len()
                    ),
                ));
            }
            rec.value = text;
        }
        RecordKind::CAA => rec.value = caa(value)?,
    }
    Ok(rec)
}

/// MX and SRV values may carry their numbers in front of the target; the
/// separate fields win when both are given.
fn split_numbers<'a>(
    value: &'a str,
    count: usize,
    kind: &str,
    form: &str,
) -> Result<(Vec<i64>, &'a str), FieldError> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    match parts.len() {
        1 => Ok((Vec::new(), parts[0])),
        n if n == count + 1 => {
            let nums = parts[..count]
                .iter()
                .map(|p| p.parse::<i64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| err("value", format!("{kind} data must be `{form}`")))?;
            Ok((nums, parts[count]))
        }
        _ => Err(err(
            "value",
            format!("{kind} data must be `{form}` or just the target"),
        )),
    }
}

fn u16_field(field: &'static str, v: Option<i64>) -> Result<i32, FieldError> {
    match v {
        None => Err(err(
            field,
            format!("{field} is required for this record type"),
        )),
        Some(n) if (0..=65535).contains(&n) => Ok(n as i32),
        Some(_) => Err(err(field, format!("{field} must be 0 to 65535"))),
    }
}

/// TXT input is either plain text or master-file quoted strings
/// (`"v=spf1 " "-all"`), which are joined into one logical text.
pub fn txt_text(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if !t.starts_with('"') {
        return Ok(raw.to_string());
    }
    let tokens = super::masterfile::tokenize_line(t)?;
    if tokens.iter().any(|tok| !tok.quoted) {
        return Err("quoted TXT data must be only quoted strings".into());
    }
    let mut bytes = Vec::new();
    for tok in tokens {
        bytes.extend_from_slice(&tok.bytes);
    }
    String::from_utf8(bytes).map_err(|_| "TXT data must be valid UTF-8".to_string())
}

/// CAA `flags tag "value"`, checked by hickory and limited to the tags of
/// RFC 8659 (issue, issuewild, iodef).
fn caa(value: &str) -> Result<String, FieldError> {
    let mut parts = value.splitn(3, char::is_whitespace);
    let (flags, tag, rest) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("").trim(),
    );
    let flags: u8 = flags.parse().map_err(|_| {
        err(
            "value",
            "CAA data must be `flags tag \"value\"` with flags 0 to 255",
        )
    })?;
    let tag = tag.to_ascii_lowercase();
    if !matches!(tag.as_str(), "issue" | "issuewild" | "iodef") {
        return Err(err(
            "value",
            format!("unknown CAA tag `{tag}`; use issue, issuewild or iodef"),
        ));
    }
    let inner = if rest.starts_with('"') {
        txt_text(rest).map_err(|m| err("value", m))?
    } else {
        rest.to_string()
    };
    let text = format!(
        "{flags} {tag} \"{}\"",
        inner.replace('\\', "\\\\").replace('"', "\\\"")
    );
    RData::try_from_str(RecordType::CAA, &text)
        .map_err(|e| err("value", format!("invalid CAA data: {e}")))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, t: &str, value: &str) -> RecordInput {
        RecordInput {
            name: name.into(),
            record_type: t.into(),
            value: value.into(),
            ..Default::default()
        }
    }

    #[test]
    fn addresses_and_names() {
        let r = validate("example.com", &rec("www", "a", "192.0.2.1")).unwrap();
        assert_eq!((r.kind, r.value.as_str()), (RecordKind::A, "192.0.2.1"));
        let r = validate("example.com", &rec("v6", "AAAA", "2001:DB8:0:0::1")).unwrap();
        assert_eq!(r.value, "2001:db8::1");
        assert_eq!(
            validate("example.com", &rec("x", "A", "999.1.1.1"))
                .unwrap_err()
                .field,
            "value"
        );
        let r = validate("example.com", &rec("alias", "CNAME", "Target.Example.net")).unwrap();
        assert_eq!(r.value, "target.example.net.");
        assert_eq!(
            validate("example.com", &rec("@", "CNAME", "x.net"))
                .unwrap_err()
                .field,
            "name"
        );
        assert_eq!(
            validate("example.com", &rec("x", "HINFO", "a b"))
                .unwrap_err()
                .field,
            "record_type"
        );
    }

    #[test]
    fn mx_srv_fields() {
        let r = validate("example.com", &rec("@", "MX", "10 mail.example.com.")).unwrap();
        assert_eq!(
            (r.priority, r.value.as_str()),
            (Some(10), "mail.example.com.")
        );
        let mut i = rec("@", "MX", "mail.example.com");
        assert_eq!(validate("example.com", &i).unwrap_err().field, "priority");
        i.priority = Some(70000);
        assert_eq!(validate("example.com", &i).unwrap_err().field, "priority");
        let r = validate(
            "example.com",
            &rec("_sip._tcp", "SRV", "10 60 5060 sip.example.com"),
        )
        .unwrap();
        assert_eq!(
            (r.priority, r.weight, r.port),
            (Some(10), Some(60), Some(5060))
        );
    }

    #[test]
    fn txt_caa_ptr_ttl() {
        let r = validate("example.com", &rec("@", "TXT", "\"v=spf1 \" \"-all; x\"")).unwrap();
        assert_eq!(r.value, "v=spf1 -all; x");
        let big = "a".repeat(MAX_TXT_BYTES + 1);
        assert_eq!(
            validate("example.com", &rec("@", "TXT", &big))
                .unwrap_err()
                .field,
            "value"
        );
        let r = validate("example.com", &rec("@", "CAA", "0 ISSUE letsencrypt.org")).unwrap();
        assert_eq!(r.value, "0 issue \"letsencrypt.org\"");
        assert!(validate("example.com", &rec("@", "CAA", "0 bogus \"x\"")).is_err());
        assert!(validate("example.com", &rec("1", "PTR", "host.example.com")).is_err());
        assert!(validate("2.0.192.in-addr.arpa", &rec("1", "PTR", "host.example.com")).is_ok());
        let mut i = rec("www", "A", "192.0.2.1");
        i.ttl = Some(-1);
        assert_eq!(validate("example.com", &i).unwrap_err().field, "ttl");
    }
}
