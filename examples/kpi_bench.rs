//! KPI recompute benchmark (not a test): generates the standard data set S or M
//! deterministically through the public storage API, then times a one-day and a full-year
//! recompute with peak memory.
//!
//! ```text
//! cargo run --release --example kpi_bench -- --db sqlite:///tmp/bench-m.db --size M
//! cargo run --release --example kpi_bench -- --db postgres://postgres@127.0.0.1:5432/tally_bench --size M
//! ```
//!
//! Options: `--size S|M` (default S), `--skip-year` (only the one-day recompute),
//! `--reuse` (skip generation when the tenant `bench` exists), `--days N` (recompute the
//! first N days of 2026 instead of the full year, for an extrapolation), `--profile`
//! (time each KPI query and each KPI family of the one-day recompute; `--query-timeout S`
//! abandons a profiled query after S seconds, default 300), `--analyze` (a diagnostic: run
//! the database's `ANALYZE` before recomputing, which Tally itself never does, to show
//! what planner statistics change).
//!
//! Data set M: 1,000 influencers (one code `INF0001`... and one tracking pair each), 3,000
//! channels (5 the brand's), channel day stats for every channel and day of 2026,
//! 1,000,000 orders, 500,000 audience members, 2,000,000 interactions, web traffic for
//! every day of 2026, 20 campaigns of 10 participants with fees, 5 giveaways with 20,000
//! entries, 2 segments and two pushed metrics. S is 1/20 of M (the same 20 campaigns).
//! Every value comes from seeded `StdRng`s: the same data on every run and machine.
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::ConnectionTrait;
use std::collections::HashMap;
use std::error::Error;
use std::time::{Duration, Instant};
use tally::domain::campaign::{Campaign, Giveaway, Money, Participant};
use tally::domain::channel::{Channel, Platform};
use tally::domain::goal::Scope;
use tally::domain::influencer::{Influencer, TrackingValue};
use tally::domain::observation::{
    AudienceMember, ChannelDayStats, GiveawayEntry, Interaction, InteractionKind, MemberAttributes,
    MetricPoint, Order, WebTraffic, customer_key, entrant_key, local_day,
};
use tally::domain::segment::Segment;
use tally::domain::tenant::{Tenant, TenantSettings};
use tally::engine::{Engine, SnapshotFeed};
use tally::kpi::KpiKey;
use tally::kpi::period::Period;
use tally::storage::{StorageError, Store};

type BoxResult<T> = Result<T, Box<dyn Error>>;

const TENANT: &str = "bench";
const TIME_ZONE: &str = "Europe/Amsterdam";
const YEAR: i32 = 2026;
/// Rows per upsert call; each call is one transaction.
const CHUNK: usize = 5_000;
const SEGMENTS: [(&str, &str, &str); 2] = [
    (
        "designers",
        "Design lovers",
        "bio contains \"design\" and followers >= 1000",
    ),
    ("age-25-34", "Aged 25 to 34", "age between 25 and 34"),
];
const INFLUENCER_PLATFORMS: [Platform; 6] = [
    Platform::Instagram,
    Platform::TikTok,
    Platform::YouTube,
    Platform::X,
    Platform::Facebook,
    Platform::Blog,
];
const BRAND_PLATFORMS: [Platform; 5] = [
    Platform::Instagram,
    Platform::TikTok,
    Platform::YouTube,
    Platform::Facebook,
    Platform::Website,
];
const TAGS: [&str; 8] = [
    "fashion", "food", "design", "fitness", "travel", "tech", "beauty", "gaming",
];
const BIOS: [&str; 10] = [
    "Interior design lover",
    "Graphic Designer | coffee",
    "mum of two, loves travel",
    "runner. baker. dreamer.",
    "tech & gadgets",
    "Fashion student",
    "UX Design @ studio",
    "food blogger",
    "photography and hiking",
    "just here for the giveaways",
];
const COUNTRIES: [&str; 6] = ["NL", "BE", "DE", "FR", "GB", "US"];

/// The size of a data set.
#[derive(Clone, Copy, Debug)]
struct Size {
    name: &'static str,
    influencers: usize,
    /// All channels, the brand's included.
    channels: usize,
    orders: usize,
    audience: usize,
    interactions: usize,
    giveaway_entries: usize,
    campaigns: usize,
    participants: usize,
    giveaways: usize,
    /// Chance that an influencer's tracking values bring web traffic on a day.
    web_share: f64,
}

const SIZE_M: Size = Size {
    name: "M",
    influencers: 1_000,
    channels: 3_000,
    orders: 1_000_000,
    audience: 500_000,
    interactions: 2_000_000,
    giveaway_entries: 20_000,
    campaigns: 20,
    participants: 10,
    giveaways: 5,
    web_share: 0.25,
};

const SIZE_S: Size = Size {
    name: "S",
    influencers: 50,
    channels: 150,
    orders: 50_000,
    audience: 25_000,
    interactions: 100_000,
    giveaway_entries: 1_000,
    campaigns: 20,
    participants: 10,
    giveaways: 5,
    web_share: 0.25,
};

struct Args {
    db: String,
    size: Size,
    skip_year: bool,
    reuse: bool,
    days: Option<u64>,
    profile: bool,
    analyze: bool,
    query_timeout: Duration,
}

