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
mod compute;
pub mod report;
mod runs;
pub(crate) mod scheduler;
pub(crate) mod settings;

pub use runs::{MAX_BACKFILL_DAYS, RunRequest};

use crate::connectors::{
    ConnectorError, Credentials, Page, PageSink, PullRequest, Registry, SinkError, Source,
};
use crate::domain::observation::CustomerKeySecret;
use crate::domain::tenant::Tenant;
use crate::engine::GoalFeed;
use crate::engine::{self, SnapshotFeed};
use crate::kpi::period::Period;
use crate::storage::jobs::{NewRun, RunRecord, day_status, pull_status};
use crate::storage::raw_responses::{Compressed, NewKeptPage, PullContext};
use crate::storage::{StorageError, Store};
use chrono::{DateTime, Days, NaiveDate, Utc};
use report::{DayReport, Outcome, RunReport, SourceReport, StepReport};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

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
    /// Robust z-score above which a day's follower growth is flagged by ListFollowerFlags.
    pub fake_follower_threshold: f64,
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
            fake_follower_threshold: 3.5,
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

/// Stores each page of a pull and remembers where to resume. Pages are upserted by natural
/// key, so re-storing a page after a crash (the cursor was not yet saved) changes nothing.
struct StoreSink<'a> {
    store: &'a Store,
    tenant: &'a str,
    channel_id: &'a str,
    day: NaiveDate,
    pulled: Pulled,
    /// The pull whose responses are kept (its credential is scrubbed from them).
    request: &'a PullRequest,
    /// Whether the next page starts a fresh pull, whose first page replaces the day's
    /// kept responses (a resumed pull appends).
    replace: bool,
    settings: &'a JobSettings,
}

/// What one source's pull of a day stored and what it could not.
#[derive(Debug, Default)]
struct Pulled {
    rows: u64,
    skipped: Vec<String>,
    missing: Vec<crate::connectors::MissingMetric>,
    day_zone: Option<String>,
    /// Days of the orders stored or removed: a refund or a cancellation reaches the day
    /// the order was placed on, which may lie outside the run's window.
    order_days: BTreeSet<NaiveDate>,
    /// Why responses of the pull were not kept, if some were not.
    not_kept: Option<String>,
}

/// Stores the observations of a page (pulled or derived again): upserts by natural key and
/// removes cancelled orders. Returns the days of the orders stored or removed: a refund or
/// a cancellation reaches the day the order was placed on, which may lie outside the run's
/// window.
async fn store_observations(
    store: &Store,
    tenant: &str,
    page: &Page,
) -> Result<BTreeSet<NaiveDate>, StorageError> {
    let mut order_days = BTreeSet::new();
    if !page.channel_stats.is_empty() {
        store
            .upsert_channel_stats(tenant, &page.channel_stats)
            .await?;
    }
    if !page.web_traffic.is_empty() {
        store.upsert_web_traffic(tenant, &page.web_traffic).await?;
    }
    if !page.orders.is_empty() {
        store.upsert_orders(tenant, &page.orders).await?;
        order_days.extend(page.orders.iter().map(|o| o.day));
    }
    if !page.deleted_orders.is_empty() {
        let deleted = store.delete_orders(tenant, &page.deleted_orders).await?;
        order_days.extend(deleted.days);
    }
    if !page.audience.is_empty() {
        store
            .upsert_audience_members(tenant, &page.audience)
            .await?;
    }
    if !page.interactions.is_empty() {
        store
            .upsert_interactions(tenant, &page.interactions)
            .await?;
    }
    Ok(order_days)
}

impl StoreSink<'_> {
    /// The page's responses as they are kept: serialized, scrubbed of the pull's credential
    /// in every spelling, deflated. None when nothing is to be kept, or (with the reason
    /// noted) when the page alone exceeds the tenant's bound.
    fn keepable(&mut self, raw: &[crate::connectors::RawResponse]) -> Option<Compressed> {
        if raw.is_empty() || self.settings.raw_retention_days == 0 {
            return None;
        }
        let json = match serde_json::to_string(raw) {
            Ok(json) => json,
            Err(e) => {
                self.pulled.not_kept = Some(format!("responses not kept: {e}"));
                return None;
            }
        };
        let json = match &self.request.credential {
            Some(secret) => crate::connectors::http::scrub(&json, secret.expose()),
            None => json,
        };
        let compressed = Compressed::new(&json);
        let bound = self.settings.raw_max_bytes_per_tenant;
        if compressed.compressed_bytes() as u64 > bound {
            self.pulled.not_kept = Some(format!(
                "responses not kept: a page of {} compressed bytes exceeds \
                 raw_max_bytes_per_tenant ({bound}); this day cannot be derived again",
                compressed.compressed_bytes()
            ));
            return None;
        }
        Some(compressed)
    }
}

impl Pulled {
    /// Counts a stored page of `rows` rows and keeps what it reports: at most 20 skipped
    /// rows, each missing metric once, the platform's day zone.
    fn add(&mut self, rows: u64, page: Page) {
        self.rows += rows;
        let room = 20usize.saturating_sub(self.skipped.len());
        self.skipped.extend(page.skipped.into_iter().take(room));
        for missing in page.missing {
            if !self.missing.contains(&missing) {
                self.missing.push(missing);
            }
        }
        if page.day_zone.is_some() {
            self.day_zone = page.day_zone;
        }
    }
}

