//! Fake-follower warnings: days on which a channel's follower growth stands far above its
//! own trailing trend while its engagement does not rise with it.
//!
//! Each day's growth (followers minus the day before's) is scored against the growth of
//! the [`WINDOW_DAYS`] days before it with a robust z-score (Iglewicz and Hoaglin's
//! modified z-score): `0.6745 × (x − median) / MAD`, where MAD is the median absolute
//! deviation from the median. Median and MAD are used rather than mean and standard
//! deviation so that one earlier bought spike does not hide the next. The day's engagement
//! (likes + comments + shares) is scored the same way against its own trailing window. A
//! day is flagged when the growth score exceeds the threshold and the engagement score
//! does not: real audiences that arrive in a burst (a viral post) also like and comment.
use super::period::Period;
use chrono::{Days, NaiveDate};
use std::collections::HashMap;

/// Days before a day whose values form its trailing window.
pub const WINDOW_DAYS: u64 = 28;

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

/// A day whose follower growth looks bought.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    /// The day.
    pub day: NaiveDate,
    /// Followers gained that day.
    pub growth: i64,
    /// The growth's score against the trailing window.
    pub growth_score: Score,
    /// The engagement's score, when the day and enough earlier days report engagement.
    pub engagement_score: Option<Score>,
    /// Why, in words with the numbers.
    pub reason: String,
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

/// The flagged days of `period` in one channel's series: days whose growth score exceeds
/// `threshold` while the engagement score is absent or below it.
///
/// `series` needs the [`WINDOW_DAYS`] + 1 days before `period.first` for full windows;
/// its order does not matter and missing days are simply undefined.
pub fn flags(series: &[DayStats], period: &Period, threshold: f64) -> Vec<Flag> {
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
        let Some(g) = growth(day) else { continue };
        let Some(g_score) = robust_score(g as f64, &window(day, &growth)) else {
            continue;
        };
        if g_score.score <= threshold {
            continue;
        }
        let e_score =
            engagement(day).and_then(|e| robust_score(e as f64, &window(day, &engagement)));
        if e_score.is_some_and(|e| e.score >= threshold) {
            continue;
        }
        out.push(Flag {
            day,
            growth: g,
            reason: reason(g, &g_score, e_score.as_ref(), threshold),
            growth_score: g_score,
            engagement_score: e_score,
        });
    }
    out
}

