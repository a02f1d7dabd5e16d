//! The tenant's structure as the KPI math needs it (KPIS.md: scopes): which channels and
//! influencers a scope covers, campaign windows and fees, giveaways, tracking values.
use super::period::Period;
use crate::domain::goal::Scope;
use crate::domain::tenant::TenantSettings;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A campaign's window, participants and giveaways.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignInfo {
    /// `[start, end]`.
    pub window: Period,
    /// Participating influencers with their fee in minor units.
    pub fees: BTreeMap<String, i64>,
    /// Its giveaway ids.
    pub giveaways: BTreeSet<String>,
}

/// A tracking pair of an influencer, lowercased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingPair {
    /// utm_source.
    pub source: String,
    /// utm_campaign; empty matches any campaign.
    pub campaign: String,
    /// The influencer.
    pub influencer: String,
}

/// The pairs of one utm_source.
#[derive(Clone, Debug, Default, PartialEq)]
struct SourcePairs {
    /// The influencer of the source-only pair, if any.
    any_campaign: Option<String>,
    /// Influencer by campaign.
    by_campaign: HashMap<String, String>,
}

/// The tenant's structure.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Directory {
    /// Settings: time zone, currency, windows.
    pub settings: TenantSettings,
    /// Channel id → owning influencer (None: the brand's own).
    pub channels: BTreeMap<String, Option<String>>,
    /// Influencer ids.
    pub influencers: BTreeSet<String>,
    /// Tracking pairs by lowercased source, so a row or order is matched in O(1).
    tracking: HashMap<String, SourcePairs>,
    /// Campaigns by id.
    pub campaigns: BTreeMap<String, CampaignInfo>,
    /// Giveaway id → hosting influencer.
    pub giveaway_hosts: BTreeMap<String, Option<String>>,
}

/// The influencers a scope's money and web KPIs cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Influencers {
    /// Any influencer (tenant scope: "to any influencer").
    Any,
    /// These influencers.
    Set(HashSet<String>),
}

impl Influencers {
    /// Whether the influencer is covered.
    pub fn contains(&self, influencer: &str) -> bool {
        match self {
            Influencers::Any => true,
            Influencers::Set(set) => set.contains(influencer),
        }
    }
}

impl Directory {
    /// The influencer a web row or order's tracking values point to: a pair naming the
    /// campaign beats a source-only pair (KPIS.md: tracking values).
    pub fn tracking_match(&self, source_key: &str, campaign_key: &str) -> Option<&str> {
        let pairs = self.tracking.get(source_key)?;
        pairs
            .by_campaign
            .get(campaign_key)
            .or(pairs.any_campaign.as_ref())
            .map(String::as_str)
    }

    /// Adds a tracking pair (pairs are unique in a tenant).
    pub fn add_tracking(&mut self, pair: TrackingPair) {
        let entry = self.tracking.entry(pair.source).or_default();
        if pair.campaign.is_empty() {
            entry.any_campaign = Some(pair.influencer);
        } else {
            entry.by_campaign.insert(pair.campaign, pair.influencer);
        }
    }

    /// The channels whose social stats, interactions and audience a scope covers.
    pub fn scope_channels(&self, scope: &Scope) -> Vec<String> {
        match scope {
            Scope::Tenant => self.channels_where(|owner| owner.is_none()),
            Scope::Influencer(id) => self.channels_where(|owner| owner.as_deref() == Some(id)),
            Scope::Campaign(id) => match self.campaigns.get(id) {
                Some(c) => self
                    .channels_where(|owner| owner.as_ref().is_some_and(|o| c.fees.contains_key(o))),
                None => Vec::new(),
            },
            Scope::Channel(id) => self
                .channels
                .contains_key(id)
                .then(|| id.clone())
                .into_iter()
                .collect(),
        }
    }

    /// The influencer channels whose engagement and views fees buy (cost_per_engagement,
    /// cpm): at tenant scope every influencer-owned channel.
    pub fn paid_channels(&self, scope: &Scope) -> Vec<String> {
        match scope {
            Scope::Tenant => self.channels_where(|owner| owner.is_some()),
            other => self.scope_channels(other),
        }
    }

