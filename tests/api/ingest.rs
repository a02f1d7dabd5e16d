//! IngestService: every kind round-trips, upserts are idempotent, bad rows are rejected
//! with their reasons and leave stored data unchanged, tenants stay apart.
use crate::helpers::{TestApp, bad_fields, with_key};
use crate::resources::{create_anna, create_campaign};
use ::tally::proto::google::r#type::Date;
use ::tally::proto::*;
use ::tally::storage::entities as e;
use sea_orm::EntityTrait;

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

fn ts(rfc3339: &str) -> Option<prost_types::Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

async fn create_channel(app: &TestApp) {
    app.channels()
        .create_channel(app.req(CreateChannelRequest {
            channel_id: "anna-ig".into(),
            channel: Some(Channel {
                display_name: "Anna IG".into(),
                platform: Platform::Instagram as i32,
                owner: "influencers/anna".into(),
                account_id: "anna".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
}

fn stats(day: i32, followers: Option<i64>, likes: i64) -> ChannelDayStats {
    ChannelDayStats {
        channel: "channels/anna-ig".into(),
        day: date(2026, 3, day),
        followers,
        posts: Some(1),
        likes: Some(likes),
        ..Default::default()
    }
}

async fn count<E: EntityTrait>(app: &TestApp) -> usize
where
    E::Model: Sync,
{
    E::find().all(app.store.connection()).await.unwrap().len()
}

async fn channel_stats_upsert_idempotently_and_take_corrections(app: TestApp) {
    create_anna(&app).await;
    create_channel(&app).await;
    let mut client = app.ingest();
    let batch = || IngestChannelStatsRequest {
        rows: vec![stats(1, Some(1000), 10), stats(2, None, 12)],
        all_or_nothing: false,
    };
    let response = client
        .ingest_channel_stats(app.req(batch()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.accepted_count, response.rejected_count), (2, 0));
    client.ingest_channel_stats(app.req(batch())).await.unwrap();
    assert_eq!(
        count::<e::channel_day_stat::Entity>(&app).await,
        2,
        "the same batch twice changes nothing"
    );

    // A corrected row replaces the stored one; a later row in a batch wins.
    let corrected = IngestChannelStatsRequest {
        rows: vec![stats(2, Some(1010), 99), stats(2, Some(1011), 13)],
        all_or_nothing: false,
    };
    let response = client
        .ingest_channel_stats(app.req(corrected))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.accepted_count, 2);
    let rows = e::channel_day_stat::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let day2 = rows
        .iter()
        .find(|r| r.day.to_string() == "2026-03-02")
        .unwrap();
    assert_eq!(
        (day2.followers, day2.likes, day2.shares),
        (Some(1011), Some(13), None),
        "unreported stays NULL"
    );
}

async fn bad_rows_are_rejected_with_reasons_and_change_nothing(app: TestApp) {
    create_anna(&app).await;
    create_channel(&app).await;
    let mut client = app.ingest();
    client
        .ingest_channel_stats(app.req(IngestChannelStatsRequest {
            rows: vec![stats(1, Some(1000), 10)],
            all_or_nothing: false,
        }))
        .await
        .unwrap();

    let mut negative = stats(1, Some(5), 10);
    negative.likes = Some(-3);
    let mut bad_date = stats(1, Some(5), 10);
    bad_date.day = date(2026, 2, 30);
    let mut unknown = stats(1, Some(5), 10);
    unknown.channel = "channels/nope".into();
    let request = IngestChannelStatsRequest {
        rows: vec![negative, stats(3, Some(1020), 1), bad_date, unknown],
        all_or_nothing: true,
    };
    let response = client
        .ingest_channel_stats(app.req(request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (response.accepted_count, response.rejected_count),
        (0, 3),
        "all or nothing"
    );
    let reasons: Vec<(i32, &str)> = response
        .rejected
        .iter()
        .map(|r| (r.index, r.field.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (0, "rows[0].likes"),
            (2, "rows[2].day"),
            (3, "rows[3].channel")
        ]
    );
    assert!(response.rejected[0].reason.contains("negative"));
    assert!(response.rejected[1].reason.contains("2026-02-30"));
    assert!(response.rejected[2].reason.contains("does not exist"));
    let rows = e::channel_day_stat::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "nothing of the batch was written");
    assert_eq!(rows[0].followers, Some(1000), "the stored row is unchanged");

    // Row by row: the good row goes in, the bad ones are reported.
    let mut negative = stats(4, Some(5), 1);
    negative.followers = Some(-1);
    let response = client
        .ingest_channel_stats(app.req(IngestChannelStatsRequest {
            rows: vec![stats(3, Some(1020), 1), negative],
            all_or_nothing: false,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.accepted_count, response.rejected_count), (1, 1));
    assert_eq!(count::<e::channel_day_stat::Entity>(&app).await, 2);

    let oversized = IngestChannelStatsRequest {
        rows: vec![stats(1, None, 1); 10_001],
        all_or_nothing: false,
    };
    assert_eq!(
        bad_fields(client.ingest_channel_stats(app.req(oversized)).await),
        ["rows"]
    );
    assert_eq!(count::<e::channel_day_stat::Entity>(&app).await, 2);

    // A request over the server's message limit is refused before any handler runs.
    let mut huge = stats(4, Some(1), 1);
    huge.channel = "x".repeat(::tally::api::ingest::MAX_MESSAGE_BYTES + 1);
    let status = client
        .ingest_channel_stats(app.req(IngestChannelStatsRequest {
            rows: vec![huge],
            all_or_nothing: false,
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
    assert_eq!(count::<e::channel_day_stat::Entity>(&app).await, 2);
}

fn order(id: &str, customer: &str, placed_at: &str, currency: &str, codes: &[&str]) -> Order {
    Order {
        order_id: id.into(),
        customer_id: customer.into(),
        placed_at: ts(placed_at),
        currency_code: currency.into(),
        revenue_minor: 4_999,
        cost_of_goods_minor: 2_000,
        discount_minor: 500,
        discount_codes: codes.iter().map(|c| c.to_string()).collect(),
        utm_source: "Instagram".into(),
        utm_campaign: "Anna".into(),
        ..Default::default()
    }
}

async fn orders_round_trip_on_the_tenants_day(app: TestApp) {
    let mut client = app.ingest();
    let guest = Order {
        customer_email: " Guest@Example.com ".into(),
        ..order("1002", "", "2026-03-01T23:30:00Z", "EUR", &[])
    };
    let request = IngestOrdersRequest {
        rows: vec![
            order(
                "1001",
                "c-1",
                "2026-03-01T10:00:00Z",
                "eur",
                &["ANNA10", "welcome"],
            ),
            guest,
            order("1003", "c-2", "2026-03-01T10:00:00Z", "USD", &[]),
            order("1004", "c-2", "2026-03-01T10:00:00Z", "XYZ", &[]),
            Order {
                placed_at: None,
                ..order("1005", "c-3", "2026-03-01T10:00:00Z", "EUR", &[])
            },
            Order {
                revenue_minor: -1,
                ..order("1006", "c-3", "2026-03-01T10:00:00Z", "EUR", &[])
            },
        ],
        all_or_nothing: false,
    };
    let response = client
        .ingest_orders(app.req(request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.accepted_count, response.rejected_count), (2, 4));
    let fields: Vec<&str> = response.rejected.iter().map(|r| r.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "rows[2].currency_code",
            "rows[3].currency_code",
            "rows[4].placed_at",
            "rows[5].revenue_minor"
        ]
    );
    assert!(response.rejected[1].reason.contains("ISO 4217"));

    let orders = e::order::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    let first = orders.iter().find(|o| o.order_id == "1001").unwrap();
    assert_eq!(first.customer_key.as_deref(), Some("c:c-1"));
    assert_eq!(first.currency, "EUR");
    assert_eq!(first.source_key, "instagram");
    let guest = orders.iter().find(|o| o.order_id == "1002").unwrap();
    assert!(guest.customer_key.as_deref().unwrap().starts_with("e:"));
    assert!(
        !format!("{guest:?}").to_lowercase().contains("example.com"),
        "no e-mail in clear"
    );
    assert_eq!(
        guest.day.to_string(),
        "2026-03-01",
        "UTC tenant: 23:30 UTC is still March 1"
    );
    let codes = e::order_code::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    let mut codes: Vec<(String, i32, String)> = codes
        .into_iter()
        .map(|c| (c.order_id, c.position, c.code_key))
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            ("1001".into(), 0, "anna10".into()),
            ("1001".into(), 1, "welcome".into())
        ]
    );

    // A corrected order replaces its codes.
    client
        .ingest_orders(app.req(IngestOrdersRequest {
            rows: vec![order(
                "1001",
                "c-1",
                "2026-03-01T10:00:00Z",
                "EUR",
                &["BOB5"],
            )],
            all_or_nothing: false,
        }))
        .await
        .unwrap();
    let codes = e::order_code::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].code, "BOB5");
    assert_eq!(count::<e::order::Entity>(&app).await, 2);
}

async fn web_audience_interactions_giveaways_and_metrics_round_trip(app: TestApp) {
    create_anna(&app).await;
    create_channel(&app).await;
    create_campaign(&app).await;
    let mut client = app.ingest();

    let web = WebTrafficRow {
        day: date(2026, 3, 1),
        source: "instagram".into(),
        medium: "social".into(),
        campaign: "anna".into(),
        default_channel_group: "Organic Social".into(),
        age: Some(27),
        country: "NL".into(),
        sessions: 30,
        users: 20,
        new_users: 5,
        ..Default::default()
    };
    let bad_web = WebTrafficRow {
        new_users: 50,
        ..web.clone()
    };
    let response = client
        .ingest_web_traffic(app.req(IngestWebTrafficRequest {
            rows: vec![web.clone(), web.clone(), bad_web],
            all_or_nothing: false,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.accepted_count, response.rejected_count), (2, 1));
    assert_eq!(response.rejected[0].field, "rows[2].new_users");
    assert_eq!(
        count::<e::web_traffic::Entity>(&app).await,
        1,
        "same dimensions, same row"
    );

    let member = AudienceMember {
        channel: "channels/anna-ig".into(),
        account_id: "fan_1".into(),
        attributes: Some(MemberAttributes {
            bio: "Graphic DESIGN".into(),
            followers: Some(1500),
            age: Some(28),
            ..Default::default()
        }),
        customer_id: "c-1".into(),
        first_seen: date(2026, 1, 1),
        ..Default::default()
    };
    let reversed = AudienceMember {
        last_seen: date(2025, 12, 1),
        account_id: "fan_2".into(),
        ..member.clone()
    };
    let response = client
        .ingest_audience_members(app.req(IngestAudienceMembersRequest {
            rows: vec![member, reversed],
            all_or_nothing: false,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.accepted_count, response.rejected_count), (1, 1));
    assert_eq!(response.rejected[0].field, "rows[1].last_seen");
    let members = e::audience_member::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    assert_eq!(members[0].platform, "instagram");
    assert_eq!(members[0].bio_lc.as_deref(), Some("graphic design"));

    let interaction = Interaction {
        channel: "channels/anna-ig".into(),
        interaction_id: "c_1".into(),
        kind: InteractionKind::Share as i32,
        account_id: "fan_1".into(),
        occurred_at: ts("2026-03-01T12:00:00Z"),
        attributes: Some(MemberAttributes {
            country: "Nederland".into(),
            is_customer: Some(true),
            ..Default::default()
        }),
    };
    let unknown_kind = Interaction {
        kind: 42,
        interaction_id: "c_2".into(),
        ..interaction.clone()
    };
    let response = client
        .ingest_interactions(app.req(IngestInteractionsRequest {
            rows: vec![interaction, unknown_kind],
            all_or_nothing: false,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.accepted_count, response.rejected_count), (1, 1));
    assert_eq!(response.rejected[0].field, "rows[1].kind");
    let stored = e::interaction::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    assert_eq!(
        (stored[0].kind.as_str(), stored[0].is_customer),
        ("share", Some(true))
    );

    let entry = GiveawayEntry {
        giveaway_id: "spring-box".into(),
        entrant: "Fan@Mail.com".into(),
        entered_at: ts("2026-03-02T08:00:00Z"),
    };
    let unknown = GiveawayEntry {
        giveaway_id: "nope".into(),
        ..entry.clone()
    };
    let response = client
        .ingest_giveaway_entries(app.req(IngestGiveawayEntriesRequest {
            rows: vec![entry.clone(), entry, unknown],
            all_or_nothing: false,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.accepted_count, response.rejected_count), (2, 1));
    let entries = e::giveaway_entry::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert!(!entries[0].entrant_key.contains('@'));

    let point = MetricPoint {
        metric_key: "brand_searches".into(),
        scope: "tenant".into(),
        day: date(2026, 3, 1),
        value: 120.0,
    };
    let rows = vec![
        point.clone(),
        MetricPoint {
            scope: "influencers/anna".into(),
            ..point.clone()
        },
        MetricPoint {
            metric_key: "followers".into(),
            ..point.clone()
        },
        MetricPoint {
            scope: "influencers/ghost".into(),
            ..point.clone()
        },
        MetricPoint {
            value: f64::NAN,
            ..point.clone()
        },
    ];
    let response = client
        .ingest_metric_points(app.req(IngestMetricPointsRequest {
            rows,
            all_or_nothing: false,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.accepted_count, response.rejected_count), (2, 3));
    let fields: Vec<&str> = response.rejected.iter().map(|r| r.field.as_str()).collect();
    assert_eq!(
        fields,
        ["rows[2].metric_key", "rows[3].scope", "rows[4].value"]
    );
    // Giveaways with entries survive a campaign update that keeps them.
    app.campaigns()
        .update_campaign(app.req(UpdateCampaignRequest {
            campaign: Some(Campaign {
                name: "campaigns/spring".into(),
                display_name: "Renamed".into(),
                ..Default::default()
            }),
            update_mask: None,
        }))
        .await
        .unwrap();
    assert_eq!(count::<e::giveaway_entry::Entity>(&app).await, 1);
}

async fn tenants_cannot_write_into_each_other(app: TestApp) {
    create_anna(&app).await;
    create_channel(&app).await;
    let other = app.other_tenant("globex").await;
    let response = app
        .ingest()
        .ingest_channel_stats(with_key(
            IngestChannelStatsRequest {
                rows: vec![stats(1, Some(1), 1)],
                all_or_nothing: false,
            },
            &other,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.accepted_count, response.rejected_count), (0, 1));
    assert!(response.rejected[0].reason.contains("does not exist"));
    app.ingest()
        .ingest_orders(with_key(
            IngestOrdersRequest {
                rows: vec![order("1001", "c-1", "2026-03-01T10:00:00Z", "EUR", &[])],
                all_or_nothing: false,
            },
            &other,
        ))
        .await
        .unwrap();
    app.ingest()
        .ingest_orders(app.req(IngestOrdersRequest {
            rows: vec![order("1001", "c-9", "2026-03-01T10:00:00Z", "EUR", &[])],
            all_or_nothing: false,
        }))
        .await
        .unwrap();
    let orders = e::order::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    assert_eq!(orders.len(), 2, "the same order id lives once per tenant");
    let ours = orders.iter().find(|o| o.tenant_id == "acme").unwrap();
    assert_eq!(ours.customer_key.as_deref(), Some("c:c-9"));
}

crate::on_both_databases!(
    channel_stats_upsert_idempotently_and_take_corrections,
    bad_rows_are_rejected_with_reasons_and_change_nothing,
    orders_round_trip_on_the_tenants_day,
    web_audience_interactions_giveaways_and_metrics_round_trip,
    tenants_cannot_write_into_each_other,
);
