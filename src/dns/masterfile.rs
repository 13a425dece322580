//! RFC 1035 master files: a tokenizer that keeps line numbers (comments,
//! quoted strings with escapes, parentheses spanning lines) and a parser that
//! turns entries into `RecordInput`s for the same validation as the REST API.
//! `$ORIGIN` and `$TTL` are honoured; `$INCLUDE` is refused, since it would
//! read files on the server.

use std::fmt;

use super::records::RecordInput;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token as written (escapes kept) for unquoted tokens; the content for quoted ones.
    pub text: String,
    /// The bytes it stands for (escapes resolved).
    pub bytes: Vec<u8>,
    pub quoted: bool,
}

/// One logical entry: a line, or several joined by parentheses.
#[derive(Debug)]
struct Entry {
    line: usize,
    /// The entry began with white space: it continues the previous owner.
    continues_owner: bool,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn perr(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

// Long on purpose: one state machine over RFC 1035's lexical rules (quotes, escapes, parentheses, comments); its states share the cursor and must stay together.
fn tokenize(text: &str) -> Result<Vec<Entry>, ParseError> {
    let b = text.as_bytes();
    let mut entries = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut i = 0;
    let mut current: Option<Entry> = None;
    let mut at_line_start = true;
    while i < b.len() {
        let c = b[i];
        if at_line_start && depth == 0 {
            at_line_start = false;
            if let Some(e) = current.take() {
                if !e.tokens.is_empty() {
                    entries.push(e);
                }
            }
            current = Some(Entry {
                line,
                continues_owner: c == b' ' || c == b'\t',
                tokens: Vec::new(),
            });
        }
        let entry = current.as_mut().expect("entry started");
        match c {
            b'\n' => {
                line += 1;
                at_line_start = depth == 0;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b';' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| perr(line, "`)` without a matching `(`"))?;
                i += 1;
            }
            b'"' => {
                let start_line = line;
                i += 1;
                let mut bytes = Vec::new();
                loop {
                    match b.get(i) {
                        None => return Err(perr(start_line, "unterminated quoted string")),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\n') => return Err(perr(start_line, "unterminated quoted string")),
                        Some(b'\\') => {
                            let (byte, used) = unescape(&b[i..]).map_err(|m| perr(line, m))?;
                            bytes.push(byte);
                            i += used;
                        }
                        Some(&other) => {
                            bytes.push(other);
                            i += 1;
                        }
                    }
                }
                entry.tokens.push(Token {
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                    bytes,
                    quoted: true,
                });
            }
            _ => {
                let start = i;
                let mut bytes = Vec::new();
                while i < b.len()
                    && !matches!(
                        b[i],
                        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"'
                    )
                {
                    if b[i] == b'\\' {
                        let (byte, used) = unescape(&b[i..]).map_err(|m| perr(line, m))?;
                        bytes.push(byte);
                        i += used;
                    } else {
                        bytes.push(b[i]);
                        i += 1;
                    }
                }
                entry.tokens.push(Token {
                    text: text[start..i].to_string(),
                    bytes,
                    quoted: false,
                });
            }
        }
    }
    if depth > 0 {
        return Err(perr(line, "`(` is never closed"));
    }
    if let Some(e) = current {
        if !e.tokens.is_empty() {
            entries.push(e);
        }
    }
    Ok(entries)
}

/// `\X` is X; `\DDD` is the byte with decimal value DDD.
fn unescape(b: &[u8]) -> Result<(u8, usize), String> {
    match b.get(1) {
        Some(d) if d.is_ascii_digit() => {
            let digits = b.get(1..4).filter(|d| d.iter().all(u8::is_ascii_digit));
            let n: u32 = digits
                .and_then(|d| std::str::from_utf8(d).ok()?.parse().ok())
                .ok_or("`\\DDD` needs three decimal digits")?;
            u8::try_from(n)
                .map(|v| (v, 4))
                .map_err(|_| "`\\DDD` must be at most 255".into())
        }
        Some(&c) if c != b'\n' => Ok((c, 2)),
        _ => Err("a backslash must escape a character".into()),
    }
}

/// Tokens of one line of record data (used for quoted TXT input).
pub fn tokenize_line(text: &str) -> Result<Vec<Token>, String> {
    let entries = tokenize(text).map_err(|e| e.message)?;
    Ok(entries.into_iter().flat_map(|e| e.tokens).collect())
}

/// The SOA of an imported file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    pub primary_ns: String,
    pub admin_email: String,
    pub serial: i64,
    pub refresh: i64,
    pub retry: i64,
    pub expire: i64,
    pub minimum: i64,
}

#[derive(Debug, Clone)]
pub struct ParsedRecord {
    pub line: usize,
    pub input: RecordInput,
}

#[derive(Debug, Clone, Default)]
pub struct ParsedZone {
    pub soa: Option<Soa>,
    /// The first `$TTL` of the file.
    pub default_ttl: Option<i64>,
    pub records: Vec<ParsedRecord>,
}

