//! Observations: the raw, dated facts KPIs are computed from, as plain values with the
//! rules every row must meet. Conversion from the wire and reference checks live in the
//! API and storage layers.
use super::channel::Platform;
use super::goal::Scope;
use super::influencer::code_key;
use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

/// A rule a row breaks: the field (relative to the row) and why.
pub type RowError = (String, String);

/// Result of checking one row.
pub type RowResult<T> = Result<T, RowError>;

fn err<T>(field: &str, reason: impl Into<String>) -> RowResult<T> {
    Err((field.to_string(), reason.into()))
}

/// The tenant's calendar day of an instant, DST included (KPIS.md: days).
pub fn local_day(instant: DateTime<Utc>, time_zone: chrono_tz::Tz) -> NaiveDate {
    instant.with_timezone(&time_zone).date_naive()
}

/// Hex SHA-256, used for natural keys and for identities that must not be stored in clear.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The per-deployment secret that keys the stored hashes of e-mail addresses, so that
/// a known address cannot be matched against stored rows by whoever reads the database.
///
/// The key is HMAC-SHA256 over the address's SHA-256 digest rather than over the address:
/// rows stored before the secret existed (`e:<sha256>`) move to the keyed form in place,
/// without the addresses (see `Store::rekey_customers`), and a customer keeps one key
/// across old and new rows. Changing the secret afterwards splits every guest in two.
#[derive(Clone)]
pub struct CustomerKeySecret(std::sync::Arc<[u8]>);

impl std::fmt::Debug for CustomerKeySecret {
    // Never prints the secret, should settings end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerKeySecret(..)")
    }
}

/// Prefix of a keyed e-mail hash: `k:<hex HMAC-SHA256(secret, sha256_hex(e-mail))>`.
pub const KEYED_PREFIX: &str = "k:";

/// Prefix of an unkeyed e-mail hash of earlier versions: `e:<hex SHA-256(e-mail)>`.
pub const DIGEST_PREFIX: &str = "e:";

impl CustomerKeySecret {
    /// Fewest bytes a secret may have.
    pub const MIN_LEN: usize = 16;

    /// A secret from its bytes; Err when shorter than [`Self::MIN_LEN`].
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < Self::MIN_LEN {
            return Err(format!(
                "must be at least {} bytes (such as the output of `openssl rand -hex 32`)",
                Self::MIN_LEN
            ));
        }
        Ok(CustomerKeySecret(secret.into()))
    }

    /// The fixed secret of demos, tests and explicit development setups. It is public,
    /// so it protects nothing: production sets its own.
    pub fn development() -> Self {
        CustomerKeySecret(
            b"tally development customer key; not a secret"
                .as_slice()
                .into(),
        )
    }

    /// The stored key of an e-mail address: trimmed and lowercased, then keyed.
    pub fn email_key(&self, email: &str) -> String {
        self.key_digest(&sha256_hex(&email.trim().to_lowercase()))
    }

    /// The keyed form of an e-mail's hex SHA-256 digest.
    fn key_digest(&self, digest_hex: &str) -> String {
        use hmac::{KeyInit, Mac};
        let mut mac =
            hmac::Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(digest_hex.as_bytes());
        let tag = mac.finalize().into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        format!("{KEYED_PREFIX}{hex}")
    }

    /// The keyed form of a stored key of earlier versions (`e:` and 64 lowercase hex
    /// digits); None for any other text, which stays as it is.
    pub fn rekey(&self, stored: &str) -> Option<String> {
        let digest = stored.strip_prefix(DIGEST_PREFIX)?;
        let is_digest = digest.len() == 64
            && digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        is_digest.then(|| self.key_digest(digest))
    }
}

/// The customer key of an order: `c:<id>` for a shop customer id, the keyed hash (`k:`)
/// of the trimmed, lowercased e-mail of a guest, None when neither is known. The prefixes
/// keep a guest apart from any registered id (KPIS.md: customers).
pub fn customer_key(customer_id: &str, email: &str, secret: &CustomerKeySecret) -> Option<String> {
    if !customer_id.is_empty() {
        Some(format!("c:{customer_id}"))
    } else if !email.trim().is_empty() {
        Some(secret.email_key(email))
    } else {
        None
    }
}

/// Largest count or amount in minor units a row may carry: far above any real figure, and
/// low enough that sums over years of daily rows stay far from `i64::MAX`.
pub const MAX_COUNT: i64 = 1_000_000_000_000_000;

