//! What the job runner's settings are built from: the service settings, checked, with
//! the key of the setting named in every refusal.
use super::JobSettings;
use crate::config::{ConfigError, Settings};
use crate::domain::observation::CustomerKeySecret;
use crate::kpi::anomaly::JumpRule;

/// The secret that keys e-mail hashes: `customer_key_secret`, else the public
/// development secret when `insecure_dev_customer_key` is set (with a warning), else an
/// error naming both keys. An empty value (as an unset chart value renders) is unset.
pub fn customer_keys(settings: &Settings) -> Result<CustomerKeySecret, ConfigError> {
    let (keys, development) = chosen_customer_keys(settings)?;
    if development {
        tracing::warn!(
            "insecure_dev_customer_key: e-mail hashes are keyed with the public \
             development secret; set customer_key_secret for real data"
        );
    }
    Ok(keys)
}

/// [`customer_keys`] without the warning, and whether it is the development secret.
fn chosen_customer_keys(settings: &Settings) -> Result<(CustomerKeySecret, bool), ConfigError> {
    match settings
        .customer_key_secret
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        Some(secret) => CustomerKeySecret::new(secret.as_bytes())
            .map(|keys| (keys, false))
            .map_err(|why| ConfigError::invalid(format!("customer_key_secret: {why}"))),
        None if settings.insecure_dev_customer_key => Ok((CustomerKeySecret::development(), true)),
        None => Err(ConfigError::invalid(
            "customer_key_secret: not set. Stored e-mail addresses are keyed with this \
             per-deployment secret (TALLY_CUSTOMER_KEY_SECRET, at least 16 bytes, such \
             as `openssl rand -hex 32`; keep it, changing it splits every guest \
             customer); for a local trial set TALLY_INSECURE_DEV_CUSTOMER_KEY=true",
        )),
    }
}

impl JobSettings {
    /// The job runner's settings, checked: an unknown time zone or a cron expression that
    /// does not parse names its key, and a missing customer key secret is refused (see
    /// [`customer_keys`]).
    pub fn from_settings(settings: &Settings) -> Result<JobSettings, ConfigError> {
        Self::checked(settings, customer_keys)
    }

    /// [`JobSettings::from_settings`] for `tally demo`, which sets
    /// `insecure_dev_customer_key` on purpose (its customers are generated): the same
    /// settings, without the warning about the development secret.
    pub fn for_demo(settings: &Settings) -> Result<JobSettings, ConfigError> {
        Self::checked(settings, |settings| {
            chosen_customer_keys(settings).map(|(keys, _)| keys)
        })
    }

    /// The settings, checked, with the customer key secret that `keys` chooses.
    fn checked(
        settings: &Settings,
        keys: impl FnOnce(&Settings) -> Result<CustomerKeySecret, ConfigError>,
    ) -> Result<JobSettings, ConfigError> {
        let invalid = |key: &str, why: String| ConfigError::invalid(format!("{key}: {why}"));
        let time_zone: chrono_tz::Tz = settings.job_time_zone.parse().map_err(|_| {
            invalid(
                "job_time_zone",
                format!("`{}` is not an IANA time zone", settings.job_time_zone),
            )
        })?;
        super::scheduler::next_run(&settings.job_schedule, time_zone, chrono::Utc::now())
            .map_err(|e| invalid("job_schedule", e.to_string()))?;
        if settings.job_lease_seconds < 3 {
            return Err(invalid("job_lease_seconds", "must be at least 3".into()));
        }
        Ok(JobSettings {
            schedule: settings.job_schedule.clone(),
            schedule_time_zone: time_zone,
            lease: std::time::Duration::from_secs(settings.job_lease_seconds),
            heartbeat: None,
            max_catch_up_days: settings.job_max_catch_up_days.max(1),
            max_attempts: settings.job_max_attempts.max(1),
            goal_warning_factor: if settings.goal_warning_factor.is_finite()
                && settings.goal_warning_factor > 0.0
            {
                settings.goal_warning_factor
            } else {
                return Err(invalid(
                    "goal_warning_factor",
                    format!("{} is not a positive number", settings.goal_warning_factor),
                ));
            },
            follower_jump: follower_jump(settings)?,
            customer_keys: keys(settings)?,
            rate_limit_max_wait: std::time::Duration::from_secs(
                settings.rate_limit_max_wait_seconds,
            ),
            raw_retention_days: settings.raw_retention_days,
            raw_max_bytes_per_tenant: settings.raw_max_bytes_per_tenant,
        })
    }
}

