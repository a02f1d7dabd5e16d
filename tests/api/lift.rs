//! GetCampaignLift over gRPC (LIFT.md) on hand-computed stored daily snapshots: an exact
//! trend and weekday pattern lifted by a known amount, the halo beyond the campaign's
//! attributed values, the incremental ROAS, the reasons instead of numbers (short
//! pre-period, overlapping campaign) and the validation of every field; the pre-period's
//! days for charts with the days' finality; the tenant's pre-period setting; the
//! lift-only series read from the observations.
use crate::helpers::{TestApp, bad_fields, expect_code};
use chrono::{Datelike, Days, NaiveDate};
use tally::domain::goal::Scope;
use tally::domain::influencer::Influencer;
use tally::kpi::period::Period;
use tally::kpi::{Computed, KpiKey};
use tally::proto;
use tonic::Code;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn date(d: NaiveDate) -> Option<proto::google::r#type::Date> {
    Some(proto::google::r#type::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

/// The campaign: Monday 2 March to Sunday 15 March 2026; its orders count to 14 April.
const START: (i32, u32, u32) = (2026, 3, 2);
const END: (i32, u32, u32) = (2026, 3, 15);
/// The newest stored day: the order KPIs are read up to here, 19 days of their window.
const NEWEST: (i32, u32, u32) = (2026, 3, 20);

/// A weekday pattern, by days since the pre-period's first day.
const PATTERN: [f64; 7] = [0.0, 5.0, 10.0, -3.0, 0.0, 20.0, -10.0];

/// The exact baseline of day `i` (days since 5 January 2026, the pre-period's first day).
fn baseline(i: i64) -> f64 {
    100.0 + 2.0 * i as f64 + PATTERN[(i % 7) as usize]
}

fn value(kpi: &str, scope: Scope, d: NaiveDate, v: f64) -> Computed {
    Computed {
        key: KpiKey {
            kpi: kpi.into(),
            scope,
            segment: None,
        },
        period: Period::day(d),
        value: Ok(v),
        numerator: None,
        denominator: None,
    }
}

/// Writes the stored days: from 5 January (56 days before the start) to NEWEST, tenant
/// `social_visitors` and `attributed_revenue` on the exact baseline, +30 and +50 a day in
/// their windows; campaign-scope values of 10 and 20 a day in the windows (and one
/// attributed order a day);
/// `influencer_visitors` at 50 ± 1 on alternate days throughout; and `code_buyers` only
/// on the last 20 pre-period days.
async fn seed(app: &TestApp) {
    let first = day(2026, 1, 5);
    let (start, end) = (day(START.0, START.1, START.2), day(END.0, END.1, END.2));
    let newest = day(NEWEST.0, NEWEST.1, NEWEST.2);
    let campaign = || Scope::Campaign("spring".into());
    let mut d = first;
    while d <= newest {
        let i = (d - first).num_days();
        let in_campaign = d >= start && d <= end;
        let in_orders = d >= start;
        let mut values = vec![
            value(
                "social_visitors",
                Scope::Tenant,
                d,
                baseline(i) + if in_campaign { 30.0 } else { 0.0 },
            ),
            value(
                "attributed_revenue",
                Scope::Tenant,
                d,
                10.0 * baseline(i) + if in_orders { 50.0 } else { 0.0 },
            ),
        ];
        if in_campaign {
            values.push(value("social_visitors", campaign(), d, 10.0));
        }
        if in_orders {
            values.push(value("attributed_revenue", campaign(), d, 20.0));
            values.push(value("attributed_orders", campaign(), d, 1.0));
        }
        if i >= 36 {
            values.push(value("code_buyers", Scope::Tenant, d, 4.0));
        }
        // Noise the model cannot explain (±1 on alternate days) and no lift.
        let noise = if i % 2 == 0 { 1.0 } else { -1.0 };
        values.push(value("influencer_visitors", Scope::Tenant, d, 50.0 + noise));
        app.store
            .replace_day("acme", d, None, &values, "seed")
            .await
            .unwrap();
        d = d + Days::new(1);
    }
}

async fn create_campaign(app: &TestApp, id: &str, start: NaiveDate, end: NaiveDate) {
    app.campaigns()
        .create_campaign(app.req(proto::CreateCampaignRequest {
            campaign_id: id.into(),
            campaign: Some(proto::Campaign {
                display_name: id.into(),
                start_date: date(start),
                end_date: date(end),
                participants: vec![proto::Participant {
                    influencer: "influencers/anna".into(),
                    fee: Some(proto::Money {
                        currency_code: "EUR".into(),
                        minor_units: 100_000,
                    }),
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap();
}

pub(crate) async fn setup(app: &TestApp) {
    app.store
        .create_influencer(
            "acme",
            "anna",
            &Influencer {
                display_name: "Anna".into(),
                tags: vec![],
                discount_codes: vec!["ANNA10".into()],
                tracking_values: vec![],
            },
            None,
        )
        .await
        .unwrap();
    create_campaign(
        app,
        "spring",
        day(START.0, START.1, START.2),
        day(END.0, END.1, END.2),
    )
    .await;
    seed(app).await;
}

fn ask(kpis: &[&str]) -> proto::GetCampaignLiftRequest {
    proto::GetCampaignLiftRequest {
        name: "campaigns/spring".into(),
        kpis: kpis.iter().map(|k| k.to_string()).collect(),
        ..Default::default()
    }
}

async fn lift(app: &TestApp, request: proto::GetCampaignLiftRequest) -> proto::CampaignLift {
    app.campaigns()
        .get_campaign_lift(app.req(request))
        .await
        .unwrap()
        .into_inner()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * (1.0 + b.abs())
}

async fn an_exact_series_gives_its_planted_lift_halo_and_return(app: TestApp) {
    setup(&app).await;
    let answer = lift(
        &app,
        ask(&["social_visitors", "attributed_revenue", "code_buyers"]),
    )
    .await;
    assert_eq!(answer.campaign, "campaigns/spring");
    assert_eq!(answer.interval_level, 0.9);
    assert_eq!(answer.pre_period_start_date, date(day(2026, 1, 5)));
    assert_eq!(answer.pre_period_end_date, date(day(2026, 3, 1)));
    assert_eq!(answer.newest_computed_date, date(day(2026, 3, 20)));
    assert_eq!(
        (answer.fees, answer.currency_code.as_str()),
        (1000.0, "EUR")
    );
    assert!(answer.overlapping_campaigns.is_empty());

    // social_visitors: 14 campaign days (days 56 to 69 of the model), each 30 over the
    // baseline; no residual, so the interval is the point.
    let social = &answer.kpis[0];
    assert_eq!(social.kpi, "social_visitors");
    assert_eq!(
        social.refusal,
        proto::LiftRefusal::Unspecified as i32,
        "{}",
        social.reason
    );
    assert_eq!(social.end_date, date(day(2026, 3, 15)));
    assert_eq!(social.total_days, 14);
    assert_eq!(social.days.len(), 14);
    let expected: f64 = (56..70).map(baseline).sum();
    let total = social.total.as_ref().unwrap();
    assert!(close(total.baseline, expected), "{total:?}");
    assert!(close(total.observed, expected + 420.0), "{total:?}");
    assert!(
        close(total.lift, 420.0)
            && close(total.lift_lower, 420.0)
            && close(total.lift_upper, 420.0),
        "{total:?}"
    );
    assert!(close(total.relative_lift.unwrap(), 420.0 / expected));
    let first_day = social.days[0].estimate.as_ref().unwrap();
    assert_eq!(social.days[0].date, date(day(2026, 3, 2)));
    assert!(close(first_day.baseline, baseline(56)) && close(first_day.lift, 30.0));
    // Attributed 10 a day: the halo is the other 20 a day.
    assert!(close(social.attributed.unwrap(), 140.0));
    assert!(close(social.halo.unwrap(), 280.0));
    assert_eq!(social.incremental_roas, None);

    // attributed_revenue runs on into the order tail, clipped at the newest day: 19 days
    // of +50, attributed 20 a day, fees 1,000.
    let revenue = &answer.kpis[1];
    assert_eq!(revenue.end_date, date(day(2026, 3, 20)));
    assert_eq!(revenue.total_days, 19);
    let total = revenue.total.as_ref().unwrap();
    assert!(close(total.lift, 950.0), "{total:?}");
    assert!(close(revenue.attributed.unwrap(), 380.0));
    assert!(close(revenue.halo.unwrap(), 570.0));
    assert!(close(revenue.incremental_roas.unwrap(), 0.95));
    assert!(close(revenue.incremental_roas_lower.unwrap(), 0.95));

    // code_buyers has 20 pre-period days: a reason, no numbers.
    let buyers = &answer.kpis[2];
    assert_eq!(buyers.refusal, proto::LiftRefusal::PrePeriodTooShort as i32);
    assert!(
        buyers.reason.contains("20 days with a value"),
        "{}",
        buyers.reason
    );
    assert!(buyers.total.is_none() && buyers.days.is_empty());

    // A series with noise and nothing planted: its interval holds 0 around a small lift,
    // and a 50 % interval is narrower than the 90 % one.
    let widths = |answer: &proto::CampaignLift| {
        let t = answer.kpis[0].total.unwrap();
        assert!(t.lift_lower < t.lift && t.lift < t.lift_upper, "{t:?}");
        assert!(t.lift_lower < 0.0 && 0.0 < t.lift_upper, "{t:?}");
        assert!(t.baseline_lower < t.baseline && t.baseline < t.baseline_upper);
        t.lift_upper - t.lift_lower
    };
    let ninety = widths(&lift(&app, ask(&["influencer_visitors"])).await);
    let half = lift(
        &app,
        proto::GetCampaignLiftRequest {
            interval_level: Some(0.5),
            ..ask(&["influencer_visitors"])
        },
    )
    .await;
    assert_eq!(half.interval_level, 0.5);
    assert!(widths(&half) < ninety / 2.0, "t(0.75) < t(0.95) / 2");
    app.stop().await;
}

async fn an_overlapping_campaign_is_refused_unless_accepted(app: TestApp) {
    setup(&app).await;
    // Ends 10 February: with its 30-day order tail it reaches into the pre-period.
    create_campaign(&app, "winter", day(2026, 2, 1), day(2026, 2, 10)).await;
    let refused = lift(&app, ask(&[])).await;
    assert_eq!(refused.kpis.len(), 9, "the default list");
    assert_eq!(
        refused
            .kpis
            .iter()
            .map(|k| k.kpi.as_str())
            .collect::<Vec<_>>(),
        [
            "web_visitors",
            "web_new_visitors",
            "social_visitors",
            "all_orders",
            "all_revenue",
            "code_buyers",
            "follower_growth",
            "attributed_orders",
            "attributed_revenue"
        ]
    );
    assert_eq!(refused.overlapping_campaigns, ["campaigns/winter"]);
    for k in &refused.kpis {
        assert_eq!(
            k.refusal,
            proto::LiftRefusal::OverlappingCampaign as i32,
            "{}",
            k.kpi
        );
        assert!(k.reason.contains("`winter`"), "{}", k.reason);
        assert!(k.total.is_none());
    }
    let accepted = lift(
        &app,
        proto::GetCampaignLiftRequest {
            accept_overlap: true,
            ..ask(&["social_visitors"])
        },
    )
    .await;
    assert_eq!(accepted.overlapping_campaigns, ["campaigns/winter"]);
    assert!(close(accepted.kpis[0].total.as_ref().unwrap().lift, 420.0));
    app.stop().await;
}

async fn bad_requests_name_every_field(app: TestApp) {
    setup(&app).await;
    let fields = bad_fields(
        app.campaigns()
            .get_campaign_lift(app.req(proto::GetCampaignLiftRequest {
                name: "spring".into(),
                kpis: vec!["roas".into(), "nope".into(), "views".into(), "views".into()],
                interval_level: Some(1.0),
                pre_period_days: Some(20),
                accept_overlap: false,
                include_pre_period: false,
            }))
            .await,
    );
    assert_eq!(
        fields,
        [
            "name",
            "kpis[0]",
            "kpis[1]",
            "kpis[3]",
            "interval_level",
            "pre_period_days"
        ]
    );
    let too_many = proto::GetCampaignLiftRequest {
        kpis: vec!["views".into(); 17],
        ..ask(&[])
    };
    assert_eq!(
        bad_fields(app.campaigns().get_campaign_lift(app.req(too_many)).await),
        ["kpis"]
    );
    expect_code(
        app.campaigns()
            .get_campaign_lift(app.req(proto::GetCampaignLiftRequest {
                name: "campaigns/nope".into(),
                ..Default::default()
            }))
            .await,
        Code::NotFound,
    );
    app.stop().await;
}

async fn the_pre_period_comes_back_for_charts_with_each_days_finality(app: TestApp) {
    setup(&app).await;
    let without = lift(&app, ask(&["social_visitors", "attributed_revenue"])).await;
    assert!(without.kpis.iter().all(|k| k.pre_period_days.is_empty()));
    let answer = lift(
        &app,
        proto::GetCampaignLiftRequest {
            include_pre_period: true,
            ..ask(&["social_visitors", "attributed_revenue", "code_buyers"])
        },
    )
    .await;
    let social = &answer.kpis[0];
    assert_eq!(social.unit, "sessions");
    assert_eq!(social.pre_period_days.len(), 56);
    assert_eq!(social.pre_period_days[0].date, date(day(2026, 1, 5)));
    assert_eq!(social.pre_period_days[55].date, date(day(2026, 3, 1)));
    // The exact series lies on its fitted baseline: no residual, no spread.
    for (i, d) in social.pre_period_days.iter().enumerate() {
        let e = d.estimate.as_ref().unwrap();
        assert!(
            close(e.baseline, baseline(i as i64)) && close(e.lift, 0.0),
            "{e:?}"
        );
        assert!(d.r#final);
    }
    // Newest day 20 March, 3 trailing days: days up to the 17th are final.
    let revenue = &answer.kpis[1];
    assert_eq!(revenue.unit, "money");
    let finals: Vec<bool> = revenue.days.iter().map(|d| d.r#final).collect();
    assert_eq!(finals.len(), 19);
    assert!(finals[..16].iter().all(|f| *f) && finals[16..].iter().all(|f| !f));
    // A refused KPI has no days at all.
    assert!(answer.kpis[2].pre_period_days.is_empty() && answer.kpis[2].days.is_empty());
    app.stop().await;
}

async fn the_tenants_pre_period_setting_applies_when_the_request_sets_none(app: TestApp) {
    setup(&app).await;
    let mut settings = app.store.get_tenant("acme").await.unwrap().settings;
    assert_eq!(settings.lift_pre_period_days, 56, "the default");
    settings.lift_pre_period_days = 28;
    app.store
        .update_tenant_settings("acme", &settings)
        .await
        .unwrap();
    let answer = lift(&app, ask(&["social_visitors"])).await;
    assert_eq!(answer.pre_period_start_date, date(day(2026, 2, 2)));
    // 28 days of an exact series still measure the planted lift.
    assert!(close(answer.kpis[0].total.as_ref().unwrap().lift, 420.0));
    // The request's own value wins.
    let asked = lift(
        &app,
        proto::GetCampaignLiftRequest {
            pre_period_days: Some(56),
            ..ask(&["social_visitors"])
        },
    )
    .await;
    assert_eq!(asked.pre_period_start_date, date(day(2026, 1, 5)));
    app.stop().await;
}

/// Orders and web traffic on every day from the pre-period's first day to NEWEST: 10
/// orders a day plus a weekday pattern, each of 12.50 EUR, and 2 more a day from the
/// start on (the window with its order tail); 200 users a day plus 3 a day of trend and
/// the pattern (a third of them new), and 20 more a day in the campaign. seed() credits
/// one order a day from the start on to the campaign.
async fn seed_observations(app: &TestApp) {
    use tally::domain::observation::{Order, WebTraffic};
    const ORDERS: [i64; 7] = [0, 2, 4, 1, 0, 6, 3];
    let first = day(2026, 1, 5);
    let (start, end) = (day(START.0, START.1, START.2), day(END.0, END.1, END.2));
    let newest = day(NEWEST.0, NEWEST.1, NEWEST.2);
    let (mut orders, mut web) = (Vec::new(), Vec::new());
    let mut d = first;
    while d <= newest {
        let i = (d - first).num_days();
        let count = 10 + ORDERS[(i % 7) as usize] + if d >= start { 2 } else { 0 };
        for n in 0..count {
            orders.push(Order {
                order_id: format!("o-{d}-{n}"),
                customer_key: Some(format!("c{n}")),
                placed_at: d.and_hms_opt(12, 0, 0).unwrap().and_utc(),
                day: d,
                revenue_minor: 1250,
                cost_minor: 0,
                discount_minor: 0,
                currency: "EUR".into(),
                codes: vec![],
                utm_source: String::new(),
                utm_medium: String::new(),
                utm_campaign: String::new(),
            });
        }
        let in_campaign = d >= start && d <= end;
        let users = 200 + 3 * i + 2 * ORDERS[(i % 7) as usize] + if in_campaign { 20 } else { 0 };
        // Two rows a day: twice the users from search, all of them new, and once from a
        // newsletter, none new.
        for (source, share, new) in [("google", 2, 1), ("newsletter", 1, 0)] {
            web.push(WebTraffic {
                day: d,
                source: source.into(),
                medium: "referral".into(),
                campaign: String::new(),
                channel_group: "Referral".into(),
                age_bracket: None,
                age: None,
                country: None,
                is_customer: None,
                sessions: users * share,
                users: users * share,
                new_users: users * new,
            });
        }
        d = d + Days::new(1);
    }
    app.store.upsert_orders("acme", &orders).await.unwrap();
    app.store.upsert_web_traffic("acme", &web).await.unwrap();
}

async fn lift_only_series_are_read_from_the_observations(app: TestApp) {
    setup(&app).await;
    seed_observations(&app).await;
    let answer = lift(
        &app,
        ask(&[
            "all_orders",
            "all_revenue",
            "web_visitors",
            "web_new_visitors",
        ]),
    )
    .await;
    let [orders, revenue, visitors, new_visitors] = &answer.kpis[..] else {
        panic!("{:?}", answer.kpis)
    };
    for k in &answer.kpis {
        assert_eq!(
            k.refusal,
            proto::LiftRefusal::Unspecified as i32,
            "{}: {}",
            k.kpi,
            k.reason
        );
    }
    // Orders run on into the order tail, clipped at the newest day: 19 days of 2 more.
    assert_eq!((orders.unit.as_str(), orders.total_days), ("orders", 19));
    let total = orders.total.as_ref().unwrap();
    assert!(
        close(total.lift, 38.0) && close(total.lift_upper, 38.0),
        "{total:?}"
    );
    // Credited one a day at campaign scope (attributed_orders): the halo is the rest.
    assert!(close(orders.attributed.unwrap(), 19.0));
    assert!(close(orders.halo.unwrap(), 19.0));
    // Revenue in major units: 38 orders of 12.50; fees 1,000.
    assert_eq!(revenue.unit, "money");
    let total = revenue.total.as_ref().unwrap();
    assert!(close(total.lift, 475.0), "{total:?}");
    assert!(close(revenue.incremental_roas.unwrap(), 0.475));
    // Web visitors: 3 × 20 users a day over the 14 campaign days, 20 of them new.
    assert_eq!((visitors.unit.as_str(), visitors.total_days), ("users", 14));
    assert!(close(visitors.total.as_ref().unwrap().lift, 840.0));
    assert!(close(new_visitors.total.as_ref().unwrap().lift, 280.0));
    app.stop().await;
}

crate::on_both_databases!(
    the_pre_period_comes_back_for_charts_with_each_days_finality,
    the_tenants_pre_period_setting_applies_when_the_request_sets_none,
    lift_only_series_are_read_from_the_observations,
    an_exact_series_gives_its_planted_lift_halo_and_return,
    an_overlapping_campaign_is_refused_unless_accepted,
    bad_requests_name_every_field,
);
