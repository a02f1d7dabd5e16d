//! WEEK, MONTH and RANGE values composed from stored daily values (KPIS.md: roll-up
//! classes), for the periods no stored week or month answers: a week or month clipped by
//! the requested range, and RANGE. What cannot be composed exactly (distinct counts, any
//! period with a day not stored) is left to the live computation, `code_buyers` counted
//! by one statement; boundary KPIs are computed live from the two days of follower
//! readings they need. A campaign's `profit_per_visitor` composes from its stored daily
//! profits (orders over its order window) with its stored fees and visitors (over its
//! window).
//! The cohort KPIs are class `sum` and a ratio of sums, so they compose: as fresh as the
//! stored days (and the stored weeks and months), which recompute runs keep up to date.
use crate::domain::catalogue::{self, RollUp};
use crate::domain::formula::Formula;
use crate::domain::goal::Scope;
use crate::kpi::directory::{Directory, Influencers};
use crate::kpi::key::{outside, plain, with_parts};
use crate::kpi::period::Period;
use crate::kpi::rollup::{days_inside, level, ratio_parts, sum};
use crate::kpi::value::{Value, ratio};
use crate::kpi::{KpiKey, Parts, social, web_shop};
use crate::storage::campaign_profits::StoredProfits;
use crate::storage::{Result, Store};
use chrono::NaiveDate;
use std::collections::HashMap;

/// Nesting of custom KPIs followed, as the formula checks bound it.
const MAX_DEPTH: usize = 16;

/// Compositions of one query call; remembers the daily rows it read.
pub(super) struct Rollups<'a> {
    store: &'a Store,
    tenant: &'a str,
    /// Each series' stored days over a period, None when a day is not stored.
    days: HashMap<(KpiKey, Period), Option<Vec<Parts>>>,
    /// The tenant's structure, once a boundary KPI needs it.
    directory: Option<Directory>,
    /// Follower readings per channel by day, as read.
    followers: HashMap<NaiveDate, HashMap<String, i64>>,
    /// Days of series read at once by the caller ([`Rollups::preload`]): each series' first
    /// day and its days from there, None for a day not stored.
    preloaded: HashMap<KpiKey, (NaiveDate, Vec<Option<Parts>>)>,
    /// Whether `code_buyers` is counted by its own statement: for one key, far cheaper
    /// than the engine's order pass; for every key of a run, dearer (one statement per
    /// scope where one pass counts them all).
    distinct_statements: bool,
    /// Minor units per major unit of the tenant's currency.
    per_major: f64,
    /// Each campaign's stored daily profits over a period, as read or preloaded.
    profits: HashMap<(String, Period), Vec<Option<Option<i64>>>>,
    /// The live computation, once a part no stored day holds is needed.
    engine: Option<super::Engine<'a>>,
}

