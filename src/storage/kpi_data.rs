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

/// Days from which `code_buyers` finds a period's orders from the order codes rather than
/// from the period's days.
pub const CODE_DRIVEN_DAYS: i64 = 31;

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

/// `SUM(CAST(col AS DOUBLE PRECISION))`: a sum of counts that cannot fail. Counts are
/// bounded at ingest (1e15), but enough rows of them pass the i64 range, where SQLite's
/// integer SUM and PostgreSQL's cast back to BIGINT both raise an error. A double holds
/// every sum exactly up to 2^53 and approximately far beyond, as the KPI value does.
fn sum_f64(table: &'static str, column: &'static str) -> Expr {
    Expr::expr(Expr::col((table, column)).cast_as("DOUBLE PRECISION")).sum()
}

fn in_period(table: &'static str, period: &Period) -> Expr {
    Expr::col((table, "day")).between(period.first, period.last)
}

/// A part of a period, or of each day of it: `None` holds the whole period's.
pub type ByDay<T> = HashMap<Option<NaiveDate>, T>;

/// The whole period's part of a split made without days.
fn whole<T: Default>(mut split: ByDay<T>) -> T {
    split.remove(&None).unwrap_or_default()
}

/// Groups a select by the table's day as well, when the part is wanted per day.
fn split_days(select: &mut SelectStatement, table: &'static str, per_day: bool) {
    if per_day {
        select.column((table, "day")).group_by_col((table, "day"));
    }
}

