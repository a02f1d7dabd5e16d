//! Custom KPIs and pushed metrics against the rest of the tenant's KPIs (KPIS.md: custom
//! KPIs and pushed metrics, scopes, recomputation): one name space without collisions,
//! finality and nightly recomputation through cohort inputs, and names that do not apply.
use crate::helpers::{TestApp, bad_fields, create_channel, create_custom_kpi};
use chrono::{Datelike, Days, NaiveDate, Utc};
use std::time::Duration;
use tally::proto::job_service_client::JobServiceClient;
use tally::proto::*;

fn date(day: NaiveDate) -> Option<google::r#type::Date> {
    Some(google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

/// Yesterday in the test tenant's zone (UTC): the newest day a night computes.
fn yesterday() -> NaiveDate {
    Utc::now().date_naive() - Days::new(1)
}

fn at(day: NaiveDate, hour: u32) -> Option<prost_types::Timestamp> {
    let t = day.and_hms_opt(hour, 0, 0).unwrap().and_utc();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// Influencer `anna` (code ANNA10) with channel `anna-ig`.
async fn world(app: &TestApp) {
    app.influencers()
        .create_influencer(app.req(CreateInfluencerRequest {
            influencer_id: "anna".into(),
            influencer: Some(Influencer {
                display_name: "Anna".into(),
                discount_codes: vec!["ANNA10".into()],
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
    create_channel(app, "anna-ig", Platform::Instagram, "influencers/anna").await;
}

async fn push(app: &TestApp, key: &str, scope: &str, day: NaiveDate, value: f64) -> IngestResponse {
    app.ingest()
        .ingest_metric_points(app.req(IngestMetricPointsRequest {
            rows: vec![MetricPoint {
                metric_key: key.into(),
                scope: scope.into(),
                day: date(day),
                value,
            }],
            all_or_nothing: false,
        }))
        .await
        .unwrap()
        .into_inner()
}

async fn orders(app: &TestApp, rows: Vec<(&str, &str, NaiveDate, &[&str])>) {
    let rows = rows
        .into_iter()
        .map(|(id, customer, day, codes)| Order {
            order_id: id.into(),
            customer_id: customer.into(),
            placed_at: at(day, 10),
            currency_code: "EUR".into(),
            revenue_minor: 1_000,
            discount_codes: codes.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        })
        .collect();
    app.ingest_all(rows).await;
}

async fn compute(app: &TestApp, first: NaiveDate, last: NaiveDate) -> ComputeKpisResponse {
    app.kpis()
        .compute_kpis(app.req(ComputeKpisRequest {
            first_day: date(first),
            last_day: date(last),
        }))
        .await
        .unwrap_or_else(|e| panic!("ComputeKpis {first}..{last}: {e:?}"))
        .into_inner()
}

/// Runs the nightly job over `[first, last]` (forced) and waits for it to succeed.
async fn night(app: &TestApp, first: NaiveDate, last: NaiveDate) -> JobRun {
    let mut jobs = JobServiceClient::new(app.channel.clone());
    let run = jobs
        .run_job(app.req(RunJobRequest {
            name: "jobs/nightly".into(),
            first_day: date(first),
            last_day: date(last),
            force: true,
        }))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..600 {
        let got = jobs
            .get_job_run(app.req(GetJobRunRequest {
                name: run.name.clone(),
            }))
            .await
            .unwrap()
            .into_inner();
        if got.status != RunStatus::Running as i32 {
            assert_eq!(got.status, RunStatus::Succeeded as i32, "{got:?}");
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {} did not end within a minute", run.name);
}

fn kpi_scope(kpi: &str, scope: &str) -> Option<KpiScope> {
    Some(KpiScope {
        kpi: kpi.into(),
        scope: scope.into(),
        segment: String::new(),
    })
}

async fn query(
    app: &TestApp,
    kpi: &str,
    scope: &str,
    first: NaiveDate,
    last: NaiveDate,
    granularity: Granularity,
) -> Result<Vec<KpiValue>, tonic::Status> {
    app.kpis()
        .query_snapshots(app.req(QuerySnapshotsRequest {
            kpi_scope: kpi_scope(kpi, scope),
            first_day: date(first),
            last_day: date(last),
            granularity: granularity as i32,
        }))
        .await
        .map(|r| r.into_inner().values)
}

/// The stored DAY value of a KPI: (value, reason, final, run id).
async fn day_value(
    app: &TestApp,
    kpi: &str,
    scope: &str,
    day: NaiveDate,
) -> (Option<f64>, String, bool, String) {
    let mut values = query(app, kpi, scope, day, day, Granularity::Day)
        .await
        .unwrap_or_else(|e| panic!("{kpi} on {scope}: {e:?}"));
    assert_eq!(values.len(), 1, "{values:?}");
    let v = values.remove(0);
    (v.value, v.undefined_reason, v.r#final, v.run_id)
}

/// Issue 20 item 8: a pushed metric key equal to a custom KPI id, in either order, made
/// every later ComputeKpis and nightly run fail with ALREADY_EXISTS on the snapshot key.
async fn a_metric_key_and_a_custom_kpi_id_never_share_a_snapshot_key(app: TestApp) {
    world(&app).await;
    let y = yesterday();
    // A collision stored before the API refused it (or by two calls racing) must not
    // wedge the tenant: the custom KPI owns the id, the colliding points are left out.
    app.store
        .create_custom_kpi(
            "acme",
            "clash",
            &tally::kpi::custom::CustomKpi {
                display_name: "Clash".into(),
                description: String::new(),
                unit: "ratio".into(),
                formula: "fees + 3".into(),
                version: 1,
            },
        )
        .await
        .unwrap();
    app.store
        .upsert_metric_points(
            "acme",
            &[tally::domain::observation::MetricPoint {
                key: "clash".into(),
                scope: tally::domain::goal::Scope::Tenant,
                day: y,
                value: 5.0,
            }],
        )
        .await
        .unwrap();
    compute(&app, y - Days::new(1), y).await;
    night(&app, y, y).await;
    assert_eq!(day_value(&app, "clash", "tenant", y).await.0, Some(3.0));

    // Metric first, then a custom KPI of that id: refused, naming the id.
    let pushed = push(&app, "brand_searches", "tenant", y, 7.0).await;
    assert_eq!(pushed.rejected_count, 0, "{:?}", pushed.rejected);
    let refused = create_custom_kpi(&app, "brand_searches", "likes * 2").await;
    assert_eq!(bad_fields(refused), ["kpi_definition_id"]);
    // Custom KPI first, then a metric of that id: the row is refused, naming its key.
    create_custom_kpi(&app, "reach_score", "likes * 2")
        .await
        .unwrap();
    let pushed = push(&app, "reach_score", "tenant", y, 9.0).await;
    assert_eq!(
        (pushed.accepted_count, pushed.rejected_count),
        (0, 1),
        "{pushed:?}"
    );
    assert_eq!(pushed.rejected[0].field, "rows[0].metric_key");

    // Every later run succeeds and each id keeps its own value.
    let run = compute(&app, y - Days::new(1), y).await;
    assert_eq!(run.days, 2);
    night(&app, y, y).await;
    assert_eq!(
        day_value(&app, "brand_searches", "tenant", y).await.0,
        Some(7.0)
    );
    let reach = day_value(&app, "reach_score", "influencers/anna", y).await;
    assert_eq!((reach.0, reach.1.as_str()), (None, "no_data"), "{reach:?}");
    assert_eq!(day_value(&app, "clash", "tenant", y).await.0, Some(3.0));
}

/// Issue 20 item 15: a custom KPI over a cohort KPI is final only once its day left the
/// returning-buyer window, like the cohort KPIs themselves, through other custom KPIs too.
async fn custom_kpis_over_cohorts_stay_open_for_the_returning_window(app: TestApp) {
    world(&app).await;
    let y = yesterday();
    let d = y - Days::new(10);
    let old = y - Days::new(95);
    orders(
        &app,
        vec![
            ("o1", "c-1", d, &["ANNA10"]),
            ("o2", "c-2", old, &["ANNA10"]),
        ],
    )
    .await;
    create_custom_kpi(&app, "loyalty", "returning_buyer_rate / 100")
        .await
        .unwrap();
    create_custom_kpi(&app, "loyalty_x2", "loyalty * 2")
        .await
        .unwrap();
    create_custom_kpi(&app, "orders_x2", "attributed_orders * 2")
        .await
        .unwrap();
    for day in [old, d, y] {
        compute(&app, day, day).await;
    }
    // As of y, with 3 trailing days and a 90-day window: d (10 days back) is past the
    // trailing days but inside the window; `old` (95 days back) is past both.
    let final_on = |kpi: &'static str, day: NaiveDate| {
        let app = &app;
        async move { day_value(app, kpi, "influencers/anna", day).await.2 }
    };
    assert!(!final_on("returning_buyer_rate", d).await);
    assert!(!final_on("loyalty", d).await, "loyalty uses a cohort KPI");
    assert!(!final_on("loyalty_x2", d).await, "through loyalty");
    assert!(final_on("orders_x2", d).await, "no cohort input");
    assert!(final_on("loyalty", old).await);
    assert!(final_on("loyalty_x2", old).await);
    // A value computed on the fly, over a period ending on d, follows the same rule.
    let week = query(
        &app,
        "loyalty_x2",
        "influencers/anna",
        d - Days::new(1),
        d,
        Granularity::Range,
    )
    .await
    .unwrap();
    assert!(!week[0].r#final, "{week:?}");
}

/// Issue 20 item 16: a late order that changes a cohort changes the stored DAY snapshots
/// of the custom KPIs over it at the next night, and they are not final yet.
async fn late_orders_recompute_custom_kpis_over_cohorts(app: TestApp) {
    world(&app).await;
    let y = yesterday();
    let d = y - Days::new(10);
    orders(&app, vec![("o1", "c-1", d, &["ANNA10"])]).await;
    create_custom_kpi(&app, "loyalty", "returning_buyer_rate / 100")
        .await
        .unwrap();
    create_custom_kpi(&app, "loyalty_x2", "loyalty * 2")
        .await
        .unwrap();
    compute(&app, d, y).await;
    let before = day_value(&app, "loyalty", "influencers/anna", d).await;
    assert_eq!(before.0, Some(0.0), "{before:?}");
    // c-1 comes back 9 days later, inside the window: the cohort of d now returned.
    orders(&app, vec![("o2", "c-1", y - Days::new(1), &[])]).await;
    night(&app, y, y).await;
    assert_eq!(
        day_value(&app, "returning_buyer_rate", "influencers/anna", d)
            .await
            .0,
        Some(100.0)
    );
    let loyalty = day_value(&app, "loyalty", "influencers/anna", d).await;
    assert_eq!(loyalty.0, Some(1.0), "{loyalty:?}");
    assert!(!loyalty.2, "inside the returning window: {loyalty:?}");
    assert_ne!(loyalty.3, before.3, "rewritten by the night");
    let twice = day_value(&app, "loyalty_x2", "influencers/anna", d).await;
    assert_eq!((twice.0, twice.2), (Some(2.0), false), "{twice:?}");
    let tenant = day_value(&app, "loyalty", "tenant", d).await;
    assert_eq!(tenant.0, Some(1.0), "{tenant:?}");
}

/// Issue 20 item 17: a custom KPI on a scope where one of its inputs does not apply is
/// INVALID_ARGUMENT (KPIS.md: scopes), not an `outside_campaign` value.
async fn custom_kpis_are_refused_where_an_input_does_not_apply(app: TestApp) {
    world(&app).await;
    let y = yesterday();
    create_custom_kpi(&app, "revenue_per_post", "attributed_revenue / posts")
        .await
        .unwrap();
    create_custom_kpi(&app, "double_rpp", "revenue_per_post * 2")
        .await
        .unwrap();
    compute(&app, y, y).await;

    // attributed_revenue is not measured on a channel, so neither is what uses it.
    for kpi in ["revenue_per_post", "double_rpp"] {
        let refused = query(&app, kpi, "channels/anna-ig", y, y, Granularity::Day).await;
        assert_eq!(bad_fields(refused), ["kpi_scope.scope"], "{kpi}");
    }
    let latest = app
        .kpis()
        .batch_get_latest(app.req(BatchGetLatestRequest {
            kpi_scopes: vec![kpi_scope("revenue_per_post", "channels/anna-ig").unwrap()],
        }))
        .await;
    assert_eq!(bad_fields(latest), ["kpi_scopes[0].scope"]);
    // Where every input applies, it is a value.
    let anna = query(
        &app,
        "double_rpp",
        "influencers/anna",
        y,
        y,
        Granularity::Day,
    )
    .await
    .unwrap();
    assert_eq!(anna[0].undefined_reason, "no_data", "{anna:?}");
}

/// Issue 20 item 17: an id that is no KPI, custom KPI or pushed metric key (with points)
/// of the tenant is INVALID_ARGUMENT with the closest known ids, not a `no_data` value.
async fn unknown_kpi_ids_are_refused_with_the_closest_ids(app: TestApp) {
    world(&app).await;
    let y = yesterday();
    assert_eq!(
        push(&app, "brand_searches", "tenant", y, 4.0)
            .await
            .rejected_count,
        0
    );
    compute(&app, y, y).await;

    // An id that is no KPI, custom KPI or pushed metric key of the tenant is refused
    // with the closest known ids.
    let refused = query(&app, "brand_serches", "tenant", y, y, Granularity::Day).await;
    let message = refused.as_ref().unwrap_err().message().to_string();
    assert_eq!(bad_fields(refused), ["kpi_scope.kpi"]);
    assert!(message.contains("brand_searches"), "{message}");
    let refused = query(&app, "folowers", "tenant", y, y, Granularity::Day).await;
    let message = refused.as_ref().unwrap_err().message().to_string();
    assert_eq!(bad_fields(refused), ["kpi_scope.kpi"]);
    assert!(message.contains("`followers`"), "{message}");
    let latest = app
        .kpis()
        .batch_get_latest(app.req(BatchGetLatestRequest {
            kpi_scopes: vec![
                kpi_scope("brand_searches", "tenant").unwrap(),
                kpi_scope("never_pushed", "tenant").unwrap(),
            ],
        }))
        .await;
    assert_eq!(bad_fields(latest), ["kpi_scopes[1].kpi"]);
    let watch = app
        .kpis()
        .watch_snapshots(app.req(WatchSnapshotsRequest {
            kpi_scopes: vec![kpi_scope("never_pushed", "tenant").unwrap()],
        }))
        .await;
    assert_eq!(bad_fields(watch), ["kpi_scopes[0].kpi"]);
    // A pushed key is known on every scope, with or without points there.
    let elsewhere = query(
        &app,
        "brand_searches",
        "influencers/anna",
        y,
        y,
        Granularity::Day,
    )
    .await
    .unwrap();
    assert_eq!(elsewhere[0].undefined_reason, "no_data", "{elsewhere:?}");
    let pushed = query(&app, "brand_searches", "tenant", y, y, Granularity::Day)
        .await
        .unwrap();
    assert_eq!(pushed[0].value, Some(4.0), "{pushed:?}");
}

crate::on_both_databases!(
    a_metric_key_and_a_custom_kpi_id_never_share_a_snapshot_key,
    custom_kpis_over_cohorts_stay_open_for_the_returning_window,
    late_orders_recompute_custom_kpis_over_cohorts,
    custom_kpis_are_refused_where_an_input_does_not_apply,
    unknown_kpi_ids_are_refused_with_the_closest_ids,
);
