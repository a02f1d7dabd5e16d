//! The server a client command talks to: its address in any of the three forms Tally's
//! clients accept (`host:port`, `http://host:port`, `https://host:port`) and the TLS files
//! that go with it, turned into one connected channel.
//!
//! The rule, the same in the Python client: the scheme decides. `https://` is TLS,
//! checked against the built-in web roots or `--server-ca-file`; `http://` is plaintext.
//! A bare `host:port` is plaintext unless a TLS file is given (`--server-ca-file`, or a
//! client certificate for mutual TLS), which can only mean TLS. `http://` with a TLS file
//! is refused rather than guessed.
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Where the server is and how to reach it.
#[derive(Clone, Debug, clap::Args)]
pub struct ServerAddr {
    /// Server address: `host:port` or `http://host:port` (plaintext), `https://host:port`
    /// (TLS). A bare `host:port` uses TLS when a TLS file below is given.
    #[arg(long, env = "TALLY_ADDR", default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// PEM CA bundle to check the server's certificate with, instead of the built-in web
    /// roots (a private CA); means TLS.
    #[arg(long, env = "TALLY_SERVER_CA_FILE", value_name = "FILE")]
    pub server_ca_file: Option<PathBuf>,
    /// PEM client certificate for a server that asks for one (mutual TLS); with
    /// --client-key-file; means TLS.
    #[arg(
        long,
        env = "TALLY_CLIENT_CERT_FILE",
        value_name = "FILE",
        requires = "client_key_file"
    )]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(
        long,
        env = "TALLY_CLIENT_KEY_FILE",
        value_name = "FILE",
        requires = "client_cert_file"
    )]
    pub client_key_file: Option<PathBuf>,
}

/// Why the server cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// The address is not one of the three forms, or contradicts the TLS files.
    #[error("server address `{addr}`: {problem}")]
    Invalid {
        /// The address as given.
        addr: String,
        /// What is wrong.
        problem: String,
    },
    /// A TLS file cannot be read.
    #[error("cannot read {what} {}: {source}", .path.display())]
    Unreadable {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The connection failed; every cause is named, since tonic's own message is only
    /// "transport error".
    #[error("cannot connect to {addr} ({how}): {}", chain(.source))]
    Connect {
        /// The address as given.
        addr: String,
        /// `TLS` or `plaintext`.
        how: &'static str,
        /// Why.
        source: tonic::transport::Error,
    },
}

/// An error and its causes on one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = e.source();
    }
    text
}

/// An address read by the rule above: the URI to dial and whether it uses TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `http://host:port` or `https://host:port`.
    pub uri: String,
    /// Whether the connection uses TLS.
    pub tls: bool,
}

