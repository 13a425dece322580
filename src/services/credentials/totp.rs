//! TOTP (RFC 6238) with totp-rs, plus one-time backup codes.

use totp_rs::{Algorithm, Builder, Secret, Totp};

pub const ISSUER: &str = "hybrid-dns";
pub const BACKUP_CODE_COUNT: usize = 10;

pub fn build(secret_b32: &str, account: &str) -> Result<Totp, String> {
    let secret =
        Secret::try_from_base32(secret_b32).map_err(|_| "invalid TOTP secret".to_string())?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| format!("TOTP setup failed: {e:?}"))
}

pub fn new_secret() -> String {
    Secret::generate().to_base32()
}

/// The time step a code matches, if any. Callers refuse steps already used.
pub fn matching_step(totp: &Totp, code: &str) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    totp.check(code, now)
}

/// Ten backup codes like `k3f9-x2pq-7d`: 50 bits each, lowercase base32.
pub fn new_backup_codes() -> Vec<String> {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::rng();
    (0..BACKUP_CODE_COUNT)
        .map(|_| {
            let raw: String = (0..10)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..10])
        })
        .collect()
}

/// Backup codes are compared without dashes, spaces or case.
pub fn normalize_backup_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_code_matches_and_wrong_does_not() {
        let secret = new_secret();
        let t = build(&secret, "alice").unwrap();
        let code = t.generate_current().to_string();
        assert!(matching_step(&t, &code).is_some());
        assert!(matching_step(&t, "12345").is_none());
        assert!(matching_step(&t, "abcdef").is_none());
    }

    #[test]
    fn backup_codes_are_distinct() {
        let codes = new_backup_codes();
        assert_eq!(codes.len(), BACKUP_CODE_COUNT);
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(set.len(), BACKUP_CODE_COUNT);
        assert_eq!(normalize_backup_code("AB12-cd34-EF"), "ab12cd34ef");
    }
}
