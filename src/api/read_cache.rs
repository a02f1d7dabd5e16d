//! The read cache of the hot read paths: the tenant of an API key, and whole
//! QuerySnapshots and BatchGetLatest answers, kept for a short time-to-live.
//!
//! Each answer is filed under the tenant's write generation taken before it was computed
//! (see [`crate::storage::generations`]); a write made through this process moves the
//! generation, so the next call misses and reads the database: a client reads its own
//! writes at once. A write made through another replica, or a key revoked by another
//! process, is seen once the entry's time-to-live has run out. Errors are never cached.
use crate::domain::tenant::Tenant;
use crate::proto;
use moka::future::Cache;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Bytes of answers each cache holds at most; the least used go first.
const ANSWER_BYTES: u64 = 64 << 20;
/// Keys whose tenants are held at most.
const KEYS: u64 = 10_000;

/// Where an answer is filed: the tenant, its write generation, the request's bytes.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct AnswerKey {
    tenant: String,
    generation: u64,
    request: Vec<u8>,
}

/// An answer and when it was computed.
struct Filed<T> {
    answer: T,
    filed: Instant,
    /// Set once a call has started recomputing this stale answer.
    refreshing: AtomicBool,
}

/// What [`Answers::lookup`] found.
pub enum Lookup<T> {
    /// An answer younger than the time-to-live.
    Fresh(T),
    /// An answer older than the time-to-live but younger than twice it; `refresh` is true
    /// for the one call that should recompute it.
    Stale {
        /// The stale answer.
        answer: T,
        /// Whether this call should recompute it.
        refresh: bool,
    },
    /// Nothing usable.
    Missing,
}

/// Answers of one RPC, weighed by their encoded size.
///
/// An answer older than the time-to-live is still served while one call recomputes it in
/// the background (so no caller waits for the database on expiry, and expiry brings no
/// stampede of recomputations); older than twice the time-to-live it is gone.
#[derive(Clone)]
pub struct Answers<T: prost::Message + Clone + Send + Sync + 'static> {
    cache: Cache<AnswerKey, Arc<Filed<T>>>,
    ttl: Duration,
}

impl<T: prost::Message + Clone + Send + Sync + 'static> Answers<T> {
    fn new(ttl: Duration) -> Self {
        Answers {
            cache: Cache::builder()
                .max_capacity(ANSWER_BYTES)
                .weigher(|key: &AnswerKey, value: &Arc<Filed<T>>| {
                    u32::try_from(key.request.len() + value.answer.encoded_len())
                        .unwrap_or(u32::MAX)
                })
                .time_to_live(ttl * 2)
                .build(),
            ttl,
        }
    }

    /// The key of `request` by `tenant` at write generation `generation`.
    pub fn key(&self, tenant: &str, generation: u64, request: &impl prost::Message) -> AnswerKey {
        AnswerKey {
            tenant: tenant.to_string(),
            generation,
            request: request.encode_to_vec(),
        }
    }

    /// The answer filed under `key`, fresh or stale.
    pub async fn lookup(&self, key: &AnswerKey) -> Lookup<T> {
        let Some(filed) = self.cache.get(key).await else {
            return Lookup::Missing;
        };
        if filed.filed.elapsed() < self.ttl {
            return Lookup::Fresh(filed.answer.clone());
        }
        Lookup::Stale {
            answer: filed.answer.clone(),
            refresh: !filed.refreshing.swap(true, Ordering::AcqRel),
        }
    }

    /// Files `answer` under `key`.
    pub async fn insert(&self, key: AnswerKey, answer: &T) {
        self.cache.insert(key, filed(answer.clone())).await;
    }

    /// The answer under `key`, computed by `compute` and filed if there is none; calls
    /// that ask while it is being computed wait for it rather than compute it again.
    pub async fn get_or_compute(
        &self,
        key: AnswerKey,
        compute: impl Future<Output = Result<T, tonic::Status>>,
    ) -> Result<T, tonic::Status> {
        self.cache
            .try_get_with(key, async move { compute.await.map(filed) })
            .await
            .map(|filed| filed.answer.clone())
            .map_err(|status| tonic::Status::clone(&status))
    }
}

/// `answer`, filed now.
fn filed<T>(answer: T) -> Arc<Filed<T>> {
    Arc::new(Filed {
        answer,
        filed: Instant::now(),
        refreshing: AtomicBool::new(false),
    })
}

