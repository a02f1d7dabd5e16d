//! Goal tracking: measures each goal with the KPI engine, evaluates it (`kpi::goal_eval`),
//! stores the evaluation and announces status changes; and judges, when a goal is set,
//! whether its target is within reach of the growth the KPI has shown.
use super::compute::Engine;
use super::feed::{GoalChange, GoalFeed};
use crate::domain::Stored;
use crate::domain::catalogue::{self, RollUp};
use crate::domain::goal::{Baseline, Direction, Goal, Scope};
use crate::kpi::KpiKey;
use crate::kpi::goal_eval::{
    self, Evaluation, FORECAST_VALUES, ForecastSpread, GoalFacts, Measure,
};
use crate::kpi::period::Period;
use crate::storage::{PageRequest, Result, Store};
use chrono::{Days, NaiveDate};
use std::collections::HashMap;

/// Days after its deadline that a goal is still evaluated, so late data can still settle
/// it; after that its last evaluation stands.
pub const EVALUATED_AFTER_DEADLINE: u64 = 31;

/// How a goal's KPI rolls up and which definition version it has.
fn kpi_kind(kpi: &str, custom_versions: &HashMap<String, i32>) -> (RollUp, i32) {
    if let (Some(def), Some(roll_up)) = (catalogue::find(kpi), crate::kpi::roll_up(kpi)) {
        (roll_up, def.version as i32)
    } else if let Some(version) = custom_versions.get(kpi) {
        // Custom KPIs are ratios of their parts (KPIS.md: roll-ups).
        (RollUp::Ratio, *version)
    } else {
        // A pushed metric: summed over days.
        (RollUp::Sum, 1)
    }
}

/// Measures and evaluates goals of one tenant with one engine.
pub struct Evaluator<'a> {
    engine: Engine<'a>,
    custom_versions: HashMap<String, i32>,
}

