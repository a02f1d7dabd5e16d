//! Influencers: creators with discount codes and tracking values that attribute orders and
//! visits to them.
use super::{DomainError, Violations, check_text};
use std::collections::HashSet;

/// Most tags an influencer may have.
pub const MAX_TAGS: usize = 50;
/// Most discount codes an influencer may have.
pub const MAX_CODES: usize = 100;
/// Most tracking values an influencer may have.
pub const MAX_TRACKING_VALUES: usize = 50;

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

        // Each list's length is checked before any work per element: a list far past its
        // limit costs one comparison, not one check (or worse, one search) per element.
        if self.tags.len() > MAX_TAGS {
            v.add(
                "tags",
                format!(
                    "has {} tags; at most {MAX_TAGS} are allowed",
                    self.tags.len()
                ),
            );
        } else {
            let mut seen = HashSet::new();
            let mut tags = Vec::with_capacity(self.tags.len());
            for (i, tag) in self.tags.iter().enumerate() {
                let tag = tag.trim().to_lowercase();
                match check_text(&tag, 64) {
                    Err(e) => v.add(format!("tags[{i}]"), e),
                    Ok(()) if seen.insert(tag.clone()) => tags.push(tag),
                    Ok(()) => {}
                }
            }
            self.tags = tags;
        }

        if self.discount_codes.len() > MAX_CODES {
            v.add(
                "discount_codes",
                format!(
                    "has {} codes; at most {MAX_CODES} are allowed",
                    self.discount_codes.len()
                ),
            );
        } else {
            let mut seen = HashSet::new();
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
        }

        if self.tracking_values.len() > MAX_TRACKING_VALUES {
            v.add(
                "tracking_values",
                format!(
                    "has {} pairs; at most {MAX_TRACKING_VALUES} are allowed",
                    self.tracking_values.len()
                ),
            );
        } else {
            let mut seen = HashSet::new();
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

    #[test]
    fn a_list_past_its_limit_is_refused_before_any_element_is_checked() {
        // Every element is bad too (empty, or twice the same), yet the answer is one
        // violation per list: its length, found before any work per element.
        let mut influencer = Influencer {
            display_name: "Anna".into(),
            tags: vec![String::new(); 100_000],
            discount_codes: vec!["SAME".into(); 100_000],
            tracking_values: vec![
                TrackingValue {
                    utm_source: String::new(),
                    utm_campaign: String::new(),
                };
                100_000
            ],
        };
        let Err(DomainError::Invalid(violations)) = influencer.validate() else {
            panic!("must be invalid");
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["tags", "discount_codes", "tracking_values"]);
        assert!(violations[0].description.contains("100000"));
    }

    #[test]
    fn many_distinct_tags_within_no_limit_are_deduplicated_in_one_pass() {
        // 100,000 distinct valid tags: refused by count, one violation. This is the case
        // that was quadratic (19 s of CPU); `cargo test --release --lib
        // many_distinct_tags` measures it.
        let mut influencer = Influencer {
            display_name: "Anna".into(),
            tags: (0..100_000).map(|i| format!("Tag{i}")).collect(),
            ..Default::default()
        };
        let Err(DomainError::Invalid(violations)) = influencer.validate() else {
            panic!("must be invalid");
        };
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "tags");
        let mut influencer = Influencer {
            display_name: "Anna".into(),
            tags: (0..MAX_TAGS).map(|i| format!("Tag{}", i % 10)).collect(),
            ..Default::default()
        };
        influencer.validate().unwrap();
        assert_eq!(influencer.tags.len(), 10);
        assert_eq!(influencer.tags[0], "tag0");
    }
}
