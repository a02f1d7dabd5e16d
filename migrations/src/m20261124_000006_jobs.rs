//! Job runs, day claims and source pulls: what the scheduler did, which replica holds a
//! tenant's day, and how far each source's pull of a day got.
use crate::keys::{fk, index, pk, tenant_fk};
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
                    .table("job_runs")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("id", 64))
                    .col(string_len("job", 32))
                    .col(date("first_day"))
                    .col(date("last_day"))
                    .col(boolean("forced"))
                    .col(string_len("status", 16))
                    .col(string_len("owner", 128))
                    .col(timestamp_with_time_zone("lease_until"))
                    .col(boolean("cancel_requested"))
                    .col(timestamp_with_time_zone("create_time"))
                    .col(timestamp_with_time_zone_null("start_time"))
                    .col(timestamp_with_time_zone_null("end_time"))
                    .col(big_integer("rows_pulled"))
                    .col(text_null("error"))
                    // Steps and per-source results as JSON: read whole, never queried into.
                    .col(text("report"))
                    .primary_key(&mut pk(&["id"]))
                    .foreign_key(&mut tenant_fk("job_runs"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_job_runs_created", "job_runs", &["create_time"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("job_days")
                    .col(string_len("tenant_id", 63))
                    .col(date("day"))
                    .col(string_len("status", 16))
                    .col(string_len("run_id", 64))
                    .col(string_len("owner", 128))
                    .col(timestamp_with_time_zone("lease_until"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("update_time"))
                    .primary_key(&mut pk(&["day"]))
                    .foreign_key(&mut tenant_fk("job_days"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("source_pulls")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("channel_id", 63))
                    .col(date("day"))
                    .col(string_len("status", 16))
                    .col(text_null("cursor"))
                    .col(text_null("totals"))
                    .col(big_integer("rows"))
                    .col(text_null("error"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("update_time"))
                    .primary_key(&mut pk(&["channel_id", "day"]))
                    // Pull bookkeeping must not keep a channel alive.
                    .foreign_key(&mut fk(
                        "source_pulls",
                        "channel_id",
                        "channels",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["source_pulls", "job_days", "job_runs"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
