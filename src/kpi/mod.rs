//! KPIs: the catalogue, values and their reasons, custom KPIs and the engine.
pub(crate) mod anomaly;
pub(crate) mod audience;
pub mod custom;
pub(crate) mod directory;
pub(crate) mod goal_eval;
pub(crate) mod key;
pub(crate) mod parts;
pub mod period;
pub(crate) mod rollup;
pub(crate) mod social;
pub(crate) mod web_shop;

/// The catalogue lives in the domain (the ground floor); this keeps `domain::catalogue` working.
pub use crate::domain::catalogue;
/// Values and their reasons live in the domain, which formulas evaluate on; this keeps
/// `kpi::value` working.
pub use crate::domain::value;
pub use key::{Computed, KpiKey, Parts};

#[cfg(test)]
mod tests {
    use super::{audience, social, web_shop};
    use crate::domain::catalogue;

    #[test]
    fn every_catalogue_kpi_belongs_to_exactly_one_family() {
        for def in catalogue::catalogue() {
            let families = [
                social::Kpi::of(def.id).is_some(),
                web_shop::Kpi::of(def.id).is_some(),
                audience::Kpi::of(def.id).is_some(),
            ];
            assert_eq!(
                families.iter().filter(|f| **f).count(),
                1,
                "{} must be dispatched by one family",
                def.id
            );
        }
    }
}
