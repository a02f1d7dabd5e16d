//! KPIs: the catalogue, values and their reasons, custom KPIs and the engine.
pub mod anomaly;
pub(crate) mod audience;
pub mod custom;
pub(crate) mod directory;
pub(crate) mod goal_eval;
pub(crate) mod key;
pub mod lift;
pub mod lift_sim;
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

use crate::domain::catalogue::RollUp;

/// The roll-up class of a built-in KPI, as its family declares it; None for any other id
/// (custom KPIs are ratios, pushed metrics sums: KPIS.md, roll-up classes).
pub fn roll_up(id: &str) -> Option<RollUp> {
    social::Kpi::of(id)
        .map(social::Kpi::roll_up)
        .or_else(|| web_shop::Kpi::of(id).map(web_shop::Kpi::roll_up))
        .or_else(|| audience::Kpi::of(id).map(audience::Kpi::roll_up))
}

#[cfg(test)]
mod tests {
    use super::{audience, roll_up, social, web_shop};
    use crate::domain::catalogue::{self, RollUp};
    use std::collections::HashSet;

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

    #[test]
    fn roll_up_classes_match_kpis_md_table() {
        // Each list is copied literally from the "Roll-up classes" table of KPIS.md, minus
        // the non-built-in entries ("pushed metrics", "custom KPIs").
        let table: [(RollUp, &str); 6] = [
            (
                RollUp::Sum,
                "posts, mentions, shares, comments, likes, link_clicks, views, social_visitors, influencer_visitors, influencer_new_visitors, giveaway_entries, first_code_buyers, returning_buyers_after_code, attributed_orders, attributed_revenue, fees, segment_shares, segment_mentions, target_audience_visitors",
            ),
            (
                RollUp::Level,
                "followers, segment_followers, followers_became_customers",
            ),
            (RollUp::Boundary, "follower_growth, follower_growth_pct"),
            (RollUp::Distinct, "code_buyers"),
            (
                RollUp::Ratio,
                "shares_per_day, comments_per_post, ipm, ipm_per_post, engagement_rate, engagement_rate_per_post, returning_buyer_rate, profit_per_visitor, roas, cost_per_engagement, cpm",
            ),
            (RollUp::Change, "target_audience_growth"),
        ];
        let mut covered = 0;
        for (class, list) in table {
            let actual: HashSet<&str> = catalogue::catalogue()
                .iter()
                .filter(|k| roll_up(k.id) == Some(class))
                .map(|k| k.id)
                .collect();
            assert_eq!(
                actual,
                list.split(", ").collect(),
                "class {}",
                class.as_str()
            );
            covered += actual.len();
        }
        assert_eq!(covered, catalogue::catalogue().len());
    }
}
