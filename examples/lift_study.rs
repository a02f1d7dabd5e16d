//! The simulation study of campaign lift (LIFT.md): simulates series of counts and of
//! money with planted lifts of 0, 5, 20 and 50 %, measures each with the lift model and
//! prints bias, interval coverage, false alarms and detections as the table in LIFT.md.
//!
//! ```text
//! cargo run --example lift_study              # 1,000 series per row, seed 2026
//! cargo run --example lift_study -- 5000 7    # 5,000 series per row, seed 7
//! ```
use std::time::Instant;
use tally::kpi::lift_sim::{Noise, study};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2026);
    let level = 0.9;
    let started = Instant::now();
    println!(
        "{n} series per row, seed {seed}, {:.0} % intervals, 56-day pre-period\n",
        level * 100.0
    );
    println!(
        "| noise | planted lift | refused | bias (pp, ± s.e.) | total coverage | coverage of planted | day coverage | interval above 0 | interval excludes 0 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let (mut series, mut covered) = (0usize, 0.0);
    for (k, noise) in [Noise::Count, Noise::Money].into_iter().enumerate() {
        for (j, planted) in [0.0, 0.05, 0.2, 0.5].into_iter().enumerate() {
            let f = study(seed + 100 * k as u64 + j as u64, n, noise, planted, level);
            let fitted = f.series - f.refused;
            series += fitted;
            covered += f.coverage * fitted as f64;
            println!(
                "| {noise:?} | {:.0} % | {} | {:+.2} ± {:.2} | {:.1} % | {:.1} % | {:.1} % | {:.1} % | {:.1} % |",
                planted * 100.0,
                f.refused,
                f.bias_pp,
                f.bias_se_pp,
                100.0 * f.coverage,
                100.0 * f.coverage_planted,
                100.0 * f.day_coverage,
                100.0 * f.above_zero,
                100.0 * f.excludes_zero,
            );
        }
    }
    println!(
        "\nall {series} measured series: total coverage {:.1} % ({:.1} s)",
        100.0 * covered / series as f64,
        started.elapsed().as_secs_f64()
    );
}
