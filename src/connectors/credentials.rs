//! Credentials by reference: a mounted secret file or an environment variable, never
//! logged.
use std::path::PathBuf;

/// A secret value; its Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Resolves credential references.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Directory of mounted secret files, one file per reference.
    pub dir: Option<PathBuf>,
}

impl Credentials {
    /// The secret named `reference`: the file `<dir>/<reference>` when it exists, else the
    /// environment variable `reference`. Surrounding whitespace is trimmed, since secret
    /// files usually end with a newline. None when the reference is empty or unknown.
    pub fn resolve(&self, reference: &str) -> Option<Secret> {
        let reference = reference.trim();
        // A reference is a name, not a path: no separators or dots that could leave dir.
        if reference.is_empty()
            || !reference
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return None;
        }
        if let Some(dir) = &self.dir
            && let Ok(text) = std::fs::read_to_string(dir.join(reference))
        {
            let text = text.trim();
            if !text.is_empty() {
                return Some(Secret::new(text));
            }
        }
        std::env::var(reference)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_win_over_the_environment_and_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("YT_TOKEN"), "from-file\n").unwrap();
        let creds = Credentials {
            dir: Some(dir.path().to_path_buf()),
        };
        assert_eq!(creds.resolve("YT_TOKEN").unwrap().expose(), "from-file");
        assert_eq!(creds.resolve("../YT_TOKEN"), None);
        assert_eq!(creds.resolve(""), None);
        assert_eq!(creds.resolve("TALLY_SURELY_UNSET_CREDENTIAL"), None);
        assert_eq!(format!("{:?}", Secret::new("abc")), "Secret(***)");
    }
}
