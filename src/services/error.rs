//! What a service can answer besides success, in the domain's words. The edge
//! maps each variant to an HTTP status and error body in one place
//! (`crate::error`), the CLI prints its message.

use serde_json::Value;

/// A rule a caller's input broke, naming the field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// Replaces the default `{"field", "reason"}` details when a rule says more
    /// (an import's per-line errors, the duplicate's id).
    pub details: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(String),
    /// The caller may not do this (`permission_denied`, `account_disabled`, ...).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// Credentials or a token did not prove who the caller is.
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    /// Too many failed logins; try again after `retry_after` seconds.
    #[error("account locked for {retry_after} s")]
    Locked { retry_after: u64 },
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    #[error("{}: {}", .0.field, .0.message)]
    Validation(FieldError),
    /// An input over the size an operation accepts.
    #[error("{0}")]
    TooLarge(String),
    /// BIND's checker refused the rendered files; nothing was committed.
    #[error("BIND refused the change: {}", first_line(output))]
    BindRefused { output: String },
    /// A dependency (database, named) cannot be reached right now.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Ours, not the caller's: logged in full, shown as a bare internal error.
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

impl Error {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(what.to_string())
    }

    pub fn permission_denied() -> Self {
        Self::Forbidden {
            code: "permission_denied",
            message: "You do not have permission to perform this action".into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthenticated {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldError {
            field: field.to_string(),
            message: message.into(),
            details: None,
        })
    }

    pub fn internal(source: impl std::fmt::Display) -> Self {
        Self::Internal(source.to_string())
    }

    /// Replaces the details a conflict or validation error carries.
    pub fn with_details(mut self, value: Value) -> Self {
        match &mut self {
            Self::Conflict { details, .. } => *details = Some(value),
            Self::Validation(f) => f.details = Some(value),
            _ => {}
        }
        self
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }

    /// The stable machine-readable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Forbidden { code, .. }
            | Self::Unauthenticated { code, .. }
            | Self::Conflict { code, .. } => code,
            Self::Locked { .. } => "account_locked",
            Self::Validation(_) => "validation_error",
            Self::TooLarge(_) => "payload_too_large",
            Self::BindRefused { .. } => "bind_check_failed",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// What a client is told: internals never leave the process.
    pub fn public_message(&self) -> String {
        match self {
            Self::Locked { .. } => "Too many failed logins; the account is locked".into(),
            Self::Validation(f) => f.message.clone(),
            Self::Unavailable(_) => "A dependency is unavailable; try again shortly".into(),
            Self::Internal(_) => "An internal error occurred".into(),
            other => other.to_string(),
        }
    }

    /// Structured details: the field a rule names, the checker's output, ...
    pub fn details(&self) -> Value {
        match self {
            Self::Locked { retry_after } => serde_json::json!({ "retry_after": retry_after }),
            Self::Conflict { details, .. } => details.clone().unwrap_or(Value::Null),
            Self::Validation(f) => f
                .details
                .clone()
                .unwrap_or_else(|| serde_json::json!({ "field": f.field, "reason": f.message })),
            Self::BindRefused { output } => {
                serde_json::json!({ "field": "zone", "checker_output": output })
            }
            _ => Value::Null,
        }
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        match e {
            sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_) => {
                Self::Unavailable(e.to_string())
            }
            e => Self::Internal(e.to_string()),
        }
    }
}

impl From<sea_orm::TransactionError<Error>> for Error {
    fn from(e: sea_orm::TransactionError<Error>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(e) => e,
        }
    }
}

impl From<hdns_actors::bind::commit::CommitError> for Error {
    fn from(e: hdns_actors::bind::commit::CommitError) -> Self {
        use hdns_actors::bind::commit::CommitError as C;
        match e {
            C::Refused { output } => Self::BindRefused { output },
            C::Db(db) => db.into(),
            C::Internal(m) => Self::Internal(m),
        }
    }
}
