//! API errors and their one mapping to `tonic::Status`, with google.rpc rich details.
use crate::domain::{DomainError, Violation, prefixed, within};
use crate::engine::resources::{Invalid, ResourceError};
use crate::storage::StorageError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Domain of every ErrorInfo Tally sends.
pub const ERROR_DOMAIN: &str = "tally.dev";

/// Most field violations one status carries; one more says how many were left out. Each
/// violation travels in the `grpc-status-details-bin` header, and clients refuse headers
/// past a few KB ("metadata size exceeds hard limit").
pub const MAX_VIOLATIONS: usize = 20;

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

    /// Converts a use case's error, prefixing the field of an invalid reference.
    pub fn from_resource(err: ResourceError, prefix: &str) -> Self {
        match err {
            ResourceError::Invalid(violations) => ApiError::Invalid(violations),
            ResourceError::NotFound(what) => ApiError::NotFound(what),
            ResourceError::FailedPrecondition(what) => ApiError::FailedPrecondition(what),
            ResourceError::Storage(e) => ApiError::from_storage(e, prefix),
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

/// Collects the violations of one request, conversion and domain rules alike, so that a
/// caller learns every bad field in one round trip rather than one per call.
#[derive(Debug, Default)]
pub struct Problems {
    violations: Vec<Violation>,
    /// The first error that is not bad input (none today from conversions, but a
    /// conversion may grow one); it wins over the violations.
    other: Option<ApiError>,
}

impl Problems {
    /// Records a violation of `field`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations.push(Violation::new(field, description));
    }

    /// A required part of the request, or its default after recording that it is
    /// missing (what is then said about fields inside it is left out).
    pub fn required<T: Default>(&mut self, value: Option<T>, field: &str) -> T {
        value.unwrap_or_else(|| {
            self.add(field, "is required");
            T::default()
        })
    }

    /// The value of a conversion, or None after recording why it failed.
    pub fn take<T>(&mut self, result: Result<T, ApiError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(ApiError::Invalid(violations)) => {
                self.extend(violations);
                None
            }
            Err(other) => {
                self.other.get_or_insert(other);
                None
            }
        }
    }

    /// The value of a conversion, or `fallback` after recording why it failed; the
    /// fallback only lets the remaining rules run, the request is refused at `finish`.
    pub fn or<T>(&mut self, result: Result<T, ApiError>, fallback: T) -> T {
        self.take(result).unwrap_or(fallback)
    }

    /// Records the violations of domain validation, prefixed by the request field that
    /// holds the resource.
    pub fn domain<T>(&mut self, result: Result<T, DomainError>, prefix: &str) -> Option<T> {
        self.take(result.map_err(|e| ApiError::from_domain(e, prefix)))
    }

    /// Adds a batch of violations, leaving out those on a field already reported or
    /// inside one: such a field holds a fallback, and what a later rule says about the
    /// fallback is noise.
    fn extend(&mut self, batch: Vec<Violation>) {
        let reported = self.violations.len();
        for v in batch {
            if !self.violations[..reported]
                .iter()
                .any(|r| within(&v.field, &r.field))
            {
                self.violations.push(v);
            }
        }
    }

    /// The violations recorded, held back for the use case to answer together with the
    /// domain's (see [`Invalid`]); `field` is the request field that holds the resource.
    /// An error that is not bad input is answered at once.
    pub fn hold(self, field: &'static str) -> Result<Invalid, ApiError> {
        match self.other {
            Some(other) => Err(other),
            None => Ok(Invalid {
                field,
                violations: self.violations,
            }),
        }
    }

    /// The error to answer when the request cannot go on; a generic violation if,
    /// wrongly, nothing was recorded.
    pub fn refuse(self) -> ApiError {
        match self.finish() {
            Err(e) => e,
            Ok(()) => ApiError::invalid("", "is not a valid request"),
        }
    }

    /// Ok when nothing was recorded; otherwise the error to answer.
    pub fn finish(self) -> Result<(), ApiError> {
        match (self.other, self.violations.is_empty()) {
            (Some(other), _) => Err(other),
            (None, true) => Ok(()),
            (None, false) => Err(ApiError::Invalid(self.violations)),
        }
    }
}

