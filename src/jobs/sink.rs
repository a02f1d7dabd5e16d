//! Where pulled and derived pages go: their observations upserted by natural key, and a
//! pull's responses kept for re-deriving, scrubbed of its credential here and nowhere
//! else (a connector hands them over as the platform sent them).
use super::JobSettings;
use crate::connectors::{MissingMetric, Page, PageSink, PullRequest, RawResponse, SinkError};
use crate::storage::raw_responses::{Compressed, NewKeptPage, PullContext};
use crate::storage::{StorageError, Store};
use chrono::NaiveDate;
use std::collections::BTreeSet;

/// Stores each page of a pull and remembers where to resume. Pages are upserted by natural
/// key, so re-storing a page after a crash (the cursor was not yet saved) changes nothing.
pub(super) struct StoreSink<'a> {
    pub(super) store: &'a Store,
    pub(super) tenant: &'a str,
    pub(super) channel_id: &'a str,
    pub(super) day: NaiveDate,
    pub(super) pulled: Pulled,
    /// The pull whose responses are kept (its credential is scrubbed from them).
    pub(super) request: &'a PullRequest,
    /// Whether the next page starts a fresh pull, whose first page replaces the day's
    /// kept responses (a resumed pull appends).
    pub(super) replace: bool,
    pub(super) settings: &'a JobSettings,
}

/// What one source's pull of a day stored and what it could not.
#[derive(Debug, Default)]
pub(super) struct Pulled {
    pub(super) rows: u64,
    pub(super) skipped: Vec<String>,
    pub(super) missing: Vec<MissingMetric>,
    pub(super) day_zone: Option<String>,
    /// Days of the orders stored or removed: a refund or a cancellation reaches the day
    /// the order was placed on, which may lie outside the run's window.
    pub(super) order_days: BTreeSet<NaiveDate>,
    /// Why responses of the pull were not kept, if some were not.
    pub(super) not_kept: Option<String>,
}

/// Stores the observations of a page (pulled or derived again): upserts by natural key and
/// removes cancelled orders. Returns the days of the orders stored or removed: a refund or
/// a cancellation reaches the day the order was placed on, which may lie outside the run's
/// window.
pub(super) async fn store_observations(
    store: &Store,
    tenant: &str,
    page: &Page,
) -> Result<BTreeSet<NaiveDate>, StorageError> {
    let mut order_days = BTreeSet::new();
    if !page.channel_stats.is_empty() {
        store
            .upsert_channel_stats(tenant, &page.channel_stats)
            .await?;
    }
    if !page.web_traffic.is_empty() {
        store.upsert_web_traffic(tenant, &page.web_traffic).await?;
    }
    if !page.orders.is_empty() {
        store.upsert_orders(tenant, &page.orders).await?;
        order_days.extend(page.orders.iter().map(|o| o.day));
    }
    if !page.deleted_orders.is_empty() {
        let deleted = store.delete_orders(tenant, &page.deleted_orders).await?;
        order_days.extend(deleted.days);
    }
    if !page.audience.is_empty() {
        store
            .upsert_audience_members(tenant, &page.audience)
            .await?;
    }
    if !page.interactions.is_empty() {
        store
            .upsert_interactions(tenant, &page.interactions)
            .await?;
    }
    Ok(order_days)
}

impl StoreSink<'_> {
    /// The page's responses as they are kept: serialized, scrubbed of the pull's credential
    /// in every spelling, deflated. None when nothing is to be kept, or (with the reason
    /// noted) when the page alone exceeds the tenant's bound.
    fn keepable(&mut self, raw: &[RawResponse]) -> Option<Compressed> {
        if raw.is_empty() || self.settings.raw_retention_days == 0 {
            return None;
        }
        let json = match serde_json::to_string(raw) {
            Ok(json) => json,
            Err(e) => {
                self.pulled.not_kept = Some(format!("responses not kept: {e}"));
                return None;
            }
        };
        let json = match &self.request.credential {
            Some(secret) => crate::connectors::http::scrub(&json, secret.expose()),
            None => json,
        };
        let compressed = Compressed::new(&json);
        let bound = self.settings.raw_max_bytes_per_tenant;
        if compressed.compressed_bytes() as u64 > bound {
            self.pulled.not_kept = Some(format!(
                "responses not kept: a page of {} compressed bytes exceeds \
                 raw_max_bytes_per_tenant ({bound}); this day cannot be derived again",
                compressed.compressed_bytes()
            ));
            return None;
        }
        Some(compressed)
    }
}

impl Pulled {
    /// Counts a stored page of `rows` rows and keeps what it reports: at most 20 skipped
    /// rows, each missing metric once, the platform's day zone.
    pub(super) fn add(&mut self, rows: u64, page: Page) {
        self.rows += rows;
        let room = 20usize.saturating_sub(self.skipped.len());
        self.skipped.extend(page.skipped.into_iter().take(room));
        for missing in page.missing {
            if !self.missing.contains(&missing) {
                self.missing.push(missing);
            }
        }
        if page.day_zone.is_some() {
            self.day_zone = page.day_zone;
        }
    }
}

#[async_trait::async_trait]
impl PageSink for StoreSink<'_> {
    async fn page(&mut self, page: Page, next_cursor: Option<String>) -> Result<(), SinkError> {
        let err = |e: StorageError| SinkError(e.to_string());
        let s = self.store;
        let order_days = store_observations(s, self.tenant, &page)
            .await
            .map_err(err)?;
        self.pulled.order_days.extend(order_days);
        let rows = page.rows();
        let totals = page.totals.as_ref().map(|t| t.to_string());
        let compressed = self.keepable(&page.raw);
        let context = PullContext {
            latest: self.request.latest,
            previous_totals: self.request.previous_totals.as_ref().map(|t| t.to_string()),
        };
        // The responses and the cursor commit together: a page stored again after a crash
        // before its cursor was saved is kept once.
        s.save_pull_page_keeping(
            self.tenant,
            self.channel_id,
            self.day,
            self.replace,
            compressed.as_ref().map(|compressed| NewKeptPage {
                context: &context,
                compressed,
            }),
            next_cursor.as_deref(),
            rows as i64,
            totals.as_deref(),
        )
        .await
        .map_err(err)?;
        self.replace = false;
        self.pulled.add(rows, page);
        Ok(())
    }
}
