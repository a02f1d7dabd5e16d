//! The demo source: deterministic, plausible data for any channel and day, so `tally demo`
//! runs the same pull-store-compute path as production without network access.
//!
//! Each (channel, day) seeds its own generator, so a day pulled twice gives the same rows
//! and days can be pulled in any order. Influencers differ on purpose (audience size,
//! growth, how loyal their code buyers are) so the demo's rankings mean something.
use super::{Connector, ConnectorError, Page, PageSink, PullRequest};
use crate::domain::channel::Platform;
use crate::domain::observation::{
    AudienceMember, ChannelDayStats, Interaction, InteractionKind, MemberAttributes, Order,
    OrderContext, OrderCustomer, OrderFields, WebTraffic,
};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// The demo's influencers, in the order the demo seeds them.
pub const INFLUENCERS: [&str; 12] = [
    "anna", "bram", "chloe", "daan", "eva", "finn", "gwen", "hugo", "iris", "jasper", "kim", "lars",
];

/// Day zero of the generated history: follower counts grow from here.
const EPOCH: (i32, u32, u32) = (2026, 1, 1);

const BIOS: [&str; 8] = [
    "interior design addict",
    "foodie and home cook",
    "graphic designer",
    "marathon runner",
    "travel and photography",
    "fashion and design",
    "gamer",
    "plant parent",
];

/// Generates demo data for every platform.
#[derive(Clone, Copy, Debug, Default)]
pub struct DemoSource;

fn rng_for(parts: &[&str]) -> StdRng {
    let digest = Sha256::digest(parts.join("|").as_bytes());
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&digest);
    StdRng::from_seed(seed)
}

/// The influencer index of a demo channel id such as `anna-instagram`.
fn influencer_of(channel_id: &str) -> Option<usize> {
    let owner = channel_id.split('-').next()?;
    INFLUENCERS.iter().position(|i| *i == owner)
}

fn days_since_epoch(day: NaiveDate) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(EPOCH.0, EPOCH.1, EPOCH.2).unwrap_or_default();
    (day - epoch).num_days().max(0)
}

