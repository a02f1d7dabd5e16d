//! Pulling a source's days through its connector: once per day and source, resumed where
//! an interrupted pull stopped, and put off past a platform's rate limit when it resets
//! within `rate_limit_max_wait`.
use super::report::{DayReport, Outcome, SourceReport};
use super::run::DayRun;
use super::sink::{Pulled, StoreSink};
use super::{Jobs, millis};
use crate::connectors::{Connector, ConnectorError, PullRequest, Source};
use crate::domain::tenant::Tenant;
use crate::storage::StorageError;
use crate::storage::jobs::pull_status;
use chrono::{DateTime, Days, NaiveDate, Utc};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One source's day to pull, and how.
#[derive(Clone, Copy)]
struct DayPull<'a> {
    tenant: &'a Tenant,
    source: &'a Source,
    connector: &'a dyn Connector,
    day: NaiveDate,
    /// Whether `day` is the tenant's newest complete day, which current totals belong to.
    is_latest: bool,
    /// Whether a day an earlier run pulled is pulled again.
    force: bool,
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
pub(super) struct Deferred {
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
pub(super) fn source_report(
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
pub(super) fn shown_time(at: DateTime<Utc>) -> String {
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

impl Jobs {
    /// Pulls one source for the days of `window` it can report, adding the days of the
    /// orders it stored or removed to `order_days`. A day the platform refuses until a
    /// time within `rate_limit_max_wait` goes on `deferred` (and so do the source's later
    /// days, without spending a request), to be pulled after the day's other sources; a
    /// later time fails it for this run.
    pub(super) async fn pull_source(
        &self,
        run: &DayRun<'_>,
        source: &Source,
        deferred: &mut Vec<Deferred>,
        order_days: &mut BTreeSet<NaiveDate>,
    ) -> Vec<SourceReport> {
        let (day, latest) = (run.day, run.latest);
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
            run.window.iter_days().collect()
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
            let pull = DayPull {
                tenant: run.tenant,
                source,
                connector: connector.as_ref(),
                day: d,
                is_latest: d == latest,
                force: run.force && d == day,
            };
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
                None => self.pull_report(&pull, order_days).await,
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
                        is_latest: pull.is_latest,
                        force: pull.force,
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
    async fn pull_report(
        &self,
        pull: &DayPull<'_>,
        order_days: &mut BTreeSet<NaiveDate>,
    ) -> (SourceReport, Option<DateTime<Utc>>) {
        let started = Instant::now();
        let DayPull {
            tenant,
            source,
            day: d,
            ..
        } = *pull;
        let name = pull.connector.name();
        match self.pull_one(pull, order_days).await {
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
    pub(super) async fn pull_deferred(
        &self,
        run: &DayRun<'_>,
        mut deferred: Vec<Deferred>,
        day_report: &mut DayReport,
        order_days: &mut BTreeSet<NaiveDate>,
    ) -> bool {
        let claim = run.claim;
        let max_wait = self.inner.settings.rate_limit_max_wait;
        while !deferred.is_empty() {
            deferred.sort_by_key(|d| d.until);
            let next = deferred.remove(0);
            let waited = self.wait_until(run, next.until).await;
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
            let pull = DayPull {
                tenant: run.tenant,
                source: &next.source,
                connector: connector.as_ref(),
                day: next.day,
                is_latest: next.is_latest,
                force: next.force,
            };
            let (mut report, until) = self.pull_report(&pull, order_days).await;
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
    async fn wait_until(&self, run: &DayRun<'_>, until: DateTime<Utc>) -> bool {
        let DayRun {
            tenant,
            run_id,
            heartbeat,
            claim,
            ..
        } = *run;
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
    async fn pull_one(
        &self,
        pull: &DayPull<'_>,
        order_days: &mut BTreeSet<NaiveDate>,
    ) -> Result<Option<Pulled>, PullFailure> {
        let DayPull {
            tenant,
            source,
            connector,
            day: d,
            is_latest,
            force,
        } = *pull;
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
}
