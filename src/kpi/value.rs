//! KPI values and the reasons a value is absent (KPIS.md: values that cannot be defined).

/// Why a value is absent. Never stored as 0, NaN or infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// No observation feeds it in the period.
    NoData,
    /// A ratio's denominator is 0.
    ZeroDenominator,
    /// The period lies outside the campaign's window.
    OutsideCampaign,
    /// The platform does not report the field.
    NotReported,
}

impl Reason {
    /// The stored and reported name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoData => "no_data",
            Reason::ZeroDenominator => "zero_denominator",
            Reason::OutsideCampaign => "outside_campaign",
            Reason::NotReported => "not_reported",
        }
    }

    /// The reason of a stored name.
    pub fn parse(value: &str) -> Option<Reason> {
        [
            Reason::NoData,
            Reason::ZeroDenominator,
            Reason::OutsideCampaign,
            Reason::NotReported,
        ]
        .into_iter()
        .find(|r| r.as_str() == value)
    }
}

/// A KPI value, or why it is absent.
pub type Value = Result<f64, Reason>;

/// A ratio with KPIS.md's precedence: `outside_campaign` first, then the numerator's
/// reason, then the denominator's, then `zero_denominator`.
pub fn ratio(numerator: Value, denominator: Value) -> Value {
    if numerator == Err(Reason::OutsideCampaign) || denominator == Err(Reason::OutsideCampaign) {
        return Err(Reason::OutsideCampaign);
    }
    let n = numerator?;
    let d = denominator?;
    if d == 0.0 {
        Err(Reason::ZeroDenominator)
    } else {
        Ok(n / d)
    }
}

/// `a − b` with the same precedence of reasons as [`ratio`].
pub fn difference(a: Value, b: Value) -> Value {
    if a == Err(Reason::OutsideCampaign) || b == Err(Reason::OutsideCampaign) {
        return Err(Reason::OutsideCampaign);
    }
    Ok(a? - b?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_reasons_follow_the_precedence() {
        assert_eq!(ratio(Ok(1.0), Ok(4.0)), Ok(0.25));
        assert_eq!(ratio(Ok(1.0), Ok(0.0)), Err(Reason::ZeroDenominator));
        assert_eq!(
            ratio(Err(Reason::NoData), Err(Reason::NotReported)),
            Err(Reason::NoData)
        );
        assert_eq!(
            ratio(Ok(1.0), Err(Reason::NotReported)),
            Err(Reason::NotReported)
        );
        assert_eq!(
            ratio(Err(Reason::NoData), Err(Reason::OutsideCampaign)),
            Err(Reason::OutsideCampaign)
        );
        assert_eq!(
            ratio(Err(Reason::NotReported), Ok(0.0)),
            Err(Reason::NotReported)
        );
    }

    #[test]
    fn reasons_round_trip() {
        for r in [
            Reason::NoData,
            Reason::ZeroDenominator,
            Reason::OutsideCampaign,
            Reason::NotReported,
        ] {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
    }
}
