//! Job runs, day claims and source pulls.
//!
//! A tenant's day is claimed with one conditional upsert (`INSERT … ON CONFLICT DO UPDATE
//! … WHERE`), which both SQLite and PostgreSQL execute atomically on the row: of several
//! replicas racing for a day exactly one sees a row affected. A claim carries a lease that
//! its holder extends while it works; when a holder dies, the lease runs out and the next
//! claimer takes the day over.
use super::entities::{channel, job_day, job_run, source_pull, tenant};
use super::{Page, PageRequest, Result, StorageError, Store};
use crate::domain::channel::Platform;
use crate::domain::channel::Source;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

/// Status of a claimed day.
pub mod day_status {
    /// A replica works on the day (while its lease lasts).
    pub const RUNNING: &str = "running";
    /// Every step and source succeeded.
    pub const SUCCEEDED: &str = "succeeded";
    /// Computed, but at least one source failed; retried by the next run.
    pub const PARTIAL: &str = "partial";
    /// The day could not be computed.
    pub const FAILED: &str = "failed";
    /// Stopped on request.
    pub const CANCELLED: &str = "cancelled";
}

/// Status of a source's pull of a day.
pub mod pull_status {
    /// Started; the cursor says how far it got.
    pub const RUNNING: &str = "running";
    /// Every page stored.
    pub const DONE: &str = "done";
    /// Failed; retried by the next run.
    pub const FAILED: &str = "failed";
}

/// A run as stored.
pub type RunRecord = job_run::Model;

/// A day's claim as stored.
pub type DayRecord = job_day::Model;

/// A source pull as stored.
pub type PullRecord = source_pull::Model;

/// A new run.
#[derive(Clone, Debug)]
pub struct NewRun {
    /// Run id (time-ordered).
    pub id: String,
    /// Job name.
    pub job: String,
    /// First day.
    pub first_day: NaiveDate,
    /// Last day.
    pub last_day: NaiveDate,
    /// Whether finished days are run again.
    pub forced: bool,
    /// Replica that runs it.
    pub owner: String,
    /// Lease end.
    pub lease_until: DateTime<Utc>,
}

impl Store {
    /// Every tenant id, ordered.
    pub async fn tenant_ids(&self) -> Result<Vec<String>> {
        Ok(tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Id)
            .order_by_asc(tenant::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Every channel of a tenant as a pull source, ordered by id.
    pub async fn sources(&self, tenant_id: &str) -> Result<Vec<Source>> {
        let rows = channel::Entity::find()
            .filter(channel::Column::TenantId.eq(tenant_id))
            .order_by_asc(channel::Column::Id)
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|c| {
                let platform = Platform::parse(&c.platform).ok_or_else(|| {
                    StorageError::FailedPrecondition(format!(
                        "channel `{}` has unknown platform `{}`",
                        c.id, c.platform
                    ))
                })?;
                Ok(Source {
                    channel_id: c.id,
                    platform,
                    account_id: c.account_id,
                    credentials_ref: c.credentials_ref,
                })
            })
            .collect()
    }

    /// Claims a tenant's day for `run_id`: true when this caller holds it now. A day is
    /// free when nobody holds it, its holder's lease ran out, or it ended without
    /// succeeding; a succeeded day only when `force` is set.
    pub async fn claim_day(
        &self,
        tenant_id: &str,
        day: NaiveDate,
        run_id: &str,
        owner: &str,
        lease_until: DateTime<Utc>,
        force: bool,
    ) -> Result<bool> {
        use job_day::Column as C;
        let now = Utc::now();
        let model = job_day::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            day: Set(day),
            status: Set(day_status::RUNNING.to_string()),
            run_id: Set(run_id.to_string()),
            owner: Set(owner.to_string()),
            lease_until: Set(lease_until),
            attempts: Set(1),
            update_time: Set(now),
        };
        let col = |c: C| Expr::col((job_day::Entity, c));
        let free = Condition::any()
            .add(col(C::Status).ne(day_status::RUNNING))
            .add(col(C::LeaseUntil).lt(now));
        let free = if force {
            free
        } else {
            Condition::all()
                .add(free)
                .add(col(C::Status).ne(day_status::SUCCEEDED))
        };
        let mut on_conflict = OnConflict::columns([C::TenantId, C::Day]);
        on_conflict
            .update_columns([C::Status, C::RunId, C::Owner, C::LeaseUntil, C::UpdateTime])
            .value(C::Attempts, col(C::Attempts).add(1))
            .action_cond_where(free);
        let affected = job_day::Entity::insert(model)
            .on_conflict(on_conflict)
            .exec_without_returning(&self.db)
            .await?;
        Ok(affected == 1)
    }

