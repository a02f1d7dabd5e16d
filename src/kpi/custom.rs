//! Custom KPIs (KPIS.md: custom KPIs and pushed metrics): a tenant's formulas over KPI ids,
//! other custom KPIs and pushed metric keys, evaluated like ratios on period values.
use crate::domain::catalogue::{self, ScopeKind};
use crate::domain::formula::{self, Formula, FormulaError, NameKind};
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
    input_not_applying(formula, scope, customs, depth).is_none()
}

/// The first built-in KPI a custom KPI uses (directly or through other custom KPIs) that
/// is not measured at a scope, if any: what makes the custom KPI not apply there.
pub fn input_not_applying(
    formula: &Formula,
    scope: ScopeKind,
    customs: &HashMap<String, Formula>,
    depth: usize,
) -> Option<String> {
    // Cycles are refused on write; a chain this deep is one all the same.
    if depth > 32 {
        return Some(formula.text().to_string());
    }
    formula
        .names()
        .into_iter()
        .find_map(|(name, _)| match catalogue::find(&name) {
            Some(def) => (!def.applies_to(scope)).then_some(name),
            None => customs
                .get(&name)
                .and_then(|f| input_not_applying(f, scope, customs, depth + 1)),
        })
}

/// Whether a formula uses one of `targets`, directly or through the custom KPIs it names.
pub fn uses_any(
    formula: &Formula,
    targets: &[&str],
    customs: &HashMap<String, Formula>,
    depth: usize,
) -> bool {
    if depth > 32 {
        return false;
    }
    formula.names().iter().any(|(name, _)| {
        targets.contains(&name.as_str())
            || customs
                .get(name)
                .is_some_and(|f| uses_any(f, targets, customs, depth + 1))
    })
}

/// The ids of the custom KPIs that use one of `targets`, directly or through other custom
/// KPIs, sorted.
pub fn using(customs: &HashMap<String, Formula>, targets: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = customs
        .iter()
        .filter(|(_, f)| uses_any(f, targets, customs, 0))
        .map(|(id, _)| id.clone())
        .collect();
    ids.sort();
    ids
}

/// The formulas of stored custom KPIs by id; one that no longer parses is left out (they
/// were validated when written).
pub fn formulas<'a>(
    stored: impl IntoIterator<Item = &'a crate::domain::Stored<CustomKpi>>,
) -> HashMap<String, Formula> {
    stored
        .into_iter()
        .filter_map(|c| {
            formula::parse(&c.spec.formula)
                .ok()
                .map(|f| (c.id.clone(), f))
        })
        .collect()
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

    #[test]
    fn dependencies_are_followed_through_other_custom_kpis() {
        let mut customs = HashMap::new();
        for (id, text) in [
            ("loyalty", "returning_buyer_rate / 100"),
            ("loyalty_x2", "loyalty * 2"),
            ("per_post", "attributed_revenue / posts"),
            ("social", "likes + brand_searches"),
        ] {
            customs.insert(id.to_string(), formula::parse(text).unwrap());
        }
        let cohort = ["returning_buyers_after_code", "returning_buyer_rate"];
        assert_eq!(using(&customs, &cohort), ["loyalty", "loyalty_x2"]);
        let twice = formula::parse("loyalty_x2 + per_post").unwrap();
        assert!(uses_any(&twice, &cohort, &customs, 0));
        assert_eq!(
            input_not_applying(&twice, ScopeKind::Channel, &customs, 0).as_deref(),
            Some("returning_buyer_rate")
        );
        assert_eq!(
            input_not_applying(&customs["social"], ScopeKind::Channel, &customs, 0),
            None
        );
    }
}
