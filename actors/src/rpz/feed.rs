//! Threat-feed lists: the four formats, de-duplication and the diff against
//! the last good version.

use super::names::normalize;

pub use hdns_entities::enums::FeedFormat as Format;

/// A parsed list: sorted, without duplicates.
#[derive(Debug, Default)]
pub struct Parsed {
    pub entries: Vec<String>,
    /// Lines that were neither comments, blank nor a valid entry.
    pub invalid: u64,
    pub duplicates: u64,
    /// The first few invalid lines, for the feed's error report.
    pub samples: Vec<String>,
}

/// Names every hosts file starts with; they are not threats.
const HOSTS_PREAMBLE: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

fn is_comment(line: &str) -> bool {
    line.starts_with(['#', '!', ';']) || line.starts_with("//") || line.starts_with('[')
}

// Long on purpose: one arm per feed format over the same line loop; each arm is short and the loop's counters are shared.
pub fn parse(text: &str, format: Format) -> Parsed {
    let mut p = Parsed::default();
    let mut origin: Option<String> = None;
    let bad = |p: &mut Parsed, line: &str| {
        p.invalid += 1;
        if p.samples.len() < 5 {
            p.samples.push(line.chars().take(120).collect());
        }
    };
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        // RPZ continuation lines (SOA body) start with blanks.
        let continuation = raw.starts_with([' ', '\t']);
        let line = raw.trim();
        if line.is_empty() || is_comment(line) {
            continue;
        }
        match format {
            Format::Domains => {
                let name = line.split_whitespace().next().unwrap_or("");
                match normalize(name) {
                    Ok(n) => p.entries.push(n),
                    Err(_) => bad(&mut p, line),
                }
            }
            Format::Hosts => {
                let mut tokens = line.split('#').next().unwrap_or("").split_whitespace();
                let ip_ok = tokens
                    .next()
                    .is_some_and(|t| t.parse::<std::net::IpAddr>().is_ok());
                let mut any = false;
                for t in tokens {
                    any = true;
                    if HOSTS_PREAMBLE.contains(&t) {
                        continue;
                    }
                    match normalize(t) {
                        Ok(n) if ip_ok => p.entries.push(n),
                        _ => bad(&mut p, line),
                    }
                }
                if !ip_ok && !any {
                    bad(&mut p, line);
                }
            }
            Format::Adblock => {
                let name = line
                    .strip_prefix("||")
                    .and_then(|r| r.split_once('^'))
                    .filter(|(_, rest)| rest.is_empty() || rest.starts_with('$'))
                    .map(|(n, _)| n);
                match name.map(normalize) {
                    Some(Ok(n)) if !n.starts_with("*.") => {
                        p.entries.push(format!("*.{n}"));
                        p.entries.push(n);
                    }
                    _ => bad(&mut p, line),
                }
            }
            Format::Rpz => {
                if let Some(o) = line.strip_prefix("$ORIGIN") {
                    origin = Some(o.trim().trim_end_matches('.').to_ascii_lowercase());
                    continue;
                }
                if continuation || line.starts_with(['$', '@', '(', ')']) {
                    continue;
                }
                let mut tokens = line.split(';').next().unwrap_or("").split_whitespace();
                let owner = tokens.next().unwrap_or("");
                let rtype = tokens
                    .find(|t| {
                        !t.bytes().all(|b| b.is_ascii_digit()) && !t.eq_ignore_ascii_case("IN")
                    })
                    .unwrap_or("");
                if ["SOA", "NS"].iter().any(|t| rtype.eq_ignore_ascii_case(t)) {
                    continue;
                }
                if !["CNAME", "A", "AAAA"]
                    .iter()
                    .any(|t| rtype.eq_ignore_ascii_case(t))
                {
                    bad(&mut p, line);
                    continue;
                }
                let mut name = owner.to_ascii_lowercase();
                if let Some(abs) = name.strip_suffix('.') {
                    name = match &origin {
                        Some(o) => abs
                            .strip_suffix(o.as_str())
                            .unwrap_or(abs)
                            .trim_end_matches('.')
                            .to_string(),
                        None => abs.to_string(),
                    };
                }
                match normalize(&name) {
                    Ok(n) => p.entries.push(n),
                    Err(_) => bad(&mut p, line),
                }
            }
        }
    }
    let before = p.entries.len();
    p.entries.sort_unstable();
    p.entries.dedup();
    p.duplicates = (before - p.entries.len()) as u64;
    p
}

/// `(added, removed)` between two sorted, de-duplicated lists.
pub fn diff<'a>(old: &'a [String], new: &'a [String]) -> (Vec<&'a str>, Vec<&'a str>) {
    let (mut i, mut j) = (0, 0);
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    while i < old.len() && j < new.len() {
        match old[i].cmp(&new[j]) {
            std::cmp::Ordering::Less => {
                removed.push(old[i].as_str());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                added.push(new[j].as_str());
                j += 1;
            }
            std::cmp::Ordering::Equal => (i, j) = (i + 1, j + 1),
        }
    }
    removed.extend(old[i..].iter().map(String::as_str));
    added.extend(new[j..].iter().map(String::as_str));
    (added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lists_with_crlf_duplicates_and_garbage() {
        let text = "# a comment\r\nBad.Example\r\nbad.example.\r\n\r\nworse.example # why\r\nnot a domain!\r\ncom\r\n";
        let p = parse(text, Format::Domains);
        assert_eq!(p.entries, ["bad.example", "worse.example"]);
        assert_eq!((p.invalid, p.duplicates), (2, 1));
        assert_eq!(p.samples, ["not a domain!", "com"]);
    }

    #[test]
    fn hosts_files_skip_their_preamble() {
        let text = "127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\n0.0.0.0 0.0.0.0\n0.0.0.0 ads.example tracker.example # two\n127.0.0.1\tmal.example\nads2.example\n";
        let p = parse(text, Format::Hosts);
        assert_eq!(p.entries, ["ads.example", "mal.example", "tracker.example"]);
        assert_eq!(p.invalid, 1);
    }

    #[test]
    fn adblock_lines_cover_subdomains() {
        let text = "[Adblock Plus 2.0]\n! comment\n||ads.example^\n||track.example^$third-party\n@@||good.example^\nexample.org##.banner\n";
        let p = parse(text, Format::Adblock);
        assert_eq!(
            p.entries,
            [
                "*.ads.example",
                "*.track.example",
                "ads.example",
                "track.example"
            ]
        );
        assert_eq!(p.invalid, 2);
    }

    #[test]
    fn rpz_files_give_their_owners() {
        let text = "$TTL 300\n$ORIGIN rpz.vendor.example.\n@ IN SOA ns. host. (\n  1 3600 600 86400 60 )\n  IN NS localhost.\nbad.example CNAME .\n*.bad.example 300 IN CNAME .\nphish.example.rpz.vendor.example. CNAME rpz-drop.\nweird.example TXT \"x\"\n";
        let p = parse(text, Format::Rpz);
        assert_eq!(p.entries, ["*.bad.example", "bad.example", "phish.example"]);
        assert_eq!(p.invalid, 1);
    }

    #[test]
    fn diff_counts_both_ways() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (old, new) = (v(&["a", "b", "c"]), v(&["b", "c", "d", "e"]));
        assert_eq!(diff(&old, &new), (vec!["d", "e"], vec!["a"]));
        let one = v(&["a"]);
        assert_eq!(diff(&[], &one), (vec!["a"], vec![]));
        assert_eq!(diff(&one, &[]), (vec![], vec!["a"]));
    }
}
