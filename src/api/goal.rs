//! GoalService.
use super::Api;
use super::convert::{self, Mask, Pager};
use super::crud::{Resource, Updating};
use super::error::{ApiError, Problems};
use super::kpi::{objective_from_proto, objective_to_proto};
use crate::domain::Stored;
use crate::domain::goal::{Baseline, Direction, Goal, Target};
use crate::domain::names::Collection;
use crate::kpi::goal_eval::{Evaluation, Status as GoalStatus};
use crate::kpi::value::positive_zero;
use crate::proto;
use crate::proto::goal_service_server::GoalService;
use tonic::{Request, Response, Status};

const GOAL: Resource = Resource {
    field: "goal",
    collection: Collection::Goals,
    updatable: &[
        "display_name",
        "objective",
        "kpi",
        "scope",
        "segment",
        "baseline",
        "target",
        "direction",
        "start_date",
        "deadline",
        "owner",
        "trailing_days",
    ],
};

fn to_proto(stored: &Stored<Goal>) -> proto::Goal {
    let s = &stored.spec;
    let baseline = match s.baseline {
        Baseline::None => proto::Baseline {
            rule: proto::BaselineRule::Unspecified as i32,
            value: 0.0,
        },
        Baseline::Fixed(value) => proto::Baseline {
            rule: proto::BaselineRule::Fixed as i32,
            value,
        },
        Baseline::KpiBeforeStart => proto::Baseline {
            rule: proto::BaselineRule::KpiBeforeStart as i32,
            value: 0.0,
        },
    };
    proto::Goal {
        name: Collection::Goals.name(&stored.id),
        display_name: s.display_name.clone(),
        objective: s
            .objective
            .map(|o| objective_to_proto(o) as i32)
            .unwrap_or_default(),
        kpi: s.kpi.clone(),
        scope: s.scope.clone(),
        segment: s
            .segment
            .as_deref()
            .map(|id| Collection::Segments.name(id))
            .unwrap_or_default(),
        baseline: Some(baseline),
        target: s.target.map(|t| proto::Target {
            kind: Some(match t {
                Target::Absolute(v) => proto::target::Kind::AbsoluteValue(v),
                Target::RelativePercent(v) => proto::target::Kind::RelativeChangePercent(v),
            }),
        }),
        direction: match s.direction {
            Some(Direction::Up) => proto::Direction::Up,
            Some(Direction::Down) => proto::Direction::Down,
            None => proto::Direction::Unspecified,
        } as i32,
        start_date: s.start_date.and_then(convert::date),
        deadline: s.deadline.and_then(convert::date),
        owner: s.owner.clone(),
        trailing_days: s.trailing_days.unwrap_or_default(),
        create_time: convert::timestamp(stored.create_time),
        update_time: convert::timestamp(stored.update_time),
        etag: stored.etag(),
        warnings: vec![],
    }
}

fn status_to_proto(status: GoalStatus) -> proto::GoalStatus {
    match status {
        GoalStatus::OnTrack => proto::GoalStatus::OnTrack,
        GoalStatus::AtRisk => proto::GoalStatus::AtRisk,
        GoalStatus::Achieved => proto::GoalStatus::Achieved,
        GoalStatus::Missed => proto::GoalStatus::Missed,
        GoalStatus::NoData => proto::GoalStatus::NoData,
    }
}

fn evaluation_to_proto(
    goal_id: &str,
    e: &Evaluation,
    definition_version: i32,
    previous: Option<GoalStatus>,
) -> proto::GoalEvaluation {
    proto::GoalEvaluation {
        goal: Collection::Goals.name(goal_id),
        as_of: convert::date(e.as_of),
        measured_day: convert::date(e.measured_day),
        current_value: e.current.map(positive_zero),
        baseline: e.baseline.map(positive_zero),
        target: e.target.map(positive_zero),
        progress_percent: e.progress.map(positive_zero),
        expected_progress_percent: positive_zero(e.expected_progress),
        forecast: e.forecast.map(positive_zero),
        forecast_values: e.forecast_values as i32,
        status: status_to_proto(e.status) as i32,
        reason: e.reason.clone(),
        definition_version,
        previous_status: previous
            .map(|p| status_to_proto(p) as i32)
            .unwrap_or_default(),
    }
}

/// Stream of WatchGoals.
pub type GoalStream = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<proto::GoalEvaluation, Status>> + Send>,
>;

