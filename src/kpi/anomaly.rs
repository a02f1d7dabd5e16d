//! Unusual follower jumps without engagement: days on which a channel gained a material
//! number of followers, far above its own usual days, while its engagement stayed at its
//! usual level. Bought followers arrive like that; an audience won by a viral post likes
//! and comments too. The flag says what was seen, not that followers were bought.
//!
//! Each day's growth (followers minus the day before's) is scored against the growth of
//! the [`WINDOW_DAYS`] days before it with a robust z-score (Iglewicz and Hoaglin's
//! modified z-score): `0.6745 × (x − median) / MAD`, where MAD is the median absolute
//! deviation from the median. Median and MAD are used rather than mean and standard
//! deviation so that one earlier spike does not hide the next. A day is flagged when
//! 1. the gain beyond the median day is material: at least [`JumpRule::min_followers`]
//!    and at least [`JumpRule::min_percent`] of the followers of the day before (a
//!    robust score alone fires on a few dozen followers when a channel's days are steady);
//! 2. its growth score exceeds [`JumpRule::threshold`];
//! 3. engagement (likes + comments + shares) stayed flat by the same measure: the highest
//!    engagement of the day and the [`LOOKBACK_DAYS`] before scores below the threshold
//!    against the engagement of the same trailing window.
//!
//! Measured on synthetic series with planted jumps (`examples/follower_flag_study.rs`,
//! generator in [`study`]); the figures are in the README, "Follower jumps".
use super::period::Period;
use chrono::{Days, NaiveDate};
use std::collections::HashMap;

pub mod study;

/// Days before a day whose values form its trailing window.
pub const WINDOW_DAYS: u64 = 28;

/// Days before a jump whose engagement counts as the jump's: a viral post's new followers
/// keep arriving for a day or two after its likes and comments.
pub const LOOKBACK_DAYS: u64 = 2;

/// Fewest defined values in a window for a score: with fewer, median and MAD say little.
pub const MIN_HISTORY: usize = 7;

/// `0.6745 / MAD` estimates `1 / σ` for normal data (0.6745 is the 75th percentile of
/// the standard normal).
const MAD_FACTOR: f64 = 0.6745;

/// `1.2533 × mean absolute deviation` estimates σ for normal data (√(π/2)).
const MEAN_AD_FACTOR: f64 = 1.2533;

/// One channel's readings of one day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayStats {
    /// The day.
    pub day: NaiveDate,
    /// Followers at the end of the day, when reported.
    pub followers: Option<i64>,
    /// Likes + comments + shares (those reported); None when none of the three is.
    pub engagement: Option<i64>,
}

impl DayStats {
    /// A day from its raw readings: engagement sums the reported parts.
    pub fn new(
        day: NaiveDate,
        followers: Option<i64>,
        likes: Option<i64>,
        comments: Option<i64>,
        shares: Option<i64>,
    ) -> DayStats {
        let parts = [likes, comments, shares];
        let engagement = parts.iter().any(Option::is_some).then(|| {
            parts
                .iter()
                .flatten()
                .fold(0i64, |a, b| a.saturating_add(*b))
        });
        DayStats {
            day,
            followers,
            engagement,
        }
    }
}

/// A value scored against its trailing window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// The value of the day.
    pub value: f64,
    /// Median of the window.
    pub median: f64,
    /// Robust z-score; ±∞ when the window has no spread at all and the value differs.
    pub score: f64,
}

/// When a follower jump is worth a flag: all three must hold (and engagement stay flat).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JumpRule {
    /// Robust z-score the day's gain must exceed, and the engagement must stay below.
    pub threshold: f64,
    /// Percent of the followers of the day before that the gain beyond the median day
    /// must reach.
    pub min_percent: f64,
    /// Followers that the gain beyond the median day must reach.
    pub min_followers: i64,
}

