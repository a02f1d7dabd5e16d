//! X API v2: a user's current public metrics, turned into the latest day's differences.
//!
//! The channel's account is the user's numeric id (looked up with `/2/users/{id}`) or its
//! username, with or without `@` (`/2/users/by/username/{username}`); the answer's `id`,
//! or its `username` compared without case, must be that account.
use super::http::{
    Call, Http, credential, difference, empty_stats, endpoint, present_totals, reported, stats_page,
};
use super::kept::{keep, kept};
use super::{Connector, ConnectorError, HttpSettings, Page, PageSink, PullRequest, RawResponse};
use reqwest::StatusCode;
use serde_json::Value;

const PLATFORM: &str = "x";

/// The label of the kept user lookup answer.
const USERS: &str = "users";

/// Pulls an X account's statistics.
pub struct X {
    base: String,
    http: Http,
}

impl X {
    /// A connector calling the API at `base_url` (https://api.x.com in production).
    pub fn new(base_url: &str, settings: &HttpSettings) -> X {
        X {
            base: base_url.to_string(),
            http: Http::new(PLATFORM, settings, classify),
        }
    }
}

/// X's statuses say it all (429 with `x-rate-limit-reset`, 401 problem documents).
fn classify(_: StatusCode, _: Option<&Value>) -> Option<super::http::Verdict> {
    None
}

/// How a channel names its X account.
enum Account<'a> {
    /// The numeric user id.
    Id(&'a str),
    /// The username, without `@`.
    Username(&'a str),
}

fn account(request: &PullRequest) -> Account<'_> {
    let account = request.source.account_id.as_str();
    if !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) {
        Account::Id(account)
    } else {
        Account::Username(account.strip_prefix('@').unwrap_or(account))
    }
}

/// Maps a kept user lookup answer: the identity check, then each metric that is there.
fn map(request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
    // Current totals describe the latest day only; a past day has nothing to report.
    if !request.latest {
        return Ok(Page::default());
    }
    let body = kept(PLATFORM, raw, USERS)?;
    let data = &body["data"];
    let shown = &request.source.account_id;
    if !data.is_object() {
        // An unknown user is HTTP 200 with only `errors` (scrubbed before it was kept).
        let why = super::http::platform_message(Some(body), b"");
        return Err(ConnectorError::Config(format!(
            "no X user `{shown}`: {why}"
        )));
    }
    let field = |name: &str| data[name].as_str().unwrap_or_default();
    let same = match account(request) {
        Account::Id(id) => field("id") == id,
        Account::Username(name) => field("username").eq_ignore_ascii_case(name),
    };
    if !same {
        return Err(ConnectorError::Config(format!(
            "X answered for user `{}` (@{}), not the channel's `{shown}`",
            field("id"),
            field("username")
        )));
    }
    let metrics = &data["public_metrics"];
    let mut missing = Vec::new();
    let mut metric = |name: &str| {
        reported(
            PLATFORM,
            &metrics[name],
            &format!("data.public_metrics.{name}"),
            name,
            &mut missing,
        )
    };
    let followers = metric("followers_count")?;
    let tweets = metric("tweet_count")?;
    let mut row = empty_stats(request);
    row.followers = followers;
    row.posts = tweets.and_then(|t| difference(request.previous_totals.as_ref(), "tweet_count", t));
    // like_count counts likes the account gave, not likes it received: not mapped.
    Ok(stats_page(
        row,
        Some(present_totals(&[("tweet_count", tweets)])),
        missing,
    ))
}

#[async_trait::async_trait]
impl Connector for X {
    fn name(&self) -> &'static str {
        PLATFORM
    }

    fn has_history(&self) -> bool {
        false
    }

    async fn pull(
        &self,
        request: &PullRequest,
        sink: &mut dyn PageSink,
    ) -> Result<(), ConnectorError> {
        if !request.latest {
            sink.page(map(request, &[])?, None).await?;
            return Ok(());
        }
        let token = credential(request)?;
        let url = match account(request) {
            Account::Id(id) => endpoint(PLATFORM, &self.base, &["2", "users", id])?,
            Account::Username(name) => endpoint(
                PLATFORM,
                &self.base,
                &["2", "users", "by", "username", name],
            )?,
        };
        let call = Call::get(url, &request.source.credentials_ref)
            .query("user.fields", "public_metrics")
            .bearer(token);
        let body = self.http.send(call).await?.body;
        // An unknown user's `errors` could echo the request: scrubbed before it is kept
        // or shown.
        let raw = vec![keep(USERS, body, token)];
        let mut page = map(request, &raw)?;
        page.raw = raw;
        sink.page(page, None).await?;
        Ok(())
    }

    /// Maps a kept user lookup answer again; the page's `raw` stays empty (it is kept
    /// already).
    fn derive(&self, request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
        map(request, raw)
    }
}
