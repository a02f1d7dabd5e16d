//! Social KPIs from channel day stats (KPIS.md: the catalogue, social), over the channels
//! `C` of a scope and a period `P`.
use super::key::{Parts, plain, with_parts};
use super::parts::{ChannelSums, SOCIAL_FIELDS};
use super::value::{Reason, Value, ratio};
use crate::domain::catalogue::RollUp;
use std::collections::HashMap;

/// A summable field of channel day stats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// posts
    Posts = 0,
    /// mentions
    Mentions = 1,
    /// shares (retweets and reposts included)
    Shares = 2,
    /// comments
    Comments = 3,
    /// likes
    Likes = 4,
    /// link_clicks
    LinkClicks = 5,
    /// views
    Views = 6,
}

impl Field {
    /// The field a sum KPI id reads.
    pub fn of_kpi(kpi: &str) -> Option<Field> {
        let index = SOCIAL_FIELDS.iter().position(|f| *f == kpi)?;
        [
            Field::Posts,
            Field::Mentions,
            Field::Shares,
            Field::Comments,
            Field::Likes,
            Field::LinkClicks,
            Field::Views,
        ]
        .get(index)
        .copied()
    }
}

/// `posts` ... `views`: Σ of the field over C and the days of P. NULL fields are skipped;
/// every contributing row NULL: `not_reported`; no row at all: `no_data`.
pub fn field_sum(channels: &[String], sums: &HashMap<String, ChannelSums>, field: Field) -> Value {
    let mut rows = 0;
    let mut total: Option<f64> = None;
    for channel in channels {
        if let Some(s) = sums.get(channel) {
            rows += s.rows;
            if let Some(v) = s.sums[field as usize] {
                total = Some(total.unwrap_or(0.0) + v);
            }
        }
    }
    match (rows, total) {
        (0, _) => Err(Reason::NoData),
        (_, None) => Err(Reason::NotReported),
        (_, Some(t)) => Ok(t),
    }
}

/// Inside a composite, a summed component that is `not_reported` counts as 0 unless every
/// summed component is.
pub fn composite_sum(components: &[Value]) -> Value {
    if let Some(reason) = components.iter().find_map(|c| match c {
        Err(r) if *r != Reason::NotReported => Some(*r),
        _ => None,
    }) {
        return Err(reason);
    }
    if components.iter().all(|c| *c == Err(Reason::NotReported)) {
        return Err(Reason::NotReported);
    }
    // Folded from +0.0: the f64 `sum()` of zeros starts from -0.0 and stays there.
    Ok(components
        .iter()
        .fold(0.0, |total, c| total + c.unwrap_or(0.0)))
}

/// `followers`: Σ over channels of C with a reading on `last`; none: `no_data`.
pub fn followers(channels: &[String], on_last: &HashMap<String, i64>) -> Value {
    let readings: Vec<i64> = channels
        .iter()
        .filter_map(|c| on_last.get(c).copied())
        .collect();
    if readings.is_empty() {
        Err(Reason::NoData)
    } else {
        Ok(readings.iter().sum::<i64>() as f64)
    }
}

/// Σ end and Σ start over the channels with a reading both before `first` and on `last`.
fn growth_parts(
    channels: &[String],
    before: &HashMap<String, i64>,
    on_last: &HashMap<String, i64>,
) -> Option<(i64, i64)> {
    let pairs: Vec<(i64, i64)> = channels
        .iter()
        .filter_map(|c| Some((*before.get(c)?, *on_last.get(c)?)))
        .collect();
    (!pairs.is_empty()).then(|| pairs.iter().fold((0, 0), |(s, e), (a, b)| (s + a, e + b)))
}

/// `follower_growth`: Σ(end − start) over channels with both readings; none: `no_data`.
pub fn follower_growth(
    channels: &[String],
    before: &HashMap<String, i64>,
    on_last: &HashMap<String, i64>,
) -> Value {
    growth_parts(channels, before, on_last)
        .map(|(s, e)| (e - s) as f64)
        .ok_or(Reason::NoData)
}

