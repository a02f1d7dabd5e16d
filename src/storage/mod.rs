//! Storage: sea-orm repositories over SQLite or PostgreSQL, one code path for both.
//!
//! Every query filters on the tenant. Writes that touch several tables run in one
//! transaction, so a failed call leaves nothing half-written.
pub(crate) mod anomaly;
pub(crate) mod bulk;
pub mod campaign_profits;
pub(crate) mod campaigns;
pub(crate) mod channels;
pub(crate) mod custom_kpis;
pub mod customer_keys;
pub(crate) mod directory;
pub mod entities;
pub(crate) mod generations;
pub(crate) mod goal_evaluations;
pub(crate) mod goals;
pub(crate) mod idempotency;
pub(crate) mod influencers;
pub mod jobs;
pub(crate) mod kpi_data;
pub(crate) mod lift_series;
pub(crate) mod metrics;
pub(crate) mod observations;
pub(crate) mod period_snapshots;
pub mod raw_responses;
pub(crate) mod revisioned;
pub(crate) mod segments;
pub(crate) mod snapshots;
pub(crate) mod tenants;

pub use kpi_data::CODE_DRIVEN_DAYS;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, RuntimeErr, SqlErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// The tables KPI queries read, whose planner statistics [`Store::refresh_statistics`]
/// keeps current on SQLite (fixed names: they are formatted into SQL).
const ANALYZED_TABLES: [&str; 10] = [
    "channels",
    "discount_codes",
    "channel_day_stats",
    "web_traffic",
    "orders",
    "order_codes",
    "audience_members",
    "interactions",
    "giveaway_entries",
    "metric_points",
];

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The resource does not exist in the tenant.
    #[error("{0} not found")]
    NotFound(String),
    /// A unique value is taken; the message names it.
    #[error("{0}")]
    AlreadyExists(String),
    /// The stored etag differs from the one sent.
    #[error("{0} was changed by another call; read it again and retry with its new etag")]
    EtagMismatch(String),
    /// The change would break a reference; the message names what uses the resource.
    #[error("{0}")]
    FailedPrecondition(String),
    /// An input refers to something that does not exist: (field, description).
    #[error("{1}")]
    InvalidReference(String, String),
    /// A concurrent write stored a row with the same key first. The database's message
    /// (which names the constraint and table) stays in the source, for the logs.
    #[error("a concurrent write stored the same record first; retry")]
    Conflict(#[source] DbErr),
    /// The database cannot be reached.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] DbErr),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] DbErr),
}

impl From<DbErr> for StorageError {
    fn from(err: DbErr) -> Self {
        match &err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StorageError::Unavailable(err),
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))
                if matches!(
                    **e,
                    sea_orm::sqlx::Error::Io(_)
                        | sea_orm::sqlx::Error::PoolTimedOut
                        | sea_orm::sqlx::Error::PoolClosed
                ) =>
            {
                StorageError::Unavailable(err)
            }
            _ => match err.sql_err() {
                // Taken values a caller can name are checked before writing and reported
                // as AlreadyExists; a violation that still reaches the database lost a race.
                Some(SqlErr::UniqueConstraintViolation(_)) => StorageError::Conflict(err),
                Some(SqlErr::ForeignKeyConstraintViolation(_)) => StorageError::FailedPrecondition(
                    "the change would orphan stored data that refers to this resource (such as observations); remove that first".into(),
                ),
                _ => StorageError::Database(err),
            },
        }
    }
}

/// Result of storage calls.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A request for one page of a collection ordered by id.
#[derive(Clone, Debug)]
pub struct PageRequest {
    /// Return ids strictly after this one.
    pub after: Option<String>,
    /// Page size.
    pub limit: u64,
}

/// One page of a collection; `more` tells whether another page follows.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items, ordered by id.
    pub items: Vec<T>,
    /// Whether items follow the last one.
    pub more: bool,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows.
    pub fn from_rows(mut items: Vec<T>, limit: u64) -> Self {
        let more = items.len() as u64 > limit;
        items.truncate(limit as usize);
        Page { items, more }
    }
}

/// The store: a pooled connection to the database, shared by every repository.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    generations: std::sync::Arc<generations::Generations>,
}

/// SQLite's page cache per connection, as `cache_size` takes it (negative: KiB).
const SQLITE_CACHE_KIB: &str = "-32768";

/// How much of an SQLite file is read through a memory map rather than read(2).
const SQLITE_MMAP_BYTES: &str = "1073741824";

/// WAL pages after which a commit copies the WAL into the database file (a checkpoint,
/// which syncs the file); SQLite's default is 1,000 pages (4 MiB). A batch of ingested
/// orders writes thousands of index pages, so with the default every batch paid a
/// checkpoint and its sync: 5,000-row transactions of the sqlite3 shell took 42 s for
/// 1,000,000 orders against 17 s in one transaction, and 21 s with this threshold
/// (BENCHMARKS.md, ingest). A page written by several batches is copied once per
/// checkpoint.
const SQLITE_WAL_AUTOCHECKPOINT: &str = "32768";

/// Bytes the WAL file keeps after a checkpoint empties it, so that a burst of writes does
/// not leave its peak size on disk.
const SQLITE_JOURNAL_SIZE_LIMIT: &str = "67108864";

/// Adds `mode=rwc` to SQLite URLs so the file is created on first run.
fn normalise_url(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") && !url.contains(":memory:") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_string()
    }
}

