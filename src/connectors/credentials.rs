//! Credentials by reference, scoped to the tenant: a channel's `credentials_ref` names a
//! secret only inside its own tenant's namespace, never logged.
//!
//! A reference resolves in two places, both meant for credentials and nothing else:
//!
//! 1. the file `<credentials_dir>/<tenant id>/<reference>` (a mounted Secret per tenant);
//! 2. the environment variable `TALLY_CRED_<TENANT>__<reference>`, where `<TENANT>` is the
//!    tenant id upper-cased with `-` written as `_`.
//!
//! Nothing else of the server's environment is ever a credential, so a tenant cannot name
//! `TALLY_DATABASE_URL` (or another tenant's secret) and have it sent to a platform. The
//! names are unambiguous: tenant ids are `a-z`, `0-9` and `-` (no `_`, not ending in `-`)
//! and references are `A-Z`, `a-z`, `0-9`, `_` and `-`, so a file path has exactly one
//! reading; in a variable name the first `__` ends the tenant, which holds as long as the
//! tenant id has no `--` (such tenants use files only).
use crate::domain::channel::check_credentials_ref;
use crate::domain::names::check_id;
use std::collections::HashMap;
use std::path::PathBuf;

/// The prefix of every credential variable.
pub const ENV_PREFIX: &str = "TALLY_CRED_";

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

/// Resolves a tenant's credential references.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Directory of mounted secret files, one subdirectory per tenant.
    dir: Option<PathBuf>,
    /// The `TALLY_CRED_*` variables, taken once: no other variable is ever kept.
    env: HashMap<String, Secret>,
}

impl Credentials {
    /// Resolves from files under `dir` (if any) and from those of `vars` that carry the
    /// [`ENV_PREFIX`]; every other variable is dropped here.
    pub fn new(
        dir: Option<PathBuf>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Credentials {
        let env = vars
            .into_iter()
            .filter(|(name, _)| name.starts_with(ENV_PREFIX))
            .map(|(name, value)| (name, Secret::new(value.trim())))
            .filter(|(_, value)| !value.expose().is_empty())
            .collect();
        Credentials { dir, env }
    }

    /// Resolves from files under `dir` and from this process's `TALLY_CRED_*` variables.
    pub fn from_environment(dir: Option<PathBuf>) -> Credentials {
        // vars_os: a variable that is not UTF-8 is skipped rather than panicking.
        let vars = std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        });
        Credentials::new(dir, vars)
    }

    /// The file that holds `reference` of `tenant`, when both are well-formed names and a
    /// directory is configured.
    pub fn file(&self, tenant: &str, reference: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        is_name(tenant, reference).then(|| dir.join(tenant).join(reference))
    }

    /// The variable that holds `reference` of `tenant`, when both are well-formed names and
    /// the tenant id can be written unambiguously (it has no `--`).
    pub fn variable(tenant: &str, reference: &str) -> Option<String> {
        if !is_name(tenant, reference) || tenant.contains("--") {
            return None;
        }
        let tenant = tenant.to_ascii_uppercase().replace('-', "_");
        Some(format!("{ENV_PREFIX}{tenant}__{reference}"))
    }

    /// The secret `tenant` named `reference`: its file when it exists, else its variable.
    /// Surrounding whitespace is trimmed, since secret files usually end with a newline.
    /// None when the reference is empty, malformed or unknown in the tenant's namespace.
    pub fn resolve(&self, tenant: &str, reference: &str) -> Option<Secret> {
        let reference = reference.trim();
        if let Some(path) = self.file(tenant, reference)
            && let Ok(text) = std::fs::read_to_string(path)
        {
            let text = text.trim();
            if !text.is_empty() {
                return Some(Secret::new(text));
            }
        }
        let name = Credentials::variable(tenant, reference)?;
        self.env.get(&name).cloned()
    }
}

