//! The feeds watchers follow: days of snapshots as a run writes them (WatchSnapshots) and
//! goal status changes as an evaluation finds them. Runs publish; the API subscribes.
use crate::kpi::goal_eval::{Evaluation, Status};
use crate::kpi::period::Period;
use crate::kpi::{Computed, KpiKey, Parts};
use std::collections::HashSet;
use std::sync::Arc;

/// A day of snapshots as a run wrote it, for watchers.
#[derive(Debug)]
pub struct DayWritten {
    /// Tenant.
    pub tenant: String,
    /// Run id.
    pub run_id: String,
    /// The day.
    pub day: chrono::NaiveDate,
    /// The run's keys, shared by every day it writes.
    pub keys: Arc<[KpiKey]>,
    /// The KPIs held to the returning-buyer window as the run started (see
    /// [`super::cohort_kpis`]), for whether a value is final.
    pub cohort_kpis: Arc<HashSet<String>>,
    /// The value of each key, in the order of `keys`.
    pub parts: Vec<Parts>,
}

impl DayWritten {
    /// The day's values of the keys `wanted` keeps, built on demand: a watcher usually
    /// follows a few series of a day's hundred thousand.
    pub fn values<'a>(
        &'a self,
        wanted: impl Fn(&KpiKey) -> bool + 'a,
    ) -> impl Iterator<Item = Computed> + 'a {
        let period = Period::day(self.day);
        self.keys
            .iter()
            .zip(&self.parts)
            .filter(move |(key, _)| wanted(key))
            .map(move |(key, parts)| Computed::new(key, period, *parts))
    }
}

/// Publishes written days to every watcher; cheap to clone.
#[derive(Clone, Debug)]
pub struct SnapshotFeed(tokio::sync::broadcast::Sender<std::sync::Arc<DayWritten>>);

impl Default for SnapshotFeed {
    fn default() -> Self {
        // A day is one message, so a small buffer holds many days of lag.
        SnapshotFeed(tokio::sync::broadcast::channel(64).0)
    }
}

impl SnapshotFeed {
    /// A receiver of days written from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<DayWritten>> {
        self.0.subscribe()
    }

    /// Whether anyone watches: a day is only assembled for watchers.
    pub(super) fn watched(&self) -> bool {
        self.0.receiver_count() > 0
    }

    pub(super) fn publish(&self, day: DayWritten) {
        // No watcher is not an error.
        let _ = self.0.send(std::sync::Arc::new(day));
    }
}

/// A goal's status changed (or it was evaluated for the first time).
#[derive(Clone, Debug)]
pub struct GoalChange {
    /// Tenant.
    pub tenant: String,
    /// Goal id.
    pub goal_id: String,
    /// The status before, if the goal was evaluated before.
    pub previous: Option<Status>,
    /// The new evaluation.
    pub evaluation: Evaluation,
    /// KPI definition version used.
    pub definition_version: i32,
}

/// Publishes goal status changes to every watcher; cheap to clone.
#[derive(Clone, Debug)]
pub struct GoalFeed(tokio::sync::broadcast::Sender<Arc<GoalChange>>);

impl Default for GoalFeed {
    fn default() -> Self {
        GoalFeed(tokio::sync::broadcast::channel(1024).0)
    }
}

impl GoalFeed {
    /// A receiver of every change published from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<GoalChange>> {
        self.0.subscribe()
    }

    pub(super) fn publish(&self, change: GoalChange) {
        // No watcher is not an error.
        let _ = self.0.send(Arc::new(change));
    }
}
