//! The HTTP connectors against loopback fakes of their platforms: mapping, retries, rate
//! limits, credentials and paging.
use crate::fakes::*;
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally::connectors::ga4::Ga4;
use tally::connectors::instagram::Instagram;
use tally::connectors::shopify::Shopify;
use tally::connectors::{
    BaseUrls, Connector, ConnectorError, HttpSettings, Page, PageSink, PullRequest, Secret,
    SinkError, Source, live_registry,
};
use tally::domain::channel::Platform;
use tally::domain::observation::{ChannelDayStats, Order, WebTraffic, customer_key};

const REFERENCE: &str = "TALLY_TEST_CREDENTIAL";
const WRONG: &str = "wrong-secret-d41d8cd9";

/// Collects the pages of a pull with the cursor handed over with each.
#[derive(Default)]
struct Collect {
    pages: Vec<(Page, Option<String>)>,
}

#[async_trait::async_trait]
impl PageSink for Collect {
    async fn page(&mut self, page: Page, next_cursor: Option<String>) -> Result<(), SinkError> {
        self.pages.push((page, next_cursor));
        Ok(())
    }
}

impl Collect {
    fn stats(&self) -> Vec<ChannelDayStats> {
        self.pages
            .iter()
            .flat_map(|(p, _)| p.channel_stats.clone())
            .collect()
    }

    fn cursors(&self) -> Vec<Option<String>> {
        self.pages.iter().map(|(_, c)| c.clone()).collect()
    }

    fn orders(&self) -> Vec<Order> {
        self.pages
            .iter()
            .flat_map(|(p, _)| p.orders.clone())
            .collect()
    }

    fn traffic(&self) -> Vec<WebTraffic> {
        self.pages
            .iter()
            .flat_map(|(p, _)| p.web_traffic.clone())
            .collect()
    }

    /// Everything collected, for comparing two pulls (Page has no PartialEq).
    fn summary(&self) -> String {
        format!("{:?}", self.pages)
    }
}

fn settings() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(2),
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(5),
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn amsterdam() -> chrono_tz::Tz {
    "Europe/Amsterdam".parse().unwrap()
}

fn request(platform: Platform, account: &str, token: &str) -> PullRequest {
    PullRequest {
        tenant: "t1".into(),
        source: Source {
            channel_id: "ch-1".into(),
            platform,
            account_id: account.into(),
            credentials_ref: REFERENCE.into(),
        },
        day: day(),
        time_zone: amsterdam(),
        currency: "EUR".into(),
        latest: true,
        previous_totals: None,
        credential: Some(Secret::new(token)),
        cursor: None,
        customer_keys: tally::domain::observation::CustomerKeySecret::development(),
    }
}