/// A TTL in seconds, with BIND's unit suffixes (`1h30m`, `2d`, `1w`).
pub fn parse_ttl(s: &str) -> Option<i64> {
    if s.is_empty() || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let mut total: i64 = 0;
    let mut num: Option<i64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(num.unwrap_or(0).checked_mul(10)?.checked_add(d as i64)?);
        } else {
            let unit = match c.to_ascii_lowercase() {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                'w' => 604800,
                _ => return None,
            };
            total = total.checked_add(num.take()?.checked_mul(unit)?)?;
        }
    }
    if num.is_some() {
        return None;
    }
    Some(total)
}

/// Parses a master file for `zone` (stored form, no trailing dot).
// Long on purpose: one pass over the entries of RFC 1035 (directives,
// owner and TTL inheritance, class, type); the state it carries is shared.
pub fn parse(text: &str, zone: &str) -> Result<ParsedZone, ParseError> {
    let mut out = ParsedZone::default();
    let mut origin = format!("{zone}.");
    let mut default_ttl: Option<i64> = None;
    let mut last_ttl: Option<i64> = None;
    let mut owner: Option<String> = None;
    for entry in tokenize(text)? {
        let line = entry.line;
        let mut toks = entry.tokens.iter().peekable();
        let first = &entry.tokens[0];
        if !first.quoted && first.text.starts_with('$') && !entry.continues_owner {
            let arg = entry.tokens.get(1).map(|t| t.text.as_str());
            match first.text.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    let a = arg.ok_or_else(|| perr(line, "$ORIGIN needs a name"))?;
                    origin = resolve(a, &origin);
                }
                "$TTL" => {
                    let t = arg
                        .and_then(parse_ttl)
                        .ok_or_else(|| perr(line, "$TTL needs a TTL such as 3600 or 1h"))?;
                    default_ttl = Some(t);
                    out.default_ttl.get_or_insert(t);
                }
                "$INCLUDE" => return Err(perr(
                    line,
                    "$INCLUDE is not supported: paste the included file's records into the import",
                )),
                other => return Err(perr(line, format!("unsupported directive {other}"))),
            }
            continue;
        }
        if !entry.continues_owner {
            let t = toks.next().expect("non-empty entry");
            owner = Some(if t.text == "@" {
                origin.clone()
            } else {
                resolve(&t.text, &origin)
            });
        }
        let owner_name = owner
            .clone()
            .ok_or_else(|| perr(line, "the first record has no owner name"))?;
        let mut ttl = None;
        let rtype = loop {
            let t = toks
                .next()
                .ok_or_else(|| perr(line, "the record has no type"))?;
            let up = t.text.to_ascii_uppercase();
            if ttl.is_none() && !t.quoted {
                if let Some(v) = parse_ttl(&t.text) {
                    ttl = Some(v);
                    continue;
                }
            }
            match up.as_str() {
                "IN" => continue,
                "CH" | "HS" | "CS" => {
                    return Err(perr(line, format!("class {up} is not supported; only IN")))
                }
                _ => break up,
            }
        };
        let data: Vec<&Token> = toks.collect();
        if let Some(t) = ttl {
            last_ttl = Some(t);
        }
        let ttl = ttl.or(default_ttl).or(last_ttl);
        if rtype == "SOA" {
            if owner_name != format!("{zone}.") {
                return Err(perr(
                    line,
                    format!("the SOA must be at the zone apex {zone}."),
                ));
            }
            out.soa = Some(soa(&data, &origin).map_err(|m| perr(line, m))?);
            continue;
        }
        let input = record(&owner_name, &rtype, ttl, &data, &origin).map_err(|m| perr(line, m))?;
        out.records.push(ParsedRecord { line, input });
    }
    Ok(out)
}

/// A name from the file made absolute against the current origin.
fn resolve(name: &str, origin: &str) -> String {
    if name == "@" {
        origin.to_string()
    } else if name.ends_with('.') && !name.ends_with("\\.") {
        name.to_string()
    } else if origin == "." {
        format!("{name}.")
    } else {
        format!("{name}.{origin}")
    }
}

fn count(data: &[&Token], n: usize, rtype: &str, form: &str) -> Result<(), String> {
    if data.len() == n {
        Ok(())
    } else {
        Err(format!("{rtype} data must be `{form}`"))
    }
}

