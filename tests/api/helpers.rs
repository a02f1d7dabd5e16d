//! Test harness: a real server on an ephemeral loopback port over a fresh database, SQLite
//! always and PostgreSQL when TALLY_TEST_POSTGRES_URL is set.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tally::domain::tenant::{Tenant, TenantSettings};
use tally::jobs::{JobSettings, Jobs};
use tally::proto::campaign_service_client::CampaignServiceClient;
use tally::proto::channel_service_client::ChannelServiceClient;
use tally::proto::goal_service_client::GoalServiceClient;
use tally::proto::influencer_service_client::InfluencerServiceClient;
use tally::proto::ingest_service_client::IngestServiceClient;
use tally::proto::kpi_service_client::KpiServiceClient;
use tally::proto::segment_service_client::SegmentServiceClient;
use tally::server::ServeOptions;
use tally::storage::Store;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// A fresh database for one test.
pub enum TestDb {
    /// A SQLite file in a temporary directory.
    Sqlite(tempfile::TempDir),
    /// A PostgreSQL database created for the test.
    Postgres(String),
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        TestDb::Sqlite(tempfile::tempdir().expect("temp dir"))
    }

    /// A new database on the server of TALLY_TEST_POSTGRES_URL, or None when unset. A set
    /// but unreachable server fails the test: the PostgreSQL half must never skip silently.
    pub async fn postgres() -> Option<TestDb> {
        let base = std::env::var("TALLY_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let admin = sea_orm::Database::connect(base.as_str())
            .await
            .unwrap_or_else(|e| {
                panic!("TALLY_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {e}")
            });
        let (prefix, _) = split_database(&base);
        let name = format!(
            "{}_t{}",
            database_name(&base),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        use sea_orm::ConnectionTrait;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        admin.close().await.ok();
        Some(TestDb::Postgres(format!("{prefix}/{name}")))
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(dir) => format!("sqlite://{}/tally.db", dir.path().display()),
            TestDb::Postgres(url) => url.clone(),
        }
    }
}

/// `postgres://user@host:port` and the rest of a URL after the database name.
fn split_database(url: &str) -> (String, String) {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = url[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(url.len());
    (url[..path_start].to_string(), url[path_start..].to_string())
}

fn database_name(url: &str) -> String {
    let (_, rest) = split_database(url);
    let name = rest
        .trim_start_matches('/')
        .split('?')
        .next()
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        "tally".into()
    } else {
        name
    }
}

/// A running server with one tenant and its key.
pub struct TestApp {
    /// Shared with replicas, so that a temporary SQLite directory lives as long as every
    /// server on it.
    db: Arc<TestDb>,
    /// The test's own view of the database; also the server's unless it was given
    /// [`TestAppBuilder::server_url`] or is a [`TestApp::replica`].
    pub store: Store,
    pub addr: std::net::SocketAddr,
    /// Plaintext channel to `addr`. With TLS on it is lazy and left unused: tests open
    /// their own TLS channels to `addr`.
    pub channel: Channel,
    pub key: String,
    /// Address of the plaintext health listener, when the options had one.
    pub health_addr: Option<std::net::SocketAddr>,
    /// Address of the Prometheus listener, when the options had one.
    pub metrics_addr: Option<std::net::SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// ServeOptions for tests: a 5-second grace, the rest as in production.
pub fn serve_options() -> ServeOptions {
    ServeOptions {
        grace: Duration::from_secs(5),
        ..Default::default()
    }
}

/// A listener on a free loopback port, for the main port or the options' extra listeners.
pub async fn listener() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
}

type BeforeServe = Box<dyn FnOnce(Store) -> Pin<Box<dyn Future<Output = ()>>>>;

/// How a [`TestApp`] starts: serve options, connectors, and what is in the database first.
pub struct TestAppBuilder {
    db: Arc<TestDb>,
    /// Some for a replica: the database is ready and this is its key.
    key: Option<String>,
    options: ServeOptions,
    registry: tally::connectors::Registry,
    settings: JobSettings,
    credentials: tally::connectors::Credentials,
    server_url: Option<String>,
    before_serve: Option<BeforeServe>,
}

