//! Compact snapshots: a series table, narrow value rows, and the run of each day's KPI.
//!
//! The wide row of migration 9 carried the tenant, KPI, scope and segment as text, a
//! 64-character run id, a definition version and a compute time on each of data set M's
//! 40.8 million rows a year. Now:
//! - `kpi_series` numbers each (KPI, scope, segment, grain) of a tenant once;
//! - `kpi_values` holds (tenant, day, series) → value, reason code, numerator,
//!   denominator, keyed day first as before (on SQLite `WITHOUT ROWID`);
//! - `kpi_value_runs` holds the run id and definition version of each (tenant, day, KPI,
//!   grain): a day is always written whole or a set of whole KPIs at a time, so every row
//!   of one day and KPI shares them, and a replaced day can keep its unchanged rows while
//!   they report the new run;
//! - the compute time stays in `kpi_snapshot_days` (migration 10);
//! - `kpi_snapshots` is a view of the wide row's columns over these, for reading by hand.
//!
//! The grain (`DAY` here) lets week and month rows share the tables later.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::keys::pk;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The stored code of each reason name. Codes are never reused or renumbered: a new reason
/// takes the next one.
pub const REASON_CODES: [(&str, i16); 5] = [
    ("no_data", 1),
    ("zero_denominator", 2),
    ("outside_campaign", 3),
    ("not_reported", 4),
    ("overflow", 5),
];

/// `CASE column WHEN from THEN to ... END` over the reason codes, `names_to_codes` giving
/// the direction; an unknown name reads as no reason, as it did before.
fn reason_case(column: &str, names_to_codes: bool) -> String {
    let mut sql = format!("CASE {column}");
    for (name, code) in REASON_CODES {
        if names_to_codes {
            sql.push_str(&format!(" WHEN '{name}' THEN {code}"));
        } else {
            sql.push_str(&format!(" WHEN {code} THEN '{name}'"));
        }
    }
    sql.push_str(" END");
    sql
}

/// The day-first wide table of migration 9.
fn wide_table(sqlite: bool) -> TableCreateStatement {
    let mut table = Table::create();
    table
        .table("kpi_snapshots")
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
        .primary_key(&mut pk(&["day", "kpi_id", "scope", "segment_id"]));
    if sqlite {
        table.extra("WITHOUT ROWID");
    }
    table.to_owned()
}

/// The wide row's columns, of the wide row's types, over the compact tables: each row with
/// its series, its day and KPI's run, and its day's compute time (the compute time was the
/// day's, as a day's rows were written in one transaction).
///
/// The run and the compute time are correlated subqueries, each one primary-key lookup per
/// row, rather than joins: without statistics (autovacuum off, or a table just written)
/// PostgreSQL estimated one row per join and nested the runs table outside the values,
/// reading a test's 10,000 values once per run row (minutes for a few thousand rows).
fn wide_select() -> String {
    format!(
        "SELECT v.tenant_id, v.day, s.kpi_id, s.scope, s.segment_id, v.value, \
           CAST({} AS varchar(32)) AS reason, v.numerator, v.denominator, \
           (SELECT r.definition_version FROM kpi_value_runs r WHERE r.tenant_id = v.tenant_id \
             AND r.day = v.day AND r.kpi_id = s.kpi_id AND r.grain = s.grain) AS definition_version, \
           (SELECT r.run_id FROM kpi_value_runs r WHERE r.tenant_id = v.tenant_id \
             AND r.day = v.day AND r.kpi_id = s.kpi_id AND r.grain = s.grain) AS run_id, \
           (SELECT d.compute_time FROM kpi_snapshot_days d WHERE d.tenant_id = v.tenant_id \
             AND d.day = v.day) AS compute_time \
         FROM kpi_values v \
         JOIN kpi_series s ON s.tenant_id = v.tenant_id AND s.id = v.series_id \
         WHERE s.grain = 'DAY'",
        reason_case("v.reason", false)
    )
}

/// The daily values in the wide row's columns under the wide table's name, for reading by
/// hand and by tests; the service itself never reads it.
fn wide_view() -> String {
    format!("CREATE VIEW kpi_snapshots AS {}", wide_select())
}