/// The day of a row of a select passed through [`split_days`].
fn row_day(row: &QueryResult, per_day: bool) -> Result<Option<NaiveDate>> {
    Ok(if per_day {
        Some(get(row, "day")?)
    } else {
        None
    })
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
        Ok(whole(
            self.split_channel_sums(tenant_id, period, false).await?,
        ))
    }

    /// [`Store::channel_sums`] of the whole period, or of each of its days.
    pub async fn split_channel_sums(
        &self,
        tenant_id: &str,
        period: &Period,
        per_day: bool,
    ) -> Result<ByDay<HashMap<String, ChannelSums>>> {
        let t = "channel_day_stats";
        let mut select = Query::select();
        select
            .from(t)
            .column((t, "channel_id"))
            .expr_as(Expr::col((t, "channel_id")).count(), "n_rows")
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .and_where(in_period(t, period))
            .group_by_col((t, "channel_id"));
        split_days(&mut select, t, per_day);
        for field in SOCIAL_FIELDS {
            select.expr_as(sum_f64(t, field), field);
        }
        let mut sums: ByDay<HashMap<String, ChannelSums>> = HashMap::new();
        for row in self.rows(&select).await? {
            let mut entry = ChannelSums {
                rows: get(&row, "n_rows")?,
                sums: [None; 7],
            };
            for (i, field) in SOCIAL_FIELDS.iter().enumerate() {
                entry.sums[i] = get::<Option<f64>>(&row, field)?;
            }
            sums.entry(row_day(&row, per_day)?)
                .or_default()
                .insert(get(&row, "channel_id")?, entry);
        }
        Ok(sums)
    }

    /// Per channel, its follower reading on a day (channels without one are absent).
    pub async fn followers_on(
        &self,
        tenant_id: &str,
        day: NaiveDate,
    ) -> Result<HashMap<String, i64>> {
        let mut days = self
            .followers_each_day(tenant_id, &Period::day(day))
            .await?;
        Ok(days.remove(&day).unwrap_or_default())
    }

    /// [`Store::followers_on`] for each day of the period that has readings.
    pub async fn followers_each_day(
        &self,
        tenant_id: &str,
        period: &Period,
    ) -> Result<HashMap<NaiveDate, HashMap<String, i64>>> {
        let t = "channel_day_stats";
        let select = Query::select()
            .from(t)
            .columns([(t, "day"), (t, "channel_id"), (t, "followers")])
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .and_where(in_period(t, period))
            .and_where(Expr::col((t, "followers")).is_not_null())
            .to_owned();
        let mut days: HashMap<NaiveDate, HashMap<String, i64>> = HashMap::new();
        for row in self.rows(&select).await? {
            days.entry(get(&row, "day")?)
                .or_default()
                .insert(get(&row, "channel_id")?, get(&row, "followers")?);
        }
        Ok(days)
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
        Ok(whole(
            self.split_web_groups(tenant_id, period, segment, false)
                .await?,
        ))
    }

    /// [`Store::web_groups`] of the whole period, or of each of its days; a day without
    /// web traffic has no entry.
    pub async fn split_web_groups(
        &self,
        tenant_id: &str,
        period: &Period,
        segment: Option<&SegmentRule>,
        per_day: bool,
    ) -> Result<ByDay<Vec<WebGroup>>> {
        let t = "web_traffic";
        let mut select = Query::select();
        select
            .from(t)
            .columns([(t, "source_key"), (t, "campaign_key"), (t, "channel_group")])
            .expr_as(sum_f64(t, "sessions"), "sessions")
            .expr_as(sum_f64(t, "users"), "users")
            .expr_as(sum_f64(t, "new_users"), "new_users")
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .and_where(in_period(t, period))
            .group_by_col((t, "source_key"))
            .group_by_col((t, "campaign_key"))
            .group_by_col((t, "channel_group"));
        split_days(&mut select, t, per_day);
        if let Some(rule) = segment {
            select.and_where(rule.to_condition(&WebColumns));
        }
        let mut groups: ByDay<Vec<WebGroup>> = HashMap::new();
        for row in self.rows(&select).await? {
            groups
                .entry(row_day(&row, per_day)?)
                .or_default()
                .push(WebGroup {
                    source_key: get(&row, "source_key")?,
                    campaign_key: get(&row, "campaign_key")?,
                    channel_group: get(&row, "channel_group")?,
                    sessions: get::<Option<f64>>(&row, "sessions")?.unwrap_or(0.0),
                    users: get::<Option<f64>>(&row, "users")?.unwrap_or(0.0),
                    new_users: get::<Option<f64>>(&row, "new_users")?.unwrap_or(0.0),
                });
        }
        Ok(groups)
    }

    /// Per giveaway, the entrants whose first entry falls in the period.
    pub async fn giveaway_first_entries(
        &self,
        tenant_id: &str,
        period: &Period,
    ) -> Result<HashMap<String, i64>> {
        Ok(whole(
            self.split_giveaway_first_entries(tenant_id, period, false)
                .await?,
        ))
    }

    /// [`Store::giveaway_first_entries`] of the whole period, or of each of its days.
    pub async fn split_giveaway_first_entries(
        &self,
        tenant_id: &str,
        period: &Period,
        per_day: bool,
    ) -> Result<ByDay<HashMap<String, i64>>> {
        let t = "giveaway_entries";
        let firsts = Query::select()
            .from(t)
            .column((t, "giveaway_id"))
            .expr_as(Expr::col((t, "day")).min(), "first_day")
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .group_by_col((t, "giveaway_id"))
            .group_by_col((t, "entrant_key"))
            .to_owned();
        let mut select = Query::select()
            .from_subquery(firsts, "f")
            .column(("f", "giveaway_id"))
            .expr_as(Expr::col(Asterisk).count(), "n")
            .and_where(Expr::col(("f", "first_day")).between(period.first, period.last))
            .group_by_col(("f", "giveaway_id"))
            .to_owned();
        if per_day {
            select
                .expr_as(Expr::col(("f", "first_day")), "day")
                .group_by_col(("f", "first_day"));
        }
        let mut counts: ByDay<HashMap<String, i64>> = HashMap::new();
        for row in self.rows(&select).await? {
            counts
                .entry(row_day(&row, per_day)?)
                .or_default()
                .insert(get(&row, "giveaway_id")?, get(&row, "n")?);
        }
        Ok(counts)
    }

    /// Per (metric key, scope), the sum of pushed points in the period; not finite when
    /// it passes the range of a double.
    pub async fn metric_sums(
        &self,
        tenant_id: &str,
        period: &Period,
    ) -> Result<HashMap<(String, String), f64>> {
        Ok(whole(
            self.split_metric_sums(tenant_id, period, false).await?,
        ))
    }

    /// [`Store::metric_sums`] of the whole period, or of each of its days.
    pub async fn split_metric_sums(
        &self,
        tenant_id: &str,
        period: &Period,
        per_day: bool,
    ) -> Result<ByDay<HashMap<(String, String), f64>>> {
        let t = "metric_points";
        // Points are bounded at ingest (1e15), but points stored before the bound may
        // not be, and PostgreSQL raises an error when a double sum overflows. There the
        // sum is taken in numeric, which cannot overflow, and a total beyond a double is
        // infinity; SQLite's double SUM gives infinity (or NULL for inf - inf) itself.
        // The engine answers either as `overflow`, never INTERNAL.
        let total = if self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            Expr::cust(
                "CASE WHEN ABS(SUM(CAST(\"metric_points\".\"value\" AS NUMERIC))) <= 1e308 \
                 THEN CAST(SUM(CAST(\"metric_points\".\"value\" AS NUMERIC)) AS DOUBLE PRECISION) \
                 ELSE CAST('Infinity' AS DOUBLE PRECISION) END",
            )
        } else {
            Expr::col((t, "value")).sum()
        };
        let mut select = Query::select()
            .from(t)
            .columns([(t, "metric_key"), (t, "scope")])
            .expr_as(total, "total")
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .and_where(in_period(t, period))
            .group_by_col((t, "metric_key"))
            .group_by_col((t, "scope"))
            .to_owned();
        split_days(&mut select, t, per_day);
        let mut sums: ByDay<HashMap<(String, String), f64>> = HashMap::new();
        for row in self.rows(&select).await? {
            sums.entry(row_day(&row, per_day)?).or_default().insert(
                (get(&row, "metric_key")?, get(&row, "scope")?),
                get::<Option<f64>>(&row, "total")?.unwrap_or(f64::NAN),
            );
        }
        Ok(sums)
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
        Ok(whole(
            self.split_interaction_counts(tenant_id, period, segment, false)
                .await?,
        ))
    }

    /// [`Store::interaction_counts`] of the whole period, or of each of its days.
    pub async fn split_interaction_counts(
        &self,
        tenant_id: &str,
        period: &Period,
        segment: &SegmentRule,
        per_day: bool,
    ) -> Result<ByDay<HashMap<(String, String), i64>>> {
        let t = "interactions";
        let mut select = Query::select()
            .from(t)
            .columns([(t, "channel_id"), (t, "kind")])
            .expr_as(Expr::col(Asterisk).count(), "n")
            .and_where(Expr::col((t, "tenant_id")).eq(tenant_id))
            .and_where(in_period(t, period))
            .and_where(segment.to_condition(&InteractionColumns))
            .group_by_col((t, "channel_id"))
            .group_by_col((t, "kind"))
            .to_owned();
        split_days(&mut select, t, per_day);
        let mut counts: ByDay<HashMap<(String, String), i64>> = HashMap::new();
        for row in self.rows(&select).await? {
            counts.entry(row_day(&row, per_day)?).or_default().insert(
                (get(&row, "channel_id")?, get(&row, "kind")?),
                get(&row, "n")?,
            );
        }
        Ok(counts)
    }

    /// `code_buyers` (KPIS.md): distinct customers with an order placed in `period`
    /// attributed by code to one of `influencers` (None: to any influencer), counted in one
    /// statement; the order pass counts the same orders, by the same deciding code.
    ///
    /// The deciding code is asked as an EXISTS (some influencer code of the order, and for
    /// a set of influencers none listed before it), not as a scalar subquery per order:
    /// PostgreSQL runs a scalar subquery once for every order of the period, where it
    /// plans an EXISTS as a semi-join over the order codes; SQLite probes each order's
    /// codes by primary key either way. Over more than [`CODE_DRIVEN_DAYS`] the orders
    /// are found from the tenant's order codes instead (an order id IN the influencer
    /// codes' orders): a period's orders outnumber all code orders from about a month on
    /// (a tenth of orders carry an influencer code on data set M), and SQLite, without
    /// statistics, ranges over the day index whatever the period unless told (a year on
    /// M: 3.0 s through the days, 0.3 s through the codes; 4 days: 45 ms and 190 ms).
    pub async fn code_buyers(
        &self,
        tenant_id: &str,
        period: &Period,
        influencers: Option<&[String]>,
    ) -> Result<i64> {
        let o = "orders";
        let by_codes = period.days() > CODE_DRIVEN_DAYS;
        let mut code = if by_codes {
            Query::select()
                .column(("oc", "order_id"))
                .from_as("order_codes", "oc")
                .join_as(
                    JoinType::InnerJoin,
                    "discount_codes",
                    "dc",
                    Expr::col(("dc", "tenant_id"))
                        .equals(("oc", "tenant_id"))
                        .and(Expr::col(("dc", "code_key")).equals(("oc", "code_key"))),
                )
                .and_where(Expr::col(("oc", "tenant_id")).eq(tenant_id))
                .to_owned()
        } else {
            influencer_codes(o, "oc", "dc")
        };
        if let Some(set) = influencers {
            let earlier = influencer_codes("oc", "eoc", "edc")
                .and_where(Expr::col(("eoc", "position")).lt(Expr::col(("oc", "position"))))
                .to_owned();
            code.and_where(
                Expr::col(("dc", "influencer_id")).is_in(set.iter().map(String::as_str)),
            )
            .and_where(Expr::exists(earlier).not());
        }
        let select = Query::select()
            .from(o)
            .expr_as(Expr::col((o, "customer_key")).count_distinct(), "n")
            .and_where(Expr::col((o, "tenant_id")).eq(tenant_id))
            .and_where(Expr::col((o, "day")).between(period.first, period.last))
            .and_where(Expr::col((o, "customer_key")).is_not_null())
            .and_where(if by_codes {
                Expr::col((o, "order_id")).in_subquery(code)
            } else {
                Expr::exists(code)
            })
            .to_owned();
        let rows = self.rows(&select).await?;
        match rows.first() {
            Some(row) => get(row, "n"),
            None => Ok(0),
        }
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
        let deciding_code = deciding_code(o);
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

/// The codes (`oc`, each with its `discount_codes` row `dc`) of the order named `o` that
/// belong to an influencer, as a subquery to ask EXISTS of.
fn influencer_codes(o: &'static str, oc: &'static str, dc: &'static str) -> SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from_as("order_codes", oc)
        .join_as(
            JoinType::InnerJoin,
            "discount_codes",
            dc,
            Expr::col((dc, "tenant_id"))
                .equals((oc, "tenant_id"))
                .and(Expr::col((dc, "code_key")).equals((oc, "code_key"))),
        )
        .and_where(Expr::col((oc, "tenant_id")).equals((o, "tenant_id")))
        .and_where(Expr::col((oc, "order_id")).equals((o, "order_id")))
        .to_owned()
}

/// The influencer of an order's deciding code (of the row of `orders` named `o`): the
/// first listed code that belongs to any influencer (KPIS.md: attribution).
fn deciding_code(o: &'static str) -> SelectStatement {
    Query::select()
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
        .to_owned()
}
