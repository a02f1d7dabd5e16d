//! Snapshot queries (QuerySnapshots, BatchGetLatest, WatchSnapshots): checks a requested
//! key against the catalogue and the tenant's names and resources, answers from stored
//! snapshots (days, whole weeks and months), composes from stored days what their roll-up
//! class allows, computes live the rest, and says whether each value is final.
use super::Engine;
use super::feed::DayWritten;
use super::recompute::COHORT_KPIS;
use super::rollup::Rollups;
use crate::domain::catalogue::{self, SegmentUse};
use crate::domain::formula::Formula;
use crate::domain::goal::Scope;
use crate::domain::tenant::{Tenant, TenantSettings};
use crate::domain::{DomainError, Violation};
use crate::kpi::period::{Granularity, Period};
use crate::kpi::value::Reason;
use crate::kpi::{Computed, KpiKey};
use crate::storage::period_snapshots::Stored;
use crate::storage::snapshots::Snapshot;
use crate::storage::{StorageError, Store};
use chrono::NaiveDate;
use std::collections::{HashMap, HashSet};

/// Why a query was refused or failed.
#[derive(Debug)]
pub enum QueryError {
    /// The request names something the tenant does not have or a KPI cannot take; fields
    /// are those of [`KeyRequest`] (`kpi`, `scope`, `segment`).
    Invalid(DomainError),
    /// Reading failed.
    Storage(StorageError),
}

impl From<StorageError> for QueryError {
    fn from(e: StorageError) -> Self {
        QueryError::Storage(e)
    }
}

fn invalid(field: &str, description: impl Into<String>) -> QueryError {
    QueryError::Invalid(DomainError::Invalid(vec![Violation::new(
        field,
        description,
    )]))
}

/// A KPI key as a request names it, its scope and segment well formed but not yet
/// checked against the tenant.
#[derive(Clone, Debug)]
pub struct KeyRequest {
    /// KPI id, custom KPI id or pushed metric key.
    pub kpi: String,
    /// Scope.
    pub scope: Scope,
    /// Segment id.
    pub segment: Option<String>,
}

/// One answered value: what was computed, by which run, and whether it can still change.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The value and its key and period.
    pub computed: Computed,
    /// The run that stored it; empty for a value computed live.
    pub run_id: String,
    /// The KPI definition version it was computed with.
    pub definition_version: i32,
    /// Whether it can no longer change.
    pub is_final: bool,
    /// Whether its period is partial: a week or month clipped by the requested range, or
    /// reaching past the newest computed day (KPIS.md: days, periods).
    pub partial: bool,
}

/// The definition version of a KPI now: a built-in's, or 1.
pub fn definition_version(kpi: &str) -> i32 {
    catalogue::find(kpi).map(|d| d.version as i32).unwrap_or(1)
}

/// Whether a value for `period` can no longer change as of the newest computed day;
/// `cohort` when its KPI is a cohort KPI or a custom KPI that uses one.
fn is_final(
    computed: &Computed,
    newest: Option<NaiveDate>,
    settings: &TenantSettings,
    cohort: bool,
) -> bool {
    if computed.value == Err(Reason::OutsideCampaign) {
        return true;
    }
    let Some(newest) = newest else { return false };
    let lag = (newest - computed.period.last).num_days();
    lag >= settings.trailing_days as i64 && (!cohort || lag > settings.returning_window_days as i64)
}

/// The values of a written day that `wanted` keeps, as answers, for watchers.
pub fn day_answers<'a>(
    day: &'a DayWritten,
    wanted: impl Fn(&KpiKey) -> bool + 'a,
    settings: &'a TenantSettings,
) -> impl Iterator<Item = Answer> + 'a {
    let newest = Some(day.day);
    day.values(wanted).map(move |c| {
        let cohort = day.cohort_kpis.contains(&c.key.kpi);
        Answer {
            is_final: is_final(&c, newest, settings, cohort),
            partial: c.period.is_partial(Granularity::Day, newest),
            definition_version: definition_version(&c.key.kpi),
            run_id: day.run_id.clone(),
            computed: c,
        }
    })
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

/// The queries of one call on one tenant: remembers what it has looked up of the tenant's
/// names, so that a batch of KPIs on a few scopes reads each scope, the custom KPIs and
/// each metric key once.
pub struct Query<'a> {
    store: &'a Store,
    tenant: &'a Tenant,
    /// Scopes found to exist.
    scopes: HashSet<Scope>,
    /// The ids of the tenant's custom KPIs and the formulas that parse, once loaded.
    customs: Option<(HashSet<String>, HashMap<String, Formula>)>,
    /// Pushed metric keys looked up, and whether they have points.
    metrics: HashMap<String, bool>,
    /// The newest computed day, once read.
    newest: Option<Option<NaiveDate>>,
}

