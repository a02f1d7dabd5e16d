//! The demo tenant: a dozen influencers with channels, codes and tracking values, two
//! segments, a campaign with a giveaway and SMART goals, written through the same
//! validation and storage code as the API. Deterministic: the same data every run.
use crate::domain::DomainError;
use crate::domain::campaign::{Campaign, Giveaway, Money, Participant};
use crate::domain::channel::{Channel, Platform};
use crate::domain::goal::{Baseline, Direction, Goal, Target};
use crate::domain::influencer::{Influencer, TrackingValue};
use crate::domain::segment::Segment;
use crate::domain::tenant::{Tenant, TenantSettings};
use crate::kpi::catalogue::Objective;
use crate::storage::{StorageError, Store};
use chrono::{Datelike, NaiveDate};

/// Id of the demo tenant.
pub const TENANT: &str = "demo";

/// Errors of seeding.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Demo data broke a validation rule (a bug in this module).
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What was seeded, for the summary.
#[derive(Debug, Default)]
pub struct Seeded {
    /// Influencers created.
    pub influencers: usize,
    /// Channels created.
    pub channels: usize,
    /// Segments created.
    pub segments: usize,
    /// Campaigns created.
    pub campaigns: usize,
    /// Goals created.
    pub goals: usize,
}

const PEOPLE: [(&str, &str, &str); 12] = [
    ("anna", "Anna de Vries", "fashion"),
    ("bram", "Bram Jansen", "food"),
    ("chloe", "Chloé Martin", "design"),
    ("daan", "Daan Bakker", "fitness"),
    ("eva", "Eva Visser", "travel"),
    ("finn", "Finn Smit", "gaming"),
    ("gwen", "Gwen Mulder", "design"),
    ("hugo", "Hugo de Boer", "tech"),
    ("iris", "Iris Meijer", "beauty"),
    ("jasper", "Jasper de Groot", "outdoor"),
    ("kim", "Kim Bos", "parenting"),
    ("lars", "Lars Vos", "music"),
];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// Seeds the demo tenant into an empty database and returns what it made with a key.
pub async fn seed(store: &Store, today: NaiveDate) -> Result<(Seeded, String), DemoError> {
    let mut settings = TenantSettings {
        time_zone: "Europe/Amsterdam".into(),
        ..TenantSettings::default()
    };
    settings.validate()?;
    store
        .create_tenant(&Tenant {
            id: TENANT.into(),
            display_name: "Demo Brand".into(),
            settings,
        })
        .await?;
    let mut seeded = Seeded::default();
    let platforms = [
        Platform::Instagram,
        Platform::TikTok,
        Platform::YouTube,
        Platform::X,
    ];
    for (i, (id, name, tag)) in PEOPLE.iter().enumerate() {
        let mut influencer = Influencer {
            display_name: name.to_string(),
            tags: vec![tag.to_string()],
            discount_codes: vec![format!("{}10", id.to_uppercase())],
            tracking_values: vec![TrackingValue {
                utm_source: "influencer".into(),
                utm_campaign: id.to_string(),
            }],
        };
        influencer.validate()?;
        store
            .create_influencer(TENANT, id, &influencer, None)
            .await?;
        seeded.influencers += 1;
        for platform in [Platform::Instagram, platforms[1 + i % 3]] {
            let mut channel = Channel {
                display_name: format!("{name} on {}", platform.as_str()),
                platform,
                owner: Some(id.to_string()),
                account_id: format!("{id}-{}", platform.as_str()),
                credentials_ref: format!(
                    "{}_TOKEN_{}",
                    platform.as_str().to_uppercase(),
                    id.to_uppercase()
                ),
            };
            channel.validate()?;
            store
                .create_channel(
                    TENANT,
                    &format!("{id}-{}", platform.as_str()),
                    &channel,
                    None,
                )
                .await?;
            seeded.channels += 1;
        }
    }
    for (id, platform, account) in [
        ("brand-ig", Platform::Instagram, "demobrand"),
        ("brand-site", Platform::Website, "https://demo.example"),
    ] {
        let mut channel = Channel {
            display_name: format!("Demo Brand {}", platform.as_str()),
            platform,
            owner: None,
            account_id: account.into(),
            credentials_ref: String::new(),
        };
        channel.validate()?;
        store.create_channel(TENANT, id, &channel, None).await?;
        seeded.channels += 1;
    }
    for (id, name, rule) in [
        (
            "designers",
            "Design lovers",
            "bio contains \"design\" and followers >= 1000",
        ),
        (
            "young-adults",
            "Fans aged 25 to 30",
            "age between 25 and 30",
        ),
    ] {
        let segment = Segment {
            display_name: name.into(),
            rule: rule.into(),
        };
        segment.validate()?;
        store.create_segment(TENANT, id, &segment, None).await?;
        seeded.segments += 1;
    }
    let start = today - chrono::Days::new(60);
    let mut campaign = Campaign {
        display_name: "Autumn launch".into(),
        start_date: start,
        end_date: start + chrono::Days::new(27),
        participants: ["anna", "chloe", "gwen", "hugo"]
            .iter()
            .zip([250_000, 180_000, 120_000, 90_000])
            .map(|(id, fee)| Participant {
                influencer_id: id.to_string(),
                fee: Money {
                    currency: "EUR".into(),
                    minor_units: fee,
                },
            })
            .collect(),
        giveaways: vec![Giveaway {
            id: "autumn-box".into(),
            display_name: "Autumn gift box".into(),
            host: Some("anna".into()),
        }],
    };
    campaign.validate("EUR")?;
    store
        .create_campaign(TENANT, "autumn-launch", &campaign, None)
        .await?;
    seeded.campaigns += 1;

    let year_start = date(today.year(), 1, 1);
    let goals = [
        (
            "loyal-anna",
            Goal {
                display_name: "More returning buyers through Anna".into(),
                objective: Some(Objective::LoyalCustomers),
                kpi: "returning_buyer_rate".into(),
                scope: "influencers/anna".into(),
                segment: None,
                baseline: Baseline::KpiBeforeStart,
                target: Some(Target::RelativePercent(20.0)),
                direction: Some(Direction::Up),
                start_date: Some(start),
                deadline: Some(start + chrono::Days::new(180)),
                owner: "Head of marketing".into(),
                trailing_days: None,
            },
        ),
        (
            "designers-reach",
            Goal {
                display_name: "Reach design lovers".into(),
                objective: Some(Objective::NewAudience),
                kpi: "target_audience_visitors".into(),
                scope: "tenant".into(),
                segment: Some("designers".into()),
                baseline: Baseline::None,
                target: Some(Target::Absolute(5000.0)),
                direction: Some(Direction::Up),
                start_date: Some(year_start),
                deadline: Some(date(today.year(), 12, 31)),
                owner: "Brand team".into(),
                trailing_days: None,
            },
        ),
        (
            "campaign-roas",
            Goal {
                display_name: "Autumn launch pays for itself".into(),
                objective: Some(Objective::Revenue),
                kpi: "roas".into(),
                scope: "campaigns/autumn-launch".into(),
                segment: None,
                baseline: Baseline::Fixed(1.0),
                target: Some(Target::Absolute(3.0)),
                direction: Some(Direction::Up),
                start_date: Some(start),
                deadline: Some(start + chrono::Days::new(57)),
                owner: "Performance team".into(),
                trailing_days: Some(28),
            },
        ),
    ];
    for (id, goal) in goals {
        let scope = goal.validate()?;
        store.create_goal(TENANT, id, &goal, &scope, None).await?;
        seeded.goals += 1;
    }
    let (_, key) = store.create_api_key(TENANT).await?;
    Ok((seeded, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn demo_data_is_valid_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/demo.db", dir.path().display());
        Store::migrate(&url).await.unwrap();
        let store = Store::connect(&url, 2).await.unwrap();
        let (seeded, key) = seed(&store, date(2026, 11, 24)).await.unwrap();
        assert_eq!(seeded.influencers, 12);
        assert_eq!(seeded.channels, 26);
        assert_eq!(seeded.segments, 2);
        assert_eq!(seeded.goals, 3);
        let tenant = store.authenticate(&key).await.unwrap().unwrap();
        assert_eq!(tenant.settings.time_zone, "Europe/Amsterdam");
        let anna = store.get_influencer(TENANT, "anna").await.unwrap();
        assert_eq!(anna.spec.discount_codes, ["ANNA10"]);
    }
}
