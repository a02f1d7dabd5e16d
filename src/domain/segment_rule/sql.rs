//! Translation of a segment rule to a SQL condition that is TRUE, FALSE or
//! NULL exactly where the in-memory evaluation is true, false or unknown.

use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};

use super::{Attribute, ColumnMap, CompareOp, Equality, Node, Predicate, Test, TextOp};

impl Node {
    pub(super) fn condition(&self, columns: &dyn ColumnMap) -> Expr {
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
