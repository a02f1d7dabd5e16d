//! Schema changes keep what is stored: data written before a migration reads the same
//! after it, and after its reversal.
use crate::helpers::TestDb;
use chrono::NaiveDate;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{EntityTrait, Set};
use tally::domain::goal::Scope;
use tally::kpi::period::Period;
use tally::kpi::value::Reason;
use tally::kpi::{Computed, KpiKey};
use tally::storage::Store;
use tally::storage::entities::kpi_snapshot;

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
    let before = stored(&store).await;
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
    // Down through migrations 10 and 9.
    Migrator::down(conn, Some(2)).await.unwrap();
    assert_eq!(stored(&store).await, after, "after migrating down");
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

crate::on_both_database_kinds!(snapshots_survive_the_day_first_key);
