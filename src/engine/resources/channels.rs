//! Channels: a channel keeps the platform it was created on.
use super::{Checked, Create, Delete, ResourceError, Update};
use crate::domain::channel::{Channel, Platform};
use crate::domain::tenant::Tenant;
use crate::domain::{Stored, Violation};
use crate::storage::channels::OwnerFilter;
use crate::storage::{Page, PageRequest, Store};

/// The fields an Update changes; None leaves a field as stored.
#[derive(Debug, Default)]
pub struct ChannelPatch {
    /// The platform the request names, which must be the stored one.
    pub platform: Option<Platform>,
    /// New display name.
    pub display_name: Option<String>,
    /// New owner: an influencer id, or None for the brand.
    pub owner: Option<Option<String>>,
    /// New account id.
    pub account_id: Option<String>,
    /// New credentials reference.
    pub credentials_ref: Option<String>,
}

impl ChannelPatch {
    fn apply(self, spec: &mut Channel) {
        if let Some(v) = self.display_name {
            spec.display_name = v;
        }
        if let Some(v) = self.owner {
            spec.owner = v;
        }
        if let Some(v) = self.account_id {
            spec.account_id = v;
        }
        if let Some(v) = self.credentials_ref {
            spec.credentials_ref = v;
        }
    }
}

/// Creates a channel.
pub async fn create(
    store: &Store,
    tenant: &Tenant,
    Checked { request, invalid }: Checked<Create<Channel>>,
) -> Result<Stored<Channel>, ResourceError> {
    let mut spec = request.spec;
    invalid.finish(spec.validate())?;
    let request_id = request.request_id.as_deref();
    Ok(store
        .create_channel(&tenant.id, &request.id, &spec, request_id)
        .await?)
}

/// The channel `id`.
pub async fn get(
    store: &Store,
    tenant: &Tenant,
    id: &str,
) -> Result<Stored<Channel>, ResourceError> {
    Ok(store.get_channel(&tenant.id, id).await?)
}

/// One page of the tenant's channels that `owner` selects.
pub async fn list(
    store: &Store,
    tenant: &Tenant,
    owner: &OwnerFilter,
    page: &PageRequest,
) -> Result<Page<Stored<Channel>>, ResourceError> {
    Ok(store.list_channels(&tenant.id, owner, page).await?)
}

/// Applies an Update's patch to the revision it names.
pub async fn update(
    store: &Store,
    tenant: &Tenant,
    Checked {
        request,
        mut invalid,
    }: Checked<Update<ChannelPatch>>,
) -> Result<Stored<Channel>, ResourceError> {
    let current = request.current(store.get_channel(&tenant.id, &request.id).await?)?;
    if request
        .patch
        .platform
        .is_some_and(|p| p != current.spec.platform)
    {
        // First: a platform that converted is the first field the request could get wrong.
        invalid.violations.insert(
            0,
            Violation::new(
                format!("{}.platform", invalid.field),
                "cannot change; create a new channel instead",
            ),
        );
    }
    let mut spec = current.spec.clone();
    request.patch.apply(&mut spec);
    invalid.finish(spec.validate())?;
    Ok(store
        .update_channel(&tenant.id, &request.id, current.revision, &spec)
        .await?)
}

/// Deletes a channel.
pub async fn delete(store: &Store, tenant: &Tenant, request: Delete) -> Result<(), ResourceError> {
    Ok(store
        .delete_channel(&tenant.id, &request.id, request.revision)
        .await?)
}
