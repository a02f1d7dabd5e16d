//! Campaigns with their participants and giveaways.
use super::entities::{campaign, campaign_participant, giveaway, influencer};
use super::revisioned::{self, Resource};
use super::{Page, PageRequest, Result, StorageError, Store};
use crate::domain::Stored;
use crate::domain::campaign::{Campaign, Giveaway, Money, Participant};
use crate::domain::names::Collection;
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

impl Resource for campaign::Entity {
    type Spec = Campaign;
    const CREATE: &'static str = "CreateCampaign";

    async fn load(db: &impl ConnectionTrait, model: campaign::Model) -> Result<Stored<Campaign>> {
        let participants = campaign_participant::Entity::find()
            .filter(campaign_participant::Column::TenantId.eq(&model.tenant_id))
            .filter(campaign_participant::Column::CampaignId.eq(&model.id))
            .order_by_asc(campaign_participant::Column::Position)
            .all(db)
            .await?;
        let giveaways = giveaway::Entity::find()
            .filter(giveaway::Column::TenantId.eq(&model.tenant_id))
            .filter(giveaway::Column::CampaignId.eq(&model.id))
            .order_by_asc(giveaway::Column::Position)
            .all(db)
            .await?;
        Ok(Stored {
            id: model.id,
            revision: model.revision,
            create_time: model.create_time,
            update_time: model.update_time,
            spec: Campaign {
                display_name: model.display_name,
                start_date: model.start_date,
                end_date: model.end_date,
                participants: participants
                    .into_iter()
                    .map(|p| Participant {
                        influencer_id: p.influencer_id,
                        fee: Money {
                            currency: p.fee_currency,
                            minor_units: p.fee_minor,
                        },
                    })
                    .collect(),
                giveaways: giveaways
                    .into_iter()
                    .map(|g| Giveaway {
                        id: g.id,
                        display_name: g.display_name,
                        host: g.host_influencer_id,
                    })
                    .collect(),
            },
        })
    }

    /// Checks references, then replaces the participants and giveaways of a campaign.
    async fn write_children(
        db: &impl ConnectionTrait,
        tenant_id: &str,
        id: &str,
        spec: &Campaign,
    ) -> Result<()> {
        let referenced =
            spec.participants
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("participants[{i}].influencer"), &p.influencer_id))
                .chain(spec.giveaways.iter().enumerate().filter_map(|(i, g)| {
                    g.host.as_ref().map(|h| (format!("giveaways[{i}].host"), h))
                }));
        for (field, influencer_id) in referenced {
            if influencer::Entity::find_by_id((tenant_id.to_string(), influencer_id.clone()))
                .one(db)
                .await?
                .is_none()
            {
                return Err(StorageError::InvalidReference(
                    field,
                    format!(
                        "{} does not exist",
                        Collection::Influencers.name(influencer_id)
                    ),
                ));
            }
        }
        for g in &spec.giveaways {
            let other = giveaway::Entity::find_by_id((tenant_id.to_string(), g.id.clone()))
                .one(db)
                .await?;
            if let Some(other) = other.filter(|o| o.campaign_id != id) {
                return Err(StorageError::AlreadyExists(format!(
                    "giveaway `{}` already belongs to {}",
                    g.id,
                    Collection::Campaigns.name(&other.campaign_id)
                )));
            }
        }
        campaign_participant::Entity::delete_many()
            .filter(campaign_participant::Column::TenantId.eq(tenant_id))
            .filter(campaign_participant::Column::CampaignId.eq(id))
            .exec(db)
            .await?;
        // Giveaways are kept, not re-created: their entries refer to them.
        let kept: Vec<&str> = spec.giveaways.iter().map(|g| g.id.as_str()).collect();
        giveaway::Entity::delete_many()
            .filter(giveaway::Column::TenantId.eq(tenant_id))
            .filter(giveaway::Column::CampaignId.eq(id))
            .filter(giveaway::Column::Id.is_not_in(kept))
            .exec(db)
            .await?;
        for (position, p) in spec.participants.iter().enumerate() {
            campaign_participant::ActiveModel {
                tenant_id: Set(tenant_id.to_string()),
                campaign_id: Set(id.to_string()),
                influencer_id: Set(p.influencer_id.clone()),
                position: Set(position as i32),
                fee_currency: Set(p.fee.currency.clone()),
                fee_minor: Set(p.fee.minor_units),
            }
            .insert(db)
            .await?;
        }
        for (position, g) in spec.giveaways.iter().enumerate() {
            let model = giveaway::ActiveModel {
                tenant_id: Set(tenant_id.to_string()),
                id: Set(g.id.clone()),
                campaign_id: Set(id.to_string()),
                host_influencer_id: Set(g.host.clone()),
                display_name: Set(g.display_name.clone()),
                position: Set(position as i32),
            };
            giveaway::Entity::insert(model)
                .on_conflict(
                    OnConflict::columns([giveaway::Column::TenantId, giveaway::Column::Id])
                        .update_columns([
                            giveaway::Column::HostInfluencerId,
                            giveaway::Column::DisplayName,
                            giveaway::Column::Position,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }

    /// Goals measure it.
    async fn refuse_if_used(txn: &DatabaseTransaction, tenant_id: &str, id: &str) -> Result<()> {
        let name = Collection::Campaigns.name(id);
        super::goals::refuse_if_scope_used(txn, tenant_id, &name).await
    }
}

impl Store {
    /// Creates a campaign, or returns the one an earlier call with `request_id` made.
    pub async fn create_campaign(
        &self,
        tenant_id: &str,
        id: &str,
        spec: &Campaign,
        request_id: Option<&str>,
    ) -> Result<Stored<Campaign>> {
        let now = Utc::now();
        let row = campaign::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            id: Set(id.to_string()),
            display_name: Set(spec.display_name.clone()),
            start_date: Set(spec.start_date),
            end_date: Set(spec.end_date),
            revision: Set(1),
            create_time: Set(now),
            update_time: Set(now),
        };
        self.create_resource::<campaign::Entity>(tenant_id, id, spec, row, request_id)
            .await
    }

    /// Gets a campaign.
    pub async fn get_campaign(&self, tenant_id: &str, id: &str) -> Result<Stored<Campaign>> {
        revisioned::get::<campaign::Entity>(&self.db, tenant_id, id).await
    }

    /// Lists campaigns ordered by id.
    pub async fn list_campaigns(
        &self,
        tenant_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Stored<Campaign>>> {
        revisioned::list(&self.db, tenant_id, campaign::Entity::find(), page).await
    }

    /// Replaces a campaign's fields if its revision is still `revision`.
    pub async fn update_campaign(
        &self,
        tenant_id: &str,
        id: &str,
        revision: i64,
        spec: &Campaign,
    ) -> Result<Stored<Campaign>> {
        let columns = campaign::Entity::update_many()
            .col_expr(
                campaign::Column::DisplayName,
                spec.display_name.clone().into(),
            )
            .col_expr(campaign::Column::StartDate, spec.start_date.into())
            .col_expr(campaign::Column::EndDate, spec.end_date.into());
        self.update_resource(tenant_id, id, revision, spec, columns)
            .await
    }

    /// Deletes a campaign with its participants and giveaways, unless goals measure it.
    pub async fn delete_campaign(
        &self,
        tenant_id: &str,
        id: &str,
        revision: Option<i64>,
    ) -> Result<()> {
        self.delete_resource::<campaign::Entity>(tenant_id, id, revision)
            .await
    }
}
