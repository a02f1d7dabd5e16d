//! Schema changes keep what is stored: data written before a migration reads the same
//! after it, and after its reversal.
use crate::helpers::TestDb;
use chrono::NaiveDate;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder, Set};
use tally::domain::goal::Scope;
use tally::kpi::period::Period;
use tally::kpi::value::Reason;
use tally::kpi::{Computed, KpiKey};
use tally::storage::Store;
use tally::storage::entities::{kpi_snapshot, kpi_snapshot_day};

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn key(kpi: &str, scope: Scope) -> KpiKey {
    KpiKey {
        kpi: kpi.into(),
        scope,
        segment: None,
    }
}

/// Two series over three days, with a ratio's parts and an undefined value.
fn values(d: u32) -> Vec<Computed> {
    let ipm = key("ipm", Scope::Influencer("anna".into()));
    let roas = key("roas", Scope::Campaign("spring".into()));
    vec![
        Computed {
            key: ipm,
            period: Period::day(day(d)),
            value: Ok(10.0 * d as f64),
            numerator: Some(d as f64),
            denominator: Some(0.1),
        },
        Computed {
            key: roas,
            period: Period::day(day(d)),
            value: if d == 2 {
                Err(Reason::ZeroDenominator)
            } else {
                Ok(d as f64 / 2.0)
            },
            numerator: None,
            denominator: None,
        },
    ]
}

/// Every stored snapshot of the two series over the three days, by series and day.
async fn stored(store: &Store) -> Vec<(Computed, String)> {
    let mut out = Vec::new();
    for k in values(1).iter().map(|c| &c.key) {
        let series = store
            .snapshots("acme", k, &Period::new(day(1), day(3)).unwrap())
            .await
            .unwrap();
        out.extend(series.into_iter().map(|s| (s.computed, s.run_id)));
    }
    out
}

