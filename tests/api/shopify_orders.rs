//! Shopify orders follow refunds and cancellations (issue 21): revenue is
//! `current_subtotal_price`, a refund made days later replaces the order on its own day, a
//! cancelled order leaves every KPI, DeleteOrders removes orders by id (RPC and file), a
//! backfill older than the token can read is refused with the reason, and kept pages
//! derive the same orders without holding an e-mail address.
//!
//! Orders are shaped as Shopify's published example of the Order resource, order
//! 450789469 (subtotal_price 597.00, current_subtotal_price 195.67 after a refund):
//! https://shopify.dev/docs/api/admin-rest/latest/resources/order
use crate::fakes::*;
use crate::helpers::{TestApp, TestDb, bad_fields, small_tenant};
use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tally::connectors::shopify::Shopify;
use tally::connectors::{
    Connector, Credentials, HttpSettings, Page, PageSink, PullRequest, Registry, Secret, SinkError,
    Source,
};
use tally::domain::channel::Platform;
use tally::domain::observation::CustomerKeySecret;
use tally::domain::tenant::Tenant;
use tally::jobs::report::{Outcome, RunReport};
use tally::jobs::{self, BACKFILL, JobSettings, Jobs, NIGHTLY, RunSpec};
use tally::proto;
use tally::storage::entities as e;

fn http() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(1),
    }
}

/// `day` at `h:m` in Amsterdam, as Shopify writes times (the shop's offset).
fn local(day: NaiveDate, h: u32, m: u32) -> String {
    chrono_tz::Europe::Amsterdam
        .with_ymd_and_hms(day.year(), day.month(), day.day(), h, m, 0)
        .unwrap()
        .to_rfc3339()
}

/// Order `id` of the documented example: 597.00 of goods bought with code ANNA10 by
/// customer `customer` (Bob Norman's e-mail address), not refunded yet.
fn example_order(id: u64, created_at: String, customer: u64) -> ShopifyOrder {
    ShopifyOrder {
        id,
        created_at,
        currency: "EUR".into(),
        subtotal_price: "597.00".into(),
        total_discounts: "10.00".into(),
        discount_codes: vec!["ANNA10".into()],
        customer: Some((customer, "bob.norman@mail.example.com".into())),
        email: Some("bob.norman@mail.example.com".into()),
        landing_site: Some("http://www.example.com?source=abc".into()),
        ..ShopifyOrder::default()
    }
}

/// The example order after its refund at `at`: current_subtotal_price 195.67 and the
/// refund listed as the example lists it.
fn refunded(order: ShopifyOrder, at: String) -> ShopifyOrder {
    ShopifyOrder {
        current_subtotal_price: Some("195.67".into()),
        refunds: vec![json!({
            "id": 509562969,
            "admin_graphql_api_id": "gid://shopify/Refund/509562969",
            "created_at": at,
            "note": "it broke during shipping",
            "order_id": order.id,
            "processed_at": at,
            "restock": true,
            "user_id": 548380009,
            "order_adjustments": [],
            "transactions": [{
                "id": 179259969,
                "amount": "401.33",
                "kind": "refund",
                "gateway": "bogus",
                "status": "success",
                "currency": "EUR",
            }],
            "refund_line_items": [{
                "id": 104689539,
                "line_item_id": 703073504,
                "quantity": 1,
                "restock_type": "legacy_restock",
                "subtotal": 401.33,
                "total_tax": 0.0,
            }],
            "duties": [],
        })],
        updated_at: Some(at),
        ..order
    }
}

/// A shop tenant (`small_tenant`: influencer anna with code ANNA10, channel brand-shop),
/// a key for it, and a runner pulling only Shopify from `fake`.
struct Shop {
    app: TestApp,
    tenant: Tenant,
    jobs: Jobs,
    _secrets: tempfile::TempDir,
}

async fn shop(db: TestDb, fake: &FakeShopify) -> Shop {
    let app = TestApp::spawn(db).await;
    let tenant = small_tenant(&app.store, "shop").await;
    let key = app.store.create_api_key("shop").await.unwrap().1;
    let app = app.with_key(key);
    let secrets = tempfile::tempdir().unwrap();
    let dir = secrets.path().join("shop");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("BRAND_SHOP_TOKEN"), FakeShopify::TOKEN).unwrap();
    let registry = Registry::new().with(
        Platform::Shopify,
        Arc::new(Shopify::new(Some(&fake.base_url()), &http())),
    );
    let jobs = Jobs::new(
        app.store.clone(),
        tally::engine::SnapshotFeed::default(),
        registry,
        Credentials::new(Some(secrets.path().to_path_buf()), []),
        JobSettings::default(),
    );
    Shop {
        app,
        tenant,
        jobs,
        _secrets: secrets,
    }
}

