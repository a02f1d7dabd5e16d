//! The analysts' commands, run as the real `tally` binary against a live server: tables
//! and CSV on hand-known values, goal ordering, charts parsed back from SVG, the report.
use crate::helpers::{TestApp, TestDb};
use chrono::{Datelike, Days, NaiveDate, Utc};
use std::process::Output;
use tally::client::chart::{self, ChartData, Guide, GuideStyle, Mark, Point, Series};
use tally::domain::channel::{Channel, Platform};
use tally::domain::influencer::Influencer;
use tally::domain::observation::ChannelDayStats;
use tally::proto;

fn yesterday() -> NaiveDate {
    Utc::now().date_naive() - Days::new(1)
}

fn date(day: NaiveDate) -> Option<proto::google::r#type::Date> {
    Some(proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

/// Runs `tally ARGS` against the app's server with its key.
async fn tally(app: &TestApp, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .env("TALLY_ADDR", format!("http://{}", app.addr))
        .env("TALLY_API_KEY", &app.key)
        .env("TALLY_LOG", "off")
        .env_remove("TALLY_CURRENCY")
        .env_remove("TALLY_CONFIG")
        .output()
        .await
        .expect("run tally")
}

/// `kpi query KPI --scope SCOPE --from FROM --to TO`; more arguments may follow.
fn kpi_query<'a>(kpi: &'a str, scope: &'a str, from: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![
        "kpi", "query", kpi, "--scope", scope, "--from", from, "--to", to,
    ]
}

/// stdout of a run that must succeed.
#[track_caller]
fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "tally failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

fn stats(channel: &str, day: NaiveDate, followers: i64) -> ChannelDayStats {
    ChannelDayStats {
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
    }
}

/// Influencers `anna` (channels `anna-ig`, `clean-ig`, `anna-tt`) and `<b>x</b>` (id
/// `bold`); `anna-ig` gains 10 followers a day from 100 on y−9 to 190 on y, `clean-ig`
/// loses 10 a day from 500 to 410, `anna-tt` has no data; `big-ig` (anna's too) has
/// 12,345 followers on y−3, 12,400 on y−2, nothing on y−1 and 1,234,567 on y.
async fn seed(app: &TestApp) -> NaiveDate {
    let store = &app.store;
    for (id, name) in [("anna", "Anna"), ("bold", "<b>x</b>")] {
        let influencer = Influencer {
            display_name: name.into(),
            tags: vec!["fashion".into()],
            discount_codes: vec![format!("{}10", id.to_uppercase())],
            tracking_values: vec![],
        };
        store
            .create_influencer("acme", id, &influencer, None)
            .await
            .unwrap();
    }
    for (id, platform) in [
        ("anna-ig", Platform::Instagram),
        ("clean-ig", Platform::Instagram),
        ("anna-tt", Platform::TikTok),
        ("big-ig", Platform::Instagram),
    ] {
        let channel = Channel {
            display_name: id.into(),
            platform,
            owner: Some("anna".into()),
            account_id: id.into(),
            credentials_ref: String::new(),
        };
        store
            .create_channel("acme", id, &channel, None)
            .await
            .unwrap();
    }
    let y = yesterday();
    let mut rows = Vec::new();
    for i in 0..10u64 {
        let day = y - Days::new(9 - i);
        rows.push(stats("anna-ig", day, 100 + 10 * i as i64));
        rows.push(stats("clean-ig", day, 500 - 10 * i as i64));
    }
    rows.push(stats("big-ig", y - Days::new(3), 12_345));
    rows.push(stats("big-ig", y - Days::new(2), 12_400));
    rows.push(stats("big-ig", y, 1_234_567));
    store.upsert_channel_stats("acme", &rows).await.unwrap();
    y
}

