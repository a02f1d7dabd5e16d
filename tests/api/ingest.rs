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
    huge.channel = "x".repeat(::tally::api::MAX_MESSAGE_BYTES + 1);
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
    assert!(guest.customer_key.as_deref().unwrap().starts_with("k:"));
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

    // A corrected order replaces its codes and its revenue; a new order in the same batch
    // is stored beside it (on PostgreSQL the stored key turns the batch from a plain COPY
    // to the upsert).
    client
        .ingest_orders(app.req(IngestOrdersRequest {
            rows: vec![
                order("1007", "c-4", "2026-03-02T10:00:00Z", "EUR", &["ANNA10"]),
                Order {
                    revenue_minor: 3_000,
                    ..order("1001", "c-1", "2026-03-01T10:00:00Z", "EUR", &["BOB5"])
                },
            ],
            all_or_nothing: false,
        }))
        .await
        .unwrap();
    let mut codes: Vec<(String, String)> = e::order_code::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.order_id, c.code))
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            ("1001".into(), "BOB5".into()),
            ("1007".into(), "ANNA10".into())
        ]
    );
    let orders = e::order::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    assert_eq!(orders.len(), 3);
    let corrected = orders.iter().find(|o| o.order_id == "1001").unwrap();
    assert_eq!(corrected.revenue_minor, 3_000);
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

/// Sends `text` as a `kind` file through the upload code with `key`; (accepted, rejected).
async fn upload_file(
    app: &TestApp,
    key: &str,
    kind: ::tally::client::files::Kind,
    text: &str,
) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.csv");
    std::fs::write(&path, text).unwrap();
    let summary = ::tally::client::upload::upload(
        app.channel.clone(),
        key,
        kind,
        &path,
        ::tally::client::files::Format::Csv,
        2,
        ::tally::client::upload::RetryPolicy::default(),
    )
    .await
    .unwrap();
    (summary.accepted, summary.rejected)
}

/// (accepted, rejected) of an ingest answer.
fn counts(response: tonic::Response<IngestResponse>) -> (u64, u64) {
    let r = response.into_inner();
    (r.accepted_count as u64, r.rejected_count as u64)
}

/// The stored rows of `$entity` of tenants `acme` and `beta` are the same, tenant and
/// update time aside.
macro_rules! assert_same_rows {
    ($app:expr, $entity:ident $(, $clear:ident)*) => {{
        let (mut acme, mut beta) = (Vec::new(), Vec::new());
        for mut row in e::$entity::Entity::find()
            .all($app.store.connection())
            .await
            .unwrap()
        {
            let tenant = std::mem::take(&mut row.tenant_id);
            $(row.$clear = Default::default();)*
            match tenant.as_str() {
                "acme" => acme.push(format!("{row:?}")),
                _ => beta.push(format!("{row:?}")),
            }
        }
        acme.sort();
        beta.sort();
        assert!(!acme.is_empty(), "no {} stored", stringify!($entity));
        assert_eq!(acme, beta, "{} of the file and of the RPC", stringify!($entity));
    }};
}

