//! KpiService: the built-in catalogue.
use super::Api;
use super::convert::Pager;
use super::error::{ApiError, Problems};
use crate::domain::catalogue::{
    self, KpiDefinition, Objective, RollUp, ScopeKind, SegmentUse, Tier,
};
use crate::domain::goal::Scope;
use crate::domain::names::Collection;
use crate::domain::tenant::Tenant;
use crate::engine::query::{self, Answer, KeyRequest, Query, QueryError};
use crate::engine::resources::custom_kpis::{self, CustomKpiPatch};
use crate::engine::resources::{Checked, Create, Delete, Update};
use crate::kpi::KpiKey;
use crate::kpi::custom::CustomKpi;
use crate::kpi::period::{Granularity, Period};
use crate::kpi::value::{Reason, positive_zero};
use crate::proto;
use crate::proto::kpi_service_server::KpiService;
use tonic::{Request, Response, Status};

/// Longest range one ComputeKpis or QuerySnapshots call covers.
const MAX_DAYS: i64 = 400;

/// The id in a `kpiDefinitions/{id}` name (a built-in id or a well-formed custom id), or
/// a violation of `field`: a malformed id is refused before any lookup.
fn definition_id<'a>(name: &'a str, field: &str) -> Result<&'a str, ApiError> {
    let id = name
        .strip_prefix("kpiDefinitions/")
        .ok_or_else(|| ApiError::invalid(field, "must be a resource name `kpiDefinitions/{id}`"))?;
    if catalogue::find(id).is_none() {
        crate::kpi::custom::check_id(id).map_err(|e| ApiError::invalid(field, e))?;
    }
    Ok(id)
}

/// The key a `KpiScope` names, well formed; the query checks it against the tenant.
fn key_request(value: Option<&proto::KpiScope>, field: &str) -> Result<KeyRequest, ApiError> {
    let ks = value.ok_or_else(|| ApiError::invalid(field, "is required"))?;
    let scope =
        Scope::parse(&ks.scope).map_err(|e| ApiError::invalid(format!("{field}.scope"), e))?;
    let segment = if ks.segment.is_empty() {
        None
    } else {
        Some(
            crate::api::convert::parse_name(
                &ks.segment,
                &format!("{field}.segment"),
                Collection::Segments,
            )?
            .to_string(),
        )
    };
    Ok(KeyRequest {
        kpi: ks.kpi.clone(),
        scope,
        segment,
    })
}

/// A refused or failed query, its fields under `field`.
fn query_error(err: QueryError, field: &str) -> ApiError {
    match err {
        QueryError::Invalid(e) => ApiError::from_domain(e, field),
        QueryError::Storage(e) => e.into(),
    }
}

/// The key of a `KpiScope` of a call, checked by `query`.
async fn checked_key(
    query: &mut Query<'_>,
    value: Option<&proto::KpiScope>,
    field: &str,
) -> Result<KpiKey, ApiError> {
    let request = key_request(value, field)?;
    query.key(request).await.map_err(|e| query_error(e, field))
}

fn range(
    first: Option<&proto::google::r#type::Date>,
    last: Option<&proto::google::r#type::Date>,
) -> Result<Period, ApiError> {
    let first = crate::api::convert::parse_date(first, "first_day")?;
    let last = crate::api::convert::parse_date(last, "last_day")?;
    let period = Period::new(first, last).ok_or_else(|| {
        ApiError::invalid("last_day", format!("{last} is before first_day {first}"))
    })?;
    if period.days() > MAX_DAYS {
        return Err(ApiError::invalid(
            "last_day",
            format!(
                "the range has {} days; at most {MAX_DAYS} per call",
                period.days()
            ),
        ));
    }
    Ok(period)
}

fn value_to_proto(answer: &Answer) -> proto::KpiValue {
    let computed = &answer.computed;
    proto::KpiValue {
        kpi_scope: Some(proto::KpiScope {
            kpi: computed.key.kpi.clone(),
            scope: computed.key.scope.to_string(),
            segment: computed
                .key
                .segment
                .as_deref()
                .map(|s| Collection::Segments.name(s))
                .unwrap_or_default(),
        }),
        first_day: crate::api::convert::date(computed.period.first),
        last_day: crate::api::convert::date(computed.period.last),
        // Snapshots stored before -0.0 was normalised at the source may still hold it.
        value: computed.value.ok().map(positive_zero),
        undefined_reason: computed
            .value
            .err()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        numerator: computed.numerator.map(positive_zero),
        denominator: computed.denominator.map(positive_zero),
        definition_version: answer.definition_version,
        run_id: answer.run_id.clone(),
        r#final: answer.is_final,
        partial: answer.partial,
    }
}

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
        roll_up: match crate::kpi::roll_up(def.id) {
            // Every built-in KPI has a family (a test in kpi holds them to it).
            None => proto::RollUp::Unspecified,
            Some(RollUp::Sum) => proto::RollUp::Sum,
            Some(RollUp::Level) => proto::RollUp::Level,
            Some(RollUp::Boundary) => proto::RollUp::Boundary,
            Some(RollUp::Distinct) => proto::RollUp::Distinct,
            Some(RollUp::Ratio) => proto::RollUp::Ratio,
            Some(RollUp::Change) => proto::RollUp::Change,
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
        display_name: def.id.to_string(),
        etag: String::new(),
    }
}

