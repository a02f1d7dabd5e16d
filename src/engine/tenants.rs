//! Provisioning: tenants, their settings and their API keys, for the platform operator.
//! TenantService and `tally admin` both call these, so the rules (what a settings change
//! may do to stored snapshots, that a key's secret is shown once) live in one place.
use crate::domain::tenant::TenantSettings;
use crate::domain::{DomainError, Violations};
use crate::storage::tenants::{ApiKeyRecord, TenantRecord};
use crate::storage::{Page, PageRequest, StorageError, Store};

/// Errors of the provisioning use cases.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Bad input; the violations name the fields of the request types below.
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// Storage refused or failed; a settings change the stored snapshots forbid is
    /// FailedPrecondition.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A tenant to create, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTenant {
    id: String,
    display_name: String,
    settings: TenantSettings,
}

impl NewTenant {
    /// Checks the name (`display_name`) and every setting (`settings.<field>`); `id` is
    /// checked by its caller, which knows the field it came from.
    pub fn new(
        id: String,
        display_name: String,
        mut settings: TenantSettings,
    ) -> Result<NewTenant, DomainError> {
        let mut v = Violations::default();
        v.check(
            "display_name",
            crate::domain::check_text(&display_name, 200),
        );
        if let Err(DomainError::Invalid(found)) = settings.validate() {
            for violation in found {
                v.add(
                    format!("settings.{}", violation.field),
                    violation.description,
                );
            }
        }
        v.finish()?;
        Ok(NewTenant {
            id,
            display_name,
            settings,
        })
    }

    /// The tenant's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The settings an update changes; None leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsChange {
    /// New IANA time zone.
    pub time_zone: Option<String>,
    /// New ISO 4217 currency.
    pub currency: Option<String>,
    /// New order window, in days.
    pub order_window_days: Option<i32>,
    /// New returning-buyer window, in days.
    pub returning_window_days: Option<i32>,
    /// New count of trailing days recomputed each night.
    pub trailing_days: Option<i32>,
    /// New default lift pre-period, in days.
    pub lift_pre_period_days: Option<i32>,
}

impl SettingsChange {
    /// Checks every value given (violations name the TenantSettings fields); the checks
    /// of one setting do not depend on the others, so a change valid here applies to any
    /// tenant.
    pub fn checked(self) -> Result<SettingsChange, DomainError> {
        let mut probe = self.apply(&TenantSettings::default());
        probe.validate()?;
        Ok(SettingsChange {
            currency: self.currency.map(|_| probe.currency),
            ..self
        })
    }

    fn apply(&self, current: &TenantSettings) -> TenantSettings {
        TenantSettings {
            time_zone: self
                .time_zone
                .clone()
                .unwrap_or_else(|| current.time_zone.clone()),
            currency: self
                .currency
                .clone()
                .unwrap_or_else(|| current.currency.clone()),
            order_window_days: self.order_window_days.unwrap_or(current.order_window_days),
            returning_window_days: self
                .returning_window_days
                .unwrap_or(current.returning_window_days),
            trailing_days: self.trailing_days.unwrap_or(current.trailing_days),
            lift_pre_period_days: self
                .lift_pre_period_days
                .unwrap_or(current.lift_pre_period_days),
        }
    }
}

/// The settings every stored snapshot was computed under: a day's bounds, money and
/// order attribution. Changing one would leave stored values that mean something else.
fn defining_changes(from: &TenantSettings, to: &TenantSettings) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if from.time_zone != to.time_zone {
        changed.push("time_zone");
    }
    if from.currency != to.currency {
        changed.push("currency");
    }
    if from.order_window_days != to.order_window_days {
        changed.push("order_window_days");
    }
    if from.returning_window_days != to.returning_window_days {
        changed.push("returning_window_days");
    }
    changed
}

/// Creates a tenant (without keys) and returns it as stored.
pub async fn create_tenant(store: &Store, new: NewTenant) -> Result<TenantRecord, ProvisionError> {
    store
        .create_tenant(&crate::domain::tenant::Tenant {
            id: new.id.clone(),
            display_name: new.display_name,
            settings: new.settings,
        })
        .await?;
    Ok(store.get_tenant_record(&new.id).await?)
}

