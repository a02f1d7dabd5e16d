//! `tally report`: one self-contained HTML page for a client (no external files): the
//! tenant, campaign and period in the title, headline tiles, the goals with their charts,
//! one sortable table of the influencers with a CSV download, and an audit section with
//! the follower-jump flags. Provisional values are marked and explained; the page prints
//! cleanly. Every text from the server is escaped: names are typed by users.
use super::chart::{self, scope_label};
use super::connection::{Client, Conn, Currency, HumanError, day_text, naive};
use super::format;
use super::goal_chart::{GoalChart, Measure};
use super::goals::goal_progress;
use super::lift_chart;
use crate::proto;
use base64::Engine;
use chrono::NaiveDate;
use std::collections::HashMap;
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
    /// Scope as people know it, with the segment when there is one.
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

/// A value as the page shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// The raw value, for sorting and the CSV; `None` when undefined.
    pub raw: Option<f64>,
    /// The value formatted, or why it is undefined.
    pub text: String,
    /// Whether it may still change (not final) or its period reaches past the newest
    /// computed day (partial).
    pub provisional: bool,
}

impl Cell {
    /// A query value in its unit.
    pub fn of(value: &proto::KpiValue, unit: &str, currency: Option<&str>) -> Cell {
        Cell {
            raw: value.value,
            text: format::value_or_reason(value.value, &value.undefined_reason, unit, currency)
                .replace('_', " "),
            provisional: chart::Mark::of(value) != chart::Mark::Firm,
        }
    }
}

/// A headline number.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    /// What it is, for people ("Spend").
    pub label: String,
    /// The KPI id it shows.
    pub kpi: String,
    /// The value.
    pub cell: Cell,
}

/// An influencer's row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct InfluencerRow {
    /// Name shown to people.
    pub display_name: String,
    /// One cell per [`COLUMNS`] entry.
    pub cells: Vec<Cell>,
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
    /// The tenant's (client's) name; empty when unknown.
    pub tenant: String,
    /// The campaign's display name, when the report is about one.
    pub campaign: Option<String>,
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period.
    pub to: NaiveDate,
    /// Headline numbers.
    pub tiles: Vec<Tile>,
    /// Goals, worst first.
    pub goals: Vec<GoalRow>,
    /// Influencers, by name.
    pub influencers: Vec<InfluencerRow>,
    /// Goal charts.
    pub charts: Vec<ChartSection>,
    /// Follower-jump flags of the period.
    pub audit: Vec<super::follower_jumps::AuditRow>,
    /// The lift of the report's campaign, or of each campaign in the period.
    pub lifts: Vec<LiftSection>,
}

/// One KPI's row of a lift table: its totals over the window, or why there are none.
#[derive(Clone, Debug, PartialEq)]
pub struct LiftRow {
    /// KPI id.
    pub kpi: String,
    /// Formatted cells: days, observed, baseline, lift, interval, relative lift, halo and
    /// incremental ROAS; empty when refused.
    pub cells: Vec<String>,
    /// Why there are no numbers, in words.
    pub reason: Option<String>,
}

/// A campaign's lift: what it added beyond the baseline (LIFT.md).
#[derive(Clone, Debug, PartialEq)]
pub struct LiftSection {
    /// The campaign's display name.
    pub campaign: String,
    /// The intervals' level, such as `90%`.
    pub level: String,
    /// The pre-period, the level and the overlapping campaigns, in a sentence.
    pub note: String,
    /// One row per KPI.
    pub rows: Vec<LiftRow>,
    /// The chart of the KPIs with numbers; None when no KPI has any.
    pub svg: Option<String>,
}

/// The headers of a lift table after the KPI, for an interval of `level`.
fn lift_headers(level: &str) -> [String; 8] {
    [
        "Days".into(),
        "Observed".into(),
        "Baseline".into(),
        "Lift".into(),
        format!("Lift {level} interval"),
        "Relative lift".into(),
        "Halo".into(),
        "Incremental ROAS".into(),
    ]
}

/// A refusal in words: `PRE_PERIOD_TOO_SHORT` and its sentence become
/// "Pre-period too short: the pre-period has …".
fn refusal_words(k: &proto::KpiLift) -> String {
    let name = proto::LiftRefusal::try_from(k.refusal)
        .map(|r| {
            r.as_str_name()
                .to_lowercase()
                .replace("pre_period", "pre-period")
        })
        .unwrap_or_else(|_| "refused".into())
        .replace('_', " ");
    let mut words = name.chars();
    let name: String = words
        .next()
        .map(|c| c.to_uppercase().chain(words).collect())
        .unwrap_or_default();
    format!("{name}: {}", k.reason)
}