/// The longest path that holds every one of `fields` (`campaign.participants` for
/// `campaign.participants[3].fee` and `campaign.participants[9]`); empty for the request.
fn common_parent<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let mut parent: Option<&str> = None;
    for field in fields {
        parent = Some(match parent {
            None => field,
            Some(p) => {
                let mut end = 0;
                for ((i, a), b) in p.char_indices().zip(field.chars()) {
                    if a != b {
                        break;
                    }
                    end = i + a.len_utf8();
                }
                let shared = &p[..end];
                if within(p, shared) && within(field, shared) {
                    shared
                } else {
                    // Cut back to the last whole segment both share.
                    let cut = shared.rfind(['.', '[']).unwrap_or(0);
                    &p[..cut]
                }
            }
        });
    }
    parent.unwrap_or_default().to_string()
}

/// At most [`MAX_VIOLATIONS`] violations, then one on the parent of the rest that says how
/// many were left out.
fn capped(violations: &[Violation]) -> Vec<Violation> {
    if violations.len() <= MAX_VIOLATIONS + 1 {
        return violations.to_vec();
    }
    let (shown, rest) = violations.split_at(MAX_VIOLATIONS);
    let mut out = shown.to_vec();
    out.push(Violation::new(
        common_parent(rest.iter().map(|v| v.field.as_str())),
        format!(
            "{} more violations left out; fix the ones above and call again",
            rest.len()
        ),
    ));
    out
}

impl From<ResourceError> for ApiError {
    fn from(err: ResourceError) -> Self {
        ApiError::from_resource(err, "")
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
            crate::jobs::JobError::FailedPrecondition(what) => ApiError::FailedPrecondition(what),
        }
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Status {
        let mut details = ErrorDetails::new();
        details.set_error_info(err.reason(), ERROR_DOMAIN, std::collections::HashMap::new());
        let (code, message) = match &err {
            ApiError::Invalid(violations) => {
                let violations = capped(violations);
                for v in &violations {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    #[test]
    fn violations_past_the_cap_become_one_that_counts_them() {
        let many: Vec<Violation> = (0..10_000)
            .map(|i| Violation::new(format!("influencer.tags[{i}]"), "is required"))
            .collect();
        let status = Status::from(ApiError::Invalid(many));
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations.len(), MAX_VIOLATIONS + 1);
        let last = &bad.field_violations[MAX_VIOLATIONS];
        assert_eq!(last.field, "influencer.tags");
        assert!(last.description.starts_with("9980 more"), "{last:?}");
        assert!(status.details().len() < 4096, "{}", status.details().len());
        assert!(status.message().len() < 4096, "{}", status.message().len());
        // Exactly one over the cap is shown whole: a count of one says less than it.
        let few: Vec<Violation> = (0..=MAX_VIOLATIONS)
            .map(|i| Violation::new(format!("a[{i}]"), "bad"))
            .collect();
        assert_eq!(capped(&few), few);
    }

    #[test]
    fn the_parent_of_the_left_out_violations_is_a_whole_path() {
        let parent = |fields: &[&str]| common_parent(fields.iter().copied());
        assert_eq!(
            parent(&["c.participants[20].fee", "c.participants[21].influencer"]),
            "c.participants"
        );
        assert_eq!(parent(&["c.tags[3]", "c.tags[3]"]), "c.tags[3]");
        assert_eq!(parent(&["c.tags[3]", "c.tag"]), "c");
        assert_eq!(parent(&["goal_id", "goal.kpi"]), "");
        assert_eq!(parent(&["tags", "tags[1]"]), "tags");
    }

    #[test]
    fn problems_collect_every_field_and_skip_what_lies_in_a_reported_one() {
        let mut problems = Problems::default();
        let id: String = problems.or(Err(ApiError::invalid("goal_id", "bad")), String::new());
        assert!(id.is_empty());
        let msg: Option<String> = problems.required(None, "goal");
        assert!(msg.is_none());
        // Inside the missing `goal`: said of its fallback, left out.
        problems.take::<()>(Err(ApiError::from_domain(
            DomainError::Invalid(vec![Violation::new("kpi", "is required")]),
            "goal",
        )));
        // One batch may say two things of one field; both are kept.
        problems.take::<()>(Err(ApiError::from_domain(
            DomainError::Invalid(vec![
                Violation::new("kpi", "first"),
                Violation::new("kpi", "second"),
            ]),
            "other",
        )));
        problems.take::<()>(Err(ApiError::invalid("goals", "a sibling, not a child")));
        let Err(ApiError::Invalid(found)) = problems.finish() else {
            panic!("must refuse");
        };
        let fields: Vec<&str> = found.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["goal_id", "goal", "other.kpi", "other.kpi", "goals"]
        );
        assert!(Problems::default().finish().is_ok());
    }
}
