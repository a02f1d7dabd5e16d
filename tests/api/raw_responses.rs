//! Kept platform responses: each pull's responses are kept deflated and scrubbed of the
//! credential, a fresh pull replaces a day's, retention and the size bound drop the oldest
//! days, and `jobs/rederive` maps kept responses again with a corrected mapping, without
//! the platform, so that history the platform no longer serves follows the correction.
use crate::helpers::{TestApp, TestDb, bad_fields, expect_code, small_tenant};
use chrono::{Datelike, Days, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tally::connectors::{
    Connector, ConnectorError, Credentials, Page, PageSink, PullRequest, RawResponse, Registry,
};
use tally::domain::channel::Platform;
use tally::domain::observation::ChannelDayStats;
use tally::domain::tenant::Tenant;
use tally::jobs::report::{Outcome, RunReport};
use tally::jobs::{self, BACKFILL, JobSettings, Jobs, NOTHING_KEPT, RunSpec};
use tally::proto;
use tally::proto::job_service_client::JobServiceClient;
use tally::storage::Store;
use tally::storage::raw_responses::inflate;
use tonic::Code;

/// The token of `anna-instagram`, with characters that URLs and forms spell otherwise.
const TOKEN: &str = "EAAB/tok+en=Zq9xR";
const TENANT: &str = "keep";
const CHANNEL: &str = "anna-instagram";

/// The views the 'platform' reports for a day: differs from one day to the next.
fn views_of(day: NaiveDate) -> i64 {
    100 * i64::from(day.day()) + 7
}

/// `TOKEN` percent-encoded, as a paging URL carries it.
fn percent_encoded(token: &str, upper: bool) -> String {
    let spelled = token
        .replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D");
    if upper {
        spelled
    } else {
        spelled
            .replace("%2F", "%2f")
            .replace("%2B", "%2b")
            .replace("%3D", "%3d")
    }
}

/// A platform in the shape of Instagram's insights that serves history while `serving`,
/// and a mapping that files each value under the tenant's day, or (`shifted`, the
/// correction) under the Pacific day its `end_time` closes.
#[derive(Default)]
struct Archive {
    serving: AtomicBool,
    shifted: AtomicBool,
    /// Fail each pull after its first page.
    failing: AtomicBool,
    /// Calls of the 'platform'.
    pulls: AtomicUsize,
    derives: AtomicUsize,
}

impl Archive {
    fn new() -> Arc<Archive> {
        let archive = Archive::default();
        archive.serving.store(true, Ordering::SeqCst);
        Arc::new(archive)
    }

    /// The responses of page `page` of a day, shaped like the Graph API's insights answer
    /// (https://developers.facebook.com/docs/instagram-platform/api-reference/instagram-user/insights):
    /// `data[].values[]` of `{value, end_time}` with a `paging` whose `next` URL echoes
    /// the access token, percent-encoded, as Meta's do; the token is also echoed as is.
    fn responses(&self, request: &PullRequest, page: u8) -> Vec<RawResponse> {
        let token = request
            .credential
            .as_ref()
            .map(|s| s.expose().to_string())
            .unwrap_or_default();
        let account = &request.source.account_id;
        if page == 0 {
            let values: Vec<_> = (0..28)
                .map(|back| {
                    let day = request.day - Days::new(back);
                    json!({"value": views_of(day), "end_time": format!("{day}T08:00:00+0000")})
                })
                .collect();
            vec![RawResponse {
                label: "insights:views".into(),
                body: json!({
                    "data": [{
                        "name": "views",
                        "period": "day",
                        "values": values,
                        "title": "Views",
                        "description": "Total number of times the content was played or displayed.",
                        "id": format!("{account}/insights/views/day"),
                    }],
                    "paging": {
                        "previous": format!("https://graph.facebook.com/v24.0/{account}/insights?access_token={}&metric=views&period=day", percent_encoded(&token, true)),
                        "next": format!("https://graph.facebook.com/v24.0/{account}/insights?access_token={}&metric=views&period=day", percent_encoded(&token, false)),
                    },
                    "debug": {"echo": token},
                }),
            }]
        } else {
            vec![RawResponse {
                label: "media".into(),
                body: json!({"data": [], "paging": {"cursors": {"before": "QVFIUk", "after": "QVFIUl"}}}),
            }]
        }
    }

    fn map(&self, request: &PullRequest, raw: &[RawResponse]) -> Page {
        let shifted = self.shifted.load(Ordering::SeqCst);
        let mut page = Page::default();
        for response in raw.iter().filter(|r| r.label == "insights:views") {
            let values = response.body["data"][0]["values"].as_array().unwrap();
            let own = values
                .iter()
                .find(|v| {
                    v["end_time"]
                        .as_str()
                        .unwrap()
                        .starts_with(&request.day.to_string())
                })
                .unwrap();
            // The correction: a value whose end_time is Pacific midnight closes the day before.
            let day = if shifted {
                request.day - Days::new(1)
            } else {
                request.day
            };
            page.channel_stats.push(ChannelDayStats {
                channel_id: request.source.channel_id.clone(),
                day,
                followers: None,
                posts: None,
                mentions: None,
                shares: None,
                comments: None,
                likes: None,
                link_clicks: None,
                views: own["value"].as_i64(),
                reach: None,
            });
        }
        page
    }
}

#[async_trait::async_trait]
impl Connector for Archive {
    fn name(&self) -> &'static str {
        "archive"
    }

    fn has_history(&self) -> bool {
        true
    }

    async fn pull(
        &self,
        request: &PullRequest,
        sink: &mut dyn PageSink,
    ) -> Result<(), ConnectorError> {
        self.pulls.fetch_add(1, Ordering::SeqCst);
        if !self.serving.load(Ordering::SeqCst) {
            sink.page(Page::default(), None).await?;
            return Ok(());
        }
        let first = if request.cursor.as_deref() == Some("p2") {
            1
        } else {
            0
        };
        for number in first..2u8 {
            let raw = self.responses(request, number);
            let mut page = self.map(request, &raw);
            page.raw = raw;
            let next = (number == 0).then(|| "p2".to_string());
            sink.page(page, next).await?;
            if self.failing.load(Ordering::SeqCst) {
                return Err(ConnectorError::Unavailable {
                    platform: "archive",
                    attempts: 1,
                    message: "HTTP 503".into(),
                });
            }
        }
        Ok(())
    }

    fn derive(&self, request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
        self.derives.fetch_add(1, Ordering::SeqCst);
        Ok(self.map(request, raw))
    }
}

