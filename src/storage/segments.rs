//! Segments.
use super::entities::{goal, segment};
use super::revisioned::{self, Resource};
use super::{Page, PageRequest, Result, Store};
use crate::domain::Stored;
use crate::domain::names::Collection;
use crate::domain::segment::Segment;
use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, Set};

impl Resource for segment::Entity {
    type Spec = Segment;
    const CREATE: &'static str = "CreateSegment";

    async fn load(_: &impl ConnectionTrait, model: segment::Model) -> Result<Stored<Segment>> {
        Ok(Stored {
            id: model.id,
            revision: model.revision,
            create_time: model.create_time,
            update_time: model.update_time,
            spec: Segment {
                display_name: model.display_name,
                rule: model.rule,
            },
        })
    }

    /// Goals use it.
    async fn refuse_if_used(txn: &DatabaseTransaction, tenant_id: &str, id: &str) -> Result<()> {
        let name = Collection::Segments.name(id);
        let condition = goal::Column::SegmentId.eq(id);
        super::goals::refuse_if_goals_use(txn, tenant_id, condition, &name).await
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
        let now = Utc::now();
        let row = segment::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            id: Set(id.to_string()),
            display_name: Set(spec.display_name.clone()),
            rule: Set(spec.rule.clone()),
            revision: Set(1),
            create_time: Set(now),
            update_time: Set(now),
        };
        self.create_resource::<segment::Entity>(tenant_id, id, spec, row, request_id)
            .await
    }

    /// Gets a segment.
    pub async fn get_segment(&self, tenant_id: &str, id: &str) -> Result<Stored<Segment>> {
        revisioned::get::<segment::Entity>(&self.db, tenant_id, id).await
    }

    /// Lists segments ordered by id.
    pub async fn list_segments(
        &self,
        tenant_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Stored<Segment>>> {
        revisioned::list(&self.db, tenant_id, segment::Entity::find(), page).await
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
        self.update_resource(tenant_id, id, revision, spec, columns)
            .await
    }

    /// Deletes a segment unless goals use it.
    pub async fn delete_segment(
        &self,
        tenant_id: &str,
        id: &str,
        revision: Option<i64>,
    ) -> Result<()> {
        self.delete_resource::<segment::Entity>(tenant_id, id, revision)
            .await
    }
}
