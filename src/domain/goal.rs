//! Goals: SMART targets on one KPI of one scope, and the rules that make a goal SMART.
use super::catalogue::{self, Objective, ScopeKind, SegmentUse};
use super::observation::check_value;
use super::{DomainError, Violations, check_text, names::Collection};
use chrono::NaiveDate;

/// What a KPI is measured on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The whole tenant.
    Tenant,
    /// One influencer with all their channels.
    Influencer(String),
    /// One campaign.
    Campaign(String),
    /// One channel.
    Channel(String),
}

impl Scope {
    /// Parses `tenant`, `influencers/{i}`, `campaigns/{c}` or `channels/{c}`.
    pub fn parse(value: &str) -> Result<Scope, String> {
        if value == "tenant" {
            return Ok(Scope::Tenant);
        }
        let (collection, make): (Collection, fn(String) -> Scope) = match value.split('/').next() {
            Some("influencers") => (Collection::Influencers, Scope::Influencer),
            Some("campaigns") => (Collection::Campaigns, Scope::Campaign),
            Some("channels") => (Collection::Channels, Scope::Channel),
            _ if value.is_empty() => {
                return Err("is required: `tenant`, `influencers/{id}`, `campaigns/{id}` or `channels/{id}`".into());
            }
            _ => {
                return Err(format!(
                    "`{}` is not a scope: use `tenant`, `influencers/{{id}}`, `campaigns/{{id}}` or `channels/{{id}}`",
                    super::names::shorten(value)
                ));
            }
        };
        collection.parse(value).map(|id| make(id.to_string()))
    }

    /// The kind of scope.
    pub fn kind(&self) -> ScopeKind {
        match self {
            Scope::Tenant => ScopeKind::Tenant,
            Scope::Influencer(_) => ScopeKind::Influencer,
            Scope::Campaign(_) => ScopeKind::Campaign,
            Scope::Channel(_) => ScopeKind::Channel,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Tenant => f.write_str("tenant"),
            Scope::Influencer(id) => f.write_str(&Collection::Influencers.name(id)),
            Scope::Campaign(id) => f.write_str(&Collection::Campaigns.name(id)),
            Scope::Channel(id) => f.write_str(&Collection::Channels.name(id)),
        }
    }
}

/// Whether the KPI should rise or fall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Rise to the target or above.
    Up,
    /// Fall to the target or below.
    Down,
}

/// Where a goal starts from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Baseline {
    /// No baseline: only absolute targets make sense.
    None,
    /// A given value.
    Fixed(f64),
    /// The KPI's value before the start, as KPIS.md defines it.
    KpiBeforeStart,
}

/// What a goal aims for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// A value to reach.
    Absolute(f64),
    /// A change relative to the baseline, in percent.
    RelativePercent(f64),
}

/// The fields of a goal.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    /// Name shown to people.
    pub display_name: String,
    /// Objective served.
    pub objective: Option<Objective>,
    /// KPI id.
    pub kpi: String,
    /// Scope text as given; parsed by `validate`.
    pub scope: String,
    /// Segment id, if any.
    pub segment: Option<String>,
    /// Baseline rule.
    pub baseline: Baseline,
    /// Target, if given.
    pub target: Option<Target>,
    /// Direction, if given.
    pub direction: Option<Direction>,
    /// First day.
    pub start_date: Option<NaiveDate>,
    /// Last day.
    pub deadline: Option<NaiveDate>,
    /// Responsible person or team.
    pub owner: String,
    /// Trailing window in days; None for the KPI's default.
    pub trailing_days: Option<i32>,
}

impl Goal {
    /// Checks that the goal is SMART, naming every field that is not, and returns its
    /// parsed scope. Whether the scope and segment exist is checked by storage.
    pub fn validate(&self) -> Result<Scope, DomainError> {
        self.validate_with(&|_| false)
    }

