//! Every run id a response carries resolves through the RPC that owns it: the `run_id` of
//! ComputeKpis, of each snapshot QuerySnapshots returns (written by ComputeKpis, by a
//! backfill's compute and by its cohort recompute), and of the job runs themselves, found
//! by GetJobRun as `jobRuns/{run_id}`.
use crate::helpers::{TestApp, TestDb, expect_code};
use chrono::{Datelike, Days, NaiveDate, Utc};
use std::collections::BTreeSet;
use std::time::Duration;
use tally::connectors::demo::demo_registry;
use tally::proto;
use tally::proto::job_service_client::JobServiceClient;
use tonic::Code;
use tonic::transport::Channel;

fn date(day: NaiveDate) -> Option<proto::google::r#type::Date> {
    Some(proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

fn jobs(app: &TestApp) -> JobServiceClient<Channel> {
    JobServiceClient::new(app.channel.clone())
}

async fn get_run(app: &TestApp, run_id: &str) -> Result<proto::JobRun, tonic::Status> {
    jobs(app)
        .get_job_run(app.req(proto::GetJobRunRequest {
            name: format!("jobRuns/{run_id}"),
        }))
        .await
        .map(|r| r.into_inner())
}

/// The run ids of the daily snapshots of `kpi` on the tenant over `[first, last]`, one per
/// day.
async fn snapshot_runs(app: &TestApp, kpi: &str, first: NaiveDate, last: NaiveDate) -> Vec<String> {
    let values = app
        .kpis()
        .query_snapshots(app.req(proto::QuerySnapshotsRequest {
            kpi_scope: Some(proto::KpiScope {
                kpi: kpi.into(),
                scope: "tenant".into(),
                segment: String::new(),
            }),
            first_day: date(first),
            last_day: date(last),
            granularity: proto::Granularity::Day as i32,
        }))
        .await
        .unwrap()
        .into_inner()
        .values;
    assert_eq!(values.len() as i64, (last - first).num_days() + 1);
    values.into_iter().map(|v| v.run_id).collect()
}

async fn every_run_id_in_a_response_resolves(db: TestDb) {
    let app = TestApp::builder(db).registry(demo_registry()).spawn().await;
    let y = Utc::now().date_naive() - Days::new(1);
    // ComputeKpis writes [y-5, y-4]; the backfill of [y-1, y] recomputes the trailing window
    // of y-1 (three days, down to y-3) and the cohort KPIs of the 90 days before it.
    let (first, last) = (y - Days::new(5), y - Days::new(4));

    // ComputeKpis is a run of its own.
    let computed = app
        .kpis()
        .compute_kpis(app.req(proto::ComputeKpisRequest {
            first_day: date(first),
            last_day: date(last),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(computed.run_id.starts_with("run-"), "{}", computed.run_id);
    let run = get_run(&app, &computed.run_id).await.unwrap();
    assert_eq!(run.name, format!("jobRuns/{}", computed.run_id));
    assert_eq!(run.trigger, "compute");
    assert_eq!(run.job, "jobs/compute");
    assert_eq!(run.status, proto::RunStatus::Succeeded as i32, "{run:?}");
    assert_eq!((run.first_day, run.last_day), (date(first), date(last)));
    assert!(run.end_time.is_some());
    let steps: Vec<(&str, i64)> = run.days[0]
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.count))
        .collect();
    assert_eq!(steps, [("compute", computed.snapshots)]);
    assert_eq!(
        snapshot_runs(&app, "followers", first, last).await,
        [computed.run_id.clone(), computed.run_id.clone()]
    );
    let listed = jobs(&app)
        .list_job_runs(app.req(proto::ListJobRunsRequest {
            trigger: "compute".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .job_runs;
    assert_eq!(
        listed.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        [run.name.as_str()]
    );

    // A backfill's snapshots, its days' and the cohort KPIs it recomputes before them,
    // carry the backfill's id.
    let started = jobs(&app)
        .run_job(app.req(proto::RunJobRequest {
            name: "jobs/nightly".into(),
            first_day: date(y - Days::new(1)),
            last_day: date(y),
            force: false,
        }))
        .await
        .unwrap()
        .into_inner();
    let backfill_id = started.name.strip_prefix("jobRuns/").unwrap().to_string();
    let mut ended = None;
    for _ in 0..600 {
        let run = get_run(&app, &backfill_id).await.unwrap();
        if run.status != proto::RunStatus::Running as i32 {
            ended = Some(run);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ended = ended.expect("the backfill ended within a minute");
    assert_eq!(
        ended.status,
        proto::RunStatus::Succeeded as i32,
        "{ended:?}"
    );
    assert_eq!(
        snapshot_runs(&app, "followers", y - Days::new(1), y).await,
        [backfill_id.clone(), backfill_id.clone()]
    );
    let cohort_runs = snapshot_runs(&app, "returning_buyer_rate", first, y).await;
    assert!(
        cohort_runs.iter().all(|r| *r == backfill_id),
        "{cohort_runs:?}"
    );

    // Every run id of every snapshot of the range resolves, and names the run that has it.
    let mut seen = BTreeSet::new();
    for kpi in [
        "followers",
        "attributed_orders",
        "returning_buyer_rate",
        "ipm",
    ] {
        seen.extend(snapshot_runs(&app, kpi, first, y).await);
    }
    assert_eq!(
        seen,
        BTreeSet::from([computed.run_id.clone(), backfill_id.clone()])
    );
    for id in &seen {
        let run = get_run(&app, id).await.unwrap();
        assert_eq!(run.name, format!("jobRuns/{id}"));
    }

    // An id of no run is still NOT_FOUND, and a name without the collection malformed.
    expect_code(get_run(&app, "run-0000").await, Code::NotFound);
    let bare = jobs(&app)
        .get_job_run(app.req(proto::GetJobRunRequest {
            name: computed.run_id.clone(),
        }))
        .await;
    expect_code(bare, Code::InvalidArgument);
    app.stop().await;
}

crate::on_both_database_kinds!(every_run_id_in_a_response_resolves);