async fn goal(app: &TestApp, id: &str, scope: &str, target: f64, deadline: NaiveDate) {
    let y = yesterday();
    app.goals()
        .create_goal(app.req(proto::CreateGoalRequest {
            goal_id: id.into(),
            goal: Some(proto::Goal {
                display_name: format!("Goal {id}"),
                objective: proto::Objective::BrandAwareness as i32,
                kpi: "followers".into(),
                scope: scope.into(),
                baseline: Some(proto::Baseline {
                    rule: proto::BaselineRule::Fixed as i32,
                    value: 100.0,
                }),
                target: Some(proto::Target {
                    kind: Some(proto::target::Kind::AbsoluteValue(target)),
                }),
                direction: proto::Direction::Up as i32,
                start_date: date(y - Days::new(9)),
                deadline: date(deadline),
                owner: "Marketing".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap();
}

#[tokio::test]
async fn kpi_query_table_csv_and_errors() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let y = seed(&app).await;
    let (from, to) = ((y - Days::new(3)).to_string(), y.to_string());
    let args = kpi_query("followers", "channels/big-ig", &from, &to);
    let table = ok(&tally(&app, &args).await);
    let d = |n: u64| (y - Days::new(n)).to_string();
    // Nothing is computed yet: every value can still change and every day reaches past
    // the newest computed day, so all are marked, and the legend says what the marks mean.
    assert_eq!(
        table,
        format!(
            "FIRST_DAY   LAST_DAY           VALUE\n\
             {a}  {a}     12,345 *~\n\
             {b}  {b}     12,400 *~\n\
             {c}  {c}    no_data *~\n\
             {e}  {e}  1,234,567 *~\n\
             * provisional: recent days are computed again each night, so the value can \
             still change\n\
             ~ partial period: fewer days than a full week or month, or days not computed \
             yet; do not compare it with full periods\n",
            a = d(3),
            b = d(2),
            c = d(1),
            e = d(0)
        )
    );

    // Money carries the tenant's currency (EUR here) without --currency.
    let revenue = ok(&tally(&app, &kpi_query("attributed_revenue", "tenant", &to, &to)).await);
    assert!(
        revenue.lines().nth(1).unwrap().ends_with("0.00 EUR *~"),
        "{revenue}"
    );

    let mut csv_args = args.to_vec();
    csv_args.extend(["--format", "csv"]);
    let csv = ok(&tally(&app, &csv_args).await);
    assert_eq!(
        csv,
        format!(
            "first_day,last_day,value,follower_flags,undefined_reason,scope,name,final,partial\n\
             {a},{a},12345.0,,,{s},false,true\n{b},{b},12400.0,,,{s},false,true\n\
             {c},{c},,,no_data,{s},false,true\n{e},{e},1234567.0,,,{s},false,true\n",
            s = "channels/big-ig,big-ig",
            a = d(3),
            b = d(2),
            c = d(1),
            e = d(0)
        )
    );

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&tally(&app, &json_args).await)).unwrap();
    assert_eq!(json[2]["value"], serde_json::Value::Null);
    assert_eq!(json[2]["undefined_reason"], "no_data");
    assert_eq!(json[3]["value"], 1234567.0);

    // A scope that does not exist: one line with the code and the field, exit code 1.
    let bad = tally(
        &app,
        &kpi_query("followers", "influencers/nobody", &from, &to),
    )
    .await;
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert!(line.contains("INVALID_ARGUMENT"), "{line}");
    assert!(line.contains("kpi_scope.scope"), "{line}");

    let list = ok(&tally(&app, &["kpi", "list"]).await);
    assert!(list.starts_with("ID "), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("followers ") && l.contains("VANITY") && l.contains("LEVEL")),
        "{list}"
    );

    let influencers = ok(&tally(&app, &["influencers"]).await);
    assert!(
        influencers.contains("anna") && influencers.contains("ANNA10"),
        "{influencers}"
    );
    app.stop().await;
}

#[tokio::test]
async fn goals_worst_first() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let y = seed(&app).await;
    // As in goal_tracking: on track, at risk, achieved, missed, no data.
    goal(&app, "grow", "channels/anna-ig", 300.0, y + Days::new(20)).await;
    goal(
        &app,
        "too-far",
        "channels/anna-ig",
        600.0,
        y + Days::new(20),
    )
    .await;
    goal(&app, "early", "channels/anna-ig", 150.0, y + Days::new(20)).await;
    goal(&app, "late", "channels/anna-ig", 300.0, y - Days::new(2)).await;
    goal(&app, "silent", "channels/anna-tt", 300.0, y + Days::new(20)).await;

    let csv = ok(&tally(&app, &["goals", "--format", "csv"]).await);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("status,goal,kpi,scope,current,target,progress,expected,reason")
    );
    let order: Vec<(String, String)> = lines
        .map(|l| {
            let mut f = l.split(',');
            (f.next().unwrap().into(), f.next().unwrap().into())
        })
        .collect();
    let expected = [
        ("AT_RISK", "goals/too-far"),
        ("MISSED", "goals/late"),
        ("NO_DATA", "goals/silent"),
        ("ON_TRACK", "goals/grow"),
        ("ACHIEVED", "goals/early"),
    ];
    assert_eq!(
        order,
        expected
            .iter()
            .map(|(s, g)| (s.to_string(), g.to_string()))
            .collect::<Vec<_>>()
    );

    let table = ok(&tally(&app, &["goals"]).await);
    let grow = table
        .lines()
        .find(|l| l.contains("goals/grow"))
        .expect("grow row");
    // Current 190 of target 300, 45% of the way; 9/29 expected.
    assert!(grow.contains("190") && grow.contains("300"), "{grow}");
    assert!(grow.contains("45.0%") && grow.contains("31.0%"), "{grow}");
    app.stop().await;
}

