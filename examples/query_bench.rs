//! Roll-up query benchmark (not a test): year-long QuerySnapshots answers by WEEK, MONTH
//! and RANGE against DAY answers of the same series, on a data set made by
//! `examples/kpi_bench.rs` (whose full-year recompute also stores the weeks and months).
//!
//! ```text
//! cargo run --release --example kpi_bench -- --db sqlite:///tmp/bench-s.db --size S
//! cargo run --release --example query_bench -- --db sqlite:///tmp/bench-s.db
//! ```
//!
//! Options: `--repeats N` (rounds over the sample, default 3), `--tenant ID` (default
//! `bench`), `--year Y` (default 2026).
//!
//! The sample is one series for every KPI (built-in, custom and pushed) and every scope
//! kind it applies to: the first of the tenant's daily keys of that pair (with a segment
//! where the KPI needs one). Each call is what QuerySnapshots asks of the use-case layer
//! (`engine::query::Query::snapshots`) on a fresh `Query`, so nothing is cached between
//! calls (the API's read cache sits above this layer and is not involved); the gRPC
//! encoding of the answer is not timed. Prints p50/p99/max per granularity, the ratio of
//! each p99 to the DAY p99, and the slowest single queries (overall and by each roll-up).
use std::collections::HashSet;
use std::error::Error;
use std::time::{Duration, Instant};
use tally::engine::Engine;
use tally::engine::query::Query;
use tally::kpi::KpiKey;
use tally::kpi::period::{Granularity, Period};
use tally::storage::Store;

type BoxResult<T> = Result<T, Box<dyn Error>>;

struct Args {
    db: String,
    tenant: String,
    year: i32,
    repeats: usize,
}

fn parse_args() -> BoxResult<Args> {
    let mut args = Args {
        db: String::new(),
        tenant: "bench".into(),
        year: 2026,
        repeats: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--db" => args.db = it.next().ok_or("--db needs a URL")?,
            "--tenant" => args.tenant = it.next().ok_or("--tenant needs an id")?,
            "--year" => args.year = it.next().ok_or("--year needs a year")?.parse()?,
            "--repeats" => args.repeats = it.next().ok_or("--repeats needs N")?.parse()?,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; see the top of examples/query_bench.rs"
                )
                .into());
            }
        }
    }
    if args.db.is_empty() {
        return Err("--db URL is required (sqlite:///tmp/bench.db or postgres://...)".into());
    }
    Ok(args)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let args = parse_args()?;
    let store = Store::connect(&args.db, 4).await?;
    let tenant = store.get_tenant(&args.tenant).await?;
    let year = Period::new(
        chrono::NaiveDate::from_ymd_opt(args.year, 1, 1).ok_or("year")?,
        chrono::NaiveDate::from_ymd_opt(args.year, 12, 31).ok_or("year")?,
    )
    .ok_or("year")?;
    let engine = Engine::new(&store, &tenant.id).await?;
    let keys = engine.daily_keys(&store.metric_keys(&tenant.id).await?);
    drop(engine);
    let mut seen = HashSet::new();
    let sample: Vec<KpiKey> = keys
        .into_iter()
        .filter(|k| seen.insert((k.kpi.clone(), k.scope.kind())))
        .collect();
    println!(
        "{} series (every KPI x scope kind), {} round(s), year {}",
        sample.len(),
        args.repeats,
        args.year
    );
    let granularities = [
        (Granularity::Day, "DAY"),
        (Granularity::Week, "WEEK"),
        (Granularity::Month, "MONTH"),
        (Granularity::Range, "RANGE"),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); granularities.len()];
    let mut slowest: Vec<(Duration, String)> = Vec::new();
    for round in 0..args.repeats {
        let started = Instant::now();
        for key in &sample {
            for (g, (granularity, name)) in granularities.iter().enumerate() {
                let t = Instant::now();
                let mut query = Query::new(&store, &tenant);
                let answers = query.snapshots(key, year, *granularity).await?;
                let took = t.elapsed();
                std::hint::black_box(answers);
                times[g].push(took);
                slowest.push((
                    took,
                    format!(
                        "{} on {} ({}) by {name}",
                        key.kpi,
                        key.scope,
                        key.segment.as_deref().unwrap_or("-")
                    ),
                ));
            }
        }
        eprintln!(
            "round {} took {:.1} s",
            round + 1,
            started.elapsed().as_secs_f64()
        );
    }
    for t in &mut times {
        t.sort();
    }
    let day_p99 = percentile(&times[0], 99.0);
    println!();
    println!("| granularity | calls | p50 ms | p99 ms | max ms | p99 / DAY p99 |");
    println!("|---|---|---|---|---|---|");
    for (g, (_, name)) in granularities.iter().enumerate() {
        let p99 = percentile(&times[g], 99.0);
        println!(
            "| {name} | {} | {} | {} | {} | {:.2} |",
            times[g].len(),
            ms(percentile(&times[g], 50.0)),
            ms(p99),
            ms(*times[g].last().unwrap_or(&Duration::ZERO)),
            p99.as_secs_f64() / day_p99.as_secs_f64().max(1e-9),
        );
    }
    let rolled: Vec<Duration> = {
        let mut all: Vec<Duration> = times[1..].iter().flatten().copied().collect();
        all.sort();
        all
    };
    let p99 = percentile(&rolled, 99.0);
    println!(
        "| WEEK+MONTH+RANGE | {} | {} | {} | {} | {:.2} |",
        rolled.len(),
        ms(percentile(&rolled, 50.0)),
        ms(p99),
        ms(*rolled.last().unwrap_or(&Duration::ZERO)),
        p99.as_secs_f64() / day_p99.as_secs_f64().max(1e-9),
    );
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    println!();
    println!("Slowest single queries:");
    for (took, what) in slowest.iter().take(10) {
        println!("  {} ms  {what}", ms(*took));
    }
    for (_, name) in &granularities[1..] {
        println!();
        println!("Slowest by {name}:");
        let by = format!(" by {name}");
        for (took, what) in slowest.iter().filter(|s| s.1.ends_with(&by)).take(5) {
            println!("  {} ms  {what}", ms(*took));
        }
    }
    Ok(())
}