    /// Extends the lease of a day this owner holds; false when the claim was lost.
    pub async fn extend_day(
        &self,
        tenant_id: &str,
        day: NaiveDate,
        owner: &str,
        run_id: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        use job_day::Column as C;
        let result = job_day::Entity::update_many()
            .col_expr(C::LeaseUntil, Expr::value(lease_until))
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Day.eq(day))
            .filter(C::Owner.eq(owner))
            .filter(C::RunId.eq(run_id))
            .filter(C::Status.eq(day_status::RUNNING))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Records how a held day ended; false when the claim was lost meanwhile.
    pub async fn finish_day(
        &self,
        tenant_id: &str,
        day: NaiveDate,
        owner: &str,
        run_id: &str,
        status: &str,
    ) -> Result<bool> {
        use job_day::Column as C;
        let now = Utc::now();
        let result = job_day::Entity::update_many()
            .col_expr(C::Status, Expr::value(status))
            .col_expr(C::LeaseUntil, Expr::value(now))
            .col_expr(C::UpdateTime, Expr::value(now))
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Day.eq(day))
            .filter(C::Owner.eq(owner))
            .filter(C::RunId.eq(run_id))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// The claims of a tenant's days in `[from, to]`, by day.
    pub async fn days(
        &self,
        tenant_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayRecord>> {
        use job_day::Column as C;
        Ok(job_day::Entity::find()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Day.between(from, to))
            .order_by_asc(C::Day)
            .all(&self.db)
            .await?)
    }

