//! TikTok, X and YouTube against payloads shaped exactly like the platforms' published
//! examples (issue 21): a metric the answer leaves out is reported missing while the rest
//! is stored, a token or an answer for another account stores nothing, a YouTube handle is
//! looked up with `forHandle`, an X rate limit that resets past the HTTP client's cap is
//! pulled again later in the same run (or left to the next run when too far away), and a
//! kept response derives the same observations as the pull that kept it.
use crate::fakes::*;
use crate::helpers::{TestApp, TestDb, bad_fields, with_key};
use chrono::{Datelike, NaiveDate, Utc};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tally::connectors::tiktok;
use tally::connectors::x;
use tally::connectors::youtube;
use tally::connectors::{
    BaseUrls, Connector, ConnectorError, Credentials, HttpSettings, MissingMetric, Page, PageSink,
    PullRequest, Secret, SinkError, Source, live_registry,
};
use tally::domain::channel::Platform;
use tally::jobs::{self, JobSettings};
use tally::proto;
use tally::proto::job_service_client::JobServiceClient;

// ---------------------------------------------------------------------------------------
// Fixtures, shaped as the documentation's examples.

/// The open_id of TikTok's example answer.
const TT_OPEN_ID: &str = "723f24d7-e717-40f8-a2b6-cb8464cd23b4";
/// The user of X's example answer.
const X_ID: &str = "2244994945";
/// The Google Developers channel, the example of YouTube's documentation.
const YT_ID: &str = "UC_x5XG1OV2P6uZZ5FSM9Ttw";
const YT_HANDLE: &str = "@GoogleDevelopers";

/// `GET /v2/user/info/` as documented at
/// https://developers.tiktok.com/doc/tiktok-api-v2-get-user-info (the example response:
/// `data.user` with the asked fields, `error.code` "ok"), with `user`'s fields.
fn tiktok_user_info(user: Value) -> Value {
    json!({
        "data": {"user": user},
        "error": {"code": "ok", "message": "", "log_id": "20220829194722CBE87ED59D524E727021"}
    })
}

/// `GET /2/users/:id?user.fields=public_metrics` as documented at
/// https://docs.x.com/x-api/users/user-lookup-by-id (the example response).
fn x_user(id: &str, username: &str, public_metrics: Value) -> Value {
    json!({
        "data": {
            "id": id,
            "name": "X Dev",
            "username": username,
            "public_metrics": public_metrics
        }
    })
}

/// `GET /youtube/v3/channels?part=statistics` as documented at
/// https://developers.google.com/youtube/v3/docs/channels/list (a channelListResponse
/// whose items are channel resources with their `statistics` part).
fn youtube_channels(id: &str, statistics: Value) -> Value {
    json!({
        "kind": "youtube#channelListResponse",
        "etag": "Q4F0F3b-m5JqHcD1h6RKEzBk5Ww",
        "pageInfo": {"totalResults": 1, "resultsPerPage": 5},
        "items": [{
            "kind": "youtube#channel",
            "etag": "uyPVQJq9XWWJ2yyQeGgcL6cQUlI",
            "id": id,
            "statistics": statistics
        }]
    })
}

// ---------------------------------------------------------------------------------------
// Connectors on their own.

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

fn http(max_delay: Duration) -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay,
    }
}

fn request(platform: Platform, account: &str, token: &str) -> PullRequest {
    PullRequest {
        tenant: "t1".into(),
        source: Source {
            channel_id: "ch-1".into(),
            platform,
            account_id: account.into(),
            credentials_ref: "TOKEN".into(),
        },
        day: NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
        time_zone: chrono_tz::Europe::Amsterdam,
        currency: "EUR".into(),
        latest: true,
        previous_totals: None,
        credential: Some(Secret::new(token)),
        cursor: None,
        customer_keys: tally::domain::observation::CustomerKeySecret::development(),
    }
}

async fn pull(
    connector: &dyn Connector,
    request: &PullRequest,
) -> (Result<(), ConnectorError>, Collect) {
    let mut sink = Collect::default();
    let result = connector.pull(request, &mut sink).await;
    (result, sink)
}

