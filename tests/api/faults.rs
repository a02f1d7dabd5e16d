//! Proof under faults: the database going away mid-run behind a loopback proxy, a kill -9
//! of the server during an ingest and during a compute, and a week of nightly runs with
//! 30% of the platforms' answers failing. Each test prints its figures (run with
//! `--nocapture` to see them).
use crate::fakes::*;
use crate::helpers::{
    TestApp, TestDb, create_tenant, influencer_with_channels, serve_options, with_key,
};
use crate::nightly::{
    GA4_PROPERTY, IG_ACCOUNT, Platforms, X_USER, YT_CHANNEL, snapshot_rows,
    tenant_with_every_platform,
};
use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tally::connectors::{Credentials, HttpSettings, live_registry};
use tally::domain::channel::Platform;
use tally::domain::tenant::Tenant;
use tally::jobs::{self, JobSettings, Jobs};
use tally::kpi::period::Period;
use tally::proto;
use tally::proto::ingest_service_client::IngestServiceClient;
use tally::proto::kpi_service_client::KpiServiceClient;
use tally::storage::Store;
use tally::storage::entities::{kpi_snapshot, order, order_code};
use tokio::net::{TcpListener, TcpStream};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tonic_types::StatusExt;

/// Waits for `condition`, failing the test (not hanging it) after `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < limit, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Data every fault test writes and checks

