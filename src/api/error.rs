//! API errors and their one mapping to `tonic::Status`, with google.rpc rich details.
use crate::domain::{DomainError, Violation};
use crate::storage::StorageError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Domain of every ErrorInfo Tally sends.
pub const ERROR_DOMAIN: &str = "tally.dev";

/// Errors of the API layer: a deliberately small set of codes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input; each violation names a field (a path in the request message).
    #[error("invalid argument")]
    Invalid(Vec<Violation>),
    /// The resource does not exist for this tenant.
    #[error("{0} not found")]
    NotFound(String),
    /// A unique value is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// The state of other resources forbids the call.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The etag did not match.
    #[error("{0}")]
    Aborted(String),
    /// A concurrent call wrote the same record first; logged, and the call may be retried.
    #[error("a concurrent call wrote the same data first; retry the call")]
    Conflict(#[source] StorageError),
    /// No valid API key.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The key made more calls than its rate limit; retry after the duration.
    #[error("rate limit exceeded; retry in {} ms", .0.as_millis())]
    RateLimited(std::time::Duration),
    /// The database cannot be reached.
    #[error("service unavailable")]
    Unavailable(#[source] StorageError),
    /// Anything else; logged, not sent.
    #[error("internal error")]
    Internal(#[source] StorageError),
}

impl ApiError {
    /// One violation of `field`.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        ApiError::Invalid(vec![Violation::new(field, description)])
    }

    /// Converts a domain error, prefixing field paths with the request field that holds
    /// the resource (such as `influencer`).
    pub fn from_domain(err: DomainError, prefix: &str) -> Self {
        match err {
            DomainError::Invalid(violations) => ApiError::Invalid(
                violations
                    .into_iter()
                    .map(|v| Violation::new(prefixed(prefix, &v.field), v.description))
                    .collect(),
            ),
        }
    }

    /// Converts a storage error, prefixing the field of an invalid reference.
    pub fn from_storage(err: StorageError, prefix: &str) -> Self {
        match err {
            StorageError::NotFound(what) => ApiError::NotFound(what),
            StorageError::AlreadyExists(what) => ApiError::AlreadyExists(what),
            StorageError::EtagMismatch(what) => ApiError::Aborted(format!(
                "{what} was changed by another call; read it again and retry with its new etag"
            )),
            StorageError::FailedPrecondition(what) => ApiError::FailedPrecondition(what),
            StorageError::InvalidReference(field, description) => {
                ApiError::invalid(prefixed(prefix, &field), description)
            }
            e @ StorageError::Conflict(_) => ApiError::Conflict(e),
            e @ StorageError::Unavailable(_) => ApiError::Unavailable(e),
            e @ StorageError::Database(_) => ApiError::Internal(e),
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            ApiError::Invalid(_) => "FIELD_INVALID",
            ApiError::NotFound(_) => "RESOURCE_NOT_FOUND",
            ApiError::AlreadyExists(_) => "RESOURCE_EXISTS",
            ApiError::FailedPrecondition(_) => "RESOURCE_IN_USE",
            ApiError::Aborted(_) => "ETAG_MISMATCH",
            ApiError::Conflict(_) => "CONCURRENT_WRITE",
            ApiError::Unauthenticated(_) => "API_KEY_INVALID",
            ApiError::RateLimited(_) => "RATE_LIMITED",
            ApiError::Unavailable(_) => "DATABASE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        ApiError::from_storage(err, "")
    }
}

impl From<crate::jobs::JobError> for ApiError {
    fn from(err: crate::jobs::JobError) -> Self {
        match err {
            crate::jobs::JobError::Storage(e) => ApiError::from(e),
            crate::jobs::JobError::Invalid(field, problem) => ApiError::invalid(field, problem),
        }
    }
}

fn prefixed(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{field}"),
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Status {
        let mut details = ErrorDetails::new();
        details.set_error_info(err.reason(), ERROR_DOMAIN, std::collections::HashMap::new());
        let (code, message) = match &err {
            ApiError::Invalid(violations) => {
                for v in violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                let summary: Vec<String> = violations
                    .iter()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .collect();
                (Code::InvalidArgument, summary.join("; "))
            }
            ApiError::NotFound(_) => (Code::NotFound, err.to_string()),
            ApiError::AlreadyExists(_) => (Code::AlreadyExists, err.to_string()),
            ApiError::FailedPrecondition(_) => (Code::FailedPrecondition, err.to_string()),
            ApiError::Aborted(_) => (Code::Aborted, err.to_string()),
            ApiError::Conflict(cause) => {
                // The cause names the constraint and table: for the logs, not the caller.
                tracing::warn!(error = ?cause, "concurrent write conflict");
                details.set_retry_info(Some(std::time::Duration::from_millis(100)));
                (Code::Aborted, err.to_string())
            }
            ApiError::Unauthenticated(_) => (Code::Unauthenticated, err.to_string()),
            ApiError::RateLimited(wait) => {
                details.set_retry_info(Some(*wait));
                (Code::ResourceExhausted, err.to_string())
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                details.set_retry_info(Some(std::time::Duration::from_secs(1)));
                (
                    Code::Unavailable,
                    "the database is unavailable; retry later".to_string(),
                )
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                (Code::Internal, "internal error".to_string())
            }
        };
        Status::with_error_details(code, message, details)
    }
}
