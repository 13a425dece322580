//! Rendering policy zones: the record that expresses an action, and the body
//! of a feed's zone written straight to a file (a million lines through a
//! template engine would cost seconds; the header still comes from a template).

use std::io::Write;
use std::net::IpAddr;

use super::Action;

/// The `(type, data)` of a policy record (RPZ's encoding of each action).
pub fn rdata(action: Action, target: Option<&str>) -> (&'static str, String) {
    match action {
        Action::Nxdomain => ("CNAME", ".".into()),
        Action::Nodata => ("CNAME", "*.".into()),
        Action::Passthru => ("CNAME", "rpz-passthru.".into()),
        Action::Drop => ("CNAME", "rpz-drop.".into()),
        Action::Redirect => match target.unwrap_or("").parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => ("A", ip.to_string()),
            Ok(IpAddr::V6(ip)) => ("AAAA", ip.to_string()),
            Err(_) => (
                "CNAME",
                format!("{}.", target.unwrap_or("").trim_end_matches('.')),
            ),
        },
    }
}

/// One line per entry; every entry gets the feed's action.
pub fn write_body(
    out: &mut impl Write,
    entries: &[String],
    action: Action,
    target: Option<&str>,
) -> std::io::Result<()> {
    let (rtype, data) = rdata(action, target);
    for e in entries {
        writeln!(out, "{e} {rtype} {data}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_its_record() {
        assert_eq!(rdata(Action::Nxdomain, None), ("CNAME", ".".into()));
        assert_eq!(rdata(Action::Nodata, None), ("CNAME", "*.".into()));
        assert_eq!(rdata(Action::Passthru, None).1, "rpz-passthru.");
        assert_eq!(rdata(Action::Drop, None).1, "rpz-drop.");
        assert_eq!(
            rdata(Action::Redirect, Some("192.0.2.7")),
            ("A", "192.0.2.7".into())
        );
        assert_eq!(rdata(Action::Redirect, Some("2001:db8::7")).0, "AAAA");
        assert_eq!(
            rdata(Action::Redirect, Some("walled.example.")),
            ("CNAME", "walled.example.".into())
        );
        let mut out = Vec::new();
        write_body(
            &mut out,
            &["a.example".into(), "*.a.example".into()],
            Action::Drop,
            None,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a.example CNAME rpz-drop.\n*.a.example CNAME rpz-drop.\n"
        );
    }
}
