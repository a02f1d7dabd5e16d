//! The request mechanics the five resource services share (influencers, channels,
//! campaigns, segments, goals): names, request ids, the etag and field mask of an Update,
//! the etag of a Delete, each read into the use case's request types
//! ([`crate::engine::resources`]). What a resource's fields convert to stays in its own
//! handler.
use super::convert::{self, Mask};
use super::error::{ApiError, Problems};
use crate::domain::names::Collection;
use crate::engine::resources::{Checked, Create, Delete, Update};

/// A resource as its service's requests name it.
pub struct Resource {
    /// The request field holding the resource (`influencer`), prefix of its violations.
    pub field: &'static str,
    /// The field of a Create request holding the new id (`influencer_id`).
    pub id_field: &'static str,
    /// The collection its names belong to.
    pub collection: Collection,
    /// The fields an Update may change.
    pub updatable: &'static [&'static str],
}

/// The target of an Update, read from its name, etag and mask.
pub struct Target {
    name: String,
    id: String,
    revision: Option<i64>,
    /// The fields to change.
    pub mask: Mask,
}

impl Resource {
    /// The id a Get or Delete request names in its `name` field.
    pub fn id<'a>(&self, name: &'a str) -> Result<&'a str, ApiError> {
        convert::parse_name(name, "name", self.collection)
    }

    /// The resource of a Create or Update request, which must be present.
    pub fn required<M>(&self, message: Option<M>) -> Result<M, ApiError> {
        message.ok_or_else(|| ApiError::invalid(self.field, "is required"))
    }

    /// Reads a Create's id and request id, recording their problems in `problems`.
    pub fn create_ids(
        &self,
        problems: &mut Problems,
        id: &str,
        request_id: &str,
    ) -> (String, Option<String>) {
        let id = problems.or(
            convert::new_id(id, self.id_field, self.collection),
            String::new(),
        );
        let request_id = problems.or(convert::request_id(request_id), None);
        (id, request_id.map(str::to_string))
    }

    /// A Create of `spec` with the problems recorded in `problems` held back.
    pub fn create<T>(
        &self,
        (id, request_id): (String, Option<String>),
        spec: T,
        problems: Problems,
    ) -> Result<Checked<Create<T>>, ApiError> {
        Ok(Checked {
            request: Create {
                id,
                request_id,
                spec,
            },
            invalid: problems.hold(self.field)?,
        })
    }

    /// Reads an Update's name, etag and mask, recording every problem of the three in
    /// `problems`; refused when any is bad, since the fields cannot be read without them.
    pub fn target(
        &self,
        problems: &mut Problems,
        (name, etag): (&str, &str),
        mask: Option<&prost_types::FieldMask>,
        set_fields: impl FnOnce() -> Vec<&'static str>,
    ) -> Result<Target, ApiError> {
        let target = convert::update_target(
            problems,
            self.field,
            self.collection,
            (name, etag),
            mask,
            self.updatable,
            set_fields,
        );
        let Some((id, revision, mask)) = target else {
            return Err(std::mem::take(problems).refuse());
        };
        Ok(Target {
            name: name.to_string(),
            id: id.to_string(),
            revision,
            mask,
        })
    }

    /// An Update of `target` by `patch`, with the problems recorded in `problems` held
    /// back.
    pub fn update<P>(
        &self,
        target: Target,
        patch: P,
        problems: Problems,
    ) -> Result<Checked<Update<P>>, ApiError> {
        Ok(Checked {
            request: Update {
                name: target.name,
                id: target.id,
                revision: target.revision,
                patch,
            },
            invalid: problems.hold(self.field)?,
        })
    }

    /// Reads a Delete request's name and etag.
    pub fn delete(&self, name: &str, etag: &str) -> Result<Delete, ApiError> {
        Ok(Delete {
            id: self.id(name)?.to_string(),
            revision: convert::etag(etag, "etag")?,
        })
    }
}
