//! KPI computation: loads the parts a period needs through storage, combines them with
//! the KPI math of `kpi::*`, one KPI family at a time, exactly as KPIS.md defines each
//! value "directly from observations over the period". Campaign scopes clip each part to
//! its own window (orders to `[start, end + order window]`, the rest to `[start, end]`).
use crate::domain::catalogue;
use crate::domain::goal::Scope;
use crate::domain::segment_rule::{self, SegmentRule};
use crate::kpi::audience::{AudiencePass, AudienceTally};
use crate::kpi::directory::{Directory, Influencers};
use crate::kpi::key::{outside, plain};
use crate::kpi::parts::{AudienceCounts, ChannelSums};
use crate::kpi::period::Period;
use crate::kpi::social;
use crate::kpi::value::{Reason, Value, finite};
use crate::kpi::web_shop::{OrderPass, OrderTally, OrderTotals, OrderWindow, WebIndex, WebTotals};
use crate::kpi::{Computed, KpiKey, Parts};
use crate::kpi::{audience, web_shop};
use crate::storage::campaign_profits::CampaignProfit;
use crate::storage::{Result, Store};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A scope's members, worked out once per engine.
struct ScopeMembers {
    /// Its channels.
    channels: Vec<String>,
    /// The influencer channels its fees buy.
    paid: Vec<String>,
    /// Its influencers.
    influencers: Influencers,
}

/// Everything a period needs that does not depend on a segment.
struct PeriodData {
    sums: HashMap<String, ChannelSums>,
    followers_last: HashMap<String, i64>,
    followers_before: HashMap<String, i64>,
    has_web: bool,
    web: WebIndex,
    giveaways: HashMap<String, i64>,
    metrics: HashMap<(String, String), f64>,
}

/// Single-day parts loaded for a range of days at once, by one grouped query per part.
#[derive(Default)]
struct PrefetchedDays {
    periods: HashMap<Period, PeriodData>,
    interactions: HashMap<(String, Period), HashMap<(String, String), i64>>,
    segment_web: HashMap<(String, Period), WebIndex>,
}

/// The computation of one tenant's KPIs; caches loaded parts across requests.
pub struct Engine<'a> {
    store: &'a Store,
    tenant: String,
    directory: Directory,
    segments: HashMap<String, SegmentRule>,
    customs: HashMap<String, crate::domain::formula::Formula>,
    periods: HashMap<Period, PeriodData>,
    orders: HashMap<Period, (Vec<Option<String>>, OrderTally)>,
    /// Single-day order tallies of [`Engine::prefetch_orders`], kept across `clear_cache`.
    prefetched: HashMap<Period, (Vec<Option<String>>, OrderTally)>,
    /// Per day, the audience counts of every scope, one entry per segment choice in the
    /// order of [`Engine::segment_choices`].
    audience: HashMap<chrono::NaiveDate, AudienceTally>,
    /// Audience counts of [`Engine::prefetch_audience`], kept across `clear_cache`.
    prefetched_audience: HashMap<chrono::NaiveDate, AudienceTally>,
    /// First order day of each customer linked to a member, loaded once per engine.
    first_orders: Option<HashMap<String, chrono::NaiveDate>>,
    interactions: HashMap<(String, Period), HashMap<(String, String), i64>>,
    segment_web: HashMap<(String, Period), WebIndex>,
    /// Single-day parts of [`Engine::prefetch_days`], kept across `clear_cache`.
    prefetched_days: PrefetchedDays,
    scopes: HashMap<Scope, Arc<ScopeMembers>>,
}

