//! CampaignService.
use super::Api;
use super::convert::{self, Mask, Pager};
use super::error::ApiError;
use crate::domain::Stored;
use crate::domain::campaign::{Campaign, Giveaway, Money, Participant};
use crate::domain::names::Collection;
use crate::proto;
use crate::proto::campaign_service_server::CampaignService;
use tonic::{Request, Response, Status};

const UPDATABLE: &[&str] = &[
    "display_name",
    "start_date",
    "end_date",
    "participants",
    "giveaways",
];

fn to_proto(stored: &Stored<Campaign>) -> proto::Campaign {
    let s = &stored.spec;
    proto::Campaign {
        name: Collection::Campaigns.name(&stored.id),
        display_name: s.display_name.clone(),
        start_date: convert::date(s.start_date),
        end_date: convert::date(s.end_date),
        participants: s
            .participants
            .iter()
            .map(|p| proto::Participant {
                influencer: Collection::Influencers.name(&p.influencer_id),
                fee: Some(proto::Money {
                    currency_code: p.fee.currency.clone(),
                    minor_units: p.fee.minor_units,
                }),
            })
            .collect(),
        giveaways: s
            .giveaways
            .iter()
            .map(|g| proto::Giveaway {
                giveaway_id: g.id.clone(),
                display_name: g.display_name.clone(),
                host: g
                    .host
                    .as_deref()
                    .map(|h| Collection::Influencers.name(h))
                    .unwrap_or_default(),
            })
            .collect(),
        create_time: convert::timestamp(stored.create_time),
        update_time: convert::timestamp(stored.update_time),
        etag: stored.etag(),
    }
}

fn participants(values: &[proto::Participant]) -> Result<Vec<Participant>, ApiError> {
    values
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let field = format!("campaign.participants[{i}]");
            let influencer_id = convert::parse_name(
                &p.influencer,
                &format!("{field}.influencer"),
                Collection::Influencers,
            )?;
            let fee = p.fee.as_ref().ok_or_else(|| {
                ApiError::invalid(format!("{field}.fee"), "is required (it may be 0)")
            })?;
            Ok(Participant {
                influencer_id: influencer_id.to_string(),
                fee: Money {
                    currency: fee.currency_code.clone(),
                    minor_units: fee.minor_units,
                },
            })
        })
        .collect()
}

fn giveaways(values: &[proto::Giveaway]) -> Result<Vec<Giveaway>, ApiError> {
    values
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let host = if g.host.is_empty() {
                None
            } else {
                let field = format!("campaign.giveaways[{i}].host");
                Some(convert::parse_name(&g.host, &field, Collection::Influencers)?.to_string())
            };
            Ok(Giveaway {
                id: g.giveaway_id.clone(),
                display_name: g.display_name.clone(),
                host,
            })
        })
        .collect()
}

fn set_fields(msg: &proto::Campaign) -> Vec<&'static str> {
    [
        ("display_name", !msg.display_name.is_empty()),
        ("start_date", msg.start_date.is_some()),
        ("end_date", msg.end_date.is_some()),
        ("participants", !msg.participants.is_empty()),
        ("giveaways", !msg.giveaways.is_empty()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect()
}

#[tonic::async_trait]
impl CampaignService for Api {
    async fn create_campaign(
        &self,
        request: Request<proto::CreateCampaignRequest>,
    ) -> Result<Response<proto::Campaign>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        let id = convert::new_id(&req.campaign_id, "campaign_id", Collection::Campaigns)?;
        let request_id = convert::request_id(&req.request_id)?;
        let msg = req
            .campaign
            .ok_or_else(|| ApiError::invalid("campaign", "is required"))?;
        let mut spec = Campaign {
            display_name: msg.display_name.clone(),
            start_date: convert::parse_date(msg.start_date.as_ref(), "campaign.start_date")?,
            end_date: convert::parse_date(msg.end_date.as_ref(), "campaign.end_date")?,
            participants: participants(&msg.participants)?,
            giveaways: giveaways(&msg.giveaways)?,
        };
        spec.validate(&tenant.settings.currency)
            .map_err(|e| ApiError::from_domain(e, "campaign"))?;
        let stored = self
            .store
            .create_campaign(&tenant.id, &id, &spec, request_id)
            .await
            .map_err(|e| ApiError::from_storage(e, "campaign"))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn get_campaign(
        &self,
        request: Request<proto::GetCampaignRequest>,
    ) -> Result<Response<proto::Campaign>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = convert::parse_name(&request.get_ref().name, "name", Collection::Campaigns)?;
        let stored = self
            .store
            .get_campaign(&tenant.id, id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn list_campaigns(
        &self,
        request: Request<proto::ListCampaignsRequest>,
    ) -> Result<Response<proto::ListCampaignsResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let pager = Pager::new(req.page_size, &req.page_token, &[])?;
        let page = self
            .store
            .list_campaigns(&tenant.id, pager.request())
            .await
            .map_err(ApiError::from)?;
        let next_page_token = pager.next_token(&page, page.items.last().map(|s| s.id.as_str()));
        Ok(Response::new(proto::ListCampaignsResponse {
            campaigns: page.items.iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_campaign(
        &self,
        request: Request<proto::UpdateCampaignRequest>,
    ) -> Result<Response<proto::Campaign>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        let msg = req
            .campaign
            .ok_or_else(|| ApiError::invalid("campaign", "is required"))?;
        let id = convert::parse_name(&msg.name, "campaign.name", Collection::Campaigns)?;
        let etag = convert::etag(&msg.etag, "campaign.etag")?;
        let mask = Mask::read(req.update_mask.as_ref(), UPDATABLE, || set_fields(&msg))?;
        let current = self
            .store
            .get_campaign(&tenant.id, id)
            .await
            .map_err(ApiError::from)?;
        if etag.is_some_and(|r| r != current.revision) {
            return Err(ApiError::from(crate::storage::StorageError::EtagMismatch(
                msg.name.clone(),
            ))
            .into());
        }
        let mut spec = current.spec.clone();
        if mask.has("display_name") {
            spec.display_name = msg.display_name.clone();
        }
        if mask.has("start_date") {
            spec.start_date = convert::parse_date(msg.start_date.as_ref(), "campaign.start_date")?;
        }
        if mask.has("end_date") {
            spec.end_date = convert::parse_date(msg.end_date.as_ref(), "campaign.end_date")?;
        }
        if mask.has("participants") {
            spec.participants = participants(&msg.participants)?;
        }
        if mask.has("giveaways") {
            spec.giveaways = giveaways(&msg.giveaways)?;
        }
        spec.validate(&tenant.settings.currency)
            .map_err(|e| ApiError::from_domain(e, "campaign"))?;
        let stored = self
            .store
            .update_campaign(&tenant.id, id, current.revision, &spec)
            .await
            .map_err(|e| ApiError::from_storage(e, "campaign"))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn delete_campaign(
        &self,
        request: Request<proto::DeleteCampaignRequest>,
    ) -> Result<Response<()>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let id = convert::parse_name(&req.name, "name", Collection::Campaigns)?;
        let etag = convert::etag(&req.etag, "etag")?;
        self.store
            .delete_campaign(&tenant.id, id, etag)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(()))
    }
}
