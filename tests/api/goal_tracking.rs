//! Goal tracking over gRPC: progress, forecast and status on hand-computed data, stored
//! evaluations, status changes on WatchGoals, and achievability warnings.
use crate::helpers::{TestApp, expect_code};
use chrono::{Datelike, Days, NaiveDate, Utc};
use std::time::Duration;
use tally::domain::channel::Platform;
use tally::domain::observation::ChannelDayStats;
use tally::proto;
use tally::proto::job_service_client::JobServiceClient;
use tonic::Code;

fn date(day: NaiveDate) -> Option<tally::proto::google::r#type::Date> {
    Some(tally::proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

/// Yesterday in the test tenant's zone (UTC): the newest complete day.
fn yesterday() -> NaiveDate {
    Utc::now().date_naive() - Days::new(1)
}

/// Influencer `anna` with channels `anna-ig`, `clean-ig` and `anna-tt`; `anna-ig` gains 10
/// followers a day from 100 on y−9 to 190 on y, `clean-ig` loses 10 a day from 500 on
/// y−9 to 410 on y, and `anna-tt` has no data.
async fn seed(app: &TestApp) -> NaiveDate {
    let store = &app.store;
    crate::helpers::influencer_with_channels(
        store,
        "acme",
        "anna",
        "Anna",
        &[
            ("anna-ig", Platform::Instagram),
            ("clean-ig", Platform::Instagram),
            ("anna-tt", Platform::TikTok),
        ],
    )
    .await;
    let y = yesterday();
    let mut rows = Vec::new();
    for i in 0..10u64 {
        let day = y - Days::new(9 - i);
        for (channel, followers) in [
            ("anna-ig", 100 + 10 * i as i64),
            ("clean-ig", 500 - 10 * i as i64),
        ] {
            rows.push(ChannelDayStats {
                channel_id: channel.into(),
                day,
                followers: Some(followers),
                posts: Some(1),
                mentions: None,
                shares: None,
                comments: None,
                likes: None,
                link_clicks: None,
                views: None,
                reach: None,
            });
        }
    }
    store.upsert_channel_stats("acme", &rows).await.unwrap();
    y
}

struct GoalSpec {
    kpi: &'static str,
    scope: &'static str,
    baseline: proto::Baseline,
    target: proto::target::Kind,
    direction: proto::Direction,
    start: NaiveDate,
    deadline: NaiveDate,
}

fn fixed(value: f64) -> proto::Baseline {
    proto::Baseline {
        rule: proto::BaselineRule::Fixed as i32,
        value,
    }
}

async fn create(app: &TestApp, id: &str, g: GoalSpec) -> proto::Goal {
    app.goals()
        .create_goal(app.req(proto::CreateGoalRequest {
            goal_id: id.into(),
            goal: Some(proto::Goal {
                display_name: id.into(),
                objective: proto::Objective::BrandAwareness as i32,
                kpi: g.kpi.into(),
                scope: g.scope.into(),
                baseline: Some(g.baseline),
                target: Some(proto::Target {
                    kind: Some(g.target),
                }),
                direction: g.direction as i32,
                start_date: date(g.start),
                deadline: date(g.deadline),
                owner: "Marketing".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner()
}

async fn progress(app: &TestApp, id: &str) -> proto::GoalEvaluation {
    app.goals()
        .get_goal_progress(app.req(proto::GetGoalProgressRequest {
            name: format!("goals/{id}"),
        }))
        .await
        .unwrap()
        .into_inner()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

async fn progress_forecast_and_status_by_hand(app: TestApp) {
    let y = seed(&app).await;
    let up = |target: f64, deadline: NaiveDate| GoalSpec {
        kpi: "followers",
        scope: "channels/anna-ig",
        baseline: fixed(100.0),
        target: proto::target::Kind::AbsoluteValue(target),
        direction: proto::Direction::Up,
        start: y - Days::new(9),
        deadline,
    };
    // 10 values on the line 100 + 10x (x = days since y−9); the deadline is x = 29.
    create(&app, "grow", up(300.0, y + Days::new(20))).await;
    let e = progress(&app, "grow").await;
    assert_eq!(e.as_of, date(y));
    assert_eq!(e.measured_day, date(y));
    assert!(close(e.current_value, 190.0));
    assert!(close(e.baseline, 100.0));
    assert!(close(e.target, 300.0));
    // (190 − 100) / (300 − 100) = 45%; expected 9/29 of the way.
    assert!(close(e.progress_percent, 45.0), "{e:?}");
    assert!((e.expected_progress_percent - 900.0 / 29.0).abs() < 1e-9);
    assert!(close(e.forecast, 390.0), "{e:?}");
    assert_eq!(e.forecast_values, 10);
    // Every step is +10: no spread, so the interval is the point and 300 is sure.
    assert!(
        close(e.forecast_lower, 390.0) && close(e.forecast_upper, 390.0),
        "{e:?}"
    );
    assert_eq!(e.target_probability, Some(1.0));
    assert_eq!(e.status, proto::GoalStatus::OnTrack as i32, "{}", e.reason);
    assert!(
        e.reason.contains("390") && e.reason.contains("300"),
        "{}",
        e.reason
    );

    // The same trend falls short of 600.
    create(&app, "too-far", up(600.0, y + Days::new(20))).await;
    let e = progress(&app, "too-far").await;
    assert_eq!(e.status, proto::GoalStatus::AtRisk as i32, "{}", e.reason);
    assert_eq!(e.target_probability, Some(0.0));

    // Achieved early: 190 already reaches 150, weeks before the deadline.
    create(&app, "early", up(150.0, y + Days::new(20))).await;
    let e = progress(&app, "early").await;
    assert_eq!(e.status, proto::GoalStatus::Achieved as i32);
    assert!(close(e.progress_percent, 180.0));

    // Missed: the deadline y−2 passed at 170, short of 300; measured on the deadline.
    create(&app, "late", up(300.0, y - Days::new(2))).await;
    let e = progress(&app, "late").await;
    assert_eq!(e.status, proto::GoalStatus::Missed as i32, "{}", e.reason);
    assert_eq!(e.measured_day, date(y - Days::new(2)));
    assert!(close(e.current_value, 170.0));
    assert!(close(e.progress_percent, 35.0));
    assert!((e.expected_progress_percent - 100.0).abs() < 1e-9);

    // No data: nothing was ever measured on anna-tt.
    let mut none = up(300.0, y + Days::new(20));
    none.scope = "channels/anna-tt";
    create(&app, "silent", none).await;
    let e = progress(&app, "silent").await;
    assert_eq!(e.status, proto::GoalStatus::NoData as i32);
    assert_eq!(e.current_value, None);
    assert_eq!(e.progress_percent, None);

    // Decreasing, relative to the level before the start: from 500 (y−9) down 20% to 400
    // by y+21. Now 410: 90% of the way; the line 490 − 10x (x from y−8) gives 200 at
    // x = 29, below 400.
    create(
        &app,
        "cleanup",
        GoalSpec {
            kpi: "followers",
            scope: "channels/clean-ig",
            baseline: proto::Baseline {
                rule: proto::BaselineRule::KpiBeforeStart as i32,
                value: 0.0,
            },
            target: proto::target::Kind::RelativeChangePercent(-20.0),
            direction: proto::Direction::Down,
            start: y - Days::new(8),
            deadline: y + Days::new(21),
        },
    )
    .await;
    let e = progress(&app, "cleanup").await;
    assert!(close(e.baseline, 500.0));
    assert!(close(e.target, 400.0));
    assert!(close(e.current_value, 410.0));
    assert!(close(e.progress_percent, 90.0));
    assert!(close(e.forecast, 200.0), "{e:?}");
    assert_eq!(e.forecast_values, 9);
    assert_eq!(e.status, proto::GoalStatus::OnTrack as i32, "{}", e.reason);

    expect_code(
        app.goals()
            .get_goal_progress(app.req(proto::GetGoalProgressRequest {
                name: "goals/nope".into(),
            }))
            .await,
        Code::NotFound,
    );
    app.stop().await;
}

async fn run_days(app: &TestApp, first: NaiveDate, last: NaiveDate) {
    let mut jobs = JobServiceClient::new(app.channel.clone());
    let run = jobs
        .run_job(app.req(proto::RunJobRequest {
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
            .get_job_run(app.req(proto::GetJobRunRequest {
                name: run.name.clone(),
            }))
            .await
            .unwrap()
            .into_inner();
        if got.status != proto::RunStatus::Running as i32 {
            assert_eq!(got.status, proto::RunStatus::Succeeded as i32, "{got:?}");
            let last_day = got.days.last().unwrap();
            assert!(
                last_day.steps.iter().any(|s| s.name == "evaluate"),
                "{last_day:?}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run did not end");
}

async fn evaluations_are_stored_and_status_changes_are_pushed(app: TestApp) {
    let y = seed(&app).await;
    // A custom KPI over followers, changed between two nights.
    let mut kpis = app.kpis();
    kpis.create_kpi_definition(app.req(proto::CreateKpiDefinitionRequest {
        kpi_definition_id: "weighted_followers".into(),
        kpi_definition: Some(proto::KpiDefinition {
            display_name: "Weighted followers".into(),
            unit: "count".into(),
            formula: "followers * 2".into(),
            ..Default::default()
        }),
    }))
    .await
    .unwrap();
    create(
        &app,
        "weighted",
        GoalSpec {
            kpi: "weighted_followers",
            scope: "channels/anna-ig",
            baseline: fixed(200.0),
            target: proto::target::Kind::AbsoluteValue(1000.0),
            direction: proto::Direction::Up,
            start: y - Days::new(9),
            deadline: y + Days::new(20),
        },
    )
    .await;
    let mut watch = app
        .goals()
        .watch_goals(app.req(proto::WatchGoalsRequest {
            goals: vec!["goals/weighted".into()],
        }))
        .await
        .unwrap()
        .into_inner();

    // As of y−1 with version 1: 2 × followers, 200 … 360 over 9 days, slope 20: the line
    // reaches 200 + 20 × 29 = 780 by the deadline, short of 1000.
    run_days(&app, y - Days::new(1), y - Days::new(1)).await;
    let first = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("a status change")
        .unwrap()
        .unwrap();
    assert_eq!(first.goal, "goals/weighted");
    assert_eq!(
        first.status,
        proto::GoalStatus::AtRisk as i32,
        "{}",
        first.reason
    );
    assert_eq!(first.previous_status, proto::GoalStatus::Unspecified as i32);
    assert!(close(first.forecast, 780.0), "{first:?}");
    assert_eq!(first.definition_version, 1);

    // The definition changes mid-way: 3 × followers from now on (version 2). As of y:
    // 300 … 570 over 10 days, slope 30: 300 + 30 × 29 = 1170, on track.
    kpis.update_kpi_definition(app.req(proto::UpdateKpiDefinitionRequest {
        kpi_definition: Some(proto::KpiDefinition {
            name: "kpiDefinitions/weighted_followers".into(),
            formula: "followers * 3".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["formula".into()],
        }),
    }))
    .await
    .unwrap();
    let def = kpis
        .get_kpi_definition(app.req(proto::GetKpiDefinitionRequest {
            name: "kpiDefinitions/weighted_followers".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((def.formula.as_str(), def.version), ("followers * 3", 2));
    let stranger = app.other_tenant("stranger").await;
    expect_code(
        kpis.get_kpi_definition(crate::helpers::with_key(
            proto::GetKpiDefinitionRequest {
                name: "kpiDefinitions/weighted_followers".into(),
            },
            &stranger,
        ))
        .await,
        Code::NotFound,
    );
    run_days(&app, y, y).await;
    let second = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("a status change")
        .unwrap()
        .unwrap();
    assert_eq!(
        second.status,
        proto::GoalStatus::OnTrack as i32,
        "{}",
        second.reason
    );
    assert_eq!(second.previous_status, proto::GoalStatus::AtRisk as i32);
    assert!(close(second.current_value, 570.0));
    assert!(close(second.forecast, 1170.0), "{second:?}");
    assert_eq!(second.definition_version, 2);

    // The history, newest first, one page at a time.
    let mut goals = app.goals();
    let page = goals
        .list_goal_evaluations(app.req(proto::ListGoalEvaluationsRequest {
            parent: "goals/weighted".into(),
            page_size: 1,
            page_token: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.evaluations.len(), 1);
    assert_eq!(page.evaluations[0].as_of, date(y));
    assert_eq!(page.evaluations[0].definition_version, 2);
    let rest = goals
        .list_goal_evaluations(app.req(proto::ListGoalEvaluationsRequest {
            parent: "goals/weighted".into(),
            page_size: 1,
            page_token: page.next_page_token,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.evaluations[0].as_of, date(y - Days::new(1)));
    assert_eq!(rest.evaluations[0].definition_version, 1);
    assert_eq!(rest.evaluations[0].status, proto::GoalStatus::AtRisk as i32);
    assert!(rest.next_page_token.is_empty());
    expect_code(
        goals
            .list_goal_evaluations(app.req(proto::ListGoalEvaluationsRequest {
                parent: "goals/unknown".into(),
                ..Default::default()
            }))
            .await,
        Code::NotFound,
    );
    app.stop().await;
}

async fn a_target_far_beyond_the_growth_seen_gets_a_warning(app: TestApp) {
    let y = seed(&app).await;
    // Daily snapshots of y−9 … y: anna-ig grew 90 followers in 9 days.
    run_days(&app, y - Days::new(9), y).await;
    let goal = |target: f64| GoalSpec {
        kpi: "followers",
        scope: "channels/anna-ig",
        baseline: fixed(190.0),
        target: proto::target::Kind::AbsoluteValue(target),
        direction: proto::Direction::Up,
        start: y,
        deadline: y + Days::new(30),
    };
    // +9,810 in 30 days against a best of +90: about 109 times.
    let bold = create(&app, "bold", goal(10_000.0)).await;
    assert_eq!(bold.warnings.len(), 1, "{bold:?}");
    assert!(
        bold.warnings[0].contains("9810.00") && bold.warnings[0].contains("109.0 times"),
        "{}",
        bold.warnings[0]
    );
    // +210 against +90: 2.3 times, under the factor 3.
    let modest = create(&app, "modest", goal(400.0)).await;
    assert!(modest.warnings.is_empty(), "{modest:?}");
    // Reading the goal back carries no warning; the warning belongs to the change.
    let read = app
        .goals()
        .get_goal(app.req(proto::GetGoalRequest {
            name: "goals/bold".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(read.warnings.is_empty());
    app.stop().await;
}

async fn a_goal_on_a_segment_counts_only_its_visitors(app: TestApp) {
    use tally::domain::observation::WebTraffic;
    use tally::domain::segment::Segment;
    let y = yesterday();
    let segment = Segment {
        display_name: "Aged 25 to 30".into(),
        rule: "age between 25 and 30".into(),
    };
    app.store
        .create_segment("acme", "young", &segment, None)
        .await
        .unwrap();
    // Each day: 10 users aged 27 (in the segment) and 5 aged 40 (not).
    let mut rows = Vec::new();
    for i in 0..10u64 {
        for (age, users) in [(27, 10), (40, 5)] {
            rows.push(WebTraffic {
                day: y - Days::new(9 - i),
                source: "influencer".into(),
                medium: "social".into(),
                campaign: "anna".into(),
                channel_group: "Organic Social".into(),
                age_bracket: None,
                age: Some(age),
                country: None,
                is_customer: None,
                sessions: users,
                users,
                new_users: users,
            });
        }
    }
    app.store.upsert_web_traffic("acme", &rows).await.unwrap();
    app.goals()
        .create_goal(app.req(proto::CreateGoalRequest {
            goal_id: "young-visitors".into(),
            goal: Some(proto::Goal {
                display_name: "Young visitors".into(),
                objective: proto::Objective::NewAudience as i32,
                kpi: "target_audience_visitors".into(),
                scope: "tenant".into(),
                segment: "segments/young".into(),
                baseline: Some(proto::Baseline::default()),
                target: Some(proto::Target {
                    kind: Some(proto::target::Kind::AbsoluteValue(300.0)),
                }),
                direction: proto::Direction::Up as i32,
                start_date: date(y - Days::new(9)),
                deadline: date(y + Days::new(20)),
                owner: "Brand team".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap();
    // Cumulative since the start: 10 a day, 100 after 10 days; a third of 300. The line
    // 10 + 10x reaches 300 at x = 29, the deadline: on track.
    let e = progress(&app, "young-visitors").await;
    assert!(close(e.current_value, 100.0), "{e:?}");
    assert!(close(e.progress_percent, 100.0 / 3.0), "{e:?}");
    assert!(close(e.forecast, 300.0), "{e:?}");
    assert_eq!(e.status, proto::GoalStatus::OnTrack as i32, "{}", e.reason);
    app.stop().await;
}

crate::on_both_databases!(
    a_goal_on_a_segment_counts_only_its_visitors,
    progress_forecast_and_status_by_hand,
    evaluations_are_stored_and_status_changes_are_pushed,
    a_target_far_beyond_the_growth_seen_gets_a_warning,
);
