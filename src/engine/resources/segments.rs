//! Segments: a rule is stored only when it parses.
use super::{Checked, Create, Delete, ResourceError, Update};
use crate::domain::Stored;
use crate::domain::segment::Segment;
use crate::domain::tenant::Tenant;
use crate::storage::{Page, PageRequest, Store};

/// The fields an Update changes; None leaves a field as stored.
#[derive(Debug, Default)]
pub struct SegmentPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New rule.
    pub rule: Option<String>,
}

/// Creates a segment.
pub async fn create(
    store: &Store,
    tenant: &Tenant,
    Checked { request, invalid }: Checked<Create<Segment>>,
) -> Result<Stored<Segment>, ResourceError> {
    let spec = request.spec;
    invalid.finish(spec.validate())?;
    let request_id = request.request_id.as_deref();
    Ok(store
        .create_segment(&tenant.id, &request.id, &spec, request_id)
        .await?)
}

/// The segment `id`.
pub async fn get(
    store: &Store,
    tenant: &Tenant,
    id: &str,
) -> Result<Stored<Segment>, ResourceError> {
    Ok(store.get_segment(&tenant.id, id).await?)
}

/// One page of the tenant's segments.
pub async fn list(
    store: &Store,
    tenant: &Tenant,
    page: &PageRequest,
) -> Result<Page<Stored<Segment>>, ResourceError> {
    Ok(store.list_segments(&tenant.id, page).await?)
}

/// Applies an Update's patch to the revision it names.
pub async fn update(
    store: &Store,
    tenant: &Tenant,
    Checked { request, invalid }: Checked<Update<SegmentPatch>>,
) -> Result<Stored<Segment>, ResourceError> {
    let current = request.current(store.get_segment(&tenant.id, &request.id).await?)?;
    let mut spec = current.spec.clone();
    if let Some(v) = request.patch.display_name {
        spec.display_name = v;
    }
    if let Some(v) = request.patch.rule {
        spec.rule = v;
    }
    invalid.finish(spec.validate())?;
    Ok(store
        .update_segment(&tenant.id, &request.id, current.revision, &spec)
        .await?)
}

/// Deletes a segment.
pub async fn delete(store: &Store, tenant: &Tenant, request: Delete) -> Result<(), ResourceError> {
    Ok(store
        .delete_segment(&tenant.id, &request.id, request.revision)
        .await?)
}
