//! Input built to hurt: huge lists, many bad fields at once, values at and past the
//! bounds, and the sign of zero in what leaves the engine.
use crate::helpers::{TestApp, bad_fields, expect_code};
use tally::proto;
use tonic::Code;
use tonic_types::StatusExt;

fn date(year: i32, month: i32, day: i32) -> Option<tally::proto::google::r#type::Date> {
    Some(tally::proto::google::r#type::Date { year, month, day })
}

/// The BadRequest violations of an INVALID_ARGUMENT status, as (field, description).
fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("INVALID_ARGUMENT carries a BadRequest")
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect()
}

/// 100,000 tags (the limit is 50) are refused by their count alone: one violation naming
/// `influencer.tags`, none per tag, although every tag is bad as well.
async fn a_huge_tag_list_is_refused_by_its_length(app: TestApp) {
    let status = expect_code(
        app.influencers()
            .create_influencer(app.req(proto::CreateInfluencerRequest {
                influencer: Some(proto::Influencer {
                    display_name: "Anna".into(),
                    tags: vec![String::new(); 100_000],
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await,
        Code::InvalidArgument,
    );
    let found = violations(&status);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "influencer.tags");
    assert!(found[0].1.contains("100000"), "{found:?}");
    // Distinct valid tags, the case that was quadratic, get the same single answer.
    let tags: Vec<String> = (0..100_000).map(|i| format!("tag{i}")).collect();
    let fields = bad_fields(
        app.influencers()
            .create_influencer(app.req(proto::CreateInfluencerRequest {
                influencer: Some(proto::Influencer {
                    display_name: "Anna".into(),
                    tags,
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await,
    );
    assert_eq!(fields, ["influencer.tags"]);
    app.stop().await;
}

/// A create with three bad fields, one of them outside the resource (its id), answers all
/// three in one response.
async fn every_bad_field_is_reported_in_one_response(app: TestApp) {
    let mut fields = bad_fields(
        app.influencers()
            .create_influencer(app.req(proto::CreateInfluencerRequest {
                influencer_id: "Not An Id".into(),
                influencer: Some(proto::Influencer {
                    display_name: " ".into(),
                    tags: vec!["ok".into(); 51],
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await,
    );
    fields.sort();
    assert_eq!(
        fields,
        [
            "influencer.display_name",
            "influencer.tags",
            "influencer_id"
        ]
    );

    let mut fields = bad_fields(
        app.channels()
            .create_channel(app.req(proto::CreateChannelRequest {
                channel_id: "Bad Id".into(),
                channel: Some(proto::Channel {
                    display_name: String::new(),
                    platform: 0,
                    owner: "nobody/x".into(),
                    account_id: "a".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await,
    );
    fields.sort();
    assert_eq!(
        fields,
        [
            "channel.display_name",
            "channel.owner",
            "channel.platform",
            "channel_id"
        ]
    );

    let mut fields = bad_fields(
        app.campaigns()
            .create_campaign(app.req(proto::CreateCampaignRequest {
                campaign_id: "Bad Id".into(),
                campaign: Some(proto::Campaign {
                    display_name: "Spring".into(),
                    start_date: date(2026, 2, 30),
                    end_date: date(2026, 3, 31),
                    participants: vec![proto::Participant {
                        influencer: "people/anna".into(),
                        fee: None,
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await,
    );
    fields.sort();
    assert_eq!(
        fields,
        [
            "campaign.participants[0].fee",
            "campaign.participants[0].influencer",
            "campaign.start_date",
            "campaign_id"
        ]
    );

    let mut fields = bad_fields(
        app.segments()
            .create_segment(app.req(proto::CreateSegmentRequest {
                segment_id: "Bad Id".into(),
                request_id: "has spaces".into(),
                segment: Some(proto::Segment {
                    display_name: String::new(),
                    rule: "age >= 18".into(),
                    ..Default::default()
                }),
            }))
            .await,
    );
    fields.sort();
    assert_eq!(fields, ["request_id", "segment.display_name", "segment_id"]);

    let mut fields = bad_fields(
        app.goals()
            .create_goal(app.req(proto::CreateGoalRequest {
                goal_id: "Bad Id".into(),
                goal: Some(proto::Goal {
                    display_name: "Reach".into(),
                    objective: proto::Objective::BrandAwareness as i32,
                    kpi: "views".into(),
                    scope: "tenant".into(),
                    direction: 7,
                    start_date: date(2026, 13, 1),
                    deadline: date(2026, 6, 30),
                    owner: "Marketing".into(),
                    target: Some(proto::Target {
                        kind: Some(proto::target::Kind::AbsoluteValue(1000.0)),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await,
    );
    fields.sort();
    fields.dedup();
    assert_eq!(fields, ["goal.direction", "goal.start_date", "goal_id"]);

    let mut fields = bad_fields(
        app.kpis()
            .create_kpi_definition(app.req(proto::CreateKpiDefinitionRequest {
                kpi_definition_id: "Bad Id".into(),
                kpi_definition: Some(proto::KpiDefinition {
                    display_name: String::new(),
                    unit: "ratio".into(),
                    formula: "views / ".into(),
                    ..Default::default()
                }),
            }))
            .await,
    );
    fields.sort();
    assert_eq!(
        fields,
        [
            "kpi_definition.display_name",
            "kpi_definition.formula",
            "kpi_definition_id"
        ]
    );
    app.stop().await;
}

/// A request with a thousand bad elements (the most a campaign may list), each with two
/// problems, gets 20 violations and one saying how many were left out: a details header
/// of a few KB that the client accepts and decodes.
async fn many_violations_are_capped_in_a_small_details_header(app: TestApp) {
    let participants = (0..1000)
        .map(|i| proto::Participant {
            influencer: format!("influencers/i{i}"),
            fee: Some(proto::Money {
                currency_code: "USD".into(),
                minor_units: -1,
            }),
        })
        .collect();
    let status = expect_code(
        app.campaigns()
            .create_campaign(app.req(proto::CreateCampaignRequest {
                campaign: Some(proto::Campaign {
                    display_name: "Spring".into(),
                    start_date: date(2026, 3, 1),
                    end_date: date(2026, 3, 31),
                    participants,
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await,
        Code::InvalidArgument,
    );
    let found = violations(&status);
    assert_eq!(found.len(), 21, "{found:?}");
    assert_eq!(found[0].0, "campaign.participants[0].fee.currency_code");
    let (field, description) = &found[20];
    assert_eq!(field, "campaign.participants");
    assert!(
        description.contains("1980 more"),
        "the last violation counts the rest: {description}"
    );
    assert!(
        status.details().len() < 4096,
        "grpc-status-details-bin holds {} bytes",
        status.details().len()
    );
    assert!(status.message().len() < 4096, "{}", status.message().len());
    app.stop().await;
}

fn metric(day: i32, value: f64) -> proto::MetricPoint {
    proto::MetricPoint {
        metric_key: "brand_searches".into(),
        scope: "tenant".into(),
        day: date(2026, 3, day),
        value,
    }
}

/// Goal `searches`: brand searches up to 1e15, the bound of a measured value, in March 2026.
async fn create_searches_goal(app: &TestApp) {
    app.goals()
        .create_goal(app.req(proto::CreateGoalRequest {
            goal_id: "searches".into(),
            goal: Some(proto::Goal {
                display_name: "Searches".into(),
                objective: proto::Objective::BrandAwareness as i32,
                kpi: "brand_searches".into(),
                scope: "tenant".into(),
                target: Some(proto::Target {
                    kind: Some(proto::target::Kind::AbsoluteValue(1e15)),
                }),
                direction: proto::Direction::Up as i32,
                start_date: date(2026, 3, 1),
                deadline: date(2026, 3, 31),
                owner: "Brand".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
}

/// 1.7e308 is finite but no plausible metric: refused at ingest, naming the field. Values
/// at the bound (1e15) are accepted and sum over a week, a range and in a goal.
async fn metric_values_are_bounded_and_their_sums_are_safe(app: TestApp) {
    let response = app
        .ingest()
        .ingest_metric_points(app.req(proto::IngestMetricPointsRequest {
            rows: vec![
                metric(1, 1.7e308),
                metric(2, -1.7e308),
                metric(3, 1e15 + 1.0),
            ],
            all_or_nothing: false,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.accepted_count, 0, "{response:?}");
    let fields: Vec<&str> = response.rejected.iter().map(|r| r.field.as_str()).collect();
    assert_eq!(fields, ["rows[0].value", "rows[1].value", "rows[2].value"]);

    let rows = (1..=14).map(|d| metric(d, 1e15)).collect();
    let response = app
        .ingest()
        .ingest_metric_points(app.req(proto::IngestMetricPointsRequest {
            rows,
            all_or_nothing: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.accepted_count, 14, "{response:?}");
    for granularity in [proto::Granularity::Week, proto::Granularity::Range] {
        let values = app
            .kpis()
            .query_snapshots(app.req(proto::QuerySnapshotsRequest {
                kpi_scope: Some(proto::KpiScope {
                    kpi: "brand_searches".into(),
                    scope: "tenant".into(),
                    segment: String::new(),
                }),
                first_day: date(2026, 3, 1),
                last_day: date(2026, 3, 14),
                granularity: granularity as i32,
            }))
            .await
            .unwrap_or_else(|e| panic!("{granularity:?}: {e:?}"))
            .into_inner()
            .values;
        let total: f64 = values.iter().filter_map(|v| v.value).sum();
        assert_eq!(total, 14e15, "{granularity:?}: {values:?}");
    }
    create_searches_goal(&app).await;
    app.kpis()
        .compute_kpis(app.req(proto::ComputeKpisRequest {
            first_day: date(2026, 3, 1),
            last_day: date(2026, 3, 14),
        }))
        .await
        .unwrap();
    let progress = app
        .goals()
        .get_goal_progress(app.req(proto::GetGoalProgressRequest {
            name: "goals/searches".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        progress.current_value.is_some_and(f64::is_finite),
        "{progress:?}"
    );

    // A formula can still leave the range of a double (1e15^21); it says so, and does
    // not blame a denominator that is not zero.
    let formula = vec!["brand_searches"; 21].join(" * ");
    app.kpis()
        .create_kpi_definition(app.req(proto::CreateKpiDefinitionRequest {
            kpi_definition_id: "searches_power".into(),
            kpi_definition: Some(proto::KpiDefinition {
                display_name: "Searches to the 21st".into(),
                unit: "ratio".into(),
                formula,
                ..Default::default()
            }),
        }))
        .await
        .unwrap();
    let values = app
        .kpis()
        .query_snapshots(app.req(proto::QuerySnapshotsRequest {
            kpi_scope: Some(proto::KpiScope {
                kpi: "searches_power".into(),
                scope: "tenant".into(),
                segment: String::new(),
            }),
            first_day: date(2026, 3, 1),
            last_day: date(2026, 3, 1),
            granularity: proto::Granularity::Range as i32,
        }))
        .await
        .unwrap()
        .into_inner()
        .values;
    assert_eq!(values.len(), 1);
    assert_eq!(values[0].value, None, "{values:?}");
    assert_eq!(values[0].undefined_reason, "overflow");
    app.stop().await;
}

/// Points stored before the bound (1.7e308 was accepted) make sums beyond a double: the
/// week and range values are `overflow`, never INTERNAL, and a goal on them is evaluated.
async fn sums_of_values_stored_before_the_bound_overflow_honestly(app: TestApp) {
    use tally::domain::goal::Scope;
    use tally::domain::observation::MetricPoint;
    let points: Vec<MetricPoint> = (1..=3)
        .map(|d| MetricPoint {
            key: "brand_searches".into(),
            scope: Scope::Tenant,
            day: chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap(),
            value: 1.7e308,
        })
        .collect();
    app.store
        .upsert_metric_points("acme", &points)
        .await
        .unwrap();
    for granularity in [proto::Granularity::Week, proto::Granularity::Range] {
        let values = app
            .kpis()
            .query_snapshots(app.req(proto::QuerySnapshotsRequest {
                kpi_scope: Some(proto::KpiScope {
                    kpi: "brand_searches".into(),
                    scope: "tenant".into(),
                    segment: String::new(),
                }),
                first_day: date(2026, 3, 1),
                last_day: date(2026, 3, 7),
                granularity: granularity as i32,
            }))
            .await
            .unwrap_or_else(|e| panic!("{granularity:?}: {e:?}"))
            .into_inner()
            .values;
        assert!(
            values.iter().any(|v| v.undefined_reason == "overflow"),
            "{granularity:?}: {values:?}"
        );
        assert!(
            values.iter().all(|v| v.value.is_none_or(f64::is_finite)),
            "{values:?}"
        );
    }
    create_searches_goal(&app).await;
    app.kpis()
        .compute_kpis(app.req(proto::ComputeKpisRequest {
            first_day: date(2026, 3, 1),
            last_day: date(2026, 3, 7),
        }))
        .await
        .unwrap();
    app.goals()
        .get_goal_progress(app.req(proto::GetGoalProgressRequest {
            name: "goals/searches".into(),
        }))
        .await
        .unwrap();
    app.stop().await;
}

/// Counts at their bound (1e15) in more rows than a 64-bit integer sum holds: the week
/// and range sums are values, never INTERNAL.
async fn count_sums_past_the_integer_range_are_values(app: TestApp) {
    // 10,000 rows of one day that differ only by country: one group for the sum.
    let rows = (0..10_000)
        .map(|i| proto::WebTrafficRow {
            day: date(2026, 3, 2),
            source: "instagram".into(),
            medium: "social".into(),
            default_channel_group: "Organic Social".into(),
            country: format!("c{i}"),
            sessions: 1_000_000_000_000_000,
            users: 1_000_000_000_000_000,
            new_users: 0,
            ..Default::default()
        })
        .collect();
    let response = app
        .ingest()
        .ingest_web_traffic(app.req(proto::IngestWebTrafficRequest {
            rows,
            all_or_nothing: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.accepted_count, 10_000);
    for granularity in [proto::Granularity::Week, proto::Granularity::Range] {
        let values = app
            .kpis()
            .query_snapshots(app.req(proto::QuerySnapshotsRequest {
                kpi_scope: Some(proto::KpiScope {
                    kpi: "social_visitors".into(),
                    scope: "tenant".into(),
                    segment: String::new(),
                }),
                first_day: date(2026, 3, 1),
                last_day: date(2026, 3, 14),
                granularity: granularity as i32,
            }))
            .await
            .unwrap_or_else(|e| panic!("{granularity:?}: {e:?}"))
            .into_inner()
            .values;
        let total: f64 = values.iter().filter_map(|v| v.value).sum();
        assert!(
            (total - 1e19).abs() <= 1e19 * 1e-9,
            "{granularity:?}: {values:?}"
        );
    }
    app.stop().await;
}

/// Without fees, fees is 0 and so are cpm and cost_per_engagement: a positive zero, the
/// sign bit clear, on every way out (query and stored snapshots).
async fn zero_fees_are_positive_zero(app: TestApp) {
    let store = &app.store;
    crate::helpers::influencer_with_channels(
        store,
        "acme",
        "anna",
        "Anna",
        &[("anna-ig", tally::domain::channel::Platform::Instagram)],
    )
    .await;
    app.ingest()
        .ingest_channel_stats(app.req(proto::IngestChannelStatsRequest {
            rows: vec![proto::ChannelDayStats {
                channel: "channels/anna-ig".into(),
                day: date(2026, 3, 2),
                likes: Some(10),
                comments: Some(2),
                shares: Some(1),
                views: Some(1000),
                ..Default::default()
            }],
            all_or_nothing: true,
        }))
        .await
        .unwrap();
    let query = |kpi: &'static str| {
        let app = &app;
        async move {
            app.kpis()
                .query_snapshots(app.req(proto::QuerySnapshotsRequest {
                    kpi_scope: Some(proto::KpiScope {
                        kpi: kpi.into(),
                        scope: "influencers/anna".into(),
                        segment: String::new(),
                    }),
                    first_day: date(2026, 3, 1),
                    last_day: date(2026, 3, 3),
                    granularity: proto::Granularity::Day as i32,
                }))
                .await
                .unwrap()
                .into_inner()
                .values
        }
    };
    for stored in [false, true] {
        if stored {
            app.kpis()
                .compute_kpis(app.req(proto::ComputeKpisRequest {
                    first_day: date(2026, 3, 1),
                    last_day: date(2026, 3, 3),
                }))
                .await
                .unwrap();
        }
        for kpi in ["fees", "cpm", "cost_per_engagement"] {
            let values = query(kpi).await;
            let day2 = &values[1];
            assert_eq!(day2.value, Some(0.0), "{kpi}: {day2:?}");
            for v in &values {
                for x in [v.value, v.numerator, v.denominator].into_iter().flatten() {
                    assert!(
                        !x.is_sign_negative(),
                        "{kpi} (stored: {stored}) has a negative zero: {v:?}"
                    );
                }
            }
        }
    }
    app.stop().await;
}

crate::on_both_databases!(
    a_huge_tag_list_is_refused_by_its_length,
    every_bad_field_is_reported_in_one_response,
    many_violations_are_capped_in_a_small_details_header,
    metric_values_are_bounded_and_their_sums_are_safe,
    count_sums_past_the_integer_range_are_values,
    sums_of_values_stored_before_the_bound_overflow_honestly,
    zero_fees_are_positive_zero,
);
