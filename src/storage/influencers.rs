//! Influencers with their discount codes and tracking values.
use super::entities::{
    campaign_participant, channel, discount_code, giveaway, goal, influencer, tracking_value,
};
use super::revisioned::{self, Resource, still_used};
use super::{Page, PageRequest, Result, StorageError, Store};
use crate::domain::Stored;
use crate::domain::influencer::{Influencer, TrackingValue, code_key};
use crate::domain::names::Collection;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

impl Resource for influencer::Entity {
    type Spec = Influencer;
    const CREATE: &'static str = "CreateInfluencer";

    async fn load(
        db: &impl ConnectionTrait,
        model: influencer::Model,
    ) -> Result<Stored<Influencer>> {
        let codes = discount_code::Entity::find()
            .filter(discount_code::Column::TenantId.eq(&model.tenant_id))
            .filter(discount_code::Column::InfluencerId.eq(&model.id))
            .order_by_asc(discount_code::Column::Position)
            .all(db)
            .await?;
        let tracking = tracking_value::Entity::find()
            .filter(tracking_value::Column::TenantId.eq(&model.tenant_id))
            .filter(tracking_value::Column::InfluencerId.eq(&model.id))
            .order_by_asc(tracking_value::Column::Position)
            .all(db)
            .await?;
        Ok(Stored {
            id: model.id,
            revision: model.revision,
            create_time: model.create_time,
            update_time: model.update_time,
            spec: Influencer {
                display_name: model.display_name,
                tags: serde_json::from_str(&model.tags).unwrap_or_default(),
                discount_codes: codes.into_iter().map(|c| c.code).collect(),
                tracking_values: tracking
                    .into_iter()
                    .map(|t| TrackingValue {
                        utm_source: t.utm_source,
                        utm_campaign: t.utm_campaign,
                    })
                    .collect(),
            },
        })
    }

    /// Writes the codes and tracking values of an influencer, replacing any it had, after
    /// checking that no other influencer of the tenant holds them.
    async fn write_children(
        db: &impl ConnectionTrait,
        tenant_id: &str,
        id: &str,
        spec: &Influencer,
    ) -> Result<()> {
        let keys: Vec<String> = spec.discount_codes.iter().map(|c| code_key(c)).collect();
        if !keys.is_empty() {
            let taken = discount_code::Entity::find()
                .filter(discount_code::Column::TenantId.eq(tenant_id))
                .filter(discount_code::Column::CodeKey.is_in(keys.clone()))
                .filter(discount_code::Column::InfluencerId.ne(id))
                .one(db)
                .await?;
            if let Some(taken) = taken {
                return Err(StorageError::AlreadyExists(format!(
                    "discount code `{}` already belongs to {}",
                    taken.code,
                    Collection::Influencers.name(&taken.influencer_id)
                )));
            }
        }
        for tv in &spec.tracking_values {
            let (source, campaign) = tv.key();
            let taken = tracking_value::Entity::find()
                .filter(tracking_value::Column::TenantId.eq(tenant_id))
                .filter(tracking_value::Column::SourceKey.eq(source))
                .filter(tracking_value::Column::CampaignKey.eq(campaign))
                .filter(tracking_value::Column::InfluencerId.ne(id))
                .one(db)
                .await?;
            if let Some(taken) = taken {
                return Err(StorageError::AlreadyExists(format!(
                    "tracking value utm_source `{}` utm_campaign `{}` already belongs to {}",
                    tv.utm_source,
                    tv.utm_campaign,
                    Collection::Influencers.name(&taken.influencer_id)
                )));
            }
        }
        discount_code::Entity::delete_many()
            .filter(discount_code::Column::TenantId.eq(tenant_id))
            .filter(discount_code::Column::InfluencerId.eq(id))
            .exec(db)
            .await?;
        tracking_value::Entity::delete_many()
            .filter(tracking_value::Column::TenantId.eq(tenant_id))
            .filter(tracking_value::Column::InfluencerId.eq(id))
            .exec(db)
            .await?;
        for (position, (code, key)) in spec.discount_codes.iter().zip(keys).enumerate() {
            discount_code::ActiveModel {
                tenant_id: Set(tenant_id.to_string()),
                code_key: Set(key),
                code: Set(code.clone()),
                influencer_id: Set(id.to_string()),
                position: Set(position as i32),
            }
            .insert(db)
            .await?;
        }
        for (position, tv) in spec.tracking_values.iter().enumerate() {
            let (source_key, campaign_key) = tv.key();
            tracking_value::ActiveModel {
                tenant_id: Set(tenant_id.to_string()),
                source_key: Set(source_key),
                campaign_key: Set(campaign_key),
                utm_source: Set(tv.utm_source.clone()),
                utm_campaign: Set(tv.utm_campaign.clone()),
                influencer_id: Set(id.to_string()),
                position: Set(position as i32),
            }
            .insert(db)
            .await?;
        }
        Ok(())
    }

