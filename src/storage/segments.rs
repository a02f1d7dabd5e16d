//! Segments.
use super::entities::{goal, segment};
use super::revisioned::{self, Creating};
use super::{Page, PageRequest, Result, StorageError, Store};
use crate::domain::Stored;
use crate::domain::names::Collection;
use crate::domain::segment::Segment;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

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
        let txn = match self
            .begin_create::<segment::Entity>(tenant_id, "CreateSegment", id, request_id)
            .await?
        {
            Creating::New(txn) => txn,
            Creating::Made(existing) => return self.get_segment(tenant_id, &existing).await,
        };
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
        revisioned::find::<segment::Entity>(&self.db, tenant_id, id)
            .await
            .map(to_domain)
    }

    /// Lists segments ordered by id.
    pub async fn list_segments(
        &self,
        tenant_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Stored<Segment>>> {
        let rows = revisioned::page(&self.db, tenant_id, segment::Entity::find(), page).await?;
        Ok(Page {
            items: rows.items.into_iter().map(to_domain).collect(),
            more: rows.more,
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
        let columns = segment::Entity::update_many()
            .col_expr(
                segment::Column::DisplayName,
                spec.display_name.clone().into(),
            )
            .col_expr(segment::Column::Rule, spec.rule.clone().into());
        revisioned::save(&self.db, tenant_id, id, revision, columns).await?;
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
        revisioned::for_delete::<segment::Entity>(&txn, tenant_id, id, revision).await?;
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
        revisioned::remove::<segment::Entity>(&txn, tenant_id, id).await?;
        txn.commit().await?;
        Ok(())
    }
}
