//! A day's snapshots read back exactly as written, on both databases: every mix of a value
//! or a reason with present or absent parts, numbers that decimal text would round, and
//! days long enough to span several of the writer's statements.
use crate::helpers::TestDb;
use chrono::NaiveDate;
use tally::domain::goal::Scope;
use tally::kpi::period::Period;
use tally::kpi::value::{Reason, Value};
use tally::kpi::{Computed, KpiKey};
use tally::storage::Store;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 5, d).unwrap()
}

/// The value and parts of row `i`: a cycle through each combination the writer encodes.
fn parts(i: usize) -> (Value, Option<f64>, Option<f64>) {
    let x = i as f64;
    match i % 8 {
        0 => (Ok(0.1 + 0.2 + x), Some(x / 3.0), Some(7.0)),
        1 => (Ok(-x * 1e-300), Some(-x), None),
        2 => (Ok(f64::MAX / (x + 1.0)), None, Some(x + 0.5)),
        3 => (Ok(0.0), None, None),
        4 => (Err(Reason::ZeroDenominator), Some(x), Some(0.0)),
        5 => (Err(Reason::NoData), None, None),
        6 => (Err(Reason::OutsideCampaign), None, Some(x)),
        _ => (Ok(x / 7.0), Some(0.0), Some(1e15 + 0.3)),
    }
}

/// `n` snapshots of one day, over channel scopes and with a segment on every third row.
fn day_of(d: u32, n: usize, kpi: &str) -> Vec<Computed> {
    (0..n)
        .map(|i| {
            let (value, numerator, denominator) = parts(i);
            Computed {
                key: KpiKey {
                    kpi: kpi.into(),
                    scope: Scope::Channel(format!("ch-{i:06}")),
                    segment: (i % 3 == 0).then(|| format!("seg-{}", i % 5)),
                },
                period: Period::day(day(d)),
                value,
                numerator,
                denominator,
            }
        })
        .collect()
}

/// The stored snapshots of `expected`'s keys on its day, in its order.
async fn read_back(store: &Store, expected: &[Computed], run: &str) -> Vec<Computed> {
    let mut out = Vec::new();
    for c in expected {
        let found = store.snapshots("acme", &c.key, &c.period).await.unwrap();
        assert_eq!(found.len(), 1, "{:?}", c.key);
        assert_eq!(found[0].run_id, run);
        out.push(found[0].computed.clone());
    }
    out
}

async fn a_day_reads_back_exactly_as_written(db: TestDb) {
    Store::migrate(&db.url()).await.unwrap();
    let store = Store::connect(&db.url(), 2).await.unwrap();
    // Eleven of the writer's statements (2,000 rows each), the last one part-full.
    let rows = 20_000 + 1_003;
    let written = day_of(1, rows, "ipm");
    store
        .replace_day("acme", day(1), None, &written, "first")
        .await
        .unwrap();
    let sample: Vec<Computed> = written
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 97 < 8 || matches!(i % 2_000, 0 | 1 | 1_999) || *i >= rows - 8)
        .map(|(_, c)| c.clone())
        .collect();
    let back = read_back(&store, &sample, "first").await;
    for (stored, wrote) in back.iter().zip(&sample) {
        // Bit for bit: no number passes through decimal text.
        let bits = |c: &Computed| {
            (
                c.value.map(f64::to_bits),
                c.numerator.map(f64::to_bits),
                c.denominator.map(f64::to_bits),
            )
        };
        assert_eq!(stored.key, wrote.key);
        assert_eq!(bits(stored), bits(wrote), "{:?}", wrote.key);
    }
    assert_eq!(back, sample);

    // Replacing only one KPI's snapshots of the day keeps the others, and a day with
    // fewer rows leaves none of the longer day's behind.
    let other = day_of(1, 5, "cpm");
    store
        .replace_day("acme", day(1), Some(&["cpm"]), &other, "cpm run")
        .await
        .unwrap();
    assert_eq!(read_back(&store, &other, "cpm run").await, other);
    let shorter = day_of(1, 3, "ipm");
    store
        .replace_day("acme", day(1), Some(&["ipm"]), &shorter, "second")
        .await
        .unwrap();
    assert_eq!(read_back(&store, &shorter, "second").await, shorter);
    let gone = &written[3];
    let found = store
        .snapshots("acme", &gone.key, &gone.period)
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(read_back(&store, &other, "cpm run").await, other);
}

crate::on_both_database_kinds!(a_day_reads_back_exactly_as_written);
