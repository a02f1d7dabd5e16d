//! The batch half of Tally: pull every source of a tenant's day, compute the day's KPIs,
//! and record what happened, exactly once per tenant and day however many replicas run.
//!
//! A run walks its days in order. For each day it claims the (tenant, day) row in the
//! database (see `storage::jobs`), pulls every channel through its connector, recomputes
//! the day and the trailing window of late data, and marks the day succeeded, partial (a
//! source failed; the next run pulls it again) or failed. A background task renews the
//! leases while the run works, so a replica that dies loses its days to the next claimer.
//! A source whose platform rate-limits it past the HTTP client's wait is pulled again
//! after the day's other sources, once the limit resets, if that is within
//! `rate_limit_max_wait`; else the next run pulls it.
//!
//! The concerns, one module each: `run` walks a run's days and steps, `claim` holds a
//! day against other replicas, `pull` pulls a source's days (rate limits included),
//! `sink` stores what a pull or a re-derive maps, `derive` maps kept responses again, and
//! `report` is what a run records.
mod claim;
mod compute;
mod derive;
mod pull;
pub mod report;
mod run;
mod runs;
pub(crate) mod scheduler;
pub(crate) mod settings;
mod sink;

pub use runs::{MAX_BACKFILL_DAYS, RunRequest};

use crate::connectors::{Credentials, Registry};
use crate::domain::observation::CustomerKeySecret;
use crate::domain::tenant::Tenant;
use crate::engine::{GoalFeed, SnapshotFeed};
use crate::kpi::period::Period;
use crate::storage::jobs::{NewRun, RunRecord, day_status};
use crate::storage::{StorageError, Store};
use chrono::{DateTime, Days, NaiveDate, Utc};
use report::RunReport;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The one scheduled job.
pub const NIGHTLY: &str = "nightly";

/// A backfill or one-off run asked for by a person.
pub const BACKFILL: &str = "backfill";

/// A recompute asked for with KpiService.ComputeKpis (see [`Jobs::compute`]).
pub const COMPUTE: &str = "compute";

/// A run that maps each day's kept responses again (see [`RunSpec::rederive`]).
pub const REDERIVE: &str = "rederive";

/// Why a re-derive skips a day.
pub const NOTHING_KEPT: &str =
    "no responses kept for this day: pulled before responses were kept, or past the retention";

/// Errors of the job runner.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A request was invalid: (field, problem).
    #[error("{0}: {1}")]
    Invalid(String, String),
    /// The state of the tenant's runs forbids the request.
    #[error("{0}")]
    FailedPrecondition(String),
}

/// How the scheduler and runner behave.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// Cron expression with seconds (`sec min hour day month weekday`).
    pub schedule: String,
    /// Time zone the schedule is read in.
    pub schedule_time_zone: chrono_tz::Tz,
    /// How long a claim lasts without renewal.
    pub lease: Duration,
    /// How often a running job renews its leases; None: a third of the lease.
    pub heartbeat: Option<Duration>,
    /// Most missed days a run catches up on.
    pub max_catch_up_days: u32,
    /// Automatic attempts per day before it waits for a forced run.
    pub max_attempts: i32,
    /// A goal whose target needs more than this many times the best change its KPI has
    /// shown gets a warning on create and update.
    pub goal_warning_factor: f64,
    /// When ListFollowerFlags flags a follower jump.
    pub follower_jump: crate::kpi::anomaly::JumpRule,
    /// The secret that keys the hashes of e-mail addresses (ingest and pulls alike).
    pub customer_keys: CustomerKeySecret,
    /// Longest a platform's rate limit may hold a source back: a source refused until
    /// later than this is pulled again by the next run instead of in this one.
    pub rate_limit_max_wait: Duration,
    /// Days the platforms' responses are kept for re-deriving; 0 keeps none.
    pub raw_retention_days: u32,
    /// Deflated bytes of kept responses per tenant; the oldest days go first beyond it.
    pub raw_max_bytes_per_tenant: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            // Hourly: each tenant's night runs in the first tick after its own midnight.
            schedule: "0 15 * * * *".into(),
            schedule_time_zone: chrono_tz::UTC,
            lease: Duration::from_secs(120),
            heartbeat: None,
            max_catch_up_days: 7,
            max_attempts: 5,
            goal_warning_factor: 3.0,
            follower_jump: crate::kpi::anomaly::JumpRule::default(),
            // Tests and embedded use; `tally serve` refuses to start without its own.
            customer_keys: CustomerKeySecret::development(),
            rate_limit_max_wait: Duration::from_secs(900),
            raw_retention_days: 400,
            raw_max_bytes_per_tenant: 256 << 20,
        }
    }
}

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// Job name: [`NIGHTLY`], [`BACKFILL`] or [`REDERIVE`].
    pub job: String,
    /// Days in order.
    pub days: Vec<NaiveDate>,
    /// Whether days that succeeded are run again.
    pub force: bool,
}

impl RunSpec {
    /// A re-derive of `days`: each day's kept responses are mapped again by the current
    /// connectors, without the platforms, and the days recomputed. Days that succeeded
    /// are its whole point, so it is always forced.
    pub fn rederive(days: Vec<NaiveDate>) -> RunSpec {
        RunSpec {
            job: REDERIVE.into(),
            days,
            force: true,
        }
    }
}

/// The runner, shared by the scheduler, the JobService and `tally run-job`.
#[derive(Clone, Debug)]
pub struct Jobs {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    feed: SnapshotFeed,
    goals: GoalFeed,
    connectors: Registry,
    credentials: Credentials,
    settings: JobSettings,
    owner: String,
}

