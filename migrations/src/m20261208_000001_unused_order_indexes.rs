//! Drops `ix_orders_customer` (tenant, customer, placed_at, order id). Every KPI query that
//! reads orders by customer is served by `ix_orders_customer_day` (tenant, customer, day),
//! whose prefix is the same; the wider index only cost every ingested order one more B-tree
//! insert (PostgreSQL's own COPY floor went from 36,831 to 60,000 rows/s without it,
//! BENCHMARKS.md, ingest).
use sea_orm_migration::prelude::*;

use crate::keys::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_orders_customer")
                    .table("orders")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                index(
                    "ix_orders_customer",
                    "orders",
                    &["customer_key", "placed_at", "order_id"],
                )
                .if_not_exists()
                .to_owned(),
            )
            .await
    }
}