impl<'a> Engine<'a> {
    /// An engine over the tenant's current structure and segments.
    pub async fn new(store: &'a Store, tenant: &str) -> Result<Engine<'a>> {
        let directory = store.directory(tenant).await?;
        let mut segments = HashMap::new();
        let mut page = crate::storage::PageRequest {
            after: None,
            limit: 1000,
        };
        loop {
            let batch = store.list_segments(tenant, &page).await?;
            for s in &batch.items {
                // Stored rules were validated on write; one that no longer parses selects
                // nothing rather than failing the whole computation.
                if let Ok(rule) = segment_rule::parse(&s.spec.rule) {
                    segments.insert(s.id.clone(), rule);
                }
            }
            match (batch.more, batch.items.last()) {
                (true, Some(last)) => page.after = Some(last.id.clone()),
                _ => break,
            }
        }
        let mut customs = HashMap::new();
        for custom in store.custom_kpis(tenant).await? {
            // Formulas were validated when written; one that no longer parses is left out.
            if let Ok(f) = crate::domain::formula::parse(&custom.spec.formula) {
                customs.insert(custom.id, f);
            }
        }
        Ok(Engine {
            store,
            tenant: tenant.to_string(),
            directory,
            segments,
            customs,
            periods: HashMap::new(),
            orders: HashMap::new(),
            prefetched: HashMap::new(),
            audience: HashMap::new(),
            prefetched_audience: HashMap::new(),
            first_orders: None,
            interactions: HashMap::new(),
            segment_web: HashMap::new(),
            prefetched_days: PrefetchedDays::default(),
            scopes: HashMap::new(),
        })
    }

    /// The tenant's structure.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    async fn period(&mut self, period: Period) -> Result<&PeriodData> {
        if self.prefetched_days.periods.contains_key(&period) {
            return Ok(&self.prefetched_days.periods[&period]);
        }
        if !self.periods.contains_key(&period) {
            let before = period.first.pred_opt().unwrap_or(period.first);
            let data = PeriodData {
                sums: self.store.channel_sums(&self.tenant, &period).await?,
                followers_last: self.store.followers_on(&self.tenant, period.last).await?,
                followers_before: self.store.followers_on(&self.tenant, before).await?,
                has_web: self.store.has_web_traffic(&self.tenant, &period).await?,
                web: WebIndex::build(
                    &self.store.web_groups(&self.tenant, &period, None).await?,
                    &self.directory,
                ),
                giveaways: self
                    .store
                    .giveaway_first_entries(&self.tenant, &period)
                    .await?,
                metrics: self.store.metric_sums(&self.tenant, &period).await?,
            };
            self.periods.insert(period, data);
        }
        Ok(&self.periods[&period])
    }

    /// Loads the parts of every single day of `range` that do not come from the order and
    /// audience passes, one grouped query per part for the whole range instead of one per
    /// day, for the single-day periods that follow; kept across `clear_cache` until the
    /// next call.
    pub async fn prefetch_days(&mut self, range: Period) -> Result<()> {
        self.prefetched_days = PrefetchedDays::default();
        let (store, tenant) = (self.store, self.tenant.as_str());
        let mut sums = store.split_channel_sums(tenant, &range, true).await?;
        let before = range.first.pred_opt().unwrap_or(range.first);
        let followers = store
            .followers_each_day(tenant, &Period::new(before, range.last).unwrap_or(range))
            .await?;
        let mut web = store.split_web_groups(tenant, &range, None, true).await?;
        let mut giveaways = store
            .split_giveaway_first_entries(tenant, &range, true)
            .await?;
        let mut metrics = store.split_metric_sums(tenant, &range, true).await?;
        let mut segment_parts = Vec::new();
        for (id, rule) in &self.segments {
            let interactions = store
                .split_interaction_counts(tenant, &range, rule, true)
                .await?;
            let web = store
                .split_web_groups(tenant, &range, Some(rule), true)
                .await?;
            segment_parts.push((id.clone(), interactions, web));
        }
        for day in range.iter_days() {
            let at = Some(day);
            let groups = web.remove(&at);
            let data = PeriodData {
                sums: sums.remove(&at).unwrap_or_default(),
                followers_last: followers.get(&day).cloned().unwrap_or_default(),
                followers_before: day
                    .pred_opt()
                    .and_then(|d| followers.get(&d).cloned())
                    .unwrap_or_default(),
                // A day has web traffic exactly when its traffic forms some group.
                has_web: groups.is_some(),
                web: WebIndex::build(&groups.unwrap_or_default(), &self.directory),
                giveaways: giveaways.remove(&at).unwrap_or_default(),
                metrics: metrics.remove(&at).unwrap_or_default(),
            };
            let p = Period::day(day);
            self.prefetched_days.periods.insert(p, data);
            for (id, interactions, web) in &mut segment_parts {
                self.prefetched_days.interactions.insert(
                    (id.clone(), p),
                    interactions.remove(&at).unwrap_or_default(),
                );
                self.prefetched_days.segment_web.insert(
                    (id.clone(), p),
                    WebIndex::build(&web.remove(&at).unwrap_or_default(), &self.directory),
                );
            }
        }
        Ok(())
    }