/// Largest magnitude of a measured value that is not a count (a pushed metric point, an
/// influence score, a goal's baseline or target): the same 1e15 as [`MAX_COUNT`]. Finite
/// values far beyond it (1.7e308) overflow the first sum they enter.
pub const MAX_VALUE: f64 = 1e15;

/// Checks a measured value: finite and at most [`MAX_VALUE`] in magnitude.
pub fn check_value(value: f64) -> Result<f64, String> {
    if !value.is_finite() {
        Err("must be a finite number".into())
    } else if value.abs() > MAX_VALUE {
        Err(format!(
            "is {value:e}; values beyond ±{MAX_VALUE:e} are not plausible"
        ))
    } else {
        Ok(value)
    }
}

/// Checks a count that must be neither negative nor above [`MAX_COUNT`].
pub fn check_count(field: &str, value: i64) -> RowResult<i64> {
    if value < 0 {
        err(field, format!("is {value}; counts must not be negative"))
    } else if value > MAX_COUNT {
        err(
            field,
            format!("is {value}; counts and amounts above {MAX_COUNT} are not plausible"),
        )
    } else {
        Ok(value)
    }
}

/// Checks an optional identifier-like text of at most `max` characters, no control chars.
pub fn check_label(field: &str, value: &str, max: usize, required: bool) -> RowResult<String> {
    if required && value.trim().is_empty() {
        return err(field, "is required");
    }
    if value.chars().count() > max {
        return err(field, format!("is longer than {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return err(field, "must not contain control characters");
    }
    Ok(value.to_string())
}

/// One day of a channel's statistics; None is a field the platform does not report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelDayStats {
    /// Channel id.
    pub channel_id: String,
    /// The day.
    pub day: NaiveDate,
    /// Followers at the end of the day.
    pub followers: Option<i64>,
    /// Posts.
    pub posts: Option<i64>,
    /// Mentions.
    pub mentions: Option<i64>,
    /// Shares.
    pub shares: Option<i64>,
    /// Comments.
    pub comments: Option<i64>,
    /// Likes.
    pub likes: Option<i64>,
    /// Link clicks.
    pub link_clicks: Option<i64>,
    /// Views.
    pub views: Option<i64>,
    /// Reach.
    pub reach: Option<i64>,
}

impl ChannelDayStats {
    /// Checks every rule a row meets, whoever reports it (IngestChannelStats, the social
    /// connectors, the demo): each reported count neither negative nor above
    /// [`MAX_COUNT`], the first breach named.
    pub fn check(&self) -> RowResult<()> {
        let counts = [
            ("followers", self.followers),
            ("posts", self.posts),
            ("mentions", self.mentions),
            ("shares", self.shares),
            ("comments", self.comments),
            ("likes", self.likes),
            ("link_clicks", self.link_clicks),
            ("views", self.views),
            ("reach", self.reach),
        ];
        for (field, value) in counts {
            if let Some(value) = value {
                check_count(field, value)?;
            }
        }
        Ok(())
    }
}

/// Web traffic of one day for one combination of dimensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebTraffic {
    /// The day.
    pub day: NaiveDate,
    /// Session source.
    pub source: String,
    /// Session medium.
    pub medium: String,
    /// Session campaign.
    pub campaign: String,
    /// Default channel group.
    pub channel_group: String,
    /// Reported age bracket.
    pub age_bracket: Option<String>,
    /// Exact age.
    pub age: Option<i32>,
    /// Country.
    pub country: Option<String>,
    /// Whether customers.
    pub is_customer: Option<bool>,
    /// Sessions.
    pub sessions: i64,
    /// Users.
    pub users: i64,
    /// New users.
    pub new_users: i64,
}

impl WebTraffic {
    /// The natural key of the row: a digest of the day's dimensions.
    pub fn row_key(&self) -> String {
        let opt = |v: &Option<String>| {
            v.as_deref()
                .map(|s| format!("+{s}"))
                .unwrap_or_else(|| "-".into())
        };
        let parts = [
            self.source.clone(),
            self.medium.clone(),
            self.campaign.clone(),
            self.channel_group.clone(),
            opt(&self.age_bracket),
            self.age
                .map(|a| format!("+{a}"))
                .unwrap_or_else(|| "-".into()),
            opt(&self.country),
            self.is_customer
                .map(|b| format!("+{b}"))
                .unwrap_or_else(|| "-".into()),
        ];
        sha256_hex(&parts.join("\u{0}"))
    }

