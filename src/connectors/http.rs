//! The HTTP client every connector shares: timeouts, retries with backoff, rate limits,
//! the mapping of HTTP failures to [`ConnectorError`], and small readers of wire values.
//!
//! Secrets travel only in headers or query parameters; every message this module builds
//! names the URL without its query string, and platform messages are scrubbed of the
//! secret before they reach an error or a log line.
use super::{ConnectorError, HttpSettings, PullRequest, Secret};
use crate::domain::observation::{ChannelDayStats, check_count};
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

/// How a platform's answer is to be treated, decided from its status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A usable answer.
    Ok,
    /// The credential was refused.
    Auth(String),
    /// A transient failure or a rate limit: try again after a delay.
    Retry(String),
    /// The request was refused for good.
    Rejected(String),
}

/// A platform's own reading of an answer; None leaves it to the HTTP status.
pub(crate) type Classify = fn(StatusCode, Option<&Value>) -> Option<Verdict>;

/// One request, rebuilt for every attempt.
pub(crate) struct Call<'a> {
    method: Method,
    url: Url,
    query: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
    json: Option<Value>,
    secret: Option<&'a Secret>,
    reference: &'a str,
}

impl<'a> Call<'a> {
    /// A GET of `url`, authenticated with the credential named `reference`.
    pub(crate) fn get(url: Url, reference: &'a str) -> Call<'a> {
        Call {
            method: Method::GET,
            url,
            query: Vec::new(),
            headers: Vec::new(),
            json: None,
            secret: None,
            reference,
        }
    }

    /// A POST of `body` as JSON to `url`.
    pub(crate) fn post(url: Url, reference: &'a str, body: Value) -> Call<'a> {
        Call {
            method: Method::POST,
            json: Some(body),
            ..Call::get(url, reference)
        }
    }

    /// Adds a query parameter.
    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Call<'a> {
        self.query.push((name, value.into()));
        self
    }

    /// Sends the secret as a query parameter, for the platforms that want it there.
    pub(crate) fn secret_query(mut self, name: &'static str, secret: &'a Secret) -> Call<'a> {
        self.query.push((name, secret.expose().to_string()));
        self.secret = Some(secret);
        self
    }

    /// Sends the secret in a header, as given.
    pub(crate) fn secret_header(mut self, name: &'static str, secret: &'a Secret) -> Call<'a> {
        self.headers.push((name, secret.expose().to_string()));
        self.secret = Some(secret);
        self
    }

    /// Sends the secret as an OAuth bearer token.
    pub(crate) fn bearer(mut self, secret: &'a Secret) -> Call<'a> {
        self.headers
            .push(("authorization", format!("Bearer {}", secret.expose())));
        self.secret = Some(secret);
        self
    }

    /// The URL as it may be shown: no query string, no user info.
    fn shown_url(&self) -> String {
        shown_url(&self.url)
    }

    /// Replaces the secret in a text that came from elsewhere (a platform may echo it).
    fn scrub(&self, text: String) -> String {
        match self.secret.map(Secret::expose) {
            Some(secret) if !secret.is_empty() && text.contains(secret) => {
                text.replace(secret, "***")
            }
            _ => text,
        }
    }
}

/// A usable answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Response headers (paging links live there).
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Value,
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    /// Worth another attempt, after `wait` when the platform said how long.
    Retry {
        message: String,
        wait: Option<Duration>,
    },
    /// Final.
    Fatal(ConnectorError),
}

/// The HTTP client of one platform.
pub(crate) struct Http {
    platform: &'static str,
    // Building a client only fails when the TLS backend cannot start; that is reported
    // on the first pull rather than panicking while the registry is assembled.
    client: Result<reqwest::Client, String>,
    settings: HttpSettings,
    classify: Classify,
}

impl Http {
    /// A client for `platform` with the shared settings and the platform's reading of
    /// error bodies.
    pub(crate) fn new(platform: &'static str, settings: &HttpSettings, classify: Classify) -> Http {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // API endpoints do not redirect; following one could carry a query-string
            // secret to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the HTTP client could not be built: {}", describe(&e)));
        Http {
            platform,
            client,
            settings: settings.clone(),
            classify,
        }
    }