impl Shop {
    async fn run(&self, job: &str, day: NaiveDate) -> RunReport {
        let spec = RunSpec {
            job: job.into(),
            days: vec![day],
            force: true,
        };
        let run = self.jobs.run(&self.tenant, spec).await.unwrap();
        RunReport::from_json(&run.report)
    }

    /// The stored value of `kpi` for anna on `day`, as QuerySnapshots gives it.
    async fn anna(&self, kpi: &str, day: NaiveDate) -> Option<f64> {
        let date = tally::api::proto_date(day);
        let response = self
            .app
            .kpis()
            .query_snapshots(self.app.req(proto::QuerySnapshotsRequest {
                kpi_scope: Some(proto::KpiScope {
                    kpi: kpi.into(),
                    scope: "influencers/anna".into(),
                    segment: String::new(),
                }),
                first_day: date,
                last_day: date,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        response.values[0].value
    }

    async fn stored_order_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = e::order::Entity::find()
            .filter(e::order::Column::TenantId.eq("shop"))
            .all(self.app.store.connection())
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.order_id)
            .collect();
        ids.sort();
        ids
    }
}

/// The shop's sources of `day` in a run report.
fn shop_sources(report: &RunReport, day: NaiveDate) -> Vec<&tally::jobs::report::SourceReport> {
    report
        .days
        .iter()
        .flat_map(|d| d.sources.iter())
        .filter(|s| s.channel_id == "brand-shop" && s.day == day)
        .collect()
}

/// A partially refunded order stores current_subtotal_price; a refund made ten days
/// after the order (outside the trailing window) replaces it on its own day, and an order
/// cancelled after it was stored leaves every KPI of its day, codes and all.
async fn refunds_and_cancellations_reach_the_order_day(db: TestDb) {
    let fake = FakeShopify::start().await;
    let shop = shop(db, &fake).await;
    let y = jobs::yesterday(Utc::now(), &shop.tenant);
    let placed = y - Days::new(10);
    let a = example_order(450789469, local(placed, 10, 0), 207119551);
    let b = ShopifyOrder {
        subtotal_price: "100.00".into(),
        ..example_order(450789470, local(placed, 11, 0), 207119552)
    };
    fake.set_orders(vec![a.clone(), b.clone()]);
    let report = shop.run(BACKFILL, placed).await;
    assert!(
        shop_sources(&report, placed)
            .iter()
            .all(|s| s.outcome == Outcome::Succeeded),
        "{report:?}"
    );
    assert_eq!(shop.anna("attributed_revenue", placed).await, Some(697.0));
    assert_eq!(shop.anna("attributed_orders", placed).await, Some(2.0));
    assert_eq!(shop.anna("code_buyers", placed).await, Some(2.0));
    assert_eq!(shop.anna("first_code_buyers", placed).await, Some(2.0));

    // Yesterday: order a was partly refunded, order b cancelled, and order c placed
    // already partly refunded.
    let c = refunded(
        example_order(450789471, local(y, 9, 0), 207119553),
        local(y, 15, 0),
    );
    fake.set_orders(vec![
        refunded(a, local(y, 9, 30)),
        ShopifyOrder {
            cancelled_at: Some(local(y, 10, 0)),
            updated_at: Some(local(y, 10, 0)),
            ..b
        },
        c,
    ]);
    fake.clear_requests();
    let report = shop.run(NIGHTLY, y).await;
    assert!(
        shop_sources(&report, y)
            .iter()
            .all(|s| s.outcome == Outcome::Succeeded),
        "{report:?}"
    );
    // The day's pull asked for the orders changed on it, placed before it.
    let changed = fake
        .requests()
        .into_iter()
        .find(|r| r.param("updated_at_min").is_some())
        .expect("a pass over the orders updated on the day");
    assert_eq!(changed.param("status"), Some("any"));
    assert!(
        changed
            .param("fields")
            .unwrap()
            .contains("current_subtotal_price")
    );

    assert_eq!(shop.anna("attributed_revenue", y).await, Some(195.67));
    assert_eq!(shop.anna("attributed_revenue", placed).await, Some(195.67));
    assert_eq!(shop.anna("attributed_orders", placed).await, Some(1.0));
    assert_eq!(shop.anna("code_buyers", placed).await, Some(1.0));
    assert_eq!(shop.anna("first_code_buyers", placed).await, Some(1.0));
    assert_eq!(
        shop.stored_order_ids().await,
        vec!["450789469".to_string(), "450789471".to_string()]
    );
    let codes = e::order_code::Entity::find()
        .filter(e::order_code::Column::OrderId.eq("450789470"))
        .all(shop.app.store.connection())
        .await
        .unwrap();
    assert!(codes.is_empty(), "the cancelled order's codes went with it");
    let stored = e::order::Entity::find()
        .filter(e::order::Column::OrderId.eq("450789469"))
        .one(shop.app.store.connection())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.day, stored.revenue_minor), (placed, 19567));
    let step = report
        .days
        .iter()
        .flat_map(|d| d.steps.iter())
        .find(|s| s.name == "recompute_orders")
        .expect("the order's day was recomputed");
    assert_eq!(step.outcome, Outcome::Succeeded);
    assert!(step.detail.contains(&placed.to_string()), "{}", step.detail);
    shop.app.stop().await;
}

