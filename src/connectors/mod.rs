//! Connectors: pull a channel's data for one day from its platform, behind one trait.
//!
//! A connector turns a platform's wire format into observations and hands them to a
//! [`PageSink`] page by page, so the runner can store each page with the cursor of the
//! next and an interrupted pull resumes where it stopped. Connectors do no storage and
//! no KPI math; the runner (`jobs`) owns both.
use crate::domain::channel::Platform;
use crate::domain::observation::{AudienceMember, ChannelDayStats, Interaction, Order, WebTraffic};
use chrono::NaiveDate;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

mod credentials;
pub mod demo;
pub mod ga4;
pub(crate) mod http;
pub mod instagram;
mod kept;
pub(crate) mod live;
pub mod shopify;
pub mod tiktok;
mod totals;
pub mod x;
pub mod youtube;

pub use credentials::{Credentials, Secret};
pub use live::{BaseUrls, live_registry};
// Both live in the domain so storage can keep and list them without importing connectors.
pub use crate::domain::channel::Source;
pub use crate::domain::observation::RawResponse;

/// One pull: a source, a day and what the runner knows.
#[derive(Clone, Debug)]
pub struct PullRequest {
    /// Tenant id.
    pub tenant: String,
    /// The source.
    pub source: Source,
    /// The tenant's day to pull.
    pub day: NaiveDate,
    /// The tenant's time zone (for order days and platform day boundaries).
    pub time_zone: chrono_tz::Tz,
    /// The tenant's currency; orders in another currency are an error of the source.
    pub currency: String,
    /// Whether `day` is the most recent complete day: platforms that report only current
    /// totals (followers now) attribute them to this day and to no other.
    pub latest: bool,
    /// The lifetime totals this source reported for the previous day, if stored, so a
    /// connector can turn totals into daily differences.
    pub previous_totals: Option<serde_json::Value>,
    /// The credential, resolved by the runner; None when the reference is empty.
    pub credential: Option<Secret>,
    /// Where an interrupted pull stopped (a connector-specific page cursor).
    pub cursor: Option<String>,
    /// The secret that keys the hashes of customers' e-mail addresses.
    pub customer_keys: crate::domain::observation::CustomerKeySecret,
}

/// Observations of one page of a pull.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// Channel day statistics.
    pub channel_stats: Vec<ChannelDayStats>,
    /// Web traffic rows.
    pub web_traffic: Vec<WebTraffic>,
    /// Orders.
    pub orders: Vec<Order>,
    /// Audience members.
    pub audience: Vec<AudienceMember>,
    /// Interactions.
    pub interactions: Vec<Interaction>,
    /// Lifetime totals to remember for the next day's differences (last page wins).
    pub totals: Option<serde_json::Value>,
    /// Rows the platform sent that Tally cannot take, each with its id and the reason
    /// (an order in another currency); reported on the run, never stored.
    pub skipped: Vec<String>,
    /// Metrics the platform did not give for the day, each with the reason; the rest of
    /// the day's data is kept (the fields are left unset: `not_reported`).
    pub missing: Vec<MissingMetric>,
    /// The IANA zone of the platform's day when it is not the tenant's (Instagram's
    /// insights end at Pacific midnight; a GA4 property has its own zone).
    pub day_zone: Option<String>,
    /// Orders the shop reports as cancelled: removed by order id, whatever day they are on.
    pub deleted_orders: Vec<String>,
    /// The responses the page was mapped from, kept so that [`Connector::derive`] can map
    /// them again without the platform. Hold no secret and no e-mail address.
    pub raw: Vec<RawResponse>,
}

/// A metric the platform did not give for a day, and why (reported on the run).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MissingMetric {
    /// The platform's name of the metric, such as `website_clicks`.
    pub metric: String,
    /// Why: the platform's refusal, or `not in the response`.
    pub reason: String,
}

impl Page {
    /// Rows in the page.
    pub fn rows(&self) -> u64 {
        (self.channel_stats.len()
            + self.web_traffic.len()
            + self.orders.len()
            + self.audience.len()
            + self.interactions.len()) as u64
    }
}

/// Receives the pages of a pull as they arrive.
#[async_trait::async_trait]
pub trait PageSink: Send {
    /// Stores a page; `next_cursor` is where to resume if the pull stops after it (None:
    /// this was the last page).
    async fn page(&mut self, page: Page, next_cursor: Option<String>) -> Result<(), SinkError>;
}

