//! The HTTP client every connector shares: timeouts, retries with backoff, rate limits,
//! the mapping of HTTP failures to [`ConnectorError`], and small readers of wire values.
//!
//! Secrets travel only in headers or query parameters (YouTube's key and Instagram's token,
//! where those platforms take them). Every message this module builds names only the
//! URL's path, never its host or query string, and says what kind of failure happened
//! (timed out, could not connect) without the network detail: a pull's error is stored
//! and shown to the tenant, and must not tell what listens where. Platform messages are
//! scrubbed of the secret in every spelling a URL, a form or JSON can give it (see
//! [`scrub`]) before they reach an error or a log line.
use super::{ConnectorError, HttpSettings, PullRequest, Secret};
use crate::domain::observation::{ChannelDayStats, RowResult, check_count};
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

    /// The URL as it may be logged for the operator: no query string, no user info.
    fn shown_url(&self) -> String {
        shown_url(&self.url)
    }

    /// The method and path as they may be shown to the tenant: no host, no query string.
    fn shown_path(&self) -> String {
        format!("{} {}", self.method, self.url.path())
    }

    /// Removes the secret from a text that came from elsewhere (a platform may echo it).
    fn scrub(&self, text: String) -> String {
        match self.secret.map(Secret::expose) {
            Some(secret) => scrub(&text, secret),
            None => text,
        }
    }
}

