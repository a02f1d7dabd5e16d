//! Campaign lift (LIFT.md): what a campaign added to a tenant-wide daily series beyond the
//! baseline that the pre-period predicts, with prediction intervals for each day and for
//! the total.
//!
//! The baseline is an ordinary least-squares fit of a linear trend and one effect per
//! weekday to the pre-period's daily values. LIFT.md says why this model and not an
//! exponential-smoothing one: the total over a window needs the joint uncertainty of its
//! days, which this model gives exactly and the per-day intervals of ETS/MSTL do not, and
//! the simulation study (`lift_sim`, `examples/lift_study.rs`) measures its calibration.
//! Pure math: days are indices counted from the pre-period's first day.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Coefficients of the model: intercept, trend (per week) and six weekday effects (the
/// pre-period's first weekday is the reference).
pub const PARAMETERS: usize = 8;
/// Fewest pre-period days with a value: 20 degrees of freedom after the eight
/// coefficients, so the residual spread is estimated from enough days.
pub const MIN_DEFINED_DAYS: usize = 28;
/// Smallest share of the pre-period's days that must have a value.
pub const MIN_COVERAGE: f64 = 0.8;
/// Fewest values each weekday needs: its effect is an average of these.
pub const MIN_PER_WEEKDAY: usize = 3;

/// Why a pre-period gives no baseline.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum Unfit {
    /// Too few days with a value.
    #[error(
        "the pre-period has {defined} days with a value; the baseline needs at least {MIN_DEFINED_DAYS}"
    )]
    TooShort {
        /// Days with a value.
        defined: usize,
    },
    /// Too many days without a value, overall or on one weekday.
    #[error(
        "the pre-period has values on {defined} of its {days} days ({weekday_values} on its sparsest weekday); the baseline needs 80 % of the days and {MIN_PER_WEEKDAY} of each weekday"
    )]
    TooGappy {
        /// Days with a value.
        defined: usize,
        /// Days in the pre-period.
        days: usize,
        /// Values on the weekday with the fewest.
        weekday_values: usize,
    },
    /// The values do not determine the coefficients (numerically singular).
    #[error("the pre-period's values do not determine a trend and a weekly pattern")]
    Degenerate,
}

/// A fitted baseline: the model's coefficients and what its intervals need.
#[derive(Debug, Clone)]
pub struct Baseline {
    beta: [f64; PARAMETERS],
    /// (X'X)⁻¹, the coefficients' covariance over σ².
    unscaled_cov: [[f64; PARAMETERS]; PARAMETERS],
    /// Residual variance σ², RSS / (n − PARAMETERS).
    sigma2: f64,
    /// Residual degrees of freedom.
    dof: usize,
    /// Lag-1 autocorrelation of the residuals used for sums; 0 unless clearly positive.
    rho: f64,
}

/// A prediction of one day or of a sum of days: its mean and the standard error of a new
/// value (or sum) around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// The baseline.
    pub mean: f64,
    /// Standard error of the prediction error.
    pub se: f64,
    /// Degrees of freedom of the Student t the interval uses.
    pub dof: usize,
}

impl Prediction {
    /// The central interval of the given level (in (0, 1)) around the mean.
    #[must_use]
    pub fn interval(&self, level: f64) -> (f64, f64) {
        let q = t_quantile(self.dof, level);
        (self.mean - q * self.se, self.mean + q * self.se)
    }
}

/// The two-sided Student-t quantile for a central interval of `level`.
fn t_quantile(dof: usize, level: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, dof.max(1) as f64) {
        Ok(t) => t.inverse_cdf(0.5 + level / 2.0),
        // Unreachable for dof ≥ 1; the normal quantile of 90 % as the safe side.
        Err(_) => 1.645,
    }
}

/// The model's regressors for day `index`. Weekdays are counted from the pre-period's
/// first day, whose weekday is the reference level: the window follows the pre-period, so
/// which calendar weekday that is does not matter.
fn regressors(index: usize) -> [f64; PARAMETERS] {
    let mut x = [0.0; PARAMETERS];
    x[0] = 1.0;
    // Weeks rather than days keep X'X well scaled.
    x[1] = index as f64 / 7.0;
    let weekday = index % 7;
    if weekday > 0 {
        x[1 + weekday] = 1.0;
    }
    x
}

