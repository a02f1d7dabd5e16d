//! Goals.
use super::entities::{campaign, channel, goal, influencer, segment};
use super::revisioned::{self, Creating, Resource, still_used};
use super::{Page, PageRequest, Result, StorageError, Store};
use crate::domain::Stored;
use crate::domain::catalogue::Objective;
use crate::domain::goal::{Baseline, Direction, Goal, Scope, Target};
use crate::domain::names::Collection;
use chrono::Utc;
use sea_orm::sea_query::IntoCondition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

/// Refuses with FAILED_PRECONDITION when goals measure the scope `name`.
pub(crate) async fn refuse_if_scope_used(
    txn: &DatabaseTransaction,
    tenant_id: &str,
    name: &str,
) -> Result<()> {
    refuse_if_goals_use(txn, tenant_id, goal::Column::Scope.eq(name), name).await
}

/// Refuses with FAILED_PRECONDITION when goals that `condition` selects use `name`.
pub(crate) async fn refuse_if_goals_use(
    txn: &DatabaseTransaction,
    tenant_id: &str,
    condition: impl IntoCondition,
    name: &str,
) -> Result<()> {
    let goals = goal::Entity::find()
        .filter(goal::Column::TenantId.eq(tenant_id))
        .filter(condition)
        .order_by_asc(goal::Column::Id)
        .all(txn)
        .await?;
    if goals.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = goals
        .iter()
        .map(|g| Collection::Goals.name(&g.id))
        .collect();
    Err(still_used(name, &names))
}

fn corrupt(what: &str, value: &str) -> StorageError {
    StorageError::Database(sea_orm::DbErr::Custom(format!(
        "unknown {what} `{value}` stored"
    )))
}

// Create and Update take the checked scope the goal measures beside its spec, and check
// the columns before anything is claimed, so they use the shared mechanics piece by piece.
impl Resource for goal::Entity {
    type Spec = Goal;
    const CREATE: &'static str = "CreateGoal";

    async fn load(_: &impl ConnectionTrait, model: goal::Model) -> Result<Stored<Goal>> {
        to_domain(model)
    }
}

fn to_domain(model: goal::Model) -> Result<Stored<Goal>> {
    let baseline = match model.baseline_rule.as_str() {
        "none" => Baseline::None,
        "fixed" => Baseline::Fixed(model.baseline_value.unwrap_or_default()),
        "kpi_before_start" => Baseline::KpiBeforeStart,
        other => return Err(corrupt("baseline rule", other)),
    };
    let target = match model.target_kind.as_str() {
        "absolute" => Target::Absolute(model.target_value),
        "relative" => Target::RelativePercent(model.target_value),
        other => return Err(corrupt("target kind", other)),
    };
    let direction = match model.direction.as_str() {
        "up" => Direction::Up,
        "down" => Direction::Down,
        other => return Err(corrupt("direction", other)),
    };
    let objective =
        Objective::parse(&model.objective).ok_or_else(|| corrupt("objective", &model.objective))?;
    Ok(Stored {
        id: model.id,
        revision: model.revision,
        create_time: model.create_time,
        update_time: model.update_time,
        spec: Goal {
            display_name: model.display_name,
            objective: Some(objective),
            kpi: model.kpi,
            scope: model.scope,
            segment: model.segment_id,
            baseline,
            target: Some(target),
            direction: Some(direction),
            start_date: Some(model.start_date),
            deadline: Some(model.deadline),
            owner: model.owner,
            trailing_days: model.trailing_days,
        },
    })
}

/// The stored columns of a validated goal.
struct Columns {
    objective: &'static str,
    baseline_rule: &'static str,
    baseline_value: Option<f64>,
    target_kind: &'static str,
    target_value: f64,
    direction: &'static str,
    start_date: chrono::NaiveDate,
    deadline: chrono::NaiveDate,
}

fn columns(spec: &Goal) -> Result<Columns> {
    let missing = |what: &str| StorageError::InvalidReference(what.into(), "is required".into());
    let (baseline_rule, baseline_value) = match spec.baseline {
        Baseline::None => ("none", None),
        Baseline::Fixed(v) => ("fixed", Some(v)),
        Baseline::KpiBeforeStart => ("kpi_before_start", None),
    };
    let (target_kind, target_value) = match spec.target.ok_or_else(|| missing("target"))? {
        Target::Absolute(v) => ("absolute", v),
        Target::RelativePercent(v) => ("relative", v),
    };
    Ok(Columns {
        objective: spec.objective.ok_or_else(|| missing("objective"))?.as_str(),
        baseline_rule,
        baseline_value,
        target_kind,
        target_value,
        direction: match spec.direction.ok_or_else(|| missing("direction"))? {
            Direction::Up => "up",
            Direction::Down => "down",
        },
        start_date: spec.start_date.ok_or_else(|| missing("start_date"))?,
        deadline: spec.deadline.ok_or_else(|| missing("deadline"))?,
    })
}

