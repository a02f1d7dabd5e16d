//! Loopback fakes of the platforms' APIs, speaking their wire formats, for connector and
//! end-to-end tests.
//!
//! Each fake is an axum server on 127.0.0.1 spawned on the caller's runtime. It serves the
//! data set on it, checks the credential the way the platform does, records every request
//! and plays scripted faults, one per request, in order (or, with
//! [`FakeServer::fail_randomly`], a seeded random share of requests fail):
//!
//! ```ignore
//! let yt = FakeYouTube::start().await;
//! yt.set_channel("UC1", YtChannel { views: 100, subscribers: 5, hidden_subscribers: false, videos: 3 });
//! yt.fail_next(Fault::Status(503));
//! let connector = YouTube::new(&yt.base_url(), &settings);
//! ```
#![allow(dead_code)]
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A scripted misbehaviour, played on the next request a fake receives.
#[derive(Clone, Debug)]
pub enum Fault {
    /// The platform's error body with this HTTP status (500, 503, 400...).
    Status(u16),
    /// HTTP 429 with this `Retry-After` value ("1", "2.0" or an HTTP date).
    RetryAfter(String),
    /// HTTP 429 with `x-rate-limit-reset` this far in the future (epoch seconds, rounded up).
    RateLimitReset(Duration),
    /// The platform's own rate-limit answer (Graph error 4, TikTok rate_limit_exceeded...).
    RateLimited,
    /// The normal answer, status 200, cut off halfway through its JSON.
    Truncated,
    /// The normal answer after this delay (longer than the client's timeout, to time out).
    Delay(Duration),
    /// The platform's answer to a missing or invalid credential.
    Unauthorized,
    /// The platform's answer to an expired token (Graph error 190); elsewhere Unauthorized.
    TokenExpired,
    /// Exactly this status and JSON body.
    Body(u16, Value),
}

/// A request a fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path, as sent (percent-encoded).
    pub path: String,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Whether an Authorization or X-Shopify-Access-Token header was sent.
    pub auth_header: bool,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

impl Recorded {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The names of the query parameters, in order.
    pub fn param_names(&self) -> Vec<&str> {
        self.query.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// An answer before it becomes an HTTP response.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// The kinds of error every platform renders in its own format.
#[derive(Clone, Copy, Debug)]
enum ErrorKind {
    Status(u16),
    RateLimited,
    Unauthorized,
    TokenExpired,
}

/// One platform's wire format.
trait Wire: Send + Sync + 'static {
    fn serve(&self, request: &Recorded, headers: &HeaderMap, base: &str) -> Reply;
    fn error(&self, kind: ErrorKind) -> Reply;
}

struct Inner {
    wire: Arc<dyn Wire>,
    base: String,
    faults: Mutex<VecDeque<Fault>>,
    requests: Mutex<Vec<Recorded>>,
    chaos: Mutex<Option<Chaos>>,
    injected: Mutex<Vec<Fault>>,
}

/// Random faults: each request not given a scripted fault fails with probability `rate`,
/// with one of `faults` chosen uniformly; seeded, so a run can be replayed.
struct Chaos {
    rng: rand::rngs::StdRng,
    rate: f64,
    faults: Vec<Fault>,
}

impl Chaos {
    fn draw(&mut self) -> Option<Fault> {
        use rand::Rng;
        if self.faults.is_empty() || !self.rng.random_bool(self.rate) {
            return None;
        }
        let index = self.rng.random_range(0..self.faults.len());
        Some(self.faults[index].clone())
    }
}

/// The part every fake shares: its address, fault queue and request log.
pub struct FakeServer {
    inner: Arc<Inner>,
    task: tokio::task::AbortHandle,
}

impl FakeServer {
    async fn start(wire: Arc<dyn Wire>) -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("local address");
        let inner = Arc::new(Inner {
            wire,
            base: format!("http://{address}"),
            faults: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            chaos: Mutex::new(None),
            injected: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })
        .abort_handle();
        FakeServer { inner, task }
    }

