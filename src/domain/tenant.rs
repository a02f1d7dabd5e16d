//! Tenants: a brand's or agency's workspace with the settings its KPIs need.
use super::{DomainError, Violations};

/// Settings of a tenant that KPI computation depends on (KPIS.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantSettings {
    /// IANA time zone that defines the tenant's days.
    pub time_zone: String,
    /// ISO 4217 reporting currency.
    pub currency: String,
    /// Days after a campaign's end during which its orders still count.
    pub order_window_days: i32,
    /// Days after a first code order in which a repeat order makes a returning buyer.
    pub returning_window_days: i32,
    /// Days recomputed each night for late platform data (`recompute_trailing_days` in
    /// the API).
    pub trailing_days: i32,
    /// Days before a campaign's start that its lift's baseline learns from when a request
    /// names none (LIFT.md).
    pub lift_pre_period_days: i32,
}

/// The shortest and longest lift pre-period, in days: the baseline needs 28 days with a
/// value (LIFT.md), and a year is the longest history one series read spans.
pub const LIFT_PRE_PERIOD_DAYS: std::ops::RangeInclusive<i32> = 28..=364;

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            time_zone: "UTC".into(),
            currency: "EUR".into(),
            order_window_days: 30,
            returning_window_days: 90,
            trailing_days: 3,
            lift_pre_period_days: 56,
        }
    }
}

impl TenantSettings {
    /// Checks every setting; the currency is upper-cased first.
    pub fn validate(&mut self) -> Result<(), DomainError> {
        let mut v = Violations::default();
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            v.add(
                "time_zone",
                format!(
                    "`{}` is not an IANA time zone such as Europe/Amsterdam",
                    super::names::shorten(&self.time_zone)
                ),
            );
        }
        self.currency = self.currency.to_ascii_uppercase();
        v.check("currency", check_currency(&self.currency));
        for (field, value, max) in [
            ("order_window_days", self.order_window_days, 3650),
            ("returning_window_days", self.returning_window_days, 3650),
            ("recompute_trailing_days", self.trailing_days, 60),
        ] {
            if !(0..=max).contains(&value) {
                v.add(field, format!("is {value}; it must be between 0 and {max}"));
            }
        }
        if !LIFT_PRE_PERIOD_DAYS.contains(&self.lift_pre_period_days) {
            v.add(
                "lift_pre_period_days",
                format!(
                    "is {}; it must be between {} and {}",
                    self.lift_pre_period_days,
                    LIFT_PRE_PERIOD_DAYS.start(),
                    LIFT_PRE_PERIOD_DAYS.end()
                ),
            );
        }
        v.finish()
    }
}

/// Checks an ISO 4217 currency code.
pub fn check_currency(code: &str) -> Result<(), String> {
    if iso_currency::Currency::from_code(code).is_some() {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not an ISO 4217 currency code such as EUR",
            super::names::shorten(code)
        ))
    }
}

/// A tenant's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    /// Name shown to people.
    pub display_name: String,
    /// KPI settings.
    pub settings: TenantSettings,
}
