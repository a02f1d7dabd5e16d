//! E-mail addresses are stored only as a hash keyed with the deployment's secret (issue 20,
//! item 5): not the plain SHA-256 anyone can compute, different per deployment, and rows
//! of earlier versions move to the keyed form in place without changing any KPI.
use crate::helpers::{TestApp, TestDb};
use crate::resources::{create_anna, create_campaign};
use ::tally::domain::observation::{self as obs, CustomerKeySecret, sha256_hex};
use ::tally::jobs::JobSettings;
use ::tally::proto::google::r#type::Date;
use ::tally::proto::*;
use ::tally::storage::customer_keys::Rekeyed;
use ::tally::storage::entities as e;
use sea_orm::EntityTrait;

const GUEST: &str = "guest@example.com";
const FAN: &str = "fan@mail.com";

fn ts(rfc3339: &str) -> Option<prost_types::Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn date(month: i32, day: i32) -> Option<Date> {
    Some(Date {
        year: 2026,
        month,
        day,
    })
}

/// A guest's order over the RPC.
fn guest_order(id: &str, email: &str, at: &str, codes: &[&str]) -> Order {
    Order {
        order_id: id.into(),
        customer_email: email.into(),
        placed_at: ts(at),
        currency_code: "EUR".into(),
        revenue_minor: 1000,
        discount_codes: codes.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    }
}

