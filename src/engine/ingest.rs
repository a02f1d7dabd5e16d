//! Ingest: the rows a client pushes, checked against the tenant's data (its channels,
//! giveaways, scopes and custom KPIs) and written in one transaction, or not at all when
//! the call is all-or-nothing and a row was rejected.
//!
//! The API converts each row as far as it can without the tenant's data and hands the
//! batch over in one call; the checks that need storage run here, each at the place the
//! row's rules have always reported it, so a row with several problems names the same
//! first one as before.
use crate::domain::channel::Platform;
use crate::domain::goal::Scope;
use crate::domain::names::{Collection, shorten};
use crate::domain::observation::{self as obs, RowResult};
use crate::domain::tenant::Tenant;
use crate::storage::{StorageError, Store};
use chrono::NaiveDate;
use std::collections::{BTreeSet, HashMap, HashSet};

/// One ingest call: its rows, in the order sent, and whether one rejection stops the write.
#[derive(Debug)]
pub struct Batch<R> {
    /// The rows, each converted as far as the caller could.
    pub rows: Vec<R>,
    /// Write nothing when any row is rejected.
    pub all_or_nothing: bool,
}

/// A row of a channel: the channel as sent and the rest of the row, built once the
/// channel's id and platform are known.
#[derive(Debug)]
pub struct ChannelRow<B> {
    /// The channel's name as sent (`channels/anna-ig` or the bare id).
    pub channel: String,
    /// The row's other fields converted into a builder, or the first that did not convert.
    pub build: RowResult<B>,
}

/// A giveaway entry: the giveaway must be one of the tenant's.
#[derive(Debug)]
pub struct GiveawayRow {
    /// The giveaway id as sent.
    pub giveaway_id: String,
    /// The entry, or the first of its other fields that breaks a rule.
    pub entry: RowResult<obs::GiveawayEntry>,
}

/// A metric point: the scope must exist and the key must not be a custom KPI's id.
#[derive(Debug)]
pub struct MetricRow {
    /// The metric key as sent.
    pub metric_key: String,
    /// The scope, or why it does not parse.
    pub scope: RowResult<Scope>,
    /// The point, or the first of its value and day that breaks a rule.
    pub point: RowResult<obs::MetricPoint>,
}

/// A rejected row: its index in the call and the first rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The row's index in the call.
    pub index: usize,
    /// The field, relative to the row.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// What an ingest call did.
#[derive(Debug)]
pub struct Outcome {
    /// Rows accepted (written only when `written`).
    pub accepted: usize,
    /// Rows rejected, in the order sent.
    pub rejected: Vec<Rejection>,
    /// Whether the accepted rows were written.
    pub written: bool,
}

/// What a DeleteOrders call did.
#[derive(Debug, Default)]
pub struct OrdersDeleted {
    /// Ids of the orders removed, sorted.
    pub order_ids: Vec<String>,
    /// Ids that were well formed but named no stored order, once each in the order sent.
    pub not_stored: Vec<String>,
    /// The days of the removed orders, whose KPIs change.
    pub days: BTreeSet<NaiveDate>,
    /// Ids rejected, in the order sent.
    pub rejected: Vec<Rejection>,
}

/// Splits rows into accepted values and rejections.
fn partition<R, T>(
    rows: Vec<R>,
    mut check: impl FnMut(R) -> RowResult<T>,
) -> (Vec<T>, Vec<Rejection>) {
    let mut accepted = Vec::with_capacity(rows.len());
    let mut rejected = Vec::new();
    for (index, row) in rows.into_iter().enumerate() {
        match check(row) {
            Ok(value) => accepted.push(value),
            Err((field, reason)) => rejected.push(Rejection {
                index,
                field,
                reason,
            }),
        }
    }
    (accepted, rejected)
}

/// Whether the accepted rows are written: some are, and all-or-nothing saw no rejection.
fn writes<T>(accepted: &[T], rejected: &[Rejection], all_or_nothing: bool) -> bool {
    !accepted.is_empty() && (!all_or_nothing || rejected.is_empty())
}

fn outcome<T>(tenant: &Tenant, accepted: &[T], rejected: Vec<Rejection>, written: bool) -> Outcome {
    tracing::debug!(tenant = %tenant.id, accepted = accepted.len(), rejected = rejected.len(), written, "ingest");
    Outcome {
        accepted: accepted.len(),
        rejected,
        written,
    }
}

