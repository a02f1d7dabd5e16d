//! X API v2: a user's current public metrics, turned into the latest day's differences.
use super::http::{Call, Http, count, credential, difference, empty_stats, endpoint};
use super::{Connector, ConnectorError, HttpSettings, Page, PageSink, PullRequest};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PLATFORM: &str = "x";

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
        // Current totals describe the latest day only; a past day has nothing to report.
        if !request.latest {
            sink.page(Page::default(), None).await?;
            return Ok(());
        }
        let token = credential(request)?;
        let account = &request.source.account_id;
        let url = endpoint(PLATFORM, &self.base, &["2", "users", account])?;
        let call = Call::get(url, &request.source.credentials_ref)
            .query("user.fields", "public_metrics")
            .bearer(token);
        let body = self.http.send(call).await?.body;
        let metrics = &body["data"]["public_metrics"];
        if !body["data"].is_object() {
            // An unknown user is HTTP 200 with only `errors`, which could echo the request.
            let why = super::http::platform_message(Some(&body), b"");
            let why = super::http::scrub(&why, token.expose());
            return Err(ConnectorError::Config(format!(
                "no X user with id `{account}`: {why}"
            )));
        }
        if !metrics.is_object() {
            return Err(super::http::bad(PLATFORM, "data.public_metrics is missing"));
        }
        let followers = count(
            PLATFORM,
            &metrics["followers_count"],
            "data.public_metrics.followers_count",
        )?;
        let tweets = count(
            PLATFORM,
            &metrics["tweet_count"],
            "data.public_metrics.tweet_count",
        )?;
        let mut row = empty_stats(request);
        row.followers = Some(followers);
        row.posts = difference(request.previous_totals.as_ref(), "tweet_count", tweets);
        // like_count counts likes the account gave, not likes it received: not mapped.
        let page = Page {
            channel_stats: vec![row],
            totals: Some(json!({"tweet_count": tweets})),
            ..Page::default()
        };
        sink.page(page, None).await?;
        Ok(())
    }
}