/// `follower_growth_pct`: 100 × Σ(end − start) / Σ start over the same channels.
pub fn follower_growth_pct(
    channels: &[String],
    before: &HashMap<String, i64>,
    on_last: &HashMap<String, i64>,
) -> (Value, Option<f64>, Option<f64>) {
    match growth_parts(channels, before, on_last) {
        None => (Err(Reason::NoData), None, None),
        Some((s, e)) => {
            let value = ratio(Ok(100.0 * (e - s) as f64), Ok(s as f64));
            (value, Some((e - s) as f64), Some(s as f64))
        }
    }
}

/// `shares_per_day`: shares / days of P.
pub fn shares_per_day(shares: Value, days: i64) -> Value {
    ratio(shares, Ok(days as f64))
}

/// `ipm`: (comments + likes + posts) / (followers / 1000); the numerator is a composite.
pub fn ipm(comments: Value, likes: Value, posts: Value, followers: Value) -> (Value, Value, Value) {
    let numerator = composite_sum(&[comments, likes, posts]);
    let denominator = followers.map(|f| f / 1000.0);
    (ratio(numerator, denominator), numerator, denominator)
}

/// `engagement_rate`: 100 × (likes + comments + shares) / followers.
pub fn engagement_rate(
    likes: Value,
    comments: Value,
    shares: Value,
    followers: Value,
) -> (Value, Value, Value) {
    let numerator = composite_sum(&[likes, comments, shares]);
    (
        ratio(numerator.map(|n| 100.0 * n), followers),
        numerator,
        followers,
    )
}

/// `ipm_per_post`: ((comments + likes) / posts) / (followers / 1000). The composite rule
/// covers the numerator only: `posts` divides, and each division, left first, follows the
/// ratio rule. The parts are the interactions per post and followers / 1000.
pub fn ipm_per_post(
    comments: Value,
    likes: Value,
    posts: Value,
    followers: Value,
) -> (Value, Value, Value) {
    let per_post = ratio(composite_sum(&[comments, likes]), posts);
    let denominator = followers.map(|f| f / 1000.0);
    (ratio(per_post, denominator), per_post, denominator)
}

/// `engagement_rate_per_post`: 100 × ((likes + comments + shares) / posts) / followers,
/// the composite rule and the divisions as in [`ipm_per_post`]. The parts are the
/// interactions per post and the followers, as `engagement_rate`'s.
pub fn engagement_rate_per_post(
    likes: Value,
    comments: Value,
    shares: Value,
    posts: Value,
    followers: Value,
) -> (Value, Value, Value) {
    let per_post = ratio(composite_sum(&[likes, comments, shares]), posts);
    (
        ratio(per_post.map(|p| 100.0 * p), followers),
        per_post,
        followers,
    )
}

/// A social KPI: the family's ids, dispatched here (KPIS.md: the catalogue, social).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kpi {
    /// `posts` ... `views`.
    Sum(Field),
    /// `followers`.
    Followers,
    /// `follower_growth`.
    FollowerGrowth,
    /// `follower_growth_pct`.
    FollowerGrowthPct,
    /// `shares_per_day`.
    SharesPerDay,
    /// `comments_per_post`.
    CommentsPerPost,
    /// `ipm`.
    Ipm,
    /// `engagement_rate`.
    EngagementRate,
    /// `ipm_per_post`.
    IpmPerPost,
    /// `engagement_rate_per_post`.
    EngagementRatePerPost,
}

impl Kpi {
    /// The social KPI of a catalogue id, if it is one.
    pub fn of(id: &str) -> Option<Kpi> {
        if let Some(field) = Field::of_kpi(id) {
            return Some(Kpi::Sum(field));
        }
        Some(match id {
            "followers" => Kpi::Followers,
            "follower_growth" => Kpi::FollowerGrowth,
            "follower_growth_pct" => Kpi::FollowerGrowthPct,
            "shares_per_day" => Kpi::SharesPerDay,
            "comments_per_post" => Kpi::CommentsPerPost,
            "ipm" => Kpi::Ipm,
            "engagement_rate" => Kpi::EngagementRate,
            "ipm_per_post" => Kpi::IpmPerPost,
            "engagement_rate_per_post" => Kpi::EngagementRatePerPost,
            _ => return None,
        })
    }

