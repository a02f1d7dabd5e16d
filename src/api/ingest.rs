//! IngestService: validates every row, reports the rejected ones with index and reason,
//! and writes the accepted rows in one transaction (or none, with `all_or_nothing`).
use super::Api;
use super::convert;
use super::error::ApiError;
use crate::domain::channel::Platform;
use crate::domain::goal::Scope;
use crate::domain::names::Collection;
use crate::domain::observation::{self as obs, RowResult, local_day};
use crate::domain::tenant::Tenant;
use crate::proto;
use crate::proto::ingest_service_server::IngestService;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{HashMap, HashSet};
use tonic::{Request, Response, Status};

/// Most rows one call may carry.
pub const MAX_ROWS: usize = 10_000;
/// Largest request message, in bytes; the client side encodes by the same constant.
pub use crate::proto::MAX_MESSAGE_BYTES;

/// The row index and its error, with the field made absolute (`rows[3].day`).
struct Rejected(proto::RejectedRow);

fn reject(index: usize, (field, reason): (String, String)) -> Rejected {
    Rejected(proto::RejectedRow {
        index: index as i32,
        field: format!("rows[{index}].{field}"),
        reason,
    })
}

/// Splits rows into accepted values and rejections.
fn partition<P, D>(
    rows: &[P],
    mut convert: impl FnMut(&P) -> RowResult<D>,
) -> (Vec<D>, Vec<Rejected>) {
    let mut accepted = Vec::with_capacity(rows.len());
    let mut rejected = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        match convert(row) {
            Ok(value) => accepted.push(value),
            Err(e) => rejected.push(reject(index, e)),
        }
    }
    (accepted, rejected)
}

fn check_batch(len: usize) -> Result<(), ApiError> {
    if len > MAX_ROWS {
        return Err(ApiError::invalid(
            "rows",
            format!("has {len} rows; at most {MAX_ROWS} are allowed per call, split the batch"),
        ));
    }
    Ok(())
}

fn day(value: Option<&proto::google::r#type::Date>, field: &str) -> RowResult<NaiveDate> {
    convert::parse_date(value, field).map_err(|e| match e {
        ApiError::Invalid(mut v) if !v.is_empty() => {
            let v = v.swap_remove(0);
            (v.field, v.description)
        }
        other => (field.to_string(), other.to_string()),
    })
}

fn instant(value: Option<&prost_types::Timestamp>, field: &str) -> RowResult<DateTime<Utc>> {
    let Some(ts) = value else {
        return Err((field.into(), "is required".into()));
    };
    u32::try_from(ts.nanos)
        .ok()
        .and_then(|nanos| DateTime::<Utc>::from_timestamp(ts.seconds, nanos))
        .filter(|t| (1970..=9999).contains(&chrono::Datelike::year(t)))
        .ok_or_else(|| {
            (
                field.into(),
                "is not a valid time between 1970 and 9999".into(),
            )
        })
}

fn channel_id(name: &str, platforms: &HashMap<String, Platform>) -> RowResult<(String, Platform)> {
    let id = Collection::Channels
        .parse(name)
        .map_err(|e| ("channel".to_string(), e))?;
    platforms
        .get(id)
        .map(|p| (id.to_string(), *p))
        .ok_or_else(|| ("channel".into(), format!("{name} does not exist")))
}

/// An empty text on the wire is a value not given.
fn optional_text(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

/// The attributes as sent; their rules are [`obs::MemberAttributes::check`]'s.
fn attributes(value: Option<&proto::MemberAttributes>) -> obs::MemberAttributes {
    let a = value.cloned().unwrap_or_default();
    obs::MemberAttributes {
        bio: optional_text(&a.bio),
        followers: a.followers,
        influence_score: a.influence_score,
        age: a.age,
        country: optional_text(&a.country),
        is_customer: a.is_customer,
    }
}

fn response(accepted: usize, rejected: Vec<Rejected>, written: bool) -> proto::IngestResponse {
    proto::IngestResponse {
        accepted_count: if written { accepted as i32 } else { 0 },
        rejected_count: rejected.len() as i32,
        rejected: rejected.into_iter().map(|r| r.0).collect(),
    }
}

impl Api {
    /// The tenant's time zone; settings were validated when stored.
    fn time_zone(tenant: &Tenant) -> chrono_tz::Tz {
        tenant.settings.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }

    async fn platforms_of<'a>(
        &self,
        tenant: &Tenant,
        names: impl Iterator<Item = &'a String>,
    ) -> Result<HashMap<String, Platform>, ApiError> {
        let ids: HashSet<String> = names
            .filter_map(|n| Collection::Channels.parse(n).ok().map(str::to_string))
            .collect();
        Ok(self.store.channel_platforms(&tenant.id, &ids).await?)
    }
}

