//! Shopify Admin REST API: a shop's orders placed on one day and the earlier orders changed
//! on it (refunds, cancellations), paged by the `Link` header.
use super::http::{Call, Http, bad, credential, endpoint, start_of_day};
use super::{Connector, ConnectorError, HttpSettings, Page, PageSink, PullRequest, RawResponse};
use crate::domain::channel::check_shop_domain;
use crate::domain::observation::{Order, OrderContext, OrderCustomer, OrderFields, customer_key};
use chrono::{DateTime, SecondsFormat, Utc};
use iso_currency::Currency;
use reqwest::header::{HeaderMap, LINK};
use reqwest::{StatusCode, Url};
use serde_json::Value;

const PLATFORM: &str = "shopify";
const FIELDS: &str = "id,created_at,updated_at,cancelled_at,currency,subtotal_price,\
                      current_subtotal_price,total_discounts,discount_codes,customer,email,\
                      landing_site,test";

/// Pulls a Shopify shop's orders.
pub struct Shopify {
    base: Option<String>,
    version: String,
    page_size: u32,
    http: Http,
}

impl Shopify {
    /// A connector calling the API at `base_url`, or at the shop's own domain (the
    /// channel's account id) when None, as in production; 250 orders a page.
    pub fn new(base_url: Option<&str>, settings: &HttpSettings) -> Shopify {
        Shopify {
            base: base_url.map(str::to_string),
            version: super::live::SHOPIFY_API_VERSION.to_string(),
            page_size: 250,
            http: Http::new(PLATFORM, settings, classify),
        }
    }

    /// Calls Admin API `version` (such as `2026-10`) instead of the default.
    pub fn with_version(mut self, version: &str) -> Shopify {
        self.version = version.to_string();
        self
    }

    /// Asks for `orders` orders a page (the API allows 1 to 250).
    pub fn with_page_size(mut self, orders: u32) -> Shopify {
        self.page_size = orders.clamp(1, 250);
        self
    }

    fn base(&self, shop: &str) -> Result<String, ConnectorError> {
        if let Some(base) = &self.base {
            return Ok(base.clone());
        }
        // The shop domain becomes the host, so only a myshopify.com one: any other would
        // send the token to a host the tenant picked. Channels are checked when stored;
        // this holds for rows stored before that check too.
        check_shop_domain(shop)
            .map_err(|why| ConnectorError::Config(format!("Shopify account id {why}")))?;
        Ok(format!("https://{shop}"))
    }
}

/// Shopify's statuses say it all (401, 429 with Retry-After).
fn classify(_: StatusCode, _: Option<&Value>) -> Option<super::http::Verdict> {
    None
}

/// The `page_info` of the `rel="next"` link, if there is a next page.
pub(crate) fn next_page_info(headers: &HeaderMap) -> Result<Option<String>, ConnectorError> {
    for value in headers.get_all(LINK) {
        let value = value
            .to_str()
            .map_err(|_| bad(PLATFORM, "the Link header is not text"))?;
        // Targets may hold commas (the fields list), so split on the angle brackets.
        let mut rest = value;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after
                .find('>')
                .ok_or_else(|| bad(PLATFORM, "the Link header has an unclosed `<`"))?;
            let target = &after[..close];
            let params_and_more = &after[close + 1..];
            let end = params_and_more.find('<').unwrap_or(params_and_more.len());
            let is_next = params_and_more[..end].split(';').any(|param| {
                let param = param.trim().trim_end_matches(',').trim();
                param
                    .replace(['"', ' '], "")
                    .eq_ignore_ascii_case("rel=next")
            });
            if is_next {
                let url = Url::parse(target).map_err(|_| {
                    bad(
                        PLATFORM,
                        format!("the Link header's next target `{target}` is not a URL"),
                    )
                })?;
                return url
                    .query_pairs()
                    .find(|(k, _)| k == "page_info")
                    .map(|(_, v)| Some(v.into_owned()))
                    .ok_or_else(|| {
                        bad(PLATFORM, "the Link header's next target has no page_info")
                    });
            }
            rest = &params_and_more[end..];
        }
    }
    Ok(None)
}

/// An amount in minor units: exact decimal parsing with the currency's exponent.
pub(crate) fn minor_units(text: &str, exponent: u16) -> Result<i64, String> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || text.ends_with('.') {
        return Err(format!("`{text}` is not a decimal amount"));
    }
    if fraction.len() > exponent as usize {
        return Err(format!("`{text}` has more than {exponent} decimals"));
    }
    let too_large = || format!("`{text}` is too large");
    let scale = 10i64
        .checked_pow(u32::from(exponent))
        .ok_or_else(too_large)?;
    let whole: i64 = whole.parse().map_err(|_| too_large())?;
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        let padded = format!("{fraction:0<width$}", width = exponent as usize);
        padded.parse().map_err(|_| too_large())?
    };
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(too_large)
}

