//! Instagram Graph API: the account's followers and posts (latest day only) and the
//! day's insights (any past day).
use super::http::{
    Call, Http, Verdict, bad, count, credential, difference, empty_stats, endpoint, optional_count,
    platform_message, start_of_day,
};
use super::{Connector, ConnectorError, HttpSettings, Page, PageSink, PullRequest, Secret};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PLATFORM: &str = "instagram";
/// Pulls an Instagram professional account's statistics.
pub struct Instagram {
    base: String,
    version: String,
    http: Http,
}

impl Instagram {
    /// A connector calling the Graph API at `base_url` (https://graph.facebook.com in
    /// production).
    pub fn new(base_url: &str, settings: &HttpSettings) -> Instagram {
        Instagram {
            base: base_url.to_string(),
            version: super::live::INSTAGRAM_API_VERSION.to_string(),
            http: Http::new(PLATFORM, settings, classify),
        }
    }

    /// Calls Graph API `version` (such as `v24.0`) instead of the default.
    pub fn with_version(mut self, version: &str) -> Instagram {
        self.version = version.to_string();
        self
    }

    async fn get(
        &self,
        request: &PullRequest,
        token: &Secret,
        segments: &[&str],
        query: &[(&'static str, String)],
    ) -> Result<Value, ConnectorError> {
        let mut path = vec![self.version.as_str()];
        path.extend_from_slice(segments);
        let url = endpoint(PLATFORM, &self.base, &path)?;
        let mut call = Call::get(url, &request.source.credentials_ref);
        for (name, value) in query {
            call = call.query(name, value.clone());
        }
        Ok(self
            .http
            .send(call.secret_query("access_token", token))
            .await?
            .body)
    }
}

/// The Graph API reports every error as HTTP 400 with a code: 190 is an expired or
/// revoked token, 4/17/32/613 are rate limits, 10 and 200-299 missing permissions.
fn classify(status: StatusCode, body: Option<&Value>) -> Option<Verdict> {
    let error = &body?["error"];
    let code = error["code"].as_i64()?;
    let message = platform_message(body, b"");
    match code {
        190 | 102 => Some(Verdict::Auth(format!(
            "the access token has expired or was revoked and must be renewed (Graph API error \
             {code}): {message}"
        ))),
        10 | 200..=299 => Some(Verdict::Auth(format!(
            "the access token lacks a permission (Graph API error {code}): {message}"
        ))),
        4 | 17 | 32 | 613 => Some(Verdict::Retry(format!(
            "rate limited (Graph API error {code}): {message}"
        ))),
        _ if status.is_client_error() => Some(Verdict::Rejected(format!(
            "Graph API error {code}: {message}"
        ))),
        _ => None,
    }
}

/// The entry of `metric` in an insights answer.
fn metric<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body["data"]
        .as_array()?
        .iter()
        .find(|entry| entry["name"].as_str() == Some(name))
}

#[async_trait::async_trait]
impl Connector for Instagram {
    fn name(&self) -> &'static str {
        PLATFORM
    }

    fn has_history(&self) -> bool {
        true
    }

    async fn pull(
        &self,
        request: &PullRequest,
        sink: &mut dyn PageSink,
    ) -> Result<(), ConnectorError> {
        let token = credential(request)?;
        let account = request.source.account_id.as_str();
        let since = start_of_day(request.day, request.time_zone).timestamp();
        let until = request
            .day
            .succ_opt()
            .map(|next| start_of_day(next, request.time_zone).timestamp())
            .ok_or_else(|| ConnectorError::Config(format!("{} has no next day", request.day)))?;
        let mut row = empty_stats(request);
        let mut totals = None;
        if request.latest {
            let fields = [("fields", "followers_count,media_count".to_string())];
            let body = self.get(request, token, &[account], &fields).await?;
            row.followers = optional_count(PLATFORM, &body["followers_count"], "followers_count")?;
            let media = count(PLATFORM, &body["media_count"], "media_count")?;
            row.posts = difference(request.previous_totals.as_ref(), "media_count", media);
            totals = Some(json!({"media_count": media}));
        }
        let range = [
            ("period", "day".to_string()),
            ("since", since.to_string()),
            ("until", until.to_string()),
        ];

        let mut query = vec![("metric", "reach".to_string())];
        query.extend(range.iter().cloned());
        let body = self
            .get(request, token, &[account, "insights"], &query)
            .await?;
        if let Some(entry) = metric(&body, "reach") {
            // The range is one day, so there is one value; should the platform add its
            // neighbour, the last one is the one that ends at `until`.
            let values = entry["values"].as_array();
            if let Some(last) = values.and_then(|v| v.last()) {
                let field = format!(
                    "data[reach].values[{}].value",
                    values.map_or(0, |v| v.len() - 1)
                );
                row.reach = optional_count(PLATFORM, &last["value"], &field)?;
            }
        }

        let mut query = vec![
            (
                "metric",
                "likes,comments,shares,views,website_clicks".to_string(),
            ),
            ("metric_type", "total_value".to_string()),
        ];
        query.extend(range.iter().cloned());
        let body = self
            .get(request, token, &[account, "insights"], &query)
            .await?;
        if !body["data"].is_array() {
            return Err(bad(PLATFORM, "insights: data is missing"));
        }
        let total = |name: &str| -> Result<Option<i64>, ConnectorError> {
            match metric(&body, name) {
                Some(entry) => optional_count(
                    PLATFORM,
                    &entry["total_value"]["value"],
                    &format!("data[{name}].total_value.value"),
                ),
                None => Ok(None),
            }
        };
        row.likes = total("likes")?;
        row.comments = total("comments")?;
        row.shares = total("shares")?;
        row.views = total("views")?;
        row.link_clicks = total("website_clicks")?;

        let page = Page {
            channel_stats: vec![row],
            totals,
            ..Page::default()
        };
        sink.page(page, None).await?;
        Ok(())
    }
}
