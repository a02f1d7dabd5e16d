//! Parsing of formulas: building the syntax tree from pest's parse tree, and
//! turning pest's failures into errors in the language's own terms.

use pest::iterators::Pair;

use super::{FormulaError, Kind, MAX_FORMULA_BYTES, MAX_NESTING, Node, Op, Rule, Span};
use crate::domain::text::{self, quote_token};

/// Builds the syntax tree of a formula that pest accepted.
pub(super) struct Builder<'t> {
    text: &'t str,
    /// Char offset of every byte position of `text`, one past the end included.
    chars_at: Vec<usize>,
}

impl<'t> Builder<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        let mut chars_at = Vec::with_capacity(text.len() + 1);
        for (count, c) in text.chars().enumerate() {
            chars_at.extend(std::iter::repeat_n(count, c.len_utf8()));
        }
        chars_at.push(text.chars().count());
        Builder { text, chars_at }
    }

    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let span = pair.as_span();
        let at = |pos: usize| self.chars_at.get(pos).copied().unwrap_or(0);
        Span {
            start: at(span.start()),
            end: at(span.end()),
        }
    }

    pub(super) fn sum(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Node, FormulaError> {
        self.operation(pair, depth, false)
    }

    /// A `product` or a `sum` (not `product`): operands and operators, left to right.
    fn operation(
        &self,
        pair: Pair<'_, Rule>,
        depth: usize,
        product: bool,
    ) -> Result<Node, FormulaError> {
        let span = self.span(&pair);
        let start = pair.as_span().start();
        let operand = |pair: Pair<'_, Rule>| {
            if product {
                self.unary(pair, depth)
            } else {
                self.operation(pair, depth, true)
            }
        };
        let mut parts = pair.into_inner();
        let first = parts
            .next()
            .ok_or_else(|| internal_error(self.text, start))?;
        let first = operand(first)?;
        let mut rest = Vec::new();
        while let Some(op) = parts.next() {
            let op = match (product, op.as_str()) {
                (false, "+") => Op::Add,
                (false, _) => Op::Sub,
                (true, "*") => Op::Mul,
                (true, _) => Op::Div,
            };
            let next = parts
                .next()
                .ok_or_else(|| internal_error(self.text, start))?;
            rest.push((op, operand(next)?));
        }
        Ok(chain(first, rest, span, product))
    }

    fn unary(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Node, FormulaError> {
        let mut depth = depth;
        let mut negs = Vec::new();
        for inner in pair.into_inner() {
            let start = inner.as_span().start();
            let node = match inner.as_rule() {
                Rule::neg => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(too_deep(self.text, start));
                    }
                    negs.push(self.span(&inner).start);
                    continue;
                }
                Rule::group => {
                    if depth + 1 > MAX_NESTING {
                        return Err(too_deep(self.text, start));
                    }
                    let span = self.span(&inner);
                    let sum = inner
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::sum)
                        .ok_or_else(|| internal_error(self.text, start))?;
                    let mut node = self.sum(sum, depth + 1)?;
                    node.span = span;
                    node
                }
                Rule::number => Node {
                    kind: Kind::Number(self.number(&inner)?),
                    span: self.span(&inner),
                },
                Rule::name => {
                    let span = self.span(&inner);
                    Node {
                        kind: Kind::Name(inner.as_str().to_string(), span),
                        span,
                    }
                }
                _ => return Err(internal_error(self.text, start)),
            };
            let mut node = node;
            for start in negs.into_iter().rev() {
                let end = node.span.end;
                node = Node {
                    kind: Kind::Neg(Box::new(node)),
                    span: Span { start, end },
                };
            }
            return Ok(node);
        }
        Err(internal_error(self.text, self.text.len()))
    }

    fn number(&self, pair: &Pair<'_, Rule>) -> Result<f64, FormulaError> {
        let text = pair.as_str();
        match text.parse::<f64>() {
            // Overflow parses as infinity, which is no value.
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(FormulaError::at(
                self.text,
                pair.as_span().start(),
                format!(
                    "expected a number within the range of a 64-bit float, found {}",
                    quote_token(text)
                ),
            )),
        }
    }
}

/// Builds a Sum (or a Product) of `first` and `rest`, splicing in a `first` of
/// the same kind; with nothing in `rest`, `first` stands for itself.
fn chain(first: Node, rest: Vec<(Op, Node)>, span: Span, product: bool) -> Node {
    if rest.is_empty() {
        return first;
    }
    let (first, rest) = match first.kind {
        Kind::Sum(inner_first, mut inner_rest) if !product => {
            inner_rest.extend(rest);
            (inner_first, inner_rest)
        }
        Kind::Product(inner_first, mut inner_rest) if product => {
            inner_rest.extend(rest);
            (inner_first, inner_rest)
        }
        kind => (
            Box::new(Node {
                kind,
                span: first.span,
            }),
            rest,
        ),
    };
    let kind = if product {
        Kind::Product(first, rest)
    } else {
        Kind::Sum(first, rest)
    };
    Node { kind, span }
}

