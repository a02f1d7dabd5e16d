//! The built-in KPI catalogue: static definitions of every built-in KPI, lookup by id
//! and suggestions per objective.
//!
//! This module mirrors `KPIS.md` (the exact KPI contract) and must be kept in step with
//! it: ids, tiers and units are copied from its catalogue tables, and channel-scope
//! applicability follows its "Scopes" section
//! (at `channel` scope only the social KPIs and the audience KPIs other than
//! `target_audience_*` apply). The `formula` strings are short restatements for display;
//! `KPIS.md` stays authoritative for the exact semantics. A KPI's roll-up class is its
//! family's to declare, beside its computation (`kpi::roll_up`).

/// How much a KPI says about value, from cheap-to-inflate counts to business outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Counts that are cheap to inflate (followers, posts).
    Vanity,
    /// Interaction counts and rates that show real attention.
    Quality,
    /// Formulas combining several social counts (ipm, engagement rate).
    Composite,
    /// Visitors, buyers, revenue, fees and profit.
    Business,
    /// KPIs limited to a target audience segment.
    Audience,
}

impl Tier {
    /// The tier's name as written in `KPIS.md`, e.g. `"vanity"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Tier::Vanity => "vanity",
            Tier::Quality => "quality",
            Tier::Composite => "composite",
            Tier::Business => "business",
            Tier::Audience => "audience",
        }
    }
}

/// How a period's value relates to daily values (the "Roll-up classes" table of `KPIS.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RollUp {
    /// Sum over the days of the period.
    Sum,
    /// The value on the period's last day.
    Level,
    /// From the levels on the day before `first` and on `last`.
    Boundary,
    /// Distinct count over the whole period, never a sum of days.
    Distinct,
    /// The formula applied to the period's parts, never an average of daily ratios.
    Ratio,
    /// Value of the period minus value of the previous period.
    Change,
}

impl RollUp {
    /// The class name as written in `KPIS.md`, e.g. `"sum"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RollUp::Sum => "sum",
            RollUp::Level => "level",
            RollUp::Boundary => "boundary",
            RollUp::Distinct => "distinct",
            RollUp::Ratio => "ratio",
            RollUp::Change => "change",
        }
    }
}

/// A strategic objective a goal starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Objective {
    /// Make more people know the brand.
    BrandAwareness,
    /// Turn buyers into repeat customers.
    LoyalCustomers,
    /// Sell more, profitably.
    Revenue,
    /// Get people to interact with the content.
    Engagement,
    /// Reach a new target audience.
    NewAudience,
}

impl Objective {
    /// Every objective, in declaration order.
    pub const ALL: [Objective; 5] = [
        Objective::BrandAwareness,
        Objective::LoyalCustomers,
        Objective::Revenue,
        Objective::Engagement,
        Objective::NewAudience,
    ];

    /// The objective's `snake_case` name, e.g. `"brand_awareness"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Objective::BrandAwareness => "brand_awareness",
            Objective::LoyalCustomers => "loyal_customers",
            Objective::Revenue => "revenue",
            Objective::Engagement => "engagement",
            Objective::NewAudience => "new_audience",
        }
    }

    /// Parses the exact `snake_case` name produced by [`Objective::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// The kind of scope a KPI is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    /// The whole tenant (brand).
    Tenant,
    /// One campaign, over its campaign window.
    Campaign,
    /// One influencer, over all their channels.
    Influencer,
    /// One channel (one account on one platform).
    Channel,
}

impl ScopeKind {
    /// Every scope kind, in declaration order.
    pub const ALL: [ScopeKind; 4] = [
        ScopeKind::Tenant,
        ScopeKind::Campaign,
        ScopeKind::Influencer,
        ScopeKind::Channel,
    ];

    /// The scope's name as written in `KPIS.md`, e.g. `"tenant"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Tenant => "tenant",
            ScopeKind::Campaign => "campaign",
            ScopeKind::Influencer => "influencer",
            ScopeKind::Channel => "channel",
        }
    }
}

/// Whether a KPI takes an audience segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentUse {
    /// The KPI takes no segment.
    None,
    /// The KPI must be given a segment.
    Required,
    /// The KPI may be given a segment (without one it counts all members).
    Optional,
}