// Found by issue 20: audience members and interactions with an empty followers,
// influence_score or age were refused by `tally ingest` (about half of a real file) while
// the RPC took them. Each kind goes through a CSV file into `acme` and through the RPC,
// as hand-written messages, into `beta`: same rows accepted, same rows stored.
async fn file_and_rpc_accept_the_same_rows_and_store_the_same_values(app: TestApp) {
    use ::tally::client::files::Kind;
    let acme = app.key.clone();
    let beta = app.other_tenant("beta").await;
    create_anna(&app).await;
    create_channel(&app).await;
    create_campaign(&app).await;
    let app = app.with_key(beta.clone());
    create_anna(&app).await;
    create_channel(&app).await;
    create_campaign(&app).await;
    let mut rpc = app.ingest();

    let file = upload_file(
        &app,
        &acme,
        Kind::Orders,
        "order_id,customer_id,customer_email,placed_at,currency,revenue,cost_of_goods,discount,discount_codes,utm_source,utm_medium,utm_campaign\n\
         1001,c-1,,2026-03-01T10:00:00+01:00,EUR,49.99,10.00,5,ANNA10; welcome,instagram,social,anna\n\
         1002,,Guest@Example.com,2026-03-02T23:30:00Z,EUR,10,,,,,,\n\
         1003,c-2,,2026-03-02T10:00:00Z,USD,10,,,,,,\n",
    )
    .await;
    let order = |id: &str, placed_at: &str| Order {
        order_id: id.into(),
        placed_at: ts(placed_at),
        currency_code: "EUR".into(),
        ..Default::default()
    };
    let rows = vec![
        Order {
            customer_id: "c-1".into(),
            revenue_minor: 4999,
            cost_of_goods_minor: 1000,
            discount_minor: 500,
            discount_codes: vec!["ANNA10".into(), "welcome".into()],
            utm_source: "instagram".into(),
            utm_medium: "social".into(),
            utm_campaign: "anna".into(),
            ..order("1001", "2026-03-01T09:00:00Z")
        },
        Order {
            customer_email: "Guest@Example.com".into(),
            revenue_minor: 1000,
            ..order("1002", "2026-03-02T23:30:00Z")
        },
        Order {
            customer_id: "c-2".into(),
            currency_code: "USD".into(),
            revenue_minor: 1000,
            ..order("1003", "2026-03-02T10:00:00Z")
        },
    ];
    let sent = rpc
        .ingest_orders(app.req(IngestOrdersRequest {
            rows,
            all_or_nothing: false,
        }))
        .await
        .unwrap();
    assert_eq!(file, counts(sent), "orders");
    assert_eq!(file, (2, 1));
    assert_same_rows!(app, order, update_time);
    assert_same_rows!(app, order_code);

    let file = upload_file(
        &app,
        &acme,
        Kind::ChannelStats,
        "channel,day,followers,posts,mentions,shares,comments,likes,link_clicks,views,reach\n\
         anna-ig,2026-03-01,1000,1,,,,10,,,\n\
         channels/anna-ig,2026-03-02,,,,,,,,,\n",
    )
    .await;
    let sent = rpc
        .ingest_channel_stats(app.req(IngestChannelStatsRequest {
            rows: vec![
                ChannelDayStats {
                    followers: Some(1000),
                    posts: Some(1),
                    likes: Some(10),
                    ..stats(1, None, 0)
                },
                ChannelDayStats {
                    channel: "channels/anna-ig".into(),
                    day: date(2026, 3, 2),
                    ..Default::default()
                },
            ],
            all_or_nothing: false,
        }))
        .await
        .unwrap();
    assert_eq!(file, counts(sent), "channel stats");
    assert_eq!(file, (2, 0));
    assert_same_rows!(app, channel_day_stat, update_time);

    let file = upload_file(
        &app,
        &acme,
        Kind::WebTraffic,
        "day,source,medium,campaign,default_channel_group,age_bracket,age,country,is_customer,sessions,users,new_users\n\
         2026-03-01,instagram,social,anna,Organic Social,25-34,,NL,,30,20,5\n\
         2026-03-01,google,organic,,,,41,,true,3,2,0\n",
    )
    .await;
    let web = WebTrafficRow {
        day: date(2026, 3, 1),
        ..Default::default()
    };
    let sent = rpc
        .ingest_web_traffic(app.req(IngestWebTrafficRequest {
            rows: vec![
                WebTrafficRow {
                    source: "instagram".into(),
                    medium: "social".into(),
                    campaign: "anna".into(),
                    default_channel_group: "Organic Social".into(),
                    age_bracket: "25-34".into(),
                    country: "NL".into(),
                    sessions: 30,
                    users: 20,
                    new_users: 5,
                    ..web.clone()
                },
                WebTrafficRow {
                    source: "google".into(),
                    medium: "organic".into(),
                    age: Some(41),
                    is_customer: Some(true),
                    sessions: 3,
                    users: 2,
                    ..web
                },
            ],
            all_or_nothing: false,
        }))
        .await
        .unwrap();
    assert_eq!(file, counts(sent), "web traffic");
    assert_eq!(file, (2, 0));
    assert_same_rows!(app, web_traffic, update_time);

    // CRLF line endings, as spreadsheet exports write them.
    let file = upload_file(
        &app,
        &acme,
        Kind::AudienceMembers,
        "channel,account_id,customer_id,first_seen,last_seen,bio,followers,influence_score,age,country\r\n\
         anna-ig,fan_1,c-1,2026-01-01,,Graphic designer,1500,0.5,28,NL\r\n\
         anna-ig,fan_2,,2026-01-02,2026-02-01,,,,,\r\n\
         anna-ig,fan_3,,2026-01-03,,,,0.25,,\r\n\
         anna-ig,fan_4,,2026-01-04,,,,,200,\r\n",
    )
    .await;
    let member = |account: &str, first_seen: i32| AudienceMember {
        channel: "channels/anna-ig".into(),
        account_id: account.into(),
        first_seen: date(2026, 1, first_seen),
        attributes: Some(MemberAttributes::default()),
        ..Default::default()
    };
    let sent = rpc
        .ingest_audience_members(app.req(IngestAudienceMembersRequest {
            rows: vec![
                AudienceMember {
                    customer_id: "c-1".into(),
                    attributes: Some(MemberAttributes {
                        bio: "Graphic designer".into(),
                        followers: Some(1500),
                        influence_score: Some(0.5),
                        age: Some(28),
                        country: "NL".into(),
                        is_customer: None,
                    }),
                    ..member("fan_1", 1)
                },
                AudienceMember {
                    last_seen: date(2026, 2, 1),
                    ..member("fan_2", 2)
                },
                AudienceMember {
                    attributes: Some(MemberAttributes {
                        influence_score: Some(0.25),
                        ..Default::default()
                    }),
                    ..member("fan_3", 3)
                },
                AudienceMember {
                    attributes: Some(MemberAttributes {
                        age: Some(200),
                        ..Default::default()
                    }),
                    ..member("fan_4", 4)
                },
            ],
            all_or_nothing: false,
        }))
        .await
        .unwrap();
    assert_eq!(file, counts(sent), "audience members");
    assert_eq!(file, (3, 1));
    assert_same_rows!(app, audience_member, update_time);

    let file = upload_file(
        &app,
        &acme,
        Kind::Interactions,
        "channel,interaction_id,kind,account_id,occurred_at,bio,followers,influence_score,age,country,is_customer\n\
         anna-ig,i1,share,fan_1,2026-03-01T12:00:00Z,,,,,,\n\
         anna-ig,i2,comment,fan_2,2026-03-01T13:00:00Z,Runner,120,,33,DE,true\n",
    )
    .await;
    let interaction = |id: &str, kind: InteractionKind, account: &str, at: &str| Interaction {
        channel: "channels/anna-ig".into(),
        interaction_id: id.into(),
        kind: kind as i32,
        account_id: account.into(),
        occurred_at: ts(at),
        attributes: Some(MemberAttributes::default()),
    };
    let sent = rpc
        .ingest_interactions(app.req(IngestInteractionsRequest {
            rows: vec![
                interaction(
                    "i1",
                    InteractionKind::Share,
                    "fan_1",
                    "2026-03-01T12:00:00Z",
                ),
                Interaction {
                    attributes: Some(MemberAttributes {
                        bio: "Runner".into(),
                        followers: Some(120),
                        age: Some(33),
                        country: "DE".into(),
                        is_customer: Some(true),
                        ..Default::default()
                    }),
                    ..interaction(
                        "i2",
                        InteractionKind::Comment,
                        "fan_2",
                        "2026-03-01T13:00:00Z",
                    )
                },
            ],
            all_or_nothing: false,
        }))
        .await
        .unwrap();
    assert_eq!(file, counts(sent), "interactions");
    assert_eq!(file, (2, 0));
    assert_same_rows!(app, interaction, update_time);

    let file = upload_file(
        &app,
        &acme,
        Kind::GiveawayEntries,
        "giveaway_id,entrant,entered_at\n\
         spring-box,Fan@Mail.com,2026-03-02T08:00:00Z\n\
         spring-box,insta_fan,2026-03-02T09:00:00+01:00\n",
    )
    .await;
    let sent = rpc
        .ingest_giveaway_entries(app.req(IngestGiveawayEntriesRequest {
            rows: vec![
                GiveawayEntry {
                    giveaway_id: "spring-box".into(),
                    entrant: "Fan@Mail.com".into(),
                    entered_at: ts("2026-03-02T08:00:00Z"),
                },
                GiveawayEntry {
                    giveaway_id: "spring-box".into(),
                    entrant: "insta_fan".into(),
                    entered_at: ts("2026-03-02T08:00:00Z"),
                },
            ],
            all_or_nothing: false,
        }))
        .await
        .unwrap();
    assert_eq!(file, counts(sent), "giveaway entries");
    assert_eq!(file, (2, 0));
    assert_same_rows!(app, giveaway_entry, update_time);

    let file = upload_file(
        &app,
        &acme,
        Kind::MetricPoints,
        "metric_key,scope,day,value\n\
         brand_searches,tenant,2026-03-01,120\n\
         brand_searches,influencers/anna,2026-03-01,7.5\n",
    )
    .await;
    let point = |scope: &str, value: f64| MetricPoint {
        metric_key: "brand_searches".into(),
        scope: scope.into(),
        day: date(2026, 3, 1),
        value,
    };
    let sent = rpc
        .ingest_metric_points(app.req(IngestMetricPointsRequest {
            rows: vec![point("tenant", 120.0), point("influencers/anna", 7.5)],
            all_or_nothing: false,
        }))
        .await
        .unwrap();
    assert_eq!(file, counts(sent), "metric points");
    assert_eq!(file, (2, 0));
    assert_same_rows!(app, metric_point, update_time);
}

