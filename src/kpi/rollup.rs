//! Period values composed from stored daily values where a KPI's roll-up class allows it
//! (KPIS.md: roll-up classes): sums and levels of days, and the ratio KPIs' formulas on
//! parts composed so. Days outside a campaign's window are `outside_campaign`; a period
//! is clipped to its other days, as the live computation clips it.
use crate::kpi::value::{Reason, Value, finite};

/// A `sum` KPI over days: the sum of the defined days. With none defined, `not_reported`
/// when some day is (a field every row left NULL), else `no_data`; every day outside the
/// campaign: `outside_campaign`. Channel-stat sums skip NULL fields and count rows, so a
/// period's sum is defined exactly when some day's is.
pub fn sum(days: impl IntoIterator<Item = Value>) -> Value {
    let mut total: Option<f64> = None;
    let mut inside = false;
    let mut not_reported = false;
    for day in days {
        match day {
            // A day beyond a double's range leaves the period beyond it too.
            Err(Reason::Overflow) => return Err(Reason::Overflow),
            Err(Reason::OutsideCampaign) => continue,
            Ok(v) => total = Some(total.unwrap_or(0.0) + v),
            Err(Reason::NotReported) => not_reported = true,
            Err(_) => {}
        }
        inside = true;
    }
    match (inside, total) {
        (false, _) => Err(Reason::OutsideCampaign),
        (true, Some(t)) => finite(t),
        (true, None) if not_reported => Err(Reason::NotReported),
        (true, None) => Err(Reason::NoData),
    }
}

/// A `level` KPI over days: the value on the last day inside the campaign's window (the
/// clipped `last`); none: `outside_campaign`.
pub fn level(days: &[Value]) -> Value {
    days.iter()
        .rev()
        .find(|d| **d != Err(Reason::OutsideCampaign))
        .copied()
        .unwrap_or(Err(Reason::OutsideCampaign))
}

/// The numerator and denominator of a day's stored ratio, given back their reasons: a
/// part stored absent takes the day's reason. Only exact for ratios whose other part is
/// defined whenever the day is inside the window (fees over a denominator, a profit over
/// visitors at a scope without a window), which the caller knows.
pub fn ratio_parts(
    (value, numerator, denominator): (Value, Option<f64>, Option<f64>),
) -> (Value, Value) {
    let reason = value.err().unwrap_or(Reason::NoData);
    if reason == Reason::OutsideCampaign && value.is_err() {
        return (Err(reason), Err(reason));
    }
    (numerator.ok_or(reason), denominator.ok_or(reason))
}

/// How many days are inside the campaign's window.
pub fn days_inside(days: &[Value]) -> usize {
    days.iter()
        .filter(|d| **d != Err(Reason::OutsideCampaign))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: Value = Err(Reason::OutsideCampaign);
    const NR: Value = Err(Reason::NotReported);
    const ND: Value = Err(Reason::NoData);

    #[test]
    fn sums_keep_the_live_reasons() {
        assert_eq!(sum([Ok(1.0), ND, NR, Ok(2.5)]), Ok(3.5));
        assert_eq!(sum([ND, NR, ND]), NR);
        assert_eq!(sum([ND, ND]), ND);
        assert_eq!(sum([OUT, OUT]), OUT);
        assert_eq!(sum([OUT, ND, Ok(0.0), OUT]), Ok(0.0));
        assert_eq!(sum([Ok(f64::MAX), Ok(f64::MAX)]), Err(Reason::Overflow));
    }

    #[test]
    fn levels_read_the_clipped_last_day() {
        assert_eq!(level(&[Ok(1.0), ND, OUT]), ND);
        assert_eq!(level(&[Ok(1.0), Ok(4.0), OUT, OUT]), Ok(4.0));
        assert_eq!(level(&[OUT]), OUT);
        assert_eq!(days_inside(&[OUT, Ok(1.0), ND, OUT]), 2);
    }

    #[test]
    fn ratio_parts_take_the_days_reason() {
        assert_eq!(
            ratio_parts((Err(Reason::NotReported), Some(3.0), None)),
            (Ok(3.0), NR)
        );
        assert_eq!(
            ratio_parts((Err(Reason::ZeroDenominator), Some(3.0), Some(0.0))),
            (Ok(3.0), Ok(0.0))
        );
        assert_eq!(ratio_parts((OUT, None, None)), (OUT, OUT));
        assert_eq!(
            ratio_parts((Ok(2.0), Some(4.0), Some(2.0))),
            (Ok(4.0), Ok(2.0))
        );
    }
}
