//! Web and shop KPIs (KPIS.md: the catalogue, web and shop): visitors from web traffic,
//! and one ordered pass over orders for attribution, buyers and returning buyers.
use super::directory::{Directory, Influencers};
use super::key::{Parts, plain, with_parts};
use super::parts::{OrderFact, WebGroup};
use super::period::Period;
use super::social::{Field, composite_sum};
use super::value::{Reason, Value, difference, ratio};
use crate::domain::catalogue::RollUp;
use chrono::{Duration, NaiveDate};
use std::collections::{BTreeSet, HashMap};

/// Channel groups whose sessions are social visitors.
const SOCIAL_GROUPS: [&str; 2] = ["Organic Social", "Paid Social"];

/// Web totals of a scope.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WebTotals {
    /// `social_visitors`: sessions of social channel groups (from I, except at tenant scope).
    pub social_sessions: f64,
    /// `influencer_visitors`: users of rows from I.
    pub users: f64,
    /// `influencer_new_visitors`: new users of rows from I.
    pub new_users: f64,
    /// `target_audience_visitors` when the groups were filtered by a segment: users of
    /// every row at tenant scope, of rows from I otherwise.
    pub segment_users: f64,
}

/// Web traffic of a period attributed once: totals per influencer the rows are from, and
/// over every row, so that each scope's totals are a lookup.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebIndex {
    per_influencer: HashMap<String, WebTotals>,
    all: WebTotals,
}

impl WebIndex {
    /// Attributes each group to the influencer its tracking values point to.
    pub fn build(groups: &[WebGroup], directory: &Directory) -> WebIndex {
        let mut index = WebIndex::default();
        for group in groups {
            let social = if SOCIAL_GROUPS.contains(&group.channel_group.as_str()) {
                group.sessions
            } else {
                0.0
            };
            index.all.social_sessions += social;
            index.all.segment_users += group.users;
            if let Some(influencer) =
                directory.tracking_match(&group.source_key, &group.campaign_key)
            {
                let t = index
                    .per_influencer
                    .entry(influencer.to_string())
                    .or_default();
                t.social_sessions += social;
                t.users += group.users;
                t.new_users += group.new_users;
                t.segment_users += group.users;
                index.all.users += group.users;
                index.all.new_users += group.new_users;
            }
        }
        index
    }

    /// Totals of a scope: at tenant scope (`Any`) social sessions and segment users count
    /// every row, users and new users the rows from any influencer; otherwise the rows from
    /// the scope's influencers.
    pub fn totals(&self, influencers: &Influencers) -> WebTotals {
        match influencers {
            Influencers::Any => self.all,
            Influencers::Set(set) => set.iter().filter_map(|i| self.per_influencer.get(i)).fold(
                WebTotals::default(),
                |mut acc, t| {
                    acc.social_sessions += t.social_sessions;
                    acc.users += t.users;
                    acc.new_users += t.new_users;
                    acc.segment_users += t.segment_users;
                    acc
                },
            ),
        }
    }
}

/// Order totals of one influencer or one set of influencers in a window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OrderTotals {
    /// `attributed_orders`.
    pub orders: u64,
    /// `attributed_revenue`, minor units.
    pub revenue: i64,
    /// Σ (revenue − cost of goods) of attributed orders, minor units.
    pub profit: i64,
    /// `code_buyers`.
    pub code_buyers: u64,
    /// `first_code_buyers`.
    pub first_code_buyers: u64,
    /// `returning_buyers_after_code`.
    pub returning: u64,
}

/// A period whose orders count for a set of influencers (a campaign's clipped order
/// window, or the requested period for every influencer).
#[derive(Clone, Debug)]
pub struct OrderWindow {
    /// Orders placed on these days count.
    pub period: Period,
    /// For these influencers.
    pub influencers: Influencers,
}

/// Tallies of an order pass: per window, totals over its influencer set and per influencer.
#[derive(Clone, Debug, Default)]
pub struct OrderTally {
    /// Per window: totals over the window's influencers.
    pub totals: Vec<OrderTotals>,
    /// Per window: totals per influencer.
    pub per_influencer: Vec<HashMap<String, OrderTotals>>,
}