/// Inverts a symmetric positive-definite matrix by Gauss-Jordan elimination with partial
/// pivoting; None when a pivot vanishes relative to the diagonal's scale.
fn invert(mut a: [[f64; PARAMETERS]; PARAMETERS]) -> Option<[[f64; PARAMETERS]; PARAMETERS]> {
    let scale = (0..PARAMETERS).map(|i| a[i][i].abs()).fold(0.0, f64::max);
    if scale <= 0.0 || !scale.is_finite() {
        return None;
    }
    let mut inv = [[0.0; PARAMETERS]; PARAMETERS];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..PARAMETERS {
        let pivot =
            (col..PARAMETERS).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= 1e-10 * scale {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let p = a[col][col];
        for k in 0..PARAMETERS {
            a[col][k] /= p;
            inv[col][k] /= p;
        }
        for row in 0..PARAMETERS {
            if row != col {
                let f = a[row][col];
                if f != 0.0 {
                    for k in 0..PARAMETERS {
                        a[row][k] -= f * a[col][k];
                        inv[row][k] -= f * inv[col][k];
                    }
                }
            }
        }
    }
    Some(inv)
}

/// x' M x.
fn quadratic(m: &[[f64; PARAMETERS]; PARAMETERS], x: &[f64; PARAMETERS]) -> f64 {
    let mut s = 0.0;
    for i in 0..PARAMETERS {
        for j in 0..PARAMETERS {
            s += x[i] * m[i][j] * x[j];
        }
    }
    s
}

impl Baseline {
    /// Fits the baseline to the pre-period's daily values (`values[i]` is day i, None
    /// where the day has no value).
    pub fn fit(values: &[Option<f64>]) -> Result<Baseline, Unfit> {
        let defined = values.iter().filter(|v| v.is_some()).count();
        if defined < MIN_DEFINED_DAYS {
            return Err(Unfit::TooShort { defined });
        }
        let mut per_weekday = [0usize; 7];
        for (i, v) in values.iter().enumerate() {
            if v.is_some() {
                per_weekday[i % 7] += 1;
            }
        }
        let weekday_values = per_weekday.iter().copied().min().unwrap_or(0);
        if (defined as f64) < MIN_COVERAGE * values.len() as f64 || weekday_values < MIN_PER_WEEKDAY
        {
            return Err(Unfit::TooGappy {
                defined,
                days: values.len(),
                weekday_values,
            });
        }
        let mut xtx = [[0.0; PARAMETERS]; PARAMETERS];
        let mut xty = [0.0; PARAMETERS];
        for (i, v) in values.iter().enumerate() {
            let Some(y) = *v else { continue };
            let x = regressors(i);
            for r in 0..PARAMETERS {
                xty[r] += x[r] * y;
                for c in 0..PARAMETERS {
                    xtx[r][c] += x[r] * x[c];
                }
            }
        }
        let unscaled_cov = invert(xtx).ok_or(Unfit::Degenerate)?;
        let mut beta = [0.0; PARAMETERS];
        for (r, b) in beta.iter_mut().enumerate() {
            *b = (0..PARAMETERS).map(|c| unscaled_cov[r][c] * xty[c]).sum();
        }
        let residuals: Vec<Option<f64>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| v.map(|y| y - dot(&regressors(i), &beta)))
            .collect();
        let rss: f64 = residuals.iter().flatten().map(|e| e * e).sum();
        let dof = defined - PARAMETERS;
        let sigma2 = rss / dof as f64;
        if !sigma2.is_finite() || beta.iter().any(|b| !b.is_finite()) {
            return Err(Unfit::Degenerate);
        }
        Ok(Baseline {
            beta,
            unscaled_cov,
            sigma2,
            dof,
            rho: positive_autocorrelation(&residuals, defined),
        })
    }

    /// The baseline of day `index` (counted from the pre-period's first day).
    #[must_use]
    pub fn mean(&self, index: usize) -> f64 {
        dot(&regressors(index), &self.beta)
    }

    /// The residual standard deviation σ.
    #[must_use]
    pub fn sigma(&self) -> f64 {
        self.sigma2.sqrt()
    }

    /// The lag-1 residual autocorrelation that sums account for (0 when not clearly
    /// positive).
    #[must_use]
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// The prediction of one new day's value.
    #[must_use]
    pub fn day(&self, index: usize) -> Prediction {
        let x = regressors(index);
        Prediction {
            mean: dot(&x, &self.beta),
            se: (self.sigma2 * (1.0 + quadratic(&self.unscaled_cov, &x))).sqrt(),
            dof: self.dof,
        }
    }

    /// The prediction of the sum of new values on the days `indices` (distinct): the
    /// coefficients' error is shared by all days, and the noise of nearby days is
    /// correlated by ρ^distance.
    #[must_use]
    pub fn sum(&self, indices: &[usize]) -> Prediction {
        let mut c = [0.0; PARAMETERS];
        for &i in indices {
            let x = regressors(i);
            for k in 0..PARAMETERS {
                c[k] += x[k];
            }
        }
        let mut noise = indices.len() as f64;
        if self.rho > 0.0 {
            for (a, &i) in indices.iter().enumerate() {
                for &j in &indices[a + 1..] {
                    noise += 2.0 * self.rho.powi(i.abs_diff(j).min(i32::MAX as usize) as i32);
                }
            }
        }
        Prediction {
            mean: dot(&c, &self.beta),
            se: (self.sigma2 * (noise + quadratic(&self.unscaled_cov, &c))).sqrt(),
            dof: self.dof,
        }
    }
}

