//! Google Analytics 4 Data API: a website's sessions by source, medium, campaign and
//! channel group for one day, paged by row offset.
//!
//! A report's `date` is the property's day, in the property's own time zone
//! (`metadata.timeZone`), and the tenant's day D is asked for as the property's D. Moving
//! rows to the tenant's day is not possible at daily granularity: `totalUsers` is a
//! distinct count, and asking by `dateHour` to regroup the hours would count a person
//! visiting in two hours twice. So rows are filed on the property's date and the page
//! names the property's zone when it is not the tenant's; the web KPIs say so.
use super::http::{Call, Http, bad, count, credential, endpoint, optional_count};
use super::kept::clean;
use super::{Connector, ConnectorError, HttpSettings, Page, PageSink, PullRequest, RawResponse};
use crate::domain::observation::WebTraffic;
use chrono::NaiveDate;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

const PLATFORM: &str = "ga4";
const DIMENSIONS: [&str; 5] = [
    "date",
    "sessionSource",
    "sessionMedium",
    "sessionCampaignName",
    "sessionDefaultChannelGroup",
];
const METRICS: [&str; 3] = ["sessions", "totalUsers", "newUsers"];

/// Pulls a GA4 property's web traffic.
pub struct Ga4 {
    base: String,
    page_size: u64,
    http: Http,
}

impl Ga4 {
    /// A connector calling the API at `base_url` (https://analyticsdata.googleapis.com in
    /// production), 10,000 rows a page.
    pub fn new(base_url: &str, settings: &HttpSettings) -> Ga4 {
        Ga4 {
            base: base_url.to_string(),
            page_size: 10_000,
            http: Http::new(PLATFORM, settings, classify),
        }
    }

    /// Asks for `rows` rows a page (the API allows up to 250,000).
    pub fn with_page_size(mut self, rows: u64) -> Ga4 {
        self.page_size = rows.clamp(1, 250_000);
        self
    }
}

/// Google's statuses say it all (401 UNAUTHENTICATED, 429 RESOURCE_EXHAUSTED).
fn classify(_: StatusCode, _: Option<&Value>) -> Option<super::http::Verdict> {
    None
}

/// Positions of the named columns in a header list.
fn columns(
    body: &Value,
    headers: &str,
    names: &[&str],
) -> Result<HashMap<String, usize>, ConnectorError> {
    let listed: Vec<&str> = body[headers]
        .as_array()
        .map(|h| h.iter().map(|h| h["name"].as_str().unwrap_or("")).collect())
        .unwrap_or_default();
    names
        .iter()
        .map(|name| {
            listed
                .iter()
                .position(|h| h == name)
                .map(|i| (name.to_string(), i))
                .ok_or_else(|| bad(PLATFORM, format!("{headers} lacks `{name}`")))
        })
        .collect()
}

/// Maps one report row.
fn row(
    request: &PullRequest,
    index: usize,
    row: &Value,
    dims: &HashMap<String, usize>,
    mets: &HashMap<String, usize>,
) -> Result<WebTraffic, ConnectorError> {
    let dim = |name: &str| -> Result<String, ConnectorError> {
        row["dimensionValues"][dims[name]]["value"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| bad(PLATFORM, format!("rows[{index}].{name} is missing")))
    };
    let metric = |name: &str| -> Result<i64, ConnectorError> {
        count(
            PLATFORM,
            &row["metricValues"][mets[name]]["value"],
            &format!("rows[{index}].{name}"),
        )
    };
    let date = dim("date")?;
    let day = NaiveDate::parse_from_str(&date, "%Y%m%d").map_err(|_| {
        bad(
            PLATFORM,
            format!("rows[{index}].date: `{date}` is not a date (YYYYMMDD)"),
        )
    })?;
    if day != request.day {
        return Err(bad(
            PLATFORM,
            format!(
                "rows[{index}].date: {day} is not the requested day {}",
                request.day
            ),
        ));
    }
    Ok(WebTraffic {
        day,
        source: dim("sessionSource")?,
        medium: dim("sessionMedium")?,
        campaign: dim("sessionCampaignName")?,
        channel_group: dim("sessionDefaultChannelGroup")?,
        age_bracket: None,
        age: None,
        country: None,
        is_customer: None,
        sessions: metric("sessions")?,
        users: metric("totalUsers")?,
        new_users: metric("newUsers")?,
    })
}