/// "gained 3,000 followers against a median of 10 (score 4,033.5) while engagement stayed
/// at 310 (score 0.0)".
fn reason(growth: i64, g: &Score, e: Option<&Score>, threshold: f64) -> String {
    let gained = if growth >= 0 {
        format!("gained {} followers", thousands(growth))
    } else {
        format!("lost {} followers", thousands(growth.saturating_abs()))
    };
    let engagement = match e {
        None => "while the channel reported too little engagement to compare".to_string(),
        Some(e) => {
            let verb = if e.score <= -threshold {
                "fell to"
            } else {
                "stayed at"
            };
            format!(
                "while engagement {verb} {} (median {}, score {})",
                number(e.value),
                number(e.median),
                score(e.score)
            )
        }
    };
    format!(
        "{gained} against a median of {} (score {}) {engagement}",
        number(g.median),
        score(g.score)
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

    /// Days 0..=n: followers from 1000 with the given growth from day 1 on, engagement
    /// as given (index = day).
    fn series(growths: &[i64], engagement: &[i64]) -> Vec<DayStats> {
        let mut followers = 1000;
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

    /// 9, 10, 11, 10, … : in any 28 days seven 9s, fourteen 10s, seven 11s.
    fn noisy_growth(n: usize) -> Vec<i64> {
        (0..n).map(|i| [9, 10, 11, 10][i % 4]).collect()
    }

    /// 300, 310, 320, 310, … for days 0..n.
    fn noisy_engagement(n: usize) -> Vec<i64> {
        (0..n).map(|i| [300, 310, 320, 310][i % 4]).collect()
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
        // Days 1..=28 grow 9, 10, 11, 10, …; day 29 gains 3,000. Window of day 29: seven
        // 9s, fourteen 10s, seven 11s → median 10; deviations fourteen 0s and fourteen 1s
        // → MAD (0 + 1) / 2 = 0.5; score 0.6745 × 2,990 / 0.5 = 4,033.51.
        // Engagement 300, 310, 320, 310, … on days 1..=28 (median 310, MAD 5) and 310 on
        // day 29 → score 0.
        let mut growth = noisy_growth(28);
        growth.push(3000);
        let mut engagement = noisy_engagement(29);
        engagement.push(310);
        let s = series(&growth, &engagement);
        let flags = flags(&s, &Period::new(d(1), d(29)).unwrap(), 3.5);
        assert_eq!(flags.len(), 1, "{flags:?}");
        let f = &flags[0];
        assert_eq!(f.day, d(29));
        assert_eq!(f.growth, 3000);
        assert_eq!(f.growth_score.median, 10.0);
        assert!((f.growth_score.score - 4033.51).abs() < 1e-9, "{f:?}");
        let e = f.engagement_score.unwrap();
        assert_eq!((e.median, e.score), (310.0, 0.0));
        assert_eq!(
            f.reason,
            "gained 3,000 followers against a median of 10 (score 4,033.5) while engagement \
             stayed at 310 (median 310, score 0.0)"
        );
    }

    #[test]
    fn organic_growth_with_rising_engagement_is_not_flagged() {
        // The same jump, with engagement 5,000 that day: 0.6745 × 4,690 / 5 = 632.68 ≥ 3.5.
        let mut growth = noisy_growth(28);
        growth.push(3000);
        let mut engagement = noisy_engagement(29);
        engagement.push(5000);
        let s = series(&growth, &engagement);
        let e = robust_score(
            5000.0,
            &noisy_engagement(29)[1..]
                .iter()
                .map(|v| *v as f64)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!((e.score - 632.681).abs() < 1e-9, "{e:?}");
        assert!(flags(&s, &Period::new(d(1), d(29)).unwrap(), 3.5).is_empty());
    }

    #[test]
    fn a_steady_trend_is_not_flagged() {
        // Growth 0, 1, 2, … (accelerating): on day 29 the window is 0..=27 → median 13.5;
        // deviations 0.5, 0.5, 1.5, 1.5, …, 13.5, 13.5 → MAD (6.5 + 7.5) / 2 = 7; the day's
        // 28 scores 0.6745 × 14.5 / 7 = 1.397. Engagement is missing throughout.
        let growth: Vec<i64> = (0..60).collect();
        let s = series(&growth, &[]);
        let window: Vec<f64> = (0..28).map(f64::from).collect();
        let score = robust_score(28.0, &window).unwrap();
        assert_eq!(score.median, 13.5);
        assert!((score.score - 0.6745 * 14.5 / 7.0).abs() < 1e-12);
        assert!(flags(&s, &Period::new(d(1), d(60)).unwrap(), 3.5).is_empty());
        // Plain +10 a day with noise, and engagement along with it.
        let s = series(&noisy_growth(60), &noisy_engagement(61));
        assert!(flags(&s, &Period::new(d(1), d(60)).unwrap(), 3.5).is_empty());
    }

    #[test]
    fn too_little_history_gives_no_flag() {
        // Day 7 has six growth values before it (days 1..=6): no score.
        let mut growth = vec![10; 6];
        growth.push(3000);
        let s = series(&growth, &[]);
        assert!(flags(&s, &Period::new(d(1), d(7)).unwrap(), 3.5).is_empty());
        // With day 3 missing, day 8 has only five defined (days 1, 2, 5, 6, 7): the growth
        // of days 3 and 4 both need day 3's followers.
        let mut s = series(&[10, 10, 10, 10, 10, 10, 10, 3000], &[]);
        s.retain(|x| x.day != d(3));
        assert!(flags(&s, &Period::new(d(1), d(8)).unwrap(), 3.5).is_empty());
        // One more regular day before the jump gives seven: flagged (MAD 0, all equal: ∞).
        let s = series(&[10, 10, 10, 10, 10, 10, 10, 3000], &[]);
        let flags = flags(&s, &Period::new(d(1), d(8)).unwrap(), 3.5);
        assert_eq!(flags.len(), 1);
        assert_eq!(flags[0].growth_score.score, f64::INFINITY);
        assert_eq!(flags[0].engagement_score, None);
        assert_eq!(
            flags[0].reason,
            "gained 3,000 followers against a median of 10 (score ∞) while the channel \
             reported too little engagement to compare"
        );
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
        assert!(flags(&s, &Period::new(d(1), d(40)).unwrap(), 3.5).is_empty());
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
