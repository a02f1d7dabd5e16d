//! Channels.
use super::entities::{channel, influencer};
use super::revisioned::{self, Creating};
use super::{Page, PageRequest, Result, StorageError, Store};
use crate::domain::Stored;
use crate::domain::channel::{Channel, Platform};
use crate::domain::names::Collection;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

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

/// Checks the owner exists and that no other channel has the same platform account.
async fn check_refs(
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

impl Store {
    /// Creates a channel, or returns the one an earlier call with `request_id` made.
    pub async fn create_channel(
        &self,
        tenant_id: &str,
        id: &str,
        spec: &Channel,
        request_id: Option<&str>,
    ) -> Result<Stored<Channel>> {
        let txn = match self
            .begin_create::<channel::Entity>(tenant_id, "CreateChannel", id, request_id)
            .await?
        {
            Creating::New(txn) => txn,
            Creating::Made(existing) => return self.get_channel(tenant_id, &existing).await,
        };
        check_refs(&txn, tenant_id, id, spec).await?;
        let now = Utc::now();
        let model = channel::ActiveModel {
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
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        to_domain(model)
    }

    /// Gets a channel.
    pub async fn get_channel(&self, tenant_id: &str, id: &str) -> Result<Stored<Channel>> {
        to_domain(revisioned::find::<channel::Entity>(&self.db, tenant_id, id).await?)
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
        let rows = revisioned::page(&self.db, tenant_id, query, page).await?;
        Ok(Page {
            items: rows
                .items
                .into_iter()
                .map(to_domain)
                .collect::<Result<_>>()?,
            more: rows.more,
        })
    }

    /// Replaces a channel's fields if its revision is still `revision`.
    pub async fn update_channel(
        &self,
        tenant_id: &str,
        id: &str,
        revision: i64,
        spec: &Channel,
    ) -> Result<Stored<Channel>> {
        let txn = self.begin_write().await?;
        check_refs(&txn, tenant_id, id, spec).await?;
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
        revisioned::save(&txn, tenant_id, id, revision, columns).await?;
        let model = revisioned::find::<channel::Entity>(&txn, tenant_id, id).await?;
        txn.commit().await?;
        to_domain(model)
    }

    /// Deletes a channel unless goals still measure it.
    pub async fn delete_channel(
        &self,
        tenant_id: &str,
        id: &str,
        revision: Option<i64>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        revisioned::for_delete::<channel::Entity>(&txn, tenant_id, id, revision).await?;
        let name = Collection::Channels.name(id);
        super::goals::refuse_if_scope_used(&txn, tenant_id, &name).await?;
        revisioned::remove::<channel::Entity>(&txn, tenant_id, id).await?;
        txn.commit().await?;
        Ok(())
    }
}
