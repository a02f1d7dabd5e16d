//! KpiService.ComputeKpis as a job run of its own (trigger [`COMPUTE`]): the snapshots it
//! writes carry the run's id like a nightly run's do, so a snapshot's `run_id` always
//! names a run that GetJobRun finds, whichever call wrote it.
use super::report::{DayReport, Outcome, RunReport, StepReport};
use super::{COMPUTE, JobError, Jobs, millis, new_run_id};
use crate::domain::tenant::Tenant;
use crate::engine::{self, RunSummary};
use crate::kpi::period::Period;
use crate::storage::jobs::NewRun;
use std::time::Instant;

impl Jobs {
    /// Recomputes every snapshot of `range` now, in this call, recorded as a run with one
    /// `compute` step on the range's last day (as a nightly run records its trailing
    /// window). The run's lease is renewed while it works, so no replica takes it for
    /// abandoned; a call dropped midway leaves it to be failed as abandoned once the lease
    /// runs out.
    pub async fn compute(&self, tenant: &Tenant, range: Period) -> Result<RunSummary, JobError> {
        let run_id = new_run_id();
        let run = NewRun {
            id: run_id.clone(),
            job: COMPUTE.into(),
            first_day: range.first,
            last_day: range.last,
            forced: true,
            owner: self.owner().to_string(),
            lease_until: self.lease_until(),
        };
        self.inner
            .store
            .create_run(&tenant.id, &run, &RunReport::default().to_json())
            .await?;
        let heartbeat = self.heartbeat(&tenant.id, &run_id);
        let started = Instant::now();
        let computed = engine::recompute(
            &self.inner.store,
            &self.inner.feed,
            &tenant.id,
            range,
            &run_id,
        )
        .await;
        drop(heartbeat);
        let step = match &computed {
            Ok(summary) => StepReport {
                name: "compute".into(),
                outcome: Outcome::Succeeded,
                duration_ms: millis(started),
                count: summary.snapshots,
                detail: format!("recomputed {range}"),
            },
            Err(e) => StepReport {
                name: "compute".into(),
                outcome: Outcome::Failed,
                duration_ms: millis(started),
                count: 0,
                detail: e.to_string(),
            },
        };
        let report = RunReport {
            days: vec![DayReport {
                day: range.last,
                outcome: step.outcome,
                detail: if step.outcome == Outcome::Failed {
                    format!("compute failed: {}", step.detail)
                } else {
                    String::new()
                },
                steps: vec![step],
                sources: vec![],
            }],
        };
        self.save(&tenant.id, &run_id, &report, true).await?;
        Ok(computed?)
    }
}
