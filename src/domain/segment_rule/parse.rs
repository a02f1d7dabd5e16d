//! Parsing of segment rules: building the syntax tree from pest's parse tree,
//! and turning pest's failures into errors in the language's own terms.

use pest::iterators::Pair;

use super::{
    Attribute, CompareOp, Equality, MAX_NESTING, MAX_RULE_BYTES, Node, Predicate, Rule, RuleError,
    Test, TextOp,
};
use crate::domain::text::{self, Position, quote_token};

/// Builds the syntax tree of a rule that pest accepted.
pub(super) struct Builder<'t> {
    pub(super) text: &'t str,
}

impl Builder<'_> {
    pub(super) fn or_expr(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Node, RuleError> {
        self.junction(pair, depth, false)
    }

    /// An `and_expr` (`and`) or an `or_expr`, its operands flattened.
    fn junction(&self, pair: Pair<'_, Rule>, depth: usize, and: bool) -> Result<Node, RuleError> {
        let operand = if and { Rule::not_expr } else { Rule::and_expr };
        let children = pair
            .into_inner()
            .filter(|p| p.as_rule() == operand)
            .map(|p| {
                if and {
                    self.not_expr(p, depth)
                } else {
                    self.junction(p, depth, true)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(flatten(children, and))
    }

    fn not_expr(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Node, RuleError> {
        let mut depth = depth;
        let mut nots = 0;
        for inner in pair.into_inner() {
            let start = inner.as_span().start();
            match inner.as_rule() {
                Rule::not_kw => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(too_deep(self.text, start));
                    }
                    nots += 1;
                }
                Rule::group => {
                    if depth + 1 > MAX_NESTING {
                        return Err(too_deep(self.text, start));
                    }
                    let or_expr = inner
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::or_expr)
                        .ok_or_else(|| internal_error(self.text, start))?;
                    let node = self.or_expr(or_expr, depth + 1)?;
                    return Ok(wrap_nots(node, nots));
                }
                Rule::text_pred | Rule::num_pred | Rule::bool_pred => {
                    let node = Node::Predicate(self.predicate(inner)?);
                    return Ok(wrap_nots(node, nots));
                }
                _ => return Err(internal_error(self.text, start)),
            }
        }
        Err(internal_error(self.text, self.text.len()))
    }

    fn predicate(&self, pair: Pair<'_, Rule>) -> Result<Predicate, RuleError> {
        let start = pair.as_span().start();
        let kind = pair.as_rule();
        let mut parts = pair.into_inner();
        let attribute = parts
            .next()
            .and_then(|p| Attribute::from_name(p.as_str()))
            .ok_or_else(|| internal_error(self.text, start))?;
        let mut next = || parts.next().ok_or_else(|| internal_error(self.text, start));
        let test = match kind {
            Rule::text_pred => {
                let op = match next()?.as_str().to_lowercase().as_str() {
                    "contains" => TextOp::Contains,
                    "=" => TextOp::Eq,
                    _ => TextOp::Ne,
                };
                // `string` is compound-atomic: its one inner pair is the body
                // without the quotes (absent pairs would mean an empty body).
                let body = next()?.into_inner().next();
                let literal = unescape(body.as_ref().map_or("", |b| b.as_str()));
                let folded = literal.to_lowercase();
                Test::Text {
                    op,
                    literal,
                    folded,
                }
            }
            Rule::num_pred => {
                let first = next()?;
                if first.as_rule() == Rule::between_kw {
                    let low = self.number(next()?)?;
                    next()?; // the "and" of "between … and …"
                    let high = self.number(next()?)?;
                    Test::Between { low, high }
                } else {
                    let op = match first.as_str() {
                        "=" => CompareOp::Eq,
                        "!=" => CompareOp::Ne,
                        "<" => CompareOp::Lt,
                        "<=" => CompareOp::Le,
                        ">" => CompareOp::Gt,
                        _ => CompareOp::Ge,
                    };
                    Test::Compare {
                        op,
                        value: self.number(next()?)?,
                    }
                }
            }
            _ => match (parts.next(), parts.next()) {
                (Some(op), Some(value)) => Test::Flag {
                    op: if op.as_str() == "=" {
                        Equality::Eq
                    } else {
                        Equality::Ne
                    },
                    value: value.as_str().eq_ignore_ascii_case("true"),
                },
                // A bare `is_customer` means `is_customer = true`.
                _ => Test::Flag {
                    op: Equality::Eq,
                    value: true,
                },
            },
        };
        Ok(Predicate { attribute, test })
    }

    fn number(&self, pair: Pair<'_, Rule>) -> Result<f64, RuleError> {
        let text = pair.as_str();
        match text.parse::<f64>() {
            // Overflow parses as infinity, which has no SQL literal.
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(RuleError::at(
                self.text,
                pair.as_span().start(),
                "a number within the range of a 64-bit float",
                quote_token(text),
            )),
        }
    }
}

/// Builds an And (`and`) or an Or of `children`, splicing in children of the
/// same kind; a single child stands for itself.
fn flatten(children: Vec<Node>, and: bool) -> Node {
    let mut flat = Vec::with_capacity(children.len());
    for child in children {
        match child {
            Node::And(inner) if and => flat.extend(inner),
            Node::Or(inner) if !and => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if flat.len() == 1
        && let Some(only) = flat.pop()
    {
        return only;
    }
    if and { Node::And(flat) } else { Node::Or(flat) }
}

fn wrap_nots(mut node: Node, nots: usize) -> Node {
    for _ in 0..nots {
        node = Node::Not(Box::new(node));
    }
    node
}

/// Decodes a STRING body; the grammar has already checked its escapes.
fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                out.push(escaped);
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Errors

pub(super) fn too_long(text: &str) -> RuleError {
    // Only the first MAX_RULE_BYTES are looked at: the input may be huge.
    let prefix = text::prefix_within(text, MAX_RULE_BYTES);
    RuleError::at(
        prefix,
        prefix.len(),
        format!("a rule of at most {MAX_RULE_BYTES} bytes"),
        format!("a rule of {} bytes", text.len()),
    )
}

fn too_deep(text: &str, pos: usize) -> RuleError {
    RuleError::at(
        text,
        pos,
        format!("at most {MAX_NESTING} levels of parentheses and \"not\""),
        quote_token(token_at(text, pos)),
    )
}

/// Rejects parentheses nested past the limit before pest sees them.
pub(super) fn check_paren_depth(text: &str) -> Result<(), RuleError> {
    match text::first_too_deep(text, MAX_NESTING, true) {
        Some(pos) => Err(too_deep(text, pos)),
        None => Ok(()),
    }
}

pub(super) fn internal_error(text: &str, pos: usize) -> RuleError {
    // Unreachable if the grammar and the builder agree; reported rather than
    // panicking because rule text comes from the network.
    RuleError::at(
        text,
        pos,
        "a rule this parser understands (internal error)",
        quote_token(token_at(text, pos)),
    )
}

/// Turns pest's failure into a RuleError whose `expected` speaks the
/// language's terms and, for type mismatches, says which type was needed.
pub(super) fn syntax_error(text: &str, error: &pest::error::Error<Rule>) -> RuleError {
    let (pos, positives) = text::pest_failure(text, error);
    let found = found_at(text, pos);

    if positives.contains(&Rule::string)
        && text.get(pos..).is_some_and(|rest| rest.starts_with('"'))
        && let Some(error) = string_error(text, pos)
    {
        return error;
    }

    let context = Context::before(text, pos);
    let only =
        |allowed: &[Rule]| !positives.is_empty() && positives.iter().all(|r| allowed.contains(r));
    let attr_name = context.attribute.map_or("the attribute", |a| a.name());
    let expected = if only(&[Rule::text_op, Rule::contains_kw]) {
        format!("\"contains\", \"=\" or \"!=\" ({attr_name} is a text attribute)")
    } else if only(&[Rule::num_op, Rule::between_kw]) {
        format!(
            "\"=\", \"!=\", \"<\", \"<=\", \">\", \">=\" or \"between\" ({attr_name} is a number attribute)"
        )
    } else if only(&[Rule::string, Rule::string_body]) {
        format!(
            "a string in double quotes{}",
            context.because("a text attribute")
        )
    } else if only(&[Rule::number]) {
        format!("a number{}", context.because("a number attribute"))
    } else if only(&[Rule::boolean]) {
        format!(
            "\"true\" or \"false\"{}",
            context.because("a bool attribute")
        )
    } else if only(START_OF_OPERAND) && starts_word(text, pos) {
        let names: Vec<&str> = Attribute::ALL.iter().map(|a| a.name()).collect();
        let hint = if Attribute::from_name(&token_at(text, pos).to_lowercase()).is_some() {
            "; attribute names are lowercase"
        } else {
            ""
        };
        format!("an attribute name (one of {}{hint})", names.join(", "))
    } else {
        describe_alternatives(positives)
    };
    RuleError::at(text, pos, expected, found)
}

/// Rules pest reports when a predicate, "not" or "(" should start.
const START_OF_OPERAND: &[Rule] = &[
    Rule::or_expr,
    Rule::and_expr,
    Rule::not_expr,
    Rule::group,
    Rule::open,
    Rule::not_kw,
    Rule::text_pred,
    Rule::num_pred,
    Rule::bool_pred,
    Rule::text_attr,
    Rule::num_attr,
    Rule::bool_attr,
];

/// Joins the alternatives pest expected into "a, b or c", in a fixed order.
fn describe_alternatives(positives: &[Rule]) -> String {
    const ATTRIBUTE: &str = "an attribute name";
    const NOT: &str = "\"not\"";
    const OPEN: &str = "\"(\"";
    let mut phrases: Vec<&str> = Vec::new();
    for positive in positives {
        let add: &[&str] = match positive {
            Rule::or_expr | Rule::and_expr | Rule::not_expr => &[ATTRIBUTE, NOT, OPEN],
            Rule::text_pred
            | Rule::num_pred
            | Rule::bool_pred
            | Rule::text_attr
            | Rule::num_attr
            | Rule::bool_attr => &[ATTRIBUTE],
            Rule::not_kw => &[NOT],
            Rule::group | Rule::open => &[OPEN],
            Rule::text_op => &["\"contains\"", "\"=\"", "\"!=\""],
            Rule::contains_kw => &["\"contains\""],
            Rule::num_op => &["\"=\"", "\"!=\"", "\"<\"", "\"<=\"", "\">\"", "\">=\""],
            Rule::bool_op => &["\"=\"", "\"!=\""],
            Rule::between_kw => &["\"between\""],
            Rule::string | Rule::string_body => &["a string"],
            Rule::number => &["a number"],
            Rule::boolean => &["\"true\"", "\"false\""],
            Rule::and_kw => &["\"and\""],
            Rule::or_kw => &["\"or\""],
            Rule::close => &["\")\""],
            Rule::EOI => &["end of rule"],
            Rule::rule => &["a rule"],
            Rule::predicate => &[ATTRIBUTE],
            Rule::WHITESPACE | Rule::word_char => &[],
        };
        for phrase in add {
            if !phrases.contains(phrase) {
                phrases.push(phrase);
            }
        }
    }
    // pest lists alternatives in the order it tried them, which is not the
    // order a reader expects ("and" before "or", "end of rule" last).
    const LAST: &[&str] = &["\"and\"", "\"or\"", "\")\"", "end of rule"];
    phrases.sort_by_key(|p| LAST.iter().position(|l| l == p));
    text::one_of(&phrases, "a valid rule")
}

/// Reports an unterminated string or a bad escape in the string starting at
/// byte `start`, or `None` if the string is well formed.
fn string_error(text: &str, start: usize) -> Option<RuleError> {
    let mut chars = text[start..].char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return None,
            '\\' => match chars.next() {
                Some((_, '"' | '\\')) => {}
                Some((j, _)) => {
                    let end =
                        start + j + text[start + j..].chars().next().map_or(0, char::len_utf8);
                    return Some(RuleError::at(
                        text,
                        start + i,
                        "\\\" or \\\\ (the only escapes allowed in a string)",
                        format!("{:?}", &text[start + i..end]),
                    ));
                }
                None => break,
            },
            _ => {}
        }
    }
    let Position { line, column, .. } = Position::of(text, start);
    Some(RuleError::at(
        text,
        text.len(),
        format!("a closing \" for the string that starts at line {line}, column {column}"),
        "end of rule",
    ))
}

/// What preceded an error position: the operator (or keyword) just before it
/// and the attribute being tested, for messages about type mismatches.
struct Context<'t> {
    previous: Option<&'t str>,
    attribute: Option<Attribute>,
}