/// A tenant as stored.
pub async fn get_tenant(store: &Store, id: &str) -> Result<TenantRecord, ProvisionError> {
    Ok(store.get_tenant_record(id).await?)
}

/// One page of every tenant, ordered by id.
pub async fn list_tenants(
    store: &Store,
    page: &PageRequest,
) -> Result<Page<TenantRecord>, ProvisionError> {
    Ok(store.list_tenants(page).await?)
}

/// Applies a settings change. The trailing days change no stored value (they choose the
/// days a nightly run redoes and when a value is final, both decided later), so they
/// always apply; a change of a setting every snapshot was computed under is refused
/// while the tenant has snapshots, rather than leaving values of two definitions side by
/// side. A change to the values already set writes nothing.
pub async fn update_settings(
    store: &Store,
    id: &str,
    change: &SettingsChange,
) -> Result<TenantRecord, ProvisionError> {
    let current = store.get_tenant_record(id).await?;
    let next = change.apply(&current.tenant.settings);
    if next == current.tenant.settings {
        return Ok(current);
    }
    let defining = defining_changes(&current.tenant.settings, &next);
    if !defining.is_empty()
        && let Some(first) = store.oldest_computed_day(id).await?
    {
        let last = store.newest_computed_day(id).await?.unwrap_or(first);
        return Err(StorageError::FailedPrecondition(format!(
            "tenant `{id}` has KPI snapshots from {first} to {last}, computed with its current \
             {}; changing {} would leave them meaning something else. Set these before the \
             first run, or make a new tenant",
            defining.join(", "),
            if defining.len() == 1 { "it" } else { "them" },
        ))
        .into());
    }
    Ok(store.update_tenant_settings(id, &next).await?)
}

/// Creates an API key for a tenant; the key itself is returned this once.
pub async fn create_api_key(
    store: &Store,
    tenant_id: &str,
) -> Result<(ApiKeyRecord, String), ProvisionError> {
    Ok(store.new_api_key(tenant_id).await?)
}

/// One page of a tenant's API keys, without secrets (none is stored).
pub async fn list_api_keys(
    store: &Store,
    tenant_id: &str,
    page: &PageRequest,
) -> Result<Page<ApiKeyRecord>, ProvisionError> {
    Ok(store.list_api_keys(tenant_id, page).await?)
}

/// Revokes an API key; revoking a revoked key changes nothing.
pub async fn revoke_api_key(
    store: &Store,
    tenant_id: &str,
    key_id: &str,
) -> Result<ApiKeyRecord, ProvisionError> {
    Ok(store.revoke_api_key(tenant_id, key_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_checked_per_setting_and_names_each_bad_one() {
        let bad = SettingsChange {
            time_zone: Some("Mars/Olympus".into()),
            trailing_days: Some(61),
            ..SettingsChange::default()
        };
        let DomainError::Invalid(found) = bad.checked().unwrap_err();
        let fields: Vec<&str> = found.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["time_zone", "recompute_trailing_days"]);
        let good = SettingsChange {
            currency: Some("usd".into()),
            ..SettingsChange::default()
        }
        .checked()
        .unwrap();
        assert_eq!(good.currency.as_deref(), Some("USD"));
        assert_eq!(good.time_zone, None);
    }

    #[test]
    fn only_days_bounds_money_and_windows_define_snapshots() {
        let from = TenantSettings::default();
        let to = TenantSettings {
            trailing_days: 10,
            ..from.clone()
        };
        assert!(defining_changes(&from, &to).is_empty());
        let to = TenantSettings {
            time_zone: "Europe/Amsterdam".into(),
            returning_window_days: 60,
            ..from.clone()
        };
        assert_eq!(
            defining_changes(&from, &to),
            ["time_zone", "returning_window_days"]
        );
    }

    #[test]
    fn a_new_tenant_names_its_bad_fields_under_settings() {
        let settings = TenantSettings {
            currency: "XXY".into(),
            ..TenantSettings::default()
        };
        let DomainError::Invalid(found) =
            NewTenant::new("acme".into(), String::new(), settings).unwrap_err();
        let fields: Vec<&str> = found.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["display_name", "settings.currency"]);
    }
}