fn custom_to_proto(
    stored: &crate::domain::Stored<crate::kpi::custom::CustomKpi>,
) -> proto::KpiDefinition {
    let s = &stored.spec;
    proto::KpiDefinition {
        name: Collection::KpiDefinitions.name(&stored.id),
        id: stored.id.clone(),
        tier: proto::Tier::Composite as i32,
        unit: s.unit.clone(),
        description: s.description.clone(),
        formula: s.formula.clone(),
        roll_up: proto::RollUp::Ratio as i32,
        segment_use: proto::SegmentUse::SegmentOptional as i32,
        version: s.version,
        built_in: false,
        display_name: s.display_name.clone(),
        etag: stored.etag(),
        ..Default::default()
    }
}

impl TryFrom<proto::CreateKpiDefinitionRequest> for Checked<Create<CustomKpi>> {
    type Error = ApiError;

    fn try_from(req: proto::CreateKpiDefinitionRequest) -> Result<Self, ApiError> {
        let mut problems = Problems::default();
        problems.take(
            crate::kpi::custom::check_id(&req.kpi_definition_id)
                .map_err(|e| ApiError::invalid("kpi_definition_id", e)),
        );
        let msg = problems.required(req.kpi_definition, "kpi_definition");
        Ok(Checked {
            request: Create {
                id: req.kpi_definition_id,
                request_id: None,
                spec: CustomKpi {
                    display_name: msg.display_name,
                    description: msg.description,
                    unit: msg.unit,
                    formula: msg.formula,
                    version: 1,
                },
            },
            invalid: problems.hold("kpi_definition")?,
        })
    }
}

impl TryFrom<proto::UpdateKpiDefinitionRequest> for Checked<Update<CustomKpiPatch>> {
    type Error = ApiError;

    fn try_from(req: proto::UpdateKpiDefinitionRequest) -> Result<Self, ApiError> {
        let msg = req
            .kpi_definition
            .ok_or_else(|| ApiError::invalid("kpi_definition", "is required"))?;
        let mut problems = Problems::default();
        let id = problems.take(definition_id(&msg.name, "kpi_definition.name"));
        let etag = problems.take(crate::api::convert::etag(&msg.etag, "kpi_definition.etag"));
        let mask = problems.take(crate::api::convert::Mask::read(
            req.update_mask.as_ref(),
            &["display_name", "description", "unit", "formula"],
            || {
                [
                    ("display_name", !msg.display_name.is_empty()),
                    ("description", !msg.description.is_empty()),
                    ("unit", !msg.unit.is_empty()),
                    ("formula", !msg.formula.is_empty()),
                ]
                .into_iter()
                .filter_map(|(f, set)| set.then_some(f))
                .collect()
            },
        ));
        // The rules of the definition need the stored one; without a name there is none.
        let (Some(id), Some(revision), Some(mask)) = (id, etag, mask) else {
            return Err(problems.refuse());
        };
        let id = id.to_string();
        let patch = CustomKpiPatch {
            display_name: mask.has("display_name").then(|| msg.display_name.clone()),
            description: mask.has("description").then(|| msg.description.clone()),
            unit: mask.has("unit").then(|| msg.unit.clone()),
            formula: mask.has("formula").then(|| msg.formula.clone()),
        };
        Ok(Checked {
            request: Update {
                name: msg.name,
                id,
                revision,
                patch,
            },
            invalid: problems.hold("kpi_definition")?,
        })
    }
}

/// The stream of WatchSnapshots.
pub type SnapshotStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<proto::KpiValue, Status>> + Send>>;

#[tonic::async_trait]
impl KpiService for Api {
    type WatchSnapshotsStream = SnapshotStream;