impl TestAppBuilder {
    /// Serve options; start from [`serve_options`] to keep the tests' short grace.
    pub fn options(mut self, options: ServeOptions) -> Self {
        self.options = options;
        self
    }

    /// Connectors the server's jobs pull through.
    pub fn registry(mut self, registry: tally::connectors::Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Settings of the server's jobs.
    pub fn job_settings(mut self, settings: JobSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Credentials the server's connectors use.
    pub fn credentials(mut self, credentials: tally::connectors::Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// The server reaches the database at `url` (a proxy in front of it, say), while
    /// [`TestApp::store`] stays direct.
    pub fn server_url(mut self, url: impl Into<String>) -> Self {
        self.server_url = Some(url.into());
        self
    }

    /// Runs `seed` on the store, after tenant `acme` exists and before the server starts.
    pub fn before_serve<F, Fut>(mut self, seed: F) -> Self
    where
        F: FnOnce(Store) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.before_serve = Some(Box::new(move |store| Box::pin(seed(store))));
        self
    }

    /// Starts the server: on a new database, migrated, with tenant `acme` and its key.
    pub async fn spawn(self) -> TestApp {
        if let Ok(filter) = std::env::var("TALLY_TEST_LOG") {
            tally::telemetry::init(tally::config::LogFormat::Pretty, &filter);
        }
        let url = self.db.url();
        let (store, key) = match self.key {
            Some(key) => (Store::connect(&url, 5).await.expect("connect"), key),
            None => {
                Store::migrate(&url).await.expect("migrate");
                let store = Store::connect(&url, 5).await.expect("connect");
                let key = create_tenant(&store, "acme").await;
                (store, key)
            }
        };
        if let Some(seed) = self.before_serve {
            seed(store.clone()).await;
        }
        let server_store = match &self.server_url {
            Some(url) => Store::connect(url, 5).await.expect("connect the server"),
            None => store.clone(),
        };
        let options = self.options;
        let local =
            |l: &Option<tokio::net::TcpListener>| l.as_ref().map(|l| l.local_addr().expect("addr"));
        let health_addr = local(&options.health_listener);
        let metrics_addr = local(&options.metrics_listener);
        let tls = options.tls.is_some();
        let listener = listener().await;
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let (registry, credentials, settings) = (self.registry, self.credentials, self.settings);
        let server = tokio::spawn(async move {
            tally::server::serve(
                Jobs::new(
                    server_store,
                    tally::engine::SnapshotFeed::default(),
                    registry,
                    credentials,
                    settings,
                ),
                listener,
                async { rx.await.unwrap_or(()) },
                options,
            )
            .await
            .expect("server");
        });
        let endpoint = Channel::from_shared(format!("http://{addr}")).expect("uri");
        let channel = if tls {
            endpoint.connect_lazy()
        } else {
            endpoint.connect().await.expect("connect to server")
        };
        TestApp {
            db: self.db,
            store,
            addr,
            channel,
            key,
            health_addr,
            metrics_addr,
            shutdown: Some(tx),
            server: Some(server),
        }
    }
}

/// A job runner over `store` without schedule, pulling through `registry`.
pub fn jobs(store: &Store, registry: tally::connectors::Registry, settings: JobSettings) -> Jobs {
    Jobs::new(
        store.clone(),
        tally::engine::SnapshotFeed::default(),
        registry,
        tally::connectors::Credentials::default(),
        settings,
    )
}

/// Creates tenant `id` in Europe/Amsterdam with influencer `anna` (code ANNA10) and the
/// channels `anna-instagram`, `brand-site` (Website) and `brand-shop` (Shopify).
pub async fn small_tenant(store: &Store, id: &str) -> Tenant {
    use tally::domain::channel::{Channel, Platform};
    use tally::domain::influencer::{Influencer, TrackingValue};
    let tenant = Tenant {
        id: id.into(),
        display_name: id.into(),
        settings: TenantSettings {
            time_zone: "Europe/Amsterdam".into(),
            ..TenantSettings::default()
        },
    };
    store.create_tenant(&tenant).await.expect("create tenant");
    let anna = Influencer {
        display_name: "Anna".into(),
        tags: vec![],
        discount_codes: vec!["ANNA10".into()],
        tracking_values: vec![TrackingValue {
            utm_source: "influencer".into(),
            utm_campaign: "anna".into(),
        }],
    };
    store
        .create_influencer(id, "anna", &anna, None)
        .await
        .expect("create influencer");
    for (channel_id, platform, owner, account) in [
        (
            "anna-instagram",
            Platform::Instagram,
            Some("anna"),
            "17841400000000001",
        ),
        ("brand-site", Platform::Website, None, "123456789"),
        ("brand-shop", Platform::Shopify, None, "acme.myshopify.com"),
    ] {
        let channel = Channel {
            display_name: channel_id.into(),
            platform,
            owner: owner.map(String::from),
            account_id: account.into(),
            credentials_ref: format!("{}_TOKEN", channel_id.replace('-', "_").to_uppercase()),
        };
        store
            .create_channel(id, channel_id, &channel, None)
            .await
            .expect("create channel");
    }
    tenant
}

/// Rows of one kind that IngestService takes, for [`TestApp::ingest_all`].
pub trait IngestRows: Sized {
    /// Sends `rows` all or nothing: the count of rejected rows and their reasons.
    fn send(app: &TestApp, rows: Vec<Self>) -> impl Future<Output = (i32, String)>;
}

macro_rules! ingest_rows {
    ($($row:ident => $method:ident($request:ident)),* $(,)?) => {$(
        impl IngestRows for tally::proto::$row {
            async fn send(app: &TestApp, rows: Vec<Self>) -> (i32, String) {
                let response = app
                    .ingest()
                    .$method(app.req(tally::proto::$request {
                        rows,
                        all_or_nothing: true,
                    }))
                    .await
                    .unwrap()
                    .into_inner();
                (response.rejected_count, format!("{:?}", response.rejected))
            }
        }
    )*};
}

ingest_rows!(
    ChannelDayStats => ingest_channel_stats(IngestChannelStatsRequest),
    Order => ingest_orders(IngestOrdersRequest),
    WebTrafficRow => ingest_web_traffic(IngestWebTrafficRequest),
    AudienceMember => ingest_audience_members(IngestAudienceMembersRequest),
    Interaction => ingest_interactions(IngestInteractionsRequest),
    GiveawayEntry => ingest_giveaway_entries(IngestGiveawayEntriesRequest),
    MetricPoint => ingest_metric_points(IngestMetricPointsRequest),
);

impl TestApp {
    /// Starts a server over `db` with tenant `acme`, default options and no connectors.
    pub async fn spawn(db: TestDb) -> TestApp {
        TestApp::builder(db).spawn().await
    }

    /// A server over `db` with tenant `acme`, to be given options before it starts.
    pub fn builder(db: TestDb) -> TestAppBuilder {
        TestApp::builder_on(Arc::new(db))
    }

    /// Another server on this app's database, with its own store (so its own caches and
    /// write generations), called with this app's key.
    pub fn replica(&self) -> TestAppBuilder {
        TestAppBuilder {
            key: Some(self.key.clone()),
            ..TestApp::builder_on(self.db.clone())
        }
    }

    fn builder_on(db: Arc<TestDb>) -> TestAppBuilder {
        TestAppBuilder {
            db,
            key: None,
            options: serve_options(),
            registry: tally::connectors::Registry::new(),
            settings: JobSettings::default(),
            credentials: tally::connectors::Credentials::default(),
            server_url: None,
            before_serve: None,
        }
    }

    /// The URL of this app's database.
    pub fn db_url(&self) -> String {
        self.db.url()
    }

    /// Another tenant's key, on the same server.
    pub async fn other_tenant(&self, id: &str) -> String {
        create_tenant(&self.store, id).await
    }

    /// The same server, called with another key.
    pub fn with_key(mut self, key: String) -> TestApp {
        self.key = key;
        self
    }

    /// A request carrying this app's key.
    pub fn req<T>(&self, msg: T) -> Request<T> {
        with_key(msg, &self.key)
    }

    pub fn influencers(&self) -> InfluencerServiceClient<Channel> {
        InfluencerServiceClient::new(self.channel.clone())
    }
    pub fn channels(&self) -> ChannelServiceClient<Channel> {
        ChannelServiceClient::new(self.channel.clone())
    }
    pub fn campaigns(&self) -> CampaignServiceClient<Channel> {
        CampaignServiceClient::new(self.channel.clone())
    }
    pub fn segments(&self) -> SegmentServiceClient<Channel> {
        SegmentServiceClient::new(self.channel.clone())
    }
    pub fn goals(&self) -> GoalServiceClient<Channel> {
        GoalServiceClient::new(self.channel.clone())
    }
    /// Ingests `rows` all or nothing, every one of which must be taken.
    pub async fn ingest_all<R: IngestRows>(&self, rows: Vec<R>) {
        let (rejected_count, rejected) = R::send(self, rows).await;
        assert_eq!(rejected_count, 0, "{rejected}");
    }

    pub fn ingest(&self) -> IngestServiceClient<Channel> {
        IngestServiceClient::new(self.channel.clone())
    }
    pub fn kpis(&self) -> KpiServiceClient<Channel> {
        KpiServiceClient::new(self.channel.clone())
    }

    /// Triggers shutdown without waiting; [`TestApp::stop`] then waits for the end.
    pub fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).expect("the server was running");
        }
    }

    /// Triggers shutdown and waits for the server to stop.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("server stops after shutdown")
                .expect("server task");
        }
    }
}