fn stats(followers: Option<i64>) -> ChannelDayStats {
    ChannelDayStats {
        channel_id: "ch-1".into(),
        day: day(),
        followers,
        posts: None,
        mentions: None,
        shares: None,
        comments: None,
        likes: None,
        link_clicks: None,
        views: None,
        reach: None,
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

// ---------------------------------------------------------------------------------------
// Behaviour every connector shares, run against each platform.

/// One platform's fake with data, its connector and a request that succeeds.
struct Case {
    fake: Box<dyn std::ops::Deref<Target = FakeServer> + Send + Sync>,
    connector: Arc<dyn Connector>,
    request: PullRequest,
    /// How `Retry-After` is written by this platform (X uses x-rate-limit-reset instead).
    retry_after_one_second: Fault,
}

fn shopify_order(id: u64, created_at: &str, currency: &str) -> ShopifyOrder {
    ShopifyOrder {
        id,
        created_at: created_at.into(),
        currency: currency.into(),
        subtotal_price: "10.00".into(),
        total_discounts: "0.00".into(),
        email: Some(format!("c{id}@example.com")),
        ..ShopifyOrder::default()
    }
}

fn ga4_row(source: &str, sessions: u64) -> Ga4Row {
    Ga4Row {
        date: day(),
        source: source.into(),
        medium: "social".into(),
        campaign: "anna".into(),
        channel_group: "Organic Social".into(),
        sessions,
        users: sessions,
        new_users: 1,
    }
}

async fn case(platform: Platform, http: &HttpSettings) -> Case {
    let retry_after = Fault::RetryAfter("1".into());
    match platform {
        Platform::YouTube => {
            let fake = FakeYouTube::start().await;
            fake.set_channel(
                "UC1",
                YtChannel {
                    views: 100,
                    subscribers: 5,
                    hidden_subscribers: false,
                    videos: 3,
                },
            );
            Case {
                connector: Arc::new(tally::connectors::youtube::connector(
                    &fake.base_url(),
                    http,
                )),
                request: request(platform, "UC1", FakeYouTube::TOKEN),
                fake: Box::new(fake),
                retry_after_one_second: retry_after,
            }
        }
        Platform::Instagram => {
            let fake = FakeInstagram::start().await;
            fake.set_account(
                "178414",
                IgAccount {
                    followers: 10,
                    media: 4,
                    reach: Some(50),
                    likes: Some(7),
                    ..IgAccount::default()
                },
            );
            Case {
                connector: Arc::new(Instagram::new(&fake.base_url(), http)),
                request: request(platform, "178414", FakeInstagram::TOKEN),
                fake: Box::new(fake),
                retry_after_one_second: retry_after,
            }
        }
        Platform::X => {
            let fake = FakeX::start().await;
            fake.set_user(
                "2244994945",
                XUser {
                    username: "anna".into(),
                    followers: 10,
                    tweets: 50,
                    ..XUser::default()
                },
            );
            Case {
                connector: Arc::new(tally::connectors::x::connector(&fake.base_url(), http)),
                request: request(platform, "2244994945", FakeX::TOKEN),
                fake: Box::new(fake),
                retry_after_one_second: Fault::RateLimitReset(Duration::from_secs(1)),
            }
        }
        Platform::TikTok => {
            let fake = FakeTikTok::start().await;
            fake.set_user(
                FakeTikTok::TOKEN,
                TikTokUser {
                    open_id: "tt-open-1".into(),
                    followers: 10,
                    likes: 99,
                    videos: 4,
                },
            );
            Case {
                connector: Arc::new(tally::connectors::tiktok::connector(&fake.base_url(), http)),
                request: request(platform, "tt-open-1", FakeTikTok::TOKEN),
                fake: Box::new(fake),
                retry_after_one_second: retry_after,
            }
        }
        Platform::Website => {
            let fake = FakeGa4::start().await;
            fake.set_rows("123456", vec![ga4_row("influencer", 42)]);
            Case {
                connector: Arc::new(Ga4::new(&fake.base_url(), http)),
                request: request(platform, "123456", FakeGa4::TOKEN),
                fake: Box::new(fake),
                retry_after_one_second: retry_after,
            }
        }
        Platform::Shopify => {
            let fake = FakeShopify::start().await;
            fake.set_orders(vec![shopify_order(1, "2026-11-23T10:00:00+01:00", "EUR")]);
            Case {
                connector: Arc::new(Shopify::new(Some(&fake.base_url()), http)),
                request: request(platform, "anna.myshopify.com", FakeShopify::TOKEN),
                fake: Box::new(fake),
                // Shopify writes fractional seconds.
                retry_after_one_second: Fault::RetryAfter("1.0".into()),
            }
        }
        other => panic!("no HTTP connector for {other:?}"),
    }
}

/// A clean pull's output and request count, to compare a faulty pull with.
async fn baseline(case: &Case) -> (String, usize) {
    let (result, sink) = pull(case.connector.as_ref(), &case.request).await;
    result.unwrap();
    assert!(
        sink.pages.iter().map(|(p, _)| p.rows()).sum::<u64>() > 0,
        "the clean pull produced rows"
    );
    let count = case.fake.request_count();
    case.fake.clear_requests();
    (sink.summary(), count)
}

/// A fault on the first request is retried and the pull ends as a clean one would.
async fn recovers_from(platform: Platform, fault: Fault, http: HttpSettings) {
    let case = case(platform, &http).await;
    let (clean, requests) = baseline(&case).await;
    case.fake.fail_next(fault.clone());
    let (result, sink) = pull(case.connector.as_ref(), &case.request).await;
    result.unwrap_or_else(|e| panic!("{platform:?} after {fault:?}: {e}"));
    assert_eq!(sink.summary(), clean, "{platform:?} after {fault:?}");
    assert_eq!(
        case.fake.request_count(),
        requests + 1,
        "{platform:?}: one retry"
    );
    assert_eq!(case.fake.pending_faults(), 0);
}

async fn retries_after_a_500(platform: Platform) {
    recovers_from(platform, Fault::Status(500), settings()).await;
}

async fn retries_after_a_truncated_body(platform: Platform) {
    recovers_from(platform, Fault::Truncated, settings()).await;
}

async fn retries_after_a_timeout(platform: Platform) {
    let http = HttpSettings {
        timeout: Duration::from_millis(300),
        ..settings()
    };
    recovers_from(platform, Fault::Delay(Duration::from_millis(1500)), http).await;
}

async fn retries_after_the_platforms_rate_limit(platform: Platform) {
    recovers_from(platform, Fault::RateLimited, settings()).await;
}

async fn honours_retry_after(platform: Platform) {
    let case = case(platform, &settings()).await;
    let (clean, requests) = baseline(&case).await;
    case.fake.fail_next(case.retry_after_one_second.clone());
    let started = Instant::now();
    let (result, sink) = pull(case.connector.as_ref(), &case.request).await;
    let elapsed = started.elapsed();
    result.unwrap();
    assert_eq!(sink.summary(), clean);
    assert_eq!(
        case.fake.request_count(),
        requests + 1,
        "the fake saw the retry"
    );
    // The backoff alone would wait 5 to 10 ms.
    assert!(
        elapsed >= Duration::from_secs(1),
        "{platform:?} waited only {elapsed:?}"
    );
}

async fn refuses_a_bad_credential_without_retrying(platform: Platform) {
    let case = case(platform, &settings()).await;
    let mut request = case.request.clone();
    request.credential = Some(Secret::new(WRONG));
    let (result, sink) = pull(case.connector.as_ref(), &request).await;
    let error = result.unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(
        matches!(&error, ConnectorError::Auth { reference, .. } if reference == REFERENCE),
        "{platform:?}: {text}"
    );
    assert!(
        !text.contains(WRONG),
        "{platform:?} leaked the secret: {text}"
    );
    assert!(error.needs_person());
    assert_eq!(case.fake.request_count(), 1, "{platform:?}: no retries");
    assert!(sink.pages.is_empty());

    // A 401 scripted on a good credential is refused the same way.
    case.fake.clear_requests();
    case.fake.fail_next(Fault::Unauthorized);
    let (result, _) = pull(case.connector.as_ref(), &case.request).await;
    let error = result.unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, ConnectorError::Auth { .. }),
        "{platform:?}: {text}"
    );
    assert_eq!(case.fake.request_count(), 1);

    // No credential at all never reaches the platform.
    case.fake.clear_requests();
    let mut request = case.request.clone();
    request.credential = None;
    let (result, _) = pull(case.connector.as_ref(), &request).await;
    assert!(matches!(result, Err(ConnectorError::Auth { .. })));
    assert_eq!(case.fake.request_count(), 0);
}

