//! Settings of every subcommand, read the same way by all: defaults, then an optional TOML
//! file named by `TALLY_CONFIG`, then `TALLY_*` environment variables.
//!
//! A leaf: settings in, plain values out. It imports nothing of the crate; what is built
//! from the settings is built next to its type (`JobSettings::from_settings` in jobs,
//! `Tls::from_settings` in server, `RateLimit::from_settings` in api::limits), and anyone
//! may import this module.
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Default of [`Settings::read_cache_ttl_ms`].
pub const DEFAULT_READ_CACHE_TTL_MS: u64 = 500;

/// Default of [`Settings::health_check_interval_ms`].
pub const DEFAULT_HEALTH_CHECK_INTERVAL_MS: u64 = 250;

/// Graph API version called by default: released 8 October 2025; Meta keeps a version
/// for at least two years, so it is served until about October 2027.
pub const INSTAGRAM_API_VERSION: &str = "v24.0";

/// Shopify Admin API version called by default: released 1 October 2026 and supported
/// until 1 October 2027, after which Shopify serves the oldest supported version instead.
pub const SHOPIFY_API_VERSION: &str = "2026-10";

/// How tenants are named in the series of the unauthenticated `/metrics` page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantLabel {
    /// The tenant id, as stored.
    #[default]
    Id,
    /// `t` and the first 16 hex digits of a SHA-256 of the id: stable across replicas and
    /// restarts, so dashboards and alerts keep working, while the page lists no ids.
    Hash,
    /// No tenant label: one series with the largest value over all tenants.
    None,
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Every setting of the service; see the table in README.md.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Database URL: `sqlite://path` (created on first run) or `postgres://...`.
    pub database_url: String,
    /// Address the gRPC server listens on.
    pub listen_addr: SocketAddr,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax, such as `info,tally=debug`.
    pub log: String,
    /// Whether `serve` applies migrations before it starts.
    pub migrate_on_start: bool,
    /// Longest time in-flight calls get to finish after a shutdown signal.
    pub shutdown_grace_seconds: u64,
    /// Maximum number of database connections in the pool.
    pub database_max_connections: u32,
    /// Whether `serve` runs the nightly scheduler (off on replicas that only answer calls).
    pub scheduler_enabled: bool,
    /// Cron expression with seconds for the nightly job's ticks.
    pub job_schedule: String,
    /// IANA time zone the schedule is read in.
    pub job_time_zone: String,
    /// Seconds a claim on a tenant's day lasts without renewal.
    pub job_lease_seconds: u64,
    /// Most missed days a nightly run catches up on.
    pub job_max_catch_up_days: u32,
    /// Automatic attempts per day before it waits for a forced run.
    pub job_max_attempts: i32,
    /// Longest a run waits for a platform's rate limit to reset before pulling the source
    /// again; a later reset leaves the source to the next run.
    pub rate_limit_max_wait_seconds: u64,
    /// Where pulled data comes from: `live` (the platforms' APIs), `demo` (generated) or
    /// `none` (ingest only).
    pub connectors: ConnectorMode,
    /// Directory of mounted secret files, `<dir>/<tenant id>/<credential reference>`; with
    /// `TALLY_CRED_<TENANT>__<reference>` variables, the only place credentials come from.
    pub credentials_dir: Option<String>,
    /// Seconds one platform HTTP request may take.
    pub http_timeout_seconds: u64,
    /// Attempts per platform HTTP request.
    pub http_max_attempts: u32,
    /// Base URL of the YouTube Data API.
    pub youtube_base_url: String,
    /// Base URL of the Instagram Graph API.
    pub instagram_base_url: String,
    /// Base URL of the X API.
    pub x_base_url: String,
    /// Base URL of the TikTok API.
    pub tiktok_base_url: String,
    /// Base URL of the Google Analytics Data API.
    pub ga4_base_url: String,
    /// Base URL of the Shopify Admin API; empty means `https://{shop domain}`.
    pub shopify_base_url: String,
    /// Graph API version the Instagram connector calls, such as `v24.0` (Meta keeps a
    /// version for about two years; see README.md for the retirement dates).
    pub instagram_api_version: String,
    /// Shopify Admin API version, such as `2026-10` (Shopify keeps a version for twelve
    /// months, then silently serves the oldest supported one).
    pub shopify_api_version: String,
    /// A goal whose target needs more than this many times the best change its KPI has
    /// shown gets a warning on create and update.
    pub goal_warning_factor: f64,
    /// Calls per second each API key may make on average; 0 turns the limit off.
    pub rate_limit_per_second: u32,
    /// Calls each API key may make at once above that rate.
    pub rate_limit_burst: u32,
    /// Milliseconds a key's tenant and a QuerySnapshots or BatchGetLatest answer stay
    /// cached: how long another replica's writes (or a key revoked from another process)
    /// may take to show; this replica's own writes show at once. 0 turns the cache off.
    pub read_cache_ttl_ms: u64,
    /// Robust z-score of a day's follower growth above which ListFollowerFlags flags an
    /// unusual follower jump (when engagement stays below it).
    pub fake_follower_threshold: f64,
    /// Percent of the day before's followers a jump (gain beyond the median day) must
    /// reach to be flagged.
    pub follower_jump_min_percent: f64,
    /// Followers a jump (gain beyond the median day) must reach to be flagged.
    pub follower_jump_min_followers: i64,
    /// Address of the Prometheus `/metrics` HTTP listener; unset means no metrics.
    pub metrics_addr: Option<SocketAddr>,
    /// Address of a second, always-plaintext gRPC listener serving only grpc.health.v1
    /// (for the kubelet's probes when the main port uses TLS); unset means none.
    pub health_addr: Option<SocketAddr>,
    /// PEM certificate chain of the gRPC port; with `tls_key_file`, turns TLS on.
    pub tls_cert_file: Option<String>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<String>,
    /// PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS).
    pub tls_client_ca_file: Option<String>,
    /// Milliseconds between two pings of the database that set health SERVING or
    /// NOT_SERVING: the longest an outage goes unreported, plus the failing ping itself.
    pub health_check_interval_ms: u64,
    /// How `/metrics` (which has no authentication) names tenants: `id`, `hash` or `none`.
    pub metrics_tenant_label: TenantLabel,
    /// Lookups of API keys not known to be valid (guesses, typos, revoked keys) that each
    /// client address may cause per minute, all at once at most; 0 turns the limit off.
    pub unknown_key_limit_per_minute: u32,
    /// The per-deployment secret that keys the stored hashes of e-mail addresses (at
    /// least 16 bytes). Required by `serve` and `run-job`; never change it once data is
    /// stored, or every guest customer is split in two.
    pub customer_key_secret: Option<String>,
    /// Use the public development secret when `customer_key_secret` is unset: for local
    /// trials only, since anyone can then match a known address (`demo` does this itself).
    pub insecure_dev_customer_key: bool,
    /// Days the platforms' responses are kept for `jobs/rederive`; 0 keeps none.
    pub raw_retention_days: u32,
    /// Compressed bytes of kept responses per tenant; beyond it the oldest days are dropped.
    pub raw_max_bytes_per_tenant: u64,
    /// Hex SHA-256 of the operator key that TenantService accepts (`tally admin
    /// operator-key` makes one); unset turns TenantService off.
    pub operator_key_hash: Option<String>,
}

