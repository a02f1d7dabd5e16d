//! CampaignService.
use super::Api;
use super::convert;
use super::crud::{Resource, resource_service};
use super::error::{ApiError, Problems};
use crate::domain::Stored;
use crate::domain::campaign::{
    Campaign, Giveaway, MAX_GIVEAWAYS, MAX_PARTICIPANTS, Money, Participant,
};
use crate::domain::names::Collection;
use crate::engine::resources::campaigns::{self, CampaignPatch};
use crate::engine::resources::{Checked, Create, Update};
use crate::proto;
use crate::proto::campaign_service_server::CampaignService;

const CAMPAIGN: Resource = Resource {
    field: "campaign",
    id_field: "campaign_id",
    collection: Collection::Campaigns,
    updatable: &[
        "display_name",
        "start_date",
        "end_date",
        "participants",
        "giveaways",
    ],
};

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

/// The participants of a request, recording what is wrong with each. A list past its
/// limit is only counted: no element of it is read.
fn participants(values: &[proto::Participant], problems: &mut Problems) -> Vec<Participant> {
    if values.len() > MAX_PARTICIPANTS {
        problems.add(
            "campaign.participants",
            format!(
                "has {} participants; at most {MAX_PARTICIPANTS} are allowed",
                values.len()
            ),
        );
        return Vec::new();
    }
    values
        .iter()
        .enumerate()
        .map(|(i, p)| {
            // A bad element stays in the list with a fallback, so that the indexes the
            // domain rules report stay the request's; their word on it is left out.
            let field = format!("campaign.participants[{i}]");
            let influencer_id = problems.or(
                convert::parse_name(
                    &p.influencer,
                    &format!("{field}.influencer"),
                    Collection::Influencers,
                ),
                "",
            );
            let fee = match &p.fee {
                Some(fee) => Money {
                    currency: fee.currency_code.clone(),
                    minor_units: fee.minor_units,
                },
                None => {
                    problems.add(format!("{field}.fee"), "is required (it may be 0)");
                    Money {
                        currency: String::new(),
                        minor_units: 0,
                    }
                }
            };
            Participant {
                influencer_id: influencer_id.to_string(),
                fee,
            }
        })
        .collect()
}

/// The giveaways of a request, as [`participants`].
fn giveaways(values: &[proto::Giveaway], problems: &mut Problems) -> Vec<Giveaway> {
    if values.len() > MAX_GIVEAWAYS {
        problems.add(
            "campaign.giveaways",
            format!(
                "has {} giveaways; at most {MAX_GIVEAWAYS} are allowed",
                values.len()
            ),
        );
        return Vec::new();
    }
    values
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let host = if g.host.is_empty() {
                None
            } else {
                let field = format!("campaign.giveaways[{i}].host");
                problems
                    .take(convert::parse_name(
                        &g.host,
                        &field,
                        Collection::Influencers,
                    ))
                    .map(str::to_string)
            };
            Giveaway {
                id: g.giveaway_id.clone(),
                display_name: g.display_name.clone(),
                host,
            }
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

impl TryFrom<proto::CreateCampaignRequest> for Checked<Create<Campaign>> {
    type Error = ApiError;

    fn try_from(req: proto::CreateCampaignRequest) -> Result<Self, ApiError> {
        let mut problems = Problems::default();
        let ids = CAMPAIGN.create_ids(&mut problems, &req.campaign_id, &req.request_id);
        let msg = problems.required(req.campaign, "campaign");
        let start_date = problems.take(convert::parse_date(
            msg.start_date.as_ref(),
            "campaign.start_date",
        ));
        let end_date = problems.take(convert::parse_date(
            msg.end_date.as_ref(),
            "campaign.end_date",
        ));
        // A bad date stands in as the other one, so that no order rule fires on it.
        let fallback = start_date.or(end_date).unwrap_or_default();
        let spec = Campaign {
            display_name: msg.display_name.clone(),
            start_date: start_date.unwrap_or(fallback),
            end_date: end_date.unwrap_or(fallback),
            participants: participants(&msg.participants, &mut problems),
            giveaways: giveaways(&msg.giveaways, &mut problems),
        };
        CAMPAIGN.create(ids, spec, problems)
    }
}

impl TryFrom<proto::UpdateCampaignRequest> for Checked<Update<CampaignPatch>> {
    type Error = ApiError;

    fn try_from(req: proto::UpdateCampaignRequest) -> Result<Self, ApiError> {
        let (msg, target, mut problems) = CAMPAIGN.updating(
            req.campaign,
            req.update_mask.as_ref(),
            |m| (m.name.as_str(), m.etag.as_str()),
            set_fields,
        )?;
        let mask = &target.mask;
        // A field that does not convert is left out of the patch, keeping its stored value.
        let patch = CampaignPatch {
            display_name: mask.has("display_name").then(|| msg.display_name.clone()),
            start_date: mask
                .has("start_date")
                .then(|| {
                    problems.take(convert::parse_date(
                        msg.start_date.as_ref(),
                        "campaign.start_date",
                    ))
                })
                .flatten(),
            end_date: mask
                .has("end_date")
                .then(|| {
                    problems.take(convert::parse_date(
                        msg.end_date.as_ref(),
                        "campaign.end_date",
                    ))
                })
                .flatten(),
            participants: mask
                .has("participants")
                .then(|| participants(&msg.participants, &mut problems)),
            giveaways: mask
                .has("giveaways")
                .then(|| giveaways(&msg.giveaways, &mut problems)),
        };
        CAMPAIGN.update(target, patch, problems)
    }
}

resource_service! {
    CampaignService for CAMPAIGN, campaigns, Campaign {
        create_campaign(CreateCampaignRequest),
        get_campaign(GetCampaignRequest),
        list_campaigns(ListCampaignsRequest) -> ListCampaignsResponse { campaigns },
        update_campaign(UpdateCampaignRequest),
        delete_campaign(DeleteCampaignRequest),
    }

    async fn get_campaign_lift(
        &self,
        request: tonic::Request<proto::GetCampaignLiftRequest>,
    ) -> Result<tonic::Response<proto::CampaignLift>, tonic::Status> {
        super::lift::get_campaign_lift(self, request).await
    }
}
