//! TikTok Display API v2: the authorised user's current totals, turned into the latest
//! day's differences.
//!
//! The token decides whose totals come back, so the answer's `open_id` must be the
//! channel's account id: a token granted by another account is refused, not stored under
//! this channel.
use super::http::{Call, Verdict, bad, endpoint, platform_message};
use super::totals::{Counts, Totals, TotalsApi};
use super::{Connector, ConnectorError, HttpSettings, Page, PullRequest, Secret};
use reqwest::StatusCode;
use serde_json::Value;

/// TikTok's side of a totals pull: `GET /v2/user/info/` of the token's account.
pub(crate) struct TikTok;

/// A connector pulling a TikTok account's statistics (the account the token was granted by) from the API at `base_url` (https://open.tiktokapis.com in production).
pub fn connector(base_url: &str, settings: &HttpSettings) -> impl Connector + use<> {
    Totals::<TikTok>::new(base_url, settings)
}

impl TotalsApi for TikTok {
    const PLATFORM: &'static str = "tiktok";
    const LABEL: &'static str = "user_info";

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

    fn call<'a>(
        base: &str,
        request: &'a PullRequest,
        token: &'a Secret,
    ) -> Result<Call<'a>, ConnectorError> {
        let url = endpoint(Self::PLATFORM, base, &["v2", "user", "info", ""])?;
        Ok(Call::get(url, &request.source.credentials_ref)
            .query("fields", "open_id,follower_count,likes_count,video_count")
            .bearer(token))
    }

    /// The identity check, then each total that is there.
    fn map(request: &PullRequest, body: &Value) -> Result<Page, ConnectorError> {
        let user = &body["data"]["user"];
        if !user.is_object() {
            return Err(bad(Self::PLATFORM, "data.user is missing"));
        }
        let open_id = user["open_id"]
            .as_str()
            .ok_or_else(|| bad(Self::PLATFORM, "data.user.open_id is missing"))?;
        let account = &request.source.account_id;
        if open_id != account {
            return Err(ConnectorError::Config(format!(
                "the token was granted by TikTok account `{open_id}`, not the channel's `{account}`"
            )));
        }
        let mut counts = Counts::new(Self::PLATFORM, user, "data.user");
        let followers = counts.get("follower_count")?;
        let likes = counts.get("likes_count")?;
        let videos = counts.get("video_count")?;
        let totals = [("likes_count", likes), ("video_count", videos)];
        Ok(counts.page(request, &totals, |row, daily| {
            row.followers = followers;
            row.posts = daily("video_count");
            row.likes = daily("likes_count");
        }))
    }
}
