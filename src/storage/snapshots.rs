//! KPI snapshots: a day's snapshots are replaced in one transaction, so readers never see
//! a half-written day.
use super::entities::kpi_snapshot;
use super::{Result, Store};
use crate::compute::{Computed, KpiKey};
use crate::domain::goal::Scope;
use crate::kpi::period::Period;
use crate::kpi::value::Reason;
use chrono::{NaiveDate, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

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

fn to_snapshot(m: kpi_snapshot::Model) -> Option<Snapshot> {
    let value = stored_value(m.value, m.reason.as_deref())?;
    Some(Snapshot {
        computed: Computed {
            key: KpiKey {
                kpi: m.kpi_id,
                scope: Scope::parse(&m.scope).ok()?,
                segment: (!m.segment_id.is_empty()).then_some(m.segment_id),
            },
            period: Period::day(m.day),
            value,
            numerator: m.numerator,
            denominator: m.denominator,
        },
        definition_version: m.definition_version,
        run_id: m.run_id,
    })
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
        let now = Utc::now();
        let txn = self.begin_write().await?;
        let mut delete = kpi_snapshot::Entity::delete_many()
            .filter(kpi_snapshot::Column::TenantId.eq(tenant_id))
            .filter(kpi_snapshot::Column::Day.eq(day));
        if let Some(only) = only {
            delete = delete.filter(kpi_snapshot::Column::KpiId.is_in(only.iter().copied()));
        }
        delete.exec(&txn).await?;
        let models: Vec<kpi_snapshot::ActiveModel> = values
            .iter()
            .map(|c| kpi_snapshot::ActiveModel {
                tenant_id: Set(tenant_id.to_string()),
                day: Set(day),
                kpi_id: Set(c.key.kpi.clone()),
                scope: Set(c.key.scope.to_string()),
                segment_id: Set(c.key.segment.clone().unwrap_or_default()),
                value: Set(c.value.ok()),
                reason: Set(c.value.err().map(|r| r.as_str().to_string())),
                numerator: Set(c.numerator),
                denominator: Set(c.denominator),
                definition_version: Set(crate::kpi::catalogue::find(&c.key.kpi)
                    .map(|d| d.version as i32)
                    .unwrap_or(1)),
                run_id: Set(run_id.to_string()),
                compute_time: Set(now),
            })
            .collect();
        for chunk in models.chunks(400) {
            kpi_snapshot::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
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
        use kpi_snapshot::Column as C;
        // Only the columns that vary by day: the key is the caller's. A year of DAY values
        // is a QuerySnapshots call's 365 rows, and the four key strings, the compute time
        // and a scope parse per row were most of its cost (BENCHMARKS.md, Load).
        let rows: Vec<SeriesRow> = kpi_snapshot::Entity::find()
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
            .filter(C::KpiId.eq(&key.kpi))
            .filter(C::Scope.eq(key.scope.to_string()))
            .filter(C::SegmentId.eq(key.segment.clone().unwrap_or_default()))
            .filter(C::Day.between(period.first, period.last))
            .order_by_asc(C::Day)
            .into_tuple()
            .all(&self.db)
            .await?;
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

    /// The newest stored snapshot of one KPI on one scope and segment.
    pub async fn latest_snapshot(&self, tenant_id: &str, key: &KpiKey) -> Result<Option<Snapshot>> {
        let row = kpi_snapshot::Entity::find()
            .filter(kpi_snapshot::Column::TenantId.eq(tenant_id))
            .filter(kpi_snapshot::Column::KpiId.eq(&key.kpi))
            .filter(kpi_snapshot::Column::Scope.eq(key.scope.to_string()))
            .filter(kpi_snapshot::Column::SegmentId.eq(key.segment.clone().unwrap_or_default()))
            .order_by_desc(kpi_snapshot::Column::Day)
            .limit(1)
            .one(&self.db)
            .await?;
        Ok(row.and_then(to_snapshot))
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