fn date(day: NaiveDate) -> Option<proto::google::r#type::Date> {
    Some(proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

/// The range every compute of these tests covers.
fn compute_range() -> Period {
    let first = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    Period::new(first, first + Days::new(299)).unwrap()
}

/// One row per day of the range and channel; `version` changes every number.
fn stats(channels: &[&str], version: i64) -> proto::IngestChannelStatsRequest {
    let range = compute_range();
    let mut rows = Vec::new();
    for channel in channels {
        for (i, day) in range.iter_days().enumerate() {
            let i = i as i64;
            rows.push(proto::ChannelDayStats {
                channel: format!("channels/{channel}"),
                day: date(day),
                followers: Some(1_000 * version + 3 * i),
                posts: Some(i % 3),
                likes: Some(version * 50 + i % 17),
                comments: Some(version + i % 5),
                views: Some(version * 900 + i),
                reach: Some(version * 400 + i % 11),
                ..Default::default()
            });
        }
    }
    proto::IngestChannelStatsRequest {
        rows,
        all_or_nothing: true,
    }
}

const BATCHES: usize = 30;
const BATCH_ROWS: usize = 2_000;

/// Batch `b` of the ingest tests: orders `bNNN-NNNNN`, each with one discount code, so a
/// batch writes two tables. Placed after the compute range, so they change no snapshot
/// a compute test compares.
fn orders(b: usize) -> proto::IngestOrdersRequest {
    let placed = Utc
        .with_ymd_and_hms(2026, 6, 1, 8, 0, 0)
        .unwrap()
        .timestamp();
    proto::IngestOrdersRequest {
        rows: (0..BATCH_ROWS)
            .map(|i| proto::Order {
                order_id: format!("b{b:03}-{i:05}"),
                customer_id: format!("c{}", i % 500),
                placed_at: Some(prost_types::Timestamp {
                    seconds: placed + i as i64,
                    nanos: 0,
                }),
                currency_code: "EUR".into(),
                revenue_minor: 4_500,
                discount_minor: 500,
                discount_codes: vec![format!("CODE{}", i % 7)],
                ..Default::default()
            })
            .collect(),
        all_or_nothing: true,
    }
}

/// Stored (orders, order codes) per batch.
async fn stored_batches(store: &Store) -> BTreeMap<usize, (usize, usize)> {
    let batch = |id: &str| id[1..4].parse::<usize>().expect("a batch's order id");
    let mut counts = BTreeMap::new();
    for o in order::Entity::find()
        .filter(order::Column::TenantId.eq("acme"))
        .all(store.connection())
        .await
        .unwrap()
    {
        counts.entry(batch(&o.order_id)).or_insert((0, 0)).0 += 1;
    }
    for c in order_code::Entity::find()
        .filter(order_code::Column::TenantId.eq("acme"))
        .all(store.connection())
        .await
        .unwrap()
    {
        counts.entry(batch(&c.order_id)).or_insert((0, 0)).1 += 1;
    }
    counts
}

/// Asserts that every batch is wholly stored or absent, and every acknowledged one
/// stored; returns how many batches are stored.
fn assert_whole_or_absent(
    counts: &BTreeMap<usize, (usize, usize)>,
    acknowledged: &BTreeSet<usize>,
) -> usize {
    for (b, &(orders, codes)) in counts {
        assert_eq!(
            (orders, codes),
            (BATCH_ROWS, BATCH_ROWS),
            "batch {b} is half-written"
        );
    }
    for b in acknowledged {
        assert!(counts.contains_key(b), "acknowledged batch {b} was lost");
    }
    counts.len()
}

/// Migrates the database at `url` and sets up tenant acme with influencer anna and her
/// Instagram and YouTube channels; returns a store on it and acme's API key.
async fn anna_of_acme(url: &str) -> (Store, String) {
    Store::migrate(url).await.unwrap();
    let direct = Store::connect(url, 3).await.unwrap();
    let key = create_tenant(&direct, "acme").await;
    anna(&direct).await;
    (direct, key)
}

/// Anna of `acme`, with her Instagram and YouTube channels.
async fn anna(store: &Store) {
    influencer_with_channels(
        store,
        "acme",
        "anna",
        "Anna",
        &[
            ("anna-ig", Platform::Instagram),
            ("anna-yt", Platform::YouTube),
        ],
    )
    .await;
}

/// One day's stored snapshots: the compute runs that wrote them and their values.
#[derive(Debug, Default, PartialEq)]
struct DaySet {
    runs: BTreeSet<String>,
    rows: Vec<String>,
}

async fn day_sets(store: &Store) -> BTreeMap<NaiveDate, DaySet> {
    use sea_orm::QueryOrder;
    let mut days: BTreeMap<NaiveDate, DaySet> = BTreeMap::new();
    for s in kpi_snapshot::Entity::find()
        .filter(kpi_snapshot::Column::TenantId.eq("acme"))
        .order_by_asc(kpi_snapshot::Column::Day)
        .order_by_asc(kpi_snapshot::Column::KpiId)
        .order_by_asc(kpi_snapshot::Column::Scope)
        .order_by_asc(kpi_snapshot::Column::SegmentId)
        .all(store.connection())
        .await
        .unwrap()
    {
        let day = days.entry(s.day).or_default();
        day.runs.insert(s.run_id.clone());
        day.rows.push(format!(
            "{} {} {} {:?} {:?} {:?} {:?}",
            s.kpi_id, s.scope, s.segment_id, s.value, s.reason, s.numerator, s.denominator
        ));
    }
    days
}

/// Whether a compute other than `old_run` has written a day.
async fn wrote_a_new_day(store: &Store, old_run: &str) -> bool {
    kpi_snapshot::Entity::find()
        .filter(kpi_snapshot::Column::TenantId.eq("acme"))
        .filter(kpi_snapshot::Column::RunId.ne(old_run))
        .one(store.connection())
        .await
        .unwrap()
        .is_some()
}

/// Waits, up to two minutes, until a compute other than `old_run` has written a day.
async fn until_a_new_day(what: &str, store: &Store, old_run: &str) {
    eventually(what, Duration::from_secs(120), move || {
        wrote_a_new_day(store, old_run)
    })
    .await;
}

/// Asserts that each day holds all of its old snapshots or all of its new ones, written
/// by one run; returns (days still old, days new).
fn assert_old_or_new(
    after: &BTreeMap<NaiveDate, DaySet>,
    old: &BTreeMap<NaiveDate, DaySet>,
    new: &BTreeMap<NaiveDate, DaySet>,
    old_run: &str,
) -> (usize, usize) {
    let days: BTreeSet<&NaiveDate> = old.keys().chain(new.keys()).chain(after.keys()).collect();
    let empty = DaySet::default();
    let (mut still_old, mut renewed) = (0, 0);
    for day in days {
        let now = after.get(day).unwrap_or(&empty);
        assert_eq!(now.runs.len(), 1, "{day}: snapshots of several runs");
        let was = old.get(day).unwrap_or(&empty);
        let will = new.get(day).unwrap_or(&empty);
        if now.runs.contains(old_run) {
            assert_eq!(now.rows, was.rows, "{day}: a partial old set");
            still_old += 1;
        } else {
            assert_eq!(now.rows, will.rows, "{day}: a partial new set");
            renewed += 1;
        }
    }
    (still_old, renewed)
}

// ---------------------------------------------------------------------------------------
// The database going away: a loopback proxy in front of PostgreSQL

/// A loopback TCP proxy that can cut every connection it carries and turn new ones away
/// (accepted and closed at once, as a database that went away does to a client), or stall:
/// hold every byte, as a link that stopped carrying packets does.
struct Proxy {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    cut: Arc<tokio::sync::watch::Sender<u64>>,
    stalled: Arc<tokio::sync::watch::Sender<bool>>,
    connections: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    task: tokio::task::AbortHandle,
}

/// Copies `from` to `to`, holding what it read while the proxy is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.wait_for(|s| !*s).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::watch::channel(0u64).0);
        let stalled = Arc::new(tokio::sync::watch::channel(false).0);
        let connections = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let (o, c, st, n, r) = (
            open.clone(),
            cut.clone(),
            stalled.clone(),
            connections.clone(),
            refused.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if !o.load(Ordering::SeqCst) {
                    r.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                n.fetch_add(1, Ordering::SeqCst);
                let mut stop = c.subscribe();
                let stalled = st.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        () = pump(client_read, server_write, stalled.clone()) => {}
                        () = pump(server_read, client_write, stalled) => {}
                        _ = stop.changed() => {}
                    }
                });
            }
        })
        .abort_handle();
        Proxy {
            addr,
            open,
            cut,
            stalled,
            connections,
            refused,
            task,
        }
    }

    /// Drops every carried connection and turns new ones away.
    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Holds every byte in both directions, on carried and new connections alike.
    fn stall(&self, stalled: bool) {
        self.stalled.send_replace(stalled);
    }

    /// Lets traffic through again.
    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn health(channel: &Channel) -> i32 {
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

/// Sends order batches from `next` on, below `limit`, until one fails; records the
/// acknowledged ones and returns the code of the failure.
async fn send_batches(
    client: IngestServiceClient<Channel>,
    key: String,
    next: Arc<AtomicUsize>,
    limit: usize,
    acknowledged: Arc<Mutex<BTreeSet<usize>>>,
) -> Option<Code> {
    let mut client = client;
    loop {
        let b = next.fetch_add(1, Ordering::SeqCst);
        if b >= limit {
            return None;
        }
        match client.ingest_orders(with_key(orders(b), &key)).await {
            Ok(response) => {
                assert_eq!(response.get_ref().accepted_count, BATCH_ROWS as i32);
                acknowledged.lock().unwrap().insert(b);
            }
            Err(status) => return Some(status.code()),
        }
    }
}

/// A server whose database connections pass a [`Proxy`], over a fresh PostgreSQL database
/// with tenant `acme` and Anna's Instagram and YouTube channels. The test's own view of
/// the database (`app.store`) goes past the proxy.
struct Proxied {
    app: TestApp,
    proxy: Proxy,
}

impl Proxied {
    /// None when TALLY_TEST_POSTGRES_URL is unset.
    async fn start() -> Option<Proxied> {
        let Some(db) = TestDb::postgres().await else {
            eprintln!("TALLY_TEST_POSTGRES_URL not set: the database proxy test skipped");
            return None;
        };
        let mut proxied = reqwest::Url::parse(&db.url()).unwrap();
        let upstream = SocketAddr::new(
            proxied.host_str().unwrap().parse().unwrap(),
            proxied.port().unwrap_or(5432),
        );
        let proxy = Proxy::start(upstream).await;
        proxied.set_port(Some(proxy.addr.port())).unwrap();
        let app = TestApp::builder(db)
            // The health check runs at its default interval (TALLY_HEALTH_CHECK_INTERVAL_MS),
            // so the delays printed below are what a deployment sees.
            .options(serve_options())
            .server_url(proxied.as_str())
            .before_serve(|store| async move { anna(&store).await })
            .spawn()
            .await;
        assert_eq!(health(&app.channel).await, ServingStatus::Serving as i32);
        Some(Proxied { app, proxy })
    }

    /// A call that needs the database, bounded so that a hang fails the test.
    async fn list(&self) -> Result<proto::ListInfluencersResponse, tonic::Status> {
        let mut influencers = tally::proto::influencer_service_client::InfluencerServiceClient::new(
            self.app.channel.clone(),
        );
        let call = influencers.list_influencers(with_key(
            proto::ListInfluencersRequest::default(),
            &self.app.key,
        ));
        tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("the call answers rather than hangs")
            .map(tonic::Response::into_inner)
    }

    async fn health_becomes(&self, status: ServingStatus) -> Duration {
        let started = Instant::now();
        eventually(
            &format!("health {status:?}"),
            Duration::from_secs(60),
            || async { health(&self.app.channel).await == status as i32 },
        )
        .await;
        started.elapsed()
    }

    async fn stop(self) {
        self.app.stop().await;
    }
}

/// Asserts that a failed call says the database is unavailable and when to retry.
#[track_caller]
fn assert_unavailable(status: &tonic::Status) {
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "DATABASE_UNAVAILABLE"
    );
    assert!(status.get_details_retry_info().is_some(), "{status:?}");
}