/// Creates tenant `id` with EUR and UTC and returns a new key.
pub async fn create_tenant(store: &Store, id: &str) -> String {
    store
        .create_tenant(&Tenant {
            id: id.into(),
            display_name: id.into(),
            settings: TenantSettings::default(),
        })
        .await
        .expect("create tenant");
    store.create_api_key(id).await.expect("create key").1
}

/// A request carrying `key`.
pub fn with_key<T>(msg: T, key: &str) -> Request<T> {
    let mut request = Request::new(msg);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("header"),
    );
    request
}

/// Asserts the code of a failed call and returns its status.
#[track_caller]
pub fn expect_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Ok(value) => panic!("expected {code:?}, got Ok({value:?})"),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected status: {status:?}");
            status
        }
    }
}

/// The fields named by the BadRequest of an INVALID_ARGUMENT status.
#[track_caller]
pub fn bad_fields<T: std::fmt::Debug>(result: Result<T, Status>) -> Vec<String> {
    use tonic_types::StatusExt;
    let status = expect_code(result, Code::InvalidArgument);
    let bad = status
        .get_details_bad_request()
        .expect("INVALID_ARGUMENT carries a BadRequest");
    let info = status
        .get_details_error_info()
        .expect("errors carry an ErrorInfo");
    assert_eq!(info.domain, "tally.dev");
    bad.field_violations.into_iter().map(|v| v.field).collect()
}