/// The platforms of the channels the rows name, by channel id; names that do not parse
/// are left for the row's own check to report.
async fn platforms_of<B>(
    store: &Store,
    tenant: &Tenant,
    rows: &[ChannelRow<B>],
) -> Result<HashMap<String, Platform>, StorageError> {
    let ids: HashSet<String> = rows
        .iter()
        .filter_map(|r| {
            Collection::Channels
                .parse(&r.channel)
                .ok()
                .map(str::to_string)
        })
        .collect();
    store.channel_platforms(&tenant.id, &ids).await
}

/// The rows of channels checked: the channel first, then the row's own fields and rules.
async fn on_channels<T, B>(
    store: &Store,
    tenant: &Tenant,
    rows: Vec<ChannelRow<B>>,
) -> Result<(Vec<T>, Vec<Rejection>), StorageError>
where
    B: FnOnce(String, Platform) -> RowResult<T>,
{
    let platforms = platforms_of(store, tenant, &rows).await?;
    Ok(partition(rows, |row| {
        let id = Collection::Channels
            .parse(&row.channel)
            .map_err(|e| ("channel".to_string(), e))?;
        let platform = *platforms.get(id).ok_or_else(|| {
            (
                "channel".to_string(),
                format!("{} does not exist", row.channel),
            )
        })?;
        (row.build?)(id.to_string(), platform)
    }))
}

/// IngestChannelStats: channel day statistics.
pub async fn channel_stats<B>(
    store: &Store,
    tenant: &Tenant,
    batch: Batch<ChannelRow<B>>,
) -> Result<Outcome, StorageError>
where
    B: FnOnce(String, Platform) -> RowResult<obs::ChannelDayStats>,
{
    let (accepted, rejected) = on_channels(store, tenant, batch.rows).await?;
    let written = writes(&accepted, &rejected, batch.all_or_nothing);
    if written {
        store.upsert_channel_stats(&tenant.id, &accepted).await?;
    }
    Ok(outcome(tenant, &accepted, rejected, written))
}

/// IngestAudienceMembers: members of a channel's audience.
pub async fn audience_members<B>(
    store: &Store,
    tenant: &Tenant,
    batch: Batch<ChannelRow<B>>,
) -> Result<Outcome, StorageError>
where
    B: FnOnce(String, Platform) -> RowResult<obs::AudienceMember>,
{
    let (accepted, rejected) = on_channels(store, tenant, batch.rows).await?;
    let written = writes(&accepted, &rejected, batch.all_or_nothing);
    if written {
        store.upsert_audience_members(&tenant.id, &accepted).await?;
    }
    Ok(outcome(tenant, &accepted, rejected, written))
}

/// IngestInteractions: interactions with a channel's content.
pub async fn interactions<B>(
    store: &Store,
    tenant: &Tenant,
    batch: Batch<ChannelRow<B>>,
) -> Result<Outcome, StorageError>
where
    B: FnOnce(String, Platform) -> RowResult<obs::Interaction>,
{
    let (accepted, rejected) = on_channels(store, tenant, batch.rows).await?;
    let written = writes(&accepted, &rejected, batch.all_or_nothing);
    if written {
        store.upsert_interactions(&tenant.id, &accepted).await?;
    }
    Ok(outcome(tenant, &accepted, rejected, written))
}

/// IngestWebTraffic: web traffic rows, which name nothing of the tenant's.
pub async fn web_traffic(
    store: &Store,
    tenant: &Tenant,
    batch: Batch<RowResult<obs::WebTraffic>>,
) -> Result<Outcome, StorageError> {
    let (accepted, rejected) = partition(batch.rows, |row| row);
    let written = writes(&accepted, &rejected, batch.all_or_nothing);
    if written {
        store.upsert_web_traffic(&tenant.id, &accepted).await?;
    }
    Ok(outcome(tenant, &accepted, rejected, written))
}

/// IngestOrders: shop orders, which name nothing of the tenant's.
pub async fn orders(
    store: &Store,
    tenant: &Tenant,
    batch: Batch<RowResult<obs::Order>>,
) -> Result<Outcome, StorageError> {
    let (accepted, rejected) = partition(batch.rows, |row| row);
    let written = writes(&accepted, &rejected, batch.all_or_nothing);
    if written {
        store.upsert_orders(&tenant.id, &accepted).await?;
    }
    Ok(outcome(tenant, &accepted, rejected, written))
}

