//! Writes a deterministic CSV of shop orders for load tests of `tally ingest`:
//! `cargo run --release --example generate_orders -- 1000000 > orders.csv`.
//! A tenth of the orders carry one of 1,000 influencer codes (`INF0001` ...), customers
//! repeat, and times spread over 2026.
use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "order_id,customer_id,placed_at,currency,revenue,cost_of_goods,discount,discount_codes,utm_source,utm_medium,utm_campaign"
    )?;
    // A fixed linear congruential generator: the same file on every machine.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let start = 1_767_225_600u64; // 2026-01-01T00:00:00Z
    for i in 0..count {
        let customer = next() % (count / 3 + 1);
        let seconds = start + next() % (365 * 86_400);
        let cents = 500 + next() % 20_000;
        let code = if next() % 10 == 0 {
            format!("INF{:04}", next() % 1000 + 1)
        } else {
            String::new()
        };
        let time = chrono_like(seconds);
        writeln!(
            out,
            "{i:08},cust-{customer},{time},EUR,{}.{:02},{}.{:02},0.00,{code},instagram,social,spring",
            cents / 100,
            cents % 100,
            cents * 2 / 5 / 100,
            cents * 2 / 5 % 100
        )?;
    }
    out.flush()
}

/// RFC 3339 of a Unix time, without pulling a date crate into the example.
fn chrono_like(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rem = seconds % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
