//! Shopify Admin REST API: a shop's orders placed on one day, paged by the `Link` header.
use super::http::{Call, Http, bad, credential, endpoint, start_of_day};
use super::{Connector, ConnectorError, HttpSettings, Page, PageSink, PullRequest};
use crate::domain::channel::check_shop_domain;
use crate::domain::observation::{Order, customer_key, local_day};
use chrono::{DateTime, SecondsFormat, Utc};
use iso_currency::Currency;
use reqwest::header::{HeaderMap, LINK};
use reqwest::{StatusCode, Url};
use serde_json::Value;

const PLATFORM: &str = "shopify";
const FIELDS: &str = "id,created_at,currency,subtotal_price,total_discounts,discount_codes,\
                      customer,email,landing_site,cancelled_at,test";

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
    Skipped(String),
    Ignored,
}

fn order(request: &PullRequest, index: usize, raw: &Value) -> Result<Mapped, ConnectorError> {
    let id = id_text(&raw["id"])
        .ok_or_else(|| bad(PLATFORM, format!("orders[{index}].id is missing")))?;
    let field = |name: &str| format!("order {id}: {name}");
    // Cancelled and test orders were never revenue.
    if !raw["cancelled_at"].is_null() || raw["test"].as_bool() == Some(true) {
        return Ok(Mapped::Ignored);
    }
    let currency = raw["currency"]
        .as_str()
        .ok_or_else(|| bad(PLATFORM, format!("{} is missing", field("currency"))))?;
    if currency != request.currency {
        return Ok(Mapped::Skipped(format!(
            "order {id}: currency {currency} is not the tenant's {}",
            request.currency
        )));
    }
    let exponent = Currency::from_code(currency)
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
    let customer_id = id_text(&raw["customer"]["id"]).unwrap_or_default();
    let email = raw["email"]
        .as_str()
        .filter(|e| !e.trim().is_empty())
        .or(raw["customer"]["email"].as_str())
        .unwrap_or("");
    let codes = raw["discount_codes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["code"].as_str())
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    let (utm_source, utm_medium, utm_campaign) = utm(raw["landing_site"].as_str().unwrap_or(""));
    Ok(Mapped::Order(Order {
        order_id: id.clone(),
        customer_key: customer_key(&customer_id, email, &request.customer_keys),
        placed_at,
        day: local_day(placed_at, request.time_zone),
        revenue_minor: amount("subtotal_price")?,
        discount_minor: amount("total_discounts")?,
        // The REST order carries no cost of goods.
        cost_minor: 0,
        currency: currency.to_string(),
        codes,
        utm_source,
        utm_medium,
        utm_campaign,
    }))
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
        // created_at_max is inclusive: the last second before the next day starts.
        let end = start_of_day(next_day, request.time_zone) - chrono::Duration::seconds(1);
        let mut page_info = request.cursor.clone();
        loop {
            let mut call = Call::get(url.clone(), &request.source.credentials_ref);
            call = match &page_info {
                // With page_info the filters are part of the token; Shopify refuses any
                // parameter but limit and fields beside it.
                Some(info) => call.query("page_info", info.clone()),
                None => call
                    .query("status", "any")
                    .query(
                        "created_at_min",
                        start.to_rfc3339_opts(SecondsFormat::Secs, false),
                    )
                    .query(
                        "created_at_max",
                        end.to_rfc3339_opts(SecondsFormat::Secs, false),
                    ),
            };
            let call = call
                .query("limit", self.page_size.to_string())
                .query("fields", FIELDS)
                .secret_header("x-shopify-access-token", token);
            let reply = self.http.send(call).await?;
            let orders = reply.body["orders"]
                .as_array()
                .ok_or_else(|| bad(PLATFORM, "orders is missing"))?;
            let mut page = Page::default();
            for (i, raw) in orders.iter().enumerate() {
                match order(request, i, raw)? {
                    Mapped::Order(o) => page.orders.push(o),
                    Mapped::Skipped(why) => page.skipped.push(why),
                    Mapped::Ignored => {}
                }
            }
            let next = next_page_info(&reply.headers)?;
            sink.page(page, next.clone()).await?;
            match next {
                Some(info) => page_info = Some(info),
                None => return Ok(()),
            }
        }
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