    /// Checks every rule a row meets, whoever reports it (IngestWebTraffic, GA4): labels
    /// bounded and free of control characters, counts bounded, new users at most users,
    /// a plausible age. The error names the first field that breaks one.
    pub fn check(&self) -> RowResult<()> {
        check_label("source", &self.source, 200, false)?;
        check_label("medium", &self.medium, 200, false)?;
        check_label("campaign", &self.campaign, 200, false)?;
        check_label("default_channel_group", &self.channel_group, 100, false)?;
        if let Some(bracket) = &self.age_bracket {
            check_label("age_bracket", bracket, 16, false)?;
        }
        if let Some(country) = &self.country {
            check_label("country", country, 64, false)?;
        }
        check_count("sessions", self.sessions)?;
        check_count("users", self.users)?;
        check_count("new_users", self.new_users)?;
        if self.new_users > self.users {
            return err(
                "new_users",
                format!("{} is more than users {}", self.new_users, self.users),
            );
        }
        if let Some(age) = self.age
            && !(0..=150).contains(&age)
        {
            return err("age", format!("{age} is not an age in years"));
        }
        Ok(())
    }
}

/// A shop order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// Shop order id.
    pub order_id: String,
    /// Customer key (see [`customer_key`]).
    pub customer_key: Option<String>,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// The tenant's day of `placed_at`.
    pub day: NaiveDate,
    /// Revenue in minor units.
    pub revenue_minor: i64,
    /// Cost of goods in minor units.
    pub cost_minor: i64,
    /// Discount in minor units.
    pub discount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Discount codes as listed, trimmed.
    pub codes: Vec<String>,
    /// utm_source.
    pub utm_source: String,
    /// utm_medium.
    pub utm_medium: String,
    /// utm_campaign.
    pub utm_campaign: String,
}

/// Most discount codes on one order.
pub const MAX_CODES: usize = 20;

/// Who placed an order, as a source knows it.
#[derive(Clone, Copy, Debug)]
pub enum OrderCustomer<'a> {
    /// A shop customer id and an e-mail address (either may be empty), keyed here.
    Given {
        /// Shop customer id.
        id: &'a str,
        /// E-mail address.
        email: &'a str,
    },
    /// A key computed earlier by [`customer_key`] (a connector keeps no address).
    Keyed(Option<&'a str>),
}

/// The facts of an order as a source reports them, before the rules of [`Order::new`].
#[derive(Clone, Debug)]
pub struct OrderFields<'a> {
    /// Shop order id.
    pub order_id: &'a str,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// Currency code as sent (trimmed and uppercased here).
    pub currency: &'a str,
    /// Revenue in minor units.
    pub revenue_minor: i64,
    /// Cost of goods in minor units.
    pub cost_minor: i64,
    /// Discount in minor units.
    pub discount_minor: i64,
    /// Discount codes as listed.
    pub codes: &'a [String],
    /// Who placed it.
    pub customer: OrderCustomer<'a>,
    /// utm_source.
    pub utm_source: &'a str,
    /// utm_medium.
    pub utm_medium: &'a str,
    /// utm_campaign.
    pub utm_campaign: &'a str,
}

/// What an order is checked against: the tenant's zone and currency, the customer secret.
#[derive(Clone, Copy, Debug)]
pub struct OrderContext<'a> {
    /// The tenant's time zone, which gives the order its day.
    pub time_zone: chrono_tz::Tz,
    /// The tenant's currency.
    pub currency: &'a str,
    /// The secret that keys guests' e-mail addresses.
    pub customer_keys: &'a CustomerKeySecret,
}

impl Order {
    /// Checks an order id: 1 to 128 characters, no control characters. Deleting by id
    /// uses the same rule, so every stored id can be named.
    pub fn check_id(order_id: &str) -> RowResult<String> {
        check_label("order_id", order_id, 128, true)
    }

    /// Checks a currency code against the tenant's (`currency_code` on failure); the
    /// normalised code when they agree. Connectors skip an order on this error alone.
    pub fn check_currency(code: &str, tenant_currency: &str) -> RowResult<String> {
        let normal = code.trim().to_ascii_uppercase();
        if normal == tenant_currency {
            return Ok(normal);
        }
        let reason = if super::tenant::check_currency(&normal).is_err() {
            format!(
                "`{}` is not an ISO 4217 currency code",
                super::names::shorten(code)
            )
        } else {
            format!(
                "{normal} is not the tenant's currency {tenant_currency}; convert before sending"
            )
        };
        err("currency_code", reason)
    }

