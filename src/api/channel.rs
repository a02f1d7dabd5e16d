//! ChannelService.
use super::Api;
use super::convert::{self, Pager};
use super::crud::{Resource, Updating};
use super::error::{ApiError, Problems};
use crate::domain::Stored;
use crate::domain::channel::{Channel, Platform};
use crate::domain::names::Collection;
use crate::proto;
use crate::proto::channel_service_server::ChannelService;
use crate::storage::channels::OwnerFilter;
use tonic::{Request, Response, Status};

const CHANNEL: Resource = Resource {
    field: "channel",
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

#[tonic::async_trait]
impl ChannelService for Api {
    async fn create_channel(
        &self,
        request: Request<proto::CreateChannelRequest>,
    ) -> Result<Response<proto::Channel>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        let mut problems = Problems::default();
        let id = problems.or(
            convert::new_id(&req.channel_id, "channel_id", Collection::Channels),
            String::new(),
        );
        let request_id = problems.or(convert::request_id(&req.request_id), None);
        let msg = problems.required(req.channel, "channel");
        let mut spec = Channel {
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
        problems.domain(spec.validate(), "channel");
        problems.finish()?;
        let stored = self
            .store
            .create_channel(&tenant.id, &id, &spec, request_id)
            .await
            .map_err(|e| ApiError::from_storage(e, "channel"))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn get_channel(
        &self,
        request: Request<proto::GetChannelRequest>,
    ) -> Result<Response<proto::Channel>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = CHANNEL.id(&request.get_ref().name)?;
        let stored = self
            .store
            .get_channel(&tenant.id, id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn list_channels(
        &self,
        request: Request<proto::ListChannelsRequest>,
    ) -> Result<Response<proto::ListChannelsResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let owner = match req.owner.as_str() {
            "" => OwnerFilter::Any,
            "brand" => OwnerFilter::Brand,
            other => OwnerFilter::Influencer(
                convert::parse_name(other, "owner", Collection::Influencers)
                    .map_err(|_| {
                        ApiError::invalid("owner", "must be empty, `brand` or `influencers/{id}`")
                    })?
                    .to_string(),
            ),
        };
        let pager = Pager::new(req.page_size, &req.page_token, &[&req.owner])?;
        let page = self
            .store
            .list_channels(&tenant.id, &owner, pager.request())
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
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        let msg = CHANNEL.required(req.channel)?;
        let mut problems = Problems::default();
        let Updating { id, mask, current } = CHANNEL
            .load_for_update(
                &mut problems,
                (&msg.name, &msg.etag),
                req.update_mask.as_ref(),
                || set_fields(&msg),
                |id| self.store.get_channel(&tenant.id, id),
            )
            .await?;
        if msg.platform != 0
            && problems
                .take(platform_from_proto(msg.platform, "channel.platform"))
                .is_some_and(|p| p != current.spec.platform)
        {
            problems.add(
                "channel.platform",
                "cannot change; create a new channel instead",
            );
        }
        let mut spec = current.spec.clone();
        if mask.has("display_name") {
            spec.display_name = msg.display_name.clone();
        }
        if mask.has("owner") {
            spec.owner = problems.or(owner_from_proto(&msg.owner, "channel.owner"), spec.owner);
        }
        if mask.has("account_id") {
            spec.account_id = msg.account_id.clone();
        }
        if mask.has("credentials_ref") {
            spec.credentials_ref = msg.credentials_ref.clone();
        }
        problems.domain(spec.validate(), "channel");
        problems.finish()?;
        let stored = self
            .store
            .update_channel(&tenant.id, id, current.revision, &spec)
            .await
            .map_err(|e| ApiError::from_storage(e, "channel"))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn delete_channel(
        &self,
        request: Request<proto::DeleteChannelRequest>,
    ) -> Result<Response<()>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        CHANNEL
            .delete((&req.name, &req.etag), |id, revision| {
                self.store.delete_channel(&tenant.id, id, revision)
            })
            .await
    }
}
