//! Set-based writes of observation batches, the backend-specific part of ingest.
//!
//! On PostgreSQL a batch of new rows is copied (COPY, text format) straight into its table;
//! when a key is already stored, the batch is copied into a temporary staging table and
//! moved by one `INSERT ... SELECT ... ON CONFLICT DO UPDATE`: no statement depends on a
//! plan made from statistics, which a new tenant or a table growing under autovacuum-less
//! loads does not have (a per-batch `IN (...)` lookup of existing orders walked every order
//! of the tenant that way, BENCHMARKS.md). The upsert itself tells which rows existed
//! (`xmax <> 0`). On SQLite a batch is bound into multi-row statements: plain inserts while
//! no key is stored, else a lookup by primary key (which SQLite's planner always takes) and
//! multi-row upserts.
//!
//! Either way a batch is one transaction, so it is written whole or not at all, and a row
//! whose natural key is stored replaces the stored row.
use super::Result;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sea_orm::sqlx::{self, AssertSqlSafe, Postgres, Sqlite, Transaction};
use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr, RuntimeErr};
use std::borrow::Cow;
use std::io::Write as _;
use std::sync::Arc;

/// Most values bound to one SQLite statement: far below its limit (32,766), large enough
/// that a batch takes few statements.
const SQLITE_VALUES: usize = 8_000;

/// Ids per key lookup on SQLite.
const LOOKUP: usize = 500;

/// Bytes of COPY data sent at once.
const COPY_CHUNK: usize = 1 << 20;

/// One value of a row to write.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell<'a> {
    /// SQL NULL.
    Null,
    /// Text.
    Text(Cow<'a, str>),
    /// An integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A date.
    Date(NaiveDate),
    /// An instant.
    Time(DateTime<Utc>),
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(v: &'a str) -> Self {
        Cell::Text(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(v: &'a String) -> Self {
        Cell::Text(Cow::Borrowed(v))
    }
}

impl From<String> for Cell<'_> {
    fn from(v: String) -> Self {
        Cell::Text(Cow::Owned(v))
    }
}

impl From<i64> for Cell<'_> {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}

impl From<i32> for Cell<'_> {
    fn from(v: i32) -> Self {
        Cell::Int(v.into())
    }
}

impl From<f64> for Cell<'_> {
    fn from(v: f64) -> Self {
        Cell::Float(v)
    }
}

impl From<bool> for Cell<'_> {
    fn from(v: bool) -> Self {
        Cell::Bool(v)
    }
}

impl From<NaiveDate> for Cell<'_> {
    fn from(v: NaiveDate) -> Self {
        Cell::Date(v)
    }
}

impl From<DateTime<Utc>> for Cell<'_> {
    fn from(v: DateTime<Utc>) -> Self {
        Cell::Time(v)
    }
}

impl<'a, T: Into<Cell<'a>>> From<Option<T>> for Cell<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Null, Into::into)
    }
}

/// A table written in bulk: `tenant_id`, then `columns` in the order of each row's cells,
/// then `update_time` when `stamped`.
pub(crate) struct Table {
    /// The table's name (fixed: it is formatted into SQL).
    pub name: &'static str,
    /// The columns a row gives, after `tenant_id`.
    pub columns: &'static [&'static str],
    /// The natural key after `tenant_id`; its columns are among `columns`.
    pub key: &'static [&'static str],
    /// Whether the table has an `update_time` set to the batch's time.
    pub stamped: bool,
}

impl Table {
    /// Every column written, `tenant_id` first.
    fn all_columns(&self) -> Vec<&'static str> {
        let mut all = vec!["tenant_id"];
        all.extend(self.columns);
        if self.stamped {
            all.push("update_time");
        }
        all
    }

    /// `ON CONFLICT (...) DO UPDATE SET ...`: every non-key column takes the new value.
    fn on_conflict(&self) -> String {
        let mut sql = format!("ON CONFLICT (tenant_id, {}) DO ", self.key.join(", "));
        let updates: Vec<String> = self
            .all_columns()
            .into_iter()
            .filter(|c| *c != "tenant_id" && !self.key.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        if updates.is_empty() {
            sql.push_str("NOTHING");
        } else {
            sql.push_str("UPDATE SET ");
            sql.push_str(&updates.join(", "));
        }
        sql
    }
}

