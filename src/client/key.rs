//! Where a client command finds the tenant's API key it sends: a file, the environment or
//! the command line.
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
