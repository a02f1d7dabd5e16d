//! Goal charts: what a goal measures on each day (KPIS.md "Goal evaluation": the value on
//! the day, the growth or total since the start, or the trailing window), with its target,
//! the path a straight line from start to deadline expects, and GetGoalProgress's forecast
//! to the deadline. The measure is read with QuerySnapshots, as the server measures it.
use super::chart::{ChartData, Guide, GuideStyle, Mark, Point, Series, unit_label};
use super::connection::{Client, HumanError, naive};
use super::format;
use crate::proto;
use chrono::{Days, NaiveDate};
use std::collections::HashMap;

/// Trailing window of ratio and change KPIs when the goal names none (KPIS.md).
const DEFAULT_TRAILING_DAYS: u32 = 28;

/// Most points a chart asks a RANGE value for, one call each; longer goals are sampled
/// every few days, always ending on the measured day.
const MAX_RANGE_POINTS: usize = 60;

/// Longest range one QuerySnapshots call takes.
const MAX_QUERY_DAYS: u64 = 400;

/// What a goal measures on a day `d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// The value on `d` (level KPIs).
    Level,
    /// The value over `[start, d]`: growth since the goal began (boundary KPIs).
    SinceStart,
    /// The total over `[start, d]` (sum and distinct KPIs).
    Cumulative,
    /// The value over the trailing `n` days `[d−n+1, d]`.
    Trailing(u32),
}

impl Measure {
    /// The measure of a KPI rolling up as `roll_up` for a goal naming `trailing_days`
    /// (0: none). A KPI without a definition is a pushed metric, summed over days.
    pub fn of(roll_up: Option<proto::RollUp>, trailing_days: i32) -> Measure {
        let trailing = u32::try_from(trailing_days).ok().filter(|n| *n > 0);
        match roll_up.unwrap_or(proto::RollUp::Sum) {
            proto::RollUp::Level => Measure::Level,
            proto::RollUp::Boundary => Measure::SinceStart,
            proto::RollUp::Sum | proto::RollUp::Distinct => trailing
                .map(Measure::Trailing)
                .unwrap_or(Measure::Cumulative),
            proto::RollUp::Ratio | proto::RollUp::Change | proto::RollUp::Unspecified => {
                Measure::Trailing(trailing.unwrap_or(DEFAULT_TRAILING_DAYS))
            }
        }
    }

    /// Whether the measure starts from nothing, so that a goal's expected path starts at 0
    /// rather than at the baseline.
    pub fn starts_from_nothing(self) -> bool {
        matches!(self, Measure::SinceStart | Measure::Cumulative)
    }

    /// The days whose value is the measure on `d` for a goal starting on `start`.
    pub fn period(self, start: NaiveDate, d: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        match self {
            Measure::Level => Some((d, d)),
            Measure::SinceStart | Measure::Cumulative => (start <= d).then_some((start, d)),
            Measure::Trailing(n) => Some((d.checked_sub_days(Days::new(u64::from(n) - 1))?, d)),
        }
    }

    /// The measure in words, for titles.
    pub fn describe(self, start: NaiveDate) -> String {
        match self {
            Measure::Level => "value on each day".into(),
            Measure::SinceStart => format!("growth since {start}"),
            Measure::Cumulative => format!("total since {start}"),
            Measure::Trailing(n) => format!("over the trailing {n} days"),
        }
    }
}

/// `days` thinned to at most `max` days, evenly, always keeping the last one.
pub fn sample(days: &[NaiveDate], max: usize) -> Vec<NaiveDate> {
    if days.len() <= max || max == 0 {
        return days.to_vec();
    }
    let step = days.len().div_ceil(max);
    let mut out: Vec<NaiveDate> = days.iter().rev().step_by(step).copied().collect();
    out.reverse();
    out
}