/// How many migrations come before the one named `name`.
fn migrations_before(name: &str) -> u32 {
    Migrator::migrations()
        .iter()
        .position(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no migration {name}")) as u32
}

/// Rolls back every migration from `name` on.
async fn down_through(conn: &DatabaseConnection, name: &str) {
    let after = Migrator::migrations().len() as u32 - migrations_before(name);
    Migrator::down(conn, Some(after)).await.unwrap();
}

/// The wide rows of the snapshot table as the code of before the compact rows read them:
/// by series and day, each as its value and run, a row with neither value nor reason left
/// out.
async fn wide_answers(conn: &DatabaseConnection) -> Vec<(Computed, String)> {
    use kpi_snapshot::Column as C;
    let rows = kpi_snapshot::Entity::find()
        .order_by_asc(C::TenantId)
        .order_by_asc(C::KpiId)
        .order_by_asc(C::Scope)
        .order_by_asc(C::SegmentId)
        .order_by_asc(C::Day)
        .all(conn)
        .await
        .unwrap();
    rows.into_iter()
        .filter_map(|r| {
            let value = match (r.value, r.reason.as_deref().and_then(Reason::parse)) {
                (Some(v), _) => Ok(v),
                (None, Some(reason)) => Err(reason),
                (None, None) => return None,
            };
            let computed = Computed {
                key: KpiKey {
                    kpi: r.kpi_id,
                    scope: Scope::parse(&r.scope).unwrap(),
                    segment: (!r.segment_id.is_empty()).then_some(r.segment_id),
                },
                period: Period::day(r.day),
                value,
                numerator: r.numerator,
                denominator: r.denominator,
            };
            Some((computed, r.run_id))
        })
        .collect()
}

async fn snapshots_survive_the_day_first_key(db: TestDb) {
    // One connection, as `Store::migrate` uses: on SQLite a migration run over a pool sent
    // the table's rename to a connection that still saw the dropped table.
    let store = Store::connect(&db.url(), 1).await.unwrap();
    let conn = store.connection();
    // The schema as it was before snapshots were stored day first.
    Migrator::up(conn, Some(8)).await.unwrap();
    let started = chrono::Utc::now();
    // Rows as the code of then wrote them (today's also notes the day, in a table that
    // came later).
    for d in 1..=3 {
        let rows = values(d).into_iter().map(|c| kpi_snapshot::ActiveModel {
            tenant_id: Set("acme".into()),
            day: Set(day(d)),
            kpi_id: Set(c.key.kpi.clone()),
            scope: Set(c.key.scope.to_string()),
            segment_id: Set(String::new()),
            value: Set(c.value.ok()),
            reason: Set(c.value.err().map(|r| r.as_str().to_string())),
            numerator: Set(c.numerator),
            denominator: Set(c.denominator),
            definition_version: Set(1),
            run_id: Set(format!("run{d}")),
            compute_time: Set(chrono::Utc::now()),
        });
        kpi_snapshot::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await
            .unwrap();
    }
    // As the code of then read them: this code reads only the compact rows.
    let before = wide_answers(conn).await;
    let expected: Vec<(Computed, String)> = [0, 1]
        .into_iter()
        .flat_map(|i| (1..=3).map(move |d| (values(d)[i].clone(), format!("run{d}"))))
        .collect();
    assert_eq!(before, expected);
    let written = chrono::Utc::now();
    Migrator::up(conn, None).await.unwrap();
    assert_eq!(
        Migrator::get_pending_migrations(conn).await.unwrap().len(),
        0
    );
    assert_eq!(stored(&store).await, expected, "after migrating up");
    // Migration 10 notes when each stored day was written, for the snapshot lag.
    let newest = store.newest_snapshot_times().await.unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].0, "acme");
    assert!(
        newest[0].1 >= started && newest[0].1 <= written,
        "{newest:?}"
    );
    let latest = store
        .latest_snapshot("acme", &values(1)[1].key, Some(day(3)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((latest.computed, latest.run_id), expected[5].clone());
    // Replacing a day still replaces only that day.
    store
        .replace_day("acme", day(2), None, &values(2)[..1], "again")
        .await
        .unwrap();
    let after = stored(&store).await;
    assert_eq!(after.len(), 5, "day 2 of roas is gone: {after:?}");
    assert_eq!(after[1], (values(2)[0].clone(), "again".to_string()));
    // Down through migrations 10 and 9 (and every later one): the wide rows of migration
    // 3 read as they did.
    down_through(conn, "m20261124_000009_snapshots_by_day").await;
    assert_eq!(wide_answers(conn).await, after, "after migrating down");
    Migrator::up(conn, None).await.unwrap();
    assert_eq!(stored(&store).await, after, "after migrating up again");
    // The newest snapshot of a series the newest days lack is found further back: past
    // the newest day and the month before it, in the block of days before those.
    let later = NaiveDate::from_ymd_opt(2026, 4, 20).unwrap();
    let mut ipm = values(1).swap_remove(0);
    ipm.period = Period::day(later);
    store
        .replace_day("acme", later, None, std::slice::from_ref(&ipm), "later")
        .await
        .unwrap();
    let newest = store.newest_computed_day("acme").await.unwrap();
    assert_eq!(newest, Some(later));
    let latest = |key: KpiKey| {
        let store = &store;
        async move {
            let found = store.latest_snapshot("acme", &key, newest).await.unwrap();
            found.map(|s| (s.computed, s.run_id))
        }
    };
    assert_eq!(latest(ipm.key.clone()).await, Some((ipm, "later".into())));
    assert_eq!(
        latest(values(3)[1].key.clone()).await,
        Some(expected[5].clone())
    );
    let never = key("roas", Scope::Campaign("autumn".into()));
    assert_eq!(latest(never).await, None);
}

const COMPACT: &str = "m20261208_000010_compact_snapshots";

/// The wide rows of `tenant` on day `d` as the code of before the compact rows wrote them:
/// three KPIs, one with segments, each written by its own run with its own definition
/// version, over every combination of a value or a reason with present or absent parts.
fn wide_day(tenant: &str, d: u32, at: chrono::DateTime<chrono::Utc>) -> Vec<kpi_snapshot::Model> {
    let reasons = [
        "no_data",
        "zero_denominator",
        "outside_campaign",
        "not_reported",
        "overflow",
    ];
    let series: [(&str, String, &str, i32); 6] = [
        ("ipm", "influencers/anna".into(), "", 1),
        ("ipm", "influencers/bo".into(), "", 1),
        ("roas", "campaigns/spring".into(), "", 1),
        ("my_custom", "tenant".into(), "", 3),
        ("my_custom", "channels/ch-1".into(), "seg-a", 3),
        ("my_custom", "channels/ch-1".into(), "seg-b", 3),
    ];
    series
        .into_iter()
        .enumerate()
        .filter(|(i, _)| d != 3 || *i != 1) // a series missing on a day
        .map(|(i, (kpi, scope, segment, version))| {
            let n = i as u32 * 7 + d;
            let x = n as f64;
            let (value, reason, numerator, denominator) = match n % 8 {
                0 => (Some(0.1 + 0.2 + x), None, Some(x / 3.0), Some(7.0)),
                1 => (Some(-x * 1e-300), None, Some(-x), None),
                2 => (Some(f64::MAX / (x + 1.0)), None, None, Some(x + 0.5)),
                3 => (Some(-0.0), None, None, None),
                4 => (
                    None,
                    Some(reasons[(n as usize / 8) % 5]),
                    Some(x),
                    Some(0.0),
                ),
                5 => (None, Some(reasons[(n as usize / 8 + 2) % 5]), None, None),
                // Neither a value nor a reason: read as never written, before and after.
                6 => (None, None, Some(x), None),
                _ => (None, Some(reasons[(n as usize / 8 + 4) % 5]), None, Some(x)),
            };
            kpi_snapshot::Model {
                tenant_id: tenant.into(),
                day: day(d),
                kpi_id: kpi.into(),
                scope,
                segment_id: segment.into(),
                value,
                reason: reason.map(str::to_string),
                numerator,
                denominator,
                definition_version: version,
                run_id: format!("{tenant}-{kpi}-{d}-{}", "f".repeat(40)),
                compute_time: at,
            }
        })
        .collect()
}

/// Every answer the store gives about `rows`' series: each series' snapshots over the
/// days (QuerySnapshots at DAY), its latest (BatchGetLatest), and the tenant's oldest and
/// newest days.
async fn answers(store: &Store, tenants: &[&str], rows: &[kpi_snapshot::Model]) -> Vec<String> {
    let mut keys: Vec<(String, KpiKey)> = rows
        .iter()
        .map(|r| {
            let key = KpiKey {
                kpi: r.kpi_id.clone(),
                scope: Scope::parse(&r.scope).unwrap(),
                segment: (!r.segment_id.is_empty()).then(|| r.segment_id.clone()),
            };
            (r.tenant_id.clone(), key)
        })
        .collect();
    keys.sort_by_key(|(t, k)| (t.clone(), format!("{k:?}")));
    keys.dedup();
    let mut out = Vec::new();
    for tenant in tenants {
        let newest = store.newest_computed_day(tenant).await.unwrap();
        let oldest = store.oldest_computed_day(tenant).await.unwrap();
        out.push(format!("{tenant}: {oldest:?}..{newest:?}"));
        for (_, key) in keys.iter().filter(|(t, _)| t == tenant) {
            let all = store
                .snapshots(tenant, key, &Period::new(day(1), day(5)).unwrap())
                .await
                .unwrap();
            for s in all {
                out.push(format!("{tenant} {s:?} bits {:?}", bits(&s.computed)));
            }
            let latest = store.latest_snapshot(tenant, key, newest).await.unwrap();
            out.push(format!("{tenant} latest {latest:?}"));
        }
    }
    out
}

fn bits(c: &Computed) -> (Option<u64>, Option<u64>, Option<u64>) {
    (
        c.value.ok().map(f64::to_bits),
        c.numerator.map(f64::to_bits),
        c.denominator.map(f64::to_bits),
    )
}

/// The wide rows, in key order, with their numbers as bits.
async fn wide_rows(conn: &DatabaseConnection) -> Vec<(kpi_snapshot::Model, Vec<Option<u64>>)> {
    use kpi_snapshot::Column as C;
    kpi_snapshot::Entity::find()
        .order_by_asc(C::TenantId)
        .order_by_asc(C::Day)
        .order_by_asc(C::KpiId)
        .order_by_asc(C::Scope)
        .order_by_asc(C::SegmentId)
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let b = [r.value, r.numerator, r.denominator]
                .map(|x| x.map(f64::to_bits))
                .to_vec();
            (r, b)
        })
        .collect()
}

