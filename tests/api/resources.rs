//! Round trips of every resource: create, get, list, update with a field mask, delete.
use crate::helpers::{TestApp, bad_fields, expect_code};
use tally::proto::google::r#type::Date;
use tally::proto::*;
use tonic::Code;

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

pub async fn create_anna(app: &TestApp) -> Influencer {
    app.influencers()
        .create_influencer(app.req(CreateInfluencerRequest {
            influencer_id: "anna".into(),
            influencer: Some(Influencer {
                display_name: "Anna".into(),
                tags: vec!["Fashion".into()],
                discount_codes: vec!["ANNA10".into()],
                tracking_values: vec![TrackingValue {
                    utm_source: "instagram".into(),
                    utm_campaign: "anna".into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .expect("create anna")
        .into_inner()
}

async fn influencer_round_trip(app: TestApp) {
    let created = create_anna(&app).await;
    assert_eq!(created.name, "influencers/anna");
    assert_eq!(created.tags, ["fashion"]);
    assert_eq!(created.discount_codes, ["ANNA10"]);
    assert!(created.create_time.is_some());
    assert!(!created.etag.is_empty());

    let mut client = app.influencers();
    let got = client
        .get_influencer(app.req(GetInfluencerRequest {
            name: "influencers/anna".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, created);

    // Only the masked field changes, although the message carries others.
    let updated = client
        .update_influencer(app.req(UpdateInfluencerRequest {
            influencer: Some(Influencer {
                name: "influencers/anna".into(),
                display_name: "Anna B.".into(),
                discount_codes: vec!["IGNORED".into()],
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["display_name"]),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.display_name, "Anna B.");
    assert_eq!(updated.discount_codes, ["ANNA10"]);
    assert_eq!(updated.tracking_values, created.tracking_values);
    assert_ne!(updated.etag, created.etag);

    // An empty mask updates the fields the message sets.
    let updated = client
        .update_influencer(app.req(UpdateInfluencerRequest {
            influencer: Some(Influencer {
                name: "influencers/anna".into(),
                discount_codes: vec!["ANNA20".into(), "anna-summer".into()],
                ..Default::default()
            }),
            update_mask: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.display_name, "Anna B.");
    assert_eq!(updated.discount_codes, ["ANNA20", "anna-summer"]);

    let list = client
        .list_influencers(app.req(ListInfluencersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.influencers, [updated]);
    assert_eq!(list.next_page_token, "");

    client
        .delete_influencer(app.req(DeleteInfluencerRequest {
            name: "influencers/anna".into(),
            etag: String::new(),
        }))
        .await
        .unwrap();
    expect_code(
        client
            .get_influencer(app.req(GetInfluencerRequest {
                name: "influencers/anna".into(),
            }))
            .await,
        Code::NotFound,
    );
    expect_code(
        client
            .delete_influencer(app.req(DeleteInfluencerRequest {
                name: "influencers/anna".into(),
                etag: String::new(),
            }))
            .await,
        Code::NotFound,
    );
}

async fn codes_are_unique_per_tenant_case_insensitively(app: TestApp) {
    create_anna(&app).await;
    let status = expect_code(
        app.influencers()
            .create_influencer(app.req(CreateInfluencerRequest {
                influencer: Some(Influencer {
                    display_name: "Bob".into(),
                    discount_codes: vec!["BOB5".into(), " anna10 ".into()],
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await,
        Code::AlreadyExists,
    );
    assert!(status.message().contains("ANNA10"), "{}", status.message());
    assert!(
        status.message().contains("influencers/anna"),
        "{}",
        status.message()
    );
    // Nothing of the refused influencer was stored.
    let list = app
        .influencers()
        .list_influencers(app.req(ListInfluencersRequest::default()))
        .await
        .unwrap();
    assert_eq!(list.into_inner().influencers.len(), 1);

    let status = expect_code(
        app.influencers()
            .create_influencer(app.req(CreateInfluencerRequest {
                influencer: Some(Influencer {
                    display_name: "Bob".into(),
                    tracking_values: vec![TrackingValue {
                        utm_source: "Instagram".into(),
                        utm_campaign: "ANNA".into(),
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await,
        Code::AlreadyExists,
    );
    assert!(
        status.message().contains("tracking value"),
        "{}",
        status.message()
    );
}

async fn channel_round_trip(app: TestApp) {
    create_anna(&app).await;
    let mut client = app.channels();
    let created = client
        .create_channel(app.req(CreateChannelRequest {
            channel_id: "anna-ig".into(),
            channel: Some(Channel {
                display_name: "Anna on Instagram".into(),
                platform: Platform::Instagram as i32,
                owner: "influencers/anna".into(),
                account_id: "17841400000000".into(),
                credentials_ref: "INSTAGRAM_TOKEN_ANNA".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "channels/anna-ig");
    assert_eq!(created.owner, "influencers/anna");
    let brand = client
        .create_channel(app.req(CreateChannelRequest {
            channel: Some(Channel {
                display_name: "Brand site".into(),
                platform: Platform::Website as i32,
                account_id: "https://acme.example".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(brand.name.starts_with("channels/c"));
    assert_eq!(brand.owner, "");

    let of_anna = client
        .list_channels(app.req(ListChannelsRequest {
            owner: "influencers/anna".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(of_anna.channels, std::slice::from_ref(&created));
    let of_brand = client
        .list_channels(app.req(ListChannelsRequest {
            owner: "brand".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(of_brand.channels, std::slice::from_ref(&brand));

    let updated = client
        .update_channel(app.req(UpdateChannelRequest {
            channel: Some(Channel {
                name: created.name.clone(),
                owner: String::new(),
                ..Default::default()
            }),
            update_mask: mask(&["owner"]),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.owner, "");
    assert_eq!(updated.account_id, created.account_id);

    // The same account on the same platform is one channel.
    let status = expect_code(
        client
            .create_channel(app.req(CreateChannelRequest {
                channel: Some(Channel {
                    display_name: "Duplicate".into(),
                    platform: Platform::Instagram as i32,
                    account_id: "17841400000000".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await,
        Code::AlreadyExists,
    );
    assert!(status.message().contains("channels/anna-ig"));

    client
        .delete_channel(app.req(DeleteChannelRequest {
            name: brand.name,
            etag: brand.etag,
        }))
        .await
        .unwrap();
    let all = client
        .list_channels(app.req(ListChannelsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.channels.len(), 1);
}

pub async fn create_campaign(app: &TestApp) -> Campaign {
    app.campaigns()
        .create_campaign(app.req(CreateCampaignRequest {
            campaign_id: "spring".into(),
            campaign: Some(Campaign {
                display_name: "Spring launch".into(),
                start_date: date(2026, 3, 1),
                end_date: date(2026, 3, 31),
                participants: vec![Participant {
                    influencer: "influencers/anna".into(),
                    fee: Some(Money {
                        currency_code: "EUR".into(),
                        minor_units: 150_000,
                    }),
                }],
                giveaways: vec![Giveaway {
                    giveaway_id: "spring-box".into(),
                    display_name: "Spring box".into(),
                    host: "influencers/anna".into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .expect("create campaign")
        .into_inner()
}

async fn campaign_round_trip(app: TestApp) {
    create_anna(&app).await;
    let created = create_campaign(&app).await;
    assert_eq!(created.participants.len(), 1);
    assert_eq!(
        created.participants[0].fee.as_ref().unwrap().minor_units,
        150_000
    );
    assert_eq!(created.giveaways[0].host, "influencers/anna");

    let mut client = app.campaigns();
    let got = client
        .get_campaign(app.req(GetCampaignRequest {
            name: "campaigns/spring".into(),
        }))
        .await
        .unwrap();
    assert_eq!(got.into_inner(), created);

    let updated = client
        .update_campaign(app.req(UpdateCampaignRequest {
            campaign: Some(Campaign {
                name: "campaigns/spring".into(),
                end_date: date(2026, 4, 15),
                giveaways: vec![],
                ..Default::default()
            }),
            update_mask: mask(&["end_date", "giveaways"]),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.end_date, date(2026, 4, 15));
    assert!(updated.giveaways.is_empty());
    assert_eq!(updated.participants, created.participants);

    let fields = bad_fields(
        client
            .update_campaign(app.req(UpdateCampaignRequest {
                campaign: Some(Campaign {
                    name: "campaigns/spring".into(),
                    end_date: date(2026, 2, 1),
                    ..Default::default()
                }),
                update_mask: mask(&["end_date"]),
            }))
            .await,
    );
    assert_eq!(fields, ["campaign.end_date"]);

    client
        .delete_campaign(app.req(DeleteCampaignRequest {
            name: "campaigns/spring".into(),
            etag: updated.etag,
        }))
        .await
        .unwrap();
    let list = client
        .list_campaigns(app.req(ListCampaignsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(list.campaigns.is_empty());
}

async fn segment_round_trip(app: TestApp) {
    let mut client = app.segments();
    let created = client
        .create_segment(app.req(CreateSegmentRequest {
            segment_id: "designers".into(),
            segment: Some(Segment {
                display_name: "Designers".into(),
                rule: "bio contains \"design\" AND (followers >= 1000 or is_customer)".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created.rule,
        "bio contains \"design\" AND (followers >= 1000 or is_customer)"
    );
    assert!(
        created.canonical_rule.contains("and"),
        "{}",
        created.canonical_rule
    );

    let status = client
        .update_segment(app.req(UpdateSegmentRequest {
            segment: Some(Segment {
                name: created.name.clone(),
                rule: "age between 25 and".into(),
                ..Default::default()
            }),
            update_mask: mask(&["rule"]),
        }))
        .await;
    let status = expect_code(status, Code::InvalidArgument);
    assert!(
        status.message().contains("column 19"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("expected"),
        "{}",
        status.message()
    );

    let updated = client
        .update_segment(app.req(UpdateSegmentRequest {
            segment: Some(Segment {
                name: created.name.clone(),
                rule: "age between 25 and 30".into(),
                ..Default::default()
            }),
            update_mask: mask(&["rule"]),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.display_name, "Designers");
    assert_eq!(updated.rule, "age between 25 and 30");

    client
        .delete_segment(app.req(DeleteSegmentRequest {
            name: created.name.clone(),
            etag: String::new(),
        }))
        .await
        .unwrap();
    expect_code(
        client
            .get_segment(app.req(GetSegmentRequest { name: created.name }))
            .await,
        Code::NotFound,
    );
}

pub fn smart_goal() -> Goal {
    Goal {
        display_name: "More returning buyers through Anna".into(),
        objective: Objective::LoyalCustomers as i32,
        kpi: "returning_buyer_rate".into(),
        scope: "influencers/anna".into(),
        baseline: Some(Baseline {
            rule: BaselineRule::KpiBeforeStart as i32,
            value: 0.0,
        }),
        target: Some(Target {
            kind: Some(target::Kind::RelativeChangePercent(20.0)),
        }),
        direction: Direction::Up as i32,
        start_date: date(2026, 1, 1),
        deadline: date(2026, 12, 31),
        owner: "Head of marketing".into(),
        ..Default::default()
    }
}

async fn goal_round_trip(app: TestApp) {
    create_anna(&app).await;
    let mut client = app.goals();
    let created = client
        .create_goal(app.req(CreateGoalRequest {
            goal_id: "loyal".into(),
            goal: Some(smart_goal()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "goals/loyal");
    assert_eq!(created.scope, "influencers/anna");
    assert_eq!(created.target, smart_goal().target);

    let updated = client
        .update_goal(app.req(UpdateGoalRequest {
            goal: Some(Goal {
                name: "goals/loyal".into(),
                target: Some(Target {
                    kind: Some(target::Kind::AbsoluteValue(35.0)),
                }),
                baseline: Some(Baseline {
                    rule: BaselineRule::Fixed as i32,
                    value: 25.0,
                }),
                ..Default::default()
            }),
            update_mask: mask(&["target", "baseline"]),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        updated.target.unwrap().kind,
        Some(target::Kind::AbsoluteValue(35.0))
    );
    assert_eq!(updated.baseline.unwrap().value, 25.0);
    assert_eq!(updated.kpi, "returning_buyer_rate");

    // An audience goal names an existing segment.
    let mut audience = smart_goal();
    audience.objective = Objective::NewAudience as i32;
    audience.kpi = "target_audience_visitors".into();
    audience.scope = "tenant".into();
    audience.segment = "segments/nobody".into();
    let fields = bad_fields(
        client
            .create_goal(app.req(CreateGoalRequest {
                goal: Some(audience),
                ..Default::default()
            }))
            .await,
    );
    assert_eq!(fields, ["goal.segment"]);

    let list = client
        .list_goals(app.req(ListGoalsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.goals.len(), 1);
    client
        .delete_goal(app.req(DeleteGoalRequest {
            name: "goals/loyal".into(),
            etag: String::new(),
        }))
        .await
        .unwrap();
}

async fn kpi_catalogue_and_suggestions(app: TestApp) {
    let mut client = app.kpis();
    let all = client
        .list_kpi_definitions(app.req(ListKpiDefinitionsRequest {
            page_size: 1000,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.kpi_definitions.len(), 37);
    let ipm = all.kpi_definitions.iter().find(|d| d.id == "ipm").unwrap();
    assert_eq!(ipm.tier, Tier::Composite as i32);
    assert_eq!(ipm.roll_up, RollUp::Ratio as i32);
    assert_eq!(ipm.name, "kpiDefinitions/ipm");

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_kpi_definitions(app.req(ListKpiDefinitionsRequest {
                page_size: 10,
                page_token: token,
            }))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.kpi_definitions.into_iter().map(|d| d.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        all.kpi_definitions
            .iter()
            .map(|d| d.id.clone())
            .collect::<Vec<_>>()
    );

    let got = client
        .get_kpi_definition(app.req(GetKpiDefinitionRequest {
            name: "kpiDefinitions/roas".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.unit, "ratio");
    expect_code(
        client
            .get_kpi_definition(app.req(GetKpiDefinitionRequest {
                name: "kpiDefinitions/nope".into(),
            }))
            .await,
        Code::NotFound,
    );

    let suggestions = client
        .suggest_kpis(app.req(SuggestKpisRequest {
            objective: Objective::LoyalCustomers as i32,
        }))
        .await
        .unwrap()
        .into_inner()
        .suggestions;
    assert!((3..=5).contains(&suggestions.len()));
    assert_eq!(
        suggestions[0].kpi_definition.as_ref().unwrap().id,
        "returning_buyer_rate"
    );
    assert!(suggestions.iter().all(|s| !s.reason.is_empty()));
    assert_eq!(
        bad_fields(
            client
                .suggest_kpis(app.req(SuggestKpisRequest { objective: 0 }))
                .await
        ),
        ["objective"]
    );
}

async fn delete_refuses_resources_in_use(app: TestApp) {
    create_anna(&app).await;
    create_campaign(&app).await;
    app.goals()
        .create_goal(app.req(CreateGoalRequest {
            goal_id: "loyal".into(),
            goal: Some(smart_goal()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let status = expect_code(
        app.influencers()
            .delete_influencer(app.req(DeleteInfluencerRequest {
                name: "influencers/anna".into(),
                etag: String::new(),
            }))
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains("goals/loyal"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("campaigns/spring"),
        "{}",
        status.message()
    );
    // Still there, codes included.
    let anna = app
        .influencers()
        .get_influencer(app.req(GetInfluencerRequest {
            name: "influencers/anna".into(),
        }))
        .await
        .unwrap();
    assert_eq!(anna.into_inner().discount_codes, ["ANNA10"]);
}

crate::on_both_databases!(
    influencer_round_trip,
    codes_are_unique_per_tenant_case_insensitively,
    channel_round_trip,
    campaign_round_trip,
    segment_round_trip,
    goal_round_trip,
    kpi_catalogue_and_suggestions,
    delete_refuses_resources_in_use,
);
