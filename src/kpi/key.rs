//! What a KPI value is about and what it holds: the key (KPI, scope, segment) and the
//! computed value with its parts. The engine computes them and storage stores them, so
//! they live here, below both.
use crate::domain::goal::Scope;
use crate::kpi::period::Period;
use crate::kpi::value::{Value, positive_zero};

/// One KPI on one scope, maybe for a segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KpiKey {
    /// KPI id or pushed metric key.
    pub kpi: String,
    /// Scope.
    pub scope: Scope,
    /// Segment id.
    pub segment: Option<String>,
}

/// A value, its numerator and its denominator: what a snapshot holds besides its key.
pub type Parts = (Value, Option<f64>, Option<f64>);

/// A computed value with its parts.
#[derive(Clone, Debug, PartialEq)]
pub struct Computed {
    /// What was computed.
    pub key: KpiKey,
    /// The period.
    pub period: Period,
    /// The value or why it is absent.
    pub value: Value,
    /// Numerator of a ratio, when it has one and it is defined.
    pub numerator: Option<f64>,
    /// Denominator of a ratio, when it has one and it is defined.
    pub denominator: Option<f64>,
}

impl Computed {
    /// The value of `key` over `period` from its parts, -0.0 written as 0.0.
    pub fn new(key: &KpiKey, period: Period, (value, numerator, denominator): Parts) -> Computed {
        Computed {
            key: key.clone(),
            period,
            value: value.map(positive_zero),
            numerator: numerator.map(positive_zero),
            denominator: denominator.map(positive_zero),
        }
    }
}

/// A value without a numerator and denominator.
pub fn plain(value: Value) -> Parts {
    (value, None, None)
}

/// A ratio's value with the numerator and denominator that are defined.
pub fn with_parts(value: Value, numerator: Value, denominator: Value) -> Parts {
    (value, numerator.ok(), denominator.ok())
}

/// A value of a campaign scope for a period outside the campaign.
pub fn outside() -> Parts {
    (Err(crate::kpi::value::Reason::OutsideCampaign), None, None)
}
