//! Campaigns: a window of days, the influencers paid to take part, and their giveaways.
use super::{DomainError, Violations, check_text, names::check_id};
use chrono::NaiveDate;

/// Most participants a campaign may have.
pub const MAX_PARTICIPANTS: usize = 1000;
/// Most giveaways a campaign may have.
pub const MAX_GIVEAWAYS: usize = 100;

/// An amount in integer minor units of a currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Money {
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units (cents).
    pub minor_units: i64,
}

/// An influencer in a campaign with their fee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// Influencer id.
    pub influencer_id: String,
    /// Fee for the whole campaign.
    pub fee: Money,
}

/// A giveaway of a campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Giveaway {
    /// Id, unique in the tenant.
    pub id: String,
    /// Name shown to people.
    pub display_name: String,
    /// Hosting influencer id; None when the brand hosts.
    pub host: Option<String>,
}

/// The fields of a campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Campaign {
    /// Name shown to people.
    pub display_name: String,
    /// First day.
    pub start_date: NaiveDate,
    /// Last day, inclusive.
    pub end_date: NaiveDate,
    /// Participants with fees.
    pub participants: Vec<Participant>,
    /// Giveaways.
    pub giveaways: Vec<Giveaway>,
}

impl Campaign {
    /// Checks every field; fees must be in the tenant's `currency`.
    pub fn validate(&mut self, currency: &str) -> Result<(), DomainError> {
        let mut v = Violations::default();
        v.check("display_name", check_text(&self.display_name, 200));
        if self.end_date < self.start_date {
            v.add(
                "end_date",
                format!("{} is before start_date {}", self.end_date, self.start_date),
            );
        }
        // Lengths first: a list past its limit gets no work per element.
        if self.participants.len() > MAX_PARTICIPANTS {
            v.add(
                "participants",
                format!(
                    "has {} participants; at most {MAX_PARTICIPANTS} are allowed",
                    self.participants.len()
                ),
            );
            self.participants.clear();
        }
        if self.giveaways.len() > MAX_GIVEAWAYS {
            v.add(
                "giveaways",
                format!(
                    "has {} giveaways; at most {MAX_GIVEAWAYS} are allowed",
                    self.giveaways.len()
                ),
            );
            self.giveaways.clear();
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.participants.iter_mut().enumerate() {
            if !seen.insert(p.influencer_id.clone()) {
                v.add(
                    format!("participants[{i}].influencer"),
                    "this influencer is listed twice",
                );
            }
            p.fee.currency = p.fee.currency.to_ascii_uppercase();
            if p.fee.currency != currency {
                v.add(
                    format!("participants[{i}].fee.currency_code"),
                    format!(
                        "`{}` is not the tenant's currency {currency}",
                        super::names::shorten(&p.fee.currency)
                    ),
                );
            }
            if p.fee.minor_units < 0 {
                v.add(
                    format!("participants[{i}].fee.minor_units"),
                    "must not be negative",
                );
            } else if p.fee.minor_units > super::observation::MAX_COUNT {
                v.add(
                    format!("participants[{i}].fee.minor_units"),
                    format!(
                        "must be at most {} minor units",
                        super::observation::MAX_COUNT
                    ),
                );
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, g) in self.giveaways.iter().enumerate() {
            v.check(format!("giveaways[{i}].giveaway_id"), check_id(&g.id));
            if !seen.insert(g.id.clone()) {
                v.add(
                    format!("giveaways[{i}].giveaway_id"),
                    "this id is listed twice",
                );
            }
            v.check(
                format!("giveaways[{i}].display_name"),
                check_text(&g.display_name, 200),
            );
        }
        v.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign() -> Campaign {
        Campaign {
            display_name: "Spring".into(),
            start_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            end_date: NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
            participants: vec![Participant {
                influencer_id: "anna".into(),
                fee: Money {
                    currency: "eur".into(),
                    minor_units: 10_000,
                },
            }],
            giveaways: vec![],
        }
    }

    #[test]
    fn fee_currency_must_be_the_tenants() {
        let mut c = campaign();
        c.validate("EUR").unwrap();
        assert_eq!(c.participants[0].fee.currency, "EUR");
        let Err(DomainError::Invalid(v)) = campaign().validate("USD") else {
            panic!()
        };
        assert_eq!(v[0].field, "participants[0].fee.currency_code");
    }

    #[test]
    fn end_before_start_is_refused_but_one_day_is_fine() {
        let mut c = campaign();
        c.end_date = c.start_date;
        c.validate("EUR").unwrap();
        c.end_date = c.start_date.pred_opt().unwrap();
        let Err(DomainError::Invalid(v)) = c.validate("EUR") else {
            panic!()
        };
        assert_eq!(v[0].field, "end_date");
    }
}
