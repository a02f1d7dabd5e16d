//! Bad input everywhere: every field of every request message of every tally.v1 RPC, found
//! in the compiled descriptor, gets a set of bad values chosen by its type and name (empty
//! and oversized strings, negative and huge numbers, malformed resource names, bad page
//! tokens, unknown enum values, invalid field masks, impossible dates and times, a NUL
//! character). Each bad value is sent alone in an otherwise valid request and must be
//! refused with INVALID_ARGUMENT and a BadRequest naming that field (ingest calls may
//! instead reject the row, naming the field in the response), and nothing stored may
//! change. Booleans have no bad value and get none.
//!
//! Values a field legitimately accepts are listed in [`EXCEPTIONS`], each with its reason;
//! they are sent after the check that nothing changed and must indeed be accepted, so the
//! table cannot hide a gap. A new field without validation or an exception fails the test.
use crate::dynamic::{Reply, dynamic, methods, send};
use crate::helpers::TestApp;
use base64::Engine;
use chrono::NaiveDate;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MethodDescriptor, ReflectMessage, Value,
};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use std::collections::BTreeMap;
use std::time::Duration;
use tally::domain::campaign::{Campaign, Giveaway, Money, Participant};
use tally::domain::catalogue::Objective;
use tally::domain::channel::{Channel, Platform};
use tally::domain::goal::{Baseline, Direction, Goal, Target};
use tally::domain::influencer::Influencer;
use tally::domain::segment::Segment;
use tally::kpi::custom::CustomKpi;
use tally::proto as pb;
use tonic::Code;
use tonic_types::StatusExt;

/// The run every JobRun-named request points at.
const RUN: &str = "run-0000000000000000000000000000b0b0";

/// A value a field accepts although the generator counts it as bad.
struct Exception {
    /// RPC name, or `*` for every RPC.
    method: &'static str,
    /// Field path; `*.x` matches any path ending in `.x`.
    field: &'static str,
    /// Case label (see [`bad_values`]), or `*` for every case of the field.
    case: &'static str,
    /// Why the value is valid there.
    why: &'static str,
    /// Empty when the value is accepted; otherwise the value is valid alone but conflicts
    /// with another field of the valid request, and the refusal names that field.
    conflicts_with: &'static str,
}

const fn ex(
    method: &'static str,
    field: &'static str,
    case: &'static str,
    why: &'static str,
) -> Exception {
    Exception {
        method,
        field,
        case,
        why,
        conflicts_with: "",
    }
}

#[allow(
    dead_code,
    reason = "no value conflicts today (the last, a huge goal baseline, is now refused by its bound); kept for the next"
)]
const fn conflict(
    method: &'static str,
    field: &'static str,
    case: &'static str,
    conflicts_with: &'static str,
    why: &'static str,
) -> Exception {
    Exception {
        method,
        field,
        case,
        why,
        conflicts_with,
    }
}