    /// The base URL to give the connector, such as `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        self.inner.base.clone()
    }

    /// Plays `fault` on the next request not already given a fault.
    pub fn fail_next(&self, fault: Fault) {
        self.inner.faults.lock().unwrap().push_back(fault);
    }

    /// From now on, each request without a scripted fault fails with probability `rate`
    /// (0 to 1), with one of `faults` picked at random; the same seed plays the same
    /// faults on the same sequence of requests.
    pub fn fail_randomly(&self, seed: u64, rate: f64, faults: Vec<Fault>) {
        use rand::SeedableRng;
        *self.inner.chaos.lock().unwrap() = Some(Chaos {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            rate,
            faults,
        });
    }

    /// Ends [`FakeServer::fail_randomly`].
    pub fn stop_failing_randomly(&self) {
        *self.inner.chaos.lock().unwrap() = None;
    }

    /// The random faults played so far, in order.
    pub fn injected(&self) -> Vec<Fault> {
        self.inner.injected.lock().unwrap().clone()
    }

    /// Faults not yet played.
    pub fn pending_faults(&self) -> usize {
        self.inner.faults.lock().unwrap().len()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.inner.requests.lock().unwrap().len()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.inner.requests.lock().unwrap().clear();
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = reqwest::Url::parse(&format!("http://fake{uri}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let request = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query,
        auth_header: headers.contains_key("authorization")
            || headers.contains_key("x-shopify-access-token"),
        body: serde_json::from_slice(&body).ok(),
    };
    inner.requests.lock().unwrap().push(request.clone());
    let scripted = inner.faults.lock().unwrap().pop_front();
    let fault = scripted.or_else(|| {
        let random = inner.chaos.lock().unwrap().as_mut().and_then(Chaos::draw);
        if let Some(fault) = &random {
            inner.injected.lock().unwrap().push(fault.clone());
        }
        random
    });
    let wire = &inner.wire;
    let serve = || wire.serve(&request, &headers, &inner.base);
    let reply = match fault {
        None => serve(),
        Some(Fault::Status(status)) => wire.error(ErrorKind::Status(status)),
        Some(Fault::RateLimited) => wire.error(ErrorKind::RateLimited),
        Some(Fault::Unauthorized) => wire.error(ErrorKind::Unauthorized),
        Some(Fault::TokenExpired) => wire.error(ErrorKind::TokenExpired),
        Some(Fault::RetryAfter(value)) => {
            let mut reply = wire.error(ErrorKind::RateLimited);
            reply.status = 429;
            reply.headers.retain(|(k, _)| !is_rate_header(k));
            reply.header("retry-after", value)
        }
        Some(Fault::RateLimitReset(after)) => {
            let mut reply = wire.error(ErrorKind::RateLimited);
            reply.status = 429;
            // X's x-rate-limit-limit and -remaining stay, as X sends them with the reset.
            reply.headers.retain(|(k, _)| {
                !k.eq_ignore_ascii_case("retry-after")
                    && !k.eq_ignore_ascii_case("x-rate-limit-reset")
            });
            let at = SystemTime::now() + after;
            let epoch = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .expect("after 1970");
            let epoch = epoch.as_secs() + u64::from(epoch.subsec_nanos() > 0);
            reply.header("x-rate-limit-reset", epoch.to_string())
        }
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            serve()
        }
        Some(Fault::Truncated) => {
            let reply = serve();
            let text = reply.body.to_string();
            let cut = &text[..text.len() / 2];
            return response(reply.status, &reply.headers, cut.to_string());
        }
        Some(Fault::Body(status, body)) => Reply::json(status, body),
    };
    response(reply.status, &reply.headers, reply.body.to_string())
}

fn is_rate_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "retry-after" || name.starts_with("x-rate-limit")
}

fn response(status: u16, headers: &[(String, String)], body: String) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).expect("a valid status"))
        .header("content-type", "application/json; charset=utf-8");
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Body::from(body)).expect("a valid response")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn google_error(status: u16, message: &str, state: &str, reason: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": state,
        }}),
    )
}

fn google_status(status: u16) -> Reply {
    match status {
        500..=599 => google_error(
            status,
            "The service is currently unavailable.",
            "UNAVAILABLE",
            "backendError",
        ),
        404 => google_error(
            404,
            "Requested entity was not found.",
            "NOT_FOUND",
            "notFound",
        ),
        _ => google_error(
            status,
            "Request contains an invalid argument.",
            "INVALID_ARGUMENT",
            "badRequest",
        ),
    }
}