fn instant(day: NaiveDate, seconds: u32, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let local = day
        .and_hms_opt(seconds / 3600, (seconds / 60) % 60, seconds % 60)
        .unwrap_or_default();
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

fn member_attributes(rng: &mut StdRng) -> MemberAttributes {
    MemberAttributes {
        bio: Some(BIOS[rng.random_range(0..BIOS.len())].to_string()),
        followers: Some(rng.random_range(50..5_000)),
        influence_score: Some(rng.random_range(0.0..1.0)),
        age: Some(rng.random_range(18..46)),
        country: Some(["NL", "BE", "DE"][rng.random_range(0..3)].to_string()),
        is_customer: None,
    }
}

impl DemoSource {
    fn social(&self, request: &PullRequest, index: usize) -> Page {
        let source = &request.source;
        let day = request.day;
        let mut rng = rng_for(&[&source.channel_id, &day.to_string()]);
        let n = days_since_epoch(day);
        let base = 4_000 + 2_500 * index as i64;
        let growth = 6 + (index as i64 * 7) % 23;
        let followers = base + growth * n + rng.random_range(0..growth.max(1));
        let posts = rng.random_range(0..3);
        let reach = followers / 3 + rng.random_range(0..followers / 10 + 1);
        let stats = ChannelDayStats {
            channel_id: source.channel_id.clone(),
            day,
            followers: Some(followers),
            posts: Some(posts),
            mentions: Some(rng.random_range(0..6)),
            shares: Some(rng.random_range(0..20) * (posts + 1)),
            comments: Some(rng.random_range(5..60) * (posts + 1)),
            likes: Some(rng.random_range(80..400) * (posts + 1)),
            link_clicks: Some(rng.random_range(10..120)),
            views: Some(reach * 2 + rng.random_range(0..500)),
            reach: Some(reach),
        };
        let mut page = Page {
            channel_stats: vec![stats],
            ..Page::default()
        };
        // New followers of the day, drawn from a pool per platform so that one account can
        // follow several influencers (counted once per scope).
        for k in 0..rng.random_range(2..6) {
            let fan = rng.random_range(0..600 + 40 * index as u32);
            let mut fan_rng = rng_for(&[source.platform.as_str(), &fan.to_string()]);
            let attributes = member_attributes(&mut fan_rng);
            let customer = fan_rng
                .random_bool(0.3)
                .then(|| (1_000 + fan % 400).to_string());
            let account_id = format!("{}-fan-{fan}", source.platform.as_str());
            let member = AudienceMember {
                platform: source.platform,
                account_id: account_id.clone(),
                channel_id: source.channel_id.clone(),
                attributes: attributes.clone(),
                customer_id: customer,
                first_seen: day,
                last_seen: None,
            };
            // The rules every source's rows meet, demo data included.
            match member.check() {
                Ok(()) => page.audience.push(member),
                Err((field, why)) => page.skipped.push(format!("audience: {field} {why}")),
            }
            let kinds = [
                InteractionKind::Comment,
                InteractionKind::Like,
                InteractionKind::Share,
                InteractionKind::Mention,
            ];
            for (j, kind) in kinds.iter().enumerate().take(rng.random_range(1..4)) {
                let interaction = Interaction {
                    channel_id: source.channel_id.clone(),
                    interaction_id: format!("{}-{day}-{k}-{j}", source.channel_id),
                    kind: *kind,
                    platform: source.platform,
                    account_id: account_id.clone(),
                    occurred_at: instant(day, rng.random_range(0..86_400), request.time_zone),
                    day,
                    attributes: attributes.clone(),
                };
                match interaction.check() {
                    Ok(()) => page.interactions.push(interaction),
                    Err((field, why)) => page.skipped.push(format!("interaction: {field} {why}")),
                }
            }
        }
        page
    }

    fn website(&self, request: &PullRequest) -> Page {
        let day = request.day;
        let mut rng = rng_for(&["web", &request.source.channel_id, &day.to_string()]);
        let mut page = Page::default();
        let mut row = |source: &str,
                       medium: &str,
                       campaign: &str,
                       group: &str,
                       age: Option<i32>,
                       users: i64,
                       rng: &mut StdRng| {
            let new_users = users * rng.random_range(30..80) / 100;
            let traffic = WebTraffic {
                day,
                source: source.into(),
                medium: medium.into(),
                campaign: campaign.into(),
                channel_group: group.into(),
                age_bracket: None,
                age,
                country: Some("NL".into()),
                is_customer: None,
                sessions: users + users / 4,
                users,
                new_users,
            };
            // The rules every source's rows meet, demo data included.
            match traffic.check() {
                Ok(()) => page.web_traffic.push(traffic),
                Err((field, why)) => page.skipped.push(format!("web traffic: {field} {why}")),
            }
        };
        for (index, influencer) in INFLUENCERS.iter().enumerate() {
            // Split each influencer's visitors by age so age segments have web data.
            for age in [22, 27, 35] {
                let users = rng.random_range(2..(12 + 3 * index as i64));
                row(
                    "influencer",
                    "social",
                    influencer,
                    "Organic Social",
                    Some(age),
                    users,
                    &mut rng,
                );
            }
        }
        let organic = rng.random_range(150..300);
        row(
            "google",
            "organic",
            "(not set)",
            "Organic Search",
            None,
            organic,
            &mut rng,
        );
        let direct = rng.random_range(80..160);
        row(
            "(direct)",
            "(none)",
            "(not set)",
            "Direct",
            None,
            direct,
            &mut rng,
        );
        page
    }

    fn shop(&self, request: &PullRequest) -> Page {
        let day = request.day;
        let mut rng = rng_for(&["shop", &request.source.channel_id, &day.to_string()]);
        let mut page = Page::default();
        let mut push = |number: u32,
                        customer: u32,
                        revenue: i64,
                        code: Option<&str>,
                        campaign: &str,
                        rng: &mut StdRng| {
            let placed_at = instant(day, rng.random_range(0..86_400), request.time_zone);
            let customer_id = customer.to_string();
            let discount = if code.is_some() { revenue / 10 } else { 0 };
            let order_id = format!("{}-{day}-{number}", request.source.channel_id);
            let codes: Vec<String> = code.map(|c| vec![c.to_string()]).unwrap_or_default();
            let (utm_source, utm_medium) = if campaign.is_empty() {
                ("", "")
            } else {
                ("influencer", "social")
            };
            let fields = OrderFields {
                order_id: &order_id,
                placed_at,
                currency: &request.currency,
                revenue_minor: revenue - discount,
                cost_minor: revenue * 2 / 5,
                discount_minor: discount,
                codes: &codes,
                customer: OrderCustomer::Given {
                    id: &customer_id,
                    email: "",
                },
                utm_source,
                utm_medium,
                utm_campaign: campaign,
            };
            let context = OrderContext {
                time_zone: request.time_zone,
                currency: &request.currency,
                customer_keys: &request.customer_keys,
            };
            match Order::new(fields, &context) {
                Ok(order) => page.orders.push(order),
                Err((field, why)) => page
                    .skipped
                    .push(format!("order {order_id}: {field} {why}")),
            }
        };
        let mut number = 0;
        for (index, influencer) in INFLUENCERS.iter().enumerate() {
            // A smaller pool of customers per influencer means more repeat buyers.
            let pool = 150 + 60 * (index as u32 % 5);
            let first = 1_000 + 400 * index as u32;
            let code = format!("{}10", influencer.to_uppercase());
            for _ in 0..rng.random_range(0..3) {
                let customer = first + rng.random_range(0..pool);
                let revenue = rng.random_range(2_000..12_000);
                push(number, customer, revenue, Some(&code), "", &mut rng);
                number += 1;
            }
            if rng.random_bool(0.3) {
                let customer = first + rng.random_range(0..pool);
                push(
                    number,
                    customer,
                    rng.random_range(2_000..9_000),
                    None,
                    influencer,
                    &mut rng,
                );
                number += 1;
            }
        }
        // Orders without an influencer, from every pool: some code buyers come back.
        for _ in 0..rng.random_range(5..15) {
            let customer = 1_000 + rng.random_range(0..400 * INFLUENCERS.len() as u32);
            push(
                number,
                customer,
                rng.random_range(1_500..8_000),
                None,
                "",
                &mut rng,
            );
            number += 1;
        }
        page
    }
}

#[async_trait::async_trait]
impl Connector for DemoSource {
    fn name(&self) -> &'static str {
        "demo"
    }

    fn has_history(&self) -> bool {
        true
    }

    async fn pull(
        &self,
        request: &PullRequest,
        sink: &mut dyn PageSink,
    ) -> Result<(), ConnectorError> {
        let page = match request.source.platform {
            Platform::Website => self.website(request),
            Platform::Shopify => self.shop(request),
            _ => {
                // The brand's own accounts rank after the influencers.
                let index = influencer_of(&request.source.channel_id).unwrap_or(INFLUENCERS.len());
                self.social(request, index)
            }
        };
        sink.page(page, None).await?;
        Ok(())
    }
}

