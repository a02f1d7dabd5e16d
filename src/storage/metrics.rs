//! Reads for the operational metrics: cheap aggregates over all tenants, never per-row.
use super::entities::kpi_snapshot_day;
use super::{Result, Store};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{EntityTrait, QueryOrder, QuerySelect};

impl Store {
    /// Per tenant with snapshots, the compute time of its newest snapshot row, by tenant:
    /// one `GROUP BY tenant_id` over `kpi_snapshot_days`, a row per tenant and day, the
    /// same statement on SQLite and PostgreSQL.
    pub async fn newest_snapshot_times(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        use kpi_snapshot_day::Column as C;
        Ok(kpi_snapshot_day::Entity::find()
            .select_only()
            .column(C::TenantId)
            .expr_as(Expr::col(C::ComputeTime).max(), "newest")
            .group_by(C::TenantId)
            .order_by_asc(C::TenantId)
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}