impl<'a> Evaluator<'a> {
    /// An evaluator for the tenant's goals.
    pub async fn new(store: &'a Store, tenant: &str) -> Result<Evaluator<'a>> {
        let custom_versions = store
            .custom_kpis(tenant)
            .await?
            .into_iter()
            .map(|c| (c.id, c.spec.version))
            .collect();
        Ok(Evaluator {
            engine: Engine::new(store, tenant).await?,
            custom_versions,
        })
    }

    async fn value(&mut self, key: &KpiKey, period: Period) -> Result<Option<f64>> {
        let values = self
            .engine
            .compute(std::slice::from_ref(key), period)
            .await?;
        Ok(values.first().and_then(|c| c.value.ok()))
    }

    /// The goal's measure and the facts its evaluation needs (the baseline computed).
    async fn facts(&mut self, goal: &Goal) -> Result<Option<(KpiKey, GoalFacts, i32)>> {
        let (Some(start), Some(deadline), Some(target)) =
            (goal.start_date, goal.deadline, goal.target)
        else {
            return Ok(None);
        };
        let Ok(scope) = Scope::parse(&goal.scope) else {
            return Ok(None);
        };
        let (roll_up, version) = kpi_kind(&goal.kpi, &self.custom_versions);
        let measure = Measure::of(roll_up, goal.trailing_days);
        let key = KpiKey {
            kpi: goal.kpi.clone(),
            scope,
            segment: goal.segment.clone(),
        };
        let baseline = match goal.baseline {
            Baseline::None => None,
            Baseline::Fixed(v) => Some(v),
            Baseline::KpiBeforeStart => match measure.baseline_period(start, deadline) {
                Some(period) => self.value(&key, period).await?,
                None => None,
            },
        };
        let facts = GoalFacts {
            measure,
            direction: goal.direction.unwrap_or(Direction::Up),
            start,
            deadline,
            target: goal_eval::target_value(target, baseline),
            baseline,
        };
        Ok(Some((key, facts, version)))
    }

    /// Evaluates a goal as of `as_of`; None before its start or for an incomplete goal.
    pub async fn evaluate(
        &mut self,
        goal: &Goal,
        as_of: NaiveDate,
    ) -> Result<Option<(Evaluation, i32)>> {
        Ok(self
            .evaluate_with_spread(goal, as_of)
            .await?
            .map(|(evaluation, version, _)| (evaluation, version)))
    }

    /// [`Evaluator::evaluate`] with the forecast's 90 % prediction interval and the
    /// probability of reaching the target (`goal_eval::forecast_spread`), when there is a
    /// forecast. Not stored: computed for the answer of GetGoalProgress.
    pub async fn evaluate_with_spread(
        &mut self,
        goal: &Goal,
        as_of: NaiveDate,
    ) -> Result<Option<(Evaluation, i32, Option<ForecastSpread>)>> {
        let Some((key, facts, version)) = self.facts(goal).await? else {
            return Ok(None);
        };
        if as_of < facts.start {
            return Ok(None);
        }
        let m = as_of.min(facts.deadline);
        // Walk back from m: the forecast needs the last 28 defined values, and NO_DATA
        // means no defined value on any day since the start.
        let mut points = Vec::new();
        let mut current = None;
        let mut day = m;
        while day >= facts.start && points.len() < FORECAST_VALUES {
            if let Some(period) = facts.measure.period(facts.start, day) {
                let value = self.value(&key, period).await?;
                if day == m {
                    current = value;
                }
                if let Some(v) = value {
                    points.push((day, v));
                }
            }
            let Some(before) = day.pred_opt() else { break };
            day = before;
        }
        self.engine.clear_cache();
        points.reverse();
        let evaluation = goal_eval::evaluate(&facts, as_of, current, &points);
        let spread = evaluation.forecast.and_then(|f| {
            goal_eval::forecast_spread(
                &points,
                facts.deadline,
                f,
                facts.target,
                facts.direction,
                goal_eval::FORECAST_LEVEL,
            )
        });
        Ok(Some((evaluation, version, spread)))
    }
}

/// Evaluates every active goal of the tenant as of `as_of` (started, and not more than
/// [`EVALUATED_AFTER_DEADLINE`] days past the deadline), stores the evaluations and
/// publishes status changes. Returns how many goals were evaluated.
pub async fn evaluate_goals(
    store: &Store,
    feed: &GoalFeed,
    tenant: &str,
    as_of: NaiveDate,
) -> Result<u64> {
    let mut evaluator = Evaluator::new(store, tenant).await?;
    let mut count = 0;
    let mut after = None;
    loop {
        let page = store
            .list_goals(
                tenant,
                &PageRequest {
                    after: after.clone(),
                    limit: 200,
                },
            )
            .await?;
        for goal in &page.items {
            let spec = &goal.spec;
            let active = spec.start_date.is_some_and(|s| s <= as_of)
                && spec
                    .deadline
                    .is_some_and(|d| as_of <= d + Days::new(EVALUATED_AFTER_DEADLINE));
            if !active {
                continue;
            }
            let Some((evaluation, version)) = evaluator.evaluate(spec, as_of).await? else {
                continue;
            };
            let previous = store
                .previous_goal_evaluation(tenant, &goal.id, as_of)
                .await?;
            store
                .save_goal_evaluation(tenant, &goal.id, &evaluation, version)
                .await?;
            count += 1;
            let before = previous.map(|p| p.evaluation.status);
            if before != Some(evaluation.status) {
                tracing::info!(tenant, goal = %goal.id, status = evaluation.status.as_str(), reason = %evaluation.reason, "goal status changed");
                feed.publish(GoalChange {
                    tenant: tenant.to_string(),
                    goal_id: goal.id.clone(),
                    previous: before,
                    evaluation,
                    definition_version: version,
                });
            }
        }
        match (page.more, page.items.last()) {
            (true, Some(last)) => after = Some(last.id.clone()),
            _ => break,
        }
    }
    Ok(count)
}

/// Whether a goal's target is within reach: compares the change it needs by the deadline
/// with the best change over as many days that the KPI's stored daily history (the year
/// before `today`) shows, and warns when it needs more than `factor` times that. None when
/// the target looks reachable or there is too little history to judge.
pub async fn achievability(
    store: &Store,
    tenant: &str,
    goal: &Stored<Goal>,
    today: NaiveDate,
    factor: f64,
) -> Result<Option<String>> {
    let spec = &goal.spec;
    let mut evaluator = Evaluator::new(store, tenant).await?;
    let Some((key, facts, _)) = evaluator.facts(spec).await? else {
        return Ok(None);
    };
    let Some(target) = facts.target else {
        return Ok(None);
    };
    let Some(history) = Period::new(today - Days::new(365), today) else {
        return Ok(None);
    };
    let series: Vec<(NaiveDate, f64)> = store
        .snapshots(tenant, &key, &history)
        .await?
        .into_iter()
        .filter_map(|s| s.computed.value.ok().map(|v| (s.computed.period.first, v)))
        .collect();
    if series.len() < 2 {
        return Ok(None);
    }
    let span = (facts.deadline - facts.start).num_days().max(1);
    let sign = match facts.direction {
        Direction::Up => 1.0,
        Direction::Down => -1.0,
    };
    let (needed, best, what) = if facts.measure.starts_from_nothing() {
        // Daily values add up to the measure: compare with the best total over a window
        // as long as the goal (scaled up when the history is shorter).
        let best = best_window_total(&series, span);
        (sign * target, sign * best, "total")
    } else {
        let current = series.last().map(|(_, v)| *v).unwrap_or_default();
        (
            sign * (target - current),
            best_change(&series, span, sign),
            "change",
        )
    };
    if needed <= 0.0 {
        return Ok(None);
    }
    let unit = format!("{span} days");
    Ok(if best <= 0.0 {
        Some(format!(
            "the target needs a {what} of {needed:.2} in {unit}, but {} has shown none in the stored history ({} days)",
            spec.kpi,
            series.len()
        ))
    } else if needed > factor * best {
        Some(format!(
            "the target needs a {what} of {needed:.2} in {unit}, {:.1} times the best {what} of {best:.2} in {unit} that {} has shown in the stored history (warning above {factor} times)",
            needed / best,
            spec.kpi
        ))
    } else {
        None
    })
}

/// The largest sum of daily values over `span` consecutive days (by date), scaled up to
/// `span` days when the history is shorter.
fn best_window_total(series: &[(NaiveDate, f64)], span: i64) -> f64 {
    let first = series[0].0;
    let last = series[series.len() - 1].0;
    let covered = (last - first).num_days() + 1;
    if covered <= span {
        let total: f64 = series.iter().map(|(_, v)| v).sum();
        return total * span as f64 / covered as f64;
    }
    let mut best = f64::MIN;
    let mut start = 0;
    let mut sum = 0.0;
    for (day, value) in series {
        sum += value;
        while (*day - series[start].0).num_days() >= span {
            sum -= series[start].1;
            start += 1;
        }
        if (*day - first).num_days() + 1 >= span {
            best = best.max(sum);
        }
    }
    best
}

/// The largest change in the goal's direction between two days at most `span` apart.
fn best_change(series: &[(NaiveDate, f64)], span: i64, sign: f64) -> f64 {
    let mut best = f64::MIN;
    for (i, (from_day, from)) in series.iter().enumerate() {
        for (to_day, to) in &series[i + 1..] {
            if (*to_day - *from_day).num_days() > span {
                break;
            }
            best = best.max(sign * (to - from));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn best_changes_and_totals_over_windows() {
        let series = [
            (day(1), 10.0),
            (day(2), 12.0),
            (day(5), 20.0),
            (day(9), 15.0),
        ];
        // Within 3 days: 12 → 20 (+8); within 10 days: 10 → 20 (+10).
        assert_eq!(best_change(&series, 3, 1.0), 8.0);
        assert_eq!(best_change(&series, 10, 1.0), 10.0);
        // Falling: 20 → 15 (−5 is +5 downwards).
        assert_eq!(best_change(&series, 10, -1.0), 5.0);
        // Two-day windows: 10+12 = 22 is the best; days 3, 4 had nothing.
        assert_eq!(best_window_total(&series, 2), 22.0);
        // A goal longer than the history: the total scaled up, 57 over 9 days → 18 days.
        assert_eq!(best_window_total(&series, 18), 114.0);
    }
}
