//! Audience counts of one day for every scope and segment at once, from one pass over the
//! members following on that day (KPIS.md: segment_followers, followers_became_customers).
//! Plain data, no I/O: storage streams the rows ordered by member, so every member's rows
//! arrive together and counting each member once per scope needs no set of all members.
use crate::domain::segment_rule::{AttrValue, Attribute, AttributeSource, SegmentRule};
use crate::kpi::directory::Directory;
use crate::kpi::parts::AudienceCounts;
use chrono::NaiveDate;
use std::collections::HashMap;

/// One audience row: a member following one channel, with its attributes as ingested.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberRow {
    /// Platform of the account.
    pub platform: String,
    /// Account id on the platform.
    pub account_id: String,
    /// The followed channel.
    pub channel_id: String,
    /// Linked shop customer id.
    pub customer_id: Option<String>,
    /// Bio as ingested.
    pub bio: Option<String>,
    /// The member's own follower count.
    pub followers: Option<i64>,
    /// Influence score.
    pub influence_score: Option<f64>,
    /// Age in whole years.
    pub age: Option<i32>,
    /// Country as ingested.
    pub country: Option<String>,
}

impl AttributeSource for MemberRow {
    fn attribute(&self, attr: Attribute) -> Option<AttrValue<'_>> {
        match attr {
            Attribute::Bio => self.bio.as_deref().map(AttrValue::Text),
            Attribute::Followers => self.followers.map(|n| AttrValue::Number(n as f64)),
            Attribute::InfluenceScore => self.influence_score.map(AttrValue::Number),
            Attribute::Age => self.age.map(|n| AttrValue::Number(f64::from(n))),
            Attribute::IsCustomer => Some(AttrValue::Bool(self.customer_id.is_some())),
            Attribute::Platform => Some(AttrValue::Text(&self.platform)),
            Attribute::Country => self.country.as_deref().map(AttrValue::Text),
        }
    }
}

/// A day's audience counts per scope, one entry per segment choice in the pass's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AudienceTally {
    /// Per channel.
    pub channel: HashMap<String, Vec<AudienceCounts>>,
    /// Per owning influencer; the brand's own channels (tenant scope) under None.
    pub owner: HashMap<Option<String>, Vec<AudienceCounts>>,
    /// Per campaign: the channels of its participating influencers.
    pub campaign: HashMap<String, Vec<AudienceCounts>>,
}

/// A scope an audience row counts towards, by index into the pass's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    Channel(usize),
    Owner(usize),
    Campaign(usize),
}

/// What one member contributes to one group: per segment choice, whether any of its rows
/// in the group matches, and whether any matching row is a customer with an order by then.
struct Contribution {
    group: Group,
    matching: Vec<bool>,
    customers: Vec<bool>,
}

/// Counts members for every channel, owner and campaign and every segment choice in one
/// ordered pass; feed rows with [`AudiencePass::push`], then call [`AudiencePass::finish`].
pub struct AudiencePass<'a> {
    day: NaiveDate,
    choices: Vec<Option<&'a SegmentRule>>,
    first_orders: &'a HashMap<String, NaiveDate>,
    channel_ids: Vec<String>,
    channel_index: HashMap<String, usize>,
    /// Per channel index: its owner's index and the indexes of the campaigns covering it.
    channel_groups: Vec<(usize, Vec<usize>)>,
    owners: Vec<Option<String>>,
    campaigns: Vec<String>,
    counts: [Vec<Vec<AudienceCounts>>; 3],
    member: Option<(String, String)>,
    contributions: Vec<Contribution>,
}

