//! The platform responses each pull was mapped from, kept deflated per (channel, day, page)
//! with the pull's context, so that `jobs/rederive` can map them again once a mapping is
//! corrected. A fresh pull of a day replaces that day's pages and a resumed pull appends;
//! retention and a per-tenant size bound drop the oldest days, a bounded batch per call.
use super::entities::raw_response;
use super::jobs::record_pull_page;
use super::{Result, StorageError, Store};
use crate::domain::observation::RawResponse;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use std::io::{Read, Write};

/// Days dropped per prune call at most, so that one call's work stays bounded.
const PRUNE_BATCH_DAYS: u64 = 100;

/// A page's responses, deflated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compressed {
    /// The deflated JSON.
    pub body: Vec<u8>,
    /// Length of the JSON before compression.
    pub raw_bytes: i64,
}

impl Compressed {
    /// Deflates `json`, the serialized responses of one page (already scrubbed).
    pub fn new(json: &str) -> Compressed {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(json.as_bytes());
        Compressed {
            body: encoder.finish().unwrap_or_default(),
            raw_bytes: json.len() as i64,
        }
    }

    /// Length of the deflated body.
    pub fn compressed_bytes(&self) -> i64 {
        self.body.len() as i64
    }
}

/// Inflates a kept body, reading at most `raw_bytes` (what was deflated): a body that
/// would inflate further is refused rather than read without end.
pub fn inflate(body: &[u8], raw_bytes: i64) -> std::io::Result<Vec<u8>> {
    let limit = u64::try_from(raw_bytes).unwrap_or(0);
    let mut out = Vec::with_capacity(Ord::min(limit, 1 << 24) as usize);
    flate2::read::DeflateDecoder::new(body)
        .take(limit + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(
            "a kept body inflates beyond its recorded size",
        ));
    }
    Ok(out)
}

/// The pull a kept page belongs to, as a derive needs it again.
#[derive(Clone, Debug, PartialEq)]
pub struct PullContext {
    /// Whether the day was the latest complete day when pulled.
    pub latest: bool,
    /// The previous day's lifetime totals the connector was given (JSON).
    pub previous_totals: Option<String>,
}

/// One kept page, inflated.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptPage {
    /// Page number within the pull of the day, from 0.
    pub page: i32,
    /// When the page was fetched.
    pub fetch_time: DateTime<Utc>,
    /// The pull's context.
    pub context: PullContext,
    /// The responses the page was mapped from.
    pub responses: Vec<RawResponse>,
    /// Deflated size.
    pub compressed_bytes: i64,
    /// Size before compression.
    pub raw_bytes: i64,
}

/// What a prune dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Pages dropped for being older than the retention.
    pub expired: u64,
    /// Pages dropped because the tenant's kept bytes exceeded the bound.
    pub over_bound: u64,
}

/// A page's responses to keep with its pull's context.
#[derive(Clone, Debug)]
pub struct NewKeptPage<'a> {
    /// The pull's context.
    pub context: &'a PullContext,
    /// The deflated responses.
    pub compressed: &'a Compressed,
}

