//! Text positions and error wording shared by the two small languages, segment
//! rules ([`super::segment_rule`]) and custom KPI formulas ([`super::formula`]).
//!
//! Both take text from the network, report the first problem as "expected …,
//! found …" at a line and column counted in chars, bound their input's length
//! and nesting before pest sees it, and turn pest's failures into their own
//! words. The mechanics of that live here once; what each language expects,
//! and how it splits text into tokens, stays with the language.

use pest::RuleType;
use pest::error::{Error, ErrorVariant, InputLocation};

/// Where a byte position falls in a text, counted in chars as people read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    /// 0-based offset, in chars from the start of the text.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in chars.
    pub column: usize,
}

impl Position {
    /// The position of byte `pos` of `text`; a `pos` past the end is the end.
    pub(crate) fn of(text: &str, pos: usize) -> Position {
        let mut at = Position {
            offset: 0,
            line: 1,
            column: 1,
        };
        for (i, c) in text.char_indices() {
            if i >= pos {
                break;
            }
            at.offset += 1;
            if c == '\n' {
                at.line += 1;
                at.column = 1;
            } else {
                at.column += 1;
            }
        }
        at
    }
}

/// The longest prefix of `text` within `max_bytes`, cut at a char boundary:
/// an over-long input is reported without looking past the limit.
pub(crate) fn prefix_within(text: &str, max_bytes: usize) -> &str {
    let mut pos = max_bytes.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    text.get(..pos).unwrap_or("")
}

/// The byte position of the first `(` nested deeper than `max`, if any.
///
/// Checked before pest, whose recursive descent would otherwise follow
/// parentheses as deep as the input goes. With `quoted_strings`, parentheses
/// inside `"…"` (where `\` escapes the next char) do not count.
pub(crate) fn first_too_deep(text: &str, max: usize, quoted_strings: bool) -> Option<usize> {
    let mut depth = 0usize;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' if quoted_strings => skip_string_body(&mut chars),
            '(' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Advances past a string's closing quote (or to the end), honoring escapes.
fn skip_string_body(chars: &mut std::str::CharIndices<'_>) {
    while let Some((_, c)) = chars.next() {
        match c {
            '"' => return,
            '\\' => {
                chars.next();
            }
            _ => {}
        }
    }
}

/// Where pest failed, moved past white space to the token a reader would
/// blame, and the rules it expected there.
pub(crate) fn pest_failure<'e, R: RuleType>(text: &str, error: &'e Error<R>) -> (usize, &'e [R]) {
    let raw_pos = match error.location {
        InputLocation::Pos(p) | InputLocation::Span((p, _)) => p,
    };
    let positives: &[R] = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { .. } => &[],
    };
    (skip_whitespace(text, raw_pos.min(text.len())), positives)
}

/// The byte position of the first non-blank char at or after `pos`.
pub(crate) fn skip_whitespace(text: &str, pos: usize) -> usize {
    let rest = text.get(pos..).unwrap_or("");
    pos + (rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len())
}

/// What a message says was found: the quoted `token`, or `end` when there is none.
pub(crate) fn found(token: &str, end: &str) -> String {
    if token.is_empty() {
        end.to_string()
    } else {
        quote_token(token)
    }
}

/// Quotes a token for a message, shortening long ones.
pub(crate) fn quote_token(token: &str) -> String {
    const MAX_CHARS: usize = 40;
    match token.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}…", token.get(..cut).unwrap_or(token)),
        None => format!("{token:?}"),
    }
}

