//! Prometheus metrics: the series Tally records and the HTTP listener that serves them.
//!
//! Series:
//! - `tally_rpc_requests_total{method,code}` and `tally_rpc_duration_seconds{method,code}`
//!   (histogram), from the RPC layer;
//! - `tally_job_runs_total{status}`, `tally_rows_pulled_total{source}`;
//! - `tally_kpi_compute_seconds` (histogram): one KPI recomputation over a range of days;
//! - `tally_snapshot_lag_seconds{tenant}` (gauge): now minus the compute time of the
//!   tenant's newest snapshot, refreshed every 30 s while metrics are served. `/metrics` has
//!   no authentication, so [`TenantLabel`] decides what the label shows: the tenant id, a
//!   stable hash of it, or nothing (one series, the largest lag of all tenants).
//!
//! The recording functions are cheap no-ops until [`handle`] installs the recorder, which
//! happens only when a server gets a metrics listener. The `metrics` facade has one global
//! recorder per process, so it is installed once and shared: several servers in one process
//! (as in the tests) serve the same series.
use bytes::Bytes;
use http_body_util::Full;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::net::TcpListener;

// Defined in config (a leaf, readable by the settings); its label values are made here.
pub use crate::config::TenantLabel;

impl TenantLabel {
    /// The label value of `tenant`; None when series carry no tenant.
    pub fn of(self, tenant: &str) -> Option<String> {
        use sha2::{Digest, Sha256};
        match self {
            TenantLabel::Id => Some(tenant.to_string()),
            TenantLabel::Hash => {
                // A fixed prefix keeps these digests apart from any other SHA-256 of an id.
                let digest = Sha256::new()
                    .chain_update(b"tally metrics tenant label\0")
                    .chain_update(tenant.as_bytes())
                    .finalize();
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                Some(format!("t{hex}"))
            }
            TenantLabel::None => None,
        }
    }
}

/// Upper bounds of the RPC latency buckets, in seconds.
const RPC_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds of the KPI computation buckets, in seconds: runs over many days are long.
const COMPUTE_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
];
/// How often the snapshot lag gauge is refreshed.
const LAG_REFRESH: Duration = Duration::from_secs(30);
/// How often histogram samples are folded in, so memory stays bounded between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// Counts one RPC with its gRPC path (such as `/tally.v1.KpiService/QuerySnapshots`), its
/// status code name (such as `NOT_FOUND`) and its duration.
pub fn rpc_finished(method: &str, code: &'static str, seconds: f64) {
    let labels = [("method", method.to_string()), ("code", code.to_string())];
    metrics::counter!("tally_rpc_requests_total", &labels).increment(1);
    metrics::histogram!("tally_rpc_duration_seconds", &labels).record(seconds);
}

/// Counts one finished job run by its final status, such as `SUCCEEDED` or `FAILED`.
pub fn job_run_finished(status: &str) {
    metrics::counter!("tally_job_runs_total", "status" => status.to_string()).increment(1);
}

/// Counts rows pulled from a connector source, such as `instagram` or `shopify`.
pub fn rows_pulled(source: &str, rows: u64) {
    metrics::counter!("tally_rows_pulled_total", "source" => source.to_string()).increment(rows);
}

/// Records how long one KPI recomputation took.
pub fn kpi_computed(seconds: f64) {
    metrics::histogram!("tally_kpi_compute_seconds").record(seconds);
}

/// Sets the age of a tenant's newest snapshot, under the tenant's label value (see
/// [`TenantLabel::of`]), or of the oldest newest snapshot of all tenants for None.
pub fn snapshot_lag(tenant: Option<String>, seconds: f64) {
    match tenant {
        Some(tenant) => metrics::gauge!("tally_snapshot_lag_seconds", "tenant" => tenant),
        None => metrics::gauge!("tally_snapshot_lag_seconds"),
    }
    .set(seconds);
}

/// The process's Prometheus recorder, installed on first use.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(install).clone()
}

