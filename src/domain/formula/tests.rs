//! Unit tests of formulas: parsing and its messages, printing, validation,
//! cycle checks and evaluation.

use super::*;
use crate::domain::text::testing::{Rng, assert_inside, random_texts};

fn formula(text: &str) -> Formula {
    match parse(text) {
        Ok(f) => f,
        Err(e) => panic!("{text:?} should parse: {e}"),
    }
}

fn err(text: &str) -> FormulaError {
    match parse(text) {
        Ok(f) => panic!("{text:?} should not parse, got {f}"),
        Err(e) => e,
    }
}

/// Asserts (offset, line, column) and that the message contains `part`.
fn assert_err(text: &str, pos: (usize, usize, usize), part: &str) {
    let e = err(text);
    assert_eq!((e.offset, e.line, e.column), pos, "{text:?}: {e}");
    assert!(e.message.contains(part), "{text:?}: {e}");
}

/// Evaluates with the values in `inputs`; unlisted names are `no_data`.
fn eval(text: &str, inputs: &[(&str, Value)]) -> Value {
    formula(text).evaluate(&mut |name| {
        inputs
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Err(Reason::NoData), |(_, v)| *v)
    })
}

/// Evaluates like `eval` and also returns the names looked up, in order.
fn eval_logged(text: &str, inputs: &[(&str, Value)]) -> (Value, Vec<String>) {
    let mut calls = Vec::new();
    let value = formula(text).evaluate(&mut |name| {
        calls.push(name.to_string());
        inputs
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Err(Reason::NoData), |(_, v)| *v)
    });
    (value, calls)
}

fn known(name: &str) -> NameKind {
    match name {
        "likes" | "comments" | "posts" | "followers" => NameKind::Kpi,
        "my_kpi" => NameKind::Custom,
        "x" | "y" | "sales_2" => NameKind::Metric,
        _ => NameKind::Unknown,
    }
}

fn validate(text: &str) -> Result<(), FormulaError> {
    formula(text).validate(&known)
}

// ---- Evaluation ------------------------------------------------------

#[test]
fn ipm_example() {
    let inputs = [
        ("comments", Ok(10.0)),
        ("likes", Ok(20.0)),
        ("posts", Ok(2.0)),
        ("followers", Ok(3200.0)),
    ];
    assert_eq!(
        eval("(comments + likes + posts) / (followers / 1000)", &inputs),
        Ok(10.0)
    );
    assert_eq!(eval("100 * likes / followers", &inputs), Ok(0.625));
    assert_eq!(eval("likes - comments - posts", &inputs), Ok(8.0));
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(eval("1 + 2 * 3", &[]), Ok(7.0));
    assert_eq!(eval("(1 + 2) * 3", &[]), Ok(9.0));
    assert_eq!(eval("-2 * 3", &[]), Ok(-6.0));
    assert_eq!(eval("2 - -1", &[]), Ok(3.0));
    assert_eq!(eval("2--1", &[]), Ok(3.0));
    assert_eq!(eval("--2", &[]), Ok(2.0));
    assert_eq!(eval("8 / 4 / 2", &[]), Ok(1.0));
    assert_eq!(eval("8 - 4 - 2", &[]), Ok(2.0));
    assert_eq!(eval("8 / (4 / 2)", &[]), Ok(4.0));
    assert_eq!(eval("2 * 3 + 4 * 5", &[]), Ok(26.0));
    assert_eq!(eval("-(2 + 3) * 2", &[]), Ok(-10.0));
    assert_eq!(eval("1.5 * 2", &[]), Ok(3.0));
    assert_eq!(eval("10 - 2 * 3 / 4", &[]), Ok(8.5));
}

#[test]
fn absent_left_operand_decides() {
    let a_no_data = [("a", Err(Reason::NoData)), ("b", Err(Reason::NotReported))];
    assert_eq!(eval("a / b", &a_no_data), Err(Reason::NoData));
    assert_eq!(eval("b / a", &a_no_data), Err(Reason::NotReported));
    let a_present = [("a", Ok(1.0)), ("b", Err(Reason::NotReported))];
    assert_eq!(eval("a / b", &a_present), Err(Reason::NotReported));
    assert_eq!(eval("-b + a", &a_present), Err(Reason::NotReported));
    // An absent sub-expression counts as met where it stands.
    let zero = [("a", Ok(1.0)), ("b", Ok(0.0)), ("c", Err(Reason::NoData))];
    assert_eq!(eval("a / b + c", &zero), Err(Reason::ZeroDenominator));
    assert_eq!(eval("c + a / b", &zero), Err(Reason::NoData));
}

