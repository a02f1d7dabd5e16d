//! End-to-end tests of the gRPC API: a real server on a loopback port, real databases.
mod helpers;

mod errors;
mod ingest;
mod jobs;
mod kpis;
mod operations;
mod paging;
mod resources;
mod tenancy;
