//! Per-key rate limits: a key over its limit gets RESOURCE_EXHAUSTED with the time to wait;
//! other keys are not affected.
use crate::helpers::{TestApp, TestDb, serve_options, with_key};
use std::num::NonZeroU32;
use std::time::Duration;
use tally::api::RateLimit;
use tally::proto;
use tally::proto::influencer_service_client::InfluencerServiceClient;
use tally::server::ServeOptions;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn a_key_over_its_limit_is_told_when_to_retry() {
    let app = TestApp::builder(TestDb::sqlite())
        .options(ServeOptions {
            // One call a second, three at once.
            rate_limit: Some(RateLimit {
                per_second: NonZeroU32::new(1).unwrap(),
                burst: NonZeroU32::new(3).unwrap(),
            }),
            ..serve_options()
        })
        .spawn()
        .await;
    let busy = app.other_tenant("busy").await;
    let calm = app.other_tenant("calm").await;
    let mut client = InfluencerServiceClient::new(app.channel.clone());
    let list = |key: &str| with_key(proto::ListInfluencersRequest::default(), key);
    for _ in 0..3 {
        client.list_influencers(list(&busy)).await.unwrap();
    }
    let status = client.list_influencers(list(&busy)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let retry = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo with a delay");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(1),
        "{retry:?}"
    );
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "RATE_LIMITED"
    );
    // Another key has its own bucket.
    client.list_influencers(list(&calm)).await.unwrap();
    // Waiting as told is enough.
    tokio::time::sleep(retry).await;
    client.list_influencers(list(&busy)).await.unwrap();
    app.stop().await;
}
