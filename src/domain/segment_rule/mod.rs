//! Segment rules: the small filter language that picks which members belong to a
//! KPI segment, e.g. `followers >= 10000 and not (country = "fr" or is_customer)`.
//!
//! This folder owns the language end to end — grammar (`grammar.pest`),
//! parsing with positioned errors (`parse.rs`), canonical printing (`print.rs`),
//! in-memory evaluation (`eval.rs`) and translation to a SQL `WHERE` condition
//! (`sql.rs`) — so that the two evaluators cannot drift apart: both implement SQL's three-valued logic, where a comparison on a
//! missing attribute is unknown and only rules that are true select a member.
//! Rule text arrives over the network, so parsing is bounded in length
//! ([`MAX_RULE_BYTES`]) and nesting ([`MAX_NESTING`]) and never panics.
//!
//! # The language
//!
//! ```text
//! rule      = or_expr
//! or_expr   = and_expr { "or" and_expr }
//! and_expr  = not_expr { "and" not_expr }
//! not_expr  = "not" not_expr | "(" rule ")" | predicate
//! predicate = TEXT_ATTR ("contains" | "=" | "!=") STRING
//!           | NUM_ATTR ("=" | "!=" | "<" | "<=" | ">" | ">=") NUMBER
//!           | NUM_ATTR "between" NUMBER "and" NUMBER
//!           | "is_customer" [ ("=" | "!=") ("true" | "false") ]
//! STRING    = '"' { any char but '"' and '', or '"', or '\' } '"'
//! NUMBER    = [ "-" ] digits [ "." digits ]
//! ```
//!
//! Text attributes are `bio`, `platform` and `country`; number attributes are
//! `followers`, `influence_score` and `age`; `is_customer` is the one bool.
//! Keywords are case-insensitive whole words, attribute names are lowercase.
//! Text compares after `str::to_lowercase` on both sides, untrimmed, and
//! `contains` is a plain substring test. Numbers compare as `f64`; `between`
//! is inclusive and false when its bounds are reversed. A bare `is_customer`
//! means `is_customer = true`. Any comparison on a missing attribute (empty text
//! counts as missing) is unknown, `not` keeps unknown unknown, and `and`/`or`
//! follow Kleene logic, as SQL does with NULL.

use std::fmt;
use std::str::FromStr;

use pest::Parser as _;
use sea_orm::sea_query::Expr;

use super::text::Position;
use grammar::{Rule, RuleParser};
use parse::{Builder, check_paren_depth, internal_error, syntax_error, too_long};

mod eval;
mod parse;
mod print;
mod sql;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

/// Longest rule text accepted by [`parse`], in bytes.
pub const MAX_RULE_BYTES: usize = 4096;

/// Deepest nesting of parentheses and `not` accepted by [`parse`].
pub const MAX_NESTING: usize = 64;

// A private module keeps the derive's generated `Rule` enum out of this
// module's public API.
mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "domain/segment_rule/grammar.pest"]
    pub(super) struct RuleParser;
}

/// A member attribute that a rule can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attribute {
    /// The member's profile text (text).
    Bio,
    /// The member's own follower count (number).
    Followers,
    /// The member's influence score (number).
    InfluenceScore,
    /// The member's age in whole years (number).
    Age,
    /// Whether the member is a customer (bool).
    IsCustomer,
    /// The social platform the member is on (text).
    Platform,
    /// The member's country (text).
    Country,
}

impl Attribute {
    /// Every attribute, in the order the language documents them.
    pub const ALL: [Attribute; 7] = [
        Attribute::Bio,
        Attribute::Followers,
        Attribute::InfluenceScore,
        Attribute::Age,
        Attribute::IsCustomer,
        Attribute::Platform,
        Attribute::Country,
    ];

