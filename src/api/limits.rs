//! Rate limiting. Per key: each API key gets a token bucket (GCRA, from `governor`) of
//! `per_second` calls with bursts of `burst`. Per client address: the database lookups of
//! keys not known to be valid (guesses, typos, revoked keys), so that guessing costs the
//! database a bounded number of lookups while callers with good keys, even many behind one
//! NAT, are not limited by their neighbours' failures. A call over either limit is
//! RESOURCE_EXHAUSTED with the time to wait in RetryInfo.
use crate::config::Settings;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Client addresses whose buckets are held at most; the least recently used go first.
const ADDRESSES: u64 = 100_000;
/// Keys remembered as valid at most.
const KNOWN_KEYS: u64 = 10_000;
/// How long a valid key unused is still remembered as valid.
const KNOWN_FOR: Duration = Duration::from_secs(3600);

/// How many calls a key may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained calls per second.
    pub per_second: NonZeroU32,
    /// Calls allowed at once above the sustained rate.
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// The per-key rate limit, None when `rate_limit_per_second` is 0; the burst is at
    /// least 1.
    pub fn from_settings(settings: &Settings) -> Option<RateLimit> {
        let per_second = NonZeroU32::new(settings.rate_limit_per_second)?;
        let burst = NonZeroU32::new(settings.rate_limit_burst.max(1))?;
        Some(RateLimit { per_second, burst })
    }
}

/// The limiter of every key, shared by all services.
#[derive(Clone)]
pub struct Limiter {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

impl Limiter {
    /// A limiter with the given limit for each key.
    pub fn new(limit: RateLimit) -> Limiter {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        Limiter {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one call from the bucket of `key` (an id, never the secret itself); Err with
    /// the time until the next call is allowed.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// The per-address limit on lookups of keys not known to be valid, shared by all services.
#[derive(Clone)]
pub struct GuessLimiter {
    quota: Quota,
    /// A bucket per address (IPv6: per /64, which one host usually holds whole).
    addresses: moka::future::Cache<IpAddr, Arc<DefaultDirectRateLimiter>>,
    /// Hashes of keys found valid lately: their lookups cost no address any token.
    known: moka::future::Cache<String, ()>,
    clock: DefaultClock,
}

impl std::fmt::Debug for GuessLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuessLimiter")
            .field("addresses", &self.addresses.entry_count())
            .finish_non_exhaustive()
    }
}

impl GuessLimiter {
    /// A limiter allowing each address `per_minute` lookups of unknown keys a minute, all
    /// at once at most.
    pub fn new(per_minute: NonZeroU32) -> GuessLimiter {
        let quota = Quota::per_minute(per_minute);
        // An address idle this long has a full bucket again: forgetting it loses nothing.
        let refilled = quota.replenish_interval() * per_minute.get();
        GuessLimiter {
            quota,
            addresses: moka::future::Cache::builder()
                .max_capacity(ADDRESSES)
                .time_to_idle(refilled)
                .build(),
            known: moka::future::Cache::builder()
                .max_capacity(KNOWN_KEYS)
                .time_to_idle(KNOWN_FOR)
                .build(),
            clock: DefaultClock::default(),
        }
    }

    /// Whether `peer` may have the key hashed as `hash` looked up; Err with the time until
    /// it may. A key found valid lately is always looked up (so that a key revoked since
    /// is refused as such).
    pub async fn before_lookup(&self, peer: IpAddr, hash: &str) -> Result<(), Duration> {
        if self.known.contains_key(hash) {
            return Ok(());
        }
        let quota = self.quota;
        let bucket = self
            .addresses
            .get_with(network(peer), async move {
                Arc::new(DefaultDirectRateLimiter::direct(quota))
            })
            .await;
        bucket
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Notes what the lookup of the key hashed as `hash` found.
    pub async fn after_lookup(&self, hash: &str, valid: bool) {
        if valid {
            self.known.insert(hash.to_string(), ()).await;
        } else {
            self.known.invalidate(hash).await;
        }
    }
}

/// The address a bucket is kept for: IPv4 addresses (also as IPv6) whole, IPv6 by /64.
fn network(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_own_bucket() {
        let limiter = Limiter::new(RateLimit {
            per_second: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(2).unwrap(),
        });
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let wait = limiter.check("a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limiter.check("b").is_ok());
    }

    #[tokio::test]
    async fn unknown_keys_are_limited_per_address_and_known_keys_are_not() {
        let limiter = GuessLimiter::new(NonZeroU32::new(3).unwrap());
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        limiter.after_lookup("good", true).await;
        for guess in ["g1", "g2", "g3"] {
            assert!(limiter.before_lookup(a, guess).await.is_ok());
            limiter.after_lookup(guess, false).await;
        }
        let wait = limiter.before_lookup(a, "g4").await.unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // A key found valid before is still looked up from that address; other addresses
        // have their own allowance.
        assert!(limiter.before_lookup(a, "good").await.is_ok());
        assert!(limiter.before_lookup(b, "g4").await.is_ok());
        // Once found revoked, that key is a guess like any other.
        limiter.after_lookup("good", false).await;
        assert!(limiter.before_lookup(a, "good").await.is_err());
    }

    #[test]
    fn ipv6_hosts_are_limited_by_their_64_and_mapped_ipv4_as_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:bbbb::7".parse().unwrap();
        let next: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network(one), network(other));
        assert_ne!(network(one), network(next));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(network(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
