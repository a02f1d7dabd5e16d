//! KPI values on small hand-computed data sets, through the real API on both databases.
//! Each expected number is worked out in the comment beside it from KPIS.md.
use crate::helpers::{TestApp, bad_fields};
use ::tally::proto::google::r#type::Date;
use ::tally::proto::*;

fn date(m: i32, d: i32) -> Option<Date> {
    Some(Date {
        year: 2026,
        month: m,
        day: d,
    })
}

fn ts(rfc3339: &str) -> Option<prost_types::Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// (value, undefined reason) per period.
type Values = Vec<(Option<f64>, String)>;

async fn query(
    app: &TestApp,
    kpi: &str,
    scope: &str,
    segment: &str,
    first: (i32, i32),
    last: (i32, i32),
    granularity: Granularity,
) -> Values {
    let response = app
        .kpis()
        .query_snapshots(app.req(QuerySnapshotsRequest {
            kpi_scope: Some(KpiScope {
                kpi: kpi.into(),
                scope: scope.into(),
                segment: segment.into(),
            }),
            first_day: date(first.0, first.1),
            last_day: date(last.0, last.1),
            granularity: granularity as i32,
        }))
        .await
        .unwrap_or_else(|e| panic!("{kpi} on {scope}: {e:?}"))
        .into_inner();
    response
        .values
        .into_iter()
        .map(|v| (v.value, v.undefined_reason))
        .collect()
}

/// The value of a KPI over one period (RANGE).
async fn value(
    app: &TestApp,
    kpi: &str,
    scope: &str,
    first: (i32, i32),
    last: (i32, i32),
) -> (Option<f64>, String) {
    query(app, kpi, scope, "", first, last, Granularity::Range)
        .await
        .remove(0)
}

fn v(x: f64) -> (Option<f64>, String) {
    (Some(x), String::new())
}

fn absent(reason: &str) -> (Option<f64>, String) {
    (None, reason.to_string())
}

