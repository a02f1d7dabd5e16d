//! Custom KPI formulas: the small arithmetic language of custom KPIs, e.g.
//! `(comments + likes + posts) / (followers / 1000)`.
//!
//! This module owns the language end to end — grammar (`formula.pest`), parsing
//! with positioned errors, canonical printing, validation of names and constant
//! divisors, cycle detection among custom KPIs and evaluation on period values
//! (KPIS.md, "Custom KPIs and pushed metrics"). Formula text arrives over the
//! network, so parsing is bounded in length ([`MAX_FORMULA_BYTES`]) and nesting
//! ([`MAX_NESTING`]) and never panics.
//!
//! # The language
//!
//! ```text
//! formula = sum
//! sum     = product { ("+" | "-") product }
//! product = unary { ("*" | "/") unary }
//! unary   = { "-" } ( "(" sum ")" | NUMBER | NAME )
//! NUMBER  = digits [ "." digits ]
//! NAME    = [a-z] [a-z0-9_]*
//! ```
//!
//! Spaces, tabs and line breaks may separate tokens. Unary minus binds
//! tightest, then `*` and `/`, then `+` and `-`; binary operators are
//! left-associative (`8 / 4 / 2` is `(8 / 4) / 2`). A name is a built-in KPI
//! id, else another custom KPI's id, else a pushed metric key; which one is for
//! the caller to say ([`Formula::validate`], [`Formula::evaluate`]).
//!
//! # Evaluation
//!
//! A formula is evaluated once per period on the period values of its inputs,
//! with `f64` arithmetic. KPIS.md says both "it is evaluated left operand
//! first: the first absent input met makes the result absent with its reason;
//! a division by zero with both operands present is `zero_denominator`" and
//! "Precedence of reasons: `outside_campaign` first (in formulas too)".
//! Together: if any input is `outside_campaign`, so is the result; otherwise
//! the first absent value met, left operand first, decides. See
//! [`Formula::evaluate`] for what that means for lookups.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

use crate::kpi::value::{Reason, Value};

use grammar::{FormulaParser, Rule};

/// Longest formula text accepted by [`parse`], in bytes.
pub const MAX_FORMULA_BYTES: usize = 2048;

/// Deepest nesting of parentheses and unary minus accepted by [`parse`].
pub const MAX_NESTING: usize = 32;

// A private module keeps the derive's generated `Rule` enum out of this
// module's public API.
mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "domain/formula/grammar.pest"]
    pub(super) struct FormulaParser;
}

/// A stretch of a formula's text, in chars: 0-based, `end` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    /// Offset of the first char, in chars from the start of the text.
    pub start: usize,
    /// Offset just past the last char, in chars from the start of the text.
    pub end: usize,
}

/// Why a formula was rejected, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct FormulaError {
    /// 0-based offset of the problem, in chars from the start of the formula.
    pub offset: usize,
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem, in chars.
    pub column: usize,
    /// What is wrong; for syntax errors "expected …, found …".
    pub message: String,
}

impl FormulaError {
    /// Builds an error at byte position `pos` of `text`.
    fn at(text: &str, pos: usize, message: impl Into<String>) -> Self {
        let (offset, line, column) = char_position(text, pos);
        FormulaError {
            offset,
            line,
            column,
            message: message.into(),
        }
    }

    /// Builds an error at char offset `offset` of `text`.
    fn at_char(text: &str, offset: usize, message: impl Into<String>) -> Self {
        let pos = text
            .char_indices()
            .nth(offset)
            .map_or(text.len(), |(i, _)| i);
        FormulaError::at(text, pos, message)
    }
}

/// What a name in a formula stands for, as told by the caller of
/// [`Formula::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// A built-in KPI id.
    Kpi,
    /// Another custom KPI's id.
    Custom,
    /// A pushed metric key.
    Metric,
    /// None of the above: the formula is invalid.
    Unknown,
}

/// A parsed formula together with the text it was parsed from; parse one with
/// [`parse`] or `str::parse`.
///
/// Two formulas are equal when they compute the same way: spacing, redundant
/// parentheses (`(a + b) + c` is `a + b + c`) and the original text do not
/// matter, so a formula equals the parse of its [`Display`](fmt::Display) text.
#[derive(Clone, Debug)]
pub struct Formula {
    text: String,
    root: Node,
}

