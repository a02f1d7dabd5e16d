//! The client side of Tally: the `tally` commands that work on a running server, never on
//! its database or its code. They talk to it only through tally.v1's generated clients
//! ([`crate::proto`]) with the tenant's API key, as any other client would; nothing here
//! imports a server module (api, storage, jobs, compute, goals, server, connectors).
//!
//! - [`address`]: the server's address in its three forms, TLS chosen by the scheme.
//! - [`key`]: where a command finds the API key it sends.
//! - [`files`], [`upload`]: `tally ingest`, an observation file (CSV or NDJSON) read as
//!   ingest rows and sent in batches, with retries and a summary of rejected lines.
//! - [`connection`]: the analysts' commands' address, key, authenticated client and errors;
//!   [`kpi`], [`goals`], [`lists`] (`influencers`, `runs`), [`lift`], [`chart`] and
//!   [`report`] are those commands, printing through [`format`] (tables, units, CSV, JSON);
//!   [`lift_chart`] draws `tally chart --lift` and the report's lift charts;
//!   [`follower_jumps`] says which KPIs show follower jumps and renders the report's audit.
//! - [`progress`]: the progress display of `tally run-job`, which runs the job in-process on
//!   the server side (`cli.rs`) and hands this the numbers.
pub mod address;
pub mod chart;
pub(crate) mod connection;
pub mod files;
pub(crate) mod follower_jumps;
pub(crate) mod format;
pub(crate) mod goal_chart;
pub(crate) mod goals;
pub(crate) mod key;
pub(crate) mod kpi;
pub(crate) mod lift;
pub mod lift_chart;
pub(crate) mod lists;
pub(crate) mod progress;
pub(crate) mod report;
pub mod upload;
