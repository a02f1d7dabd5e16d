//! Campaign lift (LIFT.md): reads a campaign's tenant-wide daily series, the pre-period
//! before it and, for comparison, the campaign's own attributed values from the stored
//! DAY snapshots, and measures each series against its baseline with `kpi::lift`.
use super::resources::ResourceError;
use crate::domain::Violation;
use crate::domain::campaign::Campaign;
use crate::domain::catalogue::{self, RollUp, ScopeKind, SegmentUse};
use crate::domain::goal::Scope;
use crate::domain::tenant::{LIFT_PRE_PERIOD_DAYS, Tenant};
use crate::kpi::KpiKey;
use crate::kpi::lift::{self, Estimate, Unfit};
use crate::kpi::period::Period;
use crate::kpi::web_shop;
use crate::storage::lift_series::TenantSeries;
use crate::storage::{PageRequest, Result, Store};
use chrono::{Days, NaiveDate};
use std::collections::HashMap;

/// The KPIs measured when a request names none (LIFT.md, "Series").
pub const DEFAULT_KPIS: [&str; 9] = [
    "web_visitors",
    "web_new_visitors",
    "social_visitors",
    "all_orders",
    "all_revenue",
    "code_buyers",
    "follower_growth",
    "attributed_orders",
    "attributed_revenue",
];

/// The lift-only series (LIFT.md, "Lift-only series"): tenant-wide totals of the
/// observations that the KPI catalogue does not hold, read for the lift alone. Each with
/// its unit, the KPI whose campaign-scope value is its attributed comparison, and how it
/// is read.
const LIFT_ONLY: [(&str, &str, &str, TenantSeries); 4] = [
    (
        "web_visitors",
        "users",
        "influencer_visitors",
        TenantSeries::WebVisitors,
    ),
    (
        "web_new_visitors",
        "users",
        "influencer_new_visitors",
        TenantSeries::WebNewVisitors,
    ),
    (
        "all_orders",
        "orders",
        "attributed_orders",
        TenantSeries::AllOrders,
    ),
    (
        "all_revenue",
        "money",
        "attributed_revenue",
        TenantSeries::AllRevenueMinor,
    ),
];

/// A lift-only series by id: its unit, its attributed comparison and how it is read.
fn lift_only(id: &str) -> Option<(&'static str, &'static str, TenantSeries)> {
    LIFT_ONLY
        .iter()
        .find(|(k, ..)| *k == id)
        .map(|&(_, unit, attributed, series)| (unit, attributed, series))
}
/// Most KPIs one request may name.
pub const MAX_KPIS: usize = 16;
/// Pre-period length when neither the request nor the tenant sets one: 8 weeks.
pub const DEFAULT_PRE_PERIOD_DAYS: u32 = 56;
/// Shortest pre-period: the baseline needs 28 days with a value.
pub const MIN_PRE_PERIOD_DAYS: u32 = *LIFT_PRE_PERIOD_DAYS.start() as u32;
/// Longest pre-period.
pub const MAX_PRE_PERIOD_DAYS: u32 = *LIFT_PRE_PERIOD_DAYS.end() as u32;
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
    /// Pre-period length in days; None: the tenant's setting.
    pub pre_period_days: Option<u32>,
    /// Whether to measure despite overlapping campaigns.
    pub accept_overlap: bool,
    /// Whether to return the pre-period's days against the fitted baseline too.
    pub include_pre_period: bool,
}

/// Why a KPI cannot be measured for lift; None when it can.
fn not_liftable(id: &str) -> Option<String> {
    if lift_only(id).is_some() {
        return None;
    }
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
    /// `interval_level`, `pre_period_days`); empty `kpis` takes [`DEFAULT_KPIS`], an
    /// unset level its default and an unset pre-period the tenant's setting.
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
        if let Some(problem) = pre_period_days.and_then(pre_period_problem) {
            problems.push(Violation::new("pre_period_days", problem));
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
            pre_period_days: pre_period_days.map(|d| d as u32),
            accept_overlap,
            include_pre_period: false,
        })
    }
}

