//! `tally chart`: a KPI's values on one or more scopes, with a goal's target and forecast,
//! as an SVG or PNG line chart (plotters). Drawing works from a plain [`ChartData`], so
//! that it can be tested without a server. Undefined periods are gaps, never zeros.
use super::connection::{Client, Conn, Currency, HumanError, naive};
use super::format;
use crate::proto;
use chrono::NaiveDate;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Colours of the series in order (the usual colour-blind-friendly "tab10" start).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Colours of the dashed guide lines (target, forecast), apart from the series colours.
const GUIDE_COLOURS: [RGBColor; 2] = [RGBColor(0, 0, 0), RGBColor(127, 127, 127)];

/// One line: a label and a value (or a gap) per period, by the period's first day.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Points in date order; `None` is an undefined period.
    pub points: Vec<(NaiveDate, Option<f64>)>,
}

/// A dashed horizontal line, such as a goal's target.
#[derive(Clone, Debug, PartialEq)]
pub struct Guide {
    /// Legend text.
    pub label: String,
    /// Its value on the y axis.
    pub value: f64,
}

/// Everything a chart shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartData {
    /// Caption above the plot.
    pub title: String,
    /// Description of the y axis: the unit.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Dashed horizontal lines.
    pub guides: Vec<Guide>,
    /// Days of unusual follower jumps without engagement (ListFollowerFlags), marked on
    /// the x axis; only charts of follower KPIs have them.
    pub flags: Vec<NaiveDate>,
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The font named by TALLY_FONT cannot be read or used.
    #[error("TALLY_FONT: cannot use {0} as a TrueType font")]
    BadFont(PathBuf),
    /// The output name has no known extension.
    #[error("chart file must end in .svg or .png: {0}")]
    Extension(PathBuf),
    /// Plotters failed.
    #[error("cannot draw the chart: {0}")]
    Draw(String),
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Chart size in pixels.
const SIZE: (u32, u32) = (960, 480);

/// Writes the chart to `path`, SVG or PNG by its extension.
pub fn write(data: &ChartData, path: &Path) -> Result<(), ChartError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => {
            let svg = svg(data)?;
            std::fs::write(path, svg).map_err(|source| ChartError::Write {
                path: path.into(),
                source,
            })
        }
        Some("png") => {
            ensure_font()?;
            let root = BitMapBackend::new(path, SIZE).into_drawing_area();
            draw(&root, data)?;
            root.present().map_err(|e| ChartError::Draw(e.to_string()))
        }
        _ => Err(ChartError::Extension(path.into())),
    }
}

/// The chart as an SVG document.
pub fn svg(data: &ChartData) -> Result<String, ChartError> {
    // The SVG names the font family and lets the viewer draw the text, but plotters
    // measures labels with a real font to lay the axes out.
    ensure_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root, data)?;
        root.present()
            .map_err(|e| ChartError::Draw(e.to_string()))?;
    }
    Ok(out)
}

/// Registers the chart font once as plotters' `sans-serif`: the file named by `TALLY_FONT`,
/// else DejaVu Sans built into the binary, so charts need nothing from the system.
fn ensure_font() -> Result<(), ChartError> {
    static FONT: OnceLock<Result<(), PathBuf>> = OnceLock::new();
    let result = FONT.get_or_init(|| {
        let bytes: &'static [u8] = match std::env::var_os("TALLY_FONT").filter(|p| !p.is_empty()) {
            Some(path) => {
                let path = PathBuf::from(path);
                let bytes = std::fs::read(&path).map_err(|_| path.clone())?;
                // plotters keeps fonts for the life of the process; one leaked file is that.
                Box::leak(bytes.into_boxed_slice())
            }
            None => dejavu::sans::regular(),
        };
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| PathBuf::from(std::env::var_os("TALLY_FONT").unwrap_or_default()))
    });
    result.clone().map_err(ChartError::BadFont)
}

/// Days since 1970-01-01: the x coordinate.
fn x(day: NaiveDate) -> i64 {
    (day - NaiveDate::default()).num_days()
}

