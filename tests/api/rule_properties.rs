//! One meaning for a segment rule: for random rules over every attribute and random
//! audience rows (NULLs, empty and non-ASCII text, LIKE wildcards and backslashes,
//! boundary and fractional numbers), the in-memory evaluation and the SQL condition the
//! rule compiles to give the same three-valued answer on every row, and so select the
//! same rows, on SQLite and PostgreSQL.
//!
//! Property-based (proptest) with a fixed seed, so a run reproduces; RULE_PROPTEST_CASES
//! changes the number of cases (default 64; each is a table of 40 rows and 8 rules).
use crate::helpers::TestDb;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestRunner};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tally::domain::segment_rule::{self, AttrValue, Attribute, AttributeSource, ColumnMap};

const TABLE: &str = "rule_rows";
const ROWS: usize = 40;
const RULES: usize = 8;

/// An audience row as stored: integer followers and age, real influence score.
#[derive(Clone, Debug, Default)]
struct Row {
    bio: Option<String>,
    followers: Option<i64>,
    influence_score: Option<f64>,
    age: Option<i32>,
    is_customer: Option<bool>,
    platform: Option<String>,
    country: Option<String>,
}

impl AttributeSource for Row {
    fn attribute(&self, attr: Attribute) -> Option<AttrValue<'_>> {
        match attr {
            Attribute::Bio => self.bio.as_deref().map(AttrValue::Text),
            Attribute::Followers => self.followers.map(|n| AttrValue::Number(n as f64)),
            Attribute::InfluenceScore => self.influence_score.map(AttrValue::Number),
            Attribute::Age => self.age.map(|n| AttrValue::Number(f64::from(n))),
            Attribute::IsCustomer => self.is_customer.map(AttrValue::Bool),
            Attribute::Platform => self.platform.as_deref().map(AttrValue::Text),
            Attribute::Country => self.country.as_deref().map(AttrValue::Text),
        }
    }
}

/// Every attribute in a column (text columns hold the lowercased text, as storage does).
fn all_columns(attr: Attribute) -> Option<Expr> {
    let col = |c: &'static str| Expr::col((TABLE, c));
    Some(match attr {
        Attribute::Bio => col("bio_lc"),
        Attribute::Followers => col("followers"),
        Attribute::InfluenceScore => col("influence_score"),
        Attribute::Age => col("age"),
        Attribute::IsCustomer => col("is_customer"),
        Attribute::Platform => col("platform_lc"),
        Attribute::Country => col("country_lc"),
    })
}

/// Only age, country and is_customer, like web traffic: the rest compare as NULL.
fn web_columns(attr: Attribute) -> Option<Expr> {
    match attr {
        Attribute::Age | Attribute::Country | Attribute::IsCustomer => all_columns(attr),
        _ => None,
    }
}

/// The row as seen through `web_columns`.
fn web_view(row: &Row) -> Row {
    Row {
        age: row.age,
        country: row.country.clone(),
        is_customer: row.is_customer,
        ..Row::default()
    }
}

// ---- Generators -------------------------------------------------------------

/// Text that matters to `=`, `contains` and LIKE: case, non-ASCII folding, wildcards,
/// backslashes, quotes, spaces and control characters. No NUL: PostgreSQL text cannot
/// hold it.
const TEXTS: &[&str] = &[
    "",
    " ",
    "fr",
    "FR",
    "Fr ",
    "de",
    "École",
    "école",
    "ÉCOLE de design",
    "50%",
    "%",
    "_",
    "a_b",
    "a%b",
    "axb",
    "\\",
    "x\\y",
    "\\%",
    "\\_",
    "\"hi\"",
    "'",
    "''",
    "İstanbul",
    "i̇",
    "ß",
    "SS",
    "ǅ",
    "ΣΑΣ",
    "σας",
    "Ω",
    "😀",
    "tab\there",
    "line\nbreak",
    "\u{1}",
    "insta",
    "Instagram",
    "tiktok",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(TEXTS).prop_map(str::to_string),
        1 => "[aAbB%_\\\\ éÉßİ😀\"'\t]{0,6}",
    ]
}

fn text_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![1 => Just(None), 4 => text().prop_map(Some)]
}

const TWO_53: i64 = 1 << 53;

fn followers() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        1 => Just(None),
        3 => proptest::sample::select(vec![
            0, 1, -1, 17, 18, 999, 1000, 1001, i64::from(i32::MAX), i64::from(i32::MAX) + 1,
            TWO_53 - 1, TWO_53, TWO_53 + 1, i64::MAX, i64::MIN, -TWO_53 - 1,
        ])
        .prop_map(Some),
        2 => (-5i64..=5).prop_map(Some),
        1 => any::<i64>().prop_map(Some),
    ]
}

