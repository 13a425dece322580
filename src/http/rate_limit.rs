//! Per-IP and per-user request rate limits (actix-governor), answered with the
//! REST error body and `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::governor::NotUntil;
use actix_governor::{
    GovernorConfig, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError,
};
use actix_web::dev::ServiceRequest;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};

use crate::error::ApiError;
use crate::services::credentials::tokens::JwtKeys;

fn limited_response(negative: &NotUntil<QuantaInstant>) -> HttpResponse {
    let wait = negative
        .wait_time_from(DefaultClock::default().now())
        .as_secs()
        .max(1);
    ApiError::rate_limited(wait).error_response()
}

fn peer(req: &ServiceRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Keys every request by the caller's IP address.
#[derive(Clone)]
pub struct ByIp;

impl KeyExtractor for ByIp {
    type Key = String;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<String, Self::KeyExtractionError> {
        Ok(peer(req))
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _: HttpResponseBuilder,
    ) -> HttpResponse {
        limited_response(negative)
    }
}

/// Keys a request by the user its access token names (signature checked, no
/// database round trip), falling back to the IP for anonymous requests.
#[derive(Clone)]
pub struct ByUser(pub Arc<JwtKeys>);

impl KeyExtractor for ByUser {
    type Key = String;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<String, Self::KeyExtractionError> {
        let user = crate::auth::extract::bearer_token(req.request()).and_then(|t| self.0.verify(t));
        Ok(match user {
            Some(claims) => format!("user:{}", claims.sub),
            None => format!("ip:{}", peer(req)),
        })
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _: HttpResponseBuilder,
    ) -> HttpResponse {
        limited_response(negative)
    }
}

/// `per_minute` requests a minute, with the whole minute's allowance as burst.
/// A limit of 0 turns the limiter off (an effectively unlimited quota).
pub fn per_minute<K: KeyExtractor>(
    key: K,
    per_minute: u32,
) -> GovernorConfig<K, NoOpMiddleware<QuantaInstant>> {
    let (period, burst) = if per_minute == 0 {
        (Duration::from_nanos(1), u32::MAX)
    } else {
        (
            Duration::from_millis((60_000 / per_minute as u64).max(1)),
            per_minute,
        )
    };
    GovernorConfigBuilder::default()
        .key_extractor(key)
        .period(period)
        .burst_size(burst)
        .finish()
        .expect("rate limit period and burst are non-zero")
}
