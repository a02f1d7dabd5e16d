//! The analysts' commands of `tally` (`kpi`, `goals`, `influencers`, `runs`, `chart`,
//! `report`): they talk to a running server over gRPC with the tenant's API key, like
//! `tally ingest`, and print for people (tables, thousands separators, units) or, with
//! `--format csv|json`, for scripts (raw numbers).
pub mod chart;
pub mod format;
pub mod progress;
pub mod report;

use crate::proto;
use crate::proto::goal_service_client::GoalServiceClient;
use crate::proto::influencer_service_client::InfluencerServiceClient;
use crate::proto::job_service_client::JobServiceClient;
use crate::proto::kpi_service_client::KpiServiceClient;
use chrono::{Datelike, NaiveDate};
use format::OutputFormat;
use std::collections::HashMap;
use std::path::PathBuf;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// Where the server is and whose data to read.
#[derive(Clone, Debug, clap::Args)]
pub struct Conn {
    /// Server address.
    #[arg(long, env = "TALLY_ADDR", default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// API key of the tenant.
    #[command(flatten)]
    pub key: crate::auth::ClientKey,
}

/// The currency shown after money values.
#[derive(Clone, Debug, clap::Args)]
pub struct Currency {
    /// Currency code to show after money values (such as EUR); by default the tenant's,
    /// as QuerySnapshots reports it.
    #[arg(long, env = "TALLY_CURRENCY")]
    pub currency: Option<String>,
}

/// Periods of a query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Granularity {
    /// One value per day.
    #[default]
    Day,
    /// ISO weeks, clipped to the range.
    Week,
    /// Calendar months, clipped to the range.
    Month,
    /// The whole range as one period.
    Range,
}

impl Granularity {
    fn proto(self) -> proto::Granularity {
        match self {
            Granularity::Day => proto::Granularity::Day,
            Granularity::Week => proto::Granularity::Week,
            Granularity::Month => proto::Granularity::Month,
            Granularity::Range => proto::Granularity::Range,
        }
    }
}

/// `tally kpi …`.
#[derive(Debug, clap::Subcommand)]
pub enum KpiCommand {
    /// The KPI catalogue and the tenant's custom KPIs.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
        #[command(flatten)]
        conn: Conn,
    },
    /// Values of one KPI on one scope, one row per period.
    Query(QueryArgs),
}

/// Arguments of `tally kpi query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// KPI id (or a pushed metric key), such as `followers`.
    pub kpi: String,
    /// `tenant`, `influencers/{i}`, `campaigns/{c}` or `channels/{c}`.
    #[arg(long)]
    pub scope: String,
    /// `segments/{s}`, for audience KPIs.
    #[arg(long)]
    pub segment: Option<String>,
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    pub from: NaiveDate,
    /// Last day (YYYY-MM-DD).
    #[arg(long)]
    pub to: NaiveDate,
    /// How to split the range.
    #[arg(long, value_enum, default_value_t)]
    pub granularity: Granularity,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub currency: Currency,
    #[command(flatten)]
    pub conn: Conn,
}

/// Arguments of `tally goals`.
#[derive(Debug, clap::Args)]
pub struct GoalsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub currency: Currency,
    #[command(flatten)]
    pub conn: Conn,
}

/// Arguments of `tally influencers`.
#[derive(Debug, clap::Args)]
pub struct InfluencersArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub conn: Conn,
}

/// Arguments of `tally runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// How many runs, newest first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub limit: i32,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub conn: Conn,
}

/// Periods of a chart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ChartGranularity {
    /// One point per day.
    #[default]
    Day,
    /// One point per ISO week.
    Week,
    /// One point per month.
    Month,
}

/// Arguments of `tally chart`.
#[derive(Debug, clap::Args)]
pub struct ChartArgs {
    /// KPI id, such as `followers`.
    pub kpi: String,
    /// Scope of a line; repeat for several lines.
    #[arg(long, required = true)]
    pub scope: Vec<String>,
    /// Segment `segments/{s}`; repeat for a line per segment.
    #[arg(long)]
    pub segment: Vec<String>,
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    pub from: NaiveDate,
    /// Last day (YYYY-MM-DD).
    #[arg(long)]
    pub to: NaiveDate,
    /// One point per day, week or month.
    #[arg(long, value_enum, default_value_t)]
    pub granularity: ChartGranularity,
    /// Output file, `.svg` or `.png`.
    #[arg(long)]
    pub out: PathBuf,
    /// Goal `goals/{g}` whose target and forecast to draw as dashed lines.
    #[arg(long)]
    pub goal: Option<String>,
    #[command(flatten)]
    pub currency: Currency,
    #[command(flatten)]
    pub conn: Conn,
}

