//! The `tally` command line: parses arguments and runs the library; `main.rs` only calls
//! [`run`], so tests drive exactly what production runs.
use crate::config::Settings;
use crate::domain::DomainError;
use crate::domain::names::check_id;
use crate::domain::tenant::{Tenant, TenantSettings};
use crate::jobs::JobSettings;
use crate::storage::Store;
use clap::{Parser, Subcommand};
use std::time::Duration;

/// Tally: KPIs for influencer and social-media marketing, served over gRPC.
#[derive(Debug, Parser)]
#[command(name = "tally", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (applies migrations first unless TALLY_MIGRATE_ON_START=false).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Seed a demo tenant on embedded SQLite (`tally-demo.db`, made anew each run, unless
    /// TALLY_DATABASE_URL is set), print its API key and serve it.
    Demo,
    /// Run the nightly job once, now, on this process (for cron, backfills and repairs):
    /// the due days of every tenant, or a range of days. Exits 1 when a run failed.
    RunJob {
        /// Only this tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// First day of a backfill (YYYY-MM-DD); with --to.
        #[arg(long, requires = "to")]
        from: Option<chrono::NaiveDate>,
        /// Last day of a backfill (YYYY-MM-DD); with --from.
        #[arg(long, requires = "from")]
        to: Option<chrono::NaiveDate>,
        /// Run days that already succeeded again.
        #[arg(long)]
        force: bool,
        /// Map the responses kept for each day of --from..--to again with the current
        /// connectors (no platform is called) and recompute the days: `jobs/rederive`.
        #[arg(long, requires = "from")]
        rederive: bool,
    },
    /// Ask a server's grpc.health.v1 whether it is SERVING; exits 0 if so, 1 otherwise (for
    /// probes and `helm test` in images without a shell).
    HealthCheck {
        /// The server and how to reach it.
        #[command(flatten)]
        server: crate::client::address::ServerAddr,
        /// Service to ask about; empty for the whole server.
        #[arg(long, default_value = "")]
        service: String,
    },
    /// Manage tenants and API keys.
    #[command(subcommand)]
    Admin(Admin),
    /// Send an observation file (CSV or NDJSON) to a running server; prints a summary and
    /// exits 1 when rows were rejected.
    Ingest {
        /// What the file holds.
        #[arg(long, value_enum)]
        kind: crate::client::files::Kind,
        /// The file.
        #[arg(long)]
        file: std::path::PathBuf,
        /// File format; by default from the extension (.csv, .ndjson, .jsonl).
        #[arg(long, value_enum)]
        format: Option<crate::client::files::Format>,
        /// Rows per call, 1 to 10000.
        #[arg(long, default_value_t = 10000, value_parser = clap::value_parser!(u16).range(1..=10000))]
        batch_size: u16,
        /// The server and how to reach it.
        #[command(flatten)]
        server: crate::client::address::ServerAddr,
        /// API key of the tenant.
        #[command(flatten)]
        key: crate::client::key::ClientKey,
        /// Attempts per batch when the server does not answer (it stopped, restarted or
        /// the connection broke; or RESOURCE_EXHAUSTED with a time to wait), the first
        /// included. Batches are idempotent, so a resent one is never stored twice.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
        max_attempts: u32,
        /// Longest total wait, in seconds, between the attempts of one batch.
        #[arg(long, default_value_t = 120)]
        max_retry_seconds: u64,
    },
    /// The KPI catalogue, and a KPI's values per day, week, month or range (from a running
    /// server).
    #[command(subcommand)]
    Kpi(crate::client::kpi::KpiCommand),
    /// Every goal with its progress, those needing attention first.
    Goals(crate::client::goals::GoalsArgs),
    /// The tenant's influencers with their codes and tags.
    Influencers(crate::client::lists::InfluencersArgs),
    /// Recent job runs, newest first.
    Runs(crate::client::lists::RunsArgs),
    /// What a campaign added beyond the baseline of the weeks before it (LIFT.md): one row
    /// per tenant-wide KPI with its lift and prediction interval, or per day with --days.
    Lift(crate::client::lift::LiftArgs),
    /// Draws a KPI's values on one or more scopes as an SVG or PNG line chart.
    Chart(crate::client::chart::ChartArgs),
    /// Writes one self-contained HTML page: goals, top influencers, charts.
    Report(crate::client::report::ReportArgs),
}

