//! `tally chart --lift campaigns/{id}`: a campaign's lift (GetCampaignLift, LIFT.md) as an
//! SVG or PNG, one panel per KPI: the observed days against the baseline and its
//! prediction band over the pre-period and the window with its order tail, the window
//! shaded, provisional days hollow and dashed as in the other charts, and the reason in
//! words where a KPI's lift has no numbers. Drawing works from a plain [`LiftChart`], so
//! that it can be tested without a server.
use super::chart::{self, ChartError, Mark, Point, ensure_font};
use super::connection::{Client, HumanError, naive};
use super::format;
use crate::proto;
use crate::proto::campaign_service_client::CampaignServiceClient;
use chrono::NaiveDate;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Width of the chart and height of one panel, in pixels.
const PANEL: (u32, u32) = (960, 380);
/// The observed line.
const OBSERVED: RGBColor = RGBColor(31, 119, 180);
/// The baseline and its band.
const BASELINE: RGBColor = RGBColor(90, 90, 90);
/// The campaign window's shading; the order tail's is lighter.
const WINDOW: RGBColor = RGBColor(255, 187, 120);
/// The text of a reason instead of numbers.
const REASON: RGBColor = RGBColor(160, 40, 40);
/// Characters per line of a reason.
const REASON_WIDTH: usize = 100;

/// One day of a panel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiftPoint {
    /// The day.
    pub day: NaiveDate,
    /// The stored value; None: no value that day.
    pub observed: Option<f64>,
    /// The baseline, its lower and its upper end; None where there is no estimate.
    pub band: Option<(f64, f64, f64)>,
    /// Provisional days are drawn hollow and dashed.
    pub mark: Mark,
}

/// One KPI's panel.
#[derive(Clone, Debug, PartialEq)]
pub struct LiftPanel {
    /// Caption: the KPI and its total lift.
    pub title: String,
    /// The y axis: the unit.
    pub y_label: String,
    /// The pre-period's and the window's days, in order.
    pub points: Vec<LiftPoint>,
    /// The campaign's first and last day.
    pub campaign: (NaiveDate, NaiveDate),
    /// The last day of the KPI's window with its order tail, when after the campaign's end.
    pub tail_end: Option<NaiveDate>,
    /// Why there are no numbers, in words; the panel then shows only this.
    pub reason: Option<String>,
}

/// Everything a lift chart shows.
#[derive(Clone, Debug, PartialEq)]
pub struct LiftChart {
    /// The caption of the whole chart.
    pub title: String,
    /// The interval level, such as 0.9.
    pub level: f64,
    /// One per KPI.
    pub panels: Vec<LiftPanel>,
}

/// A level as people read it: `90%`.
pub(super) fn level_text(level: f64) -> String {
    format!("{}%", format::grouped(100.0 * level, 0))
}

/// The reason of a refused KPI: its refusal's name and sentence.
pub(super) fn reason_text(k: &proto::KpiLift) -> String {
    let name = proto::LiftRefusal::try_from(k.refusal)
        .map(|r| r.as_str_name().to_string())
        .unwrap_or_else(|_| "REFUSED".into());
    format!("{name}: {}", k.reason)
}

/// The panel of one KPI of an answer; `campaign` is the campaign's first and last day.
pub fn panel(
    k: &proto::KpiLift,
    campaign: (NaiveDate, NaiveDate),
    level: f64,
    currency: Option<&str>,
) -> LiftPanel {
    let show = |v: f64| format::value(v, &k.unit, currency);
    let y_label = chart::unit_label(&k.unit, currency);
    let Some(total) = k.total.as_ref() else {
        return LiftPanel {
            title: format!("{}: no lift", k.kpi),
            y_label,
            points: Vec::new(),
            campaign,
            tail_end: None,
            reason: Some(reason_text(k)),
        };
    };
    let points = k
        .pre_period_days
        .iter()
        .chain(&k.days)
        .filter_map(|d| {
            let e = d.estimate.as_ref();
            Some(LiftPoint {
                day: naive(d.date.as_ref())?,
                observed: e.map(|e| e.observed),
                band: e.map(|e| (e.baseline, e.baseline_lower, e.baseline_upper)),
                mark: if d.r#final {
                    Mark::Firm
                } else {
                    Mark::Provisional
                },
            })
        })
        .collect();
    LiftPanel {
        title: format!(
            "{}: lift {} ({} interval {} to {}) over {} days",
            k.kpi,
            show(total.lift),
            level_text(level),
            show(total.lift_lower),
            show(total.lift_upper),
            k.total_days
        ),
        y_label,
        points,
        campaign,
        tail_end: naive(k.end_date.as_ref()).filter(|e| *e > campaign.1),
        reason: None,
    }
}

