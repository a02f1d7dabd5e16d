//! Property tests: arbitrary and near-valid formula text never panics parsing,
//! validation, cycle checks or evaluation, and every error points inside the
//! text. Fixed seed, so runs reproduce; `PROPTEST_CASES` changes the number of
//! cases.

use super::*;
use crate::domain::text::testing::{check_position, config, deep_or_long, near_valid};
use proptest::prelude::*;
use proptest::sample::Index;

const VALID: &[&str] = &[
    "(comments + likes + posts) / (followers / 1000)",
    "100 * likes / followers",
    "-(x - -y) * 2.5 / (sales_2 + my_kpi)",
    "likes / (2 - 2) + unknown_name",
    "a\n+ b\n* (c -\n0.001)",
];

const TOKENS: &[&str] = &[
    "likes",
    "x",
    "y",
    "my_kpi",
    "sales_2",
    "Likes",
    "likesX",
    "_a",
    "+",
    "-",
    "*",
    "/",
    "(",
    ")",
    " ",
    "\n",
    "\r\n",
    "\t",
    "\u{0}",
    "\u{7}",
    "\u{200b}",
    "é",
    "😀",
    "\u{301}",
    "0",
    "1",
    "2.5",
    "3.",
    ".5",
    "3..2",
    "0.0",
    "1e5",
    "%",
    "^",
    "99999999999999999999999999999999999999",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(TOKENS).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        // Past f64's range.
        1 => Just("9".repeat(400)),
    ]
}

fn input() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => any::<String>(),
        1 => proptest::collection::vec(token(), 0..24).prop_map(|t| t.join(" ")),
        1 => proptest::collection::vec(token(), 0..24).prop_map(|t| t.concat()),
        2 => near_valid(VALID, token),
        1 => deep_or_long(VALID, MAX_NESTING, "-", " + é😀", MAX_FORMULA_BYTES / 8),
    ]
}

/// The error's offset, line and column all name the same place inside `text`.
fn check_error(text: &str, e: &FormulaError) -> Result<(), TestCaseError> {
    check_position(text, (e.offset, e.line, e.column), e)?;
    prop_assert!(!e.message.is_empty(), "{e}");
    prop_assert!(!e.message.contains("internal error"), "{e}");
    Ok(())
}

fn resolve(name: &str) -> NameKind {
    match name.len() % 4 {
        0 => NameKind::Kpi,
        1 => NameKind::Custom,
        2 => NameKind::Metric,
        _ => NameKind::Unknown,
    }
}

const VALUES: &[Value] = &[
    Ok(0.0),
    Ok(-0.0),
    Ok(1.0),
    Ok(-2.5),
    Ok(1e308),
    Ok(-1e308),
    Ok(1e-308),
    Err(Reason::NoData),
    Err(Reason::NotReported),
    Err(Reason::OutsideCampaign),
];

proptest! {
    #![proptest_config(config(0xF0_4D01))]

    #[test]
    fn parse_never_panics_and_errors_point_inside(text in input(), pick in any::<Index>()) {
        match parse(&text) {
            Ok(formula) => {
                let printed = formula.to_string();
                prop_assert_eq!(parse(&printed).ok(), Some(formula.clone()), "{:?}", printed);
                let chars = text.chars().count();
                for (_, span) in formula.names() {
                    prop_assert!(span.start < span.end && span.end <= chars, "{span:?}");
                }
                if let Err(e) = formula.validate(&resolve) {
                    check_error(&text, &e)?;
                }
                // A formula referring to itself through another one is a cycle.
                let names = formula.names();
                if let Some((name, _)) = names.get(pick.index(names.len().max(1))) {
                    let others = HashMap::from([(name.clone(), parse("me + 1").unwrap())]);
                    match check_cycles("me", &formula, &others) {
                        Ok(()) => prop_assert!(false, "no cycle found through {name}"),
                        Err(e) => check_error(&text, &e)?,
                    }
                }
                let mut i = pick.index(VALUES.len());
                let value = formula.evaluate(&mut |_| {
                    i = (i + 1) % VALUES.len();
                    VALUES[i]
                });
                if let Ok(v) = value {
                    prop_assert!(v.is_finite(), "{text:?} gave {v}");
                }
            }
            Err(e) => check_error(&text, &e)?,
        }
    }
}
