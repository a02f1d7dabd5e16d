//! Campaign lift (LIFT.md): reads a campaign's tenant-wide daily series, the pre-period
//! before it and, for comparison, the campaign's own attributed values from the stored
//! DAY snapshots, and measures each series against its baseline with `kpi::lift`.
use super::resources::ResourceError;
use crate::domain::Violation;
use crate::domain::campaign::Campaign;
use crate::domain::catalogue::{self, RollUp, ScopeKind, SegmentUse};
use crate::domain::goal::Scope;
use crate::domain::tenant::Tenant;
use crate::kpi::KpiKey;
use crate::kpi::lift::{self, Estimate, Unfit};
use crate::kpi::period::Period;
use crate::kpi::web_shop;
use crate::storage::{PageRequest, Result, Store};
use chrono::{Days, NaiveDate};
use std::collections::HashMap;

/// The KPIs measured when a request names none (LIFT.md, "Series").
pub const DEFAULT_KPIS: [&str; 7] = [
    "social_visitors",
    "influencer_visitors",
    "influencer_new_visitors",
    "attributed_orders",
    "attributed_revenue",
    "code_buyers",
    "follower_growth",
];
/// Most KPIs one request may name.
pub const MAX_KPIS: usize = 16;
/// Pre-period length when the request sets none: 8 weeks.
pub const DEFAULT_PRE_PERIOD_DAYS: u32 = 56;
/// Shortest pre-period a request may set: the baseline needs 28 days with a value.
pub const MIN_PRE_PERIOD_DAYS: u32 = lift::MIN_DEFINED_DAYS as u32;
/// Longest pre-period a request may set.
pub const MAX_PRE_PERIOD_DAYS: u32 = 364;
/// Interval level when the request sets none.
pub const DEFAULT_LEVEL: f64 = 0.9;

/// A checked GetCampaignLift request.
#[derive(Clone, Debug, PartialEq)]
pub struct LiftRequest {
    /// The campaign's id.
    pub campaign_id: String,
    /// KPI ids, each a liftable built-in, in the order asked.
    pub kpis: Vec<String>,
    /// Interval level in (0, 1).
    pub level: f64,
    /// Pre-period length in days.
    pub pre_period_days: u32,
    /// Whether to measure despite overlapping campaigns.
    pub accept_overlap: bool,
}

/// Why a KPI cannot be measured for lift; None when it can.
fn not_liftable(id: &str) -> Option<String> {
    let Some(def) = catalogue::find(id) else {
        return Some(format!(
            "`{}` is not a built-in KPI",
            crate::domain::names::shorten(id)
        ));
    };
    let adds_up = matches!(
        crate::kpi::roll_up(id),
        Some(RollUp::Sum | RollUp::Distinct)
    ) || id == "follower_growth";
    if id == "fees" {
        Some("fees are the campaign's cost, not an outcome it lifts".into())
    } else if !adds_up || def.segment == SegmentUse::Required || !def.applies_to(ScopeKind::Tenant)
    {
        Some(format!(
            "`{id}` has no daily tenant values that add up over days; lift needs a sum or distinct KPI without a segment, or follower_growth"
        ))
    } else {
        None
    }
}