/// The tenant's yesterday at `now`: the newest complete day.
pub fn yesterday(now: DateTime<Utc>, tenant: &Tenant) -> NaiveDate {
    let tz: chrono_tz::Tz = tenant.settings.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let today = now.with_timezone(&tz).date_naive();
    today - Days::new(1)
}

fn millis(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

impl Jobs {
    /// A runner; `owner` names this replica in claims.
    pub fn new(
        store: Store,
        feed: SnapshotFeed,
        connectors: Registry,
        credentials: Credentials,
        settings: JobSettings,
    ) -> Jobs {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "tally".into());
        let owner = format!("{host}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Jobs {
            inner: Arc::new(Inner {
                store,
                feed,
                goals: GoalFeed::default(),
                connectors,
                credentials,
                settings,
                owner,
            }),
        }
    }

    /// The store runs write to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The feed computed days are published on.
    pub fn feed(&self) -> &SnapshotFeed {
        &self.inner.feed
    }

    /// The feed goal status changes are published on.
    pub fn goal_feed(&self) -> &GoalFeed {
        &self.inner.goals
    }

    /// The settings.
    pub fn settings(&self) -> &JobSettings {
        &self.inner.settings
    }

    /// This replica's name in claims.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// The days a nightly run of `tenant` should do at `now`: yesterday and the missed
    /// days before it (at most `max_catch_up_days`, never before the first day the tenant
    /// ever ran), without the days that succeeded, are held by a live claim, or used up
    /// their automatic attempts.
    pub async fn due_days(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> Result<Vec<NaiveDate>, JobError> {
        let store = &self.inner.store;
        let last = yesterday(now, tenant);
        let Some(first_ever) = store.first_claimed_day(&tenant.id).await? else {
            return Ok(vec![last]);
        };
        let span = self.inner.settings.max_catch_up_days.max(1) as u64 - 1;
        let first = (last - Days::new(span)).max(first_ever);
        if first > last {
            return Ok(vec![]);
        }
        let records = store.days(&tenant.id, first, last).await?;
        let due = Period::new(first, last)
            .map(|p| p.iter_days().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|day| match records.iter().find(|r| r.day == *day) {
                None => true,
                Some(r) => {
                    r.status != day_status::SUCCEEDED
                        && (r.status != day_status::RUNNING || r.lease_until < now)
                        && r.attempts < self.inner.settings.max_attempts
                }
            })
            .collect();
        Ok(due)
    }

    /// One scheduler tick: every tenant's due days, tenants in an order that differs per
    /// replica so that replicas share the night. Returns the ids of the runs made.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<String>, JobError> {
        let store = &self.inner.store;
        let abandoned = store.fail_abandoned_runs().await?;
        if abandoned > 0 {
            tracing::warn!(abandoned, "marked runs of stopped replicas as failed");
        }
        let mut tenants = store.tenant_ids().await?;
        if !tenants.is_empty() {
            let offset = self.owner().bytes().map(usize::from).sum::<usize>() % tenants.len();
            tenants.rotate_left(offset);
        }
        let mut runs = Vec::new();
        for id in tenants {
            let tenant = store.get_tenant(&id).await?;
            let days = self.due_days(&tenant, now).await?;
            if days.is_empty() {
                continue;
            }
            let spec = RunSpec {
                job: NIGHTLY.into(),
                days,
                force: false,
            };
            let run_id = new_run_id();
            match self.execute(&tenant, &run_id, &spec, false, now).await {
                Ok(true) => runs.push(run_id),
                Ok(false) => {}
                Err(e) => tracing::error!(tenant = %id, error = %e, "nightly run failed"),
            }
        }
        Ok(runs)
    }

    /// Creates a run of `spec` and starts it in the background; returns its id at once.
    pub async fn start(&self, tenant: &Tenant, spec: RunSpec) -> Result<String, JobError> {
        let run_id = new_run_id();
        self.create(tenant, &run_id, &spec).await?;
        let jobs = self.clone();
        let tenant = tenant.clone();
        let id = run_id.clone();
        tokio::spawn(async move {
            if let Err(e) = jobs.execute(&tenant, &id, &spec, true, Utc::now()).await {
                tracing::error!(tenant = %tenant.id, run = %id, error = %e, "job run failed");
            }
        });
        Ok(run_id)
    }

    /// Runs `spec` to the end and returns the stored run.
    pub async fn run(&self, tenant: &Tenant, spec: RunSpec) -> Result<RunRecord, JobError> {
        let run_id = new_run_id();
        self.create(tenant, &run_id, &spec).await?;
        self.execute(tenant, &run_id, &spec, true, Utc::now())
            .await?;
        Ok(self.inner.store.get_run(&tenant.id, &run_id).await?)
    }

    async fn create(&self, tenant: &Tenant, run_id: &str, spec: &RunSpec) -> Result<(), JobError> {
        let (Some(first), Some(last)) = (spec.days.first(), spec.days.last()) else {
            return Err(JobError::Invalid("days".into(), "no day to run".into()));
        };
        let run = NewRun {
            id: run_id.to_string(),
            job: spec.job.clone(),
            first_day: *first,
            last_day: *last,
            forced: spec.force,
            owner: self.owner().to_string(),
            lease_until: self.lease_until(),
        };
        self.inner
            .store
            .create_run(&tenant.id, &run, &RunReport::default().to_json())
            .await?;
        Ok(())
    }
}

/// A new run id: time-ordered (UUIDv7) so that ids list newest first, and starting with a
/// letter as resource ids must.
fn new_run_id() -> String {
    format!("run-{}", uuid::Uuid::now_v7().simple())
}