/// Values that are valid where they are sent, with the reason.
const EXCEPTIONS: &[Exception] = &[
    // Output-only fields are ignored on input (AIP-203): whatever a client sends there is
    // replaced by the server's value.
    ex("*", "*.create_time", "*", "output only"),
    ex("*", "*.update_time", "*", "output only"),
    ex(
        "*",
        "*.canonical_rule",
        "*",
        "output only: the rule as the server prints it",
    ),
    ex(
        "*",
        "*.warnings",
        "*",
        "output only: the server's advice on the goal",
    ),
    ex(
        "CreateInfluencer",
        "influencer.name",
        "*",
        "output only on create (AIP-133)",
    ),
    ex(
        "CreateChannel",
        "channel.name",
        "*",
        "output only on create (AIP-133)",
    ),
    ex(
        "CreateCampaign",
        "campaign.name",
        "*",
        "output only on create (AIP-133)",
    ),
    ex(
        "CreateSegment",
        "segment.name",
        "*",
        "output only on create (AIP-133)",
    ),
    ex(
        "CreateGoal",
        "goal.name",
        "*",
        "output only on create (AIP-133)",
    ),
    ex(
        "CreateKpiDefinition",
        "kpi_definition.name",
        "*",
        "output only on create",
    ),
    ex(
        "CreateInfluencer",
        "influencer.etag",
        "*",
        "ignored on create: nothing to match",
    ),
    ex(
        "CreateChannel",
        "channel.etag",
        "*",
        "ignored on create: nothing to match",
    ),
    ex(
        "CreateCampaign",
        "campaign.etag",
        "*",
        "ignored on create: nothing to match",
    ),
    ex(
        "CreateSegment",
        "segment.etag",
        "*",
        "ignored on create: nothing to match",
    ),
    ex(
        "CreateGoal",
        "goal.etag",
        "*",
        "ignored on create: nothing to match",
    ),
    ex(
        "CreateKpiDefinition",
        "kpi_definition.etag",
        "*",
        "ignored on create",
    ),
    // A custom KPI's id, tier, roll-up, objectives, segment use, scopes, approximation and
    // version are derived from its formula (or counted by the server): output only.
    ex(
        "*",
        "kpi_definition.id",
        "*",
        "output only: the id is in the name",
    ),
    ex(
        "*",
        "kpi_definition.tier",
        "*",
        "output only: derived from the formula",
    ),
    ex(
        "*",
        "kpi_definition.roll_up",
        "*",
        "output only: derived from the formula",
    ),
    ex(
        "*",
        "kpi_definition.objectives",
        "*",
        "output only: derived from the formula",
    ),
    ex(
        "*",
        "kpi_definition.segment_use",
        "*",
        "output only: derived from the formula",
    ),
    ex(
        "*",
        "kpi_definition.scopes",
        "*",
        "output only: derived from the formula",
    ),
    ex(
        "*",
        "kpi_definition.approximation",
        "*",
        "output only: built-in KPIs only",
    ),
    ex(
        "*",
        "kpi_definition.version",
        "*",
        "output only: counted by the server",
    ),
    ex("*", "kpi_definition.description", "empty", "optional"),
    // Empty means "not given" where the field is optional.
    ex(
        "*",
        "request_id",
        "empty",
        "optional (AIP-155): no retry deduplication",
    ),
    ex(
        "*",
        "influencer_id",
        "empty",
        "optional: the server makes an id",
    ),
    ex(
        "*",
        "channel_id",
        "empty",
        "optional: the server makes an id",
    ),
    ex(
        "*",
        "campaign_id",
        "empty",
        "optional: the server makes an id",
    ),
    ex(
        "*",
        "segment_id",
        "empty",
        "optional: the server makes an id",
    ),
    ex("*", "goal_id", "empty", "optional: the server makes an id"),
    ex("*", "*etag", "empty", "optional: no concurrency check"),
    ex(
        "*",
        "*.utm_campaign",
        "empty",
        "optional: a source alone identifies traffic",
    ),
    ex(
        "*",
        "channel.owner",
        "empty",
        "optional: the brand's own channel",
    ),
    ex(
        "*",
        "channel.credentials_ref",
        "empty",
        "optional: public or pushed data",
    ),
    ex(
        "*",
        "campaign.giveaways[0].host",
        "empty",
        "optional: the brand hosts",
    ),
    ex("*", "goal.segment", "empty", "optional: the whole audience"),
    ex(
        "*",
        "*kpi_scope.segment",
        "empty",
        "optional: the whole audience",
    ),
    ex(
        "*",
        "*kpi_scopes[0].segment",
        "empty",
        "optional: the whole audience",
    ),
    ex("*", "page_token", "empty", "the first page"),
    ex("ListChannels", "owner", "empty", "optional filter"),
    ex("ListJobRuns", "trigger", "empty", "optional filter"),
    // AIP-158: a page size above the maximum is lowered to it, not refused.
    ex("*", "page_size", "huge", "lowered to the maximum (AIP-158)"),
    // Goal values are KPI values, which may be negative (growth); the generator's huge
    // value (1e300) is past the bound of every measured value (1e15) and refused.
    ex(
        "*",
        "goal.baseline.value",
        "negative",
        "KPI values may be negative",
    ),
    // Ingest: ids from the shop or platform are opaque to Tally, and labels are optional.
    ex(
        "IngestOrders",
        "rows[0].order_id",
        "space in id",
        "the shop's own id",
    ),
    ex(
        "IngestOrders",
        "rows[0].customer_id",
        "empty",
        "optional: a guest order",
    ),
    ex(
        "IngestOrders",
        "rows[0].customer_id",
        "space in id",
        "the shop's own id",
    ),
    ex(
        "IngestOrders",
        "rows[0].customer_email",
        "empty",
        "optional: the id suffices",
    ),
    ex(
        "IngestOrders",
        "*utm_source",
        "empty",
        "optional: not every order has UTM",
    ),
    ex(
        "IngestOrders",
        "*utm_medium",
        "empty",
        "optional: not every order has UTM",
    ),
    ex(
        "IngestAudienceMembers",
        "rows[0].account_id",
        "space in id",
        "platform's own id",
    ),
    ex(
        "IngestAudienceMembers",
        "rows[0].customer_id",
        "empty",
        "optional: no customer",
    ),
    ex(
        "IngestAudienceMembers",
        "rows[0].customer_id",
        "space in id",
        "the shop's own id",
    ),
    ex(
        "IngestInteractions",
        "rows[0].interaction_id",
        "space in id",
        "platform's own id",
    ),
    ex(
        "IngestInteractions",
        "rows[0].account_id",
        "space in id",
        "platform's own id",
    ),
    ex("*", "rows[0].attributes.bio", "empty", "optional"),
    ex("*", "rows[0].attributes.country", "empty", "optional"),
    ex(
        "*",
        "rows[0].attributes.influence_score",
        "negative",
        "the platform's own scale",
    ),
    ex(
        "IngestWebTraffic",
        "rows[0].source",
        "empty",
        "optional: direct traffic",
    ),
    ex(
        "IngestWebTraffic",
        "rows[0].medium",
        "empty",
        "optional: direct traffic",
    ),
    ex("IngestWebTraffic", "rows[0].campaign", "empty", "optional"),
    ex(
        "IngestWebTraffic",
        "rows[0].default_channel_group",
        "empty",
        "optional",
    ),
    ex(
        "IngestWebTraffic",
        "rows[0].age_bracket",
        "empty",
        "optional",
    ),
    ex("IngestWebTraffic", "rows[0].country", "empty", "optional"),
    ex(
        "IngestMetricPoints",
        "rows[0].value",
        "negative",
        "a metric may be negative",
    ),
    ex(
        "*",
        "channel.account_id",
        "space in id",
        "the platform's own id (a blog title)",
    ),
];

impl Exception {
    fn covers(&self, method: &str, field: &str, case: &str) -> bool {
        let field_ok = match self.field.strip_prefix('*') {
            Some(suffix) => field.ends_with(suffix),
            None => self.field == field,
        };
        (self.method == "*" || self.method == method)
            && field_ok
            && (self.case == "*" || self.case == case)
    }
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn date(d: u32) -> Option<pb::google::r#type::Date> {
    Some(pb::google::r#type::Date {
        year: 2026,
        month: 11,
        day: d as i32,
    })
}

fn time() -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: 1_793_500_000,
        nanos: 0,
    })
}

fn mask_all() -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: vec!["*".into()],
    })
}

