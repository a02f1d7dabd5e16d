//! How the analysts' commands reach the server: its address and the tenant's key
//! ([`Conn`]), the authenticated `Client` with one method per tally.v1 call they make
//! (through the generated clients of [`crate::proto`]), and their errors on one line.
use super::address::{AddressError, ServerAddr};
use super::chart;
use super::key::ClientKey;
use crate::proto;
use crate::proto::campaign_service_client::CampaignServiceClient;
use crate::proto::channel_service_client::ChannelServiceClient;
use crate::proto::goal_service_client::GoalServiceClient;
use crate::proto::influencer_service_client::InfluencerServiceClient;
use crate::proto::kpi_service_client::KpiServiceClient;
use chrono::{Datelike, NaiveDate};
use std::collections::HashMap;
use std::path::PathBuf;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// Where the server is and whose data to read.
#[derive(Clone, Debug, clap::Args)]
pub struct Conn {
    /// The server and how to reach it.
    #[command(flatten)]
    pub server: ServerAddr,
    /// API key of the tenant.
    #[command(flatten)]
    pub key: ClientKey,
}

/// The currency shown after money values.
#[derive(Clone, Debug, clap::Args)]
pub struct Currency {
    /// Currency code to show after money values (such as EUR); by default the tenant's,
    /// as QuerySnapshots reports it.
    #[arg(long, env = "TALLY_CURRENCY")]
    pub currency: Option<String>,
}

/// Why an analysts' command failed.
#[derive(Debug, thiserror::Error)]
pub enum HumanError {
    /// The server cannot be reached.
    #[error(transparent)]
    Connect(#[from] AddressError),
    /// The server refused a call.
    #[error("{}", describe(.0))]
    Rpc(Box<Status>),
    /// A chart could not be drawn.
    #[error(transparent)]
    Chart(#[from] chart::ChartError),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// The KPI asked for is neither a KPI, a custom KPI nor a pushed metric key with data.
    #[error("`{id}` is not a KPI id, a custom KPI or a pushed metric key with data{}", hint(.suggestions))]
    UnknownKpi {
        /// The id as given.
        id: String,
        /// The closest known ids, closest first.
        suggestions: Vec<String>,
    },
}

/// "; did you mean `a` or `b`?" and where the ids are listed.
fn hint(suggestions: &[String]) -> String {
    let quoted: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
    match quoted.split_last() {
        None => "; `tally kpi list` lists them".into(),
        Some((last, [])) => format!("; did you mean {last}? (`tally kpi list` lists them)"),
        Some((last, rest)) => format!(
            "; did you mean {} or {last}? (`tally kpi list` lists them)",
            rest.join(", ")
        ),
    }
}

impl From<Status> for HumanError {
    fn from(status: Status) -> Self {
        HumanError::Rpc(Box::new(status))
    }
}

/// `INVALID_ARGUMENT` from `InvalidArgument`: the names the API documentation uses.
fn code_name(code: Code) -> String {
    let mut out = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// A server error on one line: code, message and every BadRequest field violation.
pub fn describe(status: &Status) -> String {
    use tonic_types::StatusExt;
    let mut line = format!(
        "{}: {}",
        code_name(status.code()),
        status.message().replace('\n', " ")
    );
    if let Some(bad) = status.get_details_bad_request() {
        // The server often puts the first violation in the message too; say it once.
        let violations: Vec<String> = bad
            .field_violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description.replace('\n', " ")))
            .filter(|v| !line.contains(v.as_str()))
            .collect();
        if !violations.is_empty() {
            line.push_str(&format!(" [{}]", violations.join("; ")));
        }
    }
    line
}

/// A connection to the server with the tenant's key.
pub(super) struct Client {
    pub(super) channel: Channel,
    header: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

/// Every item of a List call: `fetch` gets a page token and returns a page of items with
/// the next token (empty on the last page).
pub(super) async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, HumanError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), HumanError>>,
{
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let (items, next) = fetch(token).await?;
        out.extend(items);
        if next.is_empty() {
            return Ok(out);
        }
        token = next;
    }
}

impl Client {
    pub(super) async fn connect(conn: &Conn) -> Result<Client, HumanError> {
        let key = conn
            .key
            .resolve()
            .map_err(|e| HumanError::Usage(e.to_string()))?;
        let channel = conn.server.connect().await?;
        let header = format!("Bearer {key}").parse().map_err(|_| {
            HumanError::Usage("the API key contains characters a header cannot carry".into())
        })?;
        Ok(Client { channel, header })
    }