fn registry(archive: &Arc<Archive>) -> Registry {
    Registry::new().with(Platform::Instagram, archive.clone())
}

fn credentials() -> Credentials {
    Credentials::new(
        None,
        [(
            "TALLY_CRED_KEEP__ANNA_INSTAGRAM_TOKEN".to_string(),
            TOKEN.to_string(),
        )],
    )
}

fn runner(store: &Store, archive: &Arc<Archive>, settings: JobSettings) -> Jobs {
    Jobs::new(
        store.clone(),
        tally::engine::SnapshotFeed::default(),
        registry(archive),
        credentials(),
        settings,
    )
}

fn date(day: NaiveDate) -> Option<proto::google::r#type::Date> {
    Some(proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

fn backfill(first: NaiveDate, last: NaiveDate) -> RunSpec {
    RunSpec {
        job: BACKFILL.into(),
        days: tally::kpi::period::Period::new(first, last)
            .unwrap()
            .iter_days()
            .collect(),
        force: true,
    }
}

async fn views(app: &TestApp, day: NaiveDate) -> Option<f64> {
    let response = app
        .kpis()
        .query_snapshots(app.req(proto::QuerySnapshotsRequest {
            kpi_scope: Some(proto::KpiScope {
                kpi: "views".into(),
                scope: format!("channels/{CHANNEL}"),
                segment: String::new(),
            }),
            first_day: date(day),
            last_day: date(day),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    response.values.first().and_then(|v| v.value)
}

async fn run_and_wait(app: &TestApp, request: proto::RunJobRequest) -> proto::JobRun {
    let mut jobs = JobServiceClient::new(app.channel.clone());
    let started = jobs.run_job(app.req(request)).await.unwrap().into_inner();
    for _ in 0..600 {
        let run = jobs
            .get_job_run(app.req(proto::GetJobRunRequest {
                name: started.name.clone(),
            }))
            .await
            .unwrap()
            .into_inner();
        if run.status != proto::RunStatus::Running as i32 {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {} did not end within 60 s", started.name);
}

/// Every kept body of the tenant, inflated, read from the table itself.
async fn stored_bodies(store: &Store) -> Vec<(Vec<u8>, String)> {
    let db = store.connection();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT body, raw_bytes FROM raw_responses WHERE tenant_id = '{TENANT}'"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let body: Vec<u8> = row.try_get("", "body").unwrap();
            let raw_bytes: i64 = row.try_get("", "raw_bytes").unwrap();
            let text = String::from_utf8(inflate(&body, raw_bytes).unwrap()).unwrap();
            (body, text)
        })
        .collect()
}

async fn kept_days(store: &Store, days: &[NaiveDate]) -> Vec<NaiveDate> {
    let mut kept = vec![];
    for &day in days {
        if !store
            .kept_pages(TENANT, CHANNEL, day)
            .await
            .unwrap()
            .is_empty()
        {
            kept.push(day);
        }
    }
    kept
}

async fn responses_are_kept_scrubbed_and_derived_again(db: TestDb) {
    let archive = Archive::new();
    let app = TestApp::builder(db)
        .registry(registry(&archive))
        .credentials(credentials())
        .spawn()
        .await;
    let tenant = small_tenant(&app.store, TENANT).await;
    let key = app.store.create_api_key(TENANT).await.unwrap().1;
    let app = app.with_key(key);
    let y = jobs::yesterday(Utc::now(), &tenant);
    let day = |back: u64| y - Days::new(back);

    let run = run_and_wait(
        &app,
        proto::RunJobRequest {
            name: "jobs/nightly".into(),
            first_day: date(day(5)),
            last_day: date(day(2)),
            force: false,
        },
    )
    .await;
    assert_eq!(run.status, proto::RunStatus::Succeeded as i32, "{run:?}");
    assert_eq!(views(&app, day(3)).await, Some(views_of(day(3)) as f64));

    // Both pages of each pulled day are kept, deflated, with the pull's context.
    let pages = app.store.kept_pages(TENANT, CHANNEL, day(3)).await.unwrap();
    assert_eq!(pages.iter().map(|p| p.page).collect::<Vec<_>>(), [0, 1]);
    assert!(
        pages[0].compressed_bytes < pages[0].raw_bytes,
        "{} compressed of {}",
        pages[0].compressed_bytes,
        pages[0].raw_bytes
    );
    assert!(!pages[0].context.latest);
    assert_eq!(pages[0].responses[0].label, "insights:views");
    let next = pages[0].responses[0].body["paging"]["next"]
        .as_str()
        .unwrap();
    assert!(next.contains("access_token=***&"), "{next}");
    assert_eq!(pages[0].responses[0].body["debug"]["echo"], "***");
    // The first day's window reached two days before the range.
    assert_eq!(
        kept_days(&app.store, &[day(8), day(7), day(6), day(2), day(1)]).await,
        [day(7), day(6), day(2)]
    );

    // No spelling of the token is in what is stored, deflated or inflated.
    let bodies = stored_bodies(&app.store).await;
    assert_eq!(bodies.len(), 12, "6 days of 2 pages");
    let spellings = [
        TOKEN.to_string(),
        percent_encoded(TOKEN, true),
        percent_encoded(TOKEN, false),
        TOKEN.replace('/', "\\/"),
        "tok+en".to_string(),
    ];
    for (deflated, text) in &bodies {
        assert_ne!(deflated.as_slice(), text.as_bytes(), "kept compressed");
        for spelled in &spellings {
            assert!(!text.contains(spelled.as_str()), "{spelled} in {text}");
            let needle = spelled.as_bytes();
            assert!(
                !deflated.windows(needle.len()).any(|w| w == needle),
                "{spelled} in a deflated body"
            );
        }
    }

    // A fresh pull of a day replaces its kept pages instead of adding to them.
    let before = app.store.kept_pages(TENANT, CHANNEL, day(2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let run = run_and_wait(
        &app,
        proto::RunJobRequest {
            name: "jobs/nightly".into(),
            first_day: date(day(2)),
            last_day: date(day(2)),
            force: true,
        },
    )
    .await;
    assert_eq!(run.status, proto::RunStatus::Succeeded as i32, "{run:?}");
    let after = app.store.kept_pages(TENANT, CHANNEL, day(2)).await.unwrap();
    assert_eq!(after.iter().map(|p| p.page).collect::<Vec<_>>(), [0, 1]);
    assert!(after[0].fetch_time > before[0].fetch_time);
    assert_eq!(stored_bodies(&app.store).await.len(), 12);

    // The platform forgets the history, and the mapping is corrected.
    archive.serving.store(false, Ordering::SeqCst);
    archive.shifted.store(true, Ordering::SeqCst);
    let pulls = archive.pulls.load(Ordering::SeqCst);
    let run = run_and_wait(
        &app,
        proto::RunJobRequest {
            name: "jobs/rederive".into(),
            first_day: date(day(5)),
            last_day: date(day(2)),
            force: false,
        },
    )
    .await;
    assert_eq!(run.status, proto::RunStatus::Succeeded as i32, "{run:?}");
    assert_eq!(
        (run.job.as_str(), run.trigger.as_str()),
        ("jobs/rederive", "rederive")
    );
    assert_eq!(
        archive.pulls.load(Ordering::SeqCst),
        pulls,
        "no platform called"
    );
    assert_eq!(
        archive.derives.load(Ordering::SeqCst),
        8,
        "4 days of 2 pages"
    );
    for d in &run.days {
        let steps: Vec<&str> = d.steps.iter().map(|s| s.name.as_str()).collect();
        assert!(steps.starts_with(&["derive", "compute"]), "{steps:?}");
        let source = d
            .sources
            .iter()
            .find(|s| s.channel == format!("channels/{CHANNEL}"))
            .unwrap();
        assert_eq!(
            source.status,
            proto::RunStatus::Succeeded as i32,
            "{source:?}"
        );
        assert!(
            source.detail.contains("2 kept page(s)"),
            "{}",
            source.detail
        );
        assert_eq!(source.rows, 1);
    }
    // Each value now sits on the Pacific day it closes, and the snapshots say so.
    for back in 3..=6 {
        assert_eq!(
            views(&app, day(back)).await,
            Some(views_of(day(back - 1)) as f64),
            "{}",
            day(back)
        );
    }
    // The kept responses are unchanged by a derive.
    assert_eq!(stored_bodies(&app.store).await.len(), 12);

    // A day whose pull failed after its first page keeps that page, and a re-derive of it
    // leaves the day partial, so that the next nightly run still pulls it again.
    archive.serving.store(true, Ordering::SeqCst);
    archive.failing.store(true, Ordering::SeqCst);
    let run = run_and_wait(
        &app,
        proto::RunJobRequest {
            name: "jobs/nightly".into(),
            first_day: date(day(1)),
            last_day: date(day(1)),
            force: true,
        },
    )
    .await;
    assert_eq!(run.status, proto::RunStatus::Partial as i32, "{run:?}");
    let pages = app.store.kept_pages(TENANT, CHANNEL, day(1)).await.unwrap();
    assert_eq!(pages.iter().map(|p| p.page).collect::<Vec<_>>(), [0]);
    let run = run_and_wait(
        &app,
        proto::RunJobRequest {
            name: "jobs/rederive".into(),
            first_day: date(day(1)),
            last_day: date(day(1)),
            force: false,
        },
    )
    .await;
    assert_eq!(run.status, proto::RunStatus::Succeeded as i32, "{run:?}");
    let recorded = app.store.days(TENANT, day(1), day(1)).await.unwrap();
    assert_eq!(recorded[0].status, "partial");
}

async fn retention_and_the_size_bound_drop_the_oldest_days(db: TestDb) {
    let url = db.url();
    let app = TestApp::spawn(db).await;
    let store = app.store.clone();
    let archive = Archive::new();
    let tenant: Tenant = small_tenant(&store, TENANT).await;
    let y = jobs::yesterday(Utc::now(), &tenant);
    let day = |back: u64| y - Days::new(back);
    let every: Vec<NaiveDate> = (0..=9).rev().map(day).collect();

    // Days 8 to 5 (the first day's window reaches two days back).
    let run = runner(&store, &archive, JobSettings::default())
        .run(&tenant, backfill(day(6), day(5)))
        .await
        .unwrap();
    assert_eq!(run.status, "succeeded", "{}", run.report);
    assert_eq!(
        kept_days(&store, &every).await,
        [day(8), day(7), day(6), day(5)]
    );

    // A run under a retention of 4 days keeps days 3 to 1 and drops the older ones.
    let retention = JobSettings {
        raw_retention_days: 4,
        ..JobSettings::default()
    };
    let run = runner(&store, &archive, retention.clone())
        .run(&tenant, backfill(day(1), day(1)))
        .await
        .unwrap();
    assert_eq!(run.status, "succeeded", "{}", run.report);
    assert_eq!(kept_days(&store, &every).await, [day(3), day(2), day(1)]);
    let report = RunReport::from_json(&run.report);
    let prune = report.days[0]
        .steps
        .iter()
        .find(|s| s.name == "prune_responses")
        .expect("a prune step");
    assert_eq!(prune.count, 8, "4 days of 2 pages: {}", prune.detail);

    // Days whose pages are gone are skipped by a re-derive, with the reason.
    let run = runner(&store, &archive, retention)
        .run(&tenant, RunSpec::rederive(vec![day(6), day(5)]))
        .await
        .unwrap();
    let report = RunReport::from_json(&run.report);
    assert_eq!(report.days.len(), 2);
    for d in &report.days {
        assert_eq!(d.outcome, Outcome::Skipped);
        assert_eq!(d.detail, NOTHING_KEPT);
    }
    assert_eq!(archive.derives.load(Ordering::SeqCst), 0);

    // `tally run-job --rederive` runs the same job; without connectors (`none`), a day with
    // kept pages runs and its source is skipped for want of a connector.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["run-job", "--tenant", TENANT, "--rederive", "--from"])
        .arg(day(4).to_string())
        .arg("--to")
        .arg(day(3).to_string())
        .env("TALLY_INSECURE_DEV_CUSTOMER_KEY", "true")
        .env("TALLY_DATABASE_URL", &url)
        .env("TALLY_CONNECTORS", "none")
        .env("TALLY_LOG", "warn")
        .output()
        .await
        .expect("run tally run-job");
    assert!(output.status.success(), "{output:?}");
    let runs = store
        .list_runs(
            TENANT,
            Some(jobs::REDERIVE),
            &tally::storage::PageRequest {
                after: None,
                limit: 1,
            },
        )
        .await
        .unwrap();
    let report = RunReport::from_json(&runs.items[0].report);
    assert_eq!(report.days[0].detail, NOTHING_KEPT);
    let derived = &report.days[1];
    assert_eq!(derived.outcome, Outcome::Succeeded, "{derived:?}");
    let source = derived
        .sources
        .iter()
        .find(|s| s.channel_id == CHANNEL)
        .unwrap();
    assert_eq!(source.outcome, Outcome::Skipped);
    assert!(source.detail.contains("no connector"), "{}", source.detail);

    // A bound of two and a half days of responses drops the oldest day of three.
    let kept_of = |pages: Vec<tally::storage::raw_responses::KeptPage>| -> i64 {
        pages.iter().map(|p| p.compressed_bytes).sum()
    };
    let one_day = kept_of(store.kept_pages(TENANT, CHANNEL, day(1)).await.unwrap());
    assert!(store.kept_bytes(TENANT).await.unwrap() > 2 * one_day);
    let bounded = JobSettings {
        raw_max_bytes_per_tenant: (one_day * 5 / 2) as u64,
        ..JobSettings::default()
    };
    let run = runner(&store, &archive, bounded)
        .run(&tenant, backfill(day(1), day(1)))
        .await
        .unwrap();
    assert_eq!(
        kept_days(&store, &every).await,
        [day(2), day(1)],
        "{}",
        run.report
    );
    assert!(
        run.report.contains("raw_max_bytes_per_tenant"),
        "{}",
        run.report
    );

    // A page larger than the bound alone is not kept, and the source's result says so.
    let tiny = JobSettings {
        raw_max_bytes_per_tenant: 10,
        ..JobSettings::default()
    };
    let run = runner(&store, &archive, tiny)
        .run(&tenant, backfill(day(0), day(0)))
        .await
        .unwrap();
    assert_eq!(run.status, "succeeded", "{}", run.report);
    let report = RunReport::from_json(&run.report);
    let source = report.days[0]
        .sources
        .iter()
        .find(|s| s.channel_id == CHANNEL && s.day == day(0))
        .unwrap();
    assert_eq!(source.outcome, Outcome::Succeeded);
    assert!(
        source
            .detail
            .contains("exceeds raw_max_bytes_per_tenant (10)"),
        "{}",
        source.detail
    );
    assert!(
        store
            .kept_pages(TENANT, CHANNEL, day(0))
            .await
            .unwrap()
            .is_empty()
    );
    // Its observations were stored all the same.
    assert_eq!(source.rows, 1);
}

async fn rederive_refuses_bad_requests_naming_the_field(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut jobs = JobServiceClient::new(app.channel.clone());
    let tenant = app.store.get_tenant("acme").await.unwrap();
    let y = jobs::yesterday(Utc::now(), &tenant);
    let request = |first: Option<NaiveDate>, last: Option<NaiveDate>| proto::RunJobRequest {
        name: "jobs/rederive".into(),
        first_day: first.and_then(date),
        last_day: last.and_then(date),
        force: false,
    };
    let cases = [
        (request(None, None), "first_day"),
        (request(None, Some(y)), "first_day"),
        (request(Some(y), None), "last_day"),
        (request(Some(y), Some(y - Days::new(1))), "last_day"),
        (request(Some(y), Some(y + Days::new(1))), "last_day"),
        (request(Some(y - Days::new(400)), Some(y)), "first_day"),
    ];
    for (req, field) in cases {
        let shown = format!("{req:?}");
        assert_eq!(
            bad_fields(jobs.run_job(app.req(req)).await),
            [field],
            "{shown}"
        );
    }
    expect_code(
        jobs.run_job(app.req(proto::RunJobRequest {
            name: "jobs/rederive-all".into(),
            ..request(Some(y), Some(y))
        }))
        .await,
        Code::NotFound,
    );
    // A valid re-derive of days without kept responses runs and skips them.
    let run = run_and_wait(&app, request(Some(y), Some(y))).await;
    assert_eq!(run.trigger, "rederive");
    assert_eq!(run.days.len(), 1);
    assert_eq!(run.days[0].status, proto::RunStatus::Skipped as i32);
    assert_eq!(run.days[0].detail, NOTHING_KEPT);
    let listed = jobs
        .list_job_runs(app.req(proto::ListJobRunsRequest {
            trigger: "rederive".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.job_runs.len(), 1);
}

crate::on_both_database_kinds!(
    responses_are_kept_scrubbed_and_derived_again,
    retention_and_the_size_bound_drop_the_oldest_days,
    rederive_refuses_bad_requests_naming_the_field,
);
