//! The parts KPIs are computed from: aggregates that storage reads from observations and
//! the KPI math combines. Plain data, no I/O.
use chrono::{DateTime, NaiveDate, Utc};

/// The summable fields of channel day stats, in this order everywhere.
pub const SOCIAL_FIELDS: [&str; 7] = [
    "posts",
    "mentions",
    "shares",
    "comments",
    "likes",
    "link_clicks",
    "views",
];

/// Sums of one channel's day stats over a period.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelSums {
    /// Rows of the channel in the period.
    pub rows: i64,
    /// Per field of [`SOCIAL_FIELDS`]: the sum of non-NULL values, None when every row had
    /// the field NULL. A float: counts at their bound (1e15) in enough rows pass the i64
    /// range, and a KPI value is an f64 in the end anyway (exact to 2^53).
    pub sums: [Option<f64>; 7],
}

/// Web traffic of a period summed per tracking combination and channel group.
#[derive(Clone, Debug, PartialEq)]
pub struct WebGroup {
    /// Lowercased source.
    pub source_key: String,
    /// Lowercased campaign.
    pub campaign_key: String,
    /// Default channel group as reported.
    pub channel_group: String,
    /// Σ sessions; sums are floats for the reason given at [`ChannelSums::sums`].
    pub sessions: f64,
    /// Σ users.
    pub users: f64,
    /// Σ new users.
    pub new_users: f64,
}

/// Audience counts of one group of channels on a day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AudienceCounts {
    /// Distinct members following any channel of the group.
    pub following: i64,
    /// Of those, distinct members matching the segment.
    pub matching: i64,
    /// Of the matching ones, those linked to a customer with an order on or before the day.
    pub customers: i64,
}

/// One order with what attribution needs.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderFact {
    /// Order id.
    pub order_id: String,
    /// Customer key, None for orders with no customer.
    pub customer_key: Option<String>,
    /// When placed.
    pub placed_at: DateTime<Utc>,
    /// The tenant's day.
    pub day: NaiveDate,
    /// Revenue in minor units.
    pub revenue_minor: i64,
    /// Cost of goods in minor units.
    pub cost_minor: i64,
    /// Lowercased utm_source.
    pub source_key: String,
    /// Lowercased utm_campaign.
    pub campaign_key: String,
    /// The influencer of the first listed code that belongs to any influencer.
    pub code_influencer: Option<String>,
}