/// Why a pre-period length is not allowed (a request's or the tenant setting's); None
/// when it is.
pub fn pre_period_problem(days: i32) -> Option<String> {
    let range = MIN_PRE_PERIOD_DAYS as i32..=MAX_PRE_PERIOD_DAYS as i32;
    (!range.contains(&days)).then(|| {
        format!("is {days}; it must be between {MIN_PRE_PERIOD_DAYS} and {MAX_PRE_PERIOD_DAYS}")
    })
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

/// One day of a series: its estimate against the baseline and whether it can change.
#[derive(Clone, Debug, PartialEq)]
pub struct DayLift {
    /// The day.
    pub day: NaiveDate,
    /// The estimate, None where nothing is stored.
    pub estimate: Option<Estimate>,
    /// Whether the day's value can no longer change (as a query value's `final`).
    pub is_final: bool,
}

/// The numbers of a KPI's lift.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesLift {
    /// Each pre-period day against the fitted baseline, when the request asked for them.
    pub pre_days: Vec<DayLift>,
    /// Each window day with its estimate.
    pub days: Vec<DayLift>,
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
    /// Unit of its values, as the catalogue's.
    pub unit: &'static str,
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

/// The unit of a liftable KPI's values.
fn unit_of(kpi: &str) -> &'static str {
    match lift_only(kpi) {
        Some((unit, ..)) => unit,
        None => catalogue::find(kpi).map_or("", |d| d.unit),
    }
}

/// The KPI whose value at campaign scope is what the campaign was credited with, for
/// the halo: web and shop KPIs are their own, lift-only series have theirs; the social
/// KPIs at campaign scope measure the influencers' channels, not the brand's, so none.
fn attributed_kpi(kpi: &str) -> Option<&str> {
    match lift_only(kpi) {
        Some((_, attributed, _)) => Some(attributed),
        None => web_shop::Kpi::of(kpi).is_some().then_some(kpi),
    }
}

