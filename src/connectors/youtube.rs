//! YouTube Data API v3: a channel's current lifetime totals, turned into the latest day's
//! differences.
use super::http::{
    Call, Http, Verdict, count, credential, difference, empty_stats, endpoint, optional_count,
    platform_message,
};
use super::{Connector, ConnectorError, HttpSettings, Page, PageSink, PullRequest};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PLATFORM: &str = "youtube";

/// Pulls a YouTube channel's statistics.
pub struct YouTube {
    base: String,
    http: Http,
}

impl YouTube {
    /// A connector calling the API at `base_url` (https://www.googleapis.com in production).
    pub fn new(base_url: &str, settings: &HttpSettings) -> YouTube {
        YouTube {
            base: base_url.to_string(),
            http: Http::new(PLATFORM, settings, classify),
        }
    }
}

/// Google reports a bad API key as HTTP 400 and an exhausted daily quota as HTTP 403;
/// the first needs a new key, the second only the next day, so neither is retried now.
fn classify(status: StatusCode, body: Option<&Value>) -> Option<Verdict> {
    let body = body?;
    let error = &body["error"];
    let reasons = || {
        let listed = error["errors"].as_array().into_iter().flatten();
        let details = error["details"].as_array().into_iter().flatten();
        listed
            .chain(details)
            .filter_map(|e| e["reason"].as_str())
            .collect::<Vec<_>>()
    };
    let message = || {
        format!(
            "HTTP {}: {}",
            status.as_u16(),
            platform_message(Some(body), b"")
        )
    };
    let reasons = reasons();
    if reasons
        .iter()
        .any(|r| matches!(*r, "API_KEY_INVALID" | "keyInvalid" | "API_KEY_EXPIRED"))
    {
        return Some(Verdict::Auth(message()));
    }
    if reasons
        .iter()
        .any(|r| matches!(*r, "quotaExceeded" | "dailyLimitExceeded"))
    {
        return Some(Verdict::Rejected(message()));
    }
    None
}

#[async_trait::async_trait]
impl Connector for YouTube {
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
        let key = credential(request)?;
        let url = endpoint(PLATFORM, &self.base, &["youtube", "v3", "channels"])?;
        let account = &request.source.account_id;
        let call = Call::get(url, &request.source.credentials_ref)
            .query("part", "statistics")
            .query("id", account.clone())
            .secret_query("key", key);
        let reply = self.http.send(call).await?;
        let item = reply.body["items"]
            .as_array()
            .and_then(|items| items.first())
            .ok_or_else(|| {
                ConnectorError::Config(format!("no YouTube channel with id `{account}`"))
            })?;
        let stats = &item["statistics"];
        if !stats.is_object() {
            return Err(super::http::bad(PLATFORM, "items[0].statistics is missing"));
        }
        let views = count(
            PLATFORM,
            &stats["viewCount"],
            "items[0].statistics.viewCount",
        )?;
        let videos = count(
            PLATFORM,
            &stats["videoCount"],
            "items[0].statistics.videoCount",
        )?;
        let hidden = stats["hiddenSubscriberCount"].as_bool().unwrap_or(false);
        let previous = request.previous_totals.as_ref();
        let mut row = empty_stats(request);
        row.followers = if hidden {
            None
        } else {
            optional_count(
                PLATFORM,
                &stats["subscriberCount"],
                "items[0].statistics.subscriberCount",
            )?
        };
        row.posts = difference(previous, "videoCount", videos);
        row.views = difference(previous, "viewCount", views);
        let page = Page {
            channel_stats: vec![row],
            totals: Some(json!({"videoCount": videos, "viewCount": views})),
            ..Page::default()
        };
        sink.page(page, None).await?;
        Ok(())
    }
}