impl LiftRequest {
    /// Checks a request's fields, naming each bad one (`kpis`, `kpis[i]`,
    /// `interval_level`, `pre_period_days`); empty `kpis` takes [`DEFAULT_KPIS`], unset
    /// values their defaults.
    pub fn new(
        campaign_id: &str,
        kpis: &[String],
        level: Option<f64>,
        pre_period_days: Option<i32>,
        accept_overlap: bool,
    ) -> std::result::Result<LiftRequest, Vec<Violation>> {
        let mut problems = Vec::new();
        if kpis.len() > MAX_KPIS {
            problems.push(Violation::new(
                "kpis",
                format!("lists {} KPIs; at most {MAX_KPIS} are allowed", kpis.len()),
            ));
        } else {
            for (i, id) in kpis.iter().enumerate() {
                if let Some(problem) = not_liftable(id) {
                    problems.push(Violation::new(format!("kpis[{i}]"), problem));
                } else if kpis[..i].contains(id) {
                    problems.push(Violation::new(
                        format!("kpis[{i}]"),
                        format!("`{id}` is listed twice"),
                    ));
                }
            }
        }
        let level = level.unwrap_or(DEFAULT_LEVEL);
        if !(level > 0.0 && level < 1.0) {
            problems.push(Violation::new(
                "interval_level",
                format!("is {level}; it must be strictly between 0 and 1, such as 0.9"),
            ));
        }
        let days = pre_period_days.unwrap_or(DEFAULT_PRE_PERIOD_DAYS as i32);
        let range = MIN_PRE_PERIOD_DAYS as i32..=MAX_PRE_PERIOD_DAYS as i32;
        if !range.contains(&days) {
            problems.push(Violation::new(
                "pre_period_days",
                format!(
                    "is {days}; it must be between {MIN_PRE_PERIOD_DAYS} and {MAX_PRE_PERIOD_DAYS}"
                ),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(LiftRequest {
            campaign_id: campaign_id.to_string(),
            kpis: if kpis.is_empty() {
                DEFAULT_KPIS.iter().map(|k| k.to_string()).collect()
            } else {
                kpis.to_vec()
            },
            level,
            pre_period_days: days as u32,
            accept_overlap,
        })
    }
}

/// Why a KPI's lift has no numbers (LIFT.md, "Reasons instead of numbers").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// Too few pre-period days with a value.
    PrePeriodTooShort,
    /// Too many pre-period days without one.
    PrePeriodGappy,
    /// The pre-period does not determine the model.
    PrePeriodDegenerate,
    /// Another campaign overlaps, not accepted.
    OverlappingCampaign,
    /// No computed day in the window yet.
    NotStarted,
    /// No window day has a stored value.
    NoWindowData,
}

/// A refusal with the sentence that explains it.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// What kind.
    pub kind: RefusalKind,
    /// Why, quoting the numbers.
    pub reason: String,
}

impl From<Unfit> for Refusal {
    fn from(u: Unfit) -> Refusal {
        let kind = match u {
            Unfit::TooShort { .. } => RefusalKind::PrePeriodTooShort,
            Unfit::TooGappy { .. } => RefusalKind::PrePeriodGappy,
            Unfit::Degenerate => RefusalKind::PrePeriodDegenerate,
        };
        Refusal {
            kind,
            reason: u.to_string(),
        }
    }
}

/// The numbers of a KPI's lift.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesLift {
    /// Each window day with its estimate, None where nothing is stored.
    pub days: Vec<(NaiveDate, Option<Estimate>)>,
    /// Over the days with a value.
    pub total: Estimate,
    /// How many days the total covers.
    pub total_days: usize,
    /// The KPI at campaign scope over the total's days, where comparable.
    pub attributed: Option<f64>,
    /// Lift beyond attributed: value, lower, upper.
    pub halo: Option<(f64, f64, f64)>,
    /// For attributed_revenue: lift over fees, lower, upper.
    pub incremental_roas: Option<(f64, f64, f64)>,
}

/// The lift of one KPI.
#[derive(Clone, Debug, PartialEq)]
pub struct KpiLift {
    /// KPI id.
    pub kpi: String,
    /// The campaign's start.
    pub first: NaiveDate,
    /// The window's last day, clipped to the newest computed day; None before the start.
    pub last: Option<NaiveDate>,
    /// The numbers, or why there are none.
    pub result: std::result::Result<SeriesLift, Refusal>,
}

/// The answer of GetCampaignLift.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignLift {
    /// The campaign's id.
    pub campaign_id: String,
    /// The interval level.
    pub level: f64,
    /// The pre-period.
    pub pre_period: Period,
    /// The newest computed day, if any.
    pub newest: Option<NaiveDate>,
    /// The campaign's fees in major units.
    pub fees: f64,
    /// The tenant's currency.
    pub currency: String,
    /// Ids of overlapping campaigns.
    pub overlapping: Vec<String>,
    /// One per requested KPI.
    pub kpis: Vec<KpiLift>,
}

/// Whether the KPI's campaign window runs on into the order tail (KPIS.md: orders count
/// in `[start, end + order window]`).
fn has_order_tail(kpi: &str) -> bool {
    web_shop::Kpi::of(kpi).is_some_and(web_shop::Kpi::is_orders)
}

/// The last day of a campaign's window with its order tail.
fn tail_end(c: &Campaign, order_window_days: i32) -> NaiveDate {
    c.end_date
        .checked_add_days(Days::new(order_window_days.max(0) as u64))
        .unwrap_or(NaiveDate::MAX)
}