/// The tenant's resources that the valid requests point at; `spare` ones are deleted.
async fn seed(app: &TestApp) {
    let s = &app.store;
    for id in ["anna", "spare"] {
        let influencer = Influencer {
            display_name: format!("{id} display"),
            tags: vec!["fitness".into()],
            discount_codes: vec![format!("{}10", id.to_uppercase())],
            tracking_values: vec![],
        };
        s.create_influencer("acme", id, &influencer, None)
            .await
            .unwrap();
    }
    for (id, owner) in [("anna-ig", Some("anna")), ("spare-ig", None)] {
        let channel = Channel {
            display_name: id.into(),
            platform: Platform::Instagram,
            owner: owner.map(String::from),
            account_id: id.into(),
            credentials_ref: String::new(),
        };
        s.create_channel("acme", id, &channel, None).await.unwrap();
    }
    for (id, giveaway) in [("spring", "gw-1"), ("spare", "gw-spare")] {
        let campaign = Campaign {
            display_name: format!("{id} campaign"),
            start_date: day(1),
            end_date: day(10),
            participants: vec![Participant {
                influencer_id: "anna".into(),
                fee: Money {
                    currency: "EUR".into(),
                    minor_units: 10_000,
                },
            }],
            giveaways: vec![Giveaway {
                id: giveaway.into(),
                display_name: "Giveaway".into(),
                host: Some("anna".into()),
            }],
        };
        s.create_campaign("acme", id, &campaign, None)
            .await
            .unwrap();
    }
    for id in ["fans", "spare"] {
        let segment = Segment {
            display_name: format!("{id} segment"),
            rule: "age >= 18".into(),
        };
        s.create_segment("acme", id, &segment, None).await.unwrap();
    }
    for id in ["ck", "ck_spare"] {
        let custom = CustomKpi {
            display_name: format!("{id} KPI"),
            description: String::new(),
            unit: "ratio".into(),
            formula: "likes / posts".into(),
            version: 1,
        };
        s.create_custom_kpi("acme", id, &custom).await.unwrap();
    }
    for id in ["g1", "spare"] {
        let goal = Goal {
            display_name: format!("{id} goal"),
            objective: Some(Objective::BrandAwareness),
            kpi: "followers".into(),
            scope: "influencers/anna".into(),
            segment: None,
            baseline: Baseline::Fixed(1.0),
            target: Some(Target::Absolute(2.0)),
            direction: Some(Direction::Up),
            start_date: Some(day(1)),
            deadline: Some(day(30)),
            owner: "ops".into(),
            trailing_days: None,
        };
        let scope = goal.validate().unwrap();
        s.create_goal("acme", id, &goal, &scope, None)
            .await
            .unwrap();
    }
    s.create_run(
        "acme",
        &tally::storage::jobs::NewRun {
            id: RUN.into(),
            job: "backfill".into(),
            first_day: day(1),
            last_day: day(1),
            forced: false,
            owner: "test".into(),
            lease_until: chrono::Utc::now() + chrono::Duration::hours(1),
        },
        "{\"days\":[]}",
    )
    .await
    .unwrap();
}

fn influencer(name: &str) -> pb::Influencer {
    pb::Influencer {
        name: name.into(),
        display_name: "Bea".into(),
        tags: vec!["beauty".into()],
        discount_codes: vec!["BEA10".into()],
        tracking_values: vec![pb::TrackingValue {
            utm_source: "bea".into(),
            utm_campaign: "autumn".into(),
        }],
        ..Default::default()
    }
}

fn channel(name: &str) -> pb::Channel {
    pb::Channel {
        name: name.into(),
        display_name: "Anna on TikTok".into(),
        platform: pb::Platform::Tiktok as i32,
        owner: "influencers/anna".into(),
        account_id: "anna-tt".into(),
        credentials_ref: String::new(),
        ..Default::default()
    }
}

fn campaign(name: &str) -> pb::Campaign {
    pb::Campaign {
        name: name.into(),
        display_name: "Autumn".into(),
        start_date: date(1),
        end_date: date(20),
        participants: vec![pb::Participant {
            influencer: "influencers/anna".into(),
            fee: Some(pb::Money {
                currency_code: "EUR".into(),
                minor_units: 50_000,
            }),
        }],
        giveaways: vec![pb::Giveaway {
            giveaway_id: "gw-autumn".into(),
            display_name: "Autumn giveaway".into(),
            host: "influencers/anna".into(),
        }],
        ..Default::default()
    }
}

fn segment(name: &str) -> pb::Segment {
    pb::Segment {
        name: name.into(),
        display_name: "Adults".into(),
        rule: "age >= 21".into(),
        ..Default::default()
    }
}

fn goal(name: &str) -> pb::Goal {
    pb::Goal {
        name: name.into(),
        display_name: "More followers".into(),
        objective: pb::Objective::BrandAwareness as i32,
        kpi: "followers".into(),
        scope: "influencers/anna".into(),
        segment: String::new(),
        baseline: Some(pb::Baseline {
            rule: pb::BaselineRule::Fixed as i32,
            value: 1000.0,
        }),
        target: Some(pb::Target {
            kind: Some(pb::target::Kind::AbsoluteValue(2000.0)),
        }),
        direction: pb::Direction::Up as i32,
        start_date: date(1),
        deadline: date(30),
        owner: "ops".into(),
        trailing_days: 0,
        ..Default::default()
    }
}

fn kpi_definition(name: &str) -> pb::KpiDefinition {
    pb::KpiDefinition {
        name: name.into(),
        display_name: "Likes per post".into(),
        unit: "ratio".into(),
        description: "Likes for each post".into(),
        formula: "likes / posts".into(),
        ..Default::default()
    }
}

fn kpi_scope() -> pb::KpiScope {
    pb::KpiScope {
        kpi: "followers".into(),
        scope: "influencers/anna".into(),
        segment: String::new(),
    }
}