    /// The order windows of a period: every influencer over the period (window 0), then
    /// each campaign whose order window overlaps it, clipped; with their labels.
    fn order_windows(&self, period: Period) -> (Vec<Option<String>>, Vec<OrderWindow>) {
        let mut labels = vec![None];
        let mut windows = vec![OrderWindow {
            period,
            influencers: Influencers::Any,
        }];
        for (id, campaign) in &self.directory.campaigns {
            if let Some(clipped) = period.clip(&self.directory.order_window(campaign)) {
                labels.push(Some(id.clone()));
                windows.push(OrderWindow {
                    period: clipped,
                    influencers: self
                        .directory
                        .scope_influencers(&Scope::Campaign(id.clone())),
                });
            }
        }
        (labels, windows)
    }

    /// Tallies the orders of every day of `range` in one pass, for the single-day periods
    /// that follow: one pass instead of one per day (each day's tally is what a pass over
    /// that day alone gives, since a customer's whole history is streamed either way).
    pub async fn prefetch_orders(&mut self, range: Period) -> Result<()> {
        self.prefetched.clear();
        let mut spans = Vec::new();
        let mut all_windows = Vec::new();
        for day in range.iter_days() {
            let (labels, windows) = self.order_windows(Period::day(day));
            spans.push((day, labels, all_windows.len(), windows.len()));
            all_windows.extend(windows);
        }
        let mut pass = OrderPass::new(&self.directory, all_windows);
        self.store
            .for_each_order(&self.tenant, &range, |o| pass.push(o))
            .await?;
        let mut tally = pass.finish();
        for (day, labels, start, len) in spans {
            let day_tally = OrderTally {
                totals: tally.totals[start..start + len].to_vec(),
                per_influencer: tally.per_influencer[start..start + len]
                    .iter_mut()
                    .map(std::mem::take)
                    .collect(),
            };
            self.prefetched
                .insert(Period::day(day), (labels, day_tally));
        }
        Ok(())
    }

    /// Order totals of a period for every influencer (window 0) and for each campaign's
    /// clipped order window, from one pass over the orders.
    async fn orders(&mut self, period: Period) -> Result<&(Vec<Option<String>>, OrderTally)> {
        if self.prefetched.contains_key(&period) {
            return Ok(&self.prefetched[&period]);
        }
        if !self.orders.contains_key(&period) {
            let (labels, windows) = self.order_windows(period);
            let mut pass = OrderPass::new(&self.directory, windows);
            self.store
                .for_each_order(&self.tenant, &period, |o| pass.push(o))
                .await?;
            let tally = pass.finish();
            self.orders.insert(period, (labels, tally));
        }
        Ok(&self.orders[&period])
    }

    async fn order_totals(&mut self, scope: &Scope, period: Period) -> Result<Option<OrderTotals>> {
        let (labels, tally) = self.orders(period).await?;
        Ok(match scope {
            Scope::Tenant => Some(tally.totals[0]),
            Scope::Influencer(id) => {
                Some(tally.per_influencer[0].get(id).copied().unwrap_or_default())
            }
            Scope::Campaign(id) => labels
                .iter()
                .position(|l| l.as_deref() == Some(id.as_str()))
                .map(|w| tally.totals[w]),
            Scope::Channel(_) => None,
        })
    }

    async fn audience(
        &mut self,
        segment: Option<&str>,
        scope: &Scope,
        day: chrono::NaiveDate,
    ) -> Result<AudienceCounts> {
        let choices = self.segment_choices();
        let Some(choice) = choices.iter().position(|c| c.as_deref() == segment) else {
            return Ok(AudienceCounts::default());
        };
        if !self.prefetched_audience.contains_key(&day) && !self.audience.contains_key(&day) {
            let counted = self.audience_pass(Period::day(day)).await?;
            self.audience.extend(counted);
        }
        let tally = self
            .prefetched_audience
            .get(&day)
            .or_else(|| self.audience.get(&day))
            .expect("counted above");
        let per_choice = match scope {
            Scope::Tenant => tally.owner.get(&None),
            Scope::Influencer(id) => tally.owner.get(&Some(id.clone())),
            Scope::Channel(id) => tally.channel.get(id),
            Scope::Campaign(id) => tally.campaign.get(id),
        };
        Ok(per_choice
            .and_then(|counts| counts.get(choice))
            .cloned()
            .unwrap_or_default())
    }

