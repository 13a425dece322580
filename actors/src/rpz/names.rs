//! Domain names as rules and feeds hold them: lowercase ASCII (IDNA for
//! Unicode), no trailing dot, at least two labels, optionally `*.` in front.

/// Normalises one name. The fast path (plain ASCII) allocates once.
pub fn normalize(raw: &str) -> Result<String, &'static str> {
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
    check(&out[usize::from(wild) * 2..])?;
    Ok(out)
}

fn check(name: &str) -> Result<(), &'static str> {
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

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalises_and_refuses() {
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
}