    fn channels_where(&self, keep: impl Fn(&Option<String>) -> bool) -> Vec<String> {
        self.channels
            .iter()
            .filter(|(_, owner)| keep(owner))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The influencers a scope's money and web KPIs cover.
    pub fn scope_influencers(&self, scope: &Scope) -> Influencers {
        match scope {
            Scope::Tenant => Influencers::Any,
            Scope::Influencer(id) => Influencers::Set([id.clone()].into()),
            Scope::Campaign(id) => Influencers::Set(
                self.campaigns
                    .get(id)
                    .map(|c| c.fees.keys().cloned().collect())
                    .unwrap_or_default(),
            ),
            Scope::Channel(_) => Influencers::Set(HashSet::new()),
        }
    }

    /// The giveaways a scope covers: all at tenant scope, a campaign's own, an
    /// influencer's hosted ones.
    pub fn scope_giveaways(&self, scope: &Scope) -> Vec<String> {
        match scope {
            Scope::Tenant => self.giveaway_hosts.keys().cloned().collect(),
            Scope::Campaign(id) => self
                .campaigns
                .get(id)
                .map(|c| c.giveaways.iter().cloned().collect())
                .unwrap_or_default(),
            Scope::Influencer(id) => self
                .giveaway_hosts
                .iter()
                .filter(|(_, host)| host.as_deref() == Some(id))
                .map(|(g, _)| g.clone())
                .collect(),
            Scope::Channel(_) => Vec::new(),
        }
    }

    /// Fees allocated to a period, in minor units (fractions allowed): each campaign fee
    /// spread evenly over the campaign's days. At campaign scope only that campaign's.
    pub fn fees(&self, scope: &Scope, period: &Period) -> f64 {
        let influencers = self.scope_influencers(scope);
        self.campaigns
            .iter()
            .filter(|(id, _)| !matches!(scope, Scope::Campaign(c) if c != *id))
            .map(|(_, campaign)| {
                let Some(overlap) = period.clip(&campaign.window) else {
                    return 0.0;
                };
                let share = overlap.days() as f64 / campaign.window.days() as f64;
                campaign
                    .fees
                    .iter()
                    .filter(|(influencer, _)| influencers.contains(influencer))
                    .map(|(_, fee)| *fee as f64 * share)
                    .fold(0.0, |total, fee| total + fee)
            })
            // Not `sum()`: the f64 sum of nothing is -0.0, which made a scope without fees
            // (and its cpm and cost_per_engagement) read -0.
            .fold(0.0, |total, fees| total + fees)
    }

    /// The window a campaign's orders count in: `[start, end + order window]`.
    pub fn order_window(&self, campaign: &CampaignInfo) -> Period {
        let end = campaign
            .window
            .last
            .checked_add_days(chrono::Days::new(
                self.settings.order_window_days.max(0) as u64
            ))
            .unwrap_or(campaign.window.last);
        Period {
            first: campaign.window.first,
            last: end,
        }
    }

    /// Divisor from minor to major units of the tenant's currency.
    pub fn minor_per_major(&self) -> f64 {
        minor_per_major(&self.settings.currency)
    }
}

/// Divisor from minor to major units of an ISO 4217 currency (2 decimals if unknown).
pub fn minor_per_major(currency: &str) -> f64 {
    let exponent = iso_currency::Currency::from_code(currency)
        .and_then(|c| c.exponent())
        .unwrap_or(2);
    10f64.powi(exponent as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn directory() -> Directory {
        let mut dir = Directory::default();
        dir.channels.insert("brand".into(), None);
        dir.channels.insert("anna-ig".into(), Some("anna".into()));
        dir.channels.insert("bob-tt".into(), Some("bob".into()));
        dir.add_tracking(TrackingPair {
            source: "instagram".into(),
            campaign: "".into(),
            influencer: "bob".into(),
        });
        dir.add_tracking(TrackingPair {
            source: "instagram".into(),
            campaign: "anna".into(),
            influencer: "anna".into(),
        });
        dir.campaigns.insert(
            "spring".into(),
            CampaignInfo {
                window: Period {
                    first: d(3, 1),
                    last: d(3, 10),
                },
                fees: [("anna".to_string(), 1000)].into(),
                giveaways: BTreeSet::new(),
            },
        );
        dir
    }

    #[test]
    fn a_pair_naming_the_campaign_beats_a_source_only_pair() {
        let dir = directory();
        assert_eq!(dir.tracking_match("instagram", "anna"), Some("anna"));
        assert_eq!(dir.tracking_match("instagram", "other"), Some("bob"));
        assert_eq!(dir.tracking_match("tiktok", "anna"), None);
    }

    #[test]
    fn scopes_cover_their_channels() {
        let dir = directory();
        assert_eq!(dir.scope_channels(&Scope::Tenant), ["brand"]);
        assert_eq!(dir.paid_channels(&Scope::Tenant), ["anna-ig", "bob-tt"]);
        assert_eq!(
            dir.scope_channels(&Scope::Campaign("spring".into())),
            ["anna-ig"]
        );
        assert!(
            dir.scope_channels(&Scope::Channel("nope".into()))
                .is_empty()
        );
    }

    #[test]
    fn fees_spread_evenly_over_the_campaign_days() {
        let dir = directory();
        let p = Period {
            first: d(3, 9),
            last: d(3, 20),
        };
        assert_eq!(dir.fees(&Scope::Tenant, &p), 200.0);
        assert_eq!(
            dir.fees(&Scope::Influencer("anna".into()), &Period::day(d(3, 1))),
            100.0
        );
        assert_eq!(dir.fees(&Scope::Influencer("bob".into()), &p), 0.0);
        assert_eq!(dir.fees(&Scope::Tenant, &Period::day(d(4, 1))), 0.0);
    }
}
