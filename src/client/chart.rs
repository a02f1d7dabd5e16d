//! `tally chart`: a KPI's values on one or more scopes, with a goal's target and forecast,
//! as an SVG or PNG line chart (plotters). Drawing works from a plain [`ChartData`], so
//! that it can be tested without a server. Undefined periods are gaps, never zeros.
use super::connection::{Client, Conn, Currency, HumanError, all_pages, naive};
use super::format;
use super::goal_chart;
use crate::proto;
use crate::proto::segment_service_client::SegmentServiceClient;
use chrono::NaiveDate;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::HashMap;
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

/// How far a point can be trusted, which decides how it is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mark {
    /// A full period whose value can no longer change: a filled line.
    #[default]
    Firm,
    /// A full period whose value may still change (not `final`): a hollow point on a
    /// dashed line.
    Provisional,
    /// A period with fewer days than its granularity's (KPIS.md: partial): a hollow point,
    /// never joined to its neighbours, whose values are not comparable with it.
    Partial,
}

impl Mark {
    /// The mark of a query value: partial first (not comparable at all), then not final.
    pub fn of(value: &proto::KpiValue) -> Mark {
        if value.partial {
            Mark::Partial
        } else if !value.r#final {
            Mark::Provisional
        } else {
            Mark::Firm
        }
    }
}

/// One period of a line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// The x position: the period's first day (a goal's measure: the day measured).
    pub day: NaiveDate,
    /// The value; `None` is an undefined period (a gap).
    pub value: Option<f64>,
    /// How it is drawn.
    pub mark: Mark,
}

/// One line: a label and a value (or a gap) per period.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Points in date order.
    pub points: Vec<Point>,
}

/// How a guide line is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuideStyle {
    /// A goal's target: solid black.
    Target,
    /// The path a goal expects (start to target at the deadline): dotted grey.
    Expected,
    /// A forecast: dashed dark red.
    Forecast,
}

impl GuideStyle {
    fn colour(self) -> RGBColor {
        match self {
            GuideStyle::Target => RGBColor(0, 0, 0),
            GuideStyle::Expected => RGBColor(120, 120, 120),
            GuideStyle::Forecast => RGBColor(170, 30, 30),
        }
    }
}

/// A straight guide through two or more points, such as a goal's target or forecast.
#[derive(Clone, Debug, PartialEq)]
pub struct Guide {
    /// Legend text.
    pub label: String,
    /// Its points, in date order.
    pub points: Vec<(NaiveDate, f64)>,
    /// How it is drawn.
    pub style: GuideStyle,
}