fn record(
    owner: &str,
    rtype: &str,
    ttl: Option<i64>,
    data: &[&Token],
    origin: &str,
) -> Result<RecordInput, String> {
    let mut input = RecordInput {
        name: owner.to_string(),
        record_type: rtype.to_string(),
        ttl,
        ..Default::default()
    };
    let num = |t: &Token, what: &str| {
        t.text
            .parse::<i64>()
            .map_err(|_| format!("{what} `{}` is not a number", t.text))
    };
    match rtype {
        "A" | "AAAA" => {
            count(data, 1, rtype, "address")?;
            input.value = data[0].text.clone();
        }
        "CNAME" | "NS" | "PTR" => {
            count(data, 1, rtype, "target")?;
            input.value = resolve(&data[0].text, origin);
        }
        "MX" => {
            count(data, 2, rtype, "preference exchange")?;
            input.priority = Some(num(data[0], "preference")?);
            input.value = resolve(&data[1].text, origin);
        }
        "SRV" => {
            count(data, 4, rtype, "priority weight port target")?;
            input.priority = Some(num(data[0], "priority")?);
            input.weight = Some(num(data[1], "weight")?);
            input.port = Some(num(data[2], "port")?);
            input.value = resolve(&data[3].text, origin);
        }
        "TXT" => {
            if data.is_empty() {
                return Err("TXT needs at least one string".into());
            }
            let bytes: Vec<u8> = data.iter().flat_map(|t| t.bytes.iter().copied()).collect();
            input.value =
                String::from_utf8(bytes).map_err(|_| "TXT data must be valid UTF-8".to_string())?;
        }
        "CAA" => {
            count(data, 3, rtype, "flags tag \"value\"")?;
            let v = String::from_utf8_lossy(&data[2].bytes);
            input.value = format!(
                "{} {} \"{}\"",
                data[0].text,
                data[1].text,
                v.replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
        other => {
            return Err(format!(
                "record type {other} is not supported by hybrid-dns"
            ))
        }
    }
    Ok(input)
}

fn soa(data: &[&Token], origin: &str) -> Result<Soa, String> {
    count(
        data,
        7,
        "SOA",
        "mname rname serial refresh retry expire minimum",
    )?;
    let n = |i: usize, what: &str| {
        parse_ttl(&data[i].text)
            .ok_or_else(|| format!("SOA {what} `{}` is not a number", data[i].text))
    };
    Ok(Soa {
        primary_ns: resolve(&data[0].text, origin),
        admin_email: rname_to_email(&resolve(&data[1].text, origin)),
        serial: data[2]
            .text
            .parse()
            .map_err(|_| format!("SOA serial `{}` is not a number", data[2].text))?,
        refresh: n(3, "refresh")?,
        retry: n(4, "retry")?,
        expire: n(5, "expire")?,
        minimum: n(6, "minimum")?,
    })
}

/// `host\.master.example.com.` is `host.master@example.com`.
pub fn rname_to_email(rname: &str) -> String {
    let b = rname.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'.' => {
                let local = rname[..i].replace("\\.", ".");
                return format!("{local}@{}", rname[i + 1..].trim_end_matches('.'));
            }
            _ => i += 1,
        }
    }
    rname.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = r#"
$ORIGIN example.com.
$TTL 1h
@   IN  SOA ns1 hostmaster (
        2024010101 ; serial
        3600       ; refresh
        600 1209600
        300 )      ; minimum
    IN  NS  ns1
ns1     IN A 192.0.2.53
www 300 IN A 192.0.2.10 ; web
        IN AAAA 2001:db8::10
mail    MX 10 mx.example.net.
txt     IN TXT "v=spf1 include:_spf.example.com; -all" "second part"
esc     TXT "quote \" and \\ and \059"
$ORIGIN sub.example.com.
deep    CNAME www.example.com.
"#;

    #[test]
    fn parses_directives_owners_and_multiline_soa() {
        let z = parse(ZONE, "example.com").unwrap();
        let soa = z.soa.unwrap();
        assert_eq!(soa.primary_ns, "ns1.example.com.");
        assert_eq!(soa.admin_email, "hostmaster@example.com");
        assert_eq!(
            (soa.serial, soa.minimum, soa.expire),
            (2024010101, 300, 1209600)
        );
        assert_eq!(z.default_ttl, Some(3600));
        let r: Vec<_> = z.records.iter().map(|r| &r.input).collect();
        assert_eq!(r[0].name, "example.com.");
        assert_eq!(r[0].value, "ns1.example.com.");
        assert_eq!(
            (r[2].name.as_str(), r[2].ttl),
            ("www.example.com.", Some(300))
        );
        assert_eq!(
            (r[3].name.as_str(), r[3].record_type.as_str()),
            ("www.example.com.", "AAAA")
        );
        assert_eq!(r[4].priority, Some(10));
        assert_eq!(
            r[5].value,
            "v=spf1 include:_spf.example.com; -allsecond part"
        );
        assert_eq!(r[6].value, "quote \" and \\ and ;");
        assert_eq!(r[7].name, "deep.sub.example.com.");
        assert_eq!(z.records[7].line, 17);
    }

    #[test]
    fn refuses_include_and_bad_syntax_with_line_numbers() {
        let e = parse("$TTL 60\n$INCLUDE /etc/passwd\n", "example.com").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("$INCLUDE"));
        let e = parse("a IN TXT \"open\n", "example.com").unwrap_err();
        assert!(e.to_string().starts_with("line 1: unterminated"));
        assert!(parse("a IN A (1.2.3.4\n", "example.com").is_err());
        let e = parse("a IN HINFO x y\n", "example.com").unwrap_err();
        assert!(e.message.contains("HINFO"));
    }

    #[test]
    fn ttl_units_and_rname() {
        assert_eq!(parse_ttl("1h30m"), Some(5400));
        assert_eq!(parse_ttl("1w"), Some(604800));
        assert_eq!(parse_ttl("x"), None);
        assert_eq!(
            rname_to_email("john\\.doe.example.com."),
            "john.doe@example.com"
        );
    }
}