/// Joins alternatives as "a, b or c"; `none` stands in for an empty list.
pub(crate) fn one_of(phrases: &[&str], none: &str) -> String {
    match phrases {
        [] => none.to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Property-test helpers for both languages: the same seeded configuration,
/// the same edits that turn valid text into near-valid text, and the same check
/// that an error's position lies inside the text.
#[cfg(test)]
pub(crate) mod testing {
    use std::fmt::Display;

    use proptest::prelude::*;
    use proptest::sample::Index;
    use proptest::test_runner::{FileFailurePersistence, RngSeed};

    /// A fixed seed, so runs reproduce; `PROPTEST_CASES` changes the number of cases.
    pub(crate) fn config(seed: u64) -> ProptestConfig {
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

    /// One change to a text, at a char index.
    #[derive(Clone, Debug)]
    enum Edit {
        Insert(Index, String),
        Delete(Index, usize),
        Replace(Index, usize, String),
    }

    /// An insertion, deletion or replacement using the language's `token`s.
    fn edit<T>(token: fn() -> T) -> impl Strategy<Value = Edit>
    where
        T: Strategy<Value = String>,
    {
        prop_oneof![
            (any::<Index>(), token()).prop_map(|(i, t)| Edit::Insert(i, t)),
            (any::<Index>(), 1..6usize).prop_map(|(i, n)| Edit::Delete(i, n)),
            (any::<Index>(), 1..4usize, token()).prop_map(|(i, n, t)| Edit::Replace(i, n, t)),
        ]
    }

    /// Applies edits at char boundaries.
    fn mutate(text: &str, edits: &[Edit]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for e in edits {
            let at = |i: &Index| i.index(chars.len() + 1);
            match e {
                Edit::Insert(i, t) => {
                    let p = at(i);
                    chars.splice(p..p, t.chars());
                }
                Edit::Delete(i, n) => {
                    let p = at(i);
                    let end = (p + n).min(chars.len());
                    chars.drain(p..end);
                }
                Edit::Replace(i, n, t) => {
                    let p = at(i);
                    let end = (p + n).min(chars.len());
                    chars.splice(p..end, t.chars());
                }
            }
        }
        chars.into_iter().collect()
    }

    /// One of the `valid` texts with one to four edits using the language's `token`s.
    pub(crate) fn near_valid<T>(
        valid: &'static [&'static str],
        token: fn() -> T,
    ) -> impl Strategy<Value = String>
    where
        T: Strategy<Value = String>,
    {
        (
            proptest::sample::select(valid),
            proptest::collection::vec(edit(token), 1..5),
        )
            .prop_map(|(v, edits)| mutate(v, &edits))
    }

    /// One of the `valid` texts behind up to `2 * max` `nest` prefixes and
    /// `(`, with up to `2 * max` `)` after it, so around the nesting limit `max`
    /// and sometimes unbalanced, then `tail` repeated none, `tails` or twice
    /// `tails` times to pass the length limit.
    pub(crate) fn deep_or_long(
        valid: &'static [&'static str],
        max: usize,
        nest: &'static str,
        tail: &'static str,
        tails: usize,
    ) -> impl Strategy<Value = String> {
        (
            proptest::sample::select(valid),
            0..(max * 2),
            0..(max * 2),
            0..(max * 2),
            0..3usize,
        )
            .prop_map(move |(v, open, close, nests, long)| {
                let mut text = nest.repeat(nests);
                text.push_str(&"(".repeat(open));
                text.push_str(v);
                text.push_str(&")".repeat(close));
                text.push_str(&tail.repeat(tails * long));
                text
            })
    }

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    pub(crate) struct Rng(pub(crate) u64);

    impl Rng {
        /// The next 64 random bits.
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// A number below `n`.
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// One of `items`.
        pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// `count` texts of up to eleven `pieces` each, drawn with [`Rng`] from `seed`.
    pub(crate) fn random_texts(
        seed: u64,
        pieces: &'static [&'static str],
        count: usize,
    ) -> impl Iterator<Item = String> {
        let mut rng = Rng(seed);
        (0..count).map(move |_| {
            let len = rng.below(12);
            (0..len).map(|_| rng.pick(pieces)).collect()
        })
    }

    /// Asserts that the error `e` at `offset`, `line` and `column` points inside `text`.
    pub(crate) fn assert_inside(
        text: &str,
        (offset, line, column): (usize, usize, usize),
        e: &dyn Display,
    ) {
        let chars = text.chars().count();
        assert!(offset <= chars, "{text:?}: {e}");
        let before: String = text.chars().take(offset).collect();
        assert_eq!(line, before.matches('\n').count() + 1, "{text:?}");
        let expected_column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        assert_eq!(column, expected_column, "{text:?}");
    }

    /// The error `e` at `offset`, `line` and `column` names one place inside `text`.
    pub(crate) fn check_position(
        text: &str,
        (offset, line, column): (usize, usize, usize),
        e: &dyn Display,
    ) -> Result<(), TestCaseError> {
        let chars: Vec<char> = text.chars().collect();
        prop_assert!(offset <= chars.len(), "offset past the end: {e}");
        prop_assert!(line >= 1 && column >= 1, "{e}");
        let before = &chars[..offset];
        let expected_line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let line_start = before.iter().rposition(|&c| c == '\n').map_or(0, |i| i + 1);
        prop_assert_eq!(line, expected_line, "line of {}", e);
        prop_assert_eq!(column, offset - line_start + 1, "column of {}", e);
        let line_len = chars[line_start..]
            .iter()
            .take_while(|&&c| c != '\n')
            .count();
        prop_assert!(column <= line_len + 1, "column past the line: {e}");
        Ok(())
    }
}
