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
use tally::connectors::tiktok::TikTok;
use tally::connectors::x::X;
use tally::connectors::youtube::YouTube;
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
                connector: Arc::new(YouTube::new(&fake.base_url(), http)),
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
                connector: Arc::new(X::new(&fake.base_url(), http)),
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
                connector: Arc::new(TikTok::new(&fake.base_url(), http)),
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