/// Reads `addr` by the rule of this module; `tls_files` says whether a TLS file is given.
pub fn target(addr: &str, tls_files: bool) -> Result<Target, AddressError> {
    let invalid = |problem: &str| AddressError::Invalid {
        addr: addr.to_string(),
        problem: problem.to_string(),
    };
    let text = addr.trim();
    if text.is_empty() {
        return Err(invalid(
            "is empty; give host:port, http://host:port or https://host:port",
        ));
    }
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, text),
    };
    let tls = match scheme.as_deref() {
        Some("https") => true,
        Some("http") if tls_files => {
            return Err(invalid(
                "http:// is plaintext, but a TLS file (--server-ca-file or a client \
                 certificate) is given; use https://",
            ));
        }
        Some("http") => false,
        Some(_) => return Err(invalid("the scheme must be http:// or https://")),
        None => tls_files,
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let parsed: http::uri::Authority =
        authority.parse().map_err(|_| invalid("is not host:port"))?;
    if parsed.as_str().contains('@') {
        return Err(invalid("a server address carries no user name"));
    }
    if parsed.host().is_empty() {
        return Err(invalid("names no host"));
    }
    if scheme.is_none() && parsed.port().is_none() {
        return Err(invalid(
            "has no port; give host:port, or a scheme (https://host uses port 443)",
        ));
    }
    Ok(Target {
        uri: format!("{}://{}", if tls { "https" } else { "http" }, parsed),
        tls,
    })
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, AddressError> {
    std::fs::read(path).map_err(|source| AddressError::Unreadable {
        what,
        path: path.to_path_buf(),
        source,
    })
}

impl ServerAddr {
    /// The endpoint to dial, with TLS configured when the address uses it.
    pub fn endpoint(&self) -> Result<(Endpoint, Target), AddressError> {
        let files = self.server_ca_file.is_some() || self.client_cert_file.is_some();
        let target = target(&self.addr, files)?;
        let invalid = |problem: String| AddressError::Invalid {
            addr: self.addr.clone(),
            problem,
        };
        let mut endpoint = Endpoint::from_shared(target.uri.clone())
            .map_err(|e| invalid(e.to_string()))?
            .connect_timeout(Duration::from_secs(10));
        if target.tls {
            let mut config = ClientTlsConfig::new();
            config = match &self.server_ca_file {
                Some(path) => {
                    config.ca_certificate(Certificate::from_pem(read("--server-ca-file", path)?))
                }
                None => config.with_webpki_roots(),
            };
            if let (Some(cert), Some(key)) = (&self.client_cert_file, &self.client_key_file) {
                config = config.identity(Identity::from_pem(
                    read("--client-cert-file", cert)?,
                    read("--client-key-file", key)?,
                ));
            }
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| invalid(chain(&e)))?;
        }
        Ok((endpoint, target))
    }

    /// Connects to the server.
    pub async fn connect(&self) -> Result<Channel, AddressError> {
        self.connect_with(|endpoint| endpoint).await
    }

    /// Connects to the server with the endpoint's settings changed by `configure` (such as
    /// shorter timeouts).
    pub async fn connect_with(
        &self,
        configure: impl FnOnce(Endpoint) -> Endpoint,
    ) -> Result<Channel, AddressError> {
        let (endpoint, target) = self.endpoint()?;
        configure(endpoint)
            .connect()
            .await
            .map_err(|source| AddressError::Connect {
                addr: self.addr.clone(),
                how: if target.tls { "TLS" } else { "plaintext" },
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(addr: &str, files: bool) -> (String, bool) {
        let t = target(addr, files).unwrap();
        (t.uri, t.tls)
    }

    #[test]
    fn the_scheme_decides_tls() {
        let plain = ("http://127.0.0.1:50051".to_string(), false);
        assert_eq!(ok("127.0.0.1:50051", false), plain);
        assert_eq!(ok("http://127.0.0.1:50051", false), plain);
        assert_eq!(ok("HTTP://127.0.0.1:50051/", false), plain);
        assert_eq!(
            ok("https://tally.example.com:443", false),
            ("https://tally.example.com:443".to_string(), true)
        );
        assert_eq!(
            ok("https://tally.example.com", false),
            ("https://tally.example.com".to_string(), true)
        );
        assert_eq!(
            ok("[::1]:50051", false),
            ("http://[::1]:50051".into(), false)
        );
    }

    #[test]
    fn a_bare_address_uses_tls_only_with_a_tls_file() {
        assert_eq!(
            ok("localhost:50051", true),
            ("https://localhost:50051".to_string(), true)
        );
        assert_eq!(
            ok("https://localhost:50051", true),
            ("https://localhost:50051".to_string(), true)
        );
        let error = target("http://localhost:50051", true)
            .unwrap_err()
            .to_string();
        assert!(error.contains("use https://"), "{error}");
    }

    #[test]
    fn other_forms_are_refused_with_the_reason() {
        for (addr, says) in [
            ("", "is empty"),
            ("   ", "is empty"),
            ("grpc://localhost:1", "http:// or https://"),
            ("localhost", "has no port"),
            ("http://localhost:1/tally", "is not host:port"),
            ("http://user@localhost:1", "no user name"),
            ("localhost:1?x=1", "is not host:port"),
            (":50051", "names no host"),
        ] {
            let error = target(addr, false).unwrap_err().to_string();
            assert!(error.contains(says), "{addr}: {error}");
        }
    }
}
