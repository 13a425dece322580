//! `?from=&to=` time ranges shared by the Events and Reports areas.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};

/// Longest range a report may span.
pub const MAX_DAYS: i64 = 366;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// RFC 3339 start (default: 24 hours before `to`).
    pub from: Option<String>,
    /// RFC 3339 end (default: now).
    pub to: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

fn parse(field: &str, v: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::validation(field, "an RFC 3339 time such as 2026-11-23T12:00:00Z"))
}

impl RangeQuery {
    pub fn range(&self) -> ApiResult<Range> {
        let to = match &self.to {
            Some(t) => parse("to", t)?,
            None => Utc::now(),
        };
        let from = match &self.from {
            Some(f) => parse("from", f)?,
            None => to - Duration::hours(24),
        };
        if from >= to {
            return Err(ApiError::validation("from", "from must be before to"));
        }
        if to - from > Duration::days(MAX_DAYS) {
            return Err(ApiError::validation(
                "from",
                format!("a range spans at most {MAX_DAYS} days"),
            ));
        }
        Ok(Range { from, to })
    }
}
