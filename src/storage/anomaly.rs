//! The daily series fake-follower warnings are computed from.
use super::entities::channel_day_stat::{Column as C, Entity};
use super::{Result, Store};
use crate::kpi::anomaly::{DayStats, WINDOW_DAYS};
use crate::kpi::period::Period;
use chrono::{Days, NaiveDate};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::BTreeMap;

/// Channels per query: keeps the `IN` list well below SQLite's bound-parameter limit.
const CHANNELS_PER_QUERY: usize = 500;

/// A row as read: channel, day, followers, likes, comments, shares.
type Row = (
    String,
    NaiveDate,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

impl Store {
    /// Per channel, its day stats (followers and engagement only) from the
    /// [`WINDOW_DAYS`] + 1 days before `period.first` through `period.last`, in day order:
    /// the first day's trailing window needs the growth of 28 days, and the oldest growth
    /// the followers of the day before it. Channels without rows are absent.
    pub async fn follower_series(
        &self,
        tenant_id: &str,
        channels: &[String],
        period: &Period,
    ) -> Result<BTreeMap<String, Vec<DayStats>>> {
        let first = period
            .first
            .checked_sub_days(Days::new(WINDOW_DAYS + 1))
            .unwrap_or(NaiveDate::MIN);
        let mut series: BTreeMap<String, Vec<DayStats>> = BTreeMap::new();
        for chunk in channels.chunks(CHANNELS_PER_QUERY) {
            let rows: Vec<Row> = Entity::find()
                .select_only()
                .columns([
                    C::ChannelId,
                    C::Day,
                    C::Followers,
                    C::Likes,
                    C::Comments,
                    C::Shares,
                ])
                .filter(C::TenantId.eq(tenant_id))
                .filter(C::ChannelId.is_in(chunk.iter().cloned()))
                .filter(C::Day.between(first, period.last))
                .order_by_asc(C::ChannelId)
                .order_by_asc(C::Day)
                .into_tuple()
                .all(&self.db)
                .await?;
            for (channel, day, followers, likes, comments, shares) in rows {
                series
                    .entry(channel)
                    .or_default()
                    .push(DayStats::new(day, followers, likes, comments, shares));
            }
        }
        Ok(series)
    }
}
