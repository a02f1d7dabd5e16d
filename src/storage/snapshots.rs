//! KPI snapshots: a day's snapshots are replaced in one transaction, so readers never see
//! a half-written day.
//!
//! Stored compact (migration `m20261208_000010`): a tenant's series are numbered once in
//! `kpi_series`, a day's values are narrow rows of `kpi_values` keyed (tenant, day, series
//! number) with reasons as small codes, and the run and definition version are stored once
//! per day and KPI in `kpi_value_runs`. Replacing a day rewrites only the rows whose numbers
//! changed.
use super::campaign_profits::CampaignProfit;
use super::entities::{kpi_series, kpi_snapshot_day, kpi_value, kpi_value_run};
use super::{Result, Store};
use crate::kpi::key::{Computed, KpiKey, Parts};
use crate::kpi::period::Period;
use crate::kpi::value::Reason;
use chrono::{Days, NaiveDate, Utc};
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait, JoinType, OnConflict, Order, Query, ValueTuple,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::HashMap;

/// A daily series as named in `kpi_series`: KPI, scope and segment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
/// order in which new series are numbered, so a day's rows are appended in it.
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

/// The grain of daily series in `kpi_series` and `kpi_value_runs`.
const DAY_GRAIN: &str = "DAY";

/// Rows per INSERT statement of values: 5 bound values each, under SQLite's limit of
/// 32,766.
const ROWS_PER_INSERT: usize = 4_000;

/// Series per INSERT of new series numbers: 6 bound values each.
const SERIES_PER_INSERT: usize = 2_000;

/// Series numbers or KPI ids listed in one statement.
const IDS_PER_STATEMENT: usize = 1_000;

/// Rounds of numbering new series before giving up: each round numbers every series that
/// no concurrent writer numbered first, so more than two means something else is wrong.
const NUMBERING_ROUNDS: usize = 8;

/// Days listed in one series lookup: well under every backend's limit of bound values.
const DAYS_PER_LOOKUP: usize = 400;

/// The day, value, reason code, numerator, denominator, definition version and run of a
/// row.
type SeriesRow = (
    NaiveDate,
    Option<f64>,
    Option<i16>,
    Option<f64>,
    Option<f64>,
    i32,
    String,
);

/// A value row as stored: value, reason code, numerator and denominator.
type StoredParts = (Option<f64>, Option<i16>, Option<f64>, Option<f64>);

/// A value row of a day as stored: series number, then its parts.
type StoredRow = (i32, Option<f64>, Option<i16>, Option<f64>, Option<f64>);

/// The stored code of a reason: `::migrations::SNAPSHOT_REASON_CODES`, which moved the names
/// stored before to these codes.
fn reason_code(reason: Reason) -> i16 {
    match reason {
        Reason::NoData => 1,
        Reason::ZeroDenominator => 2,
        Reason::OutsideCampaign => 3,
        Reason::NotReported => 4,
        Reason::Overflow => 5,
    }
}

/// The reason of a stored code; None for a code this version does not know.
fn reason_of(code: i16) -> Option<Reason> {
    Some(match code {
        1 => Reason::NoData,
        2 => Reason::ZeroDenominator,
        3 => Reason::OutsideCampaign,
        4 => Reason::NotReported,
        5 => Reason::Overflow,
        _ => return None,
    })
}

/// Parts as stored.
fn stored_parts((value, numerator, denominator): &Parts) -> StoredParts {
    (
        value.ok(),
        value.err().map(reason_code),
        *numerator,
        *denominator,
    )
}

/// Whether two stored rows hold the same numbers bit for bit: a value rewritten as the
/// same must not count as a change, and one that differs only in its bits (a negative
/// zero) is rewritten rather than kept.
fn same(a: &StoredParts, b: &StoredParts) -> bool {
    let bits = |x: Option<f64>| x.map(f64::to_bits);
    bits(a.0) == bits(b.0) && a.1 == b.1 && bits(a.2) == bits(b.2) && bits(a.3) == bits(b.3)
}

