//! A re-derive: each day's kept responses mapped again by the connectors' current
//! mapping and stored, without calling a platform.
use super::report::{Outcome, SourceReport};
use super::sink::{Pulled, store_observations};
use super::{Jobs, NOTHING_KEPT, millis};
use crate::connectors::{PullRequest, Source};
use crate::domain::tenant::Tenant;
use chrono::NaiveDate;
use std::collections::BTreeSet;
use std::time::Instant;

impl Jobs {
    /// Maps one source's kept responses of `day` again through its connector's current
    /// mapping and stores the observations; no platform is called. The request is rebuilt
    /// from the kept pull context and the tenant's current settings, without credential.
    pub(super) async fn derive_source(
        &self,
        tenant: &Tenant,
        source: &Source,
        day: NaiveDate,
        order_days: &mut BTreeSet<NaiveDate>,
    ) -> Vec<SourceReport> {
        let started = Instant::now();
        let report = |connector: &str, outcome, detail: String| SourceReport {
            channel_id: source.channel_id.clone(),
            connector: connector.to_string(),
            day,
            outcome,
            rows: 0,
            duration_ms: millis(started),
            detail,
            skipped_rows: vec![],
            missing: vec![],
            day_zone: String::new(),
        };
        let Some(connector) = self.inner.connectors.get(source.platform) else {
            return vec![report(
                "",
                Outcome::Skipped,
                format!("no connector derives {} channels", source.platform.as_str()),
            )];
        };
        let store = &self.inner.store;
        let channel = &source.channel_id;
        let pages = match store.kept_page_numbers(&tenant.id, channel, day).await {
            Ok(pages) => pages,
            Err(e) => return vec![report(connector.name(), Outcome::Failed, e.to_string())],
        };
        if pages.is_empty() {
            return vec![report(
                connector.name(),
                Outcome::Skipped,
                NOTHING_KEPT.into(),
            )];
        }
        let mut pulled = Pulled::default();
        let mut fetched = None;
        // One page in memory at a time: a day of a large shop may hold many.
        for &number in &pages {
            let kept = match store.kept_page(&tenant.id, channel, day, number).await {
                Ok(Some(kept)) => kept,
                // Replaced by a pull that ran meanwhile; its own pages are current.
                Ok(None) => continue,
                Err(e) => return vec![report(connector.name(), Outcome::Failed, e.to_string())],
            };
            fetched = fetched.or(Some(kept.fetch_time));
            let request = PullRequest {
                tenant: tenant.id.clone(),
                source: source.clone(),
                day,
                time_zone: tenant.settings.time_zone.parse().unwrap_or(chrono_tz::UTC),
                currency: tenant.settings.currency.clone(),
                latest: kept.context.latest,
                previous_totals: kept
                    .context
                    .previous_totals
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok()),
                credential: None,
                cursor: None,
                customer_keys: self.inner.settings.customer_keys.clone(),
            };
            let page = match connector.derive(&request, &kept.responses) {
                Ok(page) => page,
                Err(e) => {
                    return vec![report(
                        connector.name(),
                        Outcome::Failed,
                        format!("kept page {}: {e}", kept.page),
                    )];
                }
            };
            match store_observations(store, &tenant.id, &page).await {
                Ok(days) => order_days.extend(days),
                Err(e) => return vec![report(connector.name(), Outcome::Failed, e.to_string())],
            }
            pulled.add(page.rows(), page);
        }
        let mut r = report(
            connector.name(),
            Outcome::Succeeded,
            format!(
                "derived again from {} kept page(s) fetched {}",
                pages.len(),
                fetched.map_or_else(String::new, |t| t
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            ),
        );
        r.rows = pulled.rows;
        r.skipped_rows = pulled.skipped;
        r.missing = pulled.missing;
        r.day_zone = pulled.day_zone.unwrap_or_default();
        vec![r]
    }
}