/// The measure on each day of `days` from daily values of a KPI that sums over days:
/// running totals since `start`, or sums over each trailing window. A window without any
/// defined day is undefined; a value is provisional when any day it adds up is.
pub fn summed(
    measure: Measure,
    start: NaiveDate,
    daily: &HashMap<NaiveDate, (Option<f64>, bool)>,
    days: &[NaiveDate],
) -> Vec<Point> {
    days.iter()
        .map(|&d| {
            let Some((first, last)) = measure.period(start, d) else {
                return Point {
                    day: d,
                    value: None,
                    mark: Mark::Firm,
                };
            };
            let (mut total, mut firm) = (None::<f64>, true);
            for day in first.iter_days().take_while(|day| *day <= last) {
                if let Some((value, is_final)) = daily.get(&day) {
                    if let Some(v) = value {
                        total = Some(total.unwrap_or(0.0) + v);
                    }
                    firm &= *is_final;
                }
            }
            Point {
                day: d,
                value: total,
                mark: if firm { Mark::Firm } else { Mark::Provisional },
            }
        })
        .collect()
}

impl Client {
    /// A KPI's definition; `None` for a pushed metric key, which has none.
    pub(super) async fn definition(
        &self,
        kpi: &str,
    ) -> Result<Option<proto::KpiDefinition>, HumanError> {
        match self
            .kpis()
            .get_kpi_definition(self.req(proto::GetKpiDefinitionRequest {
                name: format!("kpiDefinitions/{kpi}"),
            }))
            .await
        {
            Ok(d) => Ok(Some(d.into_inner())),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(s.into()),
        }
    }