/// The series polylines of plotters' SVG, by stroke colour.
fn polylines_with_stroke(svg: &str, colour: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter(|p| {
            p.split('>')
                .next()
                .is_some_and(|tag| tag.contains(&format!("stroke=\"{colour}\"")))
        })
        .count()
}

/// Solid polylines of more than two points in `colour` (dashes have two).
fn solid_runs(svg: &str, colour: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|p| p.split('>').next())
        .filter(|tag| tag.contains(&format!("stroke=\"{colour}\"")))
        .filter(|tag| {
            tag.split("points=\"")
                .nth(1)
                .and_then(|points| points.split('"').next())
                .is_some_and(|points| points.split_whitespace().count() > 2)
        })
        .count()
}

/// Circles filled with `fill` and stroked with `stroke` (`none` for none).
fn circles(svg: &str, fill: &str, stroke: &str) -> usize {
    svg.split("<circle")
        .skip(1)
        .filter_map(|c| c.split('>').next())
        .filter(|tag| {
            tag.contains(&format!("fill=\"{fill}\""))
                && tag.contains(&format!("stroke=\"{stroke}\""))
        })
        .count()
}

#[test]
fn chart_from_data_splits_gaps() {
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    let firm = |d: u32, value: Option<f64>| Point {
        day: day(d),
        value,
        mark: Mark::Firm,
    };
    let data = ChartData {
        title: "followers".into(),
        y_label: "count".into(),
        series: vec![
            Series {
                label: "influencers/anna".into(),
                points: vec![
                    firm(1, Some(10.0)),
                    firm(2, Some(12.0)),
                    firm(3, None),
                    firm(4, Some(15.0)),
                    firm(5, Some(16.0)),
                ],
            },
            Series {
                label: "influencers/mia".into(),
                points: (1..=5).map(|d| firm(d, Some(d as f64))).collect(),
            },
        ],
        guides: vec![Guide {
            label: "target 20".into(),
            points: vec![(day(1), 20.0), (day(5), 20.0)],
            style: GuideStyle::Target,
        }],
        flags: vec![day(4)],
    };
    let svg = chart::svg(&data).expect("svg");
    // The flagged day is marked in red and named in the legend.
    assert!(
        svg.contains("unusual follower jump without engagement"),
        "flag legend"
    );
    assert!(svg.contains("#C80000"), "flag marker");
    let unflagged = chart::svg(&ChartData {
        flags: vec![],
        ..data.clone()
    })
    .unwrap();
    assert!(!unflagged.contains("#C80000"));
    assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
    // The gap on day 3 splits anna's line in two; mia's is one line.
    assert_eq!(polylines_with_stroke(&svg, "#1F77B4"), 2);
    assert_eq!(polylines_with_stroke(&svg, "#FF7F0E"), 1);
    for legend in ["influencers/anna", "influencers/mia", "target 20", "count"] {
        assert!(
            svg.contains(&format!(">\n{legend}\n<")) || svg.contains(legend),
            "{legend}"
        );
    }
    assert!(svg.contains("2026-03-01"), "dates on the x axis");
}