    /// Counts the audience of every day of `range` for every scope and segment choice in
    /// one pass over the members, for the single days that follow; kept across
    /// `clear_cache` until the next prefetch.
    pub async fn prefetch_audience(&mut self, range: Period) -> Result<()> {
        self.prefetched_audience.clear();
        let counted = self.audience_pass(range).await?;
        self.prefetched_audience.extend(counted);
        Ok(())
    }

    async fn audience_pass(
        &mut self,
        range: Period,
    ) -> Result<Vec<(chrono::NaiveDate, AudienceTally)>> {
        if self.first_orders.is_none() {
            self.first_orders = Some(
                self.store
                    .linked_customer_first_orders(&self.tenant)
                    .await?,
            );
        }
        let choices = self.segment_choices();
        let rules: Vec<Option<&SegmentRule>> = choices
            .iter()
            .map(|c| c.as_ref().and_then(|s| self.segments.get(s)))
            .collect();
        let attributes: Vec<_> = rules
            .iter()
            .flatten()
            .flat_map(|r| r.attributes())
            .collect();
        let first_orders = self.first_orders.as_ref().expect("loaded above");
        let mut pass = AudiencePass::new(&self.directory, range, rules, first_orders);
        self.store
            .for_each_following_member(&self.tenant, &range, &attributes, |row| pass.push(row))
            .await?;
        Ok(pass.finish())
    }

    /// No segment, then every segment by id: the choices one audience scan counts.
    fn segment_choices(&self) -> Vec<Option<String>> {
        std::iter::once(None)
            .chain(self.segment_ids().into_iter().map(Some))
            .collect()
    }

    async fn segment_web(&mut self, segment: &str, period: Period) -> Result<&WebIndex> {
        let key = (segment.to_string(), period);
        if self.prefetched_days.segment_web.contains_key(&key) {
            return Ok(&self.prefetched_days.segment_web[&key]);
        }
        if !self.segment_web.contains_key(&key) {
            let groups = match self.segments.get(segment) {
                Some(rule) => {
                    self.store
                        .web_groups(&self.tenant, &period, Some(rule))
                        .await?
                }
                None => Vec::new(),
            };
            self.segment_web
                .insert(key.clone(), WebIndex::build(&groups, &self.directory));
        }
        Ok(&self.segment_web[&key])
    }

    /// The members of a scope, worked out once per engine and shared: every key of a day
    /// asks for its scope's, and listing a scope's channels walks every channel.
    fn scope(&mut self, scope: &Scope) -> Arc<ScopeMembers> {
        if let Some(members) = self.scopes.get(scope) {
            return Arc::clone(members);
        }
        let members = Arc::new(ScopeMembers {
            channels: self.directory.scope_channels(scope),
            paid: self.directory.paid_channels(scope),
            influencers: self.directory.scope_influencers(scope),
        });
        self.scopes.insert(scope.clone(), Arc::clone(&members));
        members
    }

    async fn interactions(
        &mut self,
        segment: &str,
        period: Period,
    ) -> Result<&HashMap<(String, String), i64>> {
        let key = (segment.to_string(), period);
        if self.prefetched_days.interactions.contains_key(&key) {
            return Ok(&self.prefetched_days.interactions[&key]);
        }
        if !self.interactions.contains_key(&key) {
            let counts = match self.segments.get(segment) {
                Some(rule) => {
                    self.store
                        .interaction_counts(&self.tenant, &period, rule)
                        .await?
                }
                None => HashMap::new(),
            };
            self.interactions.insert(key.clone(), counts);
        }
        Ok(&self.interactions[&key])
    }

    /// The window the non-order parts of a scope's KPIs use: the period itself, or at
    /// campaign scope its overlap with `[start, end]` (None: outside the campaign).
    fn window(&self, scope: &Scope, period: Period) -> Option<Period> {
        match scope {
            Scope::Campaign(id) => period.clip(&self.directory.campaigns.get(id)?.window),
            _ => Some(period),
        }
    }

    /// The window of a scope's orders.
    fn order_window(&self, scope: &Scope, period: Period) -> Option<Period> {
        match scope {
            Scope::Campaign(id) => period.clip(
                &self
                    .directory
                    .order_window(self.directory.campaigns.get(id)?),
            ),
            _ => Some(period),
        }
    }

    /// Computes each key over the period.
    pub async fn compute(&mut self, keys: &[KpiKey], period: Period) -> Result<Vec<Computed>> {
        let parts = self.compute_parts(keys, period).await?;
        Ok(keys
            .iter()
            .zip(parts)
            .map(|(key, parts)| Computed::new(key, period, parts))
            .collect())
    }

