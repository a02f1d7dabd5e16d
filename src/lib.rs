//! Tally: KPI tracking for influencer and social-media marketing.
//!
//! Layout: `api` converts and validates gRPC messages and calls `storage` with `domain`
//! types; `domain` and `kpi` are plain Rust without I/O; `server` wires the services,
//! health, reflection and shutdown; `cli` is what the `tally` binary runs; `client` holds
//! the commands that work on a running server through the generated gRPC clients alone.
pub mod api;
pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod jobs;
pub mod kpi;
pub mod metrics;
pub mod proto;
pub mod rpc_layer;
pub mod server;
pub mod storage;
pub mod telemetry;

/// Every binary, test and example linking Tally allocates through mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