    async fn watch_snapshots(
        &self,
        request: Request<proto::WatchSnapshotsRequest>,
    ) -> Result<Response<SnapshotStream>, Status> {
        use futures_util::StreamExt;
        let (tenant, key) = self.authenticate(&request).await?;
        let req = request.get_ref();
        if req.kpi_scopes.len() > 1000 {
            return Err(ApiError::invalid("kpi_scopes", "at most 1000 per call").into());
        }
        let mut wanted = std::collections::HashSet::new();
        let mut query = Query::new(&self.store, &tenant);
        for (i, ks) in req.kpi_scopes.iter().enumerate() {
            let field = format!("kpi_scopes[{i}]");
            wanted.insert(checked_key(&mut query, Some(ks), &field).await?);
        }
        let settings = tenant.settings.clone();
        let tenant_id = tenant.id.clone();
        let days = tokio_stream::wrappers::BroadcastStream::new(self.feed.subscribe());
        let stream = days
            .filter_map(move |day| {
                let day = match day {
                    Ok(day) if day.tenant == tenant_id => Some(day),
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!(error = %e, "a WatchSnapshots consumer fell behind and missed days");
                        None
                    }
                };
                std::future::ready(day)
            })
            .flat_map(move |day| {
                let values: Vec<Result<proto::KpiValue, Status>> = query::day_answers(
                    &day,
                    |key| wanted.is_empty() || wanted.contains(key),
                    &settings,
                )
                .map(|a| Ok(value_to_proto(&a)))
                .collect();
                futures_util::stream::iter(values)
            });
        Ok(Response::new(Box::pin(
            self.until_revoked(key, Box::pin(stream)),
        )))
    }

    async fn list_kpi_definitions(
        &self,
        request: Request<proto::ListKpiDefinitionsRequest>,
    ) -> Result<Response<proto::ListKpiDefinitionsResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let pager = Pager::new(req.page_size, &req.page_token, &[])?;
        // Built-ins in catalogue order, then the tenant's custom KPIs by id: the token
        // carries the last id and the page resumes after its position.
        let mut all: Vec<proto::KpiDefinition> = catalogue::catalogue()
            .iter()
            .map(definition_to_proto)
            .collect();
        let customs = custom_kpis::list(&self.store, &tenant)
            .await
            .map_err(ApiError::from)?;
        all.extend(customs.iter().map(custom_to_proto));
        let start = match &pager.request().after {
            None => 0,
            Some(after) => all
                .iter()
                .position(|d| &d.id == after)
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
        let next_page_token = pager.next_token(&page, page.items.last().map(|d| d.id.as_str()));
        Ok(Response::new(proto::ListKpiDefinitionsResponse {
            kpi_definitions: page.items,
            next_page_token,
        }))
    }

    async fn get_kpi_definition(
        &self,
        request: Request<proto::GetKpiDefinitionRequest>,
    ) -> Result<Response<proto::KpiDefinition>, Status> {
        let tenant = self.tenant(&request).await?;
        let name = &request.get_ref().name;
        let id = definition_id(name, "name")?;
        if let Some(def) = catalogue::find(id) {
            return Ok(Response::new(definition_to_proto(def)));
        }
        let custom = custom_kpis::find(&self.store, &tenant, id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "KPI definition `{}`",
                    crate::domain::names::shorten(id)
                ))
            })?;
        Ok(Response::new(custom_to_proto(&custom)))
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

    async fn compute_kpis(
        &self,
        request: Request<proto::ComputeKpisRequest>,
    ) -> Result<Response<proto::ComputeKpisResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let period = range(req.first_day.as_ref(), req.last_day.as_ref())?;
        // A run of its own, so the run id its snapshots carry is one GetJobRun finds.
        let summary = self
            .jobs
            .compute(&tenant, period)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(proto::ComputeKpisResponse {
            run_id: summary.run_id,
            days: summary.days as i32,
            snapshots: summary.snapshots as i64,
        }))
    }

    async fn query_snapshots(
        &self,
        request: Request<proto::QuerySnapshotsRequest>,
    ) -> Result<Response<proto::QuerySnapshotsResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let answer = self
            .read_through(
                |c| &c.queries,
                &tenant,
                req,
                |api, tenant, req| async move { api.answer_query(&tenant, &req).await },
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn list_follower_flags(
        &self,
        request: Request<proto::ListFollowerFlagsRequest>,
    ) -> Result<Response<proto::ListFollowerFlagsResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        // Both fields are checked before answering, so one reply names every bad field.
        let scope = Scope::parse(&req.scope).map_err(|e| ApiError::invalid("scope", e));
        let period = range(req.first_day.as_ref(), req.last_day.as_ref());
        let (scope, period) = match (scope, period) {
            (Ok(scope), Ok(period)) => (scope, period),
            (scope, period) => {
                let mut violations = Vec::new();
                for err in [scope.err(), period.err()].into_iter().flatten() {
                    match err {
                        ApiError::Invalid(v) => violations.extend(v),
                        other => return Err(other.into()),
                    }
                }
                return Err(ApiError::Invalid(violations).into());
            }
        };
        let threshold = self.jobs.settings().fake_follower_threshold;
        let flags = crate::engine::follower_flags(&self.store, &tenant, &scope, &period, threshold)
            .await
            .map_err(ApiError::from)?;
        let flags = flags
            .into_iter()
            .map(|(channel, flag)| proto::FollowerFlag {
                channel: Collection::Channels.name(&channel),
                day: crate::api::convert::date(flag.day),
                follower_growth: flag.growth,
                trailing_median_growth: flag.growth_score.median,
                growth_score: flag.growth_score.score,
                engagement_score: flag.engagement_score.map(|e| e.score),
                reason: flag.reason,
            });
        Ok(Response::new(proto::ListFollowerFlagsResponse {
            flags: flags.collect(),
        }))
    }

    async fn batch_get_latest(
        &self,
        request: Request<proto::BatchGetLatestRequest>,
    ) -> Result<Response<proto::BatchGetLatestResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let answer = self
            .read_through(
                |c| &c.latest,
                &tenant,
                req,
                |api, tenant, req| async move { api.answer_latest(&tenant, &req).await },
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn create_kpi_definition(
        &self,
        request: Request<proto::CreateKpiDefinitionRequest>,
    ) -> Result<Response<proto::KpiDefinition>, Status> {
        let tenant = self.tenant(&request).await?;
        let create = request.into_inner().try_into()?;
        let stored = custom_kpis::create(&self.store, &tenant, create)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(custom_to_proto(&stored)))
    }

    async fn update_kpi_definition(
        &self,
        request: Request<proto::UpdateKpiDefinitionRequest>,
    ) -> Result<Response<proto::KpiDefinition>, Status> {
        let tenant = self.tenant(&request).await?;
        let update = request.into_inner().try_into()?;
        let stored = custom_kpis::update(&self.store, &tenant, update)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(custom_to_proto(&stored)))
    }

    async fn delete_kpi_definition(
        &self,
        request: Request<proto::DeleteKpiDefinitionRequest>,
    ) -> Result<Response<()>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let id = definition_id(&req.name, "name")?;
        custom_kpis::not_built_in(id, "cannot be deleted").map_err(ApiError::from)?;
        let delete = Delete {
            id: id.to_string(),
            revision: crate::api::convert::etag(&req.etag, "etag")?,
        };
        custom_kpis::delete(&self.store, &tenant, &req.name, delete)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(()))
    }
}