    /// Computes each key over the period: the values and their parts alone, in the order
    /// of `keys`.
    pub async fn compute_parts(&mut self, keys: &[KpiKey], period: Period) -> Result<Vec<Parts>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.value(key, period).await?);
        }
        Ok(out)
    }

    /// Each campaign's profit over the period as `profit_per_visitor` counts it (orders
    /// of its clipped order window; None when the period is outside that window), in
    /// minor units: stored with a day's snapshots, so that longer periods compose.
    pub async fn campaign_profits(
        &mut self,
        campaigns: &[String],
        period: Period,
    ) -> Result<Vec<CampaignProfit>> {
        let mut out = Vec::with_capacity(campaigns.len());
        for id in campaigns {
            let scope = Scope::Campaign(id.clone());
            let profit = match self.order_window(&scope, period) {
                None => None,
                Some(_) => self.order_totals(&scope, period).await?.map(|t| t.profit),
            };
            out.push((id.clone(), profit));
        }
        Ok(out)
    }

    async fn value(&mut self, key: &KpiKey, period: Period) -> Result<Parts> {
        let scope = &key.scope;
        let members = self.scope(scope);
        let channels = &members.channels;
        let window = self.window(scope, period);
        let order_window = self.order_window(scope, period);
        let kpi = key.kpi.as_str();
        if let Some(formula) = self.customs.get(kpi).cloned() {
            return self.custom(&formula, key, period).await;
        }
        if catalogue::find(kpi).is_none() {
            // A pushed metric: the sum of its points in the (clipped) period.
            let Some(w) = window else {
                return Ok(outside());
            };
            let data = self.period(w).await?;
            let value = data
                .metrics
                .get(&(kpi.to_string(), scope.to_string()))
                .copied()
                .ok_or(Reason::NoData)
                .and_then(finite);
            return Ok(plain(value));
        }
        // Each family names its KPIs and computes them from the parts loaded here.
        if let Some(k) = social::Kpi::of(kpi) {
            let Some(w) = window else {
                return Ok(outside());
            };
            let data = self.period(w).await?;
            let inputs = social::Window {
                sums: &data.sums,
                followers_before: &data.followers_before,
                followers_last: &data.followers_last,
                days: w.days(),
            };
            return Ok(social::value(k, channels, &inputs));
        }
        if let Some(k) = web_shop::Kpi::of(kpi) {
            return self
                .web_shop(k, key, period, window, order_window, &members)
                .await;
        }
        if let Some(k) = audience::Kpi::of(kpi) {
            return self.audience_kpi(k, key, window, channels).await;
        }
        // Every catalogue id belongs to a family; a new one without its computation must
        // not pass for a value.
        tracing::error!(kpi, "no computation for this catalogue KPI");
        Ok(plain(Err(Reason::NoData)))
    }

    /// A KPI of the web and shop family, from the scope's web and order totals, fees and
    /// paid channels.
    async fn web_shop(
        &mut self,
        kpi: web_shop::Kpi,
        key: &KpiKey,
        period: Period,
        window: Option<Period>,
        order_window: Option<Period>,
        members: &ScopeMembers,
    ) -> Result<Parts> {
        use web_shop::Kpi as K;
        let scope = &key.scope;
        let per_major = self.directory.minor_per_major();
        if kpi.is_visitors() {
            let Some(w) = window else {
                return Ok(outside());
            };
            return Ok(web_shop::visitors(kpi, self.web(scope, w).await?));
        }
        if kpi.is_orders() {
            if order_window.is_none() {
                return Ok(outside());
            }
            // A campaign without an order window in this period has no tally either.
            let Some(t) = self.order_totals(scope, period).await? else {
                return Ok(outside());
            };
            return Ok(web_shop::from_orders(kpi, &t, per_major));
        }
        match kpi {
            K::GiveawayEntries => {
                let Some(w) = window else {
                    return Ok(outside());
                };
                let giveaways = self.directory.scope_giveaways(scope);
                if giveaways.is_empty() {
                    return Ok(web_shop::giveaway_entries(&giveaways, &HashMap::new()));
                }
                let data = self.period(w).await?;
                Ok(web_shop::giveaway_entries(&giveaways, &data.giveaways))
            }
            K::Fees => {
                let Some(w) = window else {
                    return Ok(outside());
                };
                Ok(plain(Ok(self.directory.fees(scope, &w) / per_major)))
            }
            K::Roas => {
                let revenue = match order_window {
                    None => Err(Reason::OutsideCampaign),
                    Some(_) => match self.order_totals(scope, period).await? {
                        Some(t) => Ok(t.revenue as f64 / per_major),
                        None => Err(Reason::OutsideCampaign),
                    },
                };
                Ok(web_shop::roas(revenue, self.fees(scope, window)))
            }
            K::ProfitPerVisitor => {
                let profit = match order_window {
                    None => Err(Reason::OutsideCampaign),
                    Some(_) => match self.order_totals(scope, period).await? {
                        Some(t) => Ok(t.profit as f64 / per_major),
                        None => Err(Reason::OutsideCampaign),
                    },
                };
                let fees = self.fees(scope, window);
                let visitors = match window {
                    None => Err(Reason::OutsideCampaign),
                    Some(w) => self.web(scope, w).await?.map(|t| t.users),
                };
                Ok(web_shop::profit_per_visitor(profit, fees, visitors))
            }
            K::CostPerEngagement | K::Cpm => {
                let fees = self.fees(scope, window);
                let Some(w) = window else {
                    return Ok(outside());
                };
                let data = self.period(w).await?;
                let denominator = web_shop::paid_denominator(kpi, |f| {
                    social::field_sum(&members.paid, &data.sums, f)
                });
                Ok(web_shop::cost_per(fees, denominator))
            }
            // The visitor and order KPIs were answered above.
            _ => Ok(plain(Err(Reason::NoData))),
        }
    }

    /// A KPI of the audience family, from the segment's audience counts, interactions and
    /// web traffic.
    async fn audience_kpi(
        &mut self,
        kpi: audience::Kpi,
        key: &KpiKey,
        window: Option<Period>,
        channels: &[String],
    ) -> Result<Parts> {
        use audience::Kpi as K;
        let scope = &key.scope;
        let Some(w) = window else {
            return Ok(outside());
        };
        match kpi {
            K::SegmentFollowers | K::FollowersBecameCustomers => {
                let counts = self.audience(key.segment.as_deref(), scope, w.last).await?;
                Ok(audience::from_counts(kpi, &counts))
            }
            K::SegmentShares | K::SegmentMentions => {
                let Some(segment) = key.segment.as_deref() else {
                    return Ok(plain(Err(Reason::NoData)));
                };
                let counts = self.interactions(segment, w).await?;
                Ok(audience::interactions(kpi, channels, counts))
            }
            K::TargetAudienceVisitors => Ok(plain(self.target_visitors(key, w).await?)),
            K::TargetAudienceGrowth => {
                let current = self.target_visitors(key, w).await?;
                let previous = match w.previous().and_then(|p| match scope {
                    Scope::Campaign(id) => p.clip(&self.directory.campaigns.get(id)?.window),
                    _ => Some(p),
                }) {
                    None => Err(Reason::OutsideCampaign),
                    Some(p) => self.target_visitors(key, p).await?,
                };
                Ok(audience::target_growth(current, previous))
            }
        }
    }

    /// A custom KPI: its formula evaluated on the period values of its inputs, on the same
    /// scope, segment and period.
    async fn custom(
        &mut self,
        formula: &crate::domain::formula::Formula,
        key: &KpiKey,
        period: Period,
    ) -> Result<Parts> {
        let mut inputs: HashMap<String, Value> = HashMap::new();
        for (name, _) in formula.names() {
            if inputs.contains_key(&name) {
                continue;
            }
            let input = KpiKey {
                kpi: name.clone(),
                scope: key.scope.clone(),
                segment: key.segment.clone(),
            };
            // Cycles are refused when formulas are written, so the recursion ends.
            let (value, _, _) = Box::pin(self.value(&input, period)).await?;
            inputs.insert(name, value);
        }
        let value =
            formula.evaluate(&mut |name| inputs.get(name).copied().unwrap_or(Err(Reason::NoData)));
        Ok(plain(value))
    }

    fn fees(&self, scope: &Scope, window: Option<Period>) -> Value {
        match window {
            None => Err(Reason::OutsideCampaign),
            Some(w) => Ok(self.directory.fees(scope, &w) / self.directory.minor_per_major()),
        }
    }

    /// Web totals of a scope in a window; `no_data` when the tenant has no web traffic
    /// row at all in it.
    async fn web(
        &mut self,
        scope: &Scope,
        window: Period,
    ) -> Result<std::result::Result<WebTotals, Reason>> {
        let members = self.scope(scope);
        let influencers = &members.influencers;
        let data = self.period(window).await?;
        if !data.has_web {
            return Ok(Err(Reason::NoData));
        }
        Ok(Ok(data.web.totals(influencers)))
    }

    async fn target_visitors(&mut self, key: &KpiKey, window: Period) -> Result<Value> {
        if !self.period(window).await?.has_web {
            return Ok(Err(Reason::NoData));
        }
        let Some(segment) = key.segment.as_deref() else {
            return Ok(Err(Reason::NoData));
        };
        let members = self.scope(&key.scope);
        let influencers = &members.influencers;
        let index = self.segment_web(segment, window).await?;
        Ok(Ok(index.totals(influencers).segment_users))
    }
}