fn missing(metrics: &[&str]) -> Vec<MissingMetric> {
    metrics
        .iter()
        .map(|m| MissingMetric {
            metric: m.to_string(),
            reason: "not in the response".into(),
        })
        .collect()
}

/// The pull's page and the page `derive` maps from what the pull kept: the same
/// observations, totals and missing metrics.
fn assert_derives_the_same(connector: &dyn Connector, request: &PullRequest, page: &Page) {
    assert!(!page.raw.is_empty(), "the pull keeps its response");
    let derived = connector.derive(request, &page.raw).unwrap();
    assert_eq!(derived.channel_stats, page.channel_stats);
    assert_eq!(derived.totals, page.totals);
    assert_eq!(derived.missing, page.missing);
}

#[tokio::test]
async fn tiktok_keeps_what_the_answer_gives_and_names_what_it_left_out() {
    let fake = FakeTikTok::start().await;
    fake.set_user(FakeTikTok::TOKEN, TikTokUser::default());
    let connector = tiktok::connector(&fake.base_url(), &http(Duration::from_secs(1)));
    let mut request = request(Platform::TikTok, TT_OPEN_ID, FakeTikTok::TOKEN);
    request.previous_totals = Some(json!({"likes_count": 79_000, "video_count": 68}));
    // Neither likes_count nor video_count: followers are still stored.
    fake.fail_next(Fault::Body(
        200,
        tiktok_user_info(json!({"open_id": TT_OPEN_ID, "follower_count": 4000})),
    ));
    let (result, sink) = pull(&connector, &request).await;
    result.unwrap();
    let page = &sink.pages[0];
    let row = &page.channel_stats[0];
    assert_eq!(
        (row.followers, row.likes, row.posts),
        (Some(4000), None, None)
    );
    assert_eq!(page.missing, missing(&["likes_count", "video_count"]));
    // No total that was not given: the next day computes no difference from it.
    assert_eq!(page.totals, Some(json!({})));
    assert_eq!(page.raw[0].label, "user_info");
    assert_derives_the_same(&connector, &request, page);

    // The full answer: differences against yesterday's totals, derived the same.
    fake.fail_next(Fault::Body(
        200,
        tiktok_user_info(json!({
            "open_id": TT_OPEN_ID, "follower_count": 4000, "likes_count": 80_000, "video_count": 70
        })),
    ));
    let (result, sink) = pull(&connector, &request).await;
    result.unwrap();
    let page = &sink.pages[0];
    assert_eq!(
        (page.channel_stats[0].likes, page.channel_stats[0].posts),
        (Some(1000), Some(2))
    );
    assert!(page.missing.is_empty());
    assert_derives_the_same(&connector, &request, page);

    // A past day: nothing to derive from, nothing derived.
    let mut past = request.clone();
    past.latest = false;
    assert_eq!(connector.derive(&past, &[]).unwrap().rows(), 0);
}

#[tokio::test]
async fn tiktok_refuses_a_token_granted_by_another_account() {
    let fake = FakeTikTok::start().await;
    fake.set_user(FakeTikTok::TOKEN, TikTokUser::default());
    let connector = tiktok::connector(&fake.base_url(), &http(Duration::from_secs(1)));
    fake.fail_next(Fault::Body(
        200,
        tiktok_user_info(json!({"open_id": "someone-else", "follower_count": 9})),
    ));
    let request = request(Platform::TikTok, TT_OPEN_ID, FakeTikTok::TOKEN);
    let (result, sink) = pull(&connector, &request).await;
    match result {
        Err(ConnectorError::Config(message)) => assert_eq!(
            message,
            format!(
                "the token was granted by TikTok account `someone-else`, not the channel's `{TT_OPEN_ID}`"
            )
        ),
        other => panic!("{other:?}"),
    }
    assert!(sink.pages.is_empty(), "nothing handed to the sink");
}