impl Api {
    /// A goal as returned by Create and Update: with the achievability warning, if any.
    async fn with_warnings(
        &self,
        tenant: &crate::domain::tenant::Tenant,
        stored: &Stored<Goal>,
    ) -> Result<proto::Goal, ApiError> {
        let today = chrono::Utc::now()
            .with_timezone(&tenant.settings.time_zone.parse().unwrap_or(chrono_tz::UTC))
            .date_naive();
        let warning = crate::engine::achievability(
            &self.store,
            &tenant.id,
            stored,
            today,
            self.jobs.settings().goal_warning_factor,
        )
        .await?;
        let mut goal = to_proto(stored);
        goal.warnings.extend(warning);
        Ok(goal)
    }
}

/// Reads each goal field of `msg` that `mask` selects into `goal`, recording every field
/// that does not convert (the goal keeps its value there).
fn apply(goal: &mut Goal, msg: &proto::Goal, mask: &Mask, problems: &mut Problems) {
    if mask.has("display_name") {
        goal.display_name = msg.display_name.clone();
    }
    if mask.has("objective") {
        goal.objective = problems.or(
            objective_from_proto(msg.objective, "goal.objective"),
            goal.objective,
        );
    }
    if mask.has("kpi") {
        goal.kpi = msg.kpi.clone();
    }
    if mask.has("scope") {
        goal.scope = msg.scope.clone();
    }
    if mask.has("segment") && msg.segment.is_empty() {
        goal.segment = None;
    } else if mask.has("segment") {
        goal.segment = problems
            .take(convert::parse_name(
                &msg.segment,
                "goal.segment",
                Collection::Segments,
            ))
            .map(str::to_string)
            .or(goal.segment.take());
    }
    if mask.has("baseline") {
        let baseline = msg.baseline.unwrap_or_default();
        match proto::BaselineRule::try_from(baseline.rule) {
            Ok(proto::BaselineRule::Unspecified) | Ok(proto::BaselineRule::KpiBeforeStart)
                if baseline.value != 0.0 =>
            {
                problems.add("goal.baseline.value", "is only allowed with the FIXED rule");
            }
            Ok(proto::BaselineRule::Unspecified) => goal.baseline = Baseline::None,
            Ok(proto::BaselineRule::Fixed) => goal.baseline = Baseline::Fixed(baseline.value),
            Ok(proto::BaselineRule::KpiBeforeStart) => goal.baseline = Baseline::KpiBeforeStart,
            Err(_) => problems.add(
                "goal.baseline.rule",
                format!("{} is not a BaselineRule value", baseline.rule),
            ),
        }
    }
    if mask.has("target") {
        goal.target = msg
            .target
            .as_ref()
            .and_then(|t| t.kind)
            .map(|kind| match kind {
                proto::target::Kind::AbsoluteValue(v) => Target::Absolute(v),
                proto::target::Kind::RelativeChangePercent(v) => Target::RelativePercent(v),
            });
    }
    if mask.has("direction") {
        match proto::Direction::try_from(msg.direction) {
            Ok(proto::Direction::Unspecified) => goal.direction = None,
            Ok(proto::Direction::Up) => goal.direction = Some(Direction::Up),
            Ok(proto::Direction::Down) => goal.direction = Some(Direction::Down),
            Err(_) => problems.add(
                "goal.direction",
                format!("{} is not a Direction value", msg.direction),
            ),
        }
    }
    if mask.has("start_date") {
        goal.start_date = problems
            .take(convert::parse_date(
                msg.start_date.as_ref(),
                "goal.start_date",
            ))
            .or(goal.start_date);
    }
    if mask.has("deadline") {
        goal.deadline = problems
            .take(convert::parse_date(msg.deadline.as_ref(), "goal.deadline"))
            .or(goal.deadline);
    }
    if mask.has("owner") {
        goal.owner = msg.owner.clone();
    }
    if mask.has("trailing_days") {
        goal.trailing_days = (msg.trailing_days != 0).then_some(msg.trailing_days);
    }
}

