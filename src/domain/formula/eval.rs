//! Evaluation of a formula on period values, and the checks that need no
//! values: known names and constant divisors.

use super::{FormulaError, Kind, NameKind, Node, Op};
use crate::domain::value::{Reason, Value};

impl Op {
    /// Applies the operator to two present values; see [`super::Formula::evaluate`]
    /// for the reasons of results that are not finite.
    pub(super) fn apply(self, left: f64, right: f64) -> Value {
        let result = match self {
            Op::Add => left + right,
            Op::Sub => left - right,
            Op::Mul => left * right,
            Op::Div if right == 0.0 => return Err(Reason::ZeroDenominator),
            Op::Div => left / right,
        };
        crate::domain::value::finite(result)
    }
}

impl Node {
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

    pub(super) fn validate(
        &self,
        text: &str,
        resolve: &dyn Fn(&str) -> NameKind,
    ) -> Result<(), FormulaError> {
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

/// Evaluates a formula's nodes, looking each name up once.
pub(super) struct Evaluator<'a, 'l> {
    pub(super) lookup: &'l mut dyn FnMut(&str) -> Value,
    /// Names looked up so far with their values, so each is looked up once.
    pub(super) seen: Vec<(&'a str, Value)>,
}

impl<'a> Evaluator<'a, '_> {
    pub(super) fn value_of(&mut self, name: &'a str) -> Value {
        if let Some((_, value)) = self.seen.iter().find(|(n, _)| *n == name) {
            return *value;
        }
        let value = (self.lookup)(name);
        self.seen.push((name, value));
        value
    }

    /// Left operand first; the first absent value stops the evaluation.
    pub(super) fn eval(&mut self, node: &'a Node) -> Value {
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
