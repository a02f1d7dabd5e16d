//! TikTok Display API v2: the authorised user's current totals, turned into the latest
//! day's differences.
//!
//! The token decides whose totals come back, so the answer's `open_id` must be the
//! channel's account id: a token granted by another account is refused, not stored under
//! this channel.
use super::http::{
    Call, Http, Verdict, credential, difference, empty_stats, endpoint, platform_message,
    present_totals, reported, stats_page,
};
use super::kept::{keep, kept};
use super::{Connector, ConnectorError, HttpSettings, Page, PageSink, PullRequest, RawResponse};
use reqwest::StatusCode;
use serde_json::Value;

const PLATFORM: &str = "tiktok";

/// The label of the kept `GET /v2/user/info/` answer.
const USER_INFO: &str = "user_info";

/// Pulls a TikTok account's statistics (the account the token was granted by).
pub struct TikTok {
    base: String,
    http: Http,
}

impl TikTok {
    /// A connector calling the API at `base_url` (https://open.tiktokapis.com in
    /// production).
    pub fn new(base_url: &str, settings: &HttpSettings) -> TikTok {
        TikTok {
            base: base_url.to_string(),
            http: Http::new(PLATFORM, settings, classify),
        }
    }
}

/// TikTok names every outcome in `error.code`, even success ("ok").
fn classify(status: StatusCode, body: Option<&Value>) -> Option<Verdict> {
    let code = body?["error"]["code"].as_str()?;
    let message = || format!("{code}: {}", platform_message(body, b""));
    match code {
        "ok" => None,
        "access_token_invalid" | "scope_not_authorized" | "scope_permission_missed" => {
            Some(Verdict::Auth(message()))
        }
        "rate_limit_exceeded" => Some(Verdict::Retry(message())),
        // A server error keeps its retry, whatever its code says.
        _ if status.is_server_error() => None,
        _ => Some(Verdict::Rejected(message())),
    }
}

/// Maps a kept user info answer: the identity check, then each total that is there.
fn map(request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
    // Current totals describe the latest day only; a past day has nothing to report.
    if !request.latest {
        return Ok(Page::default());
    }
    let body = kept(PLATFORM, raw, USER_INFO)?;
    let user = &body["data"]["user"];
    if !user.is_object() {
        return Err(super::http::bad(PLATFORM, "data.user is missing"));
    }
    let open_id = user["open_id"]
        .as_str()
        .ok_or_else(|| super::http::bad(PLATFORM, "data.user.open_id is missing"))?;
    let account = &request.source.account_id;
    if open_id != account {
        return Err(ConnectorError::Config(format!(
            "the token was granted by TikTok account `{open_id}`, not the channel's `{account}`"
        )));
    }
    let mut missing = Vec::new();
    let mut metric = |field: &str| {
        reported(
            PLATFORM,
            &user[field],
            &format!("data.user.{field}"),
            field,
            &mut missing,
        )
    };
    let followers = metric("follower_count")?;
    let likes = metric("likes_count")?;
    let videos = metric("video_count")?;
    let previous = request.previous_totals.as_ref();
    let mut row = empty_stats(request);
    row.followers = followers;
    row.posts = videos.and_then(|v| difference(previous, "video_count", v));
    row.likes = likes.and_then(|l| difference(previous, "likes_count", l));
    let totals = present_totals(&[("likes_count", likes), ("video_count", videos)]);
    Ok(stats_page(row, Some(totals), missing))
}

#[async_trait::async_trait]
impl Connector for TikTok {
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
        let url = endpoint(PLATFORM, &self.base, &["v2", "user", "info", ""])?;
        let call = Call::get(url, &request.source.credentials_ref)
            .query("fields", "open_id,follower_count,likes_count,video_count")
            .bearer(token);
        let body = self.http.send(call).await?.body;
        let raw = vec![keep(USER_INFO, body, token)];
        let mut page = map(request, &raw)?;
        page.raw = raw;
        sink.page(page, None).await?;
        Ok(())
    }

    /// Maps a kept user info answer again; the page's `raw` stays empty (it is kept
    /// already).
    fn derive(&self, request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
        map(request, raw)
    }
}
