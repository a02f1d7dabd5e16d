//! Goal evaluation as KPIS.md defines it: what a goal measures on each day, its baseline,
//! progress, expected progress, least-squares forecast and status. Plain math; the values
//! come from the KPI engine.
//!
//! The forecast is an ordinary least-squares line, fitted in closed form (slope =
//! Σ(x−x̄)(y−ȳ) / Σ(x−x̄)², x in days): a statistics crate would add a linear-algebra
//! stack for these few lines, and the closed form is exactly the method KPIS.md names.
use super::period::Period;
use crate::domain::catalogue::RollUp;
use crate::domain::goal::{Direction, Target};
use chrono::{Days, NaiveDate};

/// Most recent defined values the forecast is fitted on.
pub const FORECAST_VALUES: usize = 28;

/// Fewest values a forecast needs.
pub const FORECAST_MIN_VALUES: usize = 7;

/// Trailing window of ratio and change KPIs when the goal names none.
pub const DEFAULT_TRAILING_DAYS: u32 = 28;

/// What a goal measures on a day `d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// The value on `d` (level KPIs).
    Level,
    /// The value over `[start, d]`: growth since the goal began (boundary KPIs).
    SinceStart,
    /// The value over `[start, d]`, cumulative (sum and distinct KPIs).
    Cumulative,
    /// The value over the trailing `n` days `[d−n+1, d]`.
    Trailing(u32),
}

impl Measure {
    /// The measure of a KPI with `roll_up` for a goal naming `trailing_days` (if any).
    pub fn of(roll_up: RollUp, trailing_days: Option<i32>) -> Measure {
        let trailing = trailing_days.filter(|n| *n > 0).map(|n| n as u32);
        match roll_up {
            RollUp::Level => Measure::Level,
            RollUp::Boundary => Measure::SinceStart,
            RollUp::Sum | RollUp::Distinct => trailing
                .map(Measure::Trailing)
                .unwrap_or(Measure::Cumulative),
            RollUp::Ratio | RollUp::Change => {
                Measure::Trailing(trailing.unwrap_or(DEFAULT_TRAILING_DAYS))
            }
        }
    }

    /// Whether the measure starts from nothing at the goal's start, so that progress is
    /// measured against the target alone.
    pub fn starts_from_nothing(self) -> bool {
        matches!(self, Measure::SinceStart | Measure::Cumulative)
    }

    /// The period measured for day `d` of a goal starting on `start`.
    pub fn period(self, start: NaiveDate, d: NaiveDate) -> Option<Period> {
        match self {
            Measure::Level => Some(Period::day(d)),
            Measure::SinceStart | Measure::Cumulative => Period::new(start, d),
            Measure::Trailing(n) => {
                Period::new(d.checked_sub_days(Days::new(u64::from(n.max(1)) - 1))?, d)
            }
        }
    }

    /// The period of the baseline "KPI before start" for a goal `[start, deadline]`.
    pub fn baseline_period(self, start: NaiveDate, deadline: NaiveDate) -> Option<Period> {
        let before = start.pred_opt()?;
        match self {
            Measure::Level => Some(Period::day(before)),
            Measure::SinceStart | Measure::Cumulative => {
                let length = (deadline - start).num_days().max(0) as u64;
                Period::new(before.checked_sub_days(Days::new(length))?, before)
            }
            Measure::Trailing(n) => Period::new(
                before.checked_sub_days(Days::new(u64::from(n.max(1)) - 1))?,
                before,
            ),
        }
    }
}

/// The value a target stands for: absolute, or the baseline moved by a percentage.
pub fn target_value(target: Target, baseline: Option<f64>) -> Option<f64> {
    match target {
        Target::Absolute(v) => Some(v),
        Target::RelativePercent(p) => baseline.map(|b| b * (1.0 + p / 100.0)),
    }
}

/// Progress toward the target in percent (KPIS.md: progress).
pub fn progress(
    measure: Measure,
    measured: Option<f64>,
    baseline: Option<f64>,
    target: Option<f64>,
) -> Option<f64> {
    let (measured, target) = (measured?, target?);
    let (numerator, denominator) = if measure.starts_from_nothing() {
        (measured, target)
    } else {
        let baseline = baseline?;
        (measured - baseline, target - baseline)
    };
    (denominator != 0.0).then(|| 100.0 * numerator / denominator)
}