#[async_trait::async_trait]
impl PageSink for StoreSink<'_> {
    async fn page(&mut self, page: Page, next_cursor: Option<String>) -> Result<(), SinkError> {
        let err = |e: StorageError| SinkError(e.to_string());
        let s = self.store;
        let order_days = store_observations(s, self.tenant, &page)
            .await
            .map_err(err)?;
        self.pulled.order_days.extend(order_days);
        let rows = page.rows();
        let totals = page.totals.as_ref().map(|t| t.to_string());
        let compressed = self.keepable(&page.raw);
        let context = PullContext {
            latest: self.request.latest,
            previous_totals: self.request.previous_totals.as_ref().map(|t| t.to_string()),
        };
        // The responses and the cursor commit together: a page stored again after a crash
        // before its cursor was saved is kept once.
        s.save_pull_page_keeping(
            self.tenant,
            self.channel_id,
            self.day,
            self.replace,
            compressed.as_ref().map(|compressed| NewKeptPage {
                context: &context,
                compressed,
            }),
            next_cursor.as_deref(),
            rows as i64,
            totals.as_deref(),
        )
        .await
        .map_err(err)?;
        self.replace = false;
        self.pulled.add(rows, page);
        Ok(())
    }
}

/// Why a source's pull of a day failed.
struct PullFailure {
    /// What to report.
    message: String,
    /// When the platform takes requests again, if it asked to wait past the HTTP cap.
    until: Option<DateTime<Utc>>,
}

/// Times a rate-limited source's day is rescheduled within one run at most.
const MAX_RESCHEDULES: u32 = 3;

/// A source's day held back by a platform's rate limit, pulled again after `until`.
#[derive(Clone, Debug)]
struct Deferred {
    source: Source,
    day: NaiveDate,
    is_latest: bool,
    force: bool,
    until: DateTime<Utc>,
    /// A rescheduled pull limited again past this is left to the next run, so the run
    /// waits at most `rate_limit_max_wait` for one source.
    deadline: DateTime<Utc>,
    reschedules: u32,
}

/// A source's report with nothing pulled yet.
fn source_report(
    source: &Source,
    day: NaiveDate,
    connector: &str,
    outcome: Outcome,
    detail: String,
) -> SourceReport {
    SourceReport {
        channel_id: source.channel_id.clone(),
        connector: connector.to_string(),
        day,
        outcome,
        rows: 0,
        duration_ms: 0,
        detail,
        skipped_rows: vec![],
        missing: vec![],
        day_zone: String::new(),
    }
}

/// The report of a deferred source's day in `day_report`.
fn find_report<'a>(day_report: &'a mut DayReport, d: &Deferred) -> Option<&'a mut SourceReport> {
    day_report
        .sources
        .iter_mut()
        .find(|r| r.channel_id == d.source.channel_id && r.day == d.day)
}

/// A time as the reports show it: RFC 3339 in UTC, whole seconds.
fn shown_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The detail of a source whose platform refuses requests for longer than the run waits.
fn beyond_wait(until: DateTime<Utc>, max_wait: Duration, message: &str) -> String {
    format!(
        "rate limited until {}, later than the {} s the run waits; the next run pulls it \
         again ({message})",
        shown_time(until),
        max_wait.as_secs()
    )
}

/// A day this run holds. A lost claim is told on the claim itself, not on the run: a
/// renewal that lands after its day was finished must not fail the days after it.
struct DayClaim {
    day: NaiveDate,
    lost: watch::Sender<bool>,
}

impl DayClaim {
    fn new(day: NaiveDate) -> Arc<DayClaim> {
        Arc::new(DayClaim {
            day,
            lost: watch::Sender::new(false),
        })
    }

    fn lose(&self) {
        self.lost.send_replace(true);
    }

    fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Resolves once the claim is lost.
    async fn lost(&self) {
        let mut lost = self.lost.subscribe();
        // The sender lives as long as `self`, so this ends only with a loss.
        let _ = lost.wait_for(|lost| *lost).await;
    }
}