/// The defined runs of a series: each run of consecutive defined points is one segment.
pub fn segments(points: &[(NaiveDate, Option<f64>)]) -> Vec<Vec<(i64, f64)>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for (day, value) in points {
        match value {
            Some(v) if v.is_finite() => current.push((x(*day), *v)),
            _ => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn ranges(data: &ChartData) -> (std::ops::Range<i64>, std::ops::Range<f64>) {
    let days: Vec<i64> = data
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|(d, _)| x(*d)))
        .collect();
    let (x0, x1) = match (days.iter().min(), days.iter().max()) {
        (Some(&a), Some(&b)) if a < b => (a, b),
        (Some(&a), _) => (a - 1, a + 1),
        _ => (0, 1),
    };
    let values: Vec<f64> = data
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|(_, v)| *v))
        .chain(data.guides.iter().map(|g| g.value))
        .filter(|v| v.is_finite())
        .collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if !lo.is_finite() {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 1.0, hi + 1.0)
    } else {
        let pad = (hi - lo) * 0.08;
        (lo - pad, hi + pad)
    };
    (x0..x1, lo..hi)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &ChartData,
) -> Result<(), ChartError> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| ChartError::Draw(e.to_string());
    root.fill(&WHITE).map_err(err)?;
    let (xr, yr) = ranges(data);
    let (x0, x1) = (xr.start, xr.end);
    let mut chart = ChartBuilder::on(root)
        .caption(&data.title, ("sans-serif", 20))
        .margin(12)
        // Room for the last date label, centred on the right edge.
        .margin_right(48)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(xr, yr)
        .map_err(err)?;
    let date_label = |v: &i64| {
        NaiveDate::default()
            .checked_add_signed(chrono::Duration::days(*v))
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let value_label = |v: &f64| {
        let span = chart_span(data);
        format::grouped(*v, if span >= 10.0 { 0 } else { 2 })
    };
    chart
        .configure_mesh()
        .x_desc("date")
        .y_desc(&data.y_label)
        .x_labels(7)
        .y_labels(8)
        .x_label_formatter(&date_label)
        .y_label_formatter(&value_label)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;

    for (i, series) in data.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let style = colour.stroke_width(2);
        let segments = segments(&series.points);
        let label = if segments.is_empty() {
            format!("{} (no values)", series.label)
        } else {
            series.label.clone()
        };
        chart
            .draw_series(
                segments
                    .iter()
                    .filter(|s| s.len() > 1)
                    .map(|s| PathElement::new(s.clone(), style)),
            )
            .map_err(err)?
            .label(label)
            // A filled box keeps the legend out of the series' polylines.
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 16, y + 4)], colour.filled()));
        // A lone defined period between gaps has no line to draw; mark it with a dot.
        chart
            .draw_series(
                segments
                    .iter()
                    .filter(|s| s.len() == 1)
                    .map(|s| Circle::new(s[0], 3, colour.filled())),
            )
            .map_err(err)?;
    }
    for (i, guide) in data.guides.iter().enumerate() {
        let colour = GUIDE_COLOURS[i % GUIDE_COLOURS.len()];
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, guide.value), (x1, guide.value)],
                8,
                6,
                colour.stroke_width(1),
            ))
            .map_err(err)?
            .label(guide.label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 1), (x + 16, y + 1)], colour.filled()));
    }
    if !data.flags.is_empty() {
        // A red triangle under the plot's top edge on each flagged day.
        let top = chart.y_range().end;
        let red = RGBColor(200, 0, 0);
        chart
            .draw_series(
                data.flags
                    .iter()
                    .map(|d| TriangleMarker::new((x(*d), top), 7, red.filled())),
            )
            .map_err(err)?
            .label(super::follower_jumps::LEGEND)
            .legend(move |(x, y)| TriangleMarker::new((x + 8, y), 6, red.filled()));
    }
    if !data.series.is_empty() || !data.guides.is_empty() || !data.flags.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// The spread of the values, to choose the decimals of the y labels.
fn chart_span(data: &ChartData) -> f64 {
    let (_, y) = ranges(data);
    y.end - y.start
}

/// Periods of a chart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ChartGranularity {
    /// One point per day.
    #[default]
    Day,
    /// One point per ISO week.
    Week,
    /// One point per month.
    Month,
}

/// Arguments of `tally chart`.
#[derive(Debug, clap::Args)]
pub struct ChartArgs {
    /// KPI id, such as `followers`.
    pub kpi: String,
    /// Scope of a line; repeat for several lines.
    #[arg(long, required = true)]
    pub scope: Vec<String>,
    /// Segment `segments/{s}`; repeat for a line per segment.
    #[arg(long)]
    pub segment: Vec<String>,
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    pub from: NaiveDate,
    /// Last day (YYYY-MM-DD).
    #[arg(long)]
    pub to: NaiveDate,
    /// One point per day, week or month.
    #[arg(long, value_enum, default_value_t)]
    pub granularity: ChartGranularity,
    /// Output file, `.svg` or `.png`.
    #[arg(long)]
    pub out: PathBuf,
    /// Goal `goals/{g}` whose target and forecast to draw as dashed lines.
    #[arg(long)]
    pub goal: Option<String>,
    #[command(flatten)]
    pub currency: Currency,
    #[command(flatten)]
    pub conn: Conn,
}