impl<'a> Rollups<'a> {
    /// Compositions over the tenant's stored days, nothing read yet; `per_major` is the
    /// minor units per major unit of its currency.
    pub(super) fn new(store: &'a Store, tenant: &'a str, per_major: f64) -> Rollups<'a> {
        Rollups {
            store,
            tenant,
            days: HashMap::new(),
            directory: None,
            followers: HashMap::new(),
            preloaded: HashMap::new(),
            distinct_statements: true,
            per_major,
            profits: HashMap::new(),
            engine: None,
        }
    }

    /// Gives every campaign's stored daily profits over `period`, read by the caller at
    /// once (a campaign left out is read when needed).
    pub(super) fn preload_profits(&mut self, period: Period, profits: StoredProfits) {
        for (campaign, days) in profits {
            self.profits.insert((campaign, period), days);
        }
    }

    /// A campaign's profit over `period` as `profit_per_visitor` counts it, from its
    /// stored days: in major units, `outside_campaign` when no day is in its order
    /// window; None unless every day is stored. Summed in minor units, as the live
    /// computation sums its orders, so the two are equal.
    async fn campaign_profit(&mut self, campaign: &str, period: Period) -> Result<Option<Value>> {
        let at = (campaign.to_string(), period);
        if !self.profits.contains_key(&at) {
            let mut read = self
                .store
                .campaign_profits(self.tenant, period, Some(campaign))
                .await?;
            let days = read.remove(campaign).unwrap_or_default();
            self.profits.insert(at.clone(), days);
        }
        let days = &self.profits[&at];
        if days.len() as i64 != period.days() || days.iter().any(Option::is_none) {
            return Ok(None);
        }
        let inside: Vec<i64> = days.iter().flatten().flatten().copied().collect();
        if inside.is_empty() {
            return Ok(Some(Err(crate::kpi::value::Reason::OutsideCampaign)));
        }
        let total: i64 = inside.iter().sum();
        Ok(Some(Ok(total as f64 / self.per_major)))
    }

    /// Leaves `code_buyers` to the engine's order pass, as a run computing every key does.
    pub(super) fn without_distinct_statements(mut self) -> Self {
        self.distinct_statements = false;
        self
    }

    /// Gives the stored days of a series from `first` on (`days[d]` those of `first + d`,
    /// None when not stored), read by the caller for many series at once, so that
    /// composing them reads nothing more.
    pub(super) fn preload(&mut self, key: KpiKey, first: NaiveDate, days: Vec<Option<Parts>>) {
        self.preloaded.insert(key, (first, days));
    }

    /// The days of `key` over `period` from the preloaded ones, if they cover it: moved
    /// out when they are exactly the period (each read once), else copied.
    fn take_preloaded(&mut self, key: &KpiKey, period: Period) -> Option<Option<Vec<Parts>>> {
        let (first, days) = self.preloaded.get(key)?;
        let start = (period.first - *first).num_days();
        let end = start + period.days();
        if start < 0 || end > days.len() as i64 {
            return None;
        }
        if start == 0 && end == days.len() as i64 {
            let (_, days) = self.preloaded.remove(key)?;
            return Some(days.into_iter().collect());
        }
        Some(days[start as usize..end as usize].iter().copied().collect())
    }

    /// Reads the stored days of the series of `kpis` (same scope and segment as `key`)
    /// over `period` that are not read yet, all at once: a ratio's parts cost about one
    /// series' read rather than one each.
    async fn load(&mut self, key: &KpiKey, kpis: &[&str], period: Period) -> Result<()> {
        let mut reads = tokio::task::JoinSet::new();
        for kpi in kpis {
            let other = KpiKey {
                kpi: kpi.to_string(),
                ..key.clone()
            };
            if self.days.contains_key(&(other.clone(), period)) {
                continue;
            }
            if let Some(days) = self.take_preloaded(&other, period) {
                self.days.insert((other, period), days);
                continue;
            }
            let (store, tenant) = (self.store.clone(), self.tenant.to_string());
            reads.spawn(async move {
                let stored = store.snapshots(&tenant, &other, &period).await;
                (other, stored)
            });
        }
        while let Some(read) = reads.join_next().await {
            let (other, stored) = match read {
                Ok(read) => read,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Only a runtime shutting down cancels them.
                Err(_) => return Ok(()),
            };
            let stored = stored?;
            let days = (stored.len() as i64 == period.days()).then(|| {
                stored
                    .into_iter()
                    .map(|s| {
                        (
                            s.computed.value,
                            s.computed.numerator,
                            s.computed.denominator,
                        )
                    })
                    .collect()
            });
            self.days.insert((other, period), days);
        }
        Ok(())
    }

    /// Follower readings per channel on `day`.
    async fn followers_on(&mut self, day: NaiveDate) -> Result<&HashMap<String, i64>> {
        if !self.followers.contains_key(&day) {
            let readings = self.store.followers_on(self.tenant, day).await?;
            self.followers.insert(day, readings);
        }
        Ok(&self.followers[&day])
    }

    /// The value of another KPI of the same scope and segment over `period`, computed
    /// live.
    async fn live_value(&mut self, key: &KpiKey, kpi: &str, period: Period) -> Result<Value> {
        if self.engine.is_none() {
            self.engine = Some(super::Engine::new(self.store, self.tenant).await?);
        }
        let engine = self.engine.as_mut().expect("created above");
        let other = KpiKey {
            kpi: kpi.to_string(),
            ..key.clone()
        };
        let parts = engine
            .compute_parts(std::slice::from_ref(&other), period)
            .await?;
        Ok(parts
            .first()
            .map_or(Err(crate::kpi::value::Reason::NoData), |p| p.0))
    }

    /// A `boundary` KPI, computed live but from the two days of follower readings it
    /// needs alone (the engine loads every part of the period): exactly the engine's
    /// value, at the cost of two key lookups whatever the period's length.
    async fn boundary(&mut self, key: &KpiKey, period: Period) -> Result<Option<Parts>> {
        let Some(kind) = social::Kpi::of(&key.kpi) else {
            return Ok(None);
        };
        if self.directory.is_none() {
            self.directory = Some(self.store.directory(self.tenant).await?);
        }
        let directory = self.directory.as_ref().expect("loaded above");
        let window = match &key.scope {
            Scope::Campaign(id) => directory
                .campaigns
                .get(id)
                .and_then(|c| period.clip(&c.window)),
            _ => Some(period),
        };
        let Some(w) = window else {
            return Ok(Some(outside()));
        };
        let channels = directory.scope_channels(&key.scope);
        let before = w.first.pred_opt().unwrap_or(w.first);
        let followers_before = self.followers_on(before).await?.clone();
        let followers_last = self.followers_on(w.last).await?;
        let sums = HashMap::new();
        let inputs = social::Window {
            sums: &sums,
            followers_before: &followers_before,
            followers_last,
            days: w.days(),
        };
        Ok(Some(social::value(kind, &channels, &inputs)))
    }

    /// The stored days of a series over `period`, each day's parts; None unless every day
    /// is stored.
    async fn days(&mut self, key: &KpiKey, period: Period) -> Result<Option<&[Parts]>> {
        let at = (key.clone(), period);
        if !self.days.contains_key(&at) {
            self.load(key, &[key.kpi.as_str()], period).await?;
        }
        Ok(self.days.get(&at).and_then(|d| d.as_deref()))
    }

    /// The daily values of another KPI of the same scope and segment.
    async fn values(
        &mut self,
        key: &KpiKey,
        kpi: &str,
        period: Period,
    ) -> Result<Option<Vec<Value>>> {
        let other = KpiKey {
            kpi: kpi.to_string(),
            ..key.clone()
        };
        Ok(self
            .days(&other, period)
            .await?
            .map(|d| d.iter().map(|p| p.0).collect()))
    }

    /// The sum of another KPI of the same scope and segment over the period.
    async fn sum_of(&mut self, key: &KpiKey, kpi: &str, period: Period) -> Result<Option<Value>> {
        Ok(self.values(key, kpi, period).await?.map(sum))
    }

    /// The value of `key` over `period` composed from stored days, or None when its class
    /// or the stored days do not allow it; `customs` are the tenant's parsed formulas.
    pub(super) async fn compose(
        &mut self,
        key: &KpiKey,
        period: Period,
        customs: &HashMap<String, Formula>,
    ) -> Result<Option<Parts>> {
        self.compose_at(key, period, customs, 0).await
    }

    async fn compose_at(
        &mut self,
        key: &KpiKey,
        period: Period,
        customs: &HashMap<String, Formula>,
        depth: usize,
    ) -> Result<Option<Parts>> {
        let kpi = key.kpi.as_str();
        if let Some(formula) = customs.get(kpi) {
            if depth >= MAX_DEPTH {
                return Ok(None);
            }
            // KPIS.md: a formula on the period values of its inputs, on the same scope
            // and segment.
            let mut inputs: HashMap<String, Value> = HashMap::new();
            for (name, _) in formula.names() {
                if inputs.contains_key(&name) {
                    continue;
                }
                let input = KpiKey {
                    kpi: name.clone(),
                    ..key.clone()
                };
                let Some((value, _, _)) =
                    Box::pin(self.compose_at(&input, period, customs, depth + 1)).await?
                else {
                    return Ok(None);
                };
                inputs.insert(name, value);
            }
            let value = formula.evaluate(&mut |name| {
                inputs
                    .get(name)
                    .copied()
                    .unwrap_or(Err(crate::kpi::value::Reason::NoData))
            });
            return Ok(Some(plain(value)));
        }
        let Some(def) = catalogue::find(kpi) else {
            // A pushed metric: the sum of its points.
            return Ok(self.sum_of(key, kpi, period).await?.map(plain));
        };
        // A KPI no family claims has no class to compose by: the engine computes it.
        let Some(class) = crate::kpi::roll_up(def.id) else {
            return Ok(None);
        };
        match class {
            RollUp::Sum => Ok(self.sum_of(key, kpi, period).await?.map(plain)),
            RollUp::Level => Ok(self
                .values(key, kpi, period)
                .await?
                .map(|days| plain(level(&days)))),
            RollUp::Ratio => self.ratio(key, period).await,
            RollUp::Change => self.change(key, period).await,
            RollUp::Boundary => self.boundary(key, period).await,
            RollUp::Distinct => self.distinct(key, period).await,
        }
    }

    /// A built-in `ratio` KPI: its formula on parts composed from stored days, each part
    /// as the live computation forms it.
    async fn ratio(&mut self, key: &KpiKey, period: Period) -> Result<Option<Parts>> {
        macro_rules! sum_of {
            ($kpi:expr) => {
                match self.sum_of(key, $kpi, period).await? {
                    Some(v) => v,
                    None => return Ok(None),
                }
            };
        }
        let needs: &[&str] = match key.kpi.as_str() {
            "comments_per_post" => &["comments", "posts"],
            "ipm" => &["comments", "likes", "posts", "followers"],
            "engagement_rate" => &["comments", "likes", "shares", "followers"],
            "ipm_per_post" => &["comments", "likes", "posts", "followers"],
            "engagement_rate_per_post" => &["comments", "likes", "shares", "posts", "followers"],
            "roas" => &["attributed_revenue", "fees"],
            "profit_per_visitor" if matches!(key.scope, Scope::Campaign(_)) => {
                &["fees", "influencer_visitors"]
            }
            _ => &[],
        };
        self.load(key, needs, period).await?;
        let parts = match key.kpi.as_str() {
            "comments_per_post" => {
                let (comments, posts) = (sum_of!("comments"), sum_of!("posts"));
                with_parts(ratio(comments, posts), comments, posts)
            }
            "shares_per_day" => {
                let Some(shares) = self.values(key, "shares", period).await? else {
                    return Ok(None);
                };
                // The window's days: those of the period inside the campaign.
                let days = days_inside(&shares);
                if days == 0 {
                    outside()
                } else {
                    let shares = sum(shares);
                    with_parts(
                        social::shares_per_day(shares, days as i64),
                        shares,
                        Ok(days as f64),
                    )
                }
            }
            "ipm" | "engagement_rate" | "ipm_per_post" | "engagement_rate_per_post" => {
                let (comments, likes) = (sum_of!("comments"), sum_of!("likes"));
                let Some(followers) = self.values(key, "followers", period).await? else {
                    return Ok(None);
                };
                let followers = level(&followers);
                let (value, n, d) = match key.kpi.as_str() {
                    "ipm" => social::ipm(comments, likes, sum_of!("posts"), followers),
                    "ipm_per_post" => {
                        social::ipm_per_post(comments, likes, sum_of!("posts"), followers)
                    }
                    "engagement_rate_per_post" => social::engagement_rate_per_post(
                        likes,
                        comments,
                        sum_of!("shares"),
                        sum_of!("posts"),
                        followers,
                    ),
                    _ => social::engagement_rate(likes, comments, sum_of!("shares"), followers),
                };
                with_parts(value, n, d)
            }
            "roas" => {
                // Revenue and fees each over their own window.
                let (revenue, fees) = (sum_of!("attributed_revenue"), sum_of!("fees"));
                web_shop::roas(revenue, fees)
            }
            "returning_buyer_rate" => {
                // Returning buyers over first code buyers, both counted on the day of the
                // first code order (class `sum`) and defined on every day of the order
                // window. As fresh as the stored days, which the nightly cohort run keeps
                // up to date inside the returning-buyer window, as it does the stored
                // weeks and months.
                let Some(days) = self.days(key, period).await? else {
                    return Ok(None);
                };
                let (numerators, denominators): (Vec<Value>, Vec<Value>) =
                    days.iter().map(|d| ratio_parts(*d)).unzip();
                let (n, d) = (sum(numerators), sum(denominators));
                with_parts(ratio(n.map(|v| 100.0 * v), d), n, d)
            }
            "profit_per_visitor" if matches!(key.scope, Scope::Campaign(_)) => {
                // Orders count over the order window, fees and visitors over the window:
                // each part summed over its own days (KPIS.md: campaign window). A day's
                // stored value is `outside_campaign` in the order tail, where its profit
                // still counts, so the profit is summed from the stored profits.
                let Scope::Campaign(id) = &key.scope else {
                    return Ok(None);
                };
                let Some(profit) = self.campaign_profit(id, period).await? else {
                    return Ok(None);
                };
                let (fees, visitors) = (sum_of!("fees"), sum_of!("influencer_visitors"));
                web_shop::profit_per_visitor(profit, fees, visitors)
            }
            "cost_per_engagement" | "cpm" | "profit_per_visitor" => {
                // Fees (and a profit less fees outside campaigns) are defined on every
                // day inside the window, so a day's absent part has the day's reason.
                let Some(days) = self.days(key, period).await? else {
                    return Ok(None);
                };
                let (numerators, denominators): (Vec<Value>, Vec<Value>) =
                    days.iter().map(|d| ratio_parts(*d)).unzip();
                let (n, d) = (sum(numerators), sum(denominators));
                if key.kpi == "profit_per_visitor" {
                    with_parts(ratio(n, d), n, d)
                } else {
                    web_shop::cost_per(n, d)
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(parts))
    }

    /// A `distinct` KPI: `code_buyers` counted by one statement over the scope's (clipped)
    /// order window, exactly the customers the engine's order pass counts; the others are
    /// left to the engine.
    async fn distinct(&mut self, key: &KpiKey, period: Period) -> Result<Option<Parts>> {
        if !self.distinct_statements || key.kpi != "code_buyers" || key.segment.is_some() {
            return Ok(None);
        }
        let (window, influencers) = match &key.scope {
            Scope::Tenant => (period, None),
            Scope::Influencer(id) => (period, Some(vec![id.clone()])),
            Scope::Campaign(id) => {
                // Only a campaign needs the tenant's structure (a dozen reads on a large
                // tenant, more than the count itself).
                if self.directory.is_none() {
                    self.directory = Some(self.store.directory(self.tenant).await?);
                }
                let directory = self.directory.as_ref().expect("loaded above");
                // As the engine: orders count in the campaign's order window, clipped.
                let Some(window) = directory
                    .campaigns
                    .get(id)
                    .and_then(|c| period.clip(&directory.order_window(c)))
                else {
                    return Ok(Some(outside()));
                };
                let Influencers::Set(set) = directory.scope_influencers(&key.scope) else {
                    return Ok(None);
                };
                (window, Some(set.into_iter().collect::<Vec<_>>()))
            }
            // The engine says why a channel has no orders.
            Scope::Channel(_) => return Ok(None),
        };
        if influencers.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Some(plain(Ok(0.0))));
        }
        let n = self
            .store
            .code_buyers(self.tenant, &window, influencers.as_deref())
            .await?;
        Ok(Some(plain(Ok(n as f64))))
    }

    /// `target_audience_growth`: visitors over the (clipped) period less those over its
    /// previous period, clipped in turn.
    async fn change(&mut self, key: &KpiKey, period: Period) -> Result<Option<Parts>> {
        if key.kpi != "target_audience_growth" {
            return Ok(None);
        }
        let visitors = "target_audience_visitors";
        let Some(days) = self.values(key, visitors, period).await? else {
            return Ok(None);
        };
        let outside_day = |d: &Value| *d == Err(crate::kpi::value::Reason::OutsideCampaign);
        let (Some(first), Some(last)) = (
            days.iter().position(|d| !outside_day(d)),
            days.iter().rposition(|d| !outside_day(d)),
        ) else {
            return Ok(Some(outside()));
        };
        let window = Period {
            first: period.first + chrono::Days::new(first as u64),
            last: period.first + chrono::Days::new(last as u64),
        };
        let current = sum(days);
        let previous = match window.previous() {
            None => Err(crate::kpi::value::Reason::OutsideCampaign),
            Some(p) => match self.sum_of(key, visitors, p).await? {
                Some(v) => v,
                // Days before the first computed one (the previous period of a range
                // starting there): the visitors alone computed live, as the engine
                // computes this part, rather than the whole value over both periods.
                None => self.live_value(key, visitors, p).await?,
            },
        };
        Ok(Some(crate::kpi::audience::target_growth(current, previous)))
    }
}