#[tokio::test]
async fn the_database_going_away_mid_run_turns_health_not_serving_and_calls_unavailable_then_recovers()
 {
    let started = Instant::now();
    let Some(p) = Proxied::start().await else {
        return;
    };
    let (direct, key, proxy) = (&p.app.store, p.app.key.as_str(), &p.proxy);
    let channel = &p.app.channel;
    let mut kpis = KpiServiceClient::new(channel.clone());
    let mut ingest = IngestServiceClient::new(channel.clone());

    // The old snapshots, then new numbers that the interrupted compute starts writing.
    let range = compute_range();
    let compute = proto::ComputeKpisRequest {
        first_day: date(range.first),
        last_day: date(range.last),
    };
    ingest
        .ingest_channel_stats(with_key(stats(&["anna-ig", "anna-yt"], 1), key))
        .await
        .unwrap();
    let old_run = kpis
        .compute_kpis(with_key(compute, key))
        .await
        .unwrap()
        .into_inner()
        .run_id;
    let old = day_sets(direct).await;
    ingest
        .ingest_channel_stats(with_key(stats(&["anna-ig", "anna-yt"], 2), key))
        .await
        .unwrap();

    // Mid-run: a 300-day compute and a stream of ingest batches are in flight.
    let computing = {
        let mut kpis = kpis.clone();
        let request = with_key(compute, key);
        tokio::spawn(async move { kpis.compute_kpis(request).await })
    };
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    // More batches than the run can send before the cut: the stream is still going.
    let sending = tokio::spawn(send_batches(
        ingest.clone(),
        key.to_string(),
        next.clone(),
        1_000,
        acknowledged.clone(),
    ));
    until_a_new_day("the compute's first new day", direct, &old_run).await;
    eventually("an acknowledged batch", Duration::from_secs(120), || {
        let acknowledged = acknowledged.clone();
        async move { !acknowledged.lock().unwrap().is_empty() }
    })
    .await;
    proxy.cut();
    let cut_at = Instant::now();

    // The calls in flight fail with UNAVAILABLE, and so do new ones, without hanging.
    let interrupted = computing.await.unwrap();
    assert_unavailable(&interrupted.expect_err("the compute was cut off mid-run"));
    let ingest_failure = sending.await.unwrap();
    assert_eq!(ingest_failure, Some(Code::Unavailable));
    p.health_becomes(ServingStatus::NotServing).await;
    let not_serving_after = cut_at.elapsed();
    let call_started = Instant::now();
    assert_unavailable(&p.list().await.expect_err("no database, no answer"));
    let unavailable_after = call_started.elapsed();

    // Nothing half-written: each batch whole or absent, each day all old or all new.
    let acknowledged = acknowledged.lock().unwrap().clone();
    let sent = next.load(Ordering::SeqCst);
    let stored = assert_whole_or_absent(&stored_batches(direct).await, &acknowledged);
    let after = day_sets(direct).await;

    // Traffic flows again: SERVING and answering, with no restart.
    proxy.restore();
    let serving_after = p.health_becomes(ServingStatus::Serving).await;
    p.list().await.expect("answers once the database is back");
    let new_run = kpis
        .compute_kpis(with_key(compute, key))
        .await
        .unwrap()
        .into_inner()
        .run_id;
    let new = day_sets(direct).await;
    assert!(new.values().all(|d| d.runs.contains(&new_run)));
    let (still_old, renewed) = assert_old_or_new(&after, &old, &new, &old_run);
    assert!(renewed > 0 && still_old > 0, "cut mid-compute");
    // Every batch sent again converges to exactly the full data.
    for b in 0..sent {
        ingest
            .ingest_orders(with_key(orders(b), key))
            .await
            .unwrap();
    }
    let counts = stored_batches(direct).await;
    assert_eq!(assert_whole_or_absent(&counts, &(0..sent).collect()), sent);

    eprintln!(
        "database cut: health NOT_SERVING {:?} after the cut (health checked every {:?}); a call failed UNAVAILABLE in {:?}; \
         {sent} batches sent, {} acknowledged, {stored} stored at the cut; {still_old} days old \
         and {renewed} new at the cut; SERVING again {:?} after traffic flowed; proxy carried {} \
         connections, turned {} away; {:?} in all",
        not_serving_after,
        tally::server::ServeOptions::default().database_check_interval,
        unavailable_after,
        acknowledged.len(),
        serving_after,
        proxy.connections.load(Ordering::SeqCst),
        proxy.refused.load(Ordering::SeqCst),
        started.elapsed()
    );
    p.stop().await;
}