fn sqlx_error(e: sqlx::Error) -> super::StorageError {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e))).into()
}

/// One batch's transaction on the pool under the store's connection.
pub(crate) enum Batch {
    /// PostgreSQL: COPY into staging, then one upsert per table.
    Postgres(Transaction<'static, Postgres>),
    /// SQLite: multi-row upserts, the write lock taken at BEGIN.
    Sqlite(Transaction<'static, Sqlite>),
}

impl Batch {
    /// Begins a batch; on SQLite the write lock is taken at BEGIN (IMMEDIATE), as in
    /// [`super::Store::begin_write`].
    pub async fn begin(db: &DatabaseConnection) -> Result<Batch> {
        Ok(match db.get_database_backend() {
            DatabaseBackend::Postgres => Batch::Postgres(
                db.get_postgres_connection_pool()
                    .begin()
                    .await
                    .map_err(sqlx_error)?,
            ),
            _ => Batch::Sqlite(
                db.get_sqlite_connection_pool()
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(sqlx_error)?,
            ),
        })
    }

    /// Commits the batch.
    pub async fn commit(self) -> Result<()> {
        match self {
            Batch::Postgres(tx) => tx.commit().await,
            Batch::Sqlite(tx) => tx.commit().await,
        }
        .map_err(sqlx_error)
    }

    /// Inserts `rows` into `table`, replacing every non-key column of rows whose key is
    /// stored. Rows must have distinct keys. With `report_replaced` (tables whose key after
    /// the tenant is one text column) it answers the keys that were stored before.
    pub async fn upsert(
        &mut self,
        table: &Table,
        tenant_id: &str,
        now: DateTime<Utc>,
        rows: &[Vec<Cell<'_>>],
        report_replaced: bool,
    ) -> Result<Vec<String>> {
        debug_assert!(rows.iter().all(|r| r.len() == table.columns.len()));
        debug_assert!(!report_replaced || table.key.len() == 1);
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Batch::Postgres(tx) => {
                postgres_upsert(tx, table, tenant_id, now, rows, report_replaced).await
            }
            Batch::Sqlite(tx) => {
                sqlite_upsert(tx, table, tenant_id, now, rows, report_replaced).await
            }
        }
    }

    /// Deletes the tenant's rows of `table` whose `column` is one of `values`.
    pub async fn delete_in(
        &mut self,
        table: &'static str,
        column: &'static str,
        tenant_id: &str,
        values: &[String],
    ) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        match self {
            Batch::Postgres(tx) => {
                let sql =
                    format!("DELETE FROM {table} WHERE tenant_id = $1 AND {column} = ANY($2)");
                sqlx::query(AssertSqlSafe(sql))
                    .bind(tenant_id)
                    .bind(values)
                    .execute(&mut **tx)
                    .await
                    .map_err(sqlx_error)?;
            }
            Batch::Sqlite(tx) => {
                for chunk in values.chunks(LOOKUP) {
                    let sql = format!(
                        "DELETE FROM {table} WHERE tenant_id = ? AND {column} IN ({})",
                        placeholders(chunk.len())
                    );
                    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(tenant_id);
                    for v in chunk {
                        query = query.bind(v.as_str());
                    }
                    query.execute(&mut **tx).await.map_err(sqlx_error)?;
                }
            }
        }
        Ok(())
    }
}

/// `?, ?, ...` with `n` places.
fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

async fn postgres_upsert(
    tx: &mut Transaction<'static, Postgres>,
    table: &Table,
    tenant_id: &str,
    now: DateTime<Utc>,
    rows: &[Vec<Cell<'_>>],
    report_replaced: bool,
) -> Result<Vec<String>> {
    if copy_new(tx, table, tenant_id, now, rows).await? {
        return Ok(Vec::new());
    }
    let stage = format!("tally_stage_{}", table.name);
    let columns = table.columns.join(", ");
    // Made once per connection; ON COMMIT DELETE ROWS empties it after each batch and a
    // rolled-back batch leaves nothing in it. The NOTICE of an existing table is not wanted
    // in the logs, hence the message level for this transaction.
    let create = format!(
        "SET LOCAL client_min_messages = warning; \
         CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS \
         SELECT {columns} FROM {} WITH NO DATA",
        table.name
    );
    sqlx::raw_sql(AssertSqlSafe(create))
        .execute(&mut **tx)
        .await
        .map_err(sqlx_error)?;

    let mut copy = tx
        .copy_in_raw(&format!("COPY pg_temp.{stage} ({columns}) FROM STDIN"))
        .await
        .map_err(sqlx_error)?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 4096);
    for row in rows {
        copy_row(&mut buf, row);
        if buf.len() >= COPY_CHUNK {
            copy.send(std::mem::take(&mut buf))
                .await
                .map_err(sqlx_error)?;
            buf.reserve(COPY_CHUNK + 4096);
        }
    }
    if !buf.is_empty() {
        copy.send(buf).await.map_err(sqlx_error)?;
    }
    copy.finish().await.map_err(sqlx_error)?;

    let stamp = if table.stamped { ", $2" } else { "" };
    let insert = format!(
        "INSERT INTO {name} ({all}) SELECT $1, {columns}{stamp} FROM pg_temp.{stage} {conflict}",
        name = table.name,
        all = table.all_columns().join(", "),
        conflict = table.on_conflict(),
    );
    if report_replaced {
        let key = table.key[0];
        let sql = format!(
            "WITH up AS ({insert} RETURNING {key}, xmax <> 0 AS replaced) \
             SELECT {key} FROM up WHERE replaced"
        );
        let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql)).bind(tenant_id);
        if table.stamped {
            query = query.bind(now);
        }
        query.fetch_all(&mut **tx).await.map_err(sqlx_error)
    } else {
        let mut query = sqlx::query(AssertSqlSafe(insert)).bind(tenant_id);
        if table.stamped {
            query = query.bind(now);
        }
        query.execute(&mut **tx).await.map_err(sqlx_error)?;
        Ok(Vec::new())
    }
}

