//! In-memory evaluation of a segment rule with SQL's three-valued logic.

use super::{AttrValue, Attribute, AttributeSource, Equality, Node, Predicate, Test, TextOp};

impl Node {
    pub(super) fn evaluate(&self, row: &dyn AttributeSource) -> Option<bool> {
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

    pub(super) fn collect_attributes(&self, found: &mut Vec<Attribute>) {
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