/// Whether the KPI's campaign window runs on into the order tail (KPIS.md: orders count
/// in `[start, end + order window]`).
fn has_order_tail(kpi: &str) -> bool {
    match lift_only(kpi) {
        Some((.., series)) => series.is_orders(),
        None => web_shop::Kpi::of(kpi).is_some_and(web_shop::Kpi::is_orders),
    }
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

/// The tenant-wide daily values of `kpi` over the span's pre-period and window, in one
/// read: stored snapshots for a KPI, one grouped statement over the observations for a
/// lift-only series (an order series is 0 on a day without orders from the tenant's
/// first order on, and has no value before).
async fn tenant_daily(
    store: &Store,
    tenant: &Tenant,
    kpi: &str,
    span: Span,
) -> Result<(Vec<Option<f64>>, Vec<Option<f64>>)> {
    let all = Period::new(span.pre_period.first, span.window.last).unwrap_or(span.window);
    let mut values = match lift_only(kpi) {
        None => {
            let key = KpiKey {
                kpi: kpi.to_string(),
                scope: Scope::Tenant,
                segment: None,
            };
            daily(store, &tenant.id, &key, all).await?
        }
        Some((.., series)) => {
            let by_day = store.tenant_series(&tenant.id, series, &all).await?;
            let scale = if series == TenantSeries::AllRevenueMinor {
                span.minor_per_major
            } else {
                1.0
            };
            all.iter_days()
                .map(|d| match by_day.get(&d) {
                    Some(v) => Some(v / scale),
                    None if series.is_orders() && span.first_order.is_some_and(|f| d >= f) => {
                        Some(0.0)
                    }
                    None => None,
                })
                .collect()
        }
    };
    let pre_days = usize::try_from(span.pre_period.days()).unwrap_or(0);
    let observed = values.split_off(pre_days.min(values.len()));
    Ok((values, observed))
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
    let pre_period_days = request.pre_period_days.unwrap_or_else(|| {
        u32::try_from(tenant.settings.lift_pre_period_days).unwrap_or(DEFAULT_PRE_PERIOD_DAYS)
    });
    let pre_first = start
        .checked_sub_days(Days::new(u64::from(pre_period_days)))
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
    let first_order = if request
        .kpis
        .iter()
        .any(|k| lift_only(k).is_some_and(|(.., s)| s.is_orders()))
    {
        store.first_order_day(&tenant.id).await?
    } else {
        None
    };
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
                let span = Span {
                    pre_period,
                    window,
                    newest,
                    minor_per_major,
                    first_order,
                };
                series_lift(store, tenant, request, kpi, span, fees).await?
            }
        };
        kpis.push(KpiLift {
            kpi: kpi.clone(),
            unit: unit_of(kpi),
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

/// The days a series is read over.
#[derive(Clone, Copy)]
struct Span {
    pre_period: Period,
    window: Period,
    newest: Option<NaiveDate>,
    /// Minor units per major unit of the tenant's currency.
    minor_per_major: f64,
    /// The tenant's first order day, when an order series is asked for.
    first_order: Option<NaiveDate>,
}

/// Whether `kpi`'s value of `day` can no longer change as of `newest` (KPIS.md,
/// recomputation; the rule of a query value's `final`).
fn is_final(kpi: &str, day: NaiveDate, newest: Option<NaiveDate>, tenant: &Tenant) -> bool {
    let Some(newest) = newest else { return false };
    let lag = (newest - day).num_days();
    let cohort = crate::engine::recompute::COHORT_KPIS.contains(&kpi);
    lag >= i64::from(tenant.settings.trailing_days)
        && (!cohort || lag > i64::from(tenant.settings.returning_window_days))
}

/// One KPI's lift over the span's window, or why there is none.
async fn series_lift(
    store: &Store,
    tenant: &Tenant,
    request: &LiftRequest,
    kpi: &str,
    span: Span,
    fees: f64,
) -> Result<std::result::Result<SeriesLift, Refusal>> {
    let Span {
        pre_period,
        window,
        newest,
        ..
    } = span;
    let (pre, observed) = tenant_daily(store, tenant, kpi, span).await?;
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
    let attributed = if let Some(credited_kpi) = attributed_kpi(kpi) {
        let campaign_key = KpiKey {
            kpi: credited_kpi.to_string(),
            scope: Scope::Campaign(request.campaign_id.clone()),
            segment: None,
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
    let days = |period: Period, estimates: Vec<Option<Estimate>>| -> Vec<DayLift> {
        period
            .iter_days()
            .zip(estimates)
            .map(|(day, estimate)| DayLift {
                day,
                estimate,
                is_final: is_final(kpi, day, newest, tenant),
            })
            .collect()
    };
    Ok(Ok(SeriesLift {
        pre_days: if request.include_pre_period {
            days(pre_period, measured.fitted)
        } else {
            Vec::new()
        },
        days: days(window, measured.days),
        total,
        total_days: measured.total_days,
        attributed,
        halo: attributed.map(|a| total.halo(a)),
        incremental_roas: matches!(kpi, "attributed_revenue" | "all_revenue")
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
        assert_eq!((r.level, r.pre_period_days), (0.9, None));
    }

    #[test]
    fn every_default_kpi_is_liftable_and_levels_ratios_and_fees_are_not() {
        for (id, ..) in LIFT_ONLY {
            assert!(
                catalogue::find(id).is_none(),
                "{id} is lift-only, not a KPI"
            );
        }
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
    fn the_pre_period_bounds_are_the_baselines_and_the_tenant_defaults_agree() {
        assert_eq!(MIN_PRE_PERIOD_DAYS as usize, lift::MIN_DEFINED_DAYS);
        assert_eq!(
            crate::domain::tenant::TenantSettings::default().lift_pre_period_days,
            DEFAULT_PRE_PERIOD_DAYS as i32
        );
        assert_eq!(pre_period_problem(28), None);
        assert!(pre_period_problem(365).is_some());
    }

    #[test]
    fn only_order_kpis_run_on_into_the_tail() {
        assert!(has_order_tail("attributed_revenue") && has_order_tail("code_buyers"));
        assert!(has_order_tail("all_orders") && has_order_tail("all_revenue"));
        assert!(!has_order_tail("social_visitors") && !has_order_tail("follower_growth"));
        assert!(!has_order_tail("web_visitors"));
        assert_eq!(attributed_kpi("all_revenue"), Some("attributed_revenue"));
        assert_eq!(attributed_kpi("code_buyers"), Some("code_buyers"));
        assert_eq!(attributed_kpi("follower_growth"), None);
    }
}
