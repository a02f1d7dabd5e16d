//! API keys: random, shown once, stored only as SHA-256 hashes, compared in constant time.
//! Where the client commands find the key they send is `client::key`.
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every key, so leaked keys are easy to recognise and scan for.
pub const KEY_PREFIX: &str = "tally_";

/// A new API key: the prefix and 32 random bytes, base64url.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Prefix of the operator keys that [`generate_operator_key`] makes: a different one, so
/// that a scanner, a log reader or a person tells the two kinds apart at a glance.
pub const OPERATOR_KEY_PREFIX: &str = "tallyop_";

/// A new operator key (for TenantService): the operator prefix and 32 random bytes.
pub fn generate_operator_key() -> String {
    let tenant_key = generate_key();
    format!(
        "{OPERATOR_KEY_PREFIX}{}",
        tenant_key.trim_start_matches(KEY_PREFIX)
    )
}

/// The stored form of a key: hex SHA-256.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two hashes in constant time.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The key in an `authorization: Bearer <key>` header value, if well-formed.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 256)
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hash_stably() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_eq!(hash_key(&a).len(), 64);
        assert!(hashes_equal(&hash_key(&a), &hash_key(&a)));
        assert!(!hashes_equal(&hash_key(&a), &hash_key(&b)));
        let op = generate_operator_key();
        assert!(op.starts_with(OPERATOR_KEY_PREFIX) && !op.starts_with(KEY_PREFIX));
        assert_eq!(op.len(), OPERATOR_KEY_PREFIX.len() + 43);
    }

    #[test]
    fn bearer_header_is_parsed_strictly() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