/// A backfill of a day more than 60 days old is refused, with the reason, when the token
/// lacks read_all_orders (Shopify would answer with no orders), and pulled with it.
async fn old_days_need_read_all_orders(db: TestDb) {
    let fake = FakeShopify::start().await;
    let shop = shop(db, &fake).await;
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive();
    let old = today - Days::new(70);
    fake.set_orders(vec![example_order(450789469, local(old, 12, 0), 207119551)]);
    fake.set_scopes(&["read_orders", "write_orders"]);
    let report = shop.run(BACKFILL, old).await;
    let source = shop_sources(&report, old)[0];
    assert_eq!(source.outcome, Outcome::Failed);
    assert!(
        source.detail.contains(&format!(
            "the token lacks read_all_orders: Shopify serves only the last 60 days of \
             orders; {old} is 70 days old"
        )),
        "{}",
        source.detail
    );
    assert!(shop.stored_order_ids().await.is_empty());
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.path == "/admin/oauth/access_scopes.json"),
        "no order was asked for"
    );

    fake.set_scopes(&["read_orders", "read_all_orders"]);
    let report = shop.run(BACKFILL, old).await;
    assert_eq!(shop_sources(&report, old)[0].outcome, Outcome::Succeeded);
    assert_eq!(shop.stored_order_ids().await, vec!["450789469".to_string()]);
    assert_eq!(shop.anna("attributed_revenue", old).await, Some(597.0));
    shop.app.stop().await;
}

