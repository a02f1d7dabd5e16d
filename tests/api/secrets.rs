//! Tenant secrets end to end: a credential reference resolves only in its own tenant's
//! namespace (never to a server variable such as TALLY_DATABASE_URL, never to another
//! tenant's secret), a Shopify channel can only name a myshopify.com shop, a failed pull
//! says nothing of what listens where, and no spelling of a secret that a platform echoes
//! reaches the stored run.
//!
//! "Nothing was sent" is shown by a loopback listener that records every byte anyone sends
//! it: it stands for the platform, and the same run that sends the tenant's own token there
//! shows that it would have seen any other.
use crate::helpers::{TestApp, TestDb, bad_fields, with_key};
use chrono::{Datelike, NaiveDate, Utc};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tally::connectors::{BaseUrls, Credentials, HttpSettings, live_registry};
use tally::jobs;
use tally::proto;
use tally::proto::job_service_client::JobServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DB_SECRET: &str = "postgres://tally:db-password-1@db.internal/tally";
const ACME_SECRET: &str = "shpat_acme_own_token";
const OTHER_FILE_SECRET: &str = "shpat_other_file_token";
const OTHER_ENV_SECRET: &str = "shpat_other_env_token";

/// A loopback listener that records everything sent to it and answers every request with
/// `status` and a body made by `answer` from the request line.
struct Recorder {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    async fn start(status: u16, answer: fn(&str) -> String) -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut bytes = Vec::new();
                    let mut buffer = [0u8; 4096];
                    // Up to the end of the head: the connectors' requests here have no
                    // body but GA4's, which is not called.
                    while !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
                        let read =
                            tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer))
                                .await;
                        match read {
                            Ok(Ok(n)) if n > 0 => bytes.extend_from_slice(&buffer[..n]),
                            _ => break,
                        }
                    }
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let line = text.lines().next().unwrap_or_default().to_string();
                    log.lock().unwrap().push(text);
                    let body = answer(&line);
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Recorder {
            addr,
            received,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What each connection sent, in order.
    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One attempt per request, so that a failed pull fails at once.
fn http() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(5),
        max_attempts: 1,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

/// A credentials directory laid out as the server reads it, `<dir>/<tenant>/<reference>`.
fn secrets_dir(files: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (tenant, reference, secret) in files {
        std::fs::create_dir_all(dir.path().join(tenant)).unwrap();
        std::fs::write(
            dir.path().join(tenant).join(reference),
            format!("{secret}\n"),
        )
        .unwrap();
    }
    dir
}

fn channel(platform: proto::Platform, account_id: &str, reference: &str) -> proto::Channel {
    proto::Channel {
        display_name: "Channel".into(),
        platform: platform as i32,
        account_id: account_id.into(),
        credentials_ref: reference.into(),
        ..Default::default()
    }
}

async fn create(
    app: &TestApp,
    id: &str,
    channel: proto::Channel,
) -> Result<proto::Channel, tonic::Status> {
    app.channels()
        .create_channel(app.req(proto::CreateChannelRequest {
            channel_id: id.into(),
            channel: Some(channel),
            ..Default::default()
        }))
        .await
        .map(tonic::Response::into_inner)
}

fn date(day: NaiveDate) -> Option<tally::proto::google::r#type::Date> {
    Some(tally::proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

/// Runs yesterday again (forced) for `tenant`, whose key is `key`, and waits for the run
/// to end.
async fn run_yesterday(app: &TestApp, tenant: &str, key: &str) -> proto::JobRun {
    let tenant = app.store.get_tenant(tenant).await.unwrap();
    let y = jobs::yesterday(Utc::now(), &tenant);
    let mut client = JobServiceClient::new(app.channel.clone());
    let started = client
        .run_job(with_key(
            proto::RunJobRequest {
                name: "jobs/nightly".into(),
                first_day: date(y),
                last_day: date(y),
                force: true,
            },
            key,
        ))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..600 {
        let run = client
            .get_job_run(with_key(
                proto::GetJobRunRequest {
                    name: started.name.clone(),
                },
                key,
            ))
            .await
            .unwrap()
            .into_inner();
        if run.status != proto::RunStatus::Running as i32 {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {} did not end within a minute", started.name);
}

/// The detail of `channel`'s pull in `run`.
fn detail<'a>(run: &'a proto::JobRun, channel: &str) -> &'a proto::SourceResult {
    run.days
        .iter()
        .flat_map(|d| &d.sources)
        .find(|s| s.channel == format!("channels/{channel}"))
        .unwrap_or_else(|| panic!("no pull of {channel} in {run:?}"))
}

/// The issue's reproduction: a Shopify channel whose account id is a host the tenant picks
/// and whose reference is the server's database URL is refused, on create and on update.
async fn a_shopify_channel_cannot_name_a_host_the_tenant_picks(db: TestDb) {
    let recorder = Recorder::start(200, |_| r#"{"orders":[]}"#.into()).await;
    let dir = secrets_dir(&[("acme", "SHOP_TOKEN", ACME_SECRET)]);
    let vars = [("TALLY_DATABASE_URL".to_string(), DB_SECRET.to_string())];
    let app = TestApp::builder(db)
        // Production's base URLs: each shop is called at its own domain.
        .registry(live_registry(&BaseUrls::default(), &http()))
        .credentials(Credentials::new(Some(dir.path().to_path_buf()), vars))
        .spawn()
        .await;

    let port = recorder.addr.port();
    for host in [
        "localhost".to_string(),
        "localhost:443".into(),
        format!("127.0.0.1:{port}"),
        "evil.example".into(),
        "acme.myshopify.com.evil.example".into(),
        "acme.myshopify.com@evil.example".into(),
        "acme.myshopify.com:8443".into(),
    ] {
        let refused = create(
            &app,
            "shop",
            channel(proto::Platform::Shopify, &host, "TALLY_DATABASE_URL"),
        )
        .await;
        assert_eq!(bad_fields(refused), ["channel.account_id"], "{host}");
    }
    let refused = create(
        &app,
        "shop",
        channel(
            proto::Platform::Shopify,
            "acme.myshopify.com",
            "../other/SHOP",
        ),
    )
    .await;
    assert_eq!(bad_fields(refused), ["channel.credentials_ref"]);
    let listed = app
        .channels()
        .list_channels(app.req(proto::ListChannelsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.channels.is_empty(), "nothing stored: {listed:?}");

    let created = create(
        &app,
        "shop",
        channel(proto::Platform::Shopify, "Acme.myshopify.com", "SHOP_TOKEN"),
    )
    .await
    .unwrap();
    assert_eq!(created.account_id, "acme.myshopify.com");
    let refused = app
        .channels()
        .update_channel(app.req(proto::UpdateChannelRequest {
            channel: Some(proto::Channel {
                name: created.name.clone(),
                account_id: "localhost".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["account_id".into()],
            }),
        }))
        .await;
    assert_eq!(bad_fields(refused), ["channel.account_id"]);
    let stored = app.store.get_channel("acme", "shop").await.unwrap();
    assert_eq!(stored.spec.account_id, "acme.myshopify.com", "unchanged");

    // A channel stored before hosts were checked is refused by the connector too, with a
    // message that says why and nothing about what listens on localhost.
    app.store
        .delete_channel("acme", "shop", None)
        .await
        .unwrap();
    let mut legacy = stored.spec.clone();
    legacy.account_id = "localhost".into();
    app.store
        .create_channel("acme", "legacy", &legacy, None)
        .await
        .unwrap();
    let run = run_yesterday(&app, "acme", &app.key).await;
    let pull = detail(&run, "legacy");
    assert_eq!(pull.status, proto::RunStatus::Failed as i32, "{pull:?}");
    assert!(pull.detail.contains("not a shop domain"), "{}", pull.detail);
    for hint in ["refused", "443", "os error", "dns", "tls", "connect"] {
        assert!(
            !pull.detail.to_lowercase().contains(hint),
            "`{hint}` in {}",
            pull.detail
        );
    }
    assert!(recorder.received().is_empty());
}

/// A reference names a secret only in the tenant's own namespace: not a variable of the
/// server, not another tenant's file or variable. The run that sends the tenant's own
/// token to the recorder sends nothing else to anyone.
async fn a_tenant_can_send_only_its_own_credentials(db: TestDb) {
    let recorder = Recorder::start(200, |_| r#"{"orders":[]}"#.into()).await;
    let dir = secrets_dir(&[
        ("acme", "SHOP_TOKEN", ACME_SECRET),
        ("other", "OTHER_SHOP", OTHER_FILE_SECRET),
    ]);
    // The server's real environment, plus a database URL and another tenant's variable.
    let vars = std::env::vars().chain([
        ("TALLY_DATABASE_URL".to_string(), DB_SECRET.to_string()),
        (
            "TALLY_CRED_OTHER__OTHER_ENV".to_string(),
            OTHER_ENV_SECRET.to_string(),
        ),
    ]);
    let app = TestApp::builder(db)
        .registry(live_registry(
            &BaseUrls {
                // The operator points Shopify at a proxy: here, the recorder.
                shopify: Some(recorder.url()),
                ..BaseUrls::default()
            },
            &http(),
        ))
        .credentials(Credentials::new(Some(dir.path().to_path_buf()), vars))
        .spawn()
        .await;
    let other_key = app.other_tenant("other").await;

    let foreign = [
        ("db-url", "TALLY_DATABASE_URL"),
        ("path", "PATH"),
        ("home", "HOME"),
        ("other-file", "OTHER_SHOP"),
        ("other-env", "OTHER_ENV"),
        ("other-env-spelled", "OTHER__OTHER_ENV"),
    ];
    for (id, reference) in foreign {
        create(
            &app,
            id,
            // One channel per shop and platform.
            channel(
                proto::Platform::Shopify,
                &format!("{id}.myshopify.com"),
                reference,
            ),
        )
        .await
        .unwrap();
    }
    create(
        &app,
        "own",
        channel(proto::Platform::Shopify, "acme.myshopify.com", "SHOP_TOKEN"),
    )
    .await
    .unwrap();
    // The other tenant's secrets are there, for the other tenant.
    for (id, reference) in [("file", "OTHER_SHOP"), ("env", "OTHER_ENV")] {
        app.channels()
            .create_channel(with_key(
                proto::CreateChannelRequest {
                    channel_id: id.into(),
                    channel: Some(channel(
                        proto::Platform::Shopify,
                        &format!("other-{id}.myshopify.com"),
                        reference,
                    )),
                    ..Default::default()
                },
                &other_key,
            ))
            .await
            .unwrap();
    }

    let run = run_yesterday(&app, "acme", &app.key).await;
    for (id, _) in foreign {
        let pull = detail(&run, id);
        assert_eq!(
            pull.status,
            proto::RunStatus::Failed as i32,
            "{id}: {pull:?}"
        );
        assert!(
            pull.detail.contains("no credential"),
            "{id}: {}",
            pull.detail
        );
    }
    assert_eq!(
        detail(&run, "own").status,
        proto::RunStatus::Succeeded as i32
    );
    // Shopify pulls the trailing days too, in two passes a day, each with the own token.
    let received = recorder.received();
    assert!(!received.is_empty());
    for sent in &received {
        assert!(
            sent.contains(ACME_SECRET),
            "only the own channel called out: {sent}"
        );
        for secret in [DB_SECRET, OTHER_FILE_SECRET, OTHER_ENV_SECRET] {
            assert!(!sent.contains(secret), "{secret} sent: {sent}");
        }
    }

    let run = run_yesterday(&app, "other", &other_key).await;
    for id in ["file", "env"] {
        let pull = detail(&run, id);
        assert_eq!(
            pull.status,
            proto::RunStatus::Succeeded as i32,
            "{id}: {pull:?}"
        );
    }
    let later = recorder.received().split_off(received.len());
    assert!(later.iter().any(|r| r.contains(OTHER_FILE_SECRET)));
    assert!(later.iter().any(|r| r.contains(OTHER_ENV_SECRET)));
    assert!(
        later
            .iter()
            .all(|r| !r.contains(DB_SECRET) && !r.contains(ACME_SECRET))
    );
}

/// A pull that cannot reach its platform says so, and not what answered where: no
/// address, port or operating-system error reaches the stored run.
async fn a_failed_pull_does_not_tell_what_listens_where(db: TestDb) {
    // A port nobody listens on: bound, then released.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let dir = secrets_dir(&[("acme", "YT_KEY", "yt-key-1")]);
    let app = TestApp::builder(db)
        .registry(live_registry(
            &BaseUrls {
                youtube: format!("http://{closed}"),
                ..BaseUrls::default()
            },
            &http(),
        ))
        .credentials(Credentials::new(Some(dir.path().to_path_buf()), []))
        .spawn()
        .await;
    create(
        &app,
        "yt",
        channel(
            proto::Platform::Youtube,
            "UC_x5XG1OV2P6uZZ5FSM9Ttw",
            "YT_KEY",
        ),
    )
    .await
    .unwrap();
    let run = run_yesterday(&app, "acme", &app.key).await;
    let pull = detail(&run, "yt");
    assert_eq!(pull.status, proto::RunStatus::Failed as i32, "{pull:?}");
    assert!(pull.detail.contains("could not connect"), "{}", pull.detail);
    let port = closed.port().to_string();
    for hint in [
        "127.0.0.1",
        port.as_str(),
        "refused",
        "os error",
        "tcp",
        "http://",
    ] {
        assert!(!pull.detail.contains(hint), "`{hint}` in {}", pull.detail);
    }
}

/// Every spelling of `secret` a URL, a form or JSON may give it.
fn spellings(secret: &str) -> Vec<String> {
    let form: String = secret
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let lower_hex: String = secret
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02x}"),
        })
        .collect();
    let every_byte: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    vec![
        secret.to_string(),
        form.clone(),
        lower_hex,
        every_byte,
        form.replace('%', "%25"),
        secret.replace('/', "\\/"),
        serde_json::to_string(secret)
            .unwrap()
            .trim_matches('"')
            .to_string(),
    ]
}

/// A platform that echoes the request URL in its error body: the secret in the query
/// string comes back percent-encoded, and no spelling of it reaches the stored run.
async fn an_echoed_secret_is_scrubbed_in_every_spelling(db: TestDb) {
    // Google and the Graph API name the request in their errors; this one names all of it.
    let recorder = Recorder::start(400, |line| {
        let target = line.split(' ').nth(1).unwrap_or_default();
        serde_json::json!({"error": {
            "code": 400,
            "message": format!("Bad request {target} (https://platform.example{target})"),
        }})
        .to_string()
    })
    .await;
    const YT_SECRET: &str = "AIza+yt/Key=Ab==";
    const IG_SECRET: &str = "EAAB+ig/Tok=En 9==";
    let dir = secrets_dir(&[
        ("acme", "YT_KEY", YT_SECRET),
        ("acme", "IG_TOKEN", IG_SECRET),
    ]);
    let app = TestApp::builder(db)
        .registry(live_registry(
            &BaseUrls {
                youtube: recorder.url(),
                instagram: recorder.url(),
                ..BaseUrls::default()
            },
            &http(),
        ))
        .credentials(Credentials::new(Some(dir.path().to_path_buf()), []))
        .spawn()
        .await;
    create(
        &app,
        "yt",
        channel(
            proto::Platform::Youtube,
            "UC_x5XG1OV2P6uZZ5FSM9Ttw",
            "YT_KEY",
        ),
    )
    .await
    .unwrap();
    create(
        &app,
        "ig",
        channel(proto::Platform::Instagram, "17841400000000001", "IG_TOKEN"),
    )
    .await
    .unwrap();
    let run = run_yesterday(&app, "acme", &app.key).await;

    // Both secrets went out in the query string, encoded, and came back in the answers.
    let received = recorder.received();
    assert!(
        received
            .iter()
            .any(|r| r.contains("key=AIza%2Byt%2FKey%3DAb%3D%3D"))
    );
    assert!(
        received
            .iter()
            .any(|r| r.contains("access_token=EAAB%2Big%2FTok%3DEn+9%3D%3D"))
    );
    // The run as the API returns it from the store, and each pull's stored error.
    let tenant = app.store.get_tenant("acme").await.unwrap();
    let y = jobs::yesterday(Utc::now(), &tenant);
    let mut texts = vec![run.error.clone()];
    for day in &run.days {
        texts.push(day.detail.clone());
        texts.extend(day.steps.iter().map(|s| s.detail.clone()));
        for source in &day.sources {
            texts.push(source.detail.clone());
            texts.extend(source.skipped_rows.iter().cloned());
        }
    }
    for (channel, secret) in [("yt", YT_SECRET), ("ig", IG_SECRET)] {
        let pull = detail(&run, channel);
        assert_eq!(pull.status, proto::RunStatus::Failed as i32, "{pull:?}");
        assert!(
            pull.detail.contains("Bad request"),
            "the echo: {}",
            pull.detail
        );
        eprintln!("{channel}: {}", pull.detail);
        let stored = app.store.get_pull("acme", channel, y).await.unwrap();
        texts.push(
            stored
                .and_then(|p| p.error)
                .expect("the pull's error is stored"),
        );
        for spelled in spellings(secret) {
            for text in &texts {
                assert!(!text.contains(&spelled), "`{spelled}` in {text}");
            }
        }
    }
}

crate::on_both_database_kinds!(
    a_shopify_channel_cannot_name_a_host_the_tenant_picks,
    a_tenant_can_send_only_its_own_credentials,
    a_failed_pull_does_not_tell_what_listens_where,
    an_echoed_secret_is_scrubbed_in_every_spelling,
);