/// Where pulled data comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorMode {
    /// The platforms' real APIs.
    #[default]
    Live,
    /// The deterministic demo generator, for every channel.
    Demo,
    /// No pulls: data arrives through ingest only.
    None,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: "sqlite://tally.db".into(),
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            log_format: LogFormat::Pretty,
            log: "info".into(),
            migrate_on_start: true,
            shutdown_grace_seconds: 20,
            database_max_connections: 10,
            scheduler_enabled: true,
            job_schedule: "0 15 * * * *".into(),
            job_time_zone: "UTC".into(),
            job_lease_seconds: 120,
            job_max_catch_up_days: 7,
            job_max_attempts: 5,
            rate_limit_max_wait_seconds: 900,
            connectors: ConnectorMode::Live,
            credentials_dir: None,
            http_timeout_seconds: 30,
            http_max_attempts: 5,
            youtube_base_url: "https://www.googleapis.com".into(),
            instagram_base_url: "https://graph.facebook.com".into(),
            x_base_url: "https://api.x.com".into(),
            tiktok_base_url: "https://open.tiktokapis.com".into(),
            ga4_base_url: "https://analyticsdata.googleapis.com".into(),
            shopify_base_url: String::new(),
            instagram_api_version: INSTAGRAM_API_VERSION.into(),
            shopify_api_version: SHOPIFY_API_VERSION.into(),
            goal_warning_factor: 3.0,
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            read_cache_ttl_ms: DEFAULT_READ_CACHE_TTL_MS,
            fake_follower_threshold: 3.5,
            follower_jump_min_percent: 0.5,
            follower_jump_min_followers: 100,
            metrics_addr: None,
            health_addr: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            health_check_interval_ms: DEFAULT_HEALTH_CHECK_INTERVAL_MS,
            metrics_tenant_label: TenantLabel::Id,
            unknown_key_limit_per_minute: 60,
            customer_key_secret: None,
            insecure_dev_customer_key: false,
            raw_retention_days: 400,
            raw_max_bytes_per_tenant: 256 << 20,
            operator_key_hash: None,
        }
    }
}

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl ConfigError {
    /// A setting that parsed but cannot be used; `why` starts with the key.
    pub fn invalid(why: impl Into<String>) -> ConfigError {
        ConfigError(Box::new(figment::Error::from(why.into())))
    }
}