    /// Stores a new run.
    pub async fn create_run(&self, tenant_id: &str, run: &NewRun, report: &str) -> Result<()> {
        job_run::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            id: Set(run.id.clone()),
            job: Set(run.job.clone()),
            first_day: Set(run.first_day),
            last_day: Set(run.last_day),
            forced: Set(run.forced),
            status: Set("running".into()),
            owner: Set(run.owner.clone()),
            lease_until: Set(run.lease_until),
            cancel_requested: Set(false),
            create_time: Set(Utc::now()),
            start_time: Set(Some(Utc::now())),
            end_time: Set(None),
            rows_pulled: Set(0),
            error: Set(None),
            report: Set(report.to_string()),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Saves a run's progress; `end` marks it finished. Returns whether a cancel was
    /// requested meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_run(
        &self,
        tenant_id: &str,
        id: &str,
        status: &str,
        report: &str,
        rows_pulled: i64,
        error: Option<&str>,
        lease_until: DateTime<Utc>,
        end: bool,
    ) -> Result<bool> {
        use job_run::Column as C;
        let mut update = job_run::Entity::update_many()
            .col_expr(C::Status, Expr::value(status))
            .col_expr(C::Report, Expr::value(report))
            .col_expr(C::RowsPulled, Expr::value(rows_pulled))
            .col_expr(C::Error, Expr::value(error.map(str::to_string)))
            .col_expr(C::LeaseUntil, Expr::value(lease_until));
        if end {
            update = update.col_expr(C::EndTime, Expr::value(Some(Utc::now())));
        }
        update
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Id.eq(id))
            .exec(&self.db)
            .await?;
        self.cancel_requested(tenant_id, id).await
    }

    /// Whether a cancel was asked for the run (false for an unknown run).
    pub async fn cancel_requested(&self, tenant_id: &str, id: &str) -> Result<bool> {
        use job_run::Column as C;
        Ok(job_run::Entity::find()
            .select_only()
            .column(C::CancelRequested)
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Id.eq(id))
            .into_tuple::<bool>()
            .one(&self.db)
            .await?
            .unwrap_or(false))
    }

    /// Gets a run.
    pub async fn get_run(&self, tenant_id: &str, id: &str) -> Result<RunRecord> {
        job_run::Entity::find_by_id((tenant_id.to_string(), id.to_string()))
            .one(&self.db)
            .await?
            .ok_or_else(|| StorageError::NotFound(format!("job run `{id}`")))
    }

    /// Lists runs newest first (run ids are time-ordered), optionally of one job.
    pub async fn list_runs(
        &self,
        tenant_id: &str,
        job: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<RunRecord>> {
        use job_run::Column as C;
        let mut query = job_run::Entity::find().filter(C::TenantId.eq(tenant_id));
        if let Some(job) = job {
            query = query.filter(C::Job.eq(job));
        }
        if let Some(after) = &page.after {
            query = query.filter(C::Id.lt(after));
        }
        let rows = query
            .order_by_desc(C::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        Ok(Page::from_rows(rows, page.limit))
    }

    /// Asks a running run to stop; FailedPrecondition when it already ended.
    pub async fn request_cancel(&self, tenant_id: &str, id: &str) -> Result<RunRecord> {
        use job_run::Column as C;
        let run = self.get_run(tenant_id, id).await?;
        if run.status != "running" {
            return Err(StorageError::FailedPrecondition(format!(
                "job run `{id}` already ended with status {}",
                run.status
            )));
        }
        job_run::Entity::update_many()
            .col_expr(C::CancelRequested, Expr::value(true))
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Id.eq(id))
            .exec(&self.db)
            .await?;
        self.get_run(tenant_id, id).await
    }

    /// Marks runs whose replica stopped renewing their lease as failed; returns how many.
    pub async fn fail_abandoned_runs(&self) -> Result<u64> {
        use job_run::Column as C;
        let now = Utc::now();
        let result = job_run::Entity::update_many()
            .col_expr(C::Status, Expr::value("failed"))
            .col_expr(
                C::Error,
                Expr::value(Some(
                    "abandoned: the replica running it stopped; its days are taken over by the next run"
                        .to_string(),
                )),
            )
            .col_expr(C::EndTime, Expr::value(Some(now)))
            .filter(C::Status.eq("running"))
            .filter(C::LeaseUntil.lt(now))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }

    /// The pull of a source's day, if one started.
    pub async fn get_pull(
        &self,
        tenant_id: &str,
        channel_id: &str,
        day: NaiveDate,
    ) -> Result<Option<PullRecord>> {
        Ok(
            source_pull::Entity::find_by_id((tenant_id.to_string(), channel_id.to_string(), day))
                .one(&self.db)
                .await?,
        )
    }

    /// Starts (or restarts) a source's pull of a day, keeping its cursor unless `fresh`.
    pub async fn begin_pull(
        &self,
        tenant_id: &str,
        channel_id: &str,
        day: NaiveDate,
        fresh: bool,
    ) -> Result<PullRecord> {
        use source_pull::Column as C;
        let now = Utc::now();
        let model = source_pull::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            channel_id: Set(channel_id.to_string()),
            day: Set(day),
            status: Set(pull_status::RUNNING.to_string()),
            cursor: Set(None),
            totals: Set(None),
            rows: Set(0),
            error: Set(None),
            attempts: Set(1),
            update_time: Set(now),
        };
        let col = |c: C| Expr::col((source_pull::Entity, c));
        let mut on_conflict = OnConflict::columns([C::TenantId, C::ChannelId, C::Day]);
        on_conflict
            .update_columns([C::Status, C::Error, C::UpdateTime])
            .value(C::Attempts, col(C::Attempts).add(1));
        if fresh {
            on_conflict.update_columns([C::Cursor, C::Rows]);
        }
        source_pull::Entity::insert(model)
            .on_conflict(on_conflict)
            .exec_without_returning(&self.db)
            .await?;
        self.get_pull(tenant_id, channel_id, day)
            .await?
            .ok_or_else(|| StorageError::NotFound(format!("pull of `{channel_id}` on {day}")))
    }

    /// Records a stored page: the cursor to resume from and the rows it held.
    pub async fn save_pull_page(
        &self,
        tenant_id: &str,
        channel_id: &str,
        day: NaiveDate,
        cursor: Option<&str>,
        rows: i64,
        totals: Option<&str>,
    ) -> Result<()> {
        record_pull_page(&self.db, tenant_id, channel_id, day, cursor, rows, totals).await
    }

    /// Records how a pull ended.
    pub async fn finish_pull(
        &self,
        tenant_id: &str,
        channel_id: &str,
        day: NaiveDate,
        status: &str,
        error: Option<&str>,
    ) -> Result<()> {
        use source_pull::Column as C;
        source_pull::Entity::update_many()
            .col_expr(C::Status, Expr::value(status))
            .col_expr(C::Error, Expr::value(error.map(str::to_string)))
            .col_expr(C::UpdateTime, Expr::value(Utc::now()))
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::ChannelId.eq(channel_id))
            .filter(C::Day.eq(day))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Extends a run's lease; returns whether a cancel was requested.
    pub async fn extend_run(
        &self,
        tenant_id: &str,
        id: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        use job_run::Column as C;
        job_run::Entity::update_many()
            .col_expr(C::LeaseUntil, Expr::value(lease_until))
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Id.eq(id))
            .filter(C::Status.eq("running"))
            .exec(&self.db)
            .await?;
        self.cancel_requested(tenant_id, id).await
    }

    /// The first day ever claimed for the tenant.
    pub async fn first_claimed_day(&self, tenant_id: &str) -> Result<Option<NaiveDate>> {
        use job_day::Column as C;
        Ok(job_day::Entity::find()
            .filter(C::TenantId.eq(tenant_id))
            .order_by_asc(C::Day)
            .one(&self.db)
            .await?
            .map(|d| d.day))
    }
}

/// [`Store::save_pull_page`] on `db`, so that a caller can make it part of its transaction.
pub(crate) async fn record_pull_page(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    channel_id: &str,
    day: NaiveDate,
    cursor: Option<&str>,
    rows: i64,
    totals: Option<&str>,
) -> Result<()> {
    use source_pull::Column as C;
    let mut update = source_pull::Entity::update_many()
        .col_expr(C::Cursor, Expr::value(cursor.map(str::to_string)))
        .col_expr(C::Rows, Expr::col(C::Rows).add(rows))
        .col_expr(C::UpdateTime, Expr::value(Utc::now()));
    if let Some(totals) = totals {
        update = update.col_expr(C::Totals, Expr::value(Some(totals.to_string())));
    }
    update
        .filter(C::TenantId.eq(tenant_id))
        .filter(C::ChannelId.eq(channel_id))
        .filter(C::Day.eq(day))
        .exec(db)
        .await?;
    Ok(())
}
