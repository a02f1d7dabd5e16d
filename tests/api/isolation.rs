//! Isolation by construction: every RPC of every tally.v1 service, found in the compiled
//! descriptor (so a new RPC is covered without editing this test), is called with another
//! tenant's key on tenant A's resource names, and without a key.
use crate::dynamic::{call, date, methods};
use crate::helpers::{TestApp, TestDb};
use chrono::NaiveDate;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, MethodDescriptor, Value};
use sea_orm::EntityTrait;
use tally::domain::campaign::Campaign;
use tally::domain::catalogue::Objective;
use tally::domain::channel::{Channel, Platform};
use tally::domain::goal::{Baseline, Direction, Goal, Target};
use tally::domain::influencer::Influencer;
use tally::domain::segment::Segment;
use tally::kpi::custom::CustomKpi;
use tonic::Code;

/// Text that only tenant A's resources carry: no response to anyone else may contain it.
const SECRET: &str = "SECRETA";

/// Tenant A's resources, each carrying [`SECRET`] where a response would show it.
struct Seeded {
    run: String,
}

async fn seed_tenant_a(app: &TestApp) -> Seeded {
    let s = &app.store;
    let influencer = Influencer {
        display_name: format!("{SECRET} Anna"),
        tags: vec![SECRET.to_lowercase()],
        discount_codes: vec![format!("{SECRET}10")],
        tracking_values: vec![],
    };
    s.create_influencer("acme", "anna", &influencer, None)
        .await
        .unwrap();
    let channel = Channel {
        display_name: format!("{SECRET} channel"),
        platform: Platform::Instagram,
        owner: Some("anna".into()),
        account_id: format!("{SECRET}-account"),
        credentials_ref: String::new(),
    };
    s.create_channel("acme", "anna-ig", &channel, None)
        .await
        .unwrap();
    let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let campaign = Campaign {
        display_name: format!("{SECRET} campaign"),
        start_date: day(1),
        end_date: day(10),
        participants: vec![],
        giveaways: vec![],
    };
    s.create_campaign("acme", "spring", &campaign, None)
        .await
        .unwrap();
    let segment = Segment {
        display_name: format!("{SECRET} fans"),
        rule: "age >= 18".into(),
    };
    s.create_segment("acme", "fans", &segment, None)
        .await
        .unwrap();
    let custom = CustomKpi {
        display_name: format!("{SECRET} KPI"),
        description: String::new(),
        unit: "ratio".into(),
        formula: "likes / posts".into(),
        version: 1,
    };
    s.create_custom_kpi("acme", "ck", &custom).await.unwrap();
    let goal = Goal {
        display_name: format!("{SECRET} goal"),
        objective: Some(Objective::BrandAwareness),
        kpi: "followers".into(),
        scope: "influencers/anna".into(),
        segment: None,
        baseline: Baseline::Fixed(1.0),
        target: Some(Target::Absolute(2.0)),
        direction: Some(Direction::Up),
        start_date: Some(day(1)),
        deadline: Some(day(30)),
        owner: SECRET.into(),
        trailing_days: None,
    };
    let scope = goal.validate().unwrap();
    s.create_goal("acme", "g1", &goal, &scope, None)
        .await
        .unwrap();
    let run = "run-0000000000000000000000000000a0a0".to_string();
    s.create_run(
        "acme",
        &tally::storage::jobs::NewRun {
            id: run.clone(),
            job: "backfill".into(),
            first_day: day(1),
            last_day: day(1),
            forced: false,
            owner: SECRET.into(),
            lease_until: chrono::Utc::now(),
        },
        &format!("{{\"days\":[],\"note\":\"{SECRET}\"}}"),
    )
    .await
    .unwrap();
    s.upsert_orders(
        "acme",
        &[tally::domain::observation::Order {
            order_id: ORDER.into(),
            customer_key: Some("c:1".into()),
            placed_at: chrono::Utc::now(),
            day: day(1),
            revenue_minor: 100,
            cost_minor: 0,
            discount_minor: 0,
            currency: "EUR".into(),
            codes: vec![format!("{SECRET}10")],
            utm_source: String::new(),
            utm_medium: String::new(),
            utm_campaign: String::new(),
        }],
    )
    .await
    .unwrap();
    Seeded { run }
}

/// Tenant A's order: DeleteOrders names orders by id, not by resource name.
const ORDER: &str = "order-of-a";

/// The resource a method's `name` field refers to, in tenant A.
fn resource(method: &MethodDescriptor, seeded: &Seeded) -> String {
    match (method.parent_service().name(), method.name()) {
        ("InfluencerService", _) => "influencers/anna".into(),
        ("ChannelService", _) => "channels/anna-ig".into(),
        ("CampaignService", _) => "campaigns/spring".into(),
        ("SegmentService", _) => "segments/fans".into(),
        ("GoalService", _) => "goals/g1".into(),
        ("KpiService", _) => "kpiDefinitions/ck".into(),
        ("JobService", "RunJob") => "jobs/nightly".into(),
        ("JobService", _) => format!("jobRuns/{}", seeded.run),
        _ => String::new(),
    }
}

