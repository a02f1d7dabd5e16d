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
    /// The platform's account id (its form per platform: channel.proto's `account_id`).
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
        match check_text(&self.account_id, 200) {
            Err(why) => v.add("account_id", why),
            Ok(()) if self.platform == Platform::Shopify => {
                // The shop domain becomes the host Tally sends the shop's token to.
                self.account_id = self.account_id.to_ascii_lowercase();
                v.check("account_id", check_shop_domain(&self.account_id));
            }
            Ok(()) if self.platform == Platform::YouTube => {
                v.check("account_id", check_youtube_account(&self.account_id));
            }
            Ok(()) => {}
        }
        if !self.credentials_ref.is_empty() {
            v.check(
                "credentials_ref",
                check_credentials_ref(&self.credentials_ref),
            );
        }
        v.finish()
    }
}

/// Checks a credential reference: the name of a secret in the tenant's namespace (a file
/// name and part of a variable name), so no separators, dots or spaces.
pub fn check_credentials_ref(reference: &str) -> Result<(), String> {
    let valid = (1..=128).contains(&reference.len())
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err("must be the name of a credential (1 to 128 of a-z, A-Z, 0-9, _ and -), never the secret itself".into())
    }
}

/// Checks a Shopify account id: the shop's own `<shop>.myshopify.com` domain, lower case,
/// where the Admin API lives; any other host could be the tenant's pick.
pub fn check_shop_domain(domain: &str) -> Result<(), String> {
    let shop = domain.strip_suffix(".myshopify.com").unwrap_or("");
    let valid = (1..=63).contains(&shop.len())
        && shop
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !shop.starts_with('-')
        && !shop.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a shop domain: use the shop's myshopify.com domain, such as acme.myshopify.com",
            super::names::shorten(domain)
        ))
    }
}

/// Checks a YouTube account id: a channel id (`UC` and 22 of `A-Z a-z 0-9 _ -`), looked up
/// with `id=`, or a handle (`@` and 3 to 30 of `A-Z a-z 0-9 . _ -`), looked up with
/// `forHandle=`; the Data API finds nothing under any other form.
pub fn check_youtube_account(account: &str) -> Result<(), String> {
    let channel_id = account.strip_prefix("UC").is_some_and(|rest| {
        rest.len() == 22
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    });
    let handle = account.strip_prefix('@').is_some_and(|rest| {
        (3..=30).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    if channel_id || handle {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a YouTube account: use the channel id (`UC` and 22 letters, digits, \
             `_` or `-`, such as UC_x5XG1OV2P6uZZ5FSM9Ttw) or the handle (`@` and 3 to 30 \
             letters, digits, `.`, `_` or `-`, such as @GoogleDevelopers)",
            super::names::shorten(account)
        ))
    }
}

/// The channel a pull is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Channel id.
    pub channel_id: String,
    /// Platform.
    pub platform: Platform,
    /// The platform's account id (GA4: the property id; Shopify: the shop domain; YouTube:
    /// the `UC…` channel id or the `@` handle; X: the user id or username; TikTok: the
    /// `open_id`).
    pub account_id: String,
    /// Name of the credential in the tenant's namespace (see `connectors::Credentials`).
    pub credentials_ref: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(account_id: &str, credentials_ref: &str) -> Channel {
        Channel {
            display_name: "Shop".into(),
            platform: Platform::Shopify,
            owner: None,
            account_id: account_id.into(),
            credentials_ref: credentials_ref.into(),
        }
    }

    fn fields(mut channel: Channel) -> Vec<String> {
        match channel.validate() {
            Ok(()) => vec![],
            Err(DomainError::Invalid(violations)) => {
                violations.into_iter().map(|v| v.field).collect()
            }
        }
    }

    #[test]
    fn shopify_channels_name_a_myshopify_domain() {
        let mut ok = shop(" Acme.MyShopify.com ", "SHOP_TOKEN");
        ok.validate().unwrap();
        assert_eq!(ok.account_id, "acme.myshopify.com");
        for bad in [
            "localhost",
            "127.0.0.1",
            "evil.example",
            "acme.myshopify.com.evil.example",
            "acme.myshopify.com:8443",
            "acme.myshopify.com/admin",
            "user@acme.myshopify.com",
            ".myshopify.com",
            "-acme.myshopify.com",
            "a.b.myshopify.com",
            "myshopify.com",
        ] {
            assert_eq!(fields(shop(bad, "")), ["account_id"], "{bad}");
        }
    }

    #[test]
    fn youtube_channels_name_a_channel_id_or_a_handle() {
        let youtube = |account: &str| Channel {
            display_name: "Anna".into(),
            platform: Platform::YouTube,
            owner: None,
            account_id: account.into(),
            credentials_ref: String::new(),
        };
        for good in [
            "UC_x5XG1OV2P6uZZ5FSM9Ttw",
            " UC_x5XG1OV2P6uZZ5FSM9Ttw ",
            "@GoogleDevelopers",
            "@abc",
            "@anna.de-vries_2",
            &format!("@{}", "a".repeat(30)),
        ] {
            assert_eq!(fields(youtube(good)), Vec::<String>::new(), "{good}");
        }
        for bad in [
            "UCanna",
            "UC_x5XG1OV2P6uZZ5FSM9Ttw1",
            "UC_x5XG1OV2P6uZZ5FSM9Tt!",
            "uc_x5XG1OV2P6uZZ5FSM9Ttw",
            "GoogleDevelopers",
            "@ab",
            &format!("@{}", "a".repeat(31)),
            "@anna vries",
            "@anna/../x",
            "https://www.youtube.com/@GoogleDevelopers",
        ] {
            assert_eq!(fields(youtube(bad)), ["account_id"], "{bad}");
        }
        let Err(DomainError::Invalid(violations)) = youtube("UCanna").validate() else {
            panic!("UCanna is refused");
        };
        let why = &violations[0].description;
        assert!(
            why.contains("channel id") && why.contains("handle"),
            "{why}"
        );
    }

    #[test]
    fn credential_references_are_names_only() {
        for good in ["", "SHOP_TOKEN", "shop-token-2", "A"] {
            assert_eq!(
                fields(shop("a.myshopify.com", good)),
                Vec::<String>::new(),
                "{good}"
            );
        }
        for bad in [
            "../x",
            "a/b",
            "a.b",
            "a b",
            "token: s3cr3t",
            &"x".repeat(129),
        ] {
            assert_eq!(
                fields(shop("a.myshopify.com", bad)),
                ["credentials_ref"],
                "{bad}"
            );
        }
    }
}