    /// An order that meets every rule, whoever reports it (IngestOrders, a shop
    /// connector); the error names the first field that breaks one, in the order below.
    pub fn new(fields: OrderFields<'_>, context: &OrderContext<'_>) -> RowResult<Order> {
        let order_id = Order::check_id(fields.order_id)?;
        let placed_at = fields.placed_at;
        if !(1970..=9999).contains(&chrono::Datelike::year(&placed_at)) {
            return err("placed_at", "is not a valid time between 1970 and 9999");
        }
        let currency = Order::check_currency(fields.currency, context.currency)?;
        if fields.codes.len() > MAX_CODES {
            return err(
                "discount_codes",
                format!("at most {MAX_CODES} codes per order"),
            );
        }
        let codes = fields
            .codes
            .iter()
            .enumerate()
            .map(|(i, c)| check_label(&format!("discount_codes[{i}]"), c.trim(), 64, true))
            .collect::<RowResult<Vec<_>>>()?;
        let customer_key = match fields.customer {
            OrderCustomer::Given { id, email } => customer_key(
                &check_label("customer_id", id.trim(), 128, false)?,
                &check_label("customer_email", email, 320, false)?,
                context.customer_keys,
            ),
            OrderCustomer::Keyed(key) => key.map(str::to_string),
        };
        Ok(Order {
            customer_key,
            day: local_day(placed_at, context.time_zone),
            placed_at,
            revenue_minor: check_count("revenue_minor", fields.revenue_minor)?,
            cost_minor: check_count("cost_of_goods_minor", fields.cost_minor)?,
            discount_minor: check_count("discount_minor", fields.discount_minor)?,
            currency,
            codes,
            utm_source: check_label("utm_source", fields.utm_source, 200, false)?,
            utm_medium: check_label("utm_medium", fields.utm_medium, 200, false)?,
            utm_campaign: check_label("utm_campaign", fields.utm_campaign, 200, false)?,
            order_id,
        })
    }

    /// The keys of the order's codes, in listed order (see [`code_key`]).
    pub fn code_keys(&self) -> Vec<String> {
        self.codes.iter().map(|c| code_key(c)).collect()
    }
}

/// Attributes of an account that segment rules test.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MemberAttributes {
    /// Profile text.
    pub bio: Option<String>,
    /// Own follower count.
    pub followers: Option<i64>,
    /// Influence score.
    pub influence_score: Option<f64>,
    /// Age in years.
    pub age: Option<i32>,
    /// Country.
    pub country: Option<String>,
    /// Whether a customer.
    pub is_customer: Option<bool>,
}

impl MemberAttributes {
    /// Checks every rule attributes meet, whoever reports them: texts bounded and free of
    /// control characters, counts not negative, ages plausible, scores finite and bounded.
    pub fn check(&self) -> RowResult<()> {
        if let Some(bio) = &self.bio {
            check_label("attributes.bio", bio, 2000, false)?;
        }
        if let Some(country) = &self.country {
            check_label("attributes.country", country, 64, false)?;
        }
        if let Some(f) = self.followers {
            check_count("attributes.followers", f)?;
        }
        if let Some(s) = self.influence_score
            && let Err(reason) = check_value(s)
        {
            return err("attributes.influence_score", reason);
        }
        if let Some(age) = self.age
            && !(0..=150).contains(&age)
        {
            return err("attributes.age", format!("{age} is not an age in years"));
        }
        Ok(())
    }
}

/// An account following a channel.
#[derive(Clone, Debug, PartialEq)]
pub struct AudienceMember {
    /// Platform of the channel, and so of the account.
    pub platform: Platform,
    /// The account id.
    pub account_id: String,
    /// The followed channel's id.
    pub channel_id: String,
    /// Attributes.
    pub attributes: MemberAttributes,
    /// Linked shop customer id.
    pub customer_id: Option<String>,
    /// First day seen following.
    pub first_seen: NaiveDate,
    /// Last day seen following.
    pub last_seen: Option<NaiveDate>,
}