/// Arguments of `tally report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Output file (HTML).
    #[arg(long)]
    pub out: PathBuf,
    /// Days the report covers, ending with --to.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u16).range(1..=400))]
    pub days: u16,
    /// Last day of the report (YYYY-MM-DD); yesterday (UTC) by default.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    #[command(flatten)]
    pub currency: Currency,
    #[command(flatten)]
    pub conn: Conn,
}

/// Why an analysts' command failed.
#[derive(Debug, thiserror::Error)]
pub enum HumanError {
    /// The server cannot be reached.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address.
        addr: String,
        /// Why.
        source: tonic::transport::Error,
    },
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
struct Client {
    channel: Channel,
    header: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

/// Every item of a List call: `fetch` gets a page token and returns a page of items with
/// the next token (empty on the last page).
async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, HumanError>
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
    async fn connect(conn: &Conn) -> Result<Client, HumanError> {
        let connect = |source| HumanError::Connect {
            addr: conn.addr.clone(),
            source,
        };
        let key = conn
            .key
            .resolve()
            .map_err(|e| HumanError::Usage(e.to_string()))?;
        let channel = tonic::transport::Endpoint::from_shared(conn.addr.clone())
            .map_err(connect)?
            .connect()
            .await
            .map_err(connect)?;
        let header = format!("Bearer {key}").parse().map_err(|_| {
            HumanError::Usage("the API key contains characters a header cannot carry".into())
        })?;
        Ok(Client { channel, header })
    }

