//! Idempotent Create (AIP-155): a request_id remembers the resource its first call made.
use super::entities::idempotency_key;
use super::{Result, StorageError};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, DatabaseTransaction, EntityTrait, Set};

/// Claims `request_id` for `resource_name` inside the creating transaction. Returns the
/// name of the resource an earlier call with the same request_id created, if any.
pub(crate) async fn claim(
    txn: &DatabaseTransaction,
    tenant_id: &str,
    method: &str,
    request_id: Option<&str>,
    resource_name: &str,
) -> Result<Option<String>> {
    let Some(request_id) = request_id else {
        return Ok(None);
    };
    let key = (
        tenant_id.to_string(),
        method.to_string(),
        request_id.to_string(),
    );
    if let Some(found) = idempotency_key::Entity::find_by_id(key).one(txn).await? {
        return Ok(Some(found.resource_name));
    }
    idempotency_key::ActiveModel {
        tenant_id: Set(tenant_id.to_string()),
        method: Set(method.to_string()),
        request_id: Set(request_id.to_string()),
        resource_name: Set(resource_name.to_string()),
        create_time: Set(Utc::now()),
    }
    .insert(txn)
    .await
    .map_err(|e| match StorageError::from(e) {
        StorageError::Conflict(_) => StorageError::EtagMismatch(format!(
            "request_id `{request_id}` is used by a concurrent call; retry"
        )),
        other => other,
    })?;
    Ok(None)
}