/// A member's attributes; `is_customer` only where the row is not linked to a customer.
fn attributes(is_customer: Option<bool>) -> Option<pb::MemberAttributes> {
    Some(pb::MemberAttributes {
        bio: "runner".into(),
        followers: Some(100),
        influence_score: Some(0.5),
        age: Some(30),
        country: "DE".into(),
        is_customer,
    })
}

/// A valid request for the RPC; a new RPC must be added here.
fn valid_request(method: &MethodDescriptor) -> DynamicMessage {
    let d = &method.input();
    match method.name() {
        "CreateInfluencer" => dynamic(
            &pb::CreateInfluencerRequest {
                influencer: Some(influencer("")),
                influencer_id: "bea".into(),
                request_id: "req-bea".into(),
            },
            d,
        ),
        "GetInfluencer" => dynamic(
            &pb::GetInfluencerRequest {
                name: "influencers/anna".into(),
            },
            d,
        ),
        "ListInfluencers" => dynamic(
            &pb::ListInfluencersRequest {
                page_size: 10,
                page_token: String::new(),
            },
            d,
        ),
        "UpdateInfluencer" => dynamic(
            &pb::UpdateInfluencerRequest {
                influencer: Some(pb::Influencer {
                    discount_codes: vec!["ANNA20".into()],
                    tracking_values: vec![pb::TrackingValue {
                        utm_source: "anna".into(),
                        utm_campaign: "autumn".into(),
                    }],
                    ..influencer("influencers/anna")
                }),
                update_mask: mask_all(),
            },
            d,
        ),
        "DeleteInfluencer" => dynamic(
            &pb::DeleteInfluencerRequest {
                name: "influencers/spare".into(),
                etag: String::new(),
            },
            d,
        ),
        "CreateChannel" => dynamic(
            &pb::CreateChannelRequest {
                channel: Some(channel("")),
                channel_id: "anna-tt".into(),
                request_id: "req-anna-tt".into(),
            },
            d,
        ),
        "GetChannel" => dynamic(
            &pb::GetChannelRequest {
                name: "channels/anna-ig".into(),
            },
            d,
        ),
        "ListChannels" => dynamic(
            &pb::ListChannelsRequest {
                page_size: 10,
                page_token: String::new(),
                owner: "influencers/anna".into(),
            },
            d,
        ),
        "UpdateChannel" => dynamic(
            &pb::UpdateChannelRequest {
                channel: Some(pb::Channel {
                    platform: pb::Platform::Instagram as i32,
                    account_id: "anna-ig".into(),
                    ..channel("channels/anna-ig")
                }),
                update_mask: mask_all(),
            },
            d,
        ),
        "DeleteChannel" => dynamic(
            &pb::DeleteChannelRequest {
                name: "channels/spare-ig".into(),
                etag: String::new(),
            },
            d,
        ),
        "CreateCampaign" => dynamic(
            &pb::CreateCampaignRequest {
                campaign: Some(campaign("")),
                campaign_id: "autumn".into(),
                request_id: "req-autumn".into(),
            },
            d,
        ),
        "GetCampaign" => dynamic(
            &pb::GetCampaignRequest {
                name: "campaigns/spring".into(),
            },
            d,
        ),
        "ListCampaigns" => dynamic(
            &pb::ListCampaignsRequest {
                page_size: 10,
                page_token: String::new(),
            },
            d,
        ),
        "UpdateCampaign" => dynamic(
            &pb::UpdateCampaignRequest {
                campaign: Some(pb::Campaign {
                    giveaways: vec![pb::Giveaway {
                        giveaway_id: "gw-1".into(),
                        display_name: "Spring giveaway".into(),
                        host: "influencers/anna".into(),
                    }],
                    ..campaign("campaigns/spring")
                }),
                update_mask: mask_all(),
            },
            d,
        ),
        "DeleteCampaign" => dynamic(
            &pb::DeleteCampaignRequest {
                name: "campaigns/spare".into(),
                etag: String::new(),
            },
            d,
        ),
        "GetCampaignLift" => dynamic(
            &pb::GetCampaignLiftRequest {
                name: "campaigns/spring".into(),
                kpis: vec!["social_visitors".into()],
                interval_level: Some(0.8),
                pre_period_days: Some(56),
                accept_overlap: false,
                include_pre_period: false,
            },
            d,
        ),
        "CreateSegment" => dynamic(
            &pb::CreateSegmentRequest {
                segment: Some(segment("")),
                segment_id: "adults".into(),
                request_id: "req-adults".into(),
            },
            d,
        ),
        "GetSegment" => dynamic(
            &pb::GetSegmentRequest {
                name: "segments/fans".into(),
            },
            d,
        ),
        "ListSegments" => dynamic(
            &pb::ListSegmentsRequest {
                page_size: 10,
                page_token: String::new(),
            },
            d,
        ),
        "UpdateSegment" => dynamic(
            &pb::UpdateSegmentRequest {
                segment: Some(segment("segments/fans")),
                update_mask: mask_all(),
            },
            d,
        ),
        "DeleteSegment" => dynamic(
            &pb::DeleteSegmentRequest {
                name: "segments/spare".into(),
                etag: String::new(),
            },
            d,
        ),
        "CreateGoal" => dynamic(
            &pb::CreateGoalRequest {
                goal: Some(goal("")),
                goal_id: "g2".into(),
                request_id: "req-g2".into(),
            },
            d,
        ),
        "GetGoal" => dynamic(
            &pb::GetGoalRequest {
                name: "goals/g1".into(),
            },
            d,
        ),
        "ListGoals" => dynamic(
            &pb::ListGoalsRequest {
                page_size: 10,
                page_token: String::new(),
            },
            d,
        ),
        "UpdateGoal" => dynamic(
            &pb::UpdateGoalRequest {
                goal: Some(goal("goals/g1")),
                update_mask: mask_all(),
            },
            d,
        ),
        "DeleteGoal" => dynamic(
            &pb::DeleteGoalRequest {
                name: "goals/spare".into(),
                etag: String::new(),
            },
            d,
        ),
        "GetGoalProgress" => dynamic(
            &pb::GetGoalProgressRequest {
                name: "goals/g1".into(),
            },
            d,
        ),
        "ListGoalEvaluations" => dynamic(
            &pb::ListGoalEvaluationsRequest {
                parent: "goals/g1".into(),
                page_size: 10,
                page_token: String::new(),
            },
            d,
        ),
        "WatchGoals" => dynamic(
            &pb::WatchGoalsRequest {
                goals: vec!["goals/g1".into()],
            },
            d,
        ),
        "ListKpiDefinitions" => dynamic(
            &pb::ListKpiDefinitionsRequest {
                page_size: 10,
                page_token: String::new(),
            },
            d,
        ),
        "GetKpiDefinition" => dynamic(
            &pb::GetKpiDefinitionRequest {
                name: "kpiDefinitions/ck".into(),
            },
            d,
        ),
        "CreateKpiDefinition" => dynamic(
            &pb::CreateKpiDefinitionRequest {
                kpi_definition: Some(kpi_definition("")),
                kpi_definition_id: "ck2".into(),
            },
            d,
        ),
        "UpdateKpiDefinition" => dynamic(
            &pb::UpdateKpiDefinitionRequest {
                kpi_definition: Some(kpi_definition("kpiDefinitions/ck")),
                update_mask: mask_all(),
            },
            d,
        ),
        "DeleteKpiDefinition" => dynamic(
            &pb::DeleteKpiDefinitionRequest {
                name: "kpiDefinitions/ck_spare".into(),
                etag: String::new(),
            },
            d,
        ),
        "SuggestKpis" => dynamic(
            &pb::SuggestKpisRequest {
                objective: pb::Objective::BrandAwareness as i32,
            },
            d,
        ),
        "ComputeKpis" => dynamic(
            &pb::ComputeKpisRequest {
                first_day: date(1),
                last_day: date(2),
            },
            d,
        ),
        "QuerySnapshots" => dynamic(
            &pb::QuerySnapshotsRequest {
                kpi_scope: Some(kpi_scope()),
                first_day: date(1),
                last_day: date(2),
                granularity: pb::Granularity::Day as i32,
            },
            d,
        ),
        "BatchGetLatest" => dynamic(
            &pb::BatchGetLatestRequest {
                kpi_scopes: vec![kpi_scope()],
            },
            d,
        ),
        "WatchSnapshots" => dynamic(
            &pb::WatchSnapshotsRequest {
                kpi_scopes: vec![kpi_scope()],
            },
            d,
        ),
        "ListFollowerFlags" => dynamic(
            &pb::ListFollowerFlagsRequest {
                scope: "influencers/anna".into(),
                first_day: date(1),
                last_day: date(2),
            },
            d,
        ),
        "ListJobs" => dynamic(&pb::ListJobsRequest {}, d),
        "RunJob" => dynamic(
            &pb::RunJobRequest {
                name: "jobs/nightly".into(),
                first_day: date(1),
                last_day: date(2),
                force: false,
            },
            d,
        ),
        "GetJobRun" => dynamic(
            &pb::GetJobRunRequest {
                name: format!("jobRuns/{RUN}"),
            },
            d,
        ),
        "ListJobRuns" => dynamic(
            &pb::ListJobRunsRequest {
                page_size: 10,
                page_token: String::new(),
                trigger: String::new(),
            },
            d,
        ),
        "CancelJobRun" => dynamic(
            &pb::CancelJobRunRequest {
                name: format!("jobRuns/{RUN}"),
            },
            d,
        ),
        "IngestChannelStats" => dynamic(
            &pb::IngestChannelStatsRequest {
                rows: vec![pb::ChannelDayStats {
                    channel: "channels/anna-ig".into(),
                    day: date(3),
                    followers: Some(100),
                    posts: Some(1),
                    mentions: Some(2),
                    shares: Some(3),
                    comments: Some(4),
                    likes: Some(5),
                    link_clicks: Some(6),
                    views: Some(7),
                    reach: Some(8),
                }],
                all_or_nothing: false,
            },
            d,
        ),
        "IngestWebTraffic" => dynamic(
            &pb::IngestWebTrafficRequest {
                rows: vec![pb::WebTrafficRow {
                    day: date(3),
                    source: "instagram".into(),
                    medium: "social".into(),
                    campaign: "autumn".into(),
                    default_channel_group: "Organic Social".into(),
                    age_bracket: "25-34".into(),
                    age: Some(30),
                    country: "DE".into(),
                    is_customer: Some(false),
                    sessions: 10,
                    users: 8,
                    new_users: 5,
                }],
                all_or_nothing: false,
            },
            d,
        ),
        "IngestOrders" => dynamic(
            &pb::IngestOrdersRequest {
                rows: vec![pb::Order {
                    order_id: "o-1".into(),
                    customer_id: "c-1".into(),
                    customer_email: "c1@example.com".into(),
                    placed_at: time(),
                    currency_code: "EUR".into(),
                    revenue_minor: 5000,
                    cost_of_goods_minor: 2000,
                    discount_minor: 500,
                    discount_codes: vec!["ANNA10".into()],
                    utm_source: "instagram".into(),
                    utm_medium: "social".into(),
                    utm_campaign: "autumn".into(),
                }],
                all_or_nothing: false,
            },
            d,
        ),
        "DeleteOrders" => dynamic(
            &pb::DeleteOrdersRequest {
                order_ids: vec!["o-1".into()],
                all_or_nothing: false,
            },
            d,
        ),
        "IngestAudienceMembers" => dynamic(
            &pb::IngestAudienceMembersRequest {
                rows: vec![pb::AudienceMember {
                    channel: "channels/anna-ig".into(),
                    account_id: "acc-1".into(),
                    attributes: attributes(None),
                    customer_id: "c-1".into(),
                    first_seen: date(1),
                    last_seen: date(3),
                }],
                all_or_nothing: false,
            },
            d,
        ),
        "IngestInteractions" => dynamic(
            &pb::IngestInteractionsRequest {
                rows: vec![pb::Interaction {
                    channel: "channels/anna-ig".into(),
                    interaction_id: "i-1".into(),
                    kind: pb::InteractionKind::Like as i32,
                    account_id: "acc-1".into(),
                    occurred_at: time(),
                    attributes: attributes(Some(true)),
                }],
                all_or_nothing: false,
            },
            d,
        ),
        "IngestGiveawayEntries" => dynamic(
            &pb::IngestGiveawayEntriesRequest {
                rows: vec![pb::GiveawayEntry {
                    giveaway_id: "gw-1".into(),
                    entrant: "acc-1".into(),
                    entered_at: time(),
                }],
                all_or_nothing: false,
            },
            d,
        ),
        "IngestMetricPoints" => dynamic(
            &pb::IngestMetricPointsRequest {
                rows: vec![pb::MetricPoint {
                    metric_key: "custom_metric".into(),
                    scope: "influencers/anna".into(),
                    day: date(3),
                    value: 1.0,
                }],
                all_or_nothing: false,
            },
            d,
        ),
        other => panic!("{other}: add a valid request for this new RPC to valid_request"),
    }
}

