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
        let parsed = match segment_rule::parse(&self.rule) {
            Ok(rule) => Some(rule),
            Err(e) => {
                v.add("rule", e.to_string());
                None
            }
        };
        v.finish()?;
        parsed.ok_or_else(|| DomainError::Invalid(vec![]))
    }
}