#[tokio::test]
async fn a_database_that_stops_answering_turns_health_not_serving_and_calls_unavailable_not_hung() {
    let Some(p) = Proxied::start().await else {
        return;
    };
    p.list().await.unwrap();
    // The link stops carrying bytes: no reset, no error, only silence.
    p.proxy.stall(true);
    let not_serving_after = p.health_becomes(ServingStatus::NotServing).await;
    let call_started = Instant::now();
    assert_unavailable(&p.list().await.expect_err("no database, no answer"));
    let unavailable_after = call_started.elapsed();
    p.proxy.stall(false);
    let serving_after = p.health_becomes(ServingStatus::Serving).await;
    p.list().await.expect("answers once the database answers");
    eprintln!(
        "database stalled: health NOT_SERVING {not_serving_after:?} after the stall (health \
         checked every {:?}); a call failed UNAVAILABLE in {unavailable_after:?}; SERVING again \
         {serving_after:?} after it answered",
        tally::server::ServeOptions::default().database_check_interval,
    );
    p.stop().await;
}

// ---------------------------------------------------------------------------------------
// kill -9 of `tally serve`

/// `tally serve` on `db_url`, ingest only, and a channel to it once it answers.
async fn serve_child(db_url: &str, logs: &std::path::Path) -> (tokio::process::Child, Channel) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs)
        .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("serve")
        .env("TALLY_INSECURE_DEV_CUSTOMER_KEY", "true")
        .env("TALLY_DATABASE_URL", db_url)
        .env("TALLY_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("TALLY_SCHEDULER_ENABLED", "false")
        .env("TALLY_CONNECTORS", "none")
        .env("TALLY_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start tally serve");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "tally serve ended: {status}\n{}",
                std::fs::read_to_string(logs).unwrap_or_default()
            );
        }
        if let Ok(channel) = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            && HealthClient::new(channel.clone())
                .check(HealthCheckRequest::default())
                .await
                .is_ok_and(|r| r.get_ref().status == ServingStatus::Serving as i32)
        {
            return (child, channel);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "tally serve never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn kill_9(mut child: tokio::process::Child) {
    // start_kill sends SIGKILL: no drain, no rollback by the process itself.
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "{status}");
}

