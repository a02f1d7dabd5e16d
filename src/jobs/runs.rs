//! The runs a caller asks for (JobService): a RunJob checked against the tenant's clock and
//! started, and the run records read back or cancelled.
use super::{BACKFILL, JobError, Jobs, NIGHTLY, RunSpec, yesterday};
use crate::domain::tenant::Tenant;
use crate::kpi::period::Period;
use crate::storage::jobs::RunRecord;
use crate::storage::{Page, PageRequest};
use chrono::{NaiveDate, Utc};

/// Longest backfill one call may ask for.
pub const MAX_BACKFILL_DAYS: i64 = 400;

/// What a RunJob asks for.
#[derive(Debug)]
pub enum RunRequest {
    /// The nightly job's due days: yesterday and the missed days before it.
    Due {
        /// Whether days that succeeded are run again.
        force: bool,
    },
    /// The days `first` to `last` (the request's `first_day` and `last_day`).
    Days {
        /// Whether the kept responses are mapped again rather than pulled.
        rederive: bool,
        /// First day.
        first: NaiveDate,
        /// Last day.
        last: NaiveDate,
        /// Whether days that succeeded are run again.
        force: bool,
    },
}

impl Jobs {
    /// Starts the run `request` asks for in the background and returns its record.
    pub async fn run_job(
        &self,
        tenant: &Tenant,
        request: RunRequest,
    ) -> Result<RunRecord, JobError> {
        let yesterday = yesterday(Utc::now(), tenant);
        let spec = match request {
            RunRequest::Due { force } => {
                let days = self.due_days(tenant, Utc::now()).await?;
                if days.is_empty() {
                    return Err(JobError::FailedPrecondition(format!(
                        "every due day up to {yesterday} has succeeded or is running; give first_day and last_day with force to run days again"
                    )));
                }
                RunSpec {
                    job: NIGHTLY.into(),
                    days,
                    force,
                }
            }
            RunRequest::Days {
                rederive,
                first,
                last,
                force,
            } => {
                let period = Period::new(first, last).ok_or_else(|| {
                    JobError::Invalid(
                        "last_day".into(),
                        format!("{last} is before first_day {first}"),
                    )
                })?;
                if last > yesterday {
                    return Err(JobError::Invalid(
                        "last_day".into(),
                        format!(
                            "{last} has not ended yet in {}; the last complete day is {yesterday}",
                            tenant.settings.time_zone
                        ),
                    ));
                }
                if period.days() > MAX_BACKFILL_DAYS {
                    return Err(JobError::Invalid(
                        "first_day".into(),
                        format!(
                            "the range has {} days; at most {MAX_BACKFILL_DAYS} per run",
                            period.days()
                        ),
                    ));
                }
                if rederive {
                    RunSpec::rederive(period.iter_days().collect())
                } else {
                    RunSpec {
                        job: BACKFILL.into(),
                        days: period.iter_days().collect(),
                        force,
                    }
                }
            }
        };
        let id = self.start(tenant, spec).await?;
        Ok(self.store().get_run(&tenant.id, &id).await?)
    }

    /// The run `id` of the tenant.
    pub async fn run_record(&self, tenant: &Tenant, id: &str) -> Result<RunRecord, JobError> {
        Ok(self.store().get_run(&tenant.id, id).await?)
    }

    /// One page of the tenant's runs, of the job `job` when given.
    pub async fn run_records(
        &self,
        tenant: &Tenant,
        job: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<RunRecord>, JobError> {
        Ok(self.store().list_runs(&tenant.id, job, page).await?)
    }

    /// Asks the running run `id` to stop after its current day; refused for a run that
    /// ended.
    pub async fn cancel(&self, tenant: &Tenant, id: &str) -> Result<RunRecord, JobError> {
        Ok(self.store().request_cancel(&tenant.id, id).await?)
    }
}