impl PartialEq for Formula {
    fn eq(&self, other: &Self) -> bool {
        self.root.same_as(&other.root)
    }
}

/// Parses formula text, reporting the first problem with its position.
///
/// Syntax errors say what was expected and what was found. Names are not
/// checked here; see [`Formula::validate`].
pub fn parse(text: &str) -> Result<Formula, FormulaError> {
    if text.len() > MAX_FORMULA_BYTES {
        return Err(too_long(text));
    }
    check_paren_depth(text)?;
    let pairs = FormulaParser::parse(Rule::formula, text).map_err(|e| syntax_error(text, &e))?;
    let sum = pairs
        .flat_map(|p| p.into_inner())
        .find(|p| p.as_rule() == Rule::sum)
        .ok_or_else(|| internal_error(text, 0))?;
    let root = Builder::new(text).sum(sum, 0)?;
    Ok(Formula {
        text: text.to_string(),
        root,
    })
}

impl FromStr for Formula {
    type Err = FormulaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Formula {
    /// The text the formula was parsed from, as given.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every name occurrence, in text order, with where it is in [`Self::text`].
    #[must_use]
    pub fn names(&self) -> Vec<(String, Span)> {
        self.name_refs()
            .into_iter()
            .map(|(name, span)| (name.to_string(), span))
            .collect()
    }

    /// Checks names and constant division by zero: `resolve` tells what each
    /// name is; an Unknown name is an error pointing at it ("unknown name `x`:
    /// not a KPI id, a custom KPI or a pushed metric key"); a divisor that is a
    /// constant expression (no names) evaluating to 0, e.g. `likes / (2 - 2)`
    /// or `x / 0`, is an error pointing at the divisor ("division by a constant
    /// zero").
    ///
    /// The first problem in text order is reported. `resolve` is called once
    /// per name occurrence, in text order, until a problem is found.
    pub fn validate(&self, resolve: &dyn Fn(&str) -> NameKind) -> Result<(), FormulaError> {
        self.root.validate(&self.text, resolve)
    }

    /// Evaluates with `lookup` giving each name's period value, per KPIS.md.
    ///
    /// KPIS.md: "It is evaluated left operand first: the first absent input met
    /// makes the result absent with its reason; a division by zero with both
    /// operands present is `zero_denominator`", and "Precedence of reasons:
    /// `outside_campaign` first (in formulas too)". So:
    ///
    /// - Operands are evaluated left first; as soon as one is absent the
    ///   arithmetic stops, and the right operand is not evaluated for the
    ///   result. For `a / b` with `a` `no_data` and `b` `not_reported` the
    ///   result is `no_data`; with `a` present and `b` `not_reported`, it is
    ///   `not_reported`. An absent sub-expression counts like an absent input:
    ///   in `a / b + c` with `b` = 0 and `c` `no_data`, `a / b` is met first and
    ///   the result is `zero_denominator`.
    /// - A division by zero with both operands present is `zero_denominator`.
    /// - `outside_campaign` beats everything: if any input is
    ///   `outside_campaign`, so is the result. Hence, when the arithmetic
    ///   stopped on another reason, the names not looked up yet are looked up,
    ///   in text order, only to see whether one is `outside_campaign`. When the
    ///   first absent value met is `outside_campaign` itself, nothing more is
    ///   looked up.
    ///
    /// `lookup` is called at most once per distinct name per evaluation.
    ///
    /// Results are finite. A division by zero is `zero_denominator`; any other
    /// result beyond the range of a 64-bit float (a product of huge values, a
    /// quotient by a tiny one) is `overflow`, which says what happened where
    /// `zero_denominator` would not be true. Inputs are assumed finite, as
    /// [`Value`] promises.
    pub fn evaluate(&self, lookup: &mut dyn FnMut(&str) -> Value) -> Value {
        let mut eval = Evaluator {
            lookup,
            seen: Vec::new(),
        };
        match eval.eval(&self.root) {
            Err(reason) if reason != Reason::OutsideCampaign => {
                for (name, _) in self.name_refs() {
                    if eval.value_of(name) == Err(Reason::OutsideCampaign) {
                        return Err(Reason::OutsideCampaign);
                    }
                }
                Err(reason)
            }
            result => result,
        }
    }

    /// Names borrowed from the AST, in text order.
    fn name_refs(&self) -> Vec<(&str, Span)> {
        let mut names = Vec::new();
        self.root.collect_names(&mut names);
        names
    }
}

/// Prints the canonical text of the formula, which parses back to an equal
/// formula: single spaces around binary operators, none after unary minus, and
/// parentheses only where the structure needs them (`(a + b) * c`,
/// `a - (b - c)`, `-(a * b)`).
///
/// The canonical text can be longer than what was parsed (`a+b` prints as
/// `a + b`), so near [`MAX_FORMULA_BYTES`] it may no longer be accepted; store
/// the text a client sent ([`Formula::text`]) if it must always re-parse.
impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.write(f)
    }
}

