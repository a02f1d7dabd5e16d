//! The gRPC API layer: converts and validates protobuf messages (`TryFrom<proto>` into the
//! request types of `engine`), calls one use case and converts its answer back. No SQL
//! here and no protobuf below here. It also authenticates each call (`revocation` ends
//! streams whose key is revoked) and keeps the read cache (`read_cache`).
pub(crate) mod campaign;
pub(crate) mod channel;
pub(crate) mod convert;
pub(crate) mod crud;
pub(crate) mod error;
pub(crate) mod goal;
pub(crate) mod influencer;
pub(crate) mod ingest;
pub(crate) mod job;
pub(crate) mod kpi;
pub(crate) mod lift;
pub(crate) mod limits;
pub(crate) mod read_cache;
pub(crate) mod revocation;
pub(crate) mod segment;
pub(crate) mod tenant;

pub use convert::date as proto_date;
pub use error::ApiError;
pub use ingest::MAX_MESSAGE_BYTES;
pub use limits::RateLimit;

use crate::domain::tenant::Tenant;
use crate::storage::Store;
use tonic::Request;

/// The state every service shares; cheap to clone.
#[derive(Clone, Debug)]
pub struct Api {
    store: Store,
    feed: crate::engine::SnapshotFeed,
    jobs: crate::jobs::Jobs,
    limiter: Option<limits::Limiter>,
    guesses: Option<limits::GuessLimiter>,
    cache: Option<std::sync::Arc<read_cache::ReadCache>>,
    /// How often an open stream's key is checked again (see [`revocation`]).
    key_check: std::time::Duration,
    /// Hash of the operator key, the only credential TenantService accepts and one no
    /// other service accepts; None turns TenantService off.
    operator_key: Option<String>,
}

impl Api {
    /// An API over the job runner's store and snapshot feed.
    pub fn new(jobs: crate::jobs::Jobs) -> Self {
        Api {
            store: jobs.store().clone(),
            feed: jobs.feed().clone(),
            jobs,
            limiter: None,
            guesses: None,
            cache: None,
            key_check: revocation::UNCACHED_KEY_CHECK,
            operator_key: None,
        }
    }

    /// The same API with TenantService open to the key hashed as `hash` (hex SHA-256, see
    /// [`crate::auth::hash_key`]); None keeps it closed.
    pub fn with_operator_key_hash(mut self, hash: Option<String>) -> Self {
        self.operator_key = hash.map(|h| h.to_ascii_lowercase());
        self
    }

    /// The same API reading keys and hot answers through caches whose entries live
    /// `ttl` (none when zero; see [`read_cache`]).
    pub fn with_read_cache(mut self, ttl: std::time::Duration) -> Self {
        self.cache = read_cache::ReadCache::new(ttl);
        // A check sooner than the cache's time-to-live would only read the cache again.
        if !ttl.is_zero() {
            self.key_check = ttl;
        }
        self
    }

    /// The same API with each client address limited to `per_minute` lookups of keys not
    /// known to be valid (see [`limits::GuessLimiter`]); None is unlimited.
    pub fn with_unknown_key_limit(mut self, per_minute: Option<std::num::NonZeroU32>) -> Self {
        self.guesses = per_minute.map(limits::GuessLimiter::new);
        self
    }

    /// The same API with each key limited to `limit`.
    pub fn with_rate_limit(mut self, limit: Option<limits::RateLimit>) -> Self {
        self.limiter = limit.map(limits::Limiter::new);
        self
    }

    /// The tenant of the call's `authorization: Bearer <key>`, or UNAUTHENTICATED.
    pub async fn tenant<T>(&self, request: &Request<T>) -> Result<Tenant, ApiError> {
        Ok(self.authenticate(request).await?.0)
    }

    /// [`Api::tenant`] and the hash of the call's key, for streams that must end when the
    /// key is revoked.
    async fn authenticate<T>(&self, request: &Request<T>) -> Result<(Tenant, String), ApiError> {
        let hash = bearer_hash(request)?;
        // Never a tenant's key, whatever the key table holds: the operator's key works on
        // TenantService alone, so a leaked tenant key and the operator key stay apart.
        if self
            .operator_key
            .as_deref()
            .is_some_and(|op| crate::auth::hashes_equal(op, &hash))
        {
            return Err(ApiError::Unauthenticated(
                "the operator key only calls TenantService; call tenant RPCs with one of \
                 the tenant's API keys",
            ));
        }
        let peer = request.remote_addr().map(|addr| addr.ip());
        let tenant = self
            .tenant_of_hash(&hash, peer)
            .await?
            .ok_or(ApiError::Unauthenticated("unknown or revoked API key"))?;
        // Limited after authentication, so the buckets are bounded by the keys that exist;
        // keyed by the key's hash, so no secret is held here.
        if let Some(limiter) = &self.limiter {
            limiter.check(&hash).map_err(ApiError::RateLimited)?;
        }
        // For the call's log line and span; the key itself is never logged.
        crate::rpc_layer::record_tenant(request.extensions(), &tenant.id);
        Ok((tenant, hash))
    }

    /// The tenant of the key hashed as `hash`, None for an unknown or revoked key; read
    /// through the cache, and limited per client address `peer` when that is known.
    async fn tenant_of_hash(
        &self,
        hash: &str,
        peer: Option<std::net::IpAddr>,
    ) -> Result<Option<Tenant>, ApiError> {
        let generation = self.store.generations().keys();
        if let Some(cache) = &self.cache
            && let Some(tenant) = cache.tenant(hash, generation).await
        {
            return Ok(Some(tenant));
        }
        if let (Some(guesses), Some(peer)) = (&self.guesses, peer) {
            guesses
                .before_lookup(peer, hash)
                .await
                .map_err(ApiError::RateLimited)?;
        }
        let found = self.store.authenticate_hash(hash).await?;
        if let Some(guesses) = &self.guesses {
            guesses.after_lookup(hash, found.is_some()).await;
        }
        if let (Some(cache), Some(tenant)) = (&self.cache, &found) {
            cache
                .remember_tenant(hash.to_string(), generation, tenant)
                .await;
        }
        Ok(found)
    }
}

/// The hash of the key in the call's `authorization: Bearer <key>`, or UNAUTHENTICATED.
fn bearer_hash<T>(request: &Request<T>) -> Result<String, ApiError> {
    let header = request
        .metadata()
        .get("authorization")
        .ok_or(ApiError::Unauthenticated(
            "missing `authorization: Bearer <api key>` metadata",
        ))?;
    let key = header
        .to_str()
        .ok()
        .and_then(crate::auth::bearer_token)
        .ok_or(ApiError::Unauthenticated(
            "`authorization` metadata must be `Bearer <api key>`",
        ))?;
    Ok(crate::auth::hash_key(key))
}