/// Everything a chart shows.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ChartData {
    /// Caption above the plot.
    pub title: String,
    /// Description of the y axis: the unit.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Guide lines (target, expected path, forecast).
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
pub(super) fn ensure_font() -> Result<(), ChartError> {
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

/// How a series is drawn: solid runs between firm points, dashed links into and out of
/// provisional points, and single markers.
#[derive(Debug, Default, PartialEq)]
pub struct Strokes {
    /// Runs of two or more consecutive firm points: solid polylines.
    pub solid: Vec<Vec<(i64, f64)>>,
    /// Two-point links touching a provisional point: dashed.
    pub dashed: Vec<[(i64, f64); 2]>,
    /// Firm points with no solid neighbour: filled dots.
    pub dots: Vec<(i64, f64)>,
    /// Provisional and partial points: hollow circles.
    pub hollow: Vec<(i64, f64)>,
}

/// The strokes of a series. A gap breaks every line; a partial period is never joined to
/// a neighbour, so that its value is not read as comparable with a full period's.
pub fn strokes(points: &[Point]) -> Strokes {
    let mut out = Strokes::default();
    let mut run: Vec<(i64, f64)> = Vec::new();
    let mut previous: Option<((i64, f64), Mark)> = None;
    let end_run = |run: &mut Vec<(i64, f64)>, out: &mut Strokes| {
        match run.len() {
            0 => {}
            1 => out.dots.push(run[0]),
            _ => out.solid.push(std::mem::take(run)),
        }
        run.clear();
    };
    for point in points {
        let Some(v) = point.value.filter(|v| v.is_finite()) else {
            end_run(&mut run, &mut out);
            previous = None;
            continue;
        };
        let here = (x(point.day), v);
        match point.mark {
            Mark::Firm => {
                if let Some((p, Mark::Provisional)) = previous {
                    out.dashed.push([p, here]);
                }
                if !matches!(previous, Some((_, Mark::Firm))) {
                    end_run(&mut run, &mut out);
                }
                run.push(here);
            }
            Mark::Provisional => {
                end_run(&mut run, &mut out);
                if let Some((p, Mark::Firm | Mark::Provisional)) = previous {
                    out.dashed.push([p, here]);
                }
                out.hollow.push(here);
            }
            Mark::Partial => {
                end_run(&mut run, &mut out);
                out.hollow.push(here);
            }
        }
        previous = Some((here, point.mark));
    }
    end_run(&mut run, &mut out);
    out
}

fn ranges(data: &ChartData) -> (std::ops::Range<i64>, std::ops::Range<f64>) {
    let days: Vec<i64> = data
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| x(p.day)))
        .chain(
            data.guides
                .iter()
                .flat_map(|g| g.points.iter().map(|(d, _)| x(*d))),
        )
        .collect();
    let (x0, x1) = match (days.iter().min(), days.iter().max()) {
        (Some(&a), Some(&b)) if a < b => (a, b),
        (Some(&a), _) => (a - 1, a + 1),
        _ => (0, 1),
    };
    let values: Vec<f64> = data
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.value))
        .chain(
            data.guides
                .iter()
                .flat_map(|g| g.points.iter().map(|(_, v)| *v)),
        )
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

    let mut any_provisional = false;
    let mut any_partial = false;
    for (i, series) in data.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let style = colour.stroke_width(2);
        let strokes = strokes(&series.points);
        any_provisional |= series
            .points
            .iter()
            .any(|p| p.value.is_some() && p.mark == Mark::Provisional);
        any_partial |= series
            .points
            .iter()
            .any(|p| p.value.is_some() && p.mark == Mark::Partial);
        let defined = series.points.iter().any(|p| p.value.is_some());
        let label = if defined {
            series.label.clone()
        } else {
            format!("{} (no values)", series.label)
        };
        chart
            .draw_series(
                strokes
                    .solid
                    .iter()
                    .map(|s| PathElement::new(s.clone(), style)),
            )
            .map_err(err)?
            .label(label)
            // A filled box keeps the legend out of the series' polylines.
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 16, y + 4)], colour.filled()));
        for link in &strokes.dashed {
            chart
                .draw_series(DashedLineSeries::new(link.to_vec(), 5, 4, style))
                .map_err(err)?;
        }
        chart
            .draw_series(
                strokes
                    .dots
                    .iter()
                    .map(|p| Circle::new(*p, 3, colour.filled())),
            )
            .map_err(err)?;
        chart
            .draw_series(
                strokes
                    .hollow
                    .iter()
                    .map(|p| Circle::new(*p, 4, WHITE.filled())),
            )
            .map_err(err)?;
        chart
            .draw_series(
                strokes
                    .hollow
                    .iter()
                    .map(|p| Circle::new(*p, 4, colour.stroke_width(2))),
            )
            .map_err(err)?;
    }
    let grey = RGBColor(90, 90, 90);
    if any_provisional {
        chart
            .draw_series(std::iter::empty::<Circle<(i64, f64), i32>>())
            .map_err(err)?
            .label("dashed, hollow: may still change (not final)")
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (5, 0)], grey.stroke_width(2))
                    + PathElement::new(vec![(9, 0), (14, 0)], grey.stroke_width(2))
                    + Circle::new((8, 0), 3, grey.stroke_width(2))
            });
    }
    if any_partial {
        chart
            .draw_series(std::iter::empty::<Circle<(i64, f64), i32>>())
            .map_err(err)?
            .label("hollow, unjoined: partial period, not comparable")
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, grey.stroke_width(2)));
    }
    for guide in &data.guides {
        let colour = guide.style.colour();
        let points: Vec<(i64, f64)> = guide.points.iter().map(|(d, v)| (x(*d), *v)).collect();
        let legend_style = colour.stroke_width(2);
        match guide.style {
            GuideStyle::Target => chart
                .draw_series(std::iter::once(PathElement::new(
                    points,
                    colour.stroke_width(2),
                )))
                .map_err(err)?,
            GuideStyle::Expected => chart
                .draw_series(DashedLineSeries::new(points, 2, 5, colour.stroke_width(2)))
                .map_err(err)?,
            GuideStyle::Forecast => {
                // The end marker first: the series drawn last carries the legend entry.
                if let Some(end) = points.last() {
                    chart
                        .draw_series(std::iter::once(TriangleMarker::new(
                            *end,
                            6,
                            colour.filled(),
                        )))
                        .map_err(err)?;
                }
                chart
                    .draw_series(DashedLineSeries::new(points, 8, 6, colour.stroke_width(2)))
                    .map_err(err)?
            }
        }
        .label(guide.label.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], legend_style));
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
    /// KPI id, such as `followers`; with --lift, one more KPI to draw.
    #[arg(required_unless_present = "lift")]
    pub kpi: Option<String>,
    /// Scope of a line; repeat for several lines. With --goal, the goal's scope by default.
    #[arg(long, required_unless_present_any = ["goal", "lift"], conflicts_with = "lift")]
    pub scope: Vec<String>,
    /// Segment `segments/{s}`; repeat for a line per segment.
    #[arg(long, conflicts_with = "lift")]
    pub segment: Vec<String>,
    /// First day (YYYY-MM-DD); with --goal, the goal's start by default.
    #[arg(long, required_unless_present_any = ["goal", "lift"], conflicts_with = "lift")]
    pub from: Option<NaiveDate>,
    /// Last day (YYYY-MM-DD); with --goal, the goal's deadline by default.
    #[arg(long, required_unless_present_any = ["goal", "lift"], conflicts_with = "lift")]
    pub to: Option<NaiveDate>,
    /// One point per day, week or month. A goal is measured per day, so not with --goal.
    #[arg(long, value_enum, conflicts_with = "goal")]
    pub granularity: Option<ChartGranularity>,
    /// Output file, `.svg` or `.png`.
    #[arg(long)]
    pub out: PathBuf,
    /// Goal `goals/{g}` of the same KPI: the lines become what the goal measures (total or
    /// growth since its start, trailing window or level), with its target, expected path
    /// and forecast to the deadline.
    #[arg(long, conflicts_with = "lift")]
    pub goal: Option<String>,
    /// Campaign `campaigns/{c}`: its lift (LIFT.md), one panel per KPI of the observed days
    /// against the baseline and its prediction band over the pre-period and the campaign
    /// window with its order tail; a KPI without numbers shows the reason.
    #[arg(long, conflicts_with = "granularity")]
    pub lift: Option<String>,
    /// With --lift: a KPI to draw (repeat the flag); by default LIFT.md's default list.
    #[arg(long = "kpi", requires = "lift")]
    pub lift_kpis: Vec<String>,
    /// With --lift: level of the prediction band, strictly between 0 and 1 (default 0.9).
    #[arg(long, requires = "lift")]
    pub level: Option<f64>,
    /// With --lift: days before the start that the baseline learns from, 28 to 364
    /// (default: the tenant's setting, 56 unless changed).
    #[arg(long, requires = "lift")]
    pub pre_period_days: Option<i32>,
    /// With --lift: measure even when another campaign overlaps.
    #[arg(long, requires = "lift")]
    pub accept_overlap: bool,
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