async fn a_kill_9_during_ingest_leaves_every_batch_whole_or_absent(db: TestDb) {
    let started = Instant::now();
    let url = db.url();
    Store::migrate(&url).await.unwrap();
    let direct = Store::connect(&url, 3).await.unwrap();
    let key = create_tenant(&direct, "acme").await;
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("serve.log");
    let (server, channel) = serve_child(&url, &log).await;

    // Four clients stream batches; the server dies with several in flight.
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let senders: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(send_batches(
                IngestServiceClient::new(channel.clone()),
                key.clone(),
                next.clone(),
                BATCHES,
                acknowledged.clone(),
            ))
        })
        .collect();
    eventually(
        "four acknowledged batches",
        Duration::from_secs(120),
        || {
            let acknowledged = acknowledged.clone();
            async move { acknowledged.lock().unwrap().len() >= 4 }
        },
    )
    .await;
    kill_9(server).await;
    for sender in senders {
        assert!(
            sender.await.unwrap().is_some(),
            "every client saw the server die"
        );
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    // Each client's last batch failed: sent, or being sent, when the server died.
    let sent = next.load(Ordering::SeqCst);
    assert_eq!(
        sent,
        acknowledged.len() + 4,
        "killed before the stream ended"
    );

    // Restarted on the same database: whole batches or none, and a re-send of every
    // batch converges to exactly the full data.
    let (server, channel) = serve_child(&url, &log).await;
    let stored = assert_whole_or_absent(&stored_batches(&direct).await, &acknowledged);
    let mut ingest = IngestServiceClient::new(channel);
    for b in 0..BATCHES {
        let response = ingest
            .ingest_orders(with_key(orders(b), &key))
            .await
            .unwrap();
        assert_eq!(response.get_ref().accepted_count, BATCH_ROWS as i32);
    }
    let counts = stored_batches(&direct).await;
    assert_eq!(
        assert_whole_or_absent(&counts, &(0..BATCHES).collect()),
        BATCHES
    );
    kill_9(server).await;
    eprintln!(
        "kill -9 during ingest: {sent} batches of {BATCH_ROWS} sent, {} acknowledged, {stored} \
         stored whole, {} absent, none partial; re-sent all {BATCHES}: {} orders, no \
         duplicates; {:?}",
        acknowledged.len(),
        sent - stored,
        counts.values().map(|c| c.0).sum::<usize>(),
        started.elapsed()
    );
}

