//! Custom KPI formulas: the small arithmetic language of custom KPIs, e.g.
//! `(comments + likes + posts) / (followers / 1000)`.
//!
//! This folder owns the language end to end — grammar (`grammar.pest`), parsing
//! with positioned errors (`parse.rs`), canonical printing (`print.rs`),
//! validation of names and constant divisors and evaluation on period values
//! (`eval.rs`), and cycle detection among custom KPIs (here) (KPIS.md, "Custom
//! KPIs and pushed metrics"). Formula text arrives over the
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

use super::text::Position;
use crate::domain::value::{Reason, Value};
use eval::Evaluator;
use grammar::{FormulaParser, Rule};
use parse::{Builder, check_paren_depth, internal_error, syntax_error, too_long};

mod eval;
mod parse;
mod print;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

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
        let Position {
            offset,
            line,
            column,
        } = Position::of(text, pos);
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

// The syntax tree, shared by the parser that builds it and the evaluator and
// printer that walk it.

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
}
