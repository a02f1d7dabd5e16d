//! Issue 21, end to end through the job runner on both databases: a metric Meta refuses
//! costs only that metric, Instagram's insights are filed on the Pacific day Meta means, a
//! GA4 property's own days are named, a token for another account stores nothing; and,
//! without a database, the pages `derive` maps from the answers a pull kept equal the
//! pull's.
//!
//! Fixture shapes: Instagram user insights as
//! https://developers.facebook.com/docs/instagram-platform/api-reference/instagram-user/insights
//! shows them (period=day `{"value": 1234, "end_time": "2026-12-06T08:00:00+0000"}`,
//! metric_type=total_value `{"name": "likes", ..., "total_value": {"value": 42}, "id":
//! "<ig-id>/insights/likes/day"}`, errors `{"error": {"message", "type": "OAuthException",
//! "code": 100, "fbtrace_id"}}`); GA4's runReport as
//! https://developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/RunReportResponse
//! (`metadata: {"currencyCode": "USD", "timeZone": "America/Los_Angeles"}`, `kind:
//! "analyticsData#runReport"`). The fakes in fakes.rs answer in those shapes.
use crate::fakes::*;
use crate::helpers::{TestApp, TestDb, small_tenant};
use crate::nightly::{GA4_PROPERTY, IG_ACCOUNT, Platforms};
use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use std::time::Duration;
use tally::connectors::ga4::Ga4;
use tally::connectors::instagram::Instagram;
use tally::connectors::{
    Connector, Credentials, HttpSettings, Page, PageSink, PullRequest, Secret, SinkError, Source,
    live_registry,
};
use tally::domain::channel::Platform;
use tally::jobs;
use tally::proto;
use tally::proto::job_service_client::JobServiceClient;
use tally::storage::entities::{channel_day_stat, web_traffic};

const TENANT: &str = "days";

fn http() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(1),
    }
}

/// A server pulling from `platforms`, with tenant `days` (Europe/Amsterdam, Anna's
/// Instagram, the brand's site and shop) and its key.
async fn app_over(db: TestDb, platforms: &Platforms) -> TestApp {
    let app = TestApp::builder(db)
        .registry(live_registry(&platforms.urls(), &http()))
        .credentials(Credentials::new(
            Some(platforms.secrets.path().to_path_buf()),
            [],
        ))
        .spawn()
        .await;
    small_tenant(&app.store, TENANT).await;
    let key = app.store.create_api_key(TENANT).await.unwrap().1;
    app.with_key(key)
}

fn date(day: NaiveDate) -> Option<tally::proto::google::r#type::Date> {
    Some(tally::proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

/// Runs `day` (forced, with its trailing window) through RunJob and waits for the run.
async fn run_day(app: &TestApp, day: NaiveDate) -> proto::JobRun {
    let mut jobs = JobServiceClient::new(app.channel.clone());
    let started = jobs
        .run_job(app.req(proto::RunJobRequest {
            name: "jobs/nightly".into(),
            first_day: date(day),
            last_day: date(day),
            force: true,
        }))
        .await
        .unwrap()
        .into_inner();
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
    panic!("run {} did not end within a minute", started.name);
}

/// The pull of `channel` for `day` in `run`, as GetJobRun reports it.
fn pull_of<'a>(run: &'a proto::JobRun, channel: &str, day: NaiveDate) -> &'a proto::SourceResult {
    run.days
        .iter()
        .flat_map(|d| &d.sources)
        .find(|s| s.channel == format!("channels/{channel}") && s.day == date(day))
        .unwrap_or_else(|| panic!("no pull of {channel} on {day} in {run:?}"))
}

async fn stored_stats(app: &TestApp, channel: &str) -> Vec<channel_day_stat::Model> {
    channel_day_stat::Entity::find()
        .filter(channel_day_stat::Column::TenantId.eq(TENANT))
        .filter(channel_day_stat::Column::ChannelId.eq(channel))
        .all(app.store.connection())
        .await
        .unwrap()
}

