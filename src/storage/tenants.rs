//! Tenants and their API keys.
use super::entities::{api_key, tenant};
use super::{Result, StorageError, Store};
use crate::auth;
use crate::domain::tenant::{Tenant, TenantSettings};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

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

    /// Creates an API key for a tenant and returns `(key id, key)`; only the hash is kept.
    pub async fn create_api_key(&self, tenant_id: &str) -> Result<(String, String)> {
        self.get_tenant(tenant_id).await?;
        let key = auth::generate_key();
        let id = format!("k{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        api_key::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            id: Set(id.clone()),
            key_hash: Set(auth::hash_key(&key)),
            create_time: Set(Utc::now()),
            revoke_time: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok((id, key))
    }

    /// Revokes an API key by its id.
    pub async fn revoke_api_key(&self, tenant_id: &str, key_id: &str) -> Result<()> {
        let key = api_key::Entity::find_by_id((tenant_id.to_string(), key_id.to_string()))
            .one(&self.db)
            .await?
            .ok_or_else(|| {
                StorageError::NotFound(format!("key `{key_id}` of tenant `{tenant_id}`"))
            })?;
        let mut key: api_key::ActiveModel = key.into();
        key.revoke_time = Set(Some(Utc::now()));
        key.update(&self.db).await?;
        self.generations.key_revoked();
        Ok(())
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
