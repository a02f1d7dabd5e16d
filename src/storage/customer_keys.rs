//! Stored e-mail hashes of earlier versions (`e:<sha256>`) moved to the keyed form (`k:`)
//! in place, so that a guest keeps one key across rows stored before and after the
//! per-deployment secret (see `CustomerKeySecret`). Idempotent: a run finds only the keys
//! an earlier run has not rewritten, and each batch of keys commits on its own, so a run
//! that stops half-way is finished by the next.
use super::entities::{giveaway_entry, order};
use super::{Result, Store};
use crate::domain::observation::CustomerKeySecret;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

/// Distinct keys rewritten per transaction: well under SQLite's bound-parameter limit.
const BATCH: u64 = 400;

/// The keys of earlier versions, as a LIKE pattern. Not a range such as `>= 'e:' AND <
/// 'e;'`: PostgreSQL compares text in the database's collation, and under a linguistic
/// one (ICU en-US) punctuation hardly counts, so that range held none of them.
const DIGEST_PATTERN: &str = "e:%";

/// Rows a rekey rewrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rekeyed {
    /// Orders whose customer key was rewritten.
    pub orders: u64,
    /// Giveaway entries whose entrant key was rewritten.
    pub giveaway_entries: u64,
}

impl Store {
    /// Rewrites every stored `e:<sha256>` customer key (orders) and entrant key
    /// (giveaway entries) of every tenant to its keyed form under `secret`.
    pub async fn rekey_customers(&self, secret: &CustomerKeySecret) -> Result<Rekeyed> {
        let mut done = Rekeyed::default();
        for tenant in self.tenant_ids().await? {
            done.orders += self.rekey_orders(&tenant, secret).await?;
            done.giveaway_entries += self.rekey_entrants(&tenant, secret).await?;
        }
        Ok(done)
    }

    async fn rekey_orders(&self, tenant: &str, secret: &CustomerKeySecret) -> Result<u64> {
        use order::Column as C;
        let mut rewritten = 0;
        let mut after = String::new();
        loop {
            // Ordered by the index on (tenant_id, customer_key, day); paging by the last key
            // seen uses the collation's order, whatever it is, so no key is skipped.
            let keys: Vec<Option<String>> = order::Entity::find()
                .select_only()
                .column(C::CustomerKey)
                .distinct()
                .filter(C::TenantId.eq(tenant))
                .filter(C::CustomerKey.gt(after.as_str()))
                .filter(C::CustomerKey.like(DIGEST_PATTERN))
                .order_by_asc(C::CustomerKey)
                .limit(BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            let keys: Vec<String> = keys.into_iter().flatten().collect();
            let Some(last) = keys.last() else {
                return Ok(rewritten);
            };
            // Keyset paging: a malformed `e:` key that stays as it is is not met again.
            after = last.clone();
            let txn = self.begin_write().await?;
            for old in &keys {
                let Some(new) = secret.rekey(old) else {
                    continue;
                };
                rewritten += order::Entity::update_many()
                    .col_expr(C::CustomerKey, Expr::value(new))
                    .filter(C::TenantId.eq(tenant))
                    .filter(C::CustomerKey.eq(old.as_str()))
                    .exec(&txn)
                    .await?
                    .rows_affected;
            }
            txn.commit().await?;
        }
    }

    async fn rekey_entrants(&self, tenant: &str, secret: &CustomerKeySecret) -> Result<u64> {
        use giveaway_entry::Column as C;
        let mut rewritten = 0;
        let mut after = String::new();
        loop {
            let keys: Vec<String> = giveaway_entry::Entity::find()
                .select_only()
                .column(C::EntrantKey)
                .distinct()
                .filter(C::TenantId.eq(tenant))
                .filter(C::EntrantKey.gt(after.as_str()))
                .filter(C::EntrantKey.like(DIGEST_PATTERN))
                .order_by_asc(C::EntrantKey)
                .limit(BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            let Some(last) = keys.last() else {
                return Ok(rewritten);
            };
            after = last.clone();
            let mapped: Vec<(String, String)> = keys
                .iter()
                .filter_map(|old| secret.rekey(old).map(|new| (old.clone(), new)))
                .collect();
            if mapped.is_empty() {
                continue;
            }
            let txn = self.begin_write().await?;
            let old_keys: Vec<&str> = mapped.iter().map(|(old, _)| old.as_str()).collect();
            let rows = giveaway_entry::Entity::find()
                .filter(C::TenantId.eq(tenant))
                .filter(C::EntrantKey.is_in(old_keys.clone()))
                .all(&txn)
                .await?;
            rewritten += rows.len() as u64;
            // The key is part of the primary key: the keyed row is inserted and the old
            // one deleted. A keyed twin already stored (the same entry ingested again
            // after the upgrade) is the same entry, so the insert leaves it be.
            let new_rows: Vec<giveaway_entry::ActiveModel> = rows
                .into_iter()
                .filter_map(|row| {
                    let (_, new) = mapped.iter().find(|(old, _)| *old == row.entrant_key)?;
                    Some(giveaway_entry::ActiveModel {
                        tenant_id: Set(row.tenant_id),
                        giveaway_id: Set(row.giveaway_id),
                        entrant_key: Set(new.clone()),
                        entered_at: Set(row.entered_at),
                        day: Set(row.day),
                        update_time: Set(row.update_time),
                    })
                })
                .collect();
            for chunk in new_rows.chunks(BATCH as usize) {
                giveaway_entry::Entity::insert_many(chunk.to_vec())
                    .on_conflict(
                        OnConflict::columns([
                            C::TenantId,
                            C::GiveawayId,
                            C::EntrantKey,
                            C::EnteredAt,
                        ])
                        .do_nothing()
                        .to_owned(),
                    )
                    .exec_without_returning(&txn)
                    .await?;
            }
            giveaway_entry::Entity::delete_many()
                .filter(C::TenantId.eq(tenant))
                .filter(C::EntrantKey.is_in(old_keys))
                .exec(&txn)
                .await?;
            txn.commit().await?;
        }
    }
}
