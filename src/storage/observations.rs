//! Observations: idempotent upserts keyed by each table's natural key, one transaction per
//! batch, so a batch is either stored whole or not at all. The rows are written set-based
//! through [`super::bulk`]; each table's columns are listed here once, in row order.
use super::bulk::{Batch, Cell, Table};
use super::entities::{campaign, channel, giveaway, influencer, order, order_code};
use super::{Result, Store};
use crate::domain::channel::Platform;
use crate::domain::goal::Scope;
use crate::domain::observation::{
    AudienceMember, ChannelDayStats, GiveawayEntry, Interaction, MemberAttributes, MetricPoint,
    Order, WebTraffic,
};
use chrono::{NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
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

const ORDERS: Table = Table {
    name: "orders",
    columns: &[
        "order_id",
        "customer_key",
        "placed_at",
        "day",
        "revenue_minor",
        "cost_minor",
        "discount_minor",
        "currency",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "source_key",
        "campaign_key",
    ],
    key: &["order_id"],
    stamped: true,
};

const ORDER_CODES: Table = Table {
    name: "order_codes",
    columns: &["order_id", "position", "code", "code_key"],
    key: &["order_id", "position"],
    stamped: false,
};

const CHANNEL_DAY_STATS: Table = Table {
    name: "channel_day_stats",
    columns: &[
        "channel_id",
        "day",
        "followers",
        "posts",
        "mentions",
        "shares",
        "comments",
        "likes",
        "link_clicks",
        "views",
        "reach",
    ],
    key: &["channel_id", "day"],
    stamped: true,
};

const WEB_TRAFFIC: Table = Table {
    name: "web_traffic",
    columns: &[
        "day",
        "row_key",
        "source",
        "medium",
        "campaign",
        "channel_group",
        "source_key",
        "campaign_key",
        "age_bracket",
        "age",
        "country",
        "country_lc",
        "is_customer",
        "sessions",
        "users",
        "new_users",
    ],
    key: &["day", "row_key"],
    stamped: true,
};

const AUDIENCE_MEMBERS: Table = Table {
    name: "audience_members",
    columns: &[
        "platform",
        "account_id",
        "channel_id",
        "customer_id",
        "first_seen",
        "last_seen",
        "bio",
        "bio_lc",
        "followers",
        "influence_score",
        "age",
        "country",
        "country_lc",
    ],
    key: &["platform", "account_id", "channel_id"],
    stamped: true,
};

const INTERACTIONS: Table = Table {
    name: "interactions",
    columns: &[
        "channel_id",
        "interaction_id",
        "kind",
        "platform",
        "account_id",
        "occurred_at",
        "day",
        "is_customer",
        "bio",
        "bio_lc",
        "followers",
        "influence_score",
        "age",
        "country",
        "country_lc",
    ],
    key: &["channel_id", "interaction_id"],
    stamped: true,
};

const GIVEAWAY_ENTRIES: Table = Table {
    name: "giveaway_entries",
    columns: &["giveaway_id", "entrant_key", "entered_at", "day"],
    key: &["giveaway_id", "entrant_key", "entered_at"],
    stamped: true,
};

const METRIC_POINTS: Table = Table {
    name: "metric_points",
    columns: &["metric_key", "scope", "day", "value"],
    key: &["metric_key", "scope", "day"],
    stamped: true,
};

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
        let cells: Vec<Vec<Cell>> = last_per_key(rows, |r| (r.channel_id.clone(), r.day))
            .into_iter()
            .map(|r| {
                vec![
                    Cell::from(&r.channel_id),
                    r.day.into(),
                    r.followers.into(),
                    r.posts.into(),
                    r.mentions.into(),
                    r.shares.into(),
                    r.comments.into(),
                    r.likes.into(),
                    r.link_clicks.into(),
                    r.views.into(),
                    r.reach.into(),
                ]
            })
            .collect();
        self.write_batch(&CHANNEL_DAY_STATS, tenant_id, &cells)
            .await
    }

    /// Upserts web traffic rows in one transaction.
    pub async fn upsert_web_traffic(&self, tenant_id: &str, rows: &[WebTraffic]) -> Result<()> {
        let cells: Vec<Vec<Cell>> = last_per_key(rows, |r| (r.day, r.row_key()))
            .into_iter()
            .map(|r| {
                vec![
                    r.day.into(),
                    r.row_key().into(),
                    Cell::from(&r.source),
                    Cell::from(&r.medium),
                    Cell::from(&r.campaign),
                    Cell::from(&r.channel_group),
                    r.source.to_lowercase().into(),
                    r.campaign.to_lowercase().into(),
                    r.age_bracket.as_ref().into(),
                    r.age.into(),
                    r.country.as_ref().into(),
                    lc(&r.country).into(),
                    r.is_customer.into(),
                    r.sessions.into(),
                    r.users.into(),
                    r.new_users.into(),
                ]
            })
            .collect();
        self.write_batch(&WEB_TRAFFIC, tenant_id, &cells).await
    }

    /// Upserts orders with their codes in one transaction; a corrected order's codes
    /// replace the old ones.
    pub async fn upsert_orders(&self, tenant_id: &str, rows: &[Order]) -> Result<()> {
        let now = Utc::now();
        let rows = last_per_key(rows, |r| r.order_id.clone());
        let orders: Vec<Vec<Cell>> = rows
            .iter()
            .map(|r| {
                vec![
                    Cell::from(&r.order_id),
                    r.customer_key.as_ref().into(),
                    r.placed_at.into(),
                    r.day.into(),
                    r.revenue_minor.into(),
                    r.cost_minor.into(),
                    r.discount_minor.into(),
                    Cell::from(&r.currency),
                    Cell::from(&r.utm_source),
                    Cell::from(&r.utm_medium),
                    Cell::from(&r.utm_campaign),
                    r.utm_source.to_lowercase().into(),
                    r.utm_campaign.to_lowercase().into(),
                ]
            })
            .collect();
        let codes: Vec<Vec<Cell>> = rows
            .iter()
            .flat_map(|r| {
                r.codes
                    .iter()
                    .zip(r.code_keys())
                    .enumerate()
                    .map(|(position, (code, key))| {
                        vec![
                            Cell::from(&r.order_id),
                            (position as i64).into(),
                            Cell::from(code),
                            key.into(),
                        ]
                    })
            })
            .collect();
        let mut batch = Batch::begin(&self.db).await?;
        // The upsert reports the orders that were stored before: only those can have codes
        // to replace, so bulk loads of new orders delete nothing.
        let replaced = batch.upsert(&ORDERS, tenant_id, now, &orders, true).await?;
        batch
            .delete_in("order_codes", "order_id", tenant_id, &replaced)
            .await?;
        batch
            .upsert(&ORDER_CODES, tenant_id, now, &codes, false)
            .await?;
        batch.commit().await
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
        let cells: Vec<Vec<Cell>> = last_per_key(rows, |r| {
            (r.platform, r.account_id.clone(), r.channel_id.clone())
        })
        .into_iter()
        .map(|r| {
            let a: &MemberAttributes = &r.attributes;
            vec![
                r.platform.as_str().into(),
                Cell::from(&r.account_id),
                Cell::from(&r.channel_id),
                r.customer_id.as_ref().into(),
                r.first_seen.into(),
                r.last_seen.into(),
                a.bio.as_ref().into(),
                lc(&a.bio).into(),
                a.followers.into(),
                a.influence_score.into(),
                a.age.into(),
                a.country.as_ref().into(),
                lc(&a.country).into(),
            ]
        })
        .collect();
        self.write_batch(&AUDIENCE_MEMBERS, tenant_id, &cells).await
    }

    /// Upserts interactions in one transaction.
    pub async fn upsert_interactions(&self, tenant_id: &str, rows: &[Interaction]) -> Result<()> {
        let cells: Vec<Vec<Cell>> =
            last_per_key(rows, |r| (r.channel_id.clone(), r.interaction_id.clone()))
                .into_iter()
                .map(|r| {
                    let a = &r.attributes;
                    vec![
                        Cell::from(&r.channel_id),
                        Cell::from(&r.interaction_id),
                        r.kind.as_str().into(),
                        r.platform.as_str().into(),
                        Cell::from(&r.account_id),
                        r.occurred_at.into(),
                        r.day.into(),
                        a.is_customer.into(),
                        a.bio.as_ref().into(),
                        lc(&a.bio).into(),
                        a.followers.into(),
                        a.influence_score.into(),
                        a.age.into(),
                        a.country.as_ref().into(),
                        lc(&a.country).into(),
                    ]
                })
                .collect();
        self.write_batch(&INTERACTIONS, tenant_id, &cells).await
    }

    /// Upserts giveaway entries in one transaction.
    pub async fn upsert_giveaway_entries(
        &self,
        tenant_id: &str,
        rows: &[GiveawayEntry],
    ) -> Result<()> {
        let cells: Vec<Vec<Cell>> = last_per_key(rows, |r| {
            (r.giveaway_id.clone(), r.entrant_key.clone(), r.entered_at)
        })
        .into_iter()
        .map(|r| {
            vec![
                Cell::from(&r.giveaway_id),
                Cell::from(&r.entrant_key),
                r.entered_at.into(),
                r.day.into(),
            ]
        })
        .collect();
        self.write_batch(&GIVEAWAY_ENTRIES, tenant_id, &cells).await
    }

    /// Upserts metric points in one transaction.
    pub async fn upsert_metric_points(&self, tenant_id: &str, rows: &[MetricPoint]) -> Result<()> {
        let cells: Vec<Vec<Cell>> =
            last_per_key(rows, |r| (r.key.clone(), r.scope.to_string(), r.day))
                .into_iter()
                .map(|r| {
                    vec![
                        Cell::from(&r.key),
                        r.scope.to_string().into(),
                        r.day.into(),
                        r.value.into(),
                    ]
                })
                .collect();
        self.write_batch(&METRIC_POINTS, tenant_id, &cells).await
    }

    /// Writes the rows of one table as one batch.
    async fn write_batch(
        &self,
        table: &Table,
        tenant_id: &str,
        rows: &[Vec<Cell<'_>>],
    ) -> Result<()> {
        let mut batch = Batch::begin(&self.db).await?;
        batch
            .upsert(table, tenant_id, Utc::now(), rows, false)
            .await?;
        batch.commit().await
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
