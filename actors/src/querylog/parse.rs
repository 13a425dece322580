//! named's query-log lines, BIND 9.16 to 9.20, parsed without allocating.
//!
//! ```text
//! 23-Nov-2026 12:00:00.123 client @0x7f3a2c01b168 192.0.2.1#41234 (www.example.com): query: www.example.com IN A +E(0)K (192.0.2.53)
//! 23-Nov-2026 12:00:00.123 queries: info: client @0x7f.. 192.0.2.1#41234 (a.test): view internal: query: a.test IN AAAA -E(0)DC (192.0.2.53) [ECS 198.51.100.0/24/0]
//! 2026-11-23T12:00:00.123Z client 192.0.2.1#41234 (a.test): query: a.test IN A + (192.0.2.53)
//! ```
//! The time prefix depends on `print-time` (classic or ISO 8601), the
//! `queries: info:` part on `print-category`/`print-severity`, `@0x..` on the
//! version, `view X:` on whether views are configured.

use memchr::memmem;
use std::sync::LazyLock;

static CLIENT: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("client "));
static QUERY: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("query: "));

/// One logged query; every field borrows from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    /// As printed by named (classic `23-Nov-2026 12:00:00.123` or ISO 8601).
    pub time: &'a str,
    pub client_ip: &'a str,
    pub client_port: u16,
    /// As asked (case preserved, no trailing dot).
    pub name: &'a str,
    pub class: &'a str,
    pub qtype: &'a str,
    /// `+` recursion desired (`-` not), `E(n)` EDNS, `T` TCP, `D` DO, `C` CD, `S` signed, `K`/`V` cookie.
    pub flags: &'a str,
    /// The address the query came in on.
    pub server_ip: &'a str,
    pub view: Option<&'a str>,
}

/// Parses one line; `None` for anything that is not a query line.
pub fn parse(line: &str) -> Option<Query<'_>> {
    let b = line.as_bytes();
    let c = CLIENT.find(b)?;
    let time = time_of(&line[..c]);
    let mut rest = &line[c + 7..];
    if rest.starts_with('@') {
        rest = &rest[rest.find(' ')? + 1..];
    }
    let sp = rest.find(' ')?;
    let (addr, after) = (&rest[..sp], &rest[sp + 1..]);
    let hash = addr.rfind('#')?;
    let client_ip = &addr[..hash];
    let client_port = addr[hash + 1..].parse().ok()?;
    let q = QUERY.find(after.as_bytes())?;
    // Between the client and "query: ": "(name): " and maybe "view NAME: ".
    let view = after[..q]
        .rfind("view ")
        .map(|v| after[v + 5..q].trim_end().trim_end_matches(':'));
    let mut fields = after[q + 7..].split(' ');
    let name = fields.next()?;
    let class = fields.next()?;
    let qtype = fields.next()?;
    let flags = fields.next()?;
    let server = fields.next()?;
    let server_ip = server.strip_prefix('(')?.strip_suffix(')')?;
    if name.is_empty() || client_ip.is_empty() {
        return None;
    }
    Some(Query {
        time,
        client_ip,
        client_port,
        name: name
            .strip_suffix('.')
            .filter(|n| !n.is_empty())
            .unwrap_or(name),
        class,
        qtype,
        flags,
        server_ip,
        view,
    })
}

/// The time prefix, without `queries: info:` when the category and severity are printed.
fn time_of(prefix: &str) -> &str {
    let p = prefix.trim_end();
    let p = p.strip_suffix("info:").map(str::trim_end).unwrap_or(p);
    let p = p.strip_suffix("queries:").map(str::trim_end).unwrap_or(p);
    p
}

/// Whether the query asked for recursion (`+` in the flags).
pub fn recursion_desired(flags: &str) -> bool {
    flags.starts_with('+')
}

/// Whether it came over TCP.
pub fn over_tcp(flags: &str) -> bool {
    flags.contains('T')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real lines as BIND writes them, one version per block.
    const FIXTURES: &str = include_str!("../../../tests/fixtures/querylog.txt");

    #[test]
    fn every_fixture_line_parses() {
        let mut n = 0;
        for line in FIXTURES.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let q = parse(line).unwrap_or_else(|| panic!("unparsed: {line}"));
            assert!(!q.client_ip.is_empty() && q.client_port > 0, "{line}");
            assert_eq!(q.class, "IN", "{line}");
            assert!(
                q.server_ip.contains('.') || q.server_ip.contains(':'),
                "{line}"
            );
            n += 1;
        }
        assert!(n >= 12, "{n} fixture lines");
    }

    #[test]
    fn fields_of_each_version() {
        let q = parse("23-Nov-2026 12:00:00.123 client @0x7f3a2c01b168 192.0.2.1#41234 (www.Example.com): query: www.Example.com IN A +E(0)K (192.0.2.53)").unwrap();
        assert_eq!(q.time, "23-Nov-2026 12:00:00.123");
        assert_eq!((q.client_ip, q.client_port), ("192.0.2.1", 41234));
        assert_eq!((q.name, q.class, q.qtype), ("www.Example.com", "IN", "A"));
        assert_eq!(
            (q.flags, q.server_ip, q.view),
            ("+E(0)K", "192.0.2.53", None)
        );
        assert!(recursion_desired(q.flags) && !over_tcp(q.flags));

        let q = parse("23-Nov-2026 12:00:00.123 queries: info: client @0x7f00 2001:db8::1#5353 (a.test): view internal: query: a.test IN AAAA -E(0)TDC (2001:db8::53) [ECS 198.51.100.0/24/0]").unwrap();
        assert_eq!(q.time, "23-Nov-2026 12:00:00.123");
        assert_eq!((q.client_ip, q.client_port), ("2001:db8::1", 5353));
        assert_eq!(
            (q.qtype, q.view, q.server_ip),
            ("AAAA", Some("internal"), "2001:db8::53")
        );
        assert!(!recursion_desired(q.flags) && over_tcp(q.flags));

        let q =
            parse("2026-11-23T12:00:00.123Z client 10.0.0.9#1 (.): query: . IN NS + (10.0.0.1)")
                .unwrap();
        assert_eq!(
            (q.time, q.name, q.qtype),
            ("2026-11-23T12:00:00.123Z", ".", "NS")
        );

        for bad in [
            "",
            "23-Nov-2026 12:00:00.123 general: info: zone a.test/IN: loaded serial 1",
            "23-Nov-2026 12:00:00.123 client @0x1 192.0.2.1#x (a): query: a IN A + (1.2.3.4)",
            "23-Nov-2026 12:00:00.123 client @0x1 192.0.2.1#53 (a): query: a IN A +",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
