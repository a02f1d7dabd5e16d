//! Settings of every subcommand, read the same way by all: defaults, then an optional TOML
//! file named by `TALLY_CONFIG`, then `TALLY_*` environment variables.
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

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
        }
    }
}

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Settings {
    /// Every setting's key; `TALLY_` plus the key in upper case is its variable.
    pub const KEYS: [&'static str; 7] = [
        "database_url",
        "listen_addr",
        "log_format",
        "log",
        "migrate_on_start",
        "shutdown_grace_seconds",
        "database_max_connections",
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
        assert_eq!(Settings::KEYS.len(), 7);
    }
}
