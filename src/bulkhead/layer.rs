use std::sync::Arc;

use tower_layer::Layer;

use super::{Bulkhead, BulkheadService, Inner};
use crate::lease::Leases;

/// A tower [`Layer`] that puts a [`Bulkhead`] in front of a service. Every
/// service it makes shares the one bulkhead.
///
/// # Examples
///
/// ```
/// use palisade::bulkhead::{Bulkhead, BulkheadLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let bulkhead = Bulkhead::builder().name("echo").max_concurrent(8).build()?;
/// let svc = ServiceBuilder::new()
///     .layer(BulkheadLayer::new(bulkhead.clone()))
///     .service(service_fn(|req: u32| async move { Ok::<_, std::io::Error>(req * 2) }));
/// let out = futures::executor::block_on(svc.oneshot(21)).unwrap();
/// assert_eq!(out, 42);
/// assert_eq!(bulkhead.metrics().admitted, 1);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
    leases: Arc<Leases<Inner>>,
}

impl BulkheadLayer {
    /// A layer guarding services with `bulkhead`.
    pub fn new(bulkhead: Bulkhead) -> Self {
        let leases = Arc::new(Leases::new(&bulkhead.inner));
        Self { bulkhead, leases }
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::with_leases(inner, self.bulkhead.clone(), Arc::clone(&self.leases))
    }
}

/// A tower [`Layer`] that runs the inner service's calls on a
/// [`ThreadPool`](super::ThreadPool): the inner service is readied on the
/// caller's side, then the readied clone is moved to a worker and called
/// there, so its future runs on the pool's own runtime.
///
/// # Examples
///
/// ```
/// use palisade::bulkhead::{ThreadPool, ThreadPoolLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let pool = ThreadPool::builder().name("blocking-client").threads(2).queue(4).build()?;
/// let svc = ServiceBuilder::new()
///     .layer(ThreadPoolLayer::new(pool))
///     .service(service_fn(|req: u32| async move {
///         // Runs on a pool thread.
///         Ok::<_, std::io::Error>(std::thread::current().name().map(str::to_owned))
///     }));
/// let on = futures::executor::block_on(svc.oneshot(1)).unwrap();
/// assert!(on.unwrap().starts_with("blocking-client-"));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ThreadPoolLayer {
    pool: super::ThreadPool,
}

impl ThreadPoolLayer {
    /// A layer running services' calls on `pool`.
    pub fn new(pool: super::ThreadPool) -> Self {
        Self { pool }
    }
}

impl<S> Layer<S> for ThreadPoolLayer {
    type Service = super::ThreadPoolService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        super::ThreadPoolService::new(inner, self.pool.clone())
    }
}