    /// Sends `call`, retrying transient failures, and returns the JSON answer.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Reply, ConnectorError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| ConnectorError::Unavailable {
                platform: self.platform,
                attempts: 0,
                message: e.clone(),
            })?;
        let max_attempts = self.settings.max_attempts.max(1);
        let max_delay = self.settings.max_delay;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.base_delay)
            .with_max_delay(max_delay)
            .with_jitter()
            .with_max_times(max_attempts as usize - 1);
        let attempts = AtomicU32::new(0);
        let result = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(client, &call)
        })
        .retry(backoff)
        .when(|failure| matches!(failure, Failure::Retry { .. }))
        .adjust(|failure, next| {
            // The platform's own wait wins over the backoff; jitter may push the backoff
            // past max_delay, so both are capped here.
            let next = next?;
            Some(match failure {
                Failure::Retry {
                    wait: Some(wait), ..
                } => (*wait).min(max_delay),
                _ => next.min(max_delay),
            })
        })
        .notify(|failure, delay| {
            if let Failure::Retry { message, .. } = failure {
                tracing::warn!(
                    platform = self.platform,
                    url = %call.shown_url(),
                    delay_ms = delay.as_millis() as u64,
                    "{message}; retrying"
                );
            }
        })
        .await;
        result.map_err(|failure| match failure {
            Failure::Fatal(error) => error,
            Failure::Retry { message, .. } => ConnectorError::Unavailable {
                platform: self.platform,
                attempts: attempts.load(Ordering::Relaxed),
                message,
            },
        })
    }

    async fn attempt(&self, client: &reqwest::Client, call: &Call<'_>) -> Result<Reply, Failure> {
        let shown = call.shown_url();
        let mut builder = client
            .request(call.method.clone(), call.url.clone())
            .query(&call.query);
        for (name, value) in &call.headers {
            builder = builder.header(*name, value);
        }
        if let Some(body) = &call.json {
            builder = builder.json(body);
        }
        let response = builder.send().await.map_err(|e| {
            let message = format!("{} {shown}: {}", call.method, describe(&e));
            if e.is_builder() {
                Failure::Fatal(ConnectorError::Config(call.scrub(message)))
            } else {
                Failure::Retry {
                    message: call.scrub(message),
                    wait: None,
                }
            }
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| Failure::Retry {
            message: call.scrub(format!(
                "{} {shown}: reading the body failed: {}",
                call.method,
                describe(&e)
            )),
            wait: None,
        })?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        let verdict = (self.classify)(status, body.as_ref())
            .unwrap_or_else(|| default_verdict(status, body.as_ref(), &bytes));
        let context = |m: String| call.scrub(format!("{} {shown}: {m}", call.method));
        match verdict {
            Verdict::Ok => match body {
                Some(body) => Ok(Reply { headers, body }),
                // A 200 whose body does not parse is a page cut off in transit.
                None => Err(Failure::Retry {
                    message: context(format!(
                        "HTTP {} with a body that is not complete JSON ({} bytes)",
                        status.as_u16(),
                        bytes.len()
                    )),
                    wait: None,
                }),
            },
            Verdict::Auth(message) => Err(Failure::Fatal(ConnectorError::Auth {
                reference: call.reference.to_string(),
                message: call.scrub(message),
            })),
            Verdict::Retry(message) => Err(Failure::Retry {
                message: context(message),
                wait: retry_hint(&headers, SystemTime::now()),
            }),
            Verdict::Rejected(message) => Err(Failure::Fatal(ConnectorError::Rejected {
                platform: self.platform,
                status: status.as_u16(),
                message: context(message),
            })),
        }
    }
}

/// The reading of an answer by its status alone.
fn default_verdict(status: StatusCode, body: Option<&Value>, raw: &[u8]) -> Verdict {
    let message = || format!("HTTP {}: {}", status.as_u16(), platform_message(body, raw));
    match status.as_u16() {
        200..=299 => Verdict::Ok,
        401 | 403 => Verdict::Auth(message()),
        408 | 429 | 500..=599 => Verdict::Retry(message()),
        300..=399 => Verdict::Rejected(format!(
            "HTTP {}: the API redirected; check the base URL",
            status.as_u16()
        )),
        _ => Verdict::Rejected(message()),
    }
}