    /// Goals, campaigns, giveaways or channels use it.
    async fn refuse_if_used(txn: &DatabaseTransaction, tenant_id: &str, id: &str) -> Result<()> {
        let name = Collection::Influencers.name(id);
        let mut users: Vec<String> = Vec::new();
        let goals = goal::Entity::find()
            .filter(goal::Column::TenantId.eq(tenant_id))
            .filter(goal::Column::Scope.eq(&name))
            .order_by_asc(goal::Column::Id)
            .all(txn)
            .await?;
        users.extend(goals.into_iter().map(|g| Collection::Goals.name(&g.id)));
        let participations = campaign_participant::Entity::find()
            .filter(campaign_participant::Column::TenantId.eq(tenant_id))
            .filter(campaign_participant::Column::InfluencerId.eq(id))
            .order_by_asc(campaign_participant::Column::CampaignId)
            .all(txn)
            .await?;
        users.extend(
            participations
                .into_iter()
                .map(|p| Collection::Campaigns.name(&p.campaign_id)),
        );
        let hosted = giveaway::Entity::find()
            .filter(giveaway::Column::TenantId.eq(tenant_id))
            .filter(giveaway::Column::HostInfluencerId.eq(id))
            .all(txn)
            .await?;
        users.extend(
            hosted
                .into_iter()
                .map(|g| Collection::Campaigns.name(&g.campaign_id)),
        );
        let channels = channel::Entity::find()
            .filter(channel::Column::TenantId.eq(tenant_id))
            .filter(channel::Column::OwnerInfluencerId.eq(id))
            .order_by_asc(channel::Column::Id)
            .all(txn)
            .await?;
        users.extend(
            channels
                .into_iter()
                .map(|c| Collection::Channels.name(&c.id)),
        );
        users.dedup();
        if !users.is_empty() {
            return Err(still_used(&name, &users));
        }
        Ok(())
    }
}

impl Store {
    /// Creates an influencer, or returns the one an earlier call with `request_id` made.
    pub async fn create_influencer(
        &self,
        tenant_id: &str,
        id: &str,
        spec: &Influencer,
        request_id: Option<&str>,
    ) -> Result<Stored<Influencer>> {
        let now = Utc::now();
        let row = influencer::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            id: Set(id.to_string()),
            display_name: Set(spec.display_name.clone()),
            tags: Set(serde_json::to_string(&spec.tags).unwrap_or_else(|_| "[]".into())),
            revision: Set(1),
            create_time: Set(now),
            update_time: Set(now),
        };
        self.create_resource::<influencer::Entity>(tenant_id, id, spec, row, request_id)
            .await
    }

    /// Gets an influencer.
    pub async fn get_influencer(&self, tenant_id: &str, id: &str) -> Result<Stored<Influencer>> {
        revisioned::get::<influencer::Entity>(&self.db, tenant_id, id).await
    }

    /// Lists influencers ordered by id.
    pub async fn list_influencers(
        &self,
        tenant_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Stored<Influencer>>> {
        revisioned::list(&self.db, tenant_id, influencer::Entity::find(), page).await
    }

    /// Replaces an influencer's fields if its revision is still `revision`.
    pub async fn update_influencer(
        &self,
        tenant_id: &str,
        id: &str,
        revision: i64,
        spec: &Influencer,
    ) -> Result<Stored<Influencer>> {
        let columns = influencer::Entity::update_many()
            .col_expr(
                influencer::Column::DisplayName,
                spec.display_name.clone().into(),
            )
            .col_expr(
                influencer::Column::Tags,
                serde_json::to_string(&spec.tags)
                    .unwrap_or_else(|_| "[]".into())
                    .into(),
            );
        self.update_resource(tenant_id, id, revision, spec, columns)
            .await
    }

    /// Deletes an influencer unless goals, campaigns, giveaways or channels still use it.
    pub async fn delete_influencer(
        &self,
        tenant_id: &str,
        id: &str,
        revision: Option<i64>,
    ) -> Result<()> {
        self.delete_resource::<influencer::Entity>(tenant_id, id, revision)
            .await
    }
}
