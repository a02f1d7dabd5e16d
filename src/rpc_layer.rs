//! The tower layer around every call on the main gRPC port: one info log line per RPC
//! (method, code, latency_ms, tenant) and the `tally_rpc_*` metrics.
//!
//! The code is read from the response headers when they carry `grpc-status` (tonic's
//! trailers-only responses: unary errors, and streams that fail before their first
//! message), otherwise from the trailers at the end of the body, so streams are counted
//! with their final status and their duration runs until that status is sent. A body
//! dropped before its trailers (the client went away, or shutdown) counts as `CANCELLED`.
//!
//! The tenant is known only after authentication: the layer puts a [`TenantSlot`] into the
//! request's extensions, which [`record_tenant`] fills from `Api::tenant`; it also records
//! the tenant into the `rpc` span that the handler runs in. Nothing else of the request is
//! logged: no metadata, so no key or token, and no body.
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Span;

/// Services whose method paths become metric labels as they are; any other path (a
/// client's typo, a scanner) is labelled `unknown` so label values stay bounded.
const KNOWN_PREFIXES: &[&str] = &["/tally.v1.", "/grpc.health.v1.", "/grpc.reflection."];

/// Adds RPC logs and metrics to a tonic server.
#[derive(Clone, Copy, Debug, Default)]
pub struct RpcLayer;

impl<S> tower_layer::Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> RpcService<S> {
        RpcService { inner }
    }
}

/// The service [`RpcLayer`] wraps around the server's routes.
#[derive(Clone, Debug)]
pub struct RpcService<S> {
    inner: S,
}

/// Where the authenticated tenant of a call is left for the log line.
#[derive(Clone, Debug, Default)]
pub struct TenantSlot(Arc<OnceLock<String>>);

impl TenantSlot {
    /// The call's tenant, once authenticated.
    pub fn tenant(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// Notes the call's tenant for its log line and span; a no-op outside [`RpcLayer`].
pub fn record_tenant(extensions: &tonic::Extensions, tenant: &str) {
    if let Some(slot) = extensions.get::<TenantSlot>() {
        let _ = slot.0.set(tenant.to_string());
    }
    Span::current().record("tenant", tenant);
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for RpcService<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<RpcBody<ResBody>>;
    type Error = S::Error;
    type Future = RpcFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let path = request.uri().path();
        let method = if KNOWN_PREFIXES.iter().any(|p| path.starts_with(p)) {
            path.to_string()
        } else {
            "unknown".to_string()
        };
        let tenant = TenantSlot::default();
        request.extensions_mut().insert(tenant.clone());
        let span = tracing::info_span!("rpc", method = %method, tenant = tracing::field::Empty);
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        RpcFuture {
            inner,
            span,
            call: Some(Call {
                method,
                tenant,
                start: Instant::now(),
                done: false,
            }),
        }
    }
}

pin_project! {
    /// The response future of [`RpcService`]: runs the handler inside the `rpc` span.
    pub struct RpcFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        call: Option<Call>,
    }
}

impl<F, ResBody, E> Future for RpcFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = Result<http::Response<RpcBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.enter();
            std::task::ready!(this.inner.poll(cx))
        };
        let mut call = this.call.take().expect("polled after completion");
        Poll::Ready(match result {
            Ok(response) => {
                if let Some(code) = grpc_code(response.headers()) {
                    call.finish(code);
                }
                let span = this.span.clone();
                Ok(response.map(|inner| RpcBody {
                    inner,
                    span,
                    call: Some(call),
                }))
            }
            Err(e) => {
                // tonic's routes never fail; should a layer below, hyper resets the stream.
                call.finish("UNKNOWN");
                Err(e)
            }
        })
    }
}

pin_project! {
    /// A response body that notes the status from the trailers when they pass.
    pub struct RpcBody<B> {
        #[pin]
        inner: B,
        span: Span,
        call: Option<Call>,
    }
}

impl<B: http_body::Body> http_body::Body for RpcBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = {
            // Streaming handlers produce their messages here, so their logs get the span.
            let _entered = this.span.enter();
            std::task::ready!(this.inner.poll_frame(cx))
        };
        if let Some(call) = this.call.as_mut() {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(code) = frame.trailers_ref().and_then(grpc_code) {
                        call.finish(code);
                    }
                }
                Some(Err(_)) => call.finish("INTERNAL"),
                // Ended without trailers: gRPC-wise nothing failed that we could see.
                None => call.finish("OK"),
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// One call's bookkeeping; logged and counted once, at its status or when dropped.
struct Call {
    method: String,
    tenant: TenantSlot,
    start: Instant,
    done: bool,
}

impl Call {
    fn finish(&mut self, code: &'static str) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = self.start.elapsed();
        crate::metrics::rpc_finished(&self.method, code, elapsed.as_secs_f64());
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        // The line stands alone (no span): it already carries every field of the span.
        match self.tenant.0.get() {
            Some(tenant) => tracing::info!(
                parent: None,
                method = %self.method,
                code,
                latency_ms,
                tenant = %tenant,
                "rpc"
            ),
            None => tracing::info!(parent: None, method = %self.method, code, latency_ms, "rpc"),
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // No status reached the client: it reset the stream or the server stopped.
        self.finish("CANCELLED");
    }
}

/// The name of the `grpc-status` in `headers`, if there is one.
fn grpc_code(headers: &http::HeaderMap) -> Option<&'static str> {
    let value = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(code_name(value))
}

/// The canonical name of a gRPC status code, as in the gRPC specification.
fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_have_their_canonical_names() {
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(5), "NOT_FOUND");
        assert_eq!(code_name(16), "UNAUTHENTICATED");
        assert_eq!(code_name(99), "UNKNOWN");
        let mut headers = http::HeaderMap::new();
        assert_eq!(grpc_code(&headers), None);
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
        assert_eq!(grpc_code(&headers), Some("INVALID_ARGUMENT"));
    }
}
