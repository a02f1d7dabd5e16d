//! Instagram Graph API: the account's followers and posts (latest day only) and the
//! day's insights (any past day).
//!
//! Insights of `period=day` are Meta's days, which end at midnight in Menlo Park
//! (`end_time` `2026-12-06T08:00:00+0000`) and cannot be split by hour. A tenant's day D
//! is therefore asked for as Meta's Pacific day D and the value ending at its end is
//! filed under D; the page names America/Los_Angeles as the day's zone.
//!
//! One metric's refusal costs only that metric: Meta refuses a whole request when one of
//! its metrics is invalid for the API version (error 100, as `website_clicks` since
//! v21.0), so a refused list is asked for again one metric at a time, and what is still
//! refused is reported as missing.
use super::http::{
    Call, Http, Verdict, bad, credential, difference, empty_stats, endpoint, optional_number,
    platform_message, start_of_day, stats_page,
};
use super::kept::{clean, refusal, refused};
use super::{
    Connector, ConnectorError, HttpSettings, MissingMetric, Page, PageSink, PullRequest,
    RawResponse, Secret,
};
use chrono::{DateTime, FixedOffset};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PLATFORM: &str = "instagram";
/// The zone of Meta's insight days.
const PACIFIC: chrono_tz::Tz = chrono_tz::America::Los_Angeles;
/// The account fields read on the latest day: `id` checks that the token reads the
/// channel's account.
const ACCOUNT_FIELDS: &str = "id,followers_count,media_count";
/// The day's totals (`metric_type=total_value`).
const TOTALS: [&str; 5] = ["likes", "comments", "shares", "views", "website_clicks"];
/// The Graph API's code of an invalid parameter: a metric or field the version refuses.
const INVALID_PARAMETER: i64 = 100;
/// With code 100: the object (the account id) does not exist or the token cannot see it.
const NO_SUCH_OBJECT: i64 = 33;

/// Pulls an Instagram professional account's statistics.
pub struct Instagram {
    base: String,
    version: String,
    http: Http,
}

impl Instagram {
    /// A connector calling the Graph API at `base_url` (https://graph.facebook.com in
    /// production).
    pub fn new(base_url: &str, settings: &HttpSettings) -> Instagram {
        Instagram {
            base: base_url.to_string(),
            version: super::live::INSTAGRAM_API_VERSION.to_string(),
            http: Http::new(PLATFORM, settings, classify),
        }
    }

    /// Calls Graph API `version` (such as `v24.0`) instead of the default.
    pub fn with_version(mut self, version: &str) -> Instagram {
        self.version = version.to_string();
        self
    }