/// DeleteOrders removes stored orders by id, idempotently; like IngestOrders it leaves
/// the KPIs to the next compute of the days it names.
async fn delete_orders_by_id(db: TestDb) {
    let fake = FakeShopify::start().await;
    let shop = shop(db, &fake).await;
    let app = &shop.app;
    let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let order = |id: &str, hour: i64| proto::Order {
        order_id: id.into(),
        customer_id: format!("c-{id}"),
        placed_at: Some(prost_types::Timestamp {
            seconds: 1_772_355_600 + hour * 3600,
            nanos: 0,
        }),
        currency_code: "EUR".into(),
        revenue_minor: 5000,
        discount_codes: vec!["ANNA10".into()],
        ..Default::default()
    };
    app.ingest()
        .ingest_orders(app.req(proto::IngestOrdersRequest {
            rows: vec![order("1001", 0), order("1002", 1), order("1003", 2)],
            all_or_nothing: true,
        }))
        .await
        .unwrap();
    let compute = || async {
        app.kpis()
            .compute_kpis(app.req(proto::ComputeKpisRequest {
                first_day: tally::api::proto_date(day),
                last_day: tally::api::proto_date(day),
            }))
            .await
            .unwrap();
    };
    compute().await;
    assert_eq!(shop.anna("attributed_orders", day).await, Some(3.0));

    let delete = |ids: &[&str], all_or_nothing: bool| {
        let request = app.req(proto::DeleteOrdersRequest {
            order_ids: ids.iter().map(|s| s.to_string()).collect(),
            all_or_nothing,
        });
        async move { app.ingest().delete_orders(request).await }
    };
    let first = delete(&["1001", "never-sent", "1001"], false)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.deleted_count, 1);
    assert_eq!(first.not_stored_order_ids, vec!["never-sent".to_string()]);
    assert_eq!(first.days, vec![tally::api::proto_date(day).unwrap()]);
    assert!(first.rejected.is_empty());
    let again = delete(&["1001", "never-sent"], false)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.deleted_count, 0,
        "deleting twice deletes nothing more"
    );
    assert_eq!(again.not_stored_order_ids, vec!["1001", "never-sent"]);
    assert!(again.days.is_empty());
    // Like an ingest of a past day: the day changes when it is computed again.
    assert_eq!(shop.anna("attributed_orders", day).await, Some(3.0));
    compute().await;
    assert_eq!(shop.anna("attributed_orders", day).await, Some(2.0));

    // Ids are checked as IngestOrders checks order_id; one bad id with all_or_nothing
    // removes nothing.
    let long = "x".repeat(129);
    let refused = delete(&["", &long, "a\u{0}b", "1002"], true)
        .await
        .unwrap()
        .into_inner();
    let fields: Vec<(&str, &str)> = refused
        .rejected
        .iter()
        .map(|r| (r.field.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("order_ids[0]", "is required"),
            ("order_ids[1]", "is longer than 128 characters"),
            ("order_ids[2]", "must not contain control characters"),
        ]
    );
    assert_eq!(refused.deleted_count, 0);
    assert!(refused.not_stored_order_ids.is_empty());
    assert_eq!(shop.stored_order_ids().await, vec!["1002", "1003"]);

    let too_many: Vec<String> = (0..10_001).map(|i| format!("o-{i}")).collect();
    let result = app
        .ingest()
        .delete_orders(app.req(proto::DeleteOrdersRequest {
            order_ids: too_many,
            all_or_nothing: false,
        }))
        .await;
    assert_eq!(bad_fields(result), vec!["order_ids".to_string()]);

    // The file path: `tally ingest --kind order-deletions`, in batches, with the
    // not-stored ids counted and bad lines named.
    let kind = <tally::client::files::Kind as clap::ValueEnum>::from_str("order-deletions", false)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deletions.ndjson");
    std::fs::write(
        &path,
        "{\"order_id\":\"1002\"}\n{\"order_id\":\"never-sent\"}\n{\"order_id\":\"\"}\n{\"id\":\"1003\"}\n",
    )
    .unwrap();
    let upload = |path: std::path::PathBuf, format| {
        let channel = app.channel.clone();
        async move {
            tally::client::upload::upload(
                channel,
                &app.key,
                kind,
                &path,
                format,
                2,
                tally::client::upload::RetryPolicy::default(),
            )
            .await
            .unwrap()
        }
    };
    let mut summary = upload(path.clone(), tally::client::files::Format::Ndjson).await;
    assert_eq!(
        (summary.read, summary.accepted, summary.not_stored),
        (4, 1, 1)
    );
    assert_eq!(summary.rejected, 2);
    // Lines unreadable here are listed before the server's rejections of their batch.
    summary.rejections.sort();
    assert_eq!(summary.rejections[0].0, 3);
    assert_eq!(summary.rejections[0].1, "order_id: is required");
    assert_eq!(summary.rejections[1].0, 4);
    assert!(
        summary.rejections[1].1.contains("order_id"),
        "{:?}",
        summary.rejections
    );
    let csv = dir.path().join("deletions.csv");
    std::fs::write(&csv, "order_id\n1003\n1002\n").unwrap();
    let summary = upload(csv, tally::client::files::Format::Csv).await;
    assert_eq!(
        (summary.accepted, summary.not_stored, summary.rejected),
        (1, 1, 0)
    );
    assert!(shop.stored_order_ids().await.is_empty());
    shop.app.stop().await;
}

crate::on_both_database_kinds!(
    refunds_and_cancellations_reach_the_order_day,
    old_days_need_read_all_orders,
    delete_orders_by_id,
);

// ---------------------------------------------------------------------------------------
// The connector alone: the scope is asked once per pull, kept pages derive the same page.

#[derive(Default)]
struct Collect {
    pages: Vec<(Page, Option<String>)>,
}

#[async_trait::async_trait]
impl PageSink for Collect {
    async fn page(&mut self, page: Page, next_cursor: Option<String>) -> Result<(), SinkError> {
        self.pages.push((page, next_cursor));
        Ok(())
    }
}