impl AudienceMember {
    /// Checks every rule a row meets, whoever reports it (IngestAudienceMembers, a
    /// connector): last seen not before first seen, attributes valid and without
    /// `is_customer` (it is derived from the customer id), an account id of 1 to 200
    /// characters and a customer id of at most 128. The error names the first field that
    /// breaks one, in that order.
    pub fn check(&self) -> RowResult<()> {
        if let Some(last) = self.last_seen
            && last < self.first_seen
        {
            return err(
                "last_seen",
                format!("is before first_seen {}", self.first_seen),
            );
        }
        self.attributes.check()?;
        if self.attributes.is_customer.is_some() {
            return err(
                "attributes.is_customer",
                "is derived from customer_id for audience members; leave it unset",
            );
        }
        check_label("account_id", &self.account_id, 200, true)?;
        if let Some(customer) = &self.customer_id {
            check_label("customer_id", customer, 128, false)?;
        }
        Ok(())
    }
}

/// Kind of interaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InteractionKind {
    /// A mention.
    Mention,
    /// A share.
    Share,
    /// A comment.
    Comment,
    /// A like.
    Like,
    /// A link click.
    LinkClick,
}

impl InteractionKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            InteractionKind::Mention => "mention",
            InteractionKind::Share => "share",
            InteractionKind::Comment => "comment",
            InteractionKind::Like => "like",
            InteractionKind::LinkClick => "link_click",
        }
    }
}

/// One interaction with a channel's content.
#[derive(Clone, Debug, PartialEq)]
pub struct Interaction {
    /// Channel id.
    pub channel_id: String,
    /// Platform's interaction id.
    pub interaction_id: String,
    /// Kind.
    pub kind: InteractionKind,
    /// Platform of the channel.
    pub platform: Platform,
    /// Interacting account.
    pub account_id: String,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// The tenant's day of `occurred_at`.
    pub day: NaiveDate,
    /// Attributes at the time.
    pub attributes: MemberAttributes,
}

impl Interaction {
    /// Checks every rule a row meets, whoever reports it (IngestInteractions, a
    /// connector): interaction and account ids of 1 to 200 characters, valid attributes.
    /// The error names the first field that breaks one, in that order.
    pub fn check(&self) -> RowResult<()> {
        check_label("interaction_id", &self.interaction_id, 200, true)?;
        check_label("account_id", &self.account_id, 200, true)?;
        self.attributes.check()
    }
}

/// One giveaway entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GiveawayEntry {
    /// Giveaway id.
    pub giveaway_id: String,
    /// Entrant: an account id, or the keyed hash (`k:`) of an e-mail address.
    pub entrant_key: String,
    /// When.
    pub entered_at: DateTime<Utc>,
    /// The tenant's day of `entered_at`.
    pub day: NaiveDate,
}

impl GiveawayEntry {
    /// Checks a giveaway id (the rule of every resource id).
    pub fn check_id(giveaway_id: &str) -> RowResult<()> {
        super::names::check_id(giveaway_id).map_err(|reason| ("giveaway_id".into(), reason))
    }

    /// Checks an entrant as sent: 1 to 320 characters once trimmed, no control characters.
    pub fn check_entrant(entrant: &str) -> RowResult<String> {
        check_label("entrant", entrant.trim(), 320, true)
    }

    /// An entry that meets every rule, whoever reports it (IngestGiveawayEntries, the
    /// demo): the entrant keyed (see [`entrant_key`]) and the entry on the tenant's day of
    /// `entered_at`. The error names the first field that breaks one.
    pub fn new(
        giveaway_id: &str,
        entrant: &str,
        entered_at: DateTime<Utc>,
        time_zone: chrono_tz::Tz,
        customer_keys: &CustomerKeySecret,
    ) -> RowResult<GiveawayEntry> {
        GiveawayEntry::check_id(giveaway_id)?;
        let entrant = GiveawayEntry::check_entrant(entrant)?;
        if !(1970..=9999).contains(&chrono::Datelike::year(&entered_at)) {
            return err("entered_at", "is not a valid time between 1970 and 9999");
        }
        Ok(GiveawayEntry {
            giveaway_id: giveaway_id.to_string(),
            entrant_key: entrant_key(&entrant, customer_keys),
            day: local_day(entered_at, time_zone),
            entered_at,
        })
    }
}

/// The stored identity of an entrant: e-mail addresses only as a keyed hash.
pub fn entrant_key(entrant: &str, secret: &CustomerKeySecret) -> String {
    let entrant = entrant.trim();
    if entrant.contains('@') {
        secret.email_key(entrant)
    } else {
        entrant.to_string()
    }
}

