//! With the `otlp` feature, `tally serve` exports its spans over OTLP/HTTP to the collector
//! named by OTEL_EXPORTER_OTLP_ENDPOINT (here a loopback fake that records the posts).
#![cfg(feature = "otlp")]
use crate::helpers::{TestDb, create_tenant, with_key};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tally::proto;
use tally::storage::Store;

#[tokio::test]
async fn spans_are_exported_to_the_collector() {
    // A collector that records each POST to /v1/traces: content type and body size.
    let posts: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let recorded = posts.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let recorded = recorded.clone();
                async move {
                    let kind = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    recorded.lock().unwrap().push((kind, body.len()));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(collector, app).await });

    let db = TestDb::sqlite();
    Store::migrate(&db.url()).await.unwrap();
    let store = Store::connect(&db.url(), 1).await.unwrap();
    let key = create_tenant(&store, "traced").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("serve")
        .env("TALLY_INSECURE_DEV_CUSTOMER_KEY", "true")
        .env("TALLY_DATABASE_URL", db.url())
        .env("TALLY_LISTEN_ADDR", addr.to_string())
        .env("TALLY_SCHEDULER_ENABLED", "false")
        .env("TALLY_LOG", "info")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut channel = None;
    for _ in 0..100 {
        if let Ok(c) = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            channel = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut influencers =
        proto::influencer_service_client::InfluencerServiceClient::new(channel.expect("server up"));
    influencers
        .list_influencers(with_key(proto::ListInfluencersRequest::default(), &key))
        .await
        .unwrap();
    for _ in 0..100 {
        if !posts.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let posts = posts.lock().unwrap().clone();
    assert!(!posts.is_empty(), "no spans reached the collector");
    assert!(
        posts
            .iter()
            .all(|(kind, size)| kind == "application/x-protobuf" && *size > 0),
        "{posts:?}"
    );
    server.kill().await.unwrap();
}
