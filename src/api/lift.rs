//! CampaignService.GetCampaignLift: converts the request into an
//! [`engine::lift::LiftRequest`](crate::engine::lift::LiftRequest), calls the lift use case
//! and converts its answer back.
use super::Api;
use super::convert;
use super::error::ApiError;
use crate::domain::names::Collection;
use crate::engine::lift::{self, CampaignLift, DayLift, LiftRequest, RefusalKind};
use crate::kpi::lift::Estimate;
use crate::proto;
use tonic::{Request, Response, Status};

fn estimate(e: &Estimate) -> proto::LiftEstimate {
    proto::LiftEstimate {
        observed: e.observed,
        baseline: e.baseline,
        baseline_lower: e.baseline_lower,
        baseline_upper: e.baseline_upper,
        lift: e.lift,
        lift_lower: e.lift_lower,
        lift_upper: e.lift_upper,
        relative_lift: e.relative,
        relative_lift_lower: e.relative_lower,
        relative_lift_upper: e.relative_upper,
    }
}

fn day(d: &DayLift) -> proto::LiftDay {
    proto::LiftDay {
        date: convert::date(d.day),
        estimate: d.estimate.as_ref().map(estimate),
        r#final: d.is_final,
    }
}

fn refusal(kind: RefusalKind) -> proto::LiftRefusal {
    match kind {
        RefusalKind::PrePeriodTooShort => proto::LiftRefusal::PrePeriodTooShort,
        RefusalKind::PrePeriodGappy => proto::LiftRefusal::PrePeriodGappy,
        RefusalKind::PrePeriodDegenerate => proto::LiftRefusal::PrePeriodDegenerate,
        RefusalKind::OverlappingCampaign => proto::LiftRefusal::OverlappingCampaign,
        RefusalKind::NotStarted => proto::LiftRefusal::CampaignNotStarted,
        RefusalKind::NoWindowData => proto::LiftRefusal::NoWindowData,
    }
}

fn to_proto(answer: &CampaignLift) -> proto::CampaignLift {
    proto::CampaignLift {
        campaign: Collection::Campaigns.name(&answer.campaign_id),
        interval_level: answer.level,
        pre_period_start_date: convert::date(answer.pre_period.first),
        pre_period_end_date: convert::date(answer.pre_period.last),
        newest_computed_date: answer.newest.and_then(convert::date),
        fees: answer.fees,
        currency_code: answer.currency.clone(),
        overlapping_campaigns: answer
            .overlapping
            .iter()
            .map(|c| Collection::Campaigns.name(c))
            .collect(),
        kpis: answer
            .kpis
            .iter()
            .map(|k| {
                let mut out = proto::KpiLift {
                    kpi: k.kpi.clone(),
                    unit: k.unit.to_string(),
                    start_date: convert::date(k.first),
                    end_date: k.last.and_then(convert::date),
                    ..Default::default()
                };
                match &k.result {
                    Err(r) => {
                        out.set_refusal(refusal(r.kind));
                        out.reason = r.reason.clone();
                    }
                    Ok(s) => {
                        out.total = Some(estimate(&s.total));
                        out.total_days = s.total_days as i32;
                        out.days = s.days.iter().map(day).collect();
                        out.pre_period_days = s.pre_days.iter().map(day).collect();
                        out.attributed = s.attributed;
                        if let Some((halo, lower, upper)) = s.halo {
                            out.halo = Some(halo);
                            out.halo_lower = Some(lower);
                            out.halo_upper = Some(upper);
                        }
                        if let Some((roas, lower, upper)) = s.incremental_roas {
                            out.incremental_roas = Some(roas);
                            out.incremental_roas_lower = Some(lower);
                            out.incremental_roas_upper = Some(upper);
                        }
                    }
                }
                out
            })
            .collect(),
    }
}

/// GetCampaignLift.
pub(super) async fn get_campaign_lift(
    api: &Api,
    request: Request<proto::GetCampaignLiftRequest>,
) -> Result<Response<proto::CampaignLift>, Status> {
    let tenant = api.tenant(&request).await?;
    let req = request.get_ref();
    // Every bad field in one answer: the name's problem beside the others.
    let id = convert::parse_name(&req.name, "name", Collection::Campaigns);
    let checked = LiftRequest::new(
        id.as_deref().unwrap_or_default(),
        &req.kpis,
        req.interval_level,
        req.pre_period_days,
        req.accept_overlap,
    );
    let lift_request = match (id, checked) {
        (Ok(_), Ok(r)) => LiftRequest {
            include_pre_period: req.include_pre_period,
            ..r
        },
        (Err(ApiError::Invalid(mut name)), Err(rest)) => {
            name.extend(rest);
            return Err(ApiError::Invalid(name).into());
        }
        (Err(e), _) => return Err(e.into()),
        (Ok(_), Err(rest)) => return Err(ApiError::Invalid(rest).into()),
    };
    let answer = lift::campaign_lift(&api.store, &tenant, &lift_request)
        .await
        .map_err(ApiError::from)?;
    Ok(Response::new(to_proto(&answer)))
}
