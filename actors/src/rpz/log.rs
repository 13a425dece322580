//! named's `rpz` log category: one line per rewritten response, e.g.
//! `... client @0x7f.. 127.0.0.1#40000 (bad.example): rpz QNAME NXDOMAIN
//! rewrite bad.example/A/IN via bad.example.manual.rpz.hdns`.

/// One rewrite named reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit<'a> {
    pub client_ip: &'a str,
    pub qname: &'a str,
    pub qtype: &'a str,
    /// `QNAME`, `IP`, `NSDNAME`, `NSIP` or `CLIENT-IP`.
    pub trigger: &'a str,
    /// `NXDOMAIN`, `NODATA`, `PASSTHRU`, `DROP`, `Local-Data`, `CNAME`, ...
    pub policy: &'a str,
    /// The policy record's owner: `rule.zone`.
    pub via: &'a str,
}

pub fn parse(line: &str) -> Option<Hit<'_>> {
    let at = line.find(" client @")?;
    let rest = &line[at + " client @".len()..];
    let mut t = rest.split_ascii_whitespace();
    t.next()?; // the client object's address
    let client = t.next()?;
    let client_ip = client.rsplit_once('#').map_or(client, |(ip, _)| ip);
    let r = line.find(": rpz ")?;
    let mut t = line[r + ": rpz ".len()..].split_ascii_whitespace();
    let trigger = t.next()?;
    let policy = t.next()?;
    if t.next()? != "rewrite" {
        return None;
    }
    let mut q = t.next()?.split('/');
    let (qname, qtype) = (q.next()?, q.next().unwrap_or(""));
    if t.next()? != "via" {
        return None;
    }
    let via = t.next()?;
    Some(Hit {
        client_ip,
        qname,
        qtype,
        trigger,
        policy,
        via,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_rewrite() {
        let l = "23-Nov-2026 15:55:26.123 client @0x7f4e2c00b568 127.0.0.1#43127 (Bad.Example): rpz QNAME NXDOMAIN rewrite Bad.Example/A/IN via bad.example.manual.rpz.hdns";
        let h = parse(l).unwrap();
        assert_eq!(h.client_ip, "127.0.0.1");
        assert_eq!((h.qname, h.qtype), ("Bad.Example", "A"));
        assert_eq!((h.trigger, h.policy), ("QNAME", "NXDOMAIN"));
        assert_eq!(h.via, "bad.example.manual.rpz.hdns");
        let v6 = "23-Nov-2026 15:55:26.123 rpz: info: client @0x1 2001:db8::1#5353 (x.example): view v: rpz QNAME Local-Data rewrite x.example/AAAA/IN via *.example.feed-3.rpz.hdns";
        let h = parse(v6).unwrap();
        assert_eq!(
            (h.client_ip, h.policy, h.via),
            ("2001:db8::1", "Local-Data", "*.example.feed-3.rpz.hdns")
        );
        assert!(parse("23-Nov-2026 15:55:26.123 general: info: zone loaded").is_none());
    }
}