#[test]
fn right_operand_is_not_evaluated_after_an_absent_left_one() {
    // The arithmetic stops at `a`; `b` is then looked up only to rule
    // out outside_campaign, and never when `a` is outside_campaign.
    let inputs = [
        ("a", Err(Reason::OutsideCampaign)),
        ("b", Err(Reason::NotReported)),
    ];
    let (value, calls) = eval_logged("a / b", &inputs);
    assert_eq!(value, Err(Reason::OutsideCampaign));
    assert_eq!(calls, ["a"]);

    let inputs = [("a", Err(Reason::NoData)), ("b", Err(Reason::NotReported))];
    let (value, calls) = eval_logged("a / b", &inputs);
    assert_eq!(value, Err(Reason::NoData));
    assert_eq!(calls, ["a", "b"]);

    // Each name is looked up once, however often it appears.
    let inputs = [("a", Ok(2.0)), ("b", Ok(3.0))];
    let (value, calls) = eval_logged("a * a + b / a - b", &inputs);
    assert_eq!(value, Ok(2.5));
    assert_eq!(calls, ["a", "b"]);
}

#[test]
fn outside_campaign_anywhere_wins() {
    let inputs = [
        ("a", Err(Reason::NoData)),
        ("b", Ok(0.0)),
        ("c", Err(Reason::OutsideCampaign)),
        ("d", Ok(2.0)),
    ];
    assert_eq!(eval("a / c", &inputs), Err(Reason::OutsideCampaign));
    assert_eq!(eval("d / b + c", &inputs), Err(Reason::OutsideCampaign));
    assert_eq!(
        eval("a + d * (b - c)", &inputs),
        Err(Reason::OutsideCampaign)
    );
    assert_eq!(eval("d * -c", &inputs), Err(Reason::OutsideCampaign));
    // Without it, the first absent value met decides.
    assert_eq!(eval("d / b + a", &inputs), Err(Reason::ZeroDenominator));
    assert_eq!(eval("a + d / b", &inputs), Err(Reason::NoData));
}

#[test]
fn division_by_zero_with_both_operands_present() {
    let inputs = [("x", Ok(5.0)), ("y", Ok(0.0)), ("z", Ok(-0.0))];
    assert_eq!(eval("x / y", &inputs), Err(Reason::ZeroDenominator));
    assert_eq!(eval("x / z", &inputs), Err(Reason::ZeroDenominator));
    assert_eq!(eval("y / y", &inputs), Err(Reason::ZeroDenominator));
    assert_eq!(eval("y / x", &inputs), Ok(0.0));
    assert_eq!(eval("x / (y - y)", &inputs), Err(Reason::ZeroDenominator));
}

#[test]
fn results_are_never_infinite() {
    let huge = format!("1{}", "0".repeat(300));
    let tiny = [("t", Ok(1e-300)), ("h", Ok(1e300))];
    // No denominator is zero here: the results overflow, and say so.
    assert_eq!(eval("h / t", &tiny), Err(Reason::Overflow));
    assert_eq!(eval(&format!("h * {huge}"), &tiny), Err(Reason::Overflow));
    assert_eq!(
        eval(&format!("-h - {huge} * 1000000000"), &tiny),
        Err(Reason::Overflow)
    );
    assert_eq!(eval(&format!("h + {huge}"), &tiny), Ok(2e300));
}

// ---- Validation ------------------------------------------------------