async fn compact_snapshots_keep_every_answer(db: TestDb) {
    let store = Store::connect(&db.url(), 1).await.unwrap();
    let conn = store.connection();
    Migrator::up(conn, Some(migrations_before(COMPACT)))
        .await
        .unwrap();
    let tenants = ["acme", "beta"];
    let mut written = Vec::new();
    for (t, tenant) in tenants.iter().enumerate() {
        for d in 1..=4 {
            if t == 1 && d == 1 {
                continue; // tenants' days differ
            }
            let at = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, d, 4, 5, 6).unwrap();
            let rows = wide_day(tenant, d, at);
            written.extend(rows.iter().cloned());
            kpi_snapshot::Entity::insert_many(
                rows.into_iter().map(kpi_snapshot::ActiveModel::from),
            )
            .exec_without_returning(conn)
            .await
            .unwrap();
            kpi_snapshot_day::Entity::insert(kpi_snapshot_day::ActiveModel {
                tenant_id: Set(tenant.to_string()),
                day: Set(day(d)),
                compute_time: Set(at),
            })
            .exec_without_returning(conn)
            .await
            .unwrap();
        }
    }
    let rows_before = wide_rows(conn).await;
    assert_eq!(rows_before.len(), written.len());
    // The answers of the code of then: read from the wide rows as it read them.
    let wide_before = wide_answers(conn).await;
    let lag_before = store.newest_snapshot_times().await.unwrap();

    Migrator::up(conn, None).await.unwrap();
    // The view of the wide columns shows the same rows.
    assert_eq!(
        wide_rows(conn).await,
        rows_before,
        "the view after migrating up"
    );
    let after = answers(&store, &tenants, &written).await;
    // Each series' answers are the wide rows' own.
    let mut expected_snapshots = 0;
    for (computed, run) in &wide_before {
        let tenant = if run.starts_with("acme") {
            "acme"
        } else {
            "beta"
        };
        let found = store
            .snapshots(tenant, &computed.key, &computed.period)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{computed:?}");
        assert_eq!(&found[0].computed, computed);
        assert_eq!(bits(&found[0].computed), bits(computed));
        assert_eq!(&found[0].run_id, run);
        let version = if computed.key.kpi == "my_custom" {
            3
        } else {
            1
        };
        assert_eq!(found[0].definition_version, version);
        expected_snapshots += 1;
    }
    assert!(expected_snapshots > 30, "{expected_snapshots}");
    // Rows with neither a value nor a reason stay unread.
    assert!(
        written
            .iter()
            .any(|r| r.value.is_none() && r.reason.is_none())
    );
    assert_eq!(store.newest_snapshot_times().await.unwrap(), lag_before);

    // Back to the wide rows: the same rows, compute times and all.
    down_through(conn, COMPACT).await;
    assert_eq!(wide_rows(conn).await, rows_before, "after migrating down");
    assert_eq!(wide_answers(conn).await, wide_before);
    Migrator::up(conn, None).await.unwrap();
    assert_eq!(
        answers(&store, &tenants, &written).await,
        after,
        "after migrating up again"
    );

    // The compact rows are written as the wide ones were: a replaced day keeps what is
    // unchanged under the new run, and a day replaced for one KPI keeps the others' runs.
    let key = |kpi: &str, scope: &str, segment: &str| KpiKey {
        kpi: kpi.into(),
        scope: Scope::parse(scope).unwrap(),
        segment: (!segment.is_empty()).then(|| segment.to_string()),
    };
    let anna = key("ipm", "influencers/anna", "");
    let spring = key("roas", "campaigns/spring", "");
    let kept = store
        .snapshots("acme", &spring, &Period::day(day(2)))
        .await
        .unwrap();
    let mut same = store
        .snapshots("acme", &anna, &Period::day(day(2)))
        .await
        .unwrap()
        .remove(0)
        .computed;
    let mut changed = same.clone();
    changed.key = key("my_custom", "tenant", "");
    changed.value = Ok(42.0);
    store
        .replace_day(
            "acme",
            day(2),
            Some(&["ipm", "my_custom"]),
            &[same.clone(), changed.clone()],
            "again",
        )
        .await
        .unwrap();
    let read = |k: KpiKey| {
        let store = &store;
        async move {
            store
                .snapshots("acme", &k, &Period::day(day(2)))
                .await
                .unwrap()
        }
    };
    let got = read(anna.clone()).await;
    assert_eq!((&got[0].computed, got[0].run_id.as_str()), (&same, "again"));
    let got = read(changed.key.clone()).await;
    assert_eq!(
        (
            &got[0].computed,
            got[0].run_id.as_str(),
            got[0].definition_version
        ),
        (&changed, "again", 1)
    );
    assert_eq!(read(key("ipm", "influencers/bo", "")).await, vec![]);
    assert_eq!(
        read(key("my_custom", "channels/ch-1", "seg-a")).await,
        vec![]
    );
    assert_eq!(read(spring.clone()).await, kept);
    // A whole day replaced: what it lacks is gone, the rest reads under the new run.
    same.value = Ok(7.5);
    store
        .replace_day("acme", day(2), None, std::slice::from_ref(&same), "whole")
        .await
        .unwrap();
    let got = read(anna).await;
    assert_eq!((&got[0].computed, got[0].run_id.as_str()), (&same, "whole"));
    assert_eq!(read(spring).await, vec![]);
    assert_eq!(read(changed.key).await, vec![]);
    // And the wide rows of that state read the same after migrating down.
    let compact = answers(&store, &tenants, &written).await;
    down_through(conn, COMPACT).await;
    Migrator::up(conn, None).await.unwrap();
    assert_eq!(answers(&store, &tenants, &written).await, compact);
}

crate::on_both_database_kinds!(
    snapshots_survive_the_day_first_key,
    compact_snapshots_keep_every_answer
);
