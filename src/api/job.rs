//! JobService: the nightly job, backfills and run reports.
use super::Api;
use super::convert::{self, Pager};
use super::error::ApiError;
use crate::domain::names::Collection;
use crate::jobs::report::{DayReport, Outcome, RunReport};
use crate::jobs::{self, BACKFILL, COMPUTE, NIGHTLY, REDERIVE, RunRequest};
use crate::proto;
use crate::proto::job_service_server::JobService;
use crate::storage::jobs::RunRecord;
use chrono::Utc;
use tonic::{Request, Response, Status};

fn status(value: &str) -> proto::RunStatus {
    match value {
        "running" => proto::RunStatus::Running,
        "succeeded" => proto::RunStatus::Succeeded,
        "partial" => proto::RunStatus::Partial,
        "failed" => proto::RunStatus::Failed,
        "skipped" => proto::RunStatus::Skipped,
        "cancelled" => proto::RunStatus::Cancelled,
        _ => proto::RunStatus::Unspecified,
    }
}

fn outcome(value: Outcome) -> i32 {
    status(value.as_str()) as i32
}

fn day_to_proto(day: &DayReport) -> proto::DayResult {
    proto::DayResult {
        day: convert::date(day.day),
        status: outcome(day.outcome),
        detail: day.detail.clone(),
        steps: day
            .steps
            .iter()
            .map(|s| proto::StepResult {
                name: s.name.clone(),
                status: outcome(s.outcome),
                duration_ms: s.duration_ms as i64,
                count: s.count as i64,
                detail: s.detail.clone(),
            })
            .collect(),
        sources: day
            .sources
            .iter()
            .map(|s| proto::SourceResult {
                channel: Collection::Channels.name(&s.channel_id),
                connector: s.connector.clone(),
                day: convert::date(s.day),
                status: outcome(s.outcome),
                rows: s.rows as i64,
                duration_ms: s.duration_ms as i64,
                detail: s.detail.clone(),
                skipped_rows: s.skipped_rows.clone(),
                missing_metrics: s
                    .missing
                    .iter()
                    .map(|m| proto::MissingMetric {
                        metric: m.metric.clone(),
                        reason: m.reason.clone(),
                    })
                    .collect(),
                day_zone: s.day_zone.clone(),
            })
            .collect(),
    }
}

fn run_to_proto(run: &RunRecord, details: bool) -> proto::JobRun {
    proto::JobRun {
        name: Collection::JobRuns.name(&run.id),
        job: Collection::Jobs.name(match run.job.as_str() {
            REDERIVE => REDERIVE,
            COMPUTE => COMPUTE,
            _ => NIGHTLY,
        }),
        trigger: run.job.clone(),
        first_day: convert::date(run.first_day),
        last_day: convert::date(run.last_day),
        force: run.forced,
        status: status(&run.status) as i32,
        owner: run.owner.clone(),
        create_time: convert::timestamp(run.create_time),
        end_time: run.end_time.and_then(convert::timestamp),
        rows_pulled: run.rows_pulled,
        error: run.error.clone().unwrap_or_default(),
        days: if details {
            RunReport::from_json(&run.report)
                .days
                .iter()
                .map(day_to_proto)
                .collect()
        } else {
            vec![]
        },
        cancel_requested: run.cancel_requested,
    }
}

/// The job a RunJob names: [`NIGHTLY`] or [`REDERIVE`].
fn job_name(name: &str) -> Result<&'static str, ApiError> {
    match convert::parse_name(name, "name", Collection::Jobs)? {
        NIGHTLY => Ok(NIGHTLY),
        REDERIVE => Ok(REDERIVE),
        _ => Err(ApiError::NotFound(format!("job `{name}`"))),
    }
}

impl TryFrom<proto::RunJobRequest> for RunRequest {
    type Error = ApiError;

    fn try_from(req: proto::RunJobRequest) -> Result<Self, ApiError> {
        let job = job_name(&req.name)?;
        match (&req.first_day, &req.last_day) {
            (None, None) if job == REDERIVE => Err(ApiError::invalid(
                "first_day",
                "jobs/rederive needs first_day and last_day: the days whose kept responses are mapped again",
            )),
            (None, None) => Ok(RunRequest::Due { force: req.force }),
            (first, last) => Ok(RunRequest::Days {
                rederive: job == REDERIVE,
                first: convert::parse_date(first.as_ref(), "first_day")?,
                last: convert::parse_date(last.as_ref(), "last_day")?,
                force: req.force,
            }),
        }
    }
}

#[tonic::async_trait]
impl JobService for Api {
    async fn list_jobs(
        &self,
        request: Request<proto::ListJobsRequest>,
    ) -> Result<Response<proto::ListJobsResponse>, Status> {
        self.tenant(&request).await?;
        let settings = self.jobs.settings();
        let next =
            jobs::scheduler::next_run(&settings.schedule, settings.schedule_time_zone, Utc::now())
                .ok()
                .and_then(convert::timestamp);
        Ok(Response::new(proto::ListJobsResponse {
            jobs: vec![proto::Job {
                name: Collection::Jobs.name(NIGHTLY),
                description: "Pulls yesterday (in each tenant's time zone) from every channel, re-pulls the trailing days of late data, computes the KPI snapshots and catches up on missed days.".into(),
                schedule: settings.schedule.clone(),
                time_zone: settings.schedule_time_zone.to_string(),
                next_run_time: next,
                max_catch_up_days: settings.max_catch_up_days as i32,
            }],
        }))
    }

    async fn run_job(
        &self,
        request: Request<proto::RunJobRequest>,
    ) -> Result<Response<proto::JobRun>, Status> {
        let tenant = self.tenant(&request).await?;
        let run = request.into_inner().try_into()?;
        let run = self
            .jobs
            .run_job(&tenant, run)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(run_to_proto(&run, true)))
    }

    async fn get_job_run(
        &self,
        request: Request<proto::GetJobRunRequest>,
    ) -> Result<Response<proto::JobRun>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = convert::parse_name(&request.get_ref().name, "name", Collection::JobRuns)?;
        let run = self
            .jobs
            .run_record(&tenant, id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(run_to_proto(&run, true)))
    }

    async fn list_job_runs(
        &self,
        request: Request<proto::ListJobRunsRequest>,
    ) -> Result<Response<proto::ListJobRunsResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let trigger = match req.trigger.as_str() {
            "" => None,
            t @ (NIGHTLY | BACKFILL | REDERIVE | COMPUTE) => Some(t),
            other => {
                return Err(ApiError::invalid(
                    "trigger",
                    format!(
                        "`{}` is not a trigger; use nightly, backfill, rederive, compute or leave it empty",
                        crate::domain::names::shorten(other)
                    ),
                )
                .into());
            }
        };
        let pager = Pager::new(req.page_size, &req.page_token, &[&req.trigger])?;
        let page = self
            .jobs
            .run_records(&tenant, trigger, pager.request())
            .await
            .map_err(ApiError::from)?;
        let next_page_token = pager.next_token(&page, page.items.last().map(|r| r.id.as_str()));
        Ok(Response::new(proto::ListJobRunsResponse {
            job_runs: page.items.iter().map(|r| run_to_proto(r, false)).collect(),
            next_page_token,
        }))
    }

    async fn cancel_job_run(
        &self,
        request: Request<proto::CancelJobRunRequest>,
    ) -> Result<Response<proto::JobRun>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = convert::parse_name(&request.get_ref().name, "name", Collection::JobRuns)?;
        let run = self
            .jobs
            .cancel(&tenant, id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(run_to_proto(&run, true)))
    }
}
