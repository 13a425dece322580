//! Cross-cutting HTTP concerns: error bodies for framework errors, security
//! headers, request logging and rate limits.

pub mod errors;
pub mod rate_limit;
pub mod request_log;
pub mod security_headers;

/// The caller's address as the socket sees it. (Behind a reverse proxy every
/// request comes from the proxy; trusted forwarding headers are not read yet.)
pub fn client_ip(req: &actix_web::HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}