/// The progress a straight line from start to deadline expects on day `m`, in percent.
pub fn expected_progress(start: NaiveDate, deadline: NaiveDate, m: NaiveDate) -> f64 {
    let total = (deadline - start).num_days() as f64;
    if total <= 0.0 {
        return 100.0;
    }
    100.0 * (m - start).num_days() as f64 / total
}

/// The least-squares line through the last [`FORECAST_VALUES`] of `points` (ordered by
/// day, defined values only), evaluated at `deadline`; None with fewer than
/// [`FORECAST_MIN_VALUES`].
pub fn forecast(points: &[(NaiveDate, f64)], deadline: NaiveDate) -> Option<f64> {
    let recent = &points[points.len().saturating_sub(FORECAST_VALUES)..];
    if recent.len() < FORECAST_MIN_VALUES {
        return None;
    }
    let origin = recent[0].0;
    let xs: Vec<f64> = recent
        .iter()
        .map(|(d, _)| (*d - origin).num_days() as f64)
        .collect();
    let n = recent.len() as f64;
    let mean_x = xs.iter().sum::<f64>() / n;
    let mean_y = recent.iter().map(|(_, y)| y).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, (_, y)) in xs.iter().zip(recent) {
        sxy += (x - mean_x) * (y - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
    }
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let at = (deadline - origin).num_days() as f64;
    Some(mean_y + slope * (at - mean_x))
}

/// Level of the forecast's prediction interval.
pub const FORECAST_LEVEL: f64 = 0.9;

/// How sure the forecast is: its prediction interval and the chance of reaching the
/// target by the deadline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForecastSpread {
    /// Lower end of the prediction interval of the value at the deadline.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
    /// Probability that the value at the deadline reaches the target (≥ for UP, ≤ for
    /// DOWN); None without a target.
    pub probability: Option<f64>,
}

/// The spread around the KPIS.md point `forecast` of the points it was fitted on (the
/// last [`FORECAST_VALUES`]): the measured values are taken as a random walk with drift,
/// whose daily steps (differences of consecutive values over the days between them) give
/// a variance σ² per day. The value h days past the last point then varies by σ²·h, and
/// the fitted trend by σ²·(6/5)·h²/span, the variance of a least-squares slope through a
/// random walk (span: the days the points cover). A Student t with one degree of freedom
/// fewer than the steps gives the interval of `level` and the probability. Calibrated by
/// simulation (test `the_forecast_interval_holds_its_level`): about 89 % of cumulative
/// counts and of random-walk levels fall in the 90 % interval. None with fewer than
/// [`FORECAST_MIN_VALUES`] points, as the forecast.
pub fn forecast_spread(
    points: &[(NaiveDate, f64)],
    deadline: NaiveDate,
    forecast: f64,
    target: Option<f64>,
    direction: Direction,
    level: f64,
) -> Option<ForecastSpread> {
    let recent = &points[points.len().saturating_sub(FORECAST_VALUES)..];
    if recent.len() < FORECAST_MIN_VALUES {
        return None;
    }
    let steps: Vec<(f64, f64)> = recent
        .windows(2)
        .map(|w| (w[1].1 - w[0].1, (w[1].0 - w[0].0).num_days() as f64))
        .filter(|(_, days)| *days > 0.0)
        .collect();
    let span: f64 = steps.iter().map(|(_, days)| days).sum();
    if steps.len() < 3 || span <= 0.0 {
        return None;
    }
    let drift = steps.iter().map(|(d, _)| d).sum::<f64>() / span;
    let variance = steps
        .iter()
        .map(|(d, days)| (d - drift * days).powi(2) / days)
        .sum::<f64>()
        / (steps.len() - 1) as f64;
    let last = recent[recent.len() - 1].0;
    let h = (deadline - last).num_days().max(0) as f64;
    let se = (variance * (h + 1.2 * h * h / span)).sqrt();
    let t = statrs::distribution::StudentsT::new(0.0, 1.0, (steps.len() - 1) as f64).ok()?;
    use statrs::distribution::ContinuousCDF;
    let q = t.inverse_cdf(0.5 + level / 2.0);
    let probability = target.map(|target| {
        if se > 0.0 {
            let below = t.cdf((target - forecast) / se);
            match direction {
                Direction::Up => 1.0 - below,
                Direction::Down => below,
            }
        } else if reaches(direction, forecast, target) {
            1.0
        } else {
            0.0
        }
    });
    Some(ForecastSpread {
        lower: forecast - q * se,
        upper: forecast + q * se,
        probability,
    })
}