/// Longer than any text field allows, well under the message size limit.
fn oversized() -> String {
    "x".repeat(100_000)
}

/// The resource name `name` in a collection no name field of the API takes there: scopes
/// take campaigns, influencers and channels, so segments (or goals) are always wrong.
fn other_collection(name: &str) -> String {
    let (collection, id) = name.split_once('/').unwrap();
    let other = if collection == "segments" {
        "goals"
    } else {
        "segments"
    };
    format!("{other}/{id}")
}

fn date_value(field: &FieldDescriptor, year: i32, month: i32, day: i32) -> Value {
    let Kind::Message(desc) = field.kind() else {
        unreachable!()
    };
    let mut m = DynamicMessage::new(desc);
    m.set_field_by_name("year", Value::I32(year));
    m.set_field_by_name("month", Value::I32(month));
    m.set_field_by_name("day", Value::I32(day));
    Value::Message(m)
}

/// Bad values of one (non-repeated) field, labelled, by its type and name; `current` is
/// its value in the valid request.
fn bad_values(field: &FieldDescriptor, current: &Value) -> Vec<(&'static str, Value)> {
    let name = field.name();
    let s = |v: &str| Value::String(v.to_string());
    match field.kind() {
        Kind::String => {
            let mut values = vec![
                ("empty", s("")),
                ("oversized", Value::String(oversized())),
                ("control character", s("a\u{0}b")),
            ];
            let text = current.as_str().unwrap_or_default();
            if text.contains('/') {
                let (collection, _) = text.split_once('/').unwrap();
                values.push(("collection only", s(&format!("{collection}/"))));
                values.push(("unknown collection", s("foo/bar")));
                values.push(("space in id", s(&format!("{collection}/has space"))));
                values.push(("other collection", s(&other_collection(text))));
            }
            if name.ends_with("_id") {
                values.push(("space in id", s("has space")));
            }
            match name {
                "page_token" => {
                    values.push(("garbage token", s("not a token!")));
                    let forged =
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("000000000000:zzz");
                    values.push(("forged token", Value::String(forged)));
                }
                "etag" => values.push(("not an etag", s("W/1"))),
                "currency_code" => values.push(("unknown currency", s("ZZZ"))),
                "formula" => values.push(("syntax error", s("likes / ("))),
                "rule" => values.push(("syntax error", s("age >= "))),
                "kpi" => values.push(("unknown kpi", s("no_such_kpi"))),
                _ => {}
            }
            values
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            vec![("negative", Value::I32(-1)), ("huge", Value::I32(i32::MAX))]
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            vec![("negative", Value::I64(-1)), ("huge", Value::I64(i64::MAX))]
        }
        Kind::Double => vec![
            ("negative", Value::F64(-1.0)),
            ("huge", Value::F64(1e300)),
            ("nan", Value::F64(f64::NAN)),
            ("infinite", Value::F64(f64::INFINITY)),
        ],
        Kind::Enum(_) => vec![("unknown enum", Value::EnumNumber(999))],
        Kind::Message(desc) => match desc.full_name() {
            "google.type.Date" => vec![
                ("month 13", date_value(field, 2026, 13, 1)),
                ("february 30", date_value(field, 2026, 2, 30)),
                ("year 0", date_value(field, 0, 1, 1)),
                ("year 10000", date_value(field, 10_000, 1, 1)),
                ("negative day", date_value(field, 2026, 1, -1)),
            ],
            "google.protobuf.Timestamp" => {
                let ts = |seconds: i64, nanos: i32| {
                    let mut m = DynamicMessage::new(desc.clone());
                    m.set_field_by_name("seconds", Value::I64(seconds));
                    m.set_field_by_name("nanos", Value::I32(nanos));
                    Value::Message(m)
                };
                vec![
                    ("negative nanos", ts(1_793_500_000, -1)),
                    ("huge seconds", ts(i64::MAX, 0)),
                    ("before 1970", ts(-100_000_000_000, 0)),
                ]
            }
            "google.protobuf.FieldMask" => {
                let mask = |paths: &[&str]| {
                    let mut m = DynamicMessage::new(desc.clone());
                    m.set_field_by_name("paths", Value::List(paths.iter().map(|p| s(p)).collect()));
                    Value::Message(m)
                };
                vec![
                    ("unknown path", mask(&["no_such_field"])),
                    ("empty path", mask(&[""])),
                    ("name path", mask(&["name"])),
                    ("output-only path", mask(&["create_time"])),
                ]
            }
            _ => vec![],
        },
        // A bool has no bad value; bytes and the other kinds do not occur in tally.v1.
        _ => vec![],
    }
}