/// Runs each named `async fn(TestApp)` on SQLite, and on PostgreSQL when configured.
#[macro_export]
macro_rules! on_both_databases {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let app = $crate::helpers::TestApp::spawn($crate::helpers::TestDb::sqlite()).await;
                    super::$test(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(db) = $crate::helpers::TestDb::postgres().await else {
                        eprintln!("TALLY_TEST_POSTGRES_URL not set: PostgreSQL half skipped");
                        return;
                    };
                    let app = $crate::helpers::TestApp::spawn(db).await;
                    super::$test(app).await;
                }
            )*
        }
    };
}

/// Runs each named `async fn(TestDb)` on SQLite, and on PostgreSQL when configured.
#[macro_export]
macro_rules! on_both_database_kinds {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::helpers::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(db) = $crate::helpers::TestDb::postgres().await else {
                        eprintln!("TALLY_TEST_POSTGRES_URL not set: PostgreSQL half skipped");
                        return;
                    };
                    super::$test(db).await;
                }
            )*
        }
    };
}

/// Creates influencer `id` (named `display_name`, no codes) and its `channels`, each with
/// its id as account id.
pub async fn influencer_with_channels(
    store: &Store,
    tenant: &str,
    id: &str,
    display_name: &str,
    channels: &[(&str, tally::domain::channel::Platform)],
) {
    let influencer = tally::domain::influencer::Influencer {
        display_name: display_name.into(),
        tags: vec![],
        discount_codes: vec![],
        tracking_values: vec![],
    };
    store
        .create_influencer(tenant, id, &influencer, None)
        .await
        .expect("create influencer");
    for (channel_id, platform) in channels {
        let channel = tally::domain::channel::Channel {
            display_name: channel_id.to_string(),
            platform: *platform,
            owner: Some(id.into()),
            account_id: channel_id.to_string(),
            credentials_ref: String::new(),
        };
        store
            .create_channel(tenant, channel_id, &channel, None)
            .await
            .expect("create channel");
    }
}

