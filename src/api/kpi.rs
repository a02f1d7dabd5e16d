//! KpiService: the built-in catalogue.
use super::Api;
use super::convert::Pager;
use super::error::{ApiError, Problems};
use crate::domain::goal::Scope;
use crate::domain::names::Collection;
use crate::domain::tenant::Tenant;
use crate::engine::Engine;
use crate::kpi::catalogue::{self, KpiDefinition, Objective, RollUp, ScopeKind, SegmentUse, Tier};
use crate::kpi::formula::Formula;
use crate::kpi::period::{Granularity, Period};
use crate::kpi::value::{Reason, positive_zero};
use crate::kpi::{Computed, KpiKey};
use crate::proto;
use crate::proto::kpi_service_server::KpiService;
use chrono::NaiveDate;
use std::collections::{HashMap, HashSet};
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

/// What one call has looked up of the tenant's names, so that a batch of KPIs on a few
/// scopes reads each scope, the custom KPIs and each metric key once.
#[derive(Default)]
struct Names {
    /// Scopes found to exist.
    scopes: HashSet<Scope>,
    /// The ids of the tenant's custom KPIs and the formulas that parse, once loaded.
    customs: Option<(HashSet<String>, HashMap<String, Formula>)>,
    /// Pushed metric keys looked up, and whether they have points.
    metrics: HashMap<String, bool>,
}

impl Names {
    async fn customs(
        &mut self,
        api: &Api,
        tenant: &str,
    ) -> Result<&(HashSet<String>, HashMap<String, Formula>), ApiError> {
        if self.customs.is_none() {
            let stored = api.store.custom_kpis(tenant).await?;
            let ids = stored.iter().map(|c| c.id.clone()).collect();
            self.customs = Some((ids, crate::kpi::custom::formulas(&stored)));
        }
        Ok(self.customs.as_ref().expect("loaded above"))
    }

    async fn metric_exists(
        &mut self,
        api: &Api,
        tenant: &str,
        key: &str,
    ) -> Result<bool, ApiError> {
        if let Some(known) = self.metrics.get(key) {
            return Ok(*known);
        }
        let exists = api.store.metric_key_exists(tenant, key).await?;
        self.metrics.insert(key.to_string(), exists);
        Ok(exists)
    }

    /// Whether values of `kpi` stay open for the returning-buyer window: a cohort KPI, or
    /// a custom KPI that uses one (KPIS.md: recomputation).
    async fn is_cohort(&mut self, api: &Api, tenant: &str, kpi: &str) -> Result<bool, ApiError> {
        if catalogue::find(kpi).is_some() {
            return Ok(crate::engine::COHORT_KPIS.contains(&kpi));
        }
        let (_, formulas) = self.customs(api, tenant).await?;
        Ok(formulas.get(kpi).is_some_and(|f| {
            crate::kpi::custom::uses_any(f, &crate::engine::COHORT_KPIS, formulas, 0)
        }))
    }
}

/// Up to three of `known` closest to `name` by edit distance, closest first: what a
/// mistyped id probably meant.
fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    // Ids are at most 128 characters; a longer name is no typo of one, and the distance
    // costs the product of the lengths.
    if name.len() > 128 {
        return Vec::new();
    }
    let name = name.to_lowercase();
    let within = (name.chars().count() / 3).max(2);
    let mut near: Vec<(usize, &str)> = known
        .into_iter()
        .map(|id| (strsim::levenshtein(&name, id), id))
        .filter(|(d, _)| *d <= within)
        .collect();
    near.sort();
    near.dedup();
    near.into_iter().take(3).map(|(_, id)| id).collect()
}

