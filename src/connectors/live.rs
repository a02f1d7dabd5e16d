//! The registry of the real platforms' connectors.
use super::ga4::Ga4;
use super::instagram::Instagram;
use super::shopify::Shopify;
use super::{HttpSettings, Registry, tiktok, x, youtube};
use crate::domain::channel::Platform;
use std::sync::Arc;

// The defaults are settings (`instagram_api_version`, `shopify_api_version`), so they live
// in config, which imports nothing of the crate.
pub use crate::config::{INSTAGRAM_API_VERSION, SHOPIFY_API_VERSION};

/// Where each platform's API lives (tests point these at loopback fakes) and which
/// version of it is called where the platform versions its API by date or number.
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
    /// Graph API version, `vNN.N`.
    pub instagram_version: String,
    /// Shopify Admin API version, `YYYY-MM`.
    pub shopify_version: String,
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
            instagram_version: INSTAGRAM_API_VERSION.into(),
            shopify_version: SHOPIFY_API_VERSION.into(),
        }
    }
}

/// Checks a Graph API version (`v24.0`) and a Shopify one (`2026-10`), naming the setting
/// at fault; a wrong version would otherwise surface only as every night's 404.
pub fn check_versions(urls: &BaseUrls) -> Result<(), String> {
    let graph = urls
        .instagram_version
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.len() <= 3
                && minor.len() <= 2
                && (major.bytes().chain(minor.bytes())).all(|b| b.is_ascii_digit())
        });
    if !graph {
        return Err(format!(
            "instagram_api_version: `{}` is not a Graph API version such as `v24.0`",
            urls.instagram_version
        ));
    }
    let shopify = urls
        .shopify_version
        .split_once('-')
        .is_some_and(|(year, month)| {
            year.len() == 4
                && year.bytes().all(|b| b.is_ascii_digit())
                && matches!(month, "01" | "04" | "07" | "10")
        });
    if !shopify {
        return Err(format!(
            "shopify_api_version: `{}` is not a Shopify version such as `2026-10` (a year \
             and a quarter's first month: 01, 04, 07 or 10)",
            urls.shopify_version
        ));
    }
    Ok(())
}

/// The HTTP connectors of every platform Tally can pull, at `urls`.
pub fn live_registry(urls: &BaseUrls, http: &HttpSettings) -> Registry {
    Registry::new()
        .with(
            Platform::YouTube,
            Arc::new(youtube::connector(&urls.youtube, http)),
        )
        .with(
            Platform::Instagram,
            Arc::new(Instagram::new(&urls.instagram, http).with_version(&urls.instagram_version)),
        )
        .with(Platform::X, Arc::new(x::connector(&urls.x, http)))
        .with(
            Platform::TikTok,
            Arc::new(tiktok::connector(&urls.tiktok, http)),
        )
        .with(Platform::Website, Arc::new(Ga4::new(&urls.ga4, http)))
        .with(
            Platform::Shopify,
            Arc::new(
                Shopify::new(urls.shopify.as_deref(), http).with_version(&urls.shopify_version),
            ),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connectors_api_versions_are_checked_with_the_setting_named() {
        assert_eq!(check_versions(&BaseUrls::default()), Ok(()));
        let with = |instagram: &str, shopify: &str| {
            check_versions(&BaseUrls {
                instagram_version: instagram.into(),
                shopify_version: shopify.into(),
                ..BaseUrls::default()
            })
        };
        assert_eq!(with("v25.0", "2027-01"), Ok(()));
        for bad in ["24.0", "v24", "v.0", "vx.0", "v24.0/../x"] {
            let error = with(bad, "2026-10").unwrap_err();
            assert!(error.starts_with("instagram_api_version:"), "{error}");
        }
        for bad in ["2026-11", "26-10", "2026-10/..", "latest", ""] {
            let error = with("v24.0", bad).unwrap_err();
            assert!(error.starts_with("shopify_api_version:"), "{error}");
        }
    }
}
