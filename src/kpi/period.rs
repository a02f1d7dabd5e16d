//! Periods of days (KPIS.md: days, periods and time zones): inclusive ranges, their split
//! by granularity, the previous period, and clipping to a campaign window.
use chrono::{Datelike, Days, NaiveDate};

/// An inclusive range of days `[first, last]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    /// First day.
    pub first: NaiveDate,
    /// Last day, not before `first`.
    pub last: NaiveDate,
}

/// How a requested range is split into periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// One period per day.
    Day,
    /// ISO weeks, Monday first, clipped to the range.
    Week,
    /// Calendar months, clipped to the range.
    Month,
    /// The whole range as one period.
    Range,
}

impl Period {
    /// The period `[first, last]`, or None when `last` is before `first`.
    pub fn new(first: NaiveDate, last: NaiveDate) -> Option<Period> {
        (first <= last).then_some(Period { first, last })
    }

    /// A single day.
    pub fn day(day: NaiveDate) -> Period {
        Period {
            first: day,
            last: day,
        }
    }

    /// Number of days.
    pub fn days(&self) -> i64 {
        (self.last - self.first).num_days() + 1
    }

    /// Whether the day lies in the period.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.first <= day && day <= self.last
    }

    /// The period of equal length ending the day before `first`.
    pub fn previous(&self) -> Option<Period> {
        let last = self.first.pred_opt()?;
        let first = last.checked_sub_days(Days::new(self.days() as u64 - 1))?;
        Some(Period { first, last })
    }

    /// The part of the period inside `window`, or None when they do not overlap.
    pub fn clip(&self, window: &Period) -> Option<Period> {
        Period::new(self.first.max(window.first), self.last.min(window.last))
    }

    /// Every day of the period, in order.
    pub fn iter_days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let last = self.last;
        self.first.iter_days().take_while(move |d| *d <= last)
    }

    /// The periods of the range at a granularity, in order; weeks and months are clipped
    /// to the range.
    pub fn split(&self, granularity: Granularity) -> Vec<Period> {
        let mut periods = Vec::new();
        let mut first = self.first;
        while first <= self.last {
            let end = match granularity {
                Granularity::Day => first,
                Granularity::Week => {
                    let to_sunday = 6 - first.weekday().num_days_from_monday() as u64;
                    first
                        .checked_add_days(Days::new(to_sunday))
                        .unwrap_or(self.last)
                }
                Granularity::Month => {
                    let next_month = if first.month() == 12 {
                        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
                    } else {
                        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
                    };
                    next_month.and_then(|d| d.pred_opt()).unwrap_or(self.last)
                }
                Granularity::Range => self.last,
            }
            .min(self.last);
            periods.push(Period { first, last: end });
            match end.succ_opt() {
                Some(next) => first = next,
                None => break,
            }
        }
        periods
    }
}

impl Granularity {
    /// Days of the whole week or month that begins the periods starting on `first`
    /// (7, or the month's days); None for DAY and RANGE, which a range never clips.
    fn full_days(self, first: NaiveDate) -> Option<i64> {
        match self {
            Granularity::Day | Granularity::Range => None,
            Granularity::Week => Some(7),
            Granularity::Month => {
                let start = first.with_day(1)?;
                let next = start.checked_add_months(chrono::Months::new(1))?;
                Some((next - start).num_days())
            }
        }
    }
}