#[tokio::test]
async fn chart_and_report_from_the_server() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let y = seed(&app).await;
    goal(&app, "grow", "channels/anna-ig", 300.0, y + Days::new(20)).await;
    goal(&app, "silent", "channels/anna-tt", 300.0, y + Days::new(20)).await;
    let dir = tempfile::tempdir().unwrap();

    // Days up to y computed: with the default 3 trailing days, values up to y−3 are final.
    app.kpis()
        .compute_kpis(app.req(proto::ComputeKpisRequest {
            first_day: date(y - Days::new(12)),
            last_day: date(y),
        }))
        .await
        .unwrap();

    let out = dir.path().join("followers.svg");
    let out_arg = out.display().to_string();
    let from = (y - Days::new(6)).to_string();
    let to = y.to_string();
    ok(&tally(
        &app,
        &[
            "chart",
            "followers",
            "--scope",
            "channels/big-ig",
            "--scope",
            "channels/anna-ig",
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            &out_arg,
        ],
    )
    .await);
    let svg = std::fs::read_to_string(&out).unwrap();
    // big-ig: nothing before y−3, final on y−3 (a dot: its next value is provisional),
    // provisional on y−2 (joined by a dashed line), a gap on y−1, provisional on y (alone).
    assert_eq!(solid_runs(&svg, "#1F77B4"), 0, "{svg}");
    assert_eq!(circles(&svg, "#1F77B4", "none"), 1, "{svg}");
    assert_eq!(circles(&svg, "none", "#1F77B4"), 2, "{svg}");
    // anna-ig: one solid line over the final days y−6..y−3, then a dashed tail of three
    // hollow points.
    assert_eq!(solid_runs(&svg, "#FF7F0E"), 1, "{svg}");
    assert_eq!(circles(&svg, "none", "#FF7F0E"), 3, "{svg}");
    assert!(svg.contains("may still change (not final)"), "legend");
    assert!(svg.contains("big-ig") && svg.contains("anna-ig"));
    assert!(
        !svg.contains("channels/"),
        "display names, not resource names"
    );
    assert!(!svg.contains("target"), "no goal asked for");

    // With --goal: what the goal measures (followers: the level on each day) from its
    // start, its target, the expected path from the baseline (100) to the target at the
    // deadline, and the forecast: anna-ig gains 10 a day, 190 on y, so 390 on y+20.
    let goal_svg = dir.path().join("goal.svg");
    let goal_arg = goal_svg.display().to_string();
    ok(&tally(
        &app,
        &[
            "chart",
            "followers",
            "--goal",
            "goals/grow",
            "--out",
            &goal_arg,
        ],
    )
    .await);
    let svg = std::fs::read_to_string(&goal_svg).unwrap();
    for text in [
        "Goal grow: followers value on each day".to_string(),
        "target: 300".into(),
        "expected path: 100 at start to the target".into(),
        format!("forecast for {}: 390 (10 values)", y + Days::new(20)),
        "anna-ig".into(),
    ] {
        assert!(svg.contains(&text), "{text}: {svg}");
    }
    assert!(
        svg.contains(&(y + Days::new(20)).to_string()),
        "x axis to the deadline"
    );
    // Days y−9..y−3 final (one solid line), y−2..y provisional.
    assert_eq!(solid_runs(&svg, "#1F77B4"), 1, "{svg}");
    assert_eq!(circles(&svg, "none", "#1F77B4"), 3, "{svg}");
    // A goal of another KPI is an error naming both.
    let wrong = tally(
        &app,
        &["chart", "roas", "--goal", "goals/grow", "--out", &goal_arg],
    )
    .await;
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("goals/grow measures followers, but the chart is of roas"),
        "{stderr}"
    );
    let png = dir.path().join("followers.png");
    let png_arg = png.display().to_string();
    ok(&tally(
        &app,
        &[
            "chart",
            "followers",
            "--scope",
            "channels/anna-ig",
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            &png_arg,
        ],
    )
    .await);
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));

    let report = dir.path().join("report.html");
    let report_arg = report.display().to_string();
    ok(&tally(&app, &["report", "--out", &report_arg]).await);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    for goal in ["goals/grow", "goals/silent", "Goal grow", "Goal silent"] {
        assert!(html.contains(goal), "{goal}");
    }
    assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
    assert!(!html.contains("<b>x</b>"));
    assert_eq!(html.matches("<svg").count(), 2);
    assert_eq!(html.matches("</svg>").count(), 2);
    assert_eq!(
        html.matches("<table").count(),
        html.matches("</table>").count()
    );
    app.stop().await;
}

