//! InfluencerService.
use super::Api;
use super::convert::{self, Pager};
use super::crud::Resource;
use super::error::{ApiError, Problems};
use crate::domain::Stored;
use crate::domain::influencer::{Influencer, TrackingValue};
use crate::domain::names::Collection;
use crate::engine::resources::influencers::{self, InfluencerPatch};
use crate::engine::resources::{Checked, Create, Update};
use crate::proto;
use crate::proto::influencer_service_server::InfluencerService;
use tonic::{Request, Response, Status};

const INFLUENCER: Resource = Resource {
    field: "influencer",
    id_field: "influencer_id",
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

impl TryFrom<proto::CreateInfluencerRequest> for Checked<Create<Influencer>> {
    type Error = ApiError;

    fn try_from(req: proto::CreateInfluencerRequest) -> Result<Self, ApiError> {
        let mut problems = Problems::default();
        let ids = INFLUENCER.create_ids(&mut problems, &req.influencer_id, &req.request_id);
        let msg = problems.required(req.influencer, "influencer");
        INFLUENCER.create(ids, from_proto(&msg), problems)
    }
}

impl TryFrom<proto::UpdateInfluencerRequest> for Checked<Update<InfluencerPatch>> {
    type Error = ApiError;

    fn try_from(req: proto::UpdateInfluencerRequest) -> Result<Self, ApiError> {
        let msg = INFLUENCER.required(req.influencer)?;
        let mut problems = Problems::default();
        let target = INFLUENCER.target(
            &mut problems,
            (&msg.name, &msg.etag),
            req.update_mask.as_ref(),
            || set_fields(&msg),
        )?;
        let mask = &target.mask;
        let patch = InfluencerPatch {
            display_name: mask.has("display_name").then(|| msg.display_name.clone()),
            tags: mask.has("tags").then(|| msg.tags.clone()),
            discount_codes: mask
                .has("discount_codes")
                .then(|| msg.discount_codes.clone()),
            tracking_values: mask
                .has("tracking_values")
                .then(|| tracking(&msg.tracking_values)),
        };
        INFLUENCER.update(target, patch, problems)
    }
}

#[tonic::async_trait]
impl InfluencerService for Api {
    async fn create_influencer(
        &self,
        request: Request<proto::CreateInfluencerRequest>,
    ) -> Result<Response<proto::Influencer>, Status> {
        let tenant = self.tenant(&request).await?;
        let create = request.into_inner().try_into()?;
        let stored = influencers::create(&self.store, &tenant, create)
            .await
            .map_err(|e| ApiError::from_resource(e, INFLUENCER.field))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn get_influencer(
        &self,
        request: Request<proto::GetInfluencerRequest>,
    ) -> Result<Response<proto::Influencer>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = INFLUENCER.id(&request.get_ref().name)?;
        let stored = influencers::get(&self.store, &tenant, id)
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
        let page = influencers::list(&self.store, &tenant, pager.request())
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
        let update = request.into_inner().try_into()?;
        let stored = influencers::update(&self.store, &tenant, update)
            .await
            .map_err(|e| ApiError::from_resource(e, INFLUENCER.field))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn delete_influencer(
        &self,
        request: Request<proto::DeleteInfluencerRequest>,
    ) -> Result<Response<()>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let delete = INFLUENCER.delete(&req.name, &req.etag)?;
        influencers::delete(&self.store, &tenant, delete)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(()))
    }
}