/// Renews the leases of a run and of the day it works on until dropped.
struct Heartbeat {
    claim: Arc<Mutex<Option<Arc<DayClaim>>>>,
    cancel: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Makes `claim` the day whose lease is renewed, or none.
    fn hold(&self, claim: Option<Arc<DayClaim>>) {
        *self.claim.lock().unwrap_or_else(|e| e.into_inner()) = claim;
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
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

    fn lease_until(&self) -> DateTime<Utc> {
        Utc::now()
            + chrono::Duration::from_std(self.inner.settings.lease)
                .unwrap_or(chrono::Duration::seconds(120))
    }

    fn heartbeat(&self, tenant: &str, run_id: &str) -> Heartbeat {
        let claim = Arc::new(Mutex::new(None::<Arc<DayClaim>>));
        let cancel = Arc::new(AtomicBool::new(false));
        let jobs = self.clone();
        let (tenant, run_id) = (tenant.to_string(), run_id.to_string());
        let (held, c) = (claim.clone(), cancel.clone());
        let settings = &self.inner.settings;
        let every = settings.heartbeat.unwrap_or(settings.lease / 3);
        let current = move || held.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let until = jobs.lease_until();
                let store = &jobs.inner.store;
                match store.extend_run(&tenant, &run_id, until).await {
                    Ok(cancelled) => c.store(cancelled, Ordering::SeqCst),
                    Err(e) => tracing::warn!(error = %e, "could not renew the run's lease"),
                }
                let Some(claim) = current() else { continue };
                match store
                    .extend_day(&tenant, claim.day, jobs.owner(), &run_id, until)
                    .await
                {
                    Ok(true) => {}
                    // The run lets go of a day before finishing it, so a claim it still
                    // holds is one this renewal could not find: another run took it.
                    Ok(false) if current().is_some_and(|c| Arc::ptr_eq(&c, &claim)) => {
                        tracing::warn!(tenant = %tenant, run = %run_id, day = %claim.day, "lost the day's claim to another run");
                        claim.lose();
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "could not renew the day's lease"),
                }
            }
        });
        Heartbeat {
            claim,
            cancel,
            task,
        }
    }

    /// Runs the days of `spec` for `tenant` under `run_id`. When `created` is false the run
    /// row is made at the first claimed day, so a tick that finds every day taken leaves
    /// no trace. Current totals belong to the tenant's yesterday at `now`, the same clock
    /// that chose the days. Returns whether the run exists.
    async fn execute(
        &self,
        tenant: &Tenant,
        run_id: &str,
        spec: &RunSpec,
        mut created: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, JobError> {
        let store = &self.inner.store;
        let latest = yesterday(now, tenant);
        let trailing = tenant.settings.trailing_days.max(1) as u64;
        let mut report = RunReport::default();
        let heartbeat = self.heartbeat(&tenant.id, run_id);
        let mut previous: Option<NaiveDate> = None;
        // The days this run computed and still held when it recorded them: a day lost to
        // another replica is that replica's to write, cohort KPIs included.
        let mut computed: Option<Period> = None;
        let mut last_save = Instant::now();
        // Days outside the run's windows whose orders a refund or cancellation changed.
        let mut outside = BTreeSet::new();
        for (index, &day) in spec.days.iter().enumerate() {
            if heartbeat.cancel.load(Ordering::SeqCst) {
                report.days.push(skipped_day(
                    day,
                    Outcome::Cancelled,
                    "the run was cancelled",
                ));
                continue;
            }
            if spec.job == REDERIVE && store.kept_channels(&tenant.id, day).await?.is_empty() {
                report
                    .days
                    .push(skipped_day(day, Outcome::Skipped, NOTHING_KEPT));
                continue;
            }
            // A re-derive leaves the day's recorded status as it found it: a source whose
            // pull failed is still pulled again by the next nightly run.
            let prior = if spec.job == REDERIVE {
                store.days(&tenant.id, day, day).await?.into_iter().next()
            } else {
                None
            }
            .map(|r| r.status)
            .filter(|status| status != day_status::RUNNING);
            let claimed = store
                .claim_day(
                    &tenant.id,
                    day,
                    run_id,
                    self.owner(),
                    self.lease_until(),
                    spec.force,
                )
                .await?;
            if !claimed {
                let held = self.explain_unclaimed(&tenant.id, day).await?;
                report
                    .days
                    .push(skipped_day(day, Outcome::Skipped, &held.1));
                if held.0 {
                    // A later day must not be computed before this one.
                    for &rest in &spec.days[index + 1..] {
                        report.days.push(skipped_day(
                            rest,
                            Outcome::Skipped,
                            "waits for an earlier day that another run holds",
                        ));
                    }
                    break;
                }
                continue;
            }
            if !created {
                self.create(tenant, run_id, spec).await?;
                created = true;
            }
            let claim = DayClaim::new(day);
            heartbeat.hold(Some(claim.clone()));
            // Re-pull and recompute the trailing window of late data, but not days this
            // run has just done.
            let mut window_first = day - Days::new(trailing - 1);
            if let Some(prev) = previous {
                window_first = window_first.max(prev + Days::new(1));
            }
            if spec.job == REDERIVE {
                // A mapping may file a response under the day before (a platform's day
                // ends before the tenant's), so that day is recomputed after it too.
                window_first = day.pred_opt().unwrap_or(day);
            }
            let window = Period::new(window_first, day).unwrap_or(Period::day(day));
            let mut day_report = self
                .run_day(
                    tenant,
                    run_id,
                    spec,
                    day,
                    window,
                    latest,
                    &heartbeat,
                    &claim,
                    &mut report,
                    &mut last_save,
                    &mut outside,
                )
                .await;
            // Pulled observations change answers computed on the fly from them.
            store.generations().tenant_written(&tenant.id);
            // Let go before finishing, so that the heartbeat never renews a finished day.
            heartbeat.hold(None);
            let kept = store
                .finish_day(
                    &tenant.id,
                    day,
                    self.owner(),
                    run_id,
                    prior.as_deref().unwrap_or(day_report.outcome.as_str()),
                )
                .await?;
            if !kept && day_report.outcome != Outcome::Failed {
                day_report = failed_day(
                    day_report,
                    "finish",
                    Instant::now(),
                    "lost the day's claim to another run before it was recorded".into(),
                );
            }
            let wrote = kept
                && day_report
                    .steps
                    .iter()
                    .any(|s| s.name == "compute" && s.outcome == Outcome::Succeeded);
            if wrote {
                computed = Some(computed.map_or(Period::day(day), |p| Period {
                    first: p.first,
                    last: day,
                }));
            }
            report.days.push(day_report);
            let cancelled = self.save(&tenant.id, run_id, &report, false).await?;
            heartbeat.cancel.fetch_or(cancelled, Ordering::SeqCst);
            previous = Some(day);
        }
        if created {
            if let Some(Period { first, last }) = computed {
                // Returning buyers before a changed order's day count it too.
                let first = outside.first().map_or(first, |&d| d.min(first));
                self.recompute_cohorts(tenant, run_id, first, last, &mut report)
                    .await;
            }
            self.prune_kept_responses(tenant, latest, &mut report).await;
            self.save(&tenant.id, run_id, &report, true).await?;
            crate::metrics::job_run_finished(report.outcome().as_str());
            tracing::info!(tenant = %tenant.id, run = run_id, outcome = report.outcome().as_str(), rows = report.rows(), "job run ended");
        }
        Ok(created)
    }

    /// Why a day could not be claimed, and whether it is held by a live claim.
    async fn explain_unclaimed(
        &self,
        tenant: &str,
        day: NaiveDate,
    ) -> Result<(bool, String), JobError> {
        let record = self
            .inner
            .store
            .days(tenant, day, day)
            .await?
            .into_iter()
            .next();
        Ok(match record {
            Some(r) if r.status == day_status::RUNNING => (
                true,
                format!(
                    "held by {} (run {}) until {}",
                    r.owner,
                    r.run_id,
                    r.lease_until.to_rfc3339()
                ),
            ),
            Some(r) => (
                false,
                format!(
                    "already {} by run {}; force to run it again",
                    r.status, r.run_id
                ),
            ),
            None => (false, "could not be claimed".into()),
        })
    }

    async fn save(
        &self,
        tenant: &str,
        run_id: &str,
        report: &RunReport,
        end: bool,
    ) -> Result<bool, JobError> {
        let status = if end {
            report.outcome().as_str()
        } else {
            "running"
        };
        let error = report
            .days
            .iter()
            .find(|d| d.outcome == Outcome::Failed)
            .map(|d| format!("{}: {}", d.day, d.detail));
        Ok(self
            .inner
            .store
            .save_run(
                tenant,
                run_id,
                status,
                &report.to_json(),
                report.rows() as i64,
                error.as_deref(),
                self.lease_until(),
                end,
            )
            .await?)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_day(
        &self,
        tenant: &Tenant,
        run_id: &str,
        spec: &RunSpec,
        day: NaiveDate,
        window: Period,
        latest: NaiveDate,
        heartbeat: &Heartbeat,
        claim: &DayClaim,
        report: &mut RunReport,
        last_save: &mut Instant,
        outside: &mut BTreeSet<NaiveDate>,
    ) -> DayReport {
        let mut day_report = DayReport {
            day,
            outcome: Outcome::Succeeded,
            detail: String::new(),
            steps: vec![],
            sources: vec![],
        };
        let started = Instant::now();
        let mut order_days = BTreeSet::new();
        let sources = match self.inner.store.sources(&tenant.id).await {
            Ok(s) => s,
            Err(e) => return failed_day(day_report, "pull", started, e.to_string()),
        };
        let mut deferred = Vec::new();
        for source in &sources {
            if heartbeat.cancel.load(Ordering::SeqCst) {
                day_report.outcome = Outcome::Cancelled;
                day_report.detail = "the run was cancelled".into();
                return day_report;
            }
            let results = if spec.job == REDERIVE {
                self.derive_source(tenant, source, day, &mut order_days)
                    .await
            } else {
                self.pull_source(
                    tenant,
                    source,
                    day,
                    window,
                    latest,
                    spec.force,
                    &mut deferred,
                    &mut order_days,
                )
                .await
            };
            day_report.sources.extend(results);
            // Progress is visible while the day runs, at most once a second: the report
            // is written whole, and grows with the run.
            if last_save.elapsed() >= Duration::from_secs(1) {
                *last_save = Instant::now();
                let mut snapshot = report.clone();
                snapshot.days.push(day_report.clone());
                if let Ok(cancelled) = self.save(&tenant.id, run_id, &snapshot, false).await {
                    heartbeat.cancel.fetch_or(cancelled, Ordering::SeqCst);
                }
            } else if let Ok(cancelled) =
                self.inner.store.cancel_requested(&tenant.id, run_id).await
            {
                heartbeat.cancel.fetch_or(cancelled, Ordering::SeqCst);
            }
        }
        if !deferred.is_empty() {
            let mut snapshot = report.clone();
            snapshot.days.push(day_report.clone());
            if let Ok(cancelled) = self.save(&tenant.id, run_id, &snapshot, false).await {
                heartbeat.cancel.fetch_or(cancelled, Ordering::SeqCst);
            }
            let finished = self
                .pull_deferred(
                    tenant,
                    run_id,
                    deferred,
                    heartbeat,
                    claim,
                    &mut day_report,
                    &mut order_days,
                )
                .await;
            if !finished && heartbeat.cancel.load(Ordering::SeqCst) {
                day_report.outcome = Outcome::Cancelled;
                day_report.detail = "the run was cancelled".into();
                return day_report;
            }
        }
        let failed: Vec<&SourceReport> = day_report
            .sources
            .iter()
            .filter(|s| s.outcome == Outcome::Failed)
            .collect();
        day_report.steps.push(StepReport {
            name: if spec.job == REDERIVE {
                "derive"
            } else {
                "pull"
            }
            .into(),
            outcome: if failed.is_empty() {
                Outcome::Succeeded
            } else {
                Outcome::Partial
            },
            duration_ms: millis(started),
            count: day_report.sources.iter().map(|s| s.rows).sum(),
            detail: failed
                .iter()
                .map(|s| format!("{} ({}): {}", s.channel_id, s.day, s.detail))
                .collect::<Vec<_>>()
                .join("; "),
        });
        if !failed.is_empty() {
            day_report.outcome = Outcome::Partial;
            day_report.detail = if spec.job == REDERIVE {
                format!("{} source derive(s) failed", failed.len())
            } else {
                format!(
                    "{} source pull(s) failed; retried by the next run",
                    failed.len()
                )
            };
        }
        // Checked here and not only by the heartbeat, whose last renewal may be up to a
        // third of the lease old: the day's writes start under a claim renewed just now.
        let started = Instant::now();
        match self
            .inner
            .store
            .extend_day(&tenant.id, day, self.owner(), run_id, self.lease_until())
            .await
        {
            Ok(true) => {}
            Ok(false) => claim.lose(),
            Err(e) => return failed_day(day_report, "compute", started, e.to_string()),
        }
        if claim.is_lost() {
            return failed_day(
                day_report,
                "compute",
                started,
                "lost the day's claim to another replica; not computed here".into(),
            );
        }
        let recompute = engine::recompute(
            &self.inner.store,
            &self.inner.feed,
            &tenant.id,
            window,
            run_id,
        );
        // A claim lost while computing stops the day's writes: dropping the recompute
        // aborts its writer (only a commit already on its way may land).
        let computed = tokio::select! {
            biased;
            () = claim.lost() => None,
            computed = recompute => Some(computed),
        };
        match computed {
            Some(Ok(summary)) => day_report.steps.push(StepReport {
                name: "compute".into(),
                outcome: Outcome::Succeeded,
                duration_ms: millis(started),
                count: summary.snapshots,
                detail: format!("recomputed {window}"),
            }),
            Some(Err(e)) => return failed_day(day_report, "compute", started, e.to_string()),
            None => {
                return failed_day(
                    day_report,
                    "compute",
                    started,
                    "lost the day's claim to another replica while computing; its writes \
                     stopped"
                        .into(),
                );
            }
        }
        order_days.retain(|d| !window.contains(*d));
        if !order_days.is_empty() {
            let step = self
                .recompute_order_days(tenant, run_id, &order_days, claim)
                .await;
            if step.outcome == Outcome::Failed && day_report.outcome == Outcome::Succeeded {
                day_report.outcome = Outcome::Partial;
                day_report.detail = format!(
                    "recomputing the days of changed orders failed: {}",
                    step.detail
                );
            }
            day_report.steps.push(step);
            outside.append(&mut order_days);
        }
        // Goals are evaluated as of each day of a nightly run; a backfill evaluates them
        // once, as of its last day, since evaluations as of past days are not what anyone
        // waits for and each one measures up to 28 periods per goal.
        if spec.job == NIGHTLY || spec.days.last() == Some(&day) {
            let started = Instant::now();
            let step = match crate::engine::evaluate_goals(
                &self.inner.store,
                &self.inner.goals,
                &tenant.id,
                day,
            )
            .await
            {
                Ok(count) => StepReport {
                    name: "evaluate".into(),
                    outcome: Outcome::Succeeded,
                    duration_ms: millis(started),
                    count,
                    detail: format!("goals evaluated as of {day}"),
                },
                Err(e) => {
                    if day_report.outcome == Outcome::Succeeded {
                        day_report.outcome = Outcome::Partial;
                        day_report.detail = format!("goal evaluation failed: {e}");
                    }
                    StepReport {
                        name: "evaluate".into(),
                        outcome: Outcome::Failed,
                        duration_ms: millis(started),
                        count: 0,
                        detail: e.to_string(),
                    }
                }
            };
            day_report.steps.push(step);
        }
        day_report
    }

    /// Pulls one source for the days of `window` it can report, adding the days of the
    /// orders it stored or removed to `order_days`. A day the platform refuses until a
    /// time within `rate_limit_max_wait` goes on `deferred` (and so do the source's later
    /// days, without spending a request), to be pulled after the day's other sources; a
    /// later time fails it for this run.
    #[allow(clippy::too_many_arguments)]
    async fn pull_source(
        &self,
        tenant: &Tenant,
        source: &Source,
        day: NaiveDate,
        window: Period,
        latest: NaiveDate,
        force: bool,
        deferred: &mut Vec<Deferred>,
        order_days: &mut BTreeSet<NaiveDate>,
    ) -> Vec<SourceReport> {
        let Some(connector) = self.inner.connectors.get(source.platform) else {
            return vec![source_report(
                source,
                day,
                "",
                Outcome::Skipped,
                format!(
                    "no connector pulls {} channels; ingest their data instead",
                    source.platform.as_str()
                ),
            )];
        };
        let days: Vec<NaiveDate> = if connector.has_history() {
            window.iter_days().collect()
        } else if day == latest {
            vec![day]
        } else {
            return vec![source_report(
                source,
                day,
                connector.name(),
                Outcome::Skipped,
                format!(
                    "{} reports only current totals, which belong to {latest}, not {day}",
                    connector.name()
                ),
            )];
        };
        let max_wait = self.inner.settings.rate_limit_max_wait;
        let mut limited: Option<(DateTime<Utc>, String)> = None;
        let mut results = Vec::new();
        for d in days {
            let (is_latest, force) = (d == latest, force && d == day);
            let (mut report, until) = match &limited {
                // The platform refuses until then: no request is spent before it.
                Some((until, message)) => (
                    source_report(
                        source,
                        d,
                        connector.name(),
                        Outcome::Failed,
                        message.clone(),
                    ),
                    Some(*until),
                ),
                None => {
                    self.pull_report(
                        tenant,
                        source,
                        connector.as_ref(),
                        d,
                        is_latest,
                        force,
                        order_days,
                    )
                    .await
                }
            };
            if let Some(until) = until {
                limited.get_or_insert((until, report.detail.clone()));
                let now = Utc::now();
                if until - now <= chrono::Duration::from_std(max_wait).unwrap_or_default() {
                    report.detail = format!(
                        "rate limited until {}; rescheduled after the day's other sources",
                        shown_time(until)
                    );
                    deferred.push(Deferred {
                        source: source.clone(),
                        day: d,
                        is_latest,
                        force,
                        until,
                        deadline: now + max_wait,
                        reschedules: 1,
                    });
                } else {
                    report.detail = beyond_wait(until, max_wait, &report.detail);
                }
            }
            results.push(report);
        }
        results
    }

    /// Pulls `source`'s day and reports it; with the time the platform refuses requests
    /// until, when it asked to wait past the HTTP client's cap.
    #[allow(clippy::too_many_arguments)]
    async fn pull_report(
        &self,
        tenant: &Tenant,
        source: &Source,
        connector: &dyn crate::connectors::Connector,
        d: NaiveDate,
        is_latest: bool,
        force: bool,
        order_days: &mut BTreeSet<NaiveDate>,
    ) -> (SourceReport, Option<DateTime<Utc>>) {
        let started = Instant::now();
        let name = connector.name();
        match self
            .pull_one(tenant, source, connector, d, is_latest, force, order_days)
            .await
        {
            Ok(Some(pulled)) => {
                crate::metrics::rows_pulled(name, pulled.rows);
                let mut r = source_report(source, d, name, Outcome::Succeeded, String::new());
                r.rows = pulled.rows;
                r.skipped_rows = pulled.skipped;
                r.missing = pulled.missing;
                r.day_zone = pulled.day_zone.unwrap_or_default();
                r.detail = pulled.not_kept.unwrap_or_default();
                r.duration_ms = millis(started);
                (r, None)
            }
            Ok(None) => (
                source_report(
                    source,
                    d,
                    name,
                    Outcome::Skipped,
                    "pulled by an earlier run".into(),
                ),
                None,
            ),
            Err(failure) => {
                let mut r = source_report(source, d, name, Outcome::Failed, failure.message);
                r.duration_ms = millis(started);
                tracing::warn!(tenant = %tenant.id, channel = %source.channel_id, day = %d, error = %r.detail, "source pull failed");
                (r, failure.until)
            }
        }
    }

    /// Pulls the rate-limited days again, each once its platform takes requests, in the
    /// order their limits end; the day's claim stays renewed by the heartbeat meanwhile.
    /// Returns false when the run was cancelled or the claim lost while waiting.
    #[allow(clippy::too_many_arguments)]
    async fn pull_deferred(
        &self,
        tenant: &Tenant,
        run_id: &str,
        mut deferred: Vec<Deferred>,
        heartbeat: &Heartbeat,
        claim: &DayClaim,
        day_report: &mut DayReport,
        order_days: &mut BTreeSet<NaiveDate>,
    ) -> bool {
        let max_wait = self.inner.settings.rate_limit_max_wait;
        while !deferred.is_empty() {
            deferred.sort_by_key(|d| d.until);
            let next = deferred.remove(0);
            let waited = self
                .wait_until(tenant, run_id, next.until, heartbeat, claim)
                .await;
            if !waited {
                let why = if claim.is_lost() {
                    "the day's claim was lost before the retry"
                } else {
                    "the run was cancelled before the retry"
                };
                for d in std::iter::once(&next).chain(&deferred) {
                    if let Some(r) = find_report(day_report, d) {
                        r.detail = format!("{}; {why}", r.detail);
                        if !claim.is_lost() {
                            r.outcome = Outcome::Cancelled;
                        }
                    }
                }
                return false;
            }
            let Some(connector) = self.inner.connectors.get(next.source.platform) else {
                continue;
            };
            let (mut report, until) = self
                .pull_report(
                    tenant,
                    &next.source,
                    connector.as_ref(),
                    next.day,
                    next.is_latest,
                    next.force,
                    order_days,
                )
                .await;
            let rescheduled = format!(
                "rate limited until {}; rescheduled after the day's other sources",
                shown_time(next.until)
            );
            match until {
                Some(until) if until <= next.deadline && next.reschedules < MAX_RESCHEDULES => {
                    report.detail = format!(
                        "{rescheduled}, then rate limited again until {}; rescheduled again",
                        shown_time(until)
                    );
                    deferred.push(Deferred {
                        until,
                        reschedules: next.reschedules + 1,
                        ..next.clone()
                    });
                }
                Some(until) => {
                    report.detail = format!(
                        "{rescheduled}, then {}",
                        beyond_wait(until, max_wait, &report.detail)
                    );
                }
                None if report.outcome == Outcome::Failed => {
                    report.detail = format!("{rescheduled}, then failed: {}", report.detail);
                }
                None => {
                    report.detail =
                        format!("{rescheduled} and pulled at {}", shown_time(Utc::now()));
                }
            }
            if let Some(r) = find_report(day_report, &next) {
                *r = report;
            }
        }
        true
    }

    /// Waits until `until`, checking for a cancellation every second; false when the run
    /// was cancelled or the day's claim lost first.
    async fn wait_until(
        &self,
        tenant: &Tenant,
        run_id: &str,
        until: DateTime<Utc>,
        heartbeat: &Heartbeat,
        claim: &DayClaim,
    ) -> bool {
        loop {
            if heartbeat.cancel.load(Ordering::SeqCst) || claim.is_lost() {
                return false;
            }
            let left = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            if left.is_zero() {
                return true;
            }
            tokio::select! {
                () = tokio::time::sleep(left.min(Duration::from_secs(1))) => {}
                () = claim.lost() => return false,
            }
            if let Ok(cancelled) = self.inner.store.cancel_requested(&tenant.id, run_id).await {
                heartbeat.cancel.fetch_or(cancelled, Ordering::SeqCst);
            }
        }
    }

    /// Pulls one source's day. Sources with history are pulled again (late data; the
    /// upserts make that harmless); current totals are pulled once per day, unless forced,
    /// and None says an earlier run already took them.
    #[allow(clippy::too_many_arguments)]
    async fn pull_one(
        &self,
        tenant: &Tenant,
        source: &Source,
        connector: &dyn crate::connectors::Connector,
        d: NaiveDate,
        is_latest: bool,
        force: bool,
        order_days: &mut BTreeSet<NaiveDate>,
    ) -> Result<Option<Pulled>, PullFailure> {
        let store = &self.inner.store;
        let text = |e: StorageError| PullFailure {
            message: e.to_string(),
            until: None,
        };
        let existing = store
            .get_pull(&tenant.id, &source.channel_id, d)
            .await
            .map_err(text)?;
        let resume = existing
            .as_ref()
            .is_some_and(|p| p.status == pull_status::RUNNING && p.cursor.is_some());
        if let Some(p) = &existing
            && p.status == pull_status::DONE
            && !force
            && !connector.has_history()
        {
            // Current totals cannot be pulled for a past moment; keep the first reading.
            return Ok(None);
        }
        let record = store
            .begin_pull(&tenant.id, &source.channel_id, d, !resume)
            .await
            .map_err(text)?;
        let previous_totals = store
            .get_pull(&tenant.id, &source.channel_id, d - Days::new(1))
            .await
            .map_err(text)?
            .and_then(|p| p.totals)
            .and_then(|t| serde_json::from_str(&t).ok());
        let request = PullRequest {
            tenant: tenant.id.clone(),
            source: source.clone(),
            day: d,
            time_zone: tenant.settings.time_zone.parse().unwrap_or(chrono_tz::UTC),
            currency: tenant.settings.currency.clone(),
            latest: is_latest,
            previous_totals,
            credential: self
                .inner
                .credentials
                .resolve(&tenant.id, &source.credentials_ref),
            cursor: record.cursor.clone(),
            customer_keys: self.inner.settings.customer_keys.clone(),
        };
        let mut sink = StoreSink {
            store,
            tenant: &tenant.id,
            channel_id: &source.channel_id,
            day: d,
            pulled: Pulled::default(),
            request: &request,
            replace: !resume,
            settings: &self.inner.settings,
        };
        let outcome = connector.pull(&request, &mut sink).await;
        let mut pulled = sink.pulled;
        // Pages stored before a failure changed their orders' days all the same.
        order_days.append(&mut pulled.order_days);
        match outcome {
            Ok(()) => {
                store
                    .finish_pull(&tenant.id, &source.channel_id, d, pull_status::DONE, None)
                    .await
                    .map_err(text)?;
                Ok(Some(pulled))
            }
            Err(e) => {
                let message = e.to_string();
                store
                    .finish_pull(
                        &tenant.id,
                        &source.channel_id,
                        d,
                        pull_status::FAILED,
                        Some(&message),
                    )
                    .await
                    .map_err(text)?;
                let until = match e {
                    ConnectorError::RateLimited { until, .. } => Some(until),
                    _ => None,
                };
                Err(PullFailure { message, until })
            }
        }
    }

    /// Recomputes `days` (outside the day's window), consecutive days together, as a step.
    async fn recompute_order_days(
        &self,
        tenant: &Tenant,
        run_id: &str,
        days: &BTreeSet<NaiveDate>,
        claim: &DayClaim,
    ) -> StepReport {
        let started = Instant::now();
        let mut ranges: Vec<Period> = Vec::new();
        for &d in days {
            match ranges.last_mut() {
                Some(last) if last.last.succ_opt() == Some(d) => last.last = d,
                _ => ranges.push(Period::day(d)),
            }
        }
        let mut snapshots = 0;
        let mut error = None;
        for range in &ranges {
            let recompute = engine::recompute(
                &self.inner.store,
                &self.inner.feed,
                &tenant.id,
                *range,
                run_id,
            );
            let computed = tokio::select! {
                biased;
                () = claim.lost() => Err("lost the day's claim to another replica".to_string()),
                computed = recompute => computed.map_err(|e| e.to_string()),
            };
            match computed {
                Ok(summary) => snapshots += summary.snapshots,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let listed = ranges
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        StepReport {
            name: "recompute_orders".into(),
            outcome: if error.is_some() {
                Outcome::Failed
            } else {
                Outcome::Succeeded
            },
            duration_ms: millis(started),
            count: snapshots,
            detail: match error {
                Some(e) => format!("{listed}: {e}"),
                None => format!("days of refunded or cancelled orders: {listed}"),
            },
        }
    }

    /// Maps one source's kept responses of `day` again through its connector's current
    /// mapping and stores the observations; no platform is called. The request is rebuilt
    /// from the kept pull context and the tenant's current settings, without credential.
    async fn derive_source(
        &self,
        tenant: &Tenant,
        source: &Source,
        day: NaiveDate,
        order_days: &mut BTreeSet<NaiveDate>,
    ) -> Vec<SourceReport> {
        let started = Instant::now();
        let report = |connector: &str, outcome, detail: String| SourceReport {
            channel_id: source.channel_id.clone(),
            connector: connector.to_string(),
            day,
            outcome,
            rows: 0,
            duration_ms: millis(started),
            detail,
            skipped_rows: vec![],
            missing: vec![],
            day_zone: String::new(),
        };
        let Some(connector) = self.inner.connectors.get(source.platform) else {
            return vec![report(
                "",
                Outcome::Skipped,
                format!("no connector derives {} channels", source.platform.as_str()),
            )];
        };
        let store = &self.inner.store;
        let channel = &source.channel_id;
        let pages = match store.kept_page_numbers(&tenant.id, channel, day).await {
            Ok(pages) => pages,
            Err(e) => return vec![report(connector.name(), Outcome::Failed, e.to_string())],
        };
        if pages.is_empty() {
            return vec![report(
                connector.name(),
                Outcome::Skipped,
                NOTHING_KEPT.into(),
            )];
        }
        let mut pulled = Pulled::default();
        let mut fetched = None;
        // One page in memory at a time: a day of a large shop may hold many.
        for &number in &pages {
            let kept = match store.kept_page(&tenant.id, channel, day, number).await {
                Ok(Some(kept)) => kept,
                // Replaced by a pull that ran meanwhile; its own pages are current.
                Ok(None) => continue,
                Err(e) => return vec![report(connector.name(), Outcome::Failed, e.to_string())],
            };
            fetched = fetched.or(Some(kept.fetch_time));
            let request = PullRequest {
                tenant: tenant.id.clone(),
                source: source.clone(),
                day,
                time_zone: tenant.settings.time_zone.parse().unwrap_or(chrono_tz::UTC),
                currency: tenant.settings.currency.clone(),
                latest: kept.context.latest,
                previous_totals: kept
                    .context
                    .previous_totals
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok()),
                credential: None,
                cursor: None,
                customer_keys: self.inner.settings.customer_keys.clone(),
            };
            let page = match connector.derive(&request, &kept.responses) {
                Ok(page) => page,
                Err(e) => {
                    return vec![report(
                        connector.name(),
                        Outcome::Failed,
                        format!("kept page {}: {e}", kept.page),
                    )];
                }
            };
            match store_observations(store, &tenant.id, &page).await {
                Ok(days) => order_days.extend(days),
                Err(e) => return vec![report(connector.name(), Outcome::Failed, e.to_string())],
            }
            pulled.add(page.rows(), page);
        }
        let mut r = report(
            connector.name(),
            Outcome::Succeeded,
            format!(
                "derived again from {} kept page(s) fetched {}",
                pages.len(),
                fetched.map_or_else(String::new, |t| t
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            ),
        );
        r.rows = pulled.rows;
        r.skipped_rows = pulled.skipped;
        r.missing = pulled.missing;
        r.day_zone = pulled.day_zone.unwrap_or_default();
        vec![r]
    }

    /// Drops the tenant's kept responses past the retention and, oldest days first, beyond
    /// its size bound (a bounded batch per run); reported on the run's last day when it
    /// dropped something or failed.
    async fn prune_kept_responses(
        &self,
        tenant: &Tenant,
        latest: NaiveDate,
        report: &mut RunReport,
    ) {
        let settings = &self.inner.settings;
        let started = Instant::now();
        // Retention counts days back from the latest complete day, that one included.
        let keep_from = latest
            .checked_sub_days(Days::new(settings.raw_retention_days as u64))
            .map_or(NaiveDate::MIN, |d| d + Days::new(1));
        let max_bytes = i64::try_from(settings.raw_max_bytes_per_tenant).unwrap_or(i64::MAX);
        let step = match self
            .inner
            .store
            .prune_kept_responses(&tenant.id, keep_from, max_bytes)
            .await
        {
            Ok(p) if p.expired + p.over_bound == 0 => return,
            Ok(p) => StepReport {
                name: "prune_responses".into(),
                outcome: Outcome::Succeeded,
                duration_ms: millis(started),
                count: p.expired + p.over_bound,
                detail: format!(
                    "dropped {} kept page(s) of days before {keep_from} (raw_retention_days) \
                     and {} of the oldest days beyond raw_max_bytes_per_tenant",
                    p.expired, p.over_bound
                ),
            },
            Err(e) => {
                tracing::warn!(tenant = %tenant.id, error = %e, "could not prune kept responses");
                StepReport {
                    name: "prune_responses".into(),
                    outcome: Outcome::Failed,
                    duration_ms: millis(started),
                    count: 0,
                    detail: e.to_string(),
                }
            }
        };
        if let Some(day) = report.days.last_mut() {
            day.steps.push(step);
        }
    }

    /// Recomputes the cohort KPIs of every day whose returning buyers the run's orders can
    /// change: the days of the run and the returning-buyer window before its first day.
    /// Days computed earlier in the run saw only the orders pulled up to them.
    async fn recompute_cohorts(
        &self,
        tenant: &Tenant,
        run_id: &str,
        first: NaiveDate,
        last: NaiveDate,
        report: &mut RunReport,
    ) {
        let window_days = tenant.settings.returning_window_days.max(0) as u64;
        let Some(range) = first
            .checked_sub_days(Days::new(window_days))
            .and_then(|from| Period::new(from, last))
        else {
            return;
        };
        let started = Instant::now();
        // The custom KPIs over them too: KPIS.md holds those to the same window.
        let step = match engine::recompute_cohorts(
            &self.inner.store,
            &self.inner.feed,
            &tenant.id,
            range,
            run_id,
        )
        .await
        {
            Ok(summary) => StepReport {
                name: "recompute_cohorts".into(),
                outcome: Outcome::Succeeded,
                duration_ms: millis(started),
                count: summary.snapshots,
                detail: format!("returning-buyer KPIs and custom KPIs over them of {range}"),
            },
            Err(e) => StepReport {
                name: "recompute_cohorts".into(),
                outcome: Outcome::Failed,
                duration_ms: millis(started),
                count: 0,
                detail: e.to_string(),
            },
        };
        if let Some(day) = report.days.iter_mut().rev().find(|d| d.day == last) {
            if step.outcome == Outcome::Failed && day.outcome == Outcome::Succeeded {
                day.outcome = Outcome::Partial;
                day.detail = format!("cohort recompute failed: {}", step.detail);
            }
            day.steps.push(step);
        }
    }
}

/// A new run id: time-ordered (UUIDv7) so that ids list newest first, and starting with a
/// letter as resource ids must.
fn new_run_id() -> String {
    format!("run-{}", uuid::Uuid::now_v7().simple())
}

fn skipped_day(day: NaiveDate, outcome: Outcome, detail: &str) -> DayReport {
    DayReport {
        day,
        outcome,
        detail: detail.to_string(),
        steps: vec![],
        sources: vec![],
    }
}

fn failed_day(mut day: DayReport, step: &str, started: Instant, message: String) -> DayReport {
    day.steps.push(StepReport {
        name: step.into(),
        outcome: Outcome::Failed,
        duration_ms: millis(started),
        count: 0,
        detail: message.clone(),
    });
    day.outcome = Outcome::Failed;
    day.detail = message;
    day
}
