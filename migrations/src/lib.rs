//! Database migrations of Tally, one module per change, for SQLite and PostgreSQL alike.
//!
//! Every table carries `tenant_id`, and every primary key, unique constraint and foreign key
//! includes it, so the schema can later be distributed by tenant (Citus) unchanged.
pub use sea_orm_migration::prelude::*;

mod keys;
mod m20261124_000001_foundation;
mod m20261124_000002_observations;
mod m20261124_000003_snapshots;
mod m20261124_000004_custom_kpis;
mod m20261124_000005_orders_by_customer_day;
mod m20261124_000006_jobs;
mod m20261124_000007_goal_evaluations;
mod m20261124_000008_members_by_customer;
mod m20261124_000009_snapshots_by_day;
mod m20261124_000010_snapshot_days;
mod m20261207_000001_raw_responses;
mod m20261208_000001_unused_order_indexes;
mod m20261208_000010_compact_snapshots;
mod m20261208_000020_period_snapshots;
mod m20261209_000101_campaign_day_profits;
mod m20261210_002601_lift_pre_period;

pub use m20261208_000010_compact_snapshots::REASON_CODES as SNAPSHOT_REASON_CODES;

/// The ordered list of Tally's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_foundation::Migration),
            Box::new(m20261124_000002_observations::Migration),
            Box::new(m20261124_000003_snapshots::Migration),
            Box::new(m20261124_000004_custom_kpis::Migration),
            Box::new(m20261124_000005_orders_by_customer_day::Migration),
            Box::new(m20261124_000006_jobs::Migration),
            Box::new(m20261124_000007_goal_evaluations::Migration),
            Box::new(m20261124_000008_members_by_customer::Migration),
            Box::new(m20261124_000009_snapshots_by_day::Migration),
            Box::new(m20261124_000010_snapshot_days::Migration),
            Box::new(m20261207_000001_raw_responses::Migration),
            Box::new(m20261208_000001_unused_order_indexes::Migration),
            Box::new(m20261208_000010_compact_snapshots::Migration),
            Box::new(m20261208_000020_period_snapshots::Migration),
            Box::new(m20261209_000101_campaign_day_profits::Migration),
            Box::new(m20261210_002601_lift_pre_period::Migration),
        ]
    }
}
