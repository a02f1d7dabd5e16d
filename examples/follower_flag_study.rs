//! Precision and recall of the follower-jump flag ("unusual follower jump without
//! engagement", `src/kpi/anomaly.rs`) on synthetic channels with planted bought-follower
//! jumps and organic viral days (the generator: `src/kpi/anomaly/study.rs`).
//!
//! ```text
//! cargo run --example follower_flag_study                    # 1,000 series, seeds 0..1000
//! cargo run --example follower_flag_study -- --series 5000 --first-seed 1000
//! ```
//!
//! Prints one row per rule: the default rule, the same without the materiality floor and
//! share (the robust score and flat engagement alone, to show what they buy), then one
//! setting changed at a time.
use tally::kpi::anomaly::JumpRule;
use tally::kpi::anomaly::study::{SIZES_PERCENT, Tally, measure};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a whole number, not {v}"))
        })
        .unwrap_or(default)
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1} %", 100.0 * v))
        .unwrap_or_else(|| "-".into())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let series = arg(&args, "--series", 1000);
    let first = arg(&args, "--first-seed", 0);
    let default = JumpRule::default();
    let rules = [
        ("default (3.5, 0.5 %, 100)", default),
        (
            "no share, no floor",
            JumpRule {
                min_percent: 0.0,
                min_followers: 0,
                ..default
            },
        ),
        (
            "share 0.25 %",
            JumpRule {
                min_percent: 0.25,
                ..default
            },
        ),
        (
            "share 1 %",
            JumpRule {
                min_percent: 1.0,
                ..default
            },
        ),
        (
            "threshold 5",
            JumpRule {
                threshold: 5.0,
                ..default
            },
        ),
    ];
    println!(
        "{series} series (seeds {first}..{}), 120 scored days each",
        first + series
    );
    let mut header = format!("{:<28} {:>7} {:>9}", "rule", "flags", "precision");
    for size in SIZES_PERCENT {
        header.push_str(&format!(" {:>12}", format!("recall {size} %")));
    }
    header.push_str(&format!(
        " {:>10} {:>12} {:>9}",
        "recall all", "viral flagged", "ordinary"
    ));
    println!("{header}");
    let mut planted: Option<Tally> = None;
    for (label, rule) in rules {
        let t = measure(first..first + series, &rule);
        let mut row = format!("{label:<28} {:>7} {:>9}", t.flags, pct(t.precision()));
        for i in 0..SIZES_PERCENT.len() {
            row.push_str(&format!(" {:>12}", pct(t.recall(i))));
        }
        row.push_str(&format!(
            " {:>10} {:>13} {:>9}",
            pct(t.recall_all()),
            format!("{}/{}", t.viral_flagged, t.viral),
            t.ordinary_flags
        ));
        println!("{row}");
        planted.get_or_insert(t);
    }
    if let Some(t) = planted {
        let sizes: Vec<String> = SIZES_PERCENT
            .iter()
            .zip(t.planted)
            .map(|(s, n)| format!("{n} of {s} %"))
            .collect();
        println!("planted jumps: {}", sizes.join(", "));
    }
}
