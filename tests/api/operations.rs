//! What operators rely on: health, reflection, shutdown, migrations, the admin commands,
//! Prometheus metrics, TLS and mutual TLS on the gRPC port, the plaintext health listener,
//! and the one-line-per-RPC log.
//!
//! The metrics recorder is global to the process and installed once, so servers of other
//! tests running in this process record into it too: in-process assertions check that
//! series are present and counts are at least what this test caused; the test that runs
//! the binary checks exact counts.
use crate::helpers::{TestApp, TestDb, create_tenant, listener, serve_options, with_key};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tally::proto::GetInfluencerRequest;
use tally::proto::ListInfluencersRequest;
use tally::proto::influencer_service_client::InfluencerServiceClient;
use tally::server::{ServeOptions, Tls};
use tally::storage::Store;
use tokio::io::AsyncReadExt;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

#[tokio::test]
async fn health_and_reflection_are_served() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in ["", "tally.v1.InfluencerService", "tally.v1.KpiService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }

    use tonic_reflection::pb::v1;
    use tonic_reflection::pb::v1alpha;
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        stream.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "tally.v1.InfluencerService",
        "tally.v1.GoalService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }

    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "tally.v1.CampaignService".into(),
            ),
        ),
    };
    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap().message_response;
    assert!(
        matches!(response, Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "{response:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn shutdown_turns_health_not_serving_and_stops() {
    let mut app = TestApp::spawn(TestDb::sqlite()).await;
    let mut health = HealthClient::new(app.channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );
    app.shut_down();
    // The open watch stream sees NOT_SERVING before the server goes away.
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::NotServing as i32
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_migrations_on_postgres_take_turns() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("TALLY_TEST_POSTGRES_URL not set: skipped");
        return;
    };
    let url = db.url();
    let (a, b, c) = tokio::join!(
        Store::migrate(&url),
        Store::migrate(&url),
        Store::migrate(&url)
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let store = Store::connect(&url, 1).await.unwrap();
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    crate::helpers::create_tenant(&store, "after-race").await;
}

/// Runs the real binary with a database URL and returns (status, stdout, stderr).
async fn tally(url: &str, args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .env("TALLY_DATABASE_URL", url)
        .env("TALLY_INSECURE_DEV_CUSTOMER_KEY", "true")
        .env("TALLY_LOG", "warn")
        .output()
        .await
        .expect("run tally");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn admin_commands_print_the_key_alone_and_serve_stops_on_sigterm() {
    let db = TestDb::sqlite();
    let url = db.url();
    let (status, stdout, stderr) = tally(
        &url,
        &[
            "admin",
            "create-tenant",
            "Acme Agency",
            "--time-zone",
            "Europe/Amsterdam",
        ],
    )
    .await;
    assert!(status.success(), "{stderr}");
    let key = stdout.trim_end_matches('\n');
    assert!(
        key.starts_with("tally_") && !key.contains('\n'),
        "stdout is the key alone: {stdout:?}"
    );
    let store = Store::connect(&url, 1).await.unwrap();
    let tenant = store
        .authenticate(key)
        .await
        .unwrap()
        .expect("the printed key works");
    assert_eq!(tenant.id, "acme-agency");
    assert_eq!(tenant.settings.time_zone, "Europe/Amsterdam");

    let (status, stdout, _) = tally(&url, &["admin", "create-key", "acme-agency"]).await;
    assert!(status.success());
    assert!(store.authenticate(stdout.trim()).await.unwrap().is_some());

    let (status, _, stderr) = tally(
        &url,
        &[
            "admin",
            "create-tenant",
            "Bad",
            "--time-zone",
            "Mars/Olympus",
        ],
    )
    .await;
    assert!(!status.success());
    assert!(stderr.contains("time_zone"), "{stderr}");

    // serve: SIGTERM drains and exits 0.
    let addr = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("serve")
        .env("TALLY_INSECURE_DEV_CUSTOMER_KEY", "true")
        .env("TALLY_DATABASE_URL", &url)
        .env("TALLY_LISTEN_ADDR", addr.to_string())
        .env("TALLY_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut connected = None;
    for _ in 0..100 {
        if let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            connected = Some(channel);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut health = HealthClient::new(connected.expect("server came up"));
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    let pid = child.id().unwrap() as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc_kill(pid, 15) }, 0);
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let last = stderr.lines().rfind(|l| !l.is_empty()).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(last).expect("JSON logs");
    assert_eq!(json["message"], "server stopped");
    assert!(!stderr.contains(key), "no key in logs");
}

#[tokio::test]
async fn ingest_command_sends_a_file_and_reports_rejected_lines() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    std::fs::write(
        &path,
        "order_id,customer_id,customer_email,placed_at,currency,revenue,discount_codes\n\
         1001,c-1,,2026-03-01T10:00:00Z,EUR,49.99,ANNA10\n\
         1002,,guest@example.com,2026-03-01T11:00:00Z,EUR,10,\n\
         1003,c-2,,not-a-time,EUR,10.00,\n\
         1004,c-3,,2026-03-01T12:00:00Z,USD,10.00,\n",
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["ingest", "--kind", "orders", "--file"])
        .arg(&path)
        .env("TALLY_ADDR", format!("http://{}", app.addr))
        .env("TALLY_API_KEY", &app.key)
        .env("TALLY_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "rejected rows make the command fail: {stdout}"
    );
    assert!(stdout.contains("read 4 rows"), "{stdout}");
    assert!(stdout.contains("2 accepted, 2 rejected"), "{stdout}");
    assert!(stdout.contains("line 4: placed_at"), "{stdout}");
    assert!(stdout.contains("line 5: currency_code"), "{stdout}");
    use sea_orm::EntityTrait;
    let orders = tally::storage::entities::order::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    assert_eq!(orders.len(), 2);
    assert_eq!(
        orders.iter().map(|o| o.revenue_minor).sum::<i64>(),
        4999 + 1000
    );
    app.stop().await;
}

#[tokio::test]
async fn health_check_exits_zero_only_when_serving() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let url = "sqlite::memory:";
    let addr = format!("http://{}", app.addr);
    let (status, stdout, stderr) = tally(url, &["health-check", "--addr", &addr]).await;
    assert!(status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "SERVING");
    let (status, _, stderr) = tally(
        url,
        &[
            "health-check",
            "--addr",
            &addr,
            "--service",
            "tally.v1.JobService",
        ],
    )
    .await;
    assert!(status.success(), "{stderr}");
    app.stop().await;
    // Nobody listens there any more.
    let (status, _, stderr) = tally(url, &["health-check", "--addr", &addr]).await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
}