/// The human-readable message in a platform's error body, whatever its shape.
pub(crate) fn platform_message(body: Option<&Value>, raw: &[u8]) -> String {
    if let Some(body) = body {
        let error = &body["error"];
        if let Some(m) = error["message"].as_str().filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        let errors = &body["errors"];
        if let Some(m) = errors.as_str() {
            return m.to_string();
        }
        if let Some(first) = errors.as_array().and_then(|a| a.first())
            && let Some(m) = first["message"].as_str().or(first["detail"].as_str())
        {
            return m.to_string();
        }
        if errors.is_object() {
            return errors.to_string();
        }
        if let Some(m) = body["detail"].as_str().or(body["title"].as_str()) {
            return m.to_string();
        }
    }
    let text = String::from_utf8_lossy(raw);
    let text = text.trim();
    if text.is_empty() {
        "no message".to_string()
    } else {
        text.chars().take(200).collect()
    }
}

/// How long the platform asked to wait: `Retry-After` in (possibly fractional) seconds or
/// as an HTTP date, else X's `x-rate-limit-reset` in epoch seconds.
pub(crate) fn retry_hint(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(value) = text(RETRY_AFTER.as_str()) {
        if let Ok(seconds) = value.parse::<f64>() {
            return Duration::try_from_secs_f64(seconds.max(0.0)).ok();
        }
        if let Ok(date) = DateTime::parse_from_rfc2822(value) {
            let at = SystemTime::from(date.with_timezone(&Utc));
            return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    if let Some(value) = text("x-rate-limit-reset")
        && let Ok(epoch) = value.parse::<u64>()
    {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch);
        return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
    }
    None
}

/// A reqwest error without its URL (which may carry a query-string secret).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the body could not be read"
    } else if error.is_builder() {
        "the request could not be built"
    } else {
        "the request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {cause}")
    }
}

/// `url` without query string, fragment or user info, for messages and logs.
pub(crate) fn shown_url(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// `base` with `segments` appended, each percent-encoded, so an account id cannot change
/// the path or add a query.
pub(crate) fn endpoint(
    platform: &'static str,
    base: &str,
    segments: &[&str],
) -> Result<Url, ConnectorError> {
    let mut url = Url::parse(base.trim()).map_err(|e| {
        ConnectorError::Config(format!("{platform} base URL `{base}` is not a URL: {e}"))
    })?;
    {
        let mut path = url.path_segments_mut().map_err(|_| {
            ConnectorError::Config(format!("{platform} base URL `{base}` cannot take a path"))
        })?;
        path.pop_if_empty().extend(segments);
    }
    Ok(url)
}

/// The request's credential, or Auth when none is set under its reference.
pub(crate) fn credential(request: &PullRequest) -> Result<&Secret, ConnectorError> {
    request
        .credential
        .as_ref()
        .ok_or_else(|| ConnectorError::Auth {
            reference: request.source.credentials_ref.clone(),
            message: "no credential is set under this reference".into(),
        })
}

/// A row of channel statistics with nothing reported yet.
pub(crate) fn empty_stats(request: &PullRequest) -> ChannelDayStats {
    ChannelDayStats {
        channel_id: request.source.channel_id.clone(),
        day: request.day,
        followers: None,
        posts: None,
        mentions: None,
        shares: None,
        comments: None,
        likes: None,
        link_clicks: None,
        views: None,
        reach: None,
    }
}

/// A BadResponse of `platform`.
pub(crate) fn bad(platform: &'static str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::BadResponse {
        platform,
        message: message.into(),
    }
}

/// A count at `field`: a JSON integer or a string of digits (Google sends int64 as
/// text), not negative; None when absent or null.
pub(crate) fn optional_count(
    platform: &'static str,
    value: &Value,
    field: &str,
) -> Result<Option<i64>, ConnectorError> {
    let number = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let number =
        number.ok_or_else(|| bad(platform, format!("{field}: {value} is not a whole number")))?;
    check_count(field, number)
        .map(Some)
        .map_err(|(field, reason)| bad(platform, format!("{field} {reason}")))
}

