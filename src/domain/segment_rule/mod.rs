//! Segment rules: the small filter language that picks which members belong to a
//! KPI segment, e.g. `followers >= 10000 and not (country = "fr" or is_customer)`.
//!
//! This module owns the language end to end — grammar (`segment_rule.pest`),
//! parsing with positioned errors, canonical printing, in-memory evaluation and
//! translation to a SQL `WHERE` condition — so that the two evaluators cannot
//! drift apart: both implement SQL's three-valued logic, where a comparison on a
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
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};

use grammar::{Rule, RuleParser};

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
        let (offset, line, column) = char_position(text, pos);
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

// ---------------------------------------------------------------------------
// AST

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

// ---------------------------------------------------------------------------
// Evaluation

impl Node {
    fn evaluate(&self, row: &dyn AttributeSource) -> Option<bool> {
        match self {
            Node::Predicate(p) => p.evaluate(row),
            Node::Not(inner) => inner.evaluate(row).map(|b| !b),
            // Kleene logic: a definite false (true) decides an and (or) even
            // next to unknowns; otherwise any unknown makes the result unknown.
            Node::And(children) => {
                let mut unknown = false;
                for child in children {
                    match child.evaluate(row) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                (!unknown).then_some(true)
            }
            Node::Or(children) => {
                let mut unknown = false;
                for child in children {
                    match child.evaluate(row) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                (!unknown).then_some(false)
            }
        }
    }

    fn collect_attributes(&self, found: &mut Vec<Attribute>) {
        match self {
            Node::Predicate(p) => {
                if !found.contains(&p.attribute) {
                    found.push(p.attribute);
                }
            }
            Node::Not(inner) => inner.collect_attributes(found),
            Node::And(children) | Node::Or(children) => {
                for child in children {
                    child.collect_attributes(found);
                }
            }
        }
    }
}

impl Predicate {
    fn evaluate(&self, row: &dyn AttributeSource) -> Option<bool> {
        let value = row.attribute(self.attribute)?;
        match (&self.test, value) {
            (Test::Text { op, folded, .. }, AttrValue::Text(text)) if !text.is_empty() => {
                let text = text.to_lowercase();
                Some(match op {
                    TextOp::Contains => text.contains(folded.as_str()),
                    TextOp::Eq => text == *folded,
                    TextOp::Ne => text != *folded,
                })
            }
            // NaN is treated as missing because SQLite stores it as NULL.
            (Test::Compare { op, value }, AttrValue::Number(n)) if !n.is_nan() => {
                Some(op.holds(n, *value))
            }
            (Test::Between { low, high }, AttrValue::Number(n)) if !n.is_nan() => {
                Some(*low <= n && n <= *high)
            }
            (Test::Flag { op, value }, AttrValue::Bool(b)) => Some(match op {
                Equality::Eq => b == *value,
                Equality::Ne => b != *value,
            }),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// SQL

impl Node {
    fn condition(&self, columns: &dyn ColumnMap) -> Expr {
        match self {
            Node::Predicate(p) => p.condition(columns),
            Node::Not(inner) => inner.condition(columns).not(),
            Node::And(children) => balanced(children, columns, true, ExprTrait::and),
            Node::Or(children) => balanced(children, columns, false, ExprTrait::or),
        }
    }
}

/// Joins the children's conditions as a balanced tree, so a long chain of
/// `and`s doesn't become an equally deep expression for the SQL renderer to
/// recurse through. `identity` is only for the empty case, which parsing never
/// produces.
fn balanced(
    nodes: &[Node],
    columns: &dyn ColumnMap,
    identity: bool,
    join: fn(Expr, Expr) -> Expr,
) -> Expr {
    match nodes {
        [] => Expr::value(identity),
        [one] => one.condition(columns),
        _ => {
            let (left, right) = nodes.split_at(nodes.len() / 2);
            join(
                balanced(left, columns, identity, join),
                balanced(right, columns, identity, join),
            )
        }
    }
}

impl Predicate {
    fn condition(&self, columns: &dyn ColumnMap) -> Expr {
        let column = columns
            .column(self.attribute)
            .unwrap_or_else(|| typed_null(self.attribute));
        match &self.test {
            Test::Text { op, folded, .. } => {
                // Empty text is missing, as in memory: NULLIF turns it into NULL.
                let text = Expr::from(Func::cust("NULLIF").arg(column).arg(""));
                match op {
                    TextOp::Contains => {
                        text.like(LikeExpr::new(format!("%{}%", escape_like(folded))).escape('\\'))
                    }
                    TextOp::Eq => text.eq(folded.as_str()),
                    TextOp::Ne => text.ne(folded.as_str()),
                }
            }
            Test::Compare { op, value } => {
                let column = as_double(column);
                match op {
                    CompareOp::Eq => column.eq(*value),
                    CompareOp::Ne => column.ne(*value),
                    CompareOp::Lt => column.lt(*value),
                    CompareOp::Le => column.lte(*value),
                    CompareOp::Gt => column.gt(*value),
                    CompareOp::Ge => column.gte(*value),
                }
            }
            // When low > high this is FALSE for any non-NULL column and NULL for
            // a NULL one, which is exactly the in-memory result, so no special case.
            Test::Between { low, high } => {
                let column = as_double(column);
                column.clone().gte(*low).and(column.lte(*high))
            }
            Test::Flag { op, value } => match op {
                Equality::Eq => column.eq(*value),
                Equality::Ne => column.ne(*value),
            },
        }
    }
}

/// The number column as a double, so that SQL compares numbers as f64 like
/// `evaluate` does: SQLite compares an INTEGER with a REAL exactly, so past 2^53
/// (where f64 loses integer precision) `followers <= 9007199254740992` would be
/// false in SQL and true in memory for 9007199254740993 followers. PostgreSQL
/// already compares bigint with double as double.
fn as_double(column: Expr) -> Expr {
    column.cast_as("DOUBLE PRECISION")
}

/// A NULL of the attribute's type, so that PostgreSQL can still resolve the
/// operator it is compared with when the statement binds it as a parameter.
fn typed_null(attr: Attribute) -> Expr {
    if attr.is_text() {
        Expr::value(Option::<String>::None)
    } else if attr.is_number() {
        Expr::value(Option::<f64>::None)
    } else {
        Expr::value(Option::<bool>::None)
    }
}

/// Escapes LIKE's wildcards so `contains` matches the text literally.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

// ---------------------------------------------------------------------------
// Printing

impl Node {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Predicate(p) => p.write(f),
            Node::Not(inner) => {
                f.write_str("not ")?;
                inner.write_operand(f)
            }
            Node::And(children) => write_joined(f, children, " and "),
            Node::Or(children) => write_joined(f, children, " or "),
        }
    }

    /// Writes the node as an operand of `not`, `and` or `or`. Compound operands
    /// get parentheses even where precedence makes them optional (an `and`
    /// inside an `or`), so readers needn't know the precedence rules.
    fn write_operand(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::And(_) | Node::Or(_) => {
                f.write_str("(")?;
                self.write(f)?;
                f.write_str(")")
            }
            Node::Not(_) | Node::Predicate(_) => self.write(f),
        }
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, children: &[Node], separator: &str) -> fmt::Result {
    for (i, child) in children.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        child.write_operand(f)?;
    }
    Ok(())
}

impl Predicate {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.attribute.name();
        match &self.test {
            Test::Text { op, literal, .. } => {
                write!(f, "{name} {} \"", op.symbol())?;
                for c in literal.chars() {
                    if matches!(c, '"' | '\\') {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")
            }
            // f64's Display is the shortest text that reads back to the same
            // value and never uses exponents, so it is valid NUMBER syntax.
            Test::Compare { op, value } => write!(f, "{name} {} {value}", op.symbol()),
            Test::Between { low, high } => write!(f, "{name} between {low} and {high}"),
            Test::Flag {
                op: Equality::Eq,
                value: true,
            } => f.write_str(name),
            Test::Flag { op, value } => write!(f, "{name} {} {value}", op.symbol()),
        }
    }
}

// ---------------------------------------------------------------------------
// Building the AST from the parse tree

struct Builder<'t> {
    text: &'t str,
}

impl Builder<'_> {
    fn or_expr(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Node, RuleError> {
        let children = pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::and_expr)
            .map(|p| self.and_expr(p, depth))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(flatten(children, Node::Or, |n| match n {
            Node::Or(inner) => Ok(inner),
            other => Err(other),
        }))
    }

    fn and_expr(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Node, RuleError> {
        let children = pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::not_expr)
            .map(|p| self.not_expr(p, depth))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(flatten(children, Node::And, |n| match n {
            Node::And(inner) => Ok(inner),
            other => Err(other),
        }))
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

/// Builds `make(children)`, splicing in children that `split` recognizes as the
/// same kind of node; a single child stands for itself.
fn flatten(
    children: Vec<Node>,
    make: fn(Vec<Node>) -> Node,
    split: fn(Node) -> Result<Vec<Node>, Node>,
) -> Node {
    let mut flat = Vec::with_capacity(children.len());
    for child in children {
        match split(child) {
            Ok(inner) => flat.extend(inner),
            Err(other) => flat.push(other),
        }
    }
    if flat.len() == 1
        && let Some(only) = flat.pop()
    {
        return only;
    }
    make(flat)
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

fn too_long(text: &str) -> RuleError {
    // Only the first MAX_RULE_BYTES are looked at: the input may be huge.
    let mut pos = MAX_RULE_BYTES;
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    RuleError::at(
        &text[..pos],
        pos,
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

/// Rejects parentheses nested past the limit before pest, whose recursive
/// descent would otherwise follow them as deep as the input goes.
fn check_paren_depth(text: &str) -> Result<(), RuleError> {
    let mut depth = 0usize;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => skip_string_body(&mut chars),
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

fn internal_error(text: &str, pos: usize) -> RuleError {
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
fn syntax_error(text: &str, error: &pest::error::Error<Rule>) -> RuleError {
    let raw_pos = match error.location {
        InputLocation::Pos(p) | InputLocation::Span((p, _)) => p,
    };
    let pos = skip_whitespace(text, raw_pos.min(text.len()));
    let positives: &[Rule] = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { .. } => &[],
    };
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
    match phrases.as_slice() {
        [] => "a valid rule".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
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
    let (_, line, column) = char_position(text, start);
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
        let mut at = skip_whitespace(text, 0);
        while at < pos {
            let token = token_at(text, at);
            if token.is_empty() {
                break;
            }
            if let Some(attr) = Attribute::from_name(token) {
                context.attribute = Some(attr);
            }
            context.previous = Some(token);
            at = skip_whitespace(text, at + token.len());
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

fn skip_whitespace(text: &str, pos: usize) -> usize {
    let rest = text.get(pos..).unwrap_or("");
    pos + (rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len())
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
    let token = token_at(text, pos);
    if token.is_empty() {
        "end of rule".to_string()
    } else {
        quote_token(token)
    }
}

/// Quotes a token for a message, shortening long ones.
fn quote_token(token: &str) -> String {
    const MAX_CHARS: usize = 40;
    match token.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}…", &token[..cut]),
        None => format!("{token:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let r =
            rule(r#"age > 3 and (bio contains "x" or age < 9) and not is_customer or bio = "y""#);
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
        let mut rng = Rng(0xF022);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let len = rng.below(12);
            let text: String = (0..len).map(|_| rng.pick(PIECES)).collect();
            match parse(&text) {
                Ok(r) => {
                    accepted += 1;
                    assert_eq!(rule(&r.to_string()), r, "{text:?}");
                }
                Err(e) => {
                    let chars = text.chars().count();
                    assert!(e.offset <= chars, "{text:?}: {e}");
                    let before: String = text.chars().take(e.offset).collect();
                    assert_eq!(e.line, before.matches('\n').count() + 1, "{text:?}");
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    assert_eq!(e.column, column, "{text:?}");
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
}

/// Property tests: arbitrary and near-valid rule text never panics the parser,
/// and every error points inside the text. Fixed seed, so runs reproduce;
/// `PROPTEST_CASES` changes the number of cases.
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

    fn near_valid() -> impl Strategy<Value = String> {
        (
            proptest::sample::select(VALID),
            proptest::collection::vec(edit(), 1..5),
        )
            .prop_map(|(v, edits)| mutate(v, &edits))
    }

    /// Valid rules wrapped in parentheses / "not"s, around the nesting limit,
    /// sometimes unbalanced, plus over-long inputs.
    fn deep_or_long() -> impl Strategy<Value = String> {
        (
            proptest::sample::select(VALID),
            0..(MAX_NESTING * 2),
            0..(MAX_NESTING * 2),
            0..(MAX_NESTING * 2),
            0..3usize,
        )
            .prop_map(|(v, open, close, nots, long)| {
                let mut text = "not ".repeat(nots);
                text.push_str(&"(".repeat(open));
                text.push_str(v);
                text.push_str(&")".repeat(close));
                if long > 0 {
                    // Multi-byte chars straddle the byte limit.
                    text.push_str(&" or bio contains \"é😀\"".repeat(MAX_RULE_BYTES / 20 * long));
                }
                text
            })
    }

    fn input() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(token(), 0..24).prop_map(|t| t.join(" ")),
            proptest::collection::vec(token(), 0..24).prop_map(|t| t.concat()),
            near_valid(),
            near_valid(),
            deep_or_long(),
        ]
    }

    /// The error's offset, line and column all name the same place inside `text`.
    fn check_error(text: &str, e: &RuleError) -> Result<(), TestCaseError> {
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
}
