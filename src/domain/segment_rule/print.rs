//! Canonical printing of a segment rule, which parses back to an equal rule.

use std::fmt;

use super::{Equality, Node, Predicate, Test};

impl Node {
    pub(super) fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
