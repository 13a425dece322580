//! Credentials: password hashing, access and refresh tokens, TOTP.

pub mod password;
pub mod tokens;
pub mod totp;
