//! Unit tests of segment rules: parsing and its messages, printing, in-memory
//! evaluation and the SQL condition, run on SQLite.

use super::*;
use crate::domain::text::quote_token;
use crate::domain::text::testing::{Rng, assert_inside, random_texts};
use sea_orm::sea_query::{PostgresQueryBuilder, Query, SqliteQueryBuilder};

#[derive(Clone, Debug, Default)]
struct Row {
    bio: Option<String>,
    followers: Option<f64>,
    influence_score: Option<f64>,
    age: Option<f64>,
    is_customer: Option<bool>,
    platform: Option<String>,
    country: Option<String>,
}

impl AttributeSource for Row {
    fn attribute(&self, attr: Attribute) -> Option<AttrValue<'_>> {
        match attr {
            Attribute::Bio => self.bio.as_deref().map(AttrValue::Text),
            Attribute::Followers => self.followers.map(AttrValue::Number),
            Attribute::InfluenceScore => self.influence_score.map(AttrValue::Number),
            Attribute::Age => self.age.map(AttrValue::Number),
            Attribute::IsCustomer => self.is_customer.map(AttrValue::Bool),
            Attribute::Platform => self.platform.as_deref().map(AttrValue::Text),
            Attribute::Country => self.country.as_deref().map(AttrValue::Text),
        }
    }
}

fn text(s: &str) -> Option<String> {
    Some(s.to_string())
}

fn rule(text: &str) -> SegmentRule {
    match parse(text) {
        Ok(rule) => rule,
        Err(e) => panic!("{text:?} should parse: {e}"),
    }
}

fn eval(text: &str, row: &Row) -> Option<bool> {
    rule(text).evaluate(row)
}

fn err(text: &str) -> RuleError {
    match parse(text) {
        Ok(rule) => panic!("{text:?} should not parse, got {rule}"),
        Err(e) => e,
    }
}

/// Asserts offset, line, column and found, and that expected contains `expected`.
fn assert_err(text: &str, pos: (usize, usize, usize), expected: &str, found: &str) {
    let e = err(text);
    assert_eq!(
        (e.offset, e.line, e.column),
        pos,
        "position for {text:?}: {e}"
    );
    assert!(
        e.expected.contains(expected),
        "expected-part for {text:?}: {e}"
    );
    assert_eq!(e.found, found, "found-part for {text:?}: {e}");
}

fn sample() -> Row {
    Row {
        bio: text("L'école de Design"),
        followers: Some(1500.0),
        influence_score: Some(0.75),
        age: Some(31.0),
        is_customer: Some(true),
        platform: text("Instagram"),
        country: text("FR"),
    }
}