/// Finds a cycle among custom KPIs: `formulas` maps custom KPI id → its
/// formula; `id` is the one being created/updated with `formula`. Returns an
/// error pointing into `formula` at the name that leads back to `id`, with a
/// message naming the cycle path, e.g. "cycle: a → b → a".
///
/// A name is followed when it is `id` or a key of `formulas`; any other name
/// (a built-in KPI or a pushed metric) ends the path. `formulas[id]`, if
/// present, is the formula being replaced and is ignored. Cycles among other
/// custom KPIs that do not pass through `id` are not reported. The first name
/// of `formula`, in text order, that leads back to `id` is reported.
pub fn check_cycles(
    id: &str,
    formula: &Formula,
    formulas: &HashMap<String, Formula>,
) -> Result<(), FormulaError> {
    // Custom KPIs already explored without finding `id`: searches that find
    // nothing explore everything they reach, so this is shared across names.
    let mut explored: HashSet<&str> = HashSet::new();
    for (name, span) in formula.name_refs() {
        let path = if name == id {
            Some(Vec::new())
        } else {
            path_back_to(id, name, formulas, &mut explored)
        };
        if let Some(path) = path {
            let mut cycle = vec![id];
            cycle.extend(path);
            cycle.push(id);
            return Err(FormulaError::at_char(
                &formula.text,
                span.start,
                format!("cycle: {}", cycle.join(" → ")),
            ));
        }
    }
    Ok(())
}

/// The custom KPIs from `start` to one whose formula names `id` (excluded),
/// found by an iterative depth-first search, if `start` leads back to `id`.
fn path_back_to<'f>(
    id: &str,
    start: &str,
    formulas: &'f HashMap<String, Formula>,
    explored: &mut HashSet<&'f str>,
) -> Option<Vec<&'f str>> {
    let (start, _) = formulas.get_key_value(start)?;
    if start == id || !explored.insert(start) {
        return None;
    }
    let next = |kpi: &str| -> Vec<&'f str> {
        formulas
            .get(kpi)
            .map(|f| f.name_refs().into_iter().map(|(n, _)| n).collect())
            .unwrap_or_default()
    };
    // The current path, each custom KPI with the names still to follow.
    let mut stack: Vec<(&'f str, Vec<&'f str>, usize)> = vec![(start, next(start), 0)];
    loop {
        let (_, names, i) = stack.last_mut()?;
        let Some(&name) = names.get(*i) else {
            stack.pop();
            continue;
        };
        *i += 1;
        if name == id {
            return Some(stack.iter().map(|(kpi, _, _)| *kpi).collect());
        }
        if let Some((key, _)) = formulas.get_key_value(name)
            && key != id
            && explored.insert(key)
        {
            stack.push((key, next(key), 0));
        }
    }
}

// ---------------------------------------------------------------------------
// AST

#[derive(Clone, Debug)]
struct Node {
    kind: Kind,
    /// Where the node is written, enclosing parentheses included.
    span: Span,
}

#[derive(Clone, Debug)]
enum Kind {
    Number(f64),
    /// The name and where it is written (the node's span may include
    /// parentheses around it).
    Name(String, Span),
    Neg(Box<Node>),
    // Sum and Product hold a first operand and one or more (operator, operand)
    // pairs, evaluated left to right. The first operand is never a node of
    // the same kind: flattening makes `(a + b) + c` equal to `a + b + c`
    // (the same computation), which keeps printing canonical and long chains
    // out of the recursion.
    Sum(Box<Node>, Vec<(Op, Node)>),
    Product(Box<Node>, Vec<(Op, Node)>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
        }
    }

    /// Applies the operator to two present values; see [`Formula::evaluate`]
    /// for the reasons of results that are not finite.
    fn apply(self, left: f64, right: f64) -> Value {
        let result = match self {
            Op::Add => left + right,
            Op::Sub => left - right,
            Op::Mul => left * right,
            Op::Div if right == 0.0 => return Err(Reason::ZeroDenominator),
            Op::Div => left / right,
        };
        crate::kpi::value::finite(result)
    }
}