async fn a_kill_9_during_compute_leaves_every_day_old_or_new(db: TestDb) {
    let started = Instant::now();
    let url = db.url();
    let (direct, key) = anna_of_acme(&url).await;
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("serve.log");
    let (server, channel) = serve_child(&url, &log).await;
    let mut ingest = IngestServiceClient::new(channel.clone());
    let mut kpis = KpiServiceClient::new(channel.clone());
    let range = compute_range();
    let compute = proto::ComputeKpisRequest {
        first_day: date(range.first),
        last_day: date(range.last),
    };
    ingest
        .ingest_channel_stats(with_key(stats(&["anna-ig", "anna-yt"], 1), &key))
        .await
        .unwrap();
    let old_run = kpis
        .compute_kpis(with_key(compute, &key))
        .await
        .unwrap()
        .into_inner()
        .run_id;
    let old = day_sets(&direct).await;
    assert_eq!(old.len(), 300);
    ingest
        .ingest_channel_stats(with_key(stats(&["anna-ig", "anna-yt"], 2), &key))
        .await
        .unwrap();

    let computing = {
        let request = with_key(compute, &key);
        tokio::spawn(async move { kpis.compute_kpis(request).await })
    };
    until_a_new_day("the compute's first new day", &direct, &old_run).await;
    kill_9(server).await;
    assert!(
        computing.await.unwrap().is_err(),
        "the server died before it answered"
    );
    let after = day_sets(&direct).await;

    // The new set of each day, from the same data, computed to the end.
    tally::engine::recompute(
        &direct,
        &tally::engine::SnapshotFeed::default(),
        "acme",
        range,
        "run-direct",
    )
    .await
    .unwrap();
    let new = day_sets(&direct).await;
    assert_eq!(new.len(), 300);
    let (still_old, renewed) = assert_old_or_new(&after, &old, &new, &old_run);
    assert!(renewed > 0 && still_old > 0, "killed mid-compute");
    eprintln!(
        "kill -9 during compute: of 300 days, {still_old} kept their old set and {renewed} had \
         their new one, none mixed or partial ({} snapshots a day); {:?}",
        new.values().next().map(|d| d.rows.len()).unwrap_or(0),
        started.elapsed()
    );
}

async fn a_dropped_run_stops_writing_at_once(db: TestDb) {
    let url = db.url();
    let (direct, _key) = anna_of_acme(&url).await;
    let range = compute_range();
    let feed = tally::engine::SnapshotFeed::default();
    let old_run = tally::engine::recompute(&direct, &feed, "acme", range, "run-old")
        .await
        .unwrap()
        .run_id;
    let old = day_sets(&direct).await;
    assert_eq!(old.len(), 300);

    // A second run of the same days, dropped once it has written a day: the days it had
    // computed and queued for its writer (up to 16) must not be written after it.
    let run = {
        let (store, feed) = (direct.clone(), feed.clone());
        tokio::spawn(async move {
            tally::engine::recompute(&store, &feed, "acme", range, "run-new").await
        })
    };
    until_a_new_day("the second run's first day", &direct, &old_run).await;
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    let at_drop = day_sets(&direct).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = day_sets(&direct).await;
    let renewed = |sets: &BTreeMap<NaiveDate, DaySet>| {
        sets.values().filter(|d| !d.runs.contains(&old_run)).count()
    };
    let (renewed_at_drop, renewed_later) = (renewed(&at_drop), renewed(&later));
    assert!(
        renewed_at_drop < 300 - 16,
        "the run ended before it was dropped"
    );
    // The one day whose commit was already on its way may still land.
    assert!(
        renewed_later <= renewed_at_drop + 1,
        "{} days written after the run was dropped",
        renewed_later - renewed_at_drop
    );
    // And no day was left half-written.
    for (day, set) in &later {
        assert_eq!(set.runs.len(), 1, "{day}: snapshots of several runs");
        assert_eq!(set.rows.len(), old[day].rows.len(), "{day}: a partial set");
    }
}

// ---------------------------------------------------------------------------------------
// A week of nightly runs with 30% of the platforms' answers failing

const SEED: u64 = 20_261_124;
const FAULT_RATE: f64 = 0.3;
/// Shorter than a faulty answer's delay, so a delayed answer times out.
const HTTP_TIMEOUT: Duration = Duration::from_millis(500);