/// Checks that the goal's scope and segment exist in the tenant.
async fn check_refs(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    scope: &Scope,
    segment_id: Option<&String>,
) -> Result<()> {
    let key = |id: &String| (tenant_id.to_string(), id.clone());
    let exists = match scope {
        Scope::Tenant => true,
        Scope::Influencer(id) => influencer::Entity::find_by_id(key(id))
            .one(db)
            .await?
            .is_some(),
        Scope::Campaign(id) => campaign::Entity::find_by_id(key(id))
            .one(db)
            .await?
            .is_some(),
        Scope::Channel(id) => channel::Entity::find_by_id(key(id))
            .one(db)
            .await?
            .is_some(),
    };
    if !exists {
        return Err(StorageError::InvalidReference(
            "scope".into(),
            format!("{scope} does not exist"),
        ));
    }
    if let Some(id) = segment_id
        && segment::Entity::find_by_id(key(id))
            .one(db)
            .await?
            .is_none()
    {
        return Err(StorageError::InvalidReference(
            "segment".into(),
            format!("{} does not exist", Collection::Segments.name(id)),
        ));
    }
    Ok(())
}

impl Store {
    /// Creates a goal, or returns the one an earlier call with `request_id` made.
    pub async fn create_goal(
        &self,
        tenant_id: &str,
        id: &str,
        spec: &Goal,
        scope: &Scope,
        request_id: Option<&str>,
    ) -> Result<Stored<Goal>> {
        let c = columns(spec)?;
        let txn = match self
            .begin_create::<goal::Entity>(tenant_id, goal::Entity::CREATE, id, request_id)
            .await?
        {
            Creating::New(txn) => txn,
            Creating::Made(existing) => return self.get_goal(tenant_id, &existing).await,
        };
        check_refs(&txn, tenant_id, scope, spec.segment.as_ref()).await?;
        let now = Utc::now();
        let model = goal::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            id: Set(id.to_string()),
            display_name: Set(spec.display_name.clone()),
            objective: Set(c.objective.to_string()),
            kpi: Set(spec.kpi.clone()),
            scope: Set(scope.to_string()),
            segment_id: Set(spec.segment.clone()),
            baseline_rule: Set(c.baseline_rule.to_string()),
            baseline_value: Set(c.baseline_value),
            target_kind: Set(c.target_kind.to_string()),
            target_value: Set(c.target_value),
            direction: Set(c.direction.to_string()),
            start_date: Set(c.start_date),
            deadline: Set(c.deadline),
            owner: Set(spec.owner.clone()),
            trailing_days: Set(spec.trailing_days),
            revision: Set(1),
            create_time: Set(now),
            update_time: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        to_domain(model)
    }

    /// Gets a goal.
    pub async fn get_goal(&self, tenant_id: &str, id: &str) -> Result<Stored<Goal>> {
        revisioned::get::<goal::Entity>(&self.db, tenant_id, id).await
    }

    /// Lists goals ordered by id.
    pub async fn list_goals(
        &self,
        tenant_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Stored<Goal>>> {
        revisioned::list(&self.db, tenant_id, goal::Entity::find(), page).await
    }

    /// Replaces a goal's fields if its revision is still `revision`.
    pub async fn update_goal(
        &self,
        tenant_id: &str,
        id: &str,
        revision: i64,
        spec: &Goal,
        scope: &Scope,
    ) -> Result<Stored<Goal>> {
        let c = columns(spec)?;
        let txn = self.begin_write().await?;
        check_refs(&txn, tenant_id, scope, spec.segment.as_ref()).await?;
        let columns = goal::Entity::update_many()
            .col_expr(goal::Column::DisplayName, spec.display_name.clone().into())
            .col_expr(goal::Column::Objective, c.objective.into())
            .col_expr(goal::Column::Kpi, spec.kpi.clone().into())
            .col_expr(goal::Column::Scope, scope.to_string().into())
            .col_expr(goal::Column::SegmentId, spec.segment.clone().into())
            .col_expr(goal::Column::BaselineRule, c.baseline_rule.into())
            .col_expr(goal::Column::BaselineValue, c.baseline_value.into())
            .col_expr(goal::Column::TargetKind, c.target_kind.into())
            .col_expr(goal::Column::TargetValue, c.target_value.into())
            .col_expr(goal::Column::Direction, c.direction.into())
            .col_expr(goal::Column::StartDate, c.start_date.into())
            .col_expr(goal::Column::Deadline, c.deadline.into())
            .col_expr(goal::Column::Owner, spec.owner.clone().into())
            .col_expr(goal::Column::TrailingDays, spec.trailing_days.into());
        revisioned::save(&txn, tenant_id, id, revision, columns).await?;
        txn.commit().await?;
        self.get_goal(tenant_id, id).await
    }

    /// Deletes a goal.
    pub async fn delete_goal(
        &self,
        tenant_id: &str,
        id: &str,
        revision: Option<i64>,
    ) -> Result<()> {
        self.delete_resource::<goal::Entity>(tenant_id, id, revision)
            .await
    }
}