async fn gives_up_after_max_attempts(platform: Platform) {
    let case = case(platform, &settings()).await;
    for _ in 0..3 {
        case.fake.fail_next(Fault::Status(503));
    }
    let (result, sink) = pull(case.connector.as_ref(), &case.request).await;
    match result {
        Err(ConnectorError::Unavailable {
            attempts, message, ..
        }) => {
            assert_eq!(attempts, 3);
            assert!(message.contains("503"), "{message}");
            assert!(!message.contains('?'), "no query string in {message}");
        }
        other => panic!("{platform:?}: {other:?}"),
    }
    assert_eq!(case.fake.request_count(), 3);
    assert!(sink.pages.is_empty());
}

macro_rules! shared_behaviour {
    ($($module:ident => $platform:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test]
            async fn retries_after_a_500() {
                super::retries_after_a_500($platform).await;
            }

            #[tokio::test]
            async fn retries_after_a_truncated_body() {
                super::retries_after_a_truncated_body($platform).await;
            }

            #[tokio::test]
            async fn retries_after_a_timeout() {
                super::retries_after_a_timeout($platform).await;
            }

            #[tokio::test]
            async fn retries_after_the_platforms_rate_limit() {
                super::retries_after_the_platforms_rate_limit($platform).await;
            }

            #[tokio::test]
            async fn honours_retry_after() {
                super::honours_retry_after($platform).await;
            }

            #[tokio::test]
            async fn refuses_a_bad_credential_without_retrying() {
                super::refuses_a_bad_credential_without_retrying($platform).await;
            }

            #[tokio::test]
            async fn gives_up_after_max_attempts() {
                super::gives_up_after_max_attempts($platform).await;
            }
        }
    )*};
}

shared_behaviour! {
    youtube => Platform::YouTube,
    instagram => Platform::Instagram,
    x => Platform::X,
    tiktok => Platform::TikTok,
    ga4 => Platform::Website,
    shopify => Platform::Shopify,
}

#[test]
fn the_live_registry_maps_each_platform_to_its_connector() {
    let registry = live_registry(&BaseUrls::default(), &HttpSettings::default());
    let name = |p| registry.get(p).map(|c| c.name());
    assert_eq!(name(Platform::YouTube), Some("youtube"));
    assert_eq!(name(Platform::Instagram), Some("instagram"));
    assert_eq!(name(Platform::X), Some("x"));
    assert_eq!(name(Platform::TikTok), Some("tiktok"));
    assert_eq!(name(Platform::Website), Some("ga4"));
    assert_eq!(name(Platform::Shopify), Some("shopify"));
    assert_eq!(name(Platform::Facebook), None);
    assert_eq!(BaseUrls::default().shopify, None);
}

// ---------------------------------------------------------------------------------------
// YouTube

