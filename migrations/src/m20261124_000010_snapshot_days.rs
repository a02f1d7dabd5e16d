//! When each tenant's snapshots of each day were last written. The snapshot-lag metric
//! reads this every 30 s instead of the newest compute time over every snapshot row: a
//! scan of 40 million rows a year on data set M.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::keys::pk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("kpi_snapshot_days")
                    .col(string_len("tenant_id", 63))
                    .col(date("day"))
                    .col(timestamp_with_time_zone("compute_time"))
                    .primary_key(&mut pk(&["day"]))
                    .to_owned(),
            )
            .await?;
        let written = Query::select()
            .column("tenant_id")
            .column("day")
            .expr(Expr::col("compute_time").max())
            .from("kpi_snapshots")
            .group_by_col("tenant_id")
            .group_by_col("day")
            .to_owned();
        let fill = Query::insert()
            .into_table("kpi_snapshot_days")
            .columns(["tenant_id", "day", "compute_time"])
            .select_from(written)
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        manager.exec_stmt(fill).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("kpi_snapshot_days").to_owned())
            .await
    }
}