    /// The KPI's roll-up class (KPIS.md: roll-up classes); the catalogue has it from here.
    pub fn roll_up(self) -> RollUp {
        match self {
            Kpi::Sum(_) => RollUp::Sum,
            Kpi::Followers => RollUp::Level,
            Kpi::FollowerGrowth | Kpi::FollowerGrowthPct => RollUp::Boundary,
            Kpi::SharesPerDay
            | Kpi::CommentsPerPost
            | Kpi::Ipm
            | Kpi::EngagementRate
            | Kpi::IpmPerPost
            | Kpi::EngagementRatePerPost => RollUp::Ratio,
        }
    }
}

/// What a social KPI reads of its window: the channel sums and the follower readings on
/// the day before it and on its last day.
pub struct Window<'a> {
    /// Sums per channel over the window.
    pub sums: &'a HashMap<String, ChannelSums>,
    /// Follower readings on the day before the window.
    pub followers_before: &'a HashMap<String, i64>,
    /// Follower readings on the window's last day.
    pub followers_last: &'a HashMap<String, i64>,
    /// Days of the window.
    pub days: i64,
}

/// The value of a social KPI over the channels `C` of its scope in a window.
pub fn value(kpi: Kpi, channels: &[String], w: &Window<'_>) -> Parts {
    let field = |f| field_sum(channels, w.sums, f);
    match kpi {
        Kpi::Sum(f) => plain(field(f)),
        Kpi::Followers => plain(followers(channels, w.followers_last)),
        Kpi::FollowerGrowth => plain(follower_growth(
            channels,
            w.followers_before,
            w.followers_last,
        )),
        Kpi::FollowerGrowthPct => {
            follower_growth_pct(channels, w.followers_before, w.followers_last)
        }
        Kpi::SharesPerDay => {
            let shares = field(Field::Shares);
            with_parts(shares_per_day(shares, w.days), shares, Ok(w.days as f64))
        }
        Kpi::CommentsPerPost => {
            let (comments, posts) = (field(Field::Comments), field(Field::Posts));
            with_parts(ratio(comments, posts), comments, posts)
        }
        Kpi::Ipm | Kpi::EngagementRate | Kpi::IpmPerPost | Kpi::EngagementRatePerPost => {
            let comments = field(Field::Comments);
            let likes = field(Field::Likes);
            let followers = followers(channels, w.followers_last);
            let (value, n, d) = match kpi {
                Kpi::Ipm => ipm(comments, likes, field(Field::Posts), followers),
                Kpi::IpmPerPost => ipm_per_post(comments, likes, field(Field::Posts), followers),
                Kpi::EngagementRatePerPost => engagement_rate_per_post(
                    likes,
                    comments,
                    field(Field::Shares),
                    field(Field::Posts),
                    followers,
                ),
                _ => engagement_rate(likes, comments, field(Field::Shares), followers),
            };
            with_parts(value, n, d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(rows: i64, values: [Option<i64>; 7]) -> ChannelSums {
        ChannelSums {
            rows,
            sums: values.map(|v| v.map(|v| v as f64)),
        }
    }

    fn channels(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sums_skip_nulls_and_tell_not_reported_from_no_data() {
        let mut map = HashMap::new();
        map.insert(
            "a".to_string(),
            sums(2, [Some(3), None, None, Some(10), Some(5), None, None]),
        );
        map.insert(
            "b".to_string(),
            sums(1, [Some(1), None, Some(2), None, Some(1), None, None]),
        );
        let both = channels(&["a", "b"]);
        assert_eq!(field_sum(&both, &map, Field::Posts), Ok(4.0));
        assert_eq!(field_sum(&both, &map, Field::Shares), Ok(2.0));
        assert_eq!(
            field_sum(&both, &map, Field::Mentions),
            Err(Reason::NotReported)
        );
        assert_eq!(
            field_sum(&channels(&["c"]), &map, Field::Posts),
            Err(Reason::NoData)
        );
        assert_eq!(field_sum(&[], &map, Field::Posts), Err(Reason::NoData));
    }

    #[test]
    fn followers_count_only_channels_with_a_reading() {
        let on_last: HashMap<String, i64> = [("a".to_string(), 100), ("b".to_string(), 0)].into();
        assert_eq!(followers(&channels(&["a", "b", "c"]), &on_last), Ok(100.0));
        assert_eq!(followers(&channels(&["c"]), &on_last), Err(Reason::NoData));
    }

    #[test]
    fn growth_uses_only_channels_with_both_readings() {
        let before: HashMap<String, i64> = [("a".to_string(), 100), ("c".to_string(), 7)].into();
        let last: HashMap<String, i64> = [("a".to_string(), 130), ("b".to_string(), 50)].into();
        let all = channels(&["a", "b", "c"]);
        assert_eq!(follower_growth(&all, &before, &last), Ok(30.0));
        assert_eq!(follower_growth_pct(&all, &before, &last).0, Ok(30.0));
        assert_eq!(
            follower_growth(&channels(&["b"]), &before, &last),
            Err(Reason::NoData)
        );
    }

    #[test]
    fn growth_from_zero_followers_is_zero_denominator() {
        let before: HashMap<String, i64> = [("a".to_string(), 0)].into();
        let last: HashMap<String, i64> = [("a".to_string(), 25)].into();
        assert_eq!(follower_growth(&channels(&["a"]), &before, &last), Ok(25.0));
        assert_eq!(
            follower_growth_pct(&channels(&["a"]), &before, &last).0,
            Err(Reason::ZeroDenominator)
        );
    }

    #[test]
    fn composite_counts_not_reported_as_zero_unless_all_are() {
        let nr = Err(Reason::NotReported);
        assert_eq!(composite_sum(&[Ok(2.0), nr, Ok(3.0)]), Ok(5.0));
        assert_eq!(composite_sum(&[nr, nr, nr]), nr);
        assert_eq!(
            composite_sum(&[
                Err(Reason::NoData),
                Err(Reason::NoData),
                Err(Reason::NoData)
            ]),
            Err(Reason::NoData)
        );
        let (ipm, _, _) = ipm(Ok(10.0), Ok(20.0), nr, Ok(3000.0));
        assert_eq!(ipm, Ok(10.0));
        let (rate, _, _) = engagement_rate(Ok(5.0), Ok(5.0), Ok(0.0), Ok(0.0));
        assert_eq!(rate, Err(Reason::ZeroDenominator));
        // A not_reported part makes a plain ratio not_reported.
        assert_eq!(ratio(Ok(3.0), nr), nr);
        assert_eq!(shares_per_day(Ok(14.0), 7), Ok(2.0));
    }

    const NR: Value = Err(Reason::NotReported);
    const ND: Value = Err(Reason::NoData);
    const ZERO: Value = Err(Reason::ZeroDenominator);
    const OUT: Value = Err(Reason::OutsideCampaign);

    #[test]
    fn ipm_per_post_divides_by_posts_then_by_thousands_of_followers() {
        // ((30 + 90) / 4) / (2000 / 1000) = 30 / 2 = 15 per mille; parts 30 and 2.
        let (value, n, d) = ipm_per_post(Ok(30.0), Ok(90.0), Ok(4.0), Ok(2000.0));
        assert_eq!((value, n, d), (Ok(15.0), Ok(30.0), Ok(2.0)));
        // not_reported likes count as 0: (30 / 3) / 1 = 10.
        assert_eq!(ipm_per_post(Ok(30.0), NR, Ok(3.0), Ok(1000.0)).0, Ok(10.0));
        // Every numerator component not_reported: not_reported, before the divisor's
        // zero.
        assert_eq!(ipm_per_post(NR, NR, Ok(3.0), Ok(1000.0)).0, NR);
        assert_eq!(ipm_per_post(NR, NR, Ok(0.0), Ok(1000.0)).0, NR);
        // posts is a divisor, not a composite component: not_reported posts make the
        // value not_reported, zero posts zero_denominator.
        assert_eq!(ipm_per_post(Ok(5.0), Ok(5.0), NR, Ok(1000.0)).0, NR);
        assert_eq!(ipm_per_post(Ok(5.0), Ok(5.0), Ok(0.0), Ok(1000.0)).0, ZERO);
        // Left first: zero posts decide before a missing follower reading, and a
        // not_reported divisor before zero followers.
        assert_eq!(ipm_per_post(Ok(5.0), Ok(5.0), Ok(0.0), ND).0, ZERO);
        assert_eq!(ipm_per_post(Ok(5.0), Ok(5.0), NR, Ok(0.0)).0, NR);
        // Zero followers, no follower reading.
        let (value, n, d) = ipm_per_post(Ok(5.0), Ok(5.0), Ok(2.0), Ok(0.0));
        assert_eq!((value, n, d), (ZERO, Ok(5.0), Ok(0.0)));
        assert_eq!(ipm_per_post(Ok(5.0), Ok(5.0), Ok(2.0), ND).0, ND);
        // A period with no data at all.
        assert_eq!(ipm_per_post(ND, ND, ND, ND), (ND, ND, ND));
        // Outside a campaign's window, whatever else.
        assert_eq!(ipm_per_post(OUT, OUT, OUT, OUT).0, OUT);
    }

    #[test]
    fn engagement_rate_per_post_divides_by_posts_then_by_followers() {
        // 100 × ((40 + 10 + 10) / 3) / 5000 = 100 × 20 / 5000 = 0.4 %; parts 20 and 5000.
        let (value, n, d) =
            engagement_rate_per_post(Ok(40.0), Ok(10.0), Ok(10.0), Ok(3.0), Ok(5000.0));
        assert_eq!((value, n, d), (Ok(0.4), Ok(20.0), Ok(5000.0)));
        // Shares not reported count as 0: 100 × (50 / 2) / 1000 = 2.5 %.
        assert_eq!(
            engagement_rate_per_post(Ok(40.0), Ok(10.0), NR, Ok(2.0), Ok(1000.0)).0,
            Ok(2.5)
        );
        assert_eq!(
            engagement_rate_per_post(NR, NR, NR, Ok(2.0), Ok(1000.0)).0,
            NR
        );
        assert_eq!(
            engagement_rate_per_post(Ok(1.0), Ok(1.0), Ok(1.0), NR, Ok(1000.0)).0,
            NR
        );
        assert_eq!(
            engagement_rate_per_post(Ok(1.0), Ok(1.0), Ok(1.0), Ok(0.0), Ok(1000.0)).0,
            ZERO
        );
        assert_eq!(
            engagement_rate_per_post(Ok(1.0), Ok(1.0), Ok(1.0), Ok(1.0), Ok(0.0)).0,
            ZERO
        );
        assert_eq!(
            engagement_rate_per_post(Ok(1.0), Ok(1.0), Ok(1.0), Ok(1.0), ND).0,
            ND
        );
        // posts no_data while the numerator is there cannot happen from one set of rows,
        // but the ratio rule gives the divisor's reason.
        assert_eq!(
            engagement_rate_per_post(Ok(1.0), Ok(1.0), Ok(1.0), ND, Ok(10.0)).0,
            ND
        );
        assert_eq!(engagement_rate_per_post(ND, ND, ND, ND, ND).0, ND);
    }

    #[test]
    fn per_post_kpis_dispatch_over_the_scope_channels() {
        // a: 2 rows, posts 3, shares NULL, comments 10, likes 5; b: 1 row, posts 1,
        // shares 2, comments NULL, likes 1. Followers on last: a 1000, b 1000.
        let mut map = HashMap::new();
        map.insert(
            "a".to_string(),
            sums(2, [Some(3), None, None, Some(10), Some(5), None, None]),
        );
        map.insert(
            "b".to_string(),
            sums(1, [Some(1), None, Some(2), None, Some(1), None, None]),
        );
        let last: HashMap<String, i64> = [("a".to_string(), 1000), ("b".to_string(), 1000)].into();
        let none = HashMap::new();
        let w = Window {
            sums: &map,
            followers_before: &none,
            followers_last: &last,
            days: 7,
        };
        let both = channels(&["a", "b"]);
        // ((10 + 6) / 4) / 2 = 2 per mille.
        let ipm = Kpi::of("ipm_per_post").unwrap();
        assert_eq!(ipm.roll_up(), RollUp::Ratio);
        assert_eq!(value(ipm, &both, &w), (Ok(2.0), Some(4.0), Some(2.0)));
        // 100 × ((6 + 10 + 2) / 4) / 2000 = 0.225 %.
        let er = Kpi::of("engagement_rate_per_post").unwrap();
        assert_eq!(er.roll_up(), RollUp::Ratio);
        assert_eq!(value(er, &both, &w), (Ok(0.225), Some(4.5), Some(2000.0)));
        // A channel without rows: no_data.
        assert_eq!(value(er, &channels(&["c"]), &w).0, ND);
    }
}