/// An unusual follower jump without engagement is marked next to the value of its period,
/// for follower KPIs only.
#[tokio::test]
async fn kpi_query_marks_days_with_bought_followers() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let y = seed(&app).await;
    let channel = Channel {
        display_name: "jump".into(),
        platform: Platform::Instagram,
        owner: Some("anna".into()),
        account_id: "jump".into(),
        credentials_ref: String::new(),
    };
    app.store
        .create_channel("acme", "jump-ig", &channel, None)
        .await
        .unwrap();
    // 20 days growing by 9 or 11 a day with likes rising by one a day; then +3,000 on y
    // while likes go on as before.
    let mut rows = Vec::new();
    let mut followers = 1_000;
    for i in 0..=20u64 {
        let day = y - Days::new(20 - i);
        followers += if i == 20 {
            3_000
        } else if i % 2 == 0 {
            9
        } else {
            11
        };
        let mut row = stats("jump-ig", day, followers);
        row.likes = Some(100 + i as i64);
        rows.push(row);
    }
    app.store.upsert_channel_stats("acme", &rows).await.unwrap();
    let (from, to) = ((y - Days::new(1)).to_string(), y.to_string());
    let args = kpi_query("followers", "channels/jump-ig", &from, &to);
    let table = ok(&tally(&app, &args).await);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("FOLLOWER_FLAGS"), "{table}");
    assert!(!lines[1].contains('⚑'), "{table}");
    assert!(lines[2].contains(&format!("⚑ jump-ig {y}")), "{table}");
    // The legend says what the flag is.
    assert!(
        table.contains("⚑ unusual follower jump without engagement"),
        "{table}"
    );
    let mut csv_args = args.to_vec();
    csv_args.extend(["--format", "csv"]);
    let csv = ok(&tally(&app, &csv_args).await);
    assert!(
        csv.lines()
            .nth(2)
            .unwrap()
            .contains(&format!("jump-ig {y}")),
        "{csv}"
    );
    // The jump belongs with the follower KPIs: another KPI of the same channel and days
    // has no column for it, in a table or in CSV.
    let mut other = args.to_vec();
    other[2] = "engagement_rate";
    let table = ok(&tally(&app, &other).await);
    assert!(!table.contains("FOLLOWER_FLAGS"), "{table}");
    assert!(!table.contains('⚑'), "{table}");
    other.extend(["--format", "csv"]);
    let csv = ok(&tally(&app, &other).await);
    assert_eq!(
        csv.lines().next(),
        Some("first_day,last_day,value,undefined_reason,scope,name,final,partial"),
        "{csv}"
    );
    // The report's audit section lists the jump under the channel's display name.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let (report_arg, to) = (report.display().to_string(), y.to_string());
    ok(&tally(
        &app,
        &["report", "--out", &report_arg, "--to", &to, "--days", "7"],
    )
    .await);
    let html = std::fs::read_to_string(&report).unwrap();
    let audit = &html[html.find("<h2>Audit</h2>").expect("audit section")..];
    assert!(
        audit.contains(&format!(
            "<tr><td>{y}</td><td>jump</td><td class=\"num\">3,000</td>"
        )),
        "{audit}"
    );
    assert_eq!(
        audit.matches("<tr>").count(),
        2,
        "header and one jump: {audit}"
    );
    app.stop().await;
}

/// Runs `tally ARGS` as a person would in a pipe: the default log level, no NO_COLOR.
async fn tally_piped(app: &TestApp, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .env("TALLY_ADDR", format!("http://{}", app.addr))
        .env("TALLY_API_KEY", &app.key)
        .env_remove("TALLY_LOG")
        .env_remove("TALLY_LOG_FORMAT")
        .env_remove("NO_COLOR")
        .env_remove("TALLY_CURRENCY")
        .env_remove("TALLY_CONFIG")
        .output()
        .await
        .expect("run tally")
}

/// Computes the KPI snapshots of `[first, last]`: the newest computed day becomes `last`,
/// so values of its last three days (the default trailing days) are provisional.
async fn compute(app: &TestApp, first: NaiveDate, last: NaiveDate) {
    app.kpis()
        .compute_kpis(app.req(proto::ComputeKpisRequest {
            first_day: date(first),
            last_day: date(last),
        }))
        .await
        .expect("ComputeKpis");
}