impl<'a> AudiencePass<'a> {
    /// A pass for `day`: `choices` are the segment rules to count (None: every member),
    /// `first_orders` each linked customer id's first order day.
    pub fn new(
        directory: &Directory,
        day: NaiveDate,
        choices: Vec<Option<&'a SegmentRule>>,
        first_orders: &'a HashMap<String, NaiveDate>,
    ) -> AudiencePass<'a> {
        let mut owners: Vec<Option<String>> = Vec::new();
        let mut owner_index: HashMap<Option<String>, usize> = HashMap::new();
        let campaigns: Vec<String> = directory.campaigns.keys().cloned().collect();
        let mut channel_ids = Vec::new();
        let mut channel_index = HashMap::new();
        let mut channel_groups = Vec::new();
        for (channel, owner) in &directory.channels {
            let o = *owner_index.entry(owner.clone()).or_insert_with(|| {
                owners.push(owner.clone());
                owners.len() - 1
            });
            // A campaign covers the channels of its participating influencers.
            let covering = campaigns
                .iter()
                .enumerate()
                .filter(|(_, id)| {
                    owner
                        .as_ref()
                        .is_some_and(|o| directory.campaigns[*id].fees.contains_key(o))
                })
                .map(|(i, _)| i)
                .collect();
            channel_index.insert(channel.clone(), channel_ids.len());
            channel_ids.push(channel.clone());
            channel_groups.push((o, covering));
        }
        let empty = |n: usize| vec![vec![AudienceCounts::default(); choices.len()]; n];
        let counts = [
            empty(channel_ids.len()),
            empty(owners.len()),
            empty(campaigns.len()),
        ];
        AudiencePass {
            day,
            choices,
            first_orders,
            channel_ids,
            channel_index,
            channel_groups,
            owners,
            campaigns,
            counts,
            member: None,
            contributions: Vec::new(),
        }
    }

    /// Adds a row; rows must come ordered by (platform, account id).
    pub fn push(&mut self, row: &MemberRow) {
        let same = self
            .member
            .as_ref()
            .is_some_and(|(p, a)| *p == row.platform && *a == row.account_id);
        if !same {
            self.flush();
            self.member = Some((row.platform.clone(), row.account_id.clone()));
        }
        // A channel unknown to the directory (deleted since) counts nowhere.
        let Some(&c) = self.channel_index.get(&row.channel_id) else {
            return;
        };
        let customer = row
            .customer_id
            .as_ref()
            .and_then(|id| self.first_orders.get(id))
            .is_some_and(|first| *first <= self.day);
        let matching: Vec<bool> = self
            .choices
            .iter()
            .map(|rule| rule.is_none_or(|r| r.matches(row)))
            .collect();
        let (owner, campaigns) = &self.channel_groups[c];
        let groups = [Group::Channel(c), Group::Owner(*owner)]
            .into_iter()
            .chain(campaigns.iter().map(|&k| Group::Campaign(k)));
        for group in groups {
            let entry = match self.contributions.iter().position(|e| e.group == group) {
                Some(i) => &mut self.contributions[i],
                None => {
                    self.contributions.push(Contribution {
                        group,
                        matching: vec![false; matching.len()],
                        customers: vec![false; matching.len()],
                    });
                    self.contributions.last_mut().expect("just pushed")
                }
            };
            for (i, m) in matching.iter().enumerate() {
                entry.matching[i] |= *m;
                entry.customers[i] |= *m && customer;
            }
        }
    }

    /// Counts the current member once in each group it touched.
    fn flush(&mut self) {
        for entry in self.contributions.drain(..) {
            let (table, i) = match entry.group {
                Group::Channel(i) => (0, i),
                Group::Owner(i) => (1, i),
                Group::Campaign(i) => (2, i),
            };
            for (choice, counts) in self.counts[table][i].iter_mut().enumerate() {
                counts.following += 1;
                counts.matching += i64::from(entry.matching[choice]);
                counts.customers += i64::from(entry.customers[choice]);
            }
        }
    }

    /// The counts of every group that has at least one following member.
    pub fn finish(mut self) -> AudienceTally {
        self.flush();
        let [channel, owner, campaign] = self.counts;
        let keep = |c: &Vec<AudienceCounts>| c.first().is_some_and(|c| c.following > 0);
        AudienceTally {
            channel: self
                .channel_ids
                .into_iter()
                .zip(channel)
                .filter(|(_, c)| keep(c))
                .collect(),
            owner: self
                .owners
                .into_iter()
                .zip(owner)
                .filter(|(_, c)| keep(c))
                .collect(),
            campaign: self
                .campaigns
                .into_iter()
                .zip(campaign)
                .filter(|(_, c)| keep(c))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::directory::CampaignInfo;
    use crate::kpi::period::Period;
    use std::collections::BTreeSet;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    /// The brand's channel, anna with two channels, bob with one; anna in "spring".
    fn directory() -> Directory {
        let mut dir = Directory::default();
        dir.channels.insert("brand".into(), None);
        dir.channels.insert("anna-ig".into(), Some("anna".into()));
        dir.channels.insert("anna-tt".into(), Some("anna".into()));
        dir.channels.insert("bob-ig".into(), Some("bob".into()));
        dir.campaigns.insert(
            "spring".into(),
            CampaignInfo {
                window: Period {
                    first: d(3, 1),
                    last: d(3, 10),
                },
                fees: [("anna".to_string(), 1000)].into(),
                giveaways: BTreeSet::new(),
            },
        );
        dir
    }

    fn row(account: &str, channel: &str, age: Option<i32>, customer: Option<&str>) -> MemberRow {
        MemberRow {
            platform: "instagram".into(),
            account_id: account.into(),
            channel_id: channel.into(),
            customer_id: customer.map(str::to_string),
            age,
            ..MemberRow::default()
        }
    }

    fn counts(following: i64, matching: i64, customers: i64) -> AudienceCounts {
        AudienceCounts {
            following,
            matching,
            customers,
        }
    }

    /// Runs a pass over rows already ordered by member, for "everyone" and `age >= 30`.
    fn tally(rows: &[MemberRow], day: NaiveDate) -> AudienceTally {
        let dir = directory();
        let adults = crate::domain::segment_rule::parse("age >= 30").unwrap();
        let first_orders: HashMap<String, NaiveDate> =
            [("c1".to_string(), d(3, 5)), ("c2".to_string(), d(3, 6))].into();
        let mut pass = AudiencePass::new(&dir, day, vec![None, Some(&adults)], &first_orders);
        for r in rows {
            pass.push(r);
        }
        pass.finish()
    }

    #[test]
    fn a_member_counts_once_per_scope_and_matches_when_any_row_does() {
        // x follows both of anna's channels, aged 25 on one row and 31 on the other; y
        // follows anna-ig and bob-ig; z follows only the brand.
        let rows = [
            row("x", "anna-ig", Some(25), None),
            row("x", "anna-tt", Some(31), None),
            row("y", "anna-ig", Some(40), None),
            row("y", "bob-ig", Some(40), None),
            row("z", "brand", None, None),
        ];
        let t = tally(&rows, d(3, 5));
        let anna = &t.owner[&Some("anna".to_string())];
        assert_eq!(anna, &[counts(2, 2, 0), counts(2, 2, 0)]);
        assert_eq!(t.channel["anna-ig"], [counts(2, 2, 0), counts(2, 1, 0)]);
        assert_eq!(t.channel["anna-tt"], [counts(1, 1, 0), counts(1, 1, 0)]);
        assert_eq!(t.owner[&Some("bob".to_string())][1], counts(1, 1, 0));
        // The brand's own channels are the tenant scope; z has no age, so no match.
        assert_eq!(t.owner[&None], [counts(1, 1, 0), counts(1, 0, 0)]);
        // The campaign covers anna's channels only.
        assert_eq!(t.campaign["spring"], [counts(2, 2, 0), counts(2, 2, 0)]);
    }

    #[test]
    fn customers_need_an_order_on_or_before_the_day_and_a_matching_row() {
        // c1 first ordered on 3-5, c2 on 3-6; w's customer row is under 30.
        let rows = [
            row("u", "bob-ig", Some(35), Some("c1")),
            row("v", "bob-ig", Some(35), Some("c2")),
            row("w", "bob-ig", Some(20), Some("c1")),
            row("w", "brand", Some(50), None),
            row("x", "bob-ig", Some(35), Some("never-ordered")),
        ];
        let bob = |t: &AudienceTally| t.owner[&Some("bob".to_string())].clone();
        assert_eq!(
            bob(&tally(&rows, d(3, 4))),
            [counts(4, 4, 0), counts(4, 3, 0)]
        );
        assert_eq!(
            bob(&tally(&rows, d(3, 5))),
            [counts(4, 4, 2), counts(4, 3, 1)]
        );
        assert_eq!(
            bob(&tally(&rows, d(3, 6))),
            [counts(4, 4, 3), counts(4, 3, 2)]
        );
        // w matches at tenant scope through the brand row, which has no customer.
        assert_eq!(tally(&rows, d(3, 6)).owner[&None][1], counts(1, 1, 0));
    }

    #[test]
    fn scopes_nobody_follows_and_unknown_channels_are_absent() {
        let rows = [
            row("x", "gone", Some(30), None),
            row("y", "anna-ig", Some(30), None),
        ];
        let t = tally(&rows, d(3, 5));
        assert!(!t.channel.contains_key("gone"));
        assert!(!t.channel.contains_key("bob-ig"));
        assert!(!t.owner.contains_key(&None));
        assert_eq!(t.owner[&Some("anna".to_string())][0], counts(1, 1, 0));
        assert_eq!(t.owner.len(), 1);
    }
}
