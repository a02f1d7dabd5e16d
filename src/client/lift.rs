//! `tally lift campaigns/{id}`: a campaign's lift (GetCampaignLift, LIFT.md) as a table,
//! one row per KPI with its total over the window, or one row per day with `--days`.
use super::connection::{Client, Conn, Currency, HumanError, day_text};
use super::format::{self, OutputFormat, num, print_rows, text};
use crate::proto;
use crate::proto::campaign_service_client::CampaignServiceClient;
use std::collections::HashMap;

/// Arguments of `tally lift`.
#[derive(Debug, clap::Args)]
pub struct LiftArgs {
    /// The campaign, `campaigns/{id}`.
    pub campaign: String,
    /// KPIs to measure (repeat the flag); by default the tenant-wide series of LIFT.md.
    #[arg(long = "kpi")]
    pub kpis: Vec<String>,
    /// Level of the prediction intervals, strictly between 0 and 1 (default 0.9).
    #[arg(long)]
    pub level: Option<f64>,
    /// Days before the start that the baseline learns from, 28 to 364 (default 56).
    #[arg(long)]
    pub pre_period_days: Option<i32>,
    /// Measure even when another campaign overlaps.
    #[arg(long)]
    pub accept_overlap: bool,
    /// One row per KPI and day instead of one per KPI.
    #[arg(long)]
    pub days: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub currency: Currency,
    #[command(flatten)]
    pub conn: Conn,
}

/// `lower – upper`, or `–` when either is missing.
fn range(lower: Option<f64>, upper: Option<f64>, show: impl Fn(f64) -> String) -> String {
    match (lower, upper) {
        (Some(l), Some(u)) => format!("{} – {}", show(l), show(u)),
        (Some(l), None) => format!("≥ {}", show(l)),
        _ => "–".into(),
    }
}

/// The unit of a KPI's values: the answer's, else its definition's (servers before the
/// field).
fn unit_of<'a>(k: &'a proto::KpiLift, units: &'a HashMap<String, String>) -> &'a str {
    if k.unit.is_empty() {
        units.get(&k.kpi).map(String::as_str).unwrap_or("")
    } else {
        &k.unit
    }
}

fn relative(v: f64) -> String {
    format::percent(100.0 * v)
}

/// Runs `tally lift`.
pub async fn run(args: LiftArgs) -> Result<(), HumanError> {
    let client = Client::connect(&args.conn).await?;
    let answer = CampaignServiceClient::new(client.channel.clone())
        .get_campaign_lift(client.req(proto::GetCampaignLiftRequest {
            name: args.campaign.clone(),
            kpis: args.kpis.clone(),
            interval_level: args.level,
            pre_period_days: args.pre_period_days,
            accept_overlap: args.accept_overlap,
            include_pre_period: false,
        }))
        .await?
        .into_inner();
    let units = client.units().await?;
    let currency = args
        .currency
        .currency
        .clone()
        .or_else(|| Some(answer.currency_code.clone()).filter(|c| !c.is_empty()));
    let currency = currency.as_deref();
    let level = format::grouped(100.0 * answer.interval_level, 0);
    let band = format!("{level}% interval");
    let (low, high) = (
        format!("lift low ({level}%)"),
        format!("lift high ({level}%)"),
    );
    if matches!(args.format, OutputFormat::Table) {
        println!(
            "{}: baseline from {} to {}, data to {}; {band}.",
            answer.campaign,
            day_text(answer.pre_period_start_date.as_ref()),
            day_text(answer.pre_period_end_date.as_ref()),
            day_text(answer.newest_computed_date.as_ref()),
        );
        if !answer.overlapping_campaigns.is_empty() {
            println!(
                "Overlapping campaigns: {}.",
                answer.overlapping_campaigns.join(", ")
            );
        }
    }
    let (mut human, mut raw) = (Vec::new(), Vec::new());
    if args.days {
        let headers = ["kpi", "day", "observed", "baseline", "lift", &low, &high];
        for k in &answer.kpis {
            let unit = unit_of(k, &units);
            let show = |v: f64| format::value(v, unit, currency);
            for d in &k.days {
                let e = d.estimate.as_ref();
                human.push(vec![
                    k.kpi.clone(),
                    day_text(d.date.as_ref()),
                    e.map(|e| show(e.observed))
                        .unwrap_or_else(|| "no value".into()),
                    e.map(|e| show(e.baseline)).unwrap_or_else(|| "–".into()),
                    e.map(|e| show(e.lift)).unwrap_or_else(|| "–".into()),
                    e.map(|e| show(e.lift_lower)).unwrap_or_else(|| "–".into()),
                    e.map(|e| show(e.lift_upper)).unwrap_or_else(|| "–".into()),
                ]);
                raw.push(vec![
                    text(&k.kpi),
                    text(day_text(d.date.as_ref())),
                    num(e.map(|e| e.observed)),
                    num(e.map(|e| e.baseline)),
                    num(e.map(|e| e.lift)),
                    num(e.map(|e| e.lift_lower)),
                    num(e.map(|e| e.lift_upper)),
                ]);
            }
        }
        print_rows(args.format, &headers, &human, &raw, &[2, 3, 4, 5, 6]);
        return Ok(());
    }
    let headers = [
        "kpi", "days", "observed", "baseline", "lift", &low, &high, "relative", "halo", "iroas",
    ];
    for k in &answer.kpis {
        let unit = unit_of(k, &units);
        let show = |v: f64| format::value(v, unit, currency);
        let Some(t) = k.total.as_ref() else {
            let reason = format!(
                "{}: {}",
                proto::LiftRefusal::try_from(k.refusal)
                    .map(|r| r.as_str_name().to_string())
                    .unwrap_or_else(|_| "REFUSED".into()),
                k.reason
            );
            human.push(vec![
                k.kpi.clone(),
                "–".into(),
                format::numbers_in(&reason),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            raw.push(vec![
                text(&k.kpi),
                num(None),
                text(reason),
                num(None),
                num(None),
                num(None),
                num(None),
                num(None),
                num(None),
                num(None),
            ]);
            continue;
        };
        human.push(vec![
            k.kpi.clone(),
            k.total_days.to_string(),
            show(t.observed),
            show(t.baseline),
            show(t.lift),
            show(t.lift_lower),
            show(t.lift_upper),
            t.relative_lift.map(relative).unwrap_or_else(|| "–".into()),
            k.halo.map(&show).unwrap_or_else(|| "–".into()),
            k.incremental_roas
                .map(|r| {
                    let two = |v: f64| format::grouped(v, 2);
                    format!(
                        "{} ({})",
                        two(r),
                        range(k.incremental_roas_lower, k.incremental_roas_upper, two)
                    )
                })
                .unwrap_or_else(|| "–".into()),
        ]);
        raw.push(vec![
            text(&k.kpi),
            num(Some(f64::from(k.total_days))),
            num(Some(t.observed)),
            num(Some(t.baseline)),
            num(Some(t.lift)),
            num(Some(t.lift_lower)),
            num(Some(t.lift_upper)),
            num(t.relative_lift),
            num(k.halo),
            num(k.incremental_roas),
        ]);
    }
    print_rows(
        args.format,
        &headers,
        &human,
        &raw,
        &[1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_show_both_ends_or_an_open_upper_end() {
        let show = |v: f64| format::grouped(v, 0);
        assert_eq!(range(Some(1.0), Some(2.0), show), "1 – 2");
        assert_eq!(range(Some(1.0), None, show), "≥ 1");
        assert_eq!(range(None, None, show), "–");
    }
}
