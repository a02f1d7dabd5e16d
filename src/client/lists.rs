//! `tally influencers` and `tally runs`: the tenant's influencers with their codes and tags,
//! and its recent job runs.
use super::connection::{Client, Conn, HumanError, naive};
use super::format::{self, OutputFormat, print_rows, text};
use crate::proto;
use crate::proto::job_service_client::JobServiceClient;

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
            i.display_name.clone(),
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
            r.error.clone(),
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