/// One built-in KPI: its id, tier, unit, meaning and where it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KpiDefinition {
    /// The KPI id, as in `KPIS.md` (e.g. `"engagement_rate"`).
    pub id: &'static str,
    /// The value tier from the `KPIS.md` catalogue tables.
    pub tier: Tier,
    /// The unit: `count`, `percent`, `per_mille`, `count_per_day`, `ratio`, `sessions`,
    /// `users`, `entries`, `customers`, `orders`, `money` or `money_per_user`.
    pub unit: &'static str,
    /// One or two plain-English sentences for an analyst.
    pub description: &'static str,
    /// The `KPIS.md` definition in short.
    pub formula: &'static str,
    /// The objectives this KPI serves, most fitting first.
    pub objectives: &'static [Objective],
    /// Whether the KPI takes an audience segment.
    pub segment: SegmentUse,
    /// The scope kinds the KPI can be computed on.
    pub scopes: &'static [ScopeKind],
    /// Why the inputs may be approximate, when they may be.
    pub approximate: Option<&'static str>,
    /// The definition version; snapshots record the version they were computed with.
    pub version: u32,
}

impl KpiDefinition {
    /// Whether this KPI can be computed on the given kind of scope.
    #[must_use]
    pub fn applies_to(&self, scope: ScopeKind) -> bool {
        self.scopes.contains(&scope)
    }
}

use Objective::{BrandAwareness, Engagement, LoyalCustomers, NewAudience, Revenue};

/// Social and non-target audience KPIs: every scope, channel included.
const ALL_SCOPES: &[ScopeKind] = &ScopeKind::ALL;
/// Money, web and target-audience KPIs: not at channel scope.
const NOT_CHANNEL: &[ScopeKind] = &[
    ScopeKind::Tenant,
    ScopeKind::Campaign,
    ScopeKind::Influencer,
];

/// Approximation note for KPIs that read follower levels.
const YOUTUBE_FOLLOWERS: &str = "Follower counts are approximate: YouTube rounds subscriber counts to three significant figures.";
/// Approximation note for KPIs built on follower differences.
const YOUTUBE_FOLLOWER_GROWTH: &str = "Follower counts are approximate: YouTube rounds subscriber counts to three significant figures, so small changes on YouTube channels may not show or may show as a jump.";
/// Approximation note for segment KPIs over audience members and interactions.
const AGE_BRACKETS_MEMBERS: &str = "Segment rules on age are approximate: platforms such as Instagram report age only in fixed brackets (25-34), so a member without a first-party age cannot match on age; the followers attribute of YouTube accounts is rounded to three significant figures.";
/// Approximation note for segment KPIs over web rows.
const AGE_BRACKETS_WEB: &str = "Segment rules on age are approximate: web analytics and Instagram report age only in fixed brackets (25-34); a row reported in a bracket has no age, so narrower age ranges need first-party data.";

/// The day of Instagram's insights, for the KPIs read from them (issue 21): Meta's
/// `period=day` values end at Pacific midnight and cannot be split by the hour.
macro_rules! instagram_days {
    () => {
        " Instagram insights are Pacific days (America/Los_Angeles): Meta reports them per day only, so an Instagram channel's day runs from midnight to midnight in Los Angeles, whatever the tenant's zone; the job report names that zone."
    };
}

/// The day of GA4's web traffic, for the KPIs read from it: rows are the property's days,
/// and regrouping hours into the tenant's day would count a visitor of two hours twice.
macro_rules! ga4_days {
    () => {
        " Web traffic from GA4 is filed on the property's days, in the property's time zone, which the job report names: GA4 counts users per day, so a day of another zone cannot be rebuilt from its hours without counting a visitor twice."
    };
}