/// A stored value, or why it is undefined; None for a row with neither (never written).
fn stored_value(
    value: Option<f64>,
    reason: Option<i16>,
) -> Option<std::result::Result<f64, Reason>> {
    match (value, reason.and_then(reason_of)) {
        (Some(v), _) => Some(Ok(v)),
        (None, Some(r)) => Some(Err(r)),
        (None, None) => None,
    }
}

/// The stored numbers of a tenant's series, resolved once for a run of many days:
/// `ids[i]` is the number of the run's i-th series.
#[derive(Clone, Debug)]
pub struct SeriesIds {
    ids: Vec<i32>,
    /// Positions in `ids` ordered by number: the order of a day's rows in the key.
    by_number: Vec<u32>,
    /// The KPIs of the series, each with its definition version now.
    kpis: Vec<(String, i32)>,
}

impl SeriesIds {
    /// How many series.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// An error of a statement sea-query could not build.
fn unbuilt(e: impl std::fmt::Display) -> sea_orm::DbErr {
    sea_orm::DbErr::Custom(e.to_string())
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
    /// the value of `series[i]`. A run of many days numbers its series once with
    /// [`Store::series_ids`] and calls [`Store::replace_day_ids`] instead. Replacing
    /// `profit_per_visitor` leaves the day without campaign profits (see
    /// [`Store::replace_day_ids`]).
    pub async fn replace_day_parts(
        &self,
        tenant_id: &str,
        day: NaiveDate,
        only: Option<&[&str]>,
        series: &[SeriesKey],
        parts: &[Parts],
        run_id: &str,
    ) -> Result<()> {
        let ids = self.series_ids(tenant_id, series).await?;
        self.replace_day_ids(tenant_id, day, only, &ids, parts, &[], run_id)
            .await
    }

    /// The stored numbers of daily series `series` (distinct keys), numbering those not
    /// stored yet. Numbers are never reused or changed, so they hold for as long as a run.
    /// New series are numbered in the order given: in key order, a day's rows keep the
    /// order of their keys.
    pub async fn series_ids(&self, tenant_id: &str, series: &[SeriesKey]) -> Result<SeriesIds> {
        use kpi_series::Column as C;
        let mut kpis: Vec<&str> = series.iter().map(|k| k.kpi.as_str()).collect();
        kpis.sort_unstable();
        kpis.dedup();
        let mut known: HashMap<SeriesKey, i32> = HashMap::with_capacity(series.len());
        for round in 0.. {
            // Only the series of the KPIs asked for: a run of one custom KPI reads its own
            // series, not the tenant's hundred thousand.
            for chunk in kpis.chunks(IDS_PER_STATEMENT) {
                let rows: Vec<(i32, String, String, String)> = kpi_series::Entity::find()
                    .select_only()
                    .columns([C::Id, C::KpiId, C::Scope, C::SegmentId])
                    .filter(C::TenantId.eq(tenant_id))
                    .filter(C::Grain.eq(DAY_GRAIN))
                    .filter(C::KpiId.is_in(chunk.iter().copied()))
                    .into_tuple()
                    .all(&self.db)
                    .await?;
                known.extend(rows.into_iter().map(|(id, kpi, scope, segment)| {
                    (
                        SeriesKey {
                            kpi,
                            scope,
                            segment,
                        },
                        id,
                    )
                }));
            }
            let missing: Vec<&SeriesKey> =
                series.iter().filter(|k| !known.contains_key(*k)).collect();
            if missing.is_empty() {
                break;
            }
            if round == NUMBERING_ROUNDS {
                return Err(sea_orm::DbErr::Custom(format!(
                    "{} KPI series of tenant {tenant_id} still unnumbered after {round} rounds",
                    missing.len()
                ))
                .into());
            }
            // Numbered after the tenant's highest number, outside any day's transaction,
            // so the numbers are there for every later day. A concurrent writer may take
            // the same numbers or series first: those rows are skipped (PostgreSQL waits
            // for the other's commit to decide), and the next round reads what it wrote.
            let highest: Option<Option<i32>> = kpi_series::Entity::find()
                .select_only()
                .column_as(C::Id.max(), "highest")
                .filter(C::TenantId.eq(tenant_id))
                .into_tuple()
                .one(&self.db)
                .await?;
            let first = highest.flatten().unwrap_or(0);
            let backend = self.db.get_database_backend();
            for (n, chunk) in missing.chunks(SERIES_PER_INSERT).enumerate() {
                let mut insert = Query::insert();
                insert
                    .into_table(kpi_series::Entity)
                    .columns([
                        C::TenantId,
                        C::Id,
                        C::KpiId,
                        C::Scope,
                        C::SegmentId,
                        C::Grain,
                    ])
                    .on_conflict(OnConflict::new().do_nothing().to_owned());
                for (i, key) in chunk.iter().enumerate() {
                    let id = first
                        .checked_add((n * SERIES_PER_INSERT + i + 1) as i32)
                        .ok_or_else(|| unbuilt("KPI series numbers exhausted"))?;
                    insert
                        .values([
                            tenant_id.into(),
                            id.into(),
                            key.kpi.as_str().into(),
                            key.scope.as_str().into(),
                            key.segment.as_str().into(),
                            DAY_GRAIN.into(),
                        ])
                        .map_err(unbuilt)?;
                }
                self.db.execute_raw(backend.build(&insert)).await?;
            }
        }
        let ids: Vec<i32> = series.iter().map(|k| known[k]).collect();
        let mut by_number: Vec<u32> = (0..ids.len() as u32).collect();
        by_number.sort_unstable_by_key(|&i| ids[i as usize]);
        let kpis = kpis
            .into_iter()
            .map(|kpi| {
                let version = crate::domain::catalogue::find(kpi)
                    .map(|d| d.version as i32)
                    .unwrap_or(1);
                (kpi.to_string(), version)
            })
            .collect();
        Ok(SeriesIds {
            ids,
            by_number,
            kpis,
        })
    }

    /// [`Store::replace_day_parts`] with series numbered by [`Store::series_ids`]:
    /// `parts[i]` is the value of the i-th series. Rows whose numbers are unchanged stay as
    /// they are (the day's run and definition versions are stored apart from them), so
    /// replacing a day with the same values writes a few dozen rows.
    ///
    /// When `profit_per_visitor` is replaced (`only` is None or names it), the day's
    /// campaign profits are replaced by `profits` in the same transaction: the day's
    /// stored profits are always those its snapshots were computed with, and a day
    /// written without them has none (its campaign `profit_per_visitor` is then computed
    /// live over any period holding it).
    #[allow(clippy::too_many_arguments)]
    pub async fn replace_day_ids(
        &self,
        tenant_id: &str,
        day: NaiveDate,
        only: Option<&[&str]>,
        ids: &SeriesIds,
        parts: &[Parts],
        profits: &[CampaignProfit],
        run_id: &str,
    ) -> Result<()> {
        debug_assert_eq!(ids.len(), parts.len());
        let now = Utc::now();
        let backend = self.db.get_database_backend();
        let txn = self.begin_write().await?;
        // The day's row of when it was written comes first: upserting it locks the tenant's
        // day until the commit, so replacements of one day take turns. Without the lock,
        // two at once on PostgreSQL each deleted only the rows committed before they began
        // and then inserted over each other's (a unique violation); SQLite's writers take
        // turns anyway (the transaction holds the write lock from BEGIN). Taking turns also
        // keeps the comparison below true until the commit.
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

        // The run and definition version of each KPI written, in place of the replaced
        // KPIs'.
        {
            use kpi_value_run::Column as R;
            let mut delete = kpi_value_run::Entity::delete_many()
                .filter(R::TenantId.eq(tenant_id))
                .filter(R::Day.eq(day))
                .filter(R::Grain.eq(DAY_GRAIN));
            if let Some(only) = only {
                delete = delete.filter(R::KpiId.is_in(only.iter().copied()));
            }
            delete.exec(&txn).await?;
            if !parts.is_empty() {
                let runs = ids
                    .kpis
                    .iter()
                    .map(|(kpi, version)| kpi_value_run::ActiveModel {
                        tenant_id: Set(tenant_id.to_string()),
                        day: Set(day),
                        kpi_id: Set(kpi.clone()),
                        grain: Set(DAY_GRAIN.to_string()),
                        run_id: Set(run_id.to_string()),
                        definition_version: Set(*version),
                    });
                // A KPI outside `only` takes the new run too: its rows are written by it.
                kpi_value_run::Entity::insert_many(runs)
                    .on_conflict(
                        OnConflict::columns([R::TenantId, R::Day, R::KpiId, R::Grain])
                            .update_columns([R::RunId, R::DefinitionVersion])
                            .to_owned(),
                    )
                    .exec_without_returning(&txn)
                    .await?;
            }
        }

        // The day's stored rows of the replaced KPIs, by number, to compare with the new.
        let stored: Vec<StoredRow> = {
            use kpi_value::Column as V;
            let mut query = kpi_value::Entity::find()
                .select_only()
                .columns([
                    V::SeriesId,
                    V::Value,
                    V::Reason,
                    V::Numerator,
                    V::Denominator,
                ])
                .filter(V::TenantId.eq(tenant_id))
                .filter(V::Day.eq(day));
            if let Some(only) = only {
                query = query.filter(
                    V::SeriesId.in_subquery(
                        Query::select()
                            .column(kpi_series::Column::Id)
                            .from(kpi_series::Entity)
                            .and_where(kpi_series::Column::TenantId.eq(tenant_id))
                            .and_where(kpi_series::Column::Grain.eq(DAY_GRAIN))
                            .and_where(kpi_series::Column::KpiId.is_in(only.iter().copied()))
                            .to_owned(),
                    ),
                );
            }
            query
                .order_by_asc(V::SeriesId)
                .into_tuple()
                .all(&txn)
                .await?
        };
        // Both in number order: rows only stored are deleted, rows only new are inserted,
        // and rows in both are rewritten (deleted, then inserted) if they differ.
        let new = ids.by_number.iter().map(|&i| {
            let i = i as usize;
            (ids.ids[i], stored_parts(&parts[i]))
        });
        let mut deleted: Vec<i32> = Vec::new();
        let mut inserted: Vec<(i32, StoredParts)> = Vec::new();
        let stored_rows = stored.len();
        let mut old = stored.into_iter().peekable();
        for (id, row) in new {
            while let Some((gone, ..)) = old.next_if(|o| o.0 < id) {
                deleted.push(gone);
            }
            match old.next_if(|o| o.0 == id) {
                Some((_, v, r, n, d)) if same(&(v, r, n, d), &row) => {}
                Some(_) => {
                    deleted.push(id);
                    inserted.push((id, row));
                }
                None => inserted.push((id, row)),
            }
        }
        deleted.extend(old.map(|o| o.0));
        if only.is_none() && stored_rows > 0 && deleted.len() == stored_rows {
            // Every row changed: the day's range goes at once.
            kpi_value::Entity::delete_many()
                .filter(kpi_value::Column::TenantId.eq(tenant_id))
                .filter(kpi_value::Column::Day.eq(day))
                .exec(&txn)
                .await?;
        } else {
            for chunk in deleted.chunks(IDS_PER_STATEMENT) {
                kpi_value::Entity::delete_many()
                    .filter(kpi_value::Column::TenantId.eq(tenant_id))
                    .filter(kpi_value::Column::Day.eq(day))
                    .filter(kpi_value::Column::SeriesId.is_in(chunk.iter().copied()))
                    .exec(&txn)
                    .await?;
            }
        }
        // Each statement binds the day's constants once and each row's own values in a
        // VALUES list: an ActiveModel per row, and a day formatted for every row, cost more
        // than the database's own work.
        let mut inserts = inserted.chunks(ROWS_PER_INSERT).map(|chunk| {
            let tuples = chunk
                .iter()
                .map(|(id, (value, reason, numerator, denominator))| {
                    ValueTuple::Many(vec![
                        (*id).into(),
                        (*value).into(),
                        (*reason).into(),
                        (*numerator).into(),
                        (*denominator).into(),
                    ])
                });
            let mut select = Query::select();
            select
                .expr(Expr::val(tenant_id))
                .expr(Expr::val(day))
                .from_values(tuples, "v");
            for n in 1..=5 {
                select.expr(Expr::col(("v", format!("column{n}"))));
            }
            Query::insert()
                .into_table(kpi_value::Entity)
                .columns([
                    kpi_value::Column::TenantId,
                    kpi_value::Column::Day,
                    kpi_value::Column::SeriesId,
                    kpi_value::Column::Value,
                    kpi_value::Column::Reason,
                    kpi_value::Column::Numerator,
                    kpi_value::Column::Denominator,
                ])
                .select_from(select)
                .map(|insert| backend.build(&*insert))
                .map_err(unbuilt)
        });
        // The next statement is built here while the database runs the one before, rather
        // than the two taking turns.
        let mut next = inserts.next().transpose()?;
        while let Some(insert) = next {
            let (done, following) = tokio::join!(txn.execute_raw(insert), async { inserts.next() });
            done?;
            next = following.transpose()?;
        }
        if only.is_none_or(|o| o.contains(&"profit_per_visitor")) {
            super::campaign_profits::replace_day(&txn, tenant_id, day, profits).await?;
        }
        // A day left without snapshots has no row of when it was written.
        if parts.is_empty() {
            let left = match only {
                None => false,
                Some(_) => kpi_value::Entity::find()
                    .select_only()
                    .column(kpi_value::Column::SeriesId)
                    .filter(kpi_value::Column::TenantId.eq(tenant_id))
                    .filter(kpi_value::Column::Day.eq(day))
                    .into_tuple::<i32>()
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

    /// The stored parts of the series `which` (positions in `ids`) on each day of
    /// `period`: `out[w][d]` those of `which[w]` on the period's d-th day, None where not
    /// stored. One read a day, of the day's rows of these series (of all its rows when they
    /// are most of them), rather than one per series.
    pub async fn stored_days(
        &self,
        tenant_id: &str,
        ids: &SeriesIds,
        which: &[usize],
        period: Period,
    ) -> Result<Vec<Vec<Option<Parts>>>> {
        use kpi_value::Column as V;
        let days = period.days() as usize;
        let mut out: Vec<Vec<Option<Parts>>> = vec![vec![None; days]; which.len()];
        if which.is_empty() {
            return Ok(out);
        }
        let position: HashMap<i32, usize> = which
            .iter()
            .enumerate()
            .map(|(w, &i)| (ids.ids[i], w))
            .collect();
        let mut numbers: Vec<i32> = position.keys().copied().collect();
        numbers.sort_unstable();
        // Listing a few thousand numbers costs a few statements a day; more than that and
        // the day's every row is read and the rest dropped here.
        let listed = numbers.len() <= 4 * IDS_PER_STATEMENT;
        let chunks: Vec<&[i32]> = if listed {
            numbers.chunks(IDS_PER_STATEMENT).collect()
        } else {
            vec![&[]]
        };
        for (d, day) in period.iter_days().enumerate() {
            for chunk in &chunks {
                let mut query = kpi_value::Entity::find()
                    .select_only()
                    .columns([
                        V::SeriesId,
                        V::Value,
                        V::Reason,
                        V::Numerator,
                        V::Denominator,
                    ])
                    .filter(V::TenantId.eq(tenant_id))
                    .filter(V::Day.eq(day));
                if listed {
                    query = query.filter(V::SeriesId.is_in(chunk.iter().copied()));
                }
                let rows: Vec<StoredRow> = query.into_tuple().all(&self.db).await?;
                for (series, value, reason, numerator, denominator) in rows {
                    let Some(&w) = position.get(&series) else {
                        continue;
                    };
                    out[w][d] = stored_value(value, reason).map(|v| (v, numerator, denominator));
                }
            }
        }
        Ok(out)
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
        use kpi_value::Column as V;
        use kpi_value_run::Column as R;
        // Only the columns that vary by day: the key is the caller's. The series' number is
        // looked up first, by its unique key: given as a constant, the values are key
        // lookups of (tenant, day, number) whatever the planner knows of the tables, where a
        // subquery in their place was planned as a join over the day's every row on a
        // PostgreSQL table without statistics.
        let series: Option<i32> = kpi_series::Entity::find()
            .select_only()
            .column(kpi_series::Column::Id)
            .filter(kpi_series::Column::TenantId.eq(tenant_id))
            .filter(kpi_series::Column::KpiId.eq(&key.kpi))
            .filter(kpi_series::Column::Scope.eq(key.scope.to_string()))
            .filter(kpi_series::Column::SegmentId.eq(key.segment.clone().unwrap_or_default()))
            .filter(kpi_series::Column::Grain.eq(DAY_GRAIN))
            .into_tuple()
            .one(&self.db)
            .await?;
        let Some(series) = series else {
            return Ok(Vec::new());
        };
        let (v, r) = ("v", "r");
        let mut select = Query::select();
        select
            .columns([
                (v, V::Day),
                (v, V::Value),
                (v, V::Reason),
                (v, V::Numerator),
                (v, V::Denominator),
            ])
            .columns([(r, R::DefinitionVersion), (r, R::RunId)])
            .from_as(kpi_value::Entity, v)
            .join_as(
                JoinType::InnerJoin,
                kpi_value_run::Entity,
                r,
                Condition::all()
                    .add(Expr::col((r, R::TenantId)).equals((v, V::TenantId)))
                    .add(Expr::col((r, R::Day)).equals((v, V::Day)))
                    .add(Expr::col((r, R::KpiId)).eq(key.kpi.as_str()))
                    .add(Expr::col((r, R::Grain)).eq(DAY_GRAIN)),
            )
            .and_where(Expr::col((v, V::TenantId)).eq(tenant_id))
            .and_where(Expr::col((v, V::Day)).is_in(days.iter().copied()))
            .and_where(Expr::col((v, V::SeriesId)).eq(series));
        match limit {
            Some(n) => select.order_by((v, V::Day), Order::Desc).limit(n),
            None => select.order_by((v, V::Day), Order::Asc),
        };
        let statement = self.db.get_database_backend().build(&select);
        let rows = self.db.query_all_raw(statement).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (day, value, reason, numerator, denominator, definition_version, run_id): SeriesRow =
                row.try_get_many_by_index()?;
            let Some(value) = stored_value(value, reason) else {
                continue;
            };
            out.push(Snapshot {
                computed: Computed {
                    key: key.clone(),
                    period: Period::day(day),
                    value,
                    numerator,
                    denominator,
                },
                definition_version,
                run_id,
            });
        }
        Ok(out)
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
                first = Ord::max(first, oldest);
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
        let day: Option<Option<NaiveDate>> = kpi_value::Entity::find()
            .select_only()
            .column_as(kpi_value::Column::Day.min(), "oldest")
            .filter(kpi_value::Column::TenantId.eq(tenant_id))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(day.flatten())
    }

    /// The newest day with snapshots, if any.
    pub async fn newest_computed_day(&self, tenant_id: &str) -> Result<Option<NaiveDate>> {
        let day: Option<Option<NaiveDate>> = kpi_value::Entity::find()
            .select_only()
            .column_as(kpi_value::Column::Day.max(), "newest")
            .filter(kpi_value::Column::TenantId.eq(tenant_id))
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

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Reason; 5] = [
        Reason::NoData,
        Reason::ZeroDenominator,
        Reason::OutsideCampaign,
        Reason::NotReported,
        Reason::Overflow,
    ];

    #[test]
    fn reason_codes_are_the_migrations() {
        for (name, code) in ::migrations::SNAPSHOT_REASON_CODES {
            let reason = Reason::parse(name).expect(name);
            assert_eq!(reason_code(reason), code, "{name}");
            assert_eq!(reason_of(code), Some(reason), "{name}");
        }
        for reason in ALL {
            assert_eq!(reason_of(reason_code(reason)), Some(reason));
        }
        assert_eq!(::migrations::SNAPSHOT_REASON_CODES.len(), ALL.len());
        assert_eq!(reason_of(0), None);
    }

    #[test]
    fn same_compares_bits() {
        let row = |v: f64| (Some(v), None, Some(1.0), None);
        assert!(same(&row(0.1 + 0.2), &row(0.1 + 0.2)));
        assert!(!same(&row(0.0), &row(-0.0)));
        assert!(!same(&row(1.0), &(None, Some(1), Some(1.0), None)));
        assert!(same(
            &(None, Some(2), None, None),
            &(None, Some(2), None, None)
        ));
        assert!(!same(
            &(None, Some(2), None, None),
            &(None, Some(3), None, None)
        ));
    }
}
