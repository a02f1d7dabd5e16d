//! Observations: idempotent upserts keyed by each table's natural key, one transaction per
//! batch, so a batch is either stored whole or not at all.
use super::entities::{
    audience_member, campaign, channel, channel_day_stat, giveaway, giveaway_entry, influencer,
    interaction, metric_point, order, order_code, web_traffic,
};
use super::{Result, Store};
use crate::domain::channel::Platform;
use crate::domain::goal::Scope;
use crate::domain::observation::{
    AudienceMember, ChannelDayStats, GiveawayEntry, Interaction, MemberAttributes, MetricPoint,
    Order, WebTraffic,
};
use chrono::{NaiveDate, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IdenStatic,
    Iterable, QueryFilter, QuerySelect, Set,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;

/// Rows per INSERT statement: well under SQLite's bound-parameter limit.
const CHUNK: usize = 500;

/// Keeps the last row of each key, in first-seen order: a later row in a batch corrects an
/// earlier one, and one statement may not touch a row twice.
fn last_per_key<T, K: Hash + Eq>(rows: &[T], key: impl Fn(&T) -> K) -> Vec<&T> {
    let mut position: HashMap<K, usize> = HashMap::new();
    let mut kept: Vec<&T> = Vec::new();
    for row in rows {
        match position.entry(key(row)) {
            std::collections::hash_map::Entry::Occupied(slot) => kept[*slot.get()] = row,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(kept.len());
                kept.push(row);
            }
        }
    }
    kept
}

