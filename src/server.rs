//! The gRPC server: every tally.v1 service, grpc.health.v1, and reflection (v1 and
//! v1alpha, so grpcurl 1.8 works), on a listener the caller provides.
//!
//! Shutdown is a future the caller passes in: when it completes, health turns NOT_SERVING
//! first, so load balancers stop sending calls, then in-flight calls drain.
use crate::api::Api;
use crate::proto;
use crate::proto::campaign_service_server::CampaignServiceServer;
use crate::proto::channel_service_server::ChannelServiceServer;
use crate::proto::goal_service_server::GoalServiceServer;
use crate::proto::influencer_service_server::InfluencerServiceServer;
use crate::proto::ingest_service_server::IngestServiceServer;
use crate::proto::job_service_server::JobServiceServer;
use crate::proto::kpi_service_server::KpiServiceServer;
use crate::proto::segment_service_server::SegmentServiceServer;
use crate::storage::Store;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
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
];

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
}

async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for service in SERVICES {
        reporter.set_service_status(*service, status).await;
    }
}

/// Serves until `shutdown` completes, then drains in-flight calls for at most `grace`.
/// With `scheduled`, the nightly job runs on this replica too.
pub async fn serve(
    jobs: crate::jobs::Jobs,
    scheduled: bool,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), ServerError> {
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
    let watcher = tokio::spawn(watch_database(jobs.store().clone(), reporter.clone()));
    let schedule = if scheduled {
        Some(crate::jobs::scheduler::Schedule::start(jobs.clone()).await?)
    } else {
        None
    };

    let api = Api::new(jobs);
    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let reporter_for_shutdown = reporter.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: health NOT_SERVING, draining in-flight calls");
        set_all(&reporter_for_shutdown, ServingStatus::NotServing).await;
        let _ = draining_tx.send(());
    };

    let addr = listener.local_addr().ok();
    tracing::info!(?addr, "serving gRPC");
    let server = tonic::transport::Server::builder()
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
        .add_service(
            IngestServiceServer::new(api)
                .max_decoding_message_size(crate::api::ingest::MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal);
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
    if let Some(schedule) = schedule {
        schedule.shutdown().await;
    }
    tracing::info!("server stopped");
    result
}

async fn watch_database(store: Store, reporter: HealthReporter) {
    let mut healthy = true;
    let mut interval = tokio::time::interval(Duration::from_secs(5));
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
