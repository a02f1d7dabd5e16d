//! Bad input of each kind gets INVALID_ARGUMENT naming the field, and stores nothing.
use crate::helpers::{TestApp, bad_fields};
use crate::resources::{create_anna, smart_goal};
use tally::proto::google::r#type::Date;
use tally::proto::*;

async fn bad_influencers_name_their_fields(app: TestApp) {
    let mut client = app.influencers();
    let create = |influencer: Influencer, id: &str| CreateInfluencerRequest {
        influencer: Some(influencer),
        influencer_id: id.into(),
        ..Default::default()
    };
    assert_eq!(
        bad_fields(
            client
                .create_influencer(app.req(create(Influencer::default(), "")))
                .await
        ),
        ["influencer.display_name"]
    );
    assert_eq!(
        bad_fields(
            client
                .create_influencer(app.req(create(
                    Influencer {
                        display_name: "A".into(),
                        ..Default::default()
                    },
                    "Bad_Id"
                )))
                .await
        ),
        ["influencer_id"]
    );
    let many = Influencer {
        display_name: "x".repeat(201),
        discount_codes: vec!["OK".into(), "".into(), "ok".into()],
        tags: vec!["t".repeat(65)],
        ..Default::default()
    };
    assert_eq!(
        bad_fields(client.create_influencer(app.req(create(many, ""))).await),
        [
            "influencer.display_name",
            "influencer.tags[0]",
            "influencer.discount_codes[1]",
            "influencer.discount_codes[2]"
        ]
    );
    assert_eq!(
        bad_fields(
            client
                .create_influencer(app.req(CreateInfluencerRequest::default()))
                .await
        ),
        ["influencer"]
    );
    assert_eq!(
        bad_fields(
            client
                .get_influencer(app.req(GetInfluencerRequest {
                    name: "anna".into()
                }))
                .await
        ),
        ["name"]
    );
    assert_eq!(
        bad_fields(
            client
                .update_influencer(app.req(UpdateInfluencerRequest {
                    influencer: Some(Influencer {
                        name: "influencers/anna".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["name".into(), "tags".into()]
                    }),
                }))
                .await
        ),
        ["update_mask.paths[0]"]
    );
    let list = client
        .list_influencers(app.req(ListInfluencersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(list.influencers.is_empty(), "nothing stored");
}

async fn bad_channels_and_campaigns_name_their_fields(app: TestApp) {
    create_anna(&app).await;
    let mut channels = app.channels();
    let channel = |platform: i32, owner: &str, credentials_ref: &str| CreateChannelRequest {
        channel: Some(Channel {
            display_name: "C".into(),
            platform,
            owner: owner.into(),
            account_id: "acc".into(),
            credentials_ref: credentials_ref.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        bad_fields(channels.create_channel(app.req(channel(0, "", ""))).await),
        ["channel.platform"]
    );
    assert_eq!(
        bad_fields(channels.create_channel(app.req(channel(99, "", ""))).await),
        ["channel.platform"]
    );
    assert_eq!(
        bad_fields(
            channels
                .create_channel(app.req(channel(1, "influencers/nobody", "")))
                .await
        ),
        ["channel.owner"]
    );
    assert_eq!(
        bad_fields(
            channels
                .create_channel(app.req(channel(1, "people/anna", "")))
                .await
        ),
        ["channel.owner"]
    );
    assert_eq!(
        bad_fields(
            channels
                .create_channel(app.req(channel(1, "", "token: s3cr3t")))
                .await
        ),
        ["channel.credentials_ref"]
    );

    let mut campaigns = app.campaigns();
    let campaign = |start: Date, currency: &str, influencer: &str| CreateCampaignRequest {
        campaign: Some(Campaign {
            display_name: "C".into(),
            start_date: Some(start),
            end_date: Some(Date {
                year: 2026,
                month: 3,
                day: 31,
            }),
            participants: vec![Participant {
                influencer: influencer.into(),
                fee: Some(Money {
                    currency_code: currency.into(),
                    minor_units: 100,
                }),
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let march = Date {
        year: 2026,
        month: 3,
        day: 1,
    };
    assert_eq!(
        bad_fields(
            campaigns
                .create_campaign(app.req(campaign(
                    Date {
                        year: 2026,
                        month: 2,
                        day: 30
                    },
                    "EUR",
                    "influencers/anna"
                )))
                .await
        ),
        ["campaign.start_date"]
    );
    assert_eq!(
        bad_fields(
            campaigns
                .create_campaign(app.req(campaign(march, "USD", "influencers/anna")))
                .await
        ),
        ["campaign.participants[0].fee.currency_code"]
    );
    assert_eq!(
        bad_fields(
            campaigns
                .create_campaign(app.req(campaign(march, "EUR", "influencers/ghost")))
                .await
        ),
        ["campaign.participants[0].influencer"]
    );
    let mut negative = campaign(march, "EUR", "influencers/anna");
    negative.campaign.as_mut().unwrap().participants[0]
        .fee
        .as_mut()
        .unwrap()
        .minor_units = -1;
    assert_eq!(
        bad_fields(campaigns.create_campaign(app.req(negative)).await),
        ["campaign.participants[0].fee.minor_units"]
    );
    let list = campaigns
        .list_campaigns(app.req(ListCampaignsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(list.campaigns.is_empty(), "nothing stored");
}

async fn goals_that_are_not_smart_say_why(app: TestApp) {
    create_anna(&app).await;
    let create = |goal: Goal| {
        let mut client = app.goals();
        let request = app.req(CreateGoalRequest {
            goal: Some(goal),
            ..Default::default()
        });
        async move { client.create_goal(request).await }
    };
    assert_eq!(
        bad_fields(
            create(Goal {
                kpi: "happiness".into(),
                ..smart_goal()
            })
            .await
        ),
        ["goal.kpi"]
    );
    assert_eq!(
        bad_fields(
            create(Goal {
                scope: String::new(),
                ..smart_goal()
            })
            .await
        ),
        ["goal.scope"]
    );
    assert_eq!(
        bad_fields(
            create(Goal {
                scope: "influencers/ghost".into(),
                ..smart_goal()
            })
            .await
        ),
        ["goal.scope"]
    );
    assert_eq!(
        bad_fields(
            create(Goal {
                deadline: smart_goal().start_date,
                ..smart_goal()
            })
            .await
        ),
        ["goal.deadline"]
    );
    assert_eq!(
        bad_fields(
            create(Goal {
                baseline: None,
                ..smart_goal()
            })
            .await
        ),
        ["goal.baseline.rule"],
        "a relative target without a baseline rule"
    );
    assert_eq!(
        bad_fields(
            create(Goal {
                direction: 0,
                ..smart_goal()
            })
            .await
        ),
        ["goal.direction"]
    );
    assert_eq!(
        bad_fields(
            create(Goal {
                target: None,
                ..smart_goal()
            })
            .await
        ),
        ["goal.target"]
    );
    assert_eq!(
        bad_fields(
            create(Goal {
                objective: Objective::BrandAwareness as i32,
                ..smart_goal()
            })
            .await
        ),
        ["goal.objective"]
    );
    assert_eq!(
        bad_fields(
            create(Goal {
                start_date: Some(Date {
                    year: 2026,
                    month: 13,
                    day: 1
                }),
                ..smart_goal()
            })
            .await
        ),
        ["goal.start_date"]
    );
    // Several problems are reported together.
    let fields = bad_fields(
        create(Goal {
            kpi: String::new(),
            owner: String::new(),
            direction: 0,
            ..smart_goal()
        })
        .await,
    );
    assert_eq!(fields, ["goal.owner", "goal.kpi", "goal.direction"]);
    let list = app
        .goals()
        .list_goals(app.req(ListGoalsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(list.goals.is_empty(), "nothing stored");
}

/// Issue 20, item 13: a unique violation that reaches the database (a concurrent write
/// won the race) reached callers as ALREADY_EXISTS with the database's own message, which
/// names the table and its key. It must say what happened, that a retry may work, and
/// nothing of the schema.
async fn a_unique_violation_names_no_constraint_and_says_retry(app: TestApp) {
    use sea_orm::{EntityTrait, Set};
    use tally::storage::entities::kpi_snapshot_day;
    use tonic_types::StatusExt;
    let row = || kpi_snapshot_day::ActiveModel {
        tenant_id: Set("acme".into()),
        day: Set(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
        compute_time: Set(chrono::Utc::now()),
    };
    let db = app.store.connection();
    kpi_snapshot_day::Entity::insert(row())
        .exec_without_returning(db)
        .await
        .unwrap();
    let err = kpi_snapshot_day::Entity::insert(row())
        .exec_without_returning(db)
        .await
        .unwrap_err();
    let raw = err.to_string();
    let status = tonic::Status::from(tally::api::ApiError::from(
        tally::storage::StorageError::from(err),
    ));
    let message = status.message().to_lowercase();
    for internal in [
        "kpi_snapshot_days",
        "pkey",
        "constraint",
        "unique",
        "tenant_id",
    ] {
        assert!(
            !message.contains(internal),
            "{internal:?} in {:?} (from {raw:?})",
            status.message()
        );
    }
    assert_eq!(status.code(), tonic::Code::Aborted, "{}", status.message());
    assert!(message.contains("retry"), "{}", status.message());
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "CONCURRENT_WRITE");
    assert!(details.retry_info().is_some());
}

crate::on_both_databases!(
    bad_influencers_name_their_fields,
    bad_channels_and_campaigns_name_their_fields,
    goals_that_are_not_smart_say_why,
    a_unique_violation_names_no_constraint_and_says_retry,
);