#[test]
fn constant_zero_divisors_are_rejected() {
    let e = validate("0 / 0").expect_err("0 / 0");
    assert_eq!((e.offset, e.column), (4, 5));
    assert_eq!(e.message, "division by a constant zero");
    let e = validate("x / (3 - 3)").expect_err("x / (3 - 3)");
    assert_eq!((e.offset, e.column), (4, 5), "{e}");
    assert_eq!(
        e.to_string(),
        "line 1, column 5: division by a constant zero"
    );
    let e = validate("likes / (2 - 2)").expect_err("likes / (2 - 2)");
    assert_eq!(e.offset, 8);
    let e = validate("x / -0.0").expect_err("x / -0.0");
    assert_eq!(e.offset, 4);
    // Inside a divisor that is itself undefined, the inner zero is found.
    let e = validate("x / (1 / (2 * 0))").expect_err("nested");
    assert_eq!(e.offset, 9, "{e}");
    let e = validate("x * 2 / 3 / 0 + y").expect_err("in a chain");
    assert_eq!(e.offset, 12, "{e}");

    assert_eq!(validate("x / y"), Ok(()));
    assert_eq!(validate("x / (y - y)"), Ok(()));
    assert_eq!(validate("0 / x"), Ok(()));
    assert_eq!(validate("x / (1 - 0.5 * 2 + 0.1)"), Ok(()));
    assert_eq!(validate("x / 0.001"), Ok(()));
}

#[test]
fn unknown_names_are_rejected_where_they_stand() {
    let e = validate("likes + (comments / nope)").expect_err("nope");
    assert_eq!((e.offset, e.line, e.column), (20, 1, 21));
    assert_eq!(
        e.message,
        "unknown name `nope`: not a KPI id, a custom KPI or a pushed metric key"
    );
    let e = formula("likes\n * other")
        .validate(&known)
        .expect_err("other");
    assert_eq!((e.offset, e.line, e.column), (9, 2, 4));
    // The first problem in text order is reported.
    let e = validate("x / 0 + nope").expect_err("both");
    assert_eq!(e.message, "division by a constant zero");
    let e = validate("nope / 0").expect_err("both");
    assert!(e.message.starts_with("unknown name `nope`"), "{e}");
    assert_eq!(validate("my_kpi * sales_2 - likes / x"), Ok(()));
}

#[test]
fn names_lists_every_occurrence_with_char_spans() {
    assert!(formula("1 + 2").names().is_empty());
    let f = formula("(a + bb) / a_1 * -a");
    assert_eq!(
        f.names(),
        vec![
            ("a".to_string(), Span { start: 1, end: 2 }),
            ("bb".to_string(), Span { start: 5, end: 7 }),
            ("a_1".to_string(), Span { start: 11, end: 14 }),
            ("a".to_string(), Span { start: 18, end: 19 }),
        ]
    );
    assert_eq!(f.text(), "(a + bb) / a_1 * -a");
}

// ---- Syntax errors ---------------------------------------------------

#[test]
fn syntax_errors_say_where_what_was_expected_and_what_was_found() {
    let e = err("likes +");
    assert_eq!(
        e.to_string(),
        r#"line 1, column 8: expected a number, a name, "-" or "(", found end of formula"#
    );
    let e = err("(likes");
    assert_eq!(
        e.to_string(),
        r#"line 1, column 7: expected an operator ("+", "-", "*" or "/") or ")", found end of formula"#
    );
    let e = err("likes likes");
    assert_eq!(
        e.to_string(),
        r#"line 1, column 7: expected an operator ("+", "-", "*" or "/") or end of formula, found "likes""#
    );
    let e = err("3..2");
    assert_eq!(
        e.to_string(),
        r#"line 1, column 3: expected digits after the decimal point, found ".""#
    );
    assert_err("3.", (2, 1, 3), "digits after the decimal point, found end");
    let e = err("Likes");
    assert_eq!((e.offset, e.column), (0, 1));
    assert_eq!(
        e.message,
        r#"expected a name (a lowercase letter, then lowercase letters, digits or "_"; names are lowercase), found "Likes""#
    );
    assert_err("likes * Posts", (8, 1, 9), "names are lowercase");
    assert_err(
        "likesX",
        (0, 1, 1),
        "names are lowercase), found \"likesX\"",
    );
    assert_err("_x", (0, 1, 1), "a name (a lowercase letter");
    assert_err("1 + 2x", (5, 1, 6), "found \"x\"");
    assert_err(
        "likes + )",
        (8, 1, 9),
        "expected a number, a name, \"-\" or \"(\", found \")\"",
    );
    assert_err("likes % 2", (6, 1, 7), "found \"%\"");
    assert_err("(likes))", (7, 1, 8), "found \")\"");
    assert_err("likes\n  + * 2", (10, 2, 5), "found \"*\"");
    assert_err(".5", (0, 1, 1), "found \".\"");
    assert_err("1e5", (1, 1, 2), "found \"e5\"");
    assert_err("é + 1", (0, 1, 1), "a name");
    assert_err("likes + é", (8, 1, 9), "found \"é\"");
    assert_err("😀 + 1", (0, 1, 1), "found \"😀\"");
}