/// DeleteOrders: the orders of the well-formed ids removed, unless the call is
/// all-or-nothing and some id was rejected.
pub async fn delete_orders(
    store: &Store,
    tenant: &Tenant,
    batch: Batch<RowResult<String>>,
) -> Result<OrdersDeleted, StorageError> {
    let (ids, rejected) = partition(batch.rows, |id| id);
    let written = writes(&ids, &rejected, batch.all_or_nothing);
    let mut done = OrdersDeleted {
        rejected,
        ..OrdersDeleted::default()
    };
    if written {
        let deleted = store.delete_orders(&tenant.id, &ids).await?;
        let removed: HashSet<&str> = deleted.order_ids.iter().map(String::as_str).collect();
        let mut seen = HashSet::new();
        done.not_stored = ids
            .iter()
            .filter(|id| !removed.contains(id.as_str()) && seen.insert(id.as_str()))
            .cloned()
            .collect();
        done.order_ids = deleted.order_ids;
        done.days = deleted.days;
    }
    tracing::debug!(tenant = %tenant.id, deleted = done.order_ids.len(), rejected = done.rejected.len(), written, "delete orders");
    Ok(done)
}

/// IngestGiveawayEntries: entries of the tenant's giveaways.
pub async fn giveaway_entries(
    store: &Store,
    tenant: &Tenant,
    batch: Batch<GiveawayRow>,
) -> Result<Outcome, StorageError> {
    // Only well-formed ids are looked up: PostgreSQL refuses some text (NUL) outright.
    let ids: HashSet<String> = batch
        .rows
        .iter()
        .filter(|r| obs::GiveawayEntry::check_id(&r.giveaway_id).is_ok())
        .map(|r| r.giveaway_id.clone())
        .collect();
    let known = store.giveaway_ids(&tenant.id, &ids).await?;
    let (accepted, rejected) = partition(batch.rows, |row| {
        obs::GiveawayEntry::check_id(&row.giveaway_id)?;
        if !known.contains(&row.giveaway_id) {
            return Err((
                "giveaway_id".into(),
                format!("giveaway `{}` does not exist", shorten(&row.giveaway_id)),
            ));
        }
        row.entry
    });
    let written = writes(&accepted, &rejected, batch.all_or_nothing);
    if written {
        store.upsert_giveaway_entries(&tenant.id, &accepted).await?;
    }
    Ok(outcome(tenant, &accepted, rejected, written))
}

/// IngestMetricPoints: points of the tenant's pushed metrics.
pub async fn metric_points(
    store: &Store,
    tenant: &Tenant,
    batch: Batch<MetricRow>,
) -> Result<Outcome, StorageError> {
    let mut known: HashMap<&Scope, bool> = HashMap::new();
    for row in &batch.rows {
        if let Ok(scope) = &row.scope
            && !known.contains_key(scope)
        {
            known.insert(scope, store.scope_exists(&tenant.id, scope).await?);
        }
    }
    // A metric key and a custom KPI id name the same snapshots (KPIS.md: a pushed
    // metric key must differ from every custom KPI id of the tenant).
    let customs: HashSet<String> = if batch.rows.is_empty() {
        HashSet::new()
    } else {
        store
            .custom_kpis(&tenant.id)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect()
    };
    let (accepted, rejected) = partition(batch.rows.iter().collect(), |row| {
        obs::MetricPoint::check_key(&row.metric_key)?;
        if customs.contains(&row.metric_key) {
            return Err((
                "metric_key".into(),
                format!(
                    "`{}` is a custom KPI of this tenant; push the metric under another key",
                    row.metric_key
                ),
            ));
        }
        let scope = row.scope.clone()?;
        if known.get(&scope) != Some(&true) {
            return Err(("scope".into(), format!("{scope} does not exist")));
        }
        row.point.clone()
    });
    let written = writes(&accepted, &rejected, batch.all_or_nothing);
    if written {
        store.upsert_metric_points(&tenant.id, &accepted).await?;
    }
    Ok(outcome(tenant, &accepted, rejected, written))
}
