//! API keys: random, shown once, stored only as SHA-256 hashes, compared in constant time;
//! and where the client commands find the key they send.
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every key, so leaked keys are easy to recognise and scan for.
pub const KEY_PREFIX: &str = "tally_";

/// A new API key: the prefix and 32 random bytes, base64url.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a key: hex SHA-256.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two hashes in constant time.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The key in an `authorization: Bearer <key>` header value, if well-formed.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 256)
        .then_some(token)
}

/// Where a client command finds the tenant's API key: a file, the environment or, last,
/// the command line, whose arguments any local user can read (`ps`, `/proc`) and which shell
/// history keeps.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ClientKey {
    /// File holding the tenant's API key (leading and trailing whitespace ignored); wins
    /// over --api-key and TALLY_API_KEY.
    #[arg(long, env = "TALLY_API_KEY_FILE", value_name = "FILE")]
    pub api_key_file: Option<std::path::PathBuf>,
    /// The tenant's API key. Prefer the TALLY_API_KEY environment variable or
    /// --api-key-file: a key given on the command line is visible to every local user in
    /// `ps` and stays in shell history.
    #[arg(
        long,
        env = "TALLY_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
}

/// Why a client command has no usable API key.
#[derive(Debug, thiserror::Error)]
pub enum ClientKeyError {
    /// Neither a file nor a key was given.
    #[error("no API key: set TALLY_API_KEY, or pass --api-key-file (or TALLY_API_KEY_FILE)")]
    Missing,
    /// The key file cannot be read.
    #[error("cannot read the API key file {path}: {source}")]
    Unreadable {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file or the key is empty.
    #[error("the API key {0} is empty")]
    Empty(String),
}

impl ClientKey {
    /// The key: the file's content if a file is named, else the key given.
    pub fn resolve(&self) -> Result<String, ClientKeyError> {
        let (key, origin) = match (&self.api_key_file, &self.api_key) {
            (Some(path), _) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ClientKeyError::Unreadable {
                        path: path.clone(),
                        source,
                    })?;
                (text, format!("file {}", path.display()))
            }
            (None, Some(key)) => (key.clone(), "given".to_string()),
            (None, None) => return Err(ClientKeyError::Missing),
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ClientKeyError::Empty(origin));
        }
        Ok(key.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hash_stably() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_eq!(hash_key(&a).len(), 64);
        assert!(hashes_equal(&hash_key(&a), &hash_key(&a)));
        assert!(!hashes_equal(&hash_key(&a), &hash_key(&b)));
    }

    #[test]
    fn bearer_header_is_parsed_strictly() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }

    #[test]
    fn a_key_file_wins_over_the_key_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "tally_fromfile\n").unwrap();
        let both = ClientKey {
            api_key_file: Some(path.clone()),
            api_key: Some("tally_given".into()),
        };
        assert_eq!(both.resolve().unwrap(), "tally_fromfile");
        let given = ClientKey {
            api_key_file: None,
            api_key: Some("tally_given".into()),
        };
        assert_eq!(given.resolve().unwrap(), "tally_given");
        assert!(matches!(
            ClientKey::default().resolve(),
            Err(ClientKeyError::Missing)
        ));
        std::fs::write(&path, " \n").unwrap();
        let empty = ClientKey {
            api_key_file: Some(path),
            api_key: None,
        };
        assert!(matches!(empty.resolve(), Err(ClientKeyError::Empty(_))));
    }
}