/// A pushed metric point.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricPoint {
    /// Metric key.
    pub key: String,
    /// Scope.
    pub scope: Scope,
    /// Day.
    pub day: NaiveDate,
    /// Value.
    pub value: f64,
}

impl MetricPoint {
    /// Checks a metric key (see [`check_metric_key`]).
    pub fn check_key(key: &str) -> RowResult<()> {
        check_metric_key(key).map_err(|reason| ("metric_key".into(), reason))
    }

    /// Checks a value (see [`check_value`]).
    pub fn check_value(value: f64) -> RowResult<f64> {
        check_value(value).map_err(|reason| ("value".into(), reason))
    }

    /// A point that meets every rule, whoever reports it (IngestMetricPoints): a key that
    /// names no built-in KPI, a finite and bounded value. Whether the scope exists and
    /// the key is no custom KPI's are the store's to say.
    pub fn new(key: &str, scope: Scope, day: NaiveDate, value: f64) -> RowResult<MetricPoint> {
        MetricPoint::check_key(key)?;
        Ok(MetricPoint {
            key: key.to_string(),
            scope,
            day,
            value: MetricPoint::check_value(value)?,
        })
    }
}

/// Checks a metric key: a lowercase identifier that is not a built-in KPI id.
pub fn check_metric_key(key: &str) -> Result<(), String> {
    let valid = (1..=128).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        Err("must be 1 to 128 of a-z, 0-9 and _, starting with a letter".into())
    } else if super::catalogue::find(key).is_some() {
        Err(format!(
            "`{key}` is a built-in KPI, computed by Tally; push it under another key"
        ))
    } else {
        Ok(())
    }
}