impl<T: prost::Message + Clone + Send + Sync + 'static> std::fmt::Debug for Answers<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("entries", &self.cache.entry_count())
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl super::Api {
    /// `compute`'s answer to `request`, read through `answers` when the cache is on.
    pub(super) async fn read_through<R, T, F, Fut>(
        &self,
        answers: fn(&ReadCache) -> &Answers<T>,
        tenant: &Tenant,
        request: &R,
        compute: F,
    ) -> Result<T, tonic::Status>
    where
        R: prost::Message + Clone + 'static,
        T: prost::Message + Clone + Send + Sync + 'static,
        F: FnOnce(super::Api, Tenant, R) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>> + Send + 'static,
    {
        let Some(cache) = &self.cache else {
            return compute(self.clone(), tenant.clone(), request.clone()).await;
        };
        // The generation is read before the database, so an answer computed across a
        // write is filed under a generation that no later call asks for.
        let generation = self.store.generations().tenant(&tenant.id);
        let key = answers(cache).key(&tenant.id, generation, request);
        match answers(cache).lookup(&key).await {
            Lookup::Fresh(answer) => Ok(answer),
            Lookup::Stale { answer, refresh } => {
                if refresh {
                    let cache = cache.clone();
                    let work = compute(self.clone(), tenant.clone(), request.clone());
                    tokio::spawn(async move {
                        match work.await {
                            Ok(fresh) => answers(&cache).insert(key, &fresh).await,
                            // The stale answer expires at twice the time-to-live; the
                            // next call then recomputes it and gets the error itself.
                            Err(status) => tracing::warn!(
                                code = ?status.code(),
                                message = status.message(),
                                "refreshing a cached answer failed"
                            ),
                        }
                    });
                }
                Ok(answer)
            }
            Lookup::Missing => {
                let work = compute(self.clone(), tenant.clone(), request.clone());
                answers(cache).get_or_compute(key, work).await
            }
        }
    }
}

/// The caches the API reads through.
#[derive(Debug)]
pub struct ReadCache {
    /// Tenant by (key hash, key generation): the secret itself is never held.
    tenants: Cache<(String, u64), Tenant>,
    /// QuerySnapshots answers.
    pub queries: Answers<proto::QuerySnapshotsResponse>,
    /// BatchGetLatest answers.
    pub latest: Answers<proto::BatchGetLatestResponse>,
}

impl ReadCache {
    /// Caches whose entries live `ttl`; None when `ttl` is zero (no cache).
    pub fn new(ttl: Duration) -> Option<Arc<ReadCache>> {
        if ttl.is_zero() {
            return None;
        }
        Some(Arc::new(ReadCache {
            tenants: Cache::builder()
                .max_capacity(KEYS)
                .time_to_live(ttl)
                .build(),
            queries: Answers::new(ttl),
            latest: Answers::new(ttl),
        }))
    }

    /// The tenant of the key hashed as `hash`, as authenticated at key generation
    /// `generation`.
    pub async fn tenant(&self, hash: &str, generation: u64) -> Option<Tenant> {
        self.tenants.get(&(hash.to_string(), generation)).await
    }

    /// Remembers that the key hashed as `hash` belongs to `tenant`.
    pub async fn remember_tenant(&self, hash: String, generation: u64, tenant: &Tenant) {
        self.tenants
            .insert((hash, generation), tenant.clone())
            .await;
    }
}

/// Whether the RPC at `path` only reads; any other call moves its tenant's generation
/// when it ends, including RPCs added later and not listed here.
fn reads_only(path: &str) -> bool {
    let method = path.rsplit('/').next().unwrap_or_default();
    ["Get", "List", "Query", "BatchGet", "Watch", "Suggest"]
        .iter()
        .any(|prefix| method.starts_with(prefix))
}

/// Moves the tenant's write generation when a call that may write ends, whatever its
/// status: a failed call may have written part of a batch it reports.
#[derive(Clone, Debug)]
pub struct WritesLayer {
    store: crate::storage::Store,
}

impl WritesLayer {
    /// A layer that notes writes in `store`'s generations.
    pub fn new(store: crate::storage::Store) -> Self {
        WritesLayer { store }
    }
}

impl<S> tower_layer::Layer<S> for WritesLayer {
    type Service = WritesService<S>;

    fn layer(&self, inner: S) -> WritesService<S> {
        WritesService {
            inner,
            store: self.store.clone(),
        }
    }
}

/// The service of [`WritesLayer`].
#[derive(Clone, Debug)]
pub struct WritesService<S> {
    inner: S,
    store: crate::storage::Store,
}

impl<S, ReqBody> tower_service::Service<http::Request<ReqBody>> for WritesService<S>
where
    S: tower_service::Service<http::Request<ReqBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // The tenant is learnt during the call, from the slot the RPC layer put in.
        let slot = (!reads_only(request.uri().path()))
            .then(|| {
                request
                    .extensions()
                    .get::<crate::rpc_layer::TenantSlot>()
                    .cloned()
            })
            .flatten();
        let note = slot.map(|slot| WriteNote {
            slot,
            store: self.store.clone(),
        });
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await;
            drop(note);
            response
        })
    }
}

/// Moves the call's tenant's generation when dropped: at the end of the call, or when
/// the client goes away mid-call, which may be after a commit.
struct WriteNote {
    slot: crate::rpc_layer::TenantSlot,
    store: crate::storage::Store,
}