/// Inserts `models`, replacing every non-key column of rows whose key exists.
async fn upsert<A>(
    txn: &DatabaseTransaction,
    mut models: Vec<A>,
    keys: Vec<<A::Entity as EntityTrait>::Column>,
) -> Result<()>
where
    A: ActiveModelTrait + Send,
{
    let updates: Vec<_> = <A::Entity as EntityTrait>::Column::iter()
        .filter(|c| !keys.iter().any(|k| k.as_str() == c.as_str()))
        .collect();
    while !models.is_empty() {
        let n = models.len().min(CHUNK);
        let chunk: Vec<A> = models.drain(..n).collect();
        <A::Entity as EntityTrait>::insert_many(chunk)
            .on_conflict(
                OnConflict::columns(keys.clone())
                    .update_columns(updates.clone())
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// What [`Store::delete_orders`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeletedOrders {
    /// Ids of the orders removed, sorted.
    pub order_ids: Vec<String>,
    /// The days of the removed orders, whose KPIs change.
    pub days: BTreeSet<NaiveDate>,
}

/// Unicode-lowercased copy of an optional text, for segment rules.
fn lc(value: &Option<String>) -> Option<String> {
    value.as_ref().map(|v| v.to_lowercase())
}

impl Store {
    /// Platforms of the tenant's channels among `ids`.
    pub async fn channel_platforms(
        &self,
        tenant_id: &str,
        ids: &HashSet<String>,
    ) -> Result<HashMap<String, Platform>> {
        let mut found = HashMap::new();
        let ids: Vec<&String> = ids.iter().collect();
        for chunk in ids.chunks(CHUNK) {
            let rows = channel::Entity::find()
                .filter(channel::Column::TenantId.eq(tenant_id))
                .filter(channel::Column::Id.is_in(chunk.iter().map(|s| s.as_str())))
                .all(&self.db)
                .await?;
            for row in rows {
                if let Some(p) = Platform::parse(&row.platform) {
                    found.insert(row.id, p);
                }
            }
        }
        Ok(found)
    }

    /// The tenant's giveaway ids among `ids`.
    pub async fn giveaway_ids(
        &self,
        tenant_id: &str,
        ids: &HashSet<String>,
    ) -> Result<HashSet<String>> {
        let ids: Vec<&String> = ids.iter().collect();
        let mut found = HashSet::new();
        for chunk in ids.chunks(CHUNK) {
            let rows: Vec<String> = giveaway::Entity::find()
                .select_only()
                .column(giveaway::Column::Id)
                .filter(giveaway::Column::TenantId.eq(tenant_id))
                .filter(giveaway::Column::Id.is_in(chunk.iter().map(|s| s.as_str())))
                .into_tuple()
                .all(&self.db)
                .await?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// Whether a scope's resource exists in the tenant.
    pub async fn scope_exists(&self, tenant_id: &str, scope: &Scope) -> Result<bool> {
        exists(&self.db, tenant_id, scope).await
    }

    /// Upserts channel day stats in one transaction.
    pub async fn upsert_channel_stats(
        &self,
        tenant_id: &str,
        rows: &[ChannelDayStats],
    ) -> Result<()> {
        let now = Utc::now();
        let models = last_per_key(rows, |r| (r.channel_id.clone(), r.day))
            .into_iter()
            .map(|r| channel_day_stat::ActiveModel {
                tenant_id: Set(tenant_id.to_string()),
                channel_id: Set(r.channel_id.clone()),
                day: Set(r.day),
                followers: Set(r.followers),
                posts: Set(r.posts),
                mentions: Set(r.mentions),
                shares: Set(r.shares),
                comments: Set(r.comments),
                likes: Set(r.likes),
                link_clicks: Set(r.link_clicks),
                views: Set(r.views),
                reach: Set(r.reach),
                update_time: Set(now),
            })
            .collect();
        let txn = self.begin_write().await?;
        use channel_day_stat::Column as C;
        upsert(&txn, models, vec![C::TenantId, C::ChannelId, C::Day]).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Upserts web traffic rows in one transaction.
    pub async fn upsert_web_traffic(&self, tenant_id: &str, rows: &[WebTraffic]) -> Result<()> {
        let now = Utc::now();
        let models = last_per_key(rows, |r| (r.day, r.row_key()))
            .into_iter()
            .map(|r| web_traffic::ActiveModel {
                tenant_id: Set(tenant_id.to_string()),
                day: Set(r.day),
                row_key: Set(r.row_key()),
                source: Set(r.source.clone()),
                medium: Set(r.medium.clone()),
                campaign: Set(r.campaign.clone()),
                channel_group: Set(r.channel_group.clone()),
                source_key: Set(r.source.to_lowercase()),
                campaign_key: Set(r.campaign.to_lowercase()),
                age_bracket: Set(r.age_bracket.clone()),
                age: Set(r.age),
                country: Set(r.country.clone()),
                country_lc: Set(lc(&r.country)),
                is_customer: Set(r.is_customer),
                sessions: Set(r.sessions),
                users: Set(r.users),
                new_users: Set(r.new_users),
                update_time: Set(now),
            })
            .collect();
        let txn = self.begin_write().await?;
        use web_traffic::Column as C;
        upsert(&txn, models, vec![C::TenantId, C::Day, C::RowKey]).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Upserts orders with their codes in one transaction; a corrected order's codes
    /// replace the old ones.
    pub async fn upsert_orders(&self, tenant_id: &str, rows: &[Order]) -> Result<()> {
        let now = Utc::now();
        let rows = last_per_key(rows, |r| r.order_id.clone());
        let models = rows
            .iter()
            .map(|r| order::ActiveModel {
                tenant_id: Set(tenant_id.to_string()),
                order_id: Set(r.order_id.clone()),
                customer_key: Set(r.customer_key.clone()),
                placed_at: Set(r.placed_at),
                day: Set(r.day),
                revenue_minor: Set(r.revenue_minor),
                cost_minor: Set(r.cost_minor),
                discount_minor: Set(r.discount_minor),
                currency: Set(r.currency.clone()),
                utm_source: Set(r.utm_source.clone()),
                utm_medium: Set(r.utm_medium.clone()),
                utm_campaign: Set(r.utm_campaign.clone()),
                source_key: Set(r.utm_source.to_lowercase()),
                campaign_key: Set(r.utm_campaign.to_lowercase()),
                update_time: Set(now),
            })
            .collect();
        let codes: Vec<order_code::ActiveModel> = rows
            .iter()
            .flat_map(|r| {
                r.codes
                    .iter()
                    .zip(r.code_keys())
                    .enumerate()
                    .map(|(position, (code, key))| order_code::ActiveModel {
                        tenant_id: Set(tenant_id.to_string()),
                        order_id: Set(r.order_id.clone()),
                        position: Set(position as i32),
                        code: Set(code.clone()),
                        code_key: Set(key),
                    })
            })
            .collect();
        let txn = self.begin_write().await?;
        // Only orders that were stored before can have codes to replace; finding them
        // through the primary key keeps bulk loads of new orders free of DELETEs.
        let ids: Vec<&str> = rows.iter().map(|r| r.order_id.as_str()).collect();
        for chunk in ids.chunks(CHUNK) {
            let existing: Vec<String> = order::Entity::find()
                .select_only()
                .column(order::Column::OrderId)
                .filter(order::Column::TenantId.eq(tenant_id))
                .filter(order::Column::OrderId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&txn)
                .await?;
            if existing.is_empty() {
                continue;
            }
            order_code::Entity::delete_many()
                .filter(order_code::Column::TenantId.eq(tenant_id))
                .filter(order_code::Column::OrderId.is_in(existing))
                .exec(&txn)
                .await?;
        }
        use order::Column as C;
        upsert(&txn, models, vec![C::TenantId, C::OrderId]).await?;
        use order_code::Column as K;
        upsert(&txn, codes, vec![K::TenantId, K::OrderId, K::Position]).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Removes orders by id with their codes in one transaction. Ids that are not stored
    /// are left out of the answer, so removing twice removes nothing the second time.
    pub async fn delete_orders(&self, tenant_id: &str, ids: &[String]) -> Result<DeletedOrders> {
        let mut unique: Vec<&str> = ids.iter().map(String::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        let mut deleted = DeletedOrders::default();
        let txn = self.begin_write().await?;
        for chunk in unique.chunks(CHUNK) {
            let found: Vec<(String, NaiveDate)> = order::Entity::find()
                .select_only()
                .column(order::Column::OrderId)
                .column(order::Column::Day)
                .filter(order::Column::TenantId.eq(tenant_id))
                .filter(order::Column::OrderId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&txn)
                .await?;
            if found.is_empty() {
                continue;
            }
            let found_ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
            order_code::Entity::delete_many()
                .filter(order_code::Column::TenantId.eq(tenant_id))
                .filter(order_code::Column::OrderId.is_in(found_ids.iter().copied()))
                .exec(&txn)
                .await?;
            order::Entity::delete_many()
                .filter(order::Column::TenantId.eq(tenant_id))
                .filter(order::Column::OrderId.is_in(found_ids.iter().copied()))
                .exec(&txn)
                .await?;
            for (id, day) in found {
                deleted.days.insert(day);
                deleted.order_ids.push(id);
            }
        }
        txn.commit().await?;
        deleted.order_ids.sort_unstable();
        Ok(deleted)
    }

    /// Upserts audience members in one transaction.
    pub async fn upsert_audience_members(
        &self,
        tenant_id: &str,
        rows: &[AudienceMember],
    ) -> Result<()> {
        let now = Utc::now();
        let models = last_per_key(rows, |r| {
            (r.platform, r.account_id.clone(), r.channel_id.clone())
        })
        .into_iter()
        .map(|r| {
            let a: &MemberAttributes = &r.attributes;
            audience_member::ActiveModel {
                tenant_id: Set(tenant_id.to_string()),
                platform: Set(r.platform.as_str().to_string()),
                account_id: Set(r.account_id.clone()),
                channel_id: Set(r.channel_id.clone()),
                customer_id: Set(r.customer_id.clone()),
                first_seen: Set(r.first_seen),
                last_seen: Set(r.last_seen),
                bio: Set(a.bio.clone()),
                bio_lc: Set(lc(&a.bio)),
                followers: Set(a.followers),
                influence_score: Set(a.influence_score),
                age: Set(a.age),
                country: Set(a.country.clone()),
                country_lc: Set(lc(&a.country)),
                update_time: Set(now),
            }
        })
        .collect();
        let txn = self.begin_write().await?;
        use audience_member::Column as C;
        upsert(
            &txn,
            models,
            vec![C::TenantId, C::Platform, C::AccountId, C::ChannelId],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Upserts interactions in one transaction.
    pub async fn upsert_interactions(&self, tenant_id: &str, rows: &[Interaction]) -> Result<()> {
        let now = Utc::now();
        let models = last_per_key(rows, |r| (r.channel_id.clone(), r.interaction_id.clone()))
            .into_iter()
            .map(|r| {
                let a = &r.attributes;
                interaction::ActiveModel {
                    tenant_id: Set(tenant_id.to_string()),
                    channel_id: Set(r.channel_id.clone()),
                    interaction_id: Set(r.interaction_id.clone()),
                    kind: Set(r.kind.as_str().to_string()),
                    platform: Set(r.platform.as_str().to_string()),
                    account_id: Set(r.account_id.clone()),
                    occurred_at: Set(r.occurred_at),
                    day: Set(r.day),
                    is_customer: Set(a.is_customer),
                    bio: Set(a.bio.clone()),
                    bio_lc: Set(lc(&a.bio)),
                    followers: Set(a.followers),
                    influence_score: Set(a.influence_score),
                    age: Set(a.age),
                    country: Set(a.country.clone()),
                    country_lc: Set(lc(&a.country)),
                    update_time: Set(now),
                }
            })
            .collect();
        let txn = self.begin_write().await?;
        use interaction::Column as C;
        upsert(
            &txn,
            models,
            vec![C::TenantId, C::ChannelId, C::InteractionId],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Upserts giveaway entries in one transaction.
    pub async fn upsert_giveaway_entries(
        &self,
        tenant_id: &str,
        rows: &[GiveawayEntry],
    ) -> Result<()> {
        let now = Utc::now();
        let models = last_per_key(rows, |r| {
            (r.giveaway_id.clone(), r.entrant_key.clone(), r.entered_at)
        })
        .into_iter()
        .map(|r| giveaway_entry::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            giveaway_id: Set(r.giveaway_id.clone()),
            entrant_key: Set(r.entrant_key.clone()),
            entered_at: Set(r.entered_at),
            day: Set(r.day),
            update_time: Set(now),
        })
        .collect();
        let txn = self.begin_write().await?;
        use giveaway_entry::Column as C;
        upsert(
            &txn,
            models,
            vec![C::TenantId, C::GiveawayId, C::EntrantKey, C::EnteredAt],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Upserts metric points in one transaction.
    pub async fn upsert_metric_points(&self, tenant_id: &str, rows: &[MetricPoint]) -> Result<()> {
        let now = Utc::now();
        let models = last_per_key(rows, |r| (r.key.clone(), r.scope.to_string(), r.day))
            .into_iter()
            .map(|r| metric_point::ActiveModel {
                tenant_id: Set(tenant_id.to_string()),
                metric_key: Set(r.key.clone()),
                scope: Set(r.scope.to_string()),
                day: Set(r.day),
                value: Set(r.value),
                update_time: Set(now),
            })
            .collect();
        let txn = self.begin_write().await?;
        use metric_point::Column as C;
        upsert(
            &txn,
            models,
            vec![C::TenantId, C::MetricKey, C::Scope, C::Day],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }
}

/// Whether the resource a scope names exists in the tenant.
pub(crate) async fn exists(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    scope: &Scope,
) -> Result<bool> {
    let key = |id: &String| (tenant_id.to_string(), id.clone());
    Ok(match scope {
        Scope::Tenant => true,
        Scope::Influencer(id) => influencer::Entity::find_by_id(key(id))
            .one(db)
            .await?
            .is_some(),
        Scope::Campaign(id) => campaign::Entity::find_by_id(key(id))
            .one(db)
            .await?
            .is_some(),
        Scope::Channel(id) => channel::Entity::find_by_id(key(id))
            .one(db)
            .await?
            .is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::last_per_key;

    #[test]
    fn later_rows_of_a_key_win_in_first_seen_order() {
        let rows = [("a", 1), ("b", 2), ("a", 3)];
        let kept = last_per_key(&rows, |r| r.0);
        assert_eq!(kept, [&("a", 3), &("b", 2)]);
    }
}