/// One bad request: the path of the bad field, the label of its bad value, the message.
struct Case {
    path: String,
    label: &'static str,
    message: DynamicMessage,
}

/// Every bad variant of `message`, with field paths under `prefix`.
fn cases(message: &DynamicMessage, prefix: &str) -> Vec<Case> {
    let mut out = Vec::new();
    for field in message.descriptor().fields() {
        let path = if prefix.is_empty() {
            field.name().to_string()
        } else {
            format!("{prefix}.{}", field.name())
        };
        let current = message.get_field(&field).into_owned();
        let nested = match field.kind() {
            Kind::Message(desc) if desc.full_name().starts_with("tally.v1.") => Some(desc),
            _ => None,
        };
        match (nested, field.is_list()) {
            (Some(desc), true) => {
                // The first element stands for all; a valid request gives every list one.
                let list = current.as_list().unwrap();
                let first = match list.first() {
                    Some(Value::Message(m)) => m.clone(),
                    _ => DynamicMessage::new(desc),
                };
                for inner in cases(&first, &format!("{path}[0]")) {
                    let mut elements = list.to_vec();
                    if elements.is_empty() {
                        elements.push(Value::Message(inner.message));
                    } else {
                        elements[0] = Value::Message(inner.message);
                    }
                    let mut m = message.clone();
                    m.set_field(&field, Value::List(elements));
                    out.push(Case {
                        message: m,
                        ..inner
                    });
                }
            }
            (Some(desc), false) => {
                let inner_message = match &current {
                    Value::Message(m) if message.has_field(&field) => m.clone(),
                    _ => DynamicMessage::new(desc),
                };
                for inner in cases(&inner_message, &path) {
                    let mut m = message.clone();
                    m.set_field(&field, Value::Message(inner.message));
                    out.push(Case {
                        message: m,
                        ..inner
                    });
                }
            }
            (None, true) => {
                let first = current
                    .as_list()
                    .and_then(|l| l.first().cloned())
                    .unwrap_or_else(|| Value::default_value(&field.kind()));
                for (label, value) in bad_values(&field, &first) {
                    let mut m = message.clone();
                    m.set_field(&field, Value::List(vec![value]));
                    out.push(Case {
                        path: path.clone(),
                        label,
                        message: m,
                    });
                }
            }
            (None, false) => {
                for (label, value) in bad_values(&field, &current) {
                    let mut m = message.clone();
                    m.set_field(&field, value);
                    out.push(Case {
                        path: path.clone(),
                        label,
                        message: m,
                    });
                }
            }
        }
    }
    out
}