/// A registry that pulls every platform from the demo source.
pub fn demo_registry() -> super::Registry {
    let source = std::sync::Arc::new(DemoSource);
    Platform::ALL
        .into_iter()
        .fold(super::Registry::new(), |r, p| r.with(p, source.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::{SinkError, Source};

    #[derive(Default)]
    struct Collect(Vec<Page>);

    #[async_trait::async_trait]
    impl PageSink for Collect {
        async fn page(&mut self, page: Page, _: Option<String>) -> Result<(), SinkError> {
            self.0.push(page);
            Ok(())
        }
    }

    fn request(channel: &str, platform: Platform, day: NaiveDate) -> PullRequest {
        PullRequest {
            tenant: "demo".into(),
            source: Source {
                channel_id: channel.into(),
                platform,
                account_id: channel.into(),
                credentials_ref: String::new(),
            },
            day,
            time_zone: chrono_tz::Europe::Amsterdam,
            currency: "EUR".into(),
            latest: true,
            previous_totals: None,
            credential: None,
            cursor: None,
            customer_keys: crate::domain::observation::CustomerKeySecret::development(),
        }
    }

    async fn pull(channel: &str, platform: Platform, day: NaiveDate) -> Page {
        let mut sink = Collect::default();
        DemoSource
            .pull(&request(channel, platform, day), &mut sink)
            .await
            .unwrap();
        assert_eq!(sink.0.len(), 1);
        sink.0.remove(0)
    }

    #[tokio::test]
    async fn the_same_day_gives_the_same_rows_and_rows_are_valid() {
        let day = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let a = pull("anna-instagram", Platform::Instagram, day).await;
        let b = pull("anna-instagram", Platform::Instagram, day).await;
        assert_eq!(a.channel_stats, b.channel_stats);
        assert_eq!(a.audience, b.audience);
        let next = pull(
            "anna-instagram",
            Platform::Instagram,
            day.succ_opt().unwrap(),
        )
        .await;
        assert!(next.channel_stats[0].followers > a.channel_stats[0].followers);
        for member in &a.audience {
            member.attributes.check().unwrap();
        }
        let shop = pull("brand-shop", Platform::Shopify, day).await;
        assert!(!shop.orders.is_empty());
        for order in &shop.orders {
            assert_eq!(
                order.day, day,
                "orders fall on the pulled day in the tenant's zone"
            );
            assert!(order.revenue_minor > 0 && order.cost_minor > 0);
        }
        assert!(
            shop.orders
                .iter()
                .any(|o| o.codes.len() == 1 && o.codes[0].ends_with("10"))
        );
        let web = pull("brand-site", Platform::Website, day).await;
        assert!(
            web.web_traffic
                .iter()
                .any(|w| w.campaign == "anna" && w.age == Some(27))
        );
    }
}