/// Administration of tenants and keys: works directly on the database, through the same
/// use cases as TenantService (`engine::tenants`).
#[derive(Debug, Subcommand)]
pub enum Admin {
    /// Create a tenant and its first API key; prints the key alone on stdout.
    CreateTenant {
        /// Name shown to people.
        name: String,
        /// Tenant id (a-z, 0-9, -); derived from the name when omitted.
        #[arg(long)]
        id: Option<String>,
        /// IANA time zone that defines the tenant's days.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// ISO 4217 reporting currency.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// Days after a campaign's end during which its orders still count.
        #[arg(long, default_value_t = 30)]
        order_window_days: i32,
        /// Days after a first code order in which a repeat order makes a returning buyer.
        #[arg(long, default_value_t = 90)]
        returning_window_days: i32,
        /// Recent days each nightly run pulls and recomputes again, 0 to 60.
        #[arg(long, default_value_t = 3)]
        recompute_trailing_days: i32,
        /// Days before a campaign's start that its lift's baseline learns from, 28 to 364.
        #[arg(long, default_value_t = 56)]
        lift_pre_period_days: i32,
    },
    /// Change a tenant's settings. The time zone, currency and windows are refused once
    /// the tenant has KPI snapshots (they were computed with the old ones); the trailing
    /// days can change at any time.
    UpdateSettings {
        /// Tenant id.
        tenant: String,
        /// New IANA time zone.
        #[arg(long)]
        time_zone: Option<String>,
        /// New ISO 4217 reporting currency.
        #[arg(long)]
        currency: Option<String>,
        /// New order window, in days.
        #[arg(long)]
        order_window_days: Option<i32>,
        /// New returning-buyer window, in days.
        #[arg(long)]
        returning_window_days: Option<i32>,
        /// New count of recent days each nightly run recomputes, 0 to 60.
        #[arg(long)]
        recompute_trailing_days: Option<i32>,
        /// New default lift pre-period, 28 to 364 days.
        #[arg(long)]
        lift_pre_period_days: Option<i32>,
    },
    /// List every tenant with its settings.
    ListTenants,
    /// Create another API key for a tenant; prints the key alone on stdout.
    CreateKey {
        /// Tenant id.
        tenant: String,
    },
    /// List a tenant's API keys (ids and times; no key is ever shown again).
    ListKeys {
        /// Tenant id.
        tenant: String,
    },
    /// Revoke an API key by its id (printed on stderr when the key was created).
    RevokeKey {
        /// Tenant id.
        tenant: String,
        /// Key id, such as `k1a2b3c4d5e6f`.
        key_id: String,
    },
    /// Make an operator key for TenantService: prints the key alone on stdout and, on
    /// stderr, the hash to set as TALLY_OPERATOR_KEY_HASH. Touches no database.
    OperatorKey,
}