/// The y-axis text of a unit: money names the currency when known.
pub(super) fn unit_label(unit: &str, currency: Option<&str>) -> String {
    match (unit, currency) {
        ("", _) => "value".into(),
        ("money", Some(c)) => c.into(),
        ("money_per_user", Some(c)) => format!("{c} per user"),
        ("percent", _) => "percent (%)".into(),
        ("per_mille", _) => "per mille (‰)".into(),
        (unit, _) => unit.into(),
    }
}

/// A series from query values: one point per period, by its first day.
pub(super) fn series(label: String, values: &[proto::KpiValue]) -> Series {
    Series {
        label,
        points: values
            .iter()
            .filter_map(|v| Some((naive(v.first_day.as_ref())?, v.value)))
            .collect(),
    }
}

/// The dashed lines of a goal: its target and, when there is one, its forecast.
pub(super) fn goal_guides(
    goal: &str,
    evaluation: &proto::GoalEvaluation,
    deadline: Option<NaiveDate>,
    unit: &str,
    currency: Option<&str>,
) -> Vec<Guide> {
    let mut guides = Vec::new();
    if let Some(t) = evaluation.target {
        guides.push(Guide {
            label: format!("target of {goal}: {}", format::value(t, unit, currency)),
            value: t,
        });
    }
    if let Some(f) = evaluation.forecast {
        let by = deadline.map(|d| format!(" by {d}")).unwrap_or_default();
        guides.push(Guide {
            label: format!("forecast{by}: {}", format::value(f, unit, currency)),
            value: f,
        });
    }
    guides
}

/// Runs `tally chart`.
pub async fn run(args: ChartArgs) -> Result<(), HumanError> {
    if args.to < args.from {
        return Err(HumanError::Usage(format!(
            "--to {} is before --from {}",
            args.to, args.from
        )));
    }
    let client = Client::connect(&args.conn).await?;
    let currency = client.currency(&args.currency).await?;
    let currency = currency.as_deref();
    let unit = client.unit(&args.kpi).await?;
    let granularity = match args.granularity {
        ChartGranularity::Day => proto::Granularity::Day,
        ChartGranularity::Week => proto::Granularity::Week,
        ChartGranularity::Month => proto::Granularity::Month,
    };
    let segments: Vec<&str> = if args.segment.is_empty() {
        vec![""]
    } else {
        args.segment.iter().map(String::as_str).collect()
    };
    let mut lines = Vec::new();
    for scope in &args.scope {
        for segment in &segments {
            let values = client
                .query(&args.kpi, scope, segment, args.from, args.to, granularity)
                .await?;
            let label = if segment.is_empty() {
                scope.clone()
            } else {
                format!("{scope} {segment}")
            };
            lines.push(series(label, &values));
        }
    }
    let mut guides = Vec::new();
    if let Some(goal) = &args.goal {
        let g = client
            .goals()
            .get_goal(client.req(proto::GetGoalRequest { name: goal.clone() }))
            .await?
            .into_inner();
        if let Some(e) = client.progress(goal).await? {
            guides = goal_guides(goal, &e, naive(g.deadline.as_ref()), &unit, currency);
        }
    }
    let mut flags = Vec::new();
    if super::follower_jumps::applies_to(&args.kpi) {
        for scope in &args.scope {
            for f in client.follower_flags(scope, args.from, args.to).await? {
                flags.extend(naive(f.day.as_ref()));
            }
        }
    }
    let data = ChartData {
        title: format!("{} from {} to {}", args.kpi, args.from, args.to),
        y_label: unit_label(&unit, currency),
        series: lines,
        guides,
        flags,
    };
    write(&data, &args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn gaps_split_segments() {
        let points = vec![
            (day(1), Some(1.0)),
            (day(2), Some(2.0)),
            (day(3), None),
            (day(4), Some(4.0)),
            (day(5), None),
            (day(6), None),
        ];
        let s = segments(&points);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].len(), 2);
        assert_eq!(s[1], vec![(x(day(4)), 4.0)]);
        assert!(segments(&[(day(1), None)]).is_empty());
    }
}
