//! The row types, one a kind of file: their columns and their conversion into the
//! protobuf row IngestService takes.
use super::FileRow;
use super::values::{date, minor_units, name, time};
use crate::proto;
use serde::Deserialize;

/// An order row: `order_id,customer_id,customer_email,placed_at,currency,revenue,
/// cost_of_goods,discount,discount_codes,utm_source,utm_medium,utm_campaign`.
#[derive(Debug, Deserialize)]
pub struct OrderRow {
    order_id: String,
    #[serde(default)]
    customer_id: String,
    #[serde(default)]
    customer_email: String,
    placed_at: String,
    currency: String,
    revenue: String,
    #[serde(default)]
    cost_of_goods: String,
    #[serde(default)]
    discount: String,
    #[serde(default)]
    discount_codes: String,
    #[serde(default)]
    utm_source: String,
    #[serde(default)]
    utm_medium: String,
    #[serde(default)]
    utm_campaign: String,
}

impl FileRow for OrderRow {
    type Proto = proto::Order;
    fn into_proto(self) -> Result<proto::Order, String> {
        let money = |column: &str, value: &str| {
            if value.trim().is_empty() {
                Ok(0)
            } else {
                minor_units(value, &self.currency).map_err(|e| format!("{column}: {e}"))
            }
        };
        Ok(proto::Order {
            revenue_minor: money("revenue", &self.revenue)?,
            cost_of_goods_minor: money("cost_of_goods", &self.cost_of_goods)?,
            discount_minor: money("discount", &self.discount)?,
            placed_at: time("placed_at", &self.placed_at)?,
            discount_codes: self
                .discount_codes
                .split(';')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect(),
            order_id: self.order_id,
            customer_id: self.customer_id,
            customer_email: self.customer_email,
            currency_code: self.currency,
            utm_source: self.utm_source,
            utm_medium: self.utm_medium,
            utm_campaign: self.utm_campaign,
        })
    }
}

/// An order to remove: `order_id`.
#[derive(Debug, Deserialize)]
pub struct OrderDeletionRow {
    order_id: String,
}

/// The id of an order to remove, as DeleteOrders takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderDeletion(pub String);

impl FileRow for OrderDeletionRow {
    type Proto = OrderDeletion;
    fn into_proto(self) -> Result<OrderDeletion, String> {
        Ok(OrderDeletion(self.order_id))
    }
}

/// A channel day row: `channel,day,followers,posts,mentions,shares,comments,likes,
/// link_clicks,views,reach`; an empty count is "not reported".
#[derive(Debug, Deserialize)]
pub struct ChannelStatsRow {
    channel: String,
    day: String,
    followers: Option<i64>,
    posts: Option<i64>,
    mentions: Option<i64>,
    shares: Option<i64>,
    comments: Option<i64>,
    likes: Option<i64>,
    link_clicks: Option<i64>,
    views: Option<i64>,
    reach: Option<i64>,
}

impl FileRow for ChannelStatsRow {
    type Proto = proto::ChannelDayStats;
    fn into_proto(self) -> Result<Self::Proto, String> {
        Ok(proto::ChannelDayStats {
            channel: name("channels", &self.channel),
            day: date("day", &self.day)?,
            followers: self.followers,
            posts: self.posts,
            mentions: self.mentions,
            shares: self.shares,
            comments: self.comments,
            likes: self.likes,
            link_clicks: self.link_clicks,
            views: self.views,
            reach: self.reach,
        })
    }
}

/// A web traffic row: `day,source,medium,campaign,default_channel_group,age_bracket,age,
/// country,is_customer,sessions,users,new_users`.
#[derive(Debug, Deserialize)]
pub struct WebTrafficFileRow {
    day: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    medium: String,
    #[serde(default)]
    campaign: String,
    #[serde(default)]
    default_channel_group: String,
    #[serde(default)]
    age_bracket: String,
    age: Option<i32>,
    #[serde(default)]
    country: String,
    is_customer: Option<bool>,
    sessions: i64,
    users: i64,
    new_users: i64,
}

impl FileRow for WebTrafficFileRow {
    type Proto = proto::WebTrafficRow;
    fn into_proto(self) -> Result<Self::Proto, String> {
        Ok(proto::WebTrafficRow {
            day: date("day", &self.day)?,
            source: self.source,
            medium: self.medium,
            campaign: self.campaign,
            default_channel_group: self.default_channel_group,
            age_bracket: self.age_bracket,
            age: self.age,
            country: self.country,
            is_customer: self.is_customer,
            sessions: self.sessions,
            users: self.users,
            new_users: self.new_users,
        })
    }
}