fn dot(a: &[f64; PARAMETERS], b: &[f64; PARAMETERS]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The lag-1 autocorrelation of consecutive residuals when it exceeds 2/√n (clearly
/// positive); else 0, so that independent noise is not given a spurious correlation.
fn positive_autocorrelation(residuals: &[Option<f64>], defined: usize) -> f64 {
    let sq: f64 = residuals.iter().flatten().map(|e| e * e).sum();
    if sq <= 0.0 {
        return 0.0;
    }
    let lagged: f64 = residuals
        .windows(2)
        .filter_map(|w| Some(w[0]? * w[1]?))
        .sum();
    let rho = lagged / sq;
    if rho > 2.0 / (defined as f64).sqrt() {
        rho.min(0.95)
    } else {
        0.0
    }
}

/// Observed against baseline for one day or a total, with the interval of the level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// What happened.
    pub observed: f64,
    /// What the baseline predicts without the campaign.
    pub baseline: f64,
    /// Lower end of the baseline's prediction interval.
    pub baseline_lower: f64,
    /// Upper end of the baseline's prediction interval.
    pub baseline_upper: f64,
    /// observed − baseline.
    pub lift: f64,
    /// observed − baseline_upper.
    pub lift_lower: f64,
    /// observed − baseline_lower.
    pub lift_upper: f64,
    /// lift / baseline; None when the baseline is not positive.
    pub relative: Option<f64>,
    /// observed / baseline_upper − 1; None when baseline_upper is not positive.
    pub relative_lower: Option<f64>,
    /// observed / baseline_lower − 1; None when baseline_lower is not positive (the
    /// baseline may be near zero, so the relative lift has no upper bound).
    pub relative_upper: Option<f64>,
}

impl Estimate {
    /// The estimate of an observed value against a prediction, at `level`.
    #[must_use]
    pub fn new(observed: f64, prediction: Prediction, level: f64) -> Estimate {
        let (lower, upper) = prediction.interval(level);
        let ratio = |b: f64| (b > 0.0).then(|| observed / b - 1.0);
        Estimate {
            observed,
            baseline: prediction.mean,
            baseline_lower: lower,
            baseline_upper: upper,
            lift: observed - prediction.mean,
            lift_lower: observed - upper,
            lift_upper: observed - lower,
            relative: ratio(prediction.mean),
            relative_lower: ratio(upper),
            relative_upper: ratio(lower),
        }
    }

    /// The halo: lift beyond what the campaign's codes and links attributed, with the
    /// lift's interval shifted by the same amount (the attributed value is counted, not
    /// estimated).
    #[must_use]
    pub fn halo(&self, attributed: f64) -> (f64, f64, f64) {
        (
            self.lift - attributed,
            self.lift_lower - attributed,
            self.lift_upper - attributed,
        )
    }

    /// Incremental return on fees: the lift and its interval divided by `fees`; None when
    /// the fees are not positive.
    #[must_use]
    pub fn per_fee(&self, fees: f64) -> Option<(f64, f64, f64)> {
        (fees > 0.0).then(|| {
            (
                self.lift / fees,
                self.lift_lower / fees,
                self.lift_upper / fees,
            )
        })
    }
}

/// The lift of one series over a window that follows the pre-period directly.
#[derive(Debug, Clone, PartialEq)]
pub struct Lift {
    /// One entry per pre-period day: its value against the fitted baseline (the lift is
    /// the residual), None where the day has no value. Charts draw the baseline with it.
    pub fitted: Vec<Option<Estimate>>,
    /// One entry per window day: None where the day has no observed value.
    pub days: Vec<Option<Estimate>>,
    /// Over the window days with an observed value; None when there is none.
    pub total: Option<Estimate>,
    /// How many window days the total covers.
    pub total_days: usize,
}

/// The lift of `window` (observed values of the days right after the pre-period) against
/// the baseline fitted to `pre`, with intervals of `level` (in (0, 1)).
pub fn lift(pre: &[Option<f64>], window: &[Option<f64>], level: f64) -> Result<Lift, Unfit> {
    let baseline = Baseline::fit(pre)?;
    let offset = pre.len();
    let fitted: Vec<Option<Estimate>> = pre
        .iter()
        .enumerate()
        .map(|(i, v)| v.map(|y| Estimate::new(y, baseline.day(i), level)))
        .collect();
    let days: Vec<Option<Estimate>> = window
        .iter()
        .enumerate()
        .map(|(i, v)| v.map(|y| Estimate::new(y, baseline.day(offset + i), level)))
        .collect();
    let covered: Vec<usize> = window
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_some())
        .map(|(i, _)| offset + i)
        .collect();
    let total = (!covered.is_empty()).then(|| {
        let observed: f64 = window.iter().flatten().sum();
        Estimate::new(observed, baseline.sum(&covered), level)
    });
    Ok(Lift {
        fitted,
        days,
        total,
        total_days: covered.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    /// 8 weeks of y = 100 + 2·day + weekday pattern, exactly: the fit recovers it and has
    /// no residual.
    fn exact_series() -> Vec<Option<f64>> {
        let pattern = [0.0, 5.0, 10.0, -3.0, 0.0, 20.0, -10.0];
        (0..56)
            .map(|i| Some(100.0 + 2.0 * i as f64 + pattern[i % 7]))
            .collect()
    }

    #[test]
    fn an_exact_trend_and_weekday_pattern_is_recovered() {
        let b = Baseline::fit(&exact_series()).unwrap();
        // Day 60 is weekday 60 % 7 = 4 (pattern 0): 100 + 120.
        assert!(close(b.mean(60), 220.0), "{}", b.mean(60));
        // Day 61: weekday 5, pattern 20.
        assert!(close(b.mean(61), 242.0), "{}", b.mean(61));
        assert!(b.sigma() < 1e-9);
    }

    #[test]
    fn a_planted_step_is_measured_as_lift_exactly_without_noise() {
        let pre = exact_series();
        let pattern = [0.0, 5.0, 10.0, -3.0, 0.0, 20.0, -10.0];
        // Ten window days at +30 each over the baseline.
        let window: Vec<Option<f64>> = (56..66)
            .map(|i| Some(100.0 + 2.0 * i as f64 + pattern[i % 7] + 30.0))
            .collect();
        let l = lift(&pre, &window, 0.9).unwrap();
        let total = l.total.unwrap();
        assert!(close(total.lift, 300.0), "{}", total.lift);
        // Baseline Σ over days 56..66: 100·10 + 2·(56+…+65) + the pattern of weekdays
        // 0..=6 (22) and 0, 1, 2.
        let expected = 1000.0 + 2.0 * 605.0 + (22.0 + 0.0 + 5.0 + 10.0);
        assert!(close(total.baseline, expected), "{}", total.baseline);
        assert!(close(total.relative.unwrap(), 300.0 / expected));
        assert_eq!(l.total_days, 10);
        // The pre-period's own days lie on the fitted baseline: no residual.
        assert_eq!(l.fitted.len(), 56);
        let day_3 = l.fitted[3].unwrap();
        assert!(close(day_3.baseline, 100.0 + 6.0 - 3.0) && close(day_3.lift, 0.0));
    }

    #[test]
    fn a_pre_period_too_short_or_too_gappy_gives_a_reason() {
        let short: Vec<Option<f64>> = exact_series().into_iter().take(27).collect();
        assert_eq!(
            Baseline::fit(&short).unwrap_err(),
            Unfit::TooShort { defined: 27 }
        );
        // 56 days, every third empty: 37 defined, under 80 %.
        let gappy: Vec<Option<f64>> = exact_series()
            .into_iter()
            .enumerate()
            .map(|(i, v)| if i % 3 == 0 { None } else { v })
            .collect();
        assert!(matches!(
            Baseline::fit(&gappy).unwrap_err(),
            Unfit::TooGappy {
                defined: 37,
                days: 56,
                ..
            }
        ));
        // Every seventh day (weekday 6) missing but 48 of 56 days defined, 85 %: one weekday
        // has no values, so no weekday effect can be estimated.
        let no_sundays: Vec<Option<f64>> = exact_series()
            .into_iter()
            .enumerate()
            .map(|(i, v)| if i % 7 == 6 { None } else { v })
            .collect();
        assert_eq!(
            Baseline::fit(&no_sundays).unwrap_err(),
            Unfit::TooGappy {
                defined: 48,
                days: 56,
                weekday_values: 0
            }
        );
    }

    #[test]
    fn a_constant_series_has_no_trend_and_no_spread() {
        let flat = vec![Some(5.0); 35];
        let b = Baseline::fit(&flat).unwrap();
        assert!(close(b.mean(100), 5.0));
        let (lo, hi) = b.day(40).interval(0.9);
        assert!(close(lo, 5.0) && close(hi, 5.0));
    }

    /// σ and the intervals by hand: a pre-period of 28 days alternating ±1 around 10 on
    /// consecutive days (weekday pattern and trend absorb none of it exactly, so compare
    /// with the model's own residual variance and the Student t quantile).
    #[test]
    fn the_day_interval_is_student_t_times_the_prediction_error() {
        let pre: Vec<Option<f64>> = (0..28)
            .map(|i| Some(10.0 + if i % 2 == 0 { 1.0 } else { -1.0 }))
            .collect();
        let b = Baseline::fit(&pre).unwrap();
        let p = b.day(30);
        let (lo, hi) = p.interval(0.9);
        let q = StudentsT::new(0.0, 1.0, 20.0).unwrap().inverse_cdf(0.95);
        assert!(close(hi - lo, 2.0 * q * p.se));
        assert!(close((hi + lo) / 2.0, p.mean));
        // The prediction error is wider than σ alone: the coefficients are estimated.
        assert!(p.se > b.sigma());
    }

    #[test]
    fn halo_and_return_on_fees_follow_the_lift_interval() {
        let e = Estimate {
            observed: 1500.0,
            baseline: 1000.0,
            baseline_lower: 900.0,
            baseline_upper: 1100.0,
            lift: 500.0,
            lift_lower: 400.0,
            lift_upper: 600.0,
            relative: Some(0.5),
            relative_lower: Some(1500.0 / 1100.0 - 1.0),
            relative_upper: Some(1500.0 / 900.0 - 1.0),
        };
        assert_eq!(e.halo(150.0), (350.0, 250.0, 450.0));
        assert_eq!(e.per_fee(200.0), Some((2.5, 2.0, 3.0)));
        assert_eq!(e.per_fee(0.0), None);
    }
}
