//! YouTube Data API v3: a channel's current lifetime totals, turned into the latest day's
//! differences.
//!
//! The channel's account is a channel id (`UC…`, asked with `id=`; the answer's item must
//! carry that id) or a handle (`@name`, asked with `forHandle=`), as CreateChannel checks.
use super::http::{
    Call, Http, NOT_IN_THE_RESPONSE, Verdict, credential, difference, empty_stats, endpoint,
    optional_number, platform_message, present_totals, reported, stats_page,
};
use super::kept::{keep, kept};
use super::{
    Connector, ConnectorError, HttpSettings, MissingMetric, Page, PageSink, PullRequest,
    RawResponse,
};
use reqwest::StatusCode;
use serde_json::Value;

const PLATFORM: &str = "youtube";

/// The label of the kept `channels.list` answer.
const CHANNELS: &str = "channels";

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

/// Maps a kept `channels.list` answer: the channel it names, then each total that is there.
fn map(request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
    // Current totals describe the latest day only; a past day has nothing to report.
    if !request.latest {
        return Ok(Page::default());
    }
    let body = kept(PLATFORM, raw, CHANNELS)?;
    let account = &request.source.account_id;
    let handle = account.starts_with('@');
    let item = body["items"]
        .as_array()
        .and_then(|items| items.first())
        .ok_or_else(|| {
            let what = if handle { "handle" } else { "id" };
            ConnectorError::Config(format!("no YouTube channel with {what} `{account}`"))
        })?;
    // A handle names the channel by another key; only an id can be compared.
    let id = item["id"].as_str().unwrap_or_default();
    if !handle && id != account {
        return Err(ConnectorError::Config(format!(
            "YouTube answered for channel `{id}`, not the channel's `{account}`"
        )));
    }
    let stats = &item["statistics"];
    if !stats.is_object() {
        return Err(super::http::bad(PLATFORM, "items[0].statistics is missing"));
    }
    let mut missing = Vec::new();
    let views = reported(
        PLATFORM,
        &stats["viewCount"],
        "items[0].statistics.viewCount",
        "viewCount",
        &mut missing,
    )?;
    let videos = reported(
        PLATFORM,
        &stats["videoCount"],
        "items[0].statistics.videoCount",
        "videoCount",
        &mut missing,
    )?;
    let hidden = stats["hiddenSubscriberCount"].as_bool().unwrap_or(false);
    let subscribers = optional_number(
        PLATFORM,
        &stats["subscriberCount"],
        "items[0].statistics.subscriberCount",
    )?;
    let previous = request.previous_totals.as_ref();
    let mut row = empty_stats(request);
    row.followers = if hidden { None } else { subscribers };
    if row.followers.is_none() {
        missing.push(MissingMetric {
            metric: "subscriberCount".into(),
            reason: if hidden {
                "hidden by the channel (hiddenSubscriberCount)".into()
            } else {
                NOT_IN_THE_RESPONSE.into()
            },
        });
    }
    row.posts = videos.and_then(|v| difference(previous, "videoCount", v));
    row.views = views.and_then(|v| difference(previous, "viewCount", v));
    let totals = present_totals(&[("videoCount", videos), ("viewCount", views)]);
    Ok(stats_page(row, Some(totals), missing))
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
        if !request.latest {
            sink.page(map(request, &[])?, None).await?;
            return Ok(());
        }
        let key = credential(request)?;
        let url = endpoint(PLATFORM, &self.base, &["youtube", "v3", "channels"])?;
        let account = &request.source.account_id;
        // `id=` takes only channel ids; a handle given there matches nothing.
        let by = if account.starts_with('@') {
            "forHandle"
        } else {
            "id"
        };
        let call = Call::get(url, &request.source.credentials_ref)
            .query("part", "statistics")
            .query(by, account.clone())
            .secret_query("key", key);
        let body = self.http.send(call).await?.body;
        let raw = vec![keep(CHANNELS, body, key)];
        let mut page = map(request, &raw)?;
        page.raw = raw;
        sink.page(page, None).await?;
        Ok(())
    }

    /// Maps a kept `channels.list` answer again; the page's `raw` stays empty (it is kept
    /// already).
    fn derive(&self, request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
        map(request, raw)
    }
}
