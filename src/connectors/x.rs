//! X API v2: a user's current public metrics, turned into the latest day's differences.
//!
//! The channel's account is the user's numeric id (looked up with `/2/users/{id}`) or its
//! username, with or without `@` (`/2/users/by/username/{username}`); the answer's `id`,
//! or its `username` compared without case, must be that account.
use super::http::{Call, Verdict, endpoint, platform_message};
use super::totals::{Counts, Totals, TotalsApi};
use super::{Connector, ConnectorError, HttpSettings, Page, PullRequest, Secret};
use reqwest::StatusCode;
use serde_json::Value;

/// X's side of a totals pull: the user lookup of the channel's account.
pub(crate) struct X;

/// A connector pulling a X account's statistics from the API at `base_url` (https://api.x.com in production).
pub fn connector(base_url: &str, settings: &HttpSettings) -> impl Connector + use<> {
    Totals::<X>::new(base_url, settings)
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

impl TotalsApi for X {
    const PLATFORM: &'static str = "x";
    const LABEL: &'static str = "users";

    /// X's statuses say it all (429 with `x-rate-limit-reset`, 401 problem documents).
    fn classify(_: StatusCode, _: Option<&Value>) -> Option<Verdict> {
        None
    }

    fn call<'a>(
        base: &str,
        request: &'a PullRequest,
        token: &'a Secret,
    ) -> Result<Call<'a>, ConnectorError> {
        let url = match account(request) {
            Account::Id(id) => endpoint(Self::PLATFORM, base, &["2", "users", id])?,
            Account::Username(name) => endpoint(
                Self::PLATFORM,
                base,
                &["2", "users", "by", "username", name],
            )?,
        };
        Ok(Call::get(url, &request.source.credentials_ref)
            .query("user.fields", "public_metrics")
            .bearer(token))
    }

    /// The identity check, then each metric that is there.
    fn map(request: &PullRequest, body: &Value) -> Result<Page, ConnectorError> {
        let data = &body["data"];
        let shown = &request.source.account_id;
        if !data.is_object() {
            // An unknown user is HTTP 200 with only `errors` (scrubbed before it was kept).
            let why = platform_message(Some(body), b"");
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
        let mut counts = Counts::new(Self::PLATFORM, metrics, "data.public_metrics");
        let followers = counts.get("followers_count")?;
        let tweets = counts.get("tweet_count")?;
        // like_count counts likes the account gave, not likes it received: not mapped.
        Ok(
            counts.page(request, &[("tweet_count", tweets)], |row, daily| {
                row.followers = followers;
                row.posts = daily("tweet_count");
            }),
        )
    }
}
