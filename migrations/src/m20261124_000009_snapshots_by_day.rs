//! KPI snapshots stored day first: primary key (tenant, day, KPI, scope, segment).
//!
//! Ordered by series, a day's 111,884 rows of data set M landed on most leaf pages of the
//! key, so each recomputed day rewrote the whole index through the WAL and slowed as the
//! table grew (BENCHMARKS.md). Day first, a day's rows are one contiguous range: writing a
//! day appends, replacing it rewrites only its own pages. A series is read by one key
//! lookup per day. On SQLite the table is `WITHOUT ROWID`, so the key is the table and a
//! row is written once, not to a rowid table and an index.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 12] = [
    "tenant_id",
    "day",
    "kpi_id",
    "scope",
    "segment_id",
    "value",
    "reason",
    "numerator",
    "denominator",
    "definition_version",
    "run_id",
    "compute_time",
];

/// The snapshot table under `name`, keyed by `key`, columns as in migration 3; on SQLite,
/// `WITHOUT ROWID` when `key_is_table`.
fn snapshot_table(
    name: &'static str,
    key: &[&'static str],
    key_is_table: bool,
) -> TableCreateStatement {
    let mut primary = Index::create();
    for col in key {
        primary.col(*col);
    }
    let mut table = Table::create();
    table
        .table(name)
        .col(string_len("tenant_id", 63))
        .col(date("day"))
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
        .primary_key(&mut primary);
    if key_is_table {
        table.extra("WITHOUT ROWID");
    }
    table.to_owned()
}

/// Copies every row of `from` into `to`, in the order of `to`'s key, then puts `to` in
/// `from`'s place.
async fn move_rows(
    manager: &SchemaManager<'_>,
    from: &'static str,
    to: &'static str,
    key: &[&'static str],
) -> Result<(), DbErr> {
    let mut select = Query::select();
    select.columns(COLUMNS).from(from);
    for col in key {
        select.order_by(*col, Order::Asc);
    }
    let insert = Query::insert()
        .into_table(to)
        .columns(COLUMNS)
        .select_from(select)
        .map_err(|e| DbErr::Migration(e.to_string()))?
        .to_owned();
    manager.exec_stmt(insert).await?;
    manager
        .drop_table(Table::drop().table(from).to_owned())
        .await?;
    manager
        .rename_table(Table::rename().table(to, from).to_owned())
        .await
}

const DAY_FIRST: [&str; 5] = ["tenant_id", "day", "kpi_id", "scope", "segment_id"];
const SERIES_FIRST: [&str; 5] = ["tenant_id", "kpi_id", "scope", "segment_id", "day"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DatabaseBackend::Sqlite;
        manager
            .create_table(snapshot_table("kpi_snapshots_by_day", &DAY_FIRST, sqlite))
            .await?;
        // Dropping the old table drops its day index, which the new key makes redundant.
        move_rows(manager, "kpi_snapshots", "kpi_snapshots_by_day", &DAY_FIRST).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Migration 3 made a rowid table.
        manager
            .create_table(snapshot_table(
                "kpi_snapshots_by_series",
                &SERIES_FIRST,
                false,
            ))
            .await?;
        move_rows(
            manager,
            "kpi_snapshots",
            "kpi_snapshots_by_series",
            &SERIES_FIRST,
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
            .await
    }
}
