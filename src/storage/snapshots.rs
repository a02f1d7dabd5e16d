//! KPI snapshots: a day's snapshots are replaced in one transaction, so readers never see
//! a half-written day.
use super::entities::{kpi_snapshot, kpi_snapshot_day};
use super::{Result, Store};
use crate::kpi::key::{Computed, KpiKey, Parts};
use crate::kpi::period::Period;
use crate::kpi::value::Reason;
use chrono::{Days, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query, ValueTuple};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::HashMap;

/// The key columns of a snapshot after tenant and day, as stored; ordered as the key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    /// KPI id.
    pub kpi: String,
    /// Scope name.
    pub scope: String,
    /// Segment id, empty for none.
    pub segment: String,
}

impl SeriesKey {
    /// The stored key of a KPI key.
    pub fn of(key: &KpiKey) -> SeriesKey {
        SeriesKey {
            kpi: key.kpi.clone(),
            scope: key.scope.to_string(),
            segment: key.segment.clone().unwrap_or_default(),
        }
    }
}

/// Splits items paired with their stored keys into both, sorted in the key's order: the
/// order in which a day's rows are appended.
pub fn in_key_order<T>(
    items: impl IntoIterator<Item = (SeriesKey, T)>,
) -> (Vec<SeriesKey>, Vec<T>) {
    let mut items: Vec<(SeriesKey, T)> = items.into_iter().collect();
    items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    items.into_iter().unzip()
}

/// A stored daily snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The value and its parts, for the day.
    pub computed: Computed,
    /// Definition version used.
    pub definition_version: i32,
    /// The run that wrote it.
    pub run_id: String,
}

/// Rows per INSERT statement: 8 bound values each, under SQLite's limit of 32,766.
const ROWS_PER_INSERT: usize = 2_000;

/// The snapshot columns in the order [`Store::replace_day`] selects them: the day's
/// constants, then each row's own values.
const SNAPSHOT_COLUMNS: [kpi_snapshot::Column; 12] = [
    kpi_snapshot::Column::TenantId,
    kpi_snapshot::Column::Day,
    kpi_snapshot::Column::RunId,
    kpi_snapshot::Column::ComputeTime,
    kpi_snapshot::Column::KpiId,
    kpi_snapshot::Column::Scope,
    kpi_snapshot::Column::SegmentId,
    kpi_snapshot::Column::Value,
    kpi_snapshot::Column::Reason,
    kpi_snapshot::Column::Numerator,
    kpi_snapshot::Column::Denominator,
    kpi_snapshot::Column::DefinitionVersion,
];

/// Days listed in one series lookup: well under every backend's limit of bound values.
const DAYS_PER_LOOKUP: usize = 400;

/// The day, value, reason, numerator, denominator, definition version and run of a row.
type SeriesRow = (
    NaiveDate,
    Option<f64>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    i32,
    String,
);

/// A stored value, or why it is undefined; None for a row with neither (never written).
fn stored_value(
    value: Option<f64>,
    reason: Option<&str>,
) -> Option<std::result::Result<f64, Reason>> {
    match (value, reason.and_then(Reason::parse)) {
        (Some(v), _) => Some(Ok(v)),
        (None, Some(r)) => Some(Err(r)),
        (None, None) => None,
    }
}

impl Store {
    /// Replaces every snapshot of `day` (or only those of the KPIs in `only`) with
    /// `values` in one transaction.
    pub async fn replace_day(
        &self,
        tenant_id: &str,
        day: NaiveDate,
        only: Option<&[&str]>,
        values: &[Computed],
        run_id: &str,
    ) -> Result<()> {
        let (series, parts) = in_key_order(
            values
                .iter()
                .map(|c| (SeriesKey::of(&c.key), (c.value, c.numerator, c.denominator))),
        );
        self.replace_day_parts(tenant_id, day, only, &series, &parts, run_id)
            .await
    }

