//! The gRPC API layer: converts and validates protobuf messages, calls storage with domain
//! types and converts back. No SQL here and no protobuf below here.
pub mod campaign;
pub mod channel;
pub mod convert;
pub mod error;
pub mod goal;
pub mod influencer;
pub mod ingest;
pub mod job;
pub mod kpi;
pub mod limits;
pub mod read_cache;
pub mod segment;

use crate::domain::tenant::Tenant;
use crate::storage::Store;
use error::ApiError;
use tonic::Request;

/// The state every service shares; cheap to clone.
#[derive(Clone, Debug)]
pub struct Api {
    store: Store,
    feed: crate::compute::SnapshotFeed,
    jobs: crate::jobs::Jobs,
    limiter: Option<limits::Limiter>,
    cache: Option<std::sync::Arc<read_cache::ReadCache>>,
}

impl Api {
    /// An API over the job runner's store and snapshot feed.
    pub fn new(jobs: crate::jobs::Jobs) -> Self {
        Api {
            store: jobs.store().clone(),
            feed: jobs.feed().clone(),
            jobs,
            limiter: None,
            cache: None,
        }
    }

    /// The same API reading keys and hot answers through caches whose entries live
    /// `ttl` (none when zero; see [`read_cache`]).
    pub fn with_read_cache(mut self, ttl: std::time::Duration) -> Self {
        self.cache = read_cache::ReadCache::new(ttl);
        self
    }

    /// The same API with each key limited to `limit`.
    pub fn with_rate_limit(mut self, limit: Option<limits::RateLimit>) -> Self {
        self.limiter = limit.map(limits::Limiter::new);
        self
    }

    /// The tenant of the call's `authorization: Bearer <key>`, or UNAUTHENTICATED.
    pub async fn tenant<T>(&self, request: &Request<T>) -> Result<Tenant, ApiError> {
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
        let hash = crate::auth::hash_key(key);
        let generation = self.store.generations().keys();
        let cached = match &self.cache {
            Some(cache) => cache.tenant(&hash, generation).await,
            None => None,
        };
        let tenant = match cached {
            Some(tenant) => tenant,
            None => {
                let tenant = self
                    .store
                    .authenticate_hash(&hash)
                    .await?
                    .ok_or(ApiError::Unauthenticated("unknown or revoked API key"))?;
                if let Some(cache) = &self.cache {
                    cache
                        .remember_tenant(hash.clone(), generation, &tenant)
                        .await;
                }
                tenant
            }
        };
        // Limited after authentication, so the buckets are bounded by the keys that exist;
        // keyed by the key's hash, so no secret is held here.
        if let Some(limiter) = &self.limiter {
            limiter.check(&hash).map_err(ApiError::RateLimited)?;
        }
        // For the call's log line and span; the key itself is never logged.
        crate::rpc_layer::record_tenant(request.extensions(), &tenant.id);
        Ok(tenant)
    }
}