/// The violation of an id that names nothing of the tenant, with the ids it may mean.
async fn unknown_kpi(
    api: &Api,
    tenant: &str,
    name: &str,
    field: &str,
    names: &mut Names,
) -> Result<ApiError, ApiError> {
    let metrics = api.store.metric_key_set(tenant).await?;
    let (customs, _) = names.customs(api, tenant).await?;
    let known = catalogue::catalogue()
        .iter()
        .map(|d| d.id)
        .chain(customs.iter().map(String::as_str))
        .chain(metrics.iter().map(String::as_str));
    let near = closest(name, known);
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!(
            "; did you mean {}?",
            near.iter()
                .map(|id| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Ok(ApiError::invalid(
        field,
        format!(
            "`{}` is not a KPI id, a custom KPI or a pushed metric key with data{hint} (see ListKpiDefinitions)",
            crate::domain::names::shorten(name)
        ),
    ))
}

/// Checks a KPI/scope/segment triple of a call against the catalogue and the tenant's
/// names and resources; `known` holds what the call has looked up so far.
async fn kpi_key_in(
    api: &Api,
    tenant: &str,
    value: Option<&proto::KpiScope>,
    field: &str,
    known: &mut Names,
) -> Result<KpiKey, ApiError> {
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
    match catalogue::find(&ks.kpi) {
        Some(def) => {
            if !def.applies_to(scope.kind()) {
                return Err(ApiError::invalid(
                    format!("{field}.scope"),
                    format!(
                        "KPI `{}` is not measured at {} scope",
                        def.id,
                        scope.kind().as_str()
                    ),
                ));
            }
            match (def.segment, &segment) {
                (SegmentUse::Required, None) => {
                    return Err(ApiError::invalid(
                        format!("{field}.segment"),
                        format!("is required for `{}`", def.id),
                    ));
                }
                (SegmentUse::None, Some(_)) => {
                    return Err(ApiError::invalid(
                        format!("{field}.segment"),
                        format!("`{}` takes no segment", def.id),
                    ));
                }
                _ => {}
            }
        }
        None => {
            let (ids, formulas) = known.customs(api, tenant).await?;
            if ids.contains(&ks.kpi) {
                // KPIS.md (scopes): a custom KPI applies where all its inputs do.
                if let Some(input) = formulas.get(&ks.kpi).and_then(|f| {
                    crate::kpi::custom::input_not_applying(f, scope.kind(), formulas, 0)
                }) {
                    return Err(ApiError::invalid(
                        format!("{field}.scope"),
                        format!(
                            "custom KPI `{}` is not measured at {} scope: its input `{}` is not",
                            ks.kpi,
                            scope.kind().as_str(),
                            crate::domain::names::shorten(&input)
                        ),
                    ));
                }
            } else {
                // A pushed metric key is one with points: there is no other declaration
                // of it (as for goals and formulas), and anything else is a mistake that
                // would otherwise read as `no_data` for ever.
                let pushed = crate::domain::observation::check_metric_key(&ks.kpi).is_ok()
                    && known.metric_exists(api, tenant, &ks.kpi).await?;
                if !pushed {
                    return Err(
                        unknown_kpi(api, tenant, &ks.kpi, &format!("{field}.kpi"), known).await?,
                    );
                }
                if segment.is_some() {
                    return Err(ApiError::invalid(
                        format!("{field}.segment"),
                        "pushed metrics take no segment",
                    ));
                }
            }
        }
    }
    if !known.scopes.contains(&scope) {
        if !api.store.scope_exists(tenant, &scope).await? {
            return Err(ApiError::invalid(
                format!("{field}.scope"),
                format!("{scope} does not exist"),
            ));
        }
        known.scopes.insert(scope.clone());
    }
    if let Some(id) = &segment {
        match api.store.get_segment(tenant, id).await {
            Ok(_) => {}
            Err(crate::storage::StorageError::NotFound(_)) => {
                return Err(ApiError::invalid(
                    format!("{field}.segment"),
                    format!("segments/{id} does not exist"),
                ));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(KpiKey {
        kpi: ks.kpi.clone(),
        scope,
        segment,
    })
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

/// Whether a value for `period` can no longer change as of the newest computed day;
/// `cohort` when its KPI is a cohort KPI or a custom KPI that uses one.
fn is_final(
    computed: &Computed,
    newest: Option<NaiveDate>,
    settings: &crate::domain::tenant::TenantSettings,
    cohort: bool,
) -> bool {
    if computed.value == Err(Reason::OutsideCampaign) {
        return true;
    }
    let Some(newest) = newest else { return false };
    let lag = (newest - computed.period.last).num_days();
    lag >= settings.trailing_days as i64 && (!cohort || lag > settings.returning_window_days as i64)
}

fn value_to_proto(
    computed: &Computed,
    run_id: &str,
    version: i32,
    is_final: bool,
) -> proto::KpiValue {
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
        definition_version: version,
        run_id: run_id.to_string(),
        r#final: is_final,
    }
}

fn version_of(kpi: &str) -> i32 {
    catalogue::find(kpi).map(|d| d.version as i32).unwrap_or(1)
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

impl Api {
    /// Validates a custom KPI's fields and formula against the tenant's other definitions.
    async fn check_custom(
        &self,
        tenant: &str,
        id: &str,
        spec: &crate::kpi::custom::CustomKpi,
    ) -> Result<(), ApiError> {
        let mut v = crate::domain::Violations::default();
        v.check(
            "kpi_definition.display_name",
            crate::domain::check_text(&spec.display_name, 200),
        );
        v.check(
            "kpi_definition.unit",
            crate::domain::check_text(&spec.unit, 32),
        );
        if spec.description.chars().count() > 2000 {
            v.add(
                "kpi_definition.description",
                "is longer than 2000 characters",
            );
        } else if spec
            .description
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            // Lines and tabs are text; other control characters (NUL above all, which
            // PostgreSQL cannot store) are not.
            v.add(
                "kpi_definition.description",
                "must not contain control characters other than line breaks and tabs",
            );
        }
        let customs: HashMap<String, crate::kpi::formula::Formula> = self
            .store
            .custom_kpis(tenant)
            .await?
            .into_iter()
            .filter(|c| c.id != id)
            .filter_map(|c| {
                crate::kpi::formula::parse(&c.spec.formula)
                    .ok()
                    .map(|f| (c.id, f))
            })
            .collect();
        let metrics = self.store.metric_key_set(tenant).await?;
        if let Err(e) = crate::kpi::custom::validate_formula(id, &spec.formula, &customs, &metrics)
        {
            v.add("kpi_definition.formula", e.to_string());
        }
        v.finish().map_err(|e| ApiError::from_domain(e, ""))
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
        let mut known = Names::default();
        for (i, ks) in req.kpi_scopes.iter().enumerate() {
            let field = format!("kpi_scopes[{i}]");
            wanted.insert(kpi_key_in(self, &tenant.id, Some(ks), &field, &mut known).await?);
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
                let newest = Some(day.day);
                let values: Vec<Result<proto::KpiValue, Status>> = day
                    .values(|key| wanted.is_empty() || wanted.contains(key))
                    .map(|c| {
                        let cohort = day.cohort_kpis.contains(&c.key.kpi);
                        Ok(value_to_proto(&c, &day.run_id, version_of(&c.key.kpi), is_final(&c, newest, &settings, cohort)))
                    })
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
        let customs = self
            .store
            .custom_kpis(&tenant.id)
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
        let custom = self
            .store
            .custom_kpis(&tenant.id)
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .find(|c| c.id == id)
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
        let summary = crate::engine::recompute(&self.store, &self.feed, &tenant.id, period)
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
        let dir = self
            .store
            .directory(&tenant.id)
            .await
            .map_err(ApiError::from)?;
        let exists = match &scope {
            Scope::Tenant => true,
            Scope::Influencer(id) => dir.influencers.contains(id),
            Scope::Campaign(id) => dir.campaigns.contains_key(id),
            Scope::Channel(id) => dir.channels.contains_key(id),
        };
        if !exists {
            return Err(ApiError::NotFound(scope.to_string()).into());
        }
        // KPIs at tenant scope cover the brand's own channels; bought followers matter on
        // every channel, so here the tenant means all of them (as the proto says).
        let channels: Vec<String> = match &scope {
            Scope::Tenant => dir.channels.keys().cloned().collect(),
            other => dir.scope_channels(other),
        };
        let threshold = self.jobs.settings().fake_follower_threshold;
        let series = self
            .store
            .follower_series(&tenant.id, &channels, &period)
            .await
            .map_err(ApiError::from)?;
        let mut flags: Vec<(NaiveDate, String, proto::FollowerFlag)> = Vec::new();
        for (channel, days) in &series {
            for flag in crate::kpi::anomaly::flags(days, &period, threshold) {
                flags.push((
                    flag.day,
                    channel.clone(),
                    proto::FollowerFlag {
                        channel: Collection::Channels.name(channel),
                        day: crate::api::convert::date(flag.day),
                        follower_growth: flag.growth,
                        trailing_median_growth: flag.growth_score.median,
                        growth_score: flag.growth_score.score,
                        engagement_score: flag.engagement_score.map(|e| e.score),
                        reason: flag.reason,
                    },
                ));
            }
        }
        flags.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(Response::new(proto::ListFollowerFlagsResponse {
            flags: flags.into_iter().map(|(_, _, f)| f).collect(),
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
        let req = request.into_inner();
        let mut problems = Problems::default();
        problems.take(
            crate::kpi::custom::check_id(&req.kpi_definition_id)
                .map_err(|e| ApiError::invalid("kpi_definition_id", e)),
        );
        let msg = problems.required(req.kpi_definition, "kpi_definition");
        let spec = crate::kpi::custom::CustomKpi {
            display_name: msg.display_name,
            description: msg.description,
            unit: msg.unit,
            formula: msg.formula,
            version: 1,
        };
        problems.take(
            self.check_custom(&tenant.id, &req.kpi_definition_id, &spec)
                .await,
        );
        problems.finish()?;
        // KPIS.md: a pushed metric key must differ from every custom KPI id; both name
        // the same snapshots.
        if self
            .store
            .metric_key_exists(&tenant.id, &req.kpi_definition_id)
            .await
            .map_err(ApiError::from)?
        {
            return Err(ApiError::invalid(
                "kpi_definition_id",
                format!(
                    "`{}` is a pushed metric key of this tenant; give the custom KPI another id",
                    req.kpi_definition_id
                ),
            )
            .into());
        }
        let stored = self
            .store
            .create_custom_kpi(&tenant.id, &req.kpi_definition_id, &spec)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(custom_to_proto(&stored)))
    }

    async fn update_kpi_definition(
        &self,
        request: Request<proto::UpdateKpiDefinitionRequest>,
    ) -> Result<Response<proto::KpiDefinition>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
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
        let (Some(id), Some(etag), Some(mask)) = (id, etag, mask) else {
            return Err(problems.refuse().into());
        };
        let id = id.to_string();
        if catalogue::find(&id).is_some() {
            return Err(ApiError::FailedPrecondition(format!(
                "kpiDefinitions/{id} is built in and cannot change"
            ))
            .into());
        }
        let current = self
            .store
            .custom_kpis(&tenant.id)
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| ApiError::NotFound(format!("kpiDefinitions/{id}")))?;
        if etag.is_some_and(|r| r != current.revision) {
            return Err(ApiError::from(crate::storage::StorageError::EtagMismatch(
                msg.name.clone(),
            ))
            .into());
        }
        let mut spec = current.spec.clone();
        if mask.has("display_name") {
            spec.display_name = msg.display_name.clone();
        }
        if mask.has("description") {
            spec.description = msg.description.clone();
        }
        if mask.has("unit") {
            spec.unit = msg.unit.clone();
        }
        if mask.has("formula") {
            spec.formula = msg.formula.clone();
        }
        self.check_custom(&tenant.id, &id, &spec).await?;
        let changed = spec.formula != current.spec.formula;
        let stored = self
            .store
            .update_custom_kpi(&tenant.id, &id, current.revision, &spec, changed)
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
        if catalogue::find(id).is_some() {
            return Err(ApiError::FailedPrecondition(format!(
                "kpiDefinitions/{id} is built in and cannot be deleted"
            ))
            .into());
        }
        let etag = crate::api::convert::etag(&req.etag, "etag")?;
        let customs = self
            .store
            .custom_kpis(&tenant.id)
            .await
            .map_err(ApiError::from)?;
        let current = customs
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| ApiError::NotFound(format!("kpiDefinitions/{id}")))?;
        if etag.is_some_and(|r| r != current.revision) {
            return Err(ApiError::from(crate::storage::StorageError::EtagMismatch(
                req.name.clone(),
            ))
            .into());
        }
        let used_by: Vec<String> = customs
            .iter()
            .filter(|c| c.id != id)
            .filter(|c| {
                crate::kpi::formula::parse(&c.spec.formula)
                    .is_ok_and(|f| f.names().iter().any(|(n, _)| n == id))
            })
            .map(|c| c.id.clone())
            .collect();
        self.store
            .delete_custom_kpi(&tenant.id, id, &used_by)
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
        let mut names = Names::default();
        let key = kpi_key_in(
            self,
            &tenant.id,
            req.kpi_scope.as_ref(),
            "kpi_scope",
            &mut names,
        )
        .await?;
        let cohort = names.is_cohort(self, &tenant.id, &key.kpi).await?;
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
        let newest = self
            .store
            .newest_computed_day(&tenant.id)
            .await
            .map_err(ApiError::from)?;
        // By day, as the periods of a DAY split: walked in step with them, no map needed.
        let stored = if granularity == Granularity::Day {
            self.store
                .snapshots(&tenant.id, &key, &period)
                .await
                .map_err(ApiError::from)?
        } else {
            Vec::new()
        };
        let mut stored = stored.iter().peekable();
        let mut engine: Option<Engine<'_>> = None;
        let mut values = Vec::new();
        for p in period.split(granularity) {
            while stored
                .next_if(|s| s.computed.period.first < p.first)
                .is_some()
            {}
            if let Some(snapshot) = stored.next_if(|s| s.computed.period.first == p.first) {
                let f = is_final(&snapshot.computed, newest, &tenant.settings, cohort);
                values.push(value_to_proto(
                    &snapshot.computed,
                    &snapshot.run_id,
                    snapshot.definition_version,
                    f,
                ));
                continue;
            }
            if engine.is_none() {
                engine = Some(
                    Engine::new(&self.store, &tenant.id)
                        .await
                        .map_err(ApiError::from)?,
                );
            }
            let Some(engine) = engine.as_mut() else {
                continue;
            };
            let computed = engine
                .compute(std::slice::from_ref(&key), p)
                .await
                .map_err(ApiError::from)?;
            for c in computed {
                let f = is_final(&c, newest, &tenant.settings, cohort);
                values.push(value_to_proto(&c, "", version_of(&c.key.kpi), f));
            }
        }
        Ok(proto::QuerySnapshotsResponse {
            values,
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
        let newest = self
            .store
            .newest_computed_day(&tenant.id)
            .await
            .map_err(ApiError::from)?;
        let mut values = Vec::with_capacity(req.kpi_scopes.len());
        let mut known = Names::default();
        for (i, ks) in req.kpi_scopes.iter().enumerate() {
            let key = kpi_key_in(
                self,
                &tenant.id,
                Some(ks),
                &format!("kpi_scopes[{i}]"),
                &mut known,
            )
            .await?;
            let cohort = known.is_cohort(self, &tenant.id, &key.kpi).await?;
            match self
                .store
                .latest_snapshot(&tenant.id, &key, newest)
                .await
                .map_err(ApiError::from)?
            {
                Some(s) => {
                    let f = is_final(&s.computed, newest, &tenant.settings, cohort);
                    values.push(value_to_proto(
                        &s.computed,
                        &s.run_id,
                        s.definition_version,
                        f,
                    ));
                }
                None => values.push(proto::KpiValue {
                    kpi_scope: Some(ks.clone()),
                    undefined_reason: Reason::NoData.as_str().to_string(),
                    definition_version: version_of(&ks.kpi),
                    ..Default::default()
                }),
            }
        }
        Ok(proto::BatchGetLatestResponse { values })
    }
}