async fn exec(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared(sql).await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DatabaseBackend::Sqlite;
        manager
            .create_table(
                Table::create()
                    .table("kpi_series")
                    .col(string_len("tenant_id", 63))
                    .col(integer("id"))
                    .col(string_len("kpi_id", 128))
                    .col(string_len("scope", 200))
                    // Empty when the KPI takes no segment: NULL never collides in a key.
                    .col(string_len("segment_id", 63))
                    .col(string_len("grain", 8))
                    .primary_key(&mut pk(&["id"]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_kpi_series_key")
                    .table("kpi_series")
                    .col("tenant_id")
                    .col("kpi_id")
                    .col("scope")
                    .col("segment_id")
                    .col("grain")
                    .unique()
                    .to_owned(),
            )
            .await?;
        let mut values = Table::create();
        values
            .table("kpi_values")
            .col(string_len("tenant_id", 63))
            .col(date("day"))
            .col(integer("series_id"))
            .col(double_null("value"))
            .col(small_integer_null("reason"))
            .col(double_null("numerator"))
            .col(double_null("denominator"))
            .primary_key(&mut pk(&["day", "series_id"]));
        if sqlite {
            // The key is the table: a row is written once, not to a rowid table and an
            // index.
            values.extra("WITHOUT ROWID");
        }
        manager.create_table(values.to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table("kpi_value_runs")
                    .col(string_len("tenant_id", 63))
                    .col(date("day"))
                    .col(string_len("kpi_id", 128))
                    .col(string_len("grain", 8))
                    .col(string_len("run_id", 64))
                    .col(integer("definition_version"))
                    .primary_key(&mut pk(&["day", "kpi_id", "grain"]))
                    .to_owned(),
            )
            .await?;
        // Series numbered per tenant in key order, so a day's rows keep the order they had.
        exec(
            manager,
            "INSERT INTO kpi_series (tenant_id, id, kpi_id, scope, segment_id, grain) \
             SELECT tenant_id, ROW_NUMBER() OVER (PARTITION BY tenant_id \
               ORDER BY kpi_id, scope, segment_id), kpi_id, scope, segment_id, 'DAY' \
             FROM (SELECT DISTINCT tenant_id, kpi_id, scope, segment_id FROM kpi_snapshots) k",
        )
        .await?;
        // One run per day and KPI: every writer so far wrote a day's KPI with one run.
        exec(
            manager,
            "INSERT INTO kpi_value_runs (tenant_id, day, kpi_id, grain, run_id, \
               definition_version) \
             SELECT tenant_id, day, kpi_id, 'DAY', MAX(run_id), MAX(definition_version) \
             FROM kpi_snapshots GROUP BY tenant_id, day, kpi_id",
        )
        .await?;
        exec(
            manager,
            &format!(
                "INSERT INTO kpi_values (tenant_id, day, series_id, value, reason, numerator, \
                   denominator) \
                 SELECT k.tenant_id, k.day, s.id, k.value, {}, k.numerator, k.denominator \
                 FROM kpi_snapshots k JOIN kpi_series s ON s.tenant_id = k.tenant_id \
                   AND s.kpi_id = k.kpi_id AND s.scope = k.scope \
                   AND s.segment_id = k.segment_id AND s.grain = 'DAY' \
                 ORDER BY k.tenant_id, k.day, s.id",
                reason_case("k.reason", true)
            ),
        )
        .await?;
        manager
            .drop_table(Table::drop().table("kpi_snapshots").to_owned())
            .await?;
        exec(manager, &wide_view()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DatabaseBackend::Sqlite;
        exec(manager, "DROP VIEW kpi_snapshots").await?;
        manager.create_table(wide_table(sqlite)).await?;
        exec(
            manager,
            &format!(
                "INSERT INTO kpi_snapshots (tenant_id, day, kpi_id, scope, segment_id, value, \
                   reason, numerator, denominator, definition_version, run_id, compute_time) \
                 {} ORDER BY v.tenant_id, v.day, s.kpi_id, s.scope, s.segment_id",
                wide_select()
            ),
        )
        .await?;
        for table in ["kpi_value_runs", "kpi_values", "kpi_series"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
