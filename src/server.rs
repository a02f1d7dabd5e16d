//! The gRPC server: every tally.v1 service, grpc.health.v1, and reflection (v1 and
//! v1alpha, so grpcurl 1.8 works), on a listener the caller provides.
//!
//! Shutdown is a future the caller passes in: when it completes, health turns NOT_SERVING
//! first, so load balancers stop sending calls, then in-flight calls drain.
//!
//! [`ServeOptions`] adds TLS (or mutual TLS) on the main port, a plaintext listener serving
//! only grpc.health.v1 (the kubelet's gRPC probes cannot speak TLS), and Prometheus metrics.
//! Every call on the main port passes [`crate::rpc_layer::RpcLayer`]: one log line and the
//! RPC metrics; the health listener's probes are neither logged nor counted.
use crate::api::Api;
use crate::config::{ConfigError, Settings};
use crate::proto;
use crate::proto::campaign_service_server::CampaignServiceServer;
use crate::proto::channel_service_server::ChannelServiceServer;
use crate::proto::goal_service_server::GoalServiceServer;
use crate::proto::influencer_service_server::InfluencerServiceServer;
use crate::proto::ingest_service_server::IngestServiceServer;
use crate::proto::job_service_server::JobServiceServer;
use crate::proto::kpi_service_server::KpiServiceServer;
use crate::proto::segment_service_server::SegmentServiceServer;
use crate::proto::tenant_service_server::TenantServiceServer;
use crate::storage::Store;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// Names of the services whose health is reported, besides the overall "".
const SERVICES: &[&str] = &[
    "tally.v1.InfluencerService",
    "tally.v1.ChannelService",
    "tally.v1.CampaignService",
    "tally.v1.SegmentService",
    "tally.v1.GoalService",
    "tally.v1.KpiService",
    "tally.v1.IngestService",
    "tally.v1.JobService",
    "tally.v1.TenantService",
];

/// The listener's connections with Nagle's algorithm off. `serve_with_incoming` ignores
/// the builder's `tcp_nodelay`; with Nagle on, a reply written while the client's delayed
/// ACK of an earlier small frame was pending waited for that ACK: about 40 ms per call on
/// loopback (BENCHMARKS.md, Load).
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|conn| {
        if let Ok(stream) = &conn
            && let Err(e) = stream.set_nodelay(true)
        {
            tracing::debug!(error = %e, "could not turn Nagle's algorithm off");
        }
        conn
    })
}

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The nightly schedule could not start.
    #[error(transparent)]
    Schedule(#[from] crate::jobs::scheduler::ScheduleError),
    /// The reflection descriptors could not be loaded.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The TLS certificate, key or client CA were refused (such as a key that does not
    /// match the certificate).
    #[error("TLS (tls_cert_file, tls_key_file, tls_client_ca_file): {0}")]
    Tls(String),
}

/// How to serve besides the main listener; `Default` is plaintext gRPC alone.
#[derive(Debug)]
pub struct ServeOptions {
    /// Whether the nightly job runs on this replica too.
    pub scheduled: bool,
    /// Longest time in-flight calls get to finish after shutdown.
    pub grace: Duration,
    /// TLS on the main listener; None is plaintext.
    pub tls: Option<Tls>,
    /// Plaintext listener that serves only grpc.health.v1, with the main port's statuses.
    pub health_listener: Option<TcpListener>,
    /// HTTP listener for Prometheus metrics at `/metrics`.
    pub metrics_listener: Option<TcpListener>,
    /// How `/metrics` names tenants.
    pub metrics_tenant_label: crate::metrics::TenantLabel,
    /// Calls each API key may make; None is unlimited.
    pub rate_limit: Option<crate::api::limits::RateLimit>,
    /// Lookups of keys not known to be valid each client address may cause per minute;
    /// None is unlimited.
    pub unknown_key_limit: Option<std::num::NonZeroU32>,
    /// How often the database is pinged to set health SERVING or NOT_SERVING.
    pub database_check_interval: Duration,
    /// How long keys' tenants and hot answers stay cached; zero turns the cache off.
    pub read_cache_ttl: Duration,
    /// Hex SHA-256 of the operator key TenantService accepts; None turns it off.
    pub operator_key_hash: Option<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            scheduled: false,
            grace: Duration::from_secs(20),
            tls: None,
            health_listener: None,
            metrics_listener: None,
            metrics_tenant_label: crate::metrics::TenantLabel::default(),
            rate_limit: None,
            unknown_key_limit: None,
            database_check_interval: Duration::from_millis(
                crate::config::DEFAULT_HEALTH_CHECK_INTERVAL_MS,
            ),
            read_cache_ttl: Duration::from_millis(crate::config::DEFAULT_READ_CACHE_TTL_MS),
            operator_key_hash: None,
        }
    }
}