/// Several scopes: one row per scope and one column per day, provisional values marked
/// and the legend under the table; `--transpose` swaps rows and columns; one scope with
/// `--transpose` is one row.
#[tokio::test]
async fn kpi_query_compares_scopes_and_marks_provisional_values() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let y = seed(&app).await;
    compute(&app, y - Days::new(9), y).await;
    let d = |n: u64| (y - Days::new(n)).to_string();
    let (from, to) = (d(4), d(0));
    let args = [
        "kpi",
        "query",
        "followers",
        "--scope",
        "channels/anna-ig",
        "--scope",
        "channels/clean-ig",
        "--from",
        &from,
        "--to",
        &to,
    ];
    // anna-ig: 100 + 10 a day from y−9, so 150 on y−4 to 190 on y; clean-ig: 500 − 10 a
    // day, so 450 to 410. Newest computed day y, 3 trailing days: y−2, y−1 and y can
    // still change.
    let legend = "* provisional: recent days are computed again each night, so the value \
                  can still change\n";
    let table = ok(&tally(&app, &args).await);
    assert_eq!(
        table,
        format!(
            "CHANNEL   {a}  {b}  {c}  {e}  {f}\n\
             anna-ig        150         160         170 *       180 *       190 *\n\
             clean-ig       450         440         430 *       420 *       410 *\n\
             {legend}",
            a = d(4),
            b = d(3),
            c = d(2),
            e = d(1),
            f = d(0),
        )
    );

    let mut transposed = args.to_vec();
    transposed.push("--transpose");
    let table = ok(&tally(&app, &transposed).await);
    assert_eq!(
        table,
        format!(
            "PERIOD      anna-ig  clean-ig\n\
             {a}    150       450\n\
             {b}    160       440\n\
             {c}    170 *     430 *\n\
             {e}    180 *     420 *\n\
             {f}    190 *     410 *\n\
             {legend}",
            a = d(4),
            b = d(3),
            c = d(2),
            e = d(1),
            f = d(0),
        )
    );

    // One scope reads down by default (as before), across with --transpose.
    let one = kpi_query("followers", "channels/anna-ig", &from, &to);
    let table = ok(&tally(&app, &one).await);
    assert_eq!(
        table.lines().nth(3),
        Some(format!("{c}  {c}  170 *", c = d(2)).as_str()),
        "{table}"
    );
    assert!(table.ends_with(legend), "{table}");
    let mut one_across = one.to_vec();
    one_across.push("--transpose");
    let table = ok(&tally(&app, &one_across).await);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("CHANNEL ") && lines[0].ends_with(&d(0)),
        "{table}"
    );
    assert!(
        lines[1].starts_with("anna-ig ") && lines[1].ends_with("190 *"),
        "{table}"
    );

    // CSV has one record per scope and day, with the scope, its name and `final`.
    let mut csv_args = args.to_vec();
    csv_args.extend(["--format", "csv"]);
    let csv = ok(&tally(&app, &csv_args).await);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "first_day,last_day,value,follower_flags,undefined_reason,scope,name,final,partial"
    );
    assert_eq!(lines.len(), 11, "{csv}");
    assert_eq!(
        lines[1],
        format!(
            "{a},{a},150.0,,,channels/anna-ig,anna-ig,true,false",
            a = d(4)
        )
    );
    assert_eq!(
        lines[10],
        format!(
            "{a},{a},410.0,,,channels/clean-ig,clean-ig,false,false",
            a = d(0)
        )
    );
    app.stop().await;
}

/// `--scope-kind influencers` puts every influencer of the tenant in a row under its
/// display name, after the scopes named with --scope.
#[tokio::test]
async fn kpi_query_scope_kind_lists_every_influencer_by_name() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let y = seed(&app).await;
    // A third influencer whose display name repeats anna's: the id tells them apart.
    app.store
        .create_influencer(
            "acme",
            "anna-b",
            &Influencer {
                display_name: "Anna".into(),
                tags: vec![],
                discount_codes: vec![],
                tracking_values: vec![],
            },
            None,
        )
        .await
        .unwrap();
    compute(&app, y - Days::new(9), y).await;
    let (from, to) = (
        (y - Days::new(9)).to_string(),
        (y - Days::new(3)).to_string(),
    );
    let table = ok(&tally(
        &app,
        &[
            "kpi",
            "query",
            "posts",
            "--scope",
            "channels/anna-ig",
            "--scope-kind",
            "influencers",
            "--granularity",
            "range",
            "--from",
            &from,
            "--to",
            &to,
        ],
    )
    .await);
    // Posts over the seven days y−9..y−3: anna-ig and clean-ig post once a day (14);
    // big-ig once on y−3 (15 for anna); the others have no channel with data.
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], format!("SCOPE          {from}..{to}"), "{table}");
    assert_eq!(lines[1], "anna-ig                             7", "{table}");
    assert_eq!(lines[2], "Anna (anna)                        15", "{table}");
    assert_eq!(lines[3], "Anna (anna-b)                 no_data", "{table}");
    assert_eq!(lines[4], "<b>x</b>                      no_data", "{table}");
    assert_eq!(lines.len(), 5, "no marks, no legend: {table}");
    app.stop().await;
}

