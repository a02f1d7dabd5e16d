//! Stored WEEK and MONTH values (`kpi_period_snapshots`): each ISO week and calendar
//! month that holds a recomputed day, computed over the whole period by the same run, so
//! that a full week or month is read instead of computed live. A period's rows are
//! replaced in one transaction.
use super::snapshots::Snapshot;
use super::{Result, Store};
use crate::kpi::key::{Computed, KpiKey, Parts};
use crate::kpi::period::{Granularity, Period};
use crate::kpi::value::Reason;
use chrono::{Datelike, Days, NaiveDate, Utc};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;

/// The table's entity; kept here, apart from the day table's, which changes shape apart.
pub mod kpi_period_snapshot {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "kpi_period_snapshots")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub granularity: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub first_day: Date,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kpi_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub segment_id: String,
        pub value: Option<f64>,
        pub reason: Option<String>,
        pub numerator: Option<f64>,
        pub denominator: Option<f64>,
        pub definition_version: i32,
        pub run_id: String,
        pub compute_time: DateTimeUtc,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

use kpi_period_snapshot::Column as C;

/// A granularity whose periods are stored: WEEK or MONTH.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stored {
    /// ISO week, Monday first.
    Week,
    /// Calendar month.
    Month,
}

impl Stored {
    /// The stored granularity of a query granularity, if it is one.
    pub fn of(granularity: Granularity) -> Option<Stored> {
        match granularity {
            Granularity::Week => Some(Stored::Week),
            Granularity::Month => Some(Stored::Month),
            _ => None,
        }
    }

    /// The name stored in the `granularity` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Stored::Week => "week",
            Stored::Month => "month",
        }
    }

    /// The whole week or month that holds `day`; None at the ends of the calendar.
    pub fn period_of(self, day: NaiveDate) -> Option<Period> {
        let (first, last) = match self {
            Stored::Week => {
                let first =
                    day.checked_sub_days(Days::new(day.weekday().num_days_from_monday() as u64))?;
                (first, first.checked_add_days(Days::new(6))?)
            }
            Stored::Month => {
                let first = day.with_day(1)?;
                let next = first.checked_add_months(chrono::Months::new(1))?;
                (first, next.pred_opt()?)
            }
        };
        Period::new(first, last)
    }

    /// Whether `period` is a whole week or month.
    pub fn is_whole(self, period: &Period) -> bool {
        self.period_of(period.first) == Some(*period)
    }
}

/// Rows per INSERT statement: 13 bound values each, under SQLite's limit of 32,766.
const ROWS_PER_INSERT: usize = 2_000;

