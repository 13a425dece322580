//! From database rows to the lines of a master file: one place decides how
//! each record type is written, for rendering and for export alike.

use hdns_entities::{dns_records, zones};

use super::render::{RecordLine, ZoneHeader};

/// SOA RNAME from an email address: `host.master@example.com` becomes
/// `host\.master.example.com.` (dots in the local part are escaped).
pub fn rname(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!(
            "{}.{}.",
            local.replace('.', "\\."),
            domain.trim_end_matches('.')
        ),
        None => format!("{}.", email.trim_end_matches('.')),
    }
}

pub fn header(zone: &zones::Model) -> ZoneHeader {
    ZoneHeader {
        name: zone.name.clone(),
        primary_ns: fqdn(&zone.soa_primary_ns),
        rname: rname(&zone.soa_admin_email),
        serial: zone.serial,
        refresh: zone.refresh,
        retry: zone.retry,
        expire: zone.expire,
        minimum: zone.minimum,
        default_ttl: zone.default_ttl,
    }
}

pub fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// TXT data as quoted strings of at most 255 bytes each, with `"` and `\`
/// escaped and non-printable bytes as `\DDD`.
pub fn quote_txt(text: &str) -> String {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return "\"\"".into();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for (i, chunk) in bytes.chunks(255).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        for &b in chunk {
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                0x20..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('"');
    }
    out
}

/// The RDATA text of a record, in master-file form.
pub fn rdata(r: &dns_records::Model) -> String {
    let p = |v: Option<i32>| v.unwrap_or(0);
    match r.record_type.as_str() {
        "MX" => format!("{} {}", p(r.priority), r.value),
        "SRV" => format!(
            "{} {} {} {}",
            p(r.priority),
            p(r.weight),
            p(r.port),
            r.value
        ),
        "TXT" => quote_txt(&r.value),
        _ => r.value.clone(),
    }
}

pub fn line(r: &dns_records::Model) -> RecordLine {
    RecordLine {
        name: r.name.clone(),
        ttl: r.ttl.map(|t| t.to_string()).unwrap_or_default(),
        rtype: r.record_type.as_str().into(),
        rdata: rdata(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rname_escapes_local_dots() {
        assert_eq!(rname("hostmaster@example.com"), "hostmaster.example.com.");
        assert_eq!(rname("john.doe@example.com"), "john\\.doe.example.com.");
    }

    #[test]
    fn txt_is_split_and_escaped() {
        assert_eq!(quote_txt("v=spf1 -all; x"), "\"v=spf1 -all; x\"");
        assert_eq!(quote_txt("say \"hi\""), "\"say \\\"hi\\\"\"");
        let long = "a".repeat(300);
        let q = quote_txt(&long);
        assert_eq!(q, format!("\"{}\" \"{}\"", "a".repeat(255), "a".repeat(45)));
    }
}