/// One ordered pass over orders grouped by customer (as storage streams them).
pub struct OrderPass<'a> {
    directory: &'a Directory,
    windows: Vec<OrderWindow>,
    /// Per day, the windows containing it: a customer's orders touch only those, so one
    /// pass can tally many single-day windows.
    windows_by_day: HashMap<NaiveDate, Vec<usize>>,
    returning_window: Duration,
    tally: OrderTally,
    group: Vec<(OrderFact, Option<Attribution>)>,
}

/// How an order is attributed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Attribution {
    influencer: String,
    by_code: bool,
}

impl<'a> OrderPass<'a> {
    /// A pass counting for each of `windows`.
    pub fn new(directory: &'a Directory, windows: Vec<OrderWindow>) -> Self {
        let n = windows.len();
        let mut windows_by_day: HashMap<NaiveDate, Vec<usize>> = HashMap::new();
        for (w, window) in windows.iter().enumerate() {
            for day in window.period.iter_days() {
                windows_by_day.entry(day).or_default().push(w);
            }
        }
        OrderPass {
            directory,
            windows,
            windows_by_day,
            returning_window: Duration::days(directory.settings.returning_window_days as i64),
            tally: OrderTally {
                totals: vec![OrderTotals::default(); n],
                per_influencer: vec![HashMap::new(); n],
            },
            group: Vec::new(),
        }
    }

    /// Takes the next order; orders arrive grouped by customer, by time and id within one.
    pub fn push(&mut self, order: OrderFact) {
        let same_customer = order.customer_key.is_some()
            && self
                .group
                .last()
                .is_some_and(|(last, _)| last.customer_key == order.customer_key);
        if !same_customer {
            self.flush();
        }
        // A code beats a link: tracking values only decide orders without a code of any
        // influencer.
        let attribution = match &order.code_influencer {
            Some(influencer) => Some(Attribution {
                influencer: influencer.clone(),
                by_code: true,
            }),
            None => self
                .directory
                .tracking_match(&order.source_key, &order.campaign_key)
                .map(|i| Attribution {
                    influencer: i.to_string(),
                    by_code: false,
                }),
        };
        self.group.push((order, attribution));
    }

    /// Ends the pass.
    pub fn finish(mut self) -> OrderTally {
        self.flush();
        self.tally
    }

    fn flush(&mut self) {
        let group = std::mem::take(&mut self.group);
        if group.is_empty() {
            return;
        }
        let customer = group[0].0.customer_key.is_some();
        // The first code order ever, and whether another order follows it within the window.
        let first_code = group.iter().position(|(o, _)| o.code_influencer.is_some());
        let returned = first_code.is_some_and(|i| {
            let first = &group[i].0;
            group[i + 1..]
                .iter()
                .any(|(o, _)| o.placed_at <= first.placed_at + self.returning_window)
        });
        // Only windows containing an attributed order's day can count anything for this
        // customer (the first code order is attributed, by its code).
        let mut touched: Vec<usize> = group
            .iter()
            .filter(|(_, a)| a.is_some())
            .filter_map(|(o, _)| self.windows_by_day.get(&o.day))
            .flatten()
            .copied()
            .collect();
        touched.sort_unstable();
        touched.dedup();
        for w in touched {
            let window = &self.windows[w];
            let totals = &mut self.tally.totals[w];
            let per = &mut self.tally.per_influencer[w];
            let mut code_influencers = BTreeSet::new();
            for (order, attribution) in &group {
                let Some(a) = attribution else { continue };
                if !window.period.contains(order.day) || !window.influencers.contains(&a.influencer)
                {
                    continue;
                }
                for t in [&mut *totals, per.entry(a.influencer.clone()).or_default()] {
                    t.orders += 1;
                    t.revenue += order.revenue_minor;
                    t.profit += order.revenue_minor - order.cost_minor;
                }
                if a.by_code {
                    code_influencers.insert(a.influencer.clone());
                }
            }
            if !customer {
                continue;
            }
            if !code_influencers.is_empty() {
                totals.code_buyers += 1;
                for influencer in code_influencers {
                    per.entry(influencer).or_default().code_buyers += 1;
                }
            }
            if let Some(i) = first_code {
                let (order, attribution) = &group[i];
                if let Some(a) = attribution
                    && window.period.contains(order.day)
                    && window.influencers.contains(&a.influencer)
                {
                    for t in [&mut *totals, per.entry(a.influencer.clone()).or_default()] {
                        t.first_code_buyers += 1;
                        t.returning += u64::from(returned);
                    }
                }
            }
        }
    }
}