#[test]
fn text_predicates() {
    let row = sample();
    assert_eq!(eval(r#"bio contains "design""#, &row), Some(true));
    assert_eq!(eval(r#"bio contains "paris""#, &row), Some(false));
    assert_eq!(eval(r#"platform = "instagram""#, &row), Some(true));
    assert_eq!(eval(r#"platform = "insta""#, &row), Some(false));
    assert_eq!(eval(r#"country != "fr""#, &row), Some(false));
    assert_eq!(eval(r#"country != "de""#, &row), Some(true));
    // No trimming: a space is part of the literal.
    assert_eq!(eval(r#"country = "fr ""#, &row), Some(false));
}

#[test]
fn number_predicates() {
    let row = sample();
    let cases = [
        ("followers = 1500", true),
        ("followers = 1500.0", true),
        ("followers != 1500", false),
        ("followers < 1500", false),
        ("followers <= 1500", true),
        ("followers > 1499.5", true),
        ("followers >= 1501", false),
        ("influence_score > -1", true),
        ("influence_score = 0.75", true),
        ("age between 18 and 31", true),
        ("age between 31 and 40", true),
        ("age between 32 and 40", false),
        ("age between -5 and 30.99", false),
    ];
    for (text, expected) in cases {
        assert_eq!(eval(text, &row), Some(expected), "{text}");
    }
}

#[test]
fn between_is_inclusive_and_false_when_bounds_are_reversed() {
    let at = |age: f64| Row {
        age: Some(age),
        ..Row::default()
    };
    let r = rule("age between 18 and 30");
    assert_eq!(r.evaluate(&at(18.0)), Some(true));
    assert_eq!(r.evaluate(&at(30.0)), Some(true));
    assert_eq!(r.evaluate(&at(17.999)), Some(false));
    assert_eq!(r.evaluate(&at(30.001)), Some(false));
    let reversed = rule("age between 30 and 18");
    for age in [10.0, 18.0, 25.0, 30.0, 40.0] {
        assert_eq!(reversed.evaluate(&at(age)), Some(false), "age {age}");
    }
    assert_eq!(reversed.evaluate(&Row::default()), None);
    assert_eq!(rule("age between 5 and 5").evaluate(&at(5.0)), Some(true));
}

#[test]
fn bool_predicates() {
    let customer = Row {
        is_customer: Some(true),
        ..Row::default()
    };
    let prospect = Row {
        is_customer: Some(false),
        ..Row::default()
    };
    let cases = [
        ("is_customer", true, false),
        ("is_customer = true", true, false),
        ("is_customer = false", false, true),
        ("is_customer != true", false, true),
        ("is_customer != false", true, false),
        ("is_customer = TRUE", true, false),
        ("is_customer = False", false, true),
    ];
    for (text, on_customer, on_prospect) in cases {
        assert_eq!(eval(text, &customer), Some(on_customer), "{text}");
        assert_eq!(eval(text, &prospect), Some(on_prospect), "{text}");
        assert_eq!(eval(text, &Row::default()), None, "{text}");
    }
    assert_eq!(rule("is_customer"), rule("is_customer = true"));
}

#[test]
fn keywords_are_case_insensitive() {
    let row = sample();
    assert_eq!(
        eval(r#"NOT bio CONTAINS "x" And age BETWEEN 30 AND 40"#, &row),
        Some(true)
    );
    assert_eq!(eval("age > 99 OR is_customer = TRUE", &row), Some(true));
    assert_eq!(eval("Not is_customer", &row), Some(false));
    assert_eq!(
        rule(r#"NOT bio CONTAINS "x" And age BETWEEN 30 AND 40"#),
        rule(r#"not bio contains "x" and age between 30 and 40"#)
    );
}

#[test]
fn attribute_names_are_lowercase_only() {
    assert_err(
        "AGE > 3",
        (0, 1, 1),
        "attribute names are lowercase",
        r#""AGE""#,
    );
    assert_err(
        "Is_Customer",
        (0, 1, 1),
        "an attribute name",
        r#""Is_Customer""#,
    );
}

#[test]
fn keywords_and_attributes_are_whole_words() {
    assert_err(
        r#"notbio contains "x""#,
        (0, 1, 1),
        "an attribute name",
        r#""notbio""#,
    );
    assert_err("ageX > 3", (0, 1, 1), "an attribute name", r#""ageX""#);
    assert_err(
        r#"bio containsx "a""#,
        (4, 1, 5),
        r#""contains""#,
        r#""containsx""#,
    );
    assert_err("age > 3and is_customer", (6, 1, 7), "a number", r#""3and""#);
    assert_err(
        "age > 3 andis_customer",
        (8, 1, 9),
        r#""and""#,
        r#""andis_customer""#,
    );
    assert_err(
        "is_customer = truex",
        (14, 1, 15),
        r#""true""#,
        r#""truex""#,
    );
    assert_err(
        "age betweenx 1 and 2",
        (4, 1, 5),
        r#""between""#,
        r#""betweenx""#,
    );
    // Operators and parentheses need no surrounding spaces.
    assert_eq!(
        rule(r#"(age>3)and(bio!="x")"#),
        rule(r#"age > 3 and bio != "x""#)
    );
}

#[test]
fn whitespace_between_tokens_is_free() {
    let spaced = rule("\n\t age\t>=\n18   and\r\n  not\tis_customer  ");
    assert_eq!(spaced, rule("age >= 18 and not is_customer"));
}

#[test]
fn contains_lowercases_unicode() {
    let row = sample();
    assert_eq!(eval(r#"bio contains "ÉCOLE""#, &row), Some(true));
    assert_eq!(eval(r#"bio contains "L'ÉCOLE DE""#, &row), Some(true));
    assert_eq!(eval(r#"bio = "l'école de design""#, &row), Some(true));
    let greek = Row {
        bio: text("ΣΟΦΊΑ"),
        ..Row::default()
    };
    assert_eq!(eval(r#"bio contains "σοφ""#, &greek), Some(true));
}

#[test]
fn percent_and_underscore_are_literal() {
    let row = Row {
        bio: text("50% off, a_b"),
        ..Row::default()
    };
    assert_eq!(eval(r#"bio contains "50%""#, &row), Some(true));
    assert_eq!(eval(r#"bio contains "a_b""#, &row), Some(true));
    assert_eq!(eval(r#"bio contains "5%f""#, &row), Some(false));
    assert_eq!(eval(r#"bio contains "a_c""#, &row), Some(false));
    assert_eq!(eval(r#"bio contains "%""#, &row), Some(true));
    let plain = Row {
        bio: text("fifty percent"),
        ..Row::default()
    };
    assert_eq!(eval(r#"bio contains "%""#, &plain), Some(false));
    assert_eq!(eval(r#"bio contains "_""#, &plain), Some(false));

    let sql = select_sql(r#"bio contains "5%_\\x""#, &all_columns, SqliteQueryBuilder);
    assert!(
        sql.contains(r#"LIKE '%5\%\_\\x%' ESCAPE '\'"#),
        "escaped LIKE pattern in {sql}"
    );
}

#[test]
fn strings_take_escaped_quotes_and_backslashes() {
    let row = Row {
        bio: text(r#"say "hi" \o/"#),
        ..Row::default()
    };
    assert_eq!(eval(r#"bio contains "\"hi\"""#, &row), Some(true));
    assert_eq!(eval(r#"bio contains "\\o/""#, &row), Some(true));
    assert_eq!(eval(r#"bio = "say \"hi\" \\o/""#, &row), Some(true));
    assert_eq!(eval(r#"bio contains "\\\"""#, &row), Some(false));
    // Anything else, newlines included, is taken as is.
    let multiline = Row {
        bio: text("line one\nline two"),
        ..Row::default()
    };
    assert_eq!(eval("bio contains \"one\ntwo\"", &multiline), Some(false));
    assert_eq!(eval("bio contains \"one\nline\"", &multiline), Some(true));
    assert_eq!(eval(r#"bio contains """#, &multiline), Some(true));
}

#[test]
fn missing_attributes_are_unknown() {
    let empty = Row::default();
    for text in [
        r#"bio contains "x""#,
        r#"bio = "x""#,
        r#"bio != "x""#,
        "followers != 3",
        "age between 1 and 2",
        "is_customer != true",
    ] {
        assert_eq!(eval(text, &empty), None, "{text}");
        assert_eq!(eval(&format!("not {text}"), &empty), None, "not {text}");
        assert!(!rule(text).matches(&empty), "{text}");
    }
}

#[test]
fn kleene_logic() {
    let row = Row {
        age: Some(20.0),
        ..Row::default()
    };
    // age > 10 is true, age > 30 is false, followers > 0 is unknown.
    assert_eq!(eval("age > 30 and followers > 0", &row), Some(false));
    assert_eq!(eval("followers > 0 and age > 30", &row), Some(false));
    assert_eq!(eval("age > 10 and followers > 0", &row), None);
    assert_eq!(eval("age > 10 or followers > 0", &row), Some(true));
    assert_eq!(eval("followers > 0 or age > 10", &row), Some(true));
    assert_eq!(eval("age > 30 or followers > 0", &row), None);
    assert_eq!(eval("not (age > 30 or followers > 0)", &row), None);
    assert_eq!(eval("not (age > 30 and followers > 0)", &row), Some(true));
    assert_eq!(eval("not not followers > 0", &row), None);
    assert!(!rule("age > 10 and followers > 0").matches(&row));
    assert!(rule("age > 10 or followers > 0").matches(&row));
}

#[test]
fn and_binds_tighter_than_or() {
    let row = Row {
        age: Some(20.0),
        ..sample()
    };
    // true or (false and false)
    assert_eq!(eval("age = 20 or age = 1 and age = 2", &row), Some(true));
    // (true or false) and false
    assert_eq!(eval("(age = 20 or age = 1) and age = 2", &row), Some(false));
    // not applies to the predicate only
    assert_eq!(eval("not age = 1 and age = 20", &row), Some(true));
}

#[test]
fn empty_text_counts_as_missing() {
    let row = Row {
        bio: text(""),
        ..Row::default()
    };
    assert_eq!(eval(r#"bio != "x""#, &row), None);
    assert_eq!(eval(r#"bio = """#, &row), None);
    assert_eq!(eval(r#"bio contains """#, &row), None);
    let space = Row {
        bio: text(" "),
        ..Row::default()
    };
    assert_eq!(eval(r#"bio = " ""#, &space), Some(true));
}

#[test]
fn values_of_the_wrong_type_count_as_missing() {
    struct Confused;
    impl AttributeSource for Confused {
        fn attribute(&self, attr: Attribute) -> Option<AttrValue<'_>> {
            Some(if attr.is_text() {
                AttrValue::Number(1.0)
            } else if attr.is_number() {
                AttrValue::Text("1")
            } else {
                AttrValue::Number(f64::NAN)
            })
        }
    }
    let r = rule(r#"bio != "x" or age != 3 or is_customer or followers between 0 and 9"#);
    assert_eq!(r.evaluate(&Confused), None);
    let nan = Row {
        age: Some(f64::NAN),
        ..Row::default()
    };
    assert_eq!(eval("age != 3", &nan), None);
}

#[test]
fn attributes_lists_each_attribute_once_in_order_of_use() {
    let r = rule(r#"age > 3 and (bio contains "x" or age < 9) and not is_customer or bio = "y""#);
    assert_eq!(
        r.attributes(),
        vec![Attribute::Age, Attribute::Bio, Attribute::IsCustomer]
    );
}

#[test]
fn attribute_helpers() {
    for attr in Attribute::ALL {
        assert_eq!(Attribute::from_name(attr.name()), Some(attr));
        assert_eq!(attr.to_string(), attr.name());
        let kinds = [attr.is_text(), attr.is_number(), attr.is_bool()];
        assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{attr}");
    }
    assert_eq!(Attribute::from_name("Bio"), None);
    assert!(Attribute::InfluenceScore.is_number());
    assert!(Attribute::Country.is_text());
    assert!(Attribute::IsCustomer.is_bool());
}

#[test]
fn from_str_matches_parse() {
    let r: SegmentRule = "age > 3".parse().expect("valid rule");
    assert_eq!(r, rule("age > 3"));
    assert!("age >".parse::<SegmentRule>().is_err());
}

#[test]
fn error_missing_number_at_end() {
    let e = err("followers >= ");
    assert_eq!((e.offset, e.line, e.column), (13, 1, 14));
    assert_eq!(
        e.expected,
        r#"a number after ">=" because "followers" is a number attribute"#
    );
    assert_eq!(e.found, "end of rule");
    assert_eq!(
        e.to_string(),
        r#"line 1, column 14: expected a number after ">=" because "followers" is a number attribute, found end of rule"#
    );
}

#[test]
fn error_number_attribute_given_a_string() {
    let e = err(r#"followers > "abc""#);
    assert_eq!(
        e.to_string(),
        r#"line 1, column 13: expected a number after ">" because "followers" is a number attribute, found "\"abc\"""#
    );
}

#[test]
fn error_type_mismatches_point_at_the_operator_or_value() {
    let e = err("bio > 3");
    assert_eq!((e.offset, e.column), (4, 5));
    assert_eq!(
        e.expected,
        r#""contains", "=" or "!=" (bio is a text attribute)"#
    );
    assert_eq!(e.found, r#"">""#);
    assert_err(
        r#"age contains "x""#,
        (4, 1, 5),
        r#"or "between" (age is a number attribute)"#,
        r#""contains""#,
    );
    assert_err(
        "country = 3",
        (10, 1, 11),
        r#"a string in double quotes after "=" because "country" is a text attribute"#,
        r#""3""#,
    );
    assert_err(
        "is_customer = 1",
        (14, 1, 15),
        r#""true" or "false" after "=" because "is_customer" is a bool attribute"#,
        r#""1""#,
    );
    assert_err(
        "is_customer > true",
        (12, 1, 13),
        r#""=", "!=", "and", "or" or end of rule"#,
        r#"">""#,
    );
}

#[test]
fn error_unknown_attribute() {
    let e = err(r#"colour = "red""#);
    assert_eq!((e.offset, e.line, e.column), (0, 1, 1));
    assert!(e.expected.starts_with("an attribute name"), "{e}");
    assert!(e.expected.contains("influence_score"), "{e}");
    assert_eq!(e.found, r#""colour""#);
    assert_err(
        r#"age > 1 and (colour = "red")"#,
        (13, 1, 14),
        "an attribute name",
        r#""colour""#,
    );
}

#[test]
fn error_unterminated_string() {
    let e = err(r#"bio contains "abc"#);
    assert_eq!((e.offset, e.line, e.column), (17, 1, 18));
    assert_eq!(
        e.expected,
        r#"a closing " for the string that starts at line 1, column 14"#
    );
    assert_eq!(e.found, "end of rule");
    // An escaped quote doesn't close the string.
    assert_err(
        r#"bio = "abc\""#,
        (12, 1, 13),
        "a closing \"",
        "end of rule",
    );
    assert_err(r#"bio = "abc\"#, (11, 1, 12), "a closing \"", "end of rule");
}

#[test]
fn error_bad_escape() {
    assert_err(
        r#"bio = "a\nb""#,
        (8, 1, 9),
        r#"\" or \\ (the only escapes"#,
        r#""\\n""#,
    );
    assert_err(r#"bio = "a\éb""#, (8, 1, 9), "the only escapes", r#""\\é""#);
}

#[test]
fn error_between_without_and() {
    assert_err("age between 1", (13, 1, 14), r#""and""#, "end of rule");
    assert_err("age between 1 or 3", (14, 1, 15), r#""and""#, r#""or""#);
    assert_err(
        "age between 1 and",
        (17, 1, 18),
        r#"a number after "and" because "age" is a number attribute"#,
        "end of rule",
    );
}

#[test]
fn error_unbalanced_parentheses() {
    let e = err("(age > 3 and (is_customer)");
    assert_eq!((e.offset, e.column), (26, 27));
    assert_eq!(e.expected, r#""and", "or" or ")""#);
    assert_eq!(e.found, "end of rule");
    let e = err("age > 3)");
    assert_eq!((e.offset, e.column), (7, 8));
    assert_eq!(e.expected, r#""and", "or" or end of rule"#);
    assert_eq!(e.found, r#"")""#);
    assert_err(
        "()",
        (1, 1, 2),
        r#"an attribute name, "not" or "(""#,
        r#"")""#,
    );
}

#[test]
fn error_is_customer_not_a_bool() {
    let e = err("is_customer = maybe");
    assert_eq!((e.offset, e.column), (14, 15));
    assert_eq!(
        e.expected,
        r#""true" or "false" after "=" because "is_customer" is a bool attribute"#
    );
    assert_eq!(e.found, r#""maybe""#);
}

#[test]
fn error_trailing_garbage() {
    let e = err("age > 3 age");
    assert_eq!((e.offset, e.line, e.column), (8, 1, 9));
    assert_eq!(e.expected, r#""and", "or" or end of rule"#);
    assert_eq!(e.found, r#""age""#);
}

#[test]
fn error_empty_or_incomplete_rule() {
    assert_err(
        "",
        (0, 1, 1),
        r#"an attribute name, "not" or "(""#,
        "end of rule",
    );
    assert_err(" \n ", (3, 2, 2), "an attribute name", "end of rule");
    assert_err("not", (3, 1, 4), "an attribute name", "end of rule");
    assert_err(
        "age > 3 or",
        (10, 1, 11),
        "an attribute name",
        "end of rule",
    );
    assert_err("age", (3, 1, 4), r#""between""#, "end of rule");
}

#[test]
fn error_positions_count_chars_and_lines() {
    let e = err("bio = \"é\" and\n  age > \"x\"");
    assert_eq!((e.offset, e.line, e.column), (22, 2, 9));
    assert_eq!(e.found, r#""\"x\"""#);
    // A tab is one column.
    assert_err("\tage >", (6, 1, 7), "a number", "end of rule");
}

#[test]
fn error_found_token_is_shortened() {
    let long = format!("age > \"{}\"", "x".repeat(100));
    let e = err(&long);
    assert!(e.found.ends_with('…'), "{e}");
    assert!(e.found.chars().count() < 50, "{e}");
}

#[test]
fn error_number_out_of_range() {
    let huge = format!("age < {}", "9".repeat(400));
    assert_err(
        &huge,
        (6, 1, 7),
        "within the range",
        &quote_token(&"9".repeat(400)),
    );
    // Large but finite is fine.
    assert_eq!(
        eval(
            &format!("age < {}", "9".repeat(300)),
            &Row {
                age: Some(1e299),
                ..Row::default()
            }
        ),
        Some(true)
    );
}

#[test]
fn too_long_is_rejected() {
    let unit = "age > 1 or ";
    let mut text = unit.repeat((MAX_RULE_BYTES - 7) / unit.len());
    text.push_str("age > 1");
    assert!(text.len() <= MAX_RULE_BYTES);
    assert_eq!(rule(&text).evaluate(&sample()), Some(true));

    let text = format!("{text} or age > 2");
    let e = err(&text);
    assert_eq!(e.expected, "a rule of at most 4096 bytes");
    assert_eq!(e.found, format!("a rule of {} bytes", text.len()));
    assert_eq!(e.offset, MAX_RULE_BYTES);

    // Cut inside a multi-byte character without panicking.
    let text = format!("bio = \"{}\"", "é".repeat(3000));
    let e = err(&text);
    assert_eq!(e.expected, "a rule of at most 4096 bytes");
    assert!(e.offset < MAX_RULE_BYTES);
}

#[test]
fn too_deep_is_rejected() {
    let nest = |depth: usize| format!("{}age > 1{}", "(".repeat(depth), ")".repeat(depth));
    assert_eq!(rule(&nest(MAX_NESTING)), rule("age > 1"));
    let e = err(&nest(MAX_NESTING + 1));
    assert_eq!((e.offset, e.column), (64, 65));
    assert_eq!(e.expected, r#"at most 64 levels of parentheses and "not""#);
    assert_eq!(e.found, r#""(""#);
    // The depth check runs before the grammar, so it catches unclosed ones too.
    let e = err(&"(".repeat(4000));
    assert_eq!(e.offset, 64);

    let nots = |depth: usize| format!("{}is_customer", "not ".repeat(depth));
    assert_eq!(
        rule(&nots(MAX_NESTING)).evaluate(&sample()),
        Some(true),
        "an even number of nots"
    );
    let e = err(&nots(MAX_NESTING + 1));
    assert_eq!((e.offset, e.found.as_str()), (256, r#""not""#));

    // Parentheses and nots add up.
    let mixed = |depth: usize| format!("{}age > 1{}", "not (".repeat(depth), ")".repeat(depth));
    assert!(parse(&mixed(MAX_NESTING / 2)).is_ok());
    let e = err(&mixed(MAX_NESTING / 2 + 1));
    assert_eq!(e.offset, 5 * 32);

    // Parentheses inside strings don't count.
    let quoted = format!(r#"bio contains "{}""#, "(".repeat(1000));
    assert!(parse(&quoted).is_ok());
}

#[test]
fn long_flat_chains_are_fine() {
    let text = vec!["is_customer"; 200].join(" and ");
    let r = rule(&text);
    assert_eq!(r.evaluate(&sample()), Some(true));
    let sql = select_sql(&text, &all_columns, PostgresQueryBuilder);
    assert_eq!(sql.matches("AND").count(), 199);
    assert_eq!(rule(&r.to_string()), r);
}

#[test]
fn display_is_canonical_and_round_trips() {
    let text = r#"NOT (bio CONTAINS "Say \"hi\" \\ ÉCOLE" or country != "FR") AND ((age BETWEEN 18 and 30.5) or not not followers >= -12.50)"#;
    let r = rule(text);
    let printed = r.to_string();
    assert_eq!(
        printed,
        r#"not (bio contains "Say \"hi\" \\ ÉCOLE" or country != "FR") and (age between 18 and 30.5 or not not followers >= -12.5)"#
    );
    assert_eq!(rule(&printed), r);

    let complex = r#"is_customer = false or (platform = "tiktok" and not (age < 18 or age > 65)) or (bio contains "100%" and followers between 1000 and 0.5 and influence_score != -0)"#;
    let r = rule(complex);
    assert_eq!(r.to_string(), complex);
    assert_eq!(rule(&r.to_string()), r);
    assert_eq!(
        rule("((age > 1 and age < 3) and (age != 2))").to_string(),
        "age > 1 and age < 3 and age != 2"
    );
    assert_eq!(rule("is_customer = TRUE").to_string(), "is_customer");
    assert_eq!(
        rule("is_customer != true").to_string(),
        "is_customer != true"
    );
}

// ---- SQL ------------------------------------------------------------

fn all_columns(attr: Attribute) -> Option<Expr> {
    Some(Expr::col(attr.name()))
}

/// Columns of a table that has neither age nor country.
fn some_columns(attr: Attribute) -> Option<Expr> {
    match attr {
        Attribute::Age | Attribute::Country => None,
        _ => Some(Expr::col(attr.name())),
    }
}

fn select_sql<B: sea_orm::sea_query::QueryBuilder>(
    text: &str,
    columns: &dyn ColumnMap,
    builder: B,
) -> String {
    Query::select()
        .column("id")
        .from("members")
        .and_where(rule(text).to_condition(columns))
        .to_string(builder)
}

#[test]
fn sql_renders_on_both_backends() {
    let text = r#"not (bio contains "École_1" or country != "FR") and (age between 18 and 30.5 or is_customer != false or followers < 100)"#;
    let sqlite = select_sql(text, &all_columns, SqliteQueryBuilder);
    let postgres = select_sql(text, &all_columns, PostgresQueryBuilder);
    for sql in [&sqlite, &postgres] {
        assert!(
            sql.starts_with(r#"SELECT "id" FROM "members" WHERE "#),
            "{sql}"
        );
        assert!(sql.contains(r#"NULLIF("bio", '')"#), "{sql}");
        assert!(sql.contains(r#"NULLIF("country", '') <> 'fr'"#), "{sql}");
        assert!(
            sql.contains(
                r#"CAST("age" AS DOUBLE PRECISION) >= 18 AND CAST("age" AS DOUBLE PRECISION) <= 30.5"#
            ),
            "{sql}"
        );
        assert!(sql.contains(r#""is_customer" <> FALSE"#), "{sql}");
        assert!(
            sql.contains(r#"CAST("followers" AS DOUBLE PRECISION) < 100"#),
            "{sql}"
        );
        assert!(sql.contains("NOT"), "{sql}");
        assert!(sql.contains(" OR "), "{sql}");
    }
    assert!(
        sqlite.contains(r#"LIKE '%école\_1%' ESCAPE '\'"#),
        "{sqlite}"
    );
    // PostgreSQL spells literals holding a backslash as E'…' strings.
    assert!(
        postgres.contains(r#"LIKE E'%école\\_1%' ESCAPE E'\\'"#),
        "{postgres}"
    );
}

#[test]
fn sql_uses_null_for_missing_columns() {
    let text = r#"age > 3 or country = "fr" or bio contains "x""#;
    for sql in [
        select_sql(text, &some_columns, SqliteQueryBuilder),
        select_sql(text, &some_columns, PostgresQueryBuilder),
    ] {
        assert!(sql.contains("CAST(NULL AS DOUBLE PRECISION) > 3"), "{sql}");
        assert!(sql.contains("NULLIF(NULL, '') = 'fr'"), "{sql}");
        assert!(sql.contains(r#"NULLIF("bio", '') LIKE"#), "{sql}");
    }
}

#[test]
fn sql_parameters_keep_literals_out_of_the_text() {
    let (sql, values) = Query::select()
        .column("id")
        .from("members")
        .and_where(rule(r#"bio = "x'; drop table members; --""#).to_condition(&all_columns))
        .build(PostgresQueryBuilder);
    assert!(!sql.contains("drop"), "{sql}");
    assert!(
        values
            .iter()
            .any(|v| *v == "x'; drop table members; --".into()),
        "{values:?}"
    );
}

// ---- Generated rules: SQL and memory must agree ----------------------

/// A random valid rule of at most `depth` levels, in assorted spellings.
fn random_rule(rng: &mut Rng, depth: usize) -> String {
    let choice = if depth == 0 { 0 } else { rng.below(7) };
    match choice {
        0..=2 => random_predicate(rng),
        3 => format!(
            "{} {} {}",
            random_rule(rng, depth - 1),
            rng.pick(&["and", "AND", "And"]),
            random_rule(rng, depth - 1)
        ),
        4 => format!(
            "{} {} {}",
            random_rule(rng, depth - 1),
            rng.pick(&["or", "OR"]),
            random_rule(rng, depth - 1)
        ),
        5 => format!("{} {}", rng.pick(&["not", "NOT"]), random_rule(rng, 0)),
        _ => format!(
            "{}({})",
            rng.pick(&["", "not "]),
            random_rule(rng, depth - 1)
        ),
    }
}

fn random_predicate(rng: &mut Rng) -> String {
    const NUMBERS: &[&str] = &[
        "0", "-1", "1", "17", "18", "25.5", "999", "1000", "-0", "0.5",
    ];
    match rng.below(4) {
        0 => format!(
            "{} {} \"{}\"",
            rng.pick(&["bio", "platform", "country"]),
            rng.pick(&["contains", "CONTAINS", "=", "!="]),
            rng.pick(&[
                "",
                "a",
                "É",
                "école",
                "50%",
                "%",
                "_",
                "a_b",
                "x\\\\y",
                "\\\"hi\\\"",
                " ",
                "fr",
                "FR",
                "insta",
                "instagram",
                "tiktok",
            ])
        ),
        1 => format!(
            "{} {} {}",
            rng.pick(&["followers", "influence_score", "age"]),
            rng.pick(&["=", "!=", "<", "<=", ">", ">="]),
            rng.pick(NUMBERS)
        ),
        2 => format!(
            "{} between {} and {}",
            rng.pick(&["followers", "influence_score", "age"]),
            rng.pick(NUMBERS),
            rng.pick(NUMBERS)
        ),
        _ => rng
            .pick(&[
                "is_customer",
                "is_customer = true",
                "is_customer = false",
                "is_customer != TRUE",
                "is_customer != false",
            ])
            .to_string(),
    }
}

fn test_rows() -> Vec<Row> {
    vec![
        Row {
            bio: text("L'ÉCOLE de design, 50% off"),
            followers: Some(1000.0),
            influence_score: Some(0.5),
            age: Some(25.0),
            is_customer: Some(true),
            platform: text("Instagram"),
            country: text("FR"),
        },
        Row::default(),
        Row {
            bio: text(""),
            followers: Some(0.0),
            influence_score: Some(-1.0),
            age: Some(18.0),
            is_customer: Some(false),
            platform: text(""),
            country: text(""),
        },
        Row {
            bio: text(r#"a_b x\y say "hi""#),
            followers: Some(999.0),
            influence_score: None,
            age: None,
            is_customer: None,
            platform: text("TikTok"),
            country: text("fr"),
        },
        Row {
            bio: text(" "),
            followers: None,
            influence_score: Some(25.5),
            age: Some(17.0),
            is_customer: Some(true),
            platform: text("insta"),
            country: None,
        },
        Row {
            bio: text("abc"),
            followers: Some(-1.0),
            influence_score: Some(0.0),
            age: Some(1.0),
            is_customer: Some(false),
            platform: None,
            country: text("DE"),
        },
    ]
}

/// The row as seen through a table that lacks age and country.
fn without_age_and_country(row: &Row) -> Row {
    Row {
        age: None,
        country: None,
        ..row.clone()
    }
}

#[test]
fn generated_rules_round_trip_through_display() {
    let mut rng = Rng(0x5EED_0001);
    for _ in 0..2000 {
        let text = random_rule(&mut rng, 4);
        let r = rule(&text);
        let printed = r.to_string();
        assert_eq!(rule(&printed), r, "{text:?} printed as {printed:?}");
        assert_eq!(printed, rule(&printed).to_string());
    }
}

#[test]
fn parsing_arbitrary_input_never_panics() {
    const PIECES: &[&str] = &[
        "bio",
        "age",
        "is_customer",
        "followers",
        "not",
        "and",
        "or",
        "between",
        "contains",
        "true",
        "(",
        ")",
        "\"",
        "\\",
        "=",
        "!=",
        "<",
        ">=",
        " ",
        "\n",
        "1",
        "-",
        ".",
        "é",
        "😀",
        "x",
        "\t",
        "\"a\"",
        "NOT",
        "5.5",
    ];
    let mut accepted = 0;
    for text in random_texts(0xF022, PIECES, 20_000) {
        match parse(&text) {
            Ok(r) => {
                accepted += 1;
                assert_eq!(rule(&r.to_string()), r, "{text:?}");
            }
            Err(e) => {
                assert_inside(&text, (e.offset, e.line, e.column), &e);
                assert!(!e.expected.is_empty() && !e.found.is_empty(), "{text:?}");
                assert!(!e.expected.contains("internal error"), "{text:?}: {e}");
            }
        }
    }
    assert!(accepted > 50, "the generator should hit some valid rules");
}

/// Runs every generated rule as SQL over the rows in an in-memory SQLite
/// database and checks that the database's three-valued answer, and the
/// rows a WHERE clause keeps, agree with `evaluate` on every row.
#[tokio::test]
async fn sqlite_agrees_with_evaluate() {
    use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbBackend, Statement};

    let mut options = ConnectOptions::new("sqlite::memory:");
    // Each pooled connection would get its own empty in-memory database.
    options.max_connections(1).min_connections(1);
    let db = Database::connect(options).await.expect("in-memory SQLite");
    db.execute_unprepared(
        "CREATE TABLE members (id INTEGER PRIMARY KEY, bio TEXT, followers INTEGER, \
         influence_score REAL, age INTEGER, is_customer BOOLEAN, platform TEXT, country TEXT)",
    )
    .await
    .expect("create table");
    let rows = test_rows();
    for (id, row) in rows.iter().enumerate() {
        // The storage layer keeps lowercased copies of text attributes.
        let lower = |t: &Option<String>| t.as_ref().map(|t| t.to_lowercase());
        let insert = Query::insert()
            .into_table("members")
            .columns([
                "id",
                "bio",
                "followers",
                "influence_score",
                "age",
                "is_customer",
                "platform",
                "country",
            ])
            .values_panic([
                (id as i64).into(),
                lower(&row.bio).into(),
                row.followers.into(),
                row.influence_score.into(),
                row.age.into(),
                row.is_customer.into(),
                lower(&row.platform).into(),
                lower(&row.country).into(),
            ])
            .to_owned();
        db.execute(&insert).await.expect("insert");
    }

    let mut rng = Rng(0xDB_0001);
    let fixed = [
        r#"bio contains "école" and not is_customer"#,
        r#"bio contains "%" or bio contains "_""#,
        r#"bio = "" or country != "fr""#,
        "age between 25 and 18 or followers between 0 and 999",
        "not (is_customer or age > 18)",
        "is_customer != false and (followers >= 1000 or influence_score < 0)",
    ];
    let generated: Vec<String> = (0..300).map(|_| random_rule(&mut rng, 3)).collect();
    let texts = fixed.iter().map(|t| t.to_string()).chain(generated);

    type View = fn(&Row) -> Row;
    let maps: [(&dyn ColumnMap, View); 2] = [
        (&all_columns, Row::clone),
        (&some_columns, without_age_and_country),
    ];
    let mut seen = [0usize; 3];
    for text in texts {
        let r = rule(&text);
        for (columns, view) in maps {
            let condition = r.to_condition(columns);
            let expected: Vec<Option<bool>> =
                rows.iter().map(|row| r.evaluate(&view(row))).collect();
            for value in &expected {
                seen[match value {
                    Some(true) => 0,
                    Some(false) => 1,
                    None => 2,
                }] += 1;
            }

            // SQLite evaluates a condition to 1, 0 or NULL: the full
            // three-valued answer. Bound parameters, as sea-orm runs it.
            let three_valued = Query::select()
                .expr(condition.clone())
                .from("members")
                .order_by("id", sea_orm::sea_query::Order::Asc)
                .to_owned();
            let got: Vec<Option<bool>> = db
                .query_all(&three_valued)
                .await
                .unwrap_or_else(|e| panic!("{text:?}: {e}"))
                .iter()
                .map(|row| {
                    row.try_get_by_index::<Option<i64>>(0)
                        .expect("an integer or NULL")
                        .map(|v| v != 0)
                })
                .collect();
            assert_eq!(got, expected, "{text:?}");

            // And as a WHERE clause with literals inlined.
            let filter = Query::select()
                .column("id")
                .from("members")
                .and_where(condition)
                .order_by("id", sea_orm::sea_query::Order::Asc)
                .to_string(SqliteQueryBuilder);
            let ids: Vec<i64> = db
                .query_all_raw(Statement::from_string(DbBackend::Sqlite, filter.clone()))
                .await
                .unwrap_or_else(|e| panic!("{filter}: {e}"))
                .iter()
                .map(|row| row.try_get_by_index::<i64>(0).expect("id"))
                .collect();
            let matching: Vec<i64> = (0..rows.len() as i64)
                .filter(|&id| expected[id as usize] == Some(true))
                .collect();
            assert_eq!(ids, matching, "{filter}");
        }
    }
    // The generated rules must exercise all three outcomes to mean anything.
    assert!(seen.iter().all(|&n| n > 100), "outcomes seen: {seen:?}");
}

/// Found by the property test in tests/api/rule_properties.rs: SQLite compared
/// an INTEGER column with the rule's REAL exactly, memory compares as f64, so
/// past 2^53 they disagreed.
#[tokio::test]
async fn sqlite_compares_huge_integers_as_f64_like_evaluate() {
    use sea_orm::{ConnectOptions, ConnectionTrait, Database};

    let mut options = ConnectOptions::new("sqlite::memory:");
    // Each pooled connection would get its own empty in-memory database.
    options.max_connections(1).min_connections(1);
    let db = Database::connect(options).await.expect("in-memory SQLite");
    db.execute_unprepared("CREATE TABLE members (id INTEGER PRIMARY KEY, followers BIGINT)")
        .await
        .expect("create table");
    let cases = [
        (9_007_199_254_740_993_i64, "followers <= 9007199254740992"),
        (9_007_199_254_740_993, "followers = 9007199254740992"),
        (
            9_007_199_254_740_993,
            "followers between 0 and 9007199254740992",
        ),
        (i64::MAX, "followers = 9223372036854775808"),
        (i64::MAX, "not followers < 9223372036854775808"),
    ];
    for (followers, text) in cases {
        let row = Row {
            followers: Some(followers as f64),
            ..Row::default()
        };
        let r = rule(text);
        assert_eq!(r.evaluate(&row), Some(true), "{text}");
        db.execute_unprepared("DELETE FROM members")
            .await
            .expect("clear");
        db.execute_unprepared(&format!(
            "INSERT INTO members (id, followers) VALUES (1, {followers})"
        ))
        .await
        .expect("insert");
        let query = Query::select()
            .expr(r.to_condition(&all_columns))
            .from("members")
            .to_owned();
        let got = db
            .query_one(&query)
            .await
            .expect("query")
            .expect("a row")
            .try_get_by_index::<Option<i64>>(0)
            .expect("an integer or NULL");
        assert_eq!(got, Some(1), "{text} on {followers}");
    }
}
