//! TenantService, the operator's API: every RPC, bad input per field, what a settings
//! change may do once snapshots are stored, and the wall between the operator key and the
//! tenants' keys. `tally admin` runs the same use cases: one test drives both.
use crate::helpers::{
    TestApp, TestDb, bad_fields, expect_code, list_influencers_with, serve_options, with_key,
};
use prost::Message;
use tally::proto::tenant_service_client::TenantServiceClient;
use tally::proto::*;
use tonic::Code;
use tonic::transport::Channel;

/// The operator key the test servers accept.
const OPERATOR: &str = "tallyop_test-operator-key-for-tenant-service-000000";

async fn operated(db: TestDb) -> TestApp {
    TestApp::builder(db)
        .options(tally::server::ServeOptions {
            operator_key_hash: Some(tally::auth::hash_key(OPERATOR)),
            ..serve_options()
        })
        .spawn()
        .await
}

fn tenants(app: &TestApp) -> TenantServiceClient<Channel> {
    TenantServiceClient::new(app.channel.clone())
}

fn op<T>(msg: T) -> tonic::Request<T> {
    with_key(msg, OPERATOR)
}

fn amsterdam() -> Tenant {
    Tenant {
        display_name: "Brand NL".into(),
        settings: Some(TenantSettings {
            time_zone: "Europe/Amsterdam".into(),
            currency: "usd".into(),
            recompute_trailing_days: 7,
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn create_brand(app: &TestApp) -> tally::proto::Tenant {
    tenants(app)
        .create_tenant(op(CreateTenantRequest {
            tenant: Some(amsterdam()),
            tenant_id: "brand-nl".into(),
        }))
        .await
        .unwrap()
        .into_inner()
}

async fn create_key(app: &TestApp, tenant: &str) -> CreateApiKeyResponse {
    tenants(app)
        .create_api_key(op(CreateApiKeyRequest {
            parent: format!("tenants/{tenant}"),
        }))
        .await
        .unwrap()
        .into_inner()
}

/// Revokes the API key `name` (`tenants/{tenant}/apiKeys/{id}`).
async fn revoke(app: &TestApp, name: &str) -> Result<ApiKey, tonic::Status> {
    tenants(app)
        .revoke_api_key(op(RevokeApiKeyRequest { name: name.into() }))
        .await
        .map(tonic::Response::into_inner)
}

async fn list_keys(app: &TestApp, tenant: &str) -> Vec<ApiKey> {
    tenants(app)
        .list_api_keys(op(ListApiKeysRequest {
            parent: format!("tenants/{tenant}"),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .api_keys
}

fn settings_of(tenant: &tally::proto::Tenant) -> TenantSettings {
    tenant.settings.clone().expect("settings")
}

async fn an_operator_provisions_a_tenant_and_rotates_its_keys(db: TestDb) {
    let app = operated(db).await;
    let created = create_brand(&app).await;
    assert_eq!(created.name, "tenants/brand-nl");
    assert_eq!(created.display_name, "Brand NL");
    assert!(created.create_time.is_some());
    assert_eq!(
        settings_of(&created),
        TenantSettings {
            time_zone: "Europe/Amsterdam".into(),
            currency: "USD".into(),
            order_window_days: 30,
            returning_window_days: 90,
            recompute_trailing_days: 7,
            lift_pre_period_days: 56,
        }
    );
    let got = tenants(&app)
        .get_tenant(op(GetTenantRequest {
            name: "tenants/brand-nl".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, created);

    // Paged by id, one a page: acme (the harness's), then brand-nl.
    let first = tenants(&app)
        .list_tenants(op(ListTenantsRequest {
            page_size: 1,
            page_token: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.tenants.len(), 1);
    assert_eq!(first.tenants[0].name, "tenants/acme");
    assert!(!first.next_page_token.is_empty());
    let second = tenants(&app)
        .list_tenants(op(ListTenantsRequest {
            page_size: 1,
            page_token: first.next_page_token,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.tenants, vec![created.clone()]);
    assert!(second.next_page_token.is_empty());

    // A new tenant has no key until one is made; the key works on the tenant's RPCs, on
    // that tenant alone.
    assert!(list_keys(&app, "brand-nl").await.is_empty());
    let made = create_key(&app, "brand-nl").await;
    assert!(
        made.key.starts_with(tally::auth::KEY_PREFIX),
        "{}",
        made.key
    );
    let key = made.api_key.clone().expect("api_key");
    assert!(
        key.name.starts_with("tenants/brand-nl/apiKeys/k"),
        "{}",
        key.name
    );
    assert!(key.create_time.is_some() && key.revoke_time.is_none());
    let listed = list_influencers_with(&app, &made.key).await.unwrap();
    assert!(listed.influencers.is_empty());
    crate::resources::create_anna(&app).await;
    let listed = list_influencers_with(&app, &made.key).await.unwrap();
    assert!(listed.influencers.is_empty(), "acme's influencer leaked");

    // After creation no answer carries the key's secret, nor its hash.
    let hash = tally::auth::hash_key(&made.key);
    let keys = tenants(&app)
        .list_api_keys(op(ListApiKeysRequest {
            parent: "tenants/brand-nl".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys.api_keys, vec![key.clone()]);
    let wire = String::from_utf8_lossy(&keys.encode_to_vec()).into_owned();
    assert!(!wire.contains(&made.key) && !wire.contains(&hash), "{wire}");

    // Rotation: a second key, then the first revoked. The first is used just before, so
    // the read cache holds it: it must still stop working at once.
    let second_key = create_key(&app, "brand-nl").await;
    list_influencers_with(&app, &made.key).await.unwrap();
    let revoked = revoke(&app, &key.name).await.unwrap();
    assert!(revoked.revoke_time.is_some());
    expect_code(
        list_influencers_with(&app, &made.key).await,
        Code::Unauthenticated,
    );
    list_influencers_with(&app, &second_key.key).await.unwrap();
    // Revoking again changes nothing.
    let again = revoke(&app, &key.name).await.unwrap();
    assert_eq!(again, revoked);
    let keys = list_keys(&app, "brand-nl").await;
    assert_eq!(keys.len(), 2);
    assert_eq!(
        keys.iter().filter(|k| k.revoke_time.is_some()).count(),
        1,
        "{keys:?}"
    );

    // Unknown names.
    for name in ["tenants/nobody", "tenants/brand-nl/apiKeys/knothere"] {
        expect_code(
            revoke(&app, name).await,
            if name.contains("apiKeys") {
                Code::NotFound
            } else {
                Code::InvalidArgument
            },
        );
    }
    expect_code(
        tenants(&app)
            .get_tenant(op(GetTenantRequest {
                name: "tenants/nobody".into(),
            }))
            .await,
        Code::NotFound,
    );
    expect_code(
        tenants(&app)
            .create_api_key(op(CreateApiKeyRequest {
                parent: "tenants/nobody".into(),
            }))
            .await,
        Code::NotFound,
    );
    expect_code(
        tenants(&app)
            .list_api_keys(op(ListApiKeysRequest {
                parent: "tenants/nobody".into(),
                ..Default::default()
            }))
            .await,
        Code::NotFound,
    );
    expect_code(
        tenants(&app)
            .create_tenant(op(CreateTenantRequest {
                tenant: Some(amsterdam()),
                tenant_id: "brand-nl".into(),
            }))
            .await,
        Code::AlreadyExists,
    );
    app.stop().await;
}

async fn operator_and_tenant_keys_never_stand_in_for_each_other(db: TestDb) {
    let app = operated(db).await;
    let list = || ListTenantsRequest::default();
    // A tenant's key, no key, a malformed header and a made-up key: all refused here.
    for request in [
        with_key(list(), &app.key),
        tonic::Request::new(list()),
        with_key(list(), "tallyop_not-the-operator"),
    ] {
        let status = expect_code(
            tenants(&app).list_tenants(request).await,
            Code::Unauthenticated,
        );
        use tonic_types::StatusExt;
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "API_KEY_INVALID"
        );
    }
    expect_code(
        tenants(&app)
            .create_api_key(with_key(
                CreateApiKeyRequest {
                    parent: "tenants/acme".into(),
                },
                &app.key,
            ))
            .await,
        Code::Unauthenticated,
    );
    // The operator key on the tenant services: refused, whatever the key table holds,
    // even a tenant key row with the same hash.
    let db = sea_orm::Database::connect(app.db_url()).await.unwrap();
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "INSERT INTO api_keys (tenant_id, id, key_hash, create_time) \
         VALUES ('acme', 'kplanted', '{}', '2026-01-01 00:00:00+00:00')",
        tally::auth::hash_key(OPERATOR)
    ))
    .await
    .unwrap();
    db.close().await.ok();
    expect_code(
        app.influencers()
            .list_influencers(op(ListInfluencersRequest::default()))
            .await,
        Code::Unauthenticated,
    );
    expect_code(
        app.kpis()
            .list_kpi_definitions(op(ListKpiDefinitionsRequest::default()))
            .await,
        Code::Unauthenticated,
    );
    // The tenant key keeps working where it belongs.
    app.influencers()
        .list_influencers(app.req(ListInfluencersRequest::default()))
        .await
        .unwrap();
    app.stop().await;

    // A server without an operator key has TenantService closed to everyone.
    let closed = TestApp::spawn(TestDb::sqlite()).await;
    for key in [OPERATOR, closed.key.as_str()] {
        let status = expect_code(
            tenants(&closed).list_tenants(with_key(list(), key)).await,
            Code::Unauthenticated,
        );
        assert!(
            status.message().contains("TALLY_OPERATOR_KEY_HASH"),
            "{status:?}"
        );
    }
    closed.stop().await;
}

async fn bad_input_is_refused_naming_each_field(db: TestDb) {
    let app = operated(db).await;
    let mut client = tenants(&app);
    let create = |tenant: Option<Tenant>, id: &str| {
        op(CreateTenantRequest {
            tenant,
            tenant_id: id.into(),
        })
    };
    assert_eq!(
        bad_fields(client.create_tenant(create(None, "ok")).await),
        ["tenant"]
    );
    let everything_wrong = Tenant {
        display_name: " ".into(),
        settings: Some(TenantSettings {
            time_zone: "Mars/Olympus".into(),
            currency: "EURO".into(),
            order_window_days: -1,
            returning_window_days: 3651,
            recompute_trailing_days: 61,
            lift_pre_period_days: 27,
        }),
        ..Default::default()
    };
    let mut fields = bad_fields(
        client
            .create_tenant(create(Some(everything_wrong), "9-starts-with-a-digit"))
            .await,
    );
    fields.sort();
    assert_eq!(
        fields,
        [
            "tenant.display_name",
            "tenant.settings.currency",
            "tenant.settings.lift_pre_period_days",
            "tenant.settings.order_window_days",
            "tenant.settings.recompute_trailing_days",
            "tenant.settings.returning_window_days",
            "tenant.settings.time_zone",
            "tenant_id",
        ]
    );
    for name in ["", "tenant/acme", "tenants/ACME", "tenants/acme/x"] {
        assert_eq!(
            bad_fields(
                client
                    .get_tenant(op(GetTenantRequest { name: name.into() }))
                    .await
            ),
            ["name"],
            "{name:?}"
        );
    }
    assert_eq!(
        bad_fields(
            client
                .list_tenants(op(ListTenantsRequest {
                    page_size: -1,
                    page_token: String::new(),
                }))
                .await
        ),
        ["page_size"]
    );
    assert_eq!(
        bad_fields(
            client
                .list_tenants(op(ListTenantsRequest {
                    page_size: 0,
                    page_token: "forged".into(),
                }))
                .await
        ),
        ["page_token"]
    );
    let update = |name: &str, settings: Option<TenantSettings>, paths: &[&str]| {
        op(UpdateTenantSettingsRequest {
            name: name.into(),
            settings,
            update_mask: Some(prost_types::FieldMask {
                paths: paths.iter().map(|p| p.to_string()).collect(),
            }),
        })
    };
    assert_eq!(
        bad_fields(
            client
                .update_tenant_settings(update("acme", None, &["time_zone"]))
                .await
        ),
        ["name", "settings"]
    );
    assert_eq!(
        bad_fields(
            client
                .update_tenant_settings(update(
                    "tenants/acme",
                    Some(TenantSettings::default()),
                    &["time_zone", "display_name"],
                ))
                .await
        ),
        ["update_mask.paths[1]"]
    );
    // Nothing named and nothing set: there is nothing to change.
    assert_eq!(
        bad_fields(
            client
                .update_tenant_settings(update(
                    "tenants/acme",
                    Some(TenantSettings::default()),
                    &[]
                ))
                .await
        ),
        ["update_mask"]
    );
    let mut fields = bad_fields(
        client
            .update_tenant_settings(update(
                "tenants/acme",
                Some(TenantSettings {
                    time_zone: "Nowhere".into(),
                    currency: "ABC".into(),
                    order_window_days: -5,
                    returning_window_days: -5,
                    recompute_trailing_days: -1,
                    lift_pre_period_days: 365,
                }),
                &["*"],
            ))
            .await,
    );
    fields.sort();
    assert_eq!(
        fields,
        [
            "settings.currency",
            "settings.lift_pre_period_days",
            "settings.order_window_days",
            "settings.recompute_trailing_days",
            "settings.returning_window_days",
            "settings.time_zone",
        ]
    );
    expect_code(
        client
            .update_tenant_settings(update(
                "tenants/nobody",
                Some(TenantSettings {
                    recompute_trailing_days: 5,
                    ..Default::default()
                }),
                &[],
            ))
            .await,
        Code::NotFound,
    );
    assert_eq!(
        bad_fields(
            client
                .create_api_key(op(CreateApiKeyRequest {
                    parent: "acme".into(),
                }))
                .await
        ),
        ["parent"]
    );
    let mut fields = bad_fields(
        client
            .list_api_keys(op(ListApiKeysRequest {
                parent: "tenants/".into(),
                page_size: -3,
                page_token: String::new(),
            }))
            .await,
    );
    fields.sort();
    assert_eq!(fields, ["page_size", "parent"]);
    for name in [
        "",
        "tenants/acme",
        "tenants/acme/keys/k1",
        "tenants/acme/apiKeys/K1",
    ] {
        assert_eq!(
            bad_fields(
                client
                    .revoke_api_key(op(RevokeApiKeyRequest { name: name.into() }))
                    .await
            ),
            ["name"],
            "{name:?}"
        );
    }
    // Nothing was written by any of them.
    let all = client
        .list_tenants(op(ListTenantsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.tenants.len(), 1);
    app.stop().await;
}

async fn settings_that_define_stored_snapshots_are_frozen_once_there_are_some(db: TestDb) {
    let app = operated(db).await;
    let mut client = tenants(&app);
    let update = |settings: TenantSettings, paths: &[&str]| {
        op(UpdateTenantSettingsRequest {
            name: "tenants/acme".into(),
            settings: Some(settings),
            update_mask: Some(prost_types::FieldMask {
                paths: paths.iter().map(|p| p.to_string()).collect(),
            }),
        })
    };
    // Before any snapshot every setting may change; a window of 0 needs naming.
    let changed = client
        .update_tenant_settings(update(
            TenantSettings {
                time_zone: "Europe/Amsterdam".into(),
                currency: "gbp".into(),
                order_window_days: 0,
                ..Default::default()
            },
            &["time_zone", "currency", "order_window_days"],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        settings_of(&changed),
        TenantSettings {
            time_zone: "Europe/Amsterdam".into(),
            currency: "GBP".into(),
            order_window_days: 0,
            returning_window_days: 90,
            recompute_trailing_days: 3,
            lift_pre_period_days: 56,
        }
    );
    let stored = app.store.get_tenant("acme").await.unwrap().settings;
    assert_eq!(
        (stored.order_window_days, stored.currency.as_str()),
        (0, "GBP")
    );

    // Snapshots stored: the tenant's days, money and windows are now fixed.
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(2);
    let day = |d: chrono::NaiveDate| {
        use chrono::Datelike;
        Some(tally::proto::google::r#type::Date {
            year: d.year(),
            month: d.month() as i32,
            day: d.day() as i32,
        })
    };
    app.kpis()
        .compute_kpis(app.req(ComputeKpisRequest {
            first_day: day(yesterday),
            last_day: day(yesterday),
        }))
        .await
        .unwrap();
    assert_eq!(
        app.store.oldest_computed_day("acme").await.unwrap(),
        Some(yesterday),
        "ComputeKpis stored no snapshot; the precondition below would not be tested"
    );
    for (settings, path) in [
        (
            TenantSettings {
                time_zone: "UTC".into(),
                ..Default::default()
            },
            "time_zone",
        ),
        (
            TenantSettings {
                currency: "EUR".into(),
                ..Default::default()
            },
            "currency",
        ),
        (
            TenantSettings {
                order_window_days: 30,
                ..Default::default()
            },
            "order_window_days",
        ),
        (
            TenantSettings {
                returning_window_days: 60,
                ..Default::default()
            },
            "returning_window_days",
        ),
    ] {
        let status = expect_code(
            client
                .update_tenant_settings(update(settings, &[path]))
                .await,
            Code::FailedPrecondition,
        );
        assert!(
            status.message().contains(path) && status.message().contains(&yesterday.to_string()),
            "{status:?}"
        );
    }
    let unchanged = app.store.get_tenant("acme").await.unwrap().settings;
    assert_eq!(unchanged, stored, "a refused change wrote something");

    // The trailing days and the lift's pre-period change no stored value: accepted, and
    // so is a value already set.
    let after = client
        .update_tenant_settings(update(
            TenantSettings {
                time_zone: "Europe/Amsterdam".into(),
                recompute_trailing_days: 14,
                lift_pre_period_days: 84,
                ..Default::default()
            },
            &[
                "time_zone",
                "recompute_trailing_days",
                "lift_pre_period_days",
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(settings_of(&after).recompute_trailing_days, 14);
    assert_eq!(settings_of(&after).lift_pre_period_days, 84);
    assert_eq!(
        app.store
            .get_tenant("acme")
            .await
            .unwrap()
            .settings
            .lift_pre_period_days,
        84
    );
    assert_eq!(
        app.store
            .get_tenant("acme")
            .await
            .unwrap()
            .settings
            .trailing_days,
        14
    );
    app.stop().await;
}

/// `tally admin`, run as a separate process on the same database.
async fn admin(url: &str, args: &[&str]) -> std::process::Output {
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
            .arg("admin")
            .args(args)
            .env("TALLY_DATABASE_URL", url)
            .env("TALLY_LOG", "warn")
            .env_remove("TALLY_CONFIG")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("`tally admin` did not end")
    .expect("run tally")
}

async fn the_admin_commands_share_the_services_rules(db: TestDb) {
    let app = operated(db).await;
    let url = app.db_url();
    let made = admin(
        &url,
        &[
            "create-tenant",
            "Shop DE",
            "--id",
            "shop-de",
            "--time-zone",
            "Europe/Berlin",
            "--recompute-trailing-days",
            "5",
        ],
    )
    .await;
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let key = String::from_utf8(made.stdout).unwrap().trim().to_string();
    list_influencers_with(&app, &key).await.unwrap();
    let seen = tenants(&app)
        .get_tenant(op(GetTenantRequest {
            name: "tenants/shop-de".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(settings_of(&seen).time_zone, "Europe/Berlin");
    assert_eq!(settings_of(&seen).recompute_trailing_days, 5);

    // The same checks, naming the same fields.
    let bad = admin(
        &url,
        &[
            "update-settings",
            "shop-de",
            "--recompute-trailing-days",
            "61",
        ],
    )
    .await;
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("recompute_trailing_days"), "{stderr}");
    let ok = admin(
        &url,
        &[
            "update-settings",
            "shop-de",
            "--recompute-trailing-days",
            "9",
        ],
    )
    .await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let seen = tenants(&app)
        .get_tenant(op(GetTenantRequest {
            name: "tenants/shop-de".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(settings_of(&seen).recompute_trailing_days, 9);

    // Keys listed by the CLI are those of the API, never with a secret.
    let listed = admin(&url, &["list-keys", "shop-de"]).await;
    assert!(listed.status.success());
    let listed = String::from_utf8(listed.stdout).unwrap();
    let api_keys = list_keys(&app, "shop-de").await;
    assert_eq!(api_keys.len(), 1);
    let id = api_keys[0].name.rsplit('/').next().unwrap();
    assert!(
        listed.starts_with(id) && listed.contains("valid"),
        "{listed}"
    );
    assert!(!listed.contains(&key));

    // An operator key made by the CLI, with the hash to configure.
    let made = admin(&url, &["operator-key"]).await;
    assert!(made.status.success());
    let operator = String::from_utf8(made.stdout).unwrap().trim().to_string();
    assert!(operator.starts_with(tally::auth::OPERATOR_KEY_PREFIX));
    let stderr = String::from_utf8_lossy(&made.stderr);
    assert!(
        stderr.contains(&format!(
            "TALLY_OPERATOR_KEY_HASH={}",
            tally::auth::hash_key(&operator)
        )),
        "{stderr}"
    );
    app.stop().await;
}

crate::on_both_database_kinds!(
    an_operator_provisions_a_tenant_and_rotates_its_keys,
    operator_and_tenant_keys_never_stand_in_for_each_other,
    bad_input_is_refused_naming_each_field,
    settings_that_define_stored_snapshots_are_frozen_once_there_are_some,
    the_admin_commands_share_the_services_rules,
);
