//! Secrets out of URLs before they are shown or logged: one place for the
//! rules, two policies.

/// How much of a URL may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redact {
    /// A connection URL an operator configured (database, Redis): the user
    /// stays (it helps to see who connects), the password becomes
    /// `<redacted>`.
    Password,
    /// A URL anyone with the feed's view may read (threat feeds): user,
    /// password and the query string (API keys live there) are dropped.
    Credentials,
}

/// `url` with what `policy` hides removed. A string that is no URL comes
/// back as it is (`Password`) or as `(invalid url)` (`Credentials`).
pub fn redact_url(url: &str, policy: Redact) -> String {
    let Some(scheme_end) = url.find("://") else {
        return match policy {
            Redact::Password => url.to_string(),
            Redact::Credentials => "(invalid url)".into(),
        };
    };
    match policy {
        Redact::Password => {
            // The user part ends at the last `@` before the path: a password
            // may hold `?` or `#`, and must be hidden all the same.
            let rest = &url[scheme_end + 3..];
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => {
                    let userinfo = &rest[..at];
                    let user = userinfo.split(':').next().unwrap_or("");
                    let hidden = if userinfo.contains(':') {
                        format!("{user}:<redacted>")
                    } else {
                        user.to_string()
                    };
                    format!("{}://{}{}", &url[..scheme_end], hidden, &rest[at..])
                }
                None => url.to_string(),
            }
        }
        Redact::Credentials => match reqwest::Url::parse(url) {
            Ok(mut u) => {
                let _ = u.set_password(None);
                let _ = u.set_username("");
                u.set_query(None);
                u.to_string()
            }
            Err(_) => "(invalid url)".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_policies() {
        use Redact::*;
        assert_eq!(
            redact_url("postgres://bob:s3cret@db:5432/hdns", Password),
            "postgres://bob:<redacted>@db:5432/hdns"
        );
        assert_eq!(
            redact_url("postgres://bob@db/hdns", Password),
            "postgres://bob@db/hdns"
        );
        assert_eq!(
            redact_url("sqlite://./data/x.db", Password),
            "sqlite://./data/x.db"
        );
        assert_eq!(
            redact_url("redis://:pw@127.0.0.1:6379/0", Password),
            "redis://:<redacted>@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url(
                "https://user:secret@feeds.example/list.txt?key=abc",
                Credentials
            ),
            "https://feeds.example/list.txt"
        );
        assert_eq!(
            redact_url("https://feeds.example?key=abc", Credentials),
            "https://feeds.example/"
        );
        assert_eq!(redact_url("not a url", Credentials), "(invalid url)");
        // A password with `#` or `?` is hidden whole.
        assert_eq!(
            redact_url("postgres://app:pa#ss@db/hdns", Password),
            "postgres://app:<redacted>@db/hdns"
        );
        assert_eq!(
            redact_url("postgres://app:p?w@db/hdns", Password),
            "postgres://app:<redacted>@db/hdns"
        );
    }
}
