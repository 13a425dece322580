//! The request extractors that decide access for every route and build the
//! `Caller` that services act for.

pub mod extract;

pub use extract::{AdminUser, AuthUser};