/// Like [`optional_count`], but the field must be there.
pub(crate) fn count(
    platform: &'static str,
    value: &Value,
    field: &str,
) -> Result<i64, ConnectorError> {
    optional_count(platform, value, field)?
        .ok_or_else(|| bad(platform, format!("{field} is missing")))
}

/// Today's total minus the previous day's stored total under `key`: None without a
/// previous total, and 0 when the total shrank (deleted posts are not negative posts).
pub(crate) fn difference(previous: Option<&Value>, key: &str, now: i64) -> Option<i64> {
    let before = previous?.get(key)?.as_i64()?;
    Some(now.saturating_sub(before).max(0))
}

/// The first instant of `day` in `time_zone`; where midnight is skipped by a DST change
/// the day starts at the first hour that exists.
pub(crate) fn start_of_day(day: NaiveDate, time_zone: chrono_tz::Tz) -> DateTime<chrono_tz::Tz> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    (0..=3)
        .find_map(|hour| {
            time_zone
                .from_local_datetime(&(midnight + chrono::Duration::hours(hour)))
                .earliest()
        })
        // No zone skips more than an hour at midnight; UTC midnight is a safe last resort.
        .unwrap_or_else(|| time_zone.from_utc_datetime(&midnight))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn connectors_read_retry_after_in_every_form() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            retry_hint(&headers("retry-after", "2.0"), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_hint(&headers("retry-after", "0.5"), now),
            Some(Duration::from_millis(500))
        );
        // 1_800_000_000 is 2027-01-15T08:00:00Z.
        assert_eq!(
            retry_hint(
                &headers("retry-after", "Fri, 15 Jan 2027 08:00:07 GMT"),
                now
            ),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_hint(&headers("x-rate-limit-reset", "1800000003"), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_hint(&headers("x-rate-limit-reset", "1700000000"), now),
            Some(Duration::ZERO),
            "a reset in the past means go now"
        );
        assert_eq!(retry_hint(&headers("retry-after", "soon"), now), None);
        assert_eq!(retry_hint(&HeaderMap::new(), now), None);
    }

    #[test]
    fn connectors_show_urls_without_secrets_and_keep_ids_in_one_segment() {
        let url = Url::parse("https://u:p@example.com/a/b?key=SECRET#x").unwrap();
        assert_eq!(shown_url(&url), "https://example.com/a/b");
        let url = endpoint("test", "http://127.0.0.1:9/base/", &["v1", "a/b?c"]).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/base/v1/a%2Fb%3Fc");
        assert!(matches!(
            endpoint("test", "not a url", &[]),
            Err(ConnectorError::Config(_))
        ));
    }

    #[test]
    fn connectors_count_strings_and_refuse_negatives() {
        assert_eq!(count("t", &serde_json::json!("12"), "f").unwrap(), 12);
        assert_eq!(count("t", &serde_json::json!(12), "f").unwrap(), 12);
        assert_eq!(optional_count("t", &Value::Null, "f").unwrap(), None);
        let err = count("t", &serde_json::json!(-1), "a.b").unwrap_err();
        assert!(err.to_string().contains("a.b"), "{err}");
        let err = count("t", &serde_json::json!("1.5"), "a.c").unwrap_err();
        assert!(err.to_string().contains("a.c"), "{err}");
        assert_eq!(
            difference(Some(&serde_json::json!({"n": 5})), "n", 7),
            Some(2)
        );
        assert_eq!(
            difference(Some(&serde_json::json!({"n": 9})), "n", 7),
            Some(0)
        );
        assert_eq!(difference(None, "n", 7), None);
    }

    #[test]
    fn connectors_start_days_at_local_midnight() {
        let tz: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            start_of_day(day, tz).to_rfc3339(),
            "2026-11-23T00:00:00+01:00"
        );
        // Santiago skipped midnight on 2026-09-06 (clocks went from 00:00 to 01:00).
        let tz: chrono_tz::Tz = "America/Santiago".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(
            start_of_day(day, tz).to_rfc3339(),
            "2026-09-06T01:00:00-03:00"
        );
    }
}