/// A request that points at tenant A's resources wherever a field names one.
fn request(desc: &MessageDescriptor, name: &str, depth: usize) -> DynamicMessage {
    let mut m = DynamicMessage::new(desc.clone());
    for field in desc.fields() {
        let fname = field.name();
        match field.kind() {
            Kind::String if field.is_list() && fname == "goals" => {
                m.set_field(&field, Value::List(vec![Value::String("goals/g1".into())]));
            }
            Kind::String if field.is_list() && fname == "order_ids" => {
                m.set_field(&field, Value::List(vec![Value::String(ORDER.into())]));
            }
            Kind::String if field.is_list() => {}
            Kind::String => {
                let value = match fname {
                    "name" => name.to_string(),
                    "parent" => "goals/g1".into(),
                    "scope" => "influencers/anna".into(),
                    "kpi" => "followers".into(),
                    _ => continue,
                };
                m.set_field(&field, Value::String(value));
            }
            Kind::Message(inner) => {
                let value = match inner.full_name() {
                    "google.type.Date" => {
                        let d = if fname.contains("last") || fname == "deadline" {
                            2
                        } else {
                            1
                        };
                        date(NaiveDate::from_ymd_opt(2026, 11, d).unwrap(), &inner)
                    }
                    "google.protobuf.FieldMask" => {
                        let mut mask = DynamicMessage::new(inner.clone());
                        mask.set_field_by_name(
                            "paths",
                            Value::List(vec![Value::String("display_name".into())]),
                        );
                        mask
                    }
                    full if full.starts_with("tally.v1.") && depth < 2 => {
                        request(&inner, name, depth + 1)
                    }
                    _ => continue,
                };
                if field.is_list() {
                    m.set_field(&field, Value::List(vec![Value::Message(value)]));
                } else {
                    m.set_field(&field, Value::Message(value));
                }
            }
            _ => {}
        }
    }
    m
}

async fn another_tenant_never_sees_tenant_a(app: TestApp) {
    let seeded = seed_tenant_a(&app).await;
    let intruder = app.other_tenant("intruder").await;
    let mut checked = 0;
    let mut seen_by_a: Vec<String> = Vec::new();
    for method in methods() {
        let name = resource(&method, &seeded);
        let message = request(&method.input(), &name, 0);
        let (code, text) = call(&app, &method, message.clone(), Some(&intruder)).await;
        let what = format!("{} as another tenant: {code:?} {text}", method.full_name());
        assert!(!text.contains(SECRET), "{what}");
        // The operator's service takes no tenant key at all (operators.rs tests it with the
        // operator key): a tenant is refused before anything is read.
        if method.parent_service().name() == "TenantService" {
            assert_eq!(code, Code::Unauthenticated, "{what}");
            checked += 1;
            continue;
        }
        assert!(
            matches!(
                code,
                Code::Ok | Code::NotFound | Code::InvalidArgument | Code::FailedPrecondition
            ),
            "{what}"
        );
        // Reads by name must be NOT_FOUND, proving the name pointed at A's resource.
        // DeleteOrders is idempotent by order id: another tenant's call finds nothing to
        // remove (checked below), and says so with OK.
        let reads_by_name = method.name().starts_with("Get")
            || method.name().starts_with("Update")
            || (method.name().starts_with("Delete") && method.name() != "DeleteOrders")
            || method.name() == "CancelJobRun"
            || method.name() == "ListGoalEvaluations"
            || method.name() == "WatchGoals";
        if reads_by_name {
            assert_eq!(code, Code::NotFound, "{what}");
            // ... and tenant A's own key finds it (reads only: nothing of A's is changed).
            if method.name().starts_with("Get") {
                let (own, text) = call(&app, &method, message, Some(&app.key)).await;
                assert_ne!(
                    own,
                    Code::NotFound,
                    "{} as tenant A: {text}",
                    method.full_name()
                );
                if text.contains(SECRET) {
                    seen_by_a.push(method.name().to_string());
                }
            }
        }
        checked += 1;
    }
    assert!(checked > 40);
    // The marker is visible where it should be: A reads its own resources.
    for get in [
        "GetInfluencer",
        "GetChannel",
        "GetCampaign",
        "GetSegment",
        "GetGoal",
        "GetKpiDefinition",
        "GetJobRun",
    ] {
        assert!(seen_by_a.iter().any(|m| m == get), "{get}: {seen_by_a:?}");
    }
    // Nothing of A's changed hands: A's goal and influencer are still there and intact.
    let goal = app.store.get_goal("acme", "g1").await.unwrap();
    assert!(goal.spec.display_name.starts_with(SECRET));
    assert!(app.store.get_influencer("acme", "anna").await.is_ok());
    let orders = tally::storage::entities::order::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    assert!(
        orders
            .iter()
            .any(|o| o.tenant_id == "acme" && o.order_id == ORDER),
        "another tenant's DeleteOrders removed A's order"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_rpc_needs_a_key() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let seeded = seed_tenant_a(&app).await;
    for method in methods() {
        let message = request(&method.input(), &resource(&method, &seeded), 0);
        let (code, text) = call(&app, &method, message, None).await;
        assert_eq!(
            code,
            Code::Unauthenticated,
            "{}: {text}",
            method.full_name()
        );
    }
    app.stop().await;
}

crate::on_both_databases!(another_tenant_never_sees_tenant_a);