/// `text` with every spelling of `secret` replaced by `***`: as is, percent-encoded (either
/// case of hex digits, every byte or only some, once or twice), form-encoded (a space as
/// `+`), JSON-escaped (`\/`, `\uXXXX`), or any mix of these, as a platform that echoes
/// the request URL or body may write it. A spelling of the secret's first bytes cut off by
/// the end of the text (a truncated message) goes too.
pub(crate) fn scrub(text: &str, secret: &str) -> String {
    let (bytes, secret) = (text.as_bytes(), secret.as_bytes());
    if secret.is_empty() {
        return text.to_string();
    }
    // A cut-off spelling must hold this much of the secret, so that a message ending in
    // the secret's first letter is left alone.
    let cut_off = secret.len().min(4);
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    // Every spelling starts with the first byte itself or an escape.
    let may_start = |b: u8| b == secret[0] || matches!(b, b'%' | b'+' | b'\\');
    while at < bytes.len() {
        let found = may_start(bytes[at])
            .then(|| spelled_at(bytes, at, secret, cut_off))
            .flatten();
        match found {
            Some(end) if end > at => {
                out.extend_from_slice(b"***");
                at = end;
            }
            _ => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    // Only whole ASCII spellings were replaced, so what remains is as valid as the input.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The end of the longest spelling of `secret` that starts at `start` of `text`; a spelling
/// of at least `cut_off` leading bytes that runs into the end of the text counts too.
fn spelled_at(text: &[u8], start: usize, secret: &[u8], cut_off: usize) -> Option<usize> {
    // (position in text, bytes of the secret spelled): one byte may be spelled several
    // ways whose prefixes overlap (`%` itself or `%25`), so every way is followed.
    let mut pending = vec![(start, 0usize)];
    let mut seen = std::collections::HashSet::new();
    let mut end = None;
    while let Some((t, k)) = pending.pop() {
        if k == secret.len() || (t == text.len() && k >= cut_off) {
            end = end.max(Some(t));
            continue;
        }
        if t == text.len() || !seen.insert((t, k)) {
            continue;
        }
        for (dt, dk) in spellings(&text[t..], &secret[k..]) {
            pending.push((t + dt, k + dk));
        }
    }
    end
}

/// The ways `text` may begin with a spelling of the first byte(s) of `secret`, each as
/// (bytes of text, bytes of secret).
fn spellings(text: &[u8], secret: &[u8]) -> Vec<(usize, usize)> {
    let hex = |at: usize| -> Option<u8> {
        let pair = text.get(at..at + 2)?;
        u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()
    };
    let next = secret[0];
    let mut ways = Vec::new();
    if text[0] == next || (text[0] == b'+' && next == b' ') {
        ways.push((1, 1));
    }
    if text[0] == b'%' {
        if hex(1) == Some(next) {
            ways.push((3, 1));
        }
        // Encoded twice: the `%` of `%2B` became `%25`.
        if text
            .get(1..3)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"25"))
            && hex(3) == Some(next)
        {
            ways.push((5, 1));
        }
    }
    if text[0] == b'\\' {
        let simple = match text.get(1) {
            Some(b'/') => Some(b'/'),
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            _ => None,
        };
        if simple == Some(next) {
            ways.push((2, 1));
        }
        if let Some((len, ch)) = json_unicode(text) {
            let mut buffer = [0u8; 4];
            let spelled = ch.encode_utf8(&mut buffer).as_bytes();
            if secret.starts_with(spelled) {
                ways.push((len, spelled.len()));
            }
        }
    }
    ways
}

/// A JSON `\uXXXX` escape (or a surrogate pair of two) at the start of `text`: its length
/// and character.
fn json_unicode(text: &[u8]) -> Option<(usize, char)> {
    let unit = |at: usize| -> Option<u32> {
        let four = text.get(at..at + 6)?;
        if &four[..2] != b"\\u" {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(&four[2..]).ok()?, 16).ok()
    };
    let high = unit(0)?;
    if (0xD800..0xDC00).contains(&high) {
        let low = unit(6).filter(|low| (0xDC00..0xE000).contains(low))?;
        let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        return char::from_u32(code).map(|c| (12, c));
    }
    char::from_u32(high).map(|c| (6, c))
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
            .map_err(|e| {
                tracing::error!(platform, cause = %causes(&e), "the HTTP client could not be built");
                "the HTTP client could not be built".to_string()
            });
        Http {
            platform,
            client,
            settings: settings.clone(),
            classify,
        }
    }

    /// Logs the network detail of a failed attempt for the operator, at debug: the URL
    /// without its query string and the error's causes, scrubbed.
    fn log_detail(&self, call: &Call<'_>, error: &reqwest::Error) {
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(
                platform = self.platform,
                url = %call.shown_url(),
                cause = %call.scrub(causes(error)),
                "{}",
                describe(error)
            );
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
            // The platform's own wait wins over the backoff (a longer one ended the pull
            // in `attempt`); jitter may push the backoff past max_delay, so both are
            // capped here.
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
        let shown = call.shown_path();
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
            self.log_detail(call, &e);
            let message = format!("{shown}: {}", describe(&e));
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
        let bytes = response.bytes().await.map_err(|e| {
            self.log_detail(call, &e);
            Failure::Retry {
                message: call.scrub(format!(
                    "{shown}: reading the answer failed: {}",
                    describe(&e)
                )),
                wait: None,
            }
        })?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        let verdict = (self.classify)(status, body.as_ref())
            .unwrap_or_else(|| default_verdict(status, body.as_ref(), &bytes));
        let context = |m: String| call.scrub(format!("{shown}: {m}"));
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
            Verdict::Retry(message) => {
                let now = SystemTime::now();
                let wait = retry_hint(&headers, now);
                match wait {
                    // Waiting longer than max_delay per attempt would burn every attempt
                    // before the limit resets (X's windows are 15 minutes): the runner
                    // pulls the source again once the platform takes requests.
                    Some(wait) if wait > self.settings.max_delay => {
                        Err(Failure::Fatal(ConnectorError::RateLimited {
                            platform: self.platform,
                            until: DateTime::<Utc>::from(now + wait),
                            message: context(message),
                        }))
                    }
                    _ => Err(Failure::Retry {
                        message: context(message),
                        wait,
                    }),
                }
            }
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

/// The kind of a reqwest error, without its URL or its network detail: the message is
/// stored and shown to the tenant, and "connection refused" or a DNS or TLS error would
/// tell what listens where. [`Http::log_detail`] keeps the detail for the operator.
fn describe(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect to the platform"
    } else if error.is_body() || error.is_decode() {
        "the connection broke during the answer"
    } else if error.is_builder() {
        "the request could not be built"
    } else {
        "the request failed"
    }
}

/// The causes of a reqwest error, innermost last, without the error's own text (which
/// names the URL, query string included).
fn causes(error: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        causes.push(inner.to_string());
        source = inner.source();
    }
    causes.join(": ")
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
/// the path or add a query; `.` and `..`, which the URL would resolve rather than encode,
/// are refused.
pub(crate) fn endpoint(
    platform: &'static str,
    base: &str,
    segments: &[&str],
) -> Result<Url, ConnectorError> {
    if let Some(dots) = segments.iter().find(|s| matches!(**s, "." | "..")) {
        return Err(ConnectorError::Config(format!(
            "`{dots}` is not an id {platform} knows"
        )));
    }
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
            message: "no credential is set under this reference for this tenant".into(),
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

/// A whole number at `field`: a JSON integer or a string of digits (Google sends int64
/// as text); None when absent or null. Whether it is a plausible count is the rule of the
/// row it goes into (see [`stats_page`]).
pub(crate) fn optional_number(
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
    number
        .map(Some)
        .ok_or_else(|| bad(platform, format!("{field}: {value} is not a whole number")))
}

/// A count at `field` that is no row's (a page's row count): an [`optional_number`]
/// that must also be a count, else the answer is bad.
pub(crate) fn optional_count(
    platform: &'static str,
    value: &Value,
    field: &str,
) -> Result<Option<i64>, ConnectorError> {
    optional_number(platform, value, field)?
        .map(|number| check_count(field, number))
        .transpose()
        .map_err(|(field, reason)| bad(platform, format!("{field} {reason}")))
}

/// An optional metric at `field`: when absent it is left unset (`not_reported`) and
/// `metric` goes on `missing` with the reason, so that the day keeps the other metrics.
pub(crate) fn reported(
    platform: &'static str,
    value: &Value,
    field: &str,
    metric: &str,
    missing: &mut Vec<super::MissingMetric>,
) -> Result<Option<i64>, ConnectorError> {
    let count = optional_number(platform, value, field)?;
    if count.is_none() {
        missing.push(super::MissingMetric {
            metric: metric.to_string(),
            reason: NOT_IN_THE_RESPONSE.to_string(),
        });
    }
    Ok(count)
}

/// The page of one day's channel statistics. The row goes in when it meets every rule of
/// [`ChannelDayStats::check`] and the lifetime totals it was derived from are counts too;
/// otherwise it is left out with its reason, as GA4 leaves out a row that breaks one, and
/// the totals are not remembered, so no later difference is computed from them.
pub(crate) fn stats_page(
    row: ChannelDayStats,
    totals: Option<Value>,
    missing: Vec<super::MissingMetric>,
) -> super::Page {
    let totals_check = || -> RowResult<()> {
        let listed = totals
            .as_ref()
            .and_then(Value::as_object)
            .into_iter()
            .flatten();
        for (key, value) in listed {
            let number = value
                .as_i64()
                .ok_or_else(|| (key.clone(), format!("{value} is not a whole number")))?;
            check_count(key, number)?;
        }
        Ok(())
    };
    let mut page = super::Page {
        missing,
        ..super::Page::default()
    };
    match row.check().and_then(|()| totals_check()) {
        Ok(()) => {
            page.channel_stats.push(row);
            page.totals = totals;
        }
        Err((field, why)) => page
            .skipped
            .push(format!("channel statistics: {field} {why}")),
    }
    page
}

/// The reason of a metric the platform's answer left out.
pub(crate) const NOT_IN_THE_RESPONSE: &str = "not in the response";

/// Like [`optional_count`], but the field must be there.
pub(crate) fn count(
    platform: &'static str,
    value: &Value,
    field: &str,
) -> Result<i64, ConnectorError> {
    optional_count(platform, value, field)?
        .ok_or_else(|| bad(platform, format!("{field} is missing")))
}

/// The lifetime totals to remember, only those the platform gave: a total it left out is
/// not stored, so the next day's difference is not computed from it.
pub(crate) fn present_totals(totals: &[(&str, Option<i64>)]) -> Value {
    Value::Object(
        totals
            .iter()
            .filter_map(|(key, value)| value.map(|v| (key.to_string(), Value::from(v))))
            .collect(),
    )
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
        for dots in [".", ".."] {
            assert!(matches!(
                endpoint(
                    "test",
                    "http://127.0.0.1:9/base/",
                    &["v1", dots, "insights"]
                ),
                Err(ConnectorError::Config(_))
            ));
        }
    }

    /// Every spelling a URL, a form or JSON gives a secret.
    fn spellings_of(secret: &str) -> Vec<String> {
        // As reqwest writes a query parameter: form-encoded, a space as `+`.
        let mut url = Url::parse("https://example.com/").unwrap();
        url.query_pairs_mut().append_pair("key", secret);
        let form = url.query().unwrap_or_default()["key=".len()..].to_string();
        let every_byte: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
        vec![
            secret.to_string(),
            form.clone(),
            // Lower-case hex digits, the letters of the secret as they were.
            form.split('%')
                .enumerate()
                .map(|(i, part)| match (i, part.get(..2)) {
                    (0, _) | (_, None) => part.to_string(),
                    (_, Some(hex)) => format!("%{}{}", hex.to_lowercase(), &part[2..]),
                })
                .collect(),
            every_byte.clone(),
            every_byte.to_lowercase(),
            form.replace('%', "%25"),
            serde_json::to_string(secret)
                .unwrap()
                .trim_matches('"')
                .to_string(),
            secret.replace('/', "\\/"),
            secret
                .encode_utf16()
                .map(|u| format!("\\u{u:04x}"))
                .collect(),
        ]
    }

    #[test]
    fn connectors_scrub_every_spelling_of_a_secret() {
        for secret in ["k+y/Ab=c==", "a b&c%d+e", "tok\"en\\é😀/x"] {
            for spelled in spellings_of(secret) {
                let text = format!("GET /v1?part=x&key={spelled}&alt=json failed");
                let scrubbed = scrub(&text, secret);
                assert_eq!(
                    scrubbed, "GET /v1?part=x&key=***&alt=json failed",
                    "{spelled}"
                );
            }
        }
        // A spelling cut off by a truncated message goes too, a lone first letter stays.
        assert_eq!(scrub("echo: key=k%2By%2FA", "k+y/Ab=c=="), "echo: key=***");
        assert_eq!(scrub("a key", "k+y/Ab=c=="), "a key");
        assert_eq!(scrub("nothing here", ""), "nothing here");
        assert_eq!(scrub("ünïcode stays", "k+y"), "ünïcode stays");
    }

    #[test]
    fn a_social_row_that_breaks_a_rule_is_skipped_with_its_totals() {
        let row = ChannelDayStats {
            channel_id: "anna-x".into(),
            day: chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
            followers: Some(10),
            posts: None,
            mentions: None,
            shares: None,
            comments: None,
            likes: None,
            link_clicks: None,
            views: None,
            reach: None,
        };
        let totals = serde_json::json!({"tweet_count": 7});
        let page = stats_page(row.clone(), Some(totals.clone()), vec![]);
        assert_eq!(page.channel_stats, std::slice::from_ref(&row));
        assert_eq!(page.totals, Some(totals.clone()));
        assert!(page.skipped.is_empty());

        let mut negative = row.clone();
        negative.followers = Some(-1);
        let page = stats_page(negative, Some(totals), vec![]);
        assert!(page.channel_stats.is_empty() && page.totals.is_none());
        assert_eq!(page.skipped.len(), 1);
        assert!(page.skipped[0].contains("followers"), "{:?}", page.skipped);

        let page = stats_page(row, Some(serde_json::json!({"tweet_count": -3})), vec![]);
        assert!(page.channel_stats.is_empty() && page.totals.is_none());
        assert!(
            page.skipped[0].contains("tweet_count"),
            "{:?}",
            page.skipped
        );
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