fn parse_args() -> BoxResult<Args> {
    let mut args = Args {
        db: String::new(),
        size: SIZE_S,
        skip_year: false,
        reuse: false,
        days: None,
        profile: false,
        analyze: false,
        query_timeout: Duration::from_secs(300),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--db" => args.db = it.next().ok_or("--db needs a URL")?,
            "--size" => {
                args.size = match it.next().as_deref() {
                    Some("S" | "s") => SIZE_S,
                    Some("M" | "m") => SIZE_M,
                    other => return Err(format!("--size must be S or M, not {other:?}").into()),
                }
            }
            "--skip-year" => args.skip_year = true,
            "--reuse" => args.reuse = true,
            "--profile" => args.profile = true,
            "--analyze" => args.analyze = true,
            "--query-timeout" => {
                let s: u64 = it.next().ok_or("--query-timeout needs seconds")?.parse()?;
                args.query_timeout = Duration::from_secs(s);
            }
            "--days" => {
                args.days = Some(it.next().ok_or("--days needs a number")?.parse()?);
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; see the top of examples/kpi_bench.rs"
                )
                .into());
            }
        }
    }
    if args.db.is_empty() {
        return Err("--db URL is required (sqlite:///tmp/bench.db or postgres://...)".into());
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------
// Memory

/// A memory figure of `/proc/self/status` in kB, such as `VmHWM`.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The process's peak resident set size in kB (VmHWM).
fn peak_rss_kb() -> Option<u64> {
    status_kb("VmHWM")
}

/// Current resident set size in kB (VmRSS).
fn rss_kb() -> Option<u64> {
    status_kb("VmRSS")
}

/// Current anonymous resident memory in kB (RssAnon): the process's own memory, without
/// the pages of the SQLite file it maps (which VmRSS counts, and the kernel can drop).
fn rss_anon_kb() -> Option<u64> {
    status_kb("RssAnon")
}

/// Samples RssAnon every 20 ms on its own thread until stopped; the kernel keeps no peak
/// of it.
struct AnonPeak {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Option<u64>>,
}

impl AnonPeak {
    fn start() -> AnonPeak {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = rss_anon_kb();
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_anon_kb());
                std::thread::sleep(Duration::from_millis(20));
            }
            peak.max(rss_anon_kb())
        });
        AnonPeak { stop, thread }
    }

    fn finish(self) -> Option<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().ok().flatten()
    }
}