    fn req<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.header.clone());
        request
    }

    fn kpis(&self) -> KpiServiceClient<Channel> {
        KpiServiceClient::new(self.channel.clone())
    }

    fn goals(&self) -> GoalServiceClient<Channel> {
        GoalServiceClient::new(self.channel.clone())
    }

    async fn definitions(&self) -> Result<Vec<proto::KpiDefinition>, HumanError> {
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
    async fn units(&self) -> Result<HashMap<String, String>, HumanError> {
        Ok(self
            .definitions()
            .await?
            .into_iter()
            .map(|d| (d.id, d.unit))
            .collect())
    }

    /// The unit of one KPI; empty for a pushed metric key, which has no definition.
    async fn unit(&self, kpi: &str) -> Result<String, HumanError> {
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

    async fn query(
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
    async fn currency(&self, given: &Currency) -> Result<Option<String>, HumanError> {
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

    /// The scope's fake-follower flags in `[from, to]`, by day then channel.
    async fn follower_flags(
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

    async fn list_goals(&self) -> Result<Vec<proto::Goal>, HumanError> {
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

    async fn list_influencers(&self) -> Result<Vec<proto::Influencer>, HumanError> {
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

    /// A goal's progress; `None` when the goal has not started yet.
    async fn progress(&self, goal: &str) -> Result<Option<proto::GoalEvaluation>, HumanError> {
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
fn date(day: NaiveDate) -> proto::google::r#type::Date {
    proto::google::r#type::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    }
}

/// A date from the API; `None` when unset or not a calendar date.
fn naive(date: Option<&proto::google::r#type::Date>) -> Option<NaiveDate> {
    let d = date?;
    NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32)
}

fn day_text(date: Option<&proto::google::r#type::Date>) -> String {
    naive(date).map(|d| d.to_string()).unwrap_or_default()
}

/// Prints rows as a table, CSV or JSON. Tables get `human` cells, the others `raw` ones.
fn print_rows(
    format: OutputFormat,
    headers: &[&str],
    human: &[Vec<String>],
    raw: &[Vec<serde_json::Value>],
    right: &[usize],
) {
    match format {
        OutputFormat::Table => print!("{}", format::table(headers, human, right)),
        OutputFormat::Csv => {
            let rows: Vec<Vec<String>> = raw
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| match v {
                            serde_json::Value::Null => String::new(),
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect();
            print!("{}", format::csv(headers, &rows));
        }
        OutputFormat::Json => {
            let objects: Vec<serde_json::Value> = raw
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        headers
                            .iter()
                            .map(|h| h.to_string())
                            .zip(r.iter().cloned())
                            .collect(),
                    )
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&objects).unwrap_or_default()
            );
        }
    }
}

fn num(v: Option<f64>) -> serde_json::Value {
    v.and_then(serde_json::Number::from_f64)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

fn text(s: impl Into<String>) -> serde_json::Value {
    serde_json::Value::String(s.into())
}

/// Runs `tally kpi …`.
pub async fn kpi(command: KpiCommand) -> Result<(), HumanError> {
    match command {
        KpiCommand::List { format, conn } => {
            let client = Client::connect(&conn).await?;
            let definitions = client.definitions().await?;
            let headers = ["id", "tier", "unit", "roll_up", "description"];
            let mut human = Vec::new();
            let mut raw = Vec::new();
            for d in &definitions {
                let tier = proto::Tier::try_from(d.tier)
                    .map(|t| t.as_str_name())
                    .unwrap_or("?");
                let roll_up = proto::RollUp::try_from(d.roll_up)
                    .map(|r| r.as_str_name())
                    .unwrap_or("?");
                let tier = if d.built_in { tier } else { "CUSTOM" };
                human.push(vec![
                    d.id.clone(),
                    tier.into(),
                    d.unit.clone(),
                    roll_up.into(),
                    format::truncate(&d.description.replace('\n', " "), 60),
                ]);
                raw.push(vec![
                    text(&d.id),
                    text(tier),
                    text(&d.unit),
                    text(roll_up),
                    text(&d.description),
                ]);
            }
            print_rows(format, &headers, &human, &raw, &[]);
            Ok(())
        }
        KpiCommand::Query(q) => {
            if q.to < q.from {
                return Err(HumanError::Usage(format!(
                    "--to {} is before --from {}",
                    q.to, q.from
                )));
            }
            let client = Client::connect(&q.conn).await?;
            let values = client
                .query(
                    &q.kpi,
                    &q.scope,
                    q.segment.as_deref().unwrap_or(""),
                    q.from,
                    q.to,
                    q.granularity.proto(),
                )
                .await?;
            let unit = client.unit(&q.kpi).await?;
            let currency = client.currency(&q.currency).await?;
            let currency = currency.as_deref();
            // Days whose follower growth looks bought are shown next to the values of
            // their period, whatever the KPI: a jump in followers moves most social KPIs.
            let flags = client.follower_flags(&q.scope, q.from, q.to).await?;
            let headers = [
                "first_day",
                "last_day",
                "value",
                "follower_flags",
                "undefined_reason",
            ];
            let mut human = Vec::new();
            let mut raw = Vec::new();
            for v in &values {
                let (first, last) = (
                    day_text(v.first_day.as_ref()),
                    day_text(v.last_day.as_ref()),
                );
                let in_period: Vec<String> = flags
                    .iter()
                    .filter(|f| {
                        let day = day_text(f.day.as_ref());
                        day >= first && day <= last
                    })
                    .map(|f| {
                        format!(
                            "{} {}",
                            f.channel.trim_start_matches("channels/"),
                            day_text(f.day.as_ref())
                        )
                    })
                    .collect();
                let marks = if in_period.is_empty() {
                    String::new()
                } else {
                    format!("⚑ bought followers? {}", in_period.join(", "))
                };
                human.push(vec![
                    first.clone(),
                    last.clone(),
                    format::value_or_reason(v.value, &v.undefined_reason, &unit, currency),
                    marks.clone(),
                ]);
                raw.push(vec![
                    text(first),
                    text(last),
                    num(v.value),
                    text(in_period.join(";")),
                    text(&v.undefined_reason),
                ]);
            }
            match q.format {
                OutputFormat::Table if flags.is_empty() => {
                    let human: Vec<Vec<String>> = human
                        .into_iter()
                        .map(|mut r| {
                            r.truncate(3);
                            r
                        })
                        .collect();
                    print_rows(q.format, &headers[..3], &human, &raw, &[2])
                }
                OutputFormat::Table => print_rows(q.format, &headers[..4], &human, &raw, &[2]),
                _ => print_rows(q.format, &headers, &human, &raw, &[2]),
            }
            Ok(())
        }
    }
}

/// Order of statuses in `tally goals`: what needs attention first.
fn status_rank(status: &str) -> usize {
    [
        "AT_RISK",
        "MISSED",
        "NO_DATA",
        "NOT_STARTED",
        "ON_TRACK",
        "ACHIEVED",
    ]
    .iter()
    .position(|s| *s == status)
    .unwrap_or(6)
}

/// A goal with its evaluation (when it has started).
struct GoalProgress {
    goal: proto::Goal,
    evaluation: Option<proto::GoalEvaluation>,
}

impl GoalProgress {
    fn status(&self) -> String {
        match &self.evaluation {
            Some(e) => proto::GoalStatus::try_from(e.status)
                .map(|s| s.as_str_name().to_string())
                .unwrap_or_else(|_| "UNKNOWN".into()),
            None => "NOT_STARTED".into(),
        }
    }

    fn scope(&self) -> String {
        if self.goal.segment.is_empty() {
            self.goal.scope.clone()
        } else {
            format!("{} {}", self.goal.scope, self.goal.segment)
        }
    }
}

/// Every goal with its progress, worst status first, then by name.
async fn goal_progress(client: &Client) -> Result<Vec<GoalProgress>, HumanError> {
    let mut out = Vec::new();
    for goal in client.list_goals().await? {
        let evaluation = client.progress(&goal.name).await?;
        out.push(GoalProgress { goal, evaluation });
    }
    out.sort_by(|a, b| {
        status_rank(&a.status())
            .cmp(&status_rank(&b.status()))
            .then_with(|| a.goal.name.cmp(&b.goal.name))
    });
    Ok(out)
}

/// Runs `tally goals`.
pub async fn goals(args: GoalsArgs) -> Result<(), HumanError> {
    let client = Client::connect(&args.conn).await?;
    let units = client.units().await?;
    let currency = client.currency(&args.currency).await?;
    let currency = currency.as_deref();
    let goals = goal_progress(&client).await?;
    let headers = [
        "status", "goal", "kpi", "scope", "current", "target", "progress", "expected", "reason",
    ];
    let mut human = Vec::new();
    let mut raw = Vec::new();
    for g in &goals {
        let unit = units.get(&g.goal.kpi).map(String::as_str).unwrap_or("");
        let e = g.evaluation.as_ref();
        let show = |v: Option<f64>| {
            v.map(|v| format::value(v, unit, currency))
                .unwrap_or_else(|| "–".into())
        };
        let reason = e.map(|e| e.reason.clone()).unwrap_or_else(|| {
            format!(
                "starts on {}",
                day_text(g.goal.start_date.as_ref()).as_str()
            )
        });
        human.push(vec![
            g.status(),
            g.goal.name.clone(),
            g.goal.kpi.clone(),
            g.scope(),
            show(e.and_then(|e| e.current_value)),
            show(e.and_then(|e| e.target)),
            e.and_then(|e| e.progress_percent)
                .map(format::percent)
                .unwrap_or_else(|| "–".into()),
            e.map(|e| format::percent(e.expected_progress_percent))
                .unwrap_or_else(|| "–".into()),
            format::truncate(&reason, 70),
        ]);
        raw.push(vec![
            text(g.status()),
            text(&g.goal.name),
            text(&g.goal.kpi),
            text(g.scope()),
            num(e.and_then(|e| e.current_value)),
            num(e.and_then(|e| e.target)),
            num(e.and_then(|e| e.progress_percent)),
            num(e.map(|e| e.expected_progress_percent)),
            text(reason),
        ]);
    }
    print_rows(args.format, &headers, &human, &raw, &[4, 5, 6, 7]);
    Ok(())
}

/// Runs `tally influencers`.
pub async fn influencers(args: InfluencersArgs) -> Result<(), HumanError> {
    let client = Client::connect(&args.conn).await?;
    let headers = ["id", "name", "codes", "tags"];
    let mut human = Vec::new();
    let mut raw = Vec::new();
    for i in client.list_influencers().await? {
        let id = i
            .name
            .strip_prefix("influencers/")
            .unwrap_or(&i.name)
            .to_string();
        human.push(vec![
            id.clone(),
            format::truncate(&i.display_name, 40),
            i.discount_codes.join(", "),
            i.tags.join(", "),
        ]);
        raw.push(vec![
            text(id),
            text(&i.display_name),
            text(i.discount_codes.join(";")),
            text(i.tags.join(";")),
        ]);
    }
    print_rows(args.format, &headers, &human, &raw, &[]);
    Ok(())
}

/// Runs `tally runs`.
pub async fn runs(args: RunsArgs) -> Result<(), HumanError> {
    let client = Client::connect(&args.conn).await?;
    let page = JobServiceClient::new(client.channel.clone())
        .list_job_runs(client.req(proto::ListJobRunsRequest {
            page_size: args.limit,
            page_token: String::new(),
            trigger: String::new(),
        }))
        .await?
        .into_inner();
    let headers = [
        "run",
        "trigger",
        "first_day",
        "last_day",
        "status",
        "rows_pulled",
        "error",
    ];
    let table_headers = ["run", "trigger", "days", "status", "rows", "error"];
    let mut human = Vec::new();
    let mut raw = Vec::new();
    for r in page.job_runs {
        let id = r
            .name
            .strip_prefix("jobRuns/")
            .unwrap_or(&r.name)
            .to_string();
        let status = proto::RunStatus::try_from(r.status)
            .map(|s| s.as_str_name())
            .unwrap_or("?");
        let (first, last) = (naive(r.first_day.as_ref()), naive(r.last_day.as_ref()));
        let days = match (first, last) {
            (Some(f), Some(l)) if f == l => f.to_string(),
            (Some(f), Some(l)) => format!("{f} to {l} ({} days)", (l - f).num_days() + 1),
            _ => String::new(),
        };
        human.push(vec![
            id.clone(),
            r.trigger.clone(),
            days,
            status.into(),
            format::grouped(r.rows_pulled as f64, 0),
            format::truncate(&r.error, 60),
        ]);
        raw.push(vec![
            text(id),
            text(&r.trigger),
            text(first.map(|d| d.to_string()).unwrap_or_default()),
            text(last.map(|d| d.to_string()).unwrap_or_default()),
            text(status),
            serde_json::Value::from(r.rows_pulled),
            text(&r.error),
        ]);
    }
    match args.format {
        OutputFormat::Table => print_rows(args.format, &table_headers, &human, &raw, &[4]),
        _ => print_rows(args.format, &headers, &human, &raw, &[]),
    }
    Ok(())
}

/// The y-axis text of a unit: money names the currency when known.
fn unit_label(unit: &str, currency: Option<&str>) -> String {
    match (unit, currency) {
        ("", _) => "value".into(),
        ("money", Some(c)) => c.into(),
        ("money_per_user", Some(c)) => format!("{c} per user"),
        ("percent", _) => "percent (%)".into(),
        ("per_mille", _) => "per mille (‰)".into(),
        (unit, _) => unit.into(),
    }
}

/// A series from query values: one point per period, by its first day.
fn series(label: String, values: &[proto::KpiValue]) -> chart::Series {
    chart::Series {
        label,
        points: values
            .iter()
            .filter_map(|v| Some((naive(v.first_day.as_ref())?, v.value)))
            .collect(),
    }
}

/// The dashed lines of a goal: its target and, when there is one, its forecast.
fn goal_guides(
    goal: &str,
    evaluation: &proto::GoalEvaluation,
    deadline: Option<NaiveDate>,
    unit: &str,
    currency: Option<&str>,
) -> Vec<chart::Guide> {
    let mut guides = Vec::new();
    if let Some(t) = evaluation.target {
        guides.push(chart::Guide {
            label: format!("target of {goal}: {}", format::value(t, unit, currency)),
            value: t,
        });
    }
    if let Some(f) = evaluation.forecast {
        let by = deadline.map(|d| format!(" by {d}")).unwrap_or_default();
        guides.push(chart::Guide {
            label: format!("forecast{by}: {}", format::value(f, unit, currency)),
            value: f,
        });
    }
    guides
}

/// Runs `tally chart`.
pub async fn chart(args: ChartArgs) -> Result<(), HumanError> {
    if args.to < args.from {
        return Err(HumanError::Usage(format!(
            "--to {} is before --from {}",
            args.to, args.from
        )));
    }
    let client = Client::connect(&args.conn).await?;
    let currency = client.currency(&args.currency).await?;
    let currency = currency.as_deref();
    let unit = client.unit(&args.kpi).await?;
    let granularity = match args.granularity {
        ChartGranularity::Day => proto::Granularity::Day,
        ChartGranularity::Week => proto::Granularity::Week,
        ChartGranularity::Month => proto::Granularity::Month,
    };
    let segments: Vec<&str> = if args.segment.is_empty() {
        vec![""]
    } else {
        args.segment.iter().map(String::as_str).collect()
    };
    let mut lines = Vec::new();
    for scope in &args.scope {
        for segment in &segments {
            let values = client
                .query(&args.kpi, scope, segment, args.from, args.to, granularity)
                .await?;
            let label = if segment.is_empty() {
                scope.clone()
            } else {
                format!("{scope} {segment}")
            };
            lines.push(series(label, &values));
        }
    }
    let mut guides = Vec::new();
    if let Some(goal) = &args.goal {
        let g = client
            .goals()
            .get_goal(client.req(proto::GetGoalRequest { name: goal.clone() }))
            .await?
            .into_inner();
        if let Some(e) = client.progress(goal).await? {
            guides = goal_guides(goal, &e, naive(g.deadline.as_ref()), &unit, currency);
        }
    }
    let mut flags = Vec::new();
    for scope in &args.scope {
        for f in client.follower_flags(scope, args.from, args.to).await? {
            flags.extend(naive(f.day.as_ref()));
        }
    }
    let data = chart::ChartData {
        title: format!("{} from {} to {}", args.kpi, args.from, args.to),
        y_label: unit_label(&unit, currency),
        series: lines,
        guides,
        flags,
    };
    chart::write(&data, &args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// Runs `tally report`.
pub async fn report(args: ReportArgs) -> Result<(), HumanError> {
    let client = Client::connect(&args.conn).await?;
    let currency = client.currency(&args.currency).await?;
    let currency = currency.as_deref();
    let to = args
        .to
        .unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Days::new(1));
    let from = to - chrono::Days::new(u64::from(args.days) - 1);
    let units = client.units().await?;
    let unit_of = |kpi: &str| units.get(kpi).cloned().unwrap_or_default();

    let goals = goal_progress(&client).await?;
    let mut rows = Vec::new();
    let mut charts = Vec::new();
    for g in &goals {
        let unit = unit_of(&g.goal.kpi);
        let e = g.evaluation.as_ref();
        let show = |v: Option<f64>| {
            v.map(|v| format::value(v, &unit, currency))
                .unwrap_or_else(|| "–".into())
        };
        rows.push(report::GoalRow {
            name: g.goal.name.clone(),
            display_name: g.goal.display_name.clone(),
            kpi: g.goal.kpi.clone(),
            scope: g.scope(),
            status: g.status(),
            current: show(e.and_then(|e| e.current_value)),
            target: show(e.and_then(|e| e.target)),
            progress: e.and_then(|e| e.progress_percent),
            expected: e.map(|e| e.expected_progress_percent).unwrap_or(0.0),
            reason: e
                .map(|e| e.reason.clone())
                .unwrap_or_else(|| format!("starts on {}", day_text(g.goal.start_date.as_ref()))),
        });
        let values = client
            .query(
                &g.goal.kpi,
                &g.goal.scope,
                &g.goal.segment,
                from,
                to,
                proto::Granularity::Day,
            )
            .await?;
        let guides = e
            .map(|e| {
                goal_guides(
                    &g.goal.name,
                    e,
                    naive(g.goal.deadline.as_ref()),
                    &unit,
                    currency,
                )
            })
            .unwrap_or_default();
        let flags = client
            .follower_flags(&g.goal.scope, from, to)
            .await?
            .iter()
            .filter_map(|f| naive(f.day.as_ref()))
            .collect();
        let data = chart::ChartData {
            title: format!("{} on {}", g.goal.kpi, g.scope()),
            y_label: unit_label(&unit, currency),
            series: vec![series(g.scope(), &values)],
            guides,
            flags,
        };
        charts.push(report::ChartSection {
            heading: format!("{} ({})", g.goal.display_name, g.goal.name),
            svg: chart::svg(&data)?,
        });
    }

    let mut by_returning = Vec::new();
    let mut by_profit = Vec::new();
    for i in client.list_influencers().await? {
        for (kpi, out) in [
            ("returning_buyers_after_code", &mut by_returning),
            ("profit_per_visitor", &mut by_profit),
        ] {
            let v = client
                .query(kpi, &i.name, "", from, to, proto::Granularity::Range)
                .await?
                .into_iter()
                .next()
                .unwrap_or_default();
            out.push(report::RankRow {
                display_name: i.display_name.clone(),
                name: i.name.clone(),
                value: v.value,
                text: format::value_or_reason(
                    v.value,
                    &v.undefined_reason,
                    &unit_of(kpi),
                    currency,
                ),
            });
        }
    }
    report::rank(&mut by_returning);
    report::rank(&mut by_profit);
    by_returning.truncate(10);
    by_profit.truncate(10);

    let page = report::html(&report::Report {
        from,
        to,
        goals: rows,
        by_returning_buyers: by_returning,
        by_profit_per_visitor: by_profit,
        charts,
    });
    std::fs::write(&args.out, page).map_err(|source| HumanError::Write {
        path: args.out.clone(),
        source,
    })?;
    println!("wrote {}", args.out.display());
    Ok(())
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
        assert_eq!(
            status_rank("AT_RISK") < status_rank("ACHIEVED"),
            status_rank("MISSED") < status_rank("NO_DATA")
        );
    }
}
