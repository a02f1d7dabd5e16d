//! Open streams (WatchSnapshots, WatchGoals) end with UNAUTHENTICATED once their API key
//! is revoked: at once when it is revoked through this process's store, and otherwise
//! (`tally admin revoke-key` is another process) at the next check of the key, made every
//! read-cache time-to-live through the same cached lookup as every call; so a stream ends
//! within about twice the time-to-live, as a unary call is refused within once it.
use super::Api;
use super::error::ApiError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::Status;

/// How often an open stream's key is checked when the read cache is off.
pub const UNCACHED_KEY_CHECK: Duration =
    Duration::from_millis(crate::config::DEFAULT_READ_CACHE_TTL_MS);

/// A stream that ends with UNAUTHENTICATED once its key is no longer valid.
pub struct UntilRevoked<S> {
    inner: S,
    /// Completes with the status to end with; None once the stream has ended.
    revoked: Option<Pin<Box<dyn Future<Output = Status> + Send>>>,
}

impl<S, T> tokio_stream::Stream for UntilRevoked<S>
where
    S: tokio_stream::Stream<Item = Result<T, Status>> + Unpin,
{
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(revoked) = this.revoked.as_mut() else {
            return Poll::Ready(None);
        };
        // Checked first, so that no value already queued slips out after the revocation
        // was seen.
        if let Poll::Ready(status) = revoked.as_mut().poll(cx) {
            this.revoked = None;
            return Poll::Ready(Some(Err(status)));
        }
        let next = Pin::new(&mut this.inner).poll_next(cx);
        if let Poll::Ready(None) = next {
            this.revoked = None;
        }
        next
    }
}

impl Api {
    /// `stream`, ended with UNAUTHENTICATED once the key hashed as `hash` stops being valid.
    pub(super) fn until_revoked<S>(&self, hash: String, stream: S) -> UntilRevoked<S> {
        let api = self.clone();
        UntilRevoked {
            inner: stream,
            revoked: Some(Box::pin(api.revoked(hash))),
        }
    }

    /// Completes once the key hashed as `hash` is unknown or revoked.
    async fn revoked(self, hash: String) -> Status {
        loop {
            // Taken before the check, so that a revocation during it is not missed.
            let next_revocation = self.store.generations().next_revocation();
            match self.tenant_of_hash(&hash, None).await {
                Ok(Some(_)) => {}
                Ok(None) => return ApiError::Unauthenticated("API key revoked").into(),
                // A stream is not cut for a database blip; the next check tries again.
                Err(e) => tracing::debug!(error = %e, "could not check an open stream's key"),
            }
            tokio::select! {
                () = next_revocation => {}
                () = tokio::time::sleep(self.key_check) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn values_pass_until_the_revocation_then_the_status_and_nothing_more() {
        let (revoke, revoked) = tokio::sync::oneshot::channel::<()>();
        let (send, values) = tokio::sync::mpsc::unbounded_channel::<Result<u32, Status>>();
        let mut stream = UntilRevoked {
            inner: tokio_stream::wrappers::UnboundedReceiverStream::new(values),
            revoked: Some(Box::pin(async move {
                let _ = revoked.await;
                Status::unauthenticated("API key revoked")
            })),
        };
        send.send(Ok(1)).unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), 1);
        revoke.send(()).unwrap();
        // A value queued after the revocation is not delivered.
        send.send(Ok(2)).unwrap();
        let end = stream.next().await.unwrap().unwrap_err();
        assert_eq!(end.code(), tonic::Code::Unauthenticated);
        assert!(stream.next().await.is_none());
    }
}