/// Writes the accepted rows unless the call is all-or-nothing and something was rejected.
macro_rules! finish {
    ($self:ident, $tenant:ident, $req:ident, $accepted:ident, $rejected:ident, $write:ident) => {{
        let write = !$accepted.is_empty() && !($req.all_or_nothing && !$rejected.is_empty());
        if write {
            $self.store.$write(&$tenant.id, &$accepted).await.map_err(ApiError::from)?;
        }
        tracing::debug!(tenant = %$tenant.id, accepted = $accepted.len(), rejected = $rejected.len(), written = write, "ingest");
        Ok(Response::new(response($accepted.len(), $rejected, write)))
    }};
}

#[tonic::async_trait]
impl IngestService for Api {
    async fn ingest_channel_stats(
        &self,
        request: Request<proto::IngestChannelStatsRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        check_batch(req.rows.len())?;
        let platforms = self
            .platforms_of(&tenant, req.rows.iter().map(|r| &r.channel))
            .await?;
        let (accepted, rejected) = partition(&req.rows, |r| {
            let (channel_id, _) = channel_id(&r.channel, &platforms)?;
            let row = obs::ChannelDayStats {
                channel_id,
                day: day(r.day.as_ref(), "day")?,
                followers: r.followers,
                posts: r.posts,
                mentions: r.mentions,
                shares: r.shares,
                comments: r.comments,
                likes: r.likes,
                link_clicks: r.link_clicks,
                views: r.views,
                reach: r.reach,
            };
            row.check()?;
            Ok(row)
        });
        finish!(self, tenant, req, accepted, rejected, upsert_channel_stats)
    }

    async fn ingest_web_traffic(
        &self,
        request: Request<proto::IngestWebTrafficRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        check_batch(req.rows.len())?;
        let (accepted, rejected) = partition(&req.rows, |r| {
            let row = obs::WebTraffic {
                day: day(r.day.as_ref(), "day")?,
                source: r.source.clone(),
                medium: r.medium.clone(),
                campaign: r.campaign.clone(),
                channel_group: r.default_channel_group.clone(),
                // An empty text on the wire is a dimension not reported.
                age_bracket: (!r.age_bracket.is_empty()).then(|| r.age_bracket.clone()),
                age: r.age,
                country: (!r.country.is_empty()).then(|| r.country.clone()),
                is_customer: r.is_customer,
                sessions: r.sessions,
                users: r.users,
                new_users: r.new_users,
            };
            row.check()?;
            Ok(row)
        });
        finish!(self, tenant, req, accepted, rejected, upsert_web_traffic)
    }

    async fn ingest_orders(
        &self,
        request: Request<proto::IngestOrdersRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        check_batch(req.rows.len())?;
        let context = obs::OrderContext {
            time_zone: Self::time_zone(&tenant),
            currency: &tenant.settings.currency,
            customer_keys: &self.jobs.settings().customer_keys,
        };
        let (accepted, rejected) = partition(&req.rows, |r| {
            // The id before the time, as IngestOrders has always reported them.
            obs::Order::check_id(&r.order_id)?;
            let fields = obs::OrderFields {
                order_id: &r.order_id,
                placed_at: instant(r.placed_at.as_ref(), "placed_at")?,
                currency: &r.currency_code,
                revenue_minor: r.revenue_minor,
                cost_minor: r.cost_of_goods_minor,
                discount_minor: r.discount_minor,
                codes: &r.discount_codes,
                customer: obs::OrderCustomer::Given {
                    id: &r.customer_id,
                    email: &r.customer_email,
                },
                utm_source: &r.utm_source,
                utm_medium: &r.utm_medium,
                utm_campaign: &r.utm_campaign,
            };
            obs::Order::new(fields, &context)
        });
        finish!(self, tenant, req, accepted, rejected, upsert_orders)
    }