impl Store {
    /// Records a stored page like [`Store::save_pull_page`] and, in the same transaction,
    /// keeps its responses: `replace` first drops the day's kept pages (the first page of a
    /// fresh pull), and a kept page gets the next page number of the day, so a page stored
    /// again after a crash before its cursor was saved is not kept twice.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_pull_page_keeping(
        &self,
        tenant_id: &str,
        channel_id: &str,
        day: NaiveDate,
        replace: bool,
        kept: Option<NewKeptPage<'_>>,
        cursor: Option<&str>,
        rows: i64,
        totals: Option<&str>,
    ) -> Result<()> {
        use raw_response::Column as C;
        let txn = self.begin_write().await?;
        let of_day = || {
            raw_response::Entity::find()
                .filter(C::TenantId.eq(tenant_id))
                .filter(C::ChannelId.eq(channel_id))
                .filter(C::Day.eq(day))
        };
        if replace {
            raw_response::Entity::delete_many()
                .filter(C::TenantId.eq(tenant_id))
                .filter(C::ChannelId.eq(channel_id))
                .filter(C::Day.eq(day))
                .exec(&txn)
                .await?;
        }
        if let Some(kept) = kept {
            let last: Option<Option<i32>> = of_day()
                .select_only()
                .expr(Expr::col(C::Page).max())
                .into_tuple()
                .one(&txn)
                .await?;
            let page = last.flatten().map_or(0, |p| p + 1);
            raw_response::Entity::insert(raw_response::ActiveModel {
                tenant_id: Set(tenant_id.to_string()),
                channel_id: Set(channel_id.to_string()),
                day: Set(day),
                page: Set(page),
                fetch_time: Set(Utc::now()),
                latest: Set(kept.context.latest),
                previous_totals: Set(kept.context.previous_totals.clone()),
                body: Set(kept.compressed.body.clone()),
                compressed_bytes: Set(kept.compressed.compressed_bytes()),
                raw_bytes: Set(kept.compressed.raw_bytes),
            })
            .exec_without_returning(&txn)
            .await?;
        }
        record_pull_page(&txn, tenant_id, channel_id, day, cursor, rows, totals).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The channels with responses kept for `day`, in id order.
    pub async fn kept_channels(&self, tenant_id: &str, day: NaiveDate) -> Result<Vec<String>> {
        use raw_response::Column as C;
        Ok(raw_response::Entity::find()
            .select_only()
            .column(C::ChannelId)
            .distinct()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Day.eq(day))
            .order_by_asc(C::ChannelId)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// The numbers of a channel's kept pages of `day`, in order.
    pub async fn kept_page_numbers(
        &self,
        tenant_id: &str,
        channel_id: &str,
        day: NaiveDate,
    ) -> Result<Vec<i32>> {
        use raw_response::Column as C;
        Ok(raw_response::Entity::find()
            .select_only()
            .column(C::Page)
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::ChannelId.eq(channel_id))
            .filter(C::Day.eq(day))
            .order_by_asc(C::Page)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// One kept page, inflated; None when it is gone (pruned, or replaced by a fresh pull).
    pub async fn kept_page(
        &self,
        tenant_id: &str,
        channel_id: &str,
        day: NaiveDate,
        page: i32,
    ) -> Result<Option<KeptPage>> {
        use raw_response::Column as C;
        let row = raw_response::Entity::find()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::ChannelId.eq(channel_id))
            .filter(C::Day.eq(day))
            .filter(C::Page.eq(page))
            .one(&self.db)
            .await?;
        row.map(|row| read_page(row, channel_id, day)).transpose()
    }

    /// Every kept page of a channel's day in page order, inflated; a derive reads them one
    /// at a time instead ([`Store::kept_page`]).
    pub async fn kept_pages(
        &self,
        tenant_id: &str,
        channel_id: &str,
        day: NaiveDate,
    ) -> Result<Vec<KeptPage>> {
        use raw_response::Column as C;
        raw_response::Entity::find()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::ChannelId.eq(channel_id))
            .filter(C::Day.eq(day))
            .order_by_asc(C::Page)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| read_page(row, channel_id, day))
            .collect()
    }

    /// The deflated bytes the tenant keeps.
    pub async fn kept_bytes(&self, tenant_id: &str) -> Result<i64> {
        use raw_response::Column as C;
        let total: Option<Option<i64>> = raw_response::Entity::find()
            .select_only()
            .expr(Expr::col(C::CompressedBytes).sum().cast_as("BIGINT"))
            .filter(C::TenantId.eq(tenant_id))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(total.flatten().unwrap_or(0))
    }

    /// Drops the tenant's kept pages of days before `keep_from` (retention), then its
    /// oldest days while its kept bytes exceed `max_bytes`; at most [`PRUNE_BATCH_DAYS`]
    /// days each, so a tenant far over is brought down over several calls.
    pub async fn prune_kept_responses(
        &self,
        tenant_id: &str,
        keep_from: NaiveDate,
        max_bytes: i64,
    ) -> Result<Pruned> {
        use raw_response::Column as C;
        let mut pruned = Pruned::default();
        let expired: Vec<NaiveDate> = raw_response::Entity::find()
            .select_only()
            .column(C::Day)
            .distinct()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Day.lt(keep_from))
            .order_by_asc(C::Day)
            .limit(PRUNE_BATCH_DAYS)
            .into_tuple()
            .all(&self.db)
            .await?;
        if let Some(last) = expired.last() {
            pruned.expired = self.drop_kept_through(tenant_id, *last).await?;
        }
        let mut total = self.kept_bytes(tenant_id).await?;
        if total <= max_bytes {
            return Ok(pruned);
        }
        let oldest: Vec<(NaiveDate, Option<i64>)> = raw_response::Entity::find()
            .select_only()
            .column(C::Day)
            .expr(Expr::col(C::CompressedBytes).sum().cast_as("BIGINT"))
            .filter(C::TenantId.eq(tenant_id))
            .group_by(C::Day)
            .order_by_asc(C::Day)
            .limit(PRUNE_BATCH_DAYS)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut through = None;
        for (day, bytes) in oldest {
            if total <= max_bytes {
                break;
            }
            total -= bytes.unwrap_or(0);
            through = Some(day);
        }
        if let Some(last) = through {
            pruned.over_bound = self.drop_kept_through(tenant_id, last).await?;
        }
        Ok(pruned)
    }

    async fn drop_kept_through(&self, tenant_id: &str, last: NaiveDate) -> Result<u64> {
        use raw_response::Column as C;
        Ok(raw_response::Entity::delete_many()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Day.lte(last))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}

/// Inflates and parses a stored row.
fn read_page(row: raw_response::Model, channel_id: &str, day: NaiveDate) -> Result<KeptPage> {
    let broken = |why: String| {
        StorageError::FailedPrecondition(format!(
            "kept page {} of `{channel_id}` on {day} cannot be read: {why}",
            row.page
        ))
    };
    let json = inflate(&row.body, row.raw_bytes).map_err(|e| broken(e.to_string()))?;
    let responses = serde_json::from_slice(&json).map_err(|e| broken(e.to_string()))?;
    Ok(KeptPage {
        page: row.page,
        fetch_time: row.fetch_time,
        context: PullContext {
            latest: row.latest,
            previous_totals: row.previous_totals,
        },
        responses,
        compressed_bytes: row.compressed_bytes,
        raw_bytes: row.raw_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_inflates_to_what_was_deflated_and_no_further() {
        let json = r#"[{"label":"a","body":{"x":1}}]"#.repeat(50);
        let kept = Compressed::new(&json);
        assert!(kept.compressed_bytes() < kept.raw_bytes);
        assert_eq!(
            inflate(&kept.body, kept.raw_bytes).unwrap(),
            json.as_bytes()
        );
        assert!(inflate(&kept.body, kept.raw_bytes - 1).is_err());
    }
}
