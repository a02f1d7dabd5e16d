//! Channels.
use super::entities::{channel, influencer};
use super::revisioned::{self, Resource};
use super::{Page, PageRequest, Result, StorageError, Store};
use crate::domain::Stored;
use crate::domain::channel::{Channel, Platform};
use crate::domain::names::Collection;
use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

/// Which channels a list returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerFilter {
    /// Every channel.
    Any,
    /// The brand's own channels.
    Brand,
    /// Channels of one influencer.
    Influencer(String),
}

impl Resource for channel::Entity {
    type Spec = Channel;
    const CREATE: &'static str = "CreateChannel";

    async fn load(_: &impl ConnectionTrait, model: channel::Model) -> Result<Stored<Channel>> {
        to_domain(model)
    }

    /// Checks the owner exists and that no other channel has the same platform account.
    async fn check(
        db: &impl ConnectionTrait,
        tenant_id: &str,
        id: &str,
        spec: &Channel,
    ) -> Result<()> {
        if let Some(owner) = &spec.owner
            && influencer::Entity::find_by_id((tenant_id.to_string(), owner.clone()))
                .one(db)
                .await?
                .is_none()
        {
            return Err(StorageError::InvalidReference(
                "owner".into(),
                format!("{} does not exist", Collection::Influencers.name(owner)),
            ));
        }
        let taken = channel::Entity::find()
            .filter(channel::Column::TenantId.eq(tenant_id))
            .filter(channel::Column::Platform.eq(spec.platform.as_str()))
            .filter(channel::Column::AccountId.eq(&spec.account_id))
            .filter(channel::Column::Id.ne(id))
            .one(db)
            .await?;
        if let Some(taken) = taken {
            return Err(StorageError::AlreadyExists(format!(
                "{} account `{}` is already {}",
                spec.platform.as_str(),
                spec.account_id,
                Collection::Channels.name(&taken.id)
            )));
        }
        Ok(())
    }

    /// Goals measure it.
    async fn refuse_if_used(txn: &DatabaseTransaction, tenant_id: &str, id: &str) -> Result<()> {
        let name = Collection::Channels.name(id);
        super::goals::refuse_if_scope_used(txn, tenant_id, &name).await
    }
}

fn to_domain(model: channel::Model) -> Result<Stored<Channel>> {
    let platform = Platform::parse(&model.platform).ok_or_else(|| {
        StorageError::Database(sea_orm::DbErr::Custom(format!(
            "unknown platform `{}` stored",
            model.platform
        )))
    })?;
    Ok(Stored {
        id: model.id,
        revision: model.revision,
        create_time: model.create_time,
        update_time: model.update_time,
        spec: Channel {
            display_name: model.display_name,
            platform,
            owner: model.owner_influencer_id,
            account_id: model.account_id,
            credentials_ref: model.credentials_ref,
        },
    })
}

impl Store {
    /// Creates a channel, or returns the one an earlier call with `request_id` made.
    pub async fn create_channel(
        &self,
        tenant_id: &str,
        id: &str,
        spec: &Channel,
        request_id: Option<&str>,
    ) -> Result<Stored<Channel>> {
        let now = Utc::now();
        let row = channel::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            id: Set(id.to_string()),
            display_name: Set(spec.display_name.clone()),
            platform: Set(spec.platform.as_str().to_string()),
            owner_influencer_id: Set(spec.owner.clone()),
            account_id: Set(spec.account_id.clone()),
            credentials_ref: Set(spec.credentials_ref.clone()),
            revision: Set(1),
            create_time: Set(now),
            update_time: Set(now),
        };
        self.create_resource::<channel::Entity>(tenant_id, id, spec, row, request_id)
            .await
    }

    /// Gets a channel.
    pub async fn get_channel(&self, tenant_id: &str, id: &str) -> Result<Stored<Channel>> {
        revisioned::get::<channel::Entity>(&self.db, tenant_id, id).await
    }

    /// Lists channels ordered by id.
    pub async fn list_channels(
        &self,
        tenant_id: &str,
        owner: &OwnerFilter,
        page: &PageRequest,
    ) -> Result<Page<Stored<Channel>>> {
        let query = match owner {
            OwnerFilter::Any => channel::Entity::find(),
            OwnerFilter::Brand => {
                channel::Entity::find().filter(channel::Column::OwnerInfluencerId.is_null())
            }
            OwnerFilter::Influencer(id) => {
                channel::Entity::find().filter(channel::Column::OwnerInfluencerId.eq(id))
            }
        };
        revisioned::list(&self.db, tenant_id, query, page).await
    }

    /// Replaces a channel's fields if its revision is still `revision`.
    pub async fn update_channel(
        &self,
        tenant_id: &str,
        id: &str,
        revision: i64,
        spec: &Channel,
    ) -> Result<Stored<Channel>> {
        let columns = channel::Entity::update_many()
            .col_expr(
                channel::Column::DisplayName,
                spec.display_name.clone().into(),
            )
            .col_expr(
                channel::Column::OwnerInfluencerId,
                spec.owner.clone().into(),
            )
            .col_expr(channel::Column::AccountId, spec.account_id.clone().into())
            .col_expr(
                channel::Column::CredentialsRef,
                spec.credentials_ref.clone().into(),
            );
        self.update_resource(tenant_id, id, revision, spec, columns)
            .await
    }

    /// Deletes a channel unless goals still measure it.
    pub async fn delete_channel(
        &self,
        tenant_id: &str,
        id: &str,
        revision: Option<i64>,
    ) -> Result<()> {
        self.delete_resource::<channel::Entity>(tenant_id, id, revision)
            .await
    }
}
