//! KPI values on small hand-computed data sets, through the real API on both databases.
//! Each expected number is worked out in the comment beside it from KPIS.md.
use crate::helpers::{
    TestApp, bad_fields, create_channel, create_segment, create_tracked_influencer,
};
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
    close_for(actual, expected, "");
}

/// [`close`], saying what the value is of.
#[track_caller]
fn close_for(actual: (Option<f64>, String), expected: f64, what: &str) {
    let got = actual
        .0
        .unwrap_or_else(|| panic!("{what}expected {expected}, got absent: {}", actual.1));
    assert!(
        (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{what}expected {expected}, got {got}"
    );
}

/// What a KPI's value over a period must be.
enum Expect {
    /// Exactly this number.
    Is(f64),
    /// This number, but for rounding ([`close`]).
    Near(f64),
    /// No value, for this reason.
    Absent(&'static str),
}
use Expect::{Absent, Is, Near};

/// Checks the value of each (KPI, scope) over `period` (RANGE), in order.
async fn expect(app: &TestApp, period: ((i32, i32), (i32, i32)), cases: &[(&str, &str, Expect)]) {
    for (kpi, scope, expected) in cases {
        let actual = value(app, kpi, scope, period.0, period.1).await;
        let what = format!("{kpi} on {scope} over {period:?}: ");
        match expected {
            Is(x) => assert_eq!(actual, v(*x), "{what}"),
            Near(x) => close_for(actual, *x, &what),
            Absent(reason) => assert_eq!(actual, absent(reason), "{what}"),
        }
    }
}

/// anna (code ANNA10, instagram/anna) with anna-ig and anna-tt; bob (BOB5, instagram/any)
/// with bob-x; the brand's brand-ig.
async fn world(app: &TestApp) {
    create_tracked_influencer(app, "anna", "ANNA10", "instagram", "anna").await;
    create_tracked_influencer(app, "bob", "BOB5", "instagram", "").await;
    create_channel(app, "anna-ig", Platform::Instagram, "influencers/anna").await;
    create_channel(app, "anna-tt", Platform::Tiktok, "influencers/anna").await;
    create_channel(app, "bob-x", Platform::X, "influencers/bob").await;
    create_channel(app, "brand-ig", Platform::Instagram, "").await;
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
    app.ingest_all(rows).await;
}

async fn social_kpis_follow_the_contract(app: TestApp) {
    world(&app).await;
    social_data(&app).await;
    let anna = "influencers/anna";
    let day2 = ((3, 2), (3, 2));
    // followers: 1100 + 200 on the 2nd.
    expect(
        &app,
        day2,
        &[
            ("followers", anna, Is(1300.0)),
            // posts 2 + 1; likes 70 + 30; comments 20 + 5; shares: anna-ig NULL is skipped → 4.
            ("posts", anna, Is(3.0)),
            ("likes", anna, Is(100.0)),
            ("shares", anna, Is(4.0)),
            // Only the not-reporting channel: not_reported, not 0.
            ("shares", "channels/anna-ig", Absent("not_reported")),
            ("mentions", anna, Absent("not_reported")),
            // Growth over the 2nd: (1100 − 1000) + (200 − 0) = 300; 100 × 300 / 1000 = 30 %.
            ("follower_growth", anna, Is(300.0)),
            ("follower_growth_pct", anna, Near(30.0)),
            // anna-tt alone started from zero followers.
            ("follower_growth", "channels/anna-tt", Is(200.0)),
            (
                "follower_growth_pct",
                "channels/anna-tt",
                Absent("zero_denominator"),
            ),
            // ipm: (25 + 100 + 3) / (1300 / 1000) = 98.4615...
            ("ipm", anna, Near(128.0 / 1.3)),
            // engagement: 100 × (100 + 25 + 4) / 1300.
            ("engagement_rate", anna, Near(12_900.0 / 1300.0)),
            ("comments_per_post", anna, Near(25.0 / 3.0)),
            // A plain ratio with a not_reported part is not_reported.
            ("shares_per_day", "channels/anna-ig", Absent("not_reported")),
        ],
    )
    .await;
    // Over the 1st to 3rd: shares 5 + 1 + 4 = 10 over 3 days; followers are read on the
    // 3rd, which has no data.
    expect(
        &app,
        ((3, 1), (3, 3)),
        &[
            ("shares_per_day", anna, Near(10.0 / 3.0)),
            ("followers", anna, Absent("no_data")),
            ("posts", anna, Is(5.0)),
        ],
    )
    .await;
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
    range_matches_single_days(&app).await;
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
    app.ingest_all(rows).await;
}

async fn order_kpis_attribute_by_code_first_and_count_buyers(app: TestApp) {
    world(&app).await;
    order_data(&app).await;
    let march = ((3, 1), (3, 31));
    let (anna, bob) = ("influencers/anna", "influencers/bob");
    // anna: o1, o5, o7 (link), o8 → 4 orders, 100 + 40 + 60 + 10 EUR.
    expect(
        &app,
        march,
        &[
            ("attributed_orders", anna, Is(4.0)),
            ("attributed_revenue", anna, Near(210.0)),
            // bob: o3, o6.
            ("attributed_orders", bob, Is(2.0)),
            // Tenant: every attributed order, o9 is not.
            ("attributed_orders", "tenant", Is(6.0)),
            // code_buyers: anna c-1, c-3; bob c-2, c-3; the tenant counts c-3 once.
            ("code_buyers", anna, Is(2.0)),
            ("code_buyers", bob, Is(2.0)),
            ("code_buyers", "tenant", Is(3.0)),
            // First code orders: c-1 and c-3 with anna, c-2 with bob.
            ("first_code_buyers", anna, Is(2.0)),
            ("first_code_buyers", bob, Is(1.0)),
            // c-1 returned after 89 days, c-3 the next day; c-2 one day too late.
            ("returning_buyers_after_code", anna, Is(2.0)),
            ("returning_buyers_after_code", bob, Is(0.0)),
            ("returning_buyer_rate", anna, Near(100.0)),
            ("returning_buyer_rate", bob, Near(0.0)),
        ],
    )
    .await;
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
    expect(
        &app,
        march,
        &[
            ("roas", anna, Absent("zero_denominator")),
            ("fees", anna, Near(0.0)),
        ],
    )
    .await;
    range_matches_single_days(&app).await;
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
    create_tracked_influencer(&ams, "anna", "ANNA10", "instagram", "anna").await;
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
    ams.ingest_all(rows).await;
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

#[allow(clippy::too_many_arguments)]
fn web(
    d: i32,
    source: &str,
    campaign: &str,
    group: &str,
    sessions: i64,
    users: i64,
    new_users: i64,
    age: Option<i32>,
) -> WebTrafficRow {
    WebTrafficRow {
        day: date(3, d),
        source: source.into(),
        campaign: campaign.into(),
        default_channel_group: group.into(),
        age,
        sessions,
        users,
        new_users,
        ..Default::default()
    }
}

async fn web_kpis_and_days_without_traffic(app: TestApp) {
    world(&app).await;
    let rows = vec![
        // From anna (the pair naming her campaign beats bob's source-only pair).
        web(
            1,
            "instagram",
            "anna",
            "Organic Social",
            30,
            20,
            5,
            Some(27),
        ),
        // From bob.
        web(1, "Instagram", "other", "Paid Social", 12, 10, 2, Some(40)),
        // From nobody.
        web(1, "google", "", "Organic Search", 150, 100, 60, Some(28)),
        // The 2nd has no web traffic at all; the 3rd has some, but none social.
        web(3, "google", "", "Organic Search", 80, 70, 10, None),
    ];
    app.ingest_all(rows).await;
    let day1 = ((3, 1), (3, 1));
    expect(
        &app,
        day1,
        &[
            ("social_visitors", "tenant", Is(42.0)),
            ("social_visitors", "influencers/anna", Is(30.0)),
            ("social_visitors", "influencers/bob", Is(12.0)),
            ("influencer_visitors", "influencers/anna", Is(20.0)),
            ("influencer_new_visitors", "influencers/bob", Is(2.0)),
            // Tenant: from any influencer.
            ("influencer_visitors", "tenant", Is(30.0)),
        ],
    )
    .await;
    // A day without web rows is no_data at every scope; a day with rows but no social ones is 0.
    expect(
        &app,
        ((3, 2), (3, 2)),
        &[
            ("social_visitors", "tenant", Absent("no_data")),
            ("influencer_visitors", "influencers/anna", Absent("no_data")),
        ],
    )
    .await;
    assert_eq!(
        value(&app, "social_visitors", "tenant", (3, 3), (3, 3)).await,
        v(0.0)
    );
    // Daily users add up: a person on two days counts twice.
    assert_eq!(
        value(&app, "influencer_visitors", "tenant", (3, 1), (3, 3)).await,
        v(30.0)
    );
    // No visitors: profit per visitor has a zero denominator.
    assert_eq!(
        value(
            &app,
            "profit_per_visitor",
            "influencers/anna",
            (3, 3),
            (3, 3)
        )
        .await,
        absent("zero_denominator")
    );

    // Segments on web rows: only age, country and is_customer exist there.
    create_segment(&app, "young", "25 to 30", "age between 25 and 30").await;
    // Tenant: 20 (age 27) + 100 (age 28); anna: 20; the 3rd's row has no age.
    let young = |scope: &'static str, first, last| {
        let app = &app;
        async move {
            query(
                app,
                "target_audience_visitors",
                scope,
                "segments/young",
                first,
                last,
                Granularity::Range,
            )
            .await
            .remove(0)
        }
    };
    assert_eq!(young("tenant", (3, 1), (3, 1)).await, v(120.0));
    assert_eq!(young("influencers/anna", (3, 1), (3, 1)).await, v(20.0));
    assert_eq!(young("tenant", (3, 3), (3, 3)).await, v(0.0));
    // Growth over [3rd, 3rd] against [2nd, 2nd], which has no traffic: no_data.
    let growth = query(
        &app,
        "target_audience_growth",
        "tenant",
        "segments/young",
        (3, 3),
        (3, 3),
        Granularity::Range,
    )
    .await;
    assert_eq!(growth, [absent("no_data")]);
    // [2nd, 3rd] (the 3rd has traffic, none of it young) against [Feb 28th, 1st]: 0 − 120.
    let growth = query(
        &app,
        "target_audience_growth",
        "tenant",
        "segments/young",
        (3, 2),
        (3, 3),
        Granularity::Range,
    )
    .await;
    assert_eq!(growth, [v(-120.0)]);
    range_matches_single_days(&app).await;
}

async fn campaign_windows_fees_and_ratios(app: TestApp) {
    world(&app).await;
    social_data(&app).await;
    order_data(&app).await;
    // Spring: March 1st to 10th, anna's fee 1,000.00 EUR spread over 10 days.
    app.campaigns()
        .create_campaign(app.req(CreateCampaignRequest {
            campaign_id: "spring".into(),
            campaign: Some(Campaign {
                display_name: "Spring".into(),
                start_date: date(3, 1),
                end_date: date(3, 10),
                participants: vec![Participant {
                    influencer: "influencers/anna".into(),
                    fee: Some(Money {
                        currency_code: "EUR".into(),
                        minor_units: 100_000,
                    }),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
    let spring = "campaigns/spring";
    close(value(&app, "fees", spring, (3, 1), (3, 1)).await, 100.0);
    close(
        value(&app, "fees", "influencers/anna", (3, 1), (3, 31)).await,
        1000.0,
    );
    close(value(&app, "fees", "tenant", (3, 5), (3, 6)).await, 200.0);
    // roas on the 1st: anna's orders o1 + o5 = 140 EUR over 100 EUR of fees.
    expect(
        &app,
        ((3, 1), (3, 1)),
        &[
            ("roas", spring, Near(1.4)),
            // cpm on the 1st: 100 EUR / (2000 views / 1000); anna-tt reports no views.
            ("cpm", "influencers/anna", Near(50.0)),
            // cost per engagement: 100 / (likes 60 + comments 10 + shares 6).
            ("cost_per_engagement", spring, Near(100.0 / 76.0)),
        ],
    )
    .await;
    // In the order tail the revenue still counts, the fees are outside the campaign.
    expect(
        &app,
        ((4, 5), (4, 5)),
        &[
            ("attributed_orders", spring, Is(0.0)),
            ("roas", spring, Absent("outside_campaign")),
            ("likes", spring, Absent("outside_campaign")),
        ],
    )
    .await;
    // After the tail, orders are outside too.
    assert_eq!(
        value(&app, "attributed_orders", spring, (4, 20), (4, 20)).await,
        absent("outside_campaign")
    );
    // Over the whole campaign: revenue in [1st, April 9th] (210 EUR) over fees in [1st, 10th].
    close(value(&app, "roas", spring, (3, 1), (4, 9)).await, 0.21);
    // Campaign social KPIs cover the participants' channels, clipped to the window.
    assert_eq!(value(&app, "posts", spring, (2, 20), (3, 2)).await, v(5.0));
    // No fees at all: roas zero_denominator, cpm 0.
    assert_eq!(
        value(&app, "roas", "influencers/bob", (3, 1), (3, 31)).await,
        absent("zero_denominator")
    );
    range_matches_single_days(&app).await;
}

async fn audience_kpis_count_members_once_per_scope(app: TestApp) {
    world(&app).await;
    order_data(&app).await;
    create_segment(&app, "designers", "Designers", "bio contains \"design\"").await;
    let member = |channel: &str,
                  account: &str,
                  bio: &str,
                  customer: &str,
                  first: (i32, i32),
                  last: Option<(i32, i32)>| AudienceMember {
        channel: format!("channels/{channel}"),
        account_id: account.into(),
        attributes: Some(MemberAttributes {
            bio: bio.into(),
            ..Default::default()
        }),
        customer_id: customer.into(),
        first_seen: date(first.0, first.1),
        last_seen: last.and_then(|(m, d)| date(m, d)),
    };
    let rows = vec![
        // fan1 on Instagram follows anna-ig and the brand: one member per scope.
        member("anna-ig", "fan1", "Graphic DESIGN", "c-1", (2, 1), None),
        member("brand-ig", "fan1", "Graphic DESIGN", "c-1", (2, 1), None),
        // fan2 stopped following on Feb 15th.
        member("anna-ig", "fan2", "design", "", (2, 1), Some((2, 15))),
        // fan3 on TikTok.
        member("anna-tt", "fan3", "designer", "", (3, 1), None),
        member("anna-tt", "fan4", "cooking", "", (3, 1), None),
    ];
    app.ingest_all(rows).await;
    let seg = |kpi: &'static str, scope: &'static str, segment: &'static str, day: (i32, i32)| {
        let app = &app;
        async move {
            query(app, kpi, scope, segment, day, day, Granularity::Range)
                .await
                .remove(0)
        }
    };
    assert_eq!(
        seg(
            "segment_followers",
            "influencers/anna",
            "segments/designers",
            (3, 2)
        )
        .await,
        v(2.0)
    );
    assert_eq!(
        seg("segment_followers", "tenant", "segments/designers", (3, 2)).await,
        v(1.0)
    );
    assert_eq!(
        seg(
            "segment_followers",
            "channels/anna-ig",
            "segments/designers",
            (3, 2)
        )
        .await,
        v(1.0)
    );
    // Nobody follows bob: no_data; followers exist but none match: 0.
    assert_eq!(
        seg(
            "segment_followers",
            "influencers/bob",
            "segments/designers",
            (3, 2)
        )
        .await,
        absent("no_data")
    );
    assert_eq!(
        seg(
            "segment_followers",
            "channels/anna-tt",
            "segments/designers",
            (2, 20)
        )
        .await,
        absent("no_data")
    );
    // fan1 is customer c-1, whose first order is on March 1st.
    assert_eq!(
        seg("followers_became_customers", "influencers/anna", "", (3, 2)).await,
        v(1.0)
    );
    assert_eq!(
        seg(
            "followers_became_customers",
            "influencers/anna",
            "",
            (2, 20)
        )
        .await,
        v(0.0)
    );
    assert_eq!(
        seg(
            "followers_became_customers",
            "influencers/anna",
            "segments/designers",
            (3, 2)
        )
        .await,
        v(1.0)
    );

    // Interactions carry the attributes at the time.
    let interaction = |id: &str, kind: InteractionKind, bio: &str| Interaction {
        channel: "channels/anna-ig".into(),
        interaction_id: id.into(),
        kind: kind as i32,
        account_id: "someone".into(),
        occurred_at: ts("2026-03-02T12:00:00Z"),
        attributes: Some(MemberAttributes {
            bio: bio.into(),
            ..Default::default()
        }),
    };
    let rows = vec![
        interaction("i1", InteractionKind::Share, "design lover"),
        interaction("i2", InteractionKind::Share, "cook"),
        interaction("i3", InteractionKind::Mention, "DESIGN"),
        interaction("i4", InteractionKind::Share, ""),
    ];
    app.ingest_all(rows).await;
    assert_eq!(
        seg(
            "segment_shares",
            "influencers/anna",
            "segments/designers",
            (3, 2)
        )
        .await,
        v(1.0)
    );
    assert_eq!(
        seg(
            "segment_mentions",
            "influencers/anna",
            "segments/designers",
            (3, 2)
        )
        .await,
        v(1.0)
    );
    assert_eq!(
        seg(
            "segment_shares",
            "influencers/anna",
            "segments/designers",
            (3, 3)
        )
        .await,
        v(0.0)
    );
    range_matches_single_days(&app).await;
}

async fn giveaways_metrics_and_stored_snapshots(app: TestApp) {
    world(&app).await;
    social_data(&app).await;
    app.campaigns()
        .create_campaign(app.req(CreateCampaignRequest {
            campaign_id: "spring".into(),
            campaign: Some(Campaign {
                display_name: "Spring".into(),
                start_date: date(3, 1),
                end_date: date(3, 10),
                giveaways: vec![Giveaway {
                    giveaway_id: "box".into(),
                    display_name: "Box".into(),
                    host: "influencers/anna".into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
    let entry = |who: &str, at: &str| GiveawayEntry {
        giveaway_id: "box".into(),
        entrant: who.into(),
        entered_at: ts(at),
    };
    let rows = vec![
        entry("a", "2026-03-01T10:00:00Z"),
        entry("a", "2026-03-02T10:00:00Z"),
        entry("b", "2026-03-02T11:00:00Z"),
    ];
    app.ingest_all(rows).await;
    // Each entrant once, on the day of the first entry.
    let daily = query(
        &app,
        "giveaway_entries",
        "influencers/anna",
        "",
        (3, 1),
        (3, 2),
        Granularity::Day,
    )
    .await;
    assert_eq!(daily, [v(1.0), v(1.0)]);
    expect(
        &app,
        ((3, 1), (3, 31)),
        &[
            ("giveaway_entries", "campaigns/spring", Is(2.0)),
            ("giveaway_entries", "influencers/bob", Absent("no_data")),
        ],
    )
    .await;

    let point = |d: i32, value: f64| MetricPoint {
        metric_key: "brand_searches".into(),
        scope: "tenant".into(),
        day: date(3, d),
        value,
    };
    app.ingest_all(vec![point(1, 10.0), point(2, 15.5)]).await;
    assert_eq!(
        value(&app, "brand_searches", "tenant", (3, 1), (3, 3)).await,
        v(25.5)
    );
    assert_eq!(
        value(&app, "brand_searches", "tenant", (3, 3), (3, 3)).await,
        absent("no_data")
    );

    // A pushed metric with data can be a goal's KPI (DESIGN.md: brand searches up 20%).
    let goal = Goal {
        display_name: "Brand searches up 20%".into(),
        objective: Objective::BrandAwareness as i32,
        kpi: "brand_searches".into(),
        scope: "tenant".into(),
        baseline: Some(Baseline {
            rule: BaselineRule::KpiBeforeStart as i32,
            value: 0.0,
        }),
        target: Some(Target {
            kind: Some(target::Kind::RelativeChangePercent(20.0)),
        }),
        direction: Direction::Up as i32,
        start_date: date(3, 1),
        deadline: Some(Date {
            year: 2027,
            month: 2,
            day: 28,
        }),
        owner: "Brand team".into(),
        ..Default::default()
    };
    app.goals()
        .create_goal(app.req(CreateGoalRequest {
            goal: Some(goal.clone()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let unknown = Goal {
        kpi: "brand_serches".into(),
        ..goal
    };
    assert_eq!(
        bad_fields(
            app.goals()
                .create_goal(app.req(CreateGoalRequest {
                    goal: Some(unknown),
                    ..Default::default()
                }))
                .await
        ),
        ["goal.kpi"]
    );

    // ComputeKpis stores daily snapshots; queries and BatchGetLatest read them back.
    let run = app
        .kpis()
        .compute_kpis(app.req(ComputeKpisRequest {
            first_day: date(3, 1),
            last_day: date(3, 3),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(run.days, 3);
    assert!(run.snapshots > 100, "{run:?}");
    let stored = app
        .kpis()
        .query_snapshots(app.req(QuerySnapshotsRequest {
            kpi_scope: Some(KpiScope {
                kpi: "ipm".into(),
                scope: "influencers/anna".into(),
                segment: String::new(),
            }),
            first_day: date(3, 2),
            last_day: date(3, 2),
            granularity: Granularity::Day as i32,
        }))
        .await
        .unwrap()
        .into_inner()
        .values;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].run_id, run.run_id);
    assert!((stored[0].value.unwrap() - 128.0 / 1.3).abs() < 1e-9);
    assert_eq!(
        (stored[0].numerator, stored[0].denominator),
        (Some(128.0), Some(1.3))
    );
    let latest = app
        .kpis()
        .batch_get_latest(app.req(BatchGetLatestRequest {
            kpi_scopes: vec![
                KpiScope {
                    kpi: "brand_searches".into(),
                    scope: "tenant".into(),
                    segment: String::new(),
                },
                KpiScope {
                    kpi: "posts".into(),
                    scope: "channels/anna-ig".into(),
                    segment: String::new(),
                },
            ],
        }))
        .await
        .unwrap()
        .into_inner()
        .values;
    assert_eq!(latest[0].last_day, date(3, 3));
    assert_eq!(latest[0].undefined_reason, "no_data");
    assert_eq!(latest[1].undefined_reason, "no_data", "no row on the 3rd");
    assert!(!latest[1].r#final, "the newest days can still change");
    // Recomputing replaces the day: same number of snapshots, new run id.
    let again = app
        .kpis()
        .compute_kpis(app.req(ComputeKpisRequest {
            first_day: date(3, 2),
            last_day: date(3, 2),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.snapshots * 3, run.snapshots);
    range_matches_single_days(&app).await;
}

async fn custom_kpis_are_validated_and_computed_like_ratios(app: TestApp) {
    world(&app).await;
    social_data(&app).await;
    let create = |id: &str, formula: &str| {
        let mut client = app.kpis();
        let request = app.req(CreateKpiDefinitionRequest {
            kpi_definition_id: id.into(),
            kpi_definition: Some(KpiDefinition {
                display_name: id.into(),
                unit: "per_mille".into(),
                formula: formula.into(),
                ..Default::default()
            }),
        });
        async move { client.create_kpi_definition(request).await }
    };
    let created = create("my_ipm", "(comments + likes + posts) / (followers / 1000)")
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (created.name.as_str(), created.version, created.built_in),
        ("kpiDefinitions/my_ipm", 1, false)
    );
    // Unknown names, constant zero divisors and cycles point into the formula.
    let status = create("bad", "likes + lieks").await.unwrap_err();
    assert!(
        status.message().contains("column 9"),
        "{}",
        status.message()
    );
    assert!(status.message().contains("lieks"), "{}", status.message());
    assert_eq!(
        bad_fields(create("zero", "likes / (2 - 2)").await),
        ["kpi_definition.formula"]
    );
    assert_eq!(
        bad_fields(create("followers", "likes").await),
        ["kpi_definition_id"]
    );
    create("double_ipm", "my_ipm * 2").await.unwrap();
    let cycle = app
        .kpis()
        .update_kpi_definition(app.req(UpdateKpiDefinitionRequest {
            kpi_definition: Some(KpiDefinition {
                name: "kpiDefinitions/my_ipm".into(),
                formula: "double_ipm / 2".into(),
                ..Default::default()
            }),
            update_mask: None,
        }))
        .await
        .unwrap_err();
    assert!(cycle.message().contains("cycle"), "{}", cycle.message());

    // (25 + 100 + 3) / (1300 / 1000), like ipm; the formula uses period values.
    expect(
        &app,
        ((3, 2), (3, 2)),
        &[
            ("my_ipm", "influencers/anna", Near(128.0 / 1.3)),
            ("double_ipm", "influencers/anna", Near(256.0 / 1.3)),
        ],
    )
    .await;
    // An absent input makes the result absent with its reason: no followers on the 3rd.
    assert_eq!(
        value(&app, "my_ipm", "influencers/anna", (3, 3), (3, 3)).await,
        absent("no_data")
    );

    let updated = app
        .kpis()
        .update_kpi_definition(app.req(UpdateKpiDefinitionRequest {
            kpi_definition: Some(KpiDefinition {
                name: "kpiDefinitions/my_ipm".into(),
                formula: "likes / posts".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["formula".into()],
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.version, 2, "a new formula is a new version");
    close(
        value(&app, "my_ipm", "influencers/anna", (3, 2), (3, 2)).await,
        100.0 / 3.0,
    );
    let in_use = app
        .kpis()
        .delete_kpi_definition(app.req(DeleteKpiDefinitionRequest {
            name: "kpiDefinitions/my_ipm".into(),
            etag: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(in_use.code(), tonic::Code::FailedPrecondition);
    assert!(in_use.message().contains("double_ipm"));
    let listed = app
        .kpis()
        .list_kpi_definitions(app.req(ListKpiDefinitionsRequest {
            page_size: 1000,
            ..Default::default()
        }))
        .await
        .unwrap();
    // 37 built-in KPIs and the two custom ones.
    assert_eq!(listed.into_inner().kpi_definitions.len(), 39);
}

async fn watchers_see_snapshots_as_runs_write_them(app: TestApp) {
    world(&app).await;
    social_data(&app).await;
    let mut stream = app
        .kpis()
        .watch_snapshots(app.req(WatchSnapshotsRequest {
            kpi_scopes: vec![KpiScope {
                kpi: "followers".into(),
                scope: "influencers/anna".into(),
                segment: String::new(),
            }],
        }))
        .await
        .unwrap()
        .into_inner();
    let run = app
        .kpis()
        .compute_kpis(app.req(ComputeKpisRequest {
            first_day: date(3, 1),
            last_day: date(3, 2),
        }))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    let second = stream.message().await.unwrap().unwrap();
    assert_eq!((first.first_day, first.value), (date(3, 1), Some(1000.0)));
    assert_eq!((second.first_day, second.value), (date(3, 2), Some(1300.0)));
    assert_eq!(second.run_id, run.run_id);
    // Another tenant's watcher sees nothing of this tenant.
    let other = app.other_tenant("globex").await;
    let mut theirs = app
        .kpis()
        .watch_snapshots(crate::helpers::with_key(
            WatchSnapshotsRequest { kpi_scopes: vec![] },
            &other,
        ))
        .await
        .unwrap()
        .into_inner();
    app.kpis()
        .compute_kpis(app.req(ComputeKpisRequest {
            first_day: date(3, 3),
            last_day: date(3, 3),
        }))
        .await
        .unwrap();
    let nothing =
        tokio::time::timeout(std::time::Duration::from_millis(300), theirs.message()).await;
    assert!(
        nothing.is_err(),
        "no values for another tenant: {nothing:?}"
    );
}

/// A row of bob-x on a March day; every count may be NULL.
fn bob_row(
    d: i32,
    followers: Option<i64>,
    posts: Option<i64>,
    likes: Option<i64>,
    comments: Option<i64>,
    shares: Option<i64>,
) -> ChannelDayStats {
    ChannelDayStats {
        channel: "channels/bob-x".into(),
        day: date(3, d),
        followers,
        posts,
        likes,
        comments,
        shares,
        ..Default::default()
    }
}

async fn per_post_composites_divide_by_posts_then_by_followers(app: TestApp) {
    world(&app).await;
    social_data(&app).await;
    let rows = vec![
        bob_row(1, Some(2000), Some(4), Some(90), Some(30), Some(6)),
        // Zero posts.
        bob_row(2, Some(2000), Some(0), Some(5), Some(1), Some(0)),
        // Likes and shares not reported.
        bob_row(3, Some(1000), Some(3), None, Some(30), None),
        // Every interaction not reported.
        bob_row(4, Some(1000), Some(2), None, None, None),
        // Posts not reported.
        bob_row(5, Some(1000), None, Some(10), Some(2), Some(1)),
        // No follower reading.
        bob_row(6, None, Some(1), Some(1), Some(1), Some(1)),
        // The 7th has no row.
    ];
    app.ingest_all(rows).await;
    let bob = "influencers/bob";
    let day = |d| ((3, d), (3, d));
    let both = |ipm: (Option<f64>, String), er: (Option<f64>, String)| (ipm, er);
    let per_post = |scope: &'static str, first: (i32, i32), last: (i32, i32)| {
        let app = &app;
        async move {
            both(
                value(app, "ipm_per_post", scope, first, last).await,
                value(app, "engagement_rate_per_post", scope, first, last).await,
            )
        }
    };
    // The 1st: ((30 + 90) / 4) / (2000 / 1000) = 15 per mille;
    // 100 × ((90 + 30 + 6) / 4) / 2000 = 1.575 %.
    let (ipm, er) = per_post(bob, day(1).0, day(1).1).await;
    close(ipm, 15.0);
    close(er, 1.575);
    // Zero posts: zero_denominator, even with interactions.
    assert_eq!(
        per_post(bob, day(2).0, day(2).1).await,
        (absent("zero_denominator"), absent("zero_denominator"))
    );
    // Not-reported likes (and shares) count as 0: (30 / 3) / 1 = 10 per mille;
    // 100 × (30 / 3) / 1000 = 1 %.
    let (ipm, er) = per_post(bob, day(3).0, day(3).1).await;
    close(ipm, 10.0);
    close(er, 1.0);
    // Every numerator component not reported: not_reported.
    assert_eq!(
        per_post(bob, day(4).0, day(4).1).await,
        (absent("not_reported"), absent("not_reported"))
    );
    // Posts not reported: a divisor, not a component counting as 0.
    assert_eq!(
        per_post(bob, day(5).0, day(5).1).await,
        (absent("not_reported"), absent("not_reported"))
    );
    // No follower reading on the last day: no_data.
    assert_eq!(
        per_post(bob, day(6).0, day(6).1).await,
        (absent("no_data"), absent("no_data"))
    );
    // A day with no data at all.
    assert_eq!(
        per_post(bob, day(7).0, day(7).1).await,
        (absent("no_data"), absent("no_data"))
    );
    // The 1st to 5th: posts 4 + 0 + 3 + 2 = 9 (the 5th's NULL skipped), likes 90 + 5 + 10
    // = 105, comments 30 + 1 + 30 + 2 = 63, shares 6 + 0 + 1 = 7, followers 1000 on the
    // 5th: (168 / 9) / 1 per mille and 100 × (175 / 9) / 1000 %.
    let (ipm, er) = per_post(bob, (3, 1), (3, 5)).await;
    close(ipm, 168.0 / 9.0);
    close(er, 17.5 / 9.0);
    // Zero followers: anna-tt on the 1st (1 post, 10 likes).
    assert_eq!(
        per_post("channels/anna-tt", day(1).0, day(1).1).await,
        (absent("zero_denominator"), absent("zero_denominator"))
    );
    // anna on the 2nd: ((25 + 100) / 3) / 1.3 per mille; anna-ig's NULL shares are
    // skipped: 100 × ((100 + 25 + 4) / 3) / 1300 %.
    let (ipm, er) = per_post("influencers/anna", day(2).0, day(2).1).await;
    close(ipm, 125.0 / 3.0 / 1.3);
    close(er, 100.0 * 43.0 / 1300.0);
    // anna-ig alone on the 2nd: shares not reported count as 0: 100 × (90 / 2) / 1100.
    let (_, er) = per_post("channels/anna-ig", day(2).0, day(2).1).await;
    close(er, 4500.0 / 1100.0);

    // A campaign clips to its window: bob from the 2nd to the 3rd, asked over the 1st to
    // 4th: posts 3, likes 5, comments 31, shares 0, followers 1000 on the 3rd.
    for (id, first, last) in [("duo", (3, 2), (3, 3)), ("june", (6, 1), (6, 10))] {
        app.campaigns()
            .create_campaign(app.req(CreateCampaignRequest {
                campaign_id: id.into(),
                campaign: Some(Campaign {
                    display_name: id.into(),
                    start_date: date(first.0, first.1),
                    end_date: date(last.0, last.1),
                    participants: vec![Participant {
                        influencer: bob.into(),
                        fee: Some(Money {
                            currency_code: "EUR".into(),
                            minor_units: 10_000,
                        }),
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await
            .unwrap();
    }
    let (ipm, er) = per_post("campaigns/duo", (3, 1), (3, 4)).await;
    close(ipm, 12.0);
    close(er, 1.2);
    // Outside the window: outside_campaign, before any other reason.
    assert_eq!(
        per_post("campaigns/june", (3, 1), (3, 7)).await,
        (absent("outside_campaign"), absent("outside_campaign"))
    );
    // By week, composed from the stored days: the 1st is a Sunday, alone in its week;
    // the next week is clipped to the 2nd – 6th, and the 6th has no follower reading.
    app.kpis()
        .compute_kpis(app.req(ComputeKpisRequest {
            first_day: date(3, 1),
            last_day: date(3, 7),
        }))
        .await
        .unwrap();
    let weeks = query(
        &app,
        "ipm_per_post",
        bob,
        "",
        (3, 1),
        (3, 6),
        Granularity::Week,
    )
    .await;
    close(weeks[0].clone(), 15.0);
    // The 2nd to 6th: followers none on the 6th: no_data.
    assert_eq!(weeks[1], absent("no_data"));
    let weeks = query(
        &app,
        "engagement_rate_per_post",
        bob,
        "",
        (3, 1),
        (3, 5),
        Granularity::Week,
    )
    .await;
    // The 2nd to 5th: posts 0 + 3 + 2 = 5, likes 5 + 10, comments 1 + 30 + 2, shares
    // 0 + 1; followers 1000 on the 5th: 100 × (49 / 5) / 1000.
    close(weeks[1].clone(), 0.98);

    // Custom formulas take the new ids; a pushed metric may not take them.
    app.kpis()
        .create_kpi_definition(app.req(CreateKpiDefinitionRequest {
            kpi_definition_id: "er_per_post_x2".into(),
            kpi_definition: Some(KpiDefinition {
                display_name: "Twice".into(),
                unit: "percent".into(),
                formula: "engagement_rate_per_post * 2 + ipm_per_post * 0".into(),
                ..Default::default()
            }),
        }))
        .await
        .unwrap();
    close(
        value(&app, "er_per_post_x2", bob, day(1).0, day(1).1).await,
        3.15,
    );
    for kpi in ["ipm_per_post", "engagement_rate_per_post"] {
        let pushed = app
            .ingest()
            .ingest_metric_points(app.req(IngestMetricPointsRequest {
                rows: vec![MetricPoint {
                    metric_key: kpi.into(),
                    scope: "tenant".into(),
                    day: date(3, 1),
                    value: 1.0,
                }],
                all_or_nothing: false,
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(pushed.rejected_count, 1, "{kpi}: {pushed:?}");
    }
    // Both apply at channel scope.
    let (ipm, er) = per_post("channels/bob-x", day(3).0, day(3).1).await;
    close(ipm, 10.0);
    close(er, 1.0);
}

/// KpiValue.partial, per KPIS.md: a week or month clipped by the range, or a period
/// reaching past the newest computed day L; DAY and RANGE only in the second case.
async fn partial_periods_are_clipped_or_reach_past_the_newest_day(app: TestApp) {
    world(&app).await;
    social_data(&app).await;
    let partial = |kpi: &'static str, first: (i32, i32), last: (i32, i32), g: Granularity| {
        let app = &app;
        async move {
            app.kpis()
                .query_snapshots(app.req(QuerySnapshotsRequest {
                    kpi_scope: Some(KpiScope {
                        kpi: kpi.into(),
                        scope: "influencers/anna".into(),
                        segment: String::new(),
                    }),
                    first_day: date(first.0, first.1),
                    last_day: date(last.0, last.1),
                    granularity: g as i32,
                }))
                .await
                .unwrap()
                .into_inner()
                .values
                .into_iter()
                .map(|v| (v.first_day.unwrap().day, v.partial))
                .collect::<Vec<_>>()
        }
    };
    // Nothing computed yet: every period reaches past the newest computed day.
    assert_eq!(
        partial("likes", (3, 1), (3, 2), Granularity::Day).await,
        [(1, true), (2, true)]
    );
    // L = March 20th.
    app.kpis()
        .compute_kpis(app.req(ComputeKpisRequest {
            first_day: date(3, 1),
            last_day: date(3, 20),
        }))
        .await
        .unwrap();
    // 2026-03-04 is a Wednesday: its week is clipped at the range's start (4th – 8th);
    // the 9th – 15th is whole; the 16th – 22nd is whole but reaches past L.
    assert_eq!(
        partial("likes", (3, 4), (3, 22), Granularity::Week).await,
        [(4, true), (9, false), (16, true)]
    );
    // A month clipped at the range's end; February whole (and before L).
    assert_eq!(
        partial("ipm_per_post", (2, 1), (3, 10), Granularity::Month).await,
        [(1, false), (1, true)]
    );
    // March whole but past L.
    assert_eq!(
        partial("followers", (3, 1), (3, 31), Granularity::Month).await,
        [(1, true)]
    );
    // DAY: before, on and after L.
    assert_eq!(
        partial("engagement_rate", (3, 19), (3, 21), Granularity::Day).await,
        [(19, false), (20, false), (21, true)]
    );
    // RANGE: any length up to L is whole; past L partial.
    assert_eq!(
        partial("likes", (3, 4), (3, 20), Granularity::Range).await,
        [(4, false)]
    );
    assert_eq!(
        partial("likes", (3, 4), (3, 21), Granularity::Range).await,
        [(4, true)]
    );
    // The latest stored day is never past L.
    let latest = app
        .kpis()
        .batch_get_latest(app.req(BatchGetLatestRequest {
            kpi_scopes: vec![KpiScope {
                kpi: "likes".into(),
                scope: "influencers/anna".into(),
                segment: String::new(),
            }],
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!latest.values[0].partial, "{latest:?}");
}

crate::on_both_databases!(
    per_post_composites_divide_by_posts_then_by_followers,
    partial_periods_are_clipped_or_reach_past_the_newest_day,
    social_kpis_follow_the_contract,
    order_kpis_attribute_by_code_first_and_count_buyers,
    days_follow_the_tenants_time_zone,
    web_kpis_and_days_without_traffic,
    campaign_windows_fees_and_ratios,
    audience_kpis_count_members_once_per_scope,
    giveaways_metrics_and_stored_snapshots,
    custom_kpis_are_validated_and_computed_like_ratios,
    watchers_see_snapshots_as_runs_write_them,
);

/// Recomputes Feb 26 – Apr 3 as a run does, each part loaded once for a block of days
/// (two blocks here), and checks that every stored day holds exactly what the engine
/// computes for that day alone, part by part.
async fn range_matches_single_days(app: &TestApp) {
    use tally::engine::{Engine, SnapshotFeed};
    use tally::kpi::period::Period;
    let day = |m, d| chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap();
    let range = Period::new(day(2, 26), day(4, 3)).unwrap();
    let store = &app.store;
    let run = tally::engine::recompute(store, &SnapshotFeed::default(), "acme", range, "run-test")
        .await
        .unwrap();
    let mut engine = Engine::new(store, "acme").await.unwrap();
    let keys = engine.daily_keys(&store.metric_keys("acme").await.unwrap());
    assert_eq!(run.snapshots, keys.len() as u64 * range.days() as u64);
    let mut defined = 0;
    for key in &keys {
        let stored = store.snapshots("acme", key, &range).await.unwrap();
        assert_eq!(stored.len(), range.days() as usize, "{key:?}");
        for snapshot in stored {
            let alone = engine
                .compute(std::slice::from_ref(key), snapshot.computed.period)
                .await
                .unwrap();
            engine.clear_cache();
            assert_eq!(snapshot.computed, alone[0], "{key:?}");
            assert_eq!(snapshot.run_id, run.run_id);
            defined += usize::from(snapshot.computed.value.is_ok());
        }
    }
    assert!(defined > 0, "the range has values, not only reasons");
}
