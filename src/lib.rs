//! Tally: KPI tracking for influencer and social-media marketing.
//!
//! # Layout
//!
//! Data flows one way, from the edges down to the ground floor:
//!
//! ```text
//!  client ──gRPC──> api ──> engine ──> kpi ──> domain
//!                    │        │                  ▲
//!                    │        └────> storage ────┘
//!  connectors ──> jobs ──> engine, storage
//! ```
//!
//! - [`domain`]: the ground floor, plain Rust without I/O: resources and their rules, the
//!   KPI catalogue, the sources a pull is for and the observations it yields, values and
//!   their reasons, and the two small languages (segment rules, formulas).
//! - [`kpi`]: the math of KPIS.md as pure functions; each family (social, web/shop,
//!   audience, custom) owns the dispatch of its KPIs.
//! - [`storage`]: sea-orm repositories, one code path for SQLite and PostgreSQL.
//! - [`engine`]: the use cases: compute a period, recompute snapshots, answer snapshot
//!   queries, evaluate goals, and the feeds that watchers follow.
//! - [`connectors`]: one trait; each platform's wire format turned into observations, with
//!   the responses kept for re-deriving.
//! - [`jobs`]: the runner and the nightly schedule: pull, store, recompute, evaluate.
//! - [`api`]: the gRPC services: convert and validate (`TryFrom<proto>` into the request
//!   types of `engine`), one call down (a use case, or the job runner for runs), convert
//!   back.
//! - [`server`], `rpc_layer`, [`metrics`], [`telemetry`]: serving, the per-call layer,
//!   Prometheus metrics, logs and traces.
//! - [`client`]: the commands that work on a running server through the generated
//!   clients alone.
//! - [`cli`] wires both sides for the `tally` binary, [`demo`] runs the embedded demo,
//!   [`config`] reads settings (a leaf), `auth` hashes API keys, [`proto`] is the
//!   generated tally.v1 code.
//!
//! `.ci/module-cycles` fails CI when a top-level module imports one that imports it
//! back, or when `client` imports anything but `proto`.
//!
//! A module is public only where the binary, `tests/`, `examples/` or `fuzz/` reach into
//! it; the rest is `pub(crate)`. Each folder's `mod.rs` re-exports what is meant to be
//! used from outside, and the items below are where a program embedding Tally starts.
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
pub(crate) mod rpc_layer;
pub mod server;
pub mod storage;
pub mod telemetry;

pub use cli::{Cli, run};
pub use config::Settings;
pub use jobs::Jobs;
pub use server::{ServeOptions, serve};
pub use storage::Store;

/// Every binary, test and example linking Tally allocates through mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