static CATALOGUE: [KpiDefinition; 37] = [
    // ---- Social (from channel day stats and interactions) ----
    KpiDefinition {
        id: "followers",
        tier: Tier::Vanity,
        unit: "count",
        description: "How many followers the scope's channels have on the last day of the period. Easy to inflate, so read it together with engagement.",
        formula: "Σ over channels of C with a follower reading on last of that reading; channels without a reading that day are left out",
        objectives: &[BrandAwareness, NewAudience],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: Some(YOUTUBE_FOLLOWERS),
        version: 1,
    },
    KpiDefinition {
        id: "posts",
        tier: Tier::Vanity,
        unit: "count",
        description: "How many posts the scope's channels published in the period. It measures effort, not effect.",
        formula: "Σ posts over C and the days of P",
        objectives: &[Engagement, BrandAwareness],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "follower_growth",
        tier: Tier::Vanity,
        unit: "count",
        description: "How many followers were gained (or lost) over the period. Only channels with a reading at both ends count.",
        formula: "Σ (followers on last − followers on the day before first) over channels of C with both readings",
        objectives: &[BrandAwareness, NewAudience],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: Some(YOUTUBE_FOLLOWER_GROWTH),
        version: 1,
    },
    KpiDefinition {
        id: "follower_growth_pct",
        tier: Tier::Quality,
        unit: "percent",
        description: "Follower growth over the period as a percentage of the followers at its start. Comparable across channels of different size.",
        formula: "100 × Σ (end − start) / Σ start, over channels of C with a reading on the day before first and on last",
        objectives: &[BrandAwareness, NewAudience],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: Some(YOUTUBE_FOLLOWER_GROWTH),
        version: 1,
    },
    KpiDefinition {
        id: "mentions",
        tier: Tier::Quality,
        unit: "count",
        description: "How often the scope's channels were mentioned in the period. A sign that people talk about the brand.",
        formula: "Σ mentions over C and the days of P",
        objectives: &[BrandAwareness, Engagement],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "shares",
        tier: Tier::Quality,
        unit: "count",
        description: concat!(
            "How often the scope's posts were shared in the period, retweets and reposts included. Shares carry content to new people.",
            instagram_days!()
        ),
        formula: "Σ shares over C and the days of P; retweets and reposts are shares",
        objectives: &[BrandAwareness, Engagement],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "comments",
        tier: Tier::Quality,
        unit: "count",
        description: concat!(
            "How many comments the scope's posts received in the period.",
            instagram_days!()
        ),
        formula: "Σ comments over C and the days of P",
        objectives: &[Engagement],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "likes",
        tier: Tier::Quality,
        unit: "count",
        description: concat!(
            "How many likes the scope's posts received in the period.",
            instagram_days!()
        ),
        formula: "Σ likes over C and the days of P",
        objectives: &[Engagement],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "link_clicks",
        tier: Tier::Quality,
        unit: "count",
        description: concat!(
            "How often links in the scope's posts were clicked in the period. The step from attention to a visit.",
            instagram_days!()
        ),
        formula: "Σ link_clicks over C and the days of P",
        objectives: &[Engagement, Revenue],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "views",
        tier: Tier::Quality,
        unit: "count",
        description: concat!(
            "How often the scope's content was viewed in the period. A measure of reach.",
            instagram_days!()
        ),
        formula: "Σ views over C and the days of P",
        objectives: &[BrandAwareness],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "shares_per_day",
        tier: Tier::Quality,
        unit: "count_per_day",
        description: concat!(
            "Average number of shares per day of the period. Compares periods of different length.",
            instagram_days!()
        ),
        formula: "shares / number of days in P",
        objectives: &[BrandAwareness, Engagement],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "comments_per_post",
        tier: Tier::Quality,
        unit: "ratio",
        description: concat!(
            "Comments received per post published in the period. Shows whether posts start conversations.",
            instagram_days!()
        ),
        formula: "comments / posts, sums over P",
        objectives: &[Engagement],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "ipm",
        tier: Tier::Composite,
        unit: "per_mille",
        description: concat!(
            "Interactions per mille: comments, likes and posts per thousand followers. Conversocial's measure of how active an audience is relative to its size.",
            instagram_days!()
        ),
        formula: "(comments + likes + posts) / (followers / 1000), sums over P, followers at last",
        objectives: &[Engagement],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: Some(YOUTUBE_FOLLOWERS),
        version: 1,
    },
    KpiDefinition {
        id: "ipm_per_post",
        tier: Tier::Composite,
        unit: "per_mille",
        description: concat!(
            "Interactions per post per mille: comments and likes per post published in the period, per thousand followers. Conversocial's published IPM; it does not grow with the period's length, so it compares across periods and accounts.",
            instagram_days!()
        ),
        formula: "((comments + likes) / posts) / (followers / 1000), sums over P, followers at last",
        objectives: &[Engagement],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: Some(YOUTUBE_FOLLOWERS),
        version: 1,
    },
    KpiDefinition {
        id: "engagement_rate",
        tier: Tier::Composite,
        unit: "percent",
        description: concat!(
            "Likes, comments and shares in the period as a percentage of followers. The standard measure of how engaged an audience is.",
            instagram_days!()
        ),
        formula: "100 × (likes + comments + shares) / followers, sums over P, followers at last",
        objectives: &[Engagement, BrandAwareness],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: Some(YOUTUBE_FOLLOWERS),
        version: 1,
    },
    KpiDefinition {
        id: "engagement_rate_per_post",
        tier: Tier::Composite,
        unit: "percent",
        description: concat!(
            "Likes, comments and shares per post published in the period, as a percentage of followers: the engagement rate by followers per post that analysts compare across creators (typically single-digit percent). It does not grow with the period's length.",
            instagram_days!()
        ),
        formula: "100 × ((likes + comments + shares) / posts) / followers, sums over P, followers at last",
        objectives: &[Engagement, BrandAwareness],
        segment: SegmentUse::None,
        scopes: ALL_SCOPES,
        approximate: Some(YOUTUBE_FOLLOWERS),
        version: 1,
    },
    // ---- Web and shop ----
    KpiDefinition {
        id: "social_visitors",
        tier: Tier::Business,
        unit: "sessions",
        description: concat!(
            "Website sessions that came from social media (organic or paid) in the period. At influencer and campaign scope only those from the influencers' tracking values.",
            ga4_days!()
        ),
        formula: "Σ sessions of web rows with channel group Organic Social or Paid Social (influencer and campaign scope: and from I)",
        objectives: &[BrandAwareness, NewAudience],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "influencer_visitors",
        tier: Tier::Business,
        unit: "users",
        description: concat!(
            "Website users that came through the influencers' tracking links in the period. Daily users are summed, so a person visiting on two days counts twice.",
            ga4_days!()
        ),
        formula: "Σ users of web rows from I (any channel group)",
        objectives: &[NewAudience, BrandAwareness, Revenue],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "influencer_new_visitors",
        tier: Tier::Business,
        unit: "users",
        description: concat!(
            "First-time website users that came through the influencers' tracking links in the period.",
            ga4_days!()
        ),
        formula: "Σ new users of web rows from I",
        objectives: &[NewAudience, BrandAwareness],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "giveaway_entries",
        tier: Tier::Business,
        unit: "entries",
        description: "Entrants of the scope's giveaways, each entrant counted once per giveaway on the day of their first entry.",
        formula: "count of (giveaway, entrant) pairs of the scope's giveaways whose first entry falls in P",
        objectives: &[Engagement, NewAudience],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "code_buyers",
        tier: Tier::Business,
        unit: "customers",
        description: "Distinct customers who bought with an influencer's discount code in the period. A customer buying on several days counts once.",
        formula: "distinct customers with an order placed in P attributed to I by code",
        objectives: &[Revenue, LoyalCustomers],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "first_code_buyers",
        tier: Tier::Business,
        unit: "customers",
        description: "Customers whose first ever order with an influencer code was placed in the period through one of the scope's influencers. The cohort that loyalty is measured on.",
        formula: "customers whose first code order (ever) was placed in P and is attributed to I by code",
        objectives: &[LoyalCustomers, NewAudience, Revenue],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "returning_buyers_after_code",
        tier: Tier::Business,
        unit: "customers",
        description: "Of the period's first code buyers, those who ordered again within the returning-buyer window (default 90 days). Counted on the day of the first code order, so recent days can still grow.",
        formula: "first_code_buyers of P with another order placed after the first code order and at most the returning-buyer window after it",
        objectives: &[LoyalCustomers],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "returning_buyer_rate",
        tier: Tier::Business,
        unit: "percent",
        description: "Share of the period's first code buyers who came back to buy again within the returning-buyer window. The core loyalty measure.",
        formula: "100 × returning_buyers_after_code / first_code_buyers",
        objectives: &[LoyalCustomers],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "attributed_orders",
        tier: Tier::Business,
        unit: "orders",
        description: "Orders placed in the period that are attributed to the scope's influencers, by discount code first and tracking values second.",
        formula: "orders placed in P attributed to I",
        objectives: &[Revenue],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "attributed_revenue",
        tier: Tier::Business,
        unit: "money",
        description: "Revenue of the orders attributed to the scope's influencers in the period, after discounts and before tax and shipping.",
        formula: "Σ revenue of orders placed in P attributed to I",
        objectives: &[Revenue],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "fees",
        tier: Tier::Business,
        unit: "money",
        description: "Influencer fees allocated to the period, each campaign fee spread evenly over the campaign's days.",
        formula: "influencer fees of I allocated to P, each campaign fee spread evenly over [start, end]",
        objectives: &[Revenue],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "profit_per_visitor",
        tier: Tier::Business,
        unit: "money_per_user",
        description: concat!(
            "Gross profit of attributed orders minus influencer fees, per influencer visitor. Shows whether the traffic influencers send pays off.",
            ga4_days!()
        ),
        formula: "(Σ (revenue − cost of goods) of attributed orders in P − fees) / influencer_visitors",
        objectives: &[Revenue],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "roas",
        tier: Tier::Business,
        unit: "ratio",
        description: "Return on ad spend: attributed revenue per unit of influencer fees. Above 1 the influencers bring in more than they cost.",
        formula: "attributed_revenue / fees",
        objectives: &[Revenue],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "cost_per_engagement",
        tier: Tier::Business,
        unit: "money",
        description: concat!(
            "Influencer fees per like, comment or share on the influencers' channels. What one interaction costs.",
            instagram_days!()
        ),
        formula: "fees / (likes + comments + shares on influencer channels of the scope)",
        objectives: &[Engagement, Revenue],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    KpiDefinition {
        id: "cpm",
        tier: Tier::Business,
        unit: "money",
        description: concat!(
            "Cost per mille: influencer fees per thousand views on the influencers' channels. What reach costs.",
            instagram_days!()
        ),
        formula: "fees / (views on influencer channels of the scope / 1000)",
        objectives: &[BrandAwareness, Revenue],
        segment: SegmentUse::None,
        scopes: NOT_CHANNEL,
        approximate: None,
        version: 1,
    },
    // ---- Audience (segments) ----
    KpiDefinition {
        id: "segment_followers",
        tier: Tier::Audience,
        unit: "count",
        description: "Followers of the scope's channels on the last day of the period who match the segment. Each account counts once however many of the channels it follows.",
        formula: "audience members (platform, account id) following a channel of C on last that match the segment",
        objectives: &[NewAudience, BrandAwareness],
        segment: SegmentUse::Required,
        scopes: ALL_SCOPES,
        approximate: Some(AGE_BRACKETS_MEMBERS),
        version: 1,
    },
    KpiDefinition {
        id: "segment_shares",
        tier: Tier::Audience,
        unit: "count",
        description: "Shares of the scope's content in the period by accounts that match the segment.",
        formula: "share interactions on C in P whose account matched the segment with the attributes recorded with the interaction",
        objectives: &[NewAudience, Engagement],
        segment: SegmentUse::Required,
        scopes: ALL_SCOPES,
        approximate: Some(AGE_BRACKETS_MEMBERS),
        version: 1,
    },
    KpiDefinition {
        id: "segment_mentions",
        tier: Tier::Audience,
        unit: "count",
        description: "Mentions of the scope's channels in the period by accounts that match the segment.",
        formula: "mention interactions on C in P whose account matched the segment with the attributes recorded with the interaction",
        objectives: &[NewAudience, BrandAwareness],
        segment: SegmentUse::Required,
        scopes: ALL_SCOPES,
        approximate: Some(AGE_BRACKETS_MEMBERS),
        version: 1,
    },
    KpiDefinition {
        id: "followers_became_customers",
        tier: Tier::Audience,
        unit: "count",
        description: "Followers of the scope's channels on the last day of the period (optionally only those in a segment) who are linked to a shop customer with an order. Shows how far the audience turns into buyers.",
        formula: "members counted as in segment_followers (or all following members) linked to a shop customer id with an accepted order placed on or before last",
        objectives: &[LoyalCustomers, Revenue],
        segment: SegmentUse::Optional,
        scopes: ALL_SCOPES,
        approximate: Some(AGE_BRACKETS_MEMBERS),
        version: 1,
    },
    KpiDefinition {
        id: "target_audience_visitors",
        tier: Tier::Audience,
        unit: "users",
        description: concat!(
            "Website users in the period who match the segment. At influencer and campaign scope only those from the influencers' tracking values.",
            ga4_days!()
        ),
        formula: "Σ users of web rows in P that match the segment (influencer and campaign scope: from I)",
        objectives: &[NewAudience],
        segment: SegmentUse::Required,
        scopes: NOT_CHANNEL,
        approximate: Some(AGE_BRACKETS_WEB),
        version: 1,
    },
    KpiDefinition {
        id: "target_audience_growth",
        tier: Tier::Audience,
        unit: "users",
        description: concat!(
            "Change in target-audience website users compared with the previous period of equal length.",
            ga4_days!()
        ),
        formula: "target_audience_visitors(P) − target_audience_visitors(previous period)",
        objectives: &[NewAudience],
        segment: SegmentUse::Required,
        scopes: NOT_CHANNEL,
        approximate: Some(AGE_BRACKETS_WEB),
        version: 1,
    },
];

/// Every built-in KPI, in catalogue order.
#[must_use]
pub fn catalogue() -> &'static [KpiDefinition] {
    &CATALOGUE
}

