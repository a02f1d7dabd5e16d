//! The aggregations KPIs are computed from, as set-based SQL built with sea-query and run
//! the same on SQLite and PostgreSQL: sums per channel, follower readings of a day, web
//! traffic per tracking combination, first giveaway entries, audience and interaction
//! counts with segment rules compiled to SQL, and ordered streams over audience members and
//! orders.
use super::{Result, Store};
use crate::domain::segment_rule::{Attribute, ColumnMap, SegmentRule};
use crate::kpi::audience::MemberRow;
use crate::kpi::parts::{ChannelSums, OrderFact, SOCIAL_FIELDS, WebGroup};
use crate::kpi::period::Period;
use chrono::NaiveDate;
use futures_util::TryStreamExt;
use sea_orm::sea_query::{
    Asterisk, BinOper, Expr, ExprTrait, JoinType, Order, Query, SelectStatement,
};
use sea_orm::{ConnectionTrait, QueryResult, StreamTrait};
use std::collections::HashMap;

/// Columns of `interactions`: the attributes recorded with each interaction.
struct InteractionColumns;

impl ColumnMap for InteractionColumns {
    fn column(&self, attr: Attribute) -> Option<Expr> {
        let col = |c: &'static str| Expr::col(("interactions", c));
        Some(match attr {
            Attribute::Bio => col("bio_lc"),
            Attribute::Followers => col("followers"),
            Attribute::InfluenceScore => col("influence_score"),
            Attribute::Age => col("age"),
            Attribute::IsCustomer => col("is_customer"),
            Attribute::Platform => col("platform"),
            Attribute::Country => col("country_lc"),
        })
    }
}

/// Columns of `web_traffic`: only age, country and is_customer (KPIS.md: segment rules).
struct WebColumns;

impl ColumnMap for WebColumns {
    fn column(&self, attr: Attribute) -> Option<Expr> {
        let col = |c: &'static str| Expr::col(("web_traffic", c));
        match attr {
            Attribute::Age => Some(col("age")),
            Attribute::Country => Some(col("country_lc")),
            Attribute::IsCustomer => Some(col("is_customer")),
            _ => None,
        }
    }
}