/// The utm parameters of a landing site (a path or URL with a query), percent-decoded.
pub(crate) fn utm(landing_site: &str) -> (String, String, String) {
    let (mut source, mut medium, mut campaign) = (String::new(), String::new(), String::new());
    let query = landing_site.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    // Url::parse of a fixed base only serves to reach the form decoder reqwest ships.
    if let Ok(mut url) = Url::parse("https://landing.invalid/") {
        url.set_query(Some(query));
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "utm_source" => source = value.into_owned(),
                "utm_medium" => medium = value.into_owned(),
                "utm_campaign" => campaign = value.into_owned(),
                _ => {}
            }
        }
    }
    (source, medium, campaign)
}

/// A JSON id (number or text) as text.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// What became of one order.
enum Mapped {
    Order(Order),
    /// Cancelled: removed wherever it is stored.
    Cancelled(String),
    Skipped(String),
    Ignored,
}

fn order(request: &PullRequest, index: usize, raw: &Value) -> Result<Mapped, ConnectorError> {
    let id = id_text(&raw["id"])
        .ok_or_else(|| bad(PLATFORM, format!("orders[{index}].id is missing")))?;
    let field = |name: &str| format!("order {id}: {name}");
    // A cancelled order was never revenue, and one stored before it was cancelled must go.
    if !raw["cancelled_at"].is_null() {
        return Ok(Mapped::Cancelled(id));
    }
    // Test orders were never revenue, and never stored.
    if raw["test"].as_bool() == Some(true) {
        return Ok(Mapped::Ignored);
    }
    let currency = raw["currency"]
        .as_str()
        .ok_or_else(|| bad(PLATFORM, format!("{} is missing", field("currency"))))?;
    // Before the amounts are read: an order in another currency is skipped, not an error.
    let Ok(code) = Order::check_currency(currency, &request.currency) else {
        return Ok(Mapped::Skipped(format!(
            "order {id}: currency {currency} is not the tenant's {}",
            request.currency
        )));
    };
    let exponent = Currency::from_code(&code)
        .and_then(Currency::exponent)
        .ok_or_else(|| {
            bad(
                PLATFORM,
                format!(
                    "{}: `{currency}` is not an ISO 4217 currency with minor units",
                    field("currency")
                ),
            )
        })?;
    let amount = |name: &str| -> Result<i64, ConnectorError> {
        let text = match &raw[name] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Null => return Err(bad(PLATFORM, format!("{} is missing", field(name)))),
            other => other.to_string(),
        };
        minor_units(&text, exponent).map_err(|why| bad(PLATFORM, format!("{}: {why}", field(name))))
    };
    let created = raw["created_at"]
        .as_str()
        .ok_or_else(|| bad(PLATFORM, format!("{} is missing", field("created_at"))))?;
    let placed_at = DateTime::parse_from_rfc3339(created)
        .map_err(|_| {
            bad(
                PLATFORM,
                format!(
                    "{}: `{created}` is not an RFC 3339 time",
                    field("created_at")
                ),
            )
        })?
        .with_timezone(&Utc);
    let codes: Vec<String> = raw["discount_codes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["code"].as_str())
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    let (utm_source, utm_medium, utm_campaign) = utm(raw["landing_site"].as_str().unwrap_or(""));
    let fields = OrderFields {
        order_id: &id,
        placed_at,
        currency,
        // After discounts and refunds, before tax and shipping (KPIS.md).
        revenue_minor: amount("current_subtotal_price")?,
        // The REST order carries no cost of goods.
        cost_minor: 0,
        discount_minor: amount("total_discounts")?,
        codes: &codes,
        customer: OrderCustomer::Keyed(raw[CUSTOMER_KEY].as_str()),
        utm_source: &utm_source,
        utm_medium: &utm_medium,
        utm_campaign: &utm_campaign,
    };
    let context = OrderContext {
        // An order keeps the day it was placed on, however late a refund changes it.
        time_zone: request.time_zone,
        currency: &request.currency,
        customer_keys: &request.customer_keys,
    };
    // An order that breaks a rule IngestOrders applies is left out with its reason; one
    // odd order must not stop every later sync of the shop.
    match Order::new(fields, &context) {
        Ok(order) => Ok(Mapped::Order(order)),
        Err((name, why)) => Ok(Mapped::Skipped(format!(
            "order {id}: {} {why}",
            shopify_field(&name)
        ))),
    }
}