/// Resets VmHWM to the current RSS (Linux: `5` to clear_refs), so the next reading is the
/// peak of one phase. False when the kernel refuses.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mb(kb: Option<u64>) -> String {
    kb.map(|k| format!("{:.1} MB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

// ---------------------------------------------------------------------------------------
// Generation

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn year() -> Period {
    Period::new(date(YEAR, 1, 1), date(YEAR, 12, 31)).expect("a year")
}

fn rng(table: u64) -> StdRng {
    StdRng::seed_from_u64(0x7a11_0000 + table)
}

fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp()
}

/// Index in `0..n`, skewed towards low indexes (popular channels, loyal customers).
fn skewed(rng: &mut StdRng, n: usize) -> usize {
    let u: f64 = rng.random();
    ((u * u * n as f64) as usize).min(n - 1)
}

struct InfluencerInfo {
    id: String,
    code: String,
    utm_source: String,
    /// Empty for a source-only pair.
    utm_campaign: String,
}

impl InfluencerInfo {
    /// utm_campaign of traffic that matches the influencer's pair.
    fn traffic_campaign(&self, rng: &mut StdRng) -> String {
        if self.utm_campaign.is_empty() {
            ["story", "reel", "bio-link"][rng.random_range(0..3)].to_string()
        } else {
            self.utm_campaign.clone()
        }
    }
}

struct ChannelInfo {
    id: String,
    platform: Platform,
    brand: bool,
}

struct World {
    influencers: Vec<InfluencerInfo>,
    channels: Vec<ChannelInfo>,
    /// Local midnight of 1 January and of the next 1 January, as Unix seconds.
    start: i64,
    end: i64,
    tz: chrono_tz::Tz,
}

impl World {
    fn new(size: Size) -> World {
        let tz: chrono_tz::Tz = TIME_ZONE.parse().expect("zone");
        let local = |y| {
            tz.with_ymd_and_hms(y, 1, 1, 0, 0, 0)
                .single()
                .expect("unambiguous")
                .timestamp()
        };
        let influencers = (0..size.influencers)
            .map(|i| {
                let id = format!("inf{:04}", i + 1);
                // A third source-only pairs, the rest a platform with the influencer's
                // campaign name: both kinds of tracking pair are exercised.
                let (utm_source, utm_campaign) = if i % 3 == 0 {
                    (id.clone(), String::new())
                } else {
                    (
                        ["instagram", "tiktok", "youtube"][i % 3].to_string(),
                        id.clone(),
                    )
                };
                InfluencerInfo {
                    code: format!("INF{:04}", i + 1),
                    id,
                    utm_source,
                    utm_campaign,
                }
            })
            .collect::<Vec<_>>();
        let mut channels = Vec::new();
        for p in BRAND_PLATFORMS {
            channels.push(ChannelInfo {
                id: format!("brand-{}", p.as_str()),
                platform: p,
                brand: true,
            });
        }
        let per = size.channels - BRAND_PLATFORMS.len();
        let (base, extra) = (per / size.influencers, per % size.influencers);
        for (i, inf) in influencers.iter().enumerate() {
            let n = base + usize::from(i < extra);
            for k in 0..n {
                let p = INFLUENCER_PLATFORMS[(i + k) % INFLUENCER_PLATFORMS.len()];
                channels.push(ChannelInfo {
                    id: format!("{}-{}", inf.id, p.as_str()),
                    platform: p,
                    brand: false,
                });
            }
        }
        World {
            influencers,
            channels,
            start: local(YEAR),
            end: local(YEAR + 1),
            tz,
        }
    }

    fn instant(&self, rng: &mut StdRng) -> DateTime<Utc> {
        let s = rng.random_range(self.start..self.end);
        DateTime::from_timestamp(s, 0).expect("in range")
    }

    fn instant_in(&self, rng: &mut StdRng, window: Period) -> DateTime<Utc> {
        let day0 = (window.first - date(YEAR, 1, 1)).num_days();
        let s = self.start + day0 * 86_400 + rng.random_range(0..window.days() * 86_400);
        DateTime::from_timestamp(s, 0).expect("in range")
    }

    fn day(&self, instant: DateTime<Utc>) -> NaiveDate {
        local_day(instant, self.tz)
    }
}

/// Rows written per table, for the report.
#[derive(Default)]
struct Counts(Vec<(&'static str, usize, Duration)>);

struct Timer {
    name: &'static str,
    start: Instant,
    rows: usize,
}

impl Timer {
    fn new(name: &'static str) -> Timer {
        eprintln!("generating {name} ...");
        Timer {
            name,
            start: Instant::now(),
            rows: 0,
        }
    }

    fn done(self, counts: &mut Counts) {
        let t = self.start.elapsed();
        eprintln!(
            "  {:>9} {} in {:.1} s ({:.0} rows/s)",
            self.rows,
            self.name,
            t.as_secs_f64(),
            self.rows as f64 / t.as_secs_f64().max(1e-9)
        );
        counts.0.push((self.name, self.rows, t));
    }
}

/// Upserts a full buffer (or the rest, when `last`) with one storage call.
macro_rules! flush {
    ($store:expr, $call:ident, $buf:expr, $timer:expr, $last:expr) => {
        if $buf.len() >= CHUNK || ($last && !$buf.is_empty()) {
            $store.$call(TENANT, &$buf).await?;
            $timer.rows += $buf.len();
            $buf.clear();
        }
    };
}

async fn generate(store: &Store, size: Size, world: &World) -> BoxResult<Counts> {
    let mut counts = Counts::default();
    let mut settings = TenantSettings {
        time_zone: TIME_ZONE.into(),
        currency: "EUR".into(),
        ..TenantSettings::default()
    };
    settings.validate()?;
    store
        .create_tenant(&Tenant {
            id: TENANT.into(),
            display_name: format!("Benchmark data set {}", size.name),
            settings,
        })
        .await?;

    // Structure: influencers, channels, segments, campaigns.
    let mut t = Timer::new("influencers");
    let mut r = rng(1);
    for inf in &world.influencers {
        let mut spec = Influencer {
            display_name: format!("Creator {}", &inf.id[3..]),
            tags: vec![TAGS[r.random_range(0..TAGS.len())].to_string()],
            discount_codes: vec![inf.code.clone()],
            tracking_values: vec![TrackingValue {
                utm_source: inf.utm_source.clone(),
                utm_campaign: inf.utm_campaign.clone(),
            }],
        };
        spec.validate()?;
        store
            .create_influencer(TENANT, &inf.id, &spec, None)
            .await?;
        t.rows += 1;
    }
    t.done(&mut counts);

    let mut t = Timer::new("channels");
    for ch in &world.channels {
        let owner = (!ch.brand).then(|| ch.id.split('-').next().unwrap_or_default().to_string());
        let mut spec = Channel {
            display_name: ch.id.clone(),
            platform: ch.platform,
            owner,
            // A YouTube account is a channel id or an @handle (CreateChannel checks it).
            account_id: if ch.platform == Platform::YouTube {
                format!("@{}", ch.id)
            } else {
                format!("acct-{}", ch.id)
            },
            credentials_ref: format!("{}_TOKEN", ch.platform.as_str().to_uppercase()),
        };
        spec.validate()?;
        store.create_channel(TENANT, &ch.id, &spec, None).await?;
        t.rows += 1;
    }
    t.done(&mut counts);

    for (id, name, rule) in SEGMENTS {
        let spec = Segment {
            display_name: name.into(),
            rule: rule.into(),
        };
        spec.validate()?;
        store.create_segment(TENANT, id, &spec, None).await?;
    }

    let mut t = Timer::new("campaigns");
    let mut r = rng(2);
    let mut giveaway_windows: Vec<(String, Period)> = Vec::new();
    for k in 0..size.campaigns {
        let start = date(YEAR, 1, 5) + Days::new(17 * k as u64);
        let end = start + Days::new(27 + 14 * (k as u64 % 3));
        let mut chosen: Vec<usize> = Vec::new();
        while chosen.len() < size.participants.min(size.influencers) {
            let i = r.random_range(0..size.influencers);
            if !chosen.contains(&i) {
                chosen.push(i);
            }
        }
        let giveaways =
            if k * size.giveaways / size.campaigns != (k + 1) * size.giveaways / size.campaigns {
                let id = format!("gw-{:02}", k + 1);
                giveaway_windows.push((id.clone(), Period::new(start, end).expect("window")));
                vec![Giveaway {
                    id,
                    display_name: format!("Giveaway of campaign {}", k + 1),
                    host: Some(world.influencers[chosen[0]].id.clone()),
                }]
            } else {
                vec![]
            };
        let mut spec = Campaign {
            display_name: format!("Campaign {}", k + 1),
            start_date: start,
            end_date: end,
            participants: chosen
                .iter()
                .map(|&i| Participant {
                    influencer_id: world.influencers[i].id.clone(),
                    fee: Money {
                        currency: "EUR".into(),
                        minor_units: r.random_range(50_000..500_000),
                    },
                })
                .collect(),
            giveaways,
        };
        spec.validate("EUR")?;
        store
            .create_campaign(TENANT, &format!("campaign-{:02}", k + 1), &spec, None)
            .await?;
        t.rows += 1;
    }
    t.done(&mut counts);

    // Channel day stats: followers rising day by day, platform-specific NULL fields.
    let mut t = Timer::new("channel day stats");
    let mut r = rng(3);
    let mut buf = Vec::with_capacity(CHUNK);
    for ch in &world.channels {
        let mut followers = if ch.brand {
            log_uniform(&mut r, 50_000.0, 2_000_000.0)
        } else {
            log_uniform(&mut r, 1_000.0, 500_000.0)
        };
        let p = ch.platform;
        for day in year().iter_days() {
            followers *= 1.0 + r.random_range(-0.0005..0.003);
            let f = followers.round() as i64;
            let posts = match r.random_range(0..10) {
                0..6 => 0,
                6..9 => 1,
                _ => 2,
            } + i64::from(ch.brand);
            let engaged = f as f64 * (0.001 + 0.02 * posts as f64) * r.random_range(0.5..1.5);
            let likes = engaged.round() as i64;
            buf.push(ChannelDayStats {
                channel_id: ch.id.clone(),
                day,
                // A missed reading now and then: no follower reading that day.
                followers: (p == Platform::Blog || r.random_range(0..100) != 0).then_some(f),
                posts: Some(posts),
                mentions: (!matches!(p, Platform::YouTube | Platform::Blog))
                    .then(|| r.random_range(0..(f / 5_000 + 3))),
                shares: (p != Platform::Blog).then_some(likes / 50),
                comments: Some(likes / 20),
                likes: (p != Platform::Blog).then_some(likes),
                link_clicks: (p != Platform::X).then_some(likes / 40),
                views: (p != Platform::Facebook).then_some(likes * 12),
                reach: Some(likes * 8),
            });
            flush!(store, upsert_channel_stats, buf, t, false);
        }
    }
    flush!(store, upsert_channel_stats, buf, t, true);
    t.done(&mut counts);

    // Web traffic: per day, the brand's usual sources, influencer tracking values (mostly
    // Organic Social) and first-party rows with age and country.
    let mut t = Timer::new("web traffic");
    let mut r = rng(4);
    let mut buf = Vec::with_capacity(CHUNK);
    let row = |source: &str, medium: &str, campaign: &str, group: &str, users: i64| {
        (
            source.to_string(),
            medium.to_string(),
            campaign.to_string(),
            group.to_string(),
            users,
        )
    };
    for day in year().iter_days() {
        let mut rows = vec![
            row("google", "organic", "", "Organic Search", 3_000),
            row("(direct)", "(none)", "", "Direct", 1_500),
            row("newsletter", "email", "weekly", "Email", 400),
            row("facebook", "paid", "brand-awareness", "Paid Social", 600),
            row("instagram", "social", "", "Organic Social", 800),
            row("google", "cpc", "brand", "Paid Search", 700),
        ];
        for inf in &world.influencers {
            if r.random_bool(size.web_share) {
                let group = if r.random_range(0..10) == 0 {
                    "Referral"
                } else {
                    "Organic Social"
                };
                let campaign = inf.traffic_campaign(&mut r);
                rows.push(row(&inf.utm_source, "social", &campaign, group, 60));
            }
        }
        for (source, medium, campaign, group, scale) in rows {
            let users = (scale as f64 * r.random_range(0.3..1.7)).round() as i64;
            buf.push(WebTraffic {
                day,
                source,
                medium,
                campaign,
                channel_group: group,
                age_bracket: None,
                age: None,
                country: None,
                is_customer: None,
                sessions: users + users / 4,
                users,
                new_users: users * r.random_range(2..9) / 10,
            });
        }
        // First-party rows: exact ages and countries for some direct and influencer
        // traffic; a few in brackets only (no age).
        for _ in 0..20 {
            let users = r.random_range(1..80);
            let from_influencer = r.random_bool(0.5);
            let (source, campaign, group) = if from_influencer {
                let inf = &world.influencers[r.random_range(0..world.influencers.len())];
                (
                    inf.utm_source.clone(),
                    inf.traffic_campaign(&mut r),
                    "Organic Social",
                )
            } else {
                ("(direct)".to_string(), String::new(), "Direct")
            };
            let bracket = r.random_range(0..5) == 0;
            buf.push(WebTraffic {
                day,
                source,
                medium: "social".into(),
                campaign,
                channel_group: group.into(),
                age_bracket: bracket.then(|| "25-34".to_string()),
                age: (!bracket).then(|| r.random_range(16..70)),
                country: Some(COUNTRIES[r.random_range(0..COUNTRIES.len())].to_string()),
                is_customer: Some(r.random_bool(0.3)),
                sessions: users + 1,
                users,
                new_users: users / 2,
            });
        }
        flush!(store, upsert_web_traffic, buf, t, false);
    }
    flush!(store, upsert_web_traffic, buf, t, true);
    t.done(&mut counts);

    // Orders: a third as many customers as orders, skewed so that some buy often; 10%
    // with an influencer code, 5% with an influencer's tracking values, some guests.
    let mut t = Timer::new("orders");
    let mut r = rng(5);
    let mut buf = Vec::with_capacity(CHUNK);
    let customers = size.orders / 3;
    let secret = tally::domain::observation::CustomerKeySecret::development();
    for i in 0..size.orders {
        let placed_at = world.instant(&mut r);
        let kind = r.random_range(0..100);
        let key = match kind {
            0 => None,
            1..6 => customer_key(
                "",
                &format!("Guest{}@Example.com", r.random_range(0..customers / 10 + 1)),
                &secret,
            ),
            _ => customer_key(&format!("cust-{}", skewed(&mut r, customers)), "", &secret),
        };
        let revenue = r.random_range(500..20_500);
        let mut codes = Vec::new();
        let mut discount = 0;
        if r.random_range(0..10) == 0 {
            if r.random_range(0..10) == 0 {
                codes.push("WELCOME".to_string());
            }
            codes.push(
                world.influencers[r.random_range(0..world.influencers.len())]
                    .code
                    .clone(),
            );
            discount = revenue / 10;
        } else if r.random_range(0..30) == 0 {
            codes.push("WELCOME".to_string());
            discount = 500;
        }
        let (utm_source, utm_medium, utm_campaign) = match r.random_range(0..100) {
            0..5 => {
                let inf = &world.influencers[r.random_range(0..world.influencers.len())];
                (
                    inf.utm_source.clone(),
                    "social".into(),
                    inf.traffic_campaign(&mut r),
                )
            }
            5..30 => ("google".into(), "cpc".into(), "brand".into()),
            30..40 => ("newsletter".into(), "email".into(), "weekly".into()),
            _ => (String::new(), String::new(), String::new()),
        };
        buf.push(Order {
            order_id: format!("o{i:08}"),
            customer_key: key,
            placed_at,
            day: world.day(placed_at),
            revenue_minor: revenue,
            cost_minor: revenue * 2 / 5,
            discount_minor: discount,
            currency: "EUR".into(),
            codes,
            utm_source,
            utm_medium,
            utm_campaign,
        });
        flush!(store, upsert_orders, buf, t, false);
    }
    flush!(store, upsert_orders, buf, t, true);
    t.done(&mut counts);

    // Audience members: accounts following one or two channels, with bios, ages and
    // countries; a tenth linked to a shop customer.
    let mut t = Timer::new("audience members");
    let mut r = rng(6);
    let mut buf = Vec::with_capacity(CHUNK);
    let n_ch = world.channels.len();
    let mut i = 0;
    let mut account = 0;
    while i < size.audience {
        let follows = if r.random_bool(0.5) { 2 } else { 1 };
        let attributes = member_attributes(&mut r);
        let customer_id =
            (r.random_range(0..10) == 0).then(|| format!("cust-{}", skewed(&mut r, customers)));
        let mut first = usize::MAX;
        for _ in 0..follows.min(size.audience - i) {
            let mut c = skewed(&mut r, n_ch);
            if c == first {
                c = (c + 1) % n_ch;
            }
            first = c;
            let ch = &world.channels[c];
            let first_seen = if r.random_bool(0.5) {
                date(YEAR - 1, 6, 1) + Days::new(r.random_range(0..214))
            } else {
                date(YEAR, 1, 1) + Days::new(r.random_range(0..365))
            };
            let last_seen = (r.random_range(0..10) == 0)
                .then(|| first_seen + Days::new(r.random_range(1..200)));
            buf.push(AudienceMember {
                platform: ch.platform,
                account_id: format!("fan{account}"),
                channel_id: ch.id.clone(),
                attributes: attributes.clone(),
                customer_id: customer_id.clone(),
                first_seen,
                last_seen,
            });
            i += 1;
            flush!(store, upsert_audience_members, buf, t, false);
        }
        account += 1;
    }
    flush!(store, upsert_audience_members, buf, t, true);
    t.done(&mut counts);

    // Interactions over the year: likes, comments, shares and mentions with the
    // attributes recorded at the time.
    let mut t = Timer::new("interactions");
    let mut r = rng(7);
    let mut buf = Vec::with_capacity(CHUNK);
    for i in 0..size.interactions {
        let ch = &world.channels[skewed(&mut r, n_ch)];
        let kind = match r.random_range(0..100) {
            0..60 => InteractionKind::Like,
            60..80 => InteractionKind::Comment,
            80..92 => InteractionKind::Share,
            _ => InteractionKind::Mention,
        };
        let occurred_at = world.instant(&mut r);
        let mut attributes = member_attributes(&mut r);
        attributes.is_customer = Some(r.random_range(0..10) == 0);
        buf.push(Interaction {
            channel_id: ch.id.clone(),
            interaction_id: format!("x{i:08}"),
            kind,
            platform: ch.platform,
            account_id: format!("fan{}", r.random_range(0..size.audience)),
            occurred_at,
            day: world.day(occurred_at),
            attributes,
        });
        flush!(store, upsert_interactions, buf, t, false);
    }
    flush!(store, upsert_interactions, buf, t, true);
    t.done(&mut counts);

    // Giveaway entries within their campaign's window; some entrants enter twice.
    let mut t = Timer::new("giveaway entries");
    let mut r = rng(8);
    let mut buf = Vec::with_capacity(CHUNK);
    let secret = tally::domain::observation::CustomerKeySecret::development();
    for _ in 0..size.giveaway_entries {
        let (id, window) = &giveaway_windows[r.random_range(0..giveaway_windows.len())];
        let entrant = r.random_range(0..size.giveaway_entries * 4 / 5);
        let entrant = if entrant % 3 == 0 {
            entrant_key(&format!("entrant{entrant}@example.com"), &secret)
        } else {
            entrant_key(&format!("fan{entrant}"), &secret)
        };
        let entered_at = world.instant_in(&mut r, *window);
        buf.push(GiveawayEntry {
            giveaway_id: id.clone(),
            entrant_key: entrant,
            entered_at,
            day: world.day(entered_at),
        });
        flush!(store, upsert_giveaway_entries, buf, t, false);
    }
    flush!(store, upsert_giveaway_entries, buf, t, true);
    t.done(&mut counts);

    // Pushed metrics measured elsewhere: brand searches and newsletter sign-ups per day.
    let mut t = Timer::new("metric points");
    let mut r = rng(9);
    let mut buf = Vec::with_capacity(CHUNK);
    for (n, day) in year().iter_days().enumerate() {
        for (key, base) in [("brand_searches", 2_000.0), ("newsletter_signups", 40.0)] {
            buf.push(MetricPoint {
                key: key.into(),
                scope: Scope::Tenant,
                day,
                value: (base * (1.0 + n as f64 / 365.0) * r.random_range(0.8..1.2)).round(),
            });
        }
    }
    flush!(store, upsert_metric_points, buf, t, true);
    t.done(&mut counts);
    Ok(counts)
}

fn member_attributes(r: &mut StdRng) -> MemberAttributes {
    MemberAttributes {
        bio: (r.random_range(0..10) != 0).then(|| BIOS[r.random_range(0..BIOS.len())].to_string()),
        followers: (r.random_range(0..20) != 0).then(|| log_uniform(r, 10.0, 100_000.0) as i64),
        influence_score: Some((r.random::<f64>() * 1000.0).round() / 10.0),
        age: (r.random_range(0..5) != 0).then(|| r.random_range(16..70)),
        country: (r.random_range(0..10) != 0)
            .then(|| COUNTRIES[r.random_range(0..COUNTRIES.len())].to_string()),
        is_customer: None,
    }
}

// ---------------------------------------------------------------------------------------
// Benchmark

struct Run {
    label: String,
    wall: Duration,
    days: u32,
    snapshots: u64,
    peak_kb: Option<u64>,
    peak_anon_kb: Option<u64>,
}

/// Times `tally::engine::recompute` over `period`, printing progress every 10 days when
/// `progress` is set (from the snapshot feed, which recompute publishes each day to).
async fn timed_recompute(
    store: &Store,
    period: Period,
    label: &str,
    progress: bool,
) -> BoxResult<Run> {
    let reset = reset_peak();
    let feed = SnapshotFeed::default();
    let watcher = progress.then(|| {
        let mut rx = feed.subscribe();
        let total = period.days();
        let started = Instant::now();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            let mut days = 0i64;
            loop {
                match rx.recv().await {
                    Ok(_) => days += 1,
                    Err(RecvError::Lagged(n)) => days += n as i64,
                    Err(RecvError::Closed) => break,
                }
                if days % 10 == 0 || days == total {
                    let s = started.elapsed().as_secs_f64();
                    eprintln!(
                        "  {days}/{total} days in {s:.1} s ({:.2} s/day, rss {})",
                        s / days as f64,
                        mb(rss_kb())
                    );
                }
            }
        })
    });
    eprintln!("recomputing {label} {period} ...");
    let anon = AnonPeak::start();
    let start = Instant::now();
    let summary = tally::engine::recompute(store, &feed, TENANT, period, "run-bench").await?;
    let wall = start.elapsed();
    drop(feed);
    if let Some(w) = watcher {
        let _ = w.await;
    }
    let peak_kb = if reset { peak_rss_kb() } else { None };
    let peak_anon_kb = anon.finish();
    eprintln!(
        "  {label}: {:.2} s, {} days, {} snapshots, peak RSS during the run {} (anonymous {})",
        wall.as_secs_f64(),
        summary.days,
        summary.snapshots,
        mb(peak_kb),
        mb(peak_anon_kb)
    );
    Ok(Run {
        label: label.into(),
        wall,
        days: summary.days,
        snapshots: summary.snapshots,
        peak_kb,
        peak_anon_kb,
    })
}

fn scope_kind(scope: &Scope) -> &'static str {
    match scope {
        Scope::Tenant => "tenant",
        Scope::Influencer(_) => "influencer",
        Scope::Campaign(_) => "campaign",
        Scope::Channel(_) => "channel",
    }
}

