//! Maps every error the framework produces (bad JSON, oversize bodies, unknown
//! routes, wrong methods) to the one REST error body.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpRequest, ResponseError};

use crate::error::ApiError;

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::from_status(actix_web::http::StatusCode::PAYLOAD_TOO_LARGE)
                .with_details(serde_json::json!({ "limit_bytes": limit }))
        }
        JsonPayloadError::ContentType => {
            ApiError::from_status(actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE)
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            // Well-formed JSON of the wrong shape: a validation failure.
            ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                "The request body does not match the expected schema",
            )
            .with_details(serde_json::json!({ "reason": sanitize_serde(&e.to_string()) }))
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request("invalid_json", "The request body is not valid JSON")
                .with_details(serde_json::json!({ "line": e.line(), "column": e.column() }))
        }
        _ => ApiError::bad_request("invalid_body", "The request body could not be read"),
    }
}

/// serde's messages name fields and expected types, which is what a caller needs;
/// they can also echo input values, which are cut short so nothing large is reflected.
fn sanitize_serde(msg: &str) -> String {
    msg.chars().take(200).collect()
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req: &HttpRequest| {
        ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "Invalid query parameters",
        )
        .with_details(serde_json::json!({ "reason": sanitize_serde(&err.to_string()) }))
        .into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err: PathError, _req: &HttpRequest| {
        ApiError::from_status(actix_web::http::StatusCode::NOT_FOUND).into()
    })
}

/// Rewrites any error response that is not already our JSON body (404 from the
/// router, 405 from a resource, errors raised inside the framework).
pub fn error_bodies<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new()
        .default_handler_client(rewrite)
        .default_handler_server(rewrite)
}

fn rewrite<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, old) = res.into_parts();
    let mut new = ApiError::from_status(status).error_response();
    // Keep headers such as Allow and Retry-After that the original carried.
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    let res: ServiceResponse<BoxBody> = ServiceResponse::new(req, new);
    Ok(ErrorHandlerResponse::Response(
        res.map_into_right_body::<B>(),
    ))
}
