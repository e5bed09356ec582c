//! Fallback as a tower layer.

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::{FallbackResponse, Stage};
use super::{Fallback, Handler, When};

/// A tower [`Layer`] that turns the inner service's picked errors into a
/// fallback response.
///
/// # Examples
///
/// ```
/// use palisade::fallback::{Fallback, FallbackLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let svc = ServiceBuilder::new()
///     .layer(FallbackLayer::new(Fallback::value("default")))
///     .service(service_fn(|_: ()| async { Err::<&str, _>(std::io::Error::other("down")) }));
/// assert_eq!(futures::executor::block_on(svc.oneshot(())).unwrap(), "default");
/// ```
#[derive(Clone, Debug)]
pub struct FallbackLayer<H, W> {
    fallback: Fallback<H, W>,
}

impl<H, W> FallbackLayer<H, W> {
    /// A layer applying `fallback`.
    pub fn new(fallback: Fallback<H, W>) -> Self {
        Self { fallback }
    }
}

impl<S, H: Clone, W: Clone> Layer<S> for FallbackLayer<H, W> {
    type Service = FallbackService<S, H, W>;

    fn layer(&self, inner: S) -> Self::Service {
        FallbackService {
            inner,
            fallback: self.fallback.clone(),
        }
    }
}

/// A tower [`Service`] with a fallback; made by [`FallbackLayer`].
/// `poll_ready` is the inner service's.
#[derive(Clone, Debug)]
pub struct FallbackService<S, H, W> {
    inner: S,
    fallback: Fallback<H, W>,
}

impl<S, H, W, Req> Service<Req> for FallbackService<S, H, W>
where
    S: Service<Req>,
    H: Handler<S::Error, S::Response> + Clone,
    W: When<S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = FallbackResponse<S::Future, H::Future, H, W>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        FallbackResponse {
            stage: Stage::Running {
                fut: self.inner.call(req),
            },
            handler: self.fallback.handler.clone(),
            when: self.fallback.when.clone(),
            served: self.fallback.served.clone(),
        }
    }
}

inner_service!(FallbackService<S, H, W>);