async fn time<T, F: std::future::Future<Output = Result<T, StorageError>>>(
    label: &str,
    f: F,
) -> BoxResult<T> {
    let start = Instant::now();
    let out = f.await?;
    eprintln!("  {:<58} {:>9.3} s", label, start.elapsed().as_secs_f64());
    Ok(out)
}

/// Like [`time`], but gives up after `limit` and returns None. The database may go on
/// working on an abandoned query (an SQLite statement is not interrupted when its future
/// is dropped), so the profile skips further queries of the same kind after a timeout.
async fn time_bounded<T, F: std::future::Future<Output = Result<T, StorageError>>>(
    label: &str,
    limit: Duration,
    f: F,
) -> BoxResult<Option<T>> {
    let start = Instant::now();
    match tokio::time::timeout(limit, f).await {
        Ok(out) => {
            let out = out?;
            eprintln!("  {:<58} {:>9.3} s", label, start.elapsed().as_secs_f64());
            Ok(Some(out))
        }
        Err(_) => {
            eprintln!("  {:<58} > {:.0} s, abandoned", label, limit.as_secs_f64());
            Ok(None)
        }
    }
}

/// Where the time of a one-day recompute goes: each KPI query alone, the engine cold
/// (queries and math) and warm (math only, parts cached), the snapshot write, and the
/// cold cost of each KPI family on each scope kind. Queries that exceed `limit` are
/// abandoned; then the engine timings are skipped and the result is false.
async fn profile(store: &Store, day: NaiveDate, limit: Duration) -> BoxResult<bool> {
    let p = Period::day(day);
    let before = day.pred_opt().expect("a day before");
    eprintln!("profile of the one-day recompute of {day}:");
    eprintln!("storage queries, each alone:");
    time("channel_sums(day)", store.channel_sums(TENANT, &p)).await?;
    time("followers_on(day)", store.followers_on(TENANT, day)).await?;
    time(
        "followers_on(day before)",
        store.followers_on(TENANT, before),
    )
    .await?;
    time("has_web_traffic(day)", store.has_web_traffic(TENANT, &p)).await?;
    time(
        "web_groups(day, no segment)",
        store.web_groups(TENANT, &p, None),
    )
    .await?;
    time(
        "giveaway_first_entries(day)",
        store.giveaway_first_entries(TENANT, &p),
    )
    .await?;
    time("metric_sums(day)", store.metric_sums(TENANT, &p)).await?;
    let mut orders = 0u64;
    let orders_done = time_bounded(
        "for_each_order(day)",
        limit,
        store.for_each_order(TENANT, &p, |_| orders += 1),
    )
    .await?
    .is_some();
    eprintln!("    ({orders} orders streamed)");
    let first_orders = time(
        "linked_customer_first_orders",
        store.linked_customer_first_orders(TENANT),
    )
    .await?;
    let mut members = 0u64;
    time(
        "for_each_following_member(day)",
        store.for_each_following_member(
            TENANT,
            &p,
            &tally::domain::segment_rule::Attribute::ALL,
            |_| members += 1,
        ),
    )
    .await?;
    eprintln!(
        "    ({members} member rows streamed, {} linked customers)",
        first_orders.len()
    );
    for (name, _, text) in SEGMENTS {
        let rule = tally::domain::segment_rule::parse(text)?;
        time(
            &format!("interaction_counts(day, {name})"),
            store.interaction_counts(TENANT, &p, &rule),
        )
        .await?;
        time(
            &format!("web_groups(day, {name})"),
            store.web_groups(TENANT, &p, Some(&rule)),
        )
        .await?;
    }
    if !orders_done {
        eprintln!(
            "a query was abandoned: the engine timings are skipped (the database may still be busy with it)"
        );
        return Ok(false);
    }

    eprintln!("engine:");
    let mut engine = time("Engine::new", Engine::new(store, TENANT)).await?;
    let metric_keys = store.metric_keys(TENANT).await?;
    let keys = engine.daily_keys(&metric_keys);
    let mut per_kind: HashMap<&str, usize> = HashMap::new();
    for k in &keys {
        *per_kind.entry(scope_kind(&k.scope)).or_default() += 1;
    }
    let mut kinds: Vec<_> = per_kind.into_iter().collect();
    kinds.sort();
    eprintln!("  {} keys a day: {kinds:?}", keys.len());
    let values = time(
        "compute, all keys, cold (queries + math)",
        engine.compute(&keys, p),
    )
    .await?;
    time(
        "compute, all keys, warm (math only, parts cached)",
        engine.compute(&keys, p),
    )
    .await?;
    // Emptied first, untimed: the write alone, as the first run over a day does it.
    store.replace_day(TENANT, day, None, &[], "profile").await?;
    time(
        "replace_day into an empty day (insert only)",
        store.replace_day(TENANT, day, None, &values, "profile"),
    )
    .await?;
    time(
        "replace_day over a written day (delete + insert)",
        store.replace_day(TENANT, day, None, &values, "profile"),
    )
    .await?;

    eprintln!("each KPI family on each scope kind, cold (top 25 of the sum):");
    let mut groups: Vec<((String, &str), Vec<KpiKey>)> = Vec::new();
    for k in keys {
        let g = (k.kpi.clone(), scope_kind(&k.scope));
        match groups.iter_mut().find(|(key, _)| *key == g) {
            Some((_, v)) => v.push(k),
            None => groups.push((g, vec![k])),
        }
    }
    let mut timings = Vec::new();
    for ((kpi, kind), keys) in &groups {
        engine.clear_cache();
        let start = Instant::now();
        engine.compute(keys, p).await?;
        timings.push((start.elapsed(), kpi.clone(), *kind, keys.len()));
    }
    let total: Duration = timings.iter().map(|t| t.0).sum();
    timings.sort_by_key(|t| std::cmp::Reverse(t.0));
    for (t, kpi, kind, n) in timings.iter().take(25) {
        eprintln!(
            "  {:<30} {:<10} {:>6} keys {:>9.3} s",
            kpi,
            kind,
            n,
            t.as_secs_f64()
        );
    }
    eprintln!(
        "  sum over all {} groups: {:.3} s",
        timings.len(),
        total.as_secs_f64()
    );
    Ok(true)
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let args = parse_args()?;
    let size = args.size;
    let backend = if args.db.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    eprintln!(
        "kpi_bench: data set {} on {backend} ({})",
        size.name, args.db
    );
    Store::migrate(&args.db).await?;
    let store = Store::connect(&args.db, 4).await?;

    let exists = match store.get_tenant(TENANT).await {
        Ok(_) => true,
        Err(StorageError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    let world = World::new(size);
    let mut generation = None;
    if exists && args.reuse {
        eprintln!("tenant `{TENANT}` exists: reusing its data (--reuse)");
    } else if exists {
        return Err(format!(
            "tenant `{TENANT}` already exists in {}: pass --reuse, or use a fresh database",
            args.db
        )
        .into());
    } else {
        let reset = reset_peak();
        let start = Instant::now();
        let counts = generate(&store, size, &world).await?;
        let wall = start.elapsed();
        let peak = if reset { peak_rss_kb() } else { None };
        eprintln!(
            "generated data set {} in {:.1} s, peak RSS {}",
            size.name,
            wall.as_secs_f64(),
            mb(peak)
        );
        generation = Some((counts, wall, peak));
    }

    let day = date(YEAR, 6, 30);
    if args.analyze {
        time("ANALYZE (--analyze: planner statistics)", async {
            store
                .connection()
                .execute_unprepared("ANALYZE")
                .await
                .map(|_| ())
                .map_err(StorageError::from)
        })
        .await?;
    }
    if args.profile && !profile(&store, day, args.query_timeout).await? {
        // An abandoned query may still occupy the database: timings from here on would
        // not be the recompute's alone.
        eprintln!("stopping after the profile");
        return Ok(());
    }
    let mut runs = vec![timed_recompute(&store, Period::day(day), "one day", false).await?];
    if !args.skip_year {
        let (period, label) = match args.days {
            Some(n) => (
                Period::new(date(YEAR, 1, 1), date(YEAR, 1, 1) + Days::new(n.max(1) - 1))
                    .expect("range"),
                format!("first {n} days (partial year)"),
            ),
            None => (year(), "full year".to_string()),
        };
        runs.push(timed_recompute(&store, period, &label, true).await?);
    }

    // The report, on stdout.
    println!("data set {} on {backend}", size.name);
    if let Some((counts, wall, peak)) = &generation {
        println!(
            "generation: {:.1} s, peak RSS {}",
            wall.as_secs_f64(),
            mb(*peak)
        );
        for (name, rows, t) in &counts.0 {
            println!("  {name:<18} {rows:>10} rows {:>8.1} s", t.as_secs_f64());
        }
    } else {
        println!("generation: skipped (--reuse)");
    }
    for run in &runs {
        println!(
            "{:<32} {:>9.2} s  {:>4} days  {:>10} snapshots  {:>8.3} s/day  peak RSS {} (anonymous {})",
            run.label,
            run.wall.as_secs_f64(),
            run.days,
            run.snapshots,
            run.wall.as_secs_f64() / run.days.max(1) as f64,
            mb(run.peak_kb),
            mb(run.peak_anon_kb)
        );
    }
    println!(
        "process peak RSS (VmHWM since the last reset): {}",
        mb(peak_rss_kb())
    );
    Ok(())
}