/// One platform response a page was mapped from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RawResponse {
    /// What was asked, in the connector's words (`insights:reach`, `orders:created`).
    pub label: String,
    /// The response body.
    pub body: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn counts_are_bounded_on_both_sides() {
        assert_eq!(check_count("views", 0), Ok(0));
        assert_eq!(check_count("views", MAX_COUNT), Ok(MAX_COUNT));
        assert_eq!(check_value(-MAX_VALUE), Ok(-MAX_VALUE));
        for bad in [
            1.7e308,
            -1.7e308,
            MAX_VALUE * 1.0001,
            f64::NAN,
            f64::INFINITY,
        ] {
            assert!(check_value(bad).is_err(), "{bad}");
        }
        for bad in [-1, MAX_COUNT + 1, i64::MAX] {
            let (field, reason) = check_count("views", bad).unwrap_err();
            assert_eq!(field, "views");
            assert!(reason.contains(&bad.to_string()), "{reason}");
        }
    }

    #[test]
    fn instants_fall_on_the_tenants_local_day_across_dst() {
        let tz: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
        // 23:59 and 00:01 local on 2026-03-28/29 (DST starts 2026-03-29 at 02:00).
        let before = tz
            .with_ymd_and_hms(2026, 3, 28, 23, 59, 0)
            .unwrap()
            .with_timezone(&Utc);
        let after = tz
            .with_ymd_and_hms(2026, 3, 29, 0, 1, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            local_day(before, tz),
            NaiveDate::from_ymd_opt(2026, 3, 28).unwrap()
        );
        assert_eq!(
            local_day(after, tz),
            NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()
        );
        // 22:30 UTC is already the next day in Amsterdam in summer.
        let late = Utc.with_ymd_and_hms(2026, 7, 1, 22, 30, 0).unwrap();
        assert_eq!(
            local_day(late, tz),
            NaiveDate::from_ymd_opt(2026, 7, 2).unwrap()
        );
    }

    #[test]
    fn guests_are_keyed_by_a_hash_and_never_collide_with_ids() {
        let secret = CustomerKeySecret::development();
        let guest = customer_key("", "  Jan@Example.COM ", &secret).unwrap();
        assert_eq!(guest, customer_key("", "jan@example.com", &secret).unwrap());
        assert!(guest.starts_with("k:") && !guest.contains("example"));
        assert_eq!(
            customer_key("42", "jan@example.com", &secret).as_deref(),
            Some("c:42")
        );
        assert_eq!(customer_key("", " ", &secret), None);
        assert!(!entrant_key("Jan@Example.com", &secret).contains('@'));
        assert_eq!(entrant_key("Jan@Example.com", &secret), guest);
        assert_eq!(entrant_key("insta_user", &secret), "insta_user");
    }

    // Found by issue 20: e-mail hashes were plain SHA-256, so anyone holding the database
    // could test a known address against them.
    #[test]
    fn e_mail_keys_depend_on_the_secret_and_are_not_the_plain_digest() {
        let email = "jan@example.com";
        let a = CustomerKeySecret::new(b"deployment-a-secret-0123456789").unwrap();
        let b = CustomerKeySecret::new(b"deployment-b-secret-0123456789").unwrap();
        let (key_a, key_b) = (a.email_key(email), b.email_key(email));
        assert_ne!(key_a, key_b, "two deployments, two keys");
        let digest = sha256_hex(email);
        assert!(!key_a.contains(&digest) && !key_b.contains(&digest));
        assert_eq!(key_a.len(), 2 + 64);
        // A stored key of earlier versions becomes exactly the key a new row gets.
        assert_eq!(a.rekey(&format!("e:{digest}")), Some(key_a.clone()));
        assert_eq!(a.rekey(&key_a), None, "keyed keys stay");
        assert_eq!(a.rekey("c:42"), None);
        assert_eq!(a.rekey("e:not-a-digest"), None);
        assert_eq!(a.rekey(&format!("e:{}", digest.to_uppercase())), None);
        assert!(CustomerKeySecret::new(b"short").is_err());
        assert!(!format!("{a:?}").contains("deployment"));
    }

    #[test]
    fn web_rows_are_keyed_by_every_dimension() {
        let row = WebTraffic {
            day: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            source: "instagram".into(),
            medium: "social".into(),
            campaign: String::new(),
            channel_group: "Organic Social".into(),
            age_bracket: None,
            age: None,
            country: None,
            is_customer: None,
            sessions: 3,
            users: 2,
            new_users: 1,
        };
        let mut other = row.clone();
        other.sessions = 99;
        assert_eq!(
            row.row_key(),
            other.row_key(),
            "values are not part of the key"
        );
        other.country = Some(String::new());
        assert_ne!(
            row.row_key(),
            other.row_key(),
            "an empty country differs from none"
        );
        let mut bad = row.clone();
        bad.new_users = 5;
        assert_eq!(bad.check().unwrap_err().0, "new_users");
        let mut long = row.clone();
        long.campaign = "x".repeat(201);
        assert_eq!(long.check().unwrap_err().0, "campaign");
        let stats = ChannelDayStats {
            channel_id: "anna-ig".into(),
            day: row.day,
            followers: Some(10),
            posts: None,
            mentions: None,
            shares: None,
            comments: None,
            likes: None,
            link_clicks: None,
            views: Some(-1),
            reach: None,
        };
        assert_eq!(stats.check().unwrap_err().0, "views");
    }

    #[test]
    fn orders_meet_one_set_of_rules_whoever_reports_them() {
        let secret = CustomerKeySecret::development();
        let context = OrderContext {
            time_zone: "Europe/Amsterdam".parse().unwrap(),
            currency: "EUR",
            customer_keys: &secret,
        };
        let codes = vec![" SUMMER10 ".to_string()];
        let fields = OrderFields {
            order_id: "1001",
            placed_at: Utc.with_ymd_and_hms(2026, 7, 1, 22, 30, 0).unwrap(),
            currency: " eur",
            revenue_minor: 1000,
            cost_minor: 400,
            discount_minor: 100,
            codes: &codes,
            customer: OrderCustomer::Given {
                id: " 42 ",
                email: "",
            },
            utm_source: "",
            utm_medium: "",
            utm_campaign: "",
        };
        let order = Order::new(fields.clone(), &context).unwrap();
        assert_eq!(order.day, NaiveDate::from_ymd_opt(2026, 7, 2).unwrap());
        assert_eq!(order.currency, "EUR");
        assert_eq!(order.codes, ["SUMMER10"]);
        assert_eq!(order.customer_key.as_deref(), Some("c:42"));
        let field_of = |f: OrderFields<'_>| Order::new(f, &context).unwrap_err().0;
        let usd = OrderFields {
            currency: "USD",
            ..fields.clone()
        };
        assert_eq!(field_of(usd), "currency_code");
        let negative = OrderFields {
            discount_minor: -1,
            ..fields.clone()
        };
        assert_eq!(field_of(negative), "discount_minor");
        let many = vec!["A".to_string(); MAX_CODES + 1];
        let too_many = OrderFields {
            codes: &many,
            ..fields.clone()
        };
        assert_eq!(field_of(too_many), "discount_codes");
        let long = "x".repeat(201);
        let utm = OrderFields {
            utm_campaign: &long,
            ..fields
        };
        assert_eq!(field_of(utm), "utm_campaign");
    }

    #[test]
    fn audience_members_and_interactions_meet_one_set_of_rules() {
        let day = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let member = AudienceMember {
            platform: Platform::Instagram,
            account_id: "fan-1".into(),
            channel_id: "anna-ig".into(),
            attributes: MemberAttributes {
                bio: Some("plant parent".into()),
                ..MemberAttributes::default()
            },
            customer_id: Some("42".into()),
            first_seen: day,
            last_seen: Some(day),
        };
        assert_eq!(member.check(), Ok(()));
        let field_of = |m: AudienceMember| m.check().unwrap_err().0;
        let mut early = member.clone();
        early.last_seen = day.pred_opt();
        assert_eq!(field_of(early), "last_seen");
        let mut flagged = member.clone();
        flagged.attributes.is_customer = Some(true);
        assert_eq!(field_of(flagged), "attributes.is_customer");
        let mut bio = member.clone();
        bio.attributes.bio = Some("x".repeat(2001));
        assert_eq!(field_of(bio), "attributes.bio");
        let mut country = member.clone();
        country.attributes.country = Some("N\u{0}L".into());
        assert_eq!(field_of(country), "attributes.country");
        let mut nobody = member.clone();
        nobody.account_id = String::new();
        assert_eq!(field_of(nobody), "account_id");
        let mut customer = member.clone();
        customer.customer_id = Some("c".repeat(129));
        assert_eq!(field_of(customer), "customer_id");

        let interaction = Interaction {
            channel_id: "anna-ig".into(),
            interaction_id: "i-1".into(),
            kind: InteractionKind::Like,
            platform: Platform::Instagram,
            account_id: "fan-1".into(),
            occurred_at: Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap(),
            day,
            attributes: MemberAttributes::default(),
        };
        assert_eq!(interaction.check(), Ok(()));
        let mut unnamed = interaction.clone();
        unnamed.interaction_id = " ".into();
        assert_eq!(unnamed.check().unwrap_err().0, "interaction_id");
        let mut scored = interaction.clone();
        scored.attributes.influence_score = Some(f64::NAN);
        assert_eq!(scored.check().unwrap_err().0, "attributes.influence_score");
    }

    #[test]
    fn giveaway_entries_and_metric_points_meet_one_set_of_rules() {
        let secret = CustomerKeySecret::development();
        let tz: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
        let late = Utc.with_ymd_and_hms(2026, 7, 1, 22, 30, 0).unwrap();
        let entry = GiveawayEntry::new("gw-1", " Jan@Example.com ", late, tz, &secret).unwrap();
        assert_eq!(entry.day, NaiveDate::from_ymd_opt(2026, 7, 2).unwrap());
        assert_eq!(entry.entrant_key, secret.email_key("jan@example.com"));
        let field_of = |id: &str, entrant: &str| {
            GiveawayEntry::new(id, entrant, late, tz, &secret)
                .unwrap_err()
                .0
        };
        assert_eq!(field_of("GW 1", "jan"), "giveaway_id");
        assert_eq!(field_of("gw-1", "  "), "entrant");
        assert_eq!(field_of("gw-1", &"x".repeat(321)), "entrant");

        let day = late.date_naive();
        let point = MetricPoint::new("brand_searches", Scope::Tenant, day, -3.5).unwrap();
        assert_eq!(point.value, -3.5);
        let field_of = |key: &str, value: f64| {
            MetricPoint::new(key, Scope::Tenant, day, value)
                .unwrap_err()
                .0
        };
        assert_eq!(field_of("followers", 1.0), "metric_key");
        assert_eq!(field_of("brand_searches", f64::INFINITY), "value");
        assert_eq!(field_of("brand_searches", -1.7e308), "value");
    }

    #[test]
    fn metric_keys_may_not_shadow_kpis() {
        assert!(check_metric_key("brand_searches").is_ok());
        assert!(check_metric_key("followers").is_err());
        assert!(check_metric_key("Brand").is_err());
    }
}
