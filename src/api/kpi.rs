//! KpiService: the built-in catalogue.
use super::Api;
use super::convert::Pager;
use super::error::ApiError;
use crate::domain::names::Collection;
use crate::kpi::catalogue::{self, KpiDefinition, Objective, RollUp, ScopeKind, SegmentUse, Tier};
use crate::proto;
use crate::proto::kpi_service_server::KpiService;
use tonic::{Request, Response, Status};

/// The proto value of an objective.
pub fn objective_to_proto(objective: Objective) -> proto::Objective {
    match objective {
        Objective::BrandAwareness => proto::Objective::BrandAwareness,
        Objective::LoyalCustomers => proto::Objective::LoyalCustomers,
        Objective::Revenue => proto::Objective::Revenue,
        Objective::Engagement => proto::Objective::Engagement,
        Objective::NewAudience => proto::Objective::NewAudience,
    }
}

/// The objective of a proto value; None when unset; a violation of `field` when unknown.
pub fn objective_from_proto(value: i32, field: &str) -> Result<Option<Objective>, ApiError> {
    match proto::Objective::try_from(value) {
        Ok(proto::Objective::Unspecified) => Ok(None),
        Ok(proto::Objective::BrandAwareness) => Ok(Some(Objective::BrandAwareness)),
        Ok(proto::Objective::LoyalCustomers) => Ok(Some(Objective::LoyalCustomers)),
        Ok(proto::Objective::Revenue) => Ok(Some(Objective::Revenue)),
        Ok(proto::Objective::Engagement) => Ok(Some(Objective::Engagement)),
        Ok(proto::Objective::NewAudience) => Ok(Some(Objective::NewAudience)),
        Err(_) => Err(ApiError::invalid(
            field,
            format!("{value} is not an Objective value"),
        )),
    }
}

fn definition_to_proto(def: &KpiDefinition) -> proto::KpiDefinition {
    proto::KpiDefinition {
        name: Collection::KpiDefinitions.name(def.id),
        id: def.id.to_string(),
        tier: match def.tier {
            Tier::Vanity => proto::Tier::Vanity,
            Tier::Quality => proto::Tier::Quality,
            Tier::Composite => proto::Tier::Composite,
            Tier::Business => proto::Tier::Business,
            Tier::Audience => proto::Tier::Audience,
        } as i32,
        unit: def.unit.to_string(),
        description: def.description.to_string(),
        formula: def.formula.to_string(),
        roll_up: match def.roll_up {
            RollUp::Sum => proto::RollUp::Sum,
            RollUp::Level => proto::RollUp::Level,
            RollUp::Boundary => proto::RollUp::Boundary,
            RollUp::Distinct => proto::RollUp::Distinct,
            RollUp::Ratio => proto::RollUp::Ratio,
            RollUp::Change => proto::RollUp::Change,
        } as i32,
        objectives: def
            .objectives
            .iter()
            .map(|o| objective_to_proto(*o) as i32)
            .collect(),
        segment_use: match def.segment {
            SegmentUse::None => proto::SegmentUse::NoSegment,
            SegmentUse::Required => proto::SegmentUse::SegmentRequired,
            SegmentUse::Optional => proto::SegmentUse::SegmentOptional,
        } as i32,
        scopes: def
            .scopes
            .iter()
            .map(|s| match s {
                ScopeKind::Tenant => proto::ScopeKind::Tenant,
                ScopeKind::Campaign => proto::ScopeKind::Campaign,
                ScopeKind::Influencer => proto::ScopeKind::Influencer,
                ScopeKind::Channel => proto::ScopeKind::Channel,
            } as i32)
            .collect(),
        approximation: def.approximate.unwrap_or_default().to_string(),
        version: def.version as i32,
        built_in: true,
    }
}

#[tonic::async_trait]
impl KpiService for Api {
    async fn list_kpi_definitions(
        &self,
        request: Request<proto::ListKpiDefinitionsRequest>,
    ) -> Result<Response<proto::ListKpiDefinitionsResponse>, Status> {
        self.tenant(&request).await?;
        let req = request.get_ref();
        let pager = Pager::new(req.page_size, &req.page_token, &[])?;
        let all = catalogue::catalogue();
        // The catalogue is ordered, not sorted by id: the token carries the last id and
        // the page resumes after its position.
        let start = match &pager.request().after {
            None => 0,
            Some(after) => all
                .iter()
                .position(|d| d.id == after)
                .map(|i| i + 1)
                .ok_or_else(|| {
                    ApiError::invalid("page_token", "refers to a KPI that no longer exists")
                })?,
        };
        let end = (start + pager.request().limit as usize).min(all.len());
        let page = crate::storage::Page {
            items: all[start..end].to_vec(),
            more: end < all.len(),
        };
        let next_page_token = pager.next_token(&page, page.items.last().map(|d| d.id));
        Ok(Response::new(proto::ListKpiDefinitionsResponse {
            kpi_definitions: page.items.iter().map(definition_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_kpi_definition(
        &self,
        request: Request<proto::GetKpiDefinitionRequest>,
    ) -> Result<Response<proto::KpiDefinition>, Status> {
        self.tenant(&request).await?;
        let name = &request.get_ref().name;
        let id = name.strip_prefix("kpiDefinitions/").ok_or_else(|| {
            ApiError::invalid("name", "must be a resource name `kpiDefinitions/{id}`")
        })?;
        let def = catalogue::find(id).ok_or_else(|| {
            ApiError::NotFound(format!(
                "KPI definition `{}`",
                crate::domain::names::shorten(id)
            ))
        })?;
        Ok(Response::new(definition_to_proto(def)))
    }

    async fn suggest_kpis(
        &self,
        request: Request<proto::SuggestKpisRequest>,
    ) -> Result<Response<proto::SuggestKpisResponse>, Status> {
        self.tenant(&request).await?;
        let objective = objective_from_proto(request.get_ref().objective, "objective")?
            .ok_or_else(|| ApiError::invalid("objective", "is required"))?;
        let suggestions = catalogue::suggest(objective)
            .into_iter()
            .map(|(def, reason)| proto::KpiSuggestion {
                kpi_definition: Some(definition_to_proto(def)),
                reason: reason.to_string(),
            })
            .collect();
        Ok(Response::new(proto::SuggestKpisResponse { suggestions }))
    }
}