/// The Shopify field an order's field is read from, for messages about it.
fn shopify_field(name: &str) -> &str {
    match name {
        "order_id" => "id",
        "placed_at" => "created_at",
        "revenue_minor" => "current_subtotal_price",
        "discount_minor" => "total_discounts",
        "utm_source" | "utm_medium" | "utm_campaign" => "landing_site",
        other if other.starts_with("discount_codes") => "discount_codes",
        other => other,
    }
}

/// The field of a kept order that holds the customer key Tally computed in place of the
/// customer and the e-mail address.
const CUSTOMER_KEY: &str = "tally_customer_key";

/// The fields of an order that are kept as Shopify sent them.
const KEPT_FIELDS: [&str; 10] = [
    "id",
    "created_at",
    "updated_at",
    "cancelled_at",
    "currency",
    "current_subtotal_price",
    "subtotal_price",
    "total_discounts",
    "discount_codes",
    "test",
];

/// An orders response as it is kept: each order's customer and e-mail address replaced by
/// the customer key, the landing site cut to its utm parameters (a query may carry an
/// address), any other field dropped, and the token scrubbed should the shop echo it.
fn keep(body: &Value, request: &PullRequest, token: &str) -> Result<Value, ConnectorError> {
    let orders = body["orders"]
        .as_array()
        .ok_or_else(|| bad(PLATFORM, "orders is missing"))?;
    let kept: Vec<Value> = orders
        .iter()
        .map(|raw| {
            let mut order = serde_json::Map::new();
            for name in KEPT_FIELDS {
                if let Some(value) = raw.get(name) {
                    order.insert(name.to_string(), value.clone());
                }
            }
            let customer_id = id_text(&raw["customer"]["id"]).unwrap_or_default();
            let email = raw["email"]
                .as_str()
                .filter(|e| !e.trim().is_empty())
                .or(raw["customer"]["email"].as_str())
                .unwrap_or("");
            let key = customer_key(&customer_id, email, &request.customer_keys);
            order.insert(CUSTOMER_KEY.into(), key.map_or(Value::Null, Value::String));
            if let Some(landing) = raw["landing_site"].as_str() {
                order.insert("landing_site".into(), Value::String(utm_only(landing)));
            }
            Value::Object(order)
        })
        .collect();
    let kept = serde_json::json!({ "orders": kept });
    let text = kept.to_string();
    let clean = super::http::scrub(&text, token);
    if clean == text {
        return Ok(kept);
    }
    serde_json::from_str(&clean).map_err(|_| bad(PLATFORM, "the response echoes the token"))
}

/// A landing site reduced to a query of its utm parameters, which [`utm`] reads alike.
fn utm_only(landing_site: &str) -> String {
    let (source, medium, campaign) = utm(landing_site);
    let mut query = Url::parse("https://landing.invalid/").expect("a fixed URL parses");
    {
        let mut pairs = query.query_pairs_mut();
        for (key, value) in [
            ("utm_source", source),
            ("utm_medium", medium),
            ("utm_campaign", campaign),
        ] {
            if !value.is_empty() {
                pairs.append_pair(key, &value);
            }
        }
    }
    query.query().map(|q| format!("?{q}")).unwrap_or_default()
}

/// Maps kept orders responses to one page; `pull` and `derive` share it.
fn map_page(request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
    let mut page = Page::default();
    for response in raw {
        if Phase::of_label(&response.label).is_none() {
            return Err(bad(
                PLATFORM,
                format!("`{}` is not a kept orders response", response.label),
            ));
        }
        let orders = response.body["orders"]
            .as_array()
            .ok_or_else(|| bad(PLATFORM, "orders is missing"))?;
        for (i, raw) in orders.iter().enumerate() {
            match order(request, i, raw)? {
                Mapped::Order(o) => page.orders.push(o),
                Mapped::Cancelled(id) => page.deleted_orders.push(id),
                Mapped::Skipped(why) => page.skipped.push(why),
                Mapped::Ignored => {}
            }
        }
    }
    Ok(page)
}

/// The two passes over a day: orders placed on it, then orders placed before it and
/// changed on it (refunded, edited or cancelled), which keep their own day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Created,
    Updated,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Created => "created",
            Phase::Updated => "updated",
        }
    }

    fn label(self) -> String {
        format!("orders:{}", self.name())
    }

    fn of_label(label: &str) -> Option<Phase> {
        match label.strip_prefix("orders:")? {
            "created" => Some(Phase::Created),
            "updated" => Some(Phase::Updated),
            _ => None,
        }
    }
}