/// Creates, through the API, influencer `id` (named `id`) with one discount code and one
/// tracking value (`utm_source`, and `utm_campaign` where not empty).
pub async fn create_tracked_influencer(
    app: &TestApp,
    id: &str,
    code: &str,
    source: &str,
    campaign: &str,
) {
    use tally::proto::{CreateInfluencerRequest, Influencer, TrackingValue};
    app.influencers()
        .create_influencer(app.req(CreateInfluencerRequest {
            influencer_id: id.into(),
            influencer: Some(Influencer {
                display_name: id.into(),
                discount_codes: vec![code.into()],
                tracking_values: vec![TrackingValue {
                    utm_source: source.into(),
                    utm_campaign: campaign.into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
}

/// Creates, through the API, channel `id` (named `id`, its id as account id) on
/// `platform`, owned by `owner` (`influencers/{id}`, or empty for the brand).
pub async fn create_channel(
    app: &TestApp,
    id: &str,
    platform: tally::proto::Platform,
    owner: &str,
) {
    use tally::proto::{Channel, CreateChannelRequest};
    app.channels()
        .create_channel(app.req(CreateChannelRequest {
            channel_id: id.into(),
            channel: Some(Channel {
                display_name: id.into(),
                platform: platform as i32,
                owner: owner.into(),
                account_id: id.into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
}

/// Creates, through the API, segment `id` named `display_name` with `rule`.
pub async fn create_segment(app: &TestApp, id: &str, display_name: &str, rule: &str) {
    use tally::proto::{CreateSegmentRequest, Segment};
    app.segments()
        .create_segment(app.req(CreateSegmentRequest {
            segment_id: id.into(),
            segment: Some(Segment {
                display_name: display_name.into(),
                rule: rule.into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
}

/// Asks the API to create custom KPI `id` (named `id`, unit `ratio`) with `formula`.
pub async fn create_custom_kpi(
    app: &TestApp,
    id: &str,
    formula: &str,
) -> Result<tonic::Response<tally::proto::KpiDefinition>, Status> {
    use tally::proto::{CreateKpiDefinitionRequest, KpiDefinition};
    app.kpis()
        .create_kpi_definition(app.req(CreateKpiDefinitionRequest {
            kpi_definition_id: id.into(),
            kpi_definition: Some(KpiDefinition {
                display_name: id.into(),
                unit: "ratio".into(),
                formula: formula.into(),
                ..Default::default()
            }),
        }))
        .await
}

/// The influencers the API lists for a call with `key`.
pub async fn list_influencers_with(
    app: &TestApp,
    key: &str,
) -> Result<tally::proto::ListInfluencersResponse, Status> {
    app.influencers()
        .list_influencers(with_key(
            tally::proto::ListInfluencersRequest::default(),
            key,
        ))
        .await
        .map(tonic::Response::into_inner)
}
