//! Authentication: password hashing, tokens, TOTP and the request extractors
//! that decide access for every route.

pub mod extract;
pub mod password;
pub mod tokens;
pub mod totp;

pub use extract::{AdminUser, AuthUser};
