//! WEEK, MONTH and RANGE values served from stored data (whole weeks and months stored by
//! recompute runs, other periods composed from stored days) equal a live computation from
//! observations, for every KPI, scope, segment and granularity of a generated data set;
//! recomputing a day updates its stored week and month.
use crate::helpers::{
    TestApp, create_channel, create_custom_kpi, create_segment, create_tracked_influencer,
};
use ::tally::proto::google::r#type::Date;
use ::tally::proto::*;
use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tally::engine::{COHORT_KPIS, Engine, SnapshotFeed};
use tally::kpi::period::{Granularity as G, Period};
use tally::kpi::{Computed, KpiKey};

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).unwrap()
}

fn date(d: NaiveDate) -> Option<Date> {
    Some(Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

fn ts(d: NaiveDate, seconds: i64) -> Option<prost_types::Timestamp> {
    let midnight = d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    Some(prost_types::Timestamp {
        seconds: midnight + seconds,
        nanos: 0,
    })
}

/// The days observations are generated for: wider than the days recomputed, so that
/// stored whole months and live periods see data no stored day holds.
fn observed() -> Period {
    Period::new(day(2, 2), day(4, 30)).unwrap()
}

const CHANNELS: [(&str, Platform, &str); 6] = [
    ("anna-ig", Platform::Instagram, "influencers/anna"),
    ("anna-tt", Platform::Tiktok, "influencers/anna"),
    ("bob-x", Platform::X, "influencers/bob"),
    ("cleo-tt", Platform::Tiktok, "influencers/cleo"),
    ("brand-ig", Platform::Instagram, ""),
    ("brand-fb", Platform::Facebook, ""),
];

const BIOS: [&str; 5] = ["Graphic DESIGN", "design lover", "cooking", "", "runner"];

fn attributes(r: &mut StdRng) -> MemberAttributes {
    MemberAttributes {
        bio: BIOS[r.random_range(0..BIOS.len())].into(),
        age: r.random_bool(0.8).then(|| r.random_range(16..60)),
        followers: r.random_bool(0.7).then(|| r.random_range(10..5_000)),
        ..Default::default()
    }
}

async fn structure(app: &TestApp) {
    for (id, code, source, campaign) in [
        ("anna", "ANNA10", "instagram", "anna"),
        ("bob", "BOB5", "instagram", ""),
        ("cleo", "CLEO", "tiktok", "cleo"),
    ] {
        create_tracked_influencer(app, id, code, source, campaign).await;
    }
    for (id, platform, owner) in CHANNELS {
        create_channel(app, id, platform, owner).await;
    }
    for (id, rule) in [
        ("designers", "bio contains \"design\""),
        ("adults", "age >= 25"),
    ] {
        create_segment(app, id, id, rule).await;
    }
    // winter ends before the recomputed days (its order tail reaches into them), spring
    // lies inside them with a giveaway, summer runs past their end.
    let fee = |who: &str, minor_units| Participant {
        influencer: format!("influencers/{who}"),
        fee: Some(Money {
            currency_code: "EUR".into(),
            minor_units,
        }),
    };
    for (id, first, last, participants, giveaways) in [
        (
            "winter",
            day(1, 20),
            day(2, 20),
            vec![fee("bob", 30_000)],
            vec![],
        ),
        (
            "spring",
            day(3, 4),
            day(3, 20),
            vec![fee("anna", 100_000), fee("bob", 25_000)],
            vec![Giveaway {
                giveaway_id: "box".into(),
                display_name: "Box".into(),
                host: "influencers/anna".into(),
            }],
        ),
        (
            "summer",
            day(4, 10),
            day(5, 20),
            vec![fee("cleo", 50_000)],
            vec![],
        ),
    ] {
        app.campaigns()
            .create_campaign(app.req(CreateCampaignRequest {
                campaign_id: id.into(),
                campaign: Some(Campaign {
                    display_name: id.into(),
                    start_date: date(first),
                    end_date: date(last),
                    participants,
                    giveaways,
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await
            .unwrap();
    }
}

/// Custom KPIs: over sums and a level, over a pushed metric, over a cohort KPI; once the
/// metric has points.
async fn customs(app: &TestApp) {
    for (id, formula) in [
        ("my_ipm", "(comments + likes + posts) / (followers / 1000)"),
        ("searches_per_fee", "brand_searches / fees"),
        ("loyal_twice", "returning_buyer_rate * 2"),
        ("revenue_less_fees", "attributed_revenue - fees"),
    ] {
        create_custom_kpi(app, id, formula).await.unwrap();
    }
}

/// Observations of every kind over [`observed`], from a seeded generator: NULL fields,
/// days without rows, channels without data for weeks, campaign tails.
async fn observations(app: &TestApp, seed: u64) {
    let mut r = StdRng::seed_from_u64(seed);
    let mut stats = Vec::new();
    for (id, platform, _) in CHANNELS {
        let mut followers = r.random_range(0..3_000) as f64;
        for d in observed().iter_days() {
            // cleo-tt says nothing in March; other channels skip a day now and then.
            if (id == "cleo-tt" && d.month() == 3) || r.random_bool(0.15) {
                continue;
            }
            followers *= 1.0 + r.random_range(-0.01..0.03);
            let likes = r.random_range(0..200);
            let (posts, mentions) = (r.random_range(0..3), r.random_range(0..4));
            let maybe = |r: &mut StdRng, p: f64, v: i64| r.random_bool(p).then_some(v);
            stats.push(ChannelDayStats {
                channel: format!("channels/{id}"),
                day: date(d),
                followers: maybe(&mut r, 0.85, followers.round() as i64),
                posts: maybe(&mut r, 0.95, posts),
                likes: maybe(&mut r, 0.9, likes),
                comments: maybe(&mut r, 0.9, likes / 7),
                shares: maybe(
                    &mut r,
                    if platform == Platform::X { 0.3 } else { 0.8 },
                    likes / 11,
                ),
                mentions: maybe(&mut r, 0.5, mentions),
                views: maybe(&mut r, 0.7, likes * 13),
                link_clicks: maybe(&mut r, 0.6, likes / 20),
                ..Default::default()
            });
        }
    }
    let ingest = app.ingest();
    let response = ingest
        .clone()
        .ingest_channel_stats(app.req(IngestChannelStatsRequest {
            rows: stats,
            all_or_nothing: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.rejected_count, 0, "{:?}", response.rejected);

    let mut web = Vec::new();
    for d in observed().iter_days() {
        // Some days have no web traffic at all.
        if r.random_bool(0.2) {
            continue;
        }
        for (source, campaign, group) in [
            ("google", "", "Organic Search"),
            ("instagram", "anna", "Organic Social"),
            ("Instagram", "other", "Paid Social"),
            ("tiktok", "cleo", "Organic Social"),
            ("tiktok", "cleo", "Referral"),
        ] {
            if r.random_bool(0.3) {
                continue;
            }
            let users = r.random_range(0..60);
            web.push(WebTrafficRow {
                day: date(d),
                source: source.into(),
                campaign: campaign.into(),
                default_channel_group: group.into(),
                age: r.random_bool(0.6).then(|| r.random_range(16..60)),
                sessions: users + r.random_range(0..10),
                users,
                new_users: users / 2,
                ..Default::default()
            });
        }
    }
    ingest
        .clone()
        .ingest_web_traffic(app.req(IngestWebTrafficRequest {
            rows: web,
            all_or_nothing: true,
        }))
        .await
        .unwrap();

    let mut orders = Vec::new();
    let span = observed().days();
    for i in 0..400 {
        let d = observed().first + chrono::Days::new(r.random_range(0..span) as u64);
        let influencer_codes = ["ANNA10", "BOB5", "CLEO"];
        let codes: Vec<String> = match r.random_range(0..10) {
            0..3 => vec![influencer_codes[r.random_range(0..3)].into()],
            3 => vec!["WELCOME".into()],
            // Two influencers' codes: the first listed decides, after one of no influencer.
            4 => {
                let first = r.random_range(0..3);
                let second = (first + r.random_range(1..3)) % 3;
                vec![
                    "welcome".into(),
                    influencer_codes[first].into(),
                    influencer_codes[second].into(),
                ]
            }
            _ => vec![],
        };
        let (utm_source, utm_campaign) = match r.random_range(0..10) {
            0 => ("instagram", "anna"),
            1 => ("tiktok", "cleo"),
            _ => ("", ""),
        };
        let revenue = r.random_range(500..20_000);
        orders.push(Order {
            order_id: format!("o{i}"),
            customer_id: if r.random_bool(0.05) {
                String::new()
            } else {
                format!("c-{}", r.random_range(0..60))
            },
            customer_email: "guest@example.com".into(),
            placed_at: ts(d, r.random_range(0..86_400)),
            currency_code: "EUR".into(),
            revenue_minor: revenue,
            cost_of_goods_minor: revenue / 3,
            discount_codes: codes,
            utm_source: utm_source.into(),
            utm_campaign: utm_campaign.into(),
            ..Default::default()
        });
    }
    let response = ingest
        .clone()
        .ingest_orders(app.req(IngestOrdersRequest {
            rows: orders,
            all_or_nothing: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.rejected_count, 0, "{:?}", response.rejected);

    let mut members = Vec::new();
    for i in 0..80 {
        let (channel, _, _) = CHANNELS[r.random_range(0..CHANNELS.len())];
        let first = observed().first + chrono::Days::new(r.random_range(0..span) as u64);
        members.push(AudienceMember {
            channel: format!("channels/{channel}"),
            account_id: format!("fan{}", i % 50),
            attributes: Some(attributes(&mut r)),
            customer_id: if r.random_bool(0.3) {
                format!("c-{}", r.random_range(0..60))
            } else {
                String::new()
            },
            first_seen: date(first - chrono::Days::new(20)),
            last_seen: r
                .random_bool(0.2)
                .then(|| first + chrono::Days::new(r.random_range(0..30)))
                .and_then(date),
        });
    }
    let response = ingest
        .clone()
        .ingest_audience_members(app.req(IngestAudienceMembersRequest {
            rows: members,
            all_or_nothing: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.rejected_count, 0, "{:?}", response.rejected);

    let mut interactions = Vec::new();
    for i in 0..300 {
        let (channel, _, _) = CHANNELS[r.random_range(0..CHANNELS.len())];
        let d = observed().first + chrono::Days::new(r.random_range(0..span) as u64);
        let kind = [
            InteractionKind::Like,
            InteractionKind::Comment,
            InteractionKind::Share,
            InteractionKind::Mention,
        ][r.random_range(0..4)];
        interactions.push(Interaction {
            channel: format!("channels/{channel}"),
            interaction_id: format!("x{i}"),
            kind: kind as i32,
            account_id: format!("fan{}", r.random_range(0..50)),
            occurred_at: ts(d, r.random_range(0..86_400)),
            attributes: Some(attributes(&mut r)),
        });
    }
    ingest
        .clone()
        .ingest_interactions(app.req(IngestInteractionsRequest {
            rows: interactions,
            all_or_nothing: true,
        }))
        .await
        .unwrap();

    let entries = (0..40)
        .map(|_| GiveawayEntry {
            giveaway_id: "box".into(),
            entrant: format!("e{}", r.random_range(0..25)),
            entered_at: ts(day(3, 4) + chrono::Days::new(r.random_range(0..17)), 3_600),
        })
        .collect();
    ingest
        .clone()
        .ingest_giveaway_entries(app.req(IngestGiveawayEntriesRequest {
            rows: entries,
            all_or_nothing: true,
        }))
        .await
        .unwrap();

    let mut points = Vec::new();
    for d in observed().iter_days() {
        for scope in ["tenant", "campaigns/spring", "channels/anna-ig"] {
            if r.random_bool(0.7) {
                points.push(MetricPoint {
                    metric_key: "brand_searches".into(),
                    scope: scope.into(),
                    day: date(d),
                    value: r.random_range(0..500) as f64 / 4.0,
                });
            }
        }
    }
    ingest
        .clone()
        .ingest_metric_points(app.req(IngestMetricPointsRequest {
            rows: points,
            all_or_nothing: true,
        }))
        .await
        .unwrap();
}

/// One served value as compared: first and last day, value, reason, numerator,
/// denominator, `final` and `partial`.
type Served = (
    NaiveDate,
    NaiveDate,
    Option<f64>,
    String,
    Option<f64>,
    Option<f64>,
    bool,
    bool,
);

async fn served(app: &TestApp, key: &KpiKey, range: Period, granularity: G) -> Vec<KpiValue> {
    let granularity = match granularity {
        G::Day => Granularity::Day,
        G::Week => Granularity::Week,
        G::Month => Granularity::Month,
        G::Range => Granularity::Range,
    };
    app.kpis()
        .query_snapshots(
            app.req(QuerySnapshotsRequest {
                kpi_scope: Some(KpiScope {
                    kpi: key.kpi.clone(),
                    scope: key.scope.to_string(),
                    segment: key
                        .segment
                        .as_ref()
                        .map(|s| format!("segments/{s}"))
                        .unwrap_or_default(),
                }),
                first_day: date(range.first),
                last_day: date(range.last),
                granularity: granularity as i32,
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("{key:?} {range}: {e:?}"))
        .into_inner()
        .values
}

fn of_served(v: &KpiValue) -> Served {
    let d = |d: &Option<Date>| {
        let d = d.as_ref().unwrap();
        NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32).unwrap()
    };
    (
        d(&v.first_day),
        d(&v.last_day),
        v.value,
        v.undefined_reason.clone(),
        v.numerator,
        v.denominator,
        v.r#final,
        v.partial,
    )
}

/// KPIS.md: final when `last ≤ L − trailing days` (3), cohort values also `last ≤ L −
/// window days − 1` (90); outside the campaign always. Partial when a week has fewer than
/// 7 days or a month fewer than its own, or when `last` is after L.
fn expected(c: &Computed, newest: NaiveDate, cohort: bool, granularity: G) -> Served {
    let lag = (newest - c.period.last).num_days();
    let outside = c.value == Err(tally::kpi::value::Reason::OutsideCampaign);
    let first_of_month = c.period.first.with_day(1).unwrap();
    let month_days = (first_of_month + chrono::Months::new(1) - first_of_month).num_days();
    let clipped = match granularity {
        G::Week => c.period.days() < 7,
        G::Month => c.period.days() < month_days,
        G::Day | G::Range => false,
    };
    (
        c.period.first,
        c.period.last,
        c.value.ok(),
        c.value
            .err()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        c.numerator,
        c.denominator,
        outside || (lag >= 3 && (!cohort || lag > 90)),
        clipped || c.period.last > newest,
    )
}

fn same_number(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        (a, b) => a == b,
    }
}

fn same(a: &Served, b: &Served) -> bool {
    a.0 == b.0
        && a.1 == b.1
        && same_number(a.2, b.2)
        && a.3 == b.3
        && same_number(a.4, b.4)
        && same_number(a.5, b.5)
        && a.6 == b.6
        && a.7 == b.7
}

/// Every daily key of the tenant served over `range` at each granularity equals what
/// the engine computes live over each period; returns how many values were compared.
/// `seen` collects the reasons (empty for a value) served per KPI id and whether any
/// served period was partial.
async fn served_equals_live(
    app: &TestApp,
    keys: &[KpiKey],
    cohort: &[String],
    newest: NaiveDate,
    range: Period,
    granularities: &[G],
    seen: &mut std::collections::HashSet<(String, String, bool)>,
) -> usize {
    let mut compared = 0;
    for &granularity in granularities {
        let mut engine = Engine::new(&app.store, "acme").await.unwrap();
        let mut live: Vec<Vec<Computed>> = vec![Vec::new(); keys.len()];
        for p in range.split(granularity) {
            for (i, c) in engine
                .compute(keys, p)
                .await
                .unwrap()
                .into_iter()
                .enumerate()
            {
                live[i].push(c);
            }
            engine.clear_cache();
        }
        for (key, live) in keys.iter().zip(&live) {
            let is_cohort = cohort.contains(&key.kpi);
            let got: Vec<Served> = served(app, key, range, granularity)
                .await
                .iter()
                .map(of_served)
                .collect();
            let want: Vec<Served> = live
                .iter()
                .map(|c| expected(c, newest, is_cohort, granularity))
                .collect();
            assert_eq!(got.len(), want.len(), "{key:?} {range} {granularity:?}");
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    same(g, w),
                    "{key:?} over {range} by {granularity:?}: served {g:?}, live {w:?}"
                );
            }
            seen.extend(got.iter().map(|g| (key.kpi.clone(), g.3.clone(), g.7)));
            compared += got.len();
        }
    }
    compared
}

async fn served_rollups_equal_live_values(app: TestApp) {
    structure(&app).await;
    observations(&app, 23).await;
    customs(&app).await;
    // Nine whole weeks, Monday February 16th to Sunday April 19th; February and April
    // are stored whole though only part of them is recomputed.
    let computed = Period::new(day(2, 16), day(4, 19)).unwrap();
    let feed = SnapshotFeed::default();
    tally::engine::recompute(&app.store, &feed, "acme", computed, "run-rollups")
        .await
        .unwrap();
    let engine = Engine::new(&app.store, "acme").await.unwrap();
    let keys = engine.daily_keys(&app.store.metric_keys("acme").await.unwrap());
    let cohort = engine.cohort_kpis();
    assert!(cohort.contains(&"loyal_twice".to_string()));
    for k in COHORT_KPIS {
        assert!(keys.iter().any(|key| key.kpi == k));
    }
    let scope_kinds: std::collections::HashSet<_> = keys.iter().map(|k| k.scope.kind()).collect();
    assert_eq!(scope_kinds.len(), 4, "every scope kind is compared");
    assert!(keys.iter().any(|k| k.kpi == "brand_searches"));
    assert!(keys.iter().any(|k| k.kpi == "my_ipm"));
    assert!(keys.iter().any(|k| k.segment.is_some()));
    let newest = computed.last;
    let all = [G::Week, G::Month, G::Range];
    let mut compared = 0;
    let mut seen = std::collections::HashSet::new();
    // Whole weeks and weeks clipped at both ends, March whole and February and April
    // clipped, the campaigns' edges inside; by day too.
    let clipped = Period::new(day(2, 25), day(4, 8)).unwrap();
    compared += served_equals_live(
        &app,
        &keys,
        &cohort,
        newest,
        clipped,
        &[G::Day, G::Week, G::Month, G::Range],
        &mut seen,
    )
    .await;
    // Reaching before and after the recomputed days: stored February, live the rest.
    let wider = Period::new(day(2, 1), day(4, 26)).unwrap();
    compared += served_equals_live(&app, &keys, &cohort, newest, wider, &all, &mut seen).await;
    assert!(compared > keys.len() * 60, "{compared} values compared");
    // The per-post composites were compared on values and on each reason the data can
    // give them (posts of 0, NULL fields, days without rows, campaign windows), and
    // partial periods on both sides of the comparison.
    for kpi in ["ipm_per_post", "engagement_rate_per_post"] {
        for reason in [
            "",
            "zero_denominator",
            "not_reported",
            "no_data",
            "outside_campaign",
        ] {
            assert!(
                seen.iter().any(|(k, r, _)| k == kpi && r == reason),
                "{kpi}: no `{reason}` compared"
            );
        }
    }
    for partial in [true, false] {
        assert!(seen.iter().any(|(_, _, p)| *p == partial));
    }

    // Whole weeks and months are read from the stored rows of the run.
    let anna = KpiKey {
        kpi: "attributed_revenue".into(),
        scope: tally::domain::goal::Scope::Influencer("anna".into()),
        segment: None,
    };
    let weeks = served(&app, &anna, computed, G::Week).await;
    assert_eq!(weeks.len(), 9);
    assert!(weeks.iter().all(|w| !w.run_id.is_empty()), "{weeks:?}");
    let months = served(&app, &anna, computed, G::Month).await;
    let runs: Vec<bool> = months.iter().map(|m| m.run_id.is_empty()).collect();
    assert_eq!(
        runs,
        [true, false, true],
        "clipped February and April are composed"
    );
}

/// Changing an order and recomputing its day alone changes the stored week and month that
/// hold it, which the next query serves.
async fn recomputing_a_day_updates_its_week_and_month(app: TestApp) {
    structure(&app).await;
    observations(&app, 5).await;
    customs(&app).await;
    let feed = SnapshotFeed::default();
    let march = Period::new(day(3, 1), day(3, 31)).unwrap();
    tally::engine::recompute(&app.store, &feed, "acme", march, "run-march")
        .await
        .unwrap();
    let anna = KpiKey {
        kpi: "attributed_revenue".into(),
        scope: tally::domain::goal::Scope::Influencer("anna".into()),
        segment: None,
    };
    let week = Period::new(day(3, 9), day(3, 15)).unwrap();
    let before = served(&app, &anna, week, G::Week).await;
    let month_before = served(&app, &anna, march, G::Month).await;
    app.ingest()
        .ingest_orders(app.req(IngestOrdersRequest {
            rows: vec![Order {
                order_id: "late-big".into(),
                customer_id: "c-big".into(),
                placed_at: ts(day(3, 11), 43_200),
                currency_code: "EUR".into(),
                revenue_minor: 123_456,
                discount_codes: vec!["ANNA10".into()],
                ..Default::default()
            }],
            all_or_nothing: true,
        }))
        .await
        .unwrap();
    let run = tally::engine::recompute(
        &app.store,
        &feed,
        "acme",
        Period::day(day(3, 11)),
        "run-march-11",
    )
    .await
    .unwrap();
    let after = served(&app, &anna, week, G::Week).await;
    let month_after = served(&app, &anna, march, G::Month).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].run_id, run.run_id, "the week is the new run's");
    assert_eq!(
        month_after[0].run_id, run.run_id,
        "the month is the new run's"
    );
    let plus = |v: &[KpiValue]| v[0].value.unwrap() + 1_234.56;
    assert!(
        same_number(after[0].value, Some(plus(&before))),
        "{before:?} {after:?}"
    );
    assert!(
        same_number(month_after[0].value, Some(plus(&month_before))),
        "{month_before:?} {month_after:?}"
    );
    // And equal to the live value.
    let mut engine = Engine::new(&app.store, "acme").await.unwrap();
    let live = engine
        .compute(std::slice::from_ref(&anna), week)
        .await
        .unwrap();
    assert!(same_number(after[0].value, live[0].value.ok()));
    // The clipped week of a range (Wednesday to Sunday) is composed from the new day.
    let clipped = served(
        &app,
        &anna,
        Period::new(day(3, 11), day(3, 15)).unwrap(),
        G::Week,
    )
    .await;
    let live = engine
        .compute(
            std::slice::from_ref(&anna),
            Period::new(day(3, 11), day(3, 15)).unwrap(),
        )
        .await
        .unwrap();
    assert!(same_number(clipped[0].value, live[0].value.ok()));
    assert!(clipped[0].run_id.is_empty());
}

/// A campaign's `profit_per_visitor` over a range is composed from its stored days: the
/// orders of its order tail from the stored daily profits, its fees and visitors from the
/// stored days of its window. A day without stored profits leaves the range to the live
/// computation; recomputing the day stores them again.
async fn campaign_profit_composes_from_stored_days(app: TestApp) {
    use tally::storage::campaign_profits::campaign_day_profit;
    structure(&app).await;
    observations(&app, 11).await;
    let feed = SnapshotFeed::default();
    // Spring runs March 4th to 20th; its orders count until April 19th.
    let range = Period::new(day(3, 1), day(4, 25)).unwrap();
    tally::engine::recompute(&app.store, &feed, "acme", range, "run-spring")
        .await
        .unwrap();
    let spring = KpiKey {
        kpi: "profit_per_visitor".into(),
        scope: tally::domain::goal::Scope::Campaign("spring".into()),
        segment: None,
    };
    let live = || async {
        let mut engine = Engine::new(&app.store, "acme").await.unwrap();
        let mut c = engine
            .compute(std::slice::from_ref(&spring), range)
            .await
            .unwrap();
        expected(&c.remove(0), range.last, false, G::Range)
    };
    let served_range = || async {
        let v = served(&app, &spring, range, G::Range).await;
        assert_eq!(v.len(), 1, "{v:?}");
        of_served(&v[0])
    };
    // Every day of the range is stored, inside the order window or not.
    let stored = app
        .store
        .campaign_profits("acme", range, Some("spring"))
        .await
        .unwrap();
    let days = &stored["spring"];
    assert!(days.iter().all(Option::is_some), "{days:?}");
    let tail = (day(4, 10) - range.first).num_days() as usize;
    assert!(
        days[tail].unwrap().is_some(),
        "April 10th is in the order tail"
    );
    assert_eq!(
        days[(day(4, 20) - range.first).num_days() as usize],
        Some(None)
    );
    let before = live().await;
    assert!(before.2.is_some(), "{before:?}");
    assert!(same(&served_range().await, &before));

    // An order of anna's code in the order tail, its day not recomputed: the range is
    // still composed from the stored days.
    app.ingest()
        .ingest_orders(app.req(IngestOrdersRequest {
            rows: vec![Order {
                order_id: "tail-big".into(),
                customer_id: "c-tail".into(),
                placed_at: ts(day(4, 10), 43_200),
                currency_code: "EUR".into(),
                revenue_minor: 900_000,
                cost_of_goods_minor: 100_000,
                discount_codes: vec!["ANNA10".into()],
                ..Default::default()
            }],
            all_or_nothing: true,
        }))
        .await
        .unwrap();
    let after = live().await;
    assert!(!same(&after, &before), "{before:?} {after:?}");
    assert!(same(&served_range().await, &before));

    // Without April 10th's stored profits, the range is computed live.
    campaign_day_profit::Entity::delete_many()
        .filter(campaign_day_profit::Column::TenantId.eq("acme"))
        .filter(campaign_day_profit::Column::Day.eq(day(4, 10)))
        .exec(app.store.connection())
        .await
        .unwrap();
    app.store.generations().tenant_written("acme");
    assert!(same(&served_range().await, &after));

    // Recomputing April 10th stores its profits again, with the new order's 8,000.00.
    tally::engine::recompute(&app.store, &feed, "acme", Period::day(day(4, 10)), "run-10")
        .await
        .unwrap();
    let profit = |stored: &tally::storage::campaign_profits::StoredProfits| {
        stored["spring"][0].unwrap().unwrap()
    };
    let now = app
        .store
        .campaign_profits("acme", Period::day(day(4, 10)), Some("spring"))
        .await
        .unwrap();
    assert_eq!(profit(&now), days[tail].unwrap().unwrap() + 800_000);
    assert!(same(&served_range().await, &after));
}

/// `code_buyers` over a range is counted by one statement, through the range's orders up
/// to `CODE_DRIVEN_DAYS` and through the order codes beyond; `target_audience_growth` over
/// a range starting at the first computed day computes its previous period's visitors
/// alone live. Both equal the live computation on each side of the switch, at every
/// scope kind.
async fn distinct_and_change_ranges_equal_live_values(app: TestApp) {
    use tally::storage::CODE_DRIVEN_DAYS;
    structure(&app).await;
    observations(&app, 5).await;
    let computed = Period::new(day(2, 16), day(4, 19)).unwrap();
    let feed = SnapshotFeed::default();
    tally::engine::recompute(&app.store, &feed, "acme", computed, "run-ranges")
        .await
        .unwrap();
    let engine = Engine::new(&app.store, "acme").await.unwrap();
    let keys: Vec<KpiKey> = engine
        .daily_keys(&app.store.metric_keys("acme").await.unwrap())
        .into_iter()
        .filter(|k| k.kpi == "code_buyers" || k.kpi == "target_audience_growth")
        .collect();
    let kinds: std::collections::HashSet<_> = keys
        .iter()
        .filter(|k| k.kpi == "code_buyers")
        .map(|k| k.scope.kind())
        .collect();
    assert_eq!(
        kinds.len(),
        3,
        "code_buyers at tenant, influencer and campaign scope: {keys:?}"
    );
    assert!(keys.iter().any(|k| k.kpi == "target_audience_growth"));
    let mut seen = std::collections::HashSet::new();
    let mut compared = 0;
    for days in [CODE_DRIVEN_DAYS, CODE_DRIVEN_DAYS + 1, 63] {
        let range = Period::new(
            computed.first,
            computed.first + chrono::Days::new(days as u64 - 1),
        )
        .unwrap();
        compared += served_equals_live(
            &app,
            &keys,
            &[],
            computed.last,
            range,
            &[G::Range],
            &mut seen,
        )
        .await;
    }
    assert_eq!(compared, keys.len() * 3);
    assert!(
        seen.iter()
            .any(|(k, r, _)| k == "code_buyers" && r.is_empty()),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(k, r, _)| k == "target_audience_growth" && r.is_empty()),
        "{seen:?}"
    );
}

crate::on_both_databases!(
    served_rollups_equal_live_values,
    recomputing_a_day_updates_its_week_and_month,
    campaign_profit_composes_from_stored_days,
    distinct_and_change_ranges_equal_live_values,
);