    /// DAY values over `[from, to]`, in calls of at most 400 days, by day: the value and
    /// whether it is final.
    async fn daily(
        &self,
        kpi: &proto::KpiScope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<HashMap<NaiveDate, (Option<f64>, bool)>, HumanError> {
        let mut out = HashMap::new();
        let mut first = from;
        while first <= to {
            let last = (first + Days::new(MAX_QUERY_DAYS - 1)).min(to);
            let values = self
                .query(
                    &kpi.kpi,
                    &kpi.scope,
                    &kpi.segment,
                    first,
                    last,
                    proto::Granularity::Day,
                )
                .await?;
            for v in values {
                if let Some(day) = naive(v.first_day.as_ref()) {
                    out.insert(day, (v.value, v.r#final));
                }
            }
            first = last + Days::new(1);
        }
        Ok(out)
    }

    /// What a goal starting on `start` measures on each day of `[first, last]`: exact on
    /// every day for level and summed KPIs (one daily query), one RANGE value per sampled
    /// day otherwise (at most [`MAX_RANGE_POINTS`]).
    pub(super) async fn measured(
        &self,
        kpi: &proto::KpiScope,
        roll_up: Option<proto::RollUp>,
        measure: Measure,
        start: NaiveDate,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<Point>, HumanError> {
        if last < first {
            return Ok(Vec::new());
        }
        let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
        let summable = matches!(roll_up, None | Some(proto::RollUp::Sum));
        if measure == Measure::Level || summable {
            let from = match measure.period(start, first) {
                Some((from, _)) => from.min(first),
                None => first,
            };
            let daily = self.daily(kpi, from, last).await?;
            if measure == Measure::Level {
                return Ok(days
                    .iter()
                    .map(|d| {
                        let (value, is_final) = daily.get(d).copied().unwrap_or((None, true));
                        Point {
                            day: *d,
                            value,
                            mark: if is_final {
                                Mark::Firm
                            } else {
                                Mark::Provisional
                            },
                        }
                    })
                    .collect());
            }
            return Ok(summed(measure, start, &daily, &days));
        }
        let mut out = Vec::new();
        for d in sample(&days, MAX_RANGE_POINTS) {
            let Some((from, to)) = measure.period(start, d) else {
                continue;
            };
            let value = self
                .query(
                    &kpi.kpi,
                    &kpi.scope,
                    &kpi.segment,
                    from,
                    to,
                    proto::Granularity::Range,
                )
                .await?
                .into_iter()
                .next()
                .unwrap_or_default();
            out.push(Point {
                day: d,
                value: value.value,
                mark: Mark::of(&value),
            });
        }
        Ok(out)
    }
}

/// A goal with what its chart needs besides the measured values.
pub(super) struct GoalChart<'a> {
    /// The goal.
    pub goal: &'a proto::Goal,
    /// Its progress; `None` before it starts.
    pub evaluation: Option<&'a proto::GoalEvaluation>,
    /// What it measures.
    pub measure: Measure,
    /// The KPI's unit.
    pub unit: &'a str,
    /// The currency of money values.
    pub currency: Option<&'a str>,
}

impl GoalChart<'_> {
    /// The target, the expected path and the forecast, as guide lines over
    /// `[start, deadline]`.
    pub fn guides(&self) -> Vec<Guide> {
        let (Some(start), Some(deadline), Some(e)) = (
            naive(self.goal.start_date.as_ref()),
            naive(self.goal.deadline.as_ref()),
            self.evaluation,
        ) else {
            return Vec::new();
        };
        let show = |v: f64| format::value(v, self.unit, self.currency);
        let mut guides = Vec::new();
        if let Some(target) = e.target {
            guides.push(Guide {
                label: format!("target: {}", show(target)),
                points: vec![(start, target), (deadline, target)],
                style: GuideStyle::Target,
            });
            // Progress compares with a straight line from the start to the target at the
            // deadline: from nothing for totals and growth, from the baseline otherwise.
            let from = if self.measure.starts_from_nothing() {
                Some(0.0)
            } else {
                e.baseline
            };
            if let Some(from) = from {
                guides.push(Guide {
                    label: format!("expected path: {} at start to the target", show(from)),
                    points: vec![(start, from), (deadline, target)],
                    style: GuideStyle::Expected,
                });
            }
        }
        if let Some(forecast) = e.forecast {
            let mut points = Vec::new();
            if let (Some(m), Some(current)) = (naive(e.measured_day.as_ref()), e.current_value)
                && m < deadline
            {
                points.push((m, current));
            }
            points.push((deadline, forecast));
            guides.push(Guide {
                label: format!(
                    "forecast for {deadline}: {} ({} values)",
                    show(forecast),
                    e.forecast_values
                ),
                points,
                style: GuideStyle::Forecast,
            });
        }
        guides
    }

    /// The title: the goal and what is measured.
    pub fn title(&self) -> String {
        let start = naive(self.goal.start_date.as_ref()).unwrap_or_default();
        format!(
            "{}: {} {}",
            self.goal.display_name,
            self.goal.kpi,
            self.measure.describe(start)
        )
    }

    /// The whole chart with the measured lines given.
    pub fn data(&self, series: Vec<Series>) -> ChartData {
        ChartData {
            title: self.title(),
            y_label: unit_label(self.unit, self.currency),
            series,
            guides: self.guides(),
            flags: Vec::new(),
        }
    }
}

/// The error of `--goal` on a chart of another KPI, naming both.
pub fn kpi_mismatch(goal: &str, goal_kpi: &str, chart_kpi: &str) -> Option<String> {
    (goal_kpi != chart_kpi).then(|| {
        format!(
            "--goal {goal} measures {goal_kpi}, but the chart is of {chart_kpi}: chart {goal_kpi}, or drop --goal"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn measures_follow_the_roll_up() {
        use proto::RollUp;
        assert_eq!(Measure::of(Some(RollUp::Level), 0), Measure::Level);
        assert_eq!(Measure::of(Some(RollUp::Boundary), 0), Measure::SinceStart);
        assert_eq!(Measure::of(Some(RollUp::Sum), 0), Measure::Cumulative);
        assert_eq!(Measure::of(Some(RollUp::Distinct), 7), Measure::Trailing(7));
        assert_eq!(Measure::of(Some(RollUp::Ratio), 0), Measure::Trailing(28));
        assert_eq!(Measure::of(Some(RollUp::Change), 14), Measure::Trailing(14));
        assert_eq!(Measure::of(None, 0), Measure::Cumulative);
        assert_eq!(
            Measure::Trailing(3).period(day(1), day(10)),
            Some((day(8), day(10)))
        );
        assert_eq!(Measure::Cumulative.period(day(5), day(4)), None);
        assert_eq!(
            Measure::SinceStart.period(day(5), day(9)),
            Some((day(5), day(9)))
        );
    }

    #[test]
    fn running_and_trailing_sums() {
        // Days 1..=5: 10, absent, 5, 1 (not final), 4.
        let daily: HashMap<NaiveDate, (Option<f64>, bool)> = [
            (day(1), (Some(10.0), true)),
            (day(2), (None, true)),
            (day(3), (Some(5.0), true)),
            (day(4), (Some(1.0), false)),
            (day(5), (Some(4.0), true)),
        ]
        .into_iter()
        .collect();
        let days: Vec<NaiveDate> = (1..=5).map(day).collect();
        let total = summed(Measure::Cumulative, day(1), &daily, &days);
        let values: Vec<Option<f64>> = total.iter().map(|p| p.value).collect();
        assert_eq!(
            values,
            [Some(10.0), Some(10.0), Some(15.0), Some(16.0), Some(20.0)]
        );
        let marks: Vec<Mark> = total.iter().map(|p| p.mark).collect();
        assert_eq!(
            marks,
            [
                Mark::Firm,
                Mark::Firm,
                Mark::Firm,
                Mark::Provisional,
                Mark::Provisional
            ]
        );
        // Two-day windows ending on days 1..=5: 10 (day 0 has no row), 10 + absent, 5,
        // 5 + 1, 1 + 4; the last two add up a provisional day.
        let trailing = summed(Measure::Trailing(2), day(1), &daily, &days);
        let values: Vec<Option<f64>> = trailing.iter().map(|p| p.value).collect();
        assert_eq!(
            values,
            [Some(10.0), Some(10.0), Some(5.0), Some(6.0), Some(5.0)]
        );
        let only_gap: HashMap<_, _> = [(day(2), (None, true))].into_iter().collect();
        assert_eq!(
            summed(Measure::Trailing(1), day(1), &only_gap, &[day(2)])[0].value,
            None
        );
    }

    #[test]
    fn sampling_keeps_the_last_day() {
        let days: Vec<NaiveDate> = (1..=10).map(day).collect();
        assert_eq!(sample(&days, 20), days);
        assert_eq!(sample(&days, 4), vec![day(1), day(4), day(7), day(10)]);
        assert_eq!(
            sample(&days, 5),
            vec![day(2), day(4), day(6), day(8), day(10)]
        );
    }

    #[test]
    fn guides_of_a_cumulative_goal() {
        let date = |d: NaiveDate| {
            use chrono::Datelike;
            Some(proto::google::r#type::Date {
                year: d.year(),
                month: d.month() as i32,
                day: d.day() as i32,
            })
        };
        let goal = proto::Goal {
            name: "goals/g".into(),
            display_name: "Visitors".into(),
            kpi: "influencer_visitors".into(),
            start_date: date(day(1)),
            deadline: date(day(31)),
            ..Default::default()
        };
        let evaluation = proto::GoalEvaluation {
            measured_day: date(day(11)),
            current_value: Some(400.0),
            baseline: Some(900.0),
            target: Some(1500.0),
            forecast: Some(1200.0),
            forecast_values: 11,
            ..Default::default()
        };
        let chart = GoalChart {
            goal: &goal,
            evaluation: Some(&evaluation),
            measure: Measure::Cumulative,
            unit: "users",
            currency: None,
        };
        let guides = chart.guides();
        assert_eq!(guides.len(), 3);
        assert_eq!(guides[0].points, vec![(day(1), 1500.0), (day(31), 1500.0)]);
        // A total starts from nothing, whatever the baseline.
        assert_eq!(guides[1].points, vec![(day(1), 0.0), (day(31), 1500.0)]);
        assert_eq!(guides[2].points, vec![(day(11), 400.0), (day(31), 1200.0)]);
        assert_eq!(
            guides[2].label,
            "forecast for 2026-03-31: 1,200 (11 values)"
        );
        assert_eq!(
            chart.title(),
            "Visitors: influencer_visitors total since 2026-03-01"
        );
        // A trailing ratio starts from its baseline.
        let trailing = GoalChart {
            measure: Measure::Trailing(28),
            ..chart
        };
        assert_eq!(
            trailing.guides()[1].points,
            vec![(day(1), 900.0), (day(31), 1500.0)]
        );
        assert!(
            kpi_mismatch("goals/g", "roas", "followers").is_some_and(|m| {
                m.contains("goals/g") && m.contains("roas") && m.contains("followers")
            })
        );
        assert_eq!(kpi_mismatch("goals/g", "roas", "roas"), None);
    }
}
