//! Settings of every subcommand, read the same way by all: defaults, then an optional TOML
//! file named by `TALLY_CONFIG`, then `TALLY_*` environment variables.
use crate::domain::observation::CustomerKeySecret;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Default of [`Settings::read_cache_ttl_ms`].
pub const DEFAULT_READ_CACHE_TTL_MS: u64 = 500;

/// Default of [`Settings::health_check_interval_ms`].
pub const DEFAULT_HEALTH_CHECK_INTERVAL_MS: u64 = 250;

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
    /// Robust z-score of a day's follower growth above which ListFollowerFlags flags it
    /// (when engagement does not rise with it).
    pub fake_follower_threshold: f64,
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
    pub metrics_tenant_label: crate::metrics::TenantLabel,
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
            instagram_api_version: crate::connectors::live::INSTAGRAM_API_VERSION.into(),
            shopify_api_version: crate::connectors::live::SHOPIFY_API_VERSION.into(),
            goal_warning_factor: 3.0,
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            read_cache_ttl_ms: DEFAULT_READ_CACHE_TTL_MS,
            fake_follower_threshold: 3.5,
            metrics_addr: None,
            health_addr: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            health_check_interval_ms: DEFAULT_HEALTH_CHECK_INTERVAL_MS,
            metrics_tenant_label: crate::metrics::TenantLabel::Id,
            unknown_key_limit_per_minute: 60,
            customer_key_secret: None,
            insecure_dev_customer_key: false,
            raw_retention_days: 400,
            raw_max_bytes_per_tenant: 256 << 20,
        }
    }
}

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Settings {
    /// The secret that keys e-mail hashes: `customer_key_secret`, else the public
    /// development secret when `insecure_dev_customer_key` is set (with a warning), else an
    /// error naming both keys. An empty value (as an unset chart value renders) is unset.
    pub fn customer_keys(&self) -> Result<CustomerKeySecret, ConfigError> {
        let invalid = |why: String| ConfigError(Box::new(figment::Error::from(why)));
        match self
            .customer_key_secret
            .as_deref()
            .filter(|s| !s.is_empty())
        {
            Some(secret) => CustomerKeySecret::new(secret.as_bytes())
                .map_err(|why| invalid(format!("customer_key_secret: {why}"))),
            None if self.insecure_dev_customer_key => {
                tracing::warn!(
                    "insecure_dev_customer_key: e-mail hashes are keyed with the public \
                     development secret; set customer_key_secret for real data"
                );
                Ok(CustomerKeySecret::development())
            }
            None => Err(invalid(
                "customer_key_secret: not set. Stored e-mail addresses are keyed with this \
                 per-deployment secret (TALLY_CUSTOMER_KEY_SECRET, at least 16 bytes, such \
                 as `openssl rand -hex 32`; keep it, changing it splits every guest \
                 customer); for a local trial set TALLY_INSECURE_DEV_CUSTOMER_KEY=true"
                    .into(),
            )),
        }
    }

    /// The job runner's settings, checked: an unknown time zone or a cron expression that
    /// does not parse names its key, and a missing customer key secret is refused (see
    /// [`Settings::customer_keys`]).
    pub fn job_settings(&self) -> Result<crate::jobs::JobSettings, ConfigError> {
        let invalid = |key: &str, why: String| {
            ConfigError(Box::new(figment::Error::from(format!("{key}: {why}"))))
        };
        let time_zone: chrono_tz::Tz = self.job_time_zone.parse().map_err(|_| {
            invalid(
                "job_time_zone",
                format!("`{}` is not an IANA time zone", self.job_time_zone),
            )
        })?;
        crate::jobs::scheduler::next_run(&self.job_schedule, time_zone, chrono::Utc::now())
            .map_err(|e| invalid("job_schedule", e.to_string()))?;
        if self.job_lease_seconds < 3 {
            return Err(invalid("job_lease_seconds", "must be at least 3".into()));
        }
        Ok(crate::jobs::JobSettings {
            schedule: self.job_schedule.clone(),
            schedule_time_zone: time_zone,
            lease: std::time::Duration::from_secs(self.job_lease_seconds),
            heartbeat: None,
            max_catch_up_days: self.job_max_catch_up_days.max(1),
            max_attempts: self.job_max_attempts.max(1),
            goal_warning_factor: if self.goal_warning_factor.is_finite()
                && self.goal_warning_factor > 0.0
            {
                self.goal_warning_factor
            } else {
                return Err(invalid(
                    "goal_warning_factor",
                    format!("{} is not a positive number", self.goal_warning_factor),
                ));
            },
            fake_follower_threshold: if self.fake_follower_threshold.is_finite()
                && self.fake_follower_threshold > 0.0
            {
                self.fake_follower_threshold
            } else {
                return Err(invalid(
                    "fake_follower_threshold",
                    format!("{} is not a positive number", self.fake_follower_threshold),
                ));
            },
            customer_keys: self.customer_keys()?,
            rate_limit_max_wait: std::time::Duration::from_secs(self.rate_limit_max_wait_seconds),
            raw_retention_days: self.raw_retention_days,
            raw_max_bytes_per_tenant: self.raw_max_bytes_per_tenant,
        })
    }

    /// The gRPC port's TLS files, read and checked: None without `tls_cert_file` and
    /// `tls_key_file`; a key, cert or CA missing its partner names the key, and a file that
    /// cannot be read or holds no valid PEM names the key and the file.
    pub fn tls(&self) -> Result<Option<crate::server::Tls>, ConfigError> {
        // An empty value (as an unset chart value renders) is the same as unset.
        fn set(value: &Option<String>) -> Option<&str> {
            value.as_deref().filter(|v| !v.is_empty())
        }
        let invalid = |why: String| ConfigError(Box::new(figment::Error::from(why)));
        let (cert, key, ca) = (
            set(&self.tls_cert_file),
            set(&self.tls_key_file),
            set(&self.tls_client_ca_file),
        );
        match (cert, key) {
            (None, None) if ca.is_some() => Err(invalid(
                "tls_client_ca_file: mutual TLS needs tls_cert_file and tls_key_file too".into(),
            )),
            (None, None) => Ok(None),
            (Some(_), None) => Err(invalid(
                "tls_key_file: must be set when tls_cert_file is".into(),
            )),
            (None, Some(_)) => Err(invalid(
                "tls_cert_file: must be set when tls_key_file is".into(),
            )),
            (Some(cert), Some(key)) => crate::server::Tls::from_files(cert, key, ca)
                .map(Some)
                .map_err(|e| invalid(e.to_string())),
        }
    }

    /// The per-key rate limit, None when `rate_limit_per_second` is 0; the burst is at
    /// least 1.
    pub fn rate_limit(&self) -> Option<crate::api::limits::RateLimit> {
        let per_second = std::num::NonZeroU32::new(self.rate_limit_per_second)?;
        let burst = std::num::NonZeroU32::new(self.rate_limit_burst.max(1))?;
        Some(crate::api::limits::RateLimit { per_second, burst })
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
    pub const KEYS: [&'static str; 43] = [
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
    ];

    /// Reads defaults, the file named by `TALLY_CONFIG` if any, and `TALLY_*` variables.
    pub fn load() -> Result<Settings, ConfigError> {
        let file = std::env::var("TALLY_CONFIG").ok().map(Toml::file_exact);
        // Only known keys: other TALLY_* variables (such as the tests' own) are not
        // settings, while typos in the file are still refused.
        Settings::extract(file, Env::prefixed("TALLY_").only(&Settings::KEYS))
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
        let bad = Settings::extract(
            Some(Toml::string(
                "job_time_zone = \"Mars/Base\"\ninsecure_dev_customer_key = true",
            )),
            no_env(),
        )
        .unwrap()
        .job_settings()
        .unwrap_err();
        assert!(bad.to_string().contains("job_time_zone"), "{bad}");
        let bad = Settings::extract(
            Some(Toml::string(
                "fake_follower_threshold = -1.0\ninsecure_dev_customer_key = true",
            )),
            no_env(),
        )
        .unwrap()
        .job_settings()
        .unwrap_err();
        assert!(bad.to_string().contains("fake_follower_threshold"), "{bad}");
        assert_eq!(
            Settings {
                insecure_dev_customer_key: true,
                ..Settings::default()
            }
            .job_settings()
            .unwrap()
            .fake_follower_threshold,
            3.5
        );
    }

    // Issue 20: e-mail hashes are keyed per deployment; without a secret the job runner
    // (and so `serve` and `run-job`) refuses to start rather than use a public one.
    #[test]
    fn the_customer_key_secret_is_required_unless_development_is_explicit() {
        let settings = |toml: &str| Settings::extract(Some(Toml::string(toml)), no_env()).unwrap();
        let error = settings("").job_settings().unwrap_err().to_string();
        assert!(error.contains("customer_key_secret"), "{error}");
        let error = settings("customer_key_secret = \"\"")
            .customer_keys()
            .unwrap_err();
        assert!(error.to_string().contains("not set"), "{error}");
        let error = settings("customer_key_secret = \"short\"")
            .customer_keys()
            .unwrap_err();
        assert!(error.to_string().contains("16 bytes"), "{error}");
        let email = "jan@example.com";
        let own = settings("customer_key_secret = \"0123456789abcdef0123\"")
            .customer_keys()
            .unwrap();
        let development = settings("insecure_dev_customer_key = true")
            .customer_keys()
            .unwrap();
        assert_eq!(
            development.email_key(email),
            CustomerKeySecret::development().email_key(email)
        );
        assert_ne!(own.email_key(email), development.email_key(email));
    }

    #[test]
    fn tls_settings_name_the_missing_or_unusable_key() {
        let tls = |toml: &str| {
            Settings::extract(Some(Toml::string(toml)), no_env())
                .unwrap()
                .tls()
        };
        assert!(tls("").unwrap().is_none());
        assert!(
            tls("tls_cert_file = \"\"\ntls_key_file = \"\"")
                .unwrap()
                .is_none()
        );
        let error = tls("tls_cert_file = \"/c.pem\"").unwrap_err().to_string();
        assert!(error.contains("tls_key_file"), "{error}");
        let error = tls("tls_key_file = \"/k.pem\"").unwrap_err().to_string();
        assert!(error.contains("tls_cert_file"), "{error}");
        let error = tls("tls_client_ca_file = \"/ca.pem\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("tls_client_ca_file"), "{error}");
        let error = tls("tls_cert_file = \"/nonexistent/c.pem\"\ntls_key_file = \"/k.pem\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("tls_cert_file") && error.contains("/nonexistent/c.pem"),
            "{error}"
        );
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