/// Where a pull of a day resumes: the phase and, within it, the page.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cursor {
    phase: Phase,
    page_info: Option<String>,
}

impl Cursor {
    /// Reads `phase:page_info`; a bare page_info, as stored before there were phases, is
    /// one of the created phase.
    fn parse(text: Option<&str>) -> Cursor {
        let (phase, page_info) = match text {
            None => (Phase::Created, None),
            Some(text) => match text.split_once(':') {
                Some(("created", info)) => (Phase::Created, Some(info)),
                Some(("updated", info)) => (Phase::Updated, Some(info)),
                _ => (Phase::Created, Some(text)),
            },
        };
        Cursor {
            phase,
            page_info: page_info.filter(|i| !i.is_empty()).map(str::to_string),
        }
    }

    fn text(&self) -> String {
        format!(
            "{}:{}",
            self.phase.name(),
            self.page_info.as_deref().unwrap_or("")
        )
    }
}

/// Days Shopify serves to a token without the `read_all_orders` scope.
const RECENT_DAYS: i64 = 60;

/// An instant as Shopify's filters take it, in the tenant's offset.
fn seconds(at: DateTime<chrono_tz::Tz>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

impl Shopify {
    /// Refuses a day Shopify would silently answer with no orders: older than 60 days when
    /// the token lacks `read_all_orders`. Asked once per pull.
    async fn check_history(
        &self,
        request: &PullRequest,
        base: &str,
        token: &super::Secret,
        start: DateTime<Utc>,
    ) -> Result<(), ConnectorError> {
        let now = Utc::now();
        if now - start <= chrono::Duration::days(RECENT_DAYS) {
            return Ok(());
        }
        let url = endpoint(PLATFORM, base, &["admin", "oauth", "access_scopes.json"])?;
        let call = Call::get(url, &request.source.credentials_ref)
            .secret_header("x-shopify-access-token", token);
        let reply = self.http.send(call).await?;
        let scopes = reply.body["access_scopes"]
            .as_array()
            .ok_or_else(|| bad(PLATFORM, "access_scopes is missing"))?;
        if scopes.iter().any(|s| s["handle"] == "read_all_orders") {
            return Ok(());
        }
        Err(ConnectorError::Config(format!(
            "the token lacks read_all_orders: Shopify serves only the last {RECENT_DAYS} days \
             of orders; {} is {} days old",
            request.day,
            (now.with_timezone(&request.time_zone).date_naive() - request.day).num_days()
        )))
    }
}

#[async_trait::async_trait]
impl Connector for Shopify {
    fn name(&self) -> &'static str {
        PLATFORM
    }

    fn has_history(&self) -> bool {
        true
    }

    async fn pull(
        &self,
        request: &PullRequest,
        sink: &mut dyn PageSink,
    ) -> Result<(), ConnectorError> {
        let token = credential(request)?;
        let base = self.base(&request.source.account_id)?;
        let url = endpoint(
            PLATFORM,
            &base,
            &["admin", "api", &self.version, "orders.json"],
        )?;
        let start = start_of_day(request.day, request.time_zone);
        let next_day = request
            .day
            .succ_opt()
            .ok_or_else(|| ConnectorError::Config(format!("{} has no next day", request.day)))?;
        // The *_max filters are inclusive: the last second before the next day starts.
        let end = start_of_day(next_day, request.time_zone) - chrono::Duration::seconds(1);
        let before = start - chrono::Duration::seconds(1);
        self.check_history(request, &base, token, start.with_timezone(&Utc))
            .await?;
        let mut cursor = Cursor::parse(request.cursor.as_deref());
        loop {
            let mut call = Call::get(url.clone(), &request.source.credentials_ref);
            call = match (&cursor.page_info, cursor.phase) {
                // With page_info the filters are part of the token; Shopify refuses any
                // parameter but limit and fields beside it.
                (Some(info), _) => call.query("page_info", info.clone()),
                (None, Phase::Created) => call
                    .query("status", "any")
                    .query("created_at_min", seconds(start))
                    .query("created_at_max", seconds(end)),
                // Orders placed on the day were all read above, whenever they changed.
                (None, Phase::Updated) => call
                    .query("status", "any")
                    .query("updated_at_min", seconds(start))
                    .query("updated_at_max", seconds(end))
                    .query("created_at_max", seconds(before)),
            };
            let call = call
                .query("limit", self.page_size.to_string())
                .query("fields", FIELDS)
                .secret_header("x-shopify-access-token", token);
            let reply = self.http.send(call).await?;
            let kept = RawResponse {
                label: cursor.phase.label(),
                body: keep(&reply.body, request, token.expose())?,
            };
            let mut page = map_page(request, std::slice::from_ref(&kept))?;
            page.raw = vec![kept];
            let next = match (next_page_info(&reply.headers)?, cursor.phase) {
                (Some(info), phase) => Some(Cursor {
                    phase,
                    page_info: Some(info),
                }),
                (None, Phase::Created) => Some(Cursor {
                    phase: Phase::Updated,
                    page_info: None,
                }),
                (None, Phase::Updated) => None,
            };
            sink.page(page, next.as_ref().map(Cursor::text)).await?;
            match next {
                Some(next) => cursor = next,
                None => return Ok(()),
            }
        }
    }

    fn derive(&self, request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
        map_page(request, raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn connectors_shopify_amounts_are_exact_minor_units() {
        assert_eq!(minor_units("12.50", 2), Ok(1250));
        assert_eq!(minor_units("12.5", 2), Ok(1250));
        assert_eq!(minor_units("12", 2), Ok(1200));
        assert_eq!(minor_units("0.07", 2), Ok(7));
        assert_eq!(minor_units("1500", 0), Ok(1500));
        assert_eq!(minor_units("1.234", 3), Ok(1234));
        assert!(
            minor_units("12.505", 2)
                .unwrap_err()
                .contains("more than 2 decimals")
        );
        assert!(minor_units("1.5", 0).is_err());
        assert!(minor_units("-1.00", 2).is_err());
        assert!(minor_units("1e3", 2).is_err());
        assert!(minor_units("12.", 2).is_err());
        assert!(minor_units("", 2).is_err());
        assert!(
            minor_units("99999999999999999999", 2)
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn connectors_shopify_follows_only_the_next_link() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static(
                "<https://s.example/admin/api/2025-01/orders.json?limit=2&fields=id,email&page_info=prev1>; rel=\"previous\", \
                 <https://s.example/admin/api/2025-01/orders.json?limit=2&fields=id,email&page_info=next2>; rel=\"next\"",
            ),
        );
        assert_eq!(next_page_info(&headers).unwrap().as_deref(), Some("next2"));
        headers.insert(
            LINK,
            HeaderValue::from_static(
                "<https://s.example/o.json?page_info=prev1>; rel=\"previous\"",
            ),
        );
        assert_eq!(next_page_info(&headers).unwrap(), None);
        assert_eq!(next_page_info(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn connectors_shopify_cursors_name_the_phase_and_read_old_ones() {
        let at = |phase, info: Option<&str>| Cursor {
            phase,
            page_info: info.map(str::to_string),
        };
        assert_eq!(Cursor::parse(None), at(Phase::Created, None));
        assert_eq!(
            Cursor::parse(Some("created:abc")),
            at(Phase::Created, Some("abc"))
        );
        assert_eq!(Cursor::parse(Some("updated:")), at(Phase::Updated, None));
        assert_eq!(
            Cursor::parse(Some("updated:xyz")),
            at(Phase::Updated, Some("xyz"))
        );
        // A bare page_info stored by a pull before there were phases.
        assert_eq!(
            Cursor::parse(Some("eyJsYXN0")),
            at(Phase::Created, Some("eyJsYXN0"))
        );
        for cursor in [at(Phase::Created, Some("a")), at(Phase::Updated, None)] {
            assert_eq!(Cursor::parse(Some(&cursor.text())), cursor);
        }
    }

    #[test]
    fn connectors_shopify_kept_landing_sites_keep_only_utm() {
        for landing in [
            "/products/x?email=a%40b.example&utm_source=influencer&utm_medium=social%20media&utm_campaign=anna%2B1",
            "/x?utm_source=a&utm_source=b#utm_medium=c",
            "/products/x",
            "",
        ] {
            let kept = utm_only(landing);
            assert!(!kept.contains("email") && !kept.contains("%40"), "{kept}");
            assert_eq!(utm(&kept), utm(landing), "{landing}");
        }
    }

    #[test]
    fn connectors_shopify_reads_utm_from_the_landing_site() {
        assert_eq!(
            utm(
                "/products/x?utm_source=influencer&utm_medium=social%20media&utm_campaign=anna%2B1"
            ),
            ("influencer".into(), "social media".into(), "anna+1".into())
        );
        assert_eq!(
            utm("/products/x"),
            (String::new(), String::new(), String::new())
        );
        assert_eq!(
            utm("https://shop.example/?utm_source=a#utm_medium=b"),
            ("a".into(), String::new(), String::new())
        );
    }
}
