//! Channels.
use super::entities::{channel, influencer};
use super::{Page, PageRequest, Result, StorageError, Store, idempotency};
use crate::domain::Stored;
use crate::domain::channel::{Channel, Platform};
use crate::domain::names::Collection;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

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
        let txn = self.begin_write().await?;
        let name = Collection::Channels.name(id);
        if let Some(existing) =
            idempotency::claim(&txn, tenant_id, "CreateChannel", request_id, &name).await?
        {
            txn.rollback().await?;
            let existing = Collection::Channels
                .parse(&existing)
                .unwrap_or(id)
                .to_string();
            return self.get_channel(tenant_id, &existing).await;
        }
        if channel::Entity::find_by_id((tenant_id.to_string(), id.to_string()))
            .one(&txn)
            .await?
            .is_some()
        {
            return Err(StorageError::AlreadyExists(format!(
                "{name} already exists"
            )));
        }
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
        let model = channel::Entity::find_by_id((tenant_id.to_string(), id.to_string()))
            .one(&self.db)
            .await?
            .ok_or_else(|| StorageError::NotFound(Collection::Channels.name(id)))?;
        to_domain(model)
    }

    /// Lists channels ordered by id.
    pub async fn list_channels(
        &self,
        tenant_id: &str,
        owner: &OwnerFilter,
        page: &PageRequest,
    ) -> Result<Page<Stored<Channel>>> {
        let mut query = channel::Entity::find().filter(channel::Column::TenantId.eq(tenant_id));
        match owner {
            OwnerFilter::Any => {}
            OwnerFilter::Brand => {
                query = query.filter(channel::Column::OwnerInfluencerId.is_null())
            }
            OwnerFilter::Influencer(id) => {
                query = query.filter(channel::Column::OwnerInfluencerId.eq(id))
            }
        }
        if let Some(after) = &page.after {
            query = query.filter(channel::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(channel::Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let page_rows = Page::from_rows(rows, page.limit);
        Ok(Page {
            items: page_rows
                .items
                .into_iter()
                .map(to_domain)
                .collect::<Result<_>>()?,
            more: page_rows.more,
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
        let name = Collection::Channels.name(id);
        check_refs(&txn, tenant_id, id, spec).await?;
        let updated = channel::Entity::update_many()
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
            )
            .col_expr(channel::Column::Revision, (revision + 1).into())
            .col_expr(channel::Column::UpdateTime, Utc::now().into())
            .filter(channel::Column::TenantId.eq(tenant_id))
            .filter(channel::Column::Id.eq(id))
            .filter(channel::Column::Revision.eq(revision))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Err(StorageError::EtagMismatch(name));
        }
        let model = channel::Entity::find_by_id((tenant_id.to_string(), id.to_string()))
            .one(&txn)
            .await?
            .ok_or_else(|| StorageError::NotFound(name))?;
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
        let name = Collection::Channels.name(id);
        let current = channel::Entity::find_by_id((tenant_id.to_string(), id.to_string()))
            .one(&txn)
            .await?
            .ok_or_else(|| StorageError::NotFound(name.clone()))?;
        if revision.is_some_and(|r| r != current.revision) {
            return Err(StorageError::EtagMismatch(name));
        }
        super::goals::refuse_if_scope_used(&txn, tenant_id, &name).await?;
        channel::Entity::delete_by_id((tenant_id.to_string(), id.to_string()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}