/// A web or shop KPI: the family's ids, dispatched here (KPIS.md: the catalogue, web and
/// shop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kpi {
    /// `social_visitors`.
    SocialVisitors,
    /// `influencer_visitors`.
    InfluencerVisitors,
    /// `influencer_new_visitors`.
    InfluencerNewVisitors,
    /// `giveaway_entries`.
    GiveawayEntries,
    /// `code_buyers`.
    CodeBuyers,
    /// `first_code_buyers`.
    FirstCodeBuyers,
    /// `returning_buyers_after_code`.
    ReturningBuyersAfterCode,
    /// `returning_buyer_rate`.
    ReturningBuyerRate,
    /// `attributed_orders`.
    AttributedOrders,
    /// `attributed_revenue`.
    AttributedRevenue,
    /// `fees`.
    Fees,
    /// `roas`.
    Roas,
    /// `profit_per_visitor`.
    ProfitPerVisitor,
    /// `cost_per_engagement`.
    CostPerEngagement,
    /// `cpm`.
    Cpm,
}

impl Kpi {
    /// The web or shop KPI of a catalogue id, if it is one.
    pub fn of(id: &str) -> Option<Kpi> {
        Some(match id {
            "social_visitors" => Kpi::SocialVisitors,
            "influencer_visitors" => Kpi::InfluencerVisitors,
            "influencer_new_visitors" => Kpi::InfluencerNewVisitors,
            "giveaway_entries" => Kpi::GiveawayEntries,
            "code_buyers" => Kpi::CodeBuyers,
            "first_code_buyers" => Kpi::FirstCodeBuyers,
            "returning_buyers_after_code" => Kpi::ReturningBuyersAfterCode,
            "returning_buyer_rate" => Kpi::ReturningBuyerRate,
            "attributed_orders" => Kpi::AttributedOrders,
            "attributed_revenue" => Kpi::AttributedRevenue,
            "fees" => Kpi::Fees,
            "roas" => Kpi::Roas,
            "profit_per_visitor" => Kpi::ProfitPerVisitor,
            "cost_per_engagement" => Kpi::CostPerEngagement,
            "cpm" => Kpi::Cpm,
            _ => return None,
        })
    }

    /// The KPI's roll-up class (KPIS.md: roll-up classes); the catalogue has it from here.
    pub fn roll_up(self) -> RollUp {
        match self {
            Kpi::SocialVisitors
            | Kpi::InfluencerVisitors
            | Kpi::InfluencerNewVisitors
            | Kpi::GiveawayEntries
            | Kpi::FirstCodeBuyers
            | Kpi::ReturningBuyersAfterCode
            | Kpi::AttributedOrders
            | Kpi::AttributedRevenue
            | Kpi::Fees => RollUp::Sum,
            Kpi::CodeBuyers => RollUp::Distinct,
            Kpi::ReturningBuyerRate
            | Kpi::ProfitPerVisitor
            | Kpi::Roas
            | Kpi::CostPerEngagement
            | Kpi::Cpm => RollUp::Ratio,
        }
    }

    /// Whether the KPI is one of the scope's web totals.
    pub fn is_visitors(self) -> bool {
        matches!(
            self,
            Kpi::SocialVisitors | Kpi::InfluencerVisitors | Kpi::InfluencerNewVisitors
        )
    }

    /// Whether the KPI is one of the scope's order totals.
    pub fn is_orders(self) -> bool {
        matches!(
            self,
            Kpi::CodeBuyers
                | Kpi::FirstCodeBuyers
                | Kpi::ReturningBuyersAfterCode
                | Kpi::ReturningBuyerRate
                | Kpi::AttributedOrders
                | Kpi::AttributedRevenue
        )
    }
}

/// `social_visitors`, `influencer_visitors`, `influencer_new_visitors`: the scope's web
/// totals, `no_data` without web traffic.
pub fn visitors(kpi: Kpi, totals: Result<WebTotals, Reason>) -> Parts {
    plain(totals.map(|t| match kpi {
        Kpi::SocialVisitors => t.social_sessions,
        Kpi::InfluencerVisitors => t.users,
        _ => t.new_users,
    }))
}

/// `giveaway_entries`: Σ first entries of the scope's giveaways; none: `no_data`.
pub fn giveaway_entries(giveaways: &[String], first_entries: &HashMap<String, i64>) -> Parts {
    if giveaways.is_empty() {
        return plain(Err(Reason::NoData));
    }
    plain(Ok(giveaways
        .iter()
        .map(|g| first_entries.get(g).copied().unwrap_or(0))
        .sum::<i64>() as f64))
}

