use std::sync::Arc;

use tower_layer::Layer;

use super::state::Inner;
use super::{CircuitBreaker, CircuitBreakerService, DefaultClassifier};
use crate::lease::Leases;

/// A tower [`Layer`] that puts a [`CircuitBreaker`] in front of a service.
/// Every service it makes shares the one breaker.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let breaker = CircuitBreaker::builder().name("echo").build()?;
/// let svc = ServiceBuilder::new()
///     .layer(CircuitBreakerLayer::new(breaker.clone()))
///     .service(service_fn(|req: u32| async move { Ok::<_, std::io::Error>(req * 2) }));
/// let out = futures::executor::block_on(svc.oneshot(21)).unwrap();
/// assert_eq!(out, 42);
/// assert_eq!(breaker.snapshot().calls(), 1);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    breaker: CircuitBreaker<C>,
    leases: Arc<Leases<Inner>>,
}

impl<C> CircuitBreakerLayer<C> {
    /// A layer guarding services with `breaker`.
    pub fn new(breaker: CircuitBreaker<C>) -> Self {
        let leases = Arc::new(Leases::new(&breaker.inner));
        Self { breaker, leases }
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::with_leases(inner, self.breaker.clone(), Arc::clone(&self.leases))
    }
}