/// Copies `rows` straight into `table`, as `\copy` does, when none of their keys is stored:
/// a load of new rows, the common case, then costs what the database's own floor costs. A
/// stored key stops the COPY on the primary key (`unique_violation`); the savepoint takes
/// back what was copied and the caller upserts the batch instead, so a re-sent batch costs
/// at most one wasted copy of itself. Answers whether the rows were written.
async fn copy_new(
    tx: &mut Transaction<'static, Postgres>,
    table: &Table,
    tenant_id: &str,
    now: DateTime<Utc>,
    rows: &[Vec<Cell<'_>>],
) -> Result<bool> {
    sqlx::raw_sql("SAVEPOINT tally_copy_new")
        .execute(&mut **tx)
        .await
        .map_err(sqlx_error)?;
    let tenant = Cell::from(tenant_id);
    let stamp = Cell::from(now);
    let stamp = table.stamped.then_some(&stamp);
    let sql = format!(
        "COPY {} ({}) FROM STDIN",
        table.name,
        table.all_columns().join(", ")
    );
    let copied = async {
        let mut copy = tx.copy_in_raw(&sql).await?;
        let mut buf = Vec::with_capacity(COPY_CHUNK + 4096);
        for row in rows {
            copy_row(&mut buf, std::iter::once(&tenant).chain(row).chain(stamp));
            if buf.len() >= COPY_CHUNK {
                copy.send(std::mem::take(&mut buf)).await?;
                buf.reserve(COPY_CHUNK + 4096);
            }
        }
        if !buf.is_empty() {
            copy.send(buf).await?;
        }
        copy.finish().await
    }
    .await;
    let (written, end) = match copied {
        Ok(_) => (true, "RELEASE SAVEPOINT tally_copy_new"),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
            (false, "ROLLBACK TO SAVEPOINT tally_copy_new")
        }
        Err(e) => return Err(sqlx_error(e)),
    };
    sqlx::raw_sql(end)
        .execute(&mut **tx)
        .await
        .map_err(sqlx_error)?;
    Ok(written)
}