    pub(super) fn req<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.header.clone());
        request
    }

    pub(super) fn kpis(&self) -> KpiServiceClient<Channel> {
        KpiServiceClient::new(self.channel.clone())
    }

    pub(super) fn goals(&self) -> GoalServiceClient<Channel> {
        GoalServiceClient::new(self.channel.clone())
    }

    pub(super) async fn definitions(&self) -> Result<Vec<proto::KpiDefinition>, HumanError> {
        all_pages(|page_token| async move {
            let page = self
                .kpis()
                .list_kpi_definitions(self.req(proto::ListKpiDefinitionsRequest {
                    page_size: 1000,
                    page_token,
                }))
                .await?
                .into_inner();
            Ok((page.kpi_definitions, page.next_page_token))
        })
        .await
    }

    /// KPI id → unit, for formatting.
    pub(super) async fn units(&self) -> Result<HashMap<String, String>, HumanError> {
        Ok(self
            .definitions()
            .await?
            .into_iter()
            .map(|d| (d.id, d.unit))
            .collect())
    }

    /// The unit of one KPI; empty for a pushed metric key, which has no definition.
    pub(super) async fn unit(&self, kpi: &str) -> Result<String, HumanError> {
        match self
            .kpis()
            .get_kpi_definition(self.req(proto::GetKpiDefinitionRequest {
                name: format!("kpiDefinitions/{kpi}"),
            }))
            .await
        {
            Ok(d) => Ok(d.into_inner().unit),
            Err(s) if s.code() == Code::NotFound => Ok(String::new()),
            Err(s) => Err(s.into()),
        }
    }

    pub(super) async fn query(
        &self,
        kpi: &str,
        scope: &str,
        segment: &str,
        from: NaiveDate,
        to: NaiveDate,
        granularity: proto::Granularity,
    ) -> Result<Vec<proto::KpiValue>, HumanError> {
        Ok(self
            .kpis()
            .query_snapshots(self.req(proto::QuerySnapshotsRequest {
                kpi_scope: Some(proto::KpiScope {
                    kpi: kpi.into(),
                    scope: scope.into(),
                    segment: segment.into(),
                }),
                first_day: Some(date(from)),
                last_day: Some(date(to)),
                granularity: granularity as i32,
            }))
            .await?
            .into_inner()
            .values)
    }

    /// The currency of money values: the one given, else the tenant's (one small
    /// QuerySnapshots call, whose response names it).
    pub(super) async fn currency(&self, given: &Currency) -> Result<Option<String>, HumanError> {
        if let Some(code) = &given.currency {
            return Ok(Some(code.clone()));
        }
        let day = chrono::Utc::now().date_naive() - chrono::Days::new(1);
        let code = self
            .kpis()
            .query_snapshots(self.req(proto::QuerySnapshotsRequest {
                kpi_scope: Some(proto::KpiScope {
                    kpi: "fees".into(),
                    scope: "tenant".into(),
                    segment: String::new(),
                }),
                first_day: Some(date(day)),
                last_day: Some(date(day)),
                granularity: proto::Granularity::Range as i32,
            }))
            .await?
            .into_inner()
            .currency_code;
        Ok((!code.is_empty()).then_some(code))
    }

    /// The scope's unusual follower jumps without engagement in `[from, to]`, by day then
    /// channel.
    pub(super) async fn follower_flags(
        &self,
        scope: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<proto::FollowerFlag>, HumanError> {
        Ok(self
            .kpis()
            .list_follower_flags(self.req(proto::ListFollowerFlagsRequest {
                scope: scope.into(),
                first_day: Some(date(from)),
                last_day: Some(date(to)),
            }))
            .await?
            .into_inner()
            .flags)
    }

    /// Every goal of the tenant.
    pub(super) async fn list_goals(&self) -> Result<Vec<proto::Goal>, HumanError> {
        all_pages(|page_token| async move {
            let page = self
                .goals()
                .list_goals(self.req(proto::ListGoalsRequest {
                    page_size: 1000,
                    page_token,
                }))
                .await?
                .into_inner();
            Ok((page.goals, page.next_page_token))
        })
        .await
    }

    /// Every influencer of the tenant.
    pub(super) async fn list_influencers(&self) -> Result<Vec<proto::Influencer>, HumanError> {
        all_pages(|page_token| async move {
            let page = InfluencerServiceClient::new(self.channel.clone())
                .list_influencers(self.req(proto::ListInfluencersRequest {
                    page_size: 1000,
                    page_token,
                }))
                .await?
                .into_inner();
            Ok((page.influencers, page.next_page_token))
        })
        .await
    }

    /// Every campaign of the tenant.
    pub(super) async fn list_campaigns(&self) -> Result<Vec<proto::Campaign>, HumanError> {
        all_pages(|page_token| async move {
            let page = CampaignServiceClient::new(self.channel.clone())
                .list_campaigns(self.req(proto::ListCampaignsRequest {
                    page_size: 1000,
                    page_token,
                }))
                .await?
                .into_inner();
            Ok((page.campaigns, page.next_page_token))
        })
        .await
    }

    /// Every channel of the tenant.
    pub(super) async fn list_channels(&self) -> Result<Vec<proto::Channel>, HumanError> {
        all_pages(|page_token| async move {
            let page = ChannelServiceClient::new(self.channel.clone())
                .list_channels(self.req(proto::ListChannelsRequest {
                    page_size: 1000,
                    page_token,
                    owner: String::new(),
                }))
                .await?
                .into_inner();
            Ok((page.channels, page.next_page_token))
        })
        .await
    }

    /// A goal's progress; `None` when the goal has not started yet.
    pub(super) async fn progress(
        &self,
        goal: &str,
    ) -> Result<Option<proto::GoalEvaluation>, HumanError> {
        match self
            .goals()
            .get_goal_progress(self.req(proto::GetGoalProgressRequest { name: goal.into() }))
            .await
        {
            Ok(e) => Ok(Some(e.into_inner())),
            Err(s) if s.code() == Code::FailedPrecondition => Ok(None),
            Err(s) => Err(s.into()),
        }
    }
}

/// A calendar date for the API.
pub(super) fn date(day: NaiveDate) -> proto::google::r#type::Date {
    proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    }
}

/// A date from the API; `None` when unset or not a calendar date.
pub(super) fn naive(date: Option<&proto::google::r#type::Date>) -> Option<NaiveDate> {
    let d = date?;
    NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32)
}

pub(super) fn day_text(date: Option<&proto::google::r#type::Date>) -> String {
    naive(date).map(|d| d.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line() {
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
        use tonic_types::{ErrorDetails, StatusExt};
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "bad request",
            ErrorDetails::with_bad_request_violation("kpi_scope.scope", "no such\ninfluencer"),
        );
        assert_eq!(
            describe(&status),
            "INVALID_ARGUMENT: bad request [kpi_scope.scope: no such influencer]"
        );
    }
}
