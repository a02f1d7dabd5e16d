//! Goal evaluations: stored per goal and evaluation day, replaced when a day is evaluated
//! again.
use super::entities::goal_evaluation;
use super::{Page, PageRequest, Result, Store};
use crate::kpi::goal_eval::{Evaluation, Status};
use chrono::{NaiveDate, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, EntityTrait, IdenStatic, Iterable, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// A stored evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvaluation {
    /// Goal id.
    pub goal_id: String,
    /// The evaluation.
    pub evaluation: Evaluation,
    /// KPI definition version it used.
    pub definition_version: i32,
    /// When it was made.
    pub evaluate_time: chrono::DateTime<Utc>,
}

fn to_stored(m: goal_evaluation::Model) -> StoredEvaluation {
    StoredEvaluation {
        goal_id: m.goal_id,
        evaluation: Evaluation {
            as_of: m.as_of,
            measured_day: m.measured_day,
            current: m.current_value,
            baseline: m.baseline,
            target: m.target,
            progress: m.progress,
            expected_progress: m.expected_progress,
            forecast: m.forecast,
            forecast_values: m.forecast_values.max(0) as usize,
            status: Status::parse(&m.status).unwrap_or(Status::NoData),
            reason: m.reason,
        },
        definition_version: m.definition_version,
        evaluate_time: m.evaluate_time,
    }
}

impl Store {
    /// Stores an evaluation, replacing one of the same goal and day.
    pub async fn save_goal_evaluation(
        &self,
        tenant_id: &str,
        goal_id: &str,
        evaluation: &Evaluation,
        definition_version: i32,
    ) -> Result<()> {
        use goal_evaluation::Column as C;
        let e = evaluation;
        let model = goal_evaluation::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            goal_id: Set(goal_id.to_string()),
            as_of: Set(e.as_of),
            measured_day: Set(e.measured_day),
            current_value: Set(e.current),
            baseline: Set(e.baseline),
            target: Set(e.target),
            progress: Set(e.progress),
            expected_progress: Set(e.expected_progress),
            forecast: Set(e.forecast),
            forecast_values: Set(e.forecast_values as i32),
            status: Set(e.status.as_str().to_string()),
            reason: Set(e.reason.clone()),
            definition_version: Set(definition_version),
            evaluate_time: Set(Utc::now()),
        };
        let keys = [C::TenantId, C::GoalId, C::AsOf];
        let updates: Vec<C> = C::iter()
            .filter(|c| !keys.iter().any(|k| k.as_str() == c.as_str()))
            .collect();
        goal_evaluation::Entity::insert(model)
            .on_conflict(OnConflict::columns(keys).update_columns(updates).to_owned())
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// The newest evaluation of a goal as of a day before `before`.
    pub async fn previous_goal_evaluation(
        &self,
        tenant_id: &str,
        goal_id: &str,
        before: NaiveDate,
    ) -> Result<Option<StoredEvaluation>> {
        use goal_evaluation::Column as C;
        Ok(goal_evaluation::Entity::find()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::GoalId.eq(goal_id))
            .filter(C::AsOf.lt(before))
            .order_by_desc(C::AsOf)
            .one(&self.db)
            .await?
            .map(to_stored))
    }

    /// A goal's evaluations, newest first; page tokens carry the day (`YYYY-MM-DD`).
    pub async fn list_goal_evaluations(
        &self,
        tenant_id: &str,
        goal_id: &str,
        page: &PageRequest,
    ) -> Result<Page<StoredEvaluation>> {
        use goal_evaluation::Column as C;
        let mut query = goal_evaluation::Entity::find()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::GoalId.eq(goal_id));
        if let Some(after) = page
            .after
            .as_deref()
            .and_then(|a| NaiveDate::parse_from_str(a, "%Y-%m-%d").ok())
        {
            query = query.filter(C::AsOf.lt(after));
        }
        let rows = query
            .order_by_desc(C::AsOf)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let page = Page::from_rows(rows, page.limit);
        Ok(Page {
            items: page.items.into_iter().map(to_stored).collect(),
            more: page.more,
        })
    }

    /// The newest day with stored snapshots of the tenant.
    pub async fn newest_snapshot_day(&self, tenant_id: &str) -> Result<Option<NaiveDate>> {
        use super::entities::kpi_value::Column as S;
        Ok(super::entities::kpi_value::Entity::find()
            .select_only()
            .column(S::Day)
            .filter(S::TenantId.eq(tenant_id))
            .order_by_desc(S::Day)
            .limit(1)
            .into_tuple::<NaiveDate>()
            .one(&self.db)
            .await?)
    }
}