/// The chart of an answer: a panel per KPI, or only the KPIs with numbers when
/// `measured_only`.
pub fn from_answer(
    answer: &proto::CampaignLift,
    title: String,
    campaign: (NaiveDate, NaiveDate),
    currency: Option<&str>,
    measured_only: bool,
) -> LiftChart {
    LiftChart {
        title,
        level: answer.interval_level,
        panels: answer
            .kpis
            .iter()
            .filter(|k| !measured_only || k.total.is_some())
            .map(|k| panel(k, campaign, answer.interval_level, currency))
            .collect(),
    }
}

/// Days since 1970-01-01 as a coordinate; a day spans [x − 0.5, x + 0.5].
fn x(day: NaiveDate) -> f64 {
    (day - NaiveDate::default()).num_days() as f64
}

/// `text` broken into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A day's x coordinate with its baseline, lower and upper end.
type BandDay = (f64, (f64, f64, f64));

/// Runs of consecutive days that have a band, for the band's polygons and the baseline's
/// lines: a day without an estimate breaks them.
fn band_runs(points: &[LiftPoint]) -> Vec<Vec<BandDay>> {
    let mut runs: Vec<Vec<BandDay>> = Vec::new();
    let mut run = Vec::new();
    for p in points {
        match p.band {
            Some(b) if b.0.is_finite() && b.1.is_finite() && b.2.is_finite() => {
                run.push((x(p.day), b))
            }
            _ => {
                if !run.is_empty() {
                    runs.push(std::mem::take(&mut run));
                }
            }
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// The chart as an SVG document.
pub fn svg(data: &LiftChart) -> Result<String, ChartError> {
    ensure_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size(data)).into_drawing_area();
        draw(&root, data)?;
        root.present()
            .map_err(|e| ChartError::Draw(e.to_string()))?;
    }
    Ok(out)
}

/// Writes the chart to `path`, SVG or PNG by its extension.
pub fn write(data: &LiftChart, path: &Path) -> Result<(), ChartError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => std::fs::write(path, svg(data)?).map_err(|source| ChartError::Write {
            path: path.into(),
            source,
        }),
        Some("png") => {
            ensure_font()?;
            let root = BitMapBackend::new(path, size(data)).into_drawing_area();
            draw(&root, data)?;
            root.present().map_err(|e| ChartError::Draw(e.to_string()))
        }
        _ => Err(ChartError::Extension(path.into())),
    }
}

