//! KPI snapshots: one row per (tenant, KPI, scope, segment, day), replaced a day at a time.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("kpi_snapshots")
                    .col(string_len("tenant_id", 63))
                    .col(date("day"))
                    .col(string_len("kpi_id", 128))
                    .col(string_len("scope", 200))
                    // Empty when the KPI takes no segment: NULL never collides in a key.
                    .col(string_len("segment_id", 63))
                    .col(double_null("value"))
                    .col(string_len_null("reason", 32))
                    .col(double_null("numerator"))
                    .col(double_null("denominator"))
                    .col(integer("definition_version"))
                    .col(string_len("run_id", 64))
                    .col(timestamp_with_time_zone("compute_time"))
                    .primary_key(
                        Index::create()
                            .col("tenant_id")
                            .col("kpi_id")
                            .col("scope")
                            .col("segment_id")
                            .col("day"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_kpi_snapshots_day")
                    .table("kpi_snapshots")
                    .col("tenant_id")
                    .col("day")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("kpi_snapshots").to_owned())
            .await
    }
}
