//! Synthetic channels with planted bought-follower jumps, to measure [`super::flags`].
//!
//! Each series is one channel over [`WARM_UP_DAYS`] + [`SCORED_DAYS`] days, drawn from its
//! own seed: an account of 20,000 to 1,000,000 followers (log-uniform) growing 0.02 % to
//! 0.3 % a day, that rate drifting over the series (from half to twice as fast), a weekly
//! rhythm (up to ±30 % on followers, ±40 % on engagement), log-normal day-to-day noise
//! (σ 0.15 to 0.4 on growth, 0.15 to 0.45 on engagement, correlated 0.3 to 0.8: a post
//! that does well brings followers and likes together) and engagement of 0.5 % to 5 % of
//! the followers a day. Into the scored days go up to three organic viral events (a post
//! adding 2 to 9 times the usual engagement, half of that extra the day after, bringing
//! 0.5 % to 5 % of new followers spread 60/30/10 % over that day and the two after) and up
//! to two bought jumps ([`SIZES_PERCENT`] of the followers in one day, engagement
//! untouched). Events are at least [`GAP_DAYS`] apart. Viral days must not be flagged;
//! bought days should be.
use super::{DayStats, JumpRule, flags};
use crate::kpi::period::Period;
use chrono::{Days, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Sizes of the planted jumps, in percent of the followers of the day before.
pub const SIZES_PERCENT: [f64; 4] = [0.5, 1.0, 2.0, 5.0];

/// Days of history before the scored range (the trailing window needs 28).
pub const WARM_UP_DAYS: u64 = 30;

/// Days scored per series.
pub const SCORED_DAYS: u64 = 120;

/// Fewest days between two events of a series, so that no event sits in another's
/// engagement look-back or follower tail.
pub const GAP_DAYS: u64 = 8;

/// One synthetic channel and what was planted in it.
#[derive(Clone, Debug)]
pub struct Synthetic {
    /// Its days, warm-up included.
    pub series: Vec<DayStats>,
    /// The scored days.
    pub period: Period,
    /// Bought jumps: the day and the index of its size in [`SIZES_PERCENT`].
    pub bought: Vec<(NaiveDate, usize)>,
    /// Organic viral events: their first day (followers keep arriving for two more).
    pub viral: Vec<NaiveDate>,
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The day-zero of every series.
fn origin() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default()
}

/// The series of `seed`; the same seed always gives the same series.
pub fn generate(seed: u64) -> Synthetic {
    let mut rng = StdRng::seed_from_u64(seed);
    let total = WARM_UP_DAYS + SCORED_DAYS;
    let mut followers = rng.random_range(20_000f64.ln()..1_000_000f64.ln()).exp();
    let rate = rng.random_range(0.0002..0.003);
    let drift = rng.random_range(-0.5..1.0);
    let phase = rng.random_range(0.0..7.0);
    let weekly_followers = rng.random_range(0.0..0.3);
    let weekly_engagement = rng.random_range(0.0..0.4);
    let sigma_followers = rng.random_range(0.15..0.4);
    let sigma_engagement = rng.random_range(0.15..0.45);
    let engagement_rate = rng.random_range(0.005..0.05);
    // How much a day's organic follower gain and its engagement share their noise: a post
    // that does well brings both.
    let shared = rng.random_range(0.3..0.8);

    // Events: up to two bought and up to three viral, on distinct scored days at least
    // GAP_DAYS apart, leaving room for a viral tail at the end.
    let bought_count = [0, 0, 1, 1, 2][rng.random_range(0..5)];
    let viral_count = rng.random_range(0..=3);
    let mut days: Vec<u64> = Vec::new();
    let mut kinds: Vec<bool> = Vec::new(); // true: bought
    for bought in
        std::iter::repeat_n(true, bought_count).chain(std::iter::repeat_n(false, viral_count))
    {
        for _ in 0..100 {
            let d = rng.random_range(WARM_UP_DAYS..total - 2);
            if days.iter().all(|o| o.abs_diff(d) >= GAP_DAYS) {
                days.push(d);
                kinds.push(bought);
                break;
            }
        }
    }
    let mut bought = Vec::new();
    let mut viral = Vec::new();
    // Per day: extra engagement multiplier and extra followers as a share of the day
    // before's.
    let mut extra_engagement = vec![1.0; total as usize];
    let mut extra_followers = vec![0.0; total as usize];
    for (d, is_bought) in days.iter().zip(&kinds) {
        let i = *d as usize;
        if *is_bought {
            let size = rng.random_range(0..SIZES_PERCENT.len());
            extra_followers[i] += SIZES_PERCENT[size] / 100.0;
            bought.push((origin() + Days::new(*d), size));
        } else {
            let m: f64 = rng.random_range(3.0..10.0);
            let share: f64 = rng.random_range(0.005..0.05);
            extra_engagement[i] *= m;
            extra_engagement[i + 1] *= 1.0 + (m - 1.0) / 2.0;
            for (k, part) in [0.6, 0.3, 0.1].iter().enumerate() {
                extra_followers[i + k] += share * part;
            }
            viral.push(origin() + Days::new(*d));
        }
    }

    let mut series = Vec::with_capacity(total as usize);
    for t in 0..total {
        let i = t as usize;
        let week = (std::f64::consts::TAU * (t as f64 + phase) / 7.0).sin();
        let common = normal(&mut rng);
        let own = |rng: &mut StdRng| shared * common + (1.0 - shared * shared).sqrt() * normal(rng);
        if t > 0 {
            let trend = 1.0 + drift * t as f64 / total as f64;
            let noise =
                (sigma_followers * own(&mut rng) - sigma_followers * sigma_followers / 2.0).exp();
            let organic = followers * rate * trend * (1.0 + weekly_followers * week) * noise;
            followers += (organic + followers * extra_followers[i]).round();
        }
        // A viral post's likes come on top of the day's usual ones, whatever their noise.
        let usual = followers * engagement_rate * (1.0 + weekly_engagement * week);
        let noise = (sigma_engagement * own(&mut rng)).exp();
        let engagement = usual * noise + usual * (extra_engagement[i] - 1.0);
        series.push(DayStats {
            day: origin() + Days::new(t),
            followers: Some(followers.round() as i64),
            engagement: Some(engagement.round() as i64),
        });
    }
    let first = origin() + Days::new(WARM_UP_DAYS);
    let last = origin() + Days::new(total - 1);
    Synthetic {
        series,
        period: Period::new(first, last).unwrap_or(Period::day(first)),
        bought,
        viral,
    }
}

/// What the flag found over many series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Series measured.
    pub series: usize,
    /// Bought jumps planted, per size of [`SIZES_PERCENT`].
    pub planted: [usize; 4],
    /// Of those, the ones flagged on their day.
    pub detected: [usize; 4],
    /// Flags raised.
    pub flags: usize,
    /// Flags on a bought day.
    pub true_flags: usize,
    /// Viral events.
    pub viral: usize,
    /// Viral events with a flag on one of their three days.
    pub viral_flagged: usize,
    /// Flags on ordinary days (neither bought nor viral).
    pub ordinary_flags: usize,
}

