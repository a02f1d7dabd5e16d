//! Orders by (customer, day): the audience KPIs ask, for each follower linked to a
//! customer, whether that customer ordered on or before a day. Without this index SQLite
//! answered through the day index, scanning half the orders per follower (minutes instead
//! of under a second on 500,000 followers and 1,000,000 orders).
use sea_orm_migration::prelude::*;

use crate::keys::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                index("ix_orders_customer_day", "orders", &["customer_key", "day"])
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_orders_customer_day")
                    .table("orders")
                    .to_owned(),
            )
            .await
    }
}