/// The order KPIs (see [`Kpi::is_orders`]) from the scope's order totals; money in major
/// units.
pub fn from_orders(kpi: Kpi, t: &OrderTotals, per_major: f64) -> Parts {
    match kpi {
        Kpi::CodeBuyers => plain(Ok(t.code_buyers as f64)),
        Kpi::FirstCodeBuyers => plain(Ok(t.first_code_buyers as f64)),
        Kpi::ReturningBuyersAfterCode => plain(Ok(t.returning as f64)),
        Kpi::ReturningBuyerRate => {
            let (n, d) = (Ok(t.returning as f64), Ok(t.first_code_buyers as f64));
            with_parts(ratio(n.map(|v| 100.0 * v), d), n, d)
        }
        Kpi::AttributedOrders => plain(Ok(t.orders as f64)),
        _ => plain(Ok(t.revenue as f64 / per_major)),
    }
}

/// `roas`: attributed revenue / fees.
pub fn roas(revenue: Value, fees: Value) -> Parts {
    with_parts(ratio(revenue, fees), revenue, fees)
}

/// `profit_per_visitor`: (profit − fees) / influencer visitors.
pub fn profit_per_visitor(profit: Value, fees: Value, visitors: Value) -> Parts {
    let numerator = difference(profit, fees);
    with_parts(ratio(numerator, visitors), numerator, visitors)
}

/// `cost_per_engagement` and `cpm`: fees / what the paid channels gave, given by
/// [`paid_denominator`].
pub fn cost_per(fees: Value, denominator: Value) -> Parts {
    with_parts(ratio(fees, denominator), fees, denominator)
}