/// A goal's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// On course to reach the target.
    OnTrack,
    /// Not on course.
    AtRisk,
    /// The target is reached.
    Achieved,
    /// The deadline passed without reaching the target.
    Missed,
    /// Nothing measured yet.
    NoData,
}

impl Status {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::OnTrack => "on_track",
            Status::AtRisk => "at_risk",
            Status::Achieved => "achieved",
            Status::Missed => "missed",
            Status::NoData => "no_data",
        }
    }

    /// The status of a stored name.
    pub fn parse(value: &str) -> Option<Status> {
        [
            Status::OnTrack,
            Status::AtRisk,
            Status::Achieved,
            Status::Missed,
            Status::NoData,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// Everything a goal's evaluation needs besides the KPI engine.
#[derive(Clone, Debug)]
pub struct GoalFacts {
    /// What is measured.
    pub measure: Measure,
    /// Direction.
    pub direction: Direction,
    /// Start.
    pub start: NaiveDate,
    /// Deadline.
    pub deadline: NaiveDate,
    /// The target value (None: relative target without a baseline value).
    pub target: Option<f64>,
    /// The baseline value, if any.
    pub baseline: Option<f64>,
}

/// An evaluation as of a day.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The day evaluated as of (the newest computed day).
    pub as_of: NaiveDate,
    /// The measured day, `min(as_of, deadline)`.
    pub measured_day: NaiveDate,
    /// The measured value on the measured day.
    pub current: Option<f64>,
    /// The baseline.
    pub baseline: Option<f64>,
    /// The target value.
    pub target: Option<f64>,
    /// Progress in percent.
    pub progress: Option<f64>,
    /// Expected progress in percent.
    pub expected_progress: f64,
    /// Forecast at the deadline.
    pub forecast: Option<f64>,
    /// Defined values the forecast used.
    pub forecast_values: usize,
    /// Status.
    pub status: Status,
    /// Why, with the numbers that decided it.
    pub reason: String,
}

fn reaches(direction: Direction, value: f64, target: f64) -> bool {
    match direction {
        Direction::Up => value >= target,
        Direction::Down => value <= target,
    }
}

fn num(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// Evaluates a goal as of `as_of` from its measured values: `points` are the defined
/// measured values on days of `[start, m]`, ordered by day (at least the last
/// [`FORECAST_VALUES`], or all when fewer), and `current` the measured value on `m`.
pub fn evaluate(
    facts: &GoalFacts,
    as_of: NaiveDate,
    current: Option<f64>,
    points: &[(NaiveDate, f64)],
) -> Evaluation {
    let m = as_of.min(facts.deadline);
    let progress = progress(facts.measure, current, facts.baseline, facts.target);
    let expected = expected_progress(facts.start, facts.deadline, m);
    let forecast = forecast(points, facts.deadline);
    let used = points.len().min(FORECAST_VALUES);
    let dir = match facts.direction {
        Direction::Up => "at least",
        Direction::Down => "at most",
    };
    let (status, reason) = if points.is_empty() {
        (
            Status::NoData,
            format!("no value measured on any day from {} to {m}", facts.start),
        )
    } else if let (Some(value), Some(target)) = (current, facts.target)
        && reaches(facts.direction, value, target)
    {
        (
            Status::Achieved,
            format!(
                "{} on {m} reaches the target of {dir} {}",
                num(value),
                num(target)
            ),
        )
    } else if as_of > facts.deadline {
        let value = current.map(num).unwrap_or_else(|| "no value".into());
        let target = facts
            .target
            .map(num)
            .unwrap_or_else(|| "an undefined target".into());
        (
            Status::Missed,
            format!(
                "the deadline {} passed with {value}, short of {target}",
                facts.deadline
            ),
        )
    } else if let Some(target) = facts.target {
        match forecast {
            Some(f) if reaches(facts.direction, f, target) => (
                Status::OnTrack,
                format!(
                    "the trend of the last {used} values forecasts {} by {}, reaching {dir} {}",
                    num(f),
                    facts.deadline,
                    num(target)
                ),
            ),
            Some(f) => (
                Status::AtRisk,
                format!(
                    "the trend of the last {used} values forecasts {} by {}, short of {dir} {}",
                    num(f),
                    facts.deadline,
                    num(target)
                ),
            ),
            None => match progress {
                Some(p) if p >= expected => (
                    Status::OnTrack,
                    format!(
                        "progress {p:.1}% is at or above the {expected:.1}% expected by {m} (only {used} values, too few for a trend)"
                    ),
                ),
                Some(p) => (
                    Status::AtRisk,
                    format!(
                        "progress {p:.1}% is below the {expected:.1}% expected by {m} (only {used} values, too few for a trend)"
                    ),
                ),
                None => (
                    Status::AtRisk,
                    format!(
                        "progress is undefined on {m} and {used} values are too few for a trend"
                    ),
                ),
            },
        }
    } else {
        (
            Status::AtRisk,
            "the target is undefined: it is relative and the baseline has no value".to_string(),
        )
    };
    Evaluation {
        as_of,
        measured_day: m,
        current,
        baseline: facts.baseline,
        target: facts.target,
        progress,
        expected_progress: expected,
        forecast,
        forecast_values: used,
        status,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, d).unwrap()
    }

    fn facts(
        measure: Measure,
        direction: Direction,
        target: Option<f64>,
        baseline: Option<f64>,
    ) -> GoalFacts {
        GoalFacts {
            measure,
            direction,
            start: day(1),
            deadline: day(31),
            target,
            baseline,
        }
    }

    #[test]
    fn measures_and_baselines_follow_the_roll_up() {
        assert_eq!(Measure::of(RollUp::Level, None), Measure::Level);
        assert_eq!(Measure::of(RollUp::Sum, None), Measure::Cumulative);
        assert_eq!(Measure::of(RollUp::Sum, Some(7)), Measure::Trailing(7));
        assert_eq!(Measure::of(RollUp::Ratio, None), Measure::Trailing(28));
        assert_eq!(Measure::of(RollUp::Boundary, Some(7)), Measure::SinceStart);
        assert_eq!(
            Measure::Trailing(7).period(day(1), day(10)),
            Period::new(day(4), day(10))
        );
        assert_eq!(
            Measure::Cumulative.period(day(3), day(10)),
            Period::new(day(3), day(10))
        );
        // Level: the day before the start; cumulative: the same length before the start.
        assert_eq!(
            Measure::Level.baseline_period(day(11), day(20)),
            Some(Period::day(day(10)))
        );
        assert_eq!(
            Measure::Cumulative.baseline_period(day(11), day(20)),
            Period::new(day(1), day(10))
        );
        assert_eq!(
            Measure::Trailing(5).baseline_period(day(11), day(20)),
            Period::new(day(6), day(10))
        );
    }

    #[test]
    fn targets_progress_and_expected_progress() {
        assert_eq!(
            target_value(Target::RelativePercent(20.0), Some(50.0)),
            Some(60.0)
        );
        assert_eq!(
            target_value(Target::RelativePercent(-20.0), Some(50.0)),
            Some(40.0)
        );
        assert_eq!(target_value(Target::RelativePercent(20.0), None), None);
        // From the baseline 50 to the target 60, now 55: half way.
        assert_eq!(
            progress(Measure::Level, Some(55.0), Some(50.0), Some(60.0)),
            Some(50.0)
        );
        // Decreasing: from 50 to 40, now 45, also half way.
        assert_eq!(
            progress(Measure::Level, Some(45.0), Some(50.0), Some(40.0)),
            Some(50.0)
        );
        // Cumulative measures start from nothing.
        assert_eq!(
            progress(Measure::Cumulative, Some(30.0), Some(99.0), Some(120.0)),
            Some(25.0)
        );
        assert_eq!(progress(Measure::Level, Some(55.0), None, Some(60.0)), None);
        assert_eq!(
            progress(Measure::Level, Some(55.0), Some(60.0), Some(60.0)),
            None
        );
        assert_eq!(expected_progress(day(1), day(31), day(16)), 50.0);
    }

    #[test]
    fn the_forecast_is_the_least_squares_line_at_the_deadline() {
        // y = 2x + 10 over days 1..=10, x counted from day 1: at day 31 (x = 30), 70.
        let points: Vec<_> = (1..=10)
            .map(|d| (day(d), 2.0 * f64::from(d - 1) + 10.0))
            .collect();
        assert!((forecast(&points, day(31)).unwrap() - 70.0).abs() < 1e-9);
        // Six values are too few.
        assert_eq!(forecast(&points[..6], day(31)), None);
        // Only the last 28 count: an old outlier is ignored.
        let mut long: Vec<_> = (1..=28).map(|d| (day(d), 5.0)).collect();
        long.insert(0, (NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(), 1000.0));
        assert_eq!(forecast(&long, day(31)), Some(5.0));
        // Hand-computed with a gap: (1,1), (2,2), (4,2), (5,4), (7,5), (8,5), (10,7).
        // x from day 1: 0, 1, 3, 4, 6, 7, 9; x̄ = 30/7, ȳ = 26/7; Sxy = 284/7, Sxx = 444/7,
        // slope 71/111; at x = 30: 26/7 + 71/111 × (30 − 30/7) = 746/37 = 20.162…
        let pts: Vec<_> = [
            (1, 1.0),
            (2, 2.0),
            (4, 2.0),
            (5, 4.0),
            (7, 5.0),
            (8, 5.0),
            (10, 7.0),
        ]
        .into_iter()
        .map(|(d, y)| (day(d), y))
        .collect();
        let xs: [f64; 7] = [0.0, 1.0, 3.0, 4.0, 6.0, 7.0, 9.0];
        let ys: [f64; 7] = [1.0, 2.0, 2.0, 4.0, 5.0, 5.0, 7.0];
        let mx = xs.iter().sum::<f64>() / 7.0;
        let my = ys.iter().sum::<f64>() / 7.0;
        let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
        assert!((sxy - 284.0 / 7.0).abs() < 1e-9 && (sxx - 444.0 / 7.0).abs() < 1e-9);
        let expected = my + sxy / sxx * (30.0 - mx);
        assert!((forecast(&pts, day(31)).unwrap() - expected).abs() < 1e-9);
        assert!((expected - 746.0 / 37.0).abs() < 1e-9, "{expected}");
    }

    #[test]
    fn a_straight_line_has_no_spread_and_a_sure_outcome() {
        // 10 values on y = 50 + 2d: every step is 2 a day, so σ = 0.
        let line: Vec<_> = (1..=10)
            .map(|d| (day(d), 50.0 + 2.0 * f64::from(d)))
            .collect();
        let f = forecast(&line, day(31)).unwrap();
        let s = forecast_spread(&line, day(31), f, Some(100.0), Direction::Up, 0.9).unwrap();
        assert_eq!((s.lower, s.upper, s.probability), (f, f, Some(1.0)));
        let s = forecast_spread(&line, day(31), f, Some(200.0), Direction::Up, 0.9).unwrap();
        assert_eq!(s.probability, Some(0.0));
        assert_eq!(
            forecast_spread(&line[..6], day(31), f, None, Direction::Up, 0.9),
            None
        );
    }

    #[test]
    fn the_spread_is_the_random_walk_variance_by_hand() {
        // Steps 1, 3, 1, 3, 1, 3 over days 1..=7: drift 2 a day; squared deviations 1 each,
        // σ² = 6 / 5. The deadline is h = 10 days past day 7, span 6 days:
        // se² = 1.2 × (10 + 1.2 × 100 / 6) = 36, se = 6.
        let values = [0.0, 1.0, 4.0, 5.0, 8.0, 9.0, 12.0];
        let points: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (day(i as u32 + 1), *v))
            .collect();
        let s = forecast_spread(&points, day(17), 30.0, Some(30.0), Direction::Up, 0.9).unwrap();
        let q = {
            use statrs::distribution::{ContinuousCDF, StudentsT};
            StudentsT::new(0.0, 1.0, 5.0).unwrap().inverse_cdf(0.95)
        };
        assert!((s.upper - (30.0 + 6.0 * q)).abs() < 1e-9, "{s:?}");
        assert!((s.lower - (30.0 - 6.0 * q)).abs() < 1e-9, "{s:?}");
        // The target is the point forecast: even odds.
        assert!((s.probability.unwrap() - 0.5).abs() < 1e-12);
        let down = forecast_spread(&points, day(17), 30.0, Some(36.0), Direction::Down, 0.9);
        assert!(down.unwrap().probability.unwrap() > 0.5);
    }

    /// Cumulative daily counts (Poisson, 5 to 200 a day): a goal measured on day 30 with
    /// its deadline on day 90. The 90 % interval holds the value at the deadline in
    /// 85-95 % of 1,000 seeded runs.
    #[test]
    fn the_forecast_interval_holds_its_level() {
        use rand::{Rng, SeedableRng};
        use rand_distr::{Distribution, Poisson};
        let mut rng = rand::rngs::StdRng::seed_from_u64(26);
        let first = day(1);
        let mut held = 0;
        for _ in 0..1000 {
            let rate = 5.0 + 195.0 * rng.random::<f64>();
            let poisson = Poisson::new(rate).unwrap();
            let mut total = 0.0;
            let series: Vec<f64> = (0..=90)
                .map(|_| {
                    total += poisson.sample(&mut rng);
                    total
                })
                .collect();
            let points: Vec<_> = (3..=30)
                .map(|d| (first + Days::new(d), series[d as usize]))
                .collect();
            let deadline = first + Days::new(90);
            let f = forecast(&points, deadline).unwrap();
            let s = forecast_spread(&points, deadline, f, None, Direction::Up, 0.9).unwrap();
            held += usize::from(s.lower <= series[90] && series[90] <= s.upper);
        }
        assert!((850..=950).contains(&held), "{held} of 1000");
    }

    #[test]
    fn statuses_in_their_order() {
        let up = facts(Measure::Level, Direction::Up, Some(100.0), Some(50.0));
        // No value at all.
        let e = evaluate(&up, day(10), None, &[]);
        assert_eq!(e.status, Status::NoData);
        // Achieved early, even before the deadline.
        let e = evaluate(&up, day(10), Some(101.0), &[(day(10), 101.0)]);
        assert_eq!(e.status, Status::Achieved);
        assert!(
            e.reason.contains("101") && e.reason.contains("100"),
            "{}",
            e.reason
        );
        // Past the deadline and short: missed, measured on the deadline.
        let e = evaluate(&up, day(31) + Days::new(3), Some(80.0), &[(day(31), 80.0)]);
        assert_eq!((e.status, e.measured_day), (Status::Missed, day(31)));
        // A rising trend that reaches 100 by the 31st: on track.
        let rising: Vec<_> = (1..=10)
            .map(|d| (day(d), 50.0 + 2.0 * f64::from(d)))
            .collect();
        let e = evaluate(&up, day(10), Some(70.0), &rising);
        assert_eq!(e.status, Status::OnTrack, "{}", e.reason);
        assert!((e.forecast.unwrap() - 112.0).abs() < 1e-9);
        // A slower trend falls short: at risk.
        let slow: Vec<_> = (1..=10).map(|d| (day(d), 50.0 + f64::from(d))).collect();
        let e = evaluate(&up, day(10), Some(60.0), &slow);
        assert_eq!(e.status, Status::AtRisk);
        assert!(e.reason.contains("81"), "{}", e.reason);
        // Fewer than 7 values: progress against the straight line decides.
        let few = [(day(15), 80.0)];
        let e = evaluate(&up, day(16), Some(80.0), &few);
        assert_eq!((e.progress, e.expected_progress), (Some(60.0), 50.0));
        assert_eq!(e.status, Status::OnTrack);
        let e = evaluate(&up, day(16), Some(70.0), &few);
        assert_eq!(e.status, Status::AtRisk);
    }

    #[test]
    fn a_decreasing_goal_is_achieved_at_or_below_its_target() {
        let down = facts(Measure::Trailing(28), Direction::Down, Some(2.0), Some(5.0));
        let falling: Vec<_> = (1..=10)
            .map(|d| (day(d), 5.0 - 0.2 * f64::from(d)))
            .collect();
        let e = evaluate(&down, day(10), Some(3.0), &falling);
        assert_eq!(e.status, Status::OnTrack, "{}", e.reason);
        assert_eq!(e.progress, Some(100.0 * (3.0 - 5.0) / (2.0 - 5.0)));
        let e = evaluate(&down, day(12), Some(2.0), &falling);
        assert_eq!(e.status, Status::Achieved);
        // A relative target without a baseline value cannot be judged.
        let blind = facts(Measure::Level, Direction::Down, None, None);
        let e = evaluate(&blind, day(10), Some(3.0), &falling);
        assert_eq!(e.status, Status::AtRisk);
        assert!(e.reason.contains("undefined"), "{}", e.reason);
    }
}