/// A series from query values: one point per period, by its first day, marked provisional
/// or partial as the server says.
pub(super) fn series(label: String, values: &[proto::KpiValue]) -> Series {
    Series {
        label,
        points: values
            .iter()
            .filter_map(|v| {
                Some(Point {
                    day: naive(v.first_day.as_ref())?,
                    value: v.value,
                    mark: Mark::of(v),
                })
            })
            .collect(),
    }
}

impl Client {
    /// Names shown to people of the tenant's influencers, campaigns, channels and
    /// segments, by resource name.
    pub(super) async fn display_names(&self) -> Result<HashMap<String, String>, HumanError> {
        let mut names: HashMap<String, String> = self
            .list_influencers()
            .await?
            .into_iter()
            .map(|i| (i.name, i.display_name))
            .collect();
        let campaigns = self.list_campaigns().await?;
        names.extend(campaigns.into_iter().map(|c| (c.name, c.display_name)));
        let channels = self.list_channels().await?;
        names.extend(channels.into_iter().map(|c| (c.name, c.display_name)));
        let segments = all_pages(|page_token| async move {
            let page = SegmentServiceClient::new(self.channel.clone())
                .list_segments(self.req(proto::ListSegmentsRequest {
                    page_size: 1000,
                    page_token,
                }))
                .await?
                .into_inner();
            Ok((page.segments, page.next_page_token))
        })
        .await?;
        names.extend(segments.into_iter().map(|s| (s.name, s.display_name)));
        Ok(names)
    }
}