/// Room for the title and a panel per KPI.
fn size(data: &LiftChart) -> (u32, u32) {
    let panels = u32::try_from(data.panels.len().max(1)).unwrap_or(u32::MAX / PANEL.1);
    (PANEL.0, 40 + PANEL.1 * panels)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &LiftChart,
) -> Result<(), ChartError> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| ChartError::Draw(e.to_string());
    root.fill(&WHITE).map_err(err)?;
    let body = root.titled(&data.title, ("sans-serif", 20)).map_err(err)?;
    if data.panels.is_empty() {
        return Ok(());
    }
    let areas = body.split_evenly((data.panels.len(), 1));
    for (area, panel) in areas.iter().zip(&data.panels) {
        draw_panel(area, panel, data.level)?;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &LiftPanel,
    level: f64,
) -> Result<(), ChartError> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| ChartError::Draw(e.to_string());
    if let Some(reason) = &panel.reason {
        let inner = area.titled(&panel.title, ("sans-serif", 17)).map_err(err)?;
        let style = ("sans-serif", 15).into_font().color(&REASON);
        for (i, line) in wrap(&format!("No lift: {reason}"), REASON_WIDTH)
            .into_iter()
            .enumerate()
        {
            inner
                .draw(&Text::new(line, (60, 30 + 22 * i as i32), style.clone()))
                .map_err(err)?;
        }
        return Ok(());
    }
    let (first, last) = match (panel.points.first(), panel.points.last()) {
        (Some(a), Some(b)) => (x(a.day), x(b.day)),
        _ => (x(panel.campaign.0), x(panel.campaign.1)),
    };
    let values: Vec<f64> = panel
        .points
        .iter()
        .flat_map(|p| {
            p.observed
                .into_iter()
                .chain(p.band.into_iter().flat_map(|(m, l, u)| [m, l, u]))
        })
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
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 17))
        .margin(10)
        .margin_right(48)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(first - 0.5..last + 0.5, lo..hi)
        .map_err(err)?;
    let date_label = |v: &f64| {
        NaiveDate::default()
            .checked_add_signed(chrono::Duration::days(v.round() as i64))
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let value_label = |v: &f64| format::grouped(*v, if hi - lo >= 10.0 { 0 } else { 2 });
    chart
        .configure_mesh()
        .x_desc("date")
        .y_desc(&panel.y_label)
        .x_labels(7)
        .y_labels(6)
        .x_label_formatter(&date_label)
        .y_label_formatter(&value_label)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;

    // The window first, under everything else.
    let (start, end) = panel.campaign;
    let shade_end = (x(end) + 0.5).min(last + 0.5);
    if x(start) - 0.5 < shade_end {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x(start) - 0.5, hi), (shade_end, lo)],
                WINDOW.mix(0.35).filled(),
            )))
            .map_err(err)?
            .label(format!("campaign window {start} to {end}"))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], WINDOW.filled()));
    }
    if let Some(tail) = panel.tail_end {
        let tail_end = (x(tail) + 0.5).min(last + 0.5);
        if shade_end < tail_end {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(shade_end, hi), (tail_end, lo)],
                    WINDOW.mix(0.15).filled(),
                )))
                .map_err(err)?
                .label(format!("order tail to {tail}"))
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 16, y + 5)], WINDOW.mix(0.4).filled())
                });
        }
    }

    let runs = band_runs(&panel.points);
    let mut polygons = Vec::new();
    for run in &runs {
        let mut outline: Vec<(f64, f64)> = run.iter().map(|(x, (_, _, u))| (*x, *u)).collect();
        outline.extend(run.iter().rev().map(|(x, (_, l, _))| (*x, *l)));
        if run.len() == 1 {
            // A lone day: a band as wide as the day.
            let (x, (_, l, u)) = run[0];
            outline = vec![(x - 0.4, u), (x + 0.4, u), (x + 0.4, l), (x - 0.4, l)];
        }
        polygons.push(Polygon::new(outline, BASELINE.mix(0.22).filled()));
    }
    if !polygons.is_empty() {
        chart
            .draw_series(polygons)
            .map_err(err)?
            .label(format!("{} prediction band", level_text(level)))
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 16, y + 5)], BASELINE.mix(0.22).filled())
            });
        for (i, run) in runs.iter().enumerate() {
            let line: Vec<(f64, f64)> = run.iter().map(|(x, (m, _, _))| (*x, *m)).collect();
            let series = chart
                .draw_series(DashedLineSeries::new(line, 6, 4, BASELINE.stroke_width(2)))
                .map_err(err)?;
            // One legend entry for all the runs.
            if i + 1 == runs.len() {
                series.label("baseline").legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], BASELINE.stroke_width(2))
                });
            }
        }
    }

    let observed: Vec<Point> = panel
        .points
        .iter()
        .map(|p| Point {
            day: p.day,
            value: p.observed,
            mark: p.mark,
        })
        .collect();
    let strokes = chart::strokes(&observed);
    let at = |(d, v): (i64, f64)| (d as f64, v);
    let style = OBSERVED.stroke_width(2);
    chart
        .draw_series(
            strokes
                .solid
                .iter()
                .map(|s| PathElement::new(s.iter().copied().map(at).collect::<Vec<_>>(), style)),
        )
        .map_err(err)?
        .label("observed")
        .legend(|(x, y)| Rectangle::new([(x, y - 4), (x + 16, y + 4)], OBSERVED.filled()));
    for link in &strokes.dashed {
        chart
            .draw_series(DashedLineSeries::new(
                link.iter().copied().map(at),
                5,
                4,
                style,
            ))
            .map_err(err)?;
    }
    chart
        .draw_series(
            strokes
                .dots
                .iter()
                .map(|p| Circle::new(at(*p), 3, OBSERVED.filled())),
        )
        .map_err(err)?;
    chart
        .draw_series(
            strokes
                .hollow
                .iter()
                .map(|p| Circle::new(at(*p), 4, WHITE.filled())),
        )
        .map_err(err)?;
    chart
        .draw_series(
            strokes
                .hollow
                .iter()
                .map(|p| Circle::new(at(*p), 4, OBSERVED.stroke_width(2))),
        )
        .map_err(err)?;
    if panel
        .points
        .iter()
        .any(|p| p.observed.is_some() && p.mark == Mark::Provisional)
    {
        let grey = RGBColor(90, 90, 90);
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(err)?
            .label("dashed, hollow: may still change (not final)")
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (5, 0)], grey.stroke_width(2))
                    + PathElement::new(vec![(9, 0), (14, 0)], grey.stroke_width(2))
                    + Circle::new((8, 0), 3, grey.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Arguments of `tally chart --lift` beside the chart's own.
pub struct LiftAsk<'a> {
    /// The campaign, `campaigns/{id}`.
    pub campaign: &'a str,
    /// KPIs to draw; empty for the default list.
    pub kpis: Vec<String>,
    /// Interval level.
    pub level: Option<f64>,
    /// Pre-period length.
    pub pre_period_days: Option<i32>,
    /// Measure despite overlapping campaigns.
    pub accept_overlap: bool,
}

