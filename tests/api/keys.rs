//! API keys under attack and in operators' hands: a revoked key's open streams end, keys
//! guessed from one address cost bounded database lookups, client commands take the key
//! from a file or the environment rather than the command line, and `/metrics` can keep
//! tenant ids to itself.
use crate::helpers::{TestApp, TestDb, create_tenant, with_key};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tally::proto;
use tally::proto::goal_service_client::GoalServiceClient;
use tally::proto::influencer_service_client::InfluencerServiceClient;
use tally::proto::kpi_service_client::KpiServiceClient;
use tally::storage::Store;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

/// Longest a test waits for something that should happen.
const PATIENCE: Duration = Duration::from_secs(30);

fn yesterday() -> Option<proto::google::r#type::Date> {
    use chrono::Datelike;
    let day = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    Some(proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

/// Reads `stream` until it ends, counting the values it still delivers; fails the test if it
/// is still open after [`PATIENCE`].
async fn until_ended<T>(what: &str, stream: &mut tonic::Streaming<T>) -> (tonic::Status, usize) {
    let started = Instant::now();
    let mut values = 0;
    loop {
        let left = PATIENCE.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.message()).await {
            Ok(Ok(Some(_))) => values += 1,
            Ok(Err(status)) => return (status, values),
            Ok(Ok(None)) => panic!("{what}: ended with OK, not UNAUTHENTICATED"),
            Err(_) => panic!(
                "{what}: still open {PATIENCE:?} after its key was revoked; it received \
                 {values} values since"
            ),
        }
    }
}

/// Asserts that a stream ended because its key was revoked, and that nothing follows.
async fn assert_ended_unauthenticated<T: std::fmt::Debug>(
    what: &str,
    status: &tonic::Status,
    stream: &mut tonic::Streaming<T>,
) {
    assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "API_KEY_INVALID"
    );
    let after = tokio::time::timeout(Duration::from_secs(1), stream.message()).await;
    assert!(
        matches!(after, Ok(Ok(None)) | Ok(Err(_)) | Err(_)),
        "{what}: a value after the end: {after:?}"
    );
}

/// Opens a WatchSnapshots and a WatchGoals stream with `key`, and checks that the first
/// delivers values.
async fn open_streams(
    app: &TestApp,
    key: &str,
) -> (
    tonic::Streaming<proto::KpiValue>,
    tonic::Streaming<proto::GoalEvaluation>,
) {
    let mut snapshots = app
        .kpis()
        .watch_snapshots(with_key(
            proto::WatchSnapshotsRequest { kpi_scopes: vec![] },
            key,
        ))
        .await
        .unwrap()
        .into_inner();
    let goals = GoalServiceClient::new(app.channel.clone())
        .watch_goals(with_key(proto::WatchGoalsRequest { goals: vec![] }, key))
        .await
        .unwrap()
        .into_inner();
    compute(app).await;
    tokio::time::timeout(PATIENCE, snapshots.message())
        .await
        .expect("a value before the revocation")
        .unwrap()
        .expect("the stream is open");
    (snapshots, goals)
}

/// Recomputes yesterday with the app's own key, so that watchers of the tenant get values.
async fn compute(app: &TestApp) {
    app.kpis()
        .compute_kpis(app.req(proto::ComputeKpisRequest {
            first_day: yesterday(),
            last_day: yesterday(),
        }))
        .await
        .unwrap();
}

