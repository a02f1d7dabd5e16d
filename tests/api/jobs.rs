//! The job runner and JobService: claims, catch-up, leases, replicas, backfills.
use crate::helpers::{self, TestApp, TestDb, bad_fields, expect_code, small_tenant};
use chrono::{Days, NaiveDate, Utc};
use std::time::Duration;
use tally::connectors::demo::demo_registry;
use tally::domain::goal::Scope;
use tally::jobs::{self, JobSettings, NIGHTLY, RunSpec};
use tally::kpi::KpiKey;
use tally::kpi::period::Period;
use tally::proto;
use tally::proto::job_service_client::JobServiceClient;
use tally::storage::Store;
use tonic::Code;

async fn store_of(db: &TestDb) -> Store {
    Store::migrate(&db.url()).await.expect("migrate");
    Store::connect(&db.url(), 5).await.expect("connect")
}

fn followers() -> KpiKey {
    KpiKey {
        kpi: "followers".into(),
        scope: Scope::Tenant,
        segment: None,
    }
}

async fn snapshot_days(
    store: &Store,
    tenant: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> Vec<NaiveDate> {
    store
        .snapshots(tenant, &followers(), &Period::new(first, last).unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.computed.period.first)
        .collect()
}

async fn catch_up_after_three_missed_days(db: TestDb) {
    let store = store_of(&db).await;
    let tenant = small_tenant(&store, "acme").await;
    let runner = helpers::jobs(&store, demo_registry(), JobSettings::default());
    let now = Utc::now();
    let y = jobs::yesterday(now, &tenant);
    // A first night ever runs only yesterday.
    assert_eq!(runner.due_days(&tenant, now).await.unwrap(), [y]);
    // The last successful night was four days ago; three nights were missed.
    let first = runner
        .run(
            &tenant,
            RunSpec {
                job: NIGHTLY.into(),
                days: vec![y - Days::new(4)],
                force: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(first.status, "succeeded", "{:?}", first.error);
    let missed = vec![y - Days::new(3), y - Days::new(2), y - Days::new(1), y];
    assert_eq!(runner.due_days(&tenant, now).await.unwrap(), missed);
    // At most two days back when configured so.
    let short = helpers::jobs(
        &store,
        demo_registry(),
        JobSettings {
            max_catch_up_days: 2,
            ..JobSettings::default()
        },
    );
    assert_eq!(
        short.due_days(&tenant, now).await.unwrap(),
        [y - Days::new(1), y]
    );

    let runs = runner.tick(now).await.unwrap();
    assert_eq!(runs.len(), 1);
    let run = store.get_run("acme", &runs[0]).await.unwrap();
    assert_eq!(run.status, "succeeded", "{:?}", run.error);
    let report = tally::jobs::report::RunReport::from_json(&run.report);
    let days: Vec<NaiveDate> = report.days.iter().map(|d| d.day).collect();
    assert_eq!(days, missed, "missed days run in order");
    for day in &report.days {
        let steps: Vec<&str> = day.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(&steps[..2], ["pull", "compute"], "{steps:?}");
        assert!(day.sources.iter().all(|s| s.rows > 0), "{:?}", day.sources);
    }
    let claims = store.days("acme", y - Days::new(4), y).await.unwrap();
    assert_eq!(claims.len(), 5);
    assert!(claims.iter().all(|c| c.status == "succeeded"));
    assert_eq!(
        snapshot_days(&store, "acme", y - Days::new(4), y).await,
        Period::new(y - Days::new(4), y)
            .unwrap()
            .iter_days()
            .collect::<Vec<_>>()
    );
    // Everything is done: the next tick is a no-op.
    assert!(runner.tick(now).await.unwrap().is_empty());
    assert!(runner.due_days(&tenant, now).await.unwrap().is_empty());
}

async fn an_expired_lease_is_taken_over_and_a_live_one_is_not(db: TestDb) {
    let store = store_of(&db).await;
    let tenant = small_tenant(&store, "acme").await;
    let runner = helpers::jobs(&store, demo_registry(), JobSettings::default());
    let now = Utc::now();
    let y = jobs::yesterday(now, &tenant);
    // Another replica holds yesterday with a live lease: nobody else may run it.
    let live = now + chrono::Duration::seconds(600);
    assert!(
        store
            .claim_day("acme", y, "run-other", "other", live, false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_day("acme", y, "run-mine", "mine", live, true)
            .await
            .unwrap()
    );
    assert!(runner.due_days(&tenant, now).await.unwrap().is_empty());
    assert!(runner.tick(now).await.unwrap().is_empty());
    // That replica died: its lease ran out, and the next tick takes the day over.
    let day = y - Days::new(1);
    let expired = now - chrono::Duration::seconds(1);
    assert!(
        store
            .claim_day("acme", day, "run-dead", "dead", expired, false)
            .await
            .unwrap()
    );
    let runs = runner.tick(now).await.unwrap();
    assert_eq!(runs.len(), 1);
    let claim = &store.days("acme", day, day).await.unwrap()[0];
    assert_eq!(claim.status, "succeeded");
    assert_eq!(claim.owner, runner.owner());
    assert_eq!(claim.attempts, 2);
    // The live claim is untouched.
    let held = &store.days("acme", y, y).await.unwrap()[0];
    assert_eq!(
        (held.owner.as_str(), held.status.as_str()),
        ("other", "running")
    );
}

async fn two_replicas_share_the_night_and_run_each_day_once(db: TestDb) {
    let store = store_of(&db).await;
    let tenants = ["t1", "t2", "t3", "t4", "t5", "t6"];
    for id in tenants {
        small_tenant(&store, id).await;
    }
    // Two replicas: separate pools, separate owners, one database.
    let other = Store::connect(&db.url(), 5).await.unwrap();
    let a = helpers::jobs(&store, demo_registry(), JobSettings::default());
    let b = helpers::jobs(&other, demo_registry(), JobSettings::default());
    let now = Utc::now();
    let (runs_a, runs_b) = tokio::join!(a.tick(now), b.tick(now));
    let (runs_a, runs_b) = (runs_a.unwrap(), runs_b.unwrap());
    for id in tenants {
        let tenant = store.get_tenant(id).await.unwrap();
        let y = jobs::yesterday(now, &tenant);
        let claims = store.days(id, y, y).await.unwrap();
        assert_eq!(claims.len(), 1);
        let run = store.get_run(id, &claims[0].run_id).await.unwrap();
        assert_eq!(claims[0].status, "succeeded", "{}", run.report);
        assert_eq!(claims[0].attempts, 1, "{id} ran once");
        let page = store
            .list_runs(
                id,
                None,
                &tally::storage::PageRequest {
                    after: None,
                    limit: 10,
                },
            )
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1, "{id} has exactly one run");
        assert_eq!(page.items[0].id, claims[0].run_id);
    }
    assert_eq!(
        runs_a.len() + runs_b.len(),
        tenants.len(),
        "{runs_a:?} {runs_b:?}"
    );
    assert!(
        !runs_a.is_empty() && !runs_b.is_empty(),
        "both replicas worked: {runs_a:?} {runs_b:?}"
    );
    let (again_a, again_b) = tokio::join!(a.tick(now), b.tick(now));
    assert!(again_a.unwrap().is_empty() && again_b.unwrap().is_empty());
}

fn client(app: &TestApp) -> JobServiceClient<tonic::transport::Channel> {
    JobServiceClient::new(app.channel.clone())
}

/// Waits for a run to end, failing (not hanging) after `limit` seconds.
async fn wait_within(app: &TestApp, name: &str, limit: u64) -> proto::JobRun {
    let mut jobs = client(app);
    for _ in 0..limit * 10 {
        let run = jobs
            .get_job_run(app.req(proto::GetJobRunRequest { name: name.into() }))
            .await
            .unwrap()
            .into_inner();
        if run.status != proto::RunStatus::Running as i32 {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {name} did not end within {limit} s");
}

async fn wait(app: &TestApp, name: &str) -> proto::JobRun {
    wait_within(app, name, 60).await
}

fn date(day: NaiveDate) -> Option<tally::proto::google::r#type::Date> {
    use chrono::Datelike;
    Some(tally::proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

async fn job_service_backfills_reports_and_refuses_bad_ranges(db: TestDb) {
    let app = TestApp::builder(db).registry(demo_registry()).spawn().await;
    small_tenant(&app.store, "shop").await;
    let key = app.store.create_api_key("shop").await.unwrap().1;
    let app = app.with_key(key);
    let tenant = app.store.get_tenant("shop").await.unwrap();
    let y = jobs::yesterday(Utc::now(), &tenant);
    let mut jobs = client(&app);

    let listed = jobs
        .list_jobs(app.req(proto::ListJobsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.jobs.len(), 1);
    assert_eq!(listed.jobs[0].name, "jobs/nightly");
    assert_eq!(listed.jobs[0].schedule, "0 15 * * * *");
    let next = listed.jobs[0]
        .next_run_time
        .as_ref()
        .expect("next run time");
    assert!(next.seconds > Utc::now().timestamp());

    let backfill = |first: NaiveDate, last: NaiveDate, force: bool| proto::RunJobRequest {
        name: "jobs/nightly".into(),
        first_day: date(first),
        last_day: date(last),
        force,
    };
    let started = jobs
        .run_job(app.req(backfill(y - Days::new(2), y, false)))
        .await
        .unwrap()
        .into_inner();
    assert!(started.name.starts_with("jobRuns/run-"), "{}", started.name);
    assert_eq!(started.trigger, "backfill");
    let run = wait(&app, &started.name).await;
    assert_eq!(run.status, proto::RunStatus::Succeeded as i32, "{run:?}");
    assert_eq!(run.days.len(), 3);
    assert!(run.rows_pulled > 0);
    assert!(run.end_time.is_some());
    let first_day = &run.days[0];
    assert_eq!(first_day.day, date(y - Days::new(2)));
    let channels: Vec<&str> = first_day
        .sources
        .iter()
        .map(|s| s.channel.as_str())
        .collect();
    assert!(channels.contains(&"channels/brand-shop"), "{channels:?}");
    assert!(
        first_day
            .sources
            .iter()
            .all(|s| s.connector == "demo" && s.rows > 0)
    );
    assert_eq!(
        first_day
            .steps
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["pull", "compute"]
    );

    // The same days again: skipped unless forced.
    let again = jobs
        .run_job(app.req(backfill(y - Days::new(2), y, false)))
        .await
        .unwrap()
        .into_inner();
    let again = wait(&app, &again.name).await;
    assert_eq!(again.status, proto::RunStatus::Succeeded as i32);
    assert!(
        again
            .days
            .iter()
            .all(|d| d.status == proto::RunStatus::Skipped as i32
                && d.detail.contains("already succeeded")),
        "{:?}",
        again.days
    );
    assert_eq!(again.rows_pulled, 0);
    let forced = jobs
        .run_job(app.req(backfill(y, y, true)))
        .await
        .unwrap()
        .into_inner();
    let forced = wait(&app, &forced.name).await;
    assert_eq!(forced.days[0].status, proto::RunStatus::Succeeded as i32);

    // Newest first, paged, filtered by trigger.
    let page = jobs
        .list_job_runs(app.req(proto::ListJobRunsRequest {
            page_size: 2,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        page.job_runs
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        [forced.name.as_str(), again.name.as_str()]
    );
    assert!(page.job_runs.iter().all(|r| r.days.is_empty()));
    let rest = jobs
        .list_job_runs(app.req(proto::ListJobRunsRequest {
            page_size: 2,
            page_token: page.next_page_token.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.job_runs.len(), 1);
    assert_eq!(rest.job_runs[0].name, run.name);
    assert!(rest.next_page_token.is_empty());
    let nightly = jobs
        .list_job_runs(app.req(proto::ListJobRunsRequest {
            trigger: "nightly".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(nightly.job_runs.is_empty());

    // Bad input names the field.
    assert_eq!(
        bad_fields(
            jobs.run_job(app.req(backfill(y, y + Days::new(1), false)))
                .await
        ),
        ["last_day"]
    );
    assert_eq!(
        bad_fields(
            jobs.run_job(app.req(backfill(y, y - Days::new(1), false)))
                .await
        ),
        ["last_day"]
    );
    assert_eq!(
        bad_fields(
            jobs.run_job(app.req(backfill(y - Days::new(500), y, false)))
                .await
        ),
        ["first_day"]
    );
    assert_eq!(
        bad_fields(
            jobs.run_job(app.req(proto::RunJobRequest {
                name: "jobs/nightly".into(),
                first_day: date(y),
                ..Default::default()
            }))
            .await
        ),
        ["last_day"]
    );
    assert_eq!(
        bad_fields(
            jobs.list_job_runs(app.req(proto::ListJobRunsRequest {
                trigger: "weekly".into(),
                ..Default::default()
            }))
            .await
        ),
        ["trigger"]
    );
    let mut unknown = backfill(y, y, false);
    unknown.name = "jobs/weekly".into();
    expect_code(jobs.run_job(app.req(unknown)).await, Code::NotFound);
    expect_code(
        jobs.get_job_run(app.req(proto::GetJobRunRequest {
            name: "jobRuns/run-nope".into(),
        }))
        .await,
        Code::NotFound,
    );
    // A finished run cannot be cancelled; nor can another tenant see it.
    expect_code(
        jobs.cancel_job_run(app.req(proto::CancelJobRunRequest {
            name: run.name.clone(),
        }))
        .await,
        Code::FailedPrecondition,
    );
    let stranger = app.other_tenant("stranger").await;
    expect_code(
        jobs.get_job_run(helpers::with_key(
            proto::GetJobRunRequest {
                name: run.name.clone(),
            },
            &stranger,
        ))
        .await,
        Code::NotFound,
    );
    app.stop().await;
}

async fn a_cancelled_backfill_stops_and_leaves_its_days_to_the_next_run(db: TestDb) {
    let app = TestApp::builder(db).registry(demo_registry()).spawn().await;
    small_tenant(&app.store, "shop").await;
    let key = app.store.create_api_key("shop").await.unwrap().1;
    let app = app.with_key(key);
    let tenant = app.store.get_tenant("shop").await.unwrap();
    let y = jobs::yesterday(Utc::now(), &tenant);
    let mut jobs = client(&app);
    let started = jobs
        .run_job(app.req(proto::RunJobRequest {
            name: "jobs/nightly".into(),
            first_day: date(y - Days::new(199)),
            last_day: date(y),
            force: false,
        }))
        .await
        .unwrap()
        .into_inner();
    let cancelled = jobs
        .cancel_job_run(app.req(proto::CancelJobRunRequest {
            name: started.name.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(cancelled.cancel_requested);
    let run = wait(&app, &started.name).await;
    assert_eq!(
        run.status,
        proto::RunStatus::Cancelled as i32,
        "{:?}",
        run.error
    );
    let done = run
        .days
        .iter()
        .filter(|d| d.status == proto::RunStatus::Succeeded as i32)
        .count();
    assert!(done < 200, "the run stopped early ({done} days done)");
    // No day is left held: the cancelled day can be claimed again.
    let claims = app.store.days("shop", y - Days::new(199), y).await.unwrap();
    assert!(claims.iter().all(|c| c.status != "running"), "{claims:?}");
    app.stop().await;
}

/// A day's snapshots as (run, row) strings in key order: what a write of the day left.
async fn day_rows(store: &Store, tenant: &str, day: NaiveDate) -> Vec<(String, String)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    use tally::storage::entities::kpi_snapshot::{Column as C, Entity};
    Entity::find()
        .filter(C::TenantId.eq(tenant))
        .filter(C::Day.eq(day))
        .order_by_asc(C::KpiId)
        .order_by_asc(C::Scope)
        .order_by_asc(C::SegmentId)
        .all(store.connection())
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            let row = format!(
                "{} {} {} {:?} {:?}",
                s.kpi_id, s.scope, s.segment_id, s.value, s.reason
            );
            (s.run_id, row)
        })
        .collect()
}

/// Issue 20, item 12: the heartbeat's renewal of a day that had just been finished was
/// read as a lost claim, and the run-wide flag it set failed every later day. A lease of
/// 60 ms renews every 20 ms, so renewals meet the ends of days many times in three months.
async fn a_backfill_with_a_short_lease_and_no_other_replica_succeeds_on_every_day(db: TestDb) {
    let store = store_of(&db).await;
    let tenant = small_tenant(&store, "acme").await;
    let runner = helpers::jobs(
        &store,
        tally::connectors::Registry::new(),
        JobSettings {
            lease: Duration::from_millis(60),
            ..JobSettings::default()
        },
    );
    let (first, last) = (
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
    );
    let days: Vec<NaiveDate> = Period::new(first, last).unwrap().iter_days().collect();
    let run = runner
        .run(
            &tenant,
            RunSpec {
                job: jobs::BACKFILL.into(),
                days: days.clone(),
                force: true,
            },
        )
        .await
        .unwrap();
    let report = tally::jobs::report::RunReport::from_json(&run.report);
    let failed: Vec<String> = report
        .days
        .iter()
        .filter(|d| d.outcome != tally::jobs::report::Outcome::Succeeded)
        .map(|d| format!("{}: {}", d.day, d.detail))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} days did not succeed: {failed:?}",
        failed.len(),
        days.len()
    );
    assert_eq!(run.status, "succeeded", "{:?}", run.error);
    assert_eq!(report.days.len(), days.len());
    let claims = store.days("acme", first, last).await.unwrap();
    assert_eq!(claims.len(), days.len());
    for claim in &claims {
        assert_eq!(
            (claim.status.as_str(), claim.attempts, claim.run_id.as_str()),
            ("succeeded", 1, run.id.as_str()),
            "{}",
            claim.day
        );
    }
    assert_eq!(snapshot_days(&store, "acme", first, last).await, days);
}

/// A connector that holds its first pull until let go, telling when it has started.
struct Gate {
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
    held: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl tally::connectors::Connector for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }

    fn has_history(&self) -> bool {
        true
    }

    async fn pull(
        &self,
        _request: &tally::connectors::PullRequest,
        _sink: &mut dyn tally::connectors::PageSink,
    ) -> Result<(), tally::connectors::ConnectorError> {
        if !self.held.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        Ok(())
    }
}

/// A replica that stalls past its lease loses the day to another replica, which computes
/// it; the stalled one, resuming, must not write the day again (exactly once), and its
/// report says why. Its heartbeat is set far apart, so its lease runs out while it waits.
async fn a_replica_that_lost_its_day_to_another_does_not_write_it(db: TestDb) {
    let store = store_of(&db).await;
    let tenant = small_tenant(&store, "acme").await;
    let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let gate = std::sync::Arc::new(Gate {
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
        held: Default::default(),
    });
    let stalled = helpers::jobs(
        &store,
        tally::connectors::Registry::new()
            .with(tally::domain::channel::Platform::Instagram, gate.clone()),
        JobSettings {
            lease: Duration::from_millis(300),
            heartbeat: Some(Duration::from_secs(3600)),
            ..JobSettings::default()
        },
    );
    let spec = RunSpec {
        job: jobs::BACKFILL.into(),
        days: vec![day],
        force: true,
    };
    let first = {
        let (stalled, tenant, spec) = (stalled.clone(), tenant.clone(), spec.clone());
        tokio::spawn(async move { stalled.run(&tenant, spec).await })
    };
    gate.entered.notified().await;
    // Its lease runs out while its pull hangs.
    for _ in 0..200 {
        let claim = &store.days("acme", day, day).await.unwrap()[0];
        if claim.lease_until < Utc::now() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let other = Store::connect(&db.url(), 5).await.unwrap();
    let taker = helpers::jobs(
        &other,
        tally::connectors::Registry::new(),
        JobSettings::default(),
    );
    let second = taker.run(&tenant, spec).await.unwrap();
    assert_eq!(second.status, "succeeded", "{:?}", second.error);
    let written = day_rows(&store, "acme", day).await;
    assert!(!written.is_empty());

    gate.release.notify_one();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status, "failed", "{}", first.report);
    let report = tally::jobs::report::RunReport::from_json(&first.report);
    assert_eq!(report.days.len(), 1);
    let lost = &report.days[0];
    assert!(
        lost.detail.contains("lost the day's claim"),
        "{}",
        lost.detail
    );
    assert!(
        !lost
            .steps
            .iter()
            .any(|s| s.name == "compute" && s.outcome == tally::jobs::report::Outcome::Succeeded),
        "{:?}",
        lost.steps
    );
    // The day holds what the second replica wrote, and only that.
    assert_eq!(day_rows(&store, "acme", day).await, written);
    let claim = &store.days("acme", day, day).await.unwrap()[0];
    assert_eq!(
        (
            claim.status.as_str(),
            claim.run_id.as_str(),
            claim.owner.as_str(),
            claim.attempts
        ),
        ("succeeded", second.id.as_str(), taker.owner(), 2)
    );
}

/// Every snapshot of `tenant` from `first` to `last` without its run and compute time, by
/// day and key: what a compute of those days leaves, whoever ran it.
async fn snapshot_values(
    store: &Store,
    tenant: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> Vec<String> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    use tally::storage::entities::kpi_snapshot::{Column as C, Entity};
    Entity::find()
        .filter(C::TenantId.eq(tenant))
        .filter(C::Day.between(first, last))
        .order_by_asc(C::Day)
        .order_by_asc(C::KpiId)
        .order_by_asc(C::Scope)
        .order_by_asc(C::SegmentId)
        .all(store.connection())
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            format!(
                "{} {} {} {} {:?} {:?} {:?} {:?}",
                s.day,
                s.kpi_id,
                s.scope,
                s.segment_id,
                s.value,
                s.reason,
                s.numerator,
                s.denominator
            )
        })
        .collect()
}

/// Issue 20, item 13: recomputes of the same days at once (three ComputeKpis and a
/// backfill) each replaced a day by deleting the rows committed before it began and
/// inserting its own, so on PostgreSQL they inserted over each other and failed with
/// ALREADY_EXISTS naming the snapshot table's key. Each must succeed and leave exactly
/// what one compute alone leaves.
async fn concurrent_recomputes_of_the_same_days_all_succeed_and_agree(db: TestDb) {
    use tally::proto::ingest_service_client::IngestServiceClient;
    use tally::proto::kpi_service_client::KpiServiceClient;
    let app = TestApp::spawn(db).await;
    small_tenant(&app.store, "shop").await;
    let key = app.store.create_api_key("shop").await.unwrap().1;
    let app = app.with_key(key);
    let d0 = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let days = |n: u64| Period::new(d0, d0 + Days::new(n - 1)).unwrap();
    let mut ingest = IngestServiceClient::new(app.channel.clone());
    let stats = days(90)
        .iter_days()
        .enumerate()
        .map(|(i, day)| {
            let i = i as i64;
            proto::ChannelDayStats {
                channel: "channels/anna-instagram".into(),
                day: date(day),
                followers: Some(1_000 + 3 * i),
                posts: Some(i % 3),
                likes: Some(50 + i % 17),
                comments: Some(i % 5),
                views: Some(900 + i),
                reach: Some(400 + i % 11),
                ..Default::default()
            }
        })
        .collect();
    ingest
        .ingest_channel_stats(app.req(proto::IngestChannelStatsRequest {
            rows: stats,
            all_or_nothing: true,
        }))
        .await
        .unwrap();
    // Customers who come back, so the cohort KPIs the backfill recomputes have values.
    let orders = (0..300)
        .map(|i: i64| proto::Order {
            order_id: format!("o{i}"),
            customer_id: format!("c{}", i % 40),
            placed_at: Some(prost_types::Timestamp {
                seconds: d0.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp() + i * 7 * 3_600,
                nanos: 0,
            }),
            currency_code: "EUR".into(),
            revenue_minor: 4_000 + i,
            discount_codes: if i % 3 == 0 {
                vec!["ANNA10".into()]
            } else {
                vec![]
            },
            ..Default::default()
        })
        .collect();
    ingest
        .ingest_orders(app.req(proto::IngestOrdersRequest {
            rows: orders,
            all_or_nothing: true,
        }))
        .await
        .unwrap();

    let compute = |range: Period| {
        let mut kpis = KpiServiceClient::new(app.channel.clone());
        let request = app.req(proto::ComputeKpisRequest {
            first_day: date(range.first),
            last_day: date(range.last),
        });
        async move { kpis.compute_kpis(request).await }
    };
    // Ranges that start on the same day, so their writers meet on the same days.
    let started = client(&app)
        .run_job(app.req(proto::RunJobRequest {
            name: "jobs/nightly".into(),
            first_day: date(d0),
            last_day: date(d0 + Days::new(29)),
            force: true,
        }))
        .await
        .unwrap()
        .into_inner();
    let (a, b, c) = tokio::join!(compute(days(90)), compute(days(60)), compute(days(30)));
    for (range, result) in [(90, a), (60, b), (30, c)] {
        let response = result.unwrap_or_else(|status| {
            panic!(
                "ComputeKpis of {range} days failed: {:?} {}",
                status.code(),
                status.message()
            )
        });
        assert_eq!(response.into_inner().days, range);
    }
    let run = wait_within(&app, &started.name, 300).await;
    assert_eq!(run.status, proto::RunStatus::Succeeded as i32, "{run:?}");

    let last = d0 + Days::new(89);
    let together = snapshot_values(&app.store, "shop", d0, last).await;
    compute(days(90)).await.unwrap();
    let alone = snapshot_values(&app.store, "shop", d0, last).await;
    assert!(!alone.is_empty());
    assert_eq!(together.len(), alone.len());
    assert_eq!(together, alone);
    app.stop().await;
}

crate::on_both_database_kinds!(
    catch_up_after_three_missed_days,
    an_expired_lease_is_taken_over_and_a_live_one_is_not,
    two_replicas_share_the_night_and_run_each_day_once,
    job_service_backfills_reports_and_refuses_bad_ranges,
    a_cancelled_backfill_stops_and_leaves_its_days_to_the_next_run,
    a_backfill_with_a_short_lease_and_no_other_replica_succeeds_on_every_day,
    a_replica_that_lost_its_day_to_another_does_not_write_it,
    concurrent_recomputes_of_the_same_days_all_succeed_and_agree,
);

/// `tally serve` runs the schedule: a tenant created while the server runs gets its night
/// at the next tick (every second here), through the demo source.
#[tokio::test]
async fn the_schedule_inside_serve_runs_the_night() {
    let db = TestDb::sqlite();
    let url = db.url();
    Store::migrate(&url).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("serve")
        .env("TALLY_INSECURE_DEV_CUSTOMER_KEY", "true")
        .env("TALLY_DATABASE_URL", &url)
        .env("TALLY_LISTEN_ADDR", addr.to_string())
        .env("TALLY_JOB_SCHEDULE", "* * * * * *")
        .env("TALLY_CONNECTORS", "demo")
        .env("TALLY_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let store = Store::connect(&url, 2).await.unwrap();
    // Created after the start-up tick: only a scheduled tick can run it.
    let mut channel = None;
    for _ in 0..100 {
        if let Ok(c) = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            channel = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let channel = channel.expect("server came up");
    small_tenant(&store, "late").await;
    let key = store.create_api_key("late").await.unwrap().1;
    let mut jobs = JobServiceClient::new(channel);
    let mut found = None;
    for _ in 0..150 {
        let runs = jobs
            .list_job_runs(helpers::with_key(
                proto::ListJobRunsRequest {
                    trigger: "nightly".into(),
                    ..Default::default()
                },
                &key,
            ))
            .await
            .unwrap()
            .into_inner()
            .job_runs;
        if let Some(run) = runs
            .into_iter()
            .find(|r| r.status != proto::RunStatus::Running as i32)
        {
            found = Some(run);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = found.expect("a scheduled tick ran the night within 15 s");
    assert_eq!(run.status, proto::RunStatus::Succeeded as i32, "{run:?}");
    let tenant = store.get_tenant("late").await.unwrap();
    assert_eq!(run.last_day, date(jobs::yesterday(Utc::now(), &tenant)));
    server.kill().await.unwrap();
}
