//! Stored WEEK and MONTH values (`kpi_period_snapshots`): every ISO week and calendar
//! month that holds a recomputed day is recomputed over its whole period with it, so a
//! full week or month is one key lookup instead of a live computation from observations
//! on every query. Keyed granularity and first day before the series, as the day table
//! is keyed day first: replacing a period's rows rewrites one contiguous range.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::keys::pk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = Table::create();
        table
            .table("kpi_period_snapshots")
            .col(string_len("tenant_id", 63))
            // `week` or `month`.
            .col(string_len("granularity", 8))
            .col(date("first_day"))
            .col(string_len("kpi_id", 128))
            .col(string_len("scope", 200))
            .col(string_len("segment_id", 63))
            .col(double_null("value"))
            .col(string_len_null("reason", 32))
            .col(double_null("numerator"))
            .col(double_null("denominator"))
            .col(integer("definition_version"))
            .col(string_len("run_id", 64))
            .col(timestamp_with_time_zone("compute_time"))
            .primary_key(&mut pk(&[
                "granularity",
                "first_day",
                "kpi_id",
                "scope",
                "segment_id",
            ]));
        if manager.get_database_backend() == DatabaseBackend::Sqlite {
            table.extra("WITHOUT ROWID");
        }
        manager.create_table(table.to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("kpi_period_snapshots").to_owned())
            .await
    }
}
