//! The domain: Tally's resources as plain Rust types with their validation rules. No I/O
//! and no protobuf here; the API layer converts, storage persists.
pub mod campaign;
pub mod catalogue;
pub mod channel;
pub mod formula;
pub mod goal;
pub mod influencer;
pub(crate) mod names;
pub mod observation;
pub mod segment;
pub mod segment_rule;
pub mod tenant;
mod text;
pub mod value;

use chrono::{DateTime, Utc};

/// One problem with one input field; `field` is a path relative to the resource, such as
/// `discount_codes[2]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Path of the field, relative to the resource being validated.
    pub field: String,
    /// What is wrong and what would be right.
    pub description: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Violation {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Whether the path `field` is `parent` or a path inside it (`a.b`, `a[3]`).
pub fn within(field: &str, parent: &str) -> bool {
    field
        .strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// The path `field` inside `prefix` (`campaign.end_date`); `prefix` alone for the resource
/// itself.
pub fn prefixed(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{field}"),
    }
}

/// Errors of domain validation.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input breaks one or more rules, each named.
    #[error("invalid input: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
}

/// Collects violations so that a caller learns every problem at once.
#[derive(Default, Debug)]
pub struct Violations(Vec<Violation>);

impl Violations {
    /// Records a violation.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(Violation::new(field, description));
    }

    /// Records the error of a check, if any.
    pub fn check(&mut self, field: impl Into<String>, result: Result<(), String>) {
        if let Err(description) = result {
            self.add(field, description);
        }
    }

    /// Ok when nothing was recorded.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}

/// Checks a required display text of 1 to `max` characters.
pub fn check_text(value: &str, max: usize) -> Result<(), String> {
    let len = value.chars().count();
    if value.trim().is_empty() {
        Err("is required".into())
    } else if len > max {
        Err(format!(
            "is {len} characters long; at most {max} are allowed"
        ))
    } else if value.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(())
    }
}

/// A stored resource: its id, version and audit times around the resource's own fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored<T> {
    /// Id within the tenant, the last segment of the resource name.
    pub id: String,
    /// Incremented on every update; the etag is derived from it.
    pub revision: i64,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last update time.
    pub update_time: DateTime<Utc>,
    /// The resource's own fields.
    pub spec: T,
}

impl<T> Stored<T> {
    /// The AIP-154 etag of this revision.
    pub fn etag(&self) -> String {
        etag_of(self.revision)
    }
}

/// The etag of a revision: quoted, as in HTTP.
pub fn etag_of(revision: i64) -> String {
    format!("\"{revision}\"")
}