/// Appends one row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn copy_row<'c, 'a: 'c>(buf: &mut Vec<u8>, row: impl IntoIterator<Item = &'c Cell<'a>>) {
    for (i, cell) in row.into_iter().enumerate() {
        if i > 0 {
            buf.push(b'\t');
        }
        match cell {
            Cell::Null => buf.extend_from_slice(b"\\N"),
            Cell::Text(s) => copy_text(buf, s),
            Cell::Int(v) => {
                let _ = write!(buf, "{v}");
            }
            Cell::Float(v) => {
                if v.is_nan() {
                    buf.extend_from_slice(b"NaN");
                } else if v.is_infinite() {
                    let text: &[u8] = if *v > 0.0 { b"Infinity" } else { b"-Infinity" };
                    buf.extend_from_slice(text);
                } else {
                    // Rust's shortest representation reads back to the same double.
                    let _ = write!(buf, "{v:e}");
                }
            }
            Cell::Bool(v) => buf.push(if *v { b't' } else { b'f' }),
            Cell::Date(d) => {
                let _ = write!(buf, "{}", d.format("%Y-%m-%d"));
            }
            // Microseconds, truncated, as sqlx binds a time.
            Cell::Time(t) => {
                buf.extend_from_slice(t.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes())
            }
        }
    }
    buf.push(b'\n');
}

