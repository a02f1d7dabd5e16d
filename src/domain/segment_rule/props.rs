//! Property tests: arbitrary and near-valid rule text never panics the parser,
//! and every error points inside the text. Fixed seed, so runs reproduce;
//! `PROPTEST_CASES` changes the number of cases.

use super::*;
use crate::domain::text::testing::{check_position, config, deep_or_long, near_valid};
use proptest::prelude::*;

const VALID: &[&str] = &[
    r#"followers >= 10000 and not (country = "fr" or is_customer)"#,
    r#"bio contains "école" or platform != "tiktok""#,
    "age between 18 and 30.5 and influence_score < -0.25",
    "is_customer = false or NOT is_customer != TRUE",
    r#"(bio = "a \"quoted\" \\ word" and age != 0) or followers > 1"#,
    "not not not (age = 1)",
];

const TOKENS: &[&str] = &[
    "bio",
    "followers",
    "influence_score",
    "age",
    "is_customer",
    "platform",
    "country",
    "Bio",
    "and",
    "OR",
    "not",
    "between",
    "contains",
    "true",
    "FALSE",
    "(",
    ")",
    "\"",
    "\\",
    "\\\"",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "-",
    ".",
    " ",
    "\n",
    "\r\n",
    "\t",
    "\u{0}",
    "\u{7}",
    "\u{1b}",
    "\u{200b}",
    "é",
    "İ",
    "😀",
    "\u{301}",
    "1",
    "0.5",
    "-0",
    "1.",
    ".5",
    "3and",
    "\"x\"",
    "\"%_\\\\\"",
    "99999999999999999999999999999999999999",
];

/// A huge number: past f64's range at 400 digits.
fn huge_number() -> String {
    "9".repeat(400)
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(TOKENS).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        1 => Just(huge_number()),
    ]
}

/// Valid rules wrapped in parentheses / "not"s, around the nesting limit,
/// sometimes unbalanced, plus over-long inputs.
fn deep_or_long_rule() -> impl Strategy<Value = String> {
    // Multi-byte chars straddle the byte limit.
    deep_or_long(
        VALID,
        MAX_NESTING,
        "not ",
        " or bio contains \"é😀\"",
        MAX_RULE_BYTES / 20,
    )
}

fn input() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(token(), 0..24).prop_map(|t| t.join(" ")),
        proptest::collection::vec(token(), 0..24).prop_map(|t| t.concat()),
        near_valid(VALID, token),
        near_valid(VALID, token),
        deep_or_long_rule(),
    ]
}

/// The error's offset, line and column all name the same place inside `text`.
fn check_error(text: &str, e: &RuleError) -> Result<(), TestCaseError> {
    check_position(text, (e.offset, e.line, e.column), e)?;
    prop_assert!(!e.expected.is_empty() && !e.found.is_empty(), "{e}");
    prop_assert!(!e.expected.contains("internal error"), "{e}");
    let message = e.to_string();
    prop_assert!(
        message.starts_with(&format!("line {}, column {}: ", e.line, e.column)),
        "{message}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(0x5E6_0001))]

    #[test]
    fn parse_never_panics_and_errors_point_inside(text in input()) {
        match parse(&text) {
            Ok(rule) => {
                // Accepted rules print canonically and parse back the same.
                let printed = rule.to_string();
                prop_assert_eq!(parse(&printed).ok(), Some(rule), "{:?}", printed);
            }
            Err(e) => check_error(&text, &e)?,
        }
    }
}