impl Client {
    /// A campaign's lift with its pre-period days, and its first and last day and name.
    pub(super) async fn lift_with_campaign(
        &self,
        ask: &LiftAsk<'_>,
    ) -> Result<(proto::CampaignLift, proto::Campaign), HumanError> {
        let mut campaigns = CampaignServiceClient::new(self.channel.clone());
        let campaign = campaigns
            .get_campaign(self.req(proto::GetCampaignRequest {
                name: ask.campaign.into(),
            }))
            .await?
            .into_inner();
        let answer = campaigns
            .get_campaign_lift(self.req(proto::GetCampaignLiftRequest {
                name: ask.campaign.into(),
                kpis: ask.kpis.clone(),
                interval_level: ask.level,
                pre_period_days: ask.pre_period_days,
                accept_overlap: ask.accept_overlap,
                include_pre_period: true,
            }))
            .await?
            .into_inner();
        Ok((answer, campaign))
    }
}

/// The campaign's first and last day.
pub(super) fn campaign_days(c: &proto::Campaign) -> Result<(NaiveDate, NaiveDate), HumanError> {
    match (naive(c.start_date.as_ref()), naive(c.end_date.as_ref())) {
        (Some(s), Some(e)) => Ok((s, e)),
        _ => Err(HumanError::Usage(format!("{} has no start or end", c.name))),
    }
}

