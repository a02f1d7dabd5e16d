//! ChannelService.
use super::Api;
use super::convert::{self, Pager};
use super::crud::Resource;
use super::error::{ApiError, Problems};
use crate::domain::Stored;
use crate::domain::channel::{Channel, Platform};
use crate::domain::names::Collection;
use crate::engine::resources::channels::{self, ChannelPatch};
use crate::engine::resources::{Checked, Create, Update};
use crate::proto;
use crate::proto::channel_service_server::ChannelService;
use crate::storage::channels::OwnerFilter;
use tonic::{Request, Response, Status};

const CHANNEL: Resource = Resource {
    field: "channel",
    id_field: "channel_id",
    collection: Collection::Channels,
    updatable: &["display_name", "owner", "account_id", "credentials_ref"],
};

fn platform_to_proto(platform: Platform) -> proto::Platform {
    match platform {
        Platform::Instagram => proto::Platform::Instagram,
        Platform::TikTok => proto::Platform::Tiktok,
        Platform::YouTube => proto::Platform::Youtube,
        Platform::X => proto::Platform::X,
        Platform::Facebook => proto::Platform::Facebook,
        Platform::LinkedIn => proto::Platform::Linkedin,
        Platform::Blog => proto::Platform::Blog,
        Platform::Website => proto::Platform::Website,
        Platform::Shopify => proto::Platform::Shopify,
    }
}

fn platform_from_proto(value: i32, field: &str) -> Result<Platform, ApiError> {
    match proto::Platform::try_from(value) {
        Ok(proto::Platform::Unspecified) => Err(ApiError::invalid(field, "is required")),
        Ok(proto::Platform::Instagram) => Ok(Platform::Instagram),
        Ok(proto::Platform::Tiktok) => Ok(Platform::TikTok),
        Ok(proto::Platform::Youtube) => Ok(Platform::YouTube),
        Ok(proto::Platform::X) => Ok(Platform::X),
        Ok(proto::Platform::Facebook) => Ok(Platform::Facebook),
        Ok(proto::Platform::Linkedin) => Ok(Platform::LinkedIn),
        Ok(proto::Platform::Blog) => Ok(Platform::Blog),
        Ok(proto::Platform::Website) => Ok(Platform::Website),
        Ok(proto::Platform::Shopify) => Ok(Platform::Shopify),
        Err(_) => Err(ApiError::invalid(
            field,
            format!("{value} is not a Platform value"),
        )),
    }
}

fn owner_from_proto(owner: &str, field: &str) -> Result<Option<String>, ApiError> {
    if owner.is_empty() {
        return Ok(None);
    }
    convert::parse_name(owner, field, Collection::Influencers).map(|id| Some(id.to_string()))
}

fn to_proto(stored: &Stored<Channel>) -> proto::Channel {
    let s = &stored.spec;
    proto::Channel {
        name: Collection::Channels.name(&stored.id),
        display_name: s.display_name.clone(),
        platform: platform_to_proto(s.platform) as i32,
        owner: s
            .owner
            .as_deref()
            .map(|o| Collection::Influencers.name(o))
            .unwrap_or_default(),
        account_id: s.account_id.clone(),
        credentials_ref: s.credentials_ref.clone(),
        create_time: convert::timestamp(stored.create_time),
        update_time: convert::timestamp(stored.update_time),
        etag: stored.etag(),
    }
}

