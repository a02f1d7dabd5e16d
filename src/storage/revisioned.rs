//! The mechanics every revisioned resource shares (influencers, channels, campaigns,
//! segments, goals; custom KPIs for lookup and the revision check of an Update):
//! idempotent Create, lookup by id, list paging, the revision check of an Update or
//! Delete, and the transaction of each. What a resource stores, what it refers to and
//! what may refer to it stays in its own repository ([`Resource`]).
use super::entities::{campaign, channel, custom_kpi, goal, influencer, segment};
use super::{Page, PageRequest, Result, StorageError, Store, idempotency};
use crate::domain::Stored;
use crate::domain::names::Collection;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Select, UpdateMany,
};

/// A table of resources a tenant names by id, whose rows carry a revision (the etag).
pub(crate) trait Revisioned: EntityTrait {
    /// The collection its names belong to.
    const COLLECTION: Collection;
    /// The tenant column.
    const TENANT_ID: Self::Column;
    /// The id column, also the order of lists.
    const ID: Self::Column;
    /// The revision column.
    const REVISION: Self::Column;
    /// The last update's time.
    const UPDATE_TIME: Self::Column;
    /// The revision of a row.
    fn revision(model: &Self::Model) -> i64;
}

macro_rules! revisioned {
    ($($entity:ident => $collection:ident),* $(,)?) => {$(
        impl Revisioned for $entity::Entity {
            const COLLECTION: Collection = Collection::$collection;
            const TENANT_ID: $entity::Column = $entity::Column::TenantId;
            const ID: $entity::Column = $entity::Column::Id;
            const REVISION: $entity::Column = $entity::Column::Revision;
            const UPDATE_TIME: $entity::Column = $entity::Column::UpdateTime;
            fn revision(model: &$entity::Model) -> i64 {
                model.revision
            }
        }
    )*};
}

revisioned!(
    influencer => Influencers,
    channel => Channels,
    campaign => Campaigns,
    segment => Segments,
    goal => Goals,
    custom_kpi => KpiDefinitions,
);

/// A revisioned table and the resource its rows hold: what one repository adds to the
/// shared mechanics.
pub(crate) trait Resource: Revisioned {
    /// The resource.
    type Spec: Sync;
    /// The name of its Create method, which a request id is claimed for.
    const CREATE: &'static str;

    /// The resource of a row, with what other tables hold of it.
    async fn load(db: &impl ConnectionTrait, model: Self::Model) -> Result<Stored<Self::Spec>>;

    /// Checks what `spec` refers to, before row `id` is written.
    async fn check(
        _db: &impl ConnectionTrait,
        _tenant_id: &str,
        _id: &str,
        _spec: &Self::Spec,
    ) -> Result<()> {
        Ok(())
    }

    /// Writes what other tables hold of `spec`, after row `id` is.
    async fn write_children(
        _db: &impl ConnectionTrait,
        _tenant_id: &str,
        _id: &str,
        _spec: &Self::Spec,
    ) -> Result<()> {
        Ok(())
    }

    /// Refuses to delete row `id` while other resources use it.
    async fn refuse_if_used(_txn: &DatabaseTransaction, _tenant_id: &str, _id: &str) -> Result<()> {
        Ok(())
    }
}

fn by_id<E: Revisioned>(tenant_id: &str, id: &str) -> Select<E> {
    E::find()
        .filter(E::TENANT_ID.eq(tenant_id))
        .filter(E::ID.eq(id))
}

/// The row `id` of the tenant, or NotFound naming it.
pub(crate) async fn find<E: Revisioned>(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    id: &str,
) -> Result<E::Model> {
    by_id::<E>(tenant_id, id)
        .one(db)
        .await?
        .ok_or_else(|| StorageError::NotFound(E::COLLECTION.name(id)))
}

/// The tenant's resource `id`, or NotFound naming it.
pub(crate) async fn get<E: Resource>(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    id: &str,
) -> Result<Stored<E::Spec>> {
    E::load(db, find::<E>(db, tenant_id, id).await?).await
}

/// One page of the tenant's resources that `query` selects, ordered by id.
pub(crate) async fn list<E: Resource>(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    query: Select<E>,
    page_request: &PageRequest,
) -> Result<Page<Stored<E::Spec>>> {
    let rows = page(db, tenant_id, query, page_request).await?;
    let mut items = Vec::with_capacity(rows.items.len());
    for row in rows.items {
        items.push(E::load(db, row).await?);
    }
    Ok(Page {
        items,
        more: rows.more,
    })
}

/// One page of the tenant's rows that `query` selects, ordered by id.
async fn page<E: Revisioned>(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    query: Select<E>,
    page: &PageRequest,
) -> Result<Page<E::Model>> {
    let mut query = query.filter(E::TENANT_ID.eq(tenant_id));
    if let Some(after) = &page.after {
        query = query.filter(E::ID.gt(after));
    }
    let rows = query
        .order_by_asc(E::ID)
        .limit(page.limit + 1)
        .all(db)
        .await?;
    Ok(Page::from_rows(rows, page.limit))
}

