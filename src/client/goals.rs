//! `tally goals`: every goal with its progress, those needing attention first; the same
//! list opens `tally report`.
use super::connection::{Client, Conn, Currency, HumanError, day_text};
use super::format::{self, OutputFormat, num, print_rows, text};
use crate::proto;

/// Arguments of `tally goals`.
#[derive(Debug, clap::Args)]
pub struct GoalsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub currency: Currency,
    #[command(flatten)]
    pub conn: Conn,
}

/// Order of statuses in `tally goals`: what needs attention first.
fn status_rank(status: &str) -> usize {
    [
        "AT_RISK",
        "MISSED",
        "NO_DATA",
        "NOT_STARTED",
        "ON_TRACK",
        "ACHIEVED",
    ]
    .iter()
    .position(|s| *s == status)
    .unwrap_or(6)
}

/// A goal with its evaluation (when it has started).
pub(super) struct GoalProgress {
    pub(super) goal: proto::Goal,
    pub(super) evaluation: Option<proto::GoalEvaluation>,
}

impl GoalProgress {
    pub(super) fn status(&self) -> String {
        match &self.evaluation {
            Some(e) => proto::GoalStatus::try_from(e.status)
                .map(|s| s.as_str_name().to_string())
                .unwrap_or_else(|_| "UNKNOWN".into()),
            None => "NOT_STARTED".into(),
        }
    }

    pub(super) fn scope(&self) -> String {
        if self.goal.segment.is_empty() {
            self.goal.scope.clone()
        } else {
            format!("{} {}", self.goal.scope, self.goal.segment)
        }
    }
}

/// Every goal with its progress, worst status first, then by name.
pub(super) async fn goal_progress(client: &Client) -> Result<Vec<GoalProgress>, HumanError> {
    let mut out = Vec::new();
    for goal in client.list_goals().await? {
        let evaluation = client.progress(&goal.name).await?;
        out.push(GoalProgress { goal, evaluation });
    }
    out.sort_by(|a, b| {
        status_rank(&a.status())
            .cmp(&status_rank(&b.status()))
            .then_with(|| a.goal.name.cmp(&b.goal.name))
    });
    Ok(out)
}

/// Runs `tally goals`.
pub async fn run(args: GoalsArgs) -> Result<(), HumanError> {
    let client = Client::connect(&args.conn).await?;
    let units = client.units().await?;
    let currency = client.currency(&args.currency).await?;
    let currency = currency.as_deref();
    let goals = goal_progress(&client).await?;
    let headers = [
        "status", "goal", "kpi", "scope", "current", "target", "progress", "expected", "reason",
    ];
    let mut human = Vec::new();
    let mut raw = Vec::new();
    for g in &goals {
        let unit = units.get(&g.goal.kpi).map(String::as_str).unwrap_or("");
        let e = g.evaluation.as_ref();
        let show = |v: Option<f64>| {
            v.map(|v| format::value(v, unit, currency))
                .unwrap_or_else(|| "–".into())
        };
        let reason = e.map(|e| e.reason.clone()).unwrap_or_else(|| {
            format!(
                "starts on {}",
                day_text(g.goal.start_date.as_ref()).as_str()
            )
        });
        human.push(vec![
            g.status(),
            g.goal.name.clone(),
            g.goal.kpi.clone(),
            g.scope(),
            show(e.and_then(|e| e.current_value)),
            show(e.and_then(|e| e.target)),
            e.and_then(|e| e.progress_percent)
                .map(format::percent)
                .unwrap_or_else(|| "–".into()),
            e.map(|e| format::percent(e.expected_progress_percent))
                .unwrap_or_else(|| "–".into()),
            format::numbers_in(&reason),
        ]);
        raw.push(vec![
            text(g.status()),
            text(&g.goal.name),
            text(&g.goal.kpi),
            text(g.scope()),
            num(e.and_then(|e| e.current_value)),
            num(e.and_then(|e| e.target)),
            num(e.and_then(|e| e.progress_percent)),
            num(e.map(|e| e.expected_progress_percent)),
            text(reason),
        ]);
    }
    print_rows(args.format, &headers, &human, &raw, &[4, 5, 6, 7]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_needing_attention_come_first() {
        assert_eq!(
            status_rank("AT_RISK") < status_rank("ACHIEVED"),
            status_rank("MISSED") < status_rank("NO_DATA")
        );
    }
}
