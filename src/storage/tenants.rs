//! Tenants and their API keys.
use super::entities::{api_key, tenant};
use super::{Page, PageRequest, Result, StorageError, Store};
use crate::auth;
use crate::domain::tenant::{Tenant, TenantSettings};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// A tenant as stored, with its creation time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRecord {
    /// The tenant.
    pub tenant: Tenant,
    /// When it was created.
    pub create_time: DateTime<Utc>,
}

/// An API key as stored, without its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Tenant id.
    pub tenant_id: String,
    /// Key id.
    pub id: String,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoke_time: Option<DateTime<Utc>>,
}

fn key_record(model: api_key::Model) -> ApiKeyRecord {
    ApiKeyRecord {
        tenant_id: model.tenant_id,
        id: model.id,
        create_time: model.create_time,
        revoke_time: model.revoke_time,
    }
}

fn record(model: tenant::Model) -> TenantRecord {
    let create_time = model.create_time;
    TenantRecord {
        tenant: to_domain(model),
        create_time,
    }
}

fn to_domain(model: tenant::Model) -> Tenant {
    Tenant {
        id: model.id,
        display_name: model.display_name,
        settings: TenantSettings {
            time_zone: model.time_zone,
            currency: model.currency,
            order_window_days: model.order_window_days,
            returning_window_days: model.returning_window_days,
            trailing_days: model.trailing_days,
            lift_pre_period_days: model.lift_pre_period_days,
        },
    }
}

impl Store {
    /// Creates a tenant.
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        if tenant::Entity::find_by_id(tenant.id.clone())
            .one(&self.db)
            .await?
            .is_some()
        {
            return Err(StorageError::AlreadyExists(format!(
                "tenant `{}` already exists",
                tenant.id
            )));
        }
        let s = &tenant.settings;
        tenant::ActiveModel {
            id: Set(tenant.id.clone()),
            display_name: Set(tenant.display_name.clone()),
            time_zone: Set(s.time_zone.clone()),
            currency: Set(s.currency.clone()),
            order_window_days: Set(s.order_window_days),
            returning_window_days: Set(s.returning_window_days),
            trailing_days: Set(s.trailing_days),
            lift_pre_period_days: Set(s.lift_pre_period_days),
            create_time: Set(Utc::now()),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Gets a tenant.
    pub async fn get_tenant(&self, id: &str) -> Result<Tenant> {
        tenant::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(to_domain)
            .ok_or_else(|| StorageError::NotFound(format!("tenant `{id}`")))
    }

    /// Gets a tenant with its creation time.
    pub async fn get_tenant_record(&self, id: &str) -> Result<TenantRecord> {
        tenant::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(record)
            .ok_or_else(|| StorageError::NotFound(format!("tenant `{id}`")))
    }

    /// One page of every tenant, ordered by id.
    pub async fn list_tenants(&self, page: &PageRequest) -> Result<Page<TenantRecord>> {
        let mut query = tenant::Entity::find();
        if let Some(after) = &page.after {
            query = query.filter(tenant::Column::Id.gt(after.as_str()));
        }
        let rows = query
            .order_by_asc(tenant::Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let page_of_rows = Page::from_rows(rows, page.limit);
        Ok(Page {
            items: page_of_rows.items.into_iter().map(record).collect(),
            more: page_of_rows.more,
        })
    }

    /// Replaces a tenant's settings (already validated) and returns it.
    pub async fn update_tenant_settings(
        &self,
        id: &str,
        settings: &TenantSettings,
    ) -> Result<TenantRecord> {
        let updated = tenant::Entity::update_many()
            .col_expr(tenant::Column::TimeZone, settings.time_zone.clone().into())
            .col_expr(tenant::Column::Currency, settings.currency.clone().into())
            .col_expr(
                tenant::Column::OrderWindowDays,
                settings.order_window_days.into(),
            )
            .col_expr(
                tenant::Column::ReturningWindowDays,
                settings.returning_window_days.into(),
            )
            .col_expr(tenant::Column::TrailingDays, settings.trailing_days.into())
            .col_expr(
                tenant::Column::LiftPrePeriodDays,
                settings.lift_pre_period_days.into(),
            )
            .filter(tenant::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(StorageError::NotFound(format!("tenant `{id}`")));
        }
        // The read cache holds each key's tenant with its settings, and answers whose
        // `is_final` follows them: new generations make this replica read both again at
        // once (others within the cache's time-to-live).
        self.generations.key_revoked();
        self.generations.tenant_written(id);
        self.get_tenant_record(id).await
    }

    /// Creates an API key for a tenant and returns `(key id, key)`; only the hash is kept.
    pub async fn create_api_key(&self, tenant_id: &str) -> Result<(String, String)> {
        let (record, key) = self.new_api_key(tenant_id).await?;
        Ok((record.id, key))
    }

    /// Creates an API key for a tenant and returns it with the key itself, which is shown
    /// once: only its hash is kept.
    pub async fn new_api_key(&self, tenant_id: &str) -> Result<(ApiKeyRecord, String)> {
        self.get_tenant(tenant_id).await?;
        let key = auth::generate_key();
        let id = format!("k{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let model = api_key::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            id: Set(id.clone()),
            key_hash: Set(auth::hash_key(&key)),
            create_time: Set(Utc::now()),
            revoke_time: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok((key_record(model), key))
    }

    /// One page of a tenant's API keys, revoked ones included, ordered by id.
    pub async fn list_api_keys(
        &self,
        tenant_id: &str,
        page: &PageRequest,
    ) -> Result<Page<ApiKeyRecord>> {
        self.get_tenant(tenant_id).await?;
        let mut query = api_key::Entity::find().filter(api_key::Column::TenantId.eq(tenant_id));
        if let Some(after) = &page.after {
            query = query.filter(api_key::Column::Id.gt(after.as_str()));
        }
        let rows = query
            .order_by_asc(api_key::Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let page_of_rows = Page::from_rows(rows, page.limit);
        Ok(Page {
            items: page_of_rows.items.into_iter().map(key_record).collect(),
            more: page_of_rows.more,
        })
    }

    /// Revokes an API key by its id; a revoked key keeps its first revoke time.
    pub async fn revoke_api_key(&self, tenant_id: &str, key_id: &str) -> Result<ApiKeyRecord> {
        let key = api_key::Entity::find_by_id((tenant_id.to_string(), key_id.to_string()))
            .one(&self.db)
            .await?
            .ok_or_else(|| {
                StorageError::NotFound(format!("key `{key_id}` of tenant `{tenant_id}`"))
            })?;
        if key.revoke_time.is_some() {
            return Ok(key_record(key));
        }
        let mut key: api_key::ActiveModel = key.into();
        key.revoke_time = Set(Some(Utc::now()));
        let key = key.update(&self.db).await?;
        self.generations.key_revoked();
        Ok(key_record(key))
    }

    /// The tenant of an active API key, or None for an unknown or revoked key.
    pub async fn authenticate(&self, key: &str) -> Result<Option<Tenant>> {
        self.authenticate_hash(&auth::hash_key(key)).await
    }

    /// [`Store::authenticate`] for a key already hashed with [`auth::hash_key`].
    pub async fn authenticate_hash(&self, hash: &str) -> Result<Option<Tenant>> {
        let Some(found) = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(hash))
            .filter(api_key::Column::RevokeTime.is_null())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        // The index lookup already matched; the constant-time compare keeps the final
        // decision free of early-exit timing.
        if !auth::hashes_equal(&found.key_hash, hash) {
            return Ok(None);
        }
        Ok(Some(self.get_tenant(&found.tenant_id).await?))
    }
}
