//! Segments.
use super::entities::{goal, segment};
use super::{Page, PageRequest, Result, StorageError, Store, idempotency};
use crate::domain::Stored;
use crate::domain::names::Collection;
use crate::domain::segment::Segment;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

fn to_domain(model: segment::Model) -> Stored<Segment> {
    Stored {
        id: model.id,
        revision: model.revision,
        create_time: model.create_time,
        update_time: model.update_time,
        spec: Segment {
            display_name: model.display_name,
            rule: model.rule,
        },
    }
}

impl Store {
    /// Creates a segment, or returns the one an earlier call with `request_id` made.
    pub async fn create_segment(
        &self,
        tenant_id: &str,
        id: &str,
        spec: &Segment,
        request_id: Option<&str>,
    ) -> Result<Stored<Segment>> {
        let txn = self.begin_write().await?;
        let name = Collection::Segments.name(id);
        if let Some(existing) =
            idempotency::claim(&txn, tenant_id, "CreateSegment", request_id, &name).await?
        {
            txn.rollback().await?;
            let existing = Collection::Segments
                .parse(&existing)
                .unwrap_or(id)
                .to_string();
            return self.get_segment(tenant_id, &existing).await;
        }
        if segment::Entity::find_by_id((tenant_id.to_string(), id.to_string()))
            .one(&txn)
            .await?
            .is_some()
        {
            return Err(StorageError::AlreadyExists(format!(
                "{name} already exists"
            )));
        }
        let now = Utc::now();
        let model = segment::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            id: Set(id.to_string()),
            display_name: Set(spec.display_name.clone()),
            rule: Set(spec.rule.clone()),
            revision: Set(1),
            create_time: Set(now),
            update_time: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(to_domain(model))
    }

    /// Gets a segment.
    pub async fn get_segment(&self, tenant_id: &str, id: &str) -> Result<Stored<Segment>> {
        segment::Entity::find_by_id((tenant_id.to_string(), id.to_string()))
            .one(&self.db)
            .await?
            .map(to_domain)
            .ok_or_else(|| StorageError::NotFound(Collection::Segments.name(id)))
    }

    /// Lists segments ordered by id.
    pub async fn list_segments(
        &self,
        tenant_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Stored<Segment>>> {
        let mut query = segment::Entity::find().filter(segment::Column::TenantId.eq(tenant_id));
        if let Some(after) = &page.after {
            query = query.filter(segment::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(segment::Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let page_rows = Page::from_rows(rows, page.limit);
        Ok(Page {
            items: page_rows.items.into_iter().map(to_domain).collect(),
            more: page_rows.more,
        })
    }

    /// Replaces a segment's fields if its revision is still `revision`.
    pub async fn update_segment(
        &self,
        tenant_id: &str,
        id: &str,
        revision: i64,
        spec: &Segment,
    ) -> Result<Stored<Segment>> {
        let name = Collection::Segments.name(id);
        let updated = segment::Entity::update_many()
            .col_expr(
                segment::Column::DisplayName,
                spec.display_name.clone().into(),
            )
            .col_expr(segment::Column::Rule, spec.rule.clone().into())
            .col_expr(segment::Column::Revision, (revision + 1).into())
            .col_expr(segment::Column::UpdateTime, Utc::now().into())
            .filter(segment::Column::TenantId.eq(tenant_id))
            .filter(segment::Column::Id.eq(id))
            .filter(segment::Column::Revision.eq(revision))
            .exec(&self.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(StorageError::EtagMismatch(name));
        }
        self.get_segment(tenant_id, id).await
    }

    /// Deletes a segment unless goals use it.
    pub async fn delete_segment(
        &self,
        tenant_id: &str,
        id: &str,
        revision: Option<i64>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        let name = Collection::Segments.name(id);
        let current = segment::Entity::find_by_id((tenant_id.to_string(), id.to_string()))
            .one(&txn)
            .await?
            .ok_or_else(|| StorageError::NotFound(name.clone()))?;
        if revision.is_some_and(|r| r != current.revision) {
            return Err(StorageError::EtagMismatch(name));
        }
        let goals = goal::Entity::find()
            .filter(goal::Column::TenantId.eq(tenant_id))
            .filter(goal::Column::SegmentId.eq(id))
            .order_by_asc(goal::Column::Id)
            .all(&txn)
            .await?;
        if !goals.is_empty() {
            let names: Vec<String> = goals
                .iter()
                .map(|g| Collection::Goals.name(&g.id))
                .collect();
            return Err(StorageError::FailedPrecondition(format!(
                "{name} is still used by {}; remove it from them first",
                names.join(", ")
            )));
        }
        segment::Entity::delete_by_id((tenant_id.to_string(), id.to_string()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}
