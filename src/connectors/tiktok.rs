//! TikTok Display API v2: the authorised user's current totals, turned into the latest
//! day's differences.
use super::http::{
    Call, Http, Verdict, count, credential, difference, empty_stats, endpoint, platform_message,
};
use super::{Connector, ConnectorError, HttpSettings, Page, PageSink, PullRequest};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PLATFORM: &str = "tiktok";

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
        // Current totals describe the latest day only; a past day has nothing to report.
        if !request.latest {
            sink.page(Page::default(), None).await?;
            return Ok(());
        }
        let token = credential(request)?;
        let url = endpoint(PLATFORM, &self.base, &["v2", "user", "info", ""])?;
        let call = Call::get(url, &request.source.credentials_ref)
            .query("fields", "open_id,follower_count,likes_count,video_count")
            .bearer(token);
        let body = self.http.send(call).await?.body;
        let user = &body["data"]["user"];
        if !user.is_object() {
            return Err(super::http::bad(PLATFORM, "data.user is missing"));
        }
        let followers = count(
            PLATFORM,
            &user["follower_count"],
            "data.user.follower_count",
        )?;
        let likes = count(PLATFORM, &user["likes_count"], "data.user.likes_count")?;
        let videos = count(PLATFORM, &user["video_count"], "data.user.video_count")?;
        let previous = request.previous_totals.as_ref();
        let mut row = empty_stats(request);
        row.followers = Some(followers);
        row.posts = difference(previous, "video_count", videos);
        row.likes = difference(previous, "likes_count", likes);
        let page = Page {
            channel_stats: vec![row],
            totals: Some(json!({"likes_count": likes, "video_count": videos})),
            ..Page::default()
        };
        sink.page(page, None).await?;
        Ok(())
    }
}
