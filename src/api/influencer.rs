//! InfluencerService.
use super::Api;
use super::convert::{self, Pager};
use super::crud::{Resource, Updating};
use super::error::{ApiError, Problems};
use crate::domain::Stored;
use crate::domain::influencer::{Influencer, TrackingValue};
use crate::domain::names::Collection;
use crate::proto;
use crate::proto::influencer_service_server::InfluencerService;
use tonic::{Request, Response, Status};

const INFLUENCER: Resource = Resource {
    field: "influencer",
    collection: Collection::Influencers,
    updatable: &["display_name", "tags", "discount_codes", "tracking_values"],
};

fn to_proto(stored: &Stored<Influencer>) -> proto::Influencer {
    let s = &stored.spec;
    proto::Influencer {
        name: Collection::Influencers.name(&stored.id),
        display_name: s.display_name.clone(),
        tags: s.tags.clone(),
        discount_codes: s.discount_codes.clone(),
        tracking_values: s
            .tracking_values
            .iter()
            .map(|t| proto::TrackingValue {
                utm_source: t.utm_source.clone(),
                utm_campaign: t.utm_campaign.clone(),
            })
            .collect(),
        create_time: convert::timestamp(stored.create_time),
        update_time: convert::timestamp(stored.update_time),
        etag: stored.etag(),
    }
}

fn tracking(values: &[proto::TrackingValue]) -> Vec<TrackingValue> {
    values
        .iter()
        .map(|t| TrackingValue {
            utm_source: t.utm_source.clone(),
            utm_campaign: t.utm_campaign.clone(),
        })
        .collect()
}

fn from_proto(msg: &proto::Influencer) -> Influencer {
    Influencer {
        display_name: msg.display_name.clone(),
        tags: msg.tags.clone(),
        discount_codes: msg.discount_codes.clone(),
        tracking_values: tracking(&msg.tracking_values),
    }
}

fn set_fields(msg: &proto::Influencer) -> Vec<&'static str> {
    let mut set = Vec::new();
    if !msg.display_name.is_empty() {
        set.push("display_name");
    }
    if !msg.tags.is_empty() {
        set.push("tags");
    }
    if !msg.discount_codes.is_empty() {
        set.push("discount_codes");
    }
    if !msg.tracking_values.is_empty() {
        set.push("tracking_values");
    }
    set
}

#[tonic::async_trait]
impl InfluencerService for Api {
    async fn create_influencer(
        &self,
        request: Request<proto::CreateInfluencerRequest>,
    ) -> Result<Response<proto::Influencer>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        let mut problems = Problems::default();
        let id = problems.or(
            convert::new_id(&req.influencer_id, "influencer_id", Collection::Influencers),
            String::new(),
        );
        let request_id = problems.or(convert::request_id(&req.request_id), None);
        let msg = problems.required(req.influencer, "influencer");
        let mut spec = from_proto(&msg);
        problems.domain(spec.validate(), "influencer");
        problems.finish()?;
        let stored = self
            .store
            .create_influencer(&tenant.id, &id, &spec, request_id)
            .await
            .map_err(|e| ApiError::from_storage(e, "influencer"))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn get_influencer(
        &self,
        request: Request<proto::GetInfluencerRequest>,
    ) -> Result<Response<proto::Influencer>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = INFLUENCER.id(&request.get_ref().name)?;
        let stored = self
            .store
            .get_influencer(&tenant.id, id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn list_influencers(
        &self,
        request: Request<proto::ListInfluencersRequest>,
    ) -> Result<Response<proto::ListInfluencersResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let pager = Pager::new(req.page_size, &req.page_token, &[])?;
        let page = self
            .store
            .list_influencers(&tenant.id, pager.request())
            .await
            .map_err(ApiError::from)?;
        let next_page_token = pager.next_token(&page, page.items.last().map(|s| s.id.as_str()));
        Ok(Response::new(proto::ListInfluencersResponse {
            influencers: page.items.iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_influencer(
        &self,
        request: Request<proto::UpdateInfluencerRequest>,
    ) -> Result<Response<proto::Influencer>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        let msg = INFLUENCER.required(req.influencer)?;
        let mut problems = Problems::default();
        let Updating { id, mask, current } = INFLUENCER
            .load_for_update(
                &mut problems,
                (&msg.name, &msg.etag),
                req.update_mask.as_ref(),
                || set_fields(&msg),
                |id| self.store.get_influencer(&tenant.id, id),
            )
            .await?;
        let mut spec = current.spec.clone();
        if mask.has("display_name") {
            spec.display_name = msg.display_name.clone();
        }
        if mask.has("tags") {
            spec.tags = msg.tags.clone();
        }
        if mask.has("discount_codes") {
            spec.discount_codes = msg.discount_codes.clone();
        }
        if mask.has("tracking_values") {
            spec.tracking_values = tracking(&msg.tracking_values);
        }
        spec.validate()
            .map_err(|e| ApiError::from_domain(e, "influencer"))?;
        let stored = self
            .store
            .update_influencer(&tenant.id, id, current.revision, &spec)
            .await
            .map_err(|e| ApiError::from_storage(e, "influencer"))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn delete_influencer(
        &self,
        request: Request<proto::DeleteInfluencerRequest>,
    ) -> Result<Response<()>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        INFLUENCER
            .delete((&req.name, &req.etag), |id, revision| {
                self.store.delete_influencer(&tenant.id, id, revision)
            })
            .await
    }
}