impl<'a> Query<'a> {
    /// Queries of `tenant`, nothing looked up yet.
    pub fn new(store: &'a Store, tenant: &'a Tenant) -> Query<'a> {
        Query {
            store,
            tenant,
            scopes: HashSet::new(),
            customs: None,
            metrics: HashMap::new(),
            newest: None,
        }
    }

    async fn customs(
        &mut self,
    ) -> Result<&(HashSet<String>, HashMap<String, Formula>), StorageError> {
        if self.customs.is_none() {
            let stored = self.store.custom_kpis(&self.tenant.id).await?;
            let ids = stored.iter().map(|c| c.id.clone()).collect();
            self.customs = Some((ids, crate::kpi::custom::formulas(&stored)));
        }
        Ok(self.customs.as_ref().expect("loaded above"))
    }

    async fn metric_exists(&mut self, key: &str) -> Result<bool, StorageError> {
        if let Some(known) = self.metrics.get(key) {
            return Ok(*known);
        }
        let exists = self.store.metric_key_exists(&self.tenant.id, key).await?;
        self.metrics.insert(key.to_string(), exists);
        Ok(exists)
    }

    async fn newest(&mut self) -> Result<Option<NaiveDate>, StorageError> {
        if self.newest.is_none() {
            self.newest = Some(self.store.newest_computed_day(&self.tenant.id).await?);
        }
        Ok(self.newest.flatten())
    }

    /// Whether values of `kpi` stay open for the returning-buyer window: a cohort KPI, or
    /// a custom KPI that uses one (KPIS.md: recomputation).
    async fn is_cohort(&mut self, kpi: &str) -> Result<bool, StorageError> {
        if catalogue::find(kpi).is_some() {
            return Ok(COHORT_KPIS.contains(&kpi));
        }
        let (_, formulas) = self.customs().await?;
        Ok(formulas
            .get(kpi)
            .is_some_and(|f| crate::kpi::custom::uses_any(f, &COHORT_KPIS, formulas, 0)))
    }

    /// The violation of an id that names nothing of the tenant, with the ids it may mean.
    async fn unknown_kpi(&mut self, name: &str) -> Result<QueryError, StorageError> {
        let metrics = self.store.metric_key_set(&self.tenant.id).await?;
        let (customs, _) = self.customs().await?;
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
        Ok(invalid(
            "kpi",
            format!(
                "`{}` is not a KPI id, a custom KPI or a pushed metric key with data{hint} (see ListKpiDefinitions)",
                crate::domain::names::shorten(name)
            ),
        ))
    }

    /// Checks a requested key against the catalogue and the tenant's names and resources.
    pub async fn key(&mut self, request: KeyRequest) -> Result<KpiKey, QueryError> {
        let KeyRequest {
            kpi,
            scope,
            segment,
        } = request;
        match catalogue::find(&kpi) {
            Some(def) => {
                if !def.applies_to(scope.kind()) {
                    return Err(invalid(
                        "scope",
                        format!(
                            "KPI `{}` is not measured at {} scope",
                            def.id,
                            scope.kind().as_str()
                        ),
                    ));
                }
                match (def.segment, &segment) {
                    (SegmentUse::Required, None) => {
                        return Err(invalid("segment", format!("is required for `{}`", def.id)));
                    }
                    (SegmentUse::None, Some(_)) => {
                        return Err(invalid("segment", format!("`{}` takes no segment", def.id)));
                    }
                    _ => {}
                }
            }
            None => {
                let (ids, formulas) = self.customs().await?;
                if ids.contains(&kpi) {
                    // KPIS.md (scopes): a custom KPI applies where all its inputs do.
                    if let Some(input) = formulas.get(&kpi).and_then(|f| {
                        crate::kpi::custom::input_not_applying(f, scope.kind(), formulas, 0)
                    }) {
                        return Err(invalid(
                            "scope",
                            format!(
                                "custom KPI `{}` is not measured at {} scope: its input `{}` is not",
                                kpi,
                                scope.kind().as_str(),
                                crate::domain::names::shorten(&input)
                            ),
                        ));
                    }
                } else {
                    // A pushed metric key is one with points: there is no other declaration
                    // of it (as for goals and formulas), and anything else is a mistake that
                    // would otherwise read as `no_data` for ever.
                    let pushed = crate::domain::observation::check_metric_key(&kpi).is_ok()
                        && self.metric_exists(&kpi).await?;
                    if !pushed {
                        return Err(self.unknown_kpi(&kpi).await?);
                    }
                    if segment.is_some() {
                        return Err(invalid("segment", "pushed metrics take no segment"));
                    }
                }
            }
        }
        if !self.scopes.contains(&scope) {
            if !self.store.scope_exists(&self.tenant.id, &scope).await? {
                return Err(invalid("scope", format!("{scope} does not exist")));
            }
            self.scopes.insert(scope.clone());
        }
        if let Some(id) = &segment {
            match self.store.get_segment(&self.tenant.id, id).await {
                Ok(_) => {}
                Err(StorageError::NotFound(_)) => {
                    return Err(invalid("segment", format!("segments/{id} does not exist")));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Ok(KpiKey {
            kpi,
            scope,
            segment,
        })
    }

    /// The values of a checked key over each period of `period` split by `granularity`:
    /// by day the stored snapshots; a whole week or month its stored value; a clipped week
    /// or month and a RANGE composed from stored days where the KPI's roll-up class allows
    /// (see [`Rollups`]); live values for the rest.
    pub async fn snapshots(
        &mut self,
        key: &KpiKey,
        period: Period,
        granularity: Granularity,
    ) -> Result<Vec<Answer>, StorageError> {
        if granularity != Granularity::Day {
            return self.rolled_up(key, period, granularity).await;
        }
        let cohort = self.is_cohort(&key.kpi).await?;
        let newest = self.newest().await?;
        let (store, tenant) = (self.store, self.tenant);
        // By day, as the periods of a DAY split: walked in step with them, no map needed.
        let stored = store.snapshots(&tenant.id, key, &period).await?;
        let mut stored = stored.into_iter().peekable();
        let mut engine: Option<Engine<'_>> = None;
        let mut answers = Vec::new();
        for p in period.split(granularity) {
            while stored
                .next_if(|s| s.computed.period.first < p.first)
                .is_some()
            {}
            if let Some(snapshot) = stored.next_if(|s| s.computed.period.first == p.first) {
                answers.push(Answer {
                    is_final: is_final(&snapshot.computed, newest, &tenant.settings, cohort),
                    partial: p.is_partial(granularity, newest),
                    computed: snapshot.computed,
                    run_id: snapshot.run_id,
                    definition_version: snapshot.definition_version,
                });
                continue;
            }
            if engine.is_none() {
                engine = Some(Engine::new(store, &tenant.id).await?);
            }
            let Some(engine) = engine.as_mut() else {
                continue;
            };
            for c in engine.compute(std::slice::from_ref(key), p).await? {
                answers.push(Answer {
                    is_final: is_final(&c, newest, &tenant.settings, cohort),
                    partial: p.is_partial(granularity, newest),
                    definition_version: definition_version(&c.key.kpi),
                    run_id: String::new(),
                    computed: c,
                });
            }
        }
        Ok(answers)
    }

    /// [`Query::snapshots`] by WEEK, MONTH or RANGE. A stored week or month keeps its run
    /// id; a composed or live value has none.
    async fn rolled_up(
        &mut self,
        key: &KpiKey,
        period: Period,
        granularity: Granularity,
    ) -> Result<Vec<Answer>, StorageError> {
        let cohort = self.is_cohort(&key.kpi).await?;
        let newest = self.newest().await?;
        self.customs().await?;
        let (store, tenant) = (self.store, self.tenant);
        let formulas = &self.customs.as_ref().expect("loaded above").1;
        let periods = period.split(granularity);
        let mut stored: HashMap<NaiveDate, Snapshot> = HashMap::new();
        if let Some(kind) = Stored::of(granularity) {
            let whole: Vec<NaiveDate> = periods
                .iter()
                .filter(|p| kind.is_whole(p))
                .map(|p| p.first)
                .collect();
            stored = store
                .period_snapshots(&tenant.id, key, kind, &whole)
                .await?
                .into_iter()
                .map(|s| (s.computed.period.first, s))
                .collect();
        }
        let mut rollups = Rollups::new(store, &tenant.id);
        let mut engine: Option<Engine<'_>> = None;
        let mut answers = Vec::with_capacity(periods.len());
        for p in periods {
            if let Some(snapshot) = stored.remove(&p.first)
                && snapshot.computed.period == p
            {
                answers.push(Answer {
                    is_final: is_final(&snapshot.computed, newest, &tenant.settings, cohort),
                    partial: p.is_partial(granularity, newest),
                    computed: snapshot.computed,
                    run_id: snapshot.run_id,
                    definition_version: snapshot.definition_version,
                });
                continue;
            }
            let computed = match rollups.compose(key, p, formulas).await? {
                Some(parts) => Computed::new(key, p, parts),
                None => {
                    if engine.is_none() {
                        engine = Some(Engine::new(store, &tenant.id).await?);
                    }
                    let Some(engine) = engine.as_mut() else {
                        continue;
                    };
                    let mut parts = engine.compute_parts(std::slice::from_ref(key), p).await?;
                    let Some(parts) = parts.pop() else { continue };
                    Computed::new(key, p, parts)
                }
            };
            answers.push(Answer {
                is_final: is_final(&computed, newest, &tenant.settings, cohort),
                partial: p.is_partial(granularity, newest),
                definition_version: definition_version(&computed.key.kpi),
                run_id: String::new(),
                computed,
            });
        }
        Ok(answers)
    }

    /// The newest stored value of a checked key, if any.
    pub async fn latest(&mut self, key: &KpiKey) -> Result<Option<Answer>, StorageError> {
        let newest = self.newest().await?;
        let cohort = self.is_cohort(&key.kpi).await?;
        let stored = self
            .store
            .latest_snapshot(&self.tenant.id, key, newest)
            .await?;
        Ok(stored.map(|s| Answer {
            is_final: is_final(&s.computed, newest, &self.tenant.settings, cohort),
            partial: s.computed.period.is_partial(Granularity::Day, newest),
            computed: s.computed,
            run_id: s.run_id,
            definition_version: s.definition_version,
        }))
    }
}
