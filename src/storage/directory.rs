//! Loads the tenant's structure for KPI computation.
use super::entities::{
    campaign, campaign_participant, channel, giveaway, influencer, tracking_value,
};
use super::{Result, Store};
use crate::kpi::directory::{CampaignInfo, Directory, TrackingPair};
use crate::kpi::period::Period;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

impl Store {
    /// The tenant's channels, influencers, tracking values, campaigns and giveaways.
    pub async fn directory(&self, tenant_id: &str) -> Result<Directory> {
        let tenant = self.get_tenant(tenant_id).await?;
        let mut dir = Directory::default();
        dir.settings = tenant.settings;
        for c in channel::Entity::find()
            .filter(channel::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?
        {
            dir.channels.insert(c.id, c.owner_influencer_id);
        }
        for i in influencer::Entity::find()
            .filter(influencer::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?
        {
            dir.influencers.insert(i.id);
        }
        for t in tracking_value::Entity::find()
            .filter(tracking_value::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?
        {
            dir.add_tracking(TrackingPair {
                source: t.source_key,
                campaign: t.campaign_key,
                influencer: t.influencer_id,
            });
        }
        for c in campaign::Entity::find()
            .filter(campaign::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?
        {
            let window = Period::new(c.start_date, c.end_date).unwrap_or(Period::day(c.start_date));
            dir.campaigns.insert(
                c.id,
                CampaignInfo {
                    window,
                    fees: Default::default(),
                    giveaways: Default::default(),
                },
            );
        }
        for p in campaign_participant::Entity::find()
            .filter(campaign_participant::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?
        {
            if let Some(c) = dir.campaigns.get_mut(&p.campaign_id) {
                c.fees.insert(p.influencer_id, p.fee_minor);
            }
        }
        for g in giveaway::Entity::find()
            .filter(giveaway::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?
        {
            if let Some(c) = dir.campaigns.get_mut(&g.campaign_id) {
                c.giveaways.insert(g.id.clone());
            }
            dir.giveaway_hosts.insert(g.id, g.host_influencer_id);
        }
        Ok(dir)
    }
}