impl Default for JumpRule {
    /// 3.5 is Iglewicz and Hoaglin's outlier cut-off for the modified z-score. Half a
    /// percent: a smaller jump moves every follower-based KPI (engagement rate, cost per
    /// follower) by less than its day-to-day noise, so it changes no decision. 100
    /// followers: the smallest packages sold, and on accounts under 20,000 followers the
    /// share alone would flag a few dozen followers of ordinary noise.
    fn default() -> JumpRule {
        JumpRule {
            threshold: 3.5,
            min_percent: 0.5,
            min_followers: 100,
        }
    }
}

/// An unusual follower jump without engagement: a day whose gain is large, far above the
/// channel's usual days, while its engagement stayed at its usual level.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    /// The day.
    pub day: NaiveDate,
    /// Followers gained that day.
    pub growth: i64,
    /// Followers at the end of the day before.
    pub previous_followers: i64,
    /// The growth's score against the trailing window.
    pub growth_score: Score,
    /// The score of the highest engagement of the day and the [`LOOKBACK_DAYS`] before.
    pub engagement_score: Score,
    /// Why, in words with the numbers.
    pub reason: String,
}

impl Flag {
    /// Gain beyond the median day, in percent of the followers of the day before.
    pub fn excess_percent(&self) -> f64 {
        let excess = self.growth as f64 - self.growth_score.median;
        if self.previous_followers > 0 {
            100.0 * excess / self.previous_followers as f64
        } else {
            f64::INFINITY
        }
    }
}

/// The median of values (sorted in place); None when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Scores `value` against `window` (the defined values of the days before); None with
/// fewer than [`MIN_HISTORY`] values.
///
/// `score = 0.6745 × (value − median) / MAD`. When more than half the window equals its
/// median, MAD is 0; then the scale is the mean absolute deviation from the median:
/// `score = (value − median) / (1.2533 × meanAD)`, both being estimates of σ, so the
/// threshold means the same either way. When that is 0 too (every value equal), the
/// score is 0 for a value equal to the median and ±∞ otherwise: any change from a
/// perfectly flat history is as unusual as it gets.
pub fn robust_score(value: f64, window: &[f64]) -> Option<Score> {
    if window.len() < MIN_HISTORY {
        return None;
    }
    let mut values = window.to_vec();
    let median = median(&mut values)?;
    let mut deviations: Vec<f64> = window.iter().map(|v| (v - median).abs()).collect();
    let mad = self::median(&mut deviations)?;
    let diff = value - median;
    let score = if mad > 0.0 {
        MAD_FACTOR * diff / mad
    } else {
        let mean_ad = deviations.iter().sum::<f64>() / deviations.len() as f64;
        if mean_ad > 0.0 {
            diff / (MEAN_AD_FACTOR * mean_ad)
        } else if diff == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(diff)
        }
    };
    Some(Score {
        value,
        median,
        score,
    })
}

/// The flagged days of `period` in one channel's series: days whose gain beyond the
/// median day is material (at least `rule.min_followers` and `rule.min_percent` of the
/// followers of the day before), whose growth score exceeds `rule.threshold`, and whose
/// engagement (the highest of the day and the [`LOOKBACK_DAYS`] before, as a viral post's
/// followers can arrive a day or two after it) scores below the threshold against its own
/// trailing window. A day without engagement to compare is never flagged: the flag says
/// engagement stayed flat, which needs engagement.
///
/// `series` needs the [`WINDOW_DAYS`] + 1 days before `period.first` for full windows;
/// its order does not matter and missing days are simply undefined.
pub fn flags(series: &[DayStats], period: &Period, rule: &JumpRule) -> Vec<Flag> {
    let by_day: HashMap<NaiveDate, &DayStats> = series.iter().map(|s| (s.day, s)).collect();
    let followers = |day: NaiveDate| by_day.get(&day).and_then(|s| s.followers);
    let engagement = |day: NaiveDate| by_day.get(&day).and_then(|s| s.engagement);
    let growth = |day: NaiveDate| {
        let before = followers(day.pred_opt()?)?;
        followers(day)?.checked_sub(before)
    };
    let window = |day: NaiveDate, value: &dyn Fn(NaiveDate) -> Option<i64>| -> Vec<f64> {
        (1..=WINDOW_DAYS)
            .filter_map(|back| day.checked_sub_days(Days::new(back)))
            .filter_map(value)
            .map(|v| v as f64)
            .collect()
    };
    let mut out = Vec::new();
    for day in period.iter_days() {
        let (Some(g), Some(before)) = (growth(day), day.pred_opt().and_then(followers)) else {
            continue;
        };
        let Some(g_score) = robust_score(g as f64, &window(day, &growth)) else {
            continue;
        };
        let excess = g as f64 - g_score.median;
        let material = excess >= rule.min_followers as f64
            && excess >= rule.min_percent / 100.0 * before as f64;
        if !material || g_score.score <= rule.threshold {
            continue;
        }
        let peak = (0..=LOOKBACK_DAYS)
            .filter_map(|back| day.checked_sub_days(Days::new(back)))
            .filter_map(engagement)
            .max();
        let Some(e_score) = peak.and_then(|e| robust_score(e as f64, &window(day, &engagement)))
        else {
            continue;
        };
        if e_score.score >= rule.threshold {
            continue;
        }
        out.push(Flag {
            day,
            growth: g,
            previous_followers: before,
            reason: reason(g, before, &g_score, &e_score),
            growth_score: g_score,
            engagement_score: e_score,
        });
    }
    out
}

