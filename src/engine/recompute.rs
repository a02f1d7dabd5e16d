//! Recompute runs: every daily snapshot of a tenant (or only the cohort KPIs') for a
//! range of days, computed a day at a time by the [`Engine`] while a writer task replaces
//! the days already computed, each in one transaction, and publishes them on the feed;
//! then every ISO week and calendar month holding a recomputed day is computed over its
//! whole period and stored, each replaced in one transaction (KPIS.md: roll-ups).
use super::compute::Engine;
use super::feed::{DayWritten, SnapshotFeed};
use super::rollup::Rollups;
use crate::domain::goal::Scope;
use crate::kpi::period::Period;
use crate::kpi::{KpiKey, Parts};
use crate::storage::campaign_profits::CampaignProfit;
use crate::storage::period_snapshots::Stored;
use crate::storage::snapshots::{SeriesKey, in_key_order};
use crate::storage::{Result, StorageError, Store};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What a recompute did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// Id of the job run, recorded on every snapshot.
    pub run_id: String,
    /// Days recomputed.
    pub days: u32,
    /// Snapshots written.
    pub snapshots: u64,
}

/// KPIs counted on the day of a cohort's first order, whose value can still grow while
/// that day is inside the returning-buyer window (KPIS.md: recomputation).
pub const COHORT_KPIS: [&str; 2] = ["returning_buyers_after_code", "returning_buyer_rate"];

/// The cohort KPIs and the custom KPIs (of `customs`) that use one, directly or through
/// other custom KPIs: KPIS.md holds both to the returning-buyer window.
pub fn cohort_kpis(customs: &HashMap<String, crate::domain::formula::Formula>) -> Vec<String> {
    let mut ids: Vec<String> = COHORT_KPIS.iter().map(|k| k.to_string()).collect();
    ids.extend(crate::kpi::custom::using(customs, &COHORT_KPIS));
    ids
}

/// Recomputes every daily snapshot of the tenant for each day of `range`, a day at a time,
/// each day replaced in one transaction. `run_id` is the id of the job run doing it
/// (`jobRuns/{run_id}`), recorded on every snapshot so that GetJobRun finds it.
pub async fn recompute(
    store: &Store,
    feed: &SnapshotFeed,
    tenant: &str,
    range: Period,
    run_id: &str,
) -> Result<RunSummary> {
    recompute_keys(store, feed, tenant, range, Only::All, run_id).await
}

/// Recomputes the snapshots of the cohort KPIs and of every custom KPI that uses one
/// (see [`cohort_kpis`]) for each day of `range`, each day's replaced in one transaction;
/// `run_id` as in [`recompute`].
pub async fn recompute_cohorts(
    store: &Store,
    feed: &SnapshotFeed,
    tenant: &str,
    range: Period,
    run_id: &str,
) -> Result<RunSummary> {
    recompute_keys(store, feed, tenant, range, Only::Cohorts, run_id).await
}

/// Which snapshots of a day a recompute replaces.
#[derive(Clone, Copy)]
enum Only {
    /// All of them.
    All,
    /// Those of [`cohort_kpis`], as the tenant's custom KPIs stand when the run starts.
    Cohorts,
}

/// Days whose orders one pass tallies in a long recompute. A pass streams the whole
/// history of every customer with an order in its days (on data set M, 360,000 orders for
/// a month, 663,000 for a quarter), so a year in quarters streams 2.7 M orders where it
/// took 4.3 M in months; a quarter of per-influencer tallies is still small next to that.
const ORDER_PREFETCH_DAYS: i64 = 92;

/// Days whose other parts are loaded at once in a long recompute.
const DAY_PREFETCH_DAYS: i64 = 31;

/// The block of `len` days of `range` that starts on `day`, when one does.
fn block_from(range: Period, day: chrono::NaiveDate, len: i64) -> Option<Period> {
    ((day - range.first).num_days() % len == 0).then(|| Period {
        first: day,
        last: range.last.min(day + chrono::Days::new(len as u64 - 1)),
    })
}

/// Computed days that may wait for the writer (5 MB each on data set M). The computing
/// side, at 0.1 s a day, fills it well before a block's end; it covers a month's loading
/// (1.6–2.1 s on M) but not all of a quarter's order pass, where the writer waits 2.3–2.9 s
/// on a slower machine. 32 days did not make the year faster and cost 70 MB
/// (BENCHMARKS.md, KPI engine).
const QUEUED_DAYS: usize = 16;

/// What the computing side of a run hands its writer.
enum Computed {
    /// A day's values, in the order of the run's keys, and its campaigns' profits.
    Day(chrono::NaiveDate, Vec<Parts>, Vec<CampaignProfit>),
}

