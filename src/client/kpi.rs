//! `tally kpi list` and `tally kpi query`: the catalogue with the tenant's custom KPIs, and
//! one KPI's values per period, follower KPIs beside their unusual follower jumps without
//! engagement.
use super::connection::{Client, Conn, Currency, HumanError, day_text};
use super::follower_jumps;
use super::format::{self, OutputFormat, num, print_rows, text};
use crate::proto;
use chrono::NaiveDate;

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

/// Runs `tally kpi …`.
pub async fn run(command: KpiCommand) -> Result<(), HumanError> {
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
            // Follower jumps are shown next to the values of their period for the follower
            // KPIs only: they say nothing about the others.
            let jumps = follower_jumps::applies_to(&q.kpi);
            let flags = if jumps {
                client.follower_flags(&q.scope, q.from, q.to).await?
            } else {
                Vec::new()
            };
            let headers: &[&str] = if jumps {
                &[
                    "first_day",
                    "last_day",
                    "value",
                    "follower_flags",
                    "undefined_reason",
                ]
            } else {
                &["first_day", "last_day", "value", "undefined_reason"]
            };
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
                    format!("{} {}", follower_jumps::MARK, in_period.join(", "))
                };
                human.push(vec![
                    first.clone(),
                    last.clone(),
                    format::value_or_reason(v.value, &v.undefined_reason, &unit, currency),
                    marks.clone(),
                ]);
                let mut row = vec![text(first), text(last), num(v.value)];
                if jumps {
                    row.push(text(in_period.join(";")));
                }
                row.push(text(&v.undefined_reason));
                raw.push(row);
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
                _ => print_rows(q.format, headers, &human, &raw, &[2]),
            }
            Ok(())
        }
    }
}
