//! Goals: a goal's KPI must be one the catalogue or the tenant has, and Create and Update
//! answer with a warning when the target needs growth far beyond the history.
use super::{Checked, Create, Delete, ResourceError, Update};
use crate::domain::Stored;
use crate::domain::catalogue::Objective;
use crate::domain::goal::{Baseline, Direction, Goal, Target};
use crate::domain::tenant::Tenant;
use crate::kpi::goal_eval::{Evaluation, ForecastSpread};
use crate::storage::goal_evaluations::StoredEvaluation;
use crate::storage::{Page, PageRequest, Store};
use chrono::NaiveDate;
use std::collections::HashSet;

/// The fields an Update changes; None leaves a field as stored.
#[derive(Debug, Default)]
pub struct GoalPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New objective, or none.
    pub objective: Option<Option<Objective>>,
    /// New KPI id.
    pub kpi: Option<String>,
    /// New scope.
    pub scope: Option<String>,
    /// New segment id, or none.
    pub segment: Option<Option<String>>,
    /// New baseline.
    pub baseline: Option<Baseline>,
    /// New target, or none.
    pub target: Option<Option<Target>>,
    /// New direction, or none (the KPI's own).
    pub direction: Option<Option<Direction>>,
    /// New start date.
    pub start_date: Option<NaiveDate>,
    /// New deadline.
    pub deadline: Option<NaiveDate>,
    /// New owner.
    pub owner: Option<String>,
    /// New trailing window in days, or none.
    pub trailing_days: Option<Option<i32>>,
}

impl GoalPatch {
    /// Writes the patch's fields into `goal`; a Create applies the fields it sets to an
    /// empty goal.
    pub fn apply(self, goal: &mut Goal) {
        if let Some(v) = self.display_name {
            goal.display_name = v;
        }
        if let Some(v) = self.objective {
            goal.objective = v;
        }
        if let Some(v) = self.kpi {
            goal.kpi = v;
        }
        if let Some(v) = self.scope {
            goal.scope = v;
        }
        if let Some(v) = self.segment {
            goal.segment = v;
        }
        if let Some(v) = self.baseline {
            goal.baseline = v;
        }
        if let Some(v) = self.target {
            goal.target = v;
        }
        if let Some(v) = self.direction {
            goal.direction = v;
        }
        if let Some(v) = self.start_date {
            goal.start_date = Some(v);
        }
        if let Some(v) = self.deadline {
            goal.deadline = Some(v);
        }
        if let Some(v) = self.owner {
            goal.owner = v;
        }
        if let Some(v) = self.trailing_days {
            goal.trailing_days = v;
        }
    }
}

/// A goal as Create and Update answer it.
#[derive(Debug)]
pub struct Written {
    /// The goal as stored.
    pub stored: Stored<Goal>,
    /// Why its target looks out of reach, if it does.
    pub warning: Option<String>,
}

/// The tenant's own KPI ids a goal may measure: custom KPIs and pushed metric keys.
async fn tenant_kpis(store: &Store, tenant: &str) -> Result<HashSet<String>, ResourceError> {
    let mut ids = store.metric_key_set(tenant).await?;
    ids.extend(store.custom_kpis(tenant).await?.into_iter().map(|c| c.id));
    Ok(ids)
}

/// `stored` with the achievability warning of its target, judged against the tenant's
/// today with `factor` (the job settings' `goal_warning_factor`).
async fn with_warning(
    store: &Store,
    tenant: &Tenant,
    stored: Stored<Goal>,
    factor: f64,
) -> Result<Written, ResourceError> {
    let today = chrono::Utc::now()
        .with_timezone(&tenant.settings.time_zone.parse().unwrap_or(chrono_tz::UTC))
        .date_naive();
    let warning = crate::engine::achievability(store, &tenant.id, &stored, today, factor).await?;
    Ok(Written { stored, warning })
}

/// Creates a goal; `factor` judges its target (see [`Written`]).
pub async fn create(
    store: &Store,
    tenant: &Tenant,
    Checked { request, invalid }: Checked<Create<Goal>>,
    factor: f64,
) -> Result<Written, ResourceError> {
    let spec = request.spec;
    let known = tenant_kpis(store, &tenant.id).await?;
    let scope = invalid.finish(spec.validate_with(&|k| known.contains(k)))?;
    let request_id = request.request_id.as_deref();
    let stored = store
        .create_goal(&tenant.id, &request.id, &spec, &scope, request_id)
        .await?;
    with_warning(store, tenant, stored, factor).await
}

/// The goal `id`.
pub async fn get(store: &Store, tenant: &Tenant, id: &str) -> Result<Stored<Goal>, ResourceError> {
    Ok(store.get_goal(&tenant.id, id).await?)
}

/// One page of the tenant's goals.
pub async fn list(
    store: &Store,
    tenant: &Tenant,
    page: &PageRequest,
) -> Result<Page<Stored<Goal>>, ResourceError> {
    Ok(store.list_goals(&tenant.id, page).await?)
}

/// Applies an Update's patch to the revision it names; `factor` as in [`create`].
pub async fn update(
    store: &Store,
    tenant: &Tenant,
    Checked { request, invalid }: Checked<Update<GoalPatch>>,
    factor: f64,
) -> Result<Written, ResourceError> {
    let current = request.current(store.get_goal(&tenant.id, &request.id).await?)?;
    let mut spec = current.spec.clone();
    request.patch.apply(&mut spec);
    let known = tenant_kpis(store, &tenant.id).await?;
    let scope = invalid.finish(spec.validate_with(&|k| known.contains(k)))?;
    let stored = store
        .update_goal(&tenant.id, &request.id, current.revision, &spec, &scope)
        .await?;
    with_warning(store, tenant, stored, factor).await
}

/// Deletes a goal.
pub async fn delete(store: &Store, tenant: &Tenant, request: Delete) -> Result<(), ResourceError> {
    Ok(store
        .delete_goal(&tenant.id, &request.id, request.revision)
        .await?)
}

/// The goal `id` evaluated as of the newest computed day (`no_data_day` when nothing is
/// computed yet: the jobs' yesterday), with the KPI definition version it used and the
/// forecast's prediction interval and probability of reaching the target, when there is
/// a forecast.
pub async fn progress(
    store: &Store,
    tenant: &Tenant,
    id: &str,
    no_data_day: NaiveDate,
) -> Result<(Stored<Goal>, Evaluation, i32, Option<ForecastSpread>), ResourceError> {
    let goal = store.get_goal(&tenant.id, id).await?;
    let as_of = store
        .newest_snapshot_day(&tenant.id)
        .await?
        .unwrap_or(no_data_day);
    let mut evaluator = crate::engine::Evaluator::new(store, &tenant.id).await?;
    match evaluator.evaluate_with_spread(&goal.spec, as_of).await? {
        Some((evaluation, version, spread)) => Ok((goal, evaluation, version, spread)),
        None => Err(ResourceError::FailedPrecondition(format!(
            "goal `{}` starts on {}, after {as_of}, the newest computed day",
            goal.id,
            goal.spec
                .start_date
                .map(|d| d.to_string())
                .unwrap_or_else(|| "an unset day".into())
        ))),
    }
}

/// One page of the stored evaluations of the goal `id`, which must exist.
pub async fn evaluations(
    store: &Store,
    tenant: &Tenant,
    id: &str,
    page: &PageRequest,
) -> Result<Page<StoredEvaluation>, ResourceError> {
    // The goal must exist in this tenant (NOT_FOUND otherwise).
    store.get_goal(&tenant.id, id).await?;
    Ok(store.list_goal_evaluations(&tenant.id, id, page).await?)
}