impl Store {
    /// Connects to `url` (`sqlite://file` or `postgres://...`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store> {
        let mut options = ConnectOptions::new(normalise_url(url));
        options
            .max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .sqlx_logging(false)
            // Prepared statements are reused per connection, and PostgreSQL's generic plan
            // for one is fixed by the statistics of its first runs: made while a table was
            // still small, it scans sequentially forever after (seen as 2 s lookups by
            // primary key during a bulk load). Custom plans see the real parameters.
            .map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]))
            // Set on every connection the pool opens. WAL lets readers go on while the
            // single writer writes, and in WAL mode NORMAL loses no committed data on a
            // crash of the process (only on a power loss) while sparing a sync per commit.
            // Pages read through read(2) are copied out of the kernel one by one: a third
            // of the SQLite threads' time in a KPI run; mapped reads skip the copy
            // (BENCHMARKS.md, KPI engine). The cache holds a day's written snapshot pages
            // (about 18 MB on data set M).
            .map_sqlx_sqlite_opts(|o| {
                o.busy_timeout(Duration::from_secs(5))
                    .pragma("journal_mode", "WAL")
                    .pragma("synchronous", "NORMAL")
                    .pragma("cache_size", SQLITE_CACHE_KIB)
                    .pragma("mmap_size", SQLITE_MMAP_BYTES)
                    .pragma("wal_autocheckpoint", SQLITE_WAL_AUTOCHECKPOINT)
                    .pragma("journal_size_limit", SQLITE_JOURNAL_SIZE_LIMIT)
            });
        let db = Database::connect(options).await?;
        Ok(Store {
            db,
            generations: Default::default(),
        })
    }

    /// This process's write generations of the store's data.
    pub fn generations(&self) -> &generations::Generations {
        &self.generations
    }

    /// Begins a write transaction. On SQLite it takes the write lock at BEGIN (IMMEDIATE):
    /// a deferred transaction that reads before it writes fails with SQLITE_BUSY when
    /// another connection wrote meanwhile, where an immediate one waits its turn.
    pub(crate) async fn begin_write(&self) -> std::result::Result<DatabaseTransaction, DbErr> {
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
    }

    /// The underlying connection.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await.map_err(StorageError::from)
    }

    /// Applies pending migrations. On PostgreSQL the run holds an advisory lock on a
    /// dedicated connection, so two processes migrating at once take turns.
    pub async fn migrate(url: &str) -> Result<()> {
        let store = Store::connect(url, 1).await?;
        let db = &store.db;
        let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
        // An arbitrary constant naming Tally's migration lock.
        const LOCK: &str = "SELECT pg_advisory_lock(7240310525)";
        if postgres {
            db.execute_raw(Statement::from_string(DatabaseBackend::Postgres, LOCK))
                .await?;
        }
        let result = Migrator::up(db, None).await;
        if postgres {
            db.execute_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT pg_advisory_unlock(7240310525)",
            ))
            .await?;
        }
        result?;
        store.db.close().await?;
        Ok(())
    }

    /// Refreshes the query planner's statistics where the database does not do it itself:
    /// SQLite never analyzes on its own and then guesses index choices (PostgreSQL's
    /// autovacuum keeps its statistics). Each table the KPI queries read is analyzed when
    /// it has no statistics yet or its size moved more than a tenth since, and then over
    /// its whole indexes: `PRAGMA optimize` samples the first 2,000 entries of an index,
    /// which hold one tenant's first days only, and on data set M such statistics made the
    /// order pass walk all 1,000,000 orders (13 s instead of 0.4 s).
    pub async fn refresh_statistics(&self) -> Result<()> {
        if self.db.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        let sqlite = |sql: String| Statement::from_string(DatabaseBackend::Sqlite, sql);
        let has_stats = self
            .db
            .query_one_raw(sqlite(
                "SELECT 1 AS x FROM sqlite_master WHERE name = 'sqlite_stat1'".into(),
            ))
            .await?
            .is_some();
        for table in ANALYZED_TABLES {
            let count = self
                .db
                // The largest rowid tracks the table's size without counting its rows.
                .query_one_raw(sqlite(format!(
                    "SELECT COALESCE(MAX(rowid), 0) AS n FROM \"{table}\""
                )))
                .await?
                .map(|row| row.try_get::<i64>("", "n"))
                .transpose()?
                .unwrap_or(0);
            let estimate = if has_stats {
                self.db
                    .query_one_raw(sqlite(format!(
                        "SELECT stat FROM sqlite_stat1 WHERE tbl = '{table}' LIMIT 1"
                    )))
                    .await?
                    .map(|row| row.try_get::<String>("", "stat"))
                    .transpose()?
                    .and_then(|stat| stat.split(' ').next()?.parse::<i64>().ok())
            } else {
                None
            };
            let stale = match estimate {
                None => count > 0,
                Some(estimate) => (count - estimate).abs() * 10 > estimate,
            };
            if stale {
                // One call, so the limit applies to the connection that analyzes.
                self.db
                    .execute_unprepared(&format!("PRAGMA analysis_limit=0; ANALYZE \"{table}\";"))
                    .await?;
            }
        }
        Ok(())
    }

    /// Number of migrations not yet applied.
    pub async fn pending_migrations(&self) -> Result<usize> {
        Ok(Migrator::get_pending_migrations(&self.db).await?.len())
    }
}
