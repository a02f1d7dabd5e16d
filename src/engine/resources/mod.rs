//! The use cases of the five revisioned resources (influencers, channels, campaigns,
//! segments, goals): create, get, list, update and delete.
//!
//! The API converts a request into one of the request types here and calls one function;
//! what happens then is decided here: an Update loads the revision its etag names, applies
//! its patch, and only then are the resource's rules checked, together with the problems
//! the conversion found, so that a caller learns every bad field in one round trip. What a
//! resource's fields must be is the domain's; what refers to what is checked by storage.
pub mod campaigns;
pub mod channels;
pub mod custom_kpis;
pub mod goals;
pub mod influencers;
pub mod segments;

use crate::domain::{DomainError, Stored, Violation, prefixed, within};
use crate::storage::StorageError;

/// Why a resource call was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// Bad input; each field is a path in the request message.
    #[error("invalid argument")]
    Invalid(Vec<Violation>),
    /// The resource does not exist for this tenant.
    #[error("{0} not found")]
    NotFound(String),
    /// The state of the tenant's data forbids the call.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Reading or writing failed, or storage refused the change.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A converted request and what its conversion found wrong, held back until the resource's
/// own rules have run.
#[derive(Debug)]
pub struct Checked<R> {
    /// What the request asks for; a field that did not convert holds a fallback.
    pub request: R,
    /// The conversion's problems.
    pub invalid: Invalid,
}

/// The problems a conversion found, to be answered together with the domain's.
#[derive(Debug)]
pub struct Invalid {
    /// The request field that holds the resource (`campaign`), prefix of the paths the
    /// domain's rules name.
    pub field: &'static str,
    /// Violations, each a path in the request message.
    pub violations: Vec<Violation>,
}

impl Invalid {
    /// The value of the domain's check when neither it nor the conversion found a problem;
    /// otherwise every violation, the conversion's first. What the domain says about a
    /// field the conversion already reported is left out: that field holds a fallback.
    pub fn finish<T>(self, checked: Result<T, DomainError>) -> Result<T, ResourceError> {
        let Invalid {
            field,
            mut violations,
        } = self;
        let reported = violations.len();
        match checked {
            Ok(value) if reported == 0 => return Ok(value),
            Ok(_) => {}
            Err(DomainError::Invalid(found)) => {
                for v in found {
                    let path = prefixed(field, &v.field);
                    if !violations[..reported]
                        .iter()
                        .any(|r| within(&path, &r.field))
                    {
                        violations.push(Violation::new(path, v.description));
                    }
                }
            }
        }
        Err(ResourceError::Invalid(violations))
    }
}

/// A Create: the new resource's id, its fields and the AIP-155 request id that makes a
/// retry return the first answer.
#[derive(Debug)]
pub struct Create<T> {
    /// The id, given or generated.
    pub id: String,
    /// The request id, if any.
    pub request_id: Option<String>,
    /// The resource's fields.
    pub spec: T,
}

/// An Update: which resource, the revision its etag names, and the fields to change.
#[derive(Debug)]
pub struct Update<P> {
    /// The resource's name as sent, for the error of a stale etag.
    pub name: String,
    /// The resource's id.
    pub id: String,
    /// The revision the caller read, if it sent an etag.
    pub revision: Option<i64>,
    /// The fields to change.
    pub patch: P,
}

impl<P> Update<P> {
    /// The stored resource, refused when the caller read another revision of it.
    pub fn current<T>(&self, stored: Stored<T>) -> Result<Stored<T>, ResourceError> {
        if self.revision.is_some_and(|r| r != stored.revision) {
            return Err(StorageError::EtagMismatch(self.name.clone()).into());
        }
        Ok(stored)
    }
}

/// A Delete: which resource, and the revision its etag names.
#[derive(Debug)]
pub struct Delete {
    /// The resource's id.
    pub id: String,
    /// The revision the caller read, if it sent an etag.
    pub revision: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(violations: &[&str]) -> Invalid {
        Invalid {
            field: "campaign",
            violations: violations
                .iter()
                .map(|f| Violation::new(*f, "bad"))
                .collect(),
        }
    }

    fn fields(result: Result<(), ResourceError>) -> Vec<String> {
        match result {
            Err(ResourceError::Invalid(v)) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected violations, got {other:?}"),
        }
    }

    #[test]
    fn the_domain_is_answered_only_when_the_conversion_found_nothing() {
        assert!(invalid(&[]).finish(Ok(7)).is_ok_and(|v| v == 7));
        assert_eq!(
            fields(invalid(&["campaign.start_date"]).finish(Ok(()))),
            ["campaign.start_date"]
        );
    }

    #[test]
    fn domain_violations_are_prefixed_and_those_inside_a_reported_field_left_out() {
        let domain = Err(DomainError::Invalid(vec![
            Violation::new("start_date", "after end_date"),
            Violation::new("participants[2].fee", "wrong currency"),
            Violation::new("end_date", "too far"),
            Violation::new("", "whole resource"),
        ]));
        assert_eq!(
            fields(invalid(&["campaign.start_date", "campaign.participants[2]"]).finish(domain)),
            [
                "campaign.start_date",
                "campaign.participants[2]",
                "campaign.end_date",
                "campaign"
            ]
        );
    }

    #[test]
    fn an_update_refuses_a_revision_other_than_its_etag_names() {
        let update = |revision| Update {
            name: "campaigns/spring".to_string(),
            id: "spring".to_string(),
            revision,
            patch: (),
        };
        let stored = |revision| Stored {
            id: "spring".to_string(),
            revision,
            create_time: chrono::DateTime::UNIX_EPOCH,
            update_time: chrono::DateTime::UNIX_EPOCH,
            spec: (),
        };
        assert!(update(None).current(stored(3)).is_ok());
        assert!(update(Some(3)).current(stored(3)).is_ok());
        assert!(matches!(
            update(Some(2)).current(stored(3)),
            Err(ResourceError::Storage(StorageError::EtagMismatch(name))) if name == "campaigns/spring"
        ));
    }
}