/// A misspelt KPI is an error naming the id it probably meant, printed once, plainly, and
/// the command exits 1; nothing goes to stdout.
#[tokio::test]
async fn kpi_query_misspelt_kpi_suggests_and_fails_once_without_ansi() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let y = seed(&app).await;
    let day = y.to_string();
    let out = tally_piped(
        &app,
        &[
            "kpi",
            "query",
            "engagment_rate",
            "--scope",
            "influencers/anna",
            "--scope",
            "influencers/bold",
            "--from",
            &day,
            "--to",
            &day,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        !stderr.contains('\x1b'),
        "ANSI escapes in a pipe: {stderr:?}"
    );
    assert_eq!(
        stderr,
        "error: `engagment_rate` is not a KPI id, a custom KPI or a pushed metric key with \
         data; did you mean `engagement_rate`? (`tally kpi list` lists them)\n"
    );

    // A server error too is one plain line, at the default log level as with logs off.
    let out = tally_piped(
        &app,
        &kpi_query("followers", "influencers/nobody", &day, &day),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: INVALID_ARGUMENT: "), "{stderr}");
    app.stop().await;
}

/// No `-0` in tables or raw output: a pushed metric of -0.0 and one that rounds to zero.
#[tokio::test]
async fn kpi_query_never_prints_negative_zero() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let y = seed(&app).await;
    let rows = [(1, -0.0), (0, -0.004)]
        .iter()
        .map(|(n, value)| proto::MetricPoint {
            metric_key: "fee_credit".into(),
            scope: "tenant".into(),
            day: date(y - Days::new(*n)),
            value: *value,
        })
        .collect();
    app.ingest_all(rows).await;
    let (from, to) = ((y - Days::new(1)).to_string(), y.to_string());
    let args = kpi_query("fee_credit", "tenant", &from, &to);
    let table = ok(&tally(&app, &args).await);
    let values: Vec<&str> = table
        .lines()
        .skip(1)
        .take(2)
        .map(|l| l.split_whitespace().nth(2).unwrap_or(""))
        .collect();
    assert_eq!(values, ["0", "0.00"], "{table}");
    assert!(
        !table.split_whitespace().any(|w| w.starts_with("-0")),
        "{table}"
    );
    for format in ["csv", "json"] {
        let mut raw = args.to_vec();
        raw.extend(["--format", format]);
        let out = ok(&tally(&app, &raw).await);
        assert!(!out.contains("-0.0,") && !out.contains("-0.0\n"), "{out}");
        assert!(out.contains("-0.004"), "the raw value stays exact: {out}");
    }
    app.stop().await;
}

/// A goal's reason longer than a column wraps onto more lines, whole, with its numbers
/// formatted as the table's (28,000, not 28000).
#[tokio::test]
async fn goals_wrap_long_reasons_and_format_their_numbers() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let y = seed(&app).await;
    goal(&app, "far", "channels/anna-ig", 28_000.0, y + Days::new(20)).await;
    let csv = ok(&tally(&app, &["goals", "--format", "csv"]).await);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let record = reader
        .records()
        .next()
        .expect("a goal")
        .expect("a CSV record");
    let raw_reason = record[8].to_string();
    // anna-ig grows by exactly 10 a day: the trend of its 10 values forecasts 190 + 10 ×
    // 20 = 390 on the deadline.
    assert_eq!(
        raw_reason,
        format!(
            "the trend of the last 10 values forecasts 390 by {}, short of at least 28000",
            y + Days::new(20)
        ),
        "{csv}"
    );
    let table = ok(&tally(&app, &["goals"]).await);
    assert!(!table.contains('…') && !table.contains("..."), "{table}");
    assert!(table.lines().count() > 2, "the reason wraps: {table}");
    let words: Vec<&str> = table.split_whitespace().collect();
    let text = words.join(" ");
    assert!(text.contains("28,000"), "{table}");
    assert!(!text.contains("28000"), "{table}");
    assert!(
        text.contains(&format!(
            "the trend of the last 10 values forecasts 390 by {}, short of at least 28,000",
            y + Days::new(20)
        )),
        "{table}"
    );
    app.stop().await;
}

/// By week, a week clipped by the range is partial: its label carries `~`, values that
/// can still change carry `*`, and the legend explains both.
#[tokio::test]
async fn kpi_query_marks_partial_weeks_with_a_legend() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let y = seed(&app).await;
    compute(&app, y - Days::new(9), y).await;
    // Ten days y−9..y split into ISO weeks: a week is partial when it has fewer than 7
    // of them; anna-ig's followers on a week are those of its last day, 190 − 10 × (days
    // before y), final when that day is at least 3 days before y.
    let first = y - Days::new(9);
    let mut weeks: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    let mut day = first;
    while day <= y {
        let sunday = day + Days::new(6 - day.weekday().num_days_from_monday() as u64);
        let last = sunday.min(y);
        weeks.push((day, last));
        day = last + Days::new(1);
    }
    let (from, to) = (first.to_string(), y.to_string());
    let table = ok(&tally(
        &app,
        &[
            "kpi",
            "query",
            "followers",
            "--scope",
            "channels/anna-ig",
            "--scope",
            "channels/clean-ig",
            "--granularity",
            "week",
            "--transpose",
            "--from",
            &from,
            "--to",
            &to,
        ],
    )
    .await);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("PERIOD "), "{table}");
    for (i, (start, last)) in weeks.iter().enumerate() {
        let cells: Vec<&str> = lines[i + 1].split_whitespace().collect();
        let label = start.format("%G-W%V").to_string();
        let partial = (*last - *start).num_days() + 1 < 7;
        let before = (y - *last).num_days();
        let provisional = before < 3;
        let mut expected = vec![label.as_str()];
        if partial {
            expected.push("~");
        }
        let anna = (190 - 10 * before).to_string();
        let clean = (410 + 10 * before).to_string();
        expected.push(&anna);
        if provisional {
            expected.push("*");
        }
        expected.push(&clean);
        if provisional {
            expected.push("*");
        }
        assert_eq!(cells, expected, "week {i}: {table}");
    }
    let legend = &lines[weeks.len() + 1..];
    assert_eq!(
        legend,
        [
            "* provisional: recent days are computed again each night, so the value can \
             still change",
            "~ partial period: fewer days than a full week or month, or days not computed \
             yet; do not compare it with full periods",
        ],
        "{table}"
    );
    app.stop().await;
}

