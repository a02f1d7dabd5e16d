//! `tally report`: one self-contained HTML page (no scripts, no external files) with the
//! goals, the top influencers and the charts of the goals' KPIs. Every text from the
//! server is escaped: names are typed by users.
use super::chart;
use super::connection::{Client, Conn, Currency, HumanError, day_text, naive};
use super::format;
use super::goals::goal_progress;
use crate::proto;
use chrono::NaiveDate;
use std::fmt::Write;
use std::path::PathBuf;

/// One goal and where it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct GoalRow {
    /// `goals/{id}`.
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// KPI id.
    pub kpi: String,
    /// Scope, with the segment when there is one.
    pub scope: String,
    /// Status name, such as `AT_RISK`.
    pub status: String,
    /// Current value, formatted.
    pub current: String,
    /// Target, formatted.
    pub target: String,
    /// Progress toward the target in percent, when defined.
    pub progress: Option<f64>,
    /// Progress expected by now in percent.
    pub expected: f64,
    /// Why the status.
    pub reason: String,
}

/// An influencer's value of a ranking KPI.
#[derive(Clone, Debug, PartialEq)]
pub struct RankRow {
    /// Name shown to people.
    pub display_name: String,
    /// `influencers/{id}`.
    pub name: String,
    /// Raw value, for ordering; `None` when undefined.
    pub value: Option<f64>,
    /// The value formatted, or the reason it is undefined.
    pub text: String,
}

/// A chart with its heading.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartSection {
    /// Heading text.
    pub heading: String,
    /// The SVG document, from plotters (which escapes its texts).
    pub svg: String,
}

/// Everything the page shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period.
    pub to: NaiveDate,
    /// Goals, worst first.
    pub goals: Vec<GoalRow>,
    /// Influencers by returning buyers after their code, best first.
    pub by_returning_buyers: Vec<RankRow>,
    /// Influencers by profit per visitor, best first.
    pub by_profit_per_visitor: Vec<RankRow>,
    /// Charts of the goals' KPIs.
    pub charts: Vec<ChartSection>,
    /// Unusual follower jumps without engagement on any channel of the tenant.
    pub audit: Vec<super::follower_jumps::AuditRow>,
}