impl Node {
    /// Structural equality, ignoring spans.
    fn same_as(&self, other: &Node) -> bool {
        let same_chain = |a: &[(Op, Node)], b: &[(Op, Node)]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((op1, n1), (op2, n2))| op1 == op2 && n1.same_as(n2))
        };
        match (&self.kind, &other.kind) {
            (Kind::Number(a), Kind::Number(b)) => a == b,
            (Kind::Name(a, _), Kind::Name(b, _)) => a == b,
            (Kind::Neg(a), Kind::Neg(b)) => a.same_as(b),
            (Kind::Sum(f1, r1), Kind::Sum(f2, r2))
            | (Kind::Product(f1, r1), Kind::Product(f2, r2)) => {
                f1.same_as(f2) && same_chain(r1, r2)
            }
            _ => false,
        }
    }

    fn collect_names<'a>(&'a self, out: &mut Vec<(&'a str, Span)>) {
        match &self.kind {
            Kind::Number(_) => {}
            Kind::Name(name, span) => out.push((name, *span)),
            Kind::Neg(inner) => inner.collect_names(out),
            Kind::Sum(first, rest) | Kind::Product(first, rest) => {
                first.collect_names(out);
                for (_, operand) in rest {
                    operand.collect_names(out);
                }
            }
        }
    }

    /// The value of a node without names, or `None` if it has names or is
    /// undefined (a division by zero or an overflow inside it).
    fn constant(&self) -> Option<f64> {
        match &self.kind {
            Kind::Number(value) => Some(*value),
            Kind::Name(..) => None,
            Kind::Neg(inner) => inner.constant().map(|v| -v),
            Kind::Sum(first, rest) | Kind::Product(first, rest) => {
                let mut acc = first.constant()?;
                for (op, operand) in rest {
                    acc = op.apply(acc, operand.constant()?).ok()?;
                }
                Some(acc)
            }
        }
    }

    fn validate(&self, text: &str, resolve: &dyn Fn(&str) -> NameKind) -> Result<(), FormulaError> {
        match &self.kind {
            Kind::Number(_) => Ok(()),
            Kind::Name(name, span) => match resolve(name) {
                NameKind::Unknown => Err(FormulaError::at_char(
                    text,
                    span.start,
                    format!(
                        "unknown name `{name}`: not a KPI id, a custom KPI or a pushed metric key"
                    ),
                )),
                NameKind::Kpi | NameKind::Custom | NameKind::Metric => Ok(()),
            },
            Kind::Neg(inner) => inner.validate(text, resolve),
            Kind::Sum(first, rest) | Kind::Product(first, rest) => {
                first.validate(text, resolve)?;
                for (op, operand) in rest {
                    // The divisor starts before anything inside it, so it is
                    // checked first to report problems in text order.
                    if *op == Op::Div && operand.constant() == Some(0.0) {
                        return Err(FormulaError::at_char(
                            text,
                            operand.span.start,
                            "division by a constant zero",
                        ));
                    }
                    operand.validate(text, resolve)?;
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Evaluation

struct Evaluator<'a, 'l> {
    lookup: &'l mut dyn FnMut(&str) -> Value,
    /// Names looked up so far with their values, so each is looked up once.
    seen: Vec<(&'a str, Value)>,
}

impl<'a> Evaluator<'a, '_> {
    fn value_of(&mut self, name: &'a str) -> Value {
        if let Some((_, value)) = self.seen.iter().find(|(n, _)| *n == name) {
            return *value;
        }
        let value = (self.lookup)(name);
        self.seen.push((name, value));
        value
    }

    /// Left operand first; the first absent value stops the evaluation.
    fn eval(&mut self, node: &'a Node) -> Value {
        match &node.kind {
            Kind::Number(value) => Ok(*value),
            Kind::Name(name, _) => self.value_of(name),
            Kind::Neg(inner) => self.eval(inner).map(|v| -v),
            Kind::Sum(first, rest) | Kind::Product(first, rest) => {
                let mut acc = self.eval(first)?;
                for (op, operand) in rest {
                    let right = self.eval(operand)?;
                    acc = op.apply(acc, right)?;
                }
                Ok(acc)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Printing

impl Node {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            // f64's Display is the shortest text that reads back to the same
            // value and never uses exponents, so it is valid NUMBER syntax
            // (literals are finite and not negative).
            Kind::Number(value) => write!(f, "{value}"),
            Kind::Name(name, _) => f.write_str(name),
            Kind::Neg(inner) => {
                f.write_str("-")?;
                let parens = matches!(inner.kind, Kind::Sum(..) | Kind::Product(..));
                inner.write_wrapped(f, parens)
            }
            Kind::Sum(first, rest) => {
                first.write(f)?;
                for (op, operand) in rest {
                    write!(f, " {} ", op.symbol())?;
                    operand.write_wrapped(f, matches!(operand.kind, Kind::Sum(..)))?;
                }
                Ok(())
            }
            Kind::Product(first, rest) => {
                first.write_wrapped(f, matches!(first.kind, Kind::Sum(..)))?;
                for (op, operand) in rest {
                    write!(f, " {} ", op.symbol())?;
                    let parens = matches!(operand.kind, Kind::Sum(..) | Kind::Product(..));
                    operand.write_wrapped(f, parens)?;
                }
                Ok(())
            }
        }
    }

    fn write_wrapped(&self, f: &mut fmt::Formatter<'_>, parens: bool) -> fmt::Result {
        if parens {
            f.write_str("(")?;
            self.write(f)?;
            f.write_str(")")
        } else {
            self.write(f)
        }
    }
}

// ---------------------------------------------------------------------------
// Building the AST from the parse tree

struct Builder<'t> {
    text: &'t str,
    /// Char offset of every byte position of `text`, one past the end included.
    chars_at: Vec<usize>,
}

impl<'t> Builder<'t> {
    fn new(text: &'t str) -> Self {
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

    fn sum(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Node, FormulaError> {
        let span = self.span(&pair);
        let start = pair.as_span().start();
        let mut parts = pair.into_inner();
        let first = parts
            .next()
            .ok_or_else(|| internal_error(self.text, start))?;
        let first = self.product(first, depth)?;
        let mut rest = Vec::new();
        while let Some(op) = parts.next() {
            let op = if op.as_str() == "+" { Op::Add } else { Op::Sub };
            let operand = parts
                .next()
                .ok_or_else(|| internal_error(self.text, start))?;
            rest.push((op, self.product(operand, depth)?));
        }
        Ok(chain(first, rest, span, false))
    }

    fn product(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Node, FormulaError> {
        let span = self.span(&pair);
        let start = pair.as_span().start();
        let mut parts = pair.into_inner();
        let first = parts
            .next()
            .ok_or_else(|| internal_error(self.text, start))?;
        let first = self.unary(first, depth)?;
        let mut rest = Vec::new();
        while let Some(op) = parts.next() {
            let op = if op.as_str() == "*" { Op::Mul } else { Op::Div };
            let operand = parts
                .next()
                .ok_or_else(|| internal_error(self.text, start))?;
            rest.push((op, self.unary(operand, depth)?));
        }
        Ok(chain(first, rest, span, true))
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

/// 0-based char offset, 1-based line and 1-based char column of byte `pos`.
fn char_position(text: &str, pos: usize) -> (usize, usize, usize) {
    let mut offset = 0;
    let mut line = 1;
    let mut column = 1;
    for (i, c) in text.char_indices() {
        if i >= pos {
            break;
        }
        offset += 1;
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (offset, line, column)
}

fn too_long(text: &str) -> FormulaError {
    // Only the first MAX_FORMULA_BYTES are looked at: the input may be huge.
    let mut pos = MAX_FORMULA_BYTES;
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    FormulaError::at(
        text.get(..pos).unwrap_or(""),
        pos,
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

/// Rejects parentheses nested past the limit before pest, whose recursive
/// descent would otherwise follow them as deep as the input goes.
fn check_paren_depth(text: &str) -> Result<(), FormulaError> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep(text, i));
                }
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn internal_error(text: &str, pos: usize) -> FormulaError {
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
fn syntax_error(text: &str, error: &pest::error::Error<Rule>) -> FormulaError {
    let raw_pos = match error.location {
        InputLocation::Pos(p) | InputLocation::Span((p, _)) => p,
    };
    let pos = skip_whitespace(text, raw_pos.min(text.len()));
    let positives: &[Rule] = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { .. } => &[],
    };
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
        join_alternatives(&phrases)
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

fn join_alternatives(phrases: &[&str]) -> String {
    match phrases {
        [] => "a valid formula".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Whether `word` is a valid NAME.
fn is_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn skip_whitespace(text: &str, pos: usize) -> usize {
    let rest = text.get(pos..).unwrap_or("");
    pos + (rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len())
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
    let token = token_at(text, pos);
    if token.is_empty() {
        END.to_string()
    } else {
        quote_token(token)
    }
}

/// Quotes a token for a message, shortening long ones.
fn quote_token(token: &str) -> String {
    const MAX_CHARS: usize = 40;
    match token.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}…", token.get(..cut).unwrap_or(token)),
        None => format!("{token:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = check_cycles("a", &formula("1 + (2 * a)"), &custom(&[("a", "likes")]))
            .expect_err("a → a");
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

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

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
            "a", "likes", "L", "(", ")", "+", "-", "*", "/", " ", "\n", "1", ".", "0", "é", "😀",
            "_", "\t", "%", "2.5", "x9",
        ];
        let mut rng = Rng(0xF0_0001);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let len = rng.below(12);
            let text: String = (0..len).map(|_| rng.pick(PIECES)).collect();
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
                    let chars = text.chars().count();
                    assert!(e.offset <= chars, "{text:?}: {e}");
                    let before: String = text.chars().take(e.offset).collect();
                    assert_eq!(e.line, before.matches('\n').count() + 1, "{text:?}");
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    assert_eq!(e.column, column, "{text:?}");
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
}

/// Property tests: arbitrary and near-valid formula text never panics parsing,
/// validation, cycle checks or evaluation, and every error points inside the
/// text. Fixed seed, so runs reproduce; `PROPTEST_CASES` changes the number of
/// cases.
#[cfg(test)]
mod props {
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

    #[derive(Clone, Debug)]
    enum Edit {
        Insert(Index, String),
        Delete(Index, usize),
        Replace(Index, usize, String),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<Index>(), token()).prop_map(|(i, t)| Edit::Insert(i, t)),
            (any::<Index>(), 1..6usize).prop_map(|(i, n)| Edit::Delete(i, n)),
            (any::<Index>(), 1..4usize, token()).prop_map(|(i, n, t)| Edit::Replace(i, n, t)),
        ]
    }

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

    fn input() -> impl Strategy<Value = String> {
        let near_valid = (
            proptest::sample::select(VALID),
            proptest::collection::vec(edit(), 1..5),
        )
            .prop_map(|(v, edits)| mutate(v, &edits));
        let deep_or_long = (
            proptest::sample::select(VALID),
            0..(MAX_NESTING * 2),
            0..(MAX_NESTING * 2),
            0..(MAX_NESTING * 2),
            0..3usize,
        )
            .prop_map(|(v, open, close, minus, long)| {
                let mut text = "-".repeat(minus);
                text.push_str(&"(".repeat(open));
                text.push_str(v);
                text.push_str(&")".repeat(close));
                text.push_str(&" + é😀".repeat(MAX_FORMULA_BYTES / 8 * long));
                text
            });
        prop_oneof![
            1 => any::<String>(),
            1 => proptest::collection::vec(token(), 0..24).prop_map(|t| t.join(" ")),
            1 => proptest::collection::vec(token(), 0..24).prop_map(|t| t.concat()),
            2 => near_valid,
            1 => deep_or_long,
        ]
    }

    /// The error's offset, line and column all name the same place inside `text`.
    fn check_error(text: &str, e: &FormulaError) -> Result<(), TestCaseError> {
        let chars: Vec<char> = text.chars().collect();
        prop_assert!(e.offset <= chars.len(), "offset past the end: {e}");
        prop_assert!(e.line >= 1 && e.column >= 1, "{e}");
        let before = &chars[..e.offset];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let line_start = before.iter().rposition(|&c| c == '\n').map_or(0, |i| i + 1);
        prop_assert_eq!(e.line, line, "line of {}", e);
        prop_assert_eq!(e.column, e.offset - line_start + 1, "column of {}", e);
        let line_len = chars[line_start..]
            .iter()
            .take_while(|&&c| c != '\n')
            .count();
        prop_assert!(e.column <= line_len + 1, "column past the line: {e}");
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
}
