//! Security headers on every response.

use actix_web::middleware::DefaultHeaders;

/// CSP allows only same-origin assets: the vendored Swagger UI and ReDoc need inline
/// styles and ReDoc a blob: worker; nothing is ever loaded from another origin.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; \
frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn headers(hsts: bool) -> DefaultHeaders {
    let h = DefaultHeaders::new()
        .add(("Content-Security-Policy", CSP))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ));
    if hsts {
        h.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        h
    }
}