/// The denominator of `cpm` (views / 1000) or `cost_per_engagement` (likes + comments +
/// shares) over the paid channels, from their field sums.
pub fn paid_denominator(kpi: Kpi, field: impl Fn(Field) -> Value) -> Value {
    if kpi == Kpi::Cpm {
        field(Field::Views).map(|v| v / 1000.0)
    } else {
        let likes = field(Field::Likes);
        let comments = field(Field::Comments);
        let shares = field(Field::Shares);
        composite_sum(&[likes, comments, shares])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::directory::TrackingPair;
    use chrono::{NaiveDate, TimeZone, Utc};

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
    }

    fn order(
        id: &str,
        customer: Option<&str>,
        day: u32,
        hour: u32,
        code: Option<&str>,
        source: &str,
    ) -> OrderFact {
        OrderFact {
            order_id: id.into(),
            customer_key: customer.map(String::from),
            placed_at: Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap(),
            day: d(day),
            revenue_minor: 1000,
            cost_minor: 400,
            source_key: source.into(),
            campaign_key: String::new(),
            code_influencer: code.map(String::from),
        }
    }

    fn directory() -> Directory {
        let mut dir = Directory::default();
        dir.settings.returning_window_days = 10;
        dir.add_tracking(TrackingPair {
            source: "ig".into(),
            campaign: String::new(),
            influencer: "bob".into(),
        });
        dir
    }

    fn run(orders: Vec<OrderFact>, period: Period) -> OrderTally {
        let dir = directory();
        let mut pass = OrderPass::new(
            &dir,
            vec![OrderWindow {
                period,
                influencers: Influencers::Any,
            }],
        );
        for o in orders {
            pass.push(o);
        }
        pass.finish()
    }

    #[test]
    fn one_pass_over_many_day_windows_tallies_each_day_like_its_own_pass() {
        // Customer 1 buys by code on days 2 and 4 (returning), customer 2 by link on day 3
        // and by code on day 5, a guest by code on day 3; bob's set window covers days 3-5.
        let orders = vec![
            order("1", Some("c:1"), 2, 9, Some("anna"), ""),
            order("2", Some("c:1"), 4, 9, Some("bob"), ""),
            order("3", Some("c:2"), 3, 9, None, "ig"),
            order("4", Some("c:2"), 5, 23, Some("anna"), ""),
            order("5", None, 3, 12, Some("bob"), ""),
        ];
        let dir = directory();
        let bob = Influencers::Set(["bob".to_string()].into());
        let mut windows = Vec::new();
        for day in 1..=6 {
            windows.push(OrderWindow {
                period: Period::day(d(day)),
                influencers: Influencers::Any,
            });
            windows.push(OrderWindow {
                period: Period::day(d(day)),
                influencers: bob.clone(),
            });
        }
        let mut pass = OrderPass::new(&dir, windows.clone());
        for o in orders.clone() {
            pass.push(o);
        }
        let together = pass.finish();
        for (w, window) in windows.into_iter().enumerate() {
            let mut alone = OrderPass::new(&dir, vec![window]);
            for o in orders.clone() {
                alone.push(o);
            }
            let alone = alone.finish();
            assert_eq!(together.totals[w], alone.totals[0], "window {w}");
            assert_eq!(
                together.per_influencer[w], alone.per_influencer[0],
                "window {w}"
            );
        }
        // Spot checks by hand: day 2 anna's first code buyer returned on day 4.
        assert_eq!(together.per_influencer[2]["anna"].first_code_buyers, 1);
        assert_eq!(together.per_influencer[2]["anna"].returning, 1);
        assert_eq!(
            together.totals[4].orders, 2,
            "day 3: the link order and the guest's"
        );
        assert_eq!(
            together.totals[4].code_buyers, 0,
            "a guest is not a customer"
        );
        assert_eq!(
            together.totals[6].first_code_buyers, 0,
            "day 4: not c:1's first"
        );
        assert_eq!(
            together.totals[8].first_code_buyers, 1,
            "day 5: c:2's first code order"
        );
        assert_eq!(
            together.totals[11],
            OrderTotals::default(),
            "day 6: nothing"
        );
    }

    #[test]
    fn a_code_beats_a_link_and_unattributed_orders_count_nowhere() {
        let tally = run(
            vec![
                order("1", Some("c:1"), 1, 10, Some("anna"), "ig"),
                order("2", Some("c:2"), 1, 10, None, "ig"),
                order("3", None, 1, 10, None, "google"),
            ],
            Period::day(d(1)),
        );
        let per = &tally.per_influencer[0];
        assert_eq!(per["anna"].orders, 1);
        assert_eq!(per["bob"].orders, 1);
        assert_eq!(per["bob"].code_buyers, 0, "a link is not a code");
        assert_eq!(tally.totals[0].orders, 2);
        assert_eq!(tally.totals[0].profit, 1200);
    }

    #[test]
    fn returning_buyer_inside_the_window_but_not_one_day_outside() {
        // Window 10 days: customer 1 returns after exactly 10 × 24 h, customer 2 one day later.
        let tally = run(
            vec![
                order("1", Some("c:1"), 1, 12, Some("anna"), ""),
                order("2", Some("c:1"), 11, 12, None, ""),
                order("3", Some("c:2"), 1, 12, Some("anna"), ""),
                order("4", Some("c:2"), 12, 12, None, ""),
            ],
            Period::day(d(1)),
        );
        let anna = tally.per_influencer[0]["anna"];
        assert_eq!((anna.first_code_buyers, anna.returning), (2, 1));
    }

    #[test]
    fn one_customer_buying_through_two_influencers_is_one_tenant_code_buyer() {
        let tally = run(
            vec![
                order("1", Some("c:1"), 2, 9, Some("anna"), ""),
                order("2", Some("c:1"), 3, 9, Some("bob"), ""),
            ],
            Period::new(d(1), d(5)).unwrap(),
        );
        let per = &tally.per_influencer[0];
        assert_eq!((per["anna"].code_buyers, per["bob"].code_buyers), (1, 1));
        assert_eq!(tally.totals[0].code_buyers, 1);
        // Only the first code order makes a first code buyer, and the second order returns.
        assert_eq!(
            (per["anna"].first_code_buyers, per["bob"].first_code_buyers),
            (1, 0)
        );
        assert_eq!(per["anna"].returning, 1);
    }

    #[test]
    fn first_code_order_before_the_period_is_not_a_first_code_buyer_of_it() {
        let tally = run(
            vec![
                order("1", Some("c:1"), 1, 9, Some("anna"), ""),
                order("2", Some("c:1"), 4, 9, Some("anna"), ""),
            ],
            Period::new(d(3), d(5)).unwrap(),
        );
        let anna = tally.per_influencer[0]["anna"];
        assert_eq!(
            (anna.code_buyers, anna.first_code_buyers, anna.orders),
            (1, 0, 1)
        );
    }
}