/// The built-in KPI with this exact id, if any.
#[must_use]
pub fn find(id: &str) -> Option<&'static KpiDefinition> {
    CATALOGUE.iter().find(|k| k.id == id)
}

/// Suggested KPIs per objective, best first, with why each fits.
static SUGGESTIONS: [(Objective, &[(&str, &str)]); 5] = [
    (
        BrandAwareness,
        &[
            (
                "social_visitors",
                "Counts the people social media actually brings to the website, not just impressions.",
            ),
            (
                "follower_growth_pct",
                "Shows how fast the audience grows relative to its size, comparable across channels.",
            ),
            (
                "mentions",
                "Measures how often people bring up the brand themselves.",
            ),
            (
                "shares",
                "Each share carries the brand's content to people who did not follow it yet.",
            ),
            (
                "views",
                "Measures the reach of the content: how often it was seen.",
            ),
        ],
    ),
    (
        LoyalCustomers,
        &[
            (
                "returning_buyer_rate",
                "The share of first code buyers who come back to buy again is the core loyalty measure.",
            ),
            (
                "returning_buyers_after_code",
                "Counts the influencer-won customers who actually bought again.",
            ),
            (
                "first_code_buyers",
                "The cohort of new code customers that loyalty is built on and measured against.",
            ),
            (
                "followers_became_customers",
                "Shows how many followers have turned into customers.",
            ),
        ],
    ),
    (
        Revenue,
        &[
            (
                "roas",
                "Revenue per unit of influencer fees says directly whether the spend pays off.",
            ),
            (
                "profit_per_visitor",
                "Profit after fees per visitor shows whether influencer traffic is worth having.",
            ),
            (
                "attributed_revenue",
                "The revenue the influencers brought in, by code or tracking link.",
            ),
            (
                "attributed_orders",
                "The number of orders the influencers brought in, independent of basket size.",
            ),
        ],
    ),
    (
        Engagement,
        &[
            (
                "engagement_rate_per_post",
                "Likes, comments and shares per post relative to followers is the standard engagement measure, comparable across creators and periods of any length.",
            ),
            (
                "ipm_per_post",
                "Interactions per post per thousand followers shows how active the audience is relative to its size, whatever the period's length.",
            ),
            (
                "engagement_rate",
                "Likes, comments and shares relative to followers over the period; it grows with the period's length, so compare equal periods.",
            ),
            (
                "comments_per_post",
                "Comments per post shows whether content starts conversations.",
            ),
            (
                "cost_per_engagement",
                "What one interaction costs in influencer fees, to compare influencers on value.",
            ),
        ],
    ),
    (
        NewAudience,
        &[
            (
                "target_audience_visitors",
                "Counts visitors who belong to the audience you want to reach.",
            ),
            (
                "target_audience_growth",
                "Shows whether the target audience among visitors grows compared with the previous period.",
            ),
            (
                "segment_followers",
                "Counts followers who match the target segment.",
            ),
            (
                "influencer_new_visitors",
                "Counts first-time website users the influencers bring in.",
            ),
        ],
    ),
];