impl Engine<'_> {
    /// Drops cached parts, between days of a long run; prefetched order tallies stay until
    /// the next [`Engine::prefetch_orders`].
    pub fn clear_cache(&mut self) {
        self.periods.clear();
        self.orders.clear();
        self.audience.clear();
        self.interactions.clear();
        self.segment_web.clear();
    }

    /// The KPIs whose values can change while their day is inside the returning-buyer
    /// window: the cohort KPIs and every custom KPI that uses one, however indirectly.
    pub fn cohort_kpis(&self) -> Vec<String> {
        super::cohort_kpis(&self.customs)
    }

    /// Ids of the tenant's segments.
    pub fn segment_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.segments.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Every key snapshotted daily: each catalogue KPI on each scope it applies to (audience
    /// KPIs once per segment, followers_became_customers also without one), each custom KPI
    /// where all its inputs apply (without a segment), and each pushed metric on the scope
    /// it was pushed for; each key once.
    pub fn daily_keys(&self, metric_keys: &[(String, String)]) -> Vec<KpiKey> {
        let dir = &self.directory;
        let mut scopes = vec![Scope::Tenant];
        scopes.extend(dir.influencers.iter().map(|i| Scope::Influencer(i.clone())));
        scopes.extend(dir.campaigns.keys().map(|c| Scope::Campaign(c.clone())));
        scopes.extend(dir.channels.keys().map(|c| Scope::Channel(c.clone())));
        let segments = self.segment_ids();
        let mut keys = Vec::new();
        for scope in &scopes {
            for def in catalogue::catalogue()
                .iter()
                .filter(|d| d.applies_to(scope.kind()))
            {
                let mut segment_options: Vec<Option<String>> = match def.segment {
                    catalogue::SegmentUse::None => vec![None],
                    catalogue::SegmentUse::Required => segments.iter().cloned().map(Some).collect(),
                    catalogue::SegmentUse::Optional => segments.iter().cloned().map(Some).collect(),
                };
                if def.segment == catalogue::SegmentUse::Optional {
                    segment_options.insert(0, None);
                }
                for segment in segment_options {
                    keys.push(KpiKey {
                        kpi: def.id.to_string(),
                        scope: scope.clone(),
                        segment,
                    });
                }
            }
        }
        let mut customs: Vec<&String> = self.customs.keys().collect();
        customs.sort();
        for scope in &scopes {
            for id in &customs {
                if crate::kpi::custom::applies_to(
                    &self.customs[*id],
                    scope.kind(),
                    &self.customs,
                    0,
                ) {
                    keys.push(KpiKey {
                        kpi: (*id).clone(),
                        scope: scope.clone(),
                        segment: None,
                    });
                }
            }
        }
        for (metric, scope) in metric_keys {
            // A key stored under a KPI or custom KPI id (refused at the API since, but
            // stored before or by two calls racing) names that KPI, which `value`
            // computes in its place: a second key of that name would be a second row of
            // one snapshot, failing every run of the tenant.
            if catalogue::find(metric).is_some() || self.customs.contains_key(metric) {
                continue;
            }
            if let Ok(scope) = Scope::parse(scope) {
                keys.push(KpiKey {
                    kpi: metric.clone(),
                    scope,
                    segment: None,
                });
            }
        }
        // One snapshot per key, whatever else the lists above hold twice.
        let mut seen = HashSet::with_capacity(keys.len());
        keys.retain(|k| seen.insert(k.clone()));
        keys
    }
}
