//! Progress of `tally run-job`: a bar per tenant on a terminal, plain lines otherwise.
use crate::domain::tenant::Tenant;
use crate::jobs::report::RunReport;
use crate::jobs::{JobError, Jobs, RunSpec};
use crate::storage::jobs::RunRecord;
use crate::storage::{PageRequest, Store};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Runs `spec` for `tenant` in this process, showing its days as they finish when stdout
/// is a terminal. The runner saves its report at most once a second, and this reads it
/// back from the store, so the job code needs no hook for progress.
pub async fn run_job(
    jobs: &Jobs,
    store: &Store,
    tenant: &Tenant,
    spec: RunSpec,
) -> Result<RunRecord, JobError> {
    let days = spec.days.len() as u64;
    let (first, last) = (spec.days.first().copied(), spec.days.last().copied());
    if !std::io::stdout().is_terminal() {
        println!("{}: running {} for {days} days", tenant.id, spec.job);
        return jobs.run(tenant, spec).await;
    }
    let bar = ProgressBar::with_draw_target(Some(days), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} [{bar:30}] {pos}/{len} days {msg} ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(tenant.id.clone());
    bar.enable_steady_tick(Duration::from_millis(120));
    let run = jobs.run(tenant, spec);
    tokio::pin!(run);
    let mut poll = tokio::time::interval(Duration::from_millis(500));
    let result = loop {
        tokio::select! {
            result = &mut run => break result,
            _ = poll.tick() => {
                if let Some((done, rows)) = running(store, &tenant.id, first, last).await {
                    bar.set_position(done.min(days));
                    bar.set_message(format!("{} rows pulled", super::format::grouped(rows as f64, 0)));
                }
            }
        }
    };
    bar.finish_and_clear();
    result
}

/// Days done and rows pulled by the tenant's newest running run over these days.
async fn running(
    store: &Store,
    tenant: &str,
    first: Option<chrono::NaiveDate>,
    last: Option<chrono::NaiveDate>,
) -> Option<(u64, u64)> {
    let page = store
        .list_runs(
            tenant,
            None,
            &PageRequest {
                after: None,
                limit: 1,
            },
        )
        .await
        .ok()?;
    let run = page.items.into_iter().next()?;
    if run.status != "running" || Some(run.first_day) != first || Some(run.last_day) != last {
        return None;
    }
    let report: RunReport = serde_json::from_str(&run.report).ok()?;
    Some((report.days.len() as u64, report.rows()))
}
