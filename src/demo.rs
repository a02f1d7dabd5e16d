//! The demo tenant: a dozen influencers with channels, codes and tracking values, two
//! segments, a campaign with a giveaway and SMART goals, written through the same
//! validation and storage code as the API. Deterministic: the same data every run.
use crate::domain::campaign::{Campaign, Giveaway, Money, Participant};
use crate::domain::catalogue::Objective;
use crate::domain::channel::{Channel, Platform};
use crate::domain::goal::Scope;
use crate::domain::goal::{Baseline, Direction, Goal, Target};
use crate::domain::influencer::{Influencer, TrackingValue};
use crate::domain::observation::{CustomerKeySecret, GiveawayEntry};
use crate::domain::segment::Segment;
use crate::domain::tenant::{Tenant, TenantSettings};
use crate::domain::{DomainError, Violation};
use crate::engine::Engine;
use crate::jobs::{Jobs, RunSpec};
use crate::kpi::KpiKey;
use crate::kpi::period::Period;
use crate::kpi::value::Value;
use crate::storage::jobs::RunRecord;
use crate::storage::{StorageError, Store};
use chrono::{Datelike, NaiveDate, TimeZone};

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
    /// The backfill could not run.
    #[error(transparent)]
    Job(#[from] crate::jobs::JobError),
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
                // A YouTube account is a channel id or an @handle (see channel.proto).
                account_id: if platform == Platform::YouTube {
                    format!("@{id}")
                } else {
                    format!("{id}-{}", platform.as_str())
                },
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
        ("brand-shop", Platform::Shopify, "demo-brand.myshopify.com"),
        ("brand-site", Platform::Website, "properties/123456789"),
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
                kpi: "returning_buyers_after_code".into(),
                scope: "influencers/anna".into(),
                segment: None,
                baseline: Baseline::None,
                target: Some(Target::Absolute(60.0)),
                direction: Some(Direction::Up),
                start_date: Some(start),
                deadline: Some(start + chrono::Days::new(180)),
                owner: "Head of marketing".into(),
                trailing_days: None,
            },
        ),
        (
            "young-adults-reach",
            Goal {
                display_name: "Reach fans aged 25 to 30 on the site".into(),
                objective: Some(Objective::NewAudience),
                kpi: "target_audience_visitors".into(),
                scope: "tenant".into(),
                segment: Some("young-adults".into()),
                baseline: Baseline::None,
                target: Some(Target::Absolute(28000.0)),
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
                // The whole campaign with its order tail: [start, start + 57].
                trailing_days: Some(58),
            },
        ),
    ];
    for (id, goal) in goals {
        let scope = goal.validate()?;
        store.create_goal(TENANT, id, &goal, &scope, None).await?;
        seeded.goals += 1;
    }
    store
        .upsert_giveaway_entries(TENANT, &giveaway_entries(&campaign, "autumn-box")?)
        .await?;
    let (_, key) = store.create_api_key(TENANT).await?;
    Ok((seeded, key))
}

