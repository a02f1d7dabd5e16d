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
    /// The arithmetic result is beyond the range of a 64-bit float. Only a custom
    /// formula can get there (inputs are bounded at ingest to 1e15, but a formula may
    /// multiply them, or divide by a tiny value); KPIS.md names no reason for it, and
    /// `zero_denominator`, used before, was untrue when no denominator was zero.
    Overflow,
}

impl Reason {
    /// The stored and reported name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoData => "no_data",
            Reason::ZeroDenominator => "zero_denominator",
            Reason::OutsideCampaign => "outside_campaign",
            Reason::NotReported => "not_reported",
            Reason::Overflow => "overflow",
        }
    }

    /// The reason of a stored name.
    pub fn parse(value: &str) -> Option<Reason> {
        [
            Reason::NoData,
            Reason::ZeroDenominator,
            Reason::OutsideCampaign,
            Reason::NotReported,
            Reason::Overflow,
        ]
        .into_iter()
        .find(|r| r.as_str() == value)
    }
}

/// A KPI value, or why it is absent.
pub type Value = Result<f64, Reason>;

/// `x` with a negative zero made positive, other values unchanged. -0.0 equals 0.0 but
/// prints as `-0` and has its sign bit set, so a KPI without fees would read as a
/// negative amount; every value leaving the engine passes here.
pub fn positive_zero(x: f64) -> f64 {
    // In IEEE 754 round-to-nearest, -0.0 + 0.0 is +0.0 and x + 0.0 is x otherwise.
    x + 0.0
}

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
        finite(n / d)
    }
}

/// `a − b` with the same precedence of reasons as [`ratio`].
pub fn difference(a: Value, b: Value) -> Value {
    if a == Err(Reason::OutsideCampaign) || b == Err(Reason::OutsideCampaign) {
        return Err(Reason::OutsideCampaign);
    }
    finite(a? - b?)
}

/// A present result, or `overflow` when it is not finite: a value is never infinite.
pub fn finite(x: f64) -> Value {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Reason::Overflow)
    }
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
        assert_eq!(ratio(Ok(1e300), Ok(1e-300)), Err(Reason::Overflow));
        assert_eq!(difference(Ok(1.7e308), Ok(-1.7e308)), Err(Reason::Overflow));
    }

    #[test]
    fn negative_zero_becomes_positive_and_nothing_else_changes() {
        assert!(!positive_zero(-0.0).is_sign_negative());
        assert!(positive_zero(-1e-300).is_sign_negative());
        assert_eq!(positive_zero(-2.5), -2.5);
        assert_eq!(positive_zero(7.0), 7.0);
        // Why the engine needs it: Rust sums an empty f64 iterator to -0.0.
        let empty: f64 = std::iter::empty::<f64>().sum();
        assert!(empty.is_sign_negative());
    }

    #[test]
    fn reasons_round_trip() {
        for r in [
            Reason::NoData,
            Reason::ZeroDenominator,
            Reason::OutsideCampaign,
            Reason::NotReported,
            Reason::Overflow,
        ] {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
    }
}