#[tokio::test]
async fn youtube_maps_totals_to_differences_against_the_previous_day() {
    let case = case(Platform::YouTube, &settings()).await;
    let (result, sink) = pull(case.connector.as_ref(), &case.request).await;
    result.unwrap();
    // Without previous totals there is nothing to subtract.
    assert_eq!(sink.stats(), vec![stats(Some(5))]);
    assert_eq!(sink.cursors(), vec![None]);
    assert_eq!(
        sink.pages[0].0.totals,
        Some(json!({"videoCount": 3, "viewCount": 100}))
    );
    let sent = &case.fake.requests()[0];
    assert_eq!(sent.path, "/youtube/v3/channels");
    assert_eq!(sent.param("part"), Some("statistics"));
    assert_eq!(sent.param("id"), Some("UC1"));
    assert!(!sent.auth_header, "the key goes in the query");

    let mut request = case.request.clone();
    request.previous_totals = Some(json!({"videoCount": 1, "viewCount": 77}));
    let (result, sink) = pull(case.connector.as_ref(), &request).await;
    result.unwrap();
    let mut expected = stats(Some(5));
    expected.posts = Some(2);
    expected.views = Some(23);
    assert_eq!(sink.stats(), vec![expected]);

    // Deleted videos make the total shrink; the day counts no negative posts.
    request.previous_totals = Some(json!({"videoCount": 9, "viewCount": 100}));
    let (result, sink) = pull(case.connector.as_ref(), &request).await;
    result.unwrap();
    assert_eq!(sink.stats()[0].posts, Some(0));
    assert_eq!(sink.stats()[0].views, Some(0));
}

