//! Reads for the operational metrics: cheap aggregates over all tenants, never per-row.
use super::entities::kpi_snapshot;
use super::{Result, Store};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{EntityTrait, QueryOrder, QuerySelect};

impl Store {
    /// Per tenant with snapshots, the compute time of its newest snapshot row, by tenant:
    /// one `GROUP BY tenant_id` over `kpi_snapshots` (served by its primary key's leading
    /// column), the same statement on SQLite and PostgreSQL.
    pub async fn newest_snapshot_times(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        Ok(kpi_snapshot::Entity::find()
            .select_only()
            .column(kpi_snapshot::Column::TenantId)
            .expr_as(Expr::col(kpi_snapshot::Column::ComputeTime).max(), "newest")
            .group_by(kpi_snapshot::Column::TenantId)
            .order_by_asc(kpi_snapshot::Column::TenantId)
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}