/// Whether a reported field names the bad field (or a part of it, such as `paths[0]`).
fn names(reported: &str, path: &str) -> bool {
    reported == path
        || reported
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// What one call did, for the assertions.
enum Outcome {
    /// INVALID_ARGUMENT with these BadRequest fields.
    Invalid(Vec<String>),
    /// Ingest accepted nothing and rejected rows naming these fields.
    RowsRejected(Vec<String>),
    /// Anything else.
    Other(String),
}

async fn outcome(app: &TestApp, method: &MethodDescriptor, message: DynamicMessage) -> Outcome {
    let result = match send(app, method, message, Some(&app.key)).await {
        Ok(Reply::Unary(response)) => Ok(response),
        Ok(Reply::Stream(mut stream)) => {
            match tokio::time::timeout(Duration::from_millis(200), stream.message()).await {
                Ok(Err(status)) => Err(status),
                other => return Outcome::Other(format!("stream open: {other:?}")),
            }
        }
        Err(status) => Err(status),
    };
    match result {
        Err(status) if status.code() == Code::InvalidArgument => {
            let fields = status
                .get_details_bad_request()
                .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
                .unwrap_or_default();
            Outcome::Invalid(fields)
        }
        Err(status) => Outcome::Other(format!("{:?}: {}", status.code(), status.message())),
        Ok(response) if method.parent_service().name() == "IngestService" => {
            let accepted = response
                .get_field_by_name("accepted_count")
                .and_then(|v| v.as_i32())
                .unwrap_or_default();
            let rejected: Vec<String> = response
                .get_field_by_name("rejected")
                .and_then(|v| v.as_list().map(<[Value]>::to_vec))
                .unwrap_or_default()
                .iter()
                .filter_map(|r| {
                    r.as_message()?
                        .get_field_by_name("field")?
                        .as_str()
                        .map(String::from)
                })
                .collect();
            if accepted == 0 && !rejected.is_empty() {
                Outcome::RowsRejected(rejected)
            } else {
                Outcome::Other(format!("OK: {response:?}"))
            }
        }
        Ok(response) => Outcome::Other(format!("OK: {response:?}")),
    }
}

/// Every row of every table, as text, so that any change shows.
async fn dump(app: &TestApp) -> BTreeMap<String, Vec<String>> {
    let db = app.store.connection();
    let backend = db.get_database_backend();
    let tables_sql = match backend {
        DatabaseBackend::Postgres => {
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let tables = db
        .query_all_raw(Statement::from_string(backend, tables_sql))
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        let table: String = table.try_get("", "name").unwrap();
        let sql = match backend {
            DatabaseBackend::Postgres => format!("SELECT t::text AS row FROM \"{table}\" t"),
            _ => {
                let columns = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap();
                let quoted: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        let c: String = c.try_get("", "name").unwrap();
                        format!("quote(\"{c}\")")
                    })
                    .collect();
                format!(
                    "SELECT {} AS row FROM \"{table}\"",
                    quoted.join(" || ',' || ")
                )
            }
        };
        let mut rows: Vec<String> = db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "row").unwrap())
            .collect();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