    /// [`Store::replace_day`] with the values given apart from their keys: `parts[i]` is
    /// the value of `series[i]`, and `series` should be sorted, so the day's rows are
    /// appended to its range of the key rather than inserted all over it.
    pub async fn replace_day_parts(
        &self,
        tenant_id: &str,
        day: NaiveDate,
        only: Option<&[&str]>,
        series: &[SeriesKey],
        parts: &[Parts],
        run_id: &str,
    ) -> Result<()> {
        debug_assert_eq!(series.len(), parts.len());
        let now = Utc::now();
        let txn = self.begin_write().await?;
        // The day's row of when it was written comes first: upserting it locks the tenant's
        // day until the commit, so replacements of one day take turns. Without the lock,
        // two at once on PostgreSQL each deleted only the rows committed before they began
        // and then inserted over each other's (a unique violation); SQLite's writers take
        // turns anyway (the transaction holds the write lock from BEGIN).
        kpi_snapshot_day::Entity::insert(kpi_snapshot_day::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            day: Set(day),
            compute_time: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                kpi_snapshot_day::Column::TenantId,
                kpi_snapshot_day::Column::Day,
            ])
            .update_column(kpi_snapshot_day::Column::ComputeTime)
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        let mut delete = kpi_snapshot::Entity::delete_many()
            .filter(kpi_snapshot::Column::TenantId.eq(tenant_id))
            .filter(kpi_snapshot::Column::Day.eq(day));
        if let Some(only) = only {
            delete = delete.filter(kpi_snapshot::Column::KpiId.is_in(only.iter().copied()));
        }
        delete.exec(&txn).await?;
        let rows: Vec<(&SeriesKey, &Parts)> = series.iter().zip(parts).collect();
        // Each statement binds the day's constants once and each row's own values in a
        // VALUES list: an ActiveModel per row, and a day and a timestamp formatted for every
        // row, cost more than the database's own work.
        let mut versions: HashMap<&str, i32> = HashMap::new();
        let backend = txn.get_database_backend();
        let mut inserts = rows.chunks(ROWS_PER_INSERT).map(|chunk| {
            let tuples = chunk.iter().map(|(key, (value, numerator, denominator))| {
                let version = *versions.entry(key.kpi.as_str()).or_insert_with(|| {
                    crate::domain::catalogue::find(&key.kpi)
                        .map(|d| d.version as i32)
                        .unwrap_or(1)
                });
                ValueTuple::Many(vec![
                    key.kpi.as_str().into(),
                    key.scope.as_str().into(),
                    key.segment.as_str().into(),
                    value.ok().into(),
                    value.err().map(|r| r.as_str()).into(),
                    (*numerator).into(),
                    (*denominator).into(),
                    version.into(),
                ])
            });
            let mut select = Query::select();
            select
                .expr(Expr::val(tenant_id))
                .expr(Expr::val(day))
                .expr(Expr::val(run_id))
                .expr(Expr::val(now))
                .from_values(tuples, "v");
            for n in 1..=8 {
                select.expr(Expr::col(("v", format!("column{n}"))));
            }
            Query::insert()
                .into_table(kpi_snapshot::Entity)
                .columns(SNAPSHOT_COLUMNS)
                .select_from(select)
                .map(|insert| backend.build(&*insert))
                .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))
        });
        // The next statement is built here while the database runs the one before, rather
        // than the two taking turns.
        let mut next = inserts.next().transpose()?;
        while let Some(insert) = next {
            let (done, following) = tokio::join!(txn.execute_raw(insert), async { inserts.next() });
            done?;
            next = following.transpose()?;
        }
        // A day left without snapshots has no row of when it was written.
        if parts.is_empty() {
            let left = match only {
                None => false,
                Some(_) => kpi_snapshot::Entity::find()
                    .select_only()
                    .column(kpi_snapshot::Column::KpiId)
                    .filter(kpi_snapshot::Column::TenantId.eq(tenant_id))
                    .filter(kpi_snapshot::Column::Day.eq(day))
                    .into_tuple::<String>()
                    .one(&txn)
                    .await?
                    .is_some(),
            };
            if !left {
                kpi_snapshot_day::Entity::delete_by_id((tenant_id.to_string(), day))
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        self.generations.tenant_written(tenant_id);
        Ok(())
    }

    /// Stored daily snapshots of one KPI on one scope and segment in a period, by day.
    pub async fn snapshots(
        &self,
        tenant_id: &str,
        key: &KpiKey,
        period: &Period,
    ) -> Result<Vec<Snapshot>> {
        let mut out = Vec::new();
        let days: Vec<NaiveDate> = period.iter_days().collect();
        for chunk in days.chunks(DAYS_PER_LOOKUP) {
            out.extend(self.snapshots_on(tenant_id, key, chunk, None).await?);
        }
        Ok(out)
    }

    /// The snapshots of one series on the given days, by day (newest first when `limit` is
    /// set, keeping that many). The key is day first, so the days are listed rather than
    /// ranged: each is one key lookup, where a range would walk every series of each day.
    async fn snapshots_on(
        &self,
        tenant_id: &str,
        key: &KpiKey,
        days: &[NaiveDate],
        limit: Option<u64>,
    ) -> Result<Vec<Snapshot>> {
        use kpi_snapshot::Column as C;
        // Only the columns that vary by day: the key is the caller's. A year of DAY values
        // is a QuerySnapshots call's 365 rows, and the four key strings, the compute time
        // and a scope parse per row were most of its cost (BENCHMARKS.md, Load).
        let query = kpi_snapshot::Entity::find()
            .select_only()
            .columns([
                C::Day,
                C::Value,
                C::Reason,
                C::Numerator,
                C::Denominator,
                C::DefinitionVersion,
                C::RunId,
            ])
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Day.is_in(days.iter().copied()))
            .filter(C::KpiId.eq(&key.kpi))
            .filter(C::Scope.eq(key.scope.to_string()))
            .filter(C::SegmentId.eq(key.segment.clone().unwrap_or_default()));
        let query = match limit {
            Some(n) => query.order_by_desc(C::Day).limit(n),
            None => query.order_by_asc(C::Day),
        };
        let rows: Vec<SeriesRow> = query.into_tuple().all(&self.db).await?;
        Ok(rows
            .into_iter()
            .filter_map(
                |(day, value, reason, numerator, denominator, definition_version, run_id)| {
                    Some(Snapshot {
                        computed: Computed {
                            key: key.clone(),
                            period: Period::day(day),
                            value: stored_value(value, reason.as_deref())?,
                            numerator,
                            denominator,
                        },
                        definition_version,
                        run_id,
                    })
                },
            )
            .collect())
    }

    /// The newest stored snapshot of one KPI on one scope and segment, looked for from
    /// `newest` (the tenant's newest computed day) back to its oldest: that day alone
    /// first, where a series written every day is found by one key lookup, then the month
    /// before it, then blocks of days.
    pub async fn latest_snapshot(
        &self,
        tenant_id: &str,
        key: &KpiKey,
        newest: Option<NaiveDate>,
    ) -> Result<Option<Snapshot>> {
        let Some(mut last) = newest else {
            return Ok(None);
        };
        let mut span = 1;
        let mut oldest: Option<NaiveDate> = None;
        loop {
            let mut first = last
                .checked_sub_days(Days::new(span - 1))
                .unwrap_or(NaiveDate::MIN);
            if let Some(oldest) = oldest {
                first = first.max(oldest);
            }
            let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
            if let Some(found) = self
                .snapshots_on(tenant_id, key, &days, Some(1))
                .await?
                .pop()
            {
                return Ok(Some(found));
            }
            let oldest = match oldest {
                Some(day) => day,
                None => match self.oldest_computed_day(tenant_id).await? {
                    Some(day) => *oldest.insert(day),
                    None => return Ok(None),
                },
            };
            match first.pred_opt() {
                Some(day) if day >= oldest => last = day,
                _ => return Ok(None),
            }
            span = if span == 1 {
                31
            } else {
                DAYS_PER_LOOKUP as u64
            };
        }
    }

    /// The oldest day with snapshots, if any.
    pub async fn oldest_computed_day(&self, tenant_id: &str) -> Result<Option<NaiveDate>> {
        let day: Option<Option<NaiveDate>> = kpi_snapshot::Entity::find()
            .select_only()
            .column_as(kpi_snapshot::Column::Day.min(), "oldest")
            .filter(kpi_snapshot::Column::TenantId.eq(tenant_id))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(day.flatten())
    }

    /// The newest day with snapshots, if any.
    pub async fn newest_computed_day(&self, tenant_id: &str) -> Result<Option<NaiveDate>> {
        let day: Option<Option<NaiveDate>> = kpi_snapshot::Entity::find()
            .select_only()
            .column_as(kpi_snapshot::Column::Day.max(), "newest")
            .filter(kpi_snapshot::Column::TenantId.eq(tenant_id))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(day.flatten())
    }

    /// Distinct (metric key, scope) pairs with pushed points.
    pub async fn metric_keys(&self, tenant_id: &str) -> Result<Vec<(String, String)>> {
        use super::entities::metric_point;
        Ok(metric_point::Entity::find()
            .select_only()
            .column(metric_point::Column::MetricKey)
            .column(metric_point::Column::Scope)
            .filter(metric_point::Column::TenantId.eq(tenant_id))
            .distinct()
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}
