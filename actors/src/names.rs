//! Domain names, one module for all of them: what a user types becomes a
//! `DomainName` (absolute, lowercase ASCII, IDNA to punycode, label and total
//! lengths checked by hickory-proto's `Name`); a hosted or forwarded zone is
//! a `ZoneName`; an entry of a response-policy rule or feed a `PolicyName`.
//! The free functions below are the string forms the tables store.

use std::fmt;

use hickory_proto::rr::Name;
use hickory_proto::ProtoError;

/// An absolute domain name: lowercase ASCII with the trailing dot
/// (`www.example.com.`, the root is `.`). A wildcard may only be the whole
/// leftmost label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// Any name a user may type: Unicode or ASCII, with or without the dot.
    pub fn parse(input: &str) -> Result<Self, String> {
        parse_absolute(input).map(Self)
    }

    /// With the trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Without the trailing dot (the root stays `.`).
    pub fn without_dot(&self) -> &str {
        match self.0.as_str() {
            "." => ".",
            s => s.trim_end_matches('.'),
        }
    }

    pub fn to_name(&self) -> Name {
        // Parsed by hickory already: it parses again.
        Name::from_ascii(&self.0).unwrap_or_else(|_| Name::root())
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A zone we host or forward: not the root, no wildcard; stored without
/// the trailing dot (`example.com`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZoneName(String);

impl ZoneName {
    pub fn parse(input: &str) -> Result<Self, String> {
        let n = DomainName::parse(input)?;
        if n.as_str() == "." {
            return Err("the root zone cannot be managed".into());
        }
        if n.as_str().contains('*') {
            return Err("a zone name cannot contain a wildcard".into());
        }
        Ok(Self(n.without_dot().to_string()))
    }

    /// Without the trailing dot, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A name a response-policy rule or a threat feed lists: lowercase ASCII,
/// no trailing dot, at least two labels, letters, digits, `-` and `_`, not
/// an IPv4 address, optionally `*.` in front (every name below).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyName(String);

impl PolicyName {
    /// Plain ASCII takes a fast path that allocates once (a feed has a
    /// million lines: `benches/rpz.rs`). Unicode goes through UTS #46
    /// without STD3 rules (the `idna` crate hickory uses too): feeds list
    /// names like `_dmarc.bücher.example` that hickory's strict labels refuse.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim().trim_end_matches('.');
        let (wild, name) = match raw.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        if name.is_empty() {
            return Err("empty name");
        }
        let mut out = String::with_capacity(name.len() + 2);
        if wild {
            out.push_str("*.");
        }
        if name.is_ascii() {
            out.push_str(name);
            out[usize::from(wild) * 2..].make_ascii_lowercase();
        } else {
            let ascii =
                idna::domain_to_ascii(name).map_err(|_| "not a valid internationalised name")?;
            out.push_str(&ascii);
        }
        check_policy(&out[usize::from(wild) * 2..])?;
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn check_policy(name: &str) -> Result<(), &'static str> {
    if name.len() > 253 {
        return Err("name longer than 253 characters");
    }
    let mut labels = 0;
    for label in name.split('.') {
        labels += 1;
        if label.is_empty() || label.len() > 63 {
            return Err("empty label or label longer than 63 characters");
        }
        let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
        if !label.bytes().all(ok) {
            return Err("only letters, digits, '-' and '_' are allowed in a label");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label may not start or end with '-'");
        }
    }
    if labels < 2 {
        return Err("a single label (a top-level domain) cannot be listed");
    }
    // An IPv4 address in a hosts file's name column is not a domain.
    if name
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("an IP address is not a domain");
    }
    Ok(())
}

/// A policy-list entry normalised (the form rules and feeds store).
pub fn normalize(raw: &str) -> Result<String, &'static str> {
    PolicyName::parse(raw).map(PolicyName::into_string)
}

/// The lookup key of a name named printed (query and rpz logs): lowercase,
/// no trailing dot. No validation: named only logs names it parsed.
pub fn lookup_key(name: &str) -> std::borrow::Cow<'_, str> {
    let n = name.trim_end_matches('.');
    if n.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(n.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(n)
    }
}

/// Parses any name a user may type (Unicode or ASCII, with or without the
/// trailing dot) into an absolute, lowercase, punycode name with the dot.
pub fn parse_absolute(input: &str) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("the name is empty".into());
    }
    if s == "." {
        return Ok(".".into());
    }
    let mut name = Name::from_utf8(s).map_err(|e| describe(&e))?;
    name.set_fqdn(true);
    let text = name.to_ascii();
    check_wildcard(&text)?;
    Ok(text)
}

/// A zone name as stored: see `ZoneName`.
pub fn zone_name(input: &str) -> Result<String, String> {
    ZoneName::parse(input).map(ZoneName::into_string)
}

/// A target name in record data (CNAME, NS, PTR, MX, SRV): absolute, with the
/// trailing dot. What a user types is taken as a full name, dot or not.
pub fn target(input: &str) -> Result<String, String> {
    let n = parse_absolute(input)?;
    if n.contains('*') {
        return Err("a target name cannot contain a wildcard".into());
    }
    let t = input.trim();
    if !t.ends_with('.') && !t.contains('.') {
        return Err(format!(
            "`{t}` is a single label; give the full name (or end it with a dot to mean a top-level name)"
        ));
    }
    Ok(n)
}

