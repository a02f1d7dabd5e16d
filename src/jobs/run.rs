//! A run from its first day to its last: claiming each day, pulling (or deriving) its
//! sources, recomputing the day and its window, evaluating goals, and the run's closing
//! steps (cohort KPIs, pruning kept responses), each recorded in the run's report.
use super::claim::{DayClaim, Heartbeat};
use super::report::{DayReport, Outcome, RunReport, SourceReport, StepReport};
use super::{JobError, Jobs, NIGHTLY, NOTHING_KEPT, REDERIVE, RunSpec, millis, yesterday};
use crate::domain::tenant::Tenant;
use crate::engine;
use crate::kpi::period::Period;
use crate::storage::jobs::day_status;
use chrono::{DateTime, Days, NaiveDate, Utc};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The day a run works on, as the pulls of its sources see it.
#[derive(Clone, Copy)]
pub(super) struct DayRun<'a> {
    pub(super) tenant: &'a Tenant,
    pub(super) run_id: &'a str,
    pub(super) day: NaiveDate,
    /// The days pulled and recomputed with it: the trailing window of late data.
    pub(super) window: Period,
    /// The tenant's newest complete day, which current totals belong to.
    pub(super) latest: NaiveDate,
    /// Whether days an earlier run did are done again.
    pub(super) force: bool,
    pub(super) heartbeat: &'a Heartbeat,
    pub(super) claim: &'a DayClaim,
}

impl Jobs {
    /// Runs the days of `spec` for `tenant` under `run_id`. When `created` is false the run
    /// row is made at the first claimed day, so a tick that finds every day taken leaves
    /// no trace. Current totals belong to the tenant's yesterday at `now`, the same clock
    /// that chose the days. Returns whether the run exists.
    pub(super) async fn execute(
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
            let day_run = DayRun {
                tenant,
                run_id,
                day,
                window,
                latest,
                force: spec.force,
                heartbeat: &heartbeat,
                claim: &claim,
            };
            let mut day_report = self
                .run_day(&day_run, spec, &mut report, &mut last_save, &mut outside)
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

    pub(super) async fn save(
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

    /// Pulls (or derives) every source of `run`'s day, recomputes its window and the days
    /// of orders changed outside it, and evaluates goals; the day's report.
    async fn run_day(
        &self,
        run: &DayRun<'_>,
        spec: &RunSpec,
        report: &mut RunReport,
        last_save: &mut Instant,
        outside: &mut BTreeSet<NaiveDate>,
    ) -> DayReport {
        let DayRun {
            tenant,
            run_id,
            day,
            window,
            heartbeat,
            claim,
            ..
        } = *run;
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
                self.pull_source(run, source, &mut deferred, &mut order_days)
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
                .pull_deferred(run, deferred, &mut day_report, &mut order_days)
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