/// The label of a kept report page.
const REPORT: &str = "report";

/// Maps one page of a report; `first_row` is its offset in the report (for messages).
fn map(request: &PullRequest, reply: &Value, first_row: usize) -> Result<Page, ConnectorError> {
    // A day without traffic comes back without rows, headers or rowCount.
    let rows = reply["rows"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut page = Page::default();
    if !rows.is_empty() {
        let dims = columns(reply, "dimensionHeaders", &DIMENSIONS)?;
        let mets = columns(reply, "metricHeaders", &METRICS)?;
        for (i, r) in rows.iter().enumerate() {
            let index = first_row + i;
            let traffic = row(request, index, r, &dims, &mets)?;
            // The rules IngestWebTraffic applies; one odd row is left out with its
            // reason rather than failing the day.
            match traffic.check() {
                Ok(()) => page.web_traffic.push(traffic),
                Err((field, why)) => page.skipped.push(format!("rows[{index}]: {field} {why}")),
            }
        }
    }
    page.day_zone = property_zone(request, reply)?;
    Ok(page)
}

/// The property's time zone when it is not the tenant's; None when it is, or when the
/// report does not name it.
fn property_zone(request: &PullRequest, reply: &Value) -> Result<Option<String>, ConnectorError> {
    let Some(name) = reply["metadata"]["timeZone"].as_str() else {
        return Ok(None);
    };
    let zone: chrono_tz::Tz = name.parse().map_err(|_| {
        bad(
            PLATFORM,
            format!("metadata.timeZone: `{name}` is not an IANA time zone"),
        )
    })?;
    Ok((zone != request.time_zone).then(|| zone.name().to_string()))
}

#[async_trait::async_trait]
impl Connector for Ga4 {
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
        let property = &request.source.account_id;
        if property.is_empty() || !property.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConnectorError::Config(format!(
                "GA4 property id `{property}` is not a number"
            )));
        }
        let url = endpoint(
            PLATFORM,
            &self.base,
            &["v1beta", "properties", &format!("{property}:runReport")],
        )?;
        let mut offset = match &request.cursor {
            Some(cursor) => cursor.parse::<u64>().map_err(|_| {
                ConnectorError::Config(format!("GA4 cursor `{cursor}` is not a row offset"))
            })?,
            None => 0,
        };
        let day = request.day.format("%Y-%m-%d").to_string();
        loop {
            let body = json!({
                "dateRanges": [{"startDate": day, "endDate": day}],
                "dimensions": DIMENSIONS.iter().map(|d| json!({"name": d})).collect::<Vec<_>>(),
                "metrics": METRICS.iter().map(|m| json!({"name": m})).collect::<Vec<_>>(),
                // Google encodes int64 as JSON strings.
                "limit": self.page_size.to_string(),
                "offset": offset.to_string(),
                "keepEmptyRows": false,
            });
            let call = Call::post(url.clone(), &request.source.credentials_ref, body).bearer(token);
            let reply = clean(self.http.send(call).await?.body, token);
            let row_count = optional_count(PLATFORM, &reply["rowCount"], "rowCount")?.unwrap_or(0);
            let mut page = map(request, &reply, offset as usize)?;
            page.raw = vec![RawResponse {
                label: REPORT.into(),
                body: reply,
            }];
            let next = offset.saturating_add(self.page_size);
            let more = next < row_count as u64;
            sink.page(page, more.then(|| next.to_string())).await?;
            if !more {
                return Ok(());
            }
            offset = next;
        }
    }

    fn derive(&self, request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
        let reply = raw
            .iter()
            .find(|r| r.label == REPORT)
            .ok_or_else(|| bad(PLATFORM, format!("no kept answer `{REPORT}`")))?;
        let mut page = map(request, &reply.body, 0)?;
        page.raw = raw.to_vec();
        Ok(page)
    }
}