    async fn delete_orders(
        &self,
        request: Request<proto::DeleteOrdersRequest>,
    ) -> Result<Response<proto::DeleteOrdersResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        let len = req.order_ids.len();
        if len > MAX_ROWS {
            return Err(ApiError::invalid(
                "order_ids",
                format!("has {len} ids; at most {MAX_ROWS} are allowed per call, split the batch"),
            )
            .into());
        }
        let mut ids = Vec::with_capacity(len);
        let mut rejected = Vec::new();
        for (index, id) in req.order_ids.iter().enumerate() {
            match obs::Order::check_id(id) {
                Ok(id) => ids.push(id),
                Err((_, reason)) => rejected.push(proto::RejectedRow {
                    index: index as i32,
                    field: format!("order_ids[{index}]"),
                    reason,
                }),
            }
        }
        let write = !ids.is_empty() && (!req.all_or_nothing || rejected.is_empty());
        let deleted = if write {
            self.store
                .delete_orders(&tenant.id, &ids)
                .await
                .map_err(ApiError::from)?
        } else {
            Default::default()
        };
        let removed: HashSet<&str> = deleted.order_ids.iter().map(String::as_str).collect();
        let mut seen = HashSet::new();
        let not_stored = ids
            .iter()
            .filter(|id| write && !removed.contains(id.as_str()) && seen.insert(id.as_str()))
            .cloned()
            .collect();
        tracing::debug!(tenant = %tenant.id, deleted = deleted.order_ids.len(), rejected = rejected.len(), written = write, "delete orders");
        Ok(Response::new(proto::DeleteOrdersResponse {
            deleted_count: deleted.order_ids.len() as i32,
            not_stored_order_ids: not_stored,
            days: deleted.days.into_iter().filter_map(convert::date).collect(),
            rejected,
        }))
    }

    async fn ingest_audience_members(
        &self,
        request: Request<proto::IngestAudienceMembersRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        check_batch(req.rows.len())?;
        let platforms = self
            .platforms_of(&tenant, req.rows.iter().map(|r| &r.channel))
            .await?;
        let (accepted, rejected) = partition(&req.rows, |r| {
            let (channel_id, platform) = channel_id(&r.channel, &platforms)?;
            let first_seen = day(r.first_seen.as_ref(), "first_seen")?;
            let last_seen = r
                .last_seen
                .as_ref()
                .map(|d| day(Some(d), "last_seen"))
                .transpose()?;
            let member = obs::AudienceMember {
                platform,
                account_id: r.account_id.trim().to_string(),
                channel_id,
                attributes: attributes(r.attributes.as_ref()),
                customer_id: optional_text(r.customer_id.trim()),
                first_seen,
                last_seen,
            };
            member.check()?;
            Ok(member)
        });
        finish!(
            self,
            tenant,
            req,
            accepted,
            rejected,
            upsert_audience_members
        )
    }

    async fn ingest_interactions(
        &self,
        request: Request<proto::IngestInteractionsRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        check_batch(req.rows.len())?;
        let tz = Self::time_zone(&tenant);
        let platforms = self
            .platforms_of(&tenant, req.rows.iter().map(|r| &r.channel))
            .await?;
        let (accepted, rejected) = partition(&req.rows, |r| {
            let (channel_id, platform) = channel_id(&r.channel, &platforms)?;
            let kind = match proto::InteractionKind::try_from(r.kind) {
                Ok(proto::InteractionKind::Mention) => obs::InteractionKind::Mention,
                Ok(proto::InteractionKind::Share) => obs::InteractionKind::Share,
                Ok(proto::InteractionKind::Comment) => obs::InteractionKind::Comment,
                Ok(proto::InteractionKind::Like) => obs::InteractionKind::Like,
                Ok(proto::InteractionKind::LinkClick) => obs::InteractionKind::LinkClick,
                Ok(proto::InteractionKind::Unspecified) => {
                    return Err(("kind".into(), "is required".into()));
                }
                Err(_) => {
                    return Err((
                        "kind".into(),
                        format!("{} is not an InteractionKind value", r.kind),
                    ));
                }
            };
            let occurred_at = instant(r.occurred_at.as_ref(), "occurred_at")?;
            let interaction = obs::Interaction {
                channel_id,
                interaction_id: r.interaction_id.trim().to_string(),
                kind,
                platform,
                account_id: r.account_id.trim().to_string(),
                day: local_day(occurred_at, tz),
                occurred_at,
                attributes: attributes(r.attributes.as_ref()),
            };
            interaction.check()?;
            Ok(interaction)
        });
        finish!(self, tenant, req, accepted, rejected, upsert_interactions)
    }

    async fn ingest_giveaway_entries(
        &self,
        request: Request<proto::IngestGiveawayEntriesRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        check_batch(req.rows.len())?;
        let tz = Self::time_zone(&tenant);
        // Only well-formed ids are looked up: PostgreSQL refuses some text (NUL) outright.
        let ids: HashSet<String> = req
            .rows
            .iter()
            .filter(|r| obs::GiveawayEntry::check_id(&r.giveaway_id).is_ok())
            .map(|r| r.giveaway_id.clone())
            .collect();
        let known = self
            .store
            .giveaway_ids(&tenant.id, &ids)
            .await
            .map_err(ApiError::from)?;
        let customer_keys = &self.jobs.settings().customer_keys;
        let (accepted, rejected) = partition(&req.rows, |r| {
            obs::GiveawayEntry::check_id(&r.giveaway_id)?;
            if !known.contains(&r.giveaway_id) {
                return Err((
                    "giveaway_id".into(),
                    format!(
                        "giveaway `{}` does not exist",
                        crate::domain::names::shorten(&r.giveaway_id)
                    ),
                ));
            }
            // The entrant before the time, as IngestGiveawayEntries has always reported them.
            obs::GiveawayEntry::check_entrant(&r.entrant)?;
            let entered_at = instant(r.entered_at.as_ref(), "entered_at")?;
            obs::GiveawayEntry::new(&r.giveaway_id, &r.entrant, entered_at, tz, customer_keys)
        });
        finish!(
            self,
            tenant,
            req,
            accepted,
            rejected,
            upsert_giveaway_entries
        )
    }

    async fn ingest_metric_points(
        &self,
        request: Request<proto::IngestMetricPointsRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        check_batch(req.rows.len())?;
        let mut known: HashMap<String, bool> = HashMap::new();
        for row in &req.rows {
            if let Ok(scope) = Scope::parse(&row.scope)
                && !known.contains_key(&row.scope)
            {
                known.insert(
                    row.scope.clone(),
                    self.store
                        .scope_exists(&tenant.id, &scope)
                        .await
                        .map_err(ApiError::from)?,
                );
            }
        }
        // A metric key and a custom KPI id name the same snapshots (KPIS.md: a pushed
        // metric key must differ from every custom KPI id of the tenant).
        let customs: HashSet<String> = if req.rows.is_empty() {
            HashSet::new()
        } else {
            self.store
                .custom_kpis(&tenant.id)
                .await
                .map_err(ApiError::from)?
                .into_iter()
                .map(|c| c.id)
                .collect()
        };
        let (accepted, rejected) = partition(&req.rows, |r| {
            obs::MetricPoint::check_key(&r.metric_key)?;
            if customs.contains(&r.metric_key) {
                return Err((
                    "metric_key".into(),
                    format!(
                        "`{}` is a custom KPI of this tenant; push the metric under another key",
                        r.metric_key
                    ),
                ));
            }
            let scope = Scope::parse(&r.scope).map_err(|e| ("scope".to_string(), e))?;
            if known.get(&r.scope) != Some(&true) {
                return Err(("scope".into(), format!("{scope} does not exist")));
            }
            // The value before the day, as IngestMetricPoints has always reported them.
            obs::MetricPoint::check_value(r.value)?;
            obs::MetricPoint::new(&r.metric_key, scope, day(r.day.as_ref(), "day")?, r.value)
        });
        finish!(self, tenant, req, accepted, rejected, upsert_metric_points)
    }
}
