//! Drops two indexes no KPI query uses, each of which cost every ingested order (or code)
//! one more B-tree insert (PostgreSQL's own COPY of 1,000,000 orders went from 36,831 to
//! 60,000 rows/s without `ix_orders_customer`, BENCHMARKS.md, ingest):
//! - `ix_orders_customer` (tenant, customer, placed_at, order id): EXPLAIN on PostgreSQL
//!   shows the order pass and the linked customers' first orders served as well by
//!   `ix_orders_customer_day` (tenant, customer, day), the order pass finishing with an
//!   incremental sort on the presorted customer;
//! - `ix_order_codes_code` (tenant, code key): codes are read only with their order,
//!   through the primary key.
use sea_orm_migration::prelude::*;

use crate::keys::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index, table, columns after tenant_id) of each dropped index, for down().
const DROPPED: [(&str, &str, &[&str]); 2] = [
    (
        "ix_orders_customer",
        "orders",
        &["customer_key", "placed_at", "order_id"],
    ),
    ("ix_order_codes_code", "order_codes", &["code_key"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in DROPPED {
            manager
                .drop_index(Index::drop().name(name).table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in DROPPED {
            manager
                .create_index(index(name, table, columns).if_not_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
