//! What a run did, day by day: steps and per-source results. Stored as JSON on the run
//! and served by JobService.
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Outcome of a step, a source or a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Worked.
    Succeeded,
    /// Some sources failed; the rest were stored and computed.
    Partial,
    /// Failed.
    Failed,
    /// Not done, with the reason in `detail` (finished earlier, no connector, …).
    Skipped,
    /// Stopped on request.
    Cancelled,
}

impl Outcome {
    /// Stored name, as in the day claims.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// One step of a day: `pull`, `compute`, `recompute_cohorts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Step name.
    pub name: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Rows pulled or snapshots written.
    pub count: u64,
    /// Why it failed or was skipped; empty when it succeeded.
    pub detail: String,
}

/// One source's pull of one day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// Channel id.
    pub channel_id: String,
    /// Connector name.
    pub connector: String,
    /// The day pulled.
    pub day: NaiveDate,
    /// Outcome.
    pub outcome: Outcome,
    /// Rows stored.
    pub rows: u64,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// The error or skip reason; empty when it succeeded.
    pub detail: String,
    /// Rows the platform sent that were not stored, with the reason (at most 20).
    pub skipped_rows: Vec<String>,
    /// Metrics the platform did not give, with the reason; the rest was stored.
    #[serde(default)]
    pub missing: Vec<crate::connectors::MissingMetric>,
    /// The IANA zone of the platform's day when it is not the tenant's; empty otherwise.
    #[serde(default)]
    pub day_zone: String,
}

/// One day of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayReport {
    /// The day.
    pub day: NaiveDate,
    /// Outcome.
    pub outcome: Outcome,
    /// Why it was skipped or failed.
    pub detail: String,
    /// Steps in order.
    pub steps: Vec<StepReport>,
    /// Source pulls.
    pub sources: Vec<SourceReport>,
}

/// Everything a run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Days in order.
    pub days: Vec<DayReport>,
}

impl RunReport {
    /// The run's outcome from its days: failed if any day failed, partial if any was
    /// partial, succeeded otherwise (skipped days do not count against it).
    pub fn outcome(&self) -> Outcome {
        let has = |o: Outcome| self.days.iter().any(|d| d.outcome == o);
        if has(Outcome::Cancelled) {
            Outcome::Cancelled
        } else if has(Outcome::Failed) {
            Outcome::Failed
        } else if has(Outcome::Partial) {
            Outcome::Partial
        } else {
            Outcome::Succeeded
        }
    }

    /// Rows pulled over every day.
    pub fn rows(&self) -> u64 {
        self.days
            .iter()
            .flat_map(|d| &d.sources)
            .map(|s| s.rows)
            .sum()
    }

    /// The JSON stored with the run.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Reads stored JSON; an unreadable report (written by a newer version) reads as empty.
    pub fn from_json(text: &str) -> RunReport {
        serde_json::from_str(text).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(outcome: Outcome) -> DayReport {
        DayReport {
            day: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            outcome,
            detail: String::new(),
            steps: vec![],
            sources: vec![],
        }
    }

    #[test]
    fn the_worst_day_decides_the_run() {
        let run = |outcomes: &[Outcome]| RunReport {
            days: outcomes.iter().map(|o| day(*o)).collect(),
        };
        assert_eq!(run(&[]).outcome(), Outcome::Succeeded);
        assert_eq!(
            run(&[Outcome::Skipped, Outcome::Succeeded]).outcome(),
            Outcome::Succeeded
        );
        assert_eq!(
            run(&[Outcome::Partial, Outcome::Succeeded]).outcome(),
            Outcome::Partial
        );
        assert_eq!(
            run(&[Outcome::Partial, Outcome::Failed]).outcome(),
            Outcome::Failed
        );
        let report = run(&[Outcome::Partial]);
        assert_eq!(RunReport::from_json(&report.to_json()), report);
    }
}