/// PEM contents of the main port's certificate chain, key and optional client CA.
#[derive(Clone)]
pub struct Tls {
    /// Certificate chain, leaf first.
    pub cert_pem: Vec<u8>,
    /// Private key of the leaf certificate.
    pub key_pem: Vec<u8>,
    /// CA bundle that client certificates must chain to; None accepts any client.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Tls {
    // Never prints the private key, should options end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("mutual", &self.client_ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// A TLS file that cannot be used: the setting, the file and why.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {file}: {why}")]
pub struct TlsFileError {
    /// The setting that names the file.
    pub key: &'static str,
    /// The file.
    pub file: String,
    /// Why it cannot be used.
    pub why: String,
}

impl Tls {
    /// The gRPC port's TLS files, read and checked: None without `tls_cert_file` and
    /// `tls_key_file`; a key, cert or CA missing its partner names the key, and a file that
    /// cannot be read or holds no valid PEM names the key and the file.
    pub fn from_settings(settings: &Settings) -> Result<Option<Tls>, ConfigError> {
        // An empty value (as an unset chart value renders) is the same as unset.
        fn set(value: &Option<String>) -> Option<&str> {
            value.as_deref().filter(|v| !v.is_empty())
        }
        let (cert, key, ca) = (
            set(&settings.tls_cert_file),
            set(&settings.tls_key_file),
            set(&settings.tls_client_ca_file),
        );
        match (cert, key) {
            (None, None) if ca.is_some() => Err(ConfigError::invalid(
                "tls_client_ca_file: mutual TLS needs tls_cert_file and tls_key_file too",
            )),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::invalid(
                "tls_key_file: must be set when tls_cert_file is",
            )),
            (None, Some(_)) => Err(ConfigError::invalid(
                "tls_cert_file: must be set when tls_key_file is",
            )),
            (Some(cert), Some(key)) => Tls::from_files(cert, key, ca)
                .map(Some)
                .map_err(|e| ConfigError::invalid(e.to_string())),
        }
    }

    /// Reads the PEM files and checks that each holds what it should, so a bad file is
    /// reported by name at start rather than as an anonymous handshake failure later.
    pub fn from_files(cert: &str, key: &str, client_ca: Option<&str>) -> Result<Tls, TlsFileError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let read = |setting: &'static str, file: &str| {
            let error = |why: String| TlsFileError {
                key: setting,
                file: file.to_string(),
                why,
            };
            std::fs::read(file).map_err(|e| error(format!("cannot read: {e}")))
        };
        let certificates = |setting: &'static str, file: &str| {
            let pem = read(setting, file)?;
            let error = |why: String| TlsFileError {
                key: setting,
                file: file.to_string(),
                why,
            };
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| error(format!("invalid PEM: {e}")))?;
            if certs.is_empty() {
                return Err(error("no PEM CERTIFICATE in the file".into()));
            }
            Ok(pem)
        };
        let cert_pem = certificates("tls_cert_file", cert)?;
        let key_pem = read("tls_key_file", key)?;
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsFileError {
            key: "tls_key_file",
            file: key.to_string(),
            why: format!("no valid PEM private key: {e}"),
        })?;
        let client_ca_pem = client_ca
            .map(|ca| certificates("tls_client_ca_file", ca))
            .transpose()?;
        Ok(Tls {
            cert_pem,
            key_pem,
            client_ca_pem,
        })
    }

    fn server_config(&self) -> ServerTlsConfig {
        let config =
            ServerTlsConfig::new().identity(Identity::from_pem(&self.cert_pem, &self.key_pem));
        match &self.client_ca_pem {
            // With a client CA, tonic requires a client certificate (client auth is not
            // optional unless asked), which is what mutual TLS means here.
            Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
            None => config,
        }
    }
}

async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for service in SERVICES {
        reporter.set_service_status(*service, status).await;
    }
}

