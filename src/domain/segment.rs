//! Segments: named audience rules in the segment language (see `segment_rule`).
use super::{DomainError, Violations, check_text, segment_rule};

/// The fields of a segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Name shown to people.
    pub display_name: String,
    /// The rule as the user wrote it.
    pub rule: String,
}

impl Segment {
    /// Checks the fields and parses the rule, returning the parsed rule.
    pub fn validate(&self) -> Result<segment_rule::SegmentRule, DomainError> {
        let mut v = Violations::default();
        v.check("display_name", check_text(&self.display_name, 200));
        // Line breaks and tabs lay a rule out; other control characters (NUL above all,
        // which PostgreSQL text cannot hold) would only break the queries made from it.
        let control = self
            .rule
            .char_indices()
            .find(|(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
        let parsed = if let Some((at, c)) = control {
            v.add(
                "rule",
                format!(
                    "character {} is the control character U+{:04X}; rules may hold only text, line breaks and tabs",
                    self.rule[..at].chars().count() + 1,
                    c as u32
                ),
            );
            None
        } else {
            match segment_rule::parse(&self.rule) {
                Ok(rule) => Some(rule),
                Err(e) => {
                    v.add("rule", e.to_string());
                    None
                }
            }
        };
        v.finish()?;
        parsed.ok_or_else(|| DomainError::Invalid(vec![]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_a_rule_are_refused_with_their_position() {
        let segment = |rule: &str| Segment {
            display_name: "Fans".into(),
            rule: rule.into(),
        };
        assert!(
            segment("bio contains \"design\"\n  and age >= 18")
                .validate()
                .is_ok()
        );
        let Err(DomainError::Invalid(v)) = segment("bio contains \"a\u{0}b\"").validate() else {
            panic!("a NUL must be refused");
        };
        assert_eq!(v[0].field, "rule");
        assert!(
            v[0].description.contains("character 16") && v[0].description.contains("U+0000"),
            "{}",
            v[0].description
        );
    }
}