impl Period {
    /// Whether a period of `granularity` is partial (KPIS.md: days, periods): a week or
    /// month clipped by the requested range, or any period reaching past `newest`, the
    /// newest computed day. With no computed day every period reaches past it.
    pub fn is_partial(&self, granularity: Granularity, newest: Option<NaiveDate>) -> bool {
        let clipped = granularity
            .full_days(self.first)
            .is_some_and(|full| self.days() < full);
        clipped || newest.is_none_or(|newest| self.last > newest)
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {}]", self.first, self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn weeks_are_iso_weeks_clipped_to_the_range() {
        // 2026-03-04 is a Wednesday.
        let range = Period::new(d(2026, 3, 4), d(2026, 3, 17)).unwrap();
        let weeks = range.split(Granularity::Week);
        assert_eq!(
            weeks,
            [
                Period {
                    first: d(2026, 3, 4),
                    last: d(2026, 3, 8)
                },
                Period {
                    first: d(2026, 3, 9),
                    last: d(2026, 3, 15)
                },
                Period {
                    first: d(2026, 3, 16),
                    last: d(2026, 3, 17)
                },
            ]
        );
    }

    #[test]
    fn months_are_calendar_months_clipped_to_the_range() {
        let range = Period::new(d(2026, 1, 15), d(2026, 3, 2)).unwrap();
        let months = range.split(Granularity::Month);
        assert_eq!(months.len(), 3);
        assert_eq!(
            months[0],
            Period {
                first: d(2026, 1, 15),
                last: d(2026, 1, 31)
            }
        );
        assert_eq!(
            months[1],
            Period {
                first: d(2026, 2, 1),
                last: d(2026, 2, 28)
            }
        );
        assert_eq!(
            months[2],
            Period {
                first: d(2026, 3, 1),
                last: d(2026, 3, 2)
            }
        );
        let december = Period::new(d(2026, 12, 20), d(2027, 1, 3))
            .unwrap()
            .split(Granularity::Month);
        assert_eq!(december[0].last, d(2026, 12, 31));
        assert_eq!(range.split(Granularity::Range), [range]);
        assert_eq!(range.split(Granularity::Day).len() as i64, range.days());
    }

    #[test]
    fn partial_periods_are_clipped_weeks_and_months_or_reach_past_the_newest_day() {
        let newest = Some(d(2026, 3, 31));
        // 2026-03-04 is a Wednesday: its week is clipped at the range's start.
        let range = Period::new(d(2026, 3, 4), d(2026, 3, 17)).unwrap();
        let weeks = range.split(Granularity::Week);
        let partial: Vec<bool> = weeks
            .iter()
            .map(|w| w.is_partial(Granularity::Week, newest))
            .collect();
        assert_eq!(partial, [true, false, true]);
        // February 2026 has 28 days: whole; March clipped at the range's end.
        let months = Period::new(d(2026, 2, 1), d(2026, 3, 30))
            .unwrap()
            .split(Granularity::Month);
        assert!(!months[0].is_partial(Granularity::Month, newest));
        assert!(months[1].is_partial(Granularity::Month, newest));
        // A leap February is whole at 29 days, not at 28.
        let leap = Period::new(d(2028, 2, 1), d(2028, 2, 28)).unwrap();
        assert!(leap.is_partial(Granularity::Month, Some(d(2028, 3, 1))));
        let leap = Period::new(d(2028, 2, 1), d(2028, 2, 29)).unwrap();
        assert!(!leap.is_partial(Granularity::Month, Some(d(2028, 3, 1))));
        // A whole week or month reaching past the newest day.
        let week = Period::new(d(2026, 3, 30), d(2026, 4, 5)).unwrap();
        assert!(week.is_partial(Granularity::Week, newest));
        assert!(!week.is_partial(Granularity::Week, Some(d(2026, 4, 5))));
        // DAY and RANGE only by the newest day; nothing computed: every period.
        assert!(!Period::day(d(2026, 3, 31)).is_partial(Granularity::Day, newest));
        assert!(Period::day(d(2026, 4, 1)).is_partial(Granularity::Day, newest));
        assert!(!range.is_partial(Granularity::Range, newest));
        assert!(range.is_partial(Granularity::Range, Some(d(2026, 3, 16))));
        assert!(range.is_partial(Granularity::Range, None));
    }

    #[test]
    fn previous_period_has_equal_length_and_ends_the_day_before() {
        let p = Period::new(d(2026, 3, 1), d(2026, 3, 7)).unwrap();
        assert_eq!(
            p.previous(),
            Some(Period {
                first: d(2026, 2, 22),
                last: d(2026, 2, 28)
            })
        );
    }

    #[test]
    fn clipping_keeps_the_overlap_only() {
        let window = Period::new(d(2026, 3, 1), d(2026, 3, 31)).unwrap();
        let p = Period::new(d(2026, 2, 20), d(2026, 3, 5)).unwrap();
        assert_eq!(
            p.clip(&window),
            Some(Period {
                first: d(2026, 3, 1),
                last: d(2026, 3, 5)
            })
        );
        assert_eq!(Period::day(d(2026, 4, 1)).clip(&window), None);
    }
}