#[tokio::test]
async fn youtube_hidden_subscribers_and_unknown_channels() {
    let fake = FakeYouTube::start().await;
    fake.set_channel(
        "UC2",
        YtChannel {
            views: 10,
            subscribers: 999,
            hidden_subscribers: true,
            videos: 1,
        },
    );
    let connector = tally::connectors::youtube::connector(&fake.base_url(), &settings());
    let (result, sink) = pull(
        &connector,
        &request(Platform::YouTube, "UC2", FakeYouTube::TOKEN),
    )
    .await;
    result.unwrap();
    assert_eq!(sink.stats(), vec![stats(None)]);

    let (result, sink) = pull(
        &connector,
        &request(Platform::YouTube, "UCnope", FakeYouTube::TOKEN),
    )
    .await;
    match result {
        Err(ConnectorError::Config(message)) => {
            assert!(
                message.contains("no YouTube channel with id `UCnope`"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(sink.pages.is_empty());
}

#[tokio::test]
async fn connectors_without_history_report_nothing_for_a_past_day() {
    for platform in [Platform::YouTube, Platform::X, Platform::TikTok] {
        let case = case(platform, &settings()).await;
        assert!(!case.connector.has_history());
        let mut request = case.request.clone();
        request.latest = false;
        let (result, sink) = pull(case.connector.as_ref(), &request).await;
        result.unwrap();
        assert_eq!(sink.pages.len(), 1);
        assert_eq!(sink.pages[0].0.rows(), 0);
        assert_eq!(sink.pages[0].0.totals, None);
        assert_eq!(case.fake.request_count(), 0, "{platform:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Instagram

#[tokio::test]
async fn instagram_maps_account_and_insights() {
    let fake = FakeInstagram::start().await;
    fake.set_account(
        "178414",
        IgAccount {
            followers: 1200,
            media: 40,
            reach: Some(321),
            likes: Some(12),
            comments: Some(3),
            shares: Some(2),
            views: None,
            website_clicks: Some(5),
        },
    );
    let connector = Instagram::new(&fake.base_url(), &settings());
    assert!(connector.has_history());
    let mut request = request(Platform::Instagram, "178414", FakeInstagram::TOKEN);
    request.previous_totals = Some(json!({"media_count": 38}));
    let (result, sink) = pull(&connector, &request).await;
    result.unwrap();
    let mut expected = stats(Some(1200));
    expected.posts = Some(2);
    expected.reach = Some(321);
    expected.likes = Some(12);
    expected.comments = Some(3);
    expected.shares = Some(2);
    expected.link_clicks = Some(5);
    // views is missing from the answer, so unknown rather than zero.
    assert_eq!(sink.stats(), vec![expected]);
    assert_eq!(sink.pages[0].0.totals, Some(json!({"media_count": 40})));

    // Meta's Pacific day 23 November, whatever the tenant's zone (issue 21).
    let since = chrono_tz::America::Los_Angeles
        .with_ymd_and_hms(2026, 11, 23, 0, 0, 0)
        .unwrap()
        .timestamp()
        .to_string();
    let until = chrono_tz::America::Los_Angeles
        .with_ymd_and_hms(2026, 11, 24, 0, 0, 0)
        .unwrap()
        .timestamp()
        .to_string();
    let sent = fake.requests();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].path, "/v24.0/178414");
    assert_eq!(
        sent[0].param("fields"),
        Some("id,followers_count,media_count")
    );
    assert_eq!(sent[1].path, "/v24.0/178414/insights");
    assert_eq!(sent[1].param("metric"), Some("reach"));
    assert_eq!(sent[2].param("metric_type"), Some("total_value"));
    for insights in &sent[1..] {
        assert_eq!(insights.param("period"), Some("day"));
        assert_eq!(insights.param("since"), Some(since.as_str()));
        assert_eq!(insights.param("until"), Some(until.as_str()));
    }

    // A past day: insights only, no followers, no totals to remember.
    fake.clear_requests();
    request.latest = false;
    let (result, sink) = pull(&connector, &request).await;
    result.unwrap();
    let stats = &sink.stats()[0];
    assert_eq!((stats.followers, stats.posts), (None, None));
    assert_eq!(stats.reach, Some(321));
    assert_eq!(sink.pages[0].0.totals, None);
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn instagram_expired_token_asks_for_renewal() {
    let case = case(Platform::Instagram, &settings()).await;
    case.fake.fail_next(Fault::TokenExpired);
    let (result, _) = pull(case.connector.as_ref(), &case.request).await;
    match result {
        Err(ConnectorError::Auth { reference, message }) => {
            assert_eq!(reference, REFERENCE);
            assert!(message.contains("expired"), "{message}");
            assert!(message.contains("renewed"), "{message}");
            assert!(message.contains("190"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(case.fake.request_count(), 1);
}

// ---------------------------------------------------------------------------------------
// X and TikTok

#[tokio::test]
async fn x_maps_followers_and_tweets_but_not_likes_given() {
    let fake = FakeX::start().await;
    fake.set_user(
        "42",
        XUser {
            username: "anna".into(),
            followers: 10,
            following: 3,
            tweets: 50,
            listed: 1,
            likes_given: 7,
        },
    );
    let connector = tally::connectors::x::connector(&fake.base_url(), &settings());
    let mut request = request(Platform::X, "42", FakeX::TOKEN);
    let (result, sink) = pull(&connector, &request).await;
    result.unwrap();
    assert_eq!(sink.stats(), vec![stats(Some(10))]);
    assert_eq!(sink.pages[0].0.totals, Some(json!({"tweet_count": 50})));
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/2/users/42");
    assert_eq!(sent.param("user.fields"), Some("public_metrics"));
    assert!(sent.auth_header);

    request.previous_totals = Some(json!({"tweet_count": 46}));
    let (result, sink) = pull(&connector, &request).await;
    result.unwrap();
    let mut expected = stats(Some(10));
    expected.posts = Some(4);
    assert_eq!(sink.stats(), vec![expected]);

    let (result, _) = pull(&connector, &self::request(Platform::X, "404", FakeX::TOKEN)).await;
    match result {
        Err(ConnectorError::Config(message)) => assert!(message.contains("404"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tiktok_maps_followers_videos_and_likes() {
    let case = case(Platform::TikTok, &settings()).await;
    let (result, sink) = pull(case.connector.as_ref(), &case.request).await;
    result.unwrap();
    assert_eq!(sink.stats(), vec![stats(Some(10))]);
    assert_eq!(
        sink.pages[0].0.totals,
        Some(json!({"likes_count": 99, "video_count": 4}))
    );
    let sent = &case.fake.requests()[0];
    assert_eq!(sent.path, "/v2/user/info/");
    assert_eq!(
        sent.param("fields"),
        Some("open_id,follower_count,likes_count,video_count")
    );

    let mut request = case.request.clone();
    request.previous_totals = Some(json!({"likes_count": 90, "video_count": 3}));
    let (result, sink) = pull(case.connector.as_ref(), &request).await;
    result.unwrap();
    let mut expected = stats(Some(10));
    expected.posts = Some(1);
    expected.likes = Some(9);
    assert_eq!(sink.stats(), vec![expected]);

    // An error code other than auth and rate limits is a refusal, not a retry.
    case.fake.clear_requests();
    case.fake.fail_next(Fault::Body(
        400,
        json!({"data": {}, "error": {"code": "invalid_params", "message": "bad fields", "log_id": "1"}}),
    ));
    let (result, _) = pull(case.connector.as_ref(), &case.request).await;
    assert!(
        matches!(&result, Err(ConnectorError::Rejected { status: 400, message, .. }) if message.contains("invalid_params")),
        "{result:?}"
    );
    assert_eq!(case.fake.request_count(), 1);
}

// ---------------------------------------------------------------------------------------
// GA4

fn web(source: &str, sessions: i64, users: i64, new_users: i64) -> WebTraffic {
    WebTraffic {
        day: day(),
        source: source.into(),
        medium: "social".into(),
        campaign: "anna".into(),
        channel_group: "Organic Social".into(),
        age_bracket: None,
        age: None,
        country: None,
        is_customer: None,
        sessions,
        users,
        new_users,
    }
}

#[tokio::test]
async fn ga4_maps_rows_of_the_day() {
    let fake = FakeGa4::start().await;
    let mut other_day = ga4_row("yesterday", 5);
    other_day.date = day().pred_opt().unwrap();
    fake.set_rows(
        "123456",
        vec![
            Ga4Row {
                users: 30,
                new_users: 12,
                ..ga4_row("influencer", 42)
            },
            other_day,
            Ga4Row {
                medium: "(none)".into(),
                campaign: "(not set)".into(),
                channel_group: "Direct".into(),
                users: 7,
                new_users: 0,
                ..ga4_row("(direct)", 9)
            },
        ],
    );
    let connector = Ga4::new(&fake.base_url(), &settings());
    let (result, sink) = pull(
        &connector,
        &request(Platform::Website, "123456", FakeGa4::TOKEN),
    )
    .await;
    result.unwrap();
    let mut direct = web("(direct)", 9, 7, 0);
    direct.medium = "(none)".into();
    direct.campaign = "(not set)".into();
    direct.channel_group = "Direct".into();
    assert_eq!(sink.traffic(), vec![web("influencer", 42, 30, 12), direct]);
    assert_eq!(sink.cursors(), vec![None]);
    let sent = &fake.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1beta/properties/123456:runReport");
    assert!(sent.auth_header);
    assert_eq!(
        sent.body,
        Some(json!({
            "dateRanges": [{"startDate": "2026-11-23", "endDate": "2026-11-23"}],
            "dimensions": [{"name": "date"}, {"name": "sessionSource"}, {"name": "sessionMedium"},
                           {"name": "sessionCampaignName"}, {"name": "sessionDefaultChannelGroup"}],
            "metrics": [{"name": "sessions"}, {"name": "totalUsers"}, {"name": "newUsers"}],
            "limit": "10000",
            "offset": "0",
            "keepEmptyRows": false,
        }))
    );
}

#[tokio::test]
async fn ga4_reads_columns_by_header_name_and_names_bad_fields() {
    let case = case(Platform::Website, &settings()).await;
    let report = |date: &str, sessions: &str| {
        json!({
            "dimensionHeaders": [{"name": "sessionMedium"}, {"name": "date"}, {"name": "sessionSource"},
                                 {"name": "sessionDefaultChannelGroup"}, {"name": "sessionCampaignName"}],
            "metricHeaders": [{"name": "newUsers", "type": "TYPE_INTEGER"}, {"name": "sessions", "type": "TYPE_INTEGER"},
                              {"name": "totalUsers", "type": "TYPE_INTEGER"}],
            "rows": [{"dimensionValues": [{"value": "social"}, {"value": date}, {"value": "influencer"},
                                          {"value": "Organic Social"}, {"value": "anna"}],
                      "metricValues": [{"value": "12"}, {"value": sessions}, {"value": "30"}]}],
            "rowCount": 1,
            "kind": "analyticsData#runReport",
        })
    };
    case.fake
        .fail_next(Fault::Body(200, report("20261123", "42")));
    let (result, sink) = pull(case.connector.as_ref(), &case.request).await;
    result.unwrap();
    assert_eq!(sink.traffic(), vec![web("influencer", 42, 30, 12)]);

    for (date, sessions, field) in [
        ("20261122", "42", "rows[0].date"),
        ("20261123", "4.5", "rows[0].sessions"),
        ("20261123", "-3", "rows[0].sessions"),
    ] {
        case.fake
            .fail_next(Fault::Body(200, report(date, sessions)));
        let (result, _) = pull(case.connector.as_ref(), &case.request).await;
        match result {
            Err(ConnectorError::BadResponse { message, .. }) => {
                assert!(message.contains(field), "{message}")
            }
            other => panic!("{date} {sessions}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn ga4_pages_by_offset_and_resumes_from_the_cursor() {
    let fake = FakeGa4::start().await;
    let rows: Vec<Ga4Row> = (1..=5).map(|i| ga4_row(&format!("s{i}"), i)).collect();
    fake.set_rows("123456", rows);
    let connector = Ga4::new(&fake.base_url(), &settings()).with_page_size(2);
    let mut request = request(Platform::Website, "123456", FakeGa4::TOKEN);
    let (result, sink) = pull(&connector, &request).await;
    result.unwrap();
    assert_eq!(
        sink.cursors(),
        vec![Some("2".to_string()), Some("4".to_string()), None]
    );
    let per_page: Vec<usize> = sink
        .pages
        .iter()
        .map(|(p, _)| p.web_traffic.len())
        .collect();
    assert_eq!(per_page, vec![2, 2, 1]);
    let sources: Vec<String> = sink.traffic().into_iter().map(|w| w.source).collect();
    assert_eq!(sources, vec!["s1", "s2", "s3", "s4", "s5"]);
    let offsets: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.body.as_ref().unwrap()["offset"].to_string())
        .collect();
    assert_eq!(offsets, vec!["\"0\"", "\"2\"", "\"4\""]);

    fake.clear_requests();
    request.cursor = Some("4".into());
    let (result, sink) = pull(&connector, &request).await;
    result.unwrap();
    assert_eq!(sink.cursors(), vec![None]);
    let sources: Vec<String> = sink.traffic().into_iter().map(|w| w.source).collect();
    assert_eq!(sources, vec!["s5"]);
    assert_eq!(fake.request_count(), 1);
    assert_eq!(fake.requests()[0].body.as_ref().unwrap()["offset"], "4");
}

// ---------------------------------------------------------------------------------------
// Shopify

/// The orders requests a fake received: once the fixed day below is more than 60 days old,
/// each pull first asks for the token's access scopes.
fn orders_requests(fake: &FakeShopify) -> Vec<Recorded> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/orders.json"))
        .collect()
}

#[tokio::test]
async fn shopify_maps_orders_exactly() {
    let fake = FakeShopify::start().await;
    fake.set_orders(vec![
        ShopifyOrder {
            id: 450789469,
            created_at: "2026-11-23T10:00:00+01:00".into(),
            currency: "EUR".into(),
            subtotal_price: "12.50".into(),
            total_discounts: "1.25".into(),
            discount_codes: vec![" ANNA10 ".into()],
            customer: Some((207119551, "a@example.com".into())),
            email: Some("a@example.com".into()),
            landing_site: Some(
                "/products/x?utm_source=influencer&utm_medium=social%20post&utm_campaign=anna"
                    .into(),
            ),
            ..ShopifyOrder::default()
        },
        // A guest late in the evening: 23:30 in Amsterdam is 22:30 UTC, same day.
        ShopifyOrder {
            id: 450789470,
            created_at: "2026-11-23T22:30:00Z".into(),
            currency: "EUR".into(),
            subtotal_price: "7".into(),
            total_discounts: "0.00".into(),
            email: Some(" Guest@Example.com ".into()),
            landing_site: Some("/".into()),
            ..ShopifyOrder::default()
        },
    ]);
    let connector = Shopify::new(Some(&fake.base_url()), &settings());
    let (result, sink) = pull(
        &connector,
        &request(Platform::Shopify, "anna.myshopify.com", FakeShopify::TOKEN),
    )
    .await;
    result.unwrap();
    let placed = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    };
    assert_eq!(
        sink.orders(),
        vec![
            Order {
                order_id: "450789469".into(),
                customer_key: Some("c:207119551".into()),
                placed_at: placed("2026-11-23T09:00:00Z"),
                day: day(),
                revenue_minor: 1250,
                cost_minor: 0,
                discount_minor: 125,
                currency: "EUR".into(),
                codes: vec!["ANNA10".into()],
                utm_source: "influencer".into(),
                utm_medium: "social post".into(),
                utm_campaign: "anna".into(),
            },
            Order {
                order_id: "450789470".into(),
                customer_key: customer_key(
                    "",
                    "guest@example.com",
                    &tally::domain::observation::CustomerKeySecret::development(),
                ),
                placed_at: placed("2026-11-23T22:30:00Z"),
                day: day(),
                revenue_minor: 700,
                cost_minor: 0,
                discount_minor: 0,
                currency: "EUR".into(),
                codes: vec![],
                utm_source: String::new(),
                utm_medium: String::new(),
                utm_campaign: String::new(),
            },
        ]
    );
    // The orders placed on the day, then those placed before it and changed on it (none).
    assert_eq!(sink.cursors(), vec![Some("updated:".into()), None]);
    let sent = &orders_requests(&fake)[0];
    assert_eq!(sent.path, "/admin/api/2026-10/orders.json");
    assert!(sent.auth_header);
    assert_eq!(sent.param("status"), Some("any"));
    assert_eq!(
        sent.param("created_at_min"),
        Some("2026-11-23T00:00:00+01:00")
    );
    assert_eq!(
        sent.param("created_at_max"),
        Some("2026-11-23T23:59:59+01:00")
    );
    assert_eq!(sent.param("limit"), Some("250"));
    assert!(sent.param("fields").unwrap().contains("landing_site"));
}

#[tokio::test]
async fn shopify_skips_foreign_currencies_cancelled_and_test_orders() {
    let fake = FakeShopify::start().await;
    let at = "2026-11-23T12:00:00+01:00";
    fake.set_orders(vec![
        shopify_order(1, at, "EUR"),
        shopify_order(123, at, "USD"),
        ShopifyOrder {
            cancelled_at: Some("2026-11-23T13:00:00+01:00".into()),
            ..shopify_order(2, at, "EUR")
        },
        ShopifyOrder {
            test: true,
            ..shopify_order(3, at, "EUR")
        },
        // Outside the day: filtered by the shop, never seen.
        shopify_order(4, "2026-11-24T00:00:00+01:00", "EUR"),
    ]);
    let connector = Shopify::new(Some(&fake.base_url()), &settings());
    let (result, sink) = pull(
        &connector,
        &request(Platform::Shopify, "anna.myshopify.com", FakeShopify::TOKEN),
    )
    .await;
    result.unwrap();
    let ids: Vec<String> = sink.orders().into_iter().map(|o| o.order_id).collect();
    assert_eq!(ids, vec!["1"]);
    assert_eq!(
        sink.pages[0].0.skipped,
        vec!["order 123: currency USD is not the tenant's EUR".to_string()]
    );
}

#[tokio::test]
async fn shopify_refuses_amounts_finer_than_the_currency() {
    let fake = FakeShopify::start().await;
    fake.set_orders(vec![ShopifyOrder {
        subtotal_price: "12.505".into(),
        ..shopify_order(77, "2026-11-23T12:00:00+01:00", "EUR")
    }]);
    let connector = Shopify::new(Some(&fake.base_url()), &settings());
    let (result, _) = pull(
        &connector,
        &request(Platform::Shopify, "anna.myshopify.com", FakeShopify::TOKEN),
    )
    .await;
    match result {
        Err(ConnectorError::BadResponse { message, .. }) => {
            assert!(message.contains("order 77"), "{message}");
            assert!(message.contains("subtotal_price"), "{message}");
            assert!(message.contains("more than 2 decimals"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn shopify_follows_link_pages_and_resumes_from_the_cursor() {
    let fake = FakeShopify::start().await;
    fake.set_orders(
        (1..=5)
            .map(|i| shopify_order(i, "2026-11-23T12:00:00+01:00", "EUR"))
            .collect(),
    );
    let connector = Shopify::new(Some(&fake.base_url()), &settings()).with_page_size(2);
    let mut request = request(Platform::Shopify, "anna.myshopify.com", FakeShopify::TOKEN);
    let (result, sink) = pull(&connector, &request).await;
    result.unwrap();
    let per_page: Vec<Vec<String>> = sink
        .pages
        .iter()
        .map(|(p, _)| p.orders.iter().map(|o| o.order_id.clone()).collect())
        .collect();
    // The last page is the pass over orders changed on the day: none here.
    let none: Vec<&str> = vec![];
    assert_eq!(
        per_page,
        vec![vec!["1", "2"], vec!["3", "4"], vec!["5"], none]
    );
    let cursors = sink.cursors();
    assert_eq!(cursors.len(), 4);
    assert!(cursors[0].is_some() && cursors[1].is_some() && cursors[3].is_none());
    assert_eq!(cursors[2].as_deref(), Some("updated:"));
    let sent = orders_requests(&fake);
    assert_eq!(sent.len(), 4);
    for (later, cursor) in sent[1..3].iter().zip(&cursors) {
        let info = cursor.as_deref().and_then(|c| c.strip_prefix("created:"));
        assert_eq!(later.param("page_info"), info);
        let mut names = later.param_names();
        names.sort();
        assert_eq!(names, vec!["fields", "limit", "page_info"]);
    }

    fake.clear_requests();
    request.cursor = cursors[1].clone();
    let (result, sink) = pull(&connector, &request).await;
    result.unwrap();
    let ids: Vec<String> = sink.orders().into_iter().map(|o| o.order_id).collect();
    assert_eq!(ids, vec!["5"]);
    assert_eq!(sink.cursors(), vec![Some("updated:".into()), None]);
    assert_eq!(orders_requests(&fake).len(), 2);
    assert_eq!(
        orders_requests(&fake)[0].param("page_info"),
        cursors[1]
            .as_deref()
            .and_then(|c| c.strip_prefix("created:"))
    );
}

#[tokio::test]
async fn shopify_without_a_base_url_calls_the_shop_domain_only() {
    let connector = Shopify::new(None, &settings());
    let request = request(Platform::Shopify, "evil.example/path?x=", "token");
    let (result, _) = pull(&connector, &request).await;
    assert!(
        matches!(&result, Err(ConnectorError::Config(m)) if m.contains("not a shop domain")),
        "{result:?}"
    );
}