/// An audience member row: `channel,account_id,customer_id,first_seen,last_seen,bio,
/// followers,influence_score,age,country`.
// The attribute columns are listed here and in InteractionRow rather than in a shared
// `#[serde(flatten)]` struct: csv hands a flattened struct every value as text, and an
// empty followers, influence_score or age then failed instead of reading as missing.
#[derive(Debug, Deserialize)]
pub struct AudienceMemberRow {
    channel: String,
    account_id: String,
    #[serde(default)]
    customer_id: String,
    first_seen: String,
    #[serde(default)]
    last_seen: String,
    #[serde(default)]
    bio: String,
    followers: Option<i64>,
    influence_score: Option<f64>,
    age: Option<i32>,
    #[serde(default)]
    country: String,
}

impl FileRow for AudienceMemberRow {
    type Proto = proto::AudienceMember;
    fn into_proto(self) -> Result<Self::Proto, String> {
        Ok(proto::AudienceMember {
            channel: name("channels", &self.channel),
            account_id: self.account_id,
            customer_id: self.customer_id,
            first_seen: date("first_seen", &self.first_seen)?,
            last_seen: date("last_seen", &self.last_seen)?,
            attributes: Some(proto::MemberAttributes {
                bio: self.bio,
                followers: self.followers,
                influence_score: self.influence_score,
                age: self.age,
                country: self.country,
                is_customer: None,
            }),
        })
    }
}

/// An interaction row: `channel,interaction_id,kind,account_id,occurred_at,bio,followers,
/// influence_score,age,country,is_customer`; kind is mention, share, comment, like or
/// link_click.
#[derive(Debug, Deserialize)]
pub struct InteractionRow {
    channel: String,
    interaction_id: String,
    kind: String,
    account_id: String,
    occurred_at: String,
    #[serde(default)]
    bio: String,
    followers: Option<i64>,
    influence_score: Option<f64>,
    age: Option<i32>,
    #[serde(default)]
    country: String,
    is_customer: Option<bool>,
}

impl FileRow for InteractionRow {
    type Proto = proto::Interaction;
    fn into_proto(self) -> Result<Self::Proto, String> {
        let kind = match self.kind.trim().to_ascii_lowercase().as_str() {
            "mention" => proto::InteractionKind::Mention,
            "share" | "retweet" | "repost" => proto::InteractionKind::Share,
            "comment" => proto::InteractionKind::Comment,
            "like" => proto::InteractionKind::Like,
            "link_click" => proto::InteractionKind::LinkClick,
            other => {
                return Err(format!(
                    "kind: `{other}` is not mention, share, comment, like or link_click"
                ));
            }
        };
        Ok(proto::Interaction {
            channel: name("channels", &self.channel),
            interaction_id: self.interaction_id,
            kind: kind as i32,
            account_id: self.account_id,
            occurred_at: time("occurred_at", &self.occurred_at)?,
            attributes: Some(proto::MemberAttributes {
                bio: self.bio,
                followers: self.followers,
                influence_score: self.influence_score,
                age: self.age,
                country: self.country,
                is_customer: self.is_customer,
            }),
        })
    }
}

/// A giveaway entry row: `giveaway_id,entrant,entered_at`.
#[derive(Debug, Deserialize)]
pub struct GiveawayEntryRow {
    giveaway_id: String,
    entrant: String,
    entered_at: String,
}

impl FileRow for GiveawayEntryRow {
    type Proto = proto::GiveawayEntry;
    fn into_proto(self) -> Result<Self::Proto, String> {
        Ok(proto::GiveawayEntry {
            giveaway_id: self.giveaway_id,
            entrant: self.entrant,
            entered_at: time("entered_at", &self.entered_at)?,
        })
    }
}

/// A metric point row: `metric_key,scope,day,value`.
#[derive(Debug, Deserialize)]
pub struct MetricPointRow {
    metric_key: String,
    scope: String,
    day: String,
    value: f64,
}

impl FileRow for MetricPointRow {
    type Proto = proto::MetricPoint;
    fn into_proto(self) -> Result<Self::Proto, String> {
        Ok(proto::MetricPoint {
            metric_key: self.metric_key,
            scope: self.scope,
            day: date("day", &self.day)?,
            value: self.value,
        })
    }
}
