//! GoalService.
use super::Api;
use super::convert::{self, Mask, Pager};
use super::crud::Resource;
use super::error::{ApiError, Problems};
use super::kpi::{objective_from_proto, objective_to_proto};
use crate::domain::Stored;
use crate::domain::goal::{Baseline, Direction, Goal, Target};
use crate::domain::names::Collection;
use crate::engine::resources::goals::{self, GoalPatch, Written};
use crate::engine::resources::{Checked, Create, Update};
use crate::kpi::goal_eval::{Evaluation, Status as GoalStatus};
use crate::kpi::value::positive_zero;
use crate::proto;
use crate::proto::goal_service_server::GoalService;
use tonic::{Request, Response, Status};

const GOAL: Resource = Resource {
    field: "goal",
    id_field: "goal_id",
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
        // Computed for GetGoalProgress only, which sets them.
        forecast_lower: None,
        forecast_upper: None,
        target_probability: None,
    }
}

/// Stream of WatchGoals.
pub type GoalStream = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<proto::GoalEvaluation, Status>> + Send>,
>;

impl Api {
    /// A goal as Create and Update answer it: with the achievability warning, if any.
    fn written(written: &Written) -> proto::Goal {
        let mut goal = to_proto(&written.stored);
        goal.warnings.extend(written.warning.clone());
        goal
    }

    /// How far beyond its history a goal's target may reach before it is warned about.
    fn warning_factor(&self) -> f64 {
        self.jobs.settings().goal_warning_factor
    }
}

/// Reads each goal field of `msg` that `mask` selects, recording every field that does not
/// convert (left out of the patch, so the goal keeps its value there).
fn patch(msg: &proto::Goal, mask: &Mask, problems: &mut Problems) -> GoalPatch {
    let mut patch = GoalPatch::default();
    if mask.has("display_name") {
        patch.display_name = Some(msg.display_name.clone());
    }
    if mask.has("objective") {
        patch.objective = problems.take(objective_from_proto(msg.objective, "goal.objective"));
    }
    if mask.has("kpi") {
        patch.kpi = Some(msg.kpi.clone());
    }
    if mask.has("scope") {
        patch.scope = Some(msg.scope.clone());
    }
    if mask.has("segment") && msg.segment.is_empty() {
        patch.segment = Some(None);
    } else if mask.has("segment") {
        patch.segment = problems
            .take(convert::parse_name(
                &msg.segment,
                "goal.segment",
                Collection::Segments,
            ))
            .map(|id| Some(id.to_string()));
    }
    if mask.has("baseline") {
        let baseline = msg.baseline.unwrap_or_default();
        match proto::BaselineRule::try_from(baseline.rule) {
            Ok(proto::BaselineRule::Unspecified) | Ok(proto::BaselineRule::KpiBeforeStart)
                if baseline.value != 0.0 =>
            {
                problems.add("goal.baseline.value", "is only allowed with the FIXED rule");
            }
            Ok(proto::BaselineRule::Unspecified) => patch.baseline = Some(Baseline::None),
            Ok(proto::BaselineRule::Fixed) => {
                patch.baseline = Some(Baseline::Fixed(baseline.value));
            }
            Ok(proto::BaselineRule::KpiBeforeStart) => {
                patch.baseline = Some(Baseline::KpiBeforeStart);
            }
            Err(_) => problems.add(
                "goal.baseline.rule",
                format!("{} is not a BaselineRule value", baseline.rule),
            ),
        }
    }
    if mask.has("target") {
        patch.target = Some(
            msg.target
                .as_ref()
                .and_then(|t| t.kind)
                .map(|kind| match kind {
                    proto::target::Kind::AbsoluteValue(v) => Target::Absolute(v),
                    proto::target::Kind::RelativeChangePercent(v) => Target::RelativePercent(v),
                }),
        );
    }
    if mask.has("direction") {
        match proto::Direction::try_from(msg.direction) {
            Ok(proto::Direction::Unspecified) => patch.direction = Some(None),
            Ok(proto::Direction::Up) => patch.direction = Some(Some(Direction::Up)),
            Ok(proto::Direction::Down) => patch.direction = Some(Some(Direction::Down)),
            Err(_) => problems.add(
                "goal.direction",
                format!("{} is not a Direction value", msg.direction),
            ),
        }
    }
    if mask.has("start_date") {
        patch.start_date = problems.take(convert::parse_date(
            msg.start_date.as_ref(),
            "goal.start_date",
        ));
    }
    if mask.has("deadline") {
        patch.deadline = problems.take(convert::parse_date(msg.deadline.as_ref(), "goal.deadline"));
    }
    if mask.has("owner") {
        patch.owner = Some(msg.owner.clone());
    }
    if mask.has("trailing_days") {
        patch.trailing_days = Some((msg.trailing_days != 0).then_some(msg.trailing_days));
    }
    patch
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
    patch(msg, &mask, problems).apply(&mut goal);
    goal
}