impl Settings {
    /// The operator key's hash, lower-cased, or None when unset or empty; anything but 64
    /// hex digits is refused, so that a key pasted by mistake never starts a server.
    pub fn operator_key_hash(&self) -> Result<Option<String>, ConfigError> {
        let Some(hash) = self.operator_key_hash.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if hash.is_empty() {
            return Ok(None);
        }
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError::invalid(
                "operator_key_hash: must be the 64 hex digits of the key's SHA-256 \
                 (`tally admin operator-key` prints one), not the key itself",
            ));
        }
        Ok(Some(hash))
    }

    /// How often the database is pinged for health, checked: zero is refused (a ping loop
    /// without pause would load the database it watches).
    pub fn health_check_interval(&self) -> Result<std::time::Duration, ConfigError> {
        if self.health_check_interval_ms == 0 {
            return Err(ConfigError(Box::new(figment::Error::from(
                "health_check_interval_ms: must be at least 1".to_string(),
            ))));
        }
        Ok(std::time::Duration::from_millis(
            self.health_check_interval_ms,
        ))
    }

    /// Every setting's key; `TALLY_` plus the key in upper case is its variable.
    pub const KEYS: [&'static str; 46] = [
        "database_url",
        "listen_addr",
        "log_format",
        "log",
        "migrate_on_start",
        "shutdown_grace_seconds",
        "database_max_connections",
        "scheduler_enabled",
        "job_schedule",
        "job_time_zone",
        "job_lease_seconds",
        "job_max_catch_up_days",
        "job_max_attempts",
        "rate_limit_max_wait_seconds",
        "connectors",
        "credentials_dir",
        "http_timeout_seconds",
        "http_max_attempts",
        "youtube_base_url",
        "instagram_base_url",
        "x_base_url",
        "tiktok_base_url",
        "ga4_base_url",
        "shopify_base_url",
        "instagram_api_version",
        "shopify_api_version",
        "goal_warning_factor",
        "rate_limit_per_second",
        "rate_limit_burst",
        "read_cache_ttl_ms",
        "fake_follower_threshold",
        "follower_jump_min_percent",
        "follower_jump_min_followers",
        "metrics_addr",
        "health_addr",
        "tls_cert_file",
        "tls_key_file",
        "tls_client_ca_file",
        "health_check_interval_ms",
        "metrics_tenant_label",
        "unknown_key_limit_per_minute",
        "customer_key_secret",
        "insecure_dev_customer_key",
        "raw_retention_days",
        "raw_max_bytes_per_tenant",
        "operator_key_hash",
    ];

    /// Reads defaults, the file named by `TALLY_CONFIG` if any, and `TALLY_*` variables.
    pub fn load() -> Result<Settings, ConfigError> {
        let file = std::env::var("TALLY_CONFIG").ok().map(Toml::file_exact);
        // Only known keys: other TALLY_* variables (such as the tests' own) are not
        // settings, while typos in the file are still refused.
        Settings::extract(file, Env::prefixed("TALLY_").only(&Settings::KEYS))
    }

    /// Defaults, then a TOML text, without the environment: for tests of what is built
    /// from the settings, wherever that is.
    #[cfg(test)]
    pub(crate) fn from_toml(toml: &str) -> Result<Settings, ConfigError> {
        let env = Serialized::defaults(std::collections::BTreeMap::<String, String>::new());
        Settings::extract(Some(Toml::string(toml)), env)
    }

    /// Defaults, then `file`, then `env`.
    fn extract(
        file: Option<impl figment::Provider>,
        env: impl figment::Provider,
    ) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            figment = figment.merge(file);
        }
        figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn no_env() -> Serialized<std::collections::BTreeMap<String, String>> {
        Serialized::defaults(std::collections::BTreeMap::new())
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let file = Toml::string("listen_addr = \"0.0.0.0:6000\"\nlog_format = \"json\"\n");
        let settings = Settings::extract(Some(file), no_env()).unwrap();
        assert_eq!(settings.listen_addr.port(), 6000);
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.database_url, "sqlite://tally.db");
        let env = Serialized::defaults(
            [("listen_addr", "127.0.0.1:7000")]
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
        );
        let file = Toml::string("listen_addr = \"0.0.0.0:6000\"\n");
        assert_eq!(
            Settings::extract(Some(file), env)
                .unwrap()
                .listen_addr
                .port(),
            7000
        );
    }

    #[test]
    fn typos_and_bad_values_are_refused_with_the_key() {
        let typo =
            Settings::extract(Some(Toml::string("listen_adr = \"x\"")), no_env()).unwrap_err();
        assert!(typo.to_string().contains("listen_adr"), "{typo}");
        let bad = Settings::extract(Some(Toml::string("listen_addr = \"nowhere\"")), no_env())
            .unwrap_err();
        assert!(bad.to_string().contains("listen_addr"), "{bad}");
        assert_eq!(
            Settings::KEYS.len(),
            serde_json::to_value(Settings::default())
                .unwrap()
                .as_object()
                .unwrap()
                .len()
        );
    }

    #[test]
    fn listener_addresses_are_read() {
        let addrs = Settings::extract(
            Some(Toml::string(
                "metrics_addr = \"0.0.0.0:9090\"\nhealth_addr = \"0.0.0.0:8081\"",
            )),
            no_env(),
        )
        .unwrap();
        assert_eq!(addrs.metrics_addr.unwrap().port(), 9090);
        assert_eq!(addrs.health_addr.unwrap().port(), 8081);
        assert!(Settings::default().metrics_addr.is_none());
    }
}
