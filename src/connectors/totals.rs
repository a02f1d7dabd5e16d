//! What the platforms that report only an account's current lifetime totals share (TikTok,
//! X, YouTube): one call on the latest day, its answer kept, then mapped into that day's
//! differences against the totals of the day before. Each platform's own call, error
//! reading and answer format stay in its module ([`TotalsApi`]).
use super::http::{
    Call, Http, Verdict, credential, difference, empty_stats, present_totals, reported, stats_page,
};
use super::kept::{keep, kept};
use super::{
    Connector, ConnectorError, HttpSettings, MissingMetric, Page, PageSink, PullRequest,
    RawResponse, Secret,
};
use crate::domain::observation::ChannelDayStats;
use reqwest::StatusCode;
use serde_json::Value;
use std::marker::PhantomData;

/// One platform's side of a totals pull: its call and its wire format.
pub(crate) trait TotalsApi: Send + Sync + 'static {
    /// The platform's name, in errors, metrics and kept answers.
    const PLATFORM: &'static str;
    /// The label of the kept answer.
    const LABEL: &'static str;
    /// The platform's reading of an answer, where its status alone does not say it all.
    fn classify(status: StatusCode, body: Option<&Value>) -> Option<Verdict>;
    /// The one call for the request's account, authenticated with `secret`.
    fn call<'a>(
        base: &str,
        request: &'a PullRequest,
        secret: &'a Secret,
    ) -> Result<Call<'a>, ConnectorError>;
    /// Maps the kept answer `body` of the latest day.
    fn map(request: &PullRequest, body: &Value) -> Result<Page, ConnectorError>;
}

/// A connector of a platform that reports current totals only.
pub(crate) struct Totals<A> {
    base: String,
    http: Http,
    api: PhantomData<fn() -> A>,
}

impl<A: TotalsApi> Totals<A> {
    /// A connector calling the platform's API at `base_url`.
    pub(crate) fn new(base_url: &str, settings: &HttpSettings) -> Totals<A> {
        Totals {
            base: base_url.to_string(),
            http: Http::new(A::PLATFORM, settings, A::classify),
            api: PhantomData,
        }
    }
}

/// Maps a kept answer; current totals describe the latest day only, so a past day has
/// nothing to report.
fn map<A: TotalsApi>(request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
    if !request.latest {
        return Ok(Page::default());
    }
    A::map(request, kept(A::PLATFORM, raw, A::LABEL)?)
}

#[async_trait::async_trait]
impl<A: TotalsApi> Connector for Totals<A> {
    fn name(&self) -> &'static str {
        A::PLATFORM
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
            sink.page(map::<A>(request, &[])?, None).await?;
            return Ok(());
        }
        let secret = credential(request)?;
        let call = A::call(&self.base, request, secret)?;
        let body = self.http.send(call).await?.body;
        // The answer is scrubbed of the secret before it is kept or shown (a platform's
        // error may echo the request).
        let raw = vec![keep(A::LABEL, body, secret)];
        let mut page = map::<A>(request, &raw)?;
        page.raw = raw;
        sink.page(page, None).await?;
        Ok(())
    }

    /// Maps a kept answer again; the page's `raw` stays empty (it is kept already).
    fn derive(&self, request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
        map::<A>(request, raw)
    }
}

/// The counts of one object of an answer, each read from its field; a field that is not
/// there is noted as a missing metric, so that the day keeps the others.
pub(crate) struct Counts<'a> {
    platform: &'static str,
    object: &'a Value,
    path: &'static str,
    missing: Vec<MissingMetric>,
}

impl<'a> Counts<'a> {
    /// The counts of `object`, which stands at `path` of the answer (for messages).
    pub(crate) fn new(platform: &'static str, object: &'a Value, path: &'static str) -> Self {
        Counts {
            platform,
            object,
            path,
            missing: Vec::new(),
        }
    }

    /// The count at `field`, None (and missing) when absent; a value that is not a whole
    /// number makes the answer bad.
    pub(crate) fn get(&mut self, field: &str) -> Result<Option<i64>, ConnectorError> {
        reported(
            self.platform,
            &self.object[field],
            &format!("{}.{field}", self.path),
            field,
            &mut self.missing,
        )
    }

    /// Notes a metric the answer does not give, with the reason.
    pub(crate) fn missing(&mut self, metric: &str, reason: impl Into<String>) {
        self.missing.push(MissingMetric {
            metric: metric.into(),
            reason: reason.into(),
        });
    }

    /// The latest day's page: the row `set` fills, given each total's difference from
    /// the day before by its field (as given to [`Counts::get`]); the totals that were
    /// there are remembered for the next day.
    pub(crate) fn page(
        self,
        request: &PullRequest,
        totals: &[(&str, Option<i64>)],
        set: impl FnOnce(&mut ChannelDayStats, &dyn Fn(&str) -> Option<i64>),
    ) -> Page {
        let previous = request.previous_totals.as_ref();
        let daily = |field: &str| {
            let (key, total) = totals.iter().find(|(key, _)| *key == field)?;
            difference(previous, key, (*total)?)
        };
        let mut row = empty_stats(request);
        set(&mut row, &daily);
        stats_page(row, Some(present_totals(totals)), self.missing)
    }
}
