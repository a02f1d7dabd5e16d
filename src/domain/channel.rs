//! Channels: one account on one platform, owned by the brand or by an influencer.
use super::{DomainError, Violations, check_text};

/// The platforms Tally knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Instagram.
    Instagram,
    /// TikTok.
    TikTok,
    /// YouTube.
    YouTube,
    /// X (Twitter).
    X,
    /// Facebook.
    Facebook,
    /// LinkedIn.
    LinkedIn,
    /// A blog.
    Blog,
    /// A website, measured by a Google Analytics 4 property.
    Website,
    /// A Shopify shop.
    Shopify,
}

impl Platform {
    /// Every platform.
    pub const ALL: [Platform; 9] = [
        Platform::Instagram,
        Platform::TikTok,
        Platform::YouTube,
        Platform::X,
        Platform::Facebook,
        Platform::LinkedIn,
        Platform::Blog,
        Platform::Website,
        Platform::Shopify,
    ];

    /// Stored and displayed name, lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Instagram => "instagram",
            Platform::TikTok => "tiktok",
            Platform::YouTube => "youtube",
            Platform::X => "x",
            Platform::Facebook => "facebook",
            Platform::LinkedIn => "linkedin",
            Platform::Blog => "blog",
            Platform::Website => "website",
            Platform::Shopify => "shopify",
        }
    }

    /// The platform of a stored name.
    pub fn parse(value: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

/// The fields of a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Name shown to people.
    pub display_name: String,
    /// The platform.
    pub platform: Platform,
    /// Influencer id of the owner; None for the brand's own channel.
    pub owner: Option<String>,
    /// The platform's account id.
    pub account_id: String,
    /// Name of the credentials to pull with; may be empty.
    pub credentials_ref: String,
}

impl Channel {
    /// Checks every field.
    pub fn validate(&mut self) -> Result<(), DomainError> {
        let mut v = Violations::default();
        v.check("display_name", check_text(&self.display_name, 200));
        self.account_id = self.account_id.trim().to_string();
        v.check("account_id", check_text(&self.account_id, 200));
        let valid_ref = self.credentials_ref.len() <= 128
            && self
                .credentials_ref
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid_ref {
            v.add(
                "credentials_ref",
                "must be the name of a credential (at most 128 of a-z, A-Z, 0-9, _, - and .), never the secret itself",
            );
        }
        v.finish()
    }
}