/// The rows of a lift answer.
pub fn lift_rows(answer: &proto::CampaignLift, currency: Option<&str>) -> Vec<LiftRow> {
    let range = |l: Option<f64>, u: Option<f64>, show: &dyn Fn(f64) -> String| match (l, u) {
        (Some(l), Some(u)) => format!("{} to {}", show(l), show(u)),
        (Some(l), None) => format!("at least {}", show(l)),
        _ => "–".into(),
    };
    answer
        .kpis
        .iter()
        .map(|k| {
            let Some(t) = k.total.as_ref() else {
                return LiftRow {
                    kpi: k.kpi.clone(),
                    cells: Vec::new(),
                    reason: Some(refusal_words(k)),
                };
            };
            let show = |v: f64| format::value(v, &k.unit, currency);
            let relative = |v: f64| format::percent(100.0 * v);
            let two = |v: f64| format::grouped(v, 2);
            let halo = match k.halo {
                Some(h) => format!("{} ({})", show(h), range(k.halo_lower, k.halo_upper, &show)),
                None => "–".into(),
            };
            let iroas = match k.incremental_roas {
                Some(r) => format!(
                    "{} ({})",
                    two(r),
                    range(k.incremental_roas_lower, k.incremental_roas_upper, &two)
                ),
                None => "–".into(),
            };
            LiftRow {
                kpi: k.kpi.clone(),
                cells: vec![
                    k.total_days.to_string(),
                    show(t.observed),
                    show(t.baseline),
                    show(t.lift),
                    range(Some(t.lift_lower), Some(t.lift_upper), &show),
                    match t.relative_lift {
                        Some(r) => format!(
                            "{} ({})",
                            relative(r),
                            range(t.relative_lift_lower, t.relative_lift_upper, &relative)
                        ),
                        None => "–".into(),
                    },
                    halo,
                    iroas,
                ],
                reason: None,
            }
        })
        .collect()
}