/// A loopback TCP proxy to `upstream` that closes the connection carrying the
/// `cut_after`-th byte from the client, once; later connections pass untouched.
async fn proxy_cutting_once(
    upstream: std::net::SocketAddr,
    cut_after: u64,
) -> std::net::SocketAddr {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let cut = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                continue;
            };
            let (sent, cut) = (sent.clone(), cut.clone());
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upstream = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = client_read.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        let total = sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                        if total >= cut_after && !cut.swap(true, Ordering::SeqCst) {
                            // Dropping both directions closes the connection mid-call.
                            return;
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let downstream = tokio::io::copy(&mut server_read, &mut client_write);
                tokio::select! {
                    () = upstream => {},
                    _ = downstream => {},
                }
            });
        }
    });
    addr
}

// Found by issue 20: `tally ingest` gave up with "transport error: broken pipe" when the
// connection to the server broke mid-upload. The connection is cut once, a third of the
// way through; the upload goes on from the batch that was not acknowledged, and what is
// stored equals a clean upload of the same file into another tenant.
async fn an_upload_survives_a_broken_connection_and_stores_what_a_clean_one_does(app: TestApp) {
    let beta = app.other_tenant("beta").await;
    let mut text = String::from(
        "order_id,customer_id,customer_email,placed_at,currency,revenue,discount_codes\n",
    );
    for i in 0..600 {
        let who = if i % 3 == 0 {
            format!(",guest{}@example.com", i % 50)
        } else {
            format!("c-{},", i % 70)
        };
        text.push_str(&format!(
            "o-{i},{who},2026-03-{:02}T{:02}:15:00Z,EUR,{}.{:02},{}\n",
            1 + i % 28,
            i % 24,
            10 + i % 90,
            i % 100,
            if i % 4 == 0 { "ANNA10" } else { "" }
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    std::fs::write(&path, &text).unwrap();
    let upload = |channel, key: String| {
        let path = path.clone();
        async move {
            ::tally::client::upload::upload(
                channel,
                &key,
                ::tally::client::files::Kind::Orders,
                &path,
                ::tally::client::files::Format::Csv,
                50,
                ::tally::client::upload::RetryPolicy {
                    first_delay: std::time::Duration::from_millis(20),
                    ..Default::default()
                },
            )
            .await
        }
    };

    let proxy = proxy_cutting_once(app.addr, text.len() as u64 / 3).await;
    let through_proxy = tonic::transport::Channel::from_shared(format!("http://{proxy}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let cut = upload(through_proxy, app.key.clone())
        .await
        .expect("the upload goes on after the connection breaks");
    assert!(cut.retries >= 1, "the connection was cut mid-upload: {cut}");
    assert_eq!(
        (cut.read, cut.accepted, cut.rejected),
        (600, 600, 0),
        "{cut}"
    );

    let clean = upload(app.channel.clone(), beta).await.unwrap();
    assert_eq!((clean.accepted, clean.retries), (600, 0), "{clean}");
    let app = app;
    assert_same_rows!(app, order, update_time);
    assert_same_rows!(app, order_code);
}

crate::on_both_databases!(
    channel_stats_upsert_idempotently_and_take_corrections,
    bad_rows_are_rejected_with_reasons_and_change_nothing,
    orders_round_trip_on_the_tenants_day,
    web_audience_interactions_giveaways_and_metrics_round_trip,
    tenants_cannot_write_into_each_other,
    file_and_rpc_accept_the_same_rows_and_store_the_same_values,
    an_upload_survives_a_broken_connection_and_stores_what_a_clean_one_does,
);