/// Every ISO week and calendar month that holds a day of `range`, each once: a year is 53
/// weeks and 12 months, where recomputing them per day would be 730 periods.
fn touched_periods(range: Period) -> Vec<(Stored, Period)> {
    let mut touched = Vec::new();
    for granularity in [Stored::Week, Stored::Month] {
        for day in range.iter_days() {
            if let Some(period) = granularity.period_of(day)
                && touched.last() != Some(&(granularity, period))
            {
                touched.push((granularity, period));
            }
        }
    }
    touched
}

/// The result of a joined task; a panic in it is resumed here.
fn joined<T>(result: std::result::Result<Result<T>, tokio::task::JoinError>) -> Result<T> {
    match result {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // A runtime shutting down cancels its tasks.
        Err(e) => Err(StorageError::Database(sea_orm::DbErr::Custom(format!(
            "the KPI snapshot writer stopped: {e}"
        )))),
    }
}

async fn recompute_keys(
    store: &Store,
    feed: &SnapshotFeed,
    tenant: &str,
    range: Period,
    only: Only,
    run_id: &str,
) -> Result<RunSummary> {
    let run_id = run_id.to_string();
    store.refresh_statistics().await?;
    let mut engine = Engine::new(store, tenant).await?;
    let selected: Option<Vec<String>> = match only {
        Only::All => None,
        Only::Cohorts => Some(engine.cohort_kpis()),
    };
    let selected: Option<Vec<&str>> = selected
        .as_ref()
        .map(|o| o.iter().map(String::as_str).collect());
    let only = selected.as_deref();
    let metric_keys = store.metric_keys(tenant).await?;
    let mut keys = engine.daily_keys(&metric_keys);
    if let Some(only) = only {
        keys.retain(|k| only.contains(&k.kpi.as_str()));
    }
    // In the order of a day's rows in the snapshot key, so writing a day sorts nothing.
    let (series, keys) = in_key_order(keys.into_iter().map(|k| (SeriesKey::of(&k), k)));
    // The campaigns whose `profit_per_visitor` the run writes: their daily profits are
    // stored with it.
    let profit_campaigns: Vec<String> = keys
        .iter()
        .filter(|k| k.kpi == "profit_per_visitor")
        .filter_map(|k| match &k.scope {
            Scope::Campaign(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let keys: Arc<[KpiKey]> = keys.into();
    let series: Arc<[SeriesKey]> = series.into();
    let cohort_kpis: Arc<HashSet<String>> = Arc::new(engine.cohort_kpis().into_iter().collect());
    let started = std::time::Instant::now();
    // Days are written while later days are computed: the database writes on its own
    // thread (SQLite's worker, PostgreSQL's backend) and the writer builds its statements
    // on its own task, while the KPI math and the next block's loading run on this one.
    // Days are still written one at a time and in order.
    // A queued day is its values alone (5 MB a day on data set M, 22 MB as `Computed`),
    // which keeps the queue small next to a block's loaded parts.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Computed>(QUEUED_DAYS);
    let touched = touched_periods(range);
    let compute = async {
        for day in range.iter_days() {
            if let Some(block) = block_from(range, day, ORDER_PREFETCH_DAYS) {
                engine.prefetch_orders(block).await?;
            }
            if let Some(block) = block_from(range, day, DAY_PREFETCH_DAYS)
                && only.is_none()
            {
                engine.prefetch_audience(block).await?;
                engine.prefetch_days(block).await?;
            }
            let parts = engine.compute_parts(&keys, Period::day(day)).await?;
            let profits = engine
                .campaign_profits(&profit_campaigns, Period::day(day))
                .await?;
            engine.clear_cache();
            if sender
                .send(Computed::Day(day, parts, profits))
                .await
                .is_err()
            {
                // The writer stopped on an error, which it returns.
                return Ok(());
            }
        }
        drop(sender);
        Ok::<(), StorageError>(())
    };
    // The writer is a task of its own, so building its statements runs on another thread
    // than the KPI math. It owns the receiver: a writer that stops on an error closes the
    // queue, and a computing side waiting to send stops too.
    let write = {
        let (store, feed) = (store.clone(), feed.clone());
        let (tenant, keys) = (tenant.to_string(), Arc::clone(&keys));
        let series = Arc::clone(&series);
        let cohort_kpis = Arc::clone(&cohort_kpis);
        let only: Option<Vec<String>> = only.map(|o| o.iter().map(|k| k.to_string()).collect());
        let run_id = run_id.clone();
        async move {
            let only: Option<Vec<&str>> = only
                .as_ref()
                .map(|o| o.iter().map(String::as_str).collect());
            let mut receiver = receiver;
            // Numbered once for every day of the run.
            let series = store.series_ids(&tenant, &series).await?;
            let mut summary = RunSummary {
                run_id: run_id.clone(),
                days: 0,
                snapshots: 0,
            };
            while let Some(Computed::Day(day, parts, profits)) = receiver.recv().await {
                store
                    .replace_day_ids(
                        &tenant,
                        day,
                        only.as_deref(),
                        &series,
                        &parts,
                        &profits,
                        &run_id,
                    )
                    .await?;
                summary.days += 1;
                summary.snapshots += parts.len() as u64;
                if feed.watched() {
                    feed.publish(DayWritten {
                        tenant: tenant.clone(),
                        run_id: run_id.clone(),
                        day,
                        keys: Arc::clone(&keys),
                        cohort_kpis: Arc::clone(&cohort_kpis),
                        parts,
                    });
                }
            }
            Ok::<RunSummary, StorageError>(summary)
        }
    };
    // In the caller's span, so what the writer logs is still tied to its run.
    // Aborted when dropped: a run whose caller goes away stops writing, its open
    // transaction rolled back, instead of writing on unseen.
    let mut writer = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(
        tracing::Instrument::in_current_span(write),
    ));
    let summary = {
        tokio::pin!(compute);
        tokio::select! {
            written = &mut writer => {
                // The writer ends on an error, which ends the run at once (whatever the
                // computing side is waiting for), or after the last day was sent.
                let summary = joined(written)?;
                compute.await?;
                summary
            }
            computed = &mut compute => {
                // The days computed before an error are still written.
                let written = joined((&mut writer).await);
                computed?;
                written?
            }
        }
    };
    // Then each week and month holding a recomputed day, once, from the stored days (the
    // run's, now written, and the others').
    let periods = Periods {
        store,
        tenant,
        only,
        keys: &keys,
        series: &series,
        run_id: &run_id,
    };
    periods.store_all(&mut engine, &touched).await?;
    crate::metrics::kpi_computed(started.elapsed().as_secs_f64());
    tracing::info!(tenant, %range, days = summary.days, snapshots = summary.snapshots, "recomputed KPI snapshots");
    Ok(summary)
}

/// The stored weeks and months of a run: each composed from the stored days of its
/// period where the KPI's roll-up class allows (as a query composes a clipped period,
/// [`Rollups`]), and computed live by the engine over the whole period for the rest
/// (distinct counts, a series with a day not stored).
struct Periods<'r> {
    store: &'r Store,
    tenant: &'r str,
    only: Option<&'r [&'r str]>,
    keys: &'r [KpiKey],
    series: &'r [SeriesKey],
    run_id: &'r str,
}

