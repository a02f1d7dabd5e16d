//! Tenant isolation and authentication.
use crate::helpers::{TestApp, expect_code, with_key};
use crate::resources::{create_anna, create_campaign, smart_goal};
use tally::proto::*;
use tonic::{Code, Request};

async fn another_tenants_resources_are_not_found(app: TestApp) {
    create_anna(&app).await;
    create_campaign(&app).await;
    let goal = app
        .goals()
        .create_goal(app.req(CreateGoalRequest {
            goal: Some(smart_goal()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let other = app.other_tenant("globex").await;
    let as_other = |name: &str| with_key(GetInfluencerRequest { name: name.into() }, &other);

    expect_code(
        app.influencers()
            .get_influencer(as_other("influencers/anna"))
            .await,
        Code::NotFound,
    );
    expect_code(
        app.campaigns()
            .get_campaign(with_key(
                GetCampaignRequest {
                    name: "campaigns/spring".into(),
                },
                &other,
            ))
            .await,
        Code::NotFound,
    );
    expect_code(
        app.goals()
            .get_goal(with_key(
                GetGoalRequest {
                    name: goal.name.clone(),
                },
                &other,
            ))
            .await,
        Code::NotFound,
    );
    expect_code(
        app.influencers()
            .update_influencer(with_key(
                UpdateInfluencerRequest {
                    influencer: Some(Influencer {
                        name: "influencers/anna".into(),
                        display_name: "Hacked".into(),
                        ..Default::default()
                    }),
                    update_mask: None,
                },
                &other,
            ))
            .await,
        Code::NotFound,
    );
    expect_code(
        app.influencers()
            .delete_influencer(with_key(
                DeleteInfluencerRequest {
                    name: "influencers/anna".into(),
                    etag: String::new(),
                },
                &other,
            ))
            .await,
        Code::NotFound,
    );
    let list = app
        .influencers()
        .list_influencers(with_key(ListInfluencersRequest::default(), &other))
        .await
        .unwrap();
    assert!(list.into_inner().influencers.is_empty());
    let list = app
        .goals()
        .list_goals(with_key(ListGoalsRequest::default(), &other))
        .await
        .unwrap();
    assert!(list.into_inner().goals.is_empty());

    // The other tenant may use the same id and the same code: uniqueness is per tenant.
    let theirs = app
        .influencers()
        .create_influencer(with_key(
            CreateInfluencerRequest {
                influencer_id: "anna".into(),
                influencer: Some(Influencer {
                    display_name: "Their Anna".into(),
                    discount_codes: vec!["ANNA10".into()],
                    ..Default::default()
                }),
                ..Default::default()
            },
            &other,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(theirs.name, "influencers/anna");
    // A campaign of the other tenant cannot name our influencer as participant.
    let status = expect_code(
        app.goals()
            .create_goal(with_key(
                CreateGoalRequest {
                    goal: Some(Goal {
                        scope: "campaigns/spring".into(),
                        ..smart_goal()
                    }),
                    ..Default::default()
                },
                &other,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert!(
        status.message().contains("does not exist"),
        "{}",
        status.message()
    );

    let ours = app
        .influencers()
        .get_influencer(app.req(GetInfluencerRequest {
            name: "influencers/anna".into(),
        }))
        .await
        .unwrap();
    assert_eq!(ours.into_inner().display_name, "Anna");
}

async fn calls_without_a_valid_key_are_unauthenticated(app: TestApp) {
    let mut client = app.influencers();
    let status = expect_code(
        client
            .list_influencers(Request::new(ListInfluencersRequest::default()))
            .await,
        Code::Unauthenticated,
    );
    assert!(status.message().contains("authorization"));
    expect_code(
        client
            .list_influencers(with_key(ListInfluencersRequest::default(), "tally_wrong"))
            .await,
        Code::Unauthenticated,
    );
    let mut basic = Request::new(ListInfluencersRequest::default());
    basic.metadata_mut().insert(
        "authorization",
        format!("Basic {}", app.key).parse().unwrap(),
    );
    expect_code(client.list_influencers(basic).await, Code::Unauthenticated);
    expect_code(
        app.kpis()
            .list_kpi_definitions(Request::new(ListKpiDefinitionsRequest::default()))
            .await,
        Code::Unauthenticated,
    );

    // A revoked key stops working at once; the tenant's other keys keep working.
    let (key_id, key) = app.store.create_api_key("acme").await.unwrap();
    client
        .list_influencers(with_key(ListInfluencersRequest::default(), &key))
        .await
        .unwrap();
    app.store.revoke_api_key("acme", &key_id).await.unwrap();
    expect_code(
        client
            .list_influencers(with_key(ListInfluencersRequest::default(), &key))
            .await,
        Code::Unauthenticated,
    );
    client
        .list_influencers(app.req(ListInfluencersRequest::default()))
        .await
        .unwrap();
}

crate::on_both_databases!(
    another_tenants_resources_are_not_found,
    calls_without_a_valid_key_are_unauthenticated
);
