//! The read cache of keys and QuerySnapshots/BatchGetLatest answers: a client reads its
//! own writes at once; another replica's writes and a key revoked elsewhere show within
//! the bound README.md gives (twice the time-to-live for answers, once for keys).
use crate::helpers::{TestApp, TestDb, expect_code, serve_options, with_key};
use std::time::Duration;
use tally::proto::channel_service_client::ChannelServiceClient;
use tally::proto::google::r#type::Date;
use tally::proto::ingest_service_client::IngestServiceClient;
use tally::proto::kpi_service_client::KpiServiceClient;
use tally::proto::*;
use tally::server::ServeOptions;
use tally::storage::Store;
use tonic::Code;
use tonic::transport::Channel as Transport;

fn march(day: i32) -> Option<Date> {
    Some(Date {
        year: 2026,
        month: 3,
        day,
    })
}

fn followers(day: i32, followers: i64) -> IngestChannelStatsRequest {
    IngestChannelStatsRequest {
        rows: vec![ChannelDayStats {
            channel: "channels/brand-ig".into(),
            day: march(day),
            followers: Some(followers),
            ..Default::default()
        }],
        all_or_nothing: true,
    }
}

fn series() -> QuerySnapshotsRequest {
    QuerySnapshotsRequest {
        kpi_scope: Some(KpiScope {
            kpi: "followers".into(),
            scope: "channels/brand-ig".into(),
            segment: String::new(),
        }),
        first_day: march(1),
        last_day: march(2),
        granularity: Granularity::Day as i32,
    }
}

fn latest() -> BatchGetLatestRequest {
    BatchGetLatestRequest {
        kpi_scopes: series().kpi_scope.into_iter().collect(),
    }
}

/// (value, run id) per day of [`series`].
async fn read(transport: &Transport, key: &str) -> Vec<(Option<f64>, String)> {
    KpiServiceClient::new(transport.clone())
        .query_snapshots(with_key(series(), key))
        .await
        .expect("QuerySnapshots")
        .into_inner()
        .values
        .into_iter()
        .map(|v| (v.value, v.run_id))
        .collect()
}

/// (value, run id) of the newest stored snapshot.
async fn read_latest(transport: &Transport, key: &str) -> (Option<f64>, String) {
    let value = KpiServiceClient::new(transport.clone())
        .batch_get_latest(with_key(latest(), key))
        .await
        .expect("BatchGetLatest")
        .into_inner()
        .values
        .remove(0);
    (value.value, value.run_id)
}

async fn create_channel(transport: &Transport, key: &str) {
    ChannelServiceClient::new(transport.clone())
        .create_channel(with_key(
            CreateChannelRequest {
                channel_id: "brand-ig".into(),
                channel: Some(Channel {
                    display_name: "Brand".into(),
                    platform: Platform::Instagram as i32,
                    account_id: "brand".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            key,
        ))
        .await
        .expect("CreateChannel");
}

async fn ingest(transport: &Transport, key: &str, request: IngestChannelStatsRequest) {
    let response = IngestServiceClient::new(transport.clone())
        .ingest_channel_stats(with_key(request, key))
        .await
        .expect("IngestChannelStats")
        .into_inner();
    assert_eq!(response.rejected_count, 0, "{:?}", response.rejected);
}

async fn compute(transport: &Transport, key: &str) -> String {
    KpiServiceClient::new(transport.clone())
        .compute_kpis(with_key(
            ComputeKpisRequest {
                first_day: march(1),
                last_day: march(2),
            },
            key,
        ))
        .await
        .expect("ComputeKpis")
        .into_inner()
        .run_id
}

async fn a_client_reads_its_own_writes_at_once(app: TestApp) {
    let (t, key) = (&app.channel, app.key.as_str());
    create_channel(t, key).await;
    ingest(t, key, followers(1, 100)).await;
    // Not yet computed: values on the fly, no run; the 2nd has no data.
    let none = (None, String::new());
    assert_eq!(
        read(t, key).await,
        [(Some(100.0), String::new()), none.clone()]
    );
    // Each read below follows its write within the time-to-live.
    ingest(t, key, followers(1, 150)).await;
    ingest(t, key, followers(2, 170)).await;
    assert_eq!(
        read(t, key).await,
        [(Some(150.0), String::new()), (Some(170.0), String::new())]
    );
    let run = compute(t, key).await;
    assert_eq!(
        read(t, key).await,
        [(Some(150.0), run.clone()), (Some(170.0), run.clone())]
    );
    assert_eq!(read_latest(t, key).await, (Some(170.0), run));
    ingest(t, key, followers(2, 180)).await;
    let run = compute(t, key).await;
    assert_eq!(read_latest(t, key).await, (Some(180.0), run.clone()));
    assert_eq!(read(t, key).await[1], (Some(180.0), run));
    app.stop().await;
}

crate::on_both_databases!(a_client_reads_its_own_writes_at_once);

#[tokio::test]
async fn another_replicas_writes_show_within_twice_the_time_to_live() {
    let ttl = Duration::from_millis(200);
    let options = || ServeOptions {
        read_cache_ttl: ttl,
        ..serve_options()
    };
    // Two replicas, each with its own store (so its own write generations); `admin`
    // stands for another process.
    let replica_a = TestApp::builder(TestDb::sqlite())
        .options(options())
        .spawn()
        .await;
    let replica_b = replica_a.replica().options(options()).spawn().await;
    let admin = Store::connect(&replica_a.db_url(), 1)
        .await
        .expect("connect");
    let key = replica_a.key.clone();
    let (a, b) = (replica_a.channel.clone(), replica_b.channel.clone());
    create_channel(&b, &key).await;
    ingest(&b, &key, followers(1, 100)).await;
    let run = compute(&b, &key).await;
    assert_eq!(read(&a, &key).await[0], (Some(100.0), run));

    // B's write moves only B's generations: A may answer from its cache until the entry
    // has lived twice the time-to-live, and not after.
    ingest(&b, &key, followers(1, 120)).await;
    let run = compute(&b, &key).await;
    tokio::time::sleep(ttl * 2 + Duration::from_millis(100)).await;
    assert_eq!(read(&a, &key).await[0], (Some(120.0), run.clone()));
    assert_eq!(read_latest(&a, &key).await.1, run);

    // A key revoked by another process stops working on A once its entry has expired.
    let (key_id, second) = admin.create_api_key("acme").await.expect("key");
    read(&a, &second).await;
    admin.revoke_api_key("acme", &key_id).await.expect("revoke");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let refused = KpiServiceClient::new(a.clone())
        .query_snapshots(with_key(series(), &second))
        .await;
    expect_code(refused, Code::Unauthenticated);
    replica_a.stop().await;
    replica_b.stop().await;
}
