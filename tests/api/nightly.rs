//! A full night over loopback fakes of every platform: pull, store, compute, query; a
//! source that fails leaves the night PARTIAL and is pulled again by the next run; a run
//! killed between pull and compute, then restarted, ends with the same snapshots as an
//! uninterrupted one.
use crate::fakes::*;
use crate::helpers::{TestApp, TestDb, small_tenant};
use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc};
use std::time::Duration;
use tally::connectors::{BaseUrls, Credentials, HttpSettings, live_registry};
use tally::domain::channel::{Channel, Platform};
use tally::jobs::{self, JobSettings, Jobs};
use tally::proto;
use tally::storage::Store;

/// Every fake, serving one tenant's channels with known numbers for `day`.
pub(crate) struct Platforms {
    pub(crate) youtube: FakeYouTube,
    pub(crate) instagram: FakeInstagram,
    pub(crate) x: FakeX,
    pub(crate) tiktok: FakeTikTok,
    pub(crate) ga4: FakeGa4,
    pub(crate) shopify: FakeShopify,
    pub(crate) secrets: tempfile::TempDir,
}

pub(crate) const IG_ACCOUNT: &str = "17841400000000001";
pub(crate) const YT_CHANNEL: &str = "UCanna";
pub(crate) const X_USER: &str = "2244994945";
pub(crate) const GA4_PROPERTY: &str = "123456789";