/// The lift section of the page: a table and a chart per campaign.
fn lift_html(h: &mut String, lifts: &[LiftSection]) {
    if lifts.is_empty() {
        return;
    }
    h.push_str(
        "<h2>Lift</h2>\n<p class=\"legend\">What each campaign added to the business as a whole \
         beyond the baseline learned from the weeks before it, over its window and order tail: \
         observed, baseline, lift with its prediction interval, the halo beyond what codes and \
         links attributed, and incremental ROAS (lift in revenue over fees). An interval that \
         contains 0 is no evidence of a lift.</p>\n",
    );
    for section in lifts {
        let _ = write!(
            h,
            "<h3>{}</h3>\n<p class=\"legend\">{}</p>\n<table class=\"lift\">\n<thead><tr><th>KPI</th>",
            escape(&section.campaign),
            escape(&section.note)
        );
        for header in lift_headers(&section.level) {
            let _ = write!(h, "<th class=\"num\">{}</th>", escape(&header));
        }
        h.push_str("</tr></thead>\n<tbody>\n");
        for row in &section.rows {
            let _ = write!(
                h,
                "<tr class=\"lift-kpi\" data-kpi=\"{kpi}\"><td>{kpi}</td>",
                kpi = escape(&row.kpi)
            );
            match &row.reason {
                Some(reason) => {
                    let _ = write!(
                        h,
                        "<td colspan=\"8\" class=\"reason\">{}</td>",
                        escape(reason)
                    );
                }
                None => {
                    for cell in &row.cells {
                        let _ = write!(h, "<td class=\"num\">{}</td>", escape(cell));
                    }
                }
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody>\n</table>\n");
        if let Some(svg) = &section.svg {
            let _ = write!(
                h,
                "<div class=\"chart\">\n{}\n</div>\n",
                strip_xml_declaration(svg)
            );
        }
    }
}

/// The headline tiles: label and KPI id.
pub const TILES: [(&str, &str); 7] = [
    ("Spend", "fees"),
    ("Attributed revenue", "attributed_revenue"),
    ("ROAS", "roas"),
    ("Orders", "attributed_orders"),
    ("Code buyers", "code_buyers"),
    ("Returning buyers", "returning_buyers_after_code"),
    ("Engagement rate per post", "engagement_rate_per_post"),
];

/// The columns of the influencer table: header and KPI id.
pub const COLUMNS: [(&str, &str); 9] = [
    ("Fees", "fees"),
    ("Revenue", "attributed_revenue"),
    ("ROAS", "roas"),
    ("CPE", "cost_per_engagement"),
    ("CPM", "cpm"),
    ("Code buyers", "code_buyers"),
    ("Returning buyers", "returning_buyers_after_code"),
    ("Engagement rate per post", "engagement_rate_per_post"),
    ("Follower growth", "follower_growth_pct"),
];

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

/// The page's title: tenant, campaign (or "all influencers") and period.
pub fn title(report: &Report) -> String {
    let what = match &report.campaign {
        Some(c) => format!("campaign {c}"),
        None => "all influencers".into(),
    };
    let period = format!("{} to {}", report.from, report.to);
    if report.tenant.is_empty() {
        format!("Influencer report: {what}, {period}")
    } else {
        format!("{}: {what}, {period}", report.tenant)
    }
}

/// The influencer table as CSV: raw numbers, empty when undefined, and which values are
/// provisional.
pub fn csv(report: &Report) -> String {
    let mut headers = vec!["influencer"];
    headers.extend(COLUMNS.iter().map(|(_, kpi)| *kpi));
    headers.push("provisional");
    let rows: Vec<Vec<String>> = report
        .influencers
        .iter()
        .map(|r| {
            let mut row = vec![r.display_name.clone()];
            row.extend(
                r.cells
                    .iter()
                    .map(|c| c.raw.map(|v| v.to_string()).unwrap_or_default()),
            );
            let provisional: Vec<&str> = COLUMNS
                .iter()
                .zip(&r.cells)
                .filter(|(_, c)| c.provisional)
                .map(|((_, kpi), _)| *kpi)
                .collect();
            row.push(provisional.join(" "));
            row
        })
        .collect();
    format::csv(&headers, &rows)
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}\
h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{font-size:1.05em}\
.sub{color:#555;margin-top:0}\
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(185px,1fr));gap:10px}\
.tile{border:1px solid #ddd;border-radius:6px;padding:10px 12px}.tile .label{font-size:.8em;color:#555;text-transform:uppercase;letter-spacing:.03em}\
.tile .value{font-size:1.25em;font-weight:bold;margin-top:4px;font-variant-numeric:tabular-nums;white-space:nowrap}.tile .value.none{font-size:1em;color:#777;font-weight:normal}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eee;vertical-align:top}\
th{background:#f6f6f6;font-size:.85em}th.num,td.num{text-align:right;font-variant-numeric:tabular-nums}td.num,#influencers td{white-space:nowrap}\
table.sortable th{cursor:pointer;user-select:none}table.sortable th[aria-sort=ascending]::after{content:' \\25B2'}table.sortable th[aria-sort=descending]::after{content:' \\25BC'}\
td.none{color:#888;font-size:.85em}.prov{color:#555}.mark{color:#b35900;font-style:normal;font-weight:bold}\
.legend{font-size:.85em;color:#555;margin:.5em 0}\
.bar{position:relative;width:140px;height:12px;background:#eee;border-radius:3px}\
.fill{height:100%;border-radius:3px}.expected{position:absolute;top:-3px;width:2px;height:18px;background:#333}\
.status{font-weight:bold;font-size:.8em;padding:1px 6px;border-radius:3px;color:#fff;white-space:nowrap}\
.AT_RISK{background:#d62728}.MISSED{background:#8c564b}.NO_DATA{background:#7f7f7f}.ON_TRACK{background:#1f77b4}.ACHIEVED{background:#2ca02c}.NOT_STARTED{background:#bbb}\
.reason{color:#555;font-size:.85em}.chart svg{max-width:100%;height:auto}\
a.download{display:inline-block;margin:.5em 0;padding:4px 10px;border:1px solid #1f77b4;border-radius:4px;color:#1f77b4;text-decoration:none}\
@media print{body{margin:0;max-width:none;font-size:10pt}a.download{display:none}h2{break-after:avoid}\
.chart,.tile,tr{break-inside:avoid}.tiles{grid-template-columns:repeat(4,1fr)}table.sortable th::after{content:''}\
th{background:none}}";

/// Sorts the influencer table by a clicked column (numbers best first, undefined last),
/// or by `#sort=<kpi>` / `#sort=<kpi>-asc` in the address; marks the table ready.
const SCRIPT: &str = r#"(function(){
function num(td){var v=td.getAttribute('data-v');return v===null||v===''?null:parseFloat(v);}
function sortBy(t,col,desc){
var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows),numeric=t.tHead.rows[0].cells[col].hasAttribute('data-kpi');
rows.sort(function(r,s){var x=r.cells[col],y=s.cells[col];
if(numeric){var p=num(x),q=num(y);if(p===null&&q===null)return 0;if(p===null)return 1;if(q===null)return -1;return desc?q-p:p-q;}
var c=x.textContent.localeCompare(y.textContent);return desc?-c:c;});
rows.forEach(function(r){b.appendChild(r);});
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,i){if(i===col)h.setAttribute('aria-sort',desc?'descending':'ascending');else h.removeAttribute('aria-sort');});}
document.querySelectorAll('table.sortable').forEach(function(t){
var heads=t.tHead.rows[0].cells;
Array.prototype.forEach.call(heads,function(h,i){h.addEventListener('click',function(){
var s=h.getAttribute('aria-sort');sortBy(t,i,s?s==='ascending':h.hasAttribute('data-kpi'));});});
var m=/^#sort=([a-z_]+?)(-asc)?$/.exec(location.hash);
if(m)Array.prototype.forEach.call(heads,function(h,i){if(h.getAttribute('data-kpi')===m[1])sortBy(t,i,!m[2]);});
t.setAttribute('data-sortable','ready');});
})();"#;

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

/// A cell's text with its provisional mark, escaped.
fn cell_html(cell: &Cell) -> String {
    if cell.provisional {
        format!(
            "{}<span class=\"mark\" title=\"provisional\">*</span>",
            escape(&cell.text)
        )
    } else {
        escape(&cell.text)
    }
}

/// The class of a value's element: undefined and provisional values look different.
fn cell_class(cell: &Cell) -> &'static str {
    match (cell.raw.is_some(), cell.provisional) {
        (false, _) => " none",
        (true, true) => " prov",
        (true, false) => "",
    }
}

const LEGEND: &str = "<p class=\"legend\"><span class=\"mark\">*</span> provisional: the value \
    can still change (its days are recomputed as late data arrives) or its period reaches past \
    the newest computed day. Other values are final.</p>\n";

/// The page.
pub fn html(report: &Report) -> String {
    let mut h = String::new();
    let title = title(report);
    let any_provisional = report.tiles.iter().any(|t| t.cell.provisional)
        || report
            .influencers
            .iter()
            .any(|r| r.cells.iter().any(|c| c.provisional));
    // Writing to a String cannot fail.
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>{t}</h1>\n<p class=\"sub\">{from} to {to} ({n} days){scope}</p>\n",
        t = escape(&title),
        from = report.from,
        to = report.to,
        n = (report.to - report.from).num_days() + 1,
        scope = match &report.campaign {
            Some(_) => ", the campaign's participants and their fees in it",
            None => ", every influencer; engagement on the brand's own channels",
        },
    );

    h.push_str("<h2>Headline</h2>\n<div class=\"tiles\">\n");
    for tile in &report.tiles {
        let _ = writeln!(
            h,
            "<div class=\"tile\" data-kpi=\"{kpi}\"><div class=\"label\">{label}</div>\
             <div class=\"value{class}\">{value}</div></div>",
            kpi = escape(&tile.kpi),
            label = escape(&tile.label),
            class = cell_class(&tile.cell),
            value = cell_html(&tile.cell),
        );
    }
    h.push_str("</div>\n");
    if any_provisional {
        h.push_str(LEGEND);
    }

    h.push_str("<h2>Influencers</h2>\n");
    if report.influencers.is_empty() {
        h.push_str("<p>No influencers.</p>\n");
    } else {
        let csv = base64::engine::general_purpose::STANDARD.encode(csv(report));
        let _ = writeln!(
            h,
            "<p class=\"legend\">Each influencer's totals over the period; click a column to sort. \
             <a class=\"download\" download=\"influencers-{from}-{to}.csv\" \
             href=\"data:text/csv;charset=utf-8;base64,{csv}\">Download CSV</a></p>",
            from = report.from,
            to = report.to,
        );
        h.push_str("<table class=\"sortable\" id=\"influencers\">\n<thead><tr><th>Influencer</th>");
        for (header, kpi) in COLUMNS {
            let _ = write!(
                h,
                "<th class=\"num\" data-kpi=\"{kpi}\" title=\"{kpi}\">{}</th>",
                escape(header)
            );
        }
        h.push_str("</tr></thead>\n<tbody>\n");
        for row in &report.influencers {
            let _ = write!(
                h,
                "<tr class=\"influencer\"><td>{}</td>",
                escape(&row.display_name)
            );
            for cell in &row.cells {
                let _ = write!(
                    h,
                    "<td class=\"num{class}\" data-v=\"{v}\">{text}</td>",
                    class = cell_class(cell),
                    v = cell.raw.map(|v| v.to_string()).unwrap_or_default(),
                    text = cell_html(cell),
                );
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody>\n</table>\n");
        if any_provisional {
            h.push_str(LEGEND);
        }
    }

    h.push_str("<h2>Goals</h2>\n");
    if report.goals.is_empty() {
        h.push_str("<p>No goals.</p>\n");
    } else {
        h.push_str(
            "<table class=\"goals\">\n<thead><tr><th>Goal</th><th>Status</th><th>KPI</th><th>Scope</th>\
             <th class=\"num\">Current</th><th class=\"num\">Target</th><th>Progress</th></tr></thead>\n<tbody>\n",
        );
        for g in &report.goals {
            let width = g.progress.unwrap_or(0.0).clamp(0.0, 100.0);
            let progress = g
                .progress
                .map(format::percent)
                .unwrap_or_else(|| "–".into());
            let _ = write!(
                h,
                "<tr class=\"goal\" data-name=\"{name}\"><td>{display}</td>\
                 <td><span class=\"status {status}\">{status_text}</span></td><td>{kpi}</td><td>{scope}</td>\
                 <td class=\"num\">{current}</td><td class=\"num\">{target}</td>\
                 <td><div class=\"bar\" title=\"progress {progress}, expected {expected}\">\
                 <div class=\"fill\" style=\"width:{width:.1}%;background:{colour}\"></div>\
                 <div class=\"expected\" style=\"left:{exp_left:.1}%\"></div></div>\
                 {progress} <span class=\"reason\">(expected {expected})</span></td></tr>\n\
                 <tr><td colspan=\"7\" class=\"reason\">{reason}</td></tr>\n",
                name = escape(&g.name),
                display = escape(&g.display_name),
                status = escape(&g.status),
                status_text = escape(&g.status.replace('_', " ").to_lowercase()),
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
        h.push_str("</tbody>\n</table>\n");
    }
    for chart in &report.charts {
        let _ = write!(
            h,
            "<h3>{}</h3>\n<div class=\"chart\">\n{}\n</div>\n",
            escape(&chart.heading),
            strip_xml_declaration(&chart.svg)
        );
    }

    lift_html(&mut h, &report.lifts);
    h.push_str(&super::follower_jumps::audit_html(&report.audit));
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
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
    /// Campaign `campaigns/{c}` the report is about: its participants, its fees and, by
    /// default, its window with the orders of the 30 days after it.
    #[arg(long)]
    pub campaign: Option<String>,
    /// Name of the client (the tenant) for the title; the API key does not tell it.
    #[arg(long, env = "TALLY_TENANT_NAME")]
    pub tenant_name: Option<String>,
    /// Days the report covers, ending with --to (default 90, or the campaign's window).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=400))]
    pub days: Option<u16>,
    /// Last day of the report (YYYY-MM-DD); yesterday (UTC) by default.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    #[command(flatten)]
    pub currency: Currency,
    #[command(flatten)]
    pub conn: Conn,
}

/// Orders of a campaign count this many days after its end by default (KPIS.md).
const ORDER_WINDOW_DAYS: u64 = 30;

/// The period of a report: explicit days ending on `to`, or a campaign's window with its
/// order tail, never past yesterday.
pub fn period(
    days: Option<u16>,
    to: Option<NaiveDate>,
    yesterday: NaiveDate,
    campaign: Option<(NaiveDate, NaiveDate)>,
) -> (NaiveDate, NaiveDate) {
    match (campaign, days, to) {
        (Some((start, end)), None, None) => {
            let last = (end + chrono::Days::new(ORDER_WINDOW_DAYS)).min(yesterday);
            (start, last.max(start))
        }
        _ => {
            let to = to.unwrap_or(yesterday);
            let days = u64::from(days.unwrap_or(90));
            (to - chrono::Days::new(days - 1), to)
        }
    }
}

/// Runs `tally report`.
pub async fn run(args: ReportArgs) -> Result<(), HumanError> {
    let client = Client::connect(&args.conn).await?;
    let currency = client.currency(&args.currency).await?;
    let currency = currency.as_deref();
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    let campaign = match &args.campaign {
        Some(name) => Some(
            proto::campaign_service_client::CampaignServiceClient::new(client.channel.clone())
                .get_campaign(client.req(proto::GetCampaignRequest { name: name.clone() }))
                .await?
                .into_inner(),
        ),
        None => None,
    };
    let window = campaign
        .as_ref()
        .and_then(|c| Some((naive(c.start_date.as_ref())?, naive(c.end_date.as_ref())?)));
    let (from, to) = period(args.days, args.to, yesterday, window);
    let scope = campaign
        .as_ref()
        .map_or_else(|| "tenant".to_string(), |c| c.name.clone());
    let definitions = client.definitions().await?;
    let units: HashMap<&str, &str> = definitions
        .iter()
        .map(|d| (d.id.as_str(), d.unit.as_str()))
        .collect();
    let roll_ups: HashMap<&str, proto::RollUp> = definitions
        .iter()
        .filter_map(|d| Some((d.id.as_str(), proto::RollUp::try_from(d.roll_up).ok()?)))
        .collect();
    let unit_of = |kpi: &str| units.get(kpi).copied().unwrap_or("");
    let names = client.display_names().await?;
    let range = |kpi: &'static str, scope: String| {
        let client = &client;
        async move {
            let value = client
                .query(kpi, &scope, "", from, to, proto::Granularity::Range)
                .await?
                .into_iter()
                .next()
                .unwrap_or_default();
            Ok::<_, HumanError>(value)
        }
    };

    let mut tiles = Vec::new();
    for (label, kpi) in TILES {
        let value = range(kpi, scope.clone()).await?;
        tiles.push(Tile {
            label: label.into(),
            kpi: kpi.into(),
            cell: Cell::of(&value, unit_of(kpi), currency),
        });
    }

    let mut influencers: Vec<(String, String)> = match &campaign {
        Some(c) => c
            .participants
            .iter()
            .map(|p| (p.influencer.clone(), scope_label(&p.influencer, &names)))
            .collect(),
        None => client
            .list_influencers()
            .await?
            .into_iter()
            .map(|i| (i.name, i.display_name))
            .collect(),
    };
    influencers.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let mut rows = Vec::new();
    for (name, display_name) in &influencers {
        let mut cells = Vec::new();
        for (_, kpi) in COLUMNS {
            let value = range(kpi, name.clone()).await?;
            cells.push(Cell::of(&value, unit_of(kpi), currency));
        }
        rows.push(InfluencerRow {
            display_name: display_name.clone(),
            cells,
        });
    }

    let in_report = |goal_scope: &str| match &campaign {
        None => true,
        Some(c) => {
            goal_scope == c.name || c.participants.iter().any(|p| p.influencer == goal_scope)
        }
    };
    let mut goal_rows = Vec::new();
    let mut charts = Vec::new();
    for g in goal_progress(&client).await? {
        if !in_report(&g.goal.scope) {
            continue;
        }
        let unit = unit_of(&g.goal.kpi);
        let e = g.evaluation.as_ref();
        let show = |v: Option<f64>| {
            v.map(|v| format::value(v, unit, currency))
                .unwrap_or_else(|| "–".into())
        };
        let scope_text = if g.goal.segment.is_empty() {
            scope_label(&g.goal.scope, &names)
        } else {
            format!(
                "{}, {}",
                scope_label(&g.goal.scope, &names),
                scope_label(&g.goal.segment, &names)
            )
        };
        goal_rows.push(GoalRow {
            name: g.goal.name.clone(),
            display_name: g.goal.display_name.clone(),
            kpi: g.goal.kpi.clone(),
            scope: scope_text.clone(),
            status: g.status(),
            current: show(e.and_then(|e| e.current_value)),
            target: show(e.and_then(|e| e.target)),
            progress: e.and_then(|e| e.progress_percent),
            expected: e.map(|e| e.expected_progress_percent).unwrap_or(0.0),
            reason: e
                .map(|e| e.reason.clone())
                .unwrap_or_else(|| format!("starts on {}", day_text(g.goal.start_date.as_ref()))),
        });
        let roll_up = roll_ups.get(g.goal.kpi.as_str()).copied();
        let measure = Measure::of(roll_up, g.goal.trailing_days);
        let (Some(start), Some(e)) = (naive(g.goal.start_date.as_ref()), e) else {
            continue;
        };
        let Some(m) = naive(e.measured_day.as_ref()) else {
            continue;
        };
        let key = proto::KpiScope {
            kpi: g.goal.kpi.clone(),
            scope: g.goal.scope.clone(),
            segment: g.goal.segment.clone(),
        };
        let points = client
            .measured(&key, roll_up, measure, start, start, m)
            .await?;
        let chart = GoalChart {
            goal: &g.goal,
            evaluation: Some(e),
            measure,
            unit,
            currency,
        };
        let data = chart.data(vec![chart::Series {
            label: scope_text,
            points,
        }]);
        charts.push(ChartSection {
            heading: g.goal.display_name.clone(),
            svg: chart::svg(&data)?,
        });
    }

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
    let lift_campaigns = match &campaign {
        Some(c) => vec![c.clone()],
        None => client
            .list_campaigns()
            .await?
            .into_iter()
            .filter(|c| {
                let (Some(start), Some(end)) =
                    (naive(c.start_date.as_ref()), naive(c.end_date.as_ref()))
                else {
                    return false;
                };
                start <= to && end >= from
            })
            .collect(),
    };
    let mut lifts = Vec::new();
    for c in &lift_campaigns {
        lifts.push(lift_section(&client, c, currency).await?);
    }
    let page = html(&Report {
        tenant: args.tenant_name.clone().unwrap_or_default(),
        campaign: campaign.map(|c| c.display_name),
        from,
        to,
        tiles,
        goals: goal_rows,
        influencers: rows,
        charts,
        audit,
        lifts,
    });
    std::fs::write(&args.out, page).map_err(|source| HumanError::Write {
        path: args.out.clone(),
        source,
    })?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// A campaign's lift section: GetCampaignLift with the default KPIs, the chart of those
/// with numbers.
async fn lift_section(
    client: &Client,
    campaign: &proto::Campaign,
    currency: Option<&str>,
) -> Result<LiftSection, HumanError> {
    let ask = lift_chart::LiftAsk {
        campaign: &campaign.name,
        kpis: Vec::new(),
        level: None,
        pre_period_days: None,
        accept_overlap: false,
    };
    let (answer, _) = client.lift_with_campaign(&ask).await?;
    let currency = currency.or(Some(answer.currency_code.as_str()).filter(|c| !c.is_empty()));
    let level = lift_chart::level_text(answer.interval_level);
    let mut note = format!(
        "Baseline learned from {} to {}, data to {}; {level} prediction intervals.",
        day_text(answer.pre_period_start_date.as_ref()),
        day_text(answer.pre_period_end_date.as_ref()),
        day_text(answer.newest_computed_date.as_ref()),
    );
    if !answer.overlapping_campaigns.is_empty() {
        let names = client.display_names().await?;
        let overlapping: Vec<String> = answer
            .overlapping_campaigns
            .iter()
            .map(|c| scope_label(c, &names))
            .collect();
        let _ = write!(note, " Overlapping campaigns: {}.", overlapping.join(", "));
    }
    let name = if campaign.display_name.is_empty() {
        campaign.name.clone()
    } else {
        campaign.display_name.clone()
    };
    let data = lift_chart::from_answer(
        &answer,
        format!("Lift of {name}: observed against the baseline"),
        lift_chart::campaign_days(campaign)?,
        currency,
        true,
    );
    let svg = if data.panels.is_empty() {
        None
    } else {
        Some(lift_chart::svg(&data)?)
    };
    Ok(LiftSection {
        campaign: name,
        level,
        note,
        rows: lift_rows(&answer, currency),
        svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    #[test]
    fn escapes() {
        assert_eq!(
            escape("<b>x</b> & \"q\" 'a'"),
            "&lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot; &#39;a&#39;"
        );
    }

    #[test]
    fn periods() {
        let y = day(30);
        // A campaign from the 1st to the 10th: its window and 30 days of orders, cut at
        // yesterday.
        assert_eq!(period(None, None, y, Some((day(1), day(10)))), (day(1), y));
        let later = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert_eq!(
            period(None, None, later, Some((day(1), day(1)))),
            (day(1), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())
        );
        // Explicit days win over the campaign.
        assert_eq!(
            period(Some(7), None, y, Some((day(1), day(10)))),
            (day(24), y)
        );
        assert_eq!(
            period(None, Some(day(10)), y, None),
            (day(10) - chrono::Days::new(89), day(10))
        );
    }

    #[test]
    fn page_title_marks_and_csv() {
        let cell = |raw: Option<f64>, text: &str, provisional| Cell {
            raw,
            text: text.into(),
            provisional,
        };
        let mut cells = vec![cell(Some(1200.0), "1,200.00 EUR", false); COLUMNS.len()];
        cells[2] = cell(None, "zero denominator", false);
        cells[6] = cell(Some(3.0), "3", true);
        let report = Report {
            tenant: "Acme & Co".into(),
            campaign: Some("Autumn <launch>".into()),
            from: day(1),
            to: day(30),
            tiles: vec![Tile {
                label: "Spend".into(),
                kpi: "fees".into(),
                cell: cell(Some(1200.0), "1,200.00 EUR", false),
            }],
            goals: vec![],
            influencers: vec![InfluencerRow {
                display_name: "Anna, \"the\" one".into(),
                cells,
            }],
            charts: vec![],
            audit: vec![],
            lifts: vec![LiftSection {
                campaign: "Autumn <launch>".into(),
                level: "90%".into(),
                note: "Baseline learned from 2026-09-06 to 2026-10-31.".into(),
                rows: vec![
                    LiftRow {
                        kpi: "all_revenue".into(),
                        cells: (1..=8).map(|i| format!("cell {i}")).collect(),
                        reason: None,
                    },
                    LiftRow {
                        kpi: "code_buyers".into(),
                        cells: vec![],
                        reason: Some("Pre-period too short: only <20> days".into()),
                    },
                ],
                svg: Some("<?xml version=\"1.0\"?><svg id=\"lift\"></svg>".into()),
            }],
        };
        assert_eq!(
            title(&report),
            "Acme & Co: campaign Autumn <launch>, 2026-11-01 to 2026-11-30"
        );
        let page = html(&report);
        assert!(page.contains(
            "<title>Acme &amp; Co: campaign Autumn &lt;launch&gt;, 2026-11-01 to 2026-11-30</title>"
        ));
        assert!(page.contains("<td class=\"num prov\" data-v=\"3\">3<span class=\"mark\""));
        assert!(page.contains("<td class=\"num none\" data-v=\"\">zero denominator</td>"));
        assert!(page.contains("provisional: the value"));
        assert!(page.contains("@media print"));
        let csv = csv(&report);
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some(
                "influencer,fees,attributed_revenue,roas,cost_per_engagement,cpm,code_buyers,\
                 returning_buyers_after_code,engagement_rate_per_post,follower_growth_pct,provisional"
            )
        );
        assert_eq!(
            lines.next(),
            Some(
                "\"Anna, \"\"the\"\" one\",1200,1200,,1200,1200,1200,3,1200,1200,returning_buyers_after_code"
            )
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(&csv);
        assert!(page.contains(&format!("base64,{encoded}\"")));
        // The lift section: a heading per campaign, the interval's level in the header,
        // numbers in cells, a reason in words across the row, and the chart inline.
        let lift = &page[page.find("<h2>Lift</h2>").expect("lift section")..];
        assert!(lift.contains("<h3>Autumn &lt;launch&gt;</h3>"));
        assert!(lift.contains("<th class=\"num\">Lift 90% interval</th>"));
        assert!(lift.contains(
            "<tr class=\"lift-kpi\" data-kpi=\"all_revenue\"><td>all_revenue</td><td class=\"num\">cell 1</td>"
        ));
        assert_eq!(lift.matches("<td class=\"num\">cell").count(), 8);
        assert!(lift.contains(
            "<td colspan=\"8\" class=\"reason\">Pre-period too short: only &lt;20&gt; days</td>"
        ));
        assert!(lift.contains("<div class=\"chart\">\n<svg id=\"lift\"></svg>"));
        assert!(page.find("<h2>Lift</h2>") < page.find("<h2>Audit</h2>"));
        let without = html(&Report {
            lifts: vec![],
            ..report.clone()
        });
        assert!(!without.contains("<h2>Lift</h2>"));
    }

    #[test]
    fn lift_rows_format_totals_and_put_reasons_in_words() {
        let answer = proto::CampaignLift {
            interval_level: 0.9,
            kpis: vec![
                proto::KpiLift {
                    kpi: "all_revenue".into(),
                    unit: "money".into(),
                    total: Some(proto::LiftEstimate {
                        observed: 1500.0,
                        baseline: 1000.0,
                        baseline_lower: 900.0,
                        baseline_upper: 1100.0,
                        lift: 500.0,
                        lift_lower: 400.0,
                        lift_upper: 600.0,
                        relative_lift: Some(0.5),
                        relative_lift_lower: Some(1500.0 / 1100.0 - 1.0),
                        relative_lift_upper: None,
                    }),
                    total_days: 14,
                    attributed: Some(150.0),
                    halo: Some(350.0),
                    halo_lower: Some(250.0),
                    halo_upper: Some(450.0),
                    incremental_roas: Some(2.5),
                    incremental_roas_lower: Some(2.0),
                    incremental_roas_upper: Some(3.0),
                    ..Default::default()
                },
                proto::KpiLift {
                    kpi: "code_buyers".into(),
                    refusal: proto::LiftRefusal::PrePeriodTooShort as i32,
                    reason: "the pre-period has 20 days with a value".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let rows = lift_rows(&answer, Some("EUR"));
        assert_eq!(
            rows[0].cells,
            [
                "14",
                "1,500.00 EUR",
                "1,000.00 EUR",
                "500.00 EUR",
                "400.00 EUR to 600.00 EUR",
                "50.0% (at least 36.4%)",
                "350.00 EUR (250.00 EUR to 450.00 EUR)",
                "2.50 (2.00 to 3.00)",
            ]
        );
        assert_eq!(rows[0].reason, None);
        assert_eq!(
            rows[1].reason.as_deref(),
            Some("Pre-period too short: the pre-period has 20 days with a value")
        );
        assert!(rows[1].cells.is_empty());
    }
}