/// The stored daily values of `key` on each day of `period`, None where absent.
async fn daily(
    store: &Store,
    tenant: &str,
    key: &KpiKey,
    period: Period,
) -> Result<Vec<Option<f64>>> {
    let by_day: HashMap<NaiveDate, f64> = store
        .snapshots(tenant, key, &period)
        .await?
        .into_iter()
        .filter_map(|s| s.computed.value.ok().map(|v| (s.computed.period.first, v)))
        .collect();
    Ok(period
        .iter_days()
        .map(|d| by_day.get(&d).copied())
        .collect())
}

/// The lift of the campaign's KPIs as of the newest computed day (LIFT.md).
pub async fn campaign_lift(
    store: &Store,
    tenant: &Tenant,
    request: &LiftRequest,
) -> std::result::Result<CampaignLift, ResourceError> {
    let campaign = store
        .get_campaign(&tenant.id, &request.campaign_id)
        .await?
        .spec;
    let tail = tenant.settings.order_window_days;
    let start = campaign.start_date;
    let pre_first = start
        .checked_sub_days(Days::new(u64::from(request.pre_period_days)))
        .unwrap_or(NaiveDate::MIN);
    let pre_last = start.pred_opt().unwrap_or(NaiveDate::MIN);
    let pre_period = Period::new(pre_first, pre_last).ok_or_else(|| {
        ResourceError::FailedPrecondition(
            "the campaign starts on the first representable day".into(),
        )
    })?;
    let span_end = tail_end(&campaign, tail);
    let overlapping = overlapping(
        store,
        tenant,
        &request.campaign_id,
        pre_first,
        span_end,
        tail,
    )
    .await?;
    let newest = store.newest_snapshot_day(&tenant.id).await?;
    let minor_per_major = iso_currency::Currency::from_code(&tenant.settings.currency)
        .and_then(|c| c.exponent())
        .map_or(100.0, |e| 10f64.powi(i32::from(e)));
    let fees = campaign
        .participants
        .iter()
        .map(|p| p.fee.minor_units as f64)
        .sum::<f64>()
        / minor_per_major;
    let mut kpis = Vec::with_capacity(request.kpis.len());
    for kpi in &request.kpis {
        let end = if has_order_tail(kpi) {
            span_end
        } else {
            campaign.end_date
        };
        let last = newest.map(|n| n.min(end)).filter(|l| *l >= start);
        let result = match last {
            _ if !overlapping.is_empty() && !request.accept_overlap => Err(Refusal {
                kind: RefusalKind::OverlappingCampaign,
                reason: format!(
                    "campaigns {} overlap the pre-period or the window (with their order tails), so their effect would be in the baseline or the lift; accept_overlap measures anyway",
                    overlapping
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
            None => Err(Refusal {
                kind: RefusalKind::NotStarted,
                reason: match newest {
                    Some(n) => format!(
                        "the newest computed day {n} is before the campaign's start {start}"
                    ),
                    None => "no day is computed yet".into(),
                },
            }),
            Some(last) => {
                let window = Period::new(start, last).unwrap_or(Period::day(start));
                series_lift(store, tenant, request, kpi, pre_period, window, fees).await?
            }
        };
        kpis.push(KpiLift {
            kpi: kpi.clone(),
            first: start,
            last,
            result,
        });
    }
    Ok(CampaignLift {
        campaign_id: request.campaign_id.clone(),
        level: request.level,
        pre_period,
        newest,
        fees,
        currency: tenant.settings.currency.clone(),
        overlapping,
        kpis,
    })
}

/// Ids of the tenant's other campaigns whose window with its order tail meets
/// `[first, last]`.
async fn overlapping(
    store: &Store,
    tenant: &Tenant,
    campaign_id: &str,
    first: NaiveDate,
    last: NaiveDate,
    tail: i32,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_campaigns(
                &tenant.id,
                &PageRequest {
                    after: after.clone(),
                    limit: 200,
                },
            )
            .await?;
        for c in &page.items {
            if c.id != campaign_id && c.spec.start_date <= last && tail_end(&c.spec, tail) >= first
            {
                out.push(c.id.clone());
            }
        }
        match (page.more, page.items.last()) {
            (true, Some(last)) => after = Some(last.id.clone()),
            _ => break,
        }
    }
    Ok(out)
}

/// One KPI's lift over `window`, or why there is none.
async fn series_lift(
    store: &Store,
    tenant: &Tenant,
    request: &LiftRequest,
    kpi: &str,
    pre_period: Period,
    window: Period,
    fees: f64,
) -> Result<std::result::Result<SeriesLift, Refusal>> {
    let key = KpiKey {
        kpi: kpi.to_string(),
        scope: Scope::Tenant,
        segment: None,
    };
    let pre = daily(store, &tenant.id, &key, pre_period).await?;
    let observed = daily(store, &tenant.id, &key, window).await?;
    let measured = match lift::lift(&pre, &observed, request.level) {
        Ok(m) => m,
        Err(unfit) => return Ok(Err(unfit.into())),
    };
    let Some(total) = measured.total else {
        return Ok(Err(Refusal {
            kind: RefusalKind::NoWindowData,
            reason: format!(
                "no day from {} to {} has a stored {kpi} value",
                window.first, window.last
            ),
        }));
    };
    // Web and shop KPIs at campaign scope are what the campaign's codes and links were
    // credited with; the social ones measure the influencers' channels, not the brand's.
    let attributed = if web_shop::Kpi::of(kpi).is_some() {
        let campaign_key = KpiKey {
            scope: Scope::Campaign(request.campaign_id.clone()),
            ..key.clone()
        };
        let credited = daily(store, &tenant.id, &campaign_key, window).await?;
        let on_total_days: Vec<f64> = credited
            .iter()
            .zip(&observed)
            .filter(|(_, o)| o.is_some())
            .filter_map(|(c, _)| *c)
            .collect();
        (!on_total_days.is_empty()).then(|| on_total_days.iter().sum::<f64>())
    } else {
        None
    };
    Ok(Ok(SeriesLift {
        days: window.iter_days().zip(measured.days).collect(),
        total,
        total_days: measured.total_days,
        attributed,
        halo: attributed.map(|a| total.halo(a)),
        incremental_roas: (kpi == "attributed_revenue")
            .then(|| total.per_fee(fees))
            .flatten(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(
        kpis: &[&str],
        level: Option<f64>,
        days: Option<i32>,
    ) -> std::result::Result<LiftRequest, Vec<Violation>> {
        let kpis: Vec<String> = kpis.iter().map(|k| k.to_string()).collect();
        LiftRequest::new("spring", &kpis, level, days, false)
    }

    fn fields(e: Vec<Violation>) -> Vec<String> {
        e.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn an_empty_request_takes_the_defaults() {
        let r = ask(&[], None, None).unwrap();
        assert_eq!(r.kpis, DEFAULT_KPIS);
        assert_eq!((r.level, r.pre_period_days), (0.9, 56));
    }

    #[test]
    fn every_default_kpi_is_liftable_and_levels_ratios_and_fees_are_not() {
        for id in DEFAULT_KPIS {
            assert_eq!(not_liftable(id), None, "{id}");
        }
        for id in [
            "followers",
            "roas",
            "fees",
            "segment_shares",
            "follower_growth_pct",
            "nope",
        ] {
            assert!(not_liftable(id).is_some(), "{id}");
        }
    }

    #[test]
    fn bad_fields_are_each_named() {
        let e = ask(&["roas", "code_buyers", "code_buyers"], Some(1.0), Some(27)).unwrap_err();
        assert_eq!(
            fields(e),
            ["kpis[0]", "kpis[2]", "interval_level", "pre_period_days"]
        );
        assert_eq!(
            fields(ask(&[], Some(0.0), Some(365)).unwrap_err()),
            ["interval_level", "pre_period_days"]
        );
        assert_eq!(
            fields(ask(&[], Some(f64::NAN), None).unwrap_err()),
            ["interval_level"]
        );
        let many = vec!["views"; MAX_KPIS + 1];
        assert_eq!(fields(ask(&many, None, None).unwrap_err()), ["kpis"]);
    }

    #[test]
    fn only_order_kpis_run_on_into_the_tail() {
        assert!(has_order_tail("attributed_revenue") && has_order_tail("code_buyers"));
        assert!(!has_order_tail("social_visitors") && !has_order_tail("follower_growth"));
    }
}