impl Platforms {
    /// The fakes, with `tenant`'s credentials in a directory laid out as the server reads
    /// it (`<dir>/<tenant>/<reference>`).
    pub(crate) async fn start(day: NaiveDate, tenant: &str) -> Platforms {
        let p = Platforms {
            youtube: FakeYouTube::start().await,
            instagram: FakeInstagram::start().await,
            x: FakeX::start().await,
            tiktok: FakeTikTok::start().await,
            ga4: FakeGa4::start().await,
            shopify: FakeShopify::start().await,
            secrets: tempfile::tempdir().unwrap(),
        };
        p.youtube.set_channel(
            YT_CHANNEL,
            YtChannel {
                views: 50_000,
                subscribers: 2_000,
                hidden_subscribers: false,
                videos: 120,
            },
        );
        p.instagram.set_account(
            IG_ACCOUNT,
            IgAccount {
                followers: 1_200,
                media: 40,
                reach: Some(300),
                likes: Some(50),
                comments: Some(7),
                shares: Some(3),
                views: Some(900),
                website_clicks: Some(11),
            },
        );
        p.x.set_user(
            X_USER,
            XUser {
                username: "anna".into(),
                followers: 300,
                tweets: 900,
                likes_given: 5_000,
                ..XUser::default()
            },
        );
        p.tiktok.set_user(
            FakeTikTok::TOKEN,
            TikTokUser {
                open_id: "tt-anna".into(),
                followers: 4_000,
                likes: 80_000,
                videos: 70,
            },
        );
        p.ga4.set_rows(
            GA4_PROPERTY,
            vec![Ga4Row {
                date: day,
                source: "influencer".into(),
                medium: "social".into(),
                campaign: "anna".into(),
                channel_group: "Organic Social".into(),
                sessions: 40,
                users: 25,
                new_users: 10,
            }],
        );
        let local = |d: NaiveDate, h, m| {
            chrono_tz::Europe::Amsterdam
                .with_ymd_and_hms(d.year(), d.month(), d.day(), h, m, 0)
                .unwrap()
                .to_rfc3339()
        };
        let order = |id, created_at: String, customer: u64| ShopifyOrder {
            id,
            created_at,
            currency: "EUR".into(),
            subtotal_price: "45.00".into(),
            total_discounts: "5.00".into(),
            discount_codes: vec!["ANNA10".into()],
            customer: Some((customer, format!("c{customer}@example.com"))),
            ..ShopifyOrder::default()
        };
        p.shopify.set_orders(vec![
            order(1, local(day, 0, 1), 501),
            order(2, local(day, 23, 59), 502),
            // Placed a minute after the day ended in Amsterdam: not yesterday's.
            order(3, local(day + Days::new(1), 0, 0), 503),
        ]);
        for (reference, token) in [
            ("ANNA_INSTAGRAM_TOKEN", FakeInstagram::TOKEN),
            ("ANNA_YOUTUBE_TOKEN", FakeYouTube::TOKEN),
            ("ANNA_X_TOKEN", FakeX::TOKEN),
            ("ANNA_TIKTOK_TOKEN", FakeTikTok::TOKEN),
            ("BRAND_SITE_TOKEN", FakeGa4::TOKEN),
            ("BRAND_SHOP_TOKEN", FakeShopify::TOKEN),
        ] {
            let dir = p.secrets.path().join(tenant);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(reference), format!("{token}\n")).unwrap();
        }
        p
    }

    pub(crate) fn urls(&self) -> BaseUrls {
        BaseUrls {
            youtube: self.youtube.base_url(),
            instagram: self.instagram.base_url(),
            x: self.x.base_url(),
            tiktok: self.tiktok.base_url(),
            ga4: self.ga4.base_url(),
            shopify: Some(self.shopify.base_url()),
            ..BaseUrls::default()
        }
    }

    fn jobs(&self, store: &Store) -> Jobs {
        Jobs::new(
            store.clone(),
            tally::engine::SnapshotFeed::default(),
            live_registry(
                &self.urls(),
                &HttpSettings {
                    timeout: Duration::from_secs(5),
                    max_attempts: 3,
                    base_delay: Duration::from_millis(5),
                    max_delay: Duration::from_secs(1),
                },
            ),
            Credentials::new(Some(self.secrets.path().to_path_buf()), []),
            JobSettings::default(),
        )
    }

    /// The settings that point a `tally` process at these fakes.
    fn env(&self) -> Vec<(String, String)> {
        let urls = self.urls();
        [
            ("TALLY_YOUTUBE_BASE_URL", urls.youtube),
            ("TALLY_INSTAGRAM_BASE_URL", urls.instagram),
            ("TALLY_X_BASE_URL", urls.x),
            ("TALLY_TIKTOK_BASE_URL", urls.tiktok),
            ("TALLY_GA4_BASE_URL", urls.ga4),
            ("TALLY_SHOPIFY_BASE_URL", urls.shopify.unwrap_or_default()),
            (
                "TALLY_CREDENTIALS_DIR",
                self.secrets.path().display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// `small_tenant` plus Anna's YouTube, X and TikTok channels.
pub(crate) async fn tenant_with_every_platform(
    store: &Store,
    id: &str,
) -> tally::domain::tenant::Tenant {
    let tenant = small_tenant(store, id).await;
    for (id, platform, account) in [
        ("anna-youtube", Platform::YouTube, YT_CHANNEL),
        ("anna-x", Platform::X, X_USER),
        ("anna-tiktok", Platform::TikTok, "tt-anna"),
    ] {
        let channel = Channel {
            display_name: id.into(),
            platform,
            owner: Some("anna".into()),
            account_id: account.into(),
            credentials_ref: format!("{}_TOKEN", id.replace('-', "_").to_uppercase()),
        };
        store
            .create_channel(&tenant.id, id, &channel, None)
            .await
            .unwrap();
    }
    tenant
}

fn date(day: NaiveDate) -> Option<tally::proto::google::r#type::Date> {
    Some(tally::proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

async fn value(app: &TestApp, kpi: &str, scope: &str, day: NaiveDate) -> Option<f64> {
    let response = app
        .kpis()
        .query_snapshots(app.req(proto::QuerySnapshotsRequest {
            kpi_scope: Some(proto::KpiScope {
                kpi: kpi.into(),
                scope: scope.into(),
                segment: String::new(),
            }),
            first_day: date(day),
            last_day: date(day),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        response.values[0].value.is_some(),
        "{kpi} {scope}: {:?}",
        response.values[0]
    );
    response.values[0].value
}

async fn a_night_over_every_platform(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let tenant = tenant_with_every_platform(&app.store, "night").await;
    let key = app.store.create_api_key("night").await.unwrap().1;
    let app = app.with_key(key);
    // Early today, not the wall clock: the ticks below, up to two hours later, must fall in
    // the same Amsterdam day (run after 22:00 there, the last one saw a new night due).
    let now = Utc::now()
        .date_naive()
        .and_hms_opt(6, 0, 0)
        .expect("a valid hour")
        .and_utc();
    let y = jobs::yesterday(now, &tenant);
    let platforms = Platforms::start(y, "night").await;
    // Shopify stumbles once (retried within the pull); X rejects the token (not retried).
    platforms.shopify.fail_next(Fault::Status(503));
    platforms.x.fail_next(Fault::Unauthorized);
    let runner = platforms.jobs(&app.store);

    // The server's own tenant `acme` has no channels and runs too; `night` is ours.
    let latest_run = |runs: Vec<String>| {
        let store = app.store.clone();
        async move {
            let page = store
                .list_runs(
                    "night",
                    None,
                    &tally::storage::PageRequest {
                        after: None,
                        limit: 1,
                    },
                )
                .await
                .unwrap();
            let run = page.items.into_iter().next().expect("a run of `night`");
            assert!(runs.contains(&run.id), "{runs:?}");
            run
        }
    };
    let run = latest_run(runner.tick(now).await.unwrap()).await;
    assert_eq!(run.status, "partial", "{}", run.report);
    let report = tally::jobs::report::RunReport::from_json(&run.report);
    let night = &report.days[0];
    assert_eq!(night.day, y);
    let x = night
        .sources
        .iter()
        .find(|s| s.channel_id == "anna-x")
        .unwrap();
    assert_eq!(x.outcome, tally::jobs::report::Outcome::Failed);
    assert!(x.detail.contains("ANNA_X_TOKEN"), "{}", x.detail);
    assert!(
        !x.detail.contains(FakeX::TOKEN),
        "no secret in reports: {}",
        x.detail
    );
    // The other sources were stored and computed regardless.
    for channel in [
        "anna-instagram",
        "anna-youtube",
        "anna-tiktok",
        "brand-shop",
        "brand-site",
    ] {
        let pulls: Vec<_> = night
            .sources
            .iter()
            .filter(|s| s.channel_id == channel)
            .collect();
        assert!(!pulls.is_empty(), "{channel}");
        assert!(
            pulls
                .iter()
                .all(|s| s.outcome == tally::jobs::report::Outcome::Succeeded),
            "{pulls:?}"
        );
    }
    // Current totals are pulled for yesterday only; history for the trailing window.
    let days_of = |channel: &str| -> Vec<NaiveDate> {
        night
            .sources
            .iter()
            .filter(|s| s.channel_id == channel)
            .map(|s| s.day)
            .collect()
    };
    assert_eq!(days_of("anna-youtube"), [y]);
    assert_eq!(
        days_of("brand-shop"),
        [y - Days::new(2), y - Days::new(1), y]
    );

    // Anna's followers: Instagram 1,200 + YouTube 2,000 + TikTok 4,000; X is missing tonight.
    assert_eq!(
        value(&app, "followers", "influencers/anna", y).await,
        Some(7_200.0)
    );
    // Orders at 00:01 and 23:59 of yesterday in Amsterdam, not the one at 00:00 today.
    assert_eq!(
        value(&app, "attributed_orders", "influencers/anna", y).await,
        Some(2.0)
    );
    assert_eq!(
        value(&app, "code_buyers", "influencers/anna", y).await,
        Some(2.0)
    );
    assert_eq!(
        value(&app, "influencer_visitors", "influencers/anna", y).await,
        Some(25.0)
    );
    assert_eq!(
        value(&app, "views", "channels/anna-instagram", y).await,
        Some(900.0)
    );
    assert!(platforms.shopify.requests().iter().all(|r| r.auth_header));

    // The token is renewed: the next tick pulls X again and completes the night.
    let run = latest_run(runner.tick(now + chrono::Duration::hours(1)).await.unwrap()).await;
    assert_eq!(run.status, "succeeded", "{}", run.report);
    assert_eq!(
        value(&app, "followers", "influencers/anna", y).await,
        Some(7_500.0)
    );
    let claim = &app.store.days("night", y, y).await.unwrap()[0];
    assert_eq!((claim.status.as_str(), claim.attempts), ("succeeded", 2));
    // Current totals already taken for yesterday are kept, not pulled twice.
    assert_eq!(platforms.youtube.request_count(), 1);
    assert!(
        runner
            .tick(now + chrono::Duration::hours(2))
            .await
            .unwrap()
            .is_empty()
    );
    app.stop().await;
}

async fn run_job(db_url: &str, env: &[(String, String)]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["run-job", "--tenant", "acme"])
        .env("TALLY_INSECURE_DEV_CUSTOMER_KEY", "true")
        .env("TALLY_DATABASE_URL", db_url)
        .env("TALLY_JOB_LEASE_SECONDS", "3")
        .env("TALLY_HTTP_TIMEOUT_SECONDS", "120")
        .env("TALLY_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start tally run-job")
}

pub(crate) async fn snapshot_rows(store: &Store) -> Vec<String> {
    use sea_orm::{EntityTrait, QueryOrder};
    use tally::storage::entities::kpi_snapshot;
    kpi_snapshot::Entity::find()
        .order_by_asc(kpi_snapshot::Column::Day)
        .order_by_asc(kpi_snapshot::Column::KpiId)
        .order_by_asc(kpi_snapshot::Column::Scope)
        .order_by_asc(kpi_snapshot::Column::SegmentId)
        .all(store.connection())
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            format!(
                "{} {} {} {} {:?} {:?} {:?} {:?} v{}",
                s.day,
                s.kpi_id,
                s.scope,
                s.segment_id,
                s.value,
                s.reason,
                s.numerator,
                s.denominator,
                s.definition_version
            )
        })
        .collect()
}

async fn prepared(db: &TestDb) -> Store {
    Store::migrate(&db.url()).await.unwrap();
    let store = Store::connect(&db.url(), 3).await.unwrap();
    tenant_with_every_platform(&store, "acme").await;
    store
}

async fn a_run_killed_between_pull_and_compute_recovers_on_restart(db: TestDb) {
    let reference = match &db {
        TestDb::Sqlite(_) => TestDb::sqlite(),
        TestDb::Postgres(_) => TestDb::postgres().await.unwrap(),
    };
    let store = prepared(&db).await;
    let reference_store = prepared(&reference).await;
    let tenant = store.get_tenant("acme").await.unwrap();
    let y = jobs::yesterday(Utc::now(), &tenant);
    let platforms = Platforms::start(y, "acme").await;

    // The uninterrupted night, for comparison.
    let out = run_job(&reference.url(), &platforms.env())
        .await
        .wait_with_output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = snapshot_rows(&reference_store).await;
    assert!(!expected.is_empty());
    platforms.ga4.clear_requests();

    // GA4 (brand-site, the last source) hangs: every other source is stored, nothing is
    // computed yet, and the process dies there.
    platforms
        .ga4
        .fail_next(Fault::Delay(Duration::from_secs(300)));
    let mut child = run_job(&db.url(), &platforms.env()).await;
    let mut waited = 0;
    while platforms.ga4.request_count() == 0 {
        assert!(waited < 600, "the run never reached GA4");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("run-job ended early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let pulled = store
        .get_pull("acme", "brand-shop", y)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        pulled.status, "done",
        "the shop was pulled before the crash"
    );
    assert!(
        snapshot_rows(&store).await.is_empty(),
        "nothing was computed before the crash"
    );
    let claim = &store.days("acme", y, y).await.unwrap()[0];
    assert_eq!(claim.status, "running");

    // Restarted after the dead run's lease ran out, it takes the day over and finishes.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let out = run_job(&db.url(), &platforms.env())
        .await
        .wait_with_output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        snapshot_rows(&store).await,
        expected,
        "same snapshots, no duplicates"
    );
    let claim = &store.days("acme", y, y).await.unwrap()[0];
    assert_eq!((claim.status.as_str(), claim.attempts), ("succeeded", 2));
    let runs = store
        .list_runs(
            "acme",
            None,
            &tally::storage::PageRequest {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap()
        .items;
    let statuses: Vec<&str> = runs.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(statuses, ["succeeded", "failed"], "newest first");
    assert!(
        runs[1].error.as_deref().unwrap_or("").contains("abandoned"),
        "{:?}",
        runs[1].error
    );
}

/// Rows of each observation table the connectors fill, for comparing two states.
async fn observation_counts(store: &Store) -> Vec<(String, i64)> {
    use sea_orm::{ConnectionTrait, Statement};
    let mut counts = Vec::new();
    for table in ["channel_day_stats", "web_traffic", "orders", "order_codes"] {
        let row = store
            .connection()
            .query_one_raw(Statement::from_string(
                store.connection().get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .expect("a count");
        counts.push((table.to_string(), row.try_get::<i64>("", "n").unwrap()));
    }
    counts
}

/// Issue 21: every live connector keeps its responses and derives them again. With the
/// night's observations gone and the platforms no longer asked, `jobs/rederive` restores
/// the same observations and the same snapshots without a single request.
async fn every_platform_derives_its_night_again_without_the_platforms(db: TestDb) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(db).await;
    let tenant = tenant_with_every_platform(&app.store, "again").await;
    let now = Utc::now()
        .date_naive()
        .and_hms_opt(6, 0, 0)
        .expect("a valid hour")
        .and_utc();
    let y = jobs::yesterday(now, &tenant);
    let platforms = Platforms::start(y, "again").await;
    let runner = platforms.jobs(&app.store);
    runner.tick(now).await.unwrap();
    let days: Vec<NaiveDate> = (0..3).rev().map(|n| y - Days::new(n)).collect();
    // Sorted whole: rows of two tenants with the same key come in either order.
    let in_window = |rows: Vec<String>| -> Vec<String> {
        let mut rows: Vec<String> = rows
            .into_iter()
            .filter(|r| days.iter().any(|d| r.starts_with(&d.to_string())))
            .collect();
        rows.sort();
        rows
    };
    let snapshots = in_window(snapshot_rows(&app.store).await);
    let observations = observation_counts(&app.store).await;
    assert!(
        observations.iter().all(|(_, n)| *n > 0),
        "every table was filled: {observations:?}"
    );
    assert!(
        snapshots
            .iter()
            .any(|r| r.contains(" followers influencers/anna "))
    );
    let requests = |p: &Platforms| {
        [
            p.youtube.request_count(),
            p.instagram.request_count(),
            p.x.request_count(),
            p.tiktok.request_count(),
            p.ga4.request_count(),
            p.shopify.request_count(),
        ]
    };
    let asked = requests(&platforms);

    for table in ["channel_day_stats", "web_traffic", "order_codes", "orders"] {
        app.store
            .connection()
            .execute_unprepared(&format!("DELETE FROM {table}"))
            .await
            .unwrap();
    }
    let run = runner
        .run(&tenant, jobs::RunSpec::rederive(days.clone()))
        .await
        .unwrap();
    assert_eq!(run.status, "succeeded", "{}", run.report);
    let report = tally::jobs::report::RunReport::from_json(&run.report);
    let derived: Vec<&str> = report
        .days
        .iter()
        .flat_map(|d| &d.sources)
        .filter(|s| s.outcome == tally::jobs::report::Outcome::Succeeded)
        .map(|s| s.connector.as_str())
        .collect();
    for connector in ["youtube", "instagram", "x", "tiktok", "ga4", "shopify"] {
        assert!(derived.contains(&connector), "{connector}: {}", run.report);
    }
    assert_eq!(requests(&platforms), asked, "no platform was asked");
    assert_eq!(observation_counts(&app.store).await, observations);
    assert_eq!(in_window(snapshot_rows(&app.store).await), snapshots);
    app.stop().await;
}

crate::on_both_database_kinds!(
    every_platform_derives_its_night_again_without_the_platforms,
    a_night_over_every_platform,
    a_run_killed_between_pull_and_compute_recovers_on_restart,
);