fn age() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![
        1 => Just(None),
        2 => proptest::sample::select(vec![0, -1, 1, 17, 18, 30, 31, i32::MAX, i32::MIN]).prop_map(Some),
        2 => (-5i32..=120).prop_map(Some),
        1 => any::<i32>().prop_map(Some),
    ]
}

fn score() -> impl Strategy<Value = Option<f64>> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    prop_oneof![
        1 => Just(None),
        3 => proptest::sample::select(vec![
            0.0, -0.0, 0.5, -0.5, 0.1, 0.2, 0.30000000000000004, 0.3, 1.0, 17.0, 18.0, 30.5,
            1e300, -1e300, 5e-324, 9007199254740992.0, 9007199254740994.0, 9.223372036854776e18,
        ])
        .prop_map(Some),
        2 => (-50i32..=50).prop_map(|n| Some(f64::from(n) / 4.0)),
        1 => (POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO).prop_map(Some),
    ]
}

fn row() -> impl Strategy<Value = Row> {
    (
        text_value(),
        followers(),
        score(),
        age(),
        proptest::option::of(any::<bool>()),
        text_value(),
        text_value(),
    )
        .prop_map(
            |(bio, followers, influence_score, age, is_customer, platform, country)| Row {
                bio,
                followers,
                influence_score,
                age,
                is_customer,
                platform,
                country,
            },
        )
}

/// A number literal as the rule language writes it (no exponent).
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec![
            "0", "-0", "1", "-1", "0.5", "-0.5", "17", "18", "30", "30.5", "31", "999", "1000",
            "0.1", "0.2", "0.3", "0.30000000000000004", "2147483647", "2147483648",
            "-2147483648", "9007199254740991", "9007199254740992", "9007199254740993",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808",
            "-9223372036854775809", "0.0000000001",
        ])
        .prop_map(str::to_string),
        2 => (-5i64..=5).prop_map(|n| n.to_string()),
        1 => (any::<bool>(), 0u32..200, 0u32..100)
            .prop_map(|(neg, int, frac)| format!("{}{int}.{frac:02}", if neg { "-" } else { "" })),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<i32>().prop_map(|n| n.to_string()),
    ]
}