impl Store {
    /// Replaces the stored values of one whole week or month (or only those of the KPIs in
    /// `only`) with `parts` (`parts[i]` the value of `keys[i]`) in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn replace_period(
        &self,
        tenant_id: &str,
        granularity: Stored,
        period: Period,
        only: Option<&[&str]>,
        keys: &[KpiKey],
        parts: &[Parts],
        run_id: &str,
    ) -> Result<()> {
        debug_assert_eq!(keys.len(), parts.len());
        debug_assert!(granularity.is_whole(&period));
        let now = Utc::now();
        let txn = self.begin_write().await?;
        let mut delete = kpi_period_snapshot::Entity::delete_many()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Granularity.eq(granularity.as_str()))
            .filter(C::FirstDay.eq(period.first));
        if let Some(only) = only {
            delete = delete.filter(C::KpiId.is_in(only.iter().copied()));
        }
        delete.exec(&txn).await?;
        let backend = txn.get_database_backend();
        let mut versions: HashMap<&str, i32> = HashMap::new();
        let rows: Vec<(&KpiKey, &Parts)> = keys.iter().zip(parts).collect();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut insert = Query::insert();
            insert.into_table(kpi_period_snapshot::Entity).columns([
                C::TenantId,
                C::Granularity,
                C::FirstDay,
                C::KpiId,
                C::Scope,
                C::SegmentId,
                C::Value,
                C::Reason,
                C::Numerator,
                C::Denominator,
                C::DefinitionVersion,
                C::RunId,
                C::ComputeTime,
            ]);
            for (key, (value, numerator, denominator)) in chunk {
                let version = *versions.entry(key.kpi.as_str()).or_insert_with(|| {
                    crate::domain::catalogue::find(&key.kpi)
                        .map(|d| d.version as i32)
                        .unwrap_or(1)
                });
                let value = value.map(crate::kpi::value::positive_zero);
                insert
                    .values([
                        tenant_id.into(),
                        granularity.as_str().into(),
                        period.first.into(),
                        key.kpi.as_str().into(),
                        key.scope.to_string().into(),
                        key.segment.clone().unwrap_or_default().into(),
                        value.ok().into(),
                        value.err().map(|r| r.as_str()).into(),
                        numerator.map(crate::kpi::value::positive_zero).into(),
                        denominator.map(crate::kpi::value::positive_zero).into(),
                        version.into(),
                        run_id.into(),
                        now.into(),
                    ])
                    .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
            }
            // Two runs replacing one period at once each delete before the other inserts:
            // the later insert updates the earlier's rows rather than failing.
            insert.on_conflict(
                OnConflict::columns([
                    C::TenantId,
                    C::Granularity,
                    C::FirstDay,
                    C::KpiId,
                    C::Scope,
                    C::SegmentId,
                ])
                .update_columns([
                    C::Value,
                    C::Reason,
                    C::Numerator,
                    C::Denominator,
                    C::DefinitionVersion,
                    C::RunId,
                    C::ComputeTime,
                ])
                .to_owned(),
            );
            txn.execute_raw(backend.build(&insert)).await?;
        }
        txn.commit().await?;
        self.generations.tenant_written(tenant_id);
        Ok(())
    }

    /// The stored values of one series for the whole weeks or months starting on `firsts`,
    /// by first day; periods never stored are left out.
    pub async fn period_snapshots(
        &self,
        tenant_id: &str,
        key: &KpiKey,
        granularity: Stored,
        firsts: &[NaiveDate],
    ) -> Result<Vec<Snapshot>> {
        if firsts.is_empty() {
            return Ok(Vec::new());
        }
        type Row = (
            NaiveDate,
            Option<f64>,
            Option<String>,
            Option<f64>,
            Option<f64>,
            i32,
            String,
        );
        let mut out = Vec::new();
        // A year is 53 weeks; many years of them stay well under every bound-value limit.
        for chunk in firsts.chunks(400) {
            let rows: Vec<Row> = kpi_period_snapshot::Entity::find()
                .select_only()
                .columns([
                    C::FirstDay,
                    C::Value,
                    C::Reason,
                    C::Numerator,
                    C::Denominator,
                    C::DefinitionVersion,
                    C::RunId,
                ])
                .filter(C::TenantId.eq(tenant_id))
                .filter(C::Granularity.eq(granularity.as_str()))
                .filter(C::FirstDay.is_in(chunk.iter().copied()))
                .filter(C::KpiId.eq(&key.kpi))
                .filter(C::Scope.eq(key.scope.to_string()))
                .filter(C::SegmentId.eq(key.segment.clone().unwrap_or_default()))
                .order_by_asc(C::FirstDay)
                .into_tuple()
                .all(&self.db)
                .await?;
            for (first, value, reason, numerator, denominator, definition_version, run_id) in rows {
                let value = match (value, reason.as_deref().and_then(Reason::parse)) {
                    (Some(v), _) => Ok(v),
                    (None, Some(r)) => Err(r),
                    (None, None) => continue,
                };
                let Some(period) = granularity.period_of(first) else {
                    continue;
                };
                out.push(Snapshot {
                    computed: Computed {
                        key: key.clone(),
                        period,
                        value,
                        numerator,
                        denominator,
                    },
                    definition_version,
                    run_id,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn whole_weeks_and_months_hold_their_days() {
        // 2026-12-31 is a Thursday.
        let week = Stored::Week.period_of(d(2026, 12, 31)).unwrap();
        assert_eq!(week, Period::new(d(2026, 12, 28), d(2027, 1, 3)).unwrap());
        assert!(Stored::Week.is_whole(&week));
        let feb = Stored::Month.period_of(d(2028, 2, 10)).unwrap();
        assert_eq!(feb, Period::new(d(2028, 2, 1), d(2028, 2, 29)).unwrap());
        assert!(!Stored::Month.is_whole(&Period::new(d(2028, 2, 1), d(2028, 2, 28)).unwrap()));
    }
}