impl Api {
    /// The QuerySnapshots answer to `req`, from the database.
    async fn answer_query(
        &self,
        tenant: &Tenant,
        req: &proto::QuerySnapshotsRequest,
    ) -> Result<proto::QuerySnapshotsResponse, Status> {
        let mut query = Query::new(&self.store, tenant);
        let key = checked_key(&mut query, req.kpi_scope.as_ref(), "kpi_scope").await?;
        let period = range(req.first_day.as_ref(), req.last_day.as_ref())?;
        let granularity = match proto::Granularity::try_from(req.granularity) {
            Ok(proto::Granularity::Unspecified | proto::Granularity::Day) => Granularity::Day,
            Ok(proto::Granularity::Week) => Granularity::Week,
            Ok(proto::Granularity::Month) => Granularity::Month,
            Ok(proto::Granularity::Range) => Granularity::Range,
            Err(_) => {
                return Err(ApiError::invalid(
                    "granularity",
                    format!("{} is not a Granularity value", req.granularity),
                )
                .into());
            }
        };
        let answers = query
            .snapshots(&key, period, granularity)
            .await
            .map_err(ApiError::from)?;
        Ok(proto::QuerySnapshotsResponse {
            values: answers.iter().map(value_to_proto).collect(),
            currency_code: tenant.settings.currency.clone(),
        })
    }

    /// The BatchGetLatest answer to `req`, from the database.
    async fn answer_latest(
        &self,
        tenant: &Tenant,
        req: &proto::BatchGetLatestRequest,
    ) -> Result<proto::BatchGetLatestResponse, Status> {
        if req.kpi_scopes.len() > 1000 {
            return Err(ApiError::invalid("kpi_scopes", "at most 1000 per call").into());
        }
        let mut query = Query::new(&self.store, tenant);
        let mut values = Vec::with_capacity(req.kpi_scopes.len());
        for (i, ks) in req.kpi_scopes.iter().enumerate() {
            let key = checked_key(&mut query, Some(ks), &format!("kpi_scopes[{i}]")).await?;
            values.push(match query.latest(&key).await.map_err(ApiError::from)? {
                Some(answer) => value_to_proto(&answer),
                None => proto::KpiValue {
                    kpi_scope: Some(ks.clone()),
                    undefined_reason: Reason::NoData.as_str().to_string(),
                    definition_version: query::definition_version(&ks.kpi),
                    ..Default::default()
                },
            });
        }
        Ok(proto::BatchGetLatestResponse { values })
    }
}
