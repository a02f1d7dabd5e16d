//! YouTube Data API v3: a channel's current lifetime totals, turned into the latest day's
//! differences.
//!
//! The channel's account is a channel id (`UC…`, asked with `id=`; the answer's item must
//! carry that id) or a handle (`@name`, asked with `forHandle=`), as CreateChannel checks.
use super::http::{
    Call, NOT_IN_THE_RESPONSE, Verdict, bad, endpoint, optional_number, platform_message,
};
use super::totals::{Counts, Totals, TotalsApi};
use super::{Connector, ConnectorError, HttpSettings, Page, PullRequest, Secret};
use reqwest::StatusCode;
use serde_json::Value;

/// YouTube's side of a totals pull: `channels.list` of the channel's account.
pub(crate) struct YouTube;

/// A connector pulling a YouTube channel's statistics from the API at `base_url` (https://www.googleapis.com in production).
pub fn connector(base_url: &str, settings: &HttpSettings) -> impl Connector + use<> {
    Totals::<YouTube>::new(base_url, settings)
}

impl TotalsApi for YouTube {
    const PLATFORM: &'static str = "youtube";
    const LABEL: &'static str = "channels";

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

    fn call<'a>(
        base: &str,
        request: &'a PullRequest,
        key: &'a Secret,
    ) -> Result<Call<'a>, ConnectorError> {
        let url = endpoint(Self::PLATFORM, base, &["youtube", "v3", "channels"])?;
        let account = &request.source.account_id;
        // `id=` takes only channel ids; a handle given there matches nothing.
        let by = if account.starts_with('@') {
            "forHandle"
        } else {
            "id"
        };
        Ok(Call::get(url, &request.source.credentials_ref)
            .query("part", "statistics")
            .query(by, account.clone())
            .secret_query("key", key))
    }

    /// The channel the answer names, then each total that is there.
    fn map(request: &PullRequest, body: &Value) -> Result<Page, ConnectorError> {
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
            return Err(bad(Self::PLATFORM, "items[0].statistics is missing"));
        }
        let mut counts = Counts::new(Self::PLATFORM, stats, "items[0].statistics");
        let views = counts.get("viewCount")?;
        let videos = counts.get("videoCount")?;
        let hidden = stats["hiddenSubscriberCount"].as_bool().unwrap_or(false);
        let subscribers = optional_number(
            Self::PLATFORM,
            &stats["subscriberCount"],
            "items[0].statistics.subscriberCount",
        )?;
        let followers = if hidden { None } else { subscribers };
        if followers.is_none() {
            let reason = if hidden {
                "hidden by the channel (hiddenSubscriberCount)"
            } else {
                NOT_IN_THE_RESPONSE
            };
            counts.missing("subscriberCount", reason);
        }
        let totals = [("videoCount", videos), ("viewCount", views)];
        Ok(counts.page(request, &totals, |row, daily| {
            row.followers = followers;
            row.posts = daily("videoCount");
            row.views = daily("viewCount");
        }))
    }
}