fn set_fields(msg: &proto::Channel) -> Vec<&'static str> {
    [
        ("display_name", !msg.display_name.is_empty()),
        ("owner", !msg.owner.is_empty()),
        ("account_id", !msg.account_id.is_empty()),
        ("credentials_ref", !msg.credentials_ref.is_empty()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect()
}

impl TryFrom<proto::CreateChannelRequest> for Checked<Create<Channel>> {
    type Error = ApiError;

    fn try_from(req: proto::CreateChannelRequest) -> Result<Self, ApiError> {
        let mut problems = Problems::default();
        let ids = CHANNEL.create_ids(&mut problems, &req.channel_id, &req.request_id);
        let msg = problems.required(req.channel, "channel");
        let spec = Channel {
            display_name: msg.display_name.clone(),
            // The fallback only lets the other fields be checked; the call is refused.
            platform: problems.or(
                platform_from_proto(msg.platform, "channel.platform"),
                Platform::Blog,
            ),
            owner: problems.or(owner_from_proto(&msg.owner, "channel.owner"), None),
            account_id: msg.account_id.clone(),
            credentials_ref: msg.credentials_ref.clone(),
        };
        CHANNEL.create(ids, spec, problems)
    }
}

impl TryFrom<proto::UpdateChannelRequest> for Checked<Update<ChannelPatch>> {
    type Error = ApiError;

    fn try_from(req: proto::UpdateChannelRequest) -> Result<Self, ApiError> {
        let (msg, target, mut problems) = CHANNEL.updating(
            req.channel,
            req.update_mask.as_ref(),
            |m| (m.name.as_str(), m.etag.as_str()),
            set_fields,
        )?;
        let mask = &target.mask;
        // The platform is not updatable: when set, it is only compared with the stored one.
        let platform = if msg.platform != 0 {
            problems.take(platform_from_proto(msg.platform, "channel.platform"))
        } else {
            None
        };
        let owner = if mask.has("owner") {
            problems.take(owner_from_proto(&msg.owner, "channel.owner"))
        } else {
            None
        };
        let patch = ChannelPatch {
            platform,
            display_name: mask.has("display_name").then(|| msg.display_name.clone()),
            owner,
            account_id: mask.has("account_id").then(|| msg.account_id.clone()),
            credentials_ref: mask
                .has("credentials_ref")
                .then(|| msg.credentials_ref.clone()),
        };
        CHANNEL.update(target, patch, problems)
    }
}

/// The owner filter of a ListChannels request.
fn owner_filter(owner: &str) -> Result<OwnerFilter, ApiError> {
    Ok(match owner {
        "" => OwnerFilter::Any,
        "brand" => OwnerFilter::Brand,
        other => OwnerFilter::Influencer(
            convert::parse_name(other, "owner", Collection::Influencers)
                .map_err(|_| {
                    ApiError::invalid("owner", "must be empty, `brand` or `influencers/{id}`")
                })?
                .to_string(),
        ),
    })
}

#[tonic::async_trait]
impl ChannelService for Api {
    async fn create_channel(
        &self,
        request: Request<proto::CreateChannelRequest>,
    ) -> Result<Response<proto::Channel>, Status> {
        self.write(&CHANNEL, request, channels::create, to_proto)
            .await
    }

    async fn get_channel(
        &self,
        request: Request<proto::GetChannelRequest>,
    ) -> Result<Response<proto::Channel>, Status> {
        self.read(
            &CHANNEL,
            request,
            |r| r.name.as_str(),
            channels::get,
            to_proto,
        )
        .await
    }

    async fn list_channels(
        &self,
        request: Request<proto::ListChannelsRequest>,
    ) -> Result<Response<proto::ListChannelsResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let owner = owner_filter(&req.owner)?;
        let pager = Pager::new(req.page_size, &req.page_token, &[&req.owner])?;
        let page = channels::list(&self.store, &tenant, &owner, pager.request())
            .await
            .map_err(ApiError::from)?;
        let next_page_token = pager.next_token(&page, page.items.last().map(|s| s.id.as_str()));
        Ok(Response::new(proto::ListChannelsResponse {
            channels: page.items.iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_channel(
        &self,
        request: Request<proto::UpdateChannelRequest>,
    ) -> Result<Response<proto::Channel>, Status> {
        self.write(&CHANNEL, request, channels::update, to_proto)
            .await
    }

    async fn delete_channel(
        &self,
        request: Request<proto::DeleteChannelRequest>,
    ) -> Result<Response<()>, Status> {
        self.remove(
            &CHANNEL,
            request,
            |r| (r.name.as_str(), r.etag.as_str()),
            channels::delete,
        )
        .await
    }
}