fn faults() -> Vec<Fault> {
    vec![
        Fault::Status(500),
        Fault::Status(503),
        Fault::Delay(HTTP_TIMEOUT * 4),
        Fault::RetryAfter("1".into()),
        Fault::Truncated,
    ]
}

fn kind(fault: &Fault) -> String {
    let text = format!("{fault:?}");
    match fault {
        Fault::Status(_) => text,
        _ => text.split('(').next().unwrap_or_default().to_string(),
    }
}

fn fakes(p: &Platforms) -> [&FakeServer; 6] {
    [
        &*p.youtube,
        &*p.instagram,
        &*p.x,
        &*p.tiktok,
        &*p.ga4,
        &*p.shopify,
    ]
}

/// History for every day of the week: GA4 sessions and two Shopify orders a day, from
/// customers who come back.
fn set_week_history(p: &Platforms, days: &[NaiveDate]) {
    p.ga4.set_rows(
        GA4_PROPERTY,
        days.iter()
            .enumerate()
            .map(|(k, &day)| Ga4Row {
                date: day,
                source: "influencer".into(),
                medium: "social".into(),
                campaign: "anna".into(),
                channel_group: "Organic Social".into(),
                sessions: 40 + 7 * k as u64,
                users: 25 + 3 * k as u64,
                new_users: 10 + k as u64,
            })
            .collect(),
    );
    let local = |d: NaiveDate, h| {
        chrono_tz::Europe::Amsterdam
            .with_ymd_and_hms(d.year(), d.month(), d.day(), h, 30, 0)
            .unwrap()
            .to_rfc3339()
    };
    let mut orders = Vec::new();
    for (k, &day) in days.iter().enumerate() {
        for (n, hour) in [(0, 10), (1, 20)] {
            orders.push(ShopifyOrder {
                id: (k * 2 + n) as u64 + 1,
                created_at: local(day, hour),
                currency: "EUR".into(),
                subtotal_price: format!("{}.00", 40 + k * 5 + n),
                total_discounts: "5.00".into(),
                discount_codes: if n == 0 {
                    vec!["ANNA10".into()]
                } else {
                    vec![]
                },
                customer: Some((
                    500 + (k % 3) as u64,
                    format!("c{}@example.com", 500 + k % 3),
                )),
                ..ShopifyOrder::default()
            });
        }
    }
    p.shopify.set_orders(orders);
}

/// The platforms' current totals on night `k`.
fn set_totals(p: &Platforms, k: u64) {
    p.youtube.set_channel(
        YT_CHANNEL,
        YtChannel {
            views: 50_000 + 700 * k,
            subscribers: 2_000 + 15 * k,
            hidden_subscribers: false,
            videos: 120 + k,
        },
    );
    p.instagram.set_account(
        IG_ACCOUNT,
        IgAccount {
            followers: 1_200 + 9 * k,
            media: 40 + k,
            reach: Some(300 + 10 * k),
            likes: Some(50 + k),
            comments: Some(7 + k % 2),
            shares: Some(3),
            views: Some(900 + 20 * k),
            website_clicks: Some(11 + k),
        },
    );
    p.x.set_user(
        X_USER,
        XUser {
            username: "anna".into(),
            followers: 300 + 4 * k,
            tweets: 900 + 3 * k,
            likes_given: 5_000 + 10 * k,
            ..XUser::default()
        },
    );
    p.tiktok.set_user(
        FakeTikTok::TOKEN,
        TikTokUser {
            open_id: "tt-anna".into(),
            followers: 4_000 + 25 * k,
            likes: 80_000 + 300 * k,
            videos: 70 + k,
        },
    );
}

/// What a week of nightly runs took.
struct Week {
    ticks: usize,
    requests: usize,
}