/// Entries of a giveaway over its campaign's days, as an agency's giveaway tool would
/// ingest them (giveaway platforms have no connector).
fn giveaway_entries(campaign: &Campaign, giveaway: &str) -> Result<Vec<GiveawayEntry>, DemoError> {
    let tz = chrono_tz::Europe::Amsterdam;
    // The entrants are account ids, which no secret keys (only e-mail addresses are).
    let keys = CustomerKeySecret::development();
    let mut entries = Vec::new();
    let days = (campaign.end_date - campaign.start_date).num_days();
    for n in 0..=days {
        let day = campaign.start_date + chrono::Days::new(n as u64);
        // More entries early in the campaign, tailing off.
        for k in 0..(40 - n.min(35)) {
            let entrant = format!("instagram-fan-{}", (n * 37 + k * 11) % 900);
            let local = day.and_hms_opt(9 + (k % 12) as u32, (k * 7 % 60) as u32, 0);
            let Some(entered_at) = local
                .and_then(|l| tz.from_local_datetime(&l).earliest())
                .map(|t| t.with_timezone(&chrono::Utc))
            else {
                continue;
            };
            let entry = GiveawayEntry::new(giveaway, &entrant, entered_at, tz, &keys)
                .map_err(|(field, why)| DomainError::Invalid(vec![Violation::new(field, why)]))?;
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Days of generated history the demo backfills.
pub const HISTORY_DAYS: u64 = 120;

/// A goal in the demo's summary.
#[derive(Debug)]
pub struct GoalLine {
    /// Goal id.
    pub id: String,
    /// KPI id.
    pub kpi: String,
    /// Scope.
    pub scope: String,
    /// The goal's evaluation as of the last backfilled day (None before its start).
    pub evaluation: Option<crate::kpi::goal_eval::Evaluation>,
}

/// What `tally demo` set up, printed as its summary.
#[derive(Debug)]
pub struct Demo {
    /// The tenant's API key.
    pub key: String,
    /// What was seeded.
    pub seeded: Seeded,
    /// The backfill run.
    pub run: RunRecord,
    /// Influencers by returning buyers over the history: (id, returning buyers, first
    /// code buyers, IPM).
    pub top: Vec<(String, Value, Value, Value)>,
    /// Each goal with its latest daily value.
    pub goals: Vec<GoalLine>,
    /// Wall time of the set-up.
    pub took: std::time::Duration,
}

/// Seeds the demo tenant, backfills `history_days` (the CLI: [`HISTORY_DAYS`]) of generated
/// history through the job runner (connectors, storage, KPI engine) and gathers the summary.
pub async fn run(
    jobs: &Jobs,
    now: chrono::DateTime<chrono::Utc>,
    history_days: u64,
) -> Result<Demo, DemoError> {
    let started = std::time::Instant::now();
    let store = jobs.store();
    let today = now
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive();
    let (seeded, key) = seed(store, today).await?;
    let tenant = store.get_tenant(TENANT).await?;
    let last = crate::jobs::yesterday(now, &tenant);
    let first = last - chrono::Days::new(history_days.max(1) - 1);
    let run = jobs
        .run(
            &tenant,
            RunSpec {
                job: crate::jobs::BACKFILL.into(),
                days: Period::new(first, last)
                    .map(|p| p.iter_days().collect())
                    .unwrap_or_default(),
                force: false,
            },
        )
        .await?;
    let period = Period::new(first, last).unwrap_or(Period::day(last));
    let mut engine = Engine::new(store, TENANT).await?;
    let mut keys = Vec::new();
    for (id, _, _) in PEOPLE {
        for kpi in ["returning_buyers_after_code", "first_code_buyers", "ipm"] {
            keys.push(KpiKey {
                kpi: kpi.into(),
                scope: Scope::Influencer(id.to_string()),
                segment: None,
            });
        }
    }
    let values = engine.compute(&keys, period).await?;
    let mut top: Vec<(String, Value, Value, Value)> = values
        .chunks(3)
        .map(|c| {
            let id = match &c[0].key.scope {
                Scope::Influencer(id) => id.clone(),
                other => other.to_string(),
            };
            (id, c[0].value, c[1].value, c[2].value)
        })
        .collect();
    top.sort_by(|a, b| {
        b.1.unwrap_or(f64::MIN)
            .total_cmp(&a.1.unwrap_or(f64::MIN))
            .then_with(|| a.0.cmp(&b.0))
    });
    top.truncate(5);
    let mut goals = Vec::new();
    let page = store
        .list_goals(
            TENANT,
            &crate::storage::PageRequest {
                after: None,
                limit: 100,
            },
        )
        .await?;
    for goal in page.items {
        let spec = &goal.spec;
        let evaluation = store
            .list_goal_evaluations(
                TENANT,
                &goal.id,
                &crate::storage::PageRequest {
                    after: None,
                    limit: 1,
                },
            )
            .await?
            .items
            .into_iter()
            .next()
            .map(|e| e.evaluation);
        goals.push(GoalLine {
            id: goal.id.clone(),
            kpi: spec.kpi.clone(),
            scope: spec.scope.clone(),
            evaluation,
        });
    }
    Ok(Demo {
        key,
        seeded,
        run,
        top,
        goals,
        took: started.elapsed(),
    })
}

impl Demo {
    /// What the analyst can try next against the demo server listening on `listen`: the
    /// variables that point the `tally` commands at it, then a few commands on its data.
    pub fn next_steps(&self, listen: std::net::SocketAddr) -> String {
        // A server on every interface is reached on this machine's loopback.
        let mut addr = listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!(
            "\nServing gRPC on {listen} until Ctrl-C. Next, in another terminal:\n\
             \n  export TALLY_ADDR=http://{addr}\n  export TALLY_API_KEY={key}\n\
             \n  tally goals\n  tally kpi query {kpi} --scope-kind influencers --granularity month \\\n      --from {first} --to {last}\n  tally report --out report.html\n\n",
            key = self.key,
            kpi = NEXT_KPI,
            first = self.run.first_day,
            last = self.run.last_day,
        )
    }
}

/// The KPI `tally demo` suggests comparing influencers on.
const NEXT_KPI: &str = "engagement_rate_per_post";

fn show(value: &Value) -> String {
    match value {
        // As the analysts' tables show numbers: separators, and never "-0".
        Ok(v) => crate::client::format::plain(*v),
        Err(reason) => reason.as_str().to_string(),
    }
}

impl std::fmt::Display for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.seeded;
        writeln!(
            f,
            "Tally demo: tenant `{TENANT}` set up in {:.1} s",
            self.took.as_secs_f64()
        )?;
        writeln!(
            f,
            "  {} influencers, {} channels, {} segments, {} campaign with a giveaway, {} SMART goals",
            s.influencers, s.channels, s.segments, s.campaigns, s.goals
        )?;
        writeln!(
            f,
            "  backfill jobRuns/{}: {} for {} to {}, {} rows pulled",
            self.run.id,
            self.run.status,
            self.run.first_day,
            self.run.last_day,
            self.run.rows_pulled
        )?;
        writeln!(f, "  top influencers by returning buyers over those days:")?;
        writeln!(
            f,
            "    {:<10} {:>9} {:>17} {:>8}",
            "influencer", "returning", "first code buyers", "IPM"
        )?;
        for (id, returning, first, ipm) in &self.top {
            writeln!(
                f,
                "    {:<10} {:>9} {:>17} {:>8}",
                id,
                show(returning),
                show(first),
                show(ipm)
            )?;
        }
        writeln!(f, "  goals as of the last day:")?;
        let opt = |v: Option<f64>| {
            v.map(crate::client::format::plain)
                .unwrap_or_else(|| "-".into())
        };
        for GoalLine {
            id,
            kpi,
            scope,
            evaluation,
        } in &self.goals
        {
            match evaluation {
                Some(e) => writeln!(
                    f,
                    "    {id} ({kpi} on {scope}): {}, value {}, target {}, progress {}% of the {:.0}% expected: {}",
                    e.status.as_str().to_uppercase(),
                    opt(e.current),
                    opt(e.target),
                    e.progress
                        .map(|p| format!("{p:.0}"))
                        .unwrap_or_else(|| "-".into()),
                    e.expected_progress,
                    crate::client::format::numbers_in(&e.reason)
                )?,
                None => writeln!(f, "    {id} ({kpi} on {scope}): not started")?,
            }
        }
        writeln!(f, "  API key (shown once): {}", self.key)
    }
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
        assert_eq!(seeded.channels, 27);
        assert_eq!(seeded.segments, 2);
        assert_eq!(seeded.goals, 3);
        let tenant = store.authenticate(&key).await.unwrap().unwrap();
        assert_eq!(tenant.settings.time_zone, "Europe/Amsterdam");
        let anna = store.get_influencer(TENANT, "anna").await.unwrap();
        assert_eq!(anna.spec.discount_codes, ["ANNA10"]);
    }

    #[tokio::test]
    async fn the_demo_backfills_through_the_job_runner_and_summarises() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/demo.db", dir.path().display());
        Store::migrate(&url).await.unwrap();
        let store = Store::connect(&url, 2).await.unwrap();
        let jobs = Jobs::new(
            store.clone(),
            crate::engine::SnapshotFeed::default(),
            crate::connectors::demo::demo_registry(),
            crate::connectors::Credentials::default(),
            crate::jobs::JobSettings::default(),
        );
        let demo = run(&jobs, chrono::Utc::now(), 4).await.unwrap();
        assert_eq!(demo.run.status, "succeeded", "{:?}", demo.run.error);
        assert!(demo.run.rows_pulled > 0);
        assert_eq!((demo.run.last_day - demo.run.first_day).num_days(), 3);
        assert_eq!(demo.top.len(), 5);
        let returning: Vec<f64> = demo.top.iter().map(|t| t.1.unwrap_or(-1.0)).collect();
        assert!(returning.windows(2).all(|w| w[0] >= w[1]), "{returning:?}");
        assert_eq!(demo.goals.len(), 3);
        let text = demo.to_string();
        assert!(
            text.contains(&demo.key) && text.contains("young-adults-reach"),
            "{text}"
        );
        // It ends with what to try next, pointed at the server's loopback address.
        let next = demo.next_steps("0.0.0.0:50051".parse().unwrap());
        for line in [
            "export TALLY_ADDR=http://127.0.0.1:50051".to_string(),
            format!("export TALLY_API_KEY={}", demo.key),
            "tally goals".to_string(),
            format!("tally kpi query {NEXT_KPI} --scope-kind influencers --granularity month"),
            format!("--from {} --to {}", demo.run.first_day, demo.run.last_day),
            "tally report --out report.html".to_string(),
        ] {
            assert!(next.contains(&line), "{line} in {next}");
        }
        // Each backfilled day has its snapshots.
        let key = KpiKey {
            kpi: "followers".into(),
            scope: Scope::Influencer("anna".into()),
            segment: None,
        };
        let period = Period::new(demo.run.first_day, demo.run.last_day).unwrap();
        assert_eq!(
            store.snapshots(TENANT, &key, &period).await.unwrap().len(),
            4
        );
    }

    /// Issue 24: the demo plants no bought followers, yet the robust score alone flagged
    /// "40 followers against a median of 28" on it. Over the demo's 120-day history (what
    /// `tally demo` backfills, with no data before it, so the first windows are short),
    /// ending on the last day of each month from May 2026 to April 2027 and on 6 December
    /// 2026, no channel has an unusual follower jump without engagement under the default
    /// rule; without the share and floor the same days fire.
    #[tokio::test]
    async fn the_demo_has_no_unusual_follower_jump() {
        use crate::connectors::{Connector, Page, PageSink, PullRequest, SinkError, Source};
        use crate::kpi::anomaly::{DayStats, JumpRule, flags};
        use std::collections::HashMap;

        struct Collect(Vec<Page>);
        #[async_trait::async_trait]
        impl PageSink for Collect {
            async fn page(&mut self, page: Page, _: Option<String>) -> Result<(), SinkError> {
                self.0.push(page);
                Ok(())
            }
        }

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/demo.db", dir.path().display());
        Store::migrate(&url).await.unwrap();
        let store = Store::connect(&url, 2).await.unwrap();
        seed(&store, date(2026, 12, 7)).await.unwrap();
        let channels = store
            .list_channels(
                TENANT,
                &crate::storage::channels::OwnerFilter::Any,
                &crate::storage::PageRequest {
                    after: None,
                    limit: 100,
                },
            )
            .await
            .unwrap()
            .items;
        let mut ends: Vec<NaiveDate> = (5..=16u32)
            .map(|m| {
                let (y, m) = (2026 + (m as i32 - 1) / 12, (m - 1) % 12 + 1);
                date(y, m, 1)
                    .checked_add_months(chrono::Months::new(1))
                    .unwrap()
                    - chrono::Days::new(1)
            })
            .collect();
        ends.push(date(2026, 12, 6));
        let mut cache: HashMap<(String, NaiveDate), DayStats> = HashMap::new();
        let (mut flagged, mut unmaterial, mut channel_days) = (0, 0, 0);
        let anything = JumpRule {
            min_percent: 0.0,
            min_followers: 0,
            ..JumpRule::default()
        };
        for last in ends {
            let period = Period::new(last - chrono::Days::new(HISTORY_DAYS - 1), last).unwrap();
            for c in &channels {
                if matches!(c.spec.platform, Platform::Website | Platform::Shopify) {
                    continue;
                }
                let mut series = Vec::new();
                for day in period.iter_days() {
                    let key = (c.id.clone(), day);
                    if !cache.contains_key(&key) {
                        let request = PullRequest {
                            tenant: TENANT.into(),
                            source: Source {
                                channel_id: c.id.clone(),
                                platform: c.spec.platform,
                                account_id: c.spec.account_id.clone(),
                                credentials_ref: String::new(),
                            },
                            day,
                            time_zone: chrono_tz::Europe::Amsterdam,
                            currency: "EUR".into(),
                            latest: true,
                            previous_totals: None,
                            credential: None,
                            cursor: None,
                            customer_keys: CustomerKeySecret::development(),
                        };
                        let mut sink = Collect(Vec::new());
                        crate::connectors::demo::DemoSource
                            .pull(&request, &mut sink)
                            .await
                            .unwrap();
                        let s = &sink.0[0].channel_stats[0];
                        cache.insert(
                            key.clone(),
                            DayStats::new(day, s.followers, s.likes, s.comments, s.shares),
                        );
                    }
                    series.push(cache[&key]);
                }
                channel_days += series.len();
                flagged += flags(&series, &period, &JumpRule::default()).len();
                unmaterial += flags(&series, &period, &anything).len();
            }
        }
        eprintln!(
            "demo: {flagged} flags under the default rule, {unmaterial} without share and \
             floor, over {channel_days} channel-days"
        );
        assert_eq!(flagged, 0);
        assert!(unmaterial > 0, "the robust score alone fires on the demo");
    }
}