/// Errors of a command, printed by `main`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// Bad arguments.
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// A tenant or key could not be provisioned.
    #[error(transparent)]
    Provision(#[from] crate::engine::tenants::ProvisionError),
    /// The server failed.
    #[error(transparent)]
    Server(#[from] crate::server::ServerError),
    /// An upload failed.
    #[error(transparent)]
    Upload(#[from] crate::client::upload::UploadError),
    /// The server cannot be reached at the address given.
    #[error(transparent)]
    Connect(#[from] crate::client::address::AddressError),
    /// Bad command-line input.
    #[error("{0}")]
    Usage(String),
    /// The job runner failed.
    #[error(transparent)]
    Job(#[from] crate::jobs::JobError),
    /// The server is not healthy.
    #[error("{0}")]
    Unhealthy(String),
    /// A job run ended FAILED.
    #[error("{0}")]
    RunFailed(String),
    /// Some rows were not stored; the summary lists them.
    #[error("{0} rows were rejected")]
    Rejected(u64),
    /// An analysts' command failed.
    #[error(transparent)]
    Human(#[from] crate::client::connection::HumanError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Prints a failed command's error once. With JSON logs, one log event that collectors
/// parse; otherwise one plain `error: …` line on stderr, `error:` in red only on a terminal
/// (and without NO_COLOR).
pub fn print_error(error: &CliError, format: crate::config::LogFormat) {
    use std::io::IsTerminal;
    match format {
        // Unless the filter drops errors: the failure is then said plainly all the same.
        crate::config::LogFormat::Json if tracing::enabled!(tracing::Level::ERROR) => {
            tracing::error!(error = %error, "command failed")
        }
        _ => {
            if crate::telemetry::colour(std::io::stderr().is_terminal()) {
                eprintln!("\x1b[1;31merror:\x1b[0m {error}");
            } else {
                eprintln!("error: {error}");
            }
        }
    }
}

/// The log filter a command starts with: the settings' own, except that `tally demo` at
/// the default level leaves out the lines that would bury its summary: one per migration,
/// one per backfilled day's recompute, the scheduler's start-up. `TALLY_LOG` shows them.
pub fn log_filter(cli: &Cli, settings: &Settings) -> String {
    let default = Settings::default().log;
    if matches!(cli.command, Command::Demo) && settings.log == default {
        format!(
            "{default},sea_orm_migration=warn,tally::engine::recompute=warn,\
             tokio_cron_scheduler=warn"
        )
    } else {
        settings.log.clone()
    }
}

/// A tenant id made from a display name: lowercase letters and digits joined by `-`.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(63).collect();
    let slug = slug.trim_end_matches('-').to_string();
    if slug.starts_with(|c: char| c.is_ascii_lowercase()) {
        slug
    } else {
        format!("t-{slug}").trim_end_matches('-').to_string()
    }
}

/// Runs a parsed command line with the given settings.
pub async fn run(cli: Cli, settings: Settings) -> Result<(), CliError> {
    match cli.command {
        Command::Migrate => {
            Store::migrate(&settings.database_url).await?;
            tracing::info!("migrations applied");
            // Without the secret the schema still moves on; the keys follow at the first
            // start of `serve`, which cannot start without it.
            match crate::jobs::settings::customer_keys(&settings) {
                Ok(keys) => {
                    let store = Store::connect(&settings.database_url, 2).await?;
                    rekey(&store, &keys).await?;
                }
                Err(e) => tracing::warn!("stored e-mail hashes not rekeyed: {e}"),
            }
            Ok(())
        }
        Command::Serve => {
            if settings.migrate_on_start {
                Store::migrate(&settings.database_url).await?;
            }
            serve(settings).await
        }
        Command::Demo => {
            let mut settings = settings;
            if std::env::var_os("TALLY_DATABASE_URL").is_none() {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{DEMO_DB}{suffix}"));
                }
                settings.database_url = format!("sqlite://{DEMO_DB}");
            }
            // The demo tenant's channels have no real credentials: its data is generated.
            settings.connectors = crate::config::ConnectorMode::Demo;
            // Its customers are generated too: the public development secret will do,
            // unless one is given, and it is chosen here, so not warned about.
            settings.insecure_dev_customer_key = true;
            Store::migrate(&settings.database_url).await?;
            let store = Store::connect(&settings.database_url, 4).await?;
            let jobs = jobs(&settings, store, JobSettings::for_demo(&settings)?)?;
            let demo = crate::demo::run(&jobs, chrono::Utc::now(), crate::demo::HISTORY_DAYS)
                .await
                .map_err(|e| match e {
                    crate::demo::DemoError::Storage(e) => CliError::Storage(e),
                    crate::demo::DemoError::Invalid(e) => CliError::Invalid(e),
                    crate::demo::DemoError::Job(e) => CliError::Job(e),
                })?;
            print!("{demo}");
            print!("{}", demo.next_steps(settings.listen_addr));
            serve_jobs(&settings, jobs).await
        }
        Command::RunJob {
            tenant,
            from,
            to,
            force,
            rederive,
        } => {
            Store::migrate(&settings.database_url).await?;
            let store =
                Store::connect(&settings.database_url, settings.database_max_connections).await?;
            let jobs = jobs(
                &settings,
                store.clone(),
                JobSettings::from_settings(&settings)?,
            )?;
            rekey(&store, &jobs.settings().customer_keys).await?;
            let abandoned = store.fail_abandoned_runs().await?;
            if abandoned > 0 {
                tracing::warn!(abandoned, "marked runs of stopped processes as failed");
            }
            let tenants = match tenant {
                Some(t) => vec![t],
                None => store.tenant_ids().await?,
            };
            let mut failed = Vec::new();
            for id in tenants {
                let tenant = store.get_tenant(&id).await?;
                let days = match (from, to) {
                    (Some(from), Some(to)) => crate::kpi::period::Period::new(from, to)
                        .ok_or_else(|| {
                            CliError::Usage(format!("--to {to} is before --from {from}"))
                        })?
                        .iter_days()
                        .collect(),
                    _ => jobs.due_days(&tenant, chrono::Utc::now()).await?,
                };
                if days.is_empty() {
                    println!("{id}: nothing due");
                    continue;
                }
                let job = if from.is_some() {
                    crate::jobs::BACKFILL
                } else {
                    crate::jobs::NIGHTLY
                };
                let spec = if rederive {
                    crate::jobs::RunSpec::rederive(days)
                } else {
                    crate::jobs::RunSpec {
                        job: job.into(),
                        days,
                        force,
                    }
                };
                let run = run_job(&jobs, &store, &tenant, spec).await?;
                println!(
                    "{id}: run {} {} for {} to {}, {} rows pulled{}",
                    run.id,
                    run.status,
                    run.first_day,
                    run.last_day,
                    run.rows_pulled,
                    run.error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                );
                if run.status == "failed" {
                    failed.push(format!("{id}: run {}", run.id));
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(CliError::RunFailed(format!(
                    "failed runs: {}",
                    failed.join(", ")
                )))
            }
        }
        Command::Ingest {
            kind,
            file,
            format,
            batch_size,
            server,
            key,
            max_attempts,
            max_retry_seconds,
        } => {
            let api_key = key.resolve().map_err(|e| CliError::Usage(e.to_string()))?;
            let format = format
                .or_else(|| crate::client::files::Format::from_path(&file))
                .ok_or_else(|| {
                    CliError::Usage(
                        "cannot tell the format from the file name; pass --format csv or ndjson"
                            .into(),
                    )
                })?;
            let channel = server.connect().await?;
            let retry = crate::client::upload::RetryPolicy {
                max_attempts,
                max_wait: Duration::from_secs(max_retry_seconds),
                ..crate::client::upload::RetryPolicy::default()
            };
            let summary = crate::client::upload::upload(
                channel,
                &api_key,
                kind,
                &file,
                format,
                batch_size as usize,
                retry,
            )
            .await?;
            print!("{summary}");
            if summary.rejected > 0 {
                return Err(CliError::Rejected(summary.rejected));
            }
            Ok(())
        }
        Command::HealthCheck { server, service } => {
            let addr = &server.addr;
            let channel = server
                .connect_with(|endpoint| {
                    endpoint
                        .connect_timeout(Duration::from_secs(5))
                        .timeout(Duration::from_secs(5))
                })
                .await?;
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            let status = health
                .check(tonic_health::pb::HealthCheckRequest { service })
                .await
                .map(|r| r.into_inner().status);
            match status {
                Ok(s)
                    if s == tonic_health::pb::health_check_response::ServingStatus::Serving
                        as i32 =>
                {
                    println!("SERVING");
                    Ok(())
                }
                Ok(s) => Err(CliError::Unhealthy(format!(
                    "{addr} is not serving (status {})",
                    tonic_health::pb::health_check_response::ServingStatus::try_from(s)
                        .map(|s| s.as_str_name())
                        .unwrap_or("unknown")
                ))),
                Err(e) => Err(CliError::Unhealthy(format!("{addr}: {}", e.message()))),
            }
        }
        Command::Kpi(command) => Ok(crate::client::kpi::run(command).await?),
        Command::Goals(args) => Ok(crate::client::goals::run(args).await?),
        Command::Influencers(args) => Ok(crate::client::lists::influencers(args).await?),
        Command::Runs(args) => Ok(crate::client::lists::runs(args).await?),
        Command::Lift(args) => Ok(crate::client::lift::run(args).await?),
        Command::Chart(args) => Ok(crate::client::chart::run(args).await?),
        Command::Report(args) => Ok(crate::client::report::run(args).await?),
        // Needs no database: answered before one is opened.
        Command::Admin(Admin::OperatorKey) => operator_key(),
        Command::Admin(admin) => {
            Store::migrate(&settings.database_url).await?;
            let store = Store::connect(&settings.database_url, 2).await?;
            run_admin(&store, admin).await
        }
    }
}

/// Runs `spec` for `tenant` in this process, showing its days as they finish on a terminal
/// ([`crate::client::progress`] draws them). The runner saves its report at most once a
/// second, and this reads it back from the store, so the job code needs no hook for
/// progress.
async fn run_job(
    jobs: &crate::jobs::Jobs,
    store: &Store,
    tenant: &Tenant,
    spec: crate::jobs::RunSpec,
) -> Result<crate::storage::jobs::RunRecord, crate::jobs::JobError> {
    let (first, last) = (spec.days.first().copied(), spec.days.last().copied());
    let progress =
        crate::client::progress::JobProgress::start(&tenant.id, &spec.job, spec.days.len() as u64);
    if !progress.is_live() {
        return jobs.run(tenant, spec).await;
    }
    let run = jobs.run(tenant, spec);
    tokio::pin!(run);
    let mut poll = tokio::time::interval(Duration::from_millis(500));
    let result = loop {
        tokio::select! {
            result = &mut run => break result,
            _ = poll.tick() => {
                if let Some((done, rows)) = running(store, &tenant.id, first, last).await {
                    progress.show(done, rows);
                }
            }
        }
    };
    progress.finish();
    result
}

/// Days done and rows pulled by the tenant's newest running run over these days.
async fn running(
    store: &Store,
    tenant: &str,
    first: Option<chrono::NaiveDate>,
    last: Option<chrono::NaiveDate>,
) -> Option<(u64, u64)> {
    let page = store
        .list_runs(
            tenant,
            None,
            &crate::storage::PageRequest {
                after: None,
                limit: 1,
            },
        )
        .await
        .ok()?;
    let run = page.items.into_iter().next()?;
    if run.status != "running" || Some(run.first_day) != first || Some(run.last_day) != last {
        return None;
    }
    let report: crate::jobs::report::RunReport = serde_json::from_str(&run.report).ok()?;
    Some((report.days.len() as u64, report.rows()))
}

/// Where `demo` keeps its database by default.
const DEMO_DB: &str = "tally-demo.db";

/// The platforms' addresses and API versions the settings describe, checked.
fn live_urls(settings: &Settings) -> Result<crate::connectors::BaseUrls, CliError> {
    let urls = crate::connectors::BaseUrls {
        youtube: settings.youtube_base_url.clone(),
        instagram: settings.instagram_base_url.clone(),
        x: settings.x_base_url.clone(),
        tiktok: settings.tiktok_base_url.clone(),
        ga4: settings.ga4_base_url.clone(),
        shopify: (!settings.shopify_base_url.is_empty()).then(|| settings.shopify_base_url.clone()),
        instagram_version: settings.instagram_api_version.clone(),
        shopify_version: settings.shopify_api_version.clone(),
    };
    crate::connectors::live::check_versions(&urls).map_err(CliError::Usage)?;
    Ok(urls)
}

/// The job runner the settings describe.
fn jobs(
    settings: &Settings,
    store: Store,
    job_settings: JobSettings,
) -> Result<crate::jobs::Jobs, CliError> {
    use crate::config::ConnectorMode;
    use crate::connectors::{HttpSettings, Registry};
    let registry = match settings.connectors {
        ConnectorMode::Live => crate::connectors::live_registry(
            &live_urls(settings)?,
            &HttpSettings {
                timeout: Duration::from_secs(settings.http_timeout_seconds.max(1)),
                max_attempts: settings.http_max_attempts.max(1),
                ..HttpSettings::default()
            },
        ),
        ConnectorMode::Demo => crate::connectors::demo::demo_registry(),
        ConnectorMode::None => Registry::new(),
    };
    let credentials = crate::connectors::Credentials::from_environment(
        settings
            .credentials_dir
            .as_ref()
            .filter(|dir| !dir.is_empty())
            .map(std::path::PathBuf::from),
    );
    Ok(crate::jobs::Jobs::new(
        store,
        crate::engine::SnapshotFeed::default(),
        registry,
        credentials,
        job_settings,
    ))
}

/// Connects, binds the listen address and serves until SIGTERM or Ctrl-C.
async fn serve(settings: Settings) -> Result<(), CliError> {
    let store = Store::connect(&settings.database_url, settings.database_max_connections).await?;
    let pending = store.pending_migrations().await?;
    if pending > 0 {
        tracing::warn!(
            pending,
            "database has pending migrations; run `tally migrate`"
        );
    }
    let jobs = jobs(&settings, store, JobSettings::from_settings(&settings)?)?;
    // Every start finishes what an earlier one, or `migrate`, left: cheap when nothing is.
    rekey(jobs.store(), &jobs.settings().customer_keys).await?;
    serve_jobs(&settings, jobs).await
}

/// Moves stored e-mail hashes of earlier versions to the keyed form (see
/// [`Store::rekey_customers`]).
async fn rekey(
    store: &Store,
    keys: &crate::domain::observation::CustomerKeySecret,
) -> Result<(), CliError> {
    let done = store.rekey_customers(keys).await?;
    if done != crate::storage::customer_keys::Rekeyed::default() {
        tracing::info!(
            orders = done.orders,
            giveaway_entries = done.giveaway_entries,
            "stored e-mail hashes rewritten to the keyed form"
        );
    }
    Ok(())
}

/// Binds the listen addresses and serves `jobs`' store until SIGTERM or Ctrl-C.
async fn serve_jobs(settings: &Settings, jobs: crate::jobs::Jobs) -> Result<(), CliError> {
    // TLS files are checked before anything binds, so a bad file fails fast by name.
    let tls = crate::server::Tls::from_settings(settings)?;
    let database_check_interval = settings.health_check_interval()?;
    let listener = bind(settings.listen_addr).await?;
    let health_listener = match settings.health_addr {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let metrics_listener = match settings.metrics_addr {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    crate::server::serve(
        jobs,
        listener,
        crate::server::shutdown_signal(),
        crate::server::ServeOptions {
            scheduled: settings.scheduler_enabled,
            grace: Duration::from_secs(settings.shutdown_grace_seconds),
            tls,
            health_listener,
            metrics_listener,
            metrics_tenant_label: settings.metrics_tenant_label,
            rate_limit: crate::api::limits::RateLimit::from_settings(settings),
            unknown_key_limit: std::num::NonZeroU32::new(settings.unknown_key_limit_per_minute),
            read_cache_ttl: std::time::Duration::from_millis(settings.read_cache_ttl_ms),
            database_check_interval,
            operator_key_hash: settings.operator_key_hash()?,
        },
    )
    .await?;
    Ok(())
}

async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, CliError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Bind { addr, source })
}

async fn run_admin(store: &Store, admin: Admin) -> Result<(), CliError> {
    use crate::engine::tenants::{self, NewTenant, SettingsChange};
    match admin {
        Admin::CreateTenant {
            name,
            id,
            time_zone,
            currency,
            order_window_days,
            returning_window_days,
            recompute_trailing_days,
            lift_pre_period_days,
        } => {
            let id = id.unwrap_or_else(|| slug(&name));
            let mut violations = crate::domain::Violations::default();
            violations.check("id", check_id(&id));
            violations.finish()?;
            let settings = TenantSettings {
                time_zone,
                currency,
                order_window_days,
                returning_window_days,
                trailing_days: recompute_trailing_days,
                lift_pre_period_days,
            };
            let new = NewTenant::new(id.clone(), name, settings)?;
            tenants::create_tenant(store, new).await?;
            let (key, secret) = tenants::create_api_key(store, &id).await?;
            eprintln!(
                "created tenant `{id}` with API key `{}`; the key is shown once:",
                key.id
            );
            println!("{secret}");
            Ok(())
        }
        Admin::UpdateSettings {
            tenant,
            time_zone,
            currency,
            order_window_days,
            returning_window_days,
            recompute_trailing_days,
            lift_pre_period_days,
        } => {
            let change = SettingsChange {
                time_zone,
                currency,
                order_window_days,
                returning_window_days,
                trailing_days: recompute_trailing_days,
                lift_pre_period_days,
            };
            if change == SettingsChange::default() {
                return Err(CliError::Usage(
                    "name at least one setting to change, such as --time-zone".into(),
                ));
            }
            let record = tenants::update_settings(store, &tenant, &change.checked()?).await?;
            eprintln!("updated the settings of tenant `{tenant}`:");
            println!("{}", tenant_line(&record));
            Ok(())
        }
        Admin::ListTenants => {
            let mut page = crate::storage::PageRequest {
                after: None,
                limit: 500,
            };
            loop {
                let found = tenants::list_tenants(store, &page).await?;
                for record in &found.items {
                    println!("{}", tenant_line(record));
                }
                match (found.more, found.items.last()) {
                    (true, Some(last)) => page.after = Some(last.tenant.id.clone()),
                    _ => return Ok(()),
                }
            }
        }
        Admin::CreateKey { tenant } => {
            let (key, secret) = tenants::create_api_key(store, &tenant).await?;
            eprintln!(
                "created API key `{}` for tenant `{tenant}`; the key is shown once:",
                key.id
            );
            println!("{secret}");
            Ok(())
        }
        Admin::ListKeys { tenant } => {
            let mut page = crate::storage::PageRequest {
                after: None,
                limit: 500,
            };
            loop {
                let found = tenants::list_api_keys(store, &tenant, &page).await?;
                for key in &found.items {
                    let state = match key.revoke_time {
                        Some(t) => format!("revoked {}", t.to_rfc3339()),
                        None => "valid".into(),
                    };
                    println!(
                        "{}\tcreated {}\t{state}",
                        key.id,
                        key.create_time.to_rfc3339()
                    );
                }
                match (found.more, found.items.last()) {
                    (true, Some(last)) => page.after = Some(last.id.clone()),
                    _ => return Ok(()),
                }
            }
        }
        Admin::RevokeKey { tenant, key_id } => {
            tenants::revoke_api_key(store, &tenant, &key_id).await?;
            eprintln!("revoked API key `{key_id}` of tenant `{tenant}`");
            Ok(())
        }
        Admin::OperatorKey => operator_key(),
    }
}

/// `tally admin operator-key`: a new operator key on stdout, its hash on stderr.
fn operator_key() -> Result<(), CliError> {
    let key = crate::auth::generate_operator_key();
    eprintln!(
        "operator key made; set TALLY_OPERATOR_KEY_HASH={} on the servers. The key is \
         shown once:",
        crate::auth::hash_key(&key)
    );
    println!("{key}");
    Ok(())
}

/// One line of `tally admin list-tenants`: the id and every setting.
fn tenant_line(record: &crate::storage::tenants::TenantRecord) -> String {
    let (t, s) = (&record.tenant, &record.tenant.settings);
    format!(
        "{}\t{}\ttime_zone={} currency={} order_window_days={} returning_window_days={} \
         recompute_trailing_days={} lift_pre_period_days={}",
        t.id,
        t.display_name,
        s.time_zone,
        s.currency,
        s.order_window_days,
        s.returning_window_days,
        s.trailing_days,
        s.lift_pre_period_days
    )
}

#[cfg(test)]
mod tests {
    use super::{Cli, Settings, log_filter, slug};
    use clap::Parser;

    #[test]
    fn the_demo_keeps_migrations_out_of_the_way_at_the_default_level() {
        let demo = Cli::parse_from(["tally", "demo"]);
        let filter = log_filter(&demo, &Settings::default());
        assert!(filter.starts_with("info,"), "{filter}");
        assert!(filter.contains("sea_orm_migration=warn"), "{filter}");
        // A level the user chose is theirs, and other commands keep the default.
        let chosen = Settings {
            log: "debug".into(),
            ..Settings::default()
        };
        assert_eq!(log_filter(&demo, &chosen), "debug");
        let serve = Cli::parse_from(["tally", "serve"]);
        assert_eq!(log_filter(&serve, &Settings::default()), "info");
    }

    #[test]
    fn slugs_are_valid_ids() {
        assert_eq!(slug("Acme Agency!"), "acme-agency");
        assert_eq!(slug("42 Brands"), "t-42-brands");
        assert_eq!(slug("Ünïcode Café"), "n-code-caf");
        assert!(crate::domain::names::check_id(&slug(&"x".repeat(100))).is_ok());
    }
}

/// README.md's command table names every subcommand, so a new one is documented or fails
/// here.
#[cfg(test)]
mod readme {
    use super::Cli;
    use clap::CommandFactory;

    /// `tally PATH` of every leaf subcommand (`tally admin create-key`, `tally kpi query`).
    fn leaves(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        let subcommands: Vec<&clap::Command> = command
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if subcommands.is_empty() {
            out.push(path.to_string());
        }
        for sub in subcommands {
            leaves(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn the_command_table_names_every_subcommand() {
        let readme = include_str!("../README.md");
        let table: Vec<&str> = readme
            .split("## Commands\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("README.md has a Commands section")
            .lines()
            .filter(|line| line.starts_with("| `tally "))
            .collect();
        let mut missing = Vec::new();
        let mut all = Vec::new();
        leaves(&Cli::command(), "tally", &mut all);
        for command in &all {
            let named = table.iter().any(|row| {
                row.split('`')
                    .skip(1)
                    .step_by(2)
                    .any(|code| code == command || code.starts_with(&format!("{command} ")))
            });
            if !named {
                missing.push(command.clone());
            }
        }
        assert!(all.len() > 10, "{all:?}");
        assert!(
            missing.is_empty(),
            "README.md's command table misses {missing:?}"
        );
    }
}