/// Writes the columns `update` sets to row `id` if its revision is still `revision`,
/// moving it to the next revision; EtagMismatch when another call got there first.
pub(crate) async fn save<E: Revisioned>(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    id: &str,
    revision: i64,
    update: UpdateMany<E>,
) -> Result<()> {
    let updated = update
        .col_expr(E::REVISION, (revision + 1).into())
        .col_expr(E::UPDATE_TIME, Utc::now().into())
        .filter(E::TENANT_ID.eq(tenant_id))
        .filter(E::ID.eq(id))
        .filter(E::REVISION.eq(revision))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(StorageError::EtagMismatch(E::COLLECTION.name(id)));
    }
    Ok(())
}

/// The row a Delete names, refusing when `revision` (its etag) is not the stored one.
async fn for_delete<E: Revisioned>(
    txn: &DatabaseTransaction,
    tenant_id: &str,
    id: &str,
    revision: Option<i64>,
) -> Result<E::Model> {
    let current = find::<E>(txn, tenant_id, id).await?;
    if revision.is_some_and(|r| r != E::revision(&current)) {
        return Err(StorageError::EtagMismatch(E::COLLECTION.name(id)));
    }
    Ok(current)
}

/// Deletes row `id` of the tenant.
async fn remove<E: Revisioned>(txn: &DatabaseTransaction, tenant_id: &str, id: &str) -> Result<()> {
    E::delete_many()
        .filter(E::TENANT_ID.eq(tenant_id))
        .filter(E::ID.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// FAILED_PRECONDITION: `name` cannot go while `users` (their names) use it.
pub(crate) fn still_used(name: &str, users: &[String]) -> StorageError {
    StorageError::FailedPrecondition(format!(
        "{name} is still used by {}; remove it from them first",
        users.join(", ")
    ))
}

/// How a Create goes on after [`Store::begin_create`].
pub(crate) enum Creating {
    /// Write the new row in this transaction and commit it.
    New(DatabaseTransaction),
    /// An earlier call with the same request_id made the resource with this id.
    Made(String),
}

impl Store {
    /// Creates resource `id` as `row` (checked and completed as [`Resource`] says), or
    /// returns the one an earlier call with `request_id` made.
    pub(crate) async fn create_resource<E: Resource>(
        &self,
        tenant_id: &str,
        id: &str,
        spec: &E::Spec,
        row: E::ActiveModel,
        request_id: Option<&str>,
    ) -> Result<Stored<E::Spec>>
    where
        E::Model: IntoActiveModel<E::ActiveModel>,
        E::ActiveModel: Send,
    {
        let txn = match self
            .begin_create::<E>(tenant_id, E::CREATE, id, request_id)
            .await?
        {
            Creating::New(txn) => txn,
            Creating::Made(existing) => return get::<E>(&self.db, tenant_id, &existing).await,
        };
        E::check(&txn, tenant_id, id, spec).await?;
        let model = row.insert(&txn).await?;
        E::write_children(&txn, tenant_id, id, spec).await?;
        let stored = E::load(&txn, model).await?;
        txn.commit().await?;
        Ok(stored)
    }

    /// Writes `columns` and what [`Resource::write_children`] adds to resource `id` if its
    /// revision is still `revision` (see [`save`]); the resource as it is then.
    pub(crate) async fn update_resource<E: Resource>(
        &self,
        tenant_id: &str,
        id: &str,
        revision: i64,
        spec: &E::Spec,
        columns: UpdateMany<E>,
    ) -> Result<Stored<E::Spec>> {
        let txn = self.begin_write().await?;
        E::check(&txn, tenant_id, id, spec).await?;
        save(&txn, tenant_id, id, revision, columns).await?;
        E::write_children(&txn, tenant_id, id, spec).await?;
        let stored = get::<E>(&txn, tenant_id, id).await?;
        txn.commit().await?;
        Ok(stored)
    }

    /// Deletes resource `id` if `revision` (its etag) is the stored one and nothing uses
    /// it ([`Resource::refuse_if_used`]).
    pub(crate) async fn delete_resource<E: Resource>(
        &self,
        tenant_id: &str,
        id: &str,
        revision: Option<i64>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        for_delete::<E>(&txn, tenant_id, id, revision).await?;
        E::refuse_if_used(&txn, tenant_id, id).await?;
        remove::<E>(&txn, tenant_id, id).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Begins the Create `method` of row `id`: claims `request_id` (AIP-155) and refuses an
    /// id the tenant already has.
    pub(crate) async fn begin_create<E: Revisioned>(
        &self,
        tenant_id: &str,
        method: &str,
        id: &str,
        request_id: Option<&str>,
    ) -> Result<Creating> {
        let txn = self.begin_write().await?;
        let name = E::COLLECTION.name(id);
        if let Some(existing) =
            idempotency::claim(&txn, tenant_id, method, request_id, &name).await?
        {
            txn.rollback().await?;
            let existing = E::COLLECTION.parse(&existing).unwrap_or(id).to_string();
            return Ok(Creating::Made(existing));
        }
        if by_id::<E>(tenant_id, id).one(&txn).await?.is_some() {
            return Err(StorageError::AlreadyExists(format!(
                "{name} already exists"
            )));
        }
        Ok(Creating::New(txn))
    }
}