/// Revokes a key as `tally admin revoke-key` does from another process (through a store
/// of its own, whose revocation this server's process cannot hear of), and as the same
/// process would; each time the key's open streams end with UNAUTHENTICATED while values
/// keep being computed for the tenant, and nothing follows the end.
async fn revoking_a_key_ends_its_open_streams(db: TestDb) {
    let url = db.url();
    let app = TestApp::spawn(db).await;
    let elsewhere = Store::connect(&url, 1).await.unwrap();
    for (how, revoker) in [
        ("another process", &elsewhere),
        ("the same process", &app.store),
    ] {
        let (key_id, key) = app.store.create_api_key("acme").await.unwrap();
        let (mut snapshots, mut goals) = open_streams(&app, &key).await;
        revoker.revoke_api_key("acme", &key_id).await.unwrap();
        let revoked = Instant::now();
        // Values keep coming for the tenant, through its other key.
        let computing = {
            let app_channel = app.channel.clone();
            let key = app.key.clone();
            tokio::spawn(async move {
                loop {
                    let _ = KpiServiceClient::new(app_channel.clone())
                        .compute_kpis(with_key(
                            proto::ComputeKpisRequest {
                                first_day: yesterday(),
                                last_day: yesterday(),
                            },
                            &key,
                        ))
                        .await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let (status, values) = until_ended(&format!("WatchSnapshots, {how}"), &mut snapshots).await;
        let snapshots_ended = revoked.elapsed();
        let (goals_status, _) = until_ended(&format!("WatchGoals, {how}"), &mut goals).await;
        let goals_ended = revoked.elapsed();
        assert_ended_unauthenticated("WatchSnapshots", &status, &mut snapshots).await;
        assert_ended_unauthenticated("WatchGoals", &goals_status, &mut goals).await;
        computing.abort();
        eprintln!(
            "key revoked by {how}: WatchSnapshots ended UNAUTHENTICATED after \
             {snapshots_ended:?} ({values} values in between), WatchGoals after {goals_ended:?}"
        );
        // A new stream with the revoked key is refused.
        let refused = app
            .kpis()
            .watch_snapshots(with_key(
                proto::WatchSnapshotsRequest { kpi_scopes: vec![] },
                &key,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
    }
    app.stop().await;
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `tally serve` on `url` with the extra settings `env`, and a channel to it once it answers.
struct Served {
    child: tokio::process::Child,
    channel: Channel,
    metrics_addr: SocketAddr,
}

impl Served {
    async fn start(url: &str, env: &[(&str, &str)]) -> Served {
        let (addr, metrics_addr) = (free_port(), free_port());
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"));
        command
            .arg("serve")
            .env("TALLY_INSECURE_DEV_CUSTOMER_KEY", "true")
            .env("TALLY_DATABASE_URL", url)
            .env("TALLY_LISTEN_ADDR", addr.to_string())
            .env("TALLY_METRICS_ADDR", metrics_addr.to_string())
            .env("TALLY_SCHEDULER_ENABLED", "false")
            .env("TALLY_CONNECTORS", "none")
            .env("TALLY_LOG", "off")
            .env_remove("TALLY_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap();
        let started = Instant::now();
        let channel = loop {
            if let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
            {
                break channel;
            }
            assert!(started.elapsed() < PATIENCE, "tally serve did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Served {
            child,
            channel,
            metrics_addr,
        }
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A database with tenant `id` and its key.
async fn database_with_tenant(db: &TestDb, id: &str) -> (Store, String) {
    Store::migrate(&db.url()).await.unwrap();
    let store = Store::connect(&db.url(), 2).await.unwrap();
    let key = create_tenant(&store, id).await;
    (store, key)
}

/// A burst of calls with made-up keys from one address ends in RESOURCE_EXHAUSTED with
/// RetryInfo, having cost at most the address's allowance of key lookups; a key already
/// known good goes on working from that address (clients behind one NAT share it), and
/// other callers are not limited by it.
async fn guessing_keys_from_one_address_is_limited(db: TestDb) {
    const PER_MINUTE: usize = 20;
    let (_store, key) = database_with_tenant(&db, "acme").await;
    let per_minute = PER_MINUTE.to_string();
    let server = Served::start(
        &db.url(),
        &[("TALLY_UNKNOWN_KEY_LIMIT_PER_MINUTE", &per_minute)],
    )
    .await;
    let mut influencers = InfluencerServiceClient::new(server.channel.clone());
    let list = || proto::ListInfluencersRequest::default();
    influencers
        .list_influencers(with_key(list(), &key))
        .await
        .unwrap();

    let started = Instant::now();
    let (mut unauthenticated, mut exhausted) = (0, None);
    for i in 0..1_000 {
        let guess = format!("tally_guess{i:021}");
        let status = influencers
            .list_influencers(with_key(list(), &guess))
            .await
            .unwrap_err();
        match status.code() {
            Code::Unauthenticated => unauthenticated += 1,
            Code::ResourceExhausted => {
                exhausted = Some(status);
                break;
            }
            other => panic!("unexpected {other:?}: {status:?}"),
        }
    }
    let elapsed = started.elapsed();
    let exhausted = exhausted.unwrap_or_else(|| {
        panic!(
            "1000 calls with made-up keys from one address in {elapsed:?}, all answered \
             UNAUTHENTICATED (each a database lookup); none RESOURCE_EXHAUSTED"
        )
    });
    let retry = exhausted
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo with a delay");
    assert!(retry > Duration::ZERO, "{retry:?}");
    assert_eq!(
        exhausted.get_details_error_info().unwrap().reason,
        "RATE_LIMITED"
    );
    // The allowance refills by one every 60/PER_MINUTE seconds.
    let refilled = (elapsed.as_secs_f64() * PER_MINUTE as f64 / 60.0).ceil() as usize;
    assert!(
        unauthenticated <= PER_MINUTE + refilled,
        "{unauthenticated} lookups of made-up keys"
    );
    // Further guesses stay refused without a lookup; the known key still works.
    let again = influencers
        .list_influencers(with_key(list(), "tally_guess_again"))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::ResourceExhausted, "{again:?}");
    influencers
        .list_influencers(with_key(list(), &key))
        .await
        .unwrap();
    eprintln!(
        "made-up keys from one address: {unauthenticated} answered UNAUTHENTICATED, then \
         RESOURCE_EXHAUSTED (retry in {retry:?}), in {elapsed:?}"
    );
    server.stop().await;
}

/// Runs `tally ARGS` against `addr` with no key but what `env` gives.
async fn run_tally(addr: SocketAddr, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"));
    command
        .args(args)
        .env("TALLY_ADDR", format!("http://{addr}"))
        .env("TALLY_LOG", "off")
        .env_remove("TALLY_API_KEY")
        .env_remove("TALLY_API_KEY_FILE")
        .env_remove("TALLY_CONFIG");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().await.unwrap()
}

/// Client commands take the key from a file (`--api-key-file`, TALLY_API_KEY_FILE) or
/// TALLY_API_KEY, and `--help` says why the command line is the worst place for it.
async fn client_commands_take_the_key_from_a_file_or_the_environment(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api-key");
    std::fs::write(&file, format!("{}\n", app.key)).unwrap();
    let file = file.display().to_string();
    let list = ["influencers", "--format", "csv"];
    let runs = [
        (
            "TALLY_API_KEY",
            run_tally(app.addr, &list, &[("TALLY_API_KEY", &app.key)]).await,
        ),
        (
            "--api-key-file",
            run_tally(
                app.addr,
                &[&list[..], &["--api-key-file", &file]].concat(),
                &[],
            )
            .await,
        ),
        (
            "TALLY_API_KEY_FILE",
            run_tally(app.addr, &list, &[("TALLY_API_KEY_FILE", &file)]).await,
        ),
    ];
    for (how, output) in &runs {
        assert!(
            output.status.success(),
            "{how}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.stdout, runs[0].1.stdout, "{how}");
    }
    let missing = run_tally(app.addr, &list, &[]).await;
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("TALLY_API_KEY"), "{stderr}");
    for command in ["influencers", "ingest", "kpi query", "report"] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let help = run_tally(app.addr, &args, &[]).await;
        let help = String::from_utf8_lossy(&help.stdout);
        for needed in ["--api-key-file", "TALLY_API_KEY", "shell history"] {
            assert!(
                help.contains(needed),
                "`tally {command} --help` lacks {needed}:\n{help}"
            );
        }
    }
    app.stop().await;
}

/// With TALLY_METRICS_TENANT_LABEL=hash, `/metrics` (which has no authentication) shows a
/// stable stand-in for each tenant and never its id.
async fn metrics_can_hide_tenant_ids(db: TestDb) {
    const TENANT: &str = "hidden-tenant";
    let (store, _key) = database_with_tenant(&db, TENANT).await;
    let day = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    tally::engine::recompute(
        &store,
        &Default::default(),
        TENANT,
        tally::kpi::period::Period::day(day),
        "run-test",
    )
    .await
    .unwrap();
    let mut pages = Vec::new();
    for _ in 0..2 {
        let server = Served::start(&db.url(), &[("TALLY_METRICS_TENANT_LABEL", "hash")]).await;
        let url = format!("http://{}/metrics", server.metrics_addr);
        let started = Instant::now();
        let page = loop {
            let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
            if page.contains("\ntally_snapshot_lag_seconds") {
                break page;
            }
            assert!(started.elapsed() < PATIENCE, "no lag gauge in\n{page}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        server.stop().await;
        assert!(!page.contains(TENANT), "the tenant id in /metrics:\n{page}");
        let series: Vec<String> = page
            .lines()
            .filter(|l| l.starts_with("tally_snapshot_lag_seconds{tenant=\"t"))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect();
        assert_eq!(series.len(), 1, "{page}");
        pages.push(series[0].clone());
    }
    // The same label after a restart: dashboards and alerts keep their series.
    assert_eq!(pages[0], pages[1]);
    eprintln!("tenant `{TENANT}` shown in /metrics as {}", pages[0]);
}

crate::on_both_database_kinds!(
    revoking_a_key_ends_its_open_streams,
    guessing_keys_from_one_address_is_limited,
    client_commands_take_the_key_from_a_file_or_the_environment,
    metrics_can_hide_tenant_ids,
);
