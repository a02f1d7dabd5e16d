//! End-to-end tests of the gRPC API: a real server on a loopback port, real databases.
mod dynamic;
mod helpers;

mod bad_input;
mod connectors;
mod errors;
mod fakes;
mod faults;
mod follower_flags;
mod goal_tracking;
mod human;
mod ingest;
mod isolation;
mod jobs;
mod kpis;
mod limits;
mod nightly;
mod operations;
mod ops;
mod otlp;
mod paging;
mod read_cache;
mod resources;
mod rule_properties;
mod snapshot_rows;
mod tenancy;
mod upgrades;
