//! ListFollowerFlags over gRPC: an unusual follower jump without engagement is flagged with
//! hand-computed numbers, a viral post (and the followers arriving the day after) is not, scopes cover their channels, and bad requests name their field.
use crate::helpers::{TestApp, bad_fields, expect_code, with_key};
use chrono::{Datelike, Days, NaiveDate};
use tally::domain::channel::{Channel, Platform};
use tally::domain::observation::ChannelDayStats;
use tally::proto;
use tonic::Code;

fn date(day: NaiveDate) -> Option<proto::google::r#type::Date> {
    Some(proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

/// Day `i` of the seeded data (day 0 is 2026-01-01).
fn day(i: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("date") + Days::new(i)
}

/// The day the bought followers arrive on `anna-ig`.
const BOUGHT: u64 = 45;
/// The day of the viral post on `anna-tt`.
const VIRAL: u64 = 40;

/// Organic daily growth: 9, 10, 11, 10, … by day (any 28 days hold seven 9s, fourteen 10s
/// and seven 11s).
fn noisy_growth(i: u64) -> i64 {
    [10, 9, 10, 11][(i % 4) as usize]
}

/// Influencer `anna` with two channels over days 0..=59, engagement rising 3 a day
/// (likes 200 + 2i, comments 50 + i, shares 10: 260 + 3i):
/// - `anna-ig` grows organically except on day 45: +3,000 followers, engagement on trend;
/// - `anna-tt` grows organically except for a viral post: +2,000 followers and +6,000
///   engagement on day 40, +800 and +2,500 on day 41.
async fn seed(app: &TestApp) {
    let store = &app.store;
    crate::helpers::influencer_with_channels(
        store,
        "acme",
        "anna",
        "Anna",
        &[
            ("anna-ig", Platform::Instagram),
            ("anna-tt", Platform::TikTok),
        ],
    )
    .await;
    let mut rows = Vec::new();
    let (mut ig, mut tt) = (10_000i64, 5_000i64);
    for i in 0..60u64 {
        let n = i as i64;
        if i > 0 {
            ig += if i == BOUGHT { 3_000 } else { noisy_growth(i) };
            tt += match i {
                VIRAL => 2_000,
                41 => 800,
                _ => noisy_growth(i),
            };
        }
        let extra = match i {
            VIRAL => 6_000,
            41 => 2_500,
            _ => 0,
        };
        for (channel, followers, likes) in [
            ("anna-ig", ig, 200 + 2 * n),
            ("anna-tt", tt, 200 + 2 * n + extra),
        ] {
            rows.push(ChannelDayStats {
                channel_id: channel.into(),
                day: day(i),
                followers: Some(followers),
                posts: Some(1),
                mentions: None,
                shares: Some(10),
                comments: Some(50 + n),
                likes: Some(likes),
                link_clicks: None,
                views: None,
                reach: None,
            });
        }
    }
    store.upsert_channel_stats("acme", &rows).await.unwrap();
}

fn request(scope: &str, first: u64, last: u64) -> proto::ListFollowerFlagsRequest {
    proto::ListFollowerFlagsRequest {
        scope: scope.into(),
        first_day: date(day(first)),
        last_day: date(day(last)),
    }
}

async fn flags(app: &TestApp, scope: &str) -> Vec<proto::FollowerFlag> {
    app.kpis()
        .list_follower_flags(app.req(request(scope, 30, 59)))
        .await
        .unwrap()
        .into_inner()
        .flags
}

async fn only_the_bought_day_is_flagged(app: TestApp) {
    seed(&app).await;
    let flags = flags(&app, "channels/anna-ig").await;
    assert_eq!(flags.len(), 1, "{flags:#?}");
    let f = &flags[0];
    assert_eq!(f.channel, "channels/anna-ig");
    assert_eq!(f.day, date(day(BOUGHT)));
    assert_eq!(f.follower_growth, 3_000);
    // Growth of days 17..=44: seven 9s, fourteen 10s, seven 11s → median 10; absolute
    // deviations fourteen 0s and fourteen 1s → MAD (0 + 1) / 2 = 0.5;
    // score 0.6745 × (3,000 − 10) / 0.5 = 4,033.51.
    assert_eq!(f.trailing_median_growth, 10.0);
    assert!((f.growth_score - 4033.51).abs() < 1e-9, "{f:?}");
    // Material: followers on day 44 are 10,000 + 440 (eleven cycles of 10, 11, 10, 9);
    // 2,990 beyond the median is 28.64 % of them and more than 100.
    assert_eq!(f.previous_followers, 10_440);
    assert!(
        (f.excess_percent - 299_000.0 / 10_440.0).abs() < 1e-9,
        "{f:?}"
    );
    // Engagement 260 + 3i of days 17..=44 is 311, 314, …, 392 → median (350 + 353) / 2 =
    // 351.5; deviations 1.5, 1.5, 4.5, 4.5, … → MAD (19.5 + 22.5) / 2 = 21; the peak of
    // days 43..=45 is day 45's 395, scoring 0.6745 × 43.5 / 21 = 1.397: below 3.5, so
    // engagement did not follow.
    let e = f.engagement_score.expect("engagement score");
    assert!((e - 0.6745 * 43.5 / 21.0).abs() < 1e-9, "{f:?}");
    assert_eq!(
        (f.peak_engagement, f.trailing_median_engagement),
        (395.0, 351.5)
    );
    assert_eq!(
        f.reason,
        "gained 3,000 followers against a median of 10 a day (score 4,033.5), 2,990 more or \
         29 % of the 10,440 before, while engagement peaked at 395 over that day and the 2 \
         days before (median 351.5, score 1.4)"
    );
    app.stop().await;
}

async fn a_viral_post_is_not_flagged(app: TestApp) {
    seed(&app).await;
    // Day 40's +2,000 scores 0.6745 × 1,990 / 0.5 = 2,684.5, but its engagement 6,380
    // against a median of 336.5 (MAD 21) scores 194.1: the audience is real. Day 41's
    // +800 has day 40 in its look-back (peak 6,380), so it is not flagged either.
    assert!(flags(&app, "channels/anna-tt").await.is_empty());
    app.stop().await;
}

async fn scopes_cover_their_channels(app: TestApp) {
    seed(&app).await;
    // Both channels belong to anna; at tenant scope every channel counts, including
    // influencers' (unlike the social KPIs, which count only the brand's own there).
    for scope in ["influencers/anna", "tenant"] {
        let flags = flags(&app, scope).await;
        let got: Vec<(&str, i64)> = flags
            .iter()
            .map(|f| (f.channel.as_str(), f.follower_growth))
            .collect();
        assert_eq!(got, [("channels/anna-ig", 3_000)], "{scope}");
    }
    // A range that ends before the jump has nothing.
    let early = app
        .kpis()
        .list_follower_flags(app.req(request("influencers/anna", 30, 44)))
        .await
        .unwrap()
        .into_inner();
    assert!(early.flags.is_empty(), "{early:?}");
    app.stop().await;
}

async fn bad_requests_name_the_field(app: TestApp) {
    seed(&app).await;
    let call = |req: proto::ListFollowerFlagsRequest| {
        let mut client = app.kpis();
        let req = app.req(req);
        async move { client.list_follower_flags(req).await }
    };
    assert_eq!(bad_fields(call(request("", 30, 59)).await), ["scope"]);
    assert_eq!(
        bad_fields(call(request("segments/x", 30, 59)).await),
        ["scope"]
    );
    assert_eq!(
        bad_fields(call(request("tenant", 59, 30)).await),
        ["last_day"]
    );
    assert_eq!(
        bad_fields(call(request("tenant", 0, 400)).await),
        ["last_day"],
        "401 days"
    );
    assert!(call(request("tenant", 0, 399)).await.is_ok(), "400 days");
    let mut missing = request("nope", 30, 59);
    missing.first_day = None;
    assert_eq!(bad_fields(call(missing).await), ["scope", "first_day"]);
    let mut missing = request("tenant", 30, 59);
    missing.last_day = None;
    assert_eq!(bad_fields(call(missing).await), ["last_day"]);
    let status = expect_code(
        call(request("influencers/nobody", 30, 59)).await,
        Code::NotFound,
    );
    assert!(
        status.message().contains("influencers/nobody"),
        "{status:?}"
    );
    expect_code(
        call(request("campaigns/nothing", 30, 59)).await,
        Code::NotFound,
    );
    app.stop().await;
}

async fn another_tenants_scope_is_not_found(app: TestApp) {
    seed(&app).await;
    let key = app.other_tenant("globex").await;
    let channel = Channel {
        display_name: "Globex".into(),
        platform: Platform::Instagram,
        owner: None,
        account_id: "globex".into(),
        credentials_ref: String::new(),
    };
    app.store
        .create_channel("globex", "globex-ig", &channel, None)
        .await
        .unwrap();
    // acme cannot see globex's channel, nor globex acme's influencer and channel.
    expect_code(
        app.kpis()
            .list_follower_flags(app.req(request("channels/globex-ig", 30, 59)))
            .await,
        Code::NotFound,
    );
    for scope in ["influencers/anna", "channels/anna-ig"] {
        expect_code(
            app.kpis()
                .list_follower_flags(with_key(request(scope, 30, 59), &key))
                .await,
            Code::NotFound,
        );
    }
    // Its tenant scope covers only its own channel, which has no data.
    let own = app
        .kpis()
        .list_follower_flags(with_key(request("tenant", 30, 59), &key))
        .await
        .unwrap()
        .into_inner();
    assert!(own.flags.is_empty(), "{own:?}");
    app.stop().await;
}

crate::on_both_databases!(
    only_the_bought_day_is_flagged,
    a_viral_post_is_not_flagged,
    scopes_cover_their_channels,
    bad_requests_name_the_field,
    another_tenants_scope_is_not_found,
);