fn pull_request(day: NaiveDate) -> PullRequest {
    PullRequest {
        tenant: "t1".into(),
        source: Source {
            channel_id: "brand-shop".into(),
            platform: Platform::Shopify,
            account_id: "acme.myshopify.com".into(),
            credentials_ref: "BRAND_SHOP_TOKEN".into(),
        },
        day,
        time_zone: chrono_tz::Europe::Amsterdam,
        currency: "EUR".into(),
        latest: false,
        previous_totals: None,
        credential: Some(Secret::new(FakeShopify::TOKEN)),
        cursor: None,
        customer_keys: CustomerKeySecret::development(),
    }
}

#[tokio::test]
async fn shopify_asks_for_the_scopes_once_per_pull() {
    let fake = FakeShopify::start().await;
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive();
    let old = today - Days::new(90);
    fake.set_orders(
        (1..=5)
            .map(|i| example_order(i, local(old, 8 + i as u32, 0), 100 + i))
            .collect(),
    );
    let connector = Shopify::new(Some(&fake.base_url()), &http()).with_page_size(2);
    let mut sink = Collect::default();
    connector.pull(&pull_request(old), &mut sink).await.unwrap();
    let orders: usize = sink.pages.iter().map(|(p, _)| p.orders.len()).sum();
    assert_eq!(orders, 5);
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths
            .iter()
            .filter(|p| *p == "/admin/oauth/access_scopes.json")
            .count(),
        1,
        "{paths:?}"
    );
    assert_eq!(paths[0], "/admin/oauth/access_scopes.json");
    // A recent day does not ask.
    fake.clear_requests();
    let mut sink = Collect::default();
    connector
        .pull(&pull_request(today - Days::new(2)), &mut sink)
        .await
        .unwrap();
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.path != "/admin/oauth/access_scopes.json")
    );
}

#[tokio::test]
async fn shopify_kept_pages_derive_the_same_page_without_personal_data() {
    let fake = FakeShopify::start().await;
    let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let before = day - Days::new(5);
    fake.set_orders(vec![
        refunded(
            ShopifyOrder {
                landing_site: Some(
                    "/products/x?email=bob.norman%40mail.example.com&utm_source=influencer&utm_campaign=anna"
                        .into(),
                ),
                ..example_order(450789469, local(day, 10, 0), 207119551)
            },
            local(day, 18, 0),
        ),
        // A guest: keyed by a hash of the address.
        ShopifyOrder {
            customer: None,
            email: Some("guest@example.com".into()),
            ..example_order(450789470, local(day, 11, 0), 0)
        },
        ShopifyOrder {
            currency: "USD".into(),
            ..example_order(450789471, local(day, 12, 0), 207119552)
        },
        ShopifyOrder {
            test: true,
            ..example_order(450789472, local(day, 13, 0), 207119553)
        },
        // Placed earlier, cancelled on the day.
        ShopifyOrder {
            cancelled_at: Some(local(day, 14, 0)),
            updated_at: Some(local(day, 14, 0)),
            ..example_order(450789473, local(before, 9, 0), 207119554)
        },
        // Placed earlier, refunded on the day: kept on its own day.
        refunded(
            example_order(450789474, local(before, 10, 0), 207119555),
            local(day, 15, 0),
        ),
    ]);
    let connector = Shopify::new(Some(&fake.base_url()), &http()).with_page_size(2);
    let request = pull_request(day);
    let mut sink = Collect::default();
    connector.pull(&request, &mut sink).await.unwrap();
    let orders: Vec<(String, NaiveDate, i64)> = sink
        .pages
        .iter()
        .flat_map(|(p, _)| p.orders.iter())
        .map(|o| (o.order_id.clone(), o.day, o.revenue_minor))
        .collect();
    assert_eq!(
        orders,
        vec![
            ("450789469".to_string(), day, 19567),
            ("450789470".to_string(), day, 59700),
            ("450789474".to_string(), before, 19567),
        ]
    );
    let deleted: Vec<&String> = sink
        .pages
        .iter()
        .flat_map(|(p, _)| p.deleted_orders.iter())
        .collect();
    assert_eq!(deleted, vec!["450789473"]);
    let labels: Vec<&str> = sink
        .pages
        .iter()
        .flat_map(|(p, _)| p.raw.iter().map(|r| r.label.as_str()))
        .collect();
    assert_eq!(
        labels,
        vec!["orders:created", "orders:created", "orders:updated",]
    );
    for (page, _) in &sink.pages {
        let derived = connector.derive(&request, &page.raw).unwrap();
        assert_eq!(derived.orders, page.orders);
        assert_eq!(derived.deleted_orders, page.deleted_orders);
        assert_eq!(derived.skipped, page.skipped);
        let kept = serde_json::to_string(&page.raw).unwrap();
        for personal in [
            "@", "%40", "Bob", "Norman", "Chestnut", "+1", "+55", "email",
        ] {
            assert!(!kept.contains(personal), "{personal} kept in {kept}");
        }
        assert!(!kept.contains(FakeShopify::TOKEN));
    }
    // The customer key Tally computed is what was kept, so derive needs no secret.
    let keys: Vec<Option<String>> = sink
        .pages
        .iter()
        .flat_map(|(p, _)| p.orders.iter().map(|o| o.customer_key.clone()))
        .collect();
    assert_eq!(keys[0].as_deref(), Some("c:207119551"));
    assert!(keys[1].as_deref().is_some_and(|k| !k.contains("guest")));
    let utm = &sink.pages[0].0.orders[0];
    assert_eq!(
        (utm.utm_source.as_str(), utm.utm_campaign.as_str()),
        ("influencer", "anna")
    );
    // A response of another kind is not an orders response.
    let wrong = [tally::connectors::RawResponse {
        label: "insights:reach".into(),
        body: json!({"orders": []}),
    }];
    assert!(connector.derive(&request, &wrong).is_err());
}

