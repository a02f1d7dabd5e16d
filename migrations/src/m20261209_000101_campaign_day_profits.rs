//! Each campaign's daily profit (`campaign_day_profits`): Σ (revenue − cost of goods) of
//! the orders placed on a day that are attributed to the campaign's influencers, in minor
//! units, NULL on a day outside the campaign's order window. A recompute run writes a day's
//! rows with the day's snapshots, in the same transaction.
//!
//! `profit_per_visitor` at campaign scope counts orders over `[start, end + order window]`
//! but fees and visitors over `[start, end]`, so in the order tail its daily value is
//! `outside_campaign` and holds no numerator: the stored days alone cannot compose a
//! longer period. With these rows they can (fees and visitors are stored daily), instead
//! of a live pass over the period's orders and their customers' histories.
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
            .table("campaign_day_profits")
            .col(string_len("tenant_id", 63))
            .col(date("day"))
            .col(string_len("campaign_id", 63))
            .col(big_integer_null("profit_minor"))
            // Day first, as the daily snapshots: a day's rows are replaced together.
            .primary_key(&mut pk(&["day", "campaign_id"]));
        if manager.get_database_backend() == DatabaseBackend::Sqlite {
            table.extra("WITHOUT ROWID");
        }
        manager.create_table(table.to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("campaign_day_profits").to_owned())
            .await
    }
}