impl TryFrom<proto::CreateGoalRequest> for Checked<Create<Goal>> {
    type Error = ApiError;

    fn try_from(req: proto::CreateGoalRequest) -> Result<Self, ApiError> {
        let mut problems = Problems::default();
        let ids = GOAL.create_ids(&mut problems, &req.goal_id, &req.request_id);
        let msg = problems.required(req.goal, "goal");
        let spec = read_new(&msg, &mut problems);
        GOAL.create(ids, spec, problems)
    }
}

impl TryFrom<proto::UpdateGoalRequest> for Checked<Update<GoalPatch>> {
    type Error = ApiError;

    fn try_from(req: proto::UpdateGoalRequest) -> Result<Self, ApiError> {
        let (msg, target, mut problems) = GOAL.updating(
            req.goal,
            req.update_mask.as_ref(),
            |m| (m.name.as_str(), m.etag.as_str()),
            set_fields,
        )?;
        let patch = patch(&msg, &target.mask, &mut problems);
        GOAL.update(target, patch, problems)
    }
}

#[tonic::async_trait]
impl GoalService for Api {
    async fn create_goal(
        &self,
        request: Request<proto::CreateGoalRequest>,
    ) -> Result<Response<proto::Goal>, Status> {
        let factor = self.warning_factor();
        let create = async |store: &_, tenant: &_, create: Checked<Create<Goal>>| {
            goals::create(store, tenant, create, factor).await
        };
        self.write(&GOAL, request, create, Api::written).await
    }

    async fn get_goal(
        &self,
        request: Request<proto::GetGoalRequest>,
    ) -> Result<Response<proto::Goal>, Status> {
        self.read(&GOAL, request, |r| r.name.as_str(), goals::get, to_proto)
            .await
    }

    async fn list_goals(
        &self,
        request: Request<proto::ListGoalsRequest>,
    ) -> Result<Response<proto::ListGoalsResponse>, Status> {
        let (goals, next_page_token) = self
            .page(
                request,
                |r| (r.page_size, r.page_token.as_str()),
                goals::list,
                to_proto,
            )
            .await?;
        Ok(Response::new(proto::ListGoalsResponse {
            goals,
            next_page_token,
        }))
    }

    async fn update_goal(
        &self,
        request: Request<proto::UpdateGoalRequest>,
    ) -> Result<Response<proto::Goal>, Status> {
        let factor = self.warning_factor();
        let update = async |store: &_, tenant: &_, update: Checked<Update<GoalPatch>>| {
            goals::update(store, tenant, update, factor).await
        };
        self.write(&GOAL, request, update, Api::written).await
    }

    async fn delete_goal(
        &self,
        request: Request<proto::DeleteGoalRequest>,
    ) -> Result<Response<()>, Status> {
        self.remove(
            &GOAL,
            request,
            |r| (r.name.as_str(), r.etag.as_str()),
            goals::delete,
        )
        .await
    }

    async fn get_goal_progress(
        &self,
        request: Request<proto::GetGoalProgressRequest>,
    ) -> Result<Response<proto::GoalEvaluation>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = GOAL.id(&request.get_ref().name)?;
        let yesterday = crate::jobs::yesterday(chrono::Utc::now(), &tenant);
        let (goal, evaluation, version, spread) =
            goals::progress(&self.store, &tenant, id, yesterday)
                .await
                .map_err(ApiError::from)?;
        let mut answer = evaluation_to_proto(&goal.id, &evaluation, version, None);
        if let Some(spread) = spread {
            answer.forecast_lower = Some(positive_zero(spread.lower));
            answer.forecast_upper = Some(positive_zero(spread.upper));
            answer.target_probability = spread.probability;
        }
        Ok(Response::new(answer))
    }

    async fn list_goal_evaluations(
        &self,
        request: Request<proto::ListGoalEvaluationsRequest>,
    ) -> Result<Response<proto::ListGoalEvaluationsResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let id = convert::parse_name(&req.parent, "parent", Collection::Goals)?;
        let pager = Pager::new(req.page_size, &req.page_token, &[&req.parent])?;
        let page = goals::evaluations(&self.store, &tenant, id, pager.request())
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
            goals::get(&self.store, &tenant, id)
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