/// `text` safe inside HTML elements and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Orders rows best first, undefined values last (by name among themselves).
pub fn rank(rows: &mut [RankRow]) {
    rows.sort_by(|a, b| match (a.value, b.value) {
        (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| a.name.cmp(&b.name)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.name.cmp(&b.name),
    });
}

const STYLE: &str = "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1000px;color:#222}\
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
.bar{position:relative;width:160px;height:12px;background:#eee;border-radius:3px}\
.fill{height:100%;border-radius:3px}.expected{position:absolute;top:-3px;width:2px;height:18px;background:#333}\
.status{font-weight:bold;font-size:.85em;padding:1px 6px;border-radius:3px;color:#fff}\
.AT_RISK{background:#d62728}.MISSED{background:#8c564b}.NO_DATA{background:#7f7f7f}.ON_TRACK{background:#1f77b4}.ACHIEVED{background:#2ca02c}.NOT_STARTED{background:#bbb}\
.reason{color:#555;font-size:.85em}.chart svg{max-width:100%;height:auto}";

/// Colour of a goal's progress bar by status.
fn status_colour(status: &str) -> &'static str {
    match status {
        "AT_RISK" => "#d62728",
        "MISSED" => "#8c564b",
        "ACHIEVED" => "#2ca02c",
        "ON_TRACK" => "#1f77b4",
        _ => "#7f7f7f",
    }
}

/// The page.
pub fn html(report: &Report) -> String {
    let mut h = String::new();
    let period = format!("{} to {}", report.from, report.to);
    // Writing to a String cannot fail.
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Tally report {p}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Tally report</h1>\n<p>Period: {p} (the last {n} days)</p>\n",
        p = escape(&period),
        n = (report.to - report.from).num_days() + 1,
    );

    h.push_str("<h2>Goals</h2>\n");
    if report.goals.is_empty() {
        h.push_str("<p>No goals.</p>\n");
    } else {
        h.push_str(
            "<table>\n<tr><th>Goal</th><th>Status</th><th>KPI</th><th>Scope</th><th>Current</th>\
             <th>Target</th><th>Progress</th></tr>\n",
        );
        for g in &report.goals {
            let width = g.progress.unwrap_or(0.0).clamp(0.0, 100.0);
            let progress = g
                .progress
                .map(format::percent)
                .unwrap_or_else(|| "–".into());
            let _ = write!(
                h,
                "<tr class=\"goal\"><td>{display}<br><span class=\"reason\">{name}</span></td>\
                 <td><span class=\"status {status}\">{status}</span></td><td>{kpi}</td><td>{scope}</td>\
                 <td class=\"num\">{current}</td><td class=\"num\">{target}</td>\
                 <td><div class=\"bar\" title=\"progress {progress}, expected {expected}\">\
                 <div class=\"fill\" style=\"width:{width:.1}%;background:{colour}\"></div>\
                 <div class=\"expected\" style=\"left:{exp_left:.1}%\"></div></div>\
                 {progress} <span class=\"reason\">(expected {expected})</span></td></tr>\n\
                 <tr><td colspan=\"7\" class=\"reason\">{reason}</td></tr>\n",
                display = escape(&g.display_name),
                name = escape(&g.name),
                status = escape(&g.status),
                kpi = escape(&g.kpi),
                scope = escape(&g.scope),
                current = escape(&g.current),
                target = escape(&g.target),
                progress = escape(&progress),
                expected = escape(&format::percent(g.expected)),
                colour = status_colour(&g.status),
                exp_left = g.expected.clamp(0.0, 100.0),
                reason = escape(&g.reason),
            );
        }
        h.push_str("</table>\n");
    }

    for (heading, rows) in [
        (
            "Top influencers by returning buyers after their code",
            &report.by_returning_buyers,
        ),
        (
            "Top influencers by profit per visitor",
            &report.by_profit_per_visitor,
        ),
    ] {
        let _ = writeln!(h, "<h2>{}</h2>", escape(heading));
        if rows.is_empty() {
            h.push_str("<p>No influencers.</p>\n");
            continue;
        }
        h.push_str("<table>\n<tr><th>#</th><th>Influencer</th><th>Value</th></tr>\n");
        for (i, r) in rows.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr class=\"influencer\"><td>{}</td><td>{} <span class=\"reason\">{}</span></td><td class=\"num\">{}</td></tr>",
                i + 1,
                escape(&r.display_name),
                escape(&r.name),
                escape(&r.text),
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>Charts</h2>\n");
    if report.charts.is_empty() {
        h.push_str("<p>No goals, so no charts.</p>\n");
    }
    for chart in &report.charts {
        let _ = write!(
            h,
            "<h3>{}</h3>\n<div class=\"chart\">\n{}\n</div>\n",
            escape(&chart.heading),
            strip_xml_declaration(&chart.svg)
        );
    }
    h.push_str(&super::follower_jumps::audit_html(&report.audit));
    h.push_str("</body>\n</html>\n");
    h
}

/// The SVG without an XML declaration, which has no place inside HTML.
fn strip_xml_declaration(svg: &str) -> &str {
    match svg.trim_start().strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, s)| s).unwrap_or(rest),
        None => svg,
    }
}

/// Arguments of `tally report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Output file (HTML).
    #[arg(long)]
    pub out: PathBuf,
    /// Days the report covers, ending with --to.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u16).range(1..=400))]
    pub days: u16,
    /// Last day of the report (YYYY-MM-DD); yesterday (UTC) by default.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    #[command(flatten)]
    pub currency: Currency,
    #[command(flatten)]
    pub conn: Conn,
}

/// Runs `tally report`.
pub async fn run(args: ReportArgs) -> Result<(), HumanError> {
    let client = Client::connect(&args.conn).await?;
    let currency = client.currency(&args.currency).await?;
    let currency = currency.as_deref();
    let to = args
        .to
        .unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Days::new(1));
    let from = to - chrono::Days::new(u64::from(args.days) - 1);
    let units = client.units().await?;
    let unit_of = |kpi: &str| units.get(kpi).cloned().unwrap_or_default();

    let goals = goal_progress(&client).await?;
    let mut rows = Vec::new();
    let mut charts = Vec::new();
    for g in &goals {
        let unit = unit_of(&g.goal.kpi);
        let e = g.evaluation.as_ref();
        let show = |v: Option<f64>| {
            v.map(|v| format::value(v, &unit, currency))
                .unwrap_or_else(|| "–".into())
        };
        rows.push(GoalRow {
            name: g.goal.name.clone(),
            display_name: g.goal.display_name.clone(),
            kpi: g.goal.kpi.clone(),
            scope: g.scope(),
            status: g.status(),
            current: show(e.and_then(|e| e.current_value)),
            target: show(e.and_then(|e| e.target)),
            progress: e.and_then(|e| e.progress_percent),
            expected: e.map(|e| e.expected_progress_percent).unwrap_or(0.0),
            reason: e
                .map(|e| e.reason.clone())
                .unwrap_or_else(|| format!("starts on {}", day_text(g.goal.start_date.as_ref()))),
        });
        let values = client
            .query(
                &g.goal.kpi,
                &g.goal.scope,
                &g.goal.segment,
                from,
                to,
                proto::Granularity::Day,
            )
            .await?;
        let guides = e
            .map(|e| {
                chart::goal_guides(
                    &g.goal.name,
                    e,
                    naive(g.goal.deadline.as_ref()),
                    &unit,
                    currency,
                )
            })
            .unwrap_or_default();
        let flags = if super::follower_jumps::applies_to(&g.goal.kpi) {
            client
                .follower_flags(&g.goal.scope, from, to)
                .await?
                .iter()
                .filter_map(|f| naive(f.day.as_ref()))
                .collect()
        } else {
            Vec::new()
        };
        let data = chart::ChartData {
            title: format!("{} on {}", g.goal.kpi, g.scope()),
            y_label: chart::unit_label(&unit, currency),
            series: vec![chart::series(g.scope(), &values)],
            guides,
            flags,
        };
        charts.push(ChartSection {
            heading: format!("{} ({})", g.goal.display_name, g.goal.name),
            svg: chart::svg(&data)?,
        });
    }

    let mut by_returning = Vec::new();
    let mut by_profit = Vec::new();
    for i in client.list_influencers().await? {
        for (kpi, out) in [
            ("returning_buyers_after_code", &mut by_returning),
            ("profit_per_visitor", &mut by_profit),
        ] {
            let v = client
                .query(kpi, &i.name, "", from, to, proto::Granularity::Range)
                .await?
                .into_iter()
                .next()
                .unwrap_or_default();
            out.push(RankRow {
                display_name: i.display_name.clone(),
                name: i.name.clone(),
                value: v.value,
                text: format::value_or_reason(
                    v.value,
                    &v.undefined_reason,
                    &unit_of(kpi),
                    currency,
                ),
            });
        }
    }
    rank(&mut by_returning);
    rank(&mut by_profit);
    by_returning.truncate(10);
    by_profit.truncate(10);

    let channel_names = client
        .list_channels()
        .await?
        .into_iter()
        .map(|c| (c.name, c.display_name))
        .collect();
    let audit = super::follower_jumps::audit_rows(
        &client.follower_flags("tenant", from, to).await?,
        &channel_names,
    );
    let page = html(&Report {
        from,
        to,
        goals: rows,
        by_returning_buyers: by_returning,
        by_profit_per_visitor: by_profit,
        charts,
        audit,
    });
    std::fs::write(&args.out, page).map_err(|source| HumanError::Write {
        path: args.out.clone(),
        source,
    })?;
    println!("wrote {}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_ranks() {
        assert_eq!(
            escape("<b>x</b> & \"q\" 'a'"),
            "&lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot; &#39;a&#39;"
        );
        let row = |name: &str, value| RankRow {
            display_name: name.into(),
            name: name.into(),
            value,
            text: String::new(),
        };
        let mut rows = vec![row("a", None), row("b", Some(1.0)), row("c", Some(3.0))];
        rank(&mut rows);
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["c", "b", "a"]);
    }
}