#[tokio::test]
async fn x_checks_the_account_reads_usernames_and_names_missing_metrics() {
    let fake = FakeX::start().await;
    fake.set_user(
        X_ID,
        XUser {
            username: "XDevelopers".into(),
            followers: 583_423,
            following: 2048,
            tweets: 14_052,
            listed: 1672,
            likes_given: 0,
        },
    );
    let connector = x::connector(&fake.base_url(), &http(Duration::from_secs(1)));

    // A username, any case, with or without `@`: looked up by username, checked without
    // case.
    for account in ["@xdevelopers", "XDevelopers"] {
        fake.clear_requests();
        let request = request(Platform::X, account, FakeX::TOKEN);
        let (result, sink) = pull(&connector, &request).await;
        result.unwrap();
        assert_eq!(sink.pages[0].channel_stats[0].followers, Some(583_423));
        let sent = &fake.requests()[0];
        let name = account.trim_start_matches('@');
        assert_eq!(sent.path, format!("/2/users/by/username/{name}"));
        assert_eq!(sent.param("user.fields"), Some("public_metrics"));
        assert_derives_the_same(&connector, &request, &sink.pages[0]);
    }

    // An answer for another id stores nothing.
    let request = request(Platform::X, X_ID, FakeX::TOKEN);
    fake.fail_next(Fault::Body(
        200,
        x_user(
            "783214",
            "X",
            json!({"followers_count": 1, "tweet_count": 2}),
        ),
    ));
    let (result, sink) = pull(&connector, &request).await;
    match result {
        Err(ConnectorError::Config(message)) => {
            assert!(
                message.contains("783214") && message.contains(X_ID),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(sink.pages.is_empty());

    // No tweet_count: followers stored, tweet_count reported, no total remembered.
    fake.fail_next(Fault::Body(
        200,
        x_user(
            X_ID,
            "XDevelopers",
            json!({"followers_count": 583_423, "following_count": 2048, "listed_count": 1672, "like_count": 0}),
        ),
    ));
    let (result, sink) = pull(&connector, &request).await;
    result.unwrap();
    let page = &sink.pages[0];
    assert_eq!(page.channel_stats[0].followers, Some(583_423));
    assert_eq!(page.channel_stats[0].posts, None);
    assert_eq!(page.missing, missing(&["tweet_count"]));
    assert_eq!(page.totals, Some(json!({})));
    assert_derives_the_same(&connector, &request, page);
}

#[tokio::test]
async fn x_returns_a_rate_limit_past_the_cap_at_once() {
    let fake = FakeX::start().await;
    fake.set_user(X_ID, XUser::default());
    let connector = x::connector(&fake.base_url(), &http(Duration::from_millis(100)));
    fake.fail_next(Fault::RateLimitReset(Duration::from_secs(900)));
    let started = Instant::now();
    let (result, sink) = pull(&connector, &request(Platform::X, X_ID, FakeX::TOKEN)).await;
    match result {
        Err(ConnectorError::RateLimited {
            platform,
            until,
            message,
        }) => {
            assert_eq!(platform, "x");
            let left = until - Utc::now();
            assert!(
                left > chrono::Duration::seconds(890) && left <= chrono::Duration::seconds(902),
                "{until}"
            );
            assert!(message.contains("429"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(sink.pages.is_empty());
    assert_eq!(fake.request_count(), 1, "no attempt burnt waiting");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn youtube_asks_handles_with_for_handle_and_checks_ids() {
    let fake = FakeYouTube::start().await;
    fake.set_channel(
        YT_ID,
        YtChannel {
            views: 1_000_000,
            subscribers: 2_500_000,
            hidden_subscribers: false,
            videos: 6000,
        },
    );
    fake.set_handle(YT_HANDLE, YT_ID);
    let connector = youtube::connector(&fake.base_url(), &http(Duration::from_secs(1)));
    let by_handle = request(Platform::YouTube, YT_HANDLE, FakeYouTube::TOKEN);
    let (result, sink) = pull(&connector, &by_handle).await;
    result.unwrap();
    assert_eq!(sink.pages[0].channel_stats[0].followers, Some(2_500_000));
    let sent = &fake.requests()[0];
    assert_eq!(sent.param("forHandle"), Some(YT_HANDLE));
    assert_eq!(sent.param("id"), None);
    assert_eq!(sink.pages[0].raw[0].label, "channels");
    assert!(
        !sink.pages[0].raw[0]
            .body
            .to_string()
            .contains(FakeYouTube::TOKEN),
        "no key in what is kept"
    );
    assert_derives_the_same(&connector, &by_handle, &sink.pages[0]);

    // An unknown handle is a set-up error naming it.
    let (result, _) = pull(
        &connector,
        &request(Platform::YouTube, "@nobody-here", FakeYouTube::TOKEN),
    )
    .await;
    assert!(
        matches!(&result, Err(ConnectorError::Config(m)) if m.contains("no YouTube channel with handle `@nobody-here`")),
        "{result:?}"
    );

    // An item for another channel than the id asked is refused; a missing count is named.
    let by_id = request(Platform::YouTube, YT_ID, FakeYouTube::TOKEN);
    fake.fail_next(Fault::Body(
        200,
        youtube_channels(
            "UCBR8-60-B28hp2BmDPdntcQ",
            json!({"viewCount": "1", "subscriberCount": "2", "hiddenSubscriberCount": false, "videoCount": "3"}),
        ),
    ));
    let (result, sink) = pull(&connector, &by_id).await;
    assert!(
        matches!(&result, Err(ConnectorError::Config(m)) if m.contains("UCBR8-60-B28hp2BmDPdntcQ") && m.contains(YT_ID)),
        "{result:?}"
    );
    assert!(sink.pages.is_empty());
    fake.fail_next(Fault::Body(
        200,
        youtube_channels(
            YT_ID,
            json!({"subscriberCount": "2500000", "hiddenSubscriberCount": false, "videoCount": "6000"}),
        ),
    ));
    let (result, sink) = pull(&connector, &by_id).await;
    result.unwrap();
    let page = &sink.pages[0];
    assert_eq!(page.channel_stats[0].followers, Some(2_500_000));
    assert_eq!(page.missing, missing(&["viewCount"]));
    assert_eq!(page.totals, Some(json!({"videoCount": 6000})));
    assert_derives_the_same(&connector, &by_id, page);
}

// ---------------------------------------------------------------------------------------
// End to end: CreateChannel, RunJob and GetJobRun over the fakes.

/// The fakes of the three platforms, with `acme`'s credentials laid out as the server
/// reads them.
struct Social {
    tiktok: FakeTikTok,
    x: FakeX,
    youtube: FakeYouTube,
    secrets: tempfile::TempDir,
}

impl Social {
    async fn start() -> Social {
        let social = Social {
            tiktok: FakeTikTok::start().await,
            x: FakeX::start().await,
            youtube: FakeYouTube::start().await,
            secrets: tempfile::tempdir().unwrap(),
        };
        social.tiktok.set_user(
            FakeTikTok::TOKEN,
            TikTokUser {
                open_id: TT_OPEN_ID.into(),
                followers: 4000,
                likes: 80_000,
                videos: 70,
            },
        );
        social.x.set_user(
            X_ID,
            XUser {
                username: "XDevelopers".into(),
                followers: 583_423,
                tweets: 14_052,
                ..XUser::default()
            },
        );
        social.youtube.set_channel(
            YT_ID,
            YtChannel {
                views: 1_000_000,
                subscribers: 2_500_000,
                hidden_subscribers: false,
                videos: 6000,
            },
        );
        social.youtube.set_handle(YT_HANDLE, YT_ID);
        let dir = social.secrets.path().join("acme");
        std::fs::create_dir_all(&dir).unwrap();
        for (reference, token) in [
            ("TT_TOKEN", FakeTikTok::TOKEN),
            ("X_TOKEN", FakeX::TOKEN),
            ("YT_KEY", FakeYouTube::TOKEN),
        ] {
            std::fs::write(dir.join(reference), format!("{token}\n")).unwrap();
        }
        social
    }

    /// A server pulling from these fakes; waits between attempts are capped at
    /// `max_delay`.
    async fn app(&self, db: TestDb, max_delay: Duration, settings: JobSettings) -> TestApp {
        let urls = BaseUrls {
            tiktok: self.tiktok.base_url(),
            x: self.x.base_url(),
            youtube: self.youtube.base_url(),
            ..BaseUrls::default()
        };
        TestApp::builder(db)
            .registry(live_registry(&urls, &http(max_delay)))
            .job_settings(settings)
            .credentials(Credentials::new(
                Some(self.secrets.path().to_path_buf()),
                [],
            ))
            .spawn()
            .await
    }
}

async fn create(
    app: &TestApp,
    id: &str,
    platform: proto::Platform,
    account: &str,
    reference: &str,
) -> Result<proto::Channel, tonic::Status> {
    app.channels()
        .create_channel(app.req(proto::CreateChannelRequest {
            channel_id: id.into(),
            channel: Some(proto::Channel {
                display_name: id.into(),
                platform: platform as i32,
                account_id: account.into(),
                credentials_ref: reference.into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .map(tonic::Response::into_inner)
}

fn date(day: NaiveDate) -> Option<tally::proto::google::r#type::Date> {
    Some(tally::proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

/// `acme`'s yesterday, the day a run started now pulls.
async fn yesterday_of(app: &TestApp) -> NaiveDate {
    let tenant = app.store.get_tenant("acme").await.unwrap();
    jobs::yesterday(Utc::now(), &tenant)
}

/// Starts a forced run of yesterday and returns its name.
async fn start_run(app: &TestApp) -> String {
    let y = yesterday_of(app).await;
    JobServiceClient::new(app.channel.clone())
        .run_job(app.req(proto::RunJobRequest {
            name: "jobs/nightly".into(),
            first_day: date(y),
            last_day: date(y),
            force: true,
        }))
        .await
        .unwrap()
        .into_inner()
        .name
}

async fn get_run(app: &TestApp, name: &str) -> proto::JobRun {
    JobServiceClient::new(app.channel.clone())
        .get_job_run(with_key(
            proto::GetJobRunRequest { name: name.into() },
            &app.key,
        ))
        .await
        .unwrap()
        .into_inner()
}

/// Waits for run `name` to end.
async fn finished(app: &TestApp, name: &str) -> proto::JobRun {
    for _ in 0..600 {
        let run = get_run(app, name).await;
        if run.status != proto::RunStatus::Running as i32 {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {name} did not end within a minute");
}

fn source<'a>(run: &'a proto::JobRun, channel: &str) -> &'a proto::SourceResult {
    run.days
        .iter()
        .flat_map(|d| &d.sources)
        .find(|s| s.channel == format!("channels/{channel}"))
        .unwrap_or_else(|| panic!("no pull of {channel} in {run:?}"))
}

/// The stored statistics of `channel` on `day`.
async fn stored(
    app: &TestApp,
    channel: &str,
    day: NaiveDate,
) -> Option<tally::storage::entities::channel_day_stat::Model> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use tally::storage::entities::channel_day_stat::{Column, Entity};
    Entity::find()
        .filter(Column::TenantId.eq("acme"))
        .filter(Column::ChannelId.eq(channel))
        .filter(Column::Day.eq(day))
        .one(app.store.connection())
        .await
        .unwrap()
}

async fn tiktok_without_likes_keeps_followers_and_reports_the_missing_metric(db: TestDb) {
    let social = Social::start().await;
    let app = social
        .app(db, Duration::from_secs(1), JobSettings::default())
        .await;
    create(&app, "tt", proto::Platform::Tiktok, TT_OPEN_ID, "TT_TOKEN")
        .await
        .unwrap();
    social.tiktok.fail_next(Fault::Body(
        200,
        tiktok_user_info(json!({"open_id": TT_OPEN_ID, "follower_count": 4000, "video_count": 70})),
    ));
    let run = finished(&app, &start_run(&app).await).await;
    assert_eq!(run.status, proto::RunStatus::Succeeded as i32, "{run:?}");
    let pull = source(&run, "tt");
    assert_eq!(pull.status, proto::RunStatus::Succeeded as i32, "{pull:?}");
    assert_eq!(
        pull.missing_metrics,
        vec![proto::MissingMetric {
            metric: "likes_count".into(),
            reason: "not in the response".into(),
        }]
    );
    let y = yesterday_of(&app).await;
    let row = stored(&app, "tt", y).await.expect("the day is stored");
    assert_eq!((row.followers, row.likes), (Some(4000), None));
    let totals = app
        .store
        .get_pull("acme", "tt", y)
        .await
        .unwrap()
        .unwrap()
        .totals;
    let totals: Value = serde_json::from_str(&totals.unwrap()).unwrap();
    assert_eq!(
        totals,
        json!({"video_count": 70}),
        "no likes total to subtract from"
    );
    app.stop().await;
}

async fn tiktok_token_of_another_account_stores_nothing(db: TestDb) {
    let social = Social::start().await;
    let app = social
        .app(db, Duration::from_secs(1), JobSettings::default())
        .await;
    create(
        &app,
        "tt",
        proto::Platform::Tiktok,
        "the-channels-own-open-id",
        "TT_TOKEN",
    )
    .await
    .unwrap();
    let run = finished(&app, &start_run(&app).await).await;
    assert_eq!(run.status, proto::RunStatus::Partial as i32, "{run:?}");
    let pull = source(&run, "tt");
    assert_eq!(pull.status, proto::RunStatus::Failed as i32, "{pull:?}");
    assert!(
        pull.detail.contains(&format!(
            "the token was granted by TikTok account `{TT_OPEN_ID}`, not the channel's `the-channels-own-open-id`"
        )),
        "{}",
        pull.detail
    );
    let y = yesterday_of(&app).await;
    assert_eq!(stored(&app, "tt", y).await, None, "nothing stored");
    let record = app.store.get_pull("acme", "tt", y).await.unwrap().unwrap();
    assert_eq!(record.totals, None);
    app.stop().await;
}

async fn x_rate_limit_past_the_cap_is_pulled_again_later_in_the_run(db: TestDb) {
    let social = Social::start().await;
    // The client waits at most 50 ms between attempts; the reset is 2 to 3 s away.
    let app = social
        .app(db, Duration::from_millis(50), JobSettings::default())
        .await;
    create(&app, "x", proto::Platform::X, X_ID, "X_TOKEN")
        .await
        .unwrap();
    create(&app, "yt", proto::Platform::Youtube, YT_HANDLE, "YT_KEY")
        .await
        .unwrap();
    social
        .x
        .fail_next(Fault::RateLimitReset(Duration::from_secs(2)));
    let started = Instant::now();
    let run = finished(&app, &start_run(&app).await).await;
    assert_eq!(run.status, proto::RunStatus::Succeeded as i32, "{run:?}");
    let pull = source(&run, "x");
    assert_eq!(pull.status, proto::RunStatus::Succeeded as i32, "{pull:?}");
    assert!(
        pull.detail.starts_with("rate limited until ")
            && pull
                .detail
                .contains("; rescheduled after the day's other sources and pulled at "),
        "{}",
        pull.detail
    );
    // One refused request and one that worked: no attempt was spent waiting.
    assert_eq!(social.x.request_count(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let y = yesterday_of(&app).await;
    let row = stored(&app, "x", y).await.expect("X's day is stored");
    assert_eq!(row.followers, Some(583_423));
    assert_eq!(
        source(&run, "yt").status,
        proto::RunStatus::Succeeded as i32
    );
    app.stop().await;
}

async fn x_rate_limit_beyond_the_run_wait_fails_with_the_reason(db: TestDb) {
    let social = Social::start().await;
    let app = social
        .app(db, Duration::from_millis(50), JobSettings::default())
        .await;
    create(&app, "x", proto::Platform::X, X_ID, "X_TOKEN")
        .await
        .unwrap();
    social
        .x
        .fail_next(Fault::RateLimitReset(Duration::from_secs(2 * 3600)));
    let started = Instant::now();
    let run = finished(&app, &start_run(&app).await).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(run.status, proto::RunStatus::Partial as i32, "{run:?}");
    let pull = source(&run, "x");
    assert_eq!(pull.status, proto::RunStatus::Failed as i32, "{pull:?}");
    assert!(
        pull.detail.starts_with("rate limited until ")
            && pull
                .detail
                .contains(", later than the 900 s the run waits; the next run pulls it again"),
        "{}",
        pull.detail
    );
    assert_eq!(social.x.request_count(), 1);
    app.stop().await;
}

async fn a_cancel_stops_the_wait_for_a_rate_limit_at_once(db: TestDb) {
    let social = Social::start().await;
    let app = social
        .app(db, Duration::from_millis(50), JobSettings::default())
        .await;
    create(&app, "x", proto::Platform::X, X_ID, "X_TOKEN")
        .await
        .unwrap();
    social
        .x
        .fail_next(Fault::RateLimitReset(Duration::from_secs(120)));
    let name = start_run(&app).await;
    // The run shows the rescheduled source while it waits.
    let mut waiting = None;
    for _ in 0..100 {
        let run = get_run(&app, &name).await;
        if let Some(s) = run
            .days
            .iter()
            .flat_map(|d| &d.sources)
            .find(|s| s.channel == "channels/x")
        {
            waiting = Some(s.detail.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waiting = waiting.expect("the run reports the rescheduled source while waiting");
    assert!(
        waiting.contains("rescheduled after the day's other sources"),
        "{waiting}"
    );
    JobServiceClient::new(app.channel.clone())
        .cancel_job_run(app.req(proto::CancelJobRunRequest { name: name.clone() }))
        .await
        .unwrap();
    let cancelled = Instant::now();
    let run = finished(&app, &name).await;
    assert!(
        cancelled.elapsed() < Duration::from_secs(5),
        "stopped after {:?}",
        cancelled.elapsed()
    );
    assert_eq!(run.status, proto::RunStatus::Cancelled as i32, "{run:?}");
    assert_eq!(social.x.request_count(), 1);
    app.stop().await;
}

async fn youtube_handle_is_pulled_with_for_handle(db: TestDb) {
    let social = Social::start().await;
    let app = social
        .app(db, Duration::from_secs(1), JobSettings::default())
        .await;
    create(&app, "yt", proto::Platform::Youtube, YT_HANDLE, "YT_KEY")
        .await
        .unwrap();
    let run = finished(&app, &start_run(&app).await).await;
    assert_eq!(run.status, proto::RunStatus::Succeeded as i32, "{run:?}");
    let sent = social.youtube.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].param("forHandle"), Some(YT_HANDLE));
    let row = stored(&app, "yt", yesterday_of(&app).await)
        .await
        .expect("stored");
    assert_eq!(row.followers, Some(2_500_000));
    app.stop().await;
}

async fn a_bad_youtube_account_is_refused_at_create_channel(db: TestDb) {
    let app = TestApp::spawn(db).await;
    for bad in [
        "UCanna",
        "GoogleDevelopers",
        "@ab",
        "https://youtube.com/@GoogleDevelopers",
    ] {
        let refused = create(&app, "yt", proto::Platform::Youtube, bad, "").await;
        let status = refused.as_ref().unwrap_err().clone();
        assert_eq!(bad_fields(refused), ["channel.account_id"], "{bad}");
        let text = format!("{status:?}");
        assert!(
            text.contains("channel id") && text.contains("handle"),
            "both forms named: {text}"
        );
    }
    let created = create(&app, "yt", proto::Platform::Youtube, YT_ID, "")
        .await
        .unwrap();
    let refused = app
        .channels()
        .update_channel(app.req(proto::UpdateChannelRequest {
            channel: Some(proto::Channel {
                name: created.name.clone(),
                account_id: "GoogleDevelopers".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["account_id".into()],
            }),
        }))
        .await;
    assert_eq!(bad_fields(refused), ["channel.account_id"]);
    let updated = app
        .channels()
        .update_channel(app.req(proto::UpdateChannelRequest {
            channel: Some(proto::Channel {
                name: created.name.clone(),
                account_id: YT_HANDLE.into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["account_id".into()],
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.account_id, YT_HANDLE);
    app.stop().await;
}

crate::on_both_database_kinds!(
    tiktok_without_likes_keeps_followers_and_reports_the_missing_metric,
    tiktok_token_of_another_account_stores_nothing,
    x_rate_limit_past_the_cap_is_pulled_again_later_in_the_run,
    x_rate_limit_beyond_the_run_wait_fails_with_the_reason,
    a_cancel_stops_the_wait_for_a_rate_limit_at_once,
    youtube_handle_is_pulled_with_for_handle,
    a_bad_youtube_account_is_refused_at_create_channel,
);
