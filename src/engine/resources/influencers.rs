//! Influencers: their fields are checked on their own; storage keeps each discount code
//! to one influencer of a tenant.
use super::{Checked, Create, Delete, ResourceError, Update};
use crate::domain::Stored;
use crate::domain::influencer::{Influencer, TrackingValue};
use crate::domain::tenant::Tenant;
use crate::storage::{Page, PageRequest, Store};

/// The fields an Update changes; None leaves a field as stored.
#[derive(Debug, Default)]
pub struct InfluencerPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New discount codes.
    pub discount_codes: Option<Vec<String>>,
    /// New tracking values.
    pub tracking_values: Option<Vec<TrackingValue>>,
}

impl InfluencerPatch {
    fn apply(self, spec: &mut Influencer) {
        if let Some(v) = self.display_name {
            spec.display_name = v;
        }
        if let Some(v) = self.tags {
            spec.tags = v;
        }
        if let Some(v) = self.discount_codes {
            spec.discount_codes = v;
        }
        if let Some(v) = self.tracking_values {
            spec.tracking_values = v;
        }
    }
}

/// Creates an influencer.
pub async fn create(
    store: &Store,
    tenant: &Tenant,
    Checked { request, invalid }: Checked<Create<Influencer>>,
) -> Result<Stored<Influencer>, ResourceError> {
    let mut spec = request.spec;
    invalid.finish(spec.validate())?;
    let request_id = request.request_id.as_deref();
    Ok(store
        .create_influencer(&tenant.id, &request.id, &spec, request_id)
        .await?)
}

/// The influencer `id`.
pub async fn get(
    store: &Store,
    tenant: &Tenant,
    id: &str,
) -> Result<Stored<Influencer>, ResourceError> {
    Ok(store.get_influencer(&tenant.id, id).await?)
}

/// One page of the tenant's influencers.
pub async fn list(
    store: &Store,
    tenant: &Tenant,
    page: &PageRequest,
) -> Result<Page<Stored<Influencer>>, ResourceError> {
    Ok(store.list_influencers(&tenant.id, page).await?)
}

/// Applies an Update's patch to the revision it names.
pub async fn update(
    store: &Store,
    tenant: &Tenant,
    Checked { request, invalid }: Checked<Update<InfluencerPatch>>,
) -> Result<Stored<Influencer>, ResourceError> {
    let current = request.current(store.get_influencer(&tenant.id, &request.id).await?)?;
    let mut spec = current.spec.clone();
    request.patch.apply(&mut spec);
    invalid.finish(spec.validate())?;
    Ok(store
        .update_influencer(&tenant.id, &request.id, current.revision, &spec)
        .await?)
}

/// Deletes an influencer.
pub async fn delete(store: &Store, tenant: &Tenant, request: Delete) -> Result<(), ResourceError> {
    Ok(store
        .delete_influencer(&tenant.id, &request.id, request.revision)
        .await?)
}