impl<'t> Context<'t> {
    fn before(text: &'t str, pos: usize) -> Self {
        let mut context = Context {
            previous: None,
            attribute: None,
        };
        let mut at = text::skip_whitespace(text, 0);
        while at < pos {
            let token = token_at(text, at);
            if token.is_empty() {
                break;
            }
            if let Some(attr) = Attribute::from_name(token) {
                context.attribute = Some(attr);
            }
            context.previous = Some(token);
            at = text::skip_whitespace(text, at + token.len());
        }
        context
    }

    /// ` after "OP" because "ATTR" is KIND`, as far as the context is known.
    fn because(&self, kind: &str) -> String {
        let mut out = String::new();
        if let Some(previous) = self.previous {
            out.push_str(&format!(" after {}", quote_token(previous)));
        }
        if let Some(attr) = self.attribute {
            out.push_str(&format!(" because \"{}\" is {kind}", attr.name()));
        }
        out
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-')
}

fn starts_word(text: &str, pos: usize) -> bool {
    text.get(pos..)
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The token starting at byte `pos`, roughly as a person would split it:
/// a string, an operator, a word or number, or a single other character.
fn token_at(text: &str, pos: usize) -> &str {
    let Some(rest) = text.get(pos..) else {
        return "";
    };
    let mut chars = rest.char_indices();
    let Some((_, first)) = chars.next() else {
        return "";
    };
    let end = match first {
        '"' => {
            let mut body = rest.char_indices().skip(1);
            let mut end = rest.len();
            while let Some((i, c)) = body.next() {
                match c {
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    '\\' => {
                        body.next();
                    }
                    _ => {}
                }
            }
            end
        }
        '<' | '>' | '!' if rest[1..].starts_with('=') => 2,
        c if is_word_char(c) => rest
            .char_indices()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(rest.len(), |(i, _)| i),
        c => c.len_utf8(),
    };
    &rest[..end]
}

fn found_at(text: &str, pos: usize) -> String {
    text::found(token_at(text, pos), "end of rule")
}