impl Periods<'_> {
    async fn store_all(&self, engine: &mut Engine<'_>, touched: &[(Stored, Period)]) -> Result<()> {
        if touched.is_empty() || self.keys.is_empty() {
            return Ok(());
        }
        // As a query parses them, so the stored value is the one a query would compose.
        let customs = crate::kpi::custom::formulas(&self.store.custom_kpis(self.tenant).await?);
        let ids = self.store.series_ids(self.tenant, self.series).await?;
        let every: Vec<usize> = (0..self.keys.len()).collect();
        // A change KPI also reads its previous period: that of its visitors alone.
        let visitors: Vec<usize> = every
            .iter()
            .copied()
            .filter(|&i| self.keys[i].kpi == "target_audience_visitors")
            .collect();
        let per_major = engine.directory().minor_per_major();
        for &(granularity, period) in touched {
            let mut rollups =
                Rollups::new(self.store, self.tenant, per_major).without_distinct_statements();
            // Every campaign's profits of the period in one read.
            rollups.preload_profits(
                period,
                self.store
                    .campaign_profits(self.tenant, period, None)
                    .await?,
            );
            let days = self
                .store
                .stored_days(self.tenant, &ids, &every, period)
                .await?;
            for (key, days) in self.keys.iter().zip(days) {
                rollups.preload(key.clone(), period.first, days);
            }
            if let Some(before) = period.previous() {
                // Its days and the period's own, as one span per series.
                let span = Period {
                    first: before.first,
                    last: period.last,
                };
                let read = self
                    .store
                    .stored_days(self.tenant, &ids, &visitors, span)
                    .await?;
                for (&i, days) in visitors.iter().zip(read) {
                    rollups.preload(self.keys[i].clone(), span.first, days);
                }
            }
            let mut parts: Vec<Option<Parts>> = Vec::with_capacity(self.keys.len());
            let mut live: Vec<usize> = Vec::new();
            for (i, key) in self.keys.iter().enumerate() {
                let composed = rollups.compose(key, period, &customs).await?;
                if composed.is_none() {
                    live.push(i);
                }
                parts.push(composed);
            }
            drop(rollups);
            if !live.is_empty() {
                let live_keys: Vec<KpiKey> = live.iter().map(|&i| self.keys[i].clone()).collect();
                let computed = engine.compute_parts(&live_keys, period).await?;
                engine.clear_cache();
                for (&i, p) in live.iter().zip(computed) {
                    parts[i] = Some(p);
                }
            }
            let parts: Vec<Parts> = parts
                .into_iter()
                .map(|p| p.expect("each key composed or computed live"))
                .collect();
            self.store
                .replace_period(
                    self.tenant,
                    granularity,
                    period,
                    self.only,
                    self.keys,
                    &parts,
                    self.run_id,
                )
                .await?;
        }
        Ok(())
    }
}