/// A sink failed to store a page.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The credential is missing, expired or revoked; retrying will not help until
    /// someone renews it (Instagram error 190, HTTP 401/403).
    #[error("credential `{reference}` rejected: {message}")]
    Auth {
        /// The credential reference (never the secret).
        reference: String,
        /// The platform's message.
        message: String,
    },
    /// The platform kept failing (5xx, timeouts, 429) after every retry.
    #[error("{platform} unavailable after {attempts} attempts: {message}")]
    Unavailable {
        /// Platform name.
        platform: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        message: String,
    },
    /// The platform answered with something this connector cannot read.
    #[error("{platform} sent an unexpected response: {message}")]
    BadResponse {
        /// Platform name.
        platform: &'static str,
        /// What was wrong, naming the field.
        message: String,
    },
    /// The platform refused the request (4xx other than auth and rate limits).
    #[error("{platform} refused the request ({status}): {message}")]
    Rejected {
        /// Platform name.
        platform: &'static str,
        /// HTTP status.
        status: u16,
        /// The platform's message.
        message: String,
    },
    /// The channel is set up wrongly (bad account id for the platform, or a token granted
    /// by another account than the channel's).
    #[error("channel misconfigured: {0}")]
    Config(String),
    /// The platform asked to wait longer than the HTTP client may (`HttpSettings.max_delay`):
    /// no attempt is spent waiting; the runner pulls the source again after `until`.
    #[error("{platform} rate limited until {}: {message}", until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))]
    RateLimited {
        /// Platform name.
        platform: &'static str,
        /// When the platform said requests are accepted again.
        until: chrono::DateTime<chrono::Utc>,
        /// The platform's message.
        message: String,
    },
    /// Storing a page failed.
    #[error("storing a page failed: {0}")]
    Sink(#[from] SinkError),
}

impl ConnectorError {
    /// Whether the next run should try again (everything but a rejected credential or
    /// set-up is worth retrying; those are retried too, but need a person first).
    pub fn needs_person(&self) -> bool {
        matches!(
            self,
            ConnectorError::Auth { .. } | ConnectorError::Config(_)
        )
    }
}

/// Pulls one platform's data.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// Short name for logs and run reports, such as `youtube`.
    fn name(&self) -> &'static str;
    /// Whether the platform can report a past day (else only current totals, which
    /// belong to the latest day).
    fn has_history(&self) -> bool;
    /// Pulls `request.day`, handing pages to `sink`.
    async fn pull(
        &self,
        request: &PullRequest,
        sink: &mut dyn PageSink,
    ) -> Result<(), ConnectorError>;
    /// Maps the responses of one page that an earlier pull of `request.day` kept, exactly
    /// as `pull` maps them today, without calling the platform: a corrected mapping then
    /// reaches days the platform no longer serves.
    fn derive(&self, request: &PullRequest, raw: &[RawResponse]) -> Result<Page, ConnectorError> {
        let _ = (request, raw);
        Err(ConnectorError::Config(format!(
            "{} keeps no responses to derive a day from",
            self.name()
        )))
    }
}

/// Settings shared by the HTTP connectors.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Attempts per request (1 = no retries).
    pub max_attempts: u32,
    /// First backoff delay; doubles per attempt, with jitter.
    pub base_delay: Duration,
    /// Longest delay between attempts, Retry-After included.
    pub max_delay: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(30),
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

/// The connector of each platform.
#[derive(Clone, Default)]
pub struct Registry {
    by_platform: HashMap<Platform, Arc<dyn Connector>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Uses `connector` for `platform`.
    pub fn with(mut self, platform: Platform, connector: Arc<dyn Connector>) -> Registry {
        self.by_platform.insert(platform, connector);
        self
    }

    /// The connector of `platform`, if any.
    pub fn get(&self, platform: Platform) -> Option<&Arc<dyn Connector>> {
        self.by_platform.get(&platform)
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self
            .by_platform
            .iter()
            .map(|(p, c)| (p.as_str(), c.name()))
            .collect();
        names.sort();
        f.debug_struct("Registry")
            .field("connectors", &names)
            .finish()
    }
}
