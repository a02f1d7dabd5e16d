//! Tenant-wide daily series that only campaign lift reads (LIFT.md, "Lift-only series"):
//! every web visitor and every order of the tenant, not only those attributed to an
//! influencer. They are not KPIs (KPIS.md holds none of them), so nothing stores them:
//! each is one grouped statement over the tenant's observations of a period, by day, on
//! the `(tenant_id, day)` keys of `web_traffic` and `orders`.
use super::{Result, Store};
use crate::kpi::period::Period;
use chrono::NaiveDate;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult};
use std::collections::HashMap;

/// A lift-only series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantSeries {
    /// Σ users of every web row of the day.
    WebVisitors,
    /// Σ new users of every web row of the day.
    WebNewVisitors,
    /// Orders placed on the day.
    AllOrders,
    /// Σ revenue of the orders placed on the day, in minor units.
    AllRevenueMinor,
}

impl TenantSeries {
    /// Whether the series counts orders (else web rows).
    pub fn is_orders(self) -> bool {
        matches!(
            self,
            TenantSeries::AllOrders | TenantSeries::AllRevenueMinor
        )
    }
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<T> {
    Ok(row.try_get::<T>("", column)?)
}

/// `SUM(CAST(col AS DOUBLE PRECISION))`: no integer overflow on either database.
fn sum_f64(table: &'static str, column: &'static str) -> Expr {
    Expr::expr(Expr::col((table, column)).cast_as("DOUBLE PRECISION")).sum()
}

impl Store {
    async fn lift_rows(&self, select: &SelectStatement) -> Result<Vec<QueryResult>> {
        let statement = self.db.get_database_backend().build(select);
        tracing::trace!(sql = %statement, "lift series query");
        Ok(self.db.query_all_raw(statement).await?)
    }

    /// The series' value on each day of `period` with at least one row: web series have
    /// none on a day without web traffic, order series none on a day without orders.
    pub async fn tenant_series(
        &self,
        tenant_id: &str,
        series: TenantSeries,
        period: &Period,
    ) -> Result<HashMap<NaiveDate, f64>> {
        let (table, value) = match series {
            TenantSeries::WebVisitors => ("web_traffic", sum_f64("web_traffic", "users")),
            TenantSeries::WebNewVisitors => ("web_traffic", sum_f64("web_traffic", "new_users")),
            TenantSeries::AllOrders => ("orders", Expr::col(Asterisk).count()),
            TenantSeries::AllRevenueMinor => ("orders", sum_f64("orders", "revenue_minor")),
        };
        let select = Query::select()
            .from(table)
            .column((table, "day"))
            .expr_as(Expr::expr(value).cast_as("DOUBLE PRECISION"), "v")
            .and_where(Expr::col((table, "tenant_id")).eq(tenant_id))
            .and_where(Expr::col((table, "day")).between(period.first, period.last))
            .group_by_col((table, "day"))
            .to_owned();
        let mut out = HashMap::new();
        for row in self.lift_rows(&select).await? {
            let v: Option<f64> = get(&row, "v")?;
            out.insert(get(&row, "day")?, v.unwrap_or(0.0));
        }
        Ok(out)
    }

    /// The day of the tenant's first stored order, if it has any: from then on a day
    /// without orders has none, rather than no value.
    pub async fn first_order_day(&self, tenant_id: &str) -> Result<Option<NaiveDate>> {
        let select = Query::select()
            .from("orders")
            .expr_as(Expr::col(("orders", "day")).min(), "first")
            .and_where(Expr::col(("orders", "tenant_id")).eq(tenant_id))
            .to_owned();
        match self.lift_rows(&select).await?.first() {
            Some(row) => get(row, "first"),
            None => Ok(None),
        }
    }
}