#[test]
fn empty_formula_is_an_error_at_column_1() {
    let e = err("");
    assert_eq!((e.offset, e.line, e.column), (0, 1, 1));
    assert_eq!(
        e.message,
        r#"expected a number, a name, "-" or "(", found end of formula"#
    );
    assert_err("  \n ", (4, 2, 2), "found end of formula");
}

#[test]
fn huge_literals_are_rejected() {
    let text = format!("x * {}", "9".repeat(400));
    let e = err(&text);
    assert_eq!(e.offset, 4);
    assert!(
        e.message.contains("within the range of a 64-bit float"),
        "{e}"
    );
}

#[test]
fn too_long_is_rejected() {
    let ok = format!("x{}", " + x".repeat((MAX_FORMULA_BYTES - 1) / 4));
    assert!(ok.len() <= MAX_FORMULA_BYTES);
    assert!(parse(&ok).is_ok());
    let text = format!("x{}", " + x".repeat(MAX_FORMULA_BYTES / 4));
    let e = err(&text);
    assert_eq!(e.offset, MAX_FORMULA_BYTES);
    assert!(
        e.message
            .starts_with("expected a formula of at most 2048 bytes, found a formula of"),
        "{e}"
    );
    // Long multi-byte input must not split a char.
    let e = err(&"é".repeat(MAX_FORMULA_BYTES));
    assert_eq!(e.offset, MAX_FORMULA_BYTES / 2);
}