/// An owner name relative to `zone` (`@` for the apex). Accepts `@`, a name
/// relative to the zone, or a full name inside the zone (with or without the
/// trailing dot). Anything outside the zone is refused.
pub fn owner(zone: &str, input: &str) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() || s == "@" {
        return Ok("@".into());
    }
    let zone_fqdn = format!("{zone}.");
    let absolute = parse_absolute(s)?;
    let fqdn = if absolute == zone_fqdn || absolute.ends_with(&format!(".{zone_fqdn}")) {
        absolute
    } else if s.ends_with('.') {
        return Err(format!(
            "{} is outside the zone {zone}",
            absolute.trim_end_matches('.')
        ));
    } else {
        // Relative to the zone: check the full name's length too.
        parse_absolute(&format!("{}.{zone_fqdn}", absolute.trim_end_matches('.')))?
    };
    Ok(relative(zone, &fqdn))
}

/// `www.example.com.` in `example.com` is `www`; the apex is `@`.
pub fn relative(zone: &str, fqdn: &str) -> String {
    let zone_fqdn = format!("{zone}.");
    if fqdn == zone_fqdn {
        "@".into()
    } else {
        fqdn.strip_suffix(&format!(".{zone_fqdn}"))
            .unwrap_or(fqdn)
            .to_string()
    }
}

/// The full name of a relative owner.
pub fn absolute(zone: &str, owner: &str) -> String {
    if owner == "@" {
        format!("{zone}.")
    } else {
        format!("{owner}.{zone}.")
    }
}

/// Reverse zones are recognised from their name.
pub fn is_reverse(zone: &str) -> bool {
    let z = lookup_key(zone);
    z.ends_with("in-addr.arpa") || z.ends_with("ip6.arpa")
}

fn check_wildcard(name: &str) -> Result<(), String> {
    for (i, label) in name.split('.').enumerate() {
        if label.contains('*') && (label != "*" || i != 0) {
            return Err("a wildcard `*` must be the whole leftmost label".into());
        }
    }
    Ok(())
}

fn describe(err: &ProtoError) -> String {
    use hickory_proto::serialize::binary::DecodeError;
    match err {
        ProtoError::Decode(DecodeError::LabelBytesTooLong(n)) => {
            format!("a label is {n} bytes long; at most 63 are allowed")
        }
        ProtoError::Decode(DecodeError::DomainNameTooLong(n)) => {
            format!("the name is {n} bytes long; at most 255 are allowed")
        }
        other => format!("not a valid domain name ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idna_and_case() {
        assert_eq!(
            zone_name("Bücher.Example.").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(target("MAIL.example.com").unwrap(), "mail.example.com.");
        assert_eq!(target(".").unwrap(), ".");
        assert!(target("www").unwrap_err().contains("single label"));
        assert_eq!(target("localhost.").unwrap(), "localhost.");
    }

    #[test]
    fn lengths_are_limited() {
        let e = zone_name(&format!("{}.com", "a".repeat(64))).unwrap_err();
        assert!(e.contains("63"), "{e}");
        let long = vec!["abcdefghij"; 30].join(".");
        assert!(zone_name(&long).unwrap_err().contains("255"));
        assert!(zone_name("bad name.com").is_err());
        assert!(zone_name("ex!.com").is_err());
    }

    #[test]
    fn typed_names() {
        let d = DomainName::parse("WWW.Example.com").unwrap();
        assert_eq!(d.as_str(), "www.example.com.");
        assert_eq!(d.without_dot(), "www.example.com");
        assert_eq!(d.to_name().to_ascii(), "www.example.com.");
        assert_eq!(
            ZoneName::parse("Example.COM.").unwrap().as_str(),
            "example.com"
        );
        assert!(ZoneName::parse(".").is_err());
        assert!(ZoneName::parse("*.example.com").is_err());
        assert_eq!(lookup_key("WWW.Example.com."), "www.example.com");
    }

    #[test]
    fn policy_names_normalise_and_refuse() {
        assert_eq!(normalize(" Bad.Example.COM. ").unwrap(), "bad.example.com");
        assert_eq!(normalize("*.Ads.Example").unwrap(), "*.ads.example");
        assert_eq!(
            normalize("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            normalize("_dmarc.example.com").unwrap(),
            "_dmarc.example.com"
        );
        assert_eq!(
            normalize("_Dmarc.Bücher.example").unwrap(),
            "_dmarc.xn--bcher-kva.example"
        );
        for bad in [
            "",
            "com",
            "a..b",
            "-a.example",
            "a b.example",
            "0.0.0.0",
            "*.",
            "a.*.b",
        ] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
        assert!(normalize(&format!("{}.example", "a".repeat(64))).is_err());
    }

    #[test]
    fn owners_are_relative_and_inside_the_zone() {
        assert_eq!(owner("example.com", "@").unwrap(), "@");
        assert_eq!(owner("example.com", "WWW").unwrap(), "www");
        assert_eq!(owner("example.com", "www.example.com").unwrap(), "www");
        assert_eq!(owner("example.com", "www.example.com.").unwrap(), "www");
        assert_eq!(owner("example.com", "example.com.").unwrap(), "@");
        assert_eq!(owner("example.com", "*.dev").unwrap(), "*.dev");
        assert_eq!(owner("example.com", "_sip._tcp").unwrap(), "_sip._tcp");
        assert!(owner("example.com", "www.other.org.").is_err());
        assert!(owner("example.com", "a.*.b").is_err());
    }
}
