//! The request mechanics the five resource services share (influencers, channels,
//! campaigns, segments, goals): names, the etag and field mask of an Update, the etag of a
//! Delete. What a resource checks and how its fields apply stays in its own handler.
use super::convert::{self, Mask};
use super::error::{ApiError, Problems};
use crate::domain::Stored;
use crate::domain::names::Collection;
use crate::storage::StorageError;
use tonic::{Response, Status};

/// A resource as its service's requests name it.
pub struct Resource {
    /// The request field holding the resource (`influencer`), prefix of its violations.
    pub field: &'static str,
    /// The collection its names belong to.
    pub collection: Collection,
    /// The fields an Update may change.
    pub updatable: &'static [&'static str],
}

/// What an Update changes: the stored resource its etag named and the fields to apply.
pub struct Updating<'a, T> {
    /// The resource's id.
    pub id: &'a str,
    /// The fields to change.
    pub mask: Mask,
    /// The resource as stored; its revision is the one the update must still find.
    pub current: Stored<T>,
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

    /// Reads an Update's name, etag and mask (recording every problem of the three in
    /// `problems`), loads the stored resource with `get`, and refuses it when the etag
    /// sent is not its current one.
    pub async fn load_for_update<'a, T, F>(
        &self,
        problems: &mut Problems,
        (name, etag): (&'a str, &str),
        mask: Option<&prost_types::FieldMask>,
        set_fields: impl FnOnce() -> Vec<&'static str>,
        get: impl FnOnce(&'a str) -> F,
    ) -> Result<Updating<'a, T>, ApiError>
    where
        F: Future<Output = crate::storage::Result<Stored<T>>>,
    {
        let target = convert::update_target(
            problems,
            self.field,
            self.collection,
            (name, etag),
            mask,
            self.updatable,
            set_fields,
        );
        let Some((id, etag, mask)) = target else {
            return Err(std::mem::take(problems).refuse());
        };
        let current = get(id).await?;
        if etag.is_some_and(|r| r != current.revision) {
            return Err(StorageError::EtagMismatch(name.to_string()).into());
        }
        Ok(Updating { id, mask, current })
    }

    /// Answers a Delete request: reads its name and etag and calls `delete` with the id
    /// and the revision the etag names.
    pub async fn delete<'a, F>(
        &self,
        (name, etag): (&'a str, &str),
        delete: impl FnOnce(&'a str, Option<i64>) -> F,
    ) -> Result<Response<()>, Status>
    where
        F: Future<Output = crate::storage::Result<()>>,
    {
        let id = self.id(name)?;
        let revision = convert::etag(etag, "etag")?;
        delete(id, revision).await.map_err(ApiError::from)?;
        Ok(Response::new(()))
    }
}