macro_rules! fake {
    ($fake:ident, $wire:ident) => {
        impl Deref for $fake {
            type Target = FakeServer;
            fn deref(&self) -> &FakeServer {
                &self.server
            }
        }

        impl $fake {
            /// Starts the fake on a loopback port of the current runtime.
            pub async fn start() -> $fake {
                let wire = Arc::new($wire::default());
                $fake {
                    server: FakeServer::start(wire.clone()).await,
                    wire,
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// YouTube Data API v3

/// A YouTube channel's lifetime statistics.
#[derive(Clone, Debug, Default)]
pub struct YtChannel {
    /// viewCount.
    pub views: u64,
    /// subscriberCount.
    pub subscribers: u64,
    /// hiddenSubscriberCount (the count is then left out).
    pub hidden_subscribers: bool,
    /// videoCount.
    pub videos: u64,
}

/// Fake of `GET /youtube/v3/channels?part=statistics&id=…&key=…` (or `forHandle=@…`).
pub struct FakeYouTube {
    server: FakeServer,
    wire: Arc<YouTubeWire>,
}
fake!(FakeYouTube, YouTubeWire);

impl FakeYouTube {
    /// The API key the fake accepts.
    pub const TOKEN: &'static str = "yt-test-key";

    /// Serves `channel` under `id`.
    pub fn set_channel(&self, id: &str, channel: YtChannel) {
        self.wire
            .channels
            .lock()
            .unwrap()
            .insert(id.to_string(), channel);
    }

    /// Answers `forHandle=handle` (`@name`, any case, as YouTube does) with channel `id`.
    pub fn set_handle(&self, handle: &str, id: &str) {
        self.wire
            .handles
            .lock()
            .unwrap()
            .insert(handle.to_lowercase(), id.to_string());
    }
}

#[derive(Default)]
struct YouTubeWire {
    channels: Mutex<HashMap<String, YtChannel>>,
    handles: Mutex<HashMap<String, String>>,
}

impl Wire for YouTubeWire {
    fn serve(&self, request: &Recorded, _: &HeaderMap, _: &str) -> Reply {
        if request.path != "/youtube/v3/channels" {
            return google_status(404);
        }
        if request.param("key") != Some(FakeYouTube::TOKEN) {
            return self.error(ErrorKind::Unauthorized);
        }
        let channels = self.channels.lock().unwrap();
        let ids = match request.param("forHandle") {
            // The handle is taken with or without its `@`.
            Some(handle) => {
                let handle = format!("@{}", handle.trim_start_matches('@').to_lowercase());
                let handles = self.handles.lock().unwrap();
                handles.get(&handle).cloned().unwrap_or_default()
            }
            None => request.param("id").unwrap_or("").to_string(),
        };
        let items: Vec<Value> = ids
            .split(',')
            .filter_map(|id| channels.get(id).map(|c| (id, c)))
            .map(|(id, c)| {
                let mut statistics = json!({
                    "viewCount": c.views.to_string(),
                    "hiddenSubscriberCount": c.hidden_subscribers,
                    "videoCount": c.videos.to_string(),
                });
                if !c.hidden_subscribers {
                    statistics["subscriberCount"] = json!(c.subscribers.to_string());
                }
                json!({"kind": "youtube#channel", "etag": "etag-1", "id": id, "statistics": statistics})
            })
            .collect();
        let mut body = json!({
            "kind": "youtube#channelListResponse",
            "etag": "etag-0",
            "pageInfo": {"totalResults": items.len(), "resultsPerPage": 5},
        });
        // The API leaves `items` out when nothing matched.
        if !items.is_empty() {
            body["items"] = json!(items);
        }
        Reply::json(200, body)
    }

    fn error(&self, kind: ErrorKind) -> Reply {
        match kind {
            ErrorKind::Status(status) => google_status(status),
            ErrorKind::RateLimited => google_error(
                429,
                "Too many requests.",
                "RESOURCE_EXHAUSTED",
                "rateLimitExceeded",
            ),
            ErrorKind::Unauthorized | ErrorKind::TokenExpired => {
                let message = "API key not valid. Please pass a valid API key.";
                Reply::json(
                    400,
                    json!({"error": {
                        "code": 400,
                        "message": message,
                        "errors": [{"message": message, "domain": "global", "reason": "badRequest"}],
                        "status": "INVALID_ARGUMENT",
                        "details": [{
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                        }],
                    }}),
                )
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Instagram Graph API

/// An Instagram professional account and its insights for whatever day is asked.
#[derive(Clone, Debug, Default)]
pub struct IgAccount {
    /// followers_count.
    pub followers: u64,
    /// media_count.
    pub media: u64,
    /// reach (None: left out of the answer).
    pub reach: Option<u64>,
    /// likes.
    pub likes: Option<u64>,
    /// comments.
    pub comments: Option<u64>,
    /// shares.
    pub shares: Option<u64>,
    /// views.
    pub views: Option<u64>,
    /// website_clicks.
    pub website_clicks: Option<u64>,
}

/// Fake of the Graph API's `/v24.0/{id}` and `/v24.0/{id}/insights`, in the shapes of
/// https://developers.facebook.com/docs/instagram-platform/api-reference/instagram-user/insights
/// (period=day `values` with a Pacific `end_time`, `total_value`, the `error` body).
pub struct FakeInstagram {
    server: FakeServer,
    wire: Arc<InstagramWire>,
}
fake!(FakeInstagram, InstagramWire);

impl FakeInstagram {
    /// The access token the fake accepts.
    pub const TOKEN: &'static str = "ig-test-token";

    /// Serves `account` under `id`.
    pub fn set_account(&self, id: &str, account: IgAccount) {
        self.wire
            .accounts
            .lock()
            .unwrap()
            .insert(id.to_string(), account);
    }

    /// Refuses `metric` with Graph error 100 wherever it is asked for, as Meta refuses
    /// `website_clicks` since v21.0: the whole request it is part of fails.
    pub fn refuse_metric(&self, metric: &str) {
        self.wire.refused.lock().unwrap().push(metric.to_string());
    }

    /// Serves `reach` as account `id`'s value of Meta's Pacific day `day` (the value whose
    /// `end_time` is the next Pacific midnight); other days serve the account's reach.
    pub fn set_daily_reach(&self, id: &str, day: NaiveDate, reach: u64) {
        self.wire
            .daily_reach
            .lock()
            .unwrap()
            .insert((id.to_string(), day), reach);
    }

    /// Answers for account `id` as if the token belonged to account `other`: the ids in
    /// the answers name `other`.
    pub fn answer_as(&self, id: &str, other: &str) {
        self.wire
            .answer_as
            .lock()
            .unwrap()
            .insert(id.to_string(), other.to_string());
    }
}

#[derive(Default)]
struct InstagramWire {
    accounts: Mutex<HashMap<String, IgAccount>>,
    refused: Mutex<Vec<String>>,
    daily_reach: Mutex<HashMap<(String, NaiveDate), u64>>,
    answer_as: Mutex<HashMap<String, String>>,
}

/// Meta's day: insights of `period=day` end at midnight in Los Angeles.
const PACIFIC: chrono_tz::Tz = chrono_tz::America::Los_Angeles;

/// The Pacific days whose end lies in `[since, until]` (epoch seconds), with those ends.
fn pacific_days(since: i64, until: i64) -> Vec<(NaiveDate, DateTime<Utc>)> {
    use chrono::TimeZone;
    let Some(first) = DateTime::<Utc>::from_timestamp(since, 0) else {
        return vec![];
    };
    let mut day = first
        .with_timezone(&PACIFIC)
        .date_naive()
        .pred_opt()
        .unwrap_or_default();
    let mut days = Vec::new();
    for _ in 0..400 {
        let next = day.succ_opt().unwrap_or_default();
        let Some(end) = PACIFIC
            .from_local_datetime(&next.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
        else {
            break;
        };
        let end = end.with_timezone(&Utc);
        if end.timestamp() > until {
            break;
        }
        if end.timestamp() >= since {
            days.push((day, end));
        }
        day = next;
    }
    days
}

fn graph_error(status: u16, code: i64, subcode: Option<i64>, kind: &str, message: &str) -> Reply {
    let mut error = json!({
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": "AbCdEfGhIjK",
    });
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    Reply::json(status, json!({ "error": error }))
}

impl Wire for InstagramWire {
    fn serve(&self, request: &Recorded, _: &HeaderMap, _: &str) -> Reply {
        if request.param("access_token") != Some(FakeInstagram::TOKEN) {
            return self.error(ErrorKind::Unauthorized);
        }
        let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
        let (id, edge) = match segments.as_slice() {
            ["v24.0", id] => (*id, None),
            ["v24.0", id, edge] => (*id, Some(*edge)),
            _ => return graph_error(400, 2500, None, "OAuthException", "Unknown path components"),
        };
        let accounts = self.accounts.lock().unwrap();
        let answered = self
            .answer_as
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string());
        let Some(account) = accounts.get(id) else {
            return graph_error(
                400,
                100,
                Some(33),
                "GraphMethodException",
                &format!("Unsupported get request. Object with ID '{id}' does not exist"),
            );
        };
        match edge {
            None => {
                let mut body = Map::new();
                for field in request.param("fields").unwrap_or("").split(',') {
                    match field {
                        "followers_count" => body.insert(field.into(), json!(account.followers)),
                        "media_count" => body.insert(field.into(), json!(account.media)),
                        _ => None,
                    };
                }
                body.insert("id".into(), json!(answered));
                Reply::json(200, Value::Object(body))
            }
            Some("insights") => {
                let (Some(since), Some(until)) = (request.param("since"), request.param("until"))
                else {
                    return graph_error(
                        400,
                        100,
                        None,
                        "OAuthException",
                        "since and until are required",
                    );
                };
                let (since, until): (i64, i64) =
                    (since.parse().unwrap_or(0), until.parse().unwrap_or(0));
                let total = request.param("metric_type") == Some("total_value");
                let metrics: Vec<&str> = request.param("metric").unwrap_or("").split(',').collect();
                let refused = self.refused.lock().unwrap();
                if let Some(at) = metrics.iter().position(|m| refused.iter().any(|r| r == m)) {
                    // Meta's answer to a metric the version no longer serves.
                    return graph_error(
                        400,
                        100,
                        None,
                        "OAuthException",
                        &format!(
                            "(#100) metric[{at}] must be one of the following values: \
                             accounts_engaged, comments, follows_and_unfollows, likes, \
                             profile_links_taps, reach, replies, saves, shares, \
                             total_interactions, views"
                        ),
                    );
                }
                let mut data = Vec::new();
                for name in metrics {
                    let value = match name {
                        "reach" => account.reach,
                        "likes" => account.likes,
                        "comments" => account.comments,
                        "shares" => account.shares,
                        "views" => account.views,
                        "website_clicks" => account.website_clicks,
                        _ => {
                            return graph_error(
                                400,
                                100,
                                None,
                                "OAuthException",
                                &format!(
                                    "(#100) metric[0] must be one of the following values: reach, likes, ... not {name}"
                                ),
                            );
                        }
                    };
                    let mut entry = json!({
                        "name": name,
                        "period": "day",
                        "title": name,
                        "description": format!("The number of {name}."),
                        "id": format!("{answered}/insights/{name}/day"),
                    });
                    if total {
                        let Some(value) = value else { continue };
                        entry["total_value"] = json!({ "value": value });
                    } else {
                        // Every Pacific day ending in [since, until], oldest first, as
                        // Meta lists them: a range of one Pacific day also lists the day
                        // before, which ends at `since`.
                        let daily = self.daily_reach.lock().unwrap();
                        let values: Vec<Value> = pacific_days(since, until)
                            .into_iter()
                            .filter_map(|(day, end)| {
                                let value = daily.get(&(id.to_string(), day)).copied().or(value)?;
                                Some(json!({
                                    "value": value,
                                    "end_time": end.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
                                }))
                            })
                            .collect();
                        if values.is_empty() {
                            continue;
                        }
                        entry["values"] = json!(values);
                    }
                    data.push(entry);
                }
                // Like Meta's, the paging links repeat the request, access token included.
                let token = FakeInstagram::TOKEN;
                Reply::json(
                    200,
                    json!({
                        "data": data,
                        "paging": {
                            "previous": format!("https://graph.facebook.com/v24.0/{id}/insights?access_token={token}&period=day&since={}&until={since}", since - 86_400),
                            "next": format!("https://graph.facebook.com/v24.0/{id}/insights?access_token={token}&period=day&since={until}&until={}", until + 86_400),
                        },
                    }),
                )
            }
            Some(_) => graph_error(
                400,
                100,
                None,
                "OAuthException",
                "Tried accessing nonexisting field",
            ),
        }
    }

    fn error(&self, kind: ErrorKind) -> Reply {
        match kind {
            ErrorKind::Status(status) if status >= 500 => graph_error(
                status,
                2,
                None,
                "OAuthException",
                "An unexpected error has occurred. Please retry your request later.",
            ),
            ErrorKind::Status(status) => {
                graph_error(status, 100, None, "OAuthException", "Invalid parameter")
            }
            ErrorKind::RateLimited => graph_error(
                400,
                4,
                None,
                "OAuthException",
                "(#4) Application request limit reached",
            ),
            ErrorKind::Unauthorized => graph_error(
                400,
                190,
                None,
                "OAuthException",
                "Invalid OAuth access token - Cannot parse access token",
            ),
            ErrorKind::TokenExpired => graph_error(
                400,
                190,
                Some(463),
                "OAuthException",
                "Error validating access token: Session has expired on Tuesday, 24-Nov-26 01:00:00 PST.",
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------
// X API v2

/// An X user's public metrics.
#[derive(Clone, Debug, Default)]
pub struct XUser {
    /// username.
    pub username: String,
    /// followers_count.
    pub followers: u64,
    /// following_count.
    pub following: u64,
    /// tweet_count.
    pub tweets: u64,
    /// listed_count.
    pub listed: u64,
    /// like_count (likes the user gave).
    pub likes_given: u64,
}

/// Fake of `GET /2/users/{id}?user.fields=public_metrics` and
/// `GET /2/users/by/username/{username}?user.fields=public_metrics`.
pub struct FakeX {
    server: FakeServer,
    wire: Arc<XWire>,
}
fake!(FakeX, XWire);

impl FakeX {
    /// The bearer token the fake accepts.
    pub const TOKEN: &'static str = "x-test-bearer";

    /// Serves `user` under `id`.
    pub fn set_user(&self, id: &str, user: XUser) {
        self.wire.users.lock().unwrap().insert(id.to_string(), user);
    }
}

#[derive(Default)]
struct XWire {
    users: Mutex<HashMap<String, XUser>>,
}

fn x_problem(status: u16, title: &str, detail: &str) -> Reply {
    Reply::json(
        status,
        json!({"title": title, "type": "about:blank", "status": status, "detail": detail}),
    )
}

impl Wire for XWire {
    fn serve(&self, request: &Recorded, headers: &HeaderMap, _: &str) -> Reply {
        if bearer(headers) != Some(FakeX::TOKEN) {
            return self.error(ErrorKind::Unauthorized);
        }
        let Some(id) = request.path.strip_prefix("/2/users/") else {
            return x_problem(404, "Not Found", "Sorry, that page does not exist.");
        };
        let users = self.users.lock().unwrap();
        let by_name = id.strip_prefix("by/username/").map(|name| {
            users
                .iter()
                .find(|(_, u)| u.username.eq_ignore_ascii_case(name))
                .map(|(id, u)| (id.as_str(), u))
        });
        let found = match by_name {
            Some(found) => found,
            None => users.get_key_value(id).map(|(id, u)| (id.as_str(), u)),
        };
        let Some((id, user)) = found else {
            let detail = format!("Could not find user with id: [{id}].");
            return Reply::json(
                200,
                json!({"errors": [{
                    "value": id,
                    "detail": detail,
                    "title": "Not Found Error",
                    "resource_type": "user",
                    "parameter": "id",
                    "resource_id": id,
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                }]}),
            );
        };
        let mut data = json!({"id": id, "name": user.username, "username": user.username});
        if request
            .param("user.fields")
            .is_some_and(|f| f.split(',').any(|f| f == "public_metrics"))
        {
            data["public_metrics"] = json!({
                "followers_count": user.followers,
                "following_count": user.following,
                "tweet_count": user.tweets,
                "listed_count": user.listed,
                "like_count": user.likes_given,
            });
        }
        Reply::json(200, json!({ "data": data }))
    }

    fn error(&self, kind: ErrorKind) -> Reply {
        match kind {
            ErrorKind::Status(status) => {
                x_problem(status, "Service Unavailable", "Service Unavailable")
            }
            ErrorKind::RateLimited => {
                let reset = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .expect("after 1970")
                    .as_secs()
                    + 1;
                x_problem(429, "Too Many Requests", "Too Many Requests")
                    .header("x-rate-limit-limit", "300")
                    .header("x-rate-limit-remaining", "0")
                    .header("x-rate-limit-reset", reset.to_string())
            }
            ErrorKind::Unauthorized | ErrorKind::TokenExpired => {
                x_problem(401, "Unauthorized", "Unauthorized")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// TikTok Display API v2

/// A TikTok user as the Display API reports it.
#[derive(Clone, Debug, Default)]
pub struct TikTokUser {
    /// open_id.
    pub open_id: String,
    /// follower_count.
    pub followers: u64,
    /// likes_count (likes the user's videos received).
    pub likes: u64,
    /// video_count.
    pub videos: u64,
}

/// Fake of `GET /v2/user/info/?fields=…`; the token decides the user.
pub struct FakeTikTok {
    server: FakeServer,
    wire: Arc<TikTokWire>,
}
fake!(FakeTikTok, TikTokWire);

impl FakeTikTok {
    /// A token the tests may grant users under.
    pub const TOKEN: &'static str = "tt-test-token";

    /// Serves `user` to requests bearing `token`.
    pub fn set_user(&self, token: &str, user: TikTokUser) {
        self.wire
            .users
            .lock()
            .unwrap()
            .insert(token.to_string(), user);
    }
}

#[derive(Default)]
struct TikTokWire {
    users: Mutex<HashMap<String, TikTokUser>>,
}

fn tiktok_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"data": {}, "error": {"code": code, "message": message, "log_id": "20261123fake"}}),
    )
}

impl Wire for TikTokWire {
    fn serve(&self, request: &Recorded, headers: &HeaderMap, _: &str) -> Reply {
        let users = self.users.lock().unwrap();
        let Some(user) = bearer(headers).and_then(|t| users.get(t)) else {
            return self.error(ErrorKind::Unauthorized);
        };
        if request.path != "/v2/user/info/" {
            return tiktok_error(404, "invalid_params", "Unknown endpoint");
        }
        let mut fields = Map::new();
        for field in request.param("fields").unwrap_or("").split(',') {
            let value = match field {
                "open_id" => json!(user.open_id),
                "follower_count" => json!(user.followers),
                "likes_count" => json!(user.likes),
                "video_count" => json!(user.videos),
                "" => continue,
                other => {
                    return tiktok_error(400, "invalid_params", &format!("unknown field {other}"));
                }
            };
            fields.insert(field.to_string(), value);
        }
        Reply::json(
            200,
            json!({"data": {"user": fields}, "error": {"code": "ok", "message": "", "log_id": "20261123fake"}}),
        )
    }

    fn error(&self, kind: ErrorKind) -> Reply {
        match kind {
            ErrorKind::Status(status) if status >= 500 => {
                tiktok_error(status, "internal_error", "Something went wrong")
            }
            ErrorKind::Status(status) => {
                tiktok_error(status, "invalid_params", "Invalid parameters")
            }
            ErrorKind::RateLimited => tiktok_error(
                429,
                "rate_limit_exceeded",
                "The API rate limit was exceeded. Please try again later.",
            ),
            ErrorKind::Unauthorized | ErrorKind::TokenExpired => tiktok_error(
                401,
                "access_token_invalid",
                "The access token is invalid or not found in the request.",
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Google Analytics 4 Data API

/// One row of a GA4 report: a day and its session dimensions.
#[derive(Clone, Debug, Default)]
pub struct Ga4Row {
    /// date.
    pub date: NaiveDate,
    /// sessionSource.
    pub source: String,
    /// sessionMedium.
    pub medium: String,
    /// sessionCampaignName.
    pub campaign: String,
    /// sessionDefaultChannelGroup.
    pub channel_group: String,
    /// sessions.
    pub sessions: u64,
    /// totalUsers.
    pub users: u64,
    /// newUsers.
    pub new_users: u64,
}

/// Fake of `POST /v1beta/properties/{id}:runReport`, honouring dateRanges, limit and offset,
/// answering as https://developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/RunReportResponse
/// shows (`metadata.timeZone` the property's zone).
pub struct FakeGa4 {
    server: FakeServer,
    wire: Arc<Ga4Wire>,
}
fake!(FakeGa4, Ga4Wire);

impl FakeGa4 {
    /// The OAuth access token the fake accepts.
    pub const TOKEN: &'static str = "ga4-test-token";

    /// Serves `rows` for property `id` (replacing what was there).
    pub fn set_rows(&self, id: &str, rows: Vec<Ga4Row>) {
        self.wire
            .properties
            .lock()
            .unwrap()
            .insert(id.to_string(), rows);
    }
}

impl FakeGa4 {
    /// Reports property `id` in `zone` (`metadata.timeZone`; Europe/Amsterdam unless set).
    pub fn set_time_zone(&self, id: &str, zone: &str) {
        self.wire
            .zones
            .lock()
            .unwrap()
            .insert(id.to_string(), zone.to_string());
    }
}

#[derive(Default)]
struct Ga4Wire {
    properties: Mutex<HashMap<String, Vec<Ga4Row>>>,
    zones: Mutex<HashMap<String, String>>,
}

/// A JSON int64, which Google accepts as a number or as text.
fn int64(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

impl Wire for Ga4Wire {
    fn serve(&self, request: &Recorded, headers: &HeaderMap, _: &str) -> Reply {
        if bearer(headers) != Some(FakeGa4::TOKEN) {
            return self.error(ErrorKind::Unauthorized);
        }
        let Some(id) = request
            .path
            .strip_prefix("/v1beta/properties/")
            .and_then(|p| p.strip_suffix(":runReport"))
        else {
            return google_status(404);
        };
        if request.method != "POST" {
            return google_error(405, "Method not allowed", "INVALID_ARGUMENT", "badRequest");
        }
        let properties = self.properties.lock().unwrap();
        let Some(rows) = properties.get(id) else {
            return google_error(
                403,
                "User does not have sufficient permissions for this property.",
                "PERMISSION_DENIED",
                "forbidden",
            );
        };
        let body = request.body.clone().unwrap_or_default();
        let range = &body["dateRanges"][0];
        let day = |field: &str| {
            NaiveDate::parse_from_str(range[field].as_str().unwrap_or(""), "%Y-%m-%d")
        };
        let (Ok(start), Ok(end)) = (day("startDate"), day("endDate")) else {
            return google_status(400);
        };
        let names = |list: &str| -> Vec<String> {
            body[list]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["name"].as_str().map(str::to_string))
                .collect()
        };
        let dimensions = names("dimensions");
        let metrics = names("metrics");
        let limit = int64(&body["limit"]).unwrap_or(10_000) as usize;
        let offset = int64(&body["offset"]).unwrap_or(0) as usize;
        let matching: Vec<&Ga4Row> = rows
            .iter()
            .filter(|r| r.date >= start && r.date <= end)
            .collect();
        let mut out = Vec::new();
        for row in matching.iter().skip(offset).take(limit) {
            let mut dimension_values = Vec::new();
            for name in &dimensions {
                let value = match name.as_str() {
                    "date" => row.date.format("%Y%m%d").to_string(),
                    "sessionSource" => row.source.clone(),
                    "sessionMedium" => row.medium.clone(),
                    "sessionCampaignName" => row.campaign.clone(),
                    "sessionDefaultChannelGroup" => row.channel_group.clone(),
                    other => {
                        return google_error(
                            400,
                            &format!("Field {other} is not a valid dimension."),
                            "INVALID_ARGUMENT",
                            "badRequest",
                        );
                    }
                };
                dimension_values.push(json!({ "value": value }));
            }
            let mut metric_values = Vec::new();
            for name in &metrics {
                let value = match name.as_str() {
                    "sessions" => row.sessions,
                    "totalUsers" => row.users,
                    "newUsers" => row.new_users,
                    other => {
                        return google_error(
                            400,
                            &format!("Field {other} is not a valid metric."),
                            "INVALID_ARGUMENT",
                            "badRequest",
                        );
                    }
                };
                metric_values.push(json!({ "value": value.to_string() }));
            }
            out.push(json!({"dimensionValues": dimension_values, "metricValues": metric_values}));
        }
        let zone = self
            .zones
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .unwrap_or_else(|| "Europe/Amsterdam".into());
        let mut reply = json!({
            "dimensionHeaders": dimensions.iter().map(|d| json!({"name": d})).collect::<Vec<_>>(),
            "metricHeaders": metrics.iter().map(|m| json!({"name": m, "type": "TYPE_INTEGER"})).collect::<Vec<_>>(),
            "metadata": {"currencyCode": "EUR", "timeZone": zone},
            "kind": "analyticsData#runReport",
        });
        // Like the API, an empty report has neither rows nor rowCount.
        if !out.is_empty() {
            reply["rows"] = json!(out);
        }
        if !matching.is_empty() {
            reply["rowCount"] = json!(matching.len());
        }
        Reply::json(200, reply)
    }

    fn error(&self, kind: ErrorKind) -> Reply {
        match kind {
            ErrorKind::Status(status) => google_status(status),
            ErrorKind::RateLimited => google_error(
                429,
                "Exhausted concurrent requests quota.",
                "RESOURCE_EXHAUSTED",
                "rateLimitExceeded",
            ),
            ErrorKind::Unauthorized | ErrorKind::TokenExpired => google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
                "UNAUTHENTICATED",
                "authError",
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shopify Admin REST API

/// A Shopify order as the fake serves it, shaped as the published example of the Order
/// resource (https://shopify.dev/docs/api/admin-rest/latest/resources/order).
#[derive(Clone, Debug, Default)]
pub struct ShopifyOrder {
    /// id.
    pub id: u64,
    /// created_at, RFC 3339 with the shop's offset.
    pub created_at: String,
    /// updated_at; None: created_at.
    pub updated_at: Option<String>,
    /// currency.
    pub currency: String,
    /// subtotal_price, as text: before refunds.
    pub subtotal_price: String,
    /// current_subtotal_price, after refunds; None: subtotal_price.
    pub current_subtotal_price: Option<String>,
    /// refunds, as Shopify lists them.
    pub refunds: Vec<Value>,
    /// total_discounts, as text.
    pub total_discounts: String,
    /// discount_codes[].code, as sent (untrimmed).
    pub discount_codes: Vec<String>,
    /// customer id and e-mail; None for a guest.
    pub customer: Option<(u64, String)>,
    /// email.
    pub email: Option<String>,
    /// landing_site.
    pub landing_site: Option<String>,
    /// cancelled_at.
    pub cancelled_at: Option<String>,
    /// test.
    pub test: bool,
}

impl ShopifyOrder {
    /// updated_at as served.
    fn updated(&self) -> &str {
        self.updated_at.as_deref().unwrap_or(&self.created_at)
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "admin_graphql_api_id": format!("gid://shopify/Order/{}", self.id),
            "created_at": self.created_at,
            "updated_at": self.updated(),
            "currency": self.currency,
            "subtotal_price": self.subtotal_price,
            "current_subtotal_price": self.current_subtotal_price.as_ref().unwrap_or(&self.subtotal_price),
            "total_discounts": self.total_discounts,
            "discount_codes": self.discount_codes.iter()
                .map(|c| json!({"code": c, "amount": self.total_discounts, "type": "percentage"}))
                .collect::<Vec<_>>(),
            "customer": self.customer.as_ref().map(|(id, email)| json!({
                "id": id,
                "email": email,
                "created_at": "2005-06-12T11:57:11-04:00",
                "first_name": "Bob",
                "last_name": "Norman",
                "phone": "+13125551212",
                "default_address": {
                    "first_name": "Bob",
                    "last_name": "Norman",
                    "address1": "Chestnut Street 92",
                    "city": "Louisville",
                    "zip": "40202",
                    "country_code": "US",
                },
            })),
            "contact_email": self.email,
            "phone": "+557734881234",
            "billing_address": self.customer.as_ref().map(|_| json!({
                "first_name": "Bob",
                "last_name": "Norman",
                "address1": "Chestnut Street 92",
                "phone": "+1(502)-459-2181",
            })),
            "refunds": self.refunds,
            "email": self.email,
            "landing_site": self.landing_site,
            "cancelled_at": self.cancelled_at,
            "test": self.test,
        })
    }
}

/// Fake of `GET /admin/api/2026-10/orders.json`, paging by `Link` headers and page_info,
/// filtering by created_at and updated_at, and of `GET /admin/oauth/access_scopes.json`.
pub struct FakeShopify {
    server: FakeServer,
    wire: Arc<ShopifyWire>,
}
fake!(FakeShopify, ShopifyWire);

impl FakeShopify {
    /// The Admin API access token the fake accepts.
    pub const TOKEN: &'static str = "shpat_test_token";

    /// Serves `orders` (replacing what was there), in this order.
    pub fn set_orders(&self, orders: Vec<ShopifyOrder>) {
        *self.wire.orders.lock().unwrap() = orders;
    }

    /// The access scopes the token holds (by default `read_orders` and `read_all_orders`).
    pub fn set_scopes(&self, scopes: &[&str]) {
        *self.wire.scopes.lock().unwrap() = Some(scopes.iter().map(|s| s.to_string()).collect());
    }
}

#[derive(Default)]
struct ShopifyWire {
    orders: Mutex<Vec<ShopifyOrder>>,
    /// None: the default scopes.
    scopes: Mutex<Option<Vec<String>>>,
}

/// An opaque page_info carrying the position and the filters, as Shopify's does.
fn encode_page_info(offset: usize, filters: &str) -> String {
    format!("{offset}|{filters}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_page_info(info: &str) -> Option<(usize, String)> {
    let bytes: Option<Vec<u8>> = (0..info.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(info.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let (offset, filters) = text.split_once('|')?;
    Some((offset.parse().ok()?, filters.to_string()))
}

fn shopify_error(status: u16, errors: Value) -> Reply {
    Reply::json(status, json!({ "errors": errors }))
}

impl Wire for ShopifyWire {
    fn serve(&self, request: &Recorded, headers: &HeaderMap, base: &str) -> Reply {
        let token = headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok());
        if token != Some(FakeShopify::TOKEN) {
            return self.error(ErrorKind::Unauthorized);
        }
        if request.path == "/admin/oauth/access_scopes.json" {
            // https://shopify.dev/docs/api/admin-rest/latest/resources/accessscope
            let scopes = self
                .scopes
                .lock()
                .unwrap()
                .clone()
                .unwrap_or_else(|| vec!["read_orders".into(), "read_all_orders".into()]);
            let handles: Vec<Value> = scopes.iter().map(|h| json!({ "handle": h })).collect();
            return Reply::json(200, json!({ "access_scopes": handles }));
        }
        if request.path != "/admin/api/2026-10/orders.json" {
            return shopify_error(404, json!("Not Found"));
        }
        let limit: usize = match request.param("limit").map(str::parse) {
            None => 50,
            Some(Ok(n)) if (1..=250).contains(&n) => n,
            Some(_) => return shopify_error(400, json!({"limit": ["must be between 1 and 250"]})),
        };
        let (offset, filters) = match request.param("page_info") {
            Some(info) => {
                if let Some(extra) = request
                    .param_names()
                    .into_iter()
                    .find(|p| !matches!(*p, "page_info" | "limit" | "fields"))
                {
                    return shopify_error(
                        400,
                        json!({"page_info": [format!("cannot be combined with {extra}; only limit and fields may be sent")]}),
                    );
                }
                match decode_page_info(info) {
                    Some(decoded) => decoded,
                    None => return shopify_error(400, json!({"page_info": ["is invalid"]})),
                }
            }
            None => {
                let filters: Vec<String> = [
                    "status",
                    "created_at_min",
                    "created_at_max",
                    "updated_at_min",
                    "updated_at_max",
                ]
                .iter()
                .map(|k| format!("{k}={}", request.param(k).unwrap_or("")))
                .collect();
                (0, filters.join("&"))
            }
        };
        let filter = |name: &str| {
            filters
                .split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let instant =
            |text: Option<String>| text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok());
        let (min, max) = (
            instant(filter("created_at_min")),
            instant(filter("created_at_max")),
        );
        let (updated_min, updated_max) = (
            instant(filter("updated_at_min")),
            instant(filter("updated_at_max")),
        );
        let any = filter("status").as_deref() == Some("any");
        let orders = self.orders.lock().unwrap();
        let matching: Vec<&ShopifyOrder> = orders
            .iter()
            .filter(|o| {
                let at = DateTime::parse_from_rfc3339(&o.created_at).ok();
                let updated = DateTime::parse_from_rfc3339(o.updated()).ok();
                (any || o.cancelled_at.is_none())
                    && min.is_none_or(|m| at.is_some_and(|a| a >= m))
                    && max.is_none_or(|m| at.is_some_and(|a| a <= m))
                    && updated_min.is_none_or(|m| updated.is_some_and(|a| a >= m))
                    && updated_max.is_none_or(|m| updated.is_some_and(|a| a <= m))
            })
            .collect();
        let fields: Option<Vec<&str>> = request.param("fields").map(|f| f.split(',').collect());
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|o| {
                let mut order = o.to_json();
                if let (Some(fields), Some(map)) = (&fields, order.as_object_mut()) {
                    map.retain(|k, _| fields.contains(&k.as_str()));
                }
                order
            })
            .collect();
        let link = |at: usize, rel: &str| {
            let mut url = format!("{base}/admin/api/2026-10/orders.json?limit={limit}");
            if let Some(fields) = request.param("fields") {
                url.push_str(&format!("&fields={fields}"));
            }
            format!(
                "<{url}&page_info={}>; rel=\"{rel}\"",
                encode_page_info(at, &filters)
            )
        };
        let mut links = Vec::new();
        if offset > 0 {
            links.push(link(offset.saturating_sub(limit), "previous"));
        }
        if offset + limit < matching.len() {
            links.push(link(offset + limit, "next"));
        }
        let mut reply = Reply::json(200, json!({ "orders": page }));
        if !links.is_empty() {
            reply = reply.header("link", links.join(", "));
        }
        reply
    }

    fn error(&self, kind: ErrorKind) -> Reply {
        match kind {
            ErrorKind::Status(status) if status >= 500 => {
                shopify_error(status, json!("Internal Server Error"))
            }
            ErrorKind::Status(status) => shopify_error(status, json!("Bad Request")),
            ErrorKind::RateLimited => shopify_error(
                429,
                json!("Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."),
            )
            .header("retry-after", "2.0"),
            ErrorKind::Unauthorized | ErrorKind::TokenExpired => shopify_error(
                401,
                json!("[API] Invalid API key or access token (unrecognized login or wrong password)"),
            ),
        }
    }
}