/// A scope as people know it: its display name, `tenant` as "whole brand".
pub(super) fn scope_label(scope: &str, names: &HashMap<String, String>) -> String {
    match scope {
        "tenant" => "whole brand".into(),
        other => names
            .get(other)
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| other.to_string()),
    }
}

/// Runs `tally chart`.
pub async fn run(args: ChartArgs) -> Result<(), HumanError> {
    let client = Client::connect(&args.conn).await?;
    if let Some(campaign) = &args.lift {
        let ask = super::lift_chart::LiftAsk {
            campaign,
            kpis: args.kpi.iter().chain(&args.lift_kpis).cloned().collect(),
            level: args.level,
            pre_period_days: args.pre_period_days,
            accept_overlap: args.accept_overlap,
        };
        super::lift_chart::run(&client, &ask, args.currency.currency.as_deref(), &args.out).await?;
        println!("wrote {}", args.out.display());
        return Ok(());
    }
    let Some(kpi) = args.kpi.clone() else {
        return Err(HumanError::Usage("a KPI id is required".into()));
    };
    let currency = client.currency(&args.currency).await?;
    let currency = currency.as_deref();
    let names = client.display_names().await?;
    let label = |scope: &str, segment: &str| {
        let scope = scope_label(scope, &names);
        if segment.is_empty() {
            scope
        } else {
            format!("{scope}, {}", scope_label(segment, &names))
        }
    };
    let data = match &args.goal {
        Some(goal) => goal_lines(&client, &args, &kpi, goal, currency, &label).await?,
        None => {
            let (Some(from), Some(to)) = (args.from, args.to) else {
                return Err(HumanError::Usage("--from and --to are required".into()));
            };
            if to < from {
                return Err(HumanError::Usage(format!(
                    "--to {to} is before --from {from}"
                )));
            }
            let unit = client.unit(&kpi).await?;
            let granularity = match args.granularity.unwrap_or_default() {
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
                        .query(&kpi, scope, segment, from, to, granularity)
                        .await?;
                    lines.push(series(label(scope, segment), &values));
                }
            }
            let mut flags = Vec::new();
            if super::follower_jumps::applies_to(&kpi) {
                for scope in &args.scope {
                    for f in client.follower_flags(scope, from, to).await? {
                        flags.extend(naive(f.day.as_ref()));
                    }
                }
            }
            ChartData {
                title: format!("{kpi} from {from} to {to}"),
                y_label: unit_label(&unit, currency),
                series: lines,
                guides: Vec::new(),
                flags,
            }
        }
    };
    write(&data, &args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// The chart of `tally chart --goal`: what the goal measures on each scope, day by day
/// from the goal's start (or --from) to its measured day (or --to), with its guides.
async fn goal_lines(
    client: &Client,
    args: &ChartArgs,
    kpi: &str,
    goal: &str,
    currency: Option<&str>,
    label: &impl Fn(&str, &str) -> String,
) -> Result<ChartData, HumanError> {
    let g = client
        .goals()
        .get_goal(client.req(proto::GetGoalRequest { name: goal.into() }))
        .await?
        .into_inner();
    if let Some(message) = goal_chart::kpi_mismatch(goal, &g.kpi, kpi) {
        return Err(HumanError::Usage(message));
    }
    let (Some(start), Some(deadline)) = (naive(g.start_date.as_ref()), naive(g.deadline.as_ref()))
    else {
        return Err(HumanError::Usage(format!(
            "{goal} has no start or deadline"
        )));
    };
    let from = args.from.unwrap_or(start).max(start);
    let to = args.to.unwrap_or(deadline);
    if to < from {
        return Err(HumanError::Usage(format!(
            "--to {to} is before the first day charted, {from}"
        )));
    }
    let definition = client.definition(&g.kpi).await?;
    let roll_up = definition
        .as_ref()
        .and_then(|d| proto::RollUp::try_from(d.roll_up).ok());
    let unit = definition.map(|d| d.unit).unwrap_or_default();
    let measure = goal_chart::Measure::of(roll_up, g.trailing_days);
    let evaluation = client.progress(goal).await?;
    // Values exist up to the measured day; later days would be empty periods.
    let last = evaluation
        .as_ref()
        .and_then(|e| naive(e.measured_day.as_ref()))
        .map_or(to, |m| m.min(to));
    let scopes = if args.scope.is_empty() {
        vec![g.scope.clone()]
    } else {
        args.scope.clone()
    };
    let segments = if args.segment.is_empty() {
        vec![g.segment.clone()]
    } else {
        args.segment.clone()
    };
    let mut lines = Vec::new();
    for scope in &scopes {
        for segment in &segments {
            let key = proto::KpiScope {
                kpi: g.kpi.clone(),
                scope: scope.clone(),
                segment: segment.clone(),
            };
            let points = client
                .measured(&key, roll_up, measure, start, from, last)
                .await?;
            lines.push(Series {
                label: label(scope, segment),
                points,
            });
        }
    }
    let chart = goal_chart::GoalChart {
        goal: &g,
        evaluation: evaluation.as_ref(),
        measure,
        unit: &unit,
        currency,
    };
    Ok(chart.data(lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    fn points(values: &[(u32, Option<f64>, Mark)]) -> Vec<Point> {
        values
            .iter()
            .map(|&(d, value, mark)| Point {
                day: day(d),
                value,
                mark,
            })
            .collect()
    }

    #[test]
    fn gaps_split_segments() {
        use Mark::Firm;
        let s = strokes(&points(&[
            (1, Some(1.0), Firm),
            (2, Some(2.0), Firm),
            (3, None, Firm),
            (4, Some(4.0), Firm),
            (5, None, Firm),
            (6, None, Firm),
        ]));
        assert_eq!(s.solid, vec![vec![(x(day(1)), 1.0), (x(day(2)), 2.0)]]);
        assert_eq!(s.dots, vec![(x(day(4)), 4.0)]);
        assert!(s.dashed.is_empty() && s.hollow.is_empty());
        assert_eq!(strokes(&points(&[(1, None, Firm)])), Strokes::default());
    }

    #[test]
    fn provisional_tails_are_dashed_and_partial_periods_stand_alone() {
        use Mark::{Firm, Partial, Provisional};
        // Full final weeks 1-3, a week not final yet, then a partial week.
        let s = strokes(&points(&[
            (1, Some(10.0), Firm),
            (8, Some(12.0), Firm),
            (15, Some(11.0), Firm),
            (22, Some(9.0), Provisional),
            (29, Some(2.0), Partial),
        ]));
        let at = |d: u32, v: f64| (x(day(d)), v);
        assert_eq!(s.solid, vec![vec![at(1, 10.0), at(8, 12.0), at(15, 11.0)]]);
        assert_eq!(s.dashed, vec![[at(15, 11.0), at(22, 9.0)]]);
        assert_eq!(s.hollow, vec![at(22, 9.0), at(29, 2.0)]);
        assert!(s.dots.is_empty());
        // A partial first period is not joined to the full one after it, which then
        // stands alone as a dot.
        let s = strokes(&points(&[(1, Some(1.0), Partial), (2, Some(7.0), Firm)]));
        assert!(s.solid.is_empty() && s.dashed.is_empty());
        assert_eq!(s.dots, vec![at(2, 7.0)]);
    }
}