/// The follower-jump rule of the settings, each number checked.
fn follower_jump(settings: &Settings) -> Result<JumpRule, ConfigError> {
    let invalid = |key: &str, why: String| ConfigError::invalid(format!("{key}: {why}"));
    let threshold = settings.fake_follower_threshold;
    if !(threshold.is_finite() && threshold > 0.0) {
        return Err(invalid(
            "fake_follower_threshold",
            format!("{threshold} is not a positive number"),
        ));
    }
    let min_percent = settings.follower_jump_min_percent;
    // 0 turns the share off; 100 % or more would mean doubling in a day, which no rule
    // needs to wait for.
    if !(min_percent.is_finite() && (0.0..100.0).contains(&min_percent)) {
        return Err(invalid(
            "follower_jump_min_percent",
            format!("{min_percent} is not a percent from 0 up to (not including) 100"),
        ));
    }
    let min_followers = settings.follower_jump_min_followers;
    if min_followers < 0 {
        return Err(invalid(
            "follower_jump_min_followers",
            format!("{min_followers} is negative"),
        ));
    }
    Ok(JumpRule {
        threshold,
        min_percent,
        min_followers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Settings {
        Settings::from_toml(toml).unwrap()
    }

    #[test]
    fn bad_job_settings_are_refused_with_the_key() {
        let bad = JobSettings::from_settings(&settings(
            "job_time_zone = \"Mars/Base\"\ninsecure_dev_customer_key = true",
        ))
        .unwrap_err();
        assert!(bad.to_string().contains("job_time_zone"), "{bad}");
        let bad = JobSettings::from_settings(&settings(
            "fake_follower_threshold = -1.0\ninsecure_dev_customer_key = true",
        ))
        .unwrap_err();
        assert!(bad.to_string().contains("fake_follower_threshold"), "{bad}");
        assert_eq!(
            JobSettings::from_settings(&Settings {
                insecure_dev_customer_key: true,
                ..Settings::default()
            })
            .unwrap()
            .follower_jump,
            JumpRule {
                threshold: 3.5,
                min_percent: 0.5,
                min_followers: 100
            }
        );
        for (toml, key) in [
            (
                "follower_jump_min_percent = -0.1",
                "follower_jump_min_percent",
            ),
            (
                "follower_jump_min_percent = 100.0",
                "follower_jump_min_percent",
            ),
            (
                "follower_jump_min_percent = nan",
                "follower_jump_min_percent",
            ),
            (
                "follower_jump_min_followers = -1",
                "follower_jump_min_followers",
            ),
            ("fake_follower_threshold = 0.0", "fake_follower_threshold"),
        ] {
            let bad = JobSettings::from_settings(&settings(&format!(
                "{toml}\ninsecure_dev_customer_key = true"
            )))
            .unwrap_err();
            assert!(bad.to_string().contains(key), "{toml}: {bad}");
        }
        let set = JobSettings::from_settings(&settings(
            "follower_jump_min_percent = 0.0\nfollower_jump_min_followers = 0\n\
             insecure_dev_customer_key = true",
        ))
        .unwrap();
        assert_eq!(
            (
                set.follower_jump.min_percent,
                set.follower_jump.min_followers
            ),
            (0.0, 0)
        );
    }

    // Issue 20: e-mail hashes are keyed per deployment; without a secret the job runner
    // (and so `serve` and `run-job`) refuses to start rather than use a public one.
    #[test]
    fn the_customer_key_secret_is_required_unless_development_is_explicit() {
        let error = JobSettings::from_settings(&settings(""))
            .unwrap_err()
            .to_string();
        assert!(error.contains("customer_key_secret"), "{error}");
        let error = customer_keys(&settings("customer_key_secret = \"\"")).unwrap_err();
        assert!(error.to_string().contains("not set"), "{error}");
        let error = customer_keys(&settings("customer_key_secret = \"short\"")).unwrap_err();
        assert!(error.to_string().contains("16 bytes"), "{error}");
        let email = "jan@example.com";
        let own =
            customer_keys(&settings("customer_key_secret = \"0123456789abcdef0123\"")).unwrap();
        let development = customer_keys(&settings("insecure_dev_customer_key = true")).unwrap();
        assert_eq!(
            development.email_key(email),
            CustomerKeySecret::development().email_key(email)
        );
        assert_ne!(own.email_key(email), development.email_key(email));
    }

    /// The lines logged while `f` runs.
    fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
        #[derive(Clone, Default)]
        struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let out = tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        (out, text)
    }

    // `tally demo` sets insecure_dev_customer_key on purpose: it gets the same settings as
    // `serve` would, development secret included, without `serve`'s warning about it.
    #[test]
    fn only_the_demo_keeps_quiet_about_the_development_secret() {
        let development = settings("insecure_dev_customer_key = true");
        let email = "jan@example.com";
        let (serve, warned) = logged(|| JobSettings::from_settings(&development).unwrap());
        assert!(warned.contains("insecure_dev_customer_key"), "{warned}");
        let (demo, quiet) = logged(|| JobSettings::for_demo(&development).unwrap());
        assert_eq!(quiet, "");
        assert_eq!(
            demo.customer_keys.email_key(email),
            serve.customer_keys.email_key(email)
        );
        assert_eq!(
            demo.customer_keys.email_key(email),
            CustomerKeySecret::development().email_key(email)
        );
        // A secret of its own is used by both; without either, both refuse.
        let own = settings("customer_key_secret = \"0123456789abcdef0123\"");
        let (demo, quiet) = logged(|| JobSettings::for_demo(&own).unwrap());
        assert_eq!(quiet, "");
        assert_ne!(
            demo.customer_keys.email_key(email),
            CustomerKeySecret::development().email_key(email)
        );
        let error = JobSettings::for_demo(&settings("")).unwrap_err();
        assert!(error.to_string().contains("customer_key_secret"), "{error}");
    }
}
