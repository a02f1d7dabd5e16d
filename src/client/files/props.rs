//! Property tests: the CSV and NDJSON readers never panic on arbitrary or
//! near-valid bytes, and every record (good or bad) names a line inside the
//! file. Fixed seed, so runs reproduce; `PROPTEST_CASES` changes the number of
//! cases.
use super::*;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{FileFailurePersistence, RngSeed};

fn config(seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(384),
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    }
}

const VALID_CSV: &[&str] = &[
    "order_id,customer_id,customer_email,placed_at,currency,revenue,cost_of_goods,discount,discount_codes,utm_source,utm_medium,utm_campaign\n\
     1001,c-1,a@b.c,2026-03-01T10:00:00Z,EUR,49.99,10.00,0,ANNA10; welcome,ig,social,spring\n\
     1002,,,2026-03-01T10:00:00+01:00,JPY,1500,,,,,,\n",
    "channel,account_id,customer_id,first_seen,last_seen,bio,followers,influence_score,age,country\n\
     anna-ig,u1,c-1,2026-03-01,2026-03-02,\"Hi, \"\"there\"\"\nline two\",1500,0.75,31,FR\n\
     anna-ig,u2,,2026-03-01,,,,,,\n",
    "metric_key,scope,day,value\nsignups,tenant,2026-03-01,12.5\r\nsignups,channels/x,2026-03-02,-1\n",
];

const VALID_NDJSON: &[&str] = &[
    "{\"order_id\":\"1001\",\"placed_at\":\"2026-03-01T10:00:00Z\",\"currency\":\"EUR\",\"revenue\":\"49.99\"}\n\n\
     {\"order_id\":\"1002\",\"placed_at\":\"2026-03-01T10:00:00Z\",\"currency\":\"JPY\",\"revenue\":\"1500\",\"discount_codes\":\"A;B\"}\n",
    "{\"channel\":\"anna-ig\",\"account_id\":\"u1\",\"first_seen\":\"2026-03-01\",\"bio\":\"é\\n😀\",\"followers\":1500,\"influence_score\":0.75,\"age\":31}\n",
    "{\"metric_key\":\"signups\",\"scope\":\"tenant\",\"day\":\"2026-03-01\",\"value\":12.5}\r\n   \n{\"metric_key\":\"x\",\"scope\":\"tenant\",\"day\":\"2026-03-02\",\"value\":-1e3}",
];

const TOKENS: &[&[u8]] = &[
    b",",
    b"\"",
    b"\"\"",
    b"\n",
    b"\r",
    b"\r\n",
    b" ",
    b"\t",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    "é".as_bytes(),
    "😀".as_bytes(),
    b"{",
    b"}",
    b":",
    b"[",
    b"null",
    b"true",
    b"1e999",
    b"-",
    b"99999999999999999999999",
    b"2026-02-30",
    b"\\",
    b"\\u0000",
    b"\\ud800",
];

fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::sample::select(TOKENS).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 1..4),
    ]
}

#[derive(Clone, Debug)]
enum Edit {
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Replace(Index, usize, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), token()).prop_map(|(i, t)| Edit::Insert(i, t)),
        (any::<Index>(), 1..8usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), 1..4usize, token()).prop_map(|(i, n, t)| Edit::Replace(i, n, t)),
    ]
}

fn mutate(text: &str, edits: &[Edit]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for e in edits {
        let at = |i: &Index| i.index(bytes.len() + 1);
        match e {
            Edit::Insert(i, t) => {
                let p = at(i);
                bytes.splice(p..p, t.iter().copied());
            }
            Edit::Delete(i, n) => {
                let p = at(i);
                let end = (p + n).min(bytes.len());
                bytes.drain(p..end);
            }
            Edit::Replace(i, n, t) => {
                let p = at(i);
                let end = (p + n).min(bytes.len());
                bytes.splice(p..end, t.iter().copied());
            }
        }
    }
    bytes
}

fn input(valid: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => any::<String>().prop_map(String::into_bytes),
        1 => proptest::collection::vec(token(), 0..30).prop_map(|t| t.concat()),
        3 => (
            proptest::sample::select(valid),
            proptest::collection::vec(edit(), 0..6),
        )
            .prop_map(|(v, edits)| mutate(v, &edits)),
    ]
}

/// Reads `bytes` as rows of `T` and checks every record's line number; reads
/// at most one record more than the file has lines, so a reader that never
/// ends fails instead of hanging when `must_end` is set.
fn check<T: FileRow + 'static>(
    bytes: &[u8],
    format: Format,
    must_end: bool,
) -> Result<(), TestCaseError> {
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let mut records = records::<T, _>(std::io::Cursor::new(bytes.to_vec()), format);
    let mut previous = 0;
    let mut count = 0;
    for (line, row) in records.by_ref().take(lines as usize + 1) {
        count += 1;
        prop_assert!(
            (1..=lines).contains(&line),
            "line {line} of a {lines}-line file: {row:?}",
            row = row.as_ref().err()
        );
        prop_assert!(line >= previous, "line {line} after line {previous}");
        previous = line;
        if let Err(reason) = row {
            prop_assert!(!reason.is_empty(), "empty reason at line {line}");
        }
    }
    prop_assert!(
        !must_end || (count <= lines && records.next().is_none()),
        "the reader goes on past {count} records of a {lines}-line file"
    );
    Ok(())
}

fn check_all(bytes: &[u8], format: Format, must_end: bool) -> Result<(), TestCaseError> {
    check::<OrderRow>(bytes, format, must_end)?;
    check::<AudienceMemberRow>(bytes, format, must_end)?;
    check::<InteractionRow>(bytes, format, must_end)?;
    check::<ChannelStatsRow>(bytes, format, must_end)?;
    check::<WebTrafficFileRow>(bytes, format, must_end)?;
    check::<GiveawayEntryRow>(bytes, format, must_end)?;
    check::<MetricPointRow>(bytes, format, must_end)
}

proptest! {
    #![proptest_config(config(0xF11E_0001))]

    #[test]
    fn csv_records_name_lines_inside_the_file(bytes in input(VALID_CSV)) {
        check_all(&bytes, Format::Csv, false)?;
    }

    // Found here: an unreadable header row (the one-byte file [0x80]) used to be
    // reported forever, so `tally ingest` of such a file never finished.
    #[test]
    fn csv_reader_ends(bytes in input(VALID_CSV)) {
        check_all(&bytes, Format::Csv, true)?;
    }

    #[test]
    fn ndjson_records_name_lines_inside_the_file(bytes in input(VALID_NDJSON)) {
        check_all(&bytes, Format::Ndjson, true)?;
    }

    #[test]
    fn money_never_panics(amount in "[-0-9.,a ]{0,30}", currency in "[A-Za-z]{0,4}") {
        if let Err(reason) = minor_units(&amount, &currency) {
            prop_assert!(!reason.is_empty());
        }
    }
}