#[track_caller]
fn close(actual: (Option<f64>, String), expected: f64) {
    let got = actual
        .0
        .unwrap_or_else(|| panic!("expected {expected}, got absent: {}", actual.1));
    assert!(
        (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "expected {expected}, got {got}"
    );
}

async fn influencer(app: &TestApp, id: &str, code: &str, source: &str, campaign: &str) {
    app.influencers()
        .create_influencer(app.req(CreateInfluencerRequest {
            influencer_id: id.into(),
            influencer: Some(Influencer {
                display_name: id.into(),
                discount_codes: vec![code.into()],
                tracking_values: vec![TrackingValue {
                    utm_source: source.into(),
                    utm_campaign: campaign.into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
}

async fn channel(app: &TestApp, id: &str, platform: Platform, owner: &str) {
    app.channels()
        .create_channel(app.req(CreateChannelRequest {
            channel_id: id.into(),
            channel: Some(Channel {
                display_name: id.into(),
                platform: platform as i32,
                owner: owner.into(),
                account_id: id.into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
}

/// anna (code ANNA10, instagram/anna) with anna-ig and anna-tt; bob (BOB5, instagram/any)
/// with bob-x; the brand's brand-ig.
async fn world(app: &TestApp) {
    influencer(app, "anna", "ANNA10", "instagram", "anna").await;
    influencer(app, "bob", "BOB5", "instagram", "").await;
    channel(app, "anna-ig", Platform::Instagram, "influencers/anna").await;
    channel(app, "anna-tt", Platform::Tiktok, "influencers/anna").await;
    channel(app, "bob-x", Platform::X, "influencers/bob").await;
    channel(app, "brand-ig", Platform::Instagram, "").await;
}

#[allow(clippy::too_many_arguments)]
fn stats(
    channel: &str,
    d: i32,
    followers: Option<i64>,
    posts: i64,
    likes: i64,
    comments: i64,
    shares: Option<i64>,
    views: Option<i64>,
) -> ChannelDayStats {
    ChannelDayStats {
        channel: format!("channels/{channel}"),
        day: date(3, d),
        followers,
        posts: Some(posts),
        likes: Some(likes),
        comments: Some(comments),
        shares,
        views,
        ..Default::default()
    }
}

async fn social_data(app: &TestApp) {
    let rows = vec![
        stats("anna-ig", 1, Some(1000), 1, 50, 10, Some(5), Some(2000)),
        // Shares not reported on the 2nd.
        stats("anna-ig", 2, Some(1100), 2, 70, 20, None, Some(3000)),
        // Zero followers at the start.
        stats("anna-tt", 1, Some(0), 1, 10, 0, Some(1), None),
        stats("anna-tt", 2, Some(200), 1, 30, 5, Some(4), None),
        stats("brand-ig", 2, Some(500), 1, 5, 1, Some(0), Some(100)),
        // The 3rd has no data at all.
    ];
    let response = app
        .ingest()
        .ingest_channel_stats(app.req(IngestChannelStatsRequest {
            rows,
            all_or_nothing: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.rejected_count, 0, "{:?}", response.rejected);
}

async fn social_kpis_follow_the_contract(app: TestApp) {
    world(&app).await;
    social_data(&app).await;
    let anna = "influencers/anna";
    let day2 = ((3, 2), (3, 2));
    // followers: 1100 + 200 on the 2nd.
    assert_eq!(
        value(&app, "followers", anna, day2.0, day2.1).await,
        v(1300.0)
    );
    // posts 2 + 1; likes 70 + 30; comments 20 + 5; shares: anna-ig NULL is skipped → 4.
    assert_eq!(value(&app, "posts", anna, day2.0, day2.1).await, v(3.0));
    assert_eq!(value(&app, "likes", anna, day2.0, day2.1).await, v(100.0));
    assert_eq!(value(&app, "shares", anna, day2.0, day2.1).await, v(4.0));
    // Only the not-reporting channel: not_reported, not 0.
    assert_eq!(
        value(&app, "shares", "channels/anna-ig", day2.0, day2.1).await,
        absent("not_reported")
    );
    assert_eq!(
        value(&app, "mentions", anna, day2.0, day2.1).await,
        absent("not_reported")
    );
    // Growth over the 2nd: (1100 − 1000) + (200 − 0) = 300; 100 × 300 / 1000 = 30 %.
    assert_eq!(
        value(&app, "follower_growth", anna, day2.0, day2.1).await,
        v(300.0)
    );
    close(
        value(&app, "follower_growth_pct", anna, day2.0, day2.1).await,
        30.0,
    );
    // anna-tt alone started from zero followers.
    assert_eq!(
        value(&app, "follower_growth", "channels/anna-tt", day2.0, day2.1).await,
        v(200.0)
    );
    assert_eq!(
        value(
            &app,
            "follower_growth_pct",
            "channels/anna-tt",
            day2.0,
            day2.1
        )
        .await,
        absent("zero_denominator")
    );
    // ipm: (25 + 100 + 3) / (1300 / 1000) = 98.4615...
    close(value(&app, "ipm", anna, day2.0, day2.1).await, 128.0 / 1.3);
    // engagement: 100 × (100 + 25 + 4) / 1300.
    close(
        value(&app, "engagement_rate", anna, day2.0, day2.1).await,
        12_900.0 / 1300.0,
    );
    close(
        value(&app, "comments_per_post", anna, day2.0, day2.1).await,
        25.0 / 3.0,
    );
    // A plain ratio with a not_reported part is not_reported.
    assert_eq!(
        value(&app, "shares_per_day", "channels/anna-ig", day2.0, day2.1).await,
        absent("not_reported")
    );
    // Over the 1st to 3rd: shares 5 + 1 + 4 = 10 over 3 days; followers are read on the
    // 3rd, which has no data.
    close(
        value(&app, "shares_per_day", anna, (3, 1), (3, 3)).await,
        10.0 / 3.0,
    );
    assert_eq!(
        value(&app, "followers", anna, (3, 1), (3, 3)).await,
        absent("no_data")
    );
    assert_eq!(value(&app, "posts", anna, (3, 1), (3, 3)).await, v(5.0));
    assert_eq!(
        value(&app, "follower_growth", anna, (3, 1), (3, 2)).await,
        absent("no_data"),
        "no reading on Feb 28"
    );
    // A day without data.
    assert_eq!(
        value(&app, "posts", anna, (3, 3), (3, 3)).await,
        absent("no_data")
    );
    // Tenant scope is the brand's own channels.
    assert_eq!(
        value(&app, "followers", "tenant", day2.0, day2.1).await,
        v(500.0)
    );
    // Daily values, and ISO weeks: Sunday March 1st, then Monday 2nd to Tuesday 3rd.
    let daily = query(&app, "likes", anna, "", (3, 1), (3, 3), Granularity::Day).await;
    assert_eq!(daily, [v(60.0), v(100.0), absent("no_data")]);
    let weekly = query(&app, "likes", anna, "", (3, 1), (3, 3), Granularity::Week).await;
    assert_eq!(weekly, [v(60.0), v(100.0)]);
    // KPIs that do not apply to a scope are refused, not answered.
    let refused = app
        .kpis()
        .query_snapshots(app.req(QuerySnapshotsRequest {
            kpi_scope: Some(KpiScope {
                kpi: "roas".into(),
                scope: "channels/anna-ig".into(),
                segment: String::new(),
            }),
            first_day: date(3, 1),
            last_day: date(3, 1),
            granularity: 0,
        }))
        .await;
    assert_eq!(bad_fields(refused), ["kpi_scope.scope"]);
}

#[allow(clippy::too_many_arguments)]
fn order(
    id: &str,
    customer: &str,
    email: &str,
    at: &str,
    revenue: i64,
    cost: i64,
    codes: &[&str],
    source: &str,
    campaign: &str,
) -> Order {
    Order {
        order_id: id.into(),
        customer_id: customer.into(),
        customer_email: email.into(),
        placed_at: ts(at),
        currency_code: "EUR".into(),
        revenue_minor: revenue,
        cost_of_goods_minor: cost,
        discount_codes: codes.iter().map(|c| c.to_string()).collect(),
        utm_source: source.into(),
        utm_campaign: campaign.into(),
        ..Default::default()
    }
}

async fn order_data(app: &TestApp) {
    let rows = vec![
        // c-1: WELCOME belongs to nobody and is skipped; ANNA10 decides. Returns 89 days later.
        order(
            "o1",
            "c-1",
            "",
            "2026-03-01T10:00:00Z",
            10_000,
            4_000,
            &["WELCOME", "anna10"],
            "",
            "",
        ),
        order(
            "o2",
            "c-1",
            "",
            "2026-05-29T10:00:00Z",
            5_000,
            2_000,
            &[],
            "",
            "",
        ),
        // c-2 through bob, second order 91 days later: one day outside the 90-day window.
        order(
            "o3",
            "c-2",
            "",
            "2026-03-01T12:00:00Z",
            8_000,
            3_000,
            &["BOB5"],
            "",
            "",
        ),
        order(
            "o4",
            "c-2",
            "",
            "2026-05-31T12:00:00Z",
            2_000,
            1_000,
            &[],
            "",
            "",
        ),
        // c-3 uses anna's code, then bob's the next day.
        order(
            "o5",
            "c-3",
            "",
            "2026-03-01T09:00:00Z",
            4_000,
            1_000,
            &["ANNA10"],
            "",
            "",
        ),
        order(
            "o6",
            "c-3",
            "",
            "2026-03-02T09:00:00Z",
            3_000,
            1_000,
            &["BOB5"],
            "",
            "",
        ),
        // A guest through anna's link: attributed, but not by code.
        order(
            "o7",
            "",
            "guest@example.com",
            "2026-03-02T15:00:00Z",
            6_000,
            2_000,
            &[],
            "Instagram",
            "ANNA",
        ),
        // No customer at all, anna's code: counts in orders and money only.
        order(
            "o8",
            "",
            "",
            "2026-03-02T16:00:00Z",
            1_000,
            500,
            &["ANNA10"],
            "",
            "",
        ),
        // Unattributed.
        order(
            "o9",
            "c-4",
            "",
            "2026-03-02T17:00:00Z",
            9_900,
            0,
            &[],
            "google",
            "",
        ),
    ];
    let response = app
        .ingest()
        .ingest_orders(app.req(IngestOrdersRequest {
            rows,
            all_or_nothing: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.rejected_count, 0, "{:?}", response.rejected);
}

async fn order_kpis_attribute_by_code_first_and_count_buyers(app: TestApp) {
    world(&app).await;
    order_data(&app).await;
    let march = ((3, 1), (3, 31));
    let (anna, bob) = ("influencers/anna", "influencers/bob");
    // anna: o1, o5, o7 (link), o8 → 4 orders, 100 + 40 + 60 + 10 EUR.
    assert_eq!(
        value(&app, "attributed_orders", anna, march.0, march.1).await,
        v(4.0)
    );
    close(
        value(&app, "attributed_revenue", anna, march.0, march.1).await,
        210.0,
    );
    // bob: o3, o6.
    assert_eq!(
        value(&app, "attributed_orders", bob, march.0, march.1).await,
        v(2.0)
    );
    // Tenant: every attributed order, o9 is not.
    assert_eq!(
        value(&app, "attributed_orders", "tenant", march.0, march.1).await,
        v(6.0)
    );
    // code_buyers: anna c-1, c-3; bob c-2, c-3; the tenant counts c-3 once.
    assert_eq!(
        value(&app, "code_buyers", anna, march.0, march.1).await,
        v(2.0)
    );
    assert_eq!(
        value(&app, "code_buyers", bob, march.0, march.1).await,
        v(2.0)
    );
    assert_eq!(
        value(&app, "code_buyers", "tenant", march.0, march.1).await,
        v(3.0)
    );
    // First code orders: c-1 and c-3 with anna, c-2 with bob.
    assert_eq!(
        value(&app, "first_code_buyers", anna, march.0, march.1).await,
        v(2.0)
    );
    assert_eq!(
        value(&app, "first_code_buyers", bob, march.0, march.1).await,
        v(1.0)
    );
    // c-1 returned after 89 days, c-3 the next day; c-2 one day too late.
    assert_eq!(
        value(&app, "returning_buyers_after_code", anna, march.0, march.1).await,
        v(2.0)
    );
    assert_eq!(
        value(&app, "returning_buyers_after_code", bob, march.0, march.1).await,
        v(0.0)
    );
    close(
        value(&app, "returning_buyer_rate", anna, march.0, march.1).await,
        100.0,
    );
    close(
        value(&app, "returning_buyer_rate", bob, march.0, march.1).await,
        0.0,
    );
    // Counted on the day of the first code order.
    let daily = query(
        &app,
        "first_code_buyers",
        anna,
        "",
        (3, 1),
        (3, 2),
        Granularity::Day,
    )
    .await;
    assert_eq!(daily, [v(2.0), v(0.0)]);
    // No first code buyers in April: the rate has a zero denominator.
    assert_eq!(
        value(&app, "returning_buyer_rate", anna, (4, 1), (4, 30)).await,
        absent("zero_denominator")
    );
    // No fees anywhere: roas has a zero denominator, cpm is 0... with views.
    assert_eq!(
        value(&app, "roas", anna, march.0, march.1).await,
        absent("zero_denominator")
    );
    close(value(&app, "fees", anna, march.0, march.1).await, 0.0);
}

async fn days_follow_the_tenants_time_zone(app: TestApp) {
    use ::tally::domain::tenant::{Tenant, TenantSettings};
    app.store
        .create_tenant(&Tenant {
            id: "ams".into(),
            display_name: "Amsterdam".into(),
            settings: TenantSettings {
                time_zone: "Europe/Amsterdam".into(),
                ..Default::default()
            },
        })
        .await
        .unwrap();
    let (_, key) = app.store.create_api_key("ams").await.unwrap();
    let ams = app.with_key(key);
    influencer(&ams, "anna", "ANNA10", "instagram", "anna").await;
    // 23:59 and 00:01 local time (UTC+1 in March).
    let rows = vec![
        order(
            "late",
            "c-1",
            "",
            "2026-03-01T22:59:00Z",
            1_000,
            0,
            &["ANNA10"],
            "",
            "",
        ),
        order(
            "early",
            "c-2",
            "",
            "2026-03-01T23:01:00Z",
            1_000,
            0,
            &["ANNA10"],
            "",
            "",
        ),
    ];
    ams.ingest()
        .ingest_orders(ams.req(IngestOrdersRequest {
            rows,
            all_or_nothing: true,
        }))
        .await
        .unwrap();
    let daily = query(
        &ams,
        "attributed_orders",
        "influencers/anna",
        "",
        (3, 1),
        (3, 2),
        Granularity::Day,
    )
    .await;
    assert_eq!(daily, [v(1.0), v(1.0)]);
}

crate::on_both_databases!(
    social_kpis_follow_the_contract,
    order_kpis_attribute_by_code_first_and_count_buyers,
    days_follow_the_tenants_time_zone,
);