    /// The attribute's name as written in rules.
    pub fn name(&self) -> &'static str {
        match self {
            Attribute::Bio => "bio",
            Attribute::Followers => "followers",
            Attribute::InfluenceScore => "influence_score",
            Attribute::Age => "age",
            Attribute::IsCustomer => "is_customer",
            Attribute::Platform => "platform",
            Attribute::Country => "country",
        }
    }

    /// The attribute with this exact (lowercase) name, if any.
    pub fn from_name(name: &str) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether the attribute holds text.
    pub fn is_text(&self) -> bool {
        matches!(
            self,
            Attribute::Bio | Attribute::Platform | Attribute::Country
        )
    }

    /// Whether the attribute holds a number.
    pub fn is_number(&self) -> bool {
        matches!(
            self,
            Attribute::Followers | Attribute::InfluenceScore | Attribute::Age
        )
    }

    /// Whether the attribute holds a bool.
    pub fn is_bool(&self) -> bool {
        matches!(self, Attribute::IsCustomer)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The value of one attribute of one member, as seen by [`SegmentRule::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttrValue<'a> {
    /// A text value; the empty string counts as missing.
    Text(&'a str),
    /// A numeric value; NaN counts as missing.
    Number(f64),
    /// A boolean value.
    Bool(bool),
}

/// A member's attributes, looked up one at a time during evaluation.
pub trait AttributeSource {
    /// The attribute's value, or `None` when the member doesn't have it.
    ///
    /// A value of the wrong type for the attribute is treated as missing.
    fn attribute(&self, attr: Attribute) -> Option<AttrValue<'_>>;
}

/// Where each attribute lives in SQL, for [`SegmentRule::to_condition`].
pub trait ColumnMap {
    /// The column expression for the attribute, or `None` when the table lacks it.
    ///
    /// Text columns must hold the `str::to_lowercase` form of the text: SQLite's
    /// `LOWER` only folds ASCII, so folding can't be left to the database.
    fn column(&self, attr: Attribute) -> Option<Expr>;
}

/// Lets a closure such as `|attr| Some(Expr::col(...))` serve as a column map.
impl<F> ColumnMap for F
where
    F: Fn(Attribute) -> Option<Expr>,
{
    fn column(&self, attr: Attribute) -> Option<Expr> {
        self(attr)
    }
}

/// Why a rule's text was rejected, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: expected {expected}, found {found}")]
pub struct RuleError {
    /// 0-based offset of the problem, in chars from the start of the rule.
    pub offset: usize,
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem, in chars.
    pub column: usize,
    /// What would have been valid there, ready to follow "expected ".
    pub expected: String,
    /// What was there instead: the quoted offending token, or `end of rule`.
    pub found: String,
}

impl RuleError {
    /// Builds an error at byte position `pos` of `text`.
    fn at(text: &str, pos: usize, expected: impl Into<String>, found: impl Into<String>) -> Self {
        let Position {
            offset,
            line,
            column,
        } = Position::of(text, pos);
        RuleError {
            offset,
            line,
            column,
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// A parsed segment rule; parse one with [`parse`] or `str::parse`.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentRule {
    root: Node,
}

/// Parses rule text, reporting the first problem with its position.
pub fn parse(text: &str) -> Result<SegmentRule, RuleError> {
    if text.len() > MAX_RULE_BYTES {
        return Err(too_long(text));
    }
    check_paren_depth(text)?;
    let pairs = RuleParser::parse(Rule::rule, text).map_err(|e| syntax_error(text, &e))?;
    let or_expr = pairs
        .flat_map(|p| p.into_inner())
        .find(|p| p.as_rule() == Rule::or_expr)
        .ok_or_else(|| internal_error(text, 0))?;
    let root = Builder { text }.or_expr(or_expr, 0)?;
    Ok(SegmentRule { root })
}

impl FromStr for SegmentRule {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl SegmentRule {
    /// Three-valued result for one member: `None` when the rule is unknown.
    pub fn evaluate(&self, row: &dyn AttributeSource) -> Option<bool> {
        self.root.evaluate(row)
    }

    /// Whether the member is in the segment, i.e. the rule is definitely true.
    pub fn matches(&self, row: &dyn AttributeSource) -> bool {
        self.evaluate(row) == Some(true)
    }

    /// The distinct attributes the rule uses, in order of first use.
    pub fn attributes(&self) -> Vec<Attribute> {
        let mut found = Vec::new();
        self.root.collect_attributes(&mut found);
        found
    }

    /// A SQL condition that is TRUE exactly for the rows [`Self::evaluate`] finds
    /// true, FALSE where it finds false, and NULL where it finds unknown.
    ///
    /// Put it in a `WHERE` clause; attributes the column map lacks compare as NULL.
    pub fn to_condition(&self, columns: &dyn ColumnMap) -> Expr {
        self.root.condition(columns)
    }
}

/// Prints the canonical text of the rule, which parses back to an equal rule.
///
/// The canonical text can be longer than what was parsed (`age>1` prints as
/// `age > 1`), so near [`MAX_RULE_BYTES`] it may no longer be accepted; store
/// the text a client sent rather than this one if it must always re-parse.
impl fmt::Display for SegmentRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.write(f)
    }
}

// The syntax tree, shared by the parser that builds it and the evaluators and
// printer that walk it.

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Predicate(Predicate),
    Not(Box<Node>),
    // And/Or hold two or more children and never a child of their own kind:
    // flattening makes `(a and b) and c` equal to `a and b and c`, which keeps
    // printing canonical and deep chains out of the recursion.
    And(Vec<Node>),
    Or(Vec<Node>),
}

#[derive(Clone, Debug, PartialEq)]
struct Predicate {
    attribute: Attribute,
    test: Test,
}

#[derive(Clone, Debug, PartialEq)]
enum Test {
    Text {
        op: TextOp,
        // As written, for printing; `folded` is what gets compared.
        literal: String,
        folded: String,
    },
    Compare {
        op: CompareOp,
        value: f64,
    },
    Between {
        low: f64,
        high: f64,
    },
    Flag {
        op: Equality,
        value: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum TextOp {
    Contains,
    Eq,
    Ne,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Equality {
    Eq,
    Ne,
}

impl TextOp {
    fn symbol(self) -> &'static str {
        match self {
            TextOp::Contains => "contains",
            TextOp::Eq => "=",
            TextOp::Ne => "!=",
        }
    }
}

impl CompareOp {
    fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CompareOp::Eq => left == right,
            CompareOp::Ne => left != right,
            CompareOp::Lt => left < right,
            CompareOp::Le => left <= right,
            CompareOp::Gt => left > right,
            CompareOp::Ge => left >= right,
        }
    }
}

impl Equality {
    fn symbol(self) -> &'static str {
        match self {
            Equality::Eq => "=",
            Equality::Ne => "!=",
        }
    }
}
