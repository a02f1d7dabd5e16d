//! The registry of the real platforms' connectors.
use super::ga4::Ga4;
use super::instagram::Instagram;
use super::shopify::Shopify;
use super::tiktok::TikTok;
use super::x::X;
use super::youtube::YouTube;
use super::{HttpSettings, Registry};
use crate::domain::channel::Platform;
use std::sync::Arc;

/// Where each platform's API lives; tests point these at loopback fakes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrls {
    /// YouTube Data API.
    pub youtube: String,
    /// Instagram Graph API.
    pub instagram: String,
    /// X API.
    pub x: String,
    /// TikTok Display API.
    pub tiktok: String,
    /// Google Analytics 4 Data API.
    pub ga4: String,
    /// Shopify Admin API; None calls each shop at its own domain (the account id).
    pub shopify: Option<String>,
}

impl Default for BaseUrls {
    fn default() -> Self {
        BaseUrls {
            youtube: "https://www.googleapis.com".into(),
            instagram: "https://graph.facebook.com".into(),
            x: "https://api.x.com".into(),
            tiktok: "https://open.tiktokapis.com".into(),
            ga4: "https://analyticsdata.googleapis.com".into(),
            shopify: None,
        }
    }
}

/// The HTTP connectors of every platform Tally can pull, at `urls`.
pub fn live_registry(urls: &BaseUrls, http: &HttpSettings) -> Registry {
    Registry::new()
        .with(
            Platform::YouTube,
            Arc::new(YouTube::new(&urls.youtube, http)),
        )
        .with(
            Platform::Instagram,
            Arc::new(Instagram::new(&urls.instagram, http)),
        )
        .with(Platform::X, Arc::new(X::new(&urls.x, http)))
        .with(Platform::TikTok, Arc::new(TikTok::new(&urls.tiktok, http)))
        .with(Platform::Website, Arc::new(Ga4::new(&urls.ga4, http)))
        .with(
            Platform::Shopify,
            Arc::new(Shopify::new(urls.shopify.as_deref(), http)),
        )
}
