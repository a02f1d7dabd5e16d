//! The use-case layer: what Tally does with KPIs, between the API and the KPI math.
//!
//! It owns recompute runs (`recompute`: every daily snapshot of a tenant, written a day at
//! a time), the KPI engine they and live answers use (`compute`: loads the parts a period
//! needs through storage and asks each KPI family of `kpi` for its values), the snapshot
//! queries (`query`: which keys a tenant has, stored snapshots or live values, whether a
//! value is final), the rows clients push, checked against the tenant's data and written
//! (`ingest`), goal tracking (`goals`), the feeds watchers follow (`feed`), the follower
//! flags of a scope (`follower_flags`), campaign lift (`lift`), the create, update and
//! delete of the revisioned resources (`resources`) and the operator's provisioning of
//! tenants, settings and API keys (`tenants`).
//!
//! Data flows one way: `api` converts a request into `kpi`/`domain` types and calls one
//! function here; this layer reads and writes through `storage` and computes with `kpi`;
//! nothing here imports `api` or a proto type.
mod compute;
mod feed;
mod follower_flags;
mod goals;
pub(crate) mod ingest;
pub mod lift;
pub mod query;
mod recompute;
pub(crate) mod resources;
mod rollup;
pub mod tenants;

pub use compute::Engine;
pub use feed::{DayWritten, GoalChange, GoalFeed, SnapshotFeed};
pub use follower_flags::follower_flags;
pub use goals::{EVALUATED_AFTER_DEADLINE, Evaluator, achievability, evaluate_goals};
pub use recompute::{COHORT_KPIS, RunSummary, cohort_kpis, recompute, recompute_cohorts};
