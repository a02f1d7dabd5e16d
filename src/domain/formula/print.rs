//! Canonical printing of a formula, which parses back to an equal formula.

use std::fmt;

use super::{Kind, Node};

impl Node {
    pub(super) fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