/// Serves until `shutdown` completes, then drains in-flight calls for at most
/// `options.grace`; the health and metrics listeners stop with the main one.
pub async fn serve(
    jobs: crate::jobs::Jobs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> Result<(), ServerError> {
    let ServeOptions {
        scheduled,
        grace,
        tls,
        health_listener,
        metrics_listener,
        metrics_tenant_label,
        rate_limit,
        unknown_key_limit,
        database_check_interval,
        read_cache_ttl,
        operator_key_hash,
    } = options;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &tls {
        builder = builder
            .tls_config(tls.server_config())
            .map_err(|e| ServerError::Tls(error_chain(&e)))?;
    }

    let (reporter, health) = tonic_health::server::health_reporter();
    set_all(&reporter, ServingStatus::Serving).await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    // Readiness follows the database: a probe that fails turns every service
    // NOT_SERVING until the database answers again.
    let watcher = tokio::spawn(watch_database(
        jobs.store().clone(),
        reporter.clone(),
        database_check_interval,
    ));
    // Started before the listeners' tasks, so that a schedule that cannot start leaves
    // none of them behind.
    let schedule = if scheduled {
        Some(crate::jobs::scheduler::Schedule::start(jobs.clone()).await?)
    } else {
        None
    };
    let metrics = metrics_listener.map(|listener| {
        let addr = listener.local_addr().ok();
        tracing::info!(?addr, "serving Prometheus metrics at /metrics");
        let store = jobs.store().clone();
        tokio::spawn(crate::metrics::serve(
            listener,
            move || {
                let store = store.clone();
                async move { store.newest_snapshot_times().await }
            },
            metrics_tenant_label,
        ))
    });
    // The health listener outlives the main server's drain, so probes see NOT_SERVING
    // rather than a refused connection; it stops once the main server has.
    let (health_stop_tx, health_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let health_server = health_listener.map(|listener| {
        let addr = listener.local_addr().ok();
        tracing::info!(?addr, "serving plaintext grpc.health.v1");
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health.clone())
                .serve_with_incoming_shutdown(incoming(listener), async {
                    let _ = health_stop_rx.await;
                }),
        )
    });

    let writes = crate::api::read_cache::WritesLayer::new(jobs.store().clone());
    let api = Api::new(jobs)
        .with_rate_limit(rate_limit)
        .with_unknown_key_limit(unknown_key_limit)
        .with_read_cache(read_cache_ttl)
        .with_operator_key_hash(operator_key_hash);
    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let reporter_for_shutdown = reporter.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: health NOT_SERVING, draining in-flight calls");
        set_all(&reporter_for_shutdown, ServingStatus::NotServing).await;
        let _ = draining_tx.send(());
    };

    let addr = listener.local_addr().ok();
    tracing::info!(?addr, tls = tls.is_some(), "serving gRPC");
    let server = builder
        .layer(crate::rpc_layer::RpcLayer)
        .layer(writes)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InfluencerServiceServer::new(api.clone()))
        .add_service(ChannelServiceServer::new(api.clone()))
        .add_service(CampaignServiceServer::new(api.clone()))
        .add_service(SegmentServiceServer::new(api.clone()))
        .add_service(GoalServiceServer::new(api.clone()))
        .add_service(KpiServiceServer::new(api.clone()))
        .add_service(JobServiceServer::new(api.clone()))
        .add_service(TenantServiceServer::new(api.clone()))
        .add_service(
            IngestServiceServer::new(api)
                .max_decoding_message_size(crate::api::ingest::MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(incoming(listener), signal);
    tokio::pin!(server);

    // Once draining starts, in-flight calls get `grace` to finish.
    let result = tokio::select! {
        result = &mut server => result.map_err(ServerError::from),
        () = async {
            let _ = draining_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(?grace, "calls still in flight after the grace period; stopping anyway");
            Ok(())
        }
    };
    watcher.abort();
    let _ = health_stop_tx.send(());
    if let Some(health_server) = health_server {
        // A long-lived Watch call would hold a graceful stop open; probes are done by now.
        let abort = health_server.abort_handle();
        if tokio::time::timeout(Duration::from_secs(1), health_server)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    if let Some(schedule) = schedule {
        schedule.shutdown().await;
    }
    tracing::info!("server stopped");
    result
}

/// An error and its sources on one line: tonic's TLS errors put the cause in the source.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn watch_database(store: Store, reporter: HealthReporter, every: Duration) {
    let mut healthy = true;
    let mut interval = tokio::time::interval(every);
    // A ping that waited out the pool's acquire timeout must not be followed by a burst.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let ok = store.ping().await.is_ok();
        if ok != healthy {
            healthy = ok;
            if ok {
                tracing::info!("database reachable again: SERVING");
                set_all(&reporter, ServingStatus::Serving).await;
            } else {
                tracing::warn!("database unreachable: NOT_SERVING");
                set_all(&reporter, ServingStatus::NotServing).await;
            }
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_name_the_missing_or_unusable_key() {
        let tls = |toml: &str| Tls::from_settings(&Settings::from_toml(toml).unwrap());
        assert!(tls("").unwrap().is_none());
        assert!(
            tls("tls_cert_file = \"\"\ntls_key_file = \"\"")
                .unwrap()
                .is_none()
        );
        let error = tls("tls_cert_file = \"/c.pem\"").unwrap_err().to_string();
        assert!(error.contains("tls_key_file"), "{error}");
        let error = tls("tls_key_file = \"/k.pem\"").unwrap_err().to_string();
        assert!(error.contains("tls_cert_file"), "{error}");
        let error = tls("tls_client_ca_file = \"/ca.pem\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("tls_client_ca_file"), "{error}");
        let error = tls("tls_cert_file = \"/nonexistent/c.pem\"\ntls_key_file = \"/k.pem\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("tls_cert_file") && error.contains("/nonexistent/c.pem"),
            "{error}"
        );
    }
}