/// Whether `tenant` is a tenant id and `reference` a non-empty credential reference: names
/// without separators or dots, so a path built of them stays in its directory.
fn is_name(tenant: &str, reference: &str) -> bool {
    check_id(tenant).is_ok() && !reference.is_empty() && check_credentials_ref(reference).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn credentials_come_from_the_tenants_directory_then_its_variables() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("acme")).unwrap();
        std::fs::write(dir.path().join("acme").join("YT_TOKEN"), "from-file\n").unwrap();
        // A file at the top level belongs to no tenant.
        std::fs::write(dir.path().join("SHOP_TOKEN"), "flat\n").unwrap();
        let creds = Credentials::new(
            Some(dir.path().to_path_buf()),
            vars(&[
                ("TALLY_CRED_ACME__YT_TOKEN", "from-env"),
                ("TALLY_CRED_ACME__IG_TOKEN", " ig \n"),
                ("TALLY_CRED_NEW_CO__IG_TOKEN", "new-co"),
            ]),
        );
        assert_eq!(
            creds.resolve("acme", "YT_TOKEN").unwrap().expose(),
            "from-file"
        );
        assert_eq!(creds.resolve("acme", "IG_TOKEN").unwrap().expose(), "ig");
        assert_eq!(
            creds.resolve("new-co", "IG_TOKEN").unwrap().expose(),
            "new-co"
        );
        assert_eq!(creds.resolve("acme", "SHOP_TOKEN"), None);
        assert_eq!(creds.resolve("acme", ""), None);
        assert_eq!(format!("{:?}", Secret::new("abc")), "Secret(***)");
        assert!(!format!("{creds:?}").contains("from-env"));
    }

    #[test]
    fn a_server_variable_is_never_a_credential() {
        let creds = Credentials::new(
            None,
            vars(&[
                ("TALLY_DATABASE_URL", "postgres://tally:hunter2@db/tally"),
                ("PATH", "/usr/bin"),
            ]),
        );
        for reference in ["TALLY_DATABASE_URL", "PATH"] {
            assert_eq!(creds.resolve("acme", reference), None, "{reference}");
        }
        // The real environment too: PATH is set in every test process.
        let real = Credentials::from_environment(None);
        assert_eq!(real.resolve("acme", "PATH"), None);
        assert!(real.env.keys().all(|k| k.starts_with(ENV_PREFIX)));
    }

    #[test]
    fn a_tenant_cannot_reach_another_tenants_credential() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("other")).unwrap();
        std::fs::write(dir.path().join("other").join("SHOP"), "other-secret").unwrap();
        let creds = Credentials::new(
            Some(dir.path().to_path_buf()),
            vars(&[("TALLY_CRED_OTHER__SHOP", "other-secret")]),
        );
        assert!(creds.resolve("other", "SHOP").is_some());
        for (tenant, reference) in [
            ("acme", "SHOP"),
            ("acme", "../other/SHOP"),
            ("acme", "..%2Fother%2FSHOP"),
            ("../other", "SHOP"),
            ("acme/../other", "SHOP"),
            ("OTHER", "SHOP"),
            ("acme", "OTHER__SHOP"),
        ] {
            assert_eq!(
                creds.resolve(tenant, reference),
                None,
                "{tenant} {reference}"
            );
        }
    }

    #[test]
    fn no_two_tenant_references_share_a_name() {
        // `_` is not in tenant ids, so `a-b` cannot be confused with a tenant `a` whose
        // reference starts with `B`; `--` would make `__` ambiguous and is refused.
        assert_eq!(
            Credentials::variable("a-b", "C").as_deref(),
            Some("TALLY_CRED_A_B__C")
        );
        assert_eq!(
            Credentials::variable("a", "B__C").as_deref(),
            Some("TALLY_CRED_A__B__C")
        );
        assert_eq!(Credentials::variable("a--b", "C"), None);
        assert_eq!(Credentials::variable("a_b", "C"), None);
        assert_eq!(Credentials::variable("Acme", "C"), None);
        let tenants = ["a", "a-b", "a-b-c", "ab", "a1", "b"];
        let refs = ["C", "B__C", "_C", "B_C", "c", "-C", "C-"];
        let mut seen = std::collections::HashMap::new();
        for t in tenants {
            for r in refs {
                let name = Credentials::variable(t, r).unwrap();
                if let Some(previous) = seen.insert(name.clone(), (t, r)) {
                    panic!("{name}: both {previous:?} and {:?}", (t, r));
                }
            }
        }
    }
}
