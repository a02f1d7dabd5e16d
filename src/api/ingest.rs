//! IngestService: converts every row as far as it can without the tenant's data and
//! hands the batch to the ingest use case ([`crate::engine::ingest`]), which checks the
//! rest, reports the rejected rows with index and reason and writes the accepted ones in
//! one transaction (or none, with `all_or_nothing`).
use super::Api;
use super::convert;
use super::error::ApiError;
use crate::domain::channel::Platform;
use crate::domain::goal::Scope;
use crate::domain::observation::{self as obs, RowResult, local_day};
use crate::domain::tenant::Tenant;
use crate::engine::ingest::{self, Batch, ChannelRow, GiveawayRow, MetricRow, Outcome, Rejection};
use crate::proto;
use crate::proto::ingest_service_server::IngestService;
use crate::storage::StorageError;
use chrono::{DateTime, NaiveDate, Utc};
use tonic::{Request, Response, Status};

/// Most rows one call may carry.
pub const MAX_ROWS: usize = 10_000;
/// Largest request message, in bytes; the client side encodes by the same constant.
pub use crate::proto::MAX_MESSAGE_BYTES;

/// A rejection with its field made absolute (`rows[3].day`).
fn rejected_row(r: Rejection) -> proto::RejectedRow {
    proto::RejectedRow {
        index: r.index as i32,
        field: format!("rows[{}].{}", r.index, r.field),
        reason: r.reason,
    }
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

/// The answer to an ingest call, from what the use case did.
fn response(
    outcome: Result<Outcome, StorageError>,
) -> Result<Response<proto::IngestResponse>, Status> {
    let outcome = outcome.map_err(ApiError::from)?;
    Ok(Response::new(proto::IngestResponse {
        accepted_count: if outcome.written {
            outcome.accepted as i32
        } else {
            0
        },
        rejected_count: outcome.rejected.len() as i32,
        rejected: outcome.rejected.into_iter().map(rejected_row).collect(),
    }))
}

/// The tenant's time zone; settings were validated when stored.
fn time_zone(tenant: &Tenant) -> chrono_tz::Tz {
    tenant.settings.time_zone.parse().unwrap_or(chrono_tz::UTC)
}

/// The rows of a call, each converted by `convert`.
fn batch<P, R>(rows: &[P], all_or_nothing: bool, convert: impl FnMut(&P) -> R) -> Batch<R> {
    Batch {
        rows: rows.iter().map(convert).collect(),
        all_or_nothing,
    }
}

/// A channel day row's own fields; the channel is the use case's to resolve.
fn channel_stats(
    r: &proto::ChannelDayStats,
) -> RowResult<impl FnOnce(String, Platform) -> RowResult<obs::ChannelDayStats> + use<>> {
    let row = obs::ChannelDayStats {
        channel_id: String::new(),
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
    Ok(move |channel_id, _| {
        let row = obs::ChannelDayStats { channel_id, ..row };
        row.check()?;
        Ok(row)
    })
}

/// An audience member's own fields, as [`channel_stats`].
fn audience_member(
    r: &proto::AudienceMember,
) -> RowResult<impl FnOnce(String, Platform) -> RowResult<obs::AudienceMember> + use<>> {
    let first_seen = day(r.first_seen.as_ref(), "first_seen")?;
    let last_seen = r
        .last_seen
        .as_ref()
        .map(|d| day(Some(d), "last_seen"))
        .transpose()?;
    let account_id = r.account_id.trim().to_string();
    let attributes = attributes(r.attributes.as_ref());
    let customer_id = optional_text(r.customer_id.trim());
    Ok(move |channel_id, platform| {
        let member = obs::AudienceMember {
            platform,
            account_id,
            channel_id,
            attributes,
            customer_id,
            first_seen,
            last_seen,
        };
        member.check()?;
        Ok(member)
    })
}

/// An interaction's own fields, as [`channel_stats`]; its day is the tenant's (`tz`).
fn interaction(
    r: &proto::Interaction,
    tz: chrono_tz::Tz,
) -> RowResult<impl FnOnce(String, Platform) -> RowResult<obs::Interaction> + use<>> {
    let kind = interaction_kind(r.kind)?;
    let occurred_at = instant(r.occurred_at.as_ref(), "occurred_at")?;
    let interaction_id = r.interaction_id.trim().to_string();
    let account_id = r.account_id.trim().to_string();
    let attributes = attributes(r.attributes.as_ref());
    Ok(move |channel_id, platform| {
        let interaction = obs::Interaction {
            channel_id,
            interaction_id,
            kind,
            platform,
            account_id,
            day: local_day(occurred_at, tz),
            occurred_at,
            attributes,
        };
        interaction.check()?;
        Ok(interaction)
    })
}

/// A web traffic row, which names nothing of the tenant's.
fn web_traffic(r: &proto::WebTrafficRow) -> RowResult<obs::WebTraffic> {
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
}

/// An order, on the tenant's day and in its currency (`context`).
fn order(r: &proto::Order, context: &obs::OrderContext<'_>) -> RowResult<obs::Order> {
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
    obs::Order::new(fields, context)
}

/// A giveaway entry on the tenant's day (`tz`), its entrant keyed by `customer_keys`;
/// whether the giveaway is the tenant's is the use case's to say.
fn giveaway_entry(
    r: &proto::GiveawayEntry,
    tz: chrono_tz::Tz,
    customer_keys: &obs::CustomerKeySecret,
) -> GiveawayRow {
    GiveawayRow {
        giveaway_id: r.giveaway_id.clone(),
        // The entrant before the time, as IngestGiveawayEntries has always reported them;
        // both after the giveaway id, which the use case checks first.
        entry: obs::GiveawayEntry::check_entrant(&r.entrant).and_then(|_| {
            let entered_at = instant(r.entered_at.as_ref(), "entered_at")?;
            obs::GiveawayEntry::new(&r.giveaway_id, &r.entrant, entered_at, tz, customer_keys)
        }),
    }
}

/// A metric point; whether its scope exists and its key is free is the use case's to say.
fn metric_point(r: &proto::MetricPoint) -> MetricRow {
    let scope = Scope::parse(&r.scope).map_err(|e| ("scope".to_string(), e));
    MetricRow {
        metric_key: r.metric_key.clone(),
        // The value before the day, as IngestMetricPoints has always reported them; both
        // after the key and the scope, which the use case checks first.
        point: scope.clone().and_then(|scope| {
            obs::MetricPoint::check_value(r.value)?;
            obs::MetricPoint::new(&r.metric_key, scope, day(r.day.as_ref(), "day")?, r.value)
        }),
        scope,
    }
}

impl Api {
    /// The tenant of an ingest call and its message, refused when it carries more than
    /// [`MAX_ROWS`] rows (`len` counts them).
    async fn rows_request<Q>(
        &self,
        request: Request<Q>,
        len: impl FnOnce(&Q) -> usize,
    ) -> Result<(Tenant, Q), Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        check_batch(len(&req))?;
        Ok((tenant, req))
    }
}

#[tonic::async_trait]
impl IngestService for Api {
    async fn ingest_channel_stats(
        &self,
        request: Request<proto::IngestChannelStatsRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let (tenant, req) = self.rows_request(request, |r| r.rows.len()).await?;
        let rows = batch(&req.rows, req.all_or_nothing, |r| ChannelRow {
            channel: r.channel.clone(),
            build: channel_stats(r),
        });
        response(ingest::channel_stats(&self.store, &tenant, rows).await)
    }

    async fn ingest_web_traffic(
        &self,
        request: Request<proto::IngestWebTrafficRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let (tenant, req) = self.rows_request(request, |r| r.rows.len()).await?;
        let rows = batch(&req.rows, req.all_or_nothing, web_traffic);
        response(ingest::web_traffic(&self.store, &tenant, rows).await)
    }

    async fn ingest_orders(
        &self,
        request: Request<proto::IngestOrdersRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let (tenant, req) = self.rows_request(request, |r| r.rows.len()).await?;
        let context = obs::OrderContext {
            time_zone: time_zone(&tenant),
            currency: &tenant.settings.currency,
            customer_keys: &self.jobs.settings().customer_keys,
        };
        let rows = batch(&req.rows, req.all_or_nothing, |r| order(r, &context));
        response(ingest::orders(&self.store, &tenant, rows).await)
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
        let ids = batch(&req.order_ids, req.all_or_nothing, |id| {
            obs::Order::check_id(id)
        });
        let deleted = ingest::delete_orders(&self.store, &tenant, ids)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(proto::DeleteOrdersResponse {
            deleted_count: deleted.order_ids.len() as i32,
            not_stored_order_ids: deleted.not_stored,
            days: deleted.days.into_iter().filter_map(convert::date).collect(),
            rejected: deleted
                .rejected
                .into_iter()
                .map(|r| proto::RejectedRow {
                    index: r.index as i32,
                    field: format!("order_ids[{}]", r.index),
                    reason: r.reason,
                })
                .collect(),
        }))
    }

    async fn ingest_audience_members(
        &self,
        request: Request<proto::IngestAudienceMembersRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let (tenant, req) = self.rows_request(request, |r| r.rows.len()).await?;
        let rows = batch(&req.rows, req.all_or_nothing, |r| ChannelRow {
            channel: r.channel.clone(),
            build: audience_member(r),
        });
        response(ingest::audience_members(&self.store, &tenant, rows).await)
    }

    async fn ingest_interactions(
        &self,
        request: Request<proto::IngestInteractionsRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let (tenant, req) = self.rows_request(request, |r| r.rows.len()).await?;
        let tz = time_zone(&tenant);
        let rows = batch(&req.rows, req.all_or_nothing, |r| ChannelRow {
            channel: r.channel.clone(),
            build: interaction(r, tz),
        });
        response(ingest::interactions(&self.store, &tenant, rows).await)
    }

    async fn ingest_giveaway_entries(
        &self,
        request: Request<proto::IngestGiveawayEntriesRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let (tenant, req) = self.rows_request(request, |r| r.rows.len()).await?;
        let (tz, customer_keys) = (time_zone(&tenant), &self.jobs.settings().customer_keys);
        let rows = batch(&req.rows, req.all_or_nothing, |r| {
            giveaway_entry(r, tz, customer_keys)
        });
        response(ingest::giveaway_entries(&self.store, &tenant, rows).await)
    }

    async fn ingest_metric_points(
        &self,
        request: Request<proto::IngestMetricPointsRequest>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let (tenant, req) = self.rows_request(request, |r| r.rows.len()).await?;
        let rows = batch(&req.rows, req.all_or_nothing, metric_point);
        response(ingest::metric_points(&self.store, &tenant, rows).await)
    }
}

/// An interaction kind from the wire; unspecified and unknown values are refused.
fn interaction_kind(value: i32) -> RowResult<obs::InteractionKind> {
    match proto::InteractionKind::try_from(value) {
        Ok(proto::InteractionKind::Mention) => Ok(obs::InteractionKind::Mention),
        Ok(proto::InteractionKind::Share) => Ok(obs::InteractionKind::Share),
        Ok(proto::InteractionKind::Comment) => Ok(obs::InteractionKind::Comment),
        Ok(proto::InteractionKind::Like) => Ok(obs::InteractionKind::Like),
        Ok(proto::InteractionKind::LinkClick) => Ok(obs::InteractionKind::LinkClick),
        Ok(proto::InteractionKind::Unspecified) => Err(("kind".into(), "is required".into())),
        Err(_) => Err((
            "kind".into(),
            format!("{value} is not an InteractionKind value"),
        )),
    }
}