fn set_fields(msg: &proto::Goal) -> Vec<&'static str> {
    [
        ("display_name", !msg.display_name.is_empty()),
        ("objective", msg.objective != 0),
        ("kpi", !msg.kpi.is_empty()),
        ("scope", !msg.scope.is_empty()),
        ("segment", !msg.segment.is_empty()),
        ("baseline", msg.baseline.is_some()),
        ("target", msg.target.is_some()),
        ("direction", msg.direction != 0),
        ("start_date", msg.start_date.is_some()),
        ("deadline", msg.deadline.is_some()),
        ("owner", !msg.owner.is_empty()),
        ("trailing_days", msg.trailing_days != 0),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect()
}

fn empty_goal() -> Goal {
    Goal {
        display_name: String::new(),
        objective: None,
        kpi: String::new(),
        scope: String::new(),
        segment: None,
        baseline: Baseline::None,
        target: None,
        direction: None,
        start_date: None,
        deadline: None,
        owner: String::new(),
        trailing_days: None,
    }
}

/// Reads every field the message sets into a new goal, recording each that does not
/// convert.
fn read_new(msg: &proto::Goal, problems: &mut Problems) -> Goal {
    let mut goal = empty_goal();
    let mask = Mask::Fields(set_fields(msg).into_iter().map(String::from).collect());
    apply(&mut goal, msg, &mask, problems);
    goal
}

impl Api {
    /// The tenant's own KPI ids a goal may measure: custom KPIs and pushed metric keys.
    async fn tenant_kpis(
        &self,
        tenant: &str,
    ) -> Result<std::collections::HashSet<String>, ApiError> {
        let mut ids = self.store.metric_key_set(tenant).await?;
        ids.extend(
            self.store
                .custom_kpis(tenant)
                .await?
                .into_iter()
                .map(|c| c.id),
        );
        Ok(ids)
    }
}