/// Seven nights as the hourly schedule runs them: from 00:15 in Amsterdam, a tick every
/// hour while the night has due days (a partial day is retried by the next tick).
async fn run_week(p: &Platforms, store: &Store, tenant: &Tenant, days: &[NaiveDate]) -> Week {
    let runner = Jobs::new(
        store.clone(),
        tally::engine::SnapshotFeed::default(),
        live_registry(
            &p.urls(),
            &HttpSettings {
                timeout: HTTP_TIMEOUT,
                // Fewer than the default 5, so that at 30% some pulls still fail all their
                // attempts and the day-level retry by a later tick is exercised too.
                max_attempts: 3,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
            },
        ),
        Credentials::new(Some(p.secrets.path().to_path_buf()), []),
        JobSettings::default(),
    );
    for fake in fakes(p) {
        fake.clear_requests();
    }
    let mut ticks = 0;
    for (k, &day) in days.iter().enumerate() {
        set_totals(p, k as u64);
        let next = day + Days::new(1);
        let night: DateTime<Utc> = chrono_tz::Europe::Amsterdam
            .with_ymd_and_hms(next.year(), next.month(), next.day(), 0, 15, 0)
            .unwrap()
            .with_timezone(&Utc);
        for hour in 0..23 {
            let now = night + chrono::Duration::hours(hour);
            assert_eq!(jobs::yesterday(now, tenant), day);
            if runner.due_days(tenant, now).await.unwrap().is_empty() {
                break;
            }
            runner.tick(now).await.unwrap();
            ticks += 1;
        }
    }
    Week {
        ticks,
        requests: fakes(p).iter().map(|f| f.request_count()).sum(),
    }
}

async fn prepared(db: &TestDb) -> Store {
    Store::migrate(&db.url()).await.unwrap();
    let store = Store::connect(&db.url(), 3).await.unwrap();
    tenant_with_every_platform(&store, "acme").await;
    store
}

async fn a_week_of_nightly_runs_with_30_percent_platform_faults_ends_complete(db: TestDb) {
    let started = Instant::now();
    let reference = match &db {
        TestDb::Sqlite(_) => TestDb::sqlite(),
        TestDb::Postgres(_) => TestDb::postgres().await.unwrap(),
    };
    let store = prepared(&db).await;
    let reference_store = prepared(&reference).await;
    let tenant = store.get_tenant("acme").await.unwrap();
    let last = jobs::yesterday(Utc::now(), &tenant);
    let days: Vec<NaiveDate> = (0..7).rev().map(|k| last - Days::new(k)).collect();
    let platforms = Platforms::start(days[0], "acme").await;
    set_week_history(&platforms, &days);

    // The same week without faults, for comparison.
    let clean = run_week(&platforms, &reference_store, &tenant, &days).await;
    let expected = snapshot_rows(&reference_store).await;
    assert!(!expected.is_empty());

    for (i, fake) in fakes(&platforms).into_iter().enumerate() {
        fake.fail_randomly(SEED + i as u64, FAULT_RATE, faults());
    }
    let faulty = run_week(&platforms, &store, &tenant, &days).await;
    let mut injected: BTreeMap<String, usize> = BTreeMap::new();
    for fake in fakes(&platforms) {
        fake.stop_failing_randomly();
        for fault in fake.injected() {
            *injected.entry(kind(&fault)).or_default() += 1;
        }
    }
    for fault in faults() {
        assert!(
            injected.contains_key(&kind(&fault)),
            "{fault:?} never played: {injected:?}"
        );
    }

    // Every day complete: succeeded, every source pulled, the same snapshots.
    let claims = store.days("acme", days[0], last).await.unwrap();
    assert_eq!(claims.len(), 7);
    for claim in &claims {
        assert_eq!(claim.status, "succeeded", "{}", claim.day);
    }
    let channels = [
        "anna-instagram",
        "anna-youtube",
        "anna-x",
        "anna-tiktok",
        "brand-site",
        "brand-shop",
    ];
    for &day in &days {
        for channel in channels {
            let pull = store.get_pull("acme", channel, day).await.unwrap();
            assert_eq!(
                pull.map(|p| p.status).as_deref(),
                Some("done"),
                "{channel} on {day}"
            );
        }
    }
    assert_eq!(
        snapshot_rows(&store).await,
        expected,
        "the same snapshots as a week without faults"
    );
    let attempts: Vec<i32> = claims.iter().map(|c| c.attempts).collect();
    eprintln!(
        "a week at {:.0}% faults: {} faults injected {injected:?} in {} requests (a fault-free \
         week: {} requests, so {} more), {} ticks (fault-free: {}), attempts per day \
         {attempts:?}, {} snapshots equal; {:?}",
        FAULT_RATE * 100.0,
        injected.values().sum::<usize>(),
        faulty.requests,
        clean.requests,
        faulty.requests.saturating_sub(clean.requests),
        faulty.ticks,
        clean.ticks,
        expected.len(),
        started.elapsed()
    );
}

crate::on_both_database_kinds!(
    a_kill_9_during_ingest_leaves_every_batch_whole_or_absent,
    a_kill_9_during_compute_leaves_every_day_old_or_new,
    a_dropped_run_stops_writing_at_once,
    a_week_of_nightly_runs_with_30_percent_platform_faults_ends_complete,
);
