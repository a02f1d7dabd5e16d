//! Influencers: creators with discount codes and tracking values that attribute orders and
//! visits to them.
use super::{DomainError, Violations, check_text};

/// A UTM pair that marks traffic as coming from an influencer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingValue {
    /// utm_source to match.
    pub utm_source: String,
    /// utm_campaign to match; empty matches any campaign.
    pub utm_campaign: String,
}

impl TrackingValue {
    /// The case-insensitive key under which the pair is unique in a tenant.
    pub fn key(&self) -> (String, String) {
        (
            self.utm_source.to_lowercase(),
            self.utm_campaign.to_lowercase(),
        )
    }
}

/// The fields of an influencer.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Influencer {
    /// Name shown to people.
    pub display_name: String,
    /// Lowercased labels.
    pub tags: Vec<String>,
    /// Discount codes, trimmed, as given.
    pub discount_codes: Vec<String>,
    /// Tracking values.
    pub tracking_values: Vec<TrackingValue>,
}

/// The key a discount code is matched on: trimmed and Unicode-lowercased (KPIS.md).
pub fn code_key(code: &str) -> String {
    code.trim().to_lowercase()
}

impl Influencer {
    /// Normalises (trims codes, lowercases tags) and checks every field.
    pub fn validate(&mut self) -> Result<(), DomainError> {
        let mut v = Violations::default();
        v.check("display_name", check_text(&self.display_name, 200));

        if self.tags.len() > 50 {
            v.add(
                "tags",
                format!("has {} tags; at most 50 are allowed", self.tags.len()),
            );
        }
        let mut tags: Vec<String> = Vec::new();
        for (i, tag) in self.tags.iter().enumerate() {
            let tag = tag.trim().to_lowercase();
            match check_text(&tag, 64) {
                Err(e) => v.add(format!("tags[{i}]"), e),
                Ok(()) if !tags.contains(&tag) => tags.push(tag),
                Ok(()) => {}
            }
        }
        self.tags = tags;

        if self.discount_codes.len() > 100 {
            v.add(
                "discount_codes",
                format!(
                    "has {} codes; at most 100 are allowed",
                    self.discount_codes.len()
                ),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, code) in self.discount_codes.iter_mut().enumerate() {
            *code = code.trim().to_string();
            if let Err(e) = check_text(code, 64) {
                v.add(format!("discount_codes[{i}]"), e);
            } else if !seen.insert(code_key(code)) {
                v.add(
                    format!("discount_codes[{i}]"),
                    format!("code `{code}` is listed twice (codes compare case-insensitively)"),
                );
            }
        }

        if self.tracking_values.len() > 50 {
            v.add(
                "tracking_values",
                format!(
                    "has {} pairs; at most 50 are allowed",
                    self.tracking_values.len()
                ),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, tv) in self.tracking_values.iter_mut().enumerate() {
            tv.utm_source = tv.utm_source.trim().to_string();
            tv.utm_campaign = tv.utm_campaign.trim().to_string();
            v.check(
                format!("tracking_values[{i}].utm_source"),
                check_text(&tv.utm_source, 200),
            );
            if !tv.utm_campaign.is_empty() {
                v.check(
                    format!("tracking_values[{i}].utm_campaign"),
                    check_text(&tv.utm_campaign, 200),
                );
            }
            if !seen.insert(tv.key()) {
                v.add(format!("tracking_values[{i}]"), "this pair is listed twice");
            }
        }
        v.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_trimmed_and_compared_case_insensitively() {
        let mut influencer = Influencer {
            display_name: "Anna".into(),
            discount_codes: vec![" ANNA10 ".into(), "anna10".into()],
            ..Default::default()
        };
        let Err(DomainError::Invalid(violations)) = influencer.validate() else {
            panic!("duplicate codes must be refused");
        };
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "discount_codes[1]");
        assert_eq!(influencer.discount_codes[0], "ANNA10");
        assert_eq!(code_key("  ÄNNA "), "änna");
    }

    #[test]
    fn tags_are_lowercased_and_deduplicated() {
        let mut influencer = Influencer {
            display_name: "Anna".into(),
            tags: vec!["Fashion".into(), "fashion".into(), "Food".into()],
            ..Default::default()
        };
        influencer.validate().unwrap();
        assert_eq!(influencer.tags, vec!["fashion", "food"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut influencer = Influencer {
            display_name: " ".into(),
            tracking_values: vec![TrackingValue {
                utm_source: "".into(),
                utm_campaign: "".into(),
            }],
            ..Default::default()
        };
        let Err(DomainError::Invalid(violations)) = influencer.validate() else {
            panic!("must be invalid");
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["display_name", "tracking_values[0].utm_source"]);
    }
}
