//! What operators rely on: health, reflection, shutdown, migrations, the admin commands.
use crate::helpers::{TestApp, TestDb};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tally::storage::Store;
use tokio::io::AsyncReadExt;
use tonic::transport::Channel;
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

/// Picks a free loopback port for a child process to bind.
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}
