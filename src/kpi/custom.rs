//! Custom KPIs (KPIS.md: custom KPIs and pushed metrics): a tenant's formulas over KPI ids,
//! other custom KPIs and pushed metric keys, evaluated like ratios on period values.
use super::catalogue::{self, ScopeKind};
use super::formula::{self, Formula, FormulaError, NameKind};
use std::collections::{HashMap, HashSet};

/// The fields of a custom KPI definition.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomKpi {
    /// Name shown to people.
    pub display_name: String,
    /// What it tells.
    pub description: String,
    /// Unit of its values, such as `ratio`.
    pub unit: String,
    /// The formula text.
    pub formula: String,
    /// Version: 1, incremented whenever the formula changes.
    pub version: i32,
}

/// Checks a custom KPI id: a metric-style identifier that is not a built-in KPI.
pub fn check_id(id: &str) -> Result<(), String> {
    crate::domain::observation::check_metric_key(id)
}

/// Parses and validates a formula against what the tenant has: built-in KPIs, its other
/// custom KPIs (`customs`, without the one being written) and pushed metric keys with
/// points (`metrics`); then refuses cycles through `id`.
pub fn validate_formula(
    id: &str,
    text: &str,
    customs: &HashMap<String, Formula>,
    metrics: &HashSet<String>,
) -> Result<Formula, FormulaError> {
    let parsed = formula::parse(text)?;
    parsed.validate(&|name| {
        if catalogue::find(name).is_some() {
            NameKind::Kpi
        } else if name == id || customs.contains_key(name) {
            NameKind::Custom
        } else if metrics.contains(name) {
            NameKind::Metric
        } else {
            NameKind::Unknown
        }
    })?;
    formula::check_cycles(id, &parsed, customs)?;
    Ok(parsed)
}

/// Whether a custom KPI applies to a scope: when all of its inputs do.
pub fn applies_to(
    formula: &Formula,
    scope: ScopeKind,
    customs: &HashMap<String, Formula>,
    depth: usize,
) -> bool {
    if depth > 32 {
        return false;
    }
    formula
        .names()
        .iter()
        .all(|(name, _)| match catalogue::find(name) {
            Some(def) => def.applies_to(scope),
            None => customs
                .get(name)
                .is_none_or(|f| applies_to(f, scope, customs, depth + 1)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_name_known_inputs_and_no_cycles() {
        let metrics: HashSet<String> = ["brand_searches".to_string()].into();
        let mut customs = HashMap::new();
        let ok = validate_formula(
            "reach_per_post",
            "brand_searches / posts",
            &customs,
            &metrics,
        )
        .unwrap();
        customs.insert("reach_per_post".to_string(), ok);
        let err = validate_formula("x", "reach_per_post + nope", &customs, &metrics).unwrap_err();
        assert_eq!(err.column, 18);
        let cycle = validate_formula("reach_per_post", "x", &customs, &metrics);
        assert!(cycle.is_err(), "x is unknown");
        customs.insert(
            "b".to_string(),
            formula::parse("reach_per_post * 2").unwrap(),
        );
        let cycle = validate_formula("reach_per_post", "b + 1", &customs, &metrics).unwrap_err();
        assert!(cycle.message.contains("cycle"), "{}", cycle.message);
        assert!(validate_formula("y", "likes / (2 - 2)", &customs, &metrics).is_err());
    }

    #[test]
    fn custom_kpis_apply_where_all_inputs_do() {
        let customs = HashMap::new();
        let social = formula::parse("(comments + likes) / posts").unwrap();
        assert!(applies_to(&social, ScopeKind::Channel, &customs, 0));
        let money = formula::parse("attributed_revenue / posts").unwrap();
        assert!(!applies_to(&money, ScopeKind::Channel, &customs, 0));
        assert!(applies_to(&money, ScopeKind::Influencer, &customs, 0));
    }
}