async fn plaintext(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap()
}

/// A TLS channel trusting `ca`, presenting `identity` if given; Err when the handshake or
/// the connection fails.
async fn tls_channel(
    addr: SocketAddr,
    ca: &str,
    identity: Option<(&str, &str)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        config = config.identity(Identity::from_pem(cert, key));
    }
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .tls_config(config)?
        .connect()
        .await
}

async fn health_status(channel: Channel) -> Result<i32, tonic::Status> {
    Ok(HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner()
        .status)
}

async fn scrape(addr: SocketAddr) -> String {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of the sample line that starts with `series` followed by a space.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

const LIST: &str = "/tally.v1.InfluencerService/ListInfluencers";
const GET: &str = "/tally.v1.InfluencerService/GetInfluencer";

#[tokio::test]
async fn metrics_count_calls_by_method_and_code() {
    // Snapshots before the server starts, so the first lag refresh (at start) sees them;
    // the recorder is installed first so that the computation is recorded too.
    tally::metrics::handle();
    let server = TestApp::builder(TestDb::sqlite())
        .options(ServeOptions {
            metrics_listener: Some(listener().await),
            ..serve_options()
        })
        .before_serve(|store| async move {
            let day = chrono::Utc::now().date_naive() - chrono::Days::new(1);
            tally::engine::recompute(
                &store,
                &Default::default(),
                "acme",
                tally::kpi::period::Period::day(day),
                "run-test",
            )
            .await
            .unwrap();
            let newest = store.newest_snapshot_times().await.unwrap();
            assert_eq!(
                newest.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
                ["acme"]
            );
            assert!(chrono::Utc::now() - newest[0].1 < chrono::TimeDelta::minutes(1));
        })
        .spawn()
        .await;
    let mut influencers = InfluencerServiceClient::new(plaintext(server.addr).await);
    for _ in 0..2 {
        influencers
            .list_influencers(with_key(ListInfluencersRequest::default(), &server.key))
            .await
            .unwrap();
    }
    let missing = influencers
        .get_influencer(with_key(
            GetInfluencerRequest {
                name: "influencers/nobody".into(),
            },
            &server.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // A stream is counted with the status of its trailers, once it ends.
    use tonic_reflection::pb::v1;
    let mut reflection =
        v1::server_reflection_client::ServerReflectionClient::new(plaintext(server.addr).await);
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}

    let metrics_addr = server.metrics_addr.unwrap();
    let text = scrape(metrics_addr).await;
    let streamed = "tally_rpc_requests_total{method=\"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo\",code=\"OK\"}";
    assert!(
        sample(&text, streamed).unwrap() >= 1.0,
        "{streamed} in\n{text}"
    );
    let ok = format!("tally_rpc_requests_total{{method=\"{LIST}\",code=\"OK\"}}");
    let not_found = format!("tally_rpc_requests_total{{method=\"{GET}\",code=\"NOT_FOUND\"}}");
    assert!(sample(&text, &ok).unwrap() >= 2.0, "{ok} in\n{text}");
    assert!(
        sample(&text, &not_found).unwrap() >= 1.0,
        "{not_found} in\n{text}"
    );
    for series in [
        format!("tally_rpc_duration_seconds_count{{method=\"{GET}\",code=\"NOT_FOUND\"}}"),
        format!("tally_rpc_duration_seconds_bucket{{method=\"{LIST}\",code=\"OK\",le=\"+Inf\"}}"),
    ] {
        assert!(
            sample(&text, &series).unwrap() >= 1.0,
            "{series} in\n{text}"
        );
    }
    assert!(
        text.contains("# TYPE tally_rpc_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE tally_kpi_compute_seconds histogram"),
        "{text}"
    );
    assert!(
        sample(&text, "tally_kpi_compute_seconds_count").unwrap() >= 1.0,
        "{text}"
    );
    let lag = sample(&text, "tally_snapshot_lag_seconds{tenant=\"acme\"}").expect("lag gauge");
    assert!((0.0..60.0).contains(&lag), "{lag}");

    // Anything but GET /metrics is refused.
    let other = reqwest::get(format!("http://{metrics_addr}/"))
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    server.stop().await;
    // The listener goes away with the server.
    assert!(
        reqwest::get(format!("http://{metrics_addr}/metrics"))
            .await
            .is_err()
    );
}

/// A test PKI: a CA, a server certificate for `localhost` and a client certificate, PEM.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    dir: tempfile::TempDir,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Tally test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>, cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["localhost".into()], "localhost");
    let (client_cert, client_key) = leaf(vec![], "reporting-client");
    Pki {
        ca: ca.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Pki {
    /// Writes `contents` to `name` in the temporary directory and returns its path.
    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }

    /// The server's TLS read from files, as `serve` gets it; with the CA for mutual TLS.
    fn server_tls(&self, mutual: bool) -> Tls {
        let cert = self.file("tls.crt", &self.server_cert);
        let key = self.file("tls.key", &self.server_key);
        let ca = mutual.then(|| self.file("client-ca.crt", &self.ca));
        Tls::from_files(&cert, &key, ca.as_deref()).unwrap()
    }
}

#[tokio::test]
async fn tls_on_the_grpc_port_and_plaintext_health_listener() {
    let pki = pki();
    let server = TestApp::builder(TestDb::sqlite())
        .options(ServeOptions {
            tls: Some(pki.server_tls(false)),
            health_listener: Some(listener().await),
            ..serve_options()
        })
        .spawn()
        .await;

    let channel = tls_channel(server.addr, &pki.ca, None).await.unwrap();
    assert_eq!(
        health_status(channel.clone()).await.unwrap(),
        ServingStatus::Serving as i32
    );
    InfluencerServiceClient::new(channel)
        .list_influencers(with_key(ListInfluencersRequest::default(), &server.key))
        .await
        .unwrap();

    // Plaintext to the TLS port fails, at connect or at the first call.
    let plain = match Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
    {
        Ok(channel) => health_status(channel)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    assert!(plain.is_err(), "plaintext call on the TLS port: {plain:?}");

    // The health listener speaks plaintext, and health only.
    let health = plaintext(server.health_addr.unwrap()).await;
    assert_eq!(
        health_status(health.clone()).await.unwrap(),
        ServingStatus::Serving as i32
    );
    let other = InfluencerServiceClient::new(health)
        .list_influencers(with_key(ListInfluencersRequest::default(), &server.key))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::Unimplemented);
    server.stop().await;
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_signed_by_the_ca() {
    let pki = pki();
    let server = TestApp::builder(TestDb::sqlite())
        .options(ServeOptions {
            tls: Some(pki.server_tls(true)),
            ..serve_options()
        })
        .spawn()
        .await;

    // Without a client certificate the handshake is refused (with TLS 1.3 the client may
    // only learn it at its first call).
    let anonymous = match tls_channel(server.addr, &pki.ca, None).await {
        Ok(channel) => health_status(channel)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    assert!(
        anonymous.is_err(),
        "call without a client certificate: {anonymous:?}"
    );

    // A certificate the CA did not sign is refused too.
    let stranger = rcgen::generate_simple_self_signed(vec!["stranger".to_string()]).unwrap();
    let unsigned = match tls_channel(
        server.addr,
        &pki.ca,
        Some((&stranger.cert.pem(), &stranger.signing_key.serialize_pem())),
    )
    .await
    {
        Ok(channel) => health_status(channel)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    assert!(
        unsigned.is_err(),
        "call with an unsigned certificate: {unsigned:?}"
    );

    let channel = tls_channel(
        server.addr,
        &pki.ca,
        Some((&pki.client_cert, &pki.client_key)),
    )
    .await
    .unwrap();
    assert_eq!(
        health_status(channel).await.unwrap(),
        ServingStatus::Serving as i32
    );
    server.stop().await;
}

/// Runs a client command of `tally` with the key and `env`, the address given as
/// TALLY_ADDR; returns whether it succeeded, and its stderr.
async fn client_command(args: &[&str], key: &str, env: &[(&str, &str)]) -> (bool, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .env("TALLY_API_KEY", key)
        .env("TALLY_LOG", "off")
        .env_remove("TALLY_CONFIG")
        .env_remove("TALLY_SERVER_CA_FILE")
        .env_remove("TALLY_CLIENT_CERT_FILE")
        .env_remove("TALLY_CLIENT_KEY_FILE")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run tally");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The client commands (`influencers` through the analysts' connection, `ingest` and
/// `health-check` through their own) take `host:port`, `http://` and `https://`, with TLS
/// chosen by the scheme, and by a TLS file for a bare `host:port`.
#[tokio::test]
async fn client_commands_take_every_address_form_with_tls_by_the_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let deletions = dir.path().join("deletions.csv");
    std::fs::write(&deletions, "order_id\nnever-stored\n").unwrap();
    let deletions = deletions.display().to_string();
    let commands: [&[&str]; 3] = [
        &["influencers"],
        &["health-check"],
        &["ingest", "--kind", "order-deletions", "--file", &deletions],
    ];

    let app = TestApp::spawn(TestDb::sqlite()).await;
    let port = app.addr.port();
    for addr in [
        app.addr.to_string(),
        format!("http://{}", app.addr),
        format!("localhost:{port}"),
        format!("http://localhost:{port}/"),
    ] {
        for args in commands {
            let (ok, stderr) = client_command(args, &app.key, &[("TALLY_ADDR", &addr)]).await;
            assert!(ok, "{args:?} at {addr}: {stderr}");
        }
    }
    // TLS to a plaintext port fails, and says that it tried TLS.
    let https = format!("https://localhost:{port}");
    let (ok, stderr) = client_command(&["influencers"], &app.key, &[("TALLY_ADDR", &https)]).await;
    assert!(!ok && stderr.contains("(TLS)"), "{stderr}");
    // Forms that are not an address are refused with the reason, before any connection.
    for (addr, says) in [
        (format!("grpc://{}", app.addr), "http:// or https://"),
        ("localhost".to_string(), "has no port"),
    ] {
        let (ok, stderr) =
            client_command(&["health-check"], &app.key, &[("TALLY_ADDR", &addr)]).await;
        assert!(!ok && stderr.contains(says), "{addr}: {stderr}");
    }
    app.stop().await;

    let pki = pki();
    let ca = pki.file("ca.crt", &pki.ca);
    let server = TestApp::builder(TestDb::sqlite())
        .options(ServeOptions {
            tls: Some(pki.server_tls(false)),
            ..serve_options()
        })
        .spawn()
        .await;
    let port = server.addr.port();
    let with_ca = |addr: String| [("TALLY_ADDR", addr), ("TALLY_SERVER_CA_FILE", ca.clone())];
    for addr in [
        format!("https://localhost:{port}"),
        format!("localhost:{port}"),
    ] {
        for args in commands {
            let env = with_ca(addr.clone());
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (ok, stderr) = client_command(args, &server.key, &env).await;
            assert!(ok, "{args:?} at {addr} with the CA: {stderr}");
        }
    }
    // http:// says plaintext: with a CA file it is a contradiction, refused as such.
    let env = with_ca(format!("http://localhost:{port}"));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (ok, stderr) = client_command(&["influencers"], &server.key, &env).await;
    assert!(!ok && stderr.contains("use https://"), "{stderr}");
    // Without the CA the built-in web roots do not know the test CA.
    let https = format!("https://localhost:{port}");
    let (ok, stderr) =
        client_command(&["influencers"], &server.key, &[("TALLY_ADDR", &https)]).await;
    assert!(!ok, "a certificate of an unknown CA was accepted: {stderr}");
    // A bare address without a TLS file is plaintext, which the TLS port refuses.
    let bare = format!("localhost:{port}");
    let (ok, stderr) =
        client_command(&["influencers"], &server.key, &[("TALLY_ADDR", &bare)]).await;
    assert!(!ok, "plaintext to the TLS port: {stderr}");
    server.stop().await;

    // Mutual TLS: the client certificate from --client-cert-file and --client-key-file.
    let server = TestApp::builder(TestDb::sqlite())
        .options(ServeOptions {
            tls: Some(pki.server_tls(true)),
            ..serve_options()
        })
        .spawn()
        .await;
    let addr = format!("https://localhost:{}", server.addr.port());
    let cert = pki.file("client.crt", &pki.client_cert);
    let key = pki.file("client.key", &pki.client_key);
    let (ok, stderr) = client_command(
        &[
            "influencers",
            "--client-cert-file",
            &cert,
            "--client-key-file",
            &key,
        ],
        &server.key,
        &[("TALLY_ADDR", &addr), ("TALLY_SERVER_CA_FILE", &ca)],
    )
    .await;
    assert!(ok, "mutual TLS with the client certificate: {stderr}");
    server.stop().await;
}

#[test]
fn tls_files_that_cannot_be_used_are_named() {
    let pki = pki();
    let cert = pki.file("tls.crt", &pki.server_cert);
    let key = pki.file("tls.key", &pki.server_key);
    let garbage = pki.file("garbage.pem", "not a certificate\n");
    let missing = pki.dir.path().join("missing.pem").display().to_string();

    let error = Tls::from_files(&garbage, &key, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("tls_cert_file") && error.contains(&garbage),
        "{error}"
    );
    let error = Tls::from_files(&cert, &missing, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("tls_key_file") && error.contains(&missing),
        "{error}"
    );
    // A certificate is not a key.
    let error = Tls::from_files(&cert, &cert, None).unwrap_err().to_string();
    assert!(
        error.contains("tls_key_file") && error.contains(&cert),
        "{error}"
    );
    let error = Tls::from_files(&cert, &key, Some(&garbage))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("tls_client_ca_file") && error.contains(&garbage),
        "{error}"
    );
    let tls = Tls::from_files(&cert, &key, Some(&cert)).unwrap();
    assert!(
        !format!("{tls:?}").contains("PRIVATE"),
        "Debug hides the key"
    );
}

/// Picks a free loopback port for a child process to bind.
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

#[tokio::test]
async fn the_binary_logs_one_json_line_per_rpc_and_serves_metrics() {
    let db = TestDb::sqlite();
    let url = db.url();
    Store::migrate(&url).await.unwrap();
    let store = Store::connect(&url, 1).await.unwrap();
    let key = create_tenant(&store, "acme").await;
    let (addr, health_addr, metrics_addr) = (free_port(), free_port(), free_port());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("serve")
        .env("TALLY_INSECURE_DEV_CUSTOMER_KEY", "true")
        .env("TALLY_DATABASE_URL", &url)
        .env("TALLY_LISTEN_ADDR", addr.to_string())
        .env("TALLY_HEALTH_ADDR", health_addr.to_string())
        .env("TALLY_METRICS_ADDR", metrics_addr.to_string())
        .env("TALLY_SCHEDULER_ENABLED", "false")
        .env("TALLY_LOG_FORMAT", "json")
        .env("TALLY_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut connected = None;
    for _ in 0..100 {
        if let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            connected = Some(channel);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut influencers = InfluencerServiceClient::new(connected.expect("server came up"));
    influencers
        .list_influencers(with_key(ListInfluencersRequest::default(), &key))
        .await
        .unwrap();
    let bogus = "tally_bogus0000000000000000000000";
    let refused = influencers
        .list_influencers(with_key(ListInfluencersRequest::default(), bogus))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(
        health_status(plaintext(health_addr).await).await.unwrap(),
        ServingStatus::Serving as i32
    );

    // A process of its own: the counts are exact.
    let text = scrape(metrics_addr).await;
    let ok = format!("tally_rpc_requests_total{{method=\"{LIST}\",code=\"OK\"}}");
    let denied = format!("tally_rpc_requests_total{{method=\"{LIST}\",code=\"UNAUTHENTICATED\"}}");
    assert_eq!(sample(&text, &ok), Some(1.0), "{text}");
    assert_eq!(sample(&text, &denied), Some(1.0), "{text}");
    assert!(
        !text.contains("grpc.health"),
        "health listener calls are not counted"
    );

    let pid = child.id().unwrap() as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc_kill(pid, 15) }, 0);
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let rpcs: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|json| json["message"] == "rpc")
        .collect();
    assert_eq!(
        rpcs.len(),
        2,
        "one line per RPC on the main port:\n{stderr}"
    );
    let ok = &rpcs[0];
    assert_eq!(ok["level"], "INFO", "{ok}");
    assert_eq!(ok["method"], LIST, "{ok}");
    assert_eq!(ok["code"], "OK", "{ok}");
    assert_eq!(ok["tenant"], "acme", "{ok}");
    assert!(ok.get("span").is_none(), "the line stands alone: {ok}");
    assert!(ok["latency_ms"].as_f64().unwrap() >= 0.0, "{ok}");
    let denied = &rpcs[1];
    assert_eq!(denied["code"], "UNAUTHENTICATED", "{denied}");
    assert!(denied.get("tenant").is_none(), "{denied}");
    assert!(!stderr.contains(&key), "no key in the logs");
    assert!(!stderr.contains(bogus), "no refused key in the logs");
    assert!(!stderr.contains("Bearer"), "no metadata in the logs");
}

/// The snapshot lag's query, on both databases: one row per tenant with snapshots, the
/// newest compute time of each.
async fn newest_snapshot_times_per_tenant(db: TestDb) {
    Store::migrate(&db.url()).await.unwrap();
    let store = Store::connect(&db.url(), 2).await.unwrap();
    create_tenant(&store, "acme").await;
    create_tenant(&store, "beta").await;
    assert!(store.newest_snapshot_times().await.unwrap().is_empty());
    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let recompute = |tenant: &'static str| {
        let store = store.clone();
        async move {
            tally::engine::recompute(
                &store,
                &Default::default(),
                tenant,
                tally::kpi::period::Period::day(day),
                "run-test",
            )
            .await
            .unwrap()
        }
    };
    let before = chrono::Utc::now();
    recompute("beta").await;
    let newest = store.newest_snapshot_times().await.unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].0, "beta");
    recompute("acme").await;
    let newest = store.newest_snapshot_times().await.unwrap();
    let tenants: Vec<&str> = newest.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(tenants, ["acme", "beta"]);
    let slack = chrono::TimeDelta::seconds(1);
    for (tenant, time) in &newest {
        assert!(
            *time >= before - slack && *time <= chrono::Utc::now() + slack,
            "{tenant} {time}"
        );
    }
    assert!(newest[0].1 >= newest[1].1, "acme was computed after beta");
}

crate::on_both_database_kinds!(newest_snapshot_times_per_tenant);