/// Runs `tally chart --lift`.
pub(super) async fn run(
    client: &Client,
    ask: &LiftAsk<'_>,
    currency: Option<&str>,
    out: &Path,
) -> Result<(), HumanError> {
    let (answer, campaign) = client.lift_with_campaign(ask).await?;
    let currency = currency.or(Some(answer.currency_code.as_str()).filter(|c| !c.is_empty()));
    let name = if campaign.display_name.is_empty() {
        campaign.name.clone()
    } else {
        campaign.display_name.clone()
    };
    let title = format!(
        "Lift of {name}: observed against the baseline learned from {} to {}",
        super::connection::day_text(answer.pre_period_start_date.as_ref()),
        super::connection::day_text(answer.pre_period_end_date.as_ref()),
    );
    let data = from_answer(&answer, title, campaign_days(&campaign)?, currency, false);
    write(&data, out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + chrono::Days::new(u64::from(d))
    }

    /// 28 pre-period days around 100, a campaign of 7 days at 130 and a 3-day order tail,
    /// the last two days provisional.
    fn measured() -> LiftPanel {
        let points = (0..38)
            .map(|i| LiftPoint {
                day: day(i),
                observed: (i != 5).then(|| if (28..35).contains(&i) { 130.0 } else { 100.0 }),
                band: (i != 5).then_some((100.0, 90.0, 110.0)),
                mark: if i >= 36 {
                    Mark::Provisional
                } else {
                    Mark::Firm
                },
            })
            .collect();
        LiftPanel {
            title: "attributed_revenue: lift 210".into(),
            y_label: "EUR".into(),
            points,
            campaign: (day(28), day(34)),
            tail_end: Some(day(37)),
            reason: None,
        }
    }

    fn refused() -> LiftPanel {
        LiftPanel {
            title: "code_buyers: no lift".into(),
            y_label: "customers".into(),
            points: Vec::new(),
            campaign: (day(28), day(34)),
            tail_end: None,
            reason: Some(
                "PRE_PERIOD_TOO_SHORT: the pre-period has 20 days with a value; the baseline needs at least 28".into(),
            ),
        }
    }

    #[test]
    fn the_band_the_window_the_tail_and_provisional_days_are_drawn() {
        let svg = svg(&LiftChart {
            title: "Lift of Spring".into(),
            level: 0.9,
            panels: vec![measured()],
        })
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        // The band: two polygons (day 5 has no estimate and splits it) in the baseline's
        // grey, and the legend names its level.
        assert_eq!(svg.matches("<polygon").count(), 2, "{svg}");
        assert!(svg.contains("90% prediction band") && svg.contains("baseline"));
        // The window and the tail: shaded rectangles and their legend entries.
        assert!(
            svg.contains("campaign window 2026-03-29 to 2026-04-04"),
            "{svg}"
        );
        assert!(svg.contains("order tail to 2026-04-07"), "{svg}");
        assert!(svg.contains("fill=\"#FFBB78\""), "window shading");
        // Days 36 and 37 may still change: hollow points and the legend saying so.
        assert!(svg.contains("may still change (not final)"));
        let hollow = svg
            .split("<circle")
            .skip(1)
            .filter(|c| c.contains("fill=\"none\"") && c.contains("stroke=\"#1F77B4\""))
            .count();
        assert_eq!(hollow, 2, "{svg}");
        assert!(svg.contains("attributed_revenue: lift 210") && svg.contains("EUR"));
        assert!(!svg.contains("No lift"));
    }

    #[test]
    fn a_refused_kpi_shows_its_reason_instead_of_a_band() {
        let svg = svg(&LiftChart {
            title: "Lift of Spring".into(),
            level: 0.9,
            panels: vec![refused(), measured()],
        })
        .unwrap();
        assert!(svg.contains("No lift: PRE_PERIOD_TOO_SHORT: the pre-period has 20 days"));
        assert!(svg.contains("code_buyers: no lift"));
        // Only the measured panel has a band.
        assert_eq!(svg.matches("<polygon").count(), 2);
        let alone = super::svg(&LiftChart {
            title: "Lift of Spring".into(),
            level: 0.9,
            panels: vec![refused()],
        })
        .unwrap();
        assert!(!alone.contains("<polygon") && !alone.contains("campaign window"));
    }

    #[test]
    fn a_refused_answer_becomes_a_reason_panel_and_a_measured_one_points() {
        let refused = proto::KpiLift {
            kpi: "code_buyers".into(),
            refusal: proto::LiftRefusal::PrePeriodGappy as i32,
            reason: "too few".into(),
            ..Default::default()
        };
        let p = panel(&refused, (day(28), day(34)), 0.9, None);
        assert_eq!(p.reason.as_deref(), Some("PRE_PERIOD_GAPPY: too few"));
        let date = |d: NaiveDate| {
            use chrono::Datelike;
            Some(proto::google::r#type::Date {
                year: d.year(),
                month: d.month() as i32,
                day: d.day() as i32,
            })
        };
        let estimate = proto::LiftEstimate {
            observed: 12.0,
            baseline: 10.0,
            baseline_lower: 8.0,
            baseline_upper: 11.0,
            lift: 2.0,
            lift_lower: 1.0,
            lift_upper: 4.0,
            ..Default::default()
        };
        let measured = proto::KpiLift {
            kpi: "all_revenue".into(),
            unit: "money".into(),
            end_date: date(day(36)),
            total: Some(estimate),
            total_days: 1,
            pre_period_days: vec![proto::LiftDay {
                date: date(day(27)),
                estimate: Some(estimate),
                r#final: true,
            }],
            days: vec![proto::LiftDay {
                date: date(day(28)),
                estimate: None,
                r#final: false,
            }],
            ..Default::default()
        };
        let p = panel(&measured, (day(28), day(34)), 0.9, Some("EUR"));
        assert_eq!(
            p.title,
            "all_revenue: lift 2.00 EUR (90% interval 1.00 EUR to 4.00 EUR) over 1 days"
        );
        assert_eq!(p.tail_end, Some(day(36)));
        assert_eq!(p.points.len(), 2);
        assert_eq!(p.points[0].band, Some((10.0, 8.0, 11.0)));
        assert_eq!(p.points[1].observed, None);
        assert_eq!(p.points[1].mark, Mark::Provisional);
    }

    #[test]
    fn reasons_wrap_at_spaces() {
        assert_eq!(wrap("a bb ccc dd", 5), ["a bb", "ccc", "dd"]);
        assert!(wrap("", 5).is_empty());
    }
}
