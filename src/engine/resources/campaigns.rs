//! Campaigns: their fields are checked against the tenant's currency.
use super::{Checked, Create, Delete, ResourceError, Update};
use crate::domain::Stored;
use crate::domain::campaign::{Campaign, Giveaway, Participant};
use crate::domain::tenant::Tenant;
use crate::storage::{Page, PageRequest, Store};
use chrono::NaiveDate;

/// The fields an Update changes; None leaves a field as stored.
#[derive(Debug, Default)]
pub struct CampaignPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New first day.
    pub start_date: Option<NaiveDate>,
    /// New last day.
    pub end_date: Option<NaiveDate>,
    /// New participants.
    pub participants: Option<Vec<Participant>>,
    /// New giveaways.
    pub giveaways: Option<Vec<Giveaway>>,
}

impl CampaignPatch {
    fn apply(self, spec: &mut Campaign) {
        if let Some(v) = self.display_name {
            spec.display_name = v;
        }
        if let Some(v) = self.start_date {
            spec.start_date = v;
        }
        if let Some(v) = self.end_date {
            spec.end_date = v;
        }
        if let Some(v) = self.participants {
            spec.participants = v;
        }
        if let Some(v) = self.giveaways {
            spec.giveaways = v;
        }
    }
}

/// Creates a campaign.
pub async fn create(
    store: &Store,
    tenant: &Tenant,
    Checked { request, invalid }: Checked<Create<Campaign>>,
) -> Result<Stored<Campaign>, ResourceError> {
    let mut spec = request.spec;
    invalid.finish(spec.validate(&tenant.settings.currency))?;
    let request_id = request.request_id.as_deref();
    Ok(store
        .create_campaign(&tenant.id, &request.id, &spec, request_id)
        .await?)
}

/// The campaign `id`.
pub async fn get(
    store: &Store,
    tenant: &Tenant,
    id: &str,
) -> Result<Stored<Campaign>, ResourceError> {
    Ok(store.get_campaign(&tenant.id, id).await?)
}

/// One page of the tenant's campaigns.
pub async fn list(
    store: &Store,
    tenant: &Tenant,
    page: &PageRequest,
) -> Result<Page<Stored<Campaign>>, ResourceError> {
    Ok(store.list_campaigns(&tenant.id, page).await?)
}

/// Applies an Update's patch to the revision it names.
pub async fn update(
    store: &Store,
    tenant: &Tenant,
    Checked { request, invalid }: Checked<Update<CampaignPatch>>,
) -> Result<Stored<Campaign>, ResourceError> {
    let current = request.current(store.get_campaign(&tenant.id, &request.id).await?)?;
    let mut spec = current.spec.clone();
    request.patch.apply(&mut spec);
    invalid.finish(spec.validate(&tenant.settings.currency))?;
    Ok(store
        .update_campaign(&tenant.id, &request.id, current.revision, &spec)
        .await?)
}

/// Deletes a campaign.
pub async fn delete(store: &Store, tenant: &Tenant, request: Delete) -> Result<(), ResourceError> {
    Ok(store
        .delete_campaign(&tenant.id, &request.id, request.revision)
        .await?)
}
