//! Custom KPIs: a formula is checked against the tenant's other definitions and pushed
//! metrics; built-in definitions cannot change; one that another formula uses cannot go.
use super::{Checked, Create, Delete, ResourceError, Update};
use crate::domain::catalogue;
use crate::domain::formula::{self, Formula};
use crate::domain::tenant::Tenant;
use crate::domain::{DomainError, Stored, Violation, Violations};
use crate::kpi::custom::CustomKpi;
use crate::storage::{StorageError, Store};
use std::collections::HashMap;

/// The fields an Update changes; None leaves a field as stored.
#[derive(Debug, Default)]
pub struct CustomKpiPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New unit.
    pub unit: Option<String>,
    /// New formula.
    pub formula: Option<String>,
}

/// Refuses `id` when it names a built-in definition, which cannot `change` (`cannot be
/// deleted`).
pub fn not_built_in(id: &str, change: &str) -> Result<(), ResourceError> {
    match catalogue::find(id) {
        Some(_) => Err(ResourceError::FailedPrecondition(format!(
            "kpiDefinitions/{id} is built in and {change}"
        ))),
        None => Ok(()),
    }
}

/// Checks a custom KPI's fields and formula against the tenant's other definitions and
/// pushed metrics.
async fn check(
    store: &Store,
    tenant: &str,
    id: &str,
    spec: &CustomKpi,
) -> Result<Result<(), DomainError>, StorageError> {
    let mut v = Violations::default();
    v.check(
        "display_name",
        crate::domain::check_text(&spec.display_name, 200),
    );
    v.check("unit", crate::domain::check_text(&spec.unit, 32));
    if spec.description.chars().count() > 2000 {
        v.add("description", "is longer than 2000 characters");
    } else if spec
        .description
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        // Lines and tabs are text; other control characters (NUL above all, which
        // PostgreSQL cannot store) are not.
        v.add(
            "description",
            "must not contain control characters other than line breaks and tabs",
        );
    }
    let customs: HashMap<String, Formula> = store
        .custom_kpis(tenant)
        .await?
        .into_iter()
        .filter(|c| c.id != id)
        .filter_map(|c| formula::parse(&c.spec.formula).ok().map(|f| (c.id, f)))
        .collect();
    let metrics = store.metric_key_set(tenant).await?;
    if let Err(e) = crate::kpi::custom::validate_formula(id, &spec.formula, &customs, &metrics) {
        v.add("formula", e.to_string());
    }
    Ok(v.finish())
}

/// Creates a custom KPI; its id must not be a pushed metric key of the tenant (KPIS.md:
/// both would name the same snapshots). `request.id` is the request's `kpi_definition_id`.
pub async fn create(
    store: &Store,
    tenant: &Tenant,
    Checked { request, invalid }: Checked<Create<CustomKpi>>,
) -> Result<Stored<CustomKpi>, ResourceError> {
    let Create { id, spec, .. } = request;
    invalid.finish(check(store, &tenant.id, &id, &spec).await?)?;
    if store.metric_key_exists(&tenant.id, &id).await? {
        return Err(ResourceError::Invalid(vec![Violation::new(
            "kpi_definition_id",
            format!("`{id}` is a pushed metric key of this tenant; give the custom KPI another id"),
        )]));
    }
    Ok(store.create_custom_kpi(&tenant.id, &id, &spec).await?)
}

/// The tenant's custom KPIs, by id.
pub async fn list(store: &Store, tenant: &Tenant) -> Result<Vec<Stored<CustomKpi>>, ResourceError> {
    Ok(store.custom_kpis(&tenant.id).await?)
}

/// The custom KPI `id`, None when the tenant has none of that id.
pub async fn find(
    store: &Store,
    tenant: &Tenant,
    id: &str,
) -> Result<Option<Stored<CustomKpi>>, ResourceError> {
    Ok(list(store, tenant).await?.into_iter().find(|c| c.id == id))
}

/// Applies an Update's patch to the revision it names; a changed formula is a new version.
pub async fn update(
    store: &Store,
    tenant: &Tenant,
    Checked { request, invalid }: Checked<Update<CustomKpiPatch>>,
) -> Result<Stored<CustomKpi>, ResourceError> {
    let id = &request.id;
    not_built_in(id, "cannot change")?;
    let current = find(store, tenant, id)
        .await?
        .ok_or_else(|| ResourceError::NotFound(format!("kpiDefinitions/{id}")))?;
    let current = request.current(current)?;
    let mut spec = current.spec.clone();
    let patch = request.patch;
    if let Some(v) = patch.display_name {
        spec.display_name = v;
    }
    if let Some(v) = patch.description {
        spec.description = v;
    }
    if let Some(v) = patch.unit {
        spec.unit = v;
    }
    if let Some(v) = patch.formula {
        spec.formula = v;
    }
    invalid.finish(check(store, &tenant.id, id, &spec).await?)?;
    let changed = spec.formula != current.spec.formula;
    Ok(store
        .update_custom_kpi(&tenant.id, id, current.revision, &spec, changed)
        .await?)
}

/// Deletes a custom KPI unless another formula uses it (storage refuses one a goal
/// measures). `name` is the request's, for the error of a stale etag.
pub async fn delete(
    store: &Store,
    tenant: &Tenant,
    name: &str,
    request: Delete,
) -> Result<(), ResourceError> {
    let id = request.id.as_str();
    let customs = list(store, tenant).await?;
    let current = customs
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ResourceError::NotFound(format!("kpiDefinitions/{id}")))?;
    if request.revision.is_some_and(|r| r != current.revision) {
        return Err(StorageError::EtagMismatch(name.to_string()).into());
    }
    let used_by: Vec<String> = customs
        .iter()
        .filter(|c| c.id != id)
        .filter(|c| {
            formula::parse(&c.spec.formula).is_ok_and(|f| f.names().iter().any(|(n, _)| n == id))
        })
        .map(|c| c.id.clone())
        .collect();
    Ok(store.delete_custom_kpi(&tenant.id, id, &used_by).await?)
}