#[tonic::async_trait]
impl GoalService for Api {
    async fn create_goal(
        &self,
        request: Request<proto::CreateGoalRequest>,
    ) -> Result<Response<proto::Goal>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        let mut problems = Problems::default();
        let id = problems.or(
            convert::new_id(&req.goal_id, "goal_id", Collection::Goals),
            String::new(),
        );
        let request_id = problems.or(convert::request_id(&req.request_id), None);
        let msg = problems.required(req.goal, "goal");
        let spec = read_new(&msg, &mut problems);
        let known = self.tenant_kpis(&tenant.id).await?;
        let scope = problems.domain(spec.validate_with(&|k| known.contains(k)), "goal");
        problems.finish()?;
        let Some(scope) = scope else {
            return Err(Problems::default().refuse().into());
        };
        let stored = self
            .store
            .create_goal(&tenant.id, &id, &spec, &scope, request_id)
            .await
            .map_err(|e| ApiError::from_storage(e, "goal"))?;
        Ok(Response::new(self.with_warnings(&tenant, &stored).await?))
    }

    async fn get_goal(
        &self,
        request: Request<proto::GetGoalRequest>,
    ) -> Result<Response<proto::Goal>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = GOAL.id(&request.get_ref().name)?;
        let stored = self
            .store
            .get_goal(&tenant.id, id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn list_goals(
        &self,
        request: Request<proto::ListGoalsRequest>,
    ) -> Result<Response<proto::ListGoalsResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let pager = Pager::new(req.page_size, &req.page_token, &[])?;
        let page = self
            .store
            .list_goals(&tenant.id, pager.request())
            .await
            .map_err(ApiError::from)?;
        let next_page_token = pager.next_token(&page, page.items.last().map(|s| s.id.as_str()));
        Ok(Response::new(proto::ListGoalsResponse {
            goals: page.items.iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_goal(
        &self,
        request: Request<proto::UpdateGoalRequest>,
    ) -> Result<Response<proto::Goal>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        let msg = GOAL.required(req.goal)?;
        let mut problems = Problems::default();
        let Updating { id, mask, current } = GOAL
            .load_for_update(
                &mut problems,
                (&msg.name, &msg.etag),
                req.update_mask.as_ref(),
                || set_fields(&msg),
                |id| self.store.get_goal(&tenant.id, id),
            )
            .await?;
        let mut spec = current.spec.clone();
        apply(&mut spec, &msg, &mask, &mut problems);
        let known = self.tenant_kpis(&tenant.id).await?;
        let scope = problems.domain(spec.validate_with(&|k| known.contains(k)), "goal");
        problems.finish()?;
        let Some(scope) = scope else {
            return Err(Problems::default().refuse().into());
        };
        let stored = self
            .store
            .update_goal(&tenant.id, id, current.revision, &spec, &scope)
            .await
            .map_err(|e| ApiError::from_storage(e, "goal"))?;
        Ok(Response::new(self.with_warnings(&tenant, &stored).await?))
    }

    async fn delete_goal(
        &self,
        request: Request<proto::DeleteGoalRequest>,
    ) -> Result<Response<()>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        GOAL.delete((&req.name, &req.etag), |id, revision| {
            self.store.delete_goal(&tenant.id, id, revision)
        })
        .await
    }

    async fn get_goal_progress(
        &self,
        request: Request<proto::GetGoalProgressRequest>,
    ) -> Result<Response<proto::GoalEvaluation>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = GOAL.id(&request.get_ref().name)?;
        let goal = self
            .store
            .get_goal(&tenant.id, id)
            .await
            .map_err(ApiError::from)?;
        let as_of = match self
            .store
            .newest_snapshot_day(&tenant.id)
            .await
            .map_err(ApiError::from)?
        {
            Some(day) => day,
            None => crate::jobs::yesterday(chrono::Utc::now(), &tenant),
        };
        let mut evaluator = crate::engine::Evaluator::new(&self.store, &tenant.id)
            .await
            .map_err(ApiError::from)?;
        match evaluator
            .evaluate(&goal.spec, as_of)
            .await
            .map_err(ApiError::from)?
        {
            Some((evaluation, version)) => Ok(Response::new(evaluation_to_proto(
                &goal.id,
                &evaluation,
                version,
                None,
            ))),
            None => Err(ApiError::FailedPrecondition(format!(
                "goal `{}` starts on {}, after {as_of}, the newest computed day",
                goal.id,
                goal.spec
                    .start_date
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "an unset day".into())
            ))
            .into()),
        }
    }

    async fn list_goal_evaluations(
        &self,
        request: Request<proto::ListGoalEvaluationsRequest>,
    ) -> Result<Response<proto::ListGoalEvaluationsResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let id = convert::parse_name(&req.parent, "parent", Collection::Goals)?;
        // The goal must exist in this tenant (NOT_FOUND otherwise).
        self.store
            .get_goal(&tenant.id, id)
            .await
            .map_err(ApiError::from)?;
        let pager = Pager::new(req.page_size, &req.page_token, &[&req.parent])?;
        let page = self
            .store
            .list_goal_evaluations(&tenant.id, id, pager.request())
            .await
            .map_err(ApiError::from)?;
        let last = page.items.last().map(|e| e.evaluation.as_of.to_string());
        let next_page_token = pager.next_token(&page, last.as_deref());
        Ok(Response::new(proto::ListGoalEvaluationsResponse {
            evaluations: page
                .items
                .iter()
                .map(|e| evaluation_to_proto(id, &e.evaluation, e.definition_version, None))
                .collect(),
            next_page_token,
        }))
    }

    type WatchGoalsStream = GoalStream;

    async fn watch_goals(
        &self,
        request: Request<proto::WatchGoalsRequest>,
    ) -> Result<Response<GoalStream>, Status> {
        use futures_util::StreamExt;
        let (tenant, key) = self.authenticate(&request).await?;
        let req = request.get_ref();
        if req.goals.len() > 1000 {
            return Err(ApiError::invalid("goals", "at most 1000 per call").into());
        }
        let mut wanted = std::collections::HashSet::new();
        for (i, name) in req.goals.iter().enumerate() {
            let id = convert::parse_name(name, &format!("goals[{i}]"), Collection::Goals)?;
            self.store
                .get_goal(&tenant.id, id)
                .await
                .map_err(ApiError::from)?;
            wanted.insert(id.to_string());
        }
        let tenant_id = tenant.id.clone();
        let changes =
            tokio_stream::wrappers::BroadcastStream::new(self.jobs.goal_feed().subscribe());
        let stream = changes.filter_map(move |change| {
            let item = match change {
                Ok(c) if c.tenant == tenant_id && (wanted.is_empty() || wanted.contains(&c.goal_id)) => {
                    Some(Ok(evaluation_to_proto(
                        &c.goal_id,
                        &c.evaluation,
                        c.definition_version,
                        c.previous,
                    )))
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "a WatchGoals consumer fell behind and missed changes");
                    None
                }
            };
            std::future::ready(item)
        });
        Ok(Response::new(Box::pin(
            self.until_revoked(key, Box::pin(stream)),
        )))
    }
}