async fn stats_on(app: &TestApp, day: NaiveDate) -> channel_day_stat::Model {
    stored_stats(app, "anna-instagram")
        .await
        .into_iter()
        .find(|s| s.day == day)
        .unwrap_or_else(|| panic!("no Instagram stats stored for {day}"))
}

/// `website_clicks`, deprecated since Graph API v21.0, is refused with error 100 and so
/// refuses the request it is part of: every other metric of the day is still stored, and
/// the run names the missing one with Meta's reason.
async fn a_refused_metric_costs_only_that_metric(db: TestDb) {
    let now = Utc::now();
    let tenant_zone = chrono_tz::Europe::Amsterdam;
    let y = now.with_timezone(&tenant_zone).date_naive() - Days::new(1);
    let platforms = Platforms::start(y, TENANT).await;
    platforms.instagram.refuse_metric("website_clicks");
    let app = app_over(db, &platforms).await;
    let tenant = app.store.get_tenant(TENANT).await.unwrap();
    assert_eq!(jobs::yesterday(now, &tenant), y);

    let run = run_day(&app, y).await;
    let pull = pull_of(&run, "anna-instagram", y);
    assert_eq!(pull.status, proto::RunStatus::Succeeded as i32, "{pull:?}");
    let missing: Vec<&str> = pull
        .missing_metrics
        .iter()
        .map(|m| m.metric.as_str())
        .collect();
    assert_eq!(missing, ["website_clicks"], "{pull:?}");
    let reason = &pull.missing_metrics[0].reason;
    assert!(
        reason.starts_with("Graph API error 100: (#100) metric[0]"),
        "{reason}"
    );
    assert!(!reason.contains(FakeInstagram::TOKEN), "{reason}");
    assert_eq!(pull.day_zone, "America/Los_Angeles");

    // Followers, posts, reach and the other totals are stored; link clicks are unknown.
    let stats = stats_on(&app, y).await;
    assert_eq!(
        (stats.followers, stats.reach, stats.likes, stats.comments),
        (Some(1_200), Some(300), Some(50), Some(7))
    );
    assert_eq!((stats.shares, stats.views), (Some(3), Some(900)));
    assert_eq!(stats.link_clicks, None);
    let link_clicks = app
        .kpis()
        .query_snapshots(app.req(proto::QuerySnapshotsRequest {
            kpi_scope: Some(proto::KpiScope {
                kpi: "link_clicks".into(),
                scope: "channels/anna-instagram".into(),
                segment: String::new(),
            }),
            first_day: date(y),
            last_day: date(y),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(link_clicks.values[0].value, None);
    assert_eq!(link_clicks.values[0].undefined_reason, "not_reported");

    // The list was asked for once, then each metric alone.
    let y_since = chrono_tz::America::Los_Angeles
        .with_ymd_and_hms(y.year(), y.month(), y.day(), 0, 0, 0)
        .earliest()
        .unwrap()
        .timestamp()
        .to_string();
    let totals: Vec<String> = platforms
        .instagram
        .requests()
        .iter()
        .filter(|r| {
            r.param("metric_type") == Some("total_value") && r.param("since") == Some(&y_since)
        })
        .map(|r| r.param("metric").unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        totals,
        [
            "likes,comments,shares,views,website_clicks",
            "likes",
            "comments",
            "shares",
            "views",
            "website_clicks"
        ]
    );
    app.stop().await;
}

/// An Amsterdam tenant's 6 December is Meta's Pacific 6 December, which ends at
/// 2026-12-07T08:00:00+0000; a GA4 property in Los Angeles reports its own 6 December.
/// Both are filed under 6 December and the run names the zone of each day.
async fn platform_days_are_filed_on_the_day_the_platform_means(db: TestDb) {
    let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let before = day.pred_opt().unwrap();
    let platforms = Platforms::start(day, TENANT).await;
    platforms.instagram.set_daily_reach(IG_ACCOUNT, before, 650);
    platforms.instagram.set_daily_reach(IG_ACCOUNT, day, 700);
    platforms
        .instagram
        .set_daily_reach(IG_ACCOUNT, day.succ_opt().unwrap(), 800);
    platforms
        .ga4
        .set_time_zone(GA4_PROPERTY, "America/Los_Angeles");
    let app = app_over(db, &platforms).await;

    let run = run_day(&app, day).await;
    let pull = pull_of(&run, "anna-instagram", day);
    assert_eq!(pull.status, proto::RunStatus::Succeeded as i32, "{pull:?}");
    assert_eq!(pull.day_zone, "America/Los_Angeles");
    // Meta's 6 December, not its 5th (the value ending at 2026-12-06T08:00:00+0000,
    // 09:00 in Amsterdam on the 6th, which the tenant's own midnights would take).
    assert_eq!(stats_on(&app, day).await.reach, Some(700));
    assert_eq!(stats_on(&app, before).await.reach, Some(650));
    let pacific = |d: NaiveDate| {
        chrono_tz::America::Los_Angeles
            .with_ymd_and_hms(d.year(), d.month(), d.day(), 0, 0, 0)
            .unwrap()
            .timestamp()
            .to_string()
    };
    assert_eq!(pacific(day), "1796544000", "2026-12-06T08:00:00Z");
    let asked: Vec<_> = platforms
        .instagram
        .requests()
        .into_iter()
        .filter(|r| r.param("metric") == Some("reach"))
        .map(|r| {
            (
                r.param("since").map(String::from),
                r.param("until").map(String::from),
            )
        })
        .collect();
    assert!(
        asked.contains(&(Some(pacific(day)), Some(pacific(day.succ_opt().unwrap())))),
        "{asked:?}"
    );

    // The property's 6 December, filed on 6 December, its zone named.
    let site = pull_of(&run, "brand-site", day);
    assert_eq!(site.status, proto::RunStatus::Succeeded as i32, "{site:?}");
    assert_eq!(site.day_zone, "America/Los_Angeles");
    assert!(site.missing_metrics.is_empty());
    let rows = web_traffic::Entity::find()
        .filter(web_traffic::Column::TenantId.eq(TENANT))
        .all(app.store.connection())
        .await
        .unwrap();
    let days: Vec<(NaiveDate, i64)> = rows.iter().map(|r| (r.day, r.sessions)).collect();
    assert_eq!(days, [(day, 40)]);
    let asked = &platforms.ga4.requests();
    assert!(
        asked.iter().any(|r| r.body.as_ref().unwrap()["dateRanges"]
            == json!([{"startDate": "2026-12-06", "endDate": "2026-12-06"}])),
        "{asked:?}"
    );
    app.stop().await;
}

/// A token that reads another Instagram account than the channel's stores nothing for
/// the channel, and the run says which two accounts.
async fn a_token_for_another_account_stores_nothing(db: TestDb) {
    let now = Utc::now();
    let y = now
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive()
        - Days::new(1);
    let platforms = Platforms::start(y, TENANT).await;
    platforms
        .instagram
        .answer_as(IG_ACCOUNT, "17841499999999999");
    let app = app_over(db, &platforms).await;
    let run = run_day(&app, y).await;
    let pulls: Vec<&proto::SourceResult> = run
        .days
        .iter()
        .flat_map(|d| &d.sources)
        .filter(|s| s.channel == "channels/anna-instagram")
        .collect();
    assert!(!pulls.is_empty());
    for pull in pulls {
        assert_eq!(pull.status, proto::RunStatus::Failed as i32, "{pull:?}");
        assert!(
            pull.detail.contains("channel misconfigured"),
            "{}",
            pull.detail
        );
        assert!(pull.detail.contains("17841499999999999"), "{}", pull.detail);
        assert!(pull.detail.contains(IG_ACCOUNT), "{}", pull.detail);
    }
    assert_eq!(stored_stats(&app, "anna-instagram").await, vec![]);
    // On the latest day the account is asked for first, and nothing more after its id.
    let requests = platforms.instagram.requests();
    let last = requests.last().unwrap();
    assert_eq!(last.param("fields"), Some("id,followers_count,media_count"));
    app.stop().await;
}

crate::on_both_database_kinds!(
    a_refused_metric_costs_only_that_metric,
    platform_days_are_filed_on_the_day_the_platform_means,
    a_token_for_another_account_stores_nothing,
);

// ---------------------------------------------------------------------------------------
// derive: the kept answers map to the pages the pull handed over.

#[derive(Default)]
struct Collect {
    pages: Vec<Page>,
}

#[async_trait::async_trait]
impl PageSink for Collect {
    async fn page(&mut self, page: Page, _: Option<String>) -> Result<(), SinkError> {
        self.pages.push(page);
        Ok(())
    }
}

fn request(platform: Platform, account: &str, token: &str, zone: &str) -> PullRequest {
    PullRequest {
        tenant: TENANT.into(),
        source: Source {
            channel_id: "ch".into(),
            platform,
            account_id: account.into(),
            credentials_ref: "TOKEN".into(),
        },
        day: NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
        time_zone: zone.parse().unwrap(),
        currency: "EUR".into(),
        latest: true,
        previous_totals: Some(json!({"media_count": 38})),
        credential: Some(Secret::new(token)),
        cursor: None,
        customer_keys: tally::domain::observation::CustomerKeySecret::development(),
    }
}

/// Pulls, then derives every page from what it kept: the same page, raw answers included,
/// and no kept answer holds the token.
async fn derives_what_it_pulled(connector: &dyn Connector, request: &PullRequest) -> Vec<Page> {
    let mut sink = Collect::default();
    connector.pull(request, &mut sink).await.unwrap();
    assert!(!sink.pages.is_empty());
    let token = request.credential.as_ref().unwrap().expose();
    for page in &sink.pages {
        assert!(!page.raw.is_empty());
        for kept in &page.raw {
            assert!(!kept.body.to_string().contains(token), "{kept:?}");
        }
        let derived = connector.derive(request, &page.raw).unwrap();
        assert_eq!(format!("{derived:?}"), format!("{page:?}"));
    }
    sink.pages
}

#[tokio::test]
async fn instagram_derives_the_pulled_day_from_its_kept_answers() {
    let fake = FakeInstagram::start().await;
    fake.set_account(
        "178414",
        IgAccount {
            followers: 1_200,
            media: 40,
            reach: Some(321),
            likes: Some(12),
            comments: Some(3),
            shares: Some(2),
            views: None,
            website_clicks: Some(5),
        },
    );
    let connector = Instagram::new(&fake.base_url(), &http());
    let request = request(
        Platform::Instagram,
        "178414",
        FakeInstagram::TOKEN,
        "Europe/Amsterdam",
    );
    let pages = derives_what_it_pulled(&connector, &request).await;
    let labels: Vec<&str> = pages[0].raw.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        ["account", "insights:reach", "insights:total_value"]
    );
    assert_eq!(pages[0].channel_stats[0].link_clicks, Some(5));
    // views is absent from Meta's answer: unknown, and said so.
    let missing: Vec<(&str, &str)> = pages[0]
        .missing
        .iter()
        .map(|m| (m.metric.as_str(), m.reason.as_str()))
        .collect();
    assert_eq!(missing, [("views", "not in the response")]);

    // With website_clicks refused, the refusal is kept and derived alike.
    fake.refuse_metric("website_clicks");
    let pages = derives_what_it_pulled(&connector, &request).await;
    let page = &pages[0];
    let refusal = page
        .raw
        .iter()
        .find(|r| r.label == "insights:website_clicks")
        .expect("the refusal is kept");
    let reason = refusal.body["refused"].as_str().unwrap();
    assert!(
        reason.starts_with("Graph API error 100: (#100) metric[0] must be one of"),
        "{reason}"
    );
    assert_eq!(page.channel_stats[0].link_clicks, None);
    assert_eq!(page.channel_stats[0].likes, Some(12));
    assert_eq!(page.channel_stats[0].followers, Some(1_200));
    assert_eq!(page.channel_stats[0].posts, Some(2));
    let missing: Vec<&str> = page.missing.iter().map(|m| m.metric.as_str()).collect();
    assert_eq!(missing, ["views", "website_clicks"]);
}

#[tokio::test]
async fn instagram_refused_account_fields_cost_only_followers_and_posts() {
    let fake = FakeInstagram::start().await;
    fake.set_account(
        "178414",
        IgAccount {
            followers: 1_200,
            media: 40,
            reach: Some(321),
            likes: Some(12),
            ..IgAccount::default()
        },
    );
    // The Graph API's error shape, as the insights page documents it.
    fake.fail_next(Fault::Body(
        400,
        json!({"error": {
            "message": "(#100) Tried accessing nonexisting field (followers_count) on node type (IGUser)",
            "type": "OAuthException",
            "code": 100,
            "fbtrace_id": "AbCdEfGhIjK",
        }}),
    ));
    let connector = Instagram::new(&fake.base_url(), &http());
    let request = request(
        Platform::Instagram,
        "178414",
        FakeInstagram::TOKEN,
        "America/Los_Angeles",
    );
    let mut sink = Collect::default();
    connector.pull(&request, &mut sink).await.unwrap();
    let page = &sink.pages[0];
    let stats = &page.channel_stats[0];
    assert_eq!((stats.followers, stats.posts), (None, None));
    assert_eq!((stats.reach, stats.likes), (Some(321), Some(12)));
    assert_eq!(page.totals, None);
    assert_eq!(page.day_zone, None, "the tenant's zone is Meta's");
    let missing: Vec<&str> = page.missing.iter().map(|m| m.metric.as_str()).collect();
    assert_eq!(
        missing,
        [
            "followers_count",
            "media_count",
            "comments",
            "shares",
            "views",
            "website_clicks"
        ]
    );
    assert!(page.missing[0].reason.contains("nonexisting field"));
    let derived = connector.derive(&request, &page.raw).unwrap();
    assert_eq!(format!("{derived:?}"), format!("{page:?}"));

    // A token Meta no longer accepts still fails the pull: a person must act.
    fake.fail_next(Fault::TokenExpired);
    let mut sink = Collect::default();
    let error = connector.pull(&request, &mut sink).await.unwrap_err();
    assert!(error.needs_person(), "{error}");
    assert!(sink.pages.is_empty());
}

#[tokio::test]
async fn ga4_derives_each_page_and_names_the_propertys_zone() {
    let fake = FakeGa4::start().await;
    let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let rows: Vec<Ga4Row> = (1..=3)
        .map(|i| Ga4Row {
            date: day,
            source: format!("s{i}"),
            medium: "social".into(),
            campaign: "anna".into(),
            channel_group: "Organic Social".into(),
            sessions: i,
            users: i,
            new_users: 1,
        })
        .collect();
    fake.set_rows("123456", rows);
    fake.set_time_zone("123456", "America/Los_Angeles");
    let connector = Ga4::new(&fake.base_url(), &http()).with_page_size(2);
    let request = request(
        Platform::Website,
        "123456",
        FakeGa4::TOKEN,
        "Europe/Amsterdam",
    );
    let pages = derives_what_it_pulled(&connector, &request).await;
    assert_eq!(pages.len(), 2);
    for page in &pages {
        assert_eq!(page.day_zone.as_deref(), Some("America/Los_Angeles"));
        assert_eq!(page.raw.len(), 1);
        assert_eq!(page.raw[0].label, "report");
        assert_eq!(
            page.raw[0].body["metadata"]["timeZone"],
            "America/Los_Angeles"
        );
        assert!(page.web_traffic.iter().all(|w| w.day == day));
    }

    // A property in the tenant's own zone names none.
    fake.set_time_zone("123456", "Europe/Amsterdam");
    let pages = derives_what_it_pulled(&connector, &request).await;
    assert!(pages.iter().all(|p| p.day_zone.is_none()));
}