#[tokio::test]
async fn shopify_resumes_in_the_phase_and_page_it_stopped_at() {
    let fake = FakeShopify::start().await;
    let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let before = day - Days::new(3);
    fake.set_orders(vec![
        example_order(1, local(day, 9, 0), 101),
        example_order(2, local(day, 10, 0), 102),
        refunded(
            example_order(3, local(before, 9, 0), 103),
            local(day, 11, 0),
        ),
        refunded(
            example_order(4, local(before, 10, 0), 104),
            local(day, 12, 0),
        ),
        refunded(
            example_order(5, local(before, 11, 0), 105),
            local(day, 13, 0),
        ),
    ]);
    let connector = Shopify::new(Some(&fake.base_url()), &http()).with_page_size(1);
    let mut request = pull_request(day);
    let mut sink = Collect::default();
    connector.pull(&request, &mut sink).await.unwrap();
    let pages: Vec<(Vec<String>, Option<String>)> = sink
        .pages
        .iter()
        .map(|(p, c)| {
            let ids = p.orders.iter().map(|o| o.order_id.clone()).collect();
            (ids, c.clone())
        })
        .collect();
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|(ids, _)| ids.iter().map(String::as_str))
        .collect();
    assert_eq!(ids, vec!["1", "2", "3", "4", "5"]);
    let cursors: Vec<Option<&str>> = pages.iter().map(|(_, c)| c.as_deref()).collect();
    assert!(cursors[0].is_some_and(|c| c.starts_with("created:") && c.len() > 8));
    assert_eq!(cursors[1], Some("updated:"));
    assert!(cursors[2].is_some_and(|c| c.starts_with("updated:") && c.len() > 8));
    assert_eq!(cursors[4], None);

    // Stopped after order 3: the pull resumes on the next page of the changed orders.
    fake.clear_requests();
    request.cursor = cursors[2].map(str::to_string);
    let mut sink = Collect::default();
    connector.pull(&request, &mut sink).await.unwrap();
    let ids: Vec<String> = sink
        .pages
        .iter()
        .flat_map(|(p, _)| p.orders.iter().map(|o| o.order_id.clone()))
        .collect();
    assert_eq!(ids, vec!["4", "5"]);
    let first = first_orders_request(&fake);
    assert_eq!(
        first.param("page_info"),
        cursors[2].and_then(|c| c.strip_prefix("updated:"))
    );
    // Stopped between the passes: only the changed orders are read.
    fake.clear_requests();
    request.cursor = Some("updated:".into());
    let mut sink = Collect::default();
    connector.pull(&request, &mut sink).await.unwrap();
    let ids: Vec<String> = sink
        .pages
        .iter()
        .flat_map(|(p, _)| p.orders.iter().map(|o| o.order_id.clone()))
        .collect();
    assert_eq!(ids, vec!["3", "4", "5"]);
    assert!(
        first_orders_request(&fake)
            .param("updated_at_min")
            .is_some()
    );
}

/// The first orders request (a day over 60 days old first asks for the token's scopes).
fn first_orders_request(fake: &FakeShopify) -> Recorded {
    fake.requests()
        .into_iter()
        .find(|r| r.path.ends_with("/orders.json"))
        .expect("an orders request")
}
