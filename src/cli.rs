//! The `tally` command line: parses arguments and runs the library; `main.rs` only calls
//! [`run`], so tests drive exactly what production runs.
use crate::config::Settings;
use crate::domain::DomainError;
use crate::domain::names::check_id;
use crate::domain::tenant::{Tenant, TenantSettings};
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
    /// Manage tenants and API keys.
    #[command(subcommand)]
    Admin(Admin),
    /// Send an observation file (CSV or NDJSON) to a running server; prints a summary and
    /// exits 1 when rows were rejected.
    Ingest {
        /// What the file holds.
        #[arg(long, value_enum)]
        kind: crate::files::Kind,
        /// The file.
        #[arg(long)]
        file: std::path::PathBuf,
        /// File format; by default from the extension (.csv, .ndjson, .jsonl).
        #[arg(long, value_enum)]
        format: Option<crate::files::Format>,
        /// Rows per call, 1 to 10000.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u16).range(1..=10000))]
        batch_size: u16,
        /// Server address.
        #[arg(long, env = "TALLY_ADDR", default_value = "http://127.0.0.1:50051")]
        addr: String,
        /// API key of the tenant.
        #[arg(long, env = "TALLY_API_KEY", hide_env_values = true)]
        api_key: String,
    },
}

/// Administration of tenants and keys; works directly on the database.
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
    },
    /// Create another API key for a tenant; prints the key alone on stdout.
    CreateKey {
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
    /// The server failed.
    #[error(transparent)]
    Server(#[from] crate::server::ServerError),
    /// An upload failed.
    #[error(transparent)]
    Upload(#[from] crate::upload::UploadError),
    /// The server address is not usable.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address.
        addr: String,
        /// Why.
        source: tonic::transport::Error,
    },
    /// Bad command-line input.
    #[error("{0}")]
    Usage(String),
    /// Some rows were not stored; the summary lists them.
    #[error("{0} rows were rejected")]
    Rejected(u64),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
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
            Store::migrate(&settings.database_url).await?;
            let store = Store::connect(&settings.database_url, 2).await?;
            let today = chrono::Utc::now().date_naive();
            let (seeded, key) = crate::demo::seed(&store, today)
                .await
                .map_err(|e| match e {
                    crate::demo::DemoError::Storage(e) => CliError::Storage(e),
                    crate::demo::DemoError::Invalid(e) => CliError::Invalid(e),
                })?;
            println!(
                "Tally demo: tenant `{}` in {}",
                crate::demo::TENANT,
                settings.database_url
            );
            println!(
                "  {} influencers, {} channels, {} segments, {} campaign with a giveaway, {} SMART goals",
                seeded.influencers,
                seeded.channels,
                seeded.segments,
                seeded.campaigns,
                seeded.goals
            );
            println!("  API key (shown once): {key}");
            println!(
                "  serving gRPC on {} until Ctrl-C; try:",
                settings.listen_addr
            );
            println!(
                "  grpcurl -plaintext -H 'authorization: Bearer {key}' {} tally.v1.GoalService/ListGoals",
                settings.listen_addr
            );
            serve(settings).await
        }
        Command::Ingest {
            kind,
            file,
            format,
            batch_size,
            addr,
            api_key,
        } => {
            let format = format
                .or_else(|| crate::files::Format::from_path(&file))
                .ok_or_else(|| {
                    CliError::Usage(
                        "cannot tell the format from the file name; pass --format csv or ndjson"
                            .into(),
                    )
                })?;
            let channel = tonic::transport::Endpoint::from_shared(addr.clone())
                .map_err(|source| CliError::Connect {
                    addr: addr.clone(),
                    source,
                })?
                .connect()
                .await
                .map_err(|source| CliError::Connect {
                    addr: addr.clone(),
                    source,
                })?;
            let summary =
                crate::upload::upload(channel, &api_key, kind, &file, format, batch_size as usize)
                    .await?;
            print!("{summary}");
            if summary.rejected > 0 {
                return Err(CliError::Rejected(summary.rejected));
            }
            Ok(())
        }
        Command::Admin(admin) => {
            Store::migrate(&settings.database_url).await?;
            let store = Store::connect(&settings.database_url, 2).await?;
            run_admin(&store, admin).await
        }
    }
}

/// Where `demo` keeps its database by default.
const DEMO_DB: &str = "tally-demo.db";

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
    let listener = tokio::net::TcpListener::bind(settings.listen_addr)
        .await
        .map_err(|source| CliError::Bind {
            addr: settings.listen_addr,
            source,
        })?;
    crate::server::serve(
        store,
        listener,
        crate::server::shutdown_signal(),
        Duration::from_secs(settings.shutdown_grace_seconds),
    )
    .await?;
    Ok(())
}

async fn run_admin(store: &Store, admin: Admin) -> Result<(), CliError> {
    match admin {
        Admin::CreateTenant {
            name,
            id,
            time_zone,
            currency,
            order_window_days,
            returning_window_days,
        } => {
            let id = id.unwrap_or_else(|| slug(&name));
            let mut violations = crate::domain::Violations::default();
            violations.check("id", check_id(&id));
            violations.check("name", crate::domain::check_text(&name, 200));
            violations.finish()?;
            let mut settings = TenantSettings {
                time_zone,
                currency,
                order_window_days,
                returning_window_days,
                ..TenantSettings::default()
            };
            settings.validate()?;
            store
                .create_tenant(&Tenant {
                    id: id.clone(),
                    display_name: name,
                    settings,
                })
                .await?;
            let (key_id, key) = store.create_api_key(&id).await?;
            eprintln!("created tenant `{id}` with API key `{key_id}`; the key is shown once:");
            println!("{key}");
            Ok(())
        }
        Admin::CreateKey { tenant } => {
            let (key_id, key) = store.create_api_key(&tenant).await?;
            eprintln!("created API key `{key_id}` for tenant `{tenant}`; the key is shown once:");
            println!("{key}");
            Ok(())
        }
        Admin::RevokeKey { tenant, key_id } => {
            store.revoke_api_key(&tenant, &key_id).await?;
            eprintln!("revoked API key `{key_id}` of tenant `{tenant}`");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs_are_valid_ids() {
        assert_eq!(slug("Acme Agency!"), "acme-agency");
        assert_eq!(slug("42 Brands"), "t-42-brands");
        assert_eq!(slug("Ünïcode Café"), "n-code-caf");
        assert!(crate::domain::names::check_id(&slug(&"x".repeat(100))).is_ok());
    }
}