/// A string literal: `"` and `\` escaped.
fn string() -> impl Strategy<Value = String> {
    text().prop_map(|t| format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")))
}

fn predicate() -> impl Strategy<Value = String> {
    let text_attr = proptest::sample::select(vec!["bio", "platform", "country"]);
    let num_attr = proptest::sample::select(vec!["followers", "influence_score", "age"]);
    prop_oneof![
        (
            text_attr,
            proptest::sample::select(vec!["contains", "CONTAINS", "=", "!="]),
            string()
        )
            .prop_map(|(a, op, s)| format!("{a} {op} {s}")),
        (
            num_attr.clone(),
            proptest::sample::select(vec!["=", "!=", "<", "<=", ">", ">="]),
            number()
        )
            .prop_map(|(a, op, n)| format!("{a} {op} {n}")),
        (num_attr, number(), number())
            .prop_map(|(a, low, high)| format!("{a} between {low} and {high}")),
        proptest::sample::select(vec![
            "is_customer",
            "is_customer = true",
            "is_customer = FALSE",
            "is_customer != true",
            "is_customer != false",
        ])
        .prop_map(str::to_string),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    predicate().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("({a} or {b}) and not {c}")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.clone().prop_map(|a| format!("not not ({a})")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

// ---- The database side ---------------------------------------------------------

async fn create_table(db: &DatabaseConnection) {
    db.execute_unprepared(&format!(
        "CREATE TABLE {TABLE} (id BIGINT PRIMARY KEY, bio_lc TEXT, followers BIGINT, \
         influence_score DOUBLE PRECISION, age INTEGER, is_customer BOOLEAN, \
         platform_lc TEXT, country_lc TEXT)"
    ))
    .await
    .expect("create table");
}

async fn load(db: &DatabaseConnection, rows: &[Row]) {
    db.execute_unprepared(&format!("DELETE FROM {TABLE}"))
        .await
        .expect("clear table");
    let lower = |t: &Option<String>| t.as_ref().map(|t| t.to_lowercase());
    let mut insert = Query::insert();
    insert.into_table(TABLE).columns([
        "id",
        "bio_lc",
        "followers",
        "influence_score",
        "age",
        "is_customer",
        "platform_lc",
        "country_lc",
    ]);
    for (id, row) in rows.iter().enumerate() {
        insert.values_panic([
            (id as i64).into(),
            lower(&row.bio).into(),
            row.followers.into(),
            row.influence_score.into(),
            row.age.into(),
            row.is_customer.into(),
            lower(&row.platform).into(),
            lower(&row.country).into(),
        ]);
    }
    db.execute(&insert).await.expect("insert rows");
}

fn code(value: Option<bool>) -> i32 {
    match value {
        Some(true) => 1,
        Some(false) => 0,
        None => -1,
    }
}

/// Checks one rule over the loaded rows through one column map, as storage runs it
/// (bound parameters): the three-valued answer per row, then the rows WHERE keeps.
async fn check_rule(
    db: &DatabaseConnection,
    rows: &[Row],
    text: &str,
    columns: &dyn ColumnMap,
    view: fn(&Row) -> Row,
    label: &str,
) -> Result<Vec<i32>, TestCaseError> {
    let rule = match segment_rule::parse(text) {
        Ok(rule) => rule,
        Err(e) if text.len() > segment_rule::MAX_RULE_BYTES => {
            return Err(TestCaseError::reject(e.to_string()));
        }
        Err(e) => return Err(TestCaseError::fail(format!("{text:?} does not parse: {e}"))),
    };
    let backend = db.get_database_backend();
    let expected: Vec<i32> = rows.iter().map(|r| code(rule.evaluate(&view(r)))).collect();
    let condition = rule.to_condition(columns);

    let three_valued = Query::select()
        .column("id")
        .expr_as(
            CaseStatement::new()
                .case(condition.clone(), 1)
                .case(condition.clone().not(), 0)
                .finally(-1),
            "answer",
        )
        .from(TABLE)
        .order_by("id", Order::Asc)
        .to_owned();
    let statement = backend.build(&three_valued);
    let got: Vec<i32> = db
        .query_all_raw(statement.clone())
        .await
        .map_err(|e| TestCaseError::fail(format!("{label}: {text:?}: {e}\n{statement}")))?
        .iter()
        .map(|r| r.try_get_by_index::<i32>(1).expect("answer"))
        .collect();
    if got != expected {
        let differing: Vec<String> = (0..rows.len())
            .filter(|&i| got[i] != expected[i])
            .map(|i| {
                format!(
                    "  memory {} sql {} (1 true, 0 false, -1 unknown) for {:?}",
                    expected[i], got[i], rows[i]
                )
            })
            .collect();
        return Err(TestCaseError::fail(format!(
            "{backend:?}, {label}: rule {text:?} (canonical {rule}) disagrees on:\n{}\nSQL: {statement}",
            differing.join("\n")
        )));
    }

    let filter = Query::select()
        .column("id")
        .from(TABLE)
        .and_where(condition)
        .order_by("id", Order::Asc)
        .to_owned();
    let ids: Vec<i64> = db
        .query_all_raw(backend.build(&filter))
        .await
        .map_err(|e| TestCaseError::fail(format!("{label}: {text:?}: {e}")))?
        .iter()
        .map(|r| r.try_get_by_index::<i64>(0).expect("id"))
        .collect();
    let matching: Vec<i64> = (0..rows.len() as i64)
        .filter(|&i| expected[i as usize] == 1)
        .collect();
    prop_assert_eq!(
        ids,
        matching,
        "{:?}, {}: rows selected by {:?}",
        backend,
        label,
        text
    );
    Ok(expected)
}

async fn check_case(
    db: &DatabaseConnection,
    rows: &[Row],
    rules: &[String],
    seen: &mut [usize; 3],
) -> Result<(), TestCaseError> {
    load(db, rows).await;
    for text in rules {
        let all = check_rule(db, rows, text, &all_columns, Row::clone, "all columns").await?;
        let web = check_rule(db, rows, text, &web_columns, web_view, "web columns").await?;
        for answer in all.into_iter().chain(web) {
            seen[(1 - answer) as usize] += 1;
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("RULE_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64)
}

/// Runs the property on its own thread and runtime: proptest's runner is synchronous.
fn run(url: String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = runtime
        .block_on(tally::storage::Store::connect(&url, 1))
        .expect("connect");
    let db = store.connection();
    runtime.block_on(create_table(db));
    let config = Config {
        cases: cases(),
        rng_seed: RngSeed::Fixed(0x5E6_DB01),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        // Shrinking runs the database too; keep a failure's report within minutes.
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (
        proptest::collection::vec(row(), ROWS),
        proptest::collection::vec(rule(), RULES),
    );
    // Answers seen: true, false, unknown.
    let seen = std::cell::RefCell::new([0usize; 3]);
    if let Err(e) = runner.run(&strategy, |(rows, rules)| {
        runtime.block_on(check_case(db, &rows, &rules, &mut seen.borrow_mut()))
    }) {
        panic!("{e}");
    }
    // The generators must give all three answers often for the agreement to mean much.
    let seen = seen.into_inner();
    let total: usize = seen.iter().sum();
    assert!(
        seen.iter().all(|&n| n * 10 > total),
        "true/false/unknown answers: {seen:?}"
    );
}

async fn memory_and_sql_agree(db: TestDb) {
    let url = db.url();
    tokio::task::spawn_blocking(move || run(url))
        .await
        .expect("property run");
    drop(db);
}

crate::on_both_database_kinds!(memory_and_sql_agree);