impl Drop for WriteNote {
    fn drop(&mut self) {
        if let Some(tenant) = self.slot.tenant() {
            self.store.generations().tenant_written(tenant);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_told_from_writes_by_method_name() {
        for read in [
            "/tally.v1.KpiService/QuerySnapshots",
            "/tally.v1.KpiService/BatchGetLatest",
            "/tally.v1.KpiService/WatchSnapshots",
            "/tally.v1.ChannelService/ListChannels",
            "/tally.v1.GoalService/GetGoalProgress",
        ] {
            assert!(reads_only(read), "{read}");
        }
        for write in [
            "/tally.v1.KpiService/ComputeKpis",
            "/tally.v1.IngestService/IngestOrders",
            "/tally.v1.JobService/RunJob",
            "/tally.v1.ChannelService/DeleteChannel",
            "/tally.v1.NewService/Frobnicate",
        ] {
            assert!(!reads_only(write), "{write}");
        }
    }

    fn answer(n: usize) -> proto::QuerySnapshotsResponse {
        proto::QuerySnapshotsResponse {
            values: vec![proto::KpiValue::default(); n],
            currency_code: "EUR".into(),
        }
    }

    #[tokio::test]
    async fn an_answer_is_found_only_under_its_tenant_generation_and_request() {
        let cache = ReadCache::new(Duration::from_secs(60)).unwrap();
        let request = proto::QuerySnapshotsRequest {
            granularity: 1,
            ..Default::default()
        };
        cache
            .queries
            .insert(cache.queries.key("a", 3, &request), &answer(2))
            .await;
        match cache
            .queries
            .lookup(&cache.queries.key("a", 3, &request))
            .await
        {
            Lookup::Fresh(found) => assert_eq!(found, answer(2)),
            _ => panic!("the answer just filed is not found fresh"),
        }
        // A later write, another tenant, another request: all miss.
        for key in [
            cache.queries.key("a", 4, &request),
            cache.queries.key("b", 3, &request),
        ] {
            assert!(matches!(cache.queries.lookup(&key).await, Lookup::Missing));
        }
        let other = proto::QuerySnapshotsRequest {
            granularity: 2,
            ..Default::default()
        };
        assert!(matches!(
            cache
                .queries
                .lookup(&cache.queries.key("a", 3, &other))
                .await,
            Lookup::Missing
        ));
    }

    #[tokio::test]
    async fn a_stale_answer_is_served_while_one_call_refreshes_it() {
        let cache = ReadCache::new(Duration::from_millis(30)).unwrap();
        let key = || {
            cache
                .queries
                .key("a", 0, &proto::QuerySnapshotsRequest::default())
        };
        cache.queries.insert(key(), &answer(1)).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        let refreshes: Vec<bool> = [
            cache.queries.lookup(&key()).await,
            cache.queries.lookup(&key()).await,
        ]
        .into_iter()
        .map(|found| match found {
            Lookup::Stale { answer: a, refresh } if a == answer(1) => refresh,
            _ => panic!("expected the stale answer"),
        })
        .collect();
        assert_eq!(refreshes, [true, false]);
        // Refreshed: fresh again. Past twice the time-to-live: gone.
        cache.queries.insert(key(), &answer(2)).await;
        assert!(matches!(cache.queries.lookup(&key()).await, Lookup::Fresh(a) if a == answer(2)));
        tokio::time::sleep(Duration::from_millis(70)).await;
        assert!(matches!(
            cache.queries.lookup(&key()).await,
            Lookup::Missing
        ));
    }

    #[tokio::test]
    async fn calls_missing_the_same_answer_compute_it_once() {
        let cache = ReadCache::new(Duration::from_secs(60)).unwrap();
        let computed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let calls = (0..8).map(|_| {
            let (cache, computed) = (cache.clone(), computed.clone());
            tokio::spawn(async move {
                let key = cache
                    .queries
                    .key("a", 0, &proto::QuerySnapshotsRequest::default());
                cache
                    .queries
                    .get_or_compute(key, async move {
                        computed.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(answer(3))
                    })
                    .await
            })
        });
        for call in calls.collect::<Vec<_>>() {
            assert_eq!(call.await.unwrap().unwrap(), answer(3));
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        // An error is passed to every waiter and not kept.
        let key = cache
            .queries
            .key("b", 0, &proto::QuerySnapshotsRequest::default());
        let failed = cache
            .queries
            .get_or_compute(key.clone(), async {
                Err(tonic::Status::unavailable("down"))
            })
            .await;
        assert_eq!(failed.unwrap_err().code(), tonic::Code::Unavailable);
        assert!(matches!(cache.queries.lookup(&key).await, Lookup::Missing));
    }

    #[test]
    fn a_zero_time_to_live_turns_the_cache_off() {
        assert!(ReadCache::new(Duration::ZERO).is_none());
    }
}
