//! Domain names as hybrid-dns stores them: lowercase ASCII (IDNA to punycode),
//! label and total lengths checked by hickory-proto.

use hickory_proto::rr::Name;
use hickory_proto::ProtoError;

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

/// A zone name: absolute, no wildcard, not the root; stored without the dot.
pub fn zone_name(input: &str) -> Result<String, String> {
    let n = parse_absolute(input)?;
    if n == "." {
        return Err("the root zone cannot be managed".into());
    }
    if n.contains('*') {
        return Err("a zone name cannot contain a wildcard".into());
    }
    Ok(n.trim_end_matches('.').to_string())
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
    hdns_actors::bind::render::is_reverse(zone)
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