impl Tally {
    /// Share of the flags that are on bought days; None without flags.
    pub fn precision(&self) -> Option<f64> {
        (self.flags > 0).then(|| self.true_flags as f64 / self.flags as f64)
    }

    /// Share of the planted jumps of size `i` that were flagged; None when none planted.
    pub fn recall(&self, i: usize) -> Option<f64> {
        (self.planted[i] > 0).then(|| self.detected[i] as f64 / self.planted[i] as f64)
    }

    /// Share of all planted jumps that were flagged.
    pub fn recall_all(&self) -> Option<f64> {
        let planted: usize = self.planted.iter().sum();
        (planted > 0).then(|| self.detected.iter().sum::<usize>() as f64 / planted as f64)
    }
}

/// Flags the series of `seeds` under `rule` and counts what was found.
pub fn measure(seeds: impl IntoIterator<Item = u64>, rule: &JumpRule) -> Tally {
    let mut tally = Tally::default();
    for seed in seeds {
        let s = generate(seed);
        let found = flags(&s.series, &s.period, rule);
        tally.series += 1;
        tally.flags += found.len();
        for (day, size) in &s.bought {
            tally.planted[*size] += 1;
            if found.iter().any(|f| f.day == *day) {
                tally.detected[*size] += 1;
                tally.true_flags += 1;
            }
        }
        let in_viral = |day: NaiveDate| {
            s.viral
                .iter()
                .any(|v| day >= *v && day <= *v + Days::new(2))
        };
        tally.viral += s.viral.len();
        tally.viral_flagged += s
            .viral
            .iter()
            .filter(|v| {
                found
                    .iter()
                    .any(|f| f.day >= **v && f.day <= **v + Days::new(2))
            })
            .count();
        tally.ordinary_flags += found
            .iter()
            .filter(|f| !s.bought.iter().any(|(d, _)| *d == f.day) && !in_viral(f.day))
            .count();
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_its_series_with_the_jumps_where_it_says() {
        let a = generate(7);
        let b = generate(7);
        assert_eq!(a.series, b.series);
        assert_eq!((a.bought.clone(), a.viral.clone()), (b.bought, b.viral));
        assert_eq!(a.series.len() as u64, WARM_UP_DAYS + SCORED_DAYS);
        // Every planted jump adds at least its size to the day's gain (organic growth
        // comes on top), over all the series of the study's first hundred seeds.
        let mut planted = 0;
        for seed in 0..100 {
            let s = generate(seed);
            for (day, size) in &s.bought {
                let i = s.series.iter().position(|x| x.day == *day).unwrap();
                let before = s.series[i - 1].followers.unwrap() as f64;
                let gain = s.series[i].followers.unwrap() as f64 - before;
                assert!(
                    gain >= SIZES_PERCENT[*size] / 100.0 * before - 1.0,
                    "seed {seed}"
                );
                assert!(s.period.contains(*day));
                planted += 1;
            }
        }
        assert!(planted > 50, "{planted}");
    }

    /// Issue 24: on 300 series of fixed seeds the default rule finds the planted jumps of
    /// 1 % and more, leaves the viral days alone and raises few flags on ordinary days;
    /// without its share and floor the same score flags noise. Measured: recall 38/60
    /// (0.5 %), 51/53, 63/64, 58/62 (5 %); precision 210/229 = 91.7 %; 1 of 459 viral
    /// events flagged; 18 flags on 36,000 ordinary days; without share and floor precision
    /// falls under 30 %. The bounds sit a few points under, so a change of method that
    /// loses detections or adds false flags fails here.
    #[test]
    fn the_planted_jumps_are_found_and_the_organic_ones_are_not() {
        let t = measure(0..300, &JumpRule::default());
        eprintln!("{t:?}");
        assert_eq!(t.series, 300);
        for (i, size) in SIZES_PERCENT.iter().enumerate().skip(1) {
            assert!(t.planted[i] > 40, "{t:?}");
            assert!(t.recall(i).unwrap() >= 0.9, "size {size}: {t:?}");
        }
        // 0.5 % sits on the share: about half are found.
        assert!((0.35..=0.8).contains(&t.recall(0).unwrap()), "{t:?}");
        assert!(t.precision().unwrap() >= 0.85, "{t:?}");
        assert!(t.viral > 300, "{t:?}");
        assert!(
            t.viral_flagged * 100 <= t.viral,
            "at most 1 % of viral events: {t:?}"
        );
        let scored_days = 300 * SCORED_DAYS as usize;
        assert!(
            t.ordinary_flags * 1000 <= scored_days,
            "at most 0.1 %: {t:?}"
        );
        let bare = measure(
            0..300,
            &JumpRule {
                min_percent: 0.0,
                min_followers: 0,
                ..JumpRule::default()
            },
        );
        assert!(bare.precision().unwrap() < 0.5, "{bare:?}");
        assert!(
            bare.ordinary_flags > 10 * t.ordinary_flags.max(1),
            "{bare:?}"
        );
    }
}
