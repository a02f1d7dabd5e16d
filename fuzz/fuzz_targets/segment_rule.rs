//! The segment-rule parser on arbitrary text; a rule that parses is evaluated against
//! arbitrary member attributes and turned into a SQL condition, and its errors must point
//! inside the text.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sea_orm::sea_query::{Alias, Expr};
use tally::domain::segment_rule::{self, AttrValue, Attribute, AttributeSource};

#[derive(Arbitrary, Debug)]
struct Member {
    bio: Option<String>,
    followers: Option<f64>,
    influence_score: Option<f64>,
    age: Option<f64>,
    is_customer: Option<bool>,
    platform: Option<String>,
    country: Option<String>,
}

impl AttributeSource for Member {
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

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    rule: &'a str,
    member: Member,
}

fuzz_target!(|input: Input<'_>| {
    match segment_rule::parse(input.rule) {
        Ok(rule) => {
            let verdict = rule.evaluate(&input.member);
            assert_eq!(rule.matches(&input.member), verdict == Some(true));
            let _ = rule.attributes();
            let _ = rule.to_condition(&|attr: Attribute| Some(Expr::col(Alias::new(attr.name()))));
        }
        Err(e) => {
            // Every error names a position inside the text (or just past its end).
            assert!(e.offset <= input.rule.chars().count(), "{e:?}");
            assert!(e.line >= 1 && e.column >= 1, "{e:?}");
        }
    }
});