    async fn get(
        &self,
        request: &PullRequest,
        token: &Secret,
        segments: &[&str],
        query: &[(&'static str, String)],
    ) -> Result<Value, ConnectorError> {
        let mut path = vec![self.version.as_str()];
        path.extend_from_slice(segments);
        let url = endpoint(PLATFORM, &self.base, &path)?;
        let mut call = Call::get(url, &request.source.credentials_ref);
        for (name, value) in query {
            call = call.query(name, value.clone());
        }
        Ok(self
            .http
            .send(call.secret_query("access_token", token))
            .await?
            .body)
    }

    /// One insights request of the day's Pacific range; a refused parameter is kept as a
    /// refusal under `label`, any other failure fails the pull.
    async fn insights(
        &self,
        request: &PullRequest,
        token: &Secret,
        label: String,
        query: Vec<(&'static str, String)>,
    ) -> Result<RawResponse, ConnectorError> {
        let account = request.source.account_id.as_str();
        let body = match self
            .get(request, token, &[account, "insights"], &query)
            .await
        {
            Ok(body) => clean(body, token),
            Err(error) => match metric_refusal(&error) {
                Some(reason) => refusal(&reason),
                None => return Err(error),
            },
        };
        Ok(RawResponse { label, body })
    }
}

/// The Graph API reports every error as HTTP 400 with a code: 190 is an expired or
/// revoked token, 4/17/32/613 are rate limits, 10 and 200-299 missing permissions.
fn classify(status: StatusCode, body: Option<&Value>) -> Option<Verdict> {
    let error = &body?["error"];
    let code = error["code"].as_i64()?;
    let message = platform_message(body, b"");
    match code {
        190 | 102 => Some(Verdict::Auth(format!(
            "the access token has expired or was revoked and must be renewed (Graph API error \
             {code}): {message}"
        ))),
        10 | 200..=299 => Some(Verdict::Auth(format!(
            "the access token lacks a permission (Graph API error {code}): {message}"
        ))),
        4 | 17 | 32 | 613 => Some(Verdict::Retry(format!(
            "rate limited (Graph API error {code}): {message}"
        ))),
        _ if status.is_client_error() => {
            let subcode = error["error_subcode"]
                .as_i64()
                .map(|s| format!(" (subcode {s})"))
                .unwrap_or_default();
            Some(Verdict::Rejected(format!(
                "Graph API error {code}{subcode}: {message}"
            )))
        }
        _ => None,
    }
}

/// The Graph API's code and subcode of a refusal, as [`classify`] wrote them into the
/// message, and the message from the code on (without the request's path).
fn graph_refusal(error: &ConnectorError) -> Option<(i64, Option<i64>, String)> {
    let ConnectorError::Rejected { message, .. } = error else {
        return None;
    };
    let at = message.find("Graph API error ")?;
    let reason = &message[at..];
    let rest = &reason["Graph API error ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let code = digits.parse().ok()?;
    let subcode = rest[digits.len()..]
        .strip_prefix(" (subcode ")
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok());
    Some((code, subcode, reason.to_string()))
}

/// Why the platform refused a metric, when `error` is that: an invalid parameter (code
/// 100) other than an account that does not exist, which is every metric's failure.
fn metric_refusal(error: &ConnectorError) -> Option<String> {
    match graph_refusal(error)? {
        (INVALID_PARAMETER, subcode, reason) if subcode != Some(NO_SUCH_OBJECT) => Some(reason),
        _ => None,
    }
}

/// Why the platform refused the account fields, when it did for a reason that is not the
/// whole pull's (a token or an account that does not exist, a rate limit, an outage).
fn account_refusal(error: &ConnectorError) -> Option<String> {
    match graph_refusal(error)? {
        (INVALID_PARAMETER, Some(NO_SUCH_OBJECT), _) => None,
        (_, _, reason) => Some(reason),
    }
}

/// Meta's insight day of the tenant's `day`: from midnight to midnight in Los Angeles.
fn pacific_day(request: &PullRequest) -> Result<(i64, i64), ConnectorError> {
    let next = request
        .day
        .succ_opt()
        .ok_or_else(|| ConnectorError::Config(format!("{} has no next day", request.day)))?;
    Ok((
        start_of_day(request.day, PACIFIC).timestamp(),
        start_of_day(next, PACIFIC).timestamp(),
    ))
}

/// The entry of `metric` in an insights answer.
fn metric<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body["data"]
        .as_array()?
        .iter()
        .find(|entry| entry["name"].as_str() == Some(name))
}

/// Refuses insights of another account: each entry's id is `<ig-id>/insights/<metric>/…`.
fn check_insights_account(request: &PullRequest, body: &Value) -> Result<(), ConnectorError> {
    let entries = body["data"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for entry in entries {
        if let Some((owner, _)) = entry["id"].as_str().and_then(|id| id.split_once('/'))
            && owner != request.source.account_id
        {
            return Err(another_account(request, owner));
        }
    }
    Ok(())
}

fn another_account(request: &PullRequest, answered: &str) -> ConnectorError {
    ConnectorError::Config(format!(
        "the Instagram token reads account `{answered}`, not the channel's account `{}`; \
         nothing was stored",
        request.source.account_id
    ))
}

/// The account answer's `id` must be the channel's account.
fn check_account(request: &PullRequest, body: &Value) -> Result<(), ConnectorError> {
    match body["id"].as_str() {
        Some(id) if id == request.source.account_id => Ok(()),
        Some(id) => Err(another_account(request, id)),
        None => Err(bad(PLATFORM, "id is missing from the account")),
    }
}

/// The value of a `period=day` metric for the day ending at `until` (epoch seconds), or
/// why there is none.
fn day_value(body: &Value, name: &str, until: i64) -> Result<Result<i64, String>, ConnectorError> {
    let Some(entry) = metric(body, name) else {
        return Ok(Err("not in the response".into()));
    };
    let values = entry["values"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for (i, value) in values.iter().enumerate() {
        let field = format!("data[{name}].values[{i}]");
        let text = value["end_time"].as_str().unwrap_or_default();
        let end =
            DateTime::<FixedOffset>::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z").map_err(|_| {
                bad(
                    PLATFORM,
                    format!("{field}.end_time: `{text}` is not a time"),
                )
            })?;
        if end.timestamp() == until {
            return Ok(
                optional_number(PLATFORM, &value["value"], &format!("{field}.value"))?
                    .ok_or_else(|| "not in the response".to_string()),
            );
        }
    }
    let end = DateTime::from_timestamp(until, 0).unwrap_or_default();
    Ok(Err(format!(
        "not in the response (no value ends at {})",
        end.format("%Y-%m-%dT%H:%M:%S%z")
    )))
}

/// The `total_value` of `name` in an insights answer, or why there is none.
fn total_value(body: &Value, name: &str) -> Result<Result<i64, String>, ConnectorError> {
    if !body["data"].is_array() {
        return Err(bad(PLATFORM, "insights: data is missing"));
    }
    Ok(match metric(body, name) {
        Some(entry) => optional_number(
            PLATFORM,
            &entry["total_value"]["value"],
            &format!("data[{name}].total_value.value"),
        )?
        .ok_or_else(|| "not in the response".to_string()),
        None => Err("not in the response".into()),
    })
}

/// Maps the kept answers of one day: what [`Instagram::pull`] fetched, or what an earlier
/// pull kept, to the same page.
fn map(request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
    let (_, until) = pacific_day(request)?;
    let find = |label: &str| raw.iter().find(|r| r.label == label).map(|r| &r.body);
    let mut row = empty_stats(request);
    let mut missing = Vec::new();
    let mut lacks = |metric: &str, reason: &str| {
        missing.push(MissingMetric {
            metric: metric.to_string(),
            reason: reason.to_string(),
        })
    };
    let mut totals = None;

    if let Some(body) = find("account") {
        if let Some(reason) = refused(body) {
            lacks("followers_count", reason);
            lacks("media_count", reason);
        } else {
            check_account(request, body)?;
            row.followers = optional_number(PLATFORM, &body["followers_count"], "followers_count")?;
            if row.followers.is_none() {
                lacks("followers_count", "not in the response");
            }
            match optional_number(PLATFORM, &body["media_count"], "media_count")? {
                Some(media) => {
                    row.posts = difference(request.previous_totals.as_ref(), "media_count", media);
                    totals = Some(json!({"media_count": media}));
                }
                None => lacks("media_count", "not in the response"),
            }
        }
    }

    let body =
        find("insights:reach").ok_or_else(|| bad(PLATFORM, "no kept answer `insights:reach`"))?;
    match refused(body) {
        Some(reason) => lacks("reach", reason),
        None => {
            check_insights_account(request, body)?;
            match day_value(body, "reach", until)? {
                Ok(reach) => row.reach = Some(reach),
                Err(reason) => lacks("reach", &reason),
            }
        }
    }

    let listed = find("insights:total_value");
    if let Some(body) = listed {
        check_insights_account(request, body)?;
    }
    for name in TOTALS {
        let value = match listed {
            Some(body) => total_value(body, name)?,
            None => {
                let label = format!("insights:{name}");
                let body = find(&label)
                    .ok_or_else(|| bad(PLATFORM, format!("no kept answer `{label}`")))?;
                match refused(body) {
                    Some(reason) => Err(reason.to_string()),
                    None => {
                        check_insights_account(request, body)?;
                        total_value(body, name)?
                    }
                }
            }
        };
        let field = match name {
            "likes" => &mut row.likes,
            "comments" => &mut row.comments,
            "shares" => &mut row.shares,
            "views" => &mut row.views,
            _ => &mut row.link_clicks,
        };
        match value {
            Ok(value) => *field = Some(value),
            Err(reason) => lacks(name, &reason),
        }
    }

    Ok(Page {
        day_zone: (request.time_zone != PACIFIC).then(|| PACIFIC.name().to_string()),
        ..stats_page(row, totals, missing)
    })
}

#[async_trait::async_trait]
impl Connector for Instagram {
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
        let account = request.source.account_id.as_str();
        let (since, until) = pacific_day(request)?;
        let mut raw = Vec::new();
        if request.latest {
            let fields = [("fields", ACCOUNT_FIELDS.to_string())];
            let body = match self.get(request, token, &[account], &fields).await {
                Ok(body) => {
                    // Before any insights are asked for another account's token.
                    check_account(request, &body)?;
                    clean(body, token)
                }
                Err(error) => match account_refusal(&error) {
                    Some(reason) => refusal(&reason),
                    None => return Err(error),
                },
            };
            raw.push(RawResponse {
                label: "account".into(),
                body,
            });
        }
        let range = [
            ("period", "day".to_string()),
            ("since", since.to_string()),
            ("until", until.to_string()),
        ];

        let mut query = vec![("metric", "reach".to_string())];
        query.extend(range.iter().cloned());
        raw.push(
            self.insights(request, token, "insights:reach".into(), query)
                .await?,
        );

        let totals = |metrics: String| {
            let mut query = vec![
                ("metric", metrics),
                ("metric_type", "total_value".to_string()),
            ];
            query.extend(range.iter().cloned());
            query
        };
        match self
            .get(
                request,
                token,
                &[account, "insights"],
                &totals(TOTALS.join(",")),
            )
            .await
        {
            Ok(body) => raw.push(RawResponse {
                label: "insights:total_value".into(),
                body: clean(body, token),
            }),
            // One refused metric refuses the list: ask for each alone.
            Err(error) if metric_refusal(&error).is_some() => {
                for name in TOTALS {
                    let label = format!("insights:{name}");
                    raw.push(
                        self.insights(request, token, label, totals(name.to_string()))
                            .await?,
                    );
                }
            }
            Err(error) => return Err(error),
        }

        let mut page = map(request, &raw)?;
        page.raw = raw;
        sink.page(page, None).await?;
        Ok(())
    }

    fn derive(&self, request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
        let mut page = map(request, raw)?;
        page.raw = raw.to_vec();
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Source;
    use chrono::NaiveDate;

    fn request(zone: &str) -> PullRequest {
        PullRequest {
            tenant: "t".into(),
            source: Source {
                channel_id: "ig".into(),
                platform: crate::domain::channel::Platform::Instagram,
                account_id: "1784".into(),
                credentials_ref: "IG".into(),
            },
            day: NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
            time_zone: zone.parse().unwrap(),
            currency: "EUR".into(),
            latest: false,
            previous_totals: None,
            credential: None,
            cursor: None,
            customer_keys: crate::domain::observation::CustomerKeySecret::development(),
        }
    }

    fn raw(label: &str, body: Value) -> RawResponse {
        RawResponse {
            label: label.into(),
            body,
        }
    }

    #[test]
    fn connectors_instagram_takes_the_value_ending_at_the_end_of_the_pacific_day() {
        // Shaped as https://developers.facebook.com/docs/instagram-platform/api-reference/instagram-user/insights
        // shows period=day values; Meta may list the neighbouring day too, in any order.
        let reach = json!({"data": [{
            "name": "reach", "period": "day", "title": "Accounts reached",
            "description": "The number of unique accounts that have seen your content.",
            "values": [
                {"value": 700, "end_time": "2026-12-07T08:00:00+0000"},
                {"value": 650, "end_time": "2026-12-06T08:00:00+0000"},
            ],
            "id": "1784/insights/reach/day",
        }]});
        let totals = json!({"data": []});
        let kept = [
            raw("insights:reach", reach),
            raw("insights:total_value", totals),
        ];
        let page = map(&request("Europe/Amsterdam"), &kept).unwrap();
        assert_eq!(page.channel_stats[0].reach, Some(700));
        assert_eq!(page.day_zone.as_deref(), Some("America/Los_Angeles"));
        let page = map(&request("America/Los_Angeles"), &kept).unwrap();
        assert_eq!(page.day_zone, None);
        let metrics: Vec<&str> = page.missing.iter().map(|m| m.metric.as_str()).collect();
        assert_eq!(metrics, TOTALS);
        assert!(
            page.missing
                .iter()
                .all(|m| m.reason == "not in the response")
        );
    }

    #[test]
    fn connectors_instagram_reads_graph_codes_from_its_own_refusals() {
        let rejected = |message: &str| ConnectorError::Rejected {
            platform: PLATFORM,
            status: 400,
            message: message.into(),
        };
        let metric = rejected("GET /v24.0/1/insights: Graph API error 100: (#100) metric[4] x");
        assert_eq!(
            metric_refusal(&metric).as_deref(),
            Some("Graph API error 100: (#100) metric[4] x")
        );
        let gone = rejected("GET /v24.0/1: Graph API error 100 (subcode 33): Unsupported get");
        assert_eq!(
            graph_refusal(&gone).map(|g| (g.0, g.1)),
            Some((100, Some(33)))
        );
        assert_eq!(metric_refusal(&gone), None);
        assert_eq!(account_refusal(&gone), None);
        let other = rejected("GET /v24.0/1: Graph API error 2500: Unknown path");
        assert_eq!(metric_refusal(&other), None);
        assert!(account_refusal(&other).is_some());
    }
}