fn copy_text(buf: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

async fn sqlite_upsert(
    tx: &mut Transaction<'static, Sqlite>,
    table: &Table,
    tenant_id: &str,
    now: DateTime<Utc>,
    rows: &[Vec<Cell<'_>>],
    report_replaced: bool,
) -> Result<Vec<String>> {
    if report_replaced && sqlite_insert_new(tx, table, tenant_id, now, rows).await? {
        return Ok(Vec::new());
    }
    let mut replaced = Vec::new();
    if report_replaced {
        // SQLite's planner always answers a lookup by the whole primary key through it.
        let key = table.key[0];
        let position = table
            .columns
            .iter()
            .position(|c| *c == key)
            .unwrap_or_default();
        for chunk in rows.chunks(LOOKUP) {
            let sql = format!(
                "SELECT {key} FROM {} WHERE tenant_id = ? AND {key} IN ({})",
                table.name,
                placeholders(chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql)).bind(tenant_id);
            for row in chunk {
                query = bind_sqlite(query, &row[position]);
            }
            replaced.extend(query.fetch_all(&mut **tx).await.map_err(sqlx_error)?);
        }
    }

    sqlite_insert(tx, table, tenant_id, now, rows, &table.on_conflict())
        .await
        .map_err(sqlx_error)?;
    Ok(replaced)
}

/// Inserts `rows` without looking their keys up first, as [`copy_new`] does on PostgreSQL:
/// a stored key fails the insert on the primary key, the savepoint takes back what was
/// written and the caller looks the keys up and upserts instead. Answers whether the rows
/// were written.
async fn sqlite_insert_new(
    tx: &mut Transaction<'static, Sqlite>,
    table: &Table,
    tenant_id: &str,
    now: DateTime<Utc>,
    rows: &[Vec<Cell<'_>>],
) -> Result<bool> {
    sqlx::raw_sql("SAVEPOINT tally_insert_new")
        .execute(&mut **tx)
        .await
        .map_err(sqlx_error)?;
    let (written, end) = match sqlite_insert(tx, table, tenant_id, now, rows, "").await {
        Ok(()) => (true, "RELEASE SAVEPOINT tally_insert_new"),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => (
            false,
            "ROLLBACK TO SAVEPOINT tally_insert_new; RELEASE SAVEPOINT tally_insert_new",
        ),
        Err(e) => return Err(sqlx_error(e)),
    };
    sqlx::raw_sql(end)
        .execute(&mut **tx)
        .await
        .map_err(sqlx_error)?;
    Ok(written)
}

/// Binds `rows` into multi-row `INSERT`s ending in `conflict`.
async fn sqlite_insert(
    tx: &mut Transaction<'static, Sqlite>,
    table: &Table,
    tenant_id: &str,
    now: DateTime<Utc>,
    rows: &[Vec<Cell<'_>>],
    conflict: &str,
) -> std::result::Result<(), sqlx::Error> {
    let all = table.all_columns();
    let per_row = all.len();
    let rows_per_statement = (SQLITE_VALUES / per_row).max(1);
    let one_row = format!("({})", placeholders(per_row));
    let head = format!("INSERT INTO {} ({}) VALUES ", table.name, all.join(", "));
    for chunk in rows.chunks(rows_per_statement) {
        let mut sql = String::with_capacity(head.len() + chunk.len() * (one_row.len() + 2));
        sql.push_str(&head);
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&one_row);
        }
        sql.push(' ');
        sql.push_str(conflict);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = query.bind(tenant_id);
            for cell in row {
                query = bind_sqlite(query, cell);
            }
            if table.stamped {
                query = query.bind(now);
            }
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Binds a cell as sea-orm binds the same Rust value, so that texts of dates and times
/// compare with the rows it writes.
fn bind_sqlite<'q, Q: SqliteBind<'q>>(query: Q, cell: &Cell<'_>) -> Q {
    match cell {
        Cell::Null => query.bind_value(None::<String>),
        Cell::Text(s) => query.bind_value(s.to_string()),
        Cell::Int(v) => query.bind_value(*v),
        Cell::Float(v) => query.bind_value(*v),
        Cell::Bool(v) => query.bind_value(*v),
        Cell::Date(d) => query.bind_value(*d),
        Cell::Time(t) => query.bind_value(*t),
    }
}

/// A SQLite query that takes bound values: a plain query or one mapped to a scalar.
trait SqliteBind<'q>: Sized {
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>;
}

impl<'q> SqliteBind<'q> for sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
    {
        self.bind(value)
    }
}

impl<'q, O> SqliteBind<'q>
    for sqlx::query::QueryScalar<'q, Sqlite, O, sqlx::sqlite::SqliteArguments>
{
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
    {
        self.bind(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_escape_separators_and_mark_nulls() {
        let mut buf = Vec::new();
        let row = [
            Cell::from("a\tb\\c\nd\re"),
            Cell::Null,
            Cell::Int(-42),
            Cell::Bool(true),
            Cell::Date(NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()),
        ];
        copy_row(&mut buf, &row);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "a\\tb\\\\c\\nd\\re\t\\N\t-42\tt\t2026-03-04\n"
        );
    }

    #[test]
    fn copy_doubles_read_back_exactly() {
        for v in [0.1, -1e300, 5e-324, f64::MAX, 123456.789] {
            let mut buf = Vec::new();
            copy_row(&mut buf, &[Cell::Float(v)]);
            let text = String::from_utf8(buf).unwrap();
            assert_eq!(text.trim_end().parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn times_are_copied_in_microseconds_truncated() {
        let t = DateTime::<Utc>::from_timestamp(1_767_225_600, 123_456_789).unwrap();
        let mut buf = Vec::new();
        copy_row(&mut buf, &[Cell::Time(t)]);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "2026-01-01T00:00:00.123456Z\n"
        );
    }

    #[test]
    fn conflicts_update_every_column_but_the_key() {
        let table = Table {
            name: "t",
            columns: &["k", "a", "b"],
            key: &["k"],
            stamped: true,
        };
        assert_eq!(
            table.on_conflict(),
            "ON CONFLICT (tenant_id, k) DO UPDATE SET a = excluded.a, b = excluded.b, update_time = excluded.update_time"
        );
    }
}