/// `a || b`: string concatenation, the same operator on SQLite and PostgreSQL.
fn concat(a: Expr, b: Expr) -> Expr {
    a.binary(BinOper::Custom("||"), b)
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<T> {
    Ok(row.try_get::<T>("", column)?)
}

/// `CAST(SUM(col) AS BIGINT)`: PostgreSQL sums bigints as numeric.
fn sum_i64(table: &'static str, column: &'static str) -> Expr {
    Expr::col((table, column)).sum().cast_as("BIGINT")
}

fn in_period(table: &'static str, period: &Period) -> Expr {
    Expr::col((table, "day")).between(period.first, period.last)
}

impl Store {
    async fn rows(&self, select: &SelectStatement) -> Result<Vec<QueryResult>> {
        let builder = self.db.get_database_backend();
        let statement = builder.build(select);
        tracing::trace!(sql = %statement, "kpi query");
        Ok(self.db.query_all_raw(statement).await?)
    }

    /// Per channel, the sums of its day stats over the period.
    pub async fn channel_sums(
        &self,
        tenant_id: &str,
        period: &Period,
    ) -> Result<HashMap<String, ChannelSums>> {
        let t = "channel_day_stats";
        let mut select = Query::select();
        select
            .from(t)
            .column((t, "channel_id"))
            .expr_as(Expr::col((t, "channel_id")).count(), "n_rows")
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .and_where(in_period(t, period))
            .group_by_col((t, "channel_id"));
        for field in SOCIAL_FIELDS {
            select.expr_as(sum_i64(t, field), field);
        }
        let mut sums = HashMap::new();
        for row in self.rows(&select).await? {
            let mut entry = ChannelSums {
                rows: get(&row, "n_rows")?,
                sums: [None; 7],
            };
            for (i, field) in SOCIAL_FIELDS.iter().enumerate() {
                entry.sums[i] = get::<Option<i64>>(&row, field)?;
            }
            sums.insert(get(&row, "channel_id")?, entry);
        }
        Ok(sums)
    }

    /// Per channel, its follower reading on a day (channels without one are absent).
    pub async fn followers_on(
        &self,
        tenant_id: &str,
        day: NaiveDate,
    ) -> Result<HashMap<String, i64>> {
        let t = "channel_day_stats";
        let select = Query::select()
            .from(t)
            .columns([(t, "channel_id"), (t, "followers")])
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .and_where(Expr::col((t, "day")).eq(day))
            .and_where(Expr::col((t, "followers")).is_not_null())
            .to_owned();
        self.rows(&select)
            .await?
            .iter()
            .map(|row| Ok((get(row, "channel_id")?, get(row, "followers")?)))
            .collect()
    }

    /// Whether the tenant has any web traffic row in the period.
    pub async fn has_web_traffic(&self, tenant_id: &str, period: &Period) -> Result<bool> {
        let t = "web_traffic";
        let select = Query::select()
            .from(t)
            .expr_as(Expr::col(Asterisk).count(), "n")
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .and_where(in_period(t, period))
            .to_owned();
        let rows = self.rows(&select).await?;
        Ok(rows
            .first()
            .map(|r| get::<i64>(r, "n"))
            .transpose()?
            .unwrap_or(0)
            > 0)
    }

    /// Web traffic of the period summed per source, campaign and channel group, keeping
    /// only rows the segment rule selects when one is given.
    pub async fn web_groups(
        &self,
        tenant_id: &str,
        period: &Period,
        segment: Option<&SegmentRule>,
    ) -> Result<Vec<WebGroup>> {
        let t = "web_traffic";
        let mut select = Query::select();
        select
            .from(t)
            .columns([(t, "source_key"), (t, "campaign_key"), (t, "channel_group")])
            .expr_as(sum_i64(t, "sessions"), "sessions")
            .expr_as(sum_i64(t, "users"), "users")
            .expr_as(sum_i64(t, "new_users"), "new_users")
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .and_where(in_period(t, period))
            .group_by_col((t, "source_key"))
            .group_by_col((t, "campaign_key"))
            .group_by_col((t, "channel_group"));
        if let Some(rule) = segment {
            select.and_where(rule.to_condition(&WebColumns));
        }
        self.rows(&select)
            .await?
            .iter()
            .map(|row| {
                Ok(WebGroup {
                    source_key: get(row, "source_key")?,
                    campaign_key: get(row, "campaign_key")?,
                    channel_group: get(row, "channel_group")?,
                    sessions: get::<Option<i64>>(row, "sessions")?.unwrap_or(0),
                    users: get::<Option<i64>>(row, "users")?.unwrap_or(0),
                    new_users: get::<Option<i64>>(row, "new_users")?.unwrap_or(0),
                })
            })
            .collect()
    }

    /// Per giveaway, the entrants whose first entry falls in the period.
    pub async fn giveaway_first_entries(
        &self,
        tenant_id: &str,
        period: &Period,
    ) -> Result<HashMap<String, i64>> {
        let t = "giveaway_entries";
        let firsts = Query::select()
            .from(t)
            .column((t, "giveaway_id"))
            .expr_as(Expr::col((t, "day")).min(), "first_day")
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .group_by_col((t, "giveaway_id"))
            .group_by_col((t, "entrant_key"))
            .to_owned();
        let select = Query::select()
            .from_subquery(firsts, "f")
            .column(("f", "giveaway_id"))
            .expr_as(Expr::col(Asterisk).count(), "n")
            .and_where(Expr::col(("f", "first_day")).between(period.first, period.last))
            .group_by_col(("f", "giveaway_id"))
            .to_owned();
        self.rows(&select)
            .await?
            .iter()
            .map(|row| Ok((get(row, "giveaway_id")?, get(row, "n")?)))
            .collect()
    }

    /// Per (metric key, scope), the sum of pushed points in the period and their count.
    pub async fn metric_sums(
        &self,
        tenant_id: &str,
        period: &Period,
    ) -> Result<HashMap<(String, String), f64>> {
        let t = "metric_points";
        let select = Query::select()
            .from(t)
            .columns([(t, "metric_key"), (t, "scope")])
            .expr_as(Expr::col((t, "value")).sum(), "total")
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .and_where(in_period(t, period))
            .group_by_col((t, "metric_key"))
            .group_by_col((t, "scope"))
            .to_owned();
        self.rows(&select)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    (get(row, "metric_key")?, get(row, "scope")?),
                    get::<f64>(row, "total")?,
                ))
            })
            .collect()
    }

    /// Every audience row following on some day of `range` (first seen on or before its
    /// last day and, if set, last seen on or after its first), ordered by member so each
    /// member's rows come together.
    /// Only the attributes in `attributes` are read (the others stay None): the segment
    /// rules' attributes are what the pass needs, and reading every row's bio costs.
    pub async fn for_each_following_member(
        &self,
        tenant_id: &str,
        range: &Period,
        attributes: &[Attribute],
        mut visit: impl FnMut(&MemberRow),
    ) -> Result<()> {
        let m = "audience_members";
        let wanted = |a: Attribute| attributes.contains(&a);
        let optional = [
            (Attribute::Bio, "bio"),
            (Attribute::Followers, "followers"),
            (Attribute::InfluenceScore, "influence_score"),
            (Attribute::Age, "age"),
            (Attribute::Country, "country"),
        ];
        let mut select = Query::select();
        select.from(m).columns([
            (m, "platform"),
            (m, "account_id"),
            (m, "channel_id"),
            (m, "first_seen"),
            (m, "last_seen"),
            (m, "customer_id"),
        ]);
        for (attribute, column) in optional {
            if wanted(attribute) {
                select.column((m, column));
            }
        }
        select
            .and_where(Expr::col((m, "tenant_id")).eq(tenant_id))
            .and_where(Expr::col((m, "first_seen")).lte(range.last))
            .and_where(
                Expr::col((m, "last_seen"))
                    .is_null()
                    .or(Expr::col((m, "last_seen")).gte(range.first)),
            )
            // The primary key's order: no sort on either database.
            .order_by((m, "tenant_id"), Order::Asc)
            .order_by((m, "platform"), Order::Asc)
            .order_by((m, "account_id"), Order::Asc)
            .order_by((m, "channel_id"), Order::Asc);
        let builder = self.db.get_database_backend();
        let mut stream = self.db.stream_raw(builder.build(&select)).await?;
        let mut member = MemberRow::default();
        while let Some(row) = stream.try_next().await? {
            member.platform = get(&row, "platform")?;
            member.account_id = get(&row, "account_id")?;
            member.channel_id = get(&row, "channel_id")?;
            member.first_seen = get(&row, "first_seen")?;
            member.last_seen = get(&row, "last_seen")?;
            member.customer_id = get(&row, "customer_id")?;
            if wanted(Attribute::Bio) {
                member.bio = get(&row, "bio")?;
            }
            if wanted(Attribute::Followers) {
                member.followers = get(&row, "followers")?;
            }
            if wanted(Attribute::InfluenceScore) {
                member.influence_score = get(&row, "influence_score")?;
            }
            if wanted(Attribute::Age) {
                member.age = get(&row, "age")?;
            }
            if wanted(Attribute::Country) {
                member.country = get(&row, "country")?;
            }
            visit(&member);
        }
        Ok(())
    }

    /// For each shop customer id linked to an audience member, the day of its first order.
    pub async fn linked_customer_first_orders(
        &self,
        tenant_id: &str,
    ) -> Result<HashMap<String, NaiveDate>> {
        let (o, m) = ("orders", "audience_members");
        let linked = Query::select()
            .expr(concat(Expr::val("c:"), Expr::col((m, "customer_id"))))
            .from(m)
            .and_where(Expr::col((m, "tenant_id")).eq(tenant_id))
            .and_where(Expr::col((m, "customer_id")).is_not_null())
            .to_owned();
        let select = Query::select()
            .from(o)
            .column((o, "customer_key"))
            .expr_as(Expr::col((o, "day")).min(), "first_day")
            .and_where(Expr::col((o, "tenant_id")).eq(tenant_id))
            .and_where(Expr::col((o, "customer_key")).in_subquery(linked))
            .group_by_col((o, "customer_key"))
            .to_owned();
        let mut firsts = HashMap::new();
        for row in self.rows(&select).await? {
            let key: String = get(&row, "customer_key")?;
            if let Some(id) = key.strip_prefix("c:") {
                firsts.insert(id.to_string(), get(&row, "first_day")?);
            }
        }
        Ok(firsts)
    }

    /// Per (channel, kind), interactions in the period the segment selects.
    pub async fn interaction_counts(
        &self,
        tenant_id: &str,
        period: &Period,
        segment: &SegmentRule,
    ) -> Result<HashMap<(String, String), i64>> {
        let t = "interactions";
        let select = Query::select()
            .from(t)
            .columns([(t, "channel_id"), (t, "kind")])
            .expr_as(Expr::col(Asterisk).count(), "n")
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .and_where(in_period(t, period))
            .and_where(segment.to_condition(&InteractionColumns))
            .group_by_col((t, "channel_id"))
            .group_by_col((t, "kind"))
            .to_owned();
        self.rows(&select)
            .await?
            .iter()
            .map(|row| Ok(((get(row, "channel_id")?, get(row, "kind")?), get(row, "n")?)))
            .collect()
    }

    /// Every order of the customers with an order in the period, and the period's orders
    /// without a customer, ordered by customer, time and order id, each with the
    /// influencer of its deciding code; `visit` sees them one at a time.
    pub async fn for_each_order(
        &self,
        tenant_id: &str,
        period: &Period,
        mut visit: impl FnMut(OrderFact),
    ) -> Result<()> {
        let o = "orders";
        let deciding_code = Query::select()
            .column(("dc", "influencer_id"))
            .from_as("order_codes", "oc")
            .join_as(
                JoinType::InnerJoin,
                "discount_codes",
                "dc",
                Expr::col(("dc", "tenant_id"))
                    .equals(("oc", "tenant_id"))
                    .and(Expr::col(("dc", "code_key")).equals(("oc", "code_key"))),
            )
            .and_where(Expr::col(("oc", "tenant_id")).equals((o, "tenant_id")))
            .and_where(Expr::col(("oc", "order_id")).equals((o, "order_id")))
            .order_by(("oc", "position"), Order::Asc)
            .limit(1)
            .to_owned();
        let customers_in_period = Query::select()
            .column(("p", "customer_key"))
            .from_as(o, "p")
            .and_where(Expr::col(("p", "tenant_id")).eq(tenant_id))
            .and_where(Expr::col(("p", "day")).between(period.first, period.last))
            .and_where(Expr::col(("p", "customer_key")).is_not_null())
            .to_owned();
        let select = Query::select()
            .from(o)
            .columns([
                (o, "order_id"),
                (o, "customer_key"),
                (o, "placed_at"),
                (o, "day"),
                (o, "revenue_minor"),
                (o, "cost_minor"),
                (o, "source_key"),
                (o, "campaign_key"),
            ])
            .expr_as(deciding_code, "code_influencer")
            .and_where(Expr::col((o, "tenant_id")).eq(tenant_id))
            .and_where(
                in_period(o, period)
                    .or(Expr::col((o, "customer_key")).in_subquery(customers_in_period)),
            )
            .order_by((o, "customer_key"), Order::Asc)
            .order_by((o, "placed_at"), Order::Asc)
            .order_by((o, "order_id"), Order::Asc)
            .to_owned();
        let builder = self.db.get_database_backend();
        let statement = builder.build(&select);
        let mut stream = self.db.stream_raw(statement).await?;
        while let Some(row) = stream.try_next().await? {
            visit(OrderFact {
                order_id: get(&row, "order_id")?,
                customer_key: get(&row, "customer_key")?,
                placed_at: get(&row, "placed_at")?,
                day: get(&row, "day")?,
                revenue_minor: get(&row, "revenue_minor")?,
                cost_minor: get(&row, "cost_minor")?,
                source_key: get(&row, "source_key")?,
                campaign_key: get(&row, "campaign_key")?,
                code_influencer: get(&row, "code_influencer")?,
            });
        }
        Ok(())
    }
}