// ---------------------------------------------------------------------------
// Errors

pub(super) fn too_long(text: &str) -> FormulaError {
    // Only the first MAX_FORMULA_BYTES are looked at: the input may be huge.
    let prefix = text::prefix_within(text, MAX_FORMULA_BYTES);
    FormulaError::at(
        prefix,
        prefix.len(),
        format!(
            "expected a formula of at most {MAX_FORMULA_BYTES} bytes, found a formula of {} bytes",
            text.len()
        ),
    )
}

fn too_deep(text: &str, pos: usize) -> FormulaError {
    FormulaError::at(
        text,
        pos,
        format!(
            "expected at most {MAX_NESTING} levels of parentheses and unary minus, found {}",
            quote_token(token_at(text, pos))
        ),
    )
}

/// Rejects parentheses nested past the limit before pest sees them.
pub(super) fn check_paren_depth(text: &str) -> Result<(), FormulaError> {
    match text::first_too_deep(text, MAX_NESTING, false) {
        Some(pos) => Err(too_deep(text, pos)),
        None => Ok(()),
    }
}

pub(super) fn internal_error(text: &str, pos: usize) -> FormulaError {
    // Unreachable if the grammar and the builder agree; reported rather than
    // panicking because formula text comes from the network.
    FormulaError::at(
        text,
        pos,
        format!(
            "expected a formula this parser understands (internal error), found {}",
            found_at(text, pos)
        ),
    )
}

const NUMBER: &str = "a number";
const NAME: &str = "a name";
const MINUS: &str = "\"-\"";
const OPEN: &str = "\"(\"";
const OPERATOR: &str = "an operator (\"+\", \"-\", \"*\" or \"/\")";
const CLOSE: &str = "\")\"";
const END: &str = "end of formula";
const FRACTION: &str = "digits after the decimal point";

/// Turns pest's failure into "expected …, found …" in the language's terms.
pub(super) fn syntax_error(text: &str, error: &pest::error::Error<Rule>) -> FormulaError {
    let (pos, positives) = text::pest_failure(text, error);
    let phrases = describe_expected(positives);
    let operand_only = !phrases.is_empty()
        && phrases
            .iter()
            .all(|p| [NUMBER, NAME, MINUS, OPEN].contains(p));
    let token = token_at(text, pos);
    let expected = if operand_only && token.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        // Something word-like where an operand goes: it can only have been
        // meant as a name.
        let lower = token.to_lowercase();
        let hint = if lower != token && is_name(&lower) {
            "; names are lowercase"
        } else {
            ""
        };
        format!("a name (a lowercase letter, then lowercase letters, digits or \"_\"{hint})")
    } else {
        text::one_of(&phrases, "a valid formula")
    };
    FormulaError::at(
        text,
        pos,
        format!("expected {expected}, found {}", found_at(text, pos)),
    )
}

/// The phrases for the rules pest expected, deduplicated, in a fixed order.
fn describe_expected(positives: &[Rule]) -> Vec<&'static str> {
    let mut wanted: Vec<&'static str> = Vec::new();
    for positive in positives {
        let add: &[&str] = match positive {
            Rule::formula | Rule::sum | Rule::product | Rule::unary => &[NUMBER, NAME, MINUS, OPEN],
            Rule::group | Rule::open => &[OPEN],
            Rule::neg => &[MINUS],
            Rule::number | Rule::int => &[NUMBER],
            Rule::name => &[NAME],
            Rule::frac => &[FRACTION],
            Rule::add_op | Rule::mul_op => &[OPERATOR],
            Rule::close => &[CLOSE],
            Rule::EOI => &[END],
            Rule::WHITESPACE | Rule::word_char => &[],
        };
        wanted.extend(add);
    }
    // pest lists alternatives in the order it tried them, which is not the
    // order a reader expects.
    [NUMBER, NAME, MINUS, OPEN, FRACTION, OPERATOR, CLOSE, END]
        .into_iter()
        .filter(|p| wanted.contains(p))
        .collect()
}

/// Whether `word` is a valid NAME.
fn is_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The token starting at byte `pos`: a word or number (without its fraction),
/// or a single other character.
fn token_at(text: &str, pos: usize) -> &str {
    let Some(rest) = text.get(pos..) else {
        return "";
    };
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
    let Some(first) = rest.chars().next() else {
        return "";
    };
    let end = if is_word_char(first) {
        rest.char_indices()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(rest.len(), |(i, _)| i)
    } else {
        first.len_utf8()
    };
    rest.get(..end).unwrap_or(rest)
}

fn found_at(text: &str, pos: usize) -> String {
    text::found(token_at(text, pos), END)
}