    /// As [`Goal::validate`], where `is_tenant_kpi` tells the tenant's own KPIs: its custom
    /// KPI ids and the pushed metric keys it has data for (such as `brand_searches`).
    /// Those may be measured on any scope.
    pub fn validate_with(
        &self,
        is_tenant_kpi: &dyn Fn(&str) -> bool,
    ) -> Result<Scope, DomainError> {
        let mut v = Violations::default();
        v.check("display_name", check_text(&self.display_name, 200));
        v.check("owner", check_text(&self.owner, 200));

        let kpi = catalogue::find(&self.kpi);
        if self.kpi.is_empty() {
            v.add(
                "kpi",
                "is required (Specific): name one KPI id, see ListKpiDefinitions",
            );
        } else if kpi.is_none() && !is_tenant_kpi(&self.kpi) {
            v.add(
                "kpi",
                format!(
                    "`{}` is not a KPI id, a custom KPI or a pushed metric key with data, see ListKpiDefinitions",
                    super::names::shorten(&self.kpi)
                ),
            );
        }
        match (self.objective, kpi) {
            (None, _) => v.add("objective", "is required (Relevant): the objective the goal serves"),
            (Some(objective), Some(kpi)) if !kpi.objectives.contains(&objective) => v.add(
                "objective",
                format!(
                    "KPI `{}` does not measure {} (Relevant); it serves {}; SuggestKpis lists KPIs that do",
                    kpi.id,
                    objective.as_str(),
                    kpi.objectives.iter().map(|o| o.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ),
            _ => {}
        }

        let scope = Scope::parse(&self.scope);
        match (&scope, kpi) {
            (Err(e), _) => v.add("scope", format!("{e} (Specific)")),
            (Ok(scope), Some(kpi)) if !kpi.applies_to(scope.kind()) => v.add(
                "scope",
                format!(
                    "KPI `{}` is not measured at {} scope",
                    kpi.id,
                    scope.kind().as_str()
                ),
            ),
            _ => {}
        }
        if let Some(kpi) = kpi {
            match (kpi.segment, &self.segment) {
                (SegmentUse::Required, None) => v.add(
                    "segment",
                    format!(
                        "is required: `{}` is an audience KPI measured on a segment",
                        kpi.id
                    ),
                ),
                (SegmentUse::None, Some(_)) => v.add(
                    "segment",
                    format!("must be empty: `{}` takes no segment", kpi.id),
                ),
                _ => {}
            }
        }

        match (self.start_date, self.deadline) {
            (None, _) => v.add("start_date", "is required (Time-bound)"),
            (_, None) => v.add("deadline", "is required (Time-bound)"),
            (Some(start), Some(deadline)) if deadline <= start => v.add(
                "deadline",
                format!("{deadline} is not after start_date {start} (Time-bound)"),
            ),
            _ => {}
        }

        if let Baseline::Fixed(value) = self.baseline
            && let Err(reason) = check_value(value)
        {
            v.add("baseline.value", reason);
        }
        match (self.target, self.direction) {
            (None, _) => v.add(
                "target",
                "is required (Measurable): an absolute value or a relative change",
            ),
            (Some(Target::Absolute(value)), _) if check_value(value).is_err() => v.add(
                "target.absolute_value",
                check_value(value).err().unwrap_or_default(),
            ),
            (Some(Target::RelativePercent(value)), _) if check_value(value).is_err() => v.add(
                "target.relative_change_percent",
                check_value(value).err().unwrap_or_default(),
            ),
            (Some(Target::RelativePercent(_)), _) if self.baseline == Baseline::None => v.add(
                "baseline.rule",
                "a relative target needs a baseline rule: FIXED with a value, or KPI_BEFORE_START",
            ),
            (Some(Target::RelativePercent(pct)), Some(direction))
                if pct == 0.0 || (pct > 0.0) != (direction == Direction::Up) =>
            {
                v.add(
                    "target.relative_change_percent",
                    format!(
                        "{pct}% does not move the KPI {}",
                        if direction == Direction::Up {
                            "up"
                        } else {
                            "down"
                        }
                    ),
                )
            }
            (Some(Target::RelativePercent(pct)), _) if pct <= -100.0 => v.add(
                "target.relative_change_percent",
                format!("{pct}% would take the KPI to zero or below"),
            ),
            (Some(Target::Absolute(target)), Some(direction)) => {
                if let Baseline::Fixed(base) = self.baseline {
                    let moves = if direction == Direction::Up {
                        target > base
                    } else {
                        target < base
                    };
                    if !moves {
                        v.add(
                            "target.absolute_value",
                            format!(
                                "{target} does not move the KPI {} from the baseline {base}",
                                if direction == Direction::Up {
                                    "up"
                                } else {
                                    "down"
                                }
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
        if self.direction.is_none() {
            v.add("direction", "is required: UP or DOWN");
        }
        if let Some(days) = self.trailing_days
            && !(1..=366).contains(&days)
        {
            v.add(
                "trailing_days",
                format!("is {days}; it must be between 1 and 366, or 0 for the default"),
            );
        }
        v.finish()?;
        scope.map_err(|e| DomainError::Invalid(vec![super::Violation::new("scope", e)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn goal() -> Goal {
        Goal {
            display_name: "Loyal buyers".into(),
            objective: Some(Objective::LoyalCustomers),
            kpi: "returning_buyer_rate".into(),
            scope: "influencers/anna".into(),
            segment: None,
            baseline: Baseline::KpiBeforeStart,
            target: Some(Target::RelativePercent(20.0)),
            direction: Some(Direction::Up),
            start_date: NaiveDate::from_ymd_opt(2026, 1, 1),
            deadline: NaiveDate::from_ymd_opt(2026, 12, 31),
            owner: "Marketing".into(),
            trailing_days: None,
        }
    }

    fn fields(goal: &Goal) -> Vec<String> {
        match goal.validate() {
            Ok(_) => vec![],
            Err(DomainError::Invalid(v)) => v.into_iter().map(|v| v.field).collect(),
        }
    }

    #[test]
    fn a_smart_goal_passes() {
        assert_eq!(goal().validate().unwrap(), Scope::Influencer("anna".into()));
    }

    #[test]
    fn each_missing_smart_part_is_named() {
        let mut g = goal();
        g.kpi = "happiness".into();
        assert_eq!(fields(&g), ["kpi"]);
        let mut g = goal();
        g.scope = String::new();
        assert_eq!(fields(&g), ["scope"]);
        let mut g = goal();
        g.deadline = g.start_date;
        assert_eq!(fields(&g), ["deadline"]);
        let mut g = goal();
        g.baseline = Baseline::None;
        assert_eq!(fields(&g), ["baseline.rule"]);
        let mut g = goal();
        g.direction = Some(Direction::Down);
        assert_eq!(fields(&g), ["target.relative_change_percent"]);
        let mut g = goal();
        g.objective = Some(Objective::BrandAwareness);
        assert_eq!(fields(&g), ["objective"]);
    }

    #[test]
    fn tenant_kpis_and_pushed_metrics_can_be_goals() {
        let mut g = goal();
        g.kpi = "brand_searches".into();
        g.objective = Some(Objective::BrandAwareness);
        assert_eq!(fields(&g), ["kpi"], "no data pushed for it");
        assert_eq!(
            g.validate_with(&|k| k == "brand_searches").unwrap(),
            Scope::Influencer("anna".into())
        );
    }

    #[test]
    fn scope_must_fit_the_kpi() {
        let mut g = goal();
        g.scope = "channels/insta".into();
        assert_eq!(fields(&g), ["scope"]);
    }

    #[test]
    fn audience_kpis_need_a_segment() {
        let mut g = goal();
        g.objective = Some(Objective::NewAudience);
        g.kpi = "target_audience_visitors".into();
        assert_eq!(fields(&g), ["segment"]);
        g.segment = Some("designers".into());
        assert_eq!(fields(&g), Vec::<String>::new());
    }

    #[test]
    fn absolute_target_must_move_from_a_fixed_baseline() {
        let mut g = goal();
        g.baseline = Baseline::Fixed(10.0);
        g.target = Some(Target::Absolute(8.0));
        assert_eq!(fields(&g), ["target.absolute_value"]);
        g.direction = Some(Direction::Down);
        assert_eq!(fields(&g), Vec::<String>::new());
    }
}
