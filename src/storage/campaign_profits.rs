//! Each campaign's daily profit (`campaign_day_profits`, migration `m20261209_000101`):
//! Σ (revenue − cost of goods) of the day's orders attributed to the campaign, in minor
//! units, or none outside its order window. Written with the day's snapshots in their
//! transaction, so `profit_per_visitor` of a campaign composes over any stored days
//! (KPIS.md: ratio of summed parts) exactly as the day's snapshots were computed.
use super::{Result, Store};
use crate::kpi::period::Period;
use chrono::NaiveDate;
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
};
use std::collections::HashMap;

/// The table's entity.
pub mod campaign_day_profit {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "campaign_day_profits")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        #[sea_orm(primary_key, auto_increment = false)]
        pub campaign_id: String,
        pub profit_minor: Option<i64>,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

use campaign_day_profit::Column as C;

/// A campaign's profit on a day: its id, and the profit in minor units, None when the day
/// is outside its order window.
pub type CampaignProfit = (String, Option<i64>);

/// Each campaign's stored days over a period: `days[d]` the profit on the period's d-th
/// day, None where not stored.
pub type StoredProfits = HashMap<String, Vec<Option<Option<i64>>>>;

/// Rows per INSERT statement: 4 bound values each.
const ROWS_PER_INSERT: usize = 2_000;

/// Days listed in one lookup of a campaign's days.
const DAYS_PER_LOOKUP: usize = 400;

/// Replaces the profits of `day` with `profits` inside the day's transaction.
pub(super) async fn replace_day(
    txn: &DatabaseTransaction,
    tenant_id: &str,
    day: NaiveDate,
    profits: &[CampaignProfit],
) -> Result<()> {
    campaign_day_profit::Entity::delete_many()
        .filter(C::TenantId.eq(tenant_id))
        .filter(C::Day.eq(day))
        .exec(txn)
        .await?;
    let backend = txn.get_database_backend();
    for chunk in profits.chunks(ROWS_PER_INSERT) {
        let mut insert = Query::insert();
        insert.into_table(campaign_day_profit::Entity).columns([
            C::TenantId,
            C::Day,
            C::CampaignId,
            C::ProfitMinor,
        ]);
        for (campaign, profit) in chunk {
            insert
                .values([
                    tenant_id.into(),
                    day.into(),
                    campaign.as_str().into(),
                    (*profit).into(),
                ])
                .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
        }
        // The day is locked by its transaction; a campaign listed twice keeps its last.
        insert.on_conflict(
            OnConflict::columns([C::TenantId, C::Day, C::CampaignId])
                .update_column(C::ProfitMinor)
                .to_owned(),
        );
        txn.execute_raw(backend.build(&insert)).await?;
    }
    Ok(())
}

impl Store {
    /// The stored daily profits over `period` of one campaign, or of every campaign with a
    /// stored day in it; a campaign listed has a vector of the period's days.
    pub async fn campaign_profits(
        &self,
        tenant_id: &str,
        period: Period,
        campaign: Option<&str>,
    ) -> Result<StoredProfits> {
        let days = period.days() as usize;
        let mut out: StoredProfits = HashMap::new();
        let mut keep = |rows: Vec<(NaiveDate, String, Option<i64>)>| {
            for (day, campaign, profit) in rows {
                let d = (day - period.first).num_days() as usize;
                if d < days {
                    out.entry(campaign).or_insert_with(|| vec![None; days])[d] = Some(profit);
                }
            }
        };
        let select = || {
            campaign_day_profit::Entity::find()
                .select_only()
                .columns([C::Day, C::CampaignId, C::ProfitMinor])
                .filter(C::TenantId.eq(tenant_id))
        };
        match campaign {
            // The key is day first: one campaign's days are listed, each a key lookup,
            // rather than ranged over every campaign's rows.
            Some(id) => {
                let all: Vec<NaiveDate> = period.iter_days().collect();
                for chunk in all.chunks(DAYS_PER_LOOKUP) {
                    keep(
                        select()
                            .filter(C::Day.is_in(chunk.iter().copied()))
                            .filter(C::CampaignId.eq(id))
                            .into_tuple()
                            .all(&self.db)
                            .await?,
                    );
                }
                out.entry(id.to_string())
                    .or_insert_with(|| vec![None; days]);
            }
            None => keep(
                select()
                    .filter(C::Day.between(period.first, period.last))
                    .into_tuple()
                    .all(&self.db)
                    .await?,
            ),
        }
        Ok(out)
    }
}