/// "gained 3,000 followers against a median of 10 a day (score 4,033.5), 2,990 more or
/// 299 % of the 1,000 before, while engagement peaked at 310 over that day and the 2 days
/// before (median 310, score 0.0)".
fn reason(growth: i64, before: i64, g: &Score, e: &Score) -> String {
    let excess = growth as f64 - g.median;
    let share = if before > 0 {
        let p = 100.0 * excess / before as f64;
        if p >= 10.0 {
            format!("{p:.0} %")
        } else {
            format!("{p:.1} %")
        }
    } else {
        "all".to_string()
    };
    format!(
        "gained {} followers against a median of {} a day (score {}), {} more or {share} of \
         the {} before, while engagement peaked at {} over that day and the {LOOKBACK_DAYS} \
         days before (median {}, score {})",
        thousands(growth),
        number(g.median),
        score(g.score),
        number(excess),
        thousands(before),
        number(e.value),
        number(e.median),
        score(e.score)
    )
}

/// An integer with thousands separators: 1234567 → "1,234,567".
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A median or value: whole numbers as integers, halves (even-sized windows) with one
/// decimal.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9e15 {
        thousands(v as i64)
    } else {
        format!("{v:.1}")
    }
}

/// A score with one decimal; "∞" when the history was perfectly flat.
fn score(s: f64) -> String {
    if s.is_infinite() {
        if s > 0.0 { "∞" } else { "-∞" }.to_string()
    } else {
        let rounded = (s * 10.0).round() / 10.0;
        let whole = rounded.trunc();
        let tenth = ((rounded - whole).abs() * 10.0).round() as i64;
        let sign = if rounded < 0.0 && whole == 0.0 {
            "-"
        } else {
            ""
        };
        format!("{sign}{}.{tenth}", thousands(whole as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(i: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::new(i)
    }

    /// Days 0..=n: followers from `start` with the given growth from day 1 on, engagement
    /// as given (index = day).
    fn series_from(start: i64, growths: &[i64], engagement: &[i64]) -> Vec<DayStats> {
        let mut followers = start;
        let mut out = vec![DayStats {
            day: d(0),
            followers: Some(followers),
            engagement: engagement.first().copied(),
        }];
        for (i, g) in growths.iter().enumerate() {
            followers += g;
            let day = i as u64 + 1;
            out.push(DayStats {
                day: d(day),
                followers: Some(followers),
                engagement: engagement.get(day as usize).copied(),
            });
        }
        out
    }

    fn series(growths: &[i64], engagement: &[i64]) -> Vec<DayStats> {
        series_from(1000, growths, engagement)
    }

    /// base − 1, base, base + 1, base, … : in any 28 days seven base − 1, fourteen base
    /// and seven base + 1 (median base, MAD 0.5).
    fn noisy(base: i64, n: usize) -> Vec<i64> {
        (0..n)
            .map(|i| [base - 1, base, base + 1, base][i % 4])
            .collect()
    }

    fn noisy_growth(n: usize) -> Vec<i64> {
        noisy(10, n)
    }

    /// 300, 310, 320, 310, … for days 0..n: in days 1..=28 seven 300s, fourteen 310s and
    /// seven 320s → median 310, MAD (0 + 10) / 2 = 5.
    fn noisy_engagement(n: usize) -> Vec<i64> {
        (0..n).map(|i| [300, 310, 320, 310][i % 4]).collect()
    }

    fn rule() -> JumpRule {
        JumpRule::default()
    }

    /// A jump of `jump` on day 29 after 28 noisy days, with `engagement` for days 0..=29.
    fn jump_on_29(jump: i64, engagement: &[i64]) -> Vec<DayStats> {
        let mut growth = noisy_growth(28);
        growth.push(jump);
        series(&growth, engagement)
    }

    fn days_1_to_29() -> Period {
        Period::new(d(1), d(29)).unwrap()
    }

    #[test]
    fn median_and_mad_by_hand() {
        // 1, 2, 3, 3, 3, 4, 100 → median 3 (the outlier does not move it); deviations
        // sorted 0, 0, 0, 1, 1, 2, 97 → MAD 1; a day of 10 scores 0.6745 × 7 / 1.
        let s = robust_score(10.0, &[1.0, 2.0, 3.0, 4.0, 100.0, 3.0, 3.0]).unwrap();
        assert_eq!(s.median, 3.0);
        assert!((s.score - 0.6745 * 7.0).abs() < 1e-12, "{s:?}");
        // An even window averages the middle two: 1..=8 → median 4.5; deviations 3.5, 2.5,
        // 1.5, 0.5, 0.5, 1.5, 2.5, 3.5 → MAD 2; 0.6745 × (10 − 4.5) / 2 = 1.854875.
        let w: Vec<f64> = (1..=8).map(f64::from).collect();
        let s = robust_score(10.0, &w).unwrap();
        assert_eq!(s.median, 4.5);
        assert!((s.score - 1.854875).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn a_sudden_jump_with_flat_engagement_is_flagged() {
        // Days 1..=28 grow 9, 10, 11, 10, … (280 in all: 1,280 followers on day 28); day
        // 29 gains 3,000. Window of day 29: seven 9s, fourteen 10s, seven 11s → median 10,
        // MAD 0.5; score 0.6745 × 2,990 / 0.5 = 4,033.51. 2,990 beyond the median is
        // 233.6 % of 1,280 and above 100 followers: material.
        // Engagement of days 27, 28, 29 is 310, 300, 310: peak 310 against median 310
        // (MAD 5) → score 0.
        let mut engagement = noisy_engagement(29);
        engagement.push(310);
        let s = jump_on_29(3000, &engagement);
        let flags = flags(&s, &days_1_to_29(), &rule());
        assert_eq!(flags.len(), 1, "{flags:?}");
        let f = &flags[0];
        assert_eq!(f.day, d(29));
        assert_eq!((f.growth, f.previous_followers), (3000, 1280));
        assert_eq!(f.growth_score.median, 10.0);
        assert!((f.growth_score.score - 4033.51).abs() < 1e-9, "{f:?}");
        assert!((f.excess_percent() - 2990.0 / 12.8).abs() < 1e-9);
        let e = f.engagement_score;
        assert_eq!((e.value, e.median, e.score), (310.0, 310.0, 0.0));
        assert_eq!(
            f.reason,
            "gained 3,000 followers against a median of 10 a day (score 4,033.5), 2,990 more \
             or 234 % of the 1,280 before, while engagement peaked at 310 over that day and \
             the 2 days before (median 310, score 0.0)"
        );
    }

    #[test]
    fn a_jump_with_engagement_on_the_day_or_just_before_is_not_flagged() {
        // Engagement 5,000 on day 29: 0.6745 × 4,690 / 5 = 632.68 ≥ 3.5.
        let e = robust_score(
            5000.0,
            &noisy_engagement(29)[1..]
                .iter()
                .map(|v| *v as f64)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!((e.score - 632.681).abs() < 1e-9, "{e:?}");
        for viral_day in [29, 28, 27] {
            let mut engagement = noisy_engagement(30);
            engagement[viral_day] = 5000;
            let s = jump_on_29(3000, &engagement);
            assert!(
                flags(&s, &days_1_to_29(), &rule()).is_empty(),
                "viral post on day {viral_day}"
            );
        }
        // Three days before is another post: its 5,000 sits in day 29's window, whose
        // median stays 310 and MAD 5 (fourteen 0s, thirteen 10s and 4,690); the peak of
        // days 27..=29 is 310 → score 0: flagged.
        let mut engagement = noisy_engagement(30);
        engagement[26] = 5000;
        let s = jump_on_29(3000, &engagement);
        let flags = flags(&s, &days_1_to_29(), &rule());
        assert_eq!(flags.len(), 1, "{flags:?}");
        assert_eq!(
            (flags[0].day, flags[0].engagement_score.median),
            (d(29), 310.0)
        );
    }

    #[test]
    fn a_small_jump_is_not_material() {
        // Issue 24: "gained 40 followers against a median of 28" on a 35k account. Growth
        // 27, 28, 29, 28, … for 28 days (median 28, MAD 0.5): 40 scores 0.6745 × 12 / 0.5
        // = 16.19, far past 3.5, with flat engagement; but 12 beyond the median is neither
        // 100 followers nor 0.5 % of 35,784.
        let engagement = noisy_engagement(30);
        let with = |jump: i64| {
            let mut growth = noisy(28, 28);
            growth.push(jump);
            series_from(35_000, &growth, &engagement)
        };
        assert!(flags(&with(40), &days_1_to_29(), &rule()).is_empty());
        let anything = JumpRule {
            min_percent: 0.0,
            min_followers: 0,
            ..rule()
        };
        let fired = flags(&with(40), &days_1_to_29(), &anything);
        assert_eq!(fired.len(), 1);
        assert!((fired[0].growth_score.score - 0.6745 * 24.0).abs() < 1e-9);
        // The share: 0.5 % of 35,784 (35,000 + 28 × 28) is 178.92 followers beyond the
        // median of 28: a gain of 207 (179 beyond) is flagged, 206 (178) is not.
        assert_eq!(flags(&with(207), &days_1_to_29(), &rule()).len(), 1);
        assert!(flags(&with(206), &days_1_to_29(), &rule()).is_empty());
        // The floor: without the share, 100 beyond the median (128) is flagged, 99 not.
        let floor_only = JumpRule {
            min_percent: 0.0,
            ..rule()
        };
        assert_eq!(flags(&with(128), &days_1_to_29(), &floor_only).len(), 1);
        assert!(flags(&with(127), &days_1_to_29(), &floor_only).is_empty());
        // A loss is never a jump, however unusual.
        assert!(flags(&with(-500), &days_1_to_29(), &anything).is_empty());
    }

    #[test]
    fn a_steady_trend_is_not_flagged() {
        // Growth 0, 1, 2, … (accelerating): on day 29 the window is 0..=27 → median 13.5;
        // deviations 0.5, 0.5, 1.5, 1.5, …, 13.5, 13.5 → MAD (6.5 + 7.5) / 2 = 7; the day's
        // 28 scores 0.6745 × 14.5 / 7 = 1.397.
        let growth: Vec<i64> = (0..60).collect();
        let s = series(&growth, &noisy_engagement(61));
        let window: Vec<f64> = (0..28).map(f64::from).collect();
        let score = robust_score(28.0, &window).unwrap();
        assert_eq!(score.median, 13.5);
        assert!((score.score - 0.6745 * 14.5 / 7.0).abs() < 1e-12);
        let all = JumpRule {
            min_percent: 0.0,
            min_followers: 0,
            ..rule()
        };
        assert!(flags(&s, &Period::new(d(1), d(60)).unwrap(), &all).is_empty());
        // Plain +10 a day with noise, and engagement along with it.
        let s = series(&noisy_growth(60), &noisy_engagement(61));
        assert!(flags(&s, &Period::new(d(1), d(60)).unwrap(), &all).is_empty());
    }

    #[test]
    fn too_little_history_or_no_engagement_gives_no_flag() {
        let flat = [300; 10];
        // Day 7 has six growth values before it (days 1..=6): no score.
        let mut growth = vec![10; 6];
        growth.push(3000);
        let s = series(&growth, &flat);
        assert!(flags(&s, &Period::new(d(1), d(7)).unwrap(), &rule()).is_empty());
        // With day 3 missing, day 8 has only five defined (days 1, 2, 5, 6, 7): the growth
        // of days 3 and 4 both need day 3's followers.
        let mut s = series(&[10, 10, 10, 10, 10, 10, 10, 3000], &flat);
        s.retain(|x| x.day != d(3));
        assert!(flags(&s, &Period::new(d(1), d(8)).unwrap(), &rule()).is_empty());
        // One more regular day before the jump gives seven: flagged (MAD 0, all equal: ∞;
        // engagement 300 every day scores 0).
        let s = series(&[10, 10, 10, 10, 10, 10, 10, 3000], &flat);
        let flags_8 = flags(&s, &Period::new(d(1), d(8)).unwrap(), &rule());
        assert_eq!(flags_8.len(), 1);
        assert_eq!(flags_8[0].growth_score.score, f64::INFINITY);
        assert_eq!(flags_8[0].engagement_score.score, 0.0);
        assert!(flags_8[0].reason.contains("(score ∞)"), "{flags_8:?}");
        // The same jump without engagement readings: nothing to say engagement was flat.
        let s = series(&[10, 10, 10, 10, 10, 10, 10, 3000], &[]);
        assert!(flags(&s, &Period::new(d(1), d(8)).unwrap(), &rule()).is_empty());
        // Engagement on the day but on fewer than seven days before: no score, no flag.
        let mut sparse = [None; 9];
        for day in [2, 4, 6, 8] {
            sparse[day] = Some(300);
        }
        let mut s = series(&[10, 10, 10, 10, 10, 10, 10, 3000], &[]);
        for x in &mut s {
            x.engagement = sparse[x.day.signed_duration_since(d(0)).num_days() as usize];
        }
        assert!(flags(&s, &Period::new(d(1), d(8)).unwrap(), &rule()).is_empty());
    }

    #[test]
    fn mad_zero_falls_back_to_the_mean_absolute_deviation() {
        // Twenty 10s and eight 12s: median 10, MAD 0 (twenty deviations of 0); mean
        // absolute deviation 8 × 2 / 28 = 0.571429; a day of 20 scores
        // 10 / (1.2533 × 0.571429) = 13.9632.
        let mut window = vec![10.0; 20];
        window.extend([12.0; 8]);
        let s = robust_score(20.0, &window).unwrap();
        assert_eq!(s.median, 10.0);
        assert!((s.score - 10.0 / (1.2533 * 16.0 / 28.0)).abs() < 1e-12);
        assert!((s.score - 13.9632).abs() < 1e-4, "{s:?}");
        // All equal: the median scores 0, anything else ±∞.
        let flat = [10.0; 7];
        assert_eq!(robust_score(10.0, &flat).unwrap().score, 0.0);
        assert_eq!(robust_score(11.0, &flat).unwrap().score, f64::INFINITY);
        assert_eq!(robust_score(9.0, &flat).unwrap().score, f64::NEG_INFINITY);
        // A flat history and a flat day: no flag.
        let s = series(&[10; 40], &[300; 41]);
        assert!(flags(&s, &Period::new(d(1), d(40)).unwrap(), &rule()).is_empty());
    }

    #[test]
    fn engagement_sums_the_reported_parts() {
        let s = DayStats::new(d(0), Some(1), Some(5), None, Some(2));
        assert_eq!(s.engagement, Some(7));
        assert_eq!(
            DayStats::new(d(0), Some(1), None, None, None).engagement,
            None
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1000), "-1,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(number(40.5), "40.5");
        assert_eq!(score(48.24), "48.2");
        assert_eq!(score(-0.04), "0.0");
        assert_eq!(score(-0.4), "-0.4");
        assert_eq!(score(f64::NEG_INFINITY), "-∞");
    }
}
