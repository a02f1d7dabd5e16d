//! End-to-end tests of the gRPC API: a real server on a loopback port, real databases.
mod helpers;

mod connectors;
mod errors;
mod fakes;
mod goal_tracking;
mod human;
mod ingest;
mod jobs;
mod kpis;
mod nightly;
mod operations;
mod ops;
mod otlp;
mod paging;
mod resources;
mod tenancy;