/// The few KPIs (3 to 5) that best fit an objective, best first, each with one sentence on
/// why it fits; value tiers come before vanity tiers.
#[must_use]
pub fn suggest(objective: Objective) -> Vec<(&'static KpiDefinition, &'static str)> {
    SUGGESTIONS
        .iter()
        .filter(|(o, _)| *o == objective)
        .flat_map(|(_, list)| list.iter())
        .filter_map(|(id, why)| find(id).map(|k| (k, *why)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The authoritative id list, in catalogue order.
    const EXPECTED_IDS: [&str; 37] = [
        "followers",
        "posts",
        "follower_growth",
        "follower_growth_pct",
        "mentions",
        "shares",
        "comments",
        "likes",
        "link_clicks",
        "views",
        "shares_per_day",
        "comments_per_post",
        "ipm",
        "ipm_per_post",
        "engagement_rate",
        "engagement_rate_per_post",
        "social_visitors",
        "influencer_visitors",
        "influencer_new_visitors",
        "giveaway_entries",
        "code_buyers",
        "first_code_buyers",
        "returning_buyers_after_code",
        "returning_buyer_rate",
        "attributed_orders",
        "attributed_revenue",
        "fees",
        "profit_per_visitor",
        "roas",
        "cost_per_engagement",
        "cpm",
        "segment_followers",
        "segment_shares",
        "segment_mentions",
        "followers_became_customers",
        "target_audience_visitors",
        "target_audience_growth",
    ];

    const UNITS: [&str; 12] = [
        "count",
        "percent",
        "per_mille",
        "count_per_day",
        "ratio",
        "sessions",
        "users",
        "entries",
        "customers",
        "orders",
        "money",
        "money_per_user",
    ];

    fn ids_where(pred: impl Fn(&KpiDefinition) -> bool) -> Vec<&'static str> {
        catalogue()
            .iter()
            .filter(|k| pred(k))
            .map(|k| k.id)
            .collect()
    }

    fn split(list: &str) -> HashSet<&str> {
        list.split(", ").collect()
    }

    #[test]
    fn ids_are_unique_and_exactly_the_expected_list_in_order() {
        let ids: Vec<&str> = catalogue().iter().map(|k| k.id).collect();
        assert_eq!(ids, EXPECTED_IDS);
        let unique: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "duplicate ids");
        assert_eq!(catalogue().len(), 37);
    }

    #[test]
    fn every_kpi_is_complete() {
        for k in catalogue() {
            assert!(!k.objectives.is_empty(), "{} has no objective", k.id);
            let objs: HashSet<_> = k.objectives.iter().collect();
            assert_eq!(
                objs.len(),
                k.objectives.len(),
                "{} repeats an objective",
                k.id
            );
            assert!(
                !k.description.trim().is_empty(),
                "{} has no description",
                k.id
            );
            assert!(!k.formula.trim().is_empty(), "{} has no formula", k.id);
            assert!(
                UNITS.contains(&k.unit),
                "{} has unknown unit {}",
                k.id,
                k.unit
            );
            assert_eq!(k.version, 1, "{}", k.id);
            assert!(!k.scopes.is_empty(), "{}", k.id);
            for s in [
                ScopeKind::Tenant,
                ScopeKind::Campaign,
                ScopeKind::Influencer,
            ] {
                assert!(k.applies_to(s), "{} must apply at {}", k.id, s.as_str());
            }
            if let Some(a) = k.approximate {
                assert!(!a.trim().is_empty(), "{}", k.id);
            }
        }
    }

    #[test]
    fn kpis_read_from_instagram_insights_or_ga4_name_the_zone_of_their_day() {
        for id in split(
            "shares, comments, likes, link_clicks, views, shares_per_day, comments_per_post, \
             ipm, ipm_per_post, engagement_rate, engagement_rate_per_post, cost_per_engagement, \
             cpm",
        ) {
            let k = find(id).unwrap();
            assert!(
                k.description
                    .contains("Instagram insights are Pacific days (America/Los_Angeles)"),
                "{id}: {}",
                k.description
            );
        }
        for id in split(
            "social_visitors, influencer_visitors, influencer_new_visitors, profit_per_visitor, \
             target_audience_visitors, target_audience_growth",
        ) {
            let k = find(id).unwrap();
            assert!(
                k.description.contains(
                    "Web traffic from GA4 is filed on the property's days, in the property's time zone"
                ),
                "{id}: {}",
                k.description
            );
        }
    }

    #[test]
    fn tiers_match_kpis_md() {
        let by_tier =
            |t: Tier| -> HashSet<&str> { ids_where(|k| k.tier == t).into_iter().collect() };
        assert_eq!(
            by_tier(Tier::Vanity),
            split("followers, posts, follower_growth")
        );
        assert_eq!(
            by_tier(Tier::Quality),
            split(
                "follower_growth_pct, mentions, shares, comments, likes, link_clicks, views, \
                 shares_per_day, comments_per_post"
            )
        );
        assert_eq!(
            by_tier(Tier::Composite),
            split("ipm, ipm_per_post, engagement_rate, engagement_rate_per_post")
        );
        assert_eq!(
            by_tier(Tier::Business),
            split(
                "social_visitors, influencer_visitors, influencer_new_visitors, giveaway_entries, \
                 code_buyers, first_code_buyers, returning_buyers_after_code, \
                 returning_buyer_rate, attributed_orders, attributed_revenue, fees, \
                 profit_per_visitor, roas, cost_per_engagement, cpm"
            )
        );
        assert_eq!(
            by_tier(Tier::Audience),
            split(
                "segment_followers, segment_shares, segment_mentions, \
                 followers_became_customers, target_audience_visitors, target_audience_growth"
            )
        );
    }

    #[test]
    fn units_match_kpis_md() {
        let unit = |id: &str| find(id).unwrap().unit;
        for id in [
            "followers",
            "posts",
            "mentions",
            "shares",
            "comments",
            "likes",
            "link_clicks",
            "views",
            "follower_growth",
            "segment_followers",
            "segment_shares",
            "segment_mentions",
            "followers_became_customers",
        ] {
            assert_eq!(unit(id), "count", "{id}");
        }
        for id in [
            "follower_growth_pct",
            "engagement_rate",
            "engagement_rate_per_post",
            "returning_buyer_rate",
        ] {
            assert_eq!(unit(id), "percent", "{id}");
        }
        assert_eq!(unit("shares_per_day"), "count_per_day");
        assert_eq!(unit("comments_per_post"), "ratio");
        assert_eq!(unit("roas"), "ratio");
        assert_eq!(unit("ipm"), "per_mille");
        assert_eq!(unit("ipm_per_post"), "per_mille");
        assert_eq!(unit("social_visitors"), "sessions");
        for id in [
            "influencer_visitors",
            "influencer_new_visitors",
            "target_audience_visitors",
            "target_audience_growth",
        ] {
            assert_eq!(unit(id), "users", "{id}");
        }
        assert_eq!(unit("giveaway_entries"), "entries");
        for id in [
            "code_buyers",
            "first_code_buyers",
            "returning_buyers_after_code",
        ] {
            assert_eq!(unit(id), "customers", "{id}");
        }
        assert_eq!(unit("attributed_orders"), "orders");
        for id in ["attributed_revenue", "fees", "cost_per_engagement", "cpm"] {
            assert_eq!(unit(id), "money", "{id}");
        }
        assert_eq!(unit("profit_per_visitor"), "money_per_user");
    }

    #[test]
    fn segment_use() {
        for k in catalogue() {
            let expected = match (k.tier, k.id) {
                (Tier::Audience, "followers_became_customers") => SegmentUse::Optional,
                (Tier::Audience, _) => SegmentUse::Required,
                _ => SegmentUse::None,
            };
            assert_eq!(k.segment, expected, "{}", k.id);
        }
    }

    #[test]
    fn channel_scope_applicability() {
        let at_channel: HashSet<&str> = ids_where(|k| k.applies_to(ScopeKind::Channel))
            .into_iter()
            .collect();
        let social: HashSet<&str> = EXPECTED_IDS[..16].iter().copied().collect();
        let audience_not_target = split(
            "segment_followers, segment_shares, segment_mentions, followers_became_customers",
        );
        let expected: HashSet<&str> = social.union(&audience_not_target).copied().collect();
        assert_eq!(at_channel, expected);

        let applies = |id: &str| find(id).unwrap().applies_to(ScopeKind::Channel);
        assert!(!applies("roas"));
        assert!(!applies("fees"));
        assert!(!applies("social_visitors"));
        assert!(!applies("cpm"));
        assert!(!applies("target_audience_visitors"));
        assert!(!applies("target_audience_growth"));
        assert!(applies("likes"));
        assert!(applies("engagement_rate"));
        assert!(applies("engagement_rate_per_post"));
        assert!(applies("ipm_per_post"));
        assert!(applies("segment_shares"));
        assert!(applies("followers_became_customers"));
    }

    #[test]
    fn suggest_returns_three_to_five_fitting_kpis() {
        for o in Objective::ALL {
            let s = suggest(o);
            assert!(
                (3..=5).contains(&s.len()),
                "{} has {} suggestions",
                o.as_str(),
                s.len()
            );
            let ids: HashSet<&str> = s.iter().map(|(k, _)| k.id).collect();
            assert_eq!(ids.len(), s.len(), "{} repeats a KPI", o.as_str());
            for (k, why) in &s {
                assert!(
                    k.objectives.contains(&o),
                    "{} suggested for {} but does not list it",
                    k.id,
                    o.as_str()
                );
                assert!(!why.trim().is_empty(), "{}", k.id);
            }
            // Value before vanity: no vanity KPI ranks above a non-vanity one.
            let first_vanity = s.iter().position(|(k, _)| k.tier == Tier::Vanity);
            if let Some(i) = first_vanity {
                assert!(s[i..].iter().all(|(k, _)| k.tier == Tier::Vanity));
            }
        }
        // Every suggestion table entry resolves to a catalogue KPI.
        for (_, list) in &SUGGESTIONS {
            for (id, _) in *list {
                assert!(find(id).is_some(), "unknown suggested id {id}");
            }
        }
        let first = |o: Objective| suggest(o)[0].0.id;
        assert_eq!(first(Objective::LoyalCustomers), "returning_buyer_rate");
        assert_eq!(first(Objective::NewAudience), "target_audience_visitors");
        assert_eq!(first(Objective::Engagement), "engagement_rate_per_post");
        assert_eq!(first(Objective::Revenue), "roas");
    }

    #[test]
    fn find_known_and_unknown() {
        assert_eq!(find("roas").map(|k| k.tier), Some(Tier::Business));
        assert!(find("nope").is_none());
        assert!(find("").is_none());
        assert!(find("ROAS").is_none());
        for k in catalogue() {
            assert!(std::ptr::eq(find(k.id).unwrap(), k));
        }
    }

    #[test]
    fn objective_parse_round_trips() {
        for o in Objective::ALL {
            assert_eq!(Objective::parse(o.as_str()), Some(o));
        }
        assert_eq!(
            Objective::parse("brand_awareness"),
            Some(Objective::BrandAwareness)
        );
        assert_eq!(Objective::parse("Revenue"), None);
        assert_eq!(Objective::parse(""), None);
    }

    #[test]
    fn as_str_names() {
        assert_eq!(Tier::Composite.as_str(), "composite");
        assert_eq!(RollUp::Distinct.as_str(), "distinct");
        assert_eq!(ScopeKind::Influencer.as_str(), "influencer");
        assert_eq!(Objective::NewAudience.as_str(), "new_audience");
    }

    #[test]
    fn approximate_inputs_are_flagged() {
        for id in [
            "followers",
            "follower_growth",
            "follower_growth_pct",
            "ipm",
            "ipm_per_post",
            "engagement_rate",
            "engagement_rate_per_post",
            "target_audience_visitors",
        ] {
            assert!(find(id).unwrap().approximate.is_some(), "{id}");
        }
        assert!(find("roas").unwrap().approximate.is_none());
    }
}