async fn every_field_refuses_bad_values(app: TestApp) {
    seed(&app).await;
    let before = dump(&app).await;
    let seeded: usize = before.values().map(Vec::len).sum();
    assert!(seeded >= 13, "the dump shows the seeded rows: {before:?}");
    let (mut rpcs, mut messages, mut fields, mut bad, mut conflicts) = (0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    let mut accepted = Vec::new();
    let mut used = vec![false; EXCEPTIONS.len()];
    let mut seen_messages = std::collections::HashSet::new();
    for method in methods() {
        rpcs += 1;
        // TenantService answers the operator key alone, which this server does not have:
        // a tenant's key, however well formed its request, is refused before any field is
        // read. operators.rs sends it bad values field by field with the operator key.
        if method.parent_service().name() == "TenantService" {
            let message = DynamicMessage::new(method.input());
            match send(&app, &method, message, Some(&app.key)).await {
                Err(status) if status.code() == Code::Unauthenticated => {}
                Err(status) => failures.push(format!(
                    "{}: a tenant key gets {:?}, not UNAUTHENTICATED",
                    method.name(),
                    status.code()
                )),
                Ok(_) => failures.push(format!("{}: a tenant key was served", method.name())),
            }
            continue;
        }
        let valid = valid_request(&method);
        let mut field_paths = std::collections::HashSet::new();
        for case in cases(&valid, "") {
            field_paths.insert(case.path.clone());
            let exception = EXCEPTIONS
                .iter()
                .position(|e| e.covers(method.name(), &case.path, case.label));
            let what = format!("{} {} = {}", method.name(), case.path, case.label);
            if let Some(i) = exception {
                used[i] = true;
                let other = EXCEPTIONS[i].conflicts_with;
                if other.is_empty() {
                    accepted.push((method.clone(), case, i));
                } else {
                    conflicts += 1;
                    match outcome(&app, &method, case.message).await {
                        Outcome::Invalid(reported) if reported.iter().any(|r| names(r, other)) => {}
                        _ => failures.push(format!("{what}: not refused naming {other}")),
                    }
                }
                continue;
            }
            bad += 1;
            match outcome(&app, &method, case.message).await {
                Outcome::Invalid(reported) | Outcome::RowsRejected(reported)
                    if reported.iter().any(|r| names(r, &case.path)) => {}
                Outcome::Invalid(reported) | Outcome::RowsRejected(reported) => {
                    failures.push(format!("{what}: refused naming {reported:?}"))
                }
                Outcome::Other(text) => failures.push(format!(
                    "{what}: {}",
                    text.chars().take(200).collect::<String>()
                )),
            }
        }
        fields += field_paths.len();
        let mut descs = vec![method.input()];
        while let Some(d) = descs.pop() {
            if seen_messages.insert(d.full_name().to_string()) {
                descs.extend(d.fields().filter_map(|f| match f.kind() {
                    Kind::Message(m) if m.full_name().starts_with("tally.v1.") => Some(m),
                    _ => None,
                }));
            }
        }
    }
    messages += seen_messages.len();
    assert!(
        failures.is_empty(),
        "{} of {bad} bad values were not refused naming their field:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let stale: Vec<String> = EXCEPTIONS
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(e, _)| format!("{} {} {}", e.method, e.field, e.case))
        .collect();
    assert!(stale.is_empty(), "exceptions that match nothing: {stale:?}");
    assert_eq!(before, dump(&app).await, "bad calls changed stored data");
    eprintln!(
        "bad input: {rpcs} RPCs, {messages} request message types, {fields} fields; \
         {bad} bad values refused naming their field, {conflicts} refused naming the field \
         they conflict with, {} accepted by {} exception entries",
        accepted.len(),
        EXCEPTIONS.len()
    );

    // The valid requests are valid; deletions last, as they remove what others read.
    let mut all = methods();
    // TenantService takes no tenant key (checked above).
    all.retain(|m| m.parent_service().name() != "TenantService");
    all.sort_by_key(|m| m.name().starts_with("Delete"));
    for method in &all {
        match outcome(&app, method, valid_request(method)).await {
            Outcome::Other(text) if text.starts_with("OK") || text.starts_with("stream") => {}
            Outcome::Other(text) => panic!("valid {} failed: {text}", method.name()),
            Outcome::Invalid(f) | Outcome::RowsRejected(f) => {
                panic!("valid {} refused: {f:?}", method.name())
            }
        }
    }
    // The exceptions are really accepted.
    let mut refused = Vec::new();
    for (method, case, i) in accepted {
        let what = format!(
            "{} {} = {} ({})",
            method.name(),
            case.path,
            case.label,
            EXCEPTIONS[i].why
        );
        match outcome(&app, &method, case.message).await {
            Outcome::Other(text) if text.starts_with("Internal") || text.starts_with("Unknown") => {
                refused.push(format!("{what}: {text}"))
            }
            Outcome::Other(_) => {}
            Outcome::Invalid(f) | Outcome::RowsRejected(f) => {
                refused.push(format!("{what}: refused naming {f:?}"))
            }
        }
    }
    assert!(
        refused.is_empty(),
        "values in EXCEPTIONS that are not accepted:\n{}",
        refused.join("\n")
    );
    app.stop().await;
}

crate::on_both_databases!(every_field_refuses_bad_values);
