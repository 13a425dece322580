//! The one REST error type. Every failure a client can see is mapped here to
//! `{"error", "message", "details", "timestamp"}`; internals are logged, never sent.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    /// Seconds, sent as `Retry-After` (rate limits, lockouts).
    pub retry_after: Option<u64>,
}

/// The error body, also used by the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `permission_denied`.
    #[schema(example = "permission_denied")]
    pub error: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Value,
    /// ISO-8601 time of the error.
    pub timestamp: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn permission_denied() -> Self {
        Self::forbidden(
            "permission_denied",
            "You do not have permission to perform this action",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 with the offending field named in `details`.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            message.clone(),
        )
        .with_details(serde_json::json!({ "field": field, "reason": message }))
    }

    pub fn locked(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::LOCKED,
            "account_locked",
            "Too many failed logins; the account is locked",
        )
        .with_details(serde_json::json!({ "retry_after": retry_after }));
        e.retry_after = Some(retry_after);
        e
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("Rate limit exceeded. Try again in {retry_after} seconds."),
        )
        .with_details(serde_json::json!({ "retry_after": retry_after }));
        e.retry_after = Some(retry_after);
        e
    }

    /// A failure that is ours, not the caller's: logged in full, sent as a bare 500.
    pub fn internal(source: impl std::fmt::Display) -> Self {
        tracing::error!(error = %source, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An internal error occurred",
        )
    }

    /// The body for a bare status (unknown route, wrong method, framework errors).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "The requested resource does not exist"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "This method is not allowed on this resource",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "The request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "Content-Type must be application/json",
            ),
            StatusCode::UNAUTHORIZED => ("unauthorized", "Authentication required"),
            StatusCode::FORBIDDEN => ("permission_denied", "Permission denied"),
            StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "Rate limit exceeded"),
            s if s.is_server_error() => ("internal_error", "An internal error occurred"),
            _ => ("bad_request", "The request could not be processed"),
        };
        Self::new(status, code, message)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code.to_string(),
            message: self.message.clone(),
            details: self.details.clone(),
            timestamp: crate::now_iso(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(self.body())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(e)
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(e: sea_orm::TransactionError<ApiError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => ApiError::internal(db),
            sea_orm::TransactionError::Transaction(api) => api,
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The one mapping from a service's answer to a status and an error body.
impl From<crate::services::Error> for ApiError {
    fn from(e: crate::services::Error) -> Self {
        use crate::services::Error as E;
        let status = match &e {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Forbidden { .. } => StatusCode::FORBIDDEN,
            E::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            E::Locked { .. } => StatusCode::LOCKED,
            E::Conflict { .. } => StatusCode::CONFLICT,
            E::Validation(_) | E::BindRefused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            E::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if matches!(e, E::Unavailable(_) | E::Internal(_)) {
            tracing::error!(error = %e, "request failed");
        }
        let mut api = ApiError::new(status, e.code(), e.public_message()).with_details(e.details());
        if let E::Locked { retry_after } = e {
            api.retry_after = Some(retry_after);
        }
        api
    }
}
