//! InfluencerService.
use super::Api;
use super::convert;
use super::crud::{Resource, resource_service};
use super::error::{ApiError, Problems};
use crate::domain::Stored;
use crate::domain::influencer::{Influencer, TrackingValue};
use crate::domain::names::Collection;
use crate::engine::resources::influencers::{self, InfluencerPatch};
use crate::engine::resources::{Checked, Create, Update};
use crate::proto;
use crate::proto::influencer_service_server::InfluencerService;

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
        let (msg, target, problems) = INFLUENCER.updating(
            req.influencer,
            req.update_mask.as_ref(),
            |m| (m.name.as_str(), m.etag.as_str()),
            set_fields,
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

resource_service! {
    InfluencerService for INFLUENCER, influencers, Influencer {
        create_influencer(CreateInfluencerRequest),
        get_influencer(GetInfluencerRequest),
        list_influencers(ListInfluencersRequest) -> ListInfluencersResponse { influencers },
        update_influencer(UpdateInfluencerRequest),
        delete_influencer(DeleteInfluencerRequest),
    }
}