#[test]
fn too_deep_is_rejected() {
    let nest = |n: usize| format!("{}x{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(eval(&nest(MAX_NESTING), &[("x", Ok(3.0))]), Ok(3.0));
    assert_err(
        &nest(MAX_NESTING + 1),
        (MAX_NESTING, 1, MAX_NESTING + 1),
        "expected at most 32 levels of parentheses and unary minus, found \"(\"",
    );
    // Far too deep is stopped before the parser recurses.
    assert_err(
        &nest(1000),
        (MAX_NESTING, 1, MAX_NESTING + 1),
        "at most 32 levels",
    );
    let negs = |n: usize| format!("{}x", "-".repeat(n));
    assert_eq!(eval(&negs(MAX_NESTING), &[("x", Ok(3.0))]), Ok(3.0));
    assert_err(
        &negs(MAX_NESTING + 1),
        (MAX_NESTING, 1, MAX_NESTING + 1),
        "found \"-\"",
    );
    assert_err(
        &negs(2000),
        (MAX_NESTING, 1, MAX_NESTING + 1),
        "at most 32 levels",
    );
    // Parentheses and minus signs add up.
    let mixed = format!("{}x{}", "-(".repeat(16), ")".repeat(16));
    assert!(parse(&mixed).is_ok());
    let mixed = format!("1 + {}x{}", "-(".repeat(16) + "-", ")".repeat(16));
    assert_err(&mixed, (36, 1, 37), "at most 32 levels");
    // Long flat chains are not nesting.
    let long = format!("1{}", " - 1".repeat(500));
    assert_eq!(eval(&long, &[]), Ok(-499.0));
}

// ---- Printing --------------------------------------------------------

/// Found by the `formula` fuzz target: a formula just under the limit prints longer than
/// the limit, so only the client's own text is sure to parse again.
#[test]
fn canonical_text_near_the_limit_may_outgrow_it() {
    let text = format!("a{}", "+a".repeat((MAX_FORMULA_BYTES - 1) / 2));
    assert!(text.len() <= MAX_FORMULA_BYTES);
    let formula = parse(&text).unwrap();
    let printed = formula.to_string();
    assert!(printed.len() > MAX_FORMULA_BYTES);
    let err = parse(&printed).unwrap_err();
    assert!(err.message.contains("at most"), "{err:?}");
    assert_eq!(parse(formula.text()), Ok(formula));
}

#[test]
fn display_is_canonical_and_round_trips() {
    let cases = [
        (
            "(comments+likes+posts)/(followers/1000)",
            "(comments + likes + posts) / (followers / 1000)",
        ),
        ("((a + b)) + c", "a + b + c"),
        ("a + (b + c)", "a + (b + c)"),
        ("a - (b - c)", "a - (b - c)"),
        ("(a * b) / c", "a * b / c"),
        ("a / (b * c)", "a / (b * c)"),
        ("a * (b / c)", "a * (b / c)"),
        ("(a + b) * c", "(a + b) * c"),
        ("a + b * c", "a + b * c"),
        ("-(a * b)", "-(a * b)"),
        ("-a * b", "-a * b"),
        ("- -a", "--a"),
        ("2 - -1", "2 - -1"),
        ("-(x)", "-x"),
        ("-(-(x))", "--x"),
        ("007.50", "7.5"),
        ("1.0", "1"),
        ("0.000001 * x", "0.000001 * x"),
        ("\n x\t/\r\n2 ", "x / 2"),
    ];
    for (text, canonical) in cases {
        let f = formula(text);
        assert_eq!(f.to_string(), canonical, "{text:?}");
        assert_eq!(formula(canonical), f, "{text:?}");
        assert_eq!(f.text(), text);
    }
    assert_ne!(formula("a + (b + c)"), formula("a + b + c"));
    assert_ne!(formula("-a * b"), formula("-(a * b)"));
    assert_ne!(formula("a - b"), formula("a + -b"));
    let big = format!("1{}", "0".repeat(300));
    assert_eq!(formula(&big).to_string(), big);
}

#[test]
fn from_str_matches_parse() {
    let f: Formula = "likes / posts".parse().expect("valid formula");
    assert_eq!(f, formula("likes/posts"));
    assert!("likes /".parse::<Formula>().is_err());
}

// ---- Cycles ----------------------------------------------------------

fn custom(pairs: &[(&str, &str)]) -> HashMap<String, Formula> {
    pairs
        .iter()
        .map(|(id, text)| (id.to_string(), formula(text)))
        .collect()
}

#[test]
fn cycles_are_found_and_named() {
    let formulas = custom(&[("b", "likes + a"), ("c", "b * 2"), ("a", "likes")]);
    let e = check_cycles("a", &formula("posts + b"), &formulas).expect_err("a → b → a");
    assert_eq!(e.message, "cycle: a → b → a");
    assert_eq!((e.offset, e.column), (8, 9));
    let e = check_cycles("a", &formula("posts / c"), &formulas).expect_err("a → c → b → a");
    assert_eq!(e.message, "cycle: a → c → b → a");
    assert_eq!(e.offset, 8);
    assert_eq!(e.to_string(), "line 1, column 9: cycle: a → c → b → a");
}

#[test]
fn self_reference_is_a_cycle() {
    let e = check_cycles("a", &formula("a + 1"), &HashMap::new()).expect_err("a → a");
    assert_eq!(e.message, "cycle: a → a");
    assert_eq!(e.offset, 0);
    let e =
        check_cycles("a", &formula("1 + (2 * a)"), &custom(&[("a", "likes")])).expect_err("a → a");
    assert_eq!((e.message.as_str(), e.offset), ("cycle: a → a", 9));
}

#[test]
fn a_dag_is_accepted() {
    // d uses b and c, which both use e: shared, but no cycle.
    let formulas = custom(&[
        ("b", "e + likes"),
        ("c", "e * 2 + b"),
        ("e", "posts"),
        ("a", "d"), // the old formula of `a`, ignored
        // A cycle elsewhere that does not pass through `a` is not ours.
        ("x", "y"),
        ("y", "x"),
    ]);
    assert_eq!(
        check_cycles("a", &formula("b / c + e + x"), &formulas),
        Ok(())
    );
    assert_eq!(check_cycles("d", &formula("b + c"), &formulas), Ok(()));
    let e = check_cycles("e", &formula("c"), &formulas).expect_err("e → c → e");
    assert_eq!(e.message, "cycle: e → c → e");
}

#[test]
fn long_chains_do_not_recurse() {
    let chain: Vec<(String, String)> = (0..20_000)
        .map(|i| (format!("k{i}"), format!("k{} + 1", i + 1)))
        .collect();
    let mut formulas: HashMap<String, Formula> = chain
        .iter()
        .map(|(id, text)| (id.clone(), formula(text)))
        .collect();
    assert_eq!(check_cycles("start", &formula("k0"), &formulas), Ok(()));
    formulas.insert("k20000".to_string(), formula("start"));
    let e = check_cycles("start", &formula("k0"), &formulas).expect_err("long cycle");
    assert!(
        e.message.starts_with("cycle: start → k0 → k1 → "),
        "{}",
        &e.message[..40]
    );
    assert!(e.message.ends_with("→ k20000 → start"));
}

// ---- Robustness ------------------------------------------------------

fn random_formula(rng: &mut Rng, depth: usize) -> String {
    let choice = if depth == 0 {
        rng.below(2)
    } else {
        rng.below(6)
    };
    match choice {
        0 => rng.pick(&["a", "b", "likes", "x_1"]).to_string(),
        1 => rng
            .pick(&["0", "1", "2.5", "1000", "0.125", "007"])
            .to_string(),
        2 => format!("-{}", random_formula(rng, depth - 1)),
        3 => format!("({})", random_formula(rng, depth - 1)),
        _ => format!(
            "{}{}{}",
            random_formula(rng, depth - 1),
            rng.pick(&[" + ", "-", " * ", "/", " - ", "+"]),
            random_formula(rng, depth - 1)
        ),
    }
}

#[test]
fn generated_formulas_round_trip_through_display() {
    let mut rng = Rng(0x5EED_0002);
    let values = [
        ("a", Ok(3.0)),
        ("b", Ok(-0.5)),
        ("likes", Ok(7.0)),
        ("x_1", Ok(2.0)),
    ];
    for _ in 0..3000 {
        let text = random_formula(&mut rng, 5);
        let f = formula(&text);
        let printed = f.to_string();
        let again = formula(&printed);
        assert_eq!(again, f, "{text:?} printed as {printed:?}");
        assert_eq!(again.to_string(), printed);
        assert_eq!(
            again.evaluate(&mut |n| eval_in(&values, n)),
            f.evaluate(&mut |n| eval_in(&values, n)),
            "{text:?}"
        );
        assert_eq!(again.names().len(), f.names().len());
    }
}

fn eval_in(values: &[(&str, Value)], name: &str) -> Value {
    values
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(Err(Reason::NoData), |(_, v)| *v)
}

#[test]
fn parsing_arbitrary_input_never_panics() {
    const PIECES: &[&str] = &[
        "a", "likes", "L", "(", ")", "+", "-", "*", "/", " ", "\n", "1", ".", "0", "é", "😀", "_",
        "\t", "%", "2.5", "x9",
    ];
    let mut accepted = 0;
    for text in random_texts(0xF0_0001, PIECES, 20_000) {
        match parse(&text) {
            Ok(f) => {
                accepted += 1;
                assert_eq!(formula(&f.to_string()), f, "{text:?}");
                let _ = f.validate(&|_| NameKind::Metric);
                let _ = f.evaluate(&mut |_| Ok(0.0));
                for (name, span) in f.names() {
                    let written: String = text
                        .chars()
                        .skip(span.start)
                        .take(span.end - span.start)
                        .collect();
                    assert_eq!(written, name, "{text:?}");
                }
            }
            Err(e) => {
                assert_inside(&text, (e.offset, e.line, e.column), &e);
                assert!(e.message.starts_with("expected "), "{text:?}: {e}");
                assert!(e.message.contains(", found "), "{text:?}: {e}");
                assert!(!e.message.contains("internal error"), "{text:?}: {e}");
                assert!(!e.message.contains("a valid formula"), "{text:?}: {e}");
            }
        }
    }
    assert!(
        accepted > 200,
        "the generator should hit some valid formulas"
    );
}