/// Ingests a guest order and a giveaway entry with e-mail addresses; the stored keys.
async fn store_a_guest(app: &TestApp) -> (String, String) {
    create_anna(app).await;
    create_campaign(app).await;
    let mut ingest = app.ingest();
    let orders = ingest
        .ingest_orders(app.req(IngestOrdersRequest {
            rows: vec![guest_order("o1", GUEST, "2026-03-01T10:00:00Z", &[])],
            all_or_nothing: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(orders.accepted_count, 1);
    let entries = ingest
        .ingest_giveaway_entries(app.req(IngestGiveawayEntriesRequest {
            rows: vec![GiveawayEntry {
                giveaway_id: "spring-box".into(),
                entrant: FAN.into(),
                entered_at: ts("2026-03-02T08:00:00Z"),
            }],
            all_or_nothing: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(entries.accepted_count, 1);
    let order = e::order::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap()
        .remove(0);
    let entry = e::giveaway_entry::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap()
        .remove(0);
    (order.customer_key.unwrap(), entry.entrant_key)
}

/// A server over `db` whose deployment secret is `secret`.
async fn spawn_with_secret(db: TestDb, secret: &CustomerKeySecret) -> TestApp {
    TestApp::builder(db)
        .job_settings(JobSettings {
            customer_keys: secret.clone(),
            ..JobSettings::default()
        })
        .spawn()
        .await
}

// Found by issue 20: the stored key of a guest was `e:` and the plain SHA-256 of the
// address, so anyone with the database could test a known address.
async fn stored_e_mail_keys_are_keyed_with_the_deployments_secret(db: TestDb) {
    let second_db = match &db {
        TestDb::Sqlite(_) => TestDb::sqlite(),
        TestDb::Postgres(_) => TestDb::postgres().await.expect("PostgreSQL configured"),
    };
    let secret_a = CustomerKeySecret::new(b"deployment-a-0123456789abcdef").unwrap();
    let secret_b = CustomerKeySecret::new(b"deployment-b-0123456789abcdef").unwrap();
    let a = spawn_with_secret(db, &secret_a).await;
    let (customer_a, entrant_a) = store_a_guest(&a).await;
    for (stored, email) in [(&customer_a, GUEST), (&entrant_a, FAN)] {
        let digest = sha256_hex(email);
        assert_ne!(*stored, format!("e:{digest}"), "not the plain digest");
        assert!(!stored.contains(&digest), "{stored}");
        assert_eq!(*stored, secret_a.email_key(email));
        assert!(stored.starts_with("k:"), "{stored}");
    }
    let b = spawn_with_secret(second_db, &secret_b).await;
    let (customer_b, entrant_b) = store_a_guest(&b).await;
    assert_ne!(customer_a, customer_b, "two deployments, two keys");
    assert_ne!(entrant_a, entrant_b, "two deployments, two keys");
    a.stop().await;
    b.stop().await;
}

/// A KPI's value over March, or the reason it has none; `first` moves the period's start
/// so that an answer cached before is not reused.
async fn march(app: &TestApp, kpi: &str, first: (i32, i32)) -> (Option<f64>, String) {
    let answer = app
        .kpis()
        .query_snapshots(app.req(QuerySnapshotsRequest {
            kpi_scope: Some(KpiScope {
                kpi: kpi.into(),
                scope: "influencers/anna".into(),
                segment: String::new(),
            }),
            first_day: date(first.0, first.1),
            last_day: date(3, 31),
            granularity: Granularity::Range as i32,
        }))
        .await
        .unwrap()
        .into_inner();
    let value = &answer.values[0];
    (value.value, value.undefined_reason.clone())
}

// Found by issue 20: rows stored before the secret hold `e:<sha256>`. They move to the
// keyed form in place (idempotently), a guest keeps one key across old and new rows, and
// the cohort KPIs that join a customer's orders do not change.
async fn stored_digests_move_to_the_keyed_form_and_customers_keep_one_key(app: TestApp) {
    create_anna(&app).await;
    create_campaign(&app).await;
    let secret = CustomerKeySecret::development();
    let old = |email: &str| format!("e:{}", sha256_hex(email));
    let order = |id: &str, email: &str, day: u32, codes: &[&str]| {
        let placed_at = chrono::NaiveDate::from_ymd_opt(2026, 3, day)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap()
            .and_utc();
        obs::Order {
            order_id: id.into(),
            customer_key: Some(old(email)),
            placed_at,
            day: placed_at.date_naive(),
            revenue_minor: 1000,
            cost_minor: 0,
            discount_minor: 0,
            currency: "EUR".into(),
            codes: codes.iter().map(|c| c.to_string()).collect(),
            utm_source: String::new(),
            utm_medium: String::new(),
            utm_campaign: String::new(),
        }
    };
    // As an earlier version stored them: the first guest buys with ANNA10 and returns,
    // the second buys with ANNA10 once.
    app.store
        .upsert_orders(
            "acme",
            &[
                order("o1", GUEST, 1, &["ANNA10"]),
                order("o2", GUEST, 20, &[]),
                order("o3", "second@example.com", 5, &["ANNA10"]),
            ],
        )
        .await
        .unwrap();
    let entry = |email: &str| {
        let entered_at = chrono::DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z")
            .unwrap()
            .to_utc();
        obs::GiveawayEntry {
            giveaway_id: "spring-box".into(),
            entrant_key: old(email),
            entered_at,
            day: entered_at.date_naive(),
        }
    };
    app.store
        .upsert_giveaway_entries("acme", &[entry(FAN), entry("twin@mail.com")])
        .await
        .unwrap();
    // The twin's entry was sent again after the upgrade, before the rewrite ran.
    app.ingest()
        .ingest_giveaway_entries(app.req(IngestGiveawayEntriesRequest {
            rows: vec![GiveawayEntry {
                giveaway_id: "spring-box".into(),
                entrant: "Twin@Mail.com".into(),
                entered_at: ts("2026-03-02T08:00:00Z"),
            }],
            all_or_nothing: true,
        }))
        .await
        .unwrap();
    let returning_before = march(&app, "returning_buyers_after_code", (3, 1)).await;
    let first_before = march(&app, "first_code_buyers", (3, 1)).await;
    assert_eq!(returning_before, (Some(1.0), String::new()));
    assert_eq!(first_before, (Some(2.0), String::new()));

    let done = app.store.rekey_customers(&secret).await.unwrap();
    assert_eq!(
        done,
        Rekeyed {
            orders: 3,
            giveaway_entries: 2
        }
    );
    assert_eq!(
        app.store.rekey_customers(&secret).await.unwrap(),
        Rekeyed::default(),
        "a second run finds nothing left"
    );
    let orders = e::order::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap();
    for o in &orders {
        let key = o.customer_key.as_deref().unwrap();
        assert!(key.starts_with("k:"), "{}: {key}", o.order_id);
    }
    let guest = secret.email_key(GUEST);
    assert_eq!(
        orders
            .iter()
            .filter(|o| o.customer_key.as_deref() == Some(guest.as_str()))
            .count(),
        2,
        "the guest's old orders carry the key a new order gets"
    );
    let mut entrants: Vec<String> = e::giveaway_entry::Entity::find()
        .all(app.store.connection())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.entrant_key)
        .collect();
    entrants.sort();
    let mut expected = vec![secret.email_key(FAN), secret.email_key("twin@mail.com")];
    expected.sort();
    assert_eq!(entrants, expected, "one row per entry, keyed");

    // The same numbers after the rewrite (a new period start: nothing cached).
    assert_eq!(
        march(&app, "returning_buyers_after_code", (2, 28)).await,
        returning_before
    );
    assert_eq!(
        march(&app, "first_code_buyers", (2, 28)).await,
        first_before
    );

    // A new order of the second guest, by address over the RPC, joins the old one.
    let response = app
        .ingest()
        .ingest_orders(app.req(IngestOrdersRequest {
            rows: vec![guest_order(
                "o4",
                " Second@Example.com ",
                "2026-03-25T10:00:00Z",
                &[],
            )],
            all_or_nothing: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.accepted_count, 1);
    assert_eq!(
        march(&app, "returning_buyers_after_code", (3, 1)).await,
        (Some(2.0), String::new()),
        "the second guest returned: old and new rows are one customer"
    );
}

mod keyed {
    crate::on_both_database_kinds!(stored_e_mail_keys_are_keyed_with_the_deployments_secret);
    use super::stored_e_mail_keys_are_keyed_with_the_deployments_secret;
}

mod migrated {
    crate::on_both_databases!(stored_digests_move_to_the_keyed_form_and_customers_keep_one_key);
    use super::stored_digests_move_to_the_keyed_form_and_customers_keep_one_key;
}

/// Runs `tally ARGS` on `url` with `env`, with no customer key setting inherited; waits at
/// most a minute (a server that starts instead of refusing would otherwise never end).
async fn tally(url: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"));
    command
        .args(args)
        .env("TALLY_DATABASE_URL", url)
        .env("TALLY_LISTEN_ADDR", "127.0.0.1:0")
        .env("TALLY_LOG", "warn")
        .env("TALLY_CONNECTORS", "none")
        .env("TALLY_SCHEDULER_ENABLED", "false")
        .env_remove("TALLY_CUSTOMER_KEY_SECRET")
        .env_remove("TALLY_INSECURE_DEV_CUSTOMER_KEY")
        .env_remove("TALLY_CONFIG")
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("`tally {}` did not end", args.join(" ")))
        .expect("run tally")
}

// Issue 20: `serve` without the secret refuses to start (naming the setting) rather than
// store guests under a public key; `migrate` with it rewrites the stored digests.
async fn serve_needs_the_secret_and_migrate_rewrites_stored_digests(db: TestDb) {
    let url = db.url();
    ::tally::storage::Store::migrate(&url).await.unwrap();
    let store = ::tally::storage::Store::connect(&url, 2).await.unwrap();
    crate::helpers::create_tenant(&store, "acme").await;
    let placed_at = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
        .unwrap()
        .to_utc();
    store
        .upsert_orders(
            "acme",
            &[obs::Order {
                order_id: "o1".into(),
                customer_key: Some(format!("e:{}", sha256_hex(GUEST))),
                placed_at,
                day: placed_at.date_naive(),
                revenue_minor: 1000,
                cost_minor: 0,
                discount_minor: 0,
                currency: "EUR".into(),
                codes: vec![],
                utm_source: String::new(),
                utm_medium: String::new(),
                utm_campaign: String::new(),
            }],
        )
        .await
        .unwrap();

    let refused = tally(&url, &["serve"], &[]).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "serve started without a secret");
    assert!(stderr.contains("customer_key_secret"), "{stderr}");

    let secret = "0123456789abcdef-this-deployment";
    let migrated = tally(&url, &["migrate"], &[("TALLY_CUSTOMER_KEY_SECRET", secret)]).await;
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let order = e::order::Entity::find()
        .all(store.connection())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        order.customer_key,
        Some(
            CustomerKeySecret::new(secret.as_bytes())
                .unwrap()
                .email_key(GUEST)
        )
    );
}

mod binary {
    crate::on_both_database_kinds!(serve_needs_the_secret_and_migrate_rewrites_stored_digests);
    use super::serve_needs_the_secret_and_migrate_rewrites_stored_digests;
}

// Found while fixing issue 20: PostgreSQL compares text in the database's collation, and
// under ICU en-US `'e:<digest>' < 'e;'` is false, so a range over the keys of earlier
// versions found none of them there. The rewrite must find them whatever the collation.
#[tokio::test]
async fn stored_digests_are_found_under_a_linguistic_collation() {
    let Some(base) = std::env::var("TALLY_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("TALLY_TEST_POSTGRES_URL not set: PostgreSQL collation test skipped");
        return;
    };
    use sea_orm::ConnectionTrait;
    let admin = sea_orm::Database::connect(base.as_str()).await.unwrap();
    // Named after the base database like every test database, so that whoever drops
    // those (.ci/run's clean-up) drops this one too.
    let (prefix, base_name) = base.rsplit_once('/').unwrap();
    let base_name = base_name.split('?').next().unwrap_or("tally");
    let name = format!(
        "{base_name}_icu{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    admin
        .execute_unprepared(&format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' \
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        ))
        .await
        .expect("create a database with an ICU collation");
    admin.close().await.ok();
    let url = format!("{prefix}/{name}");
    ::tally::storage::Store::migrate(&url).await.unwrap();
    let store = ::tally::storage::Store::connect(&url, 2).await.unwrap();
    crate::helpers::create_tenant(&store, "acme").await;
    let placed_at = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
        .unwrap()
        .to_utc();
    let order = |id: &str, key: String| obs::Order {
        order_id: id.into(),
        customer_key: Some(key),
        placed_at,
        day: placed_at.date_naive(),
        revenue_minor: 1000,
        cost_minor: 0,
        discount_minor: 0,
        currency: "EUR".into(),
        codes: vec![],
        utm_source: String::new(),
        utm_medium: String::new(),
        utm_campaign: String::new(),
    };
    store
        .upsert_orders(
            "acme",
            &[
                order("o1", format!("e:{}", sha256_hex(GUEST))),
                order("o2", "c:e:registered".into()),
            ],
        )
        .await
        .unwrap();
    let secret = CustomerKeySecret::development();
    assert_eq!(
        store.rekey_customers(&secret).await.unwrap(),
        Rekeyed {
            orders: 1,
            giveaway_entries: 0
        }
    );
    let mut keys: Vec<String> = e::order::Entity::find()
        .all(store.connection())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|o| o.customer_key)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["c:e:registered".to_string(), secret.email_key(GUEST)]
    );
}