fn install() -> PrometheusHandle {
    let builder = PrometheusBuilder::new()
        .set_buckets(RPC_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("tally_kpi_compute_seconds".into()),
                COMPUTE_BUCKETS,
            )
        })
        .expect("bucket lists are not empty");
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        // Only an embedding program that installed its own recorder gets here; serve an
        // empty page rather than fail the server.
        tracing::warn!("another metrics recorder is installed; /metrics stays empty");
    }
    describe();
    handle
}

fn describe() {
    use metrics::Unit;
    metrics::describe_counter!(
        "tally_rpc_requests_total",
        "gRPC calls by method and status code"
    );
    metrics::describe_histogram!(
        "tally_rpc_duration_seconds",
        Unit::Seconds,
        "gRPC call duration, until the status was sent"
    );
    metrics::describe_counter!("tally_job_runs_total", "Finished job runs by status");
    metrics::describe_counter!(
        "tally_rows_pulled_total",
        "Rows pulled from connectors by source"
    );
    metrics::describe_histogram!(
        "tally_kpi_compute_seconds",
        Unit::Seconds,
        "Duration of one KPI recomputation over a range of days"
    );
    metrics::describe_gauge!(
        "tally_snapshot_lag_seconds",
        Unit::Seconds,
        "Age of the newest KPI snapshot per tenant"
    );
}

/// Serves `GET /metrics` on `listener` (HTTP/1.1) and refreshes the snapshot lag from
/// `newest_snapshots` (each tenant's newest snapshot time) with tenants named by `label`,
/// until the task is aborted; aborting also closes open scrape connections.
///
/// The caller passes the lookup rather than a store so that metrics, which compute and
/// the RPC layer record into, imports nothing of storage.
pub async fn serve<F, Fut, E>(listener: TcpListener, newest_snapshots: F, label: TenantLabel)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, E>>,
    E: std::fmt::Display,
{
    let handle = handle();
    let mut connections = tokio::task::JoinSet::new();
    let mut upkeep = tokio::time::interval(UPKEEP);
    let mut lag = tokio::time::interval(LAG_REFRESH);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let handle = handle.clone();
                    connections.spawn(serve_connection(stream, handle));
                }
                Err(e) => {
                    // Such as too many open files: wait rather than spin.
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = upkeep.tick() => {
                handle.run_upkeep();
                while connections.try_join_next().is_some() {}
            }
            _ = lag.tick() => refresh_lag(newest_snapshots().await, label),
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, handle: PrometheusHandle) {
    let service = hyper::service::service_fn(move |request| {
        let handle = handle.clone();
        async move { Ok::<_, Infallible>(respond(&request, &handle)) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "metrics connection ended with an error");
    }
}

fn respond<B>(
    request: &http::Request<B>,
    handle: &PrometheusHandle,
) -> http::Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&http::Method::GET, "/metrics") => (
            http::StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            handle.render(),
        ),
        (_, "/metrics") => (
            http::StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        ),
        _ => (
            http::StatusCode::NOT_FOUND,
            "text/plain",
            "metrics are at /metrics\n".into(),
        ),
    };
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

fn refresh_lag(
    newest: Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, impl std::fmt::Display>,
    label: TenantLabel,
) {
    match newest {
        Ok(newest) => {
            let now = chrono::Utc::now();
            let mut largest = None::<f64>;
            for (tenant, time) in newest {
                let age = (now - time).num_milliseconds().max(0) as f64 / 1000.0;
                match label.of(&tenant) {
                    Some(value) => snapshot_lag(Some(value), age),
                    None => largest = Some(largest.map_or(age, |l| l.max(age))),
                }
            }
            if let Some(age) = largest {
                snapshot_lag(None, age);
            }
        }
        // The database watcher reports outages; the gauge keeps its last values meanwhile.
        Err(e) => tracing::debug!(error = %e, "snapshot lag not refreshed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_label_is_stable_and_hides_the_id() {
        let label = TenantLabel::Hash.of("acme").unwrap();
        assert_eq!(label, TenantLabel::Hash.of("acme").unwrap());
        assert_ne!(label, TenantLabel::Hash.of("acme2").unwrap());
        assert!(!label.contains("acme"), "{label}");
        assert_eq!(label.len(), 17);
        assert_eq!(TenantLabel::Id.of("acme").as_deref(), Some("acme"));
        assert_eq!(TenantLabel::None.of("acme"), None);
    }
}