/// `tally chart --lift` and the report's Lift section on the lift tests' campaign: an
/// exact series lifted by 30 a day, revenue into the order tail with its last days
/// provisional, and KPIs whose pre-period is too short, which show their reason.
#[tokio::test]
async fn lift_chart_and_report_section_from_the_server() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    crate::lift::setup(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lift.svg");
    let out_arg = out.display().to_string();
    let printed = ok(&tally(
        &app,
        &[
            "chart",
            "--lift",
            "campaigns/spring",
            "--kpi",
            "social_visitors",
            "--kpi",
            "attributed_revenue",
            "--kpi",
            "code_buyers",
            "--out",
            &out_arg,
        ],
    )
    .await);
    assert!(printed.contains("wrote"), "{printed}");
    let svg = std::fs::read_to_string(&out).unwrap();
    for text in [
        "Lift of spring: observed against the baseline learned from 2026-01-05 to 2026-03-01",
        "social_visitors: lift 420",
        "attributed_revenue: lift 950",
        "campaign window 2026-03-02 to 2026-03-15",
        "order tail to 2026-03-20",
        "90% prediction band",
        "may still change (not final)",
        "code_buyers: no lift",
        "No lift: PRE_PERIOD_TOO_SHORT: the pre-period has 20 days with a value",
    ] {
        assert!(svg.contains(text), "{text}: {svg}");
    }
    // The band of each measured panel (one polygon each: no gaps), none for the refused.
    assert_eq!(svg.matches("<polygon").count(), 2, "{svg}");
    // Revenue's last three days (18 to 20 March) are not final yet: hollow points.
    let hollow = svg
        .split("<circle")
        .skip(1)
        .filter(|c| c.contains("fill=\"none\"") && c.contains("stroke=\"#1F77B4\""))
        .count();
    assert_eq!(hollow, 3, "{svg}");
    // Arguments that belong to other charts are refused with --lift.
    let wrong = tally(
        &app,
        &[
            "chart",
            "--lift",
            "campaigns/spring",
            "--scope",
            "tenant",
            "--out",
            &out_arg,
        ],
    )
    .await;
    assert!(!wrong.status.success());

    // The campaign's report has its Lift section: numbers where there are some, the
    // reason in words elsewhere, and the chart of the measured series.
    let report = dir.path().join("report.html");
    let report_arg = report.display().to_string();
    ok(&tally(
        &app,
        &[
            "report",
            "--campaign",
            "campaigns/spring",
            "--out",
            &report_arg,
        ],
    )
    .await);
    let html = std::fs::read_to_string(&report).unwrap();
    let lift = &html[html.find("<h2>Lift</h2>").expect("lift section")..];
    assert!(lift.contains("<h3>spring</h3>"), "{lift}");
    assert!(lift.contains("Baseline learned from 2026-01-05 to 2026-03-01"));
    let row = |kpi: &str| {
        let from = lift
            .find(&format!("data-kpi=\"{kpi}\""))
            .unwrap_or_else(|| panic!("no {kpi} row"));
        &lift[from..from + lift[from..].find("</tr>").unwrap()]
    };
    assert!(row("social_visitors").contains("<td class=\"num\">14</td>"));
    assert!(row("social_visitors").contains("420"));
    // Revenue's incremental ROAS: a lift of 950 over fees of 1,000.
    assert!(row("attributed_revenue").contains("0.95 (0.95 to 0.95)"));
    for kpi in ["web_visitors", "all_orders", "all_revenue", "code_buyers"] {
        assert!(
            row(kpi).contains("class=\"reason\">Pre-period too short: the pre-period has"),
            "{}",
            row(kpi)
        );
    }
    assert_eq!(html.matches("<svg").count(), 1, "the lift chart alone");
    assert!(lift.contains("social_visitors: lift 420"));
    assert!(
        !lift.contains("code_buyers: no lift"),
        "the report charts measured KPIs"
    );
    app.stop().await;
}
