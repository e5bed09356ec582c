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
/// use parapet::bulkhead::{Bulkhead, BulkheadLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let bulkhead = Bulkhead::builder().name("echo").max_concurrent(8).build()?;
/// let svc = ServiceBuilder::new()
///     .layer(BulkheadLayer::new(bulkhead.clone()))
///     .service(service_fn(|req: u32| async move { Ok::<_, std::io::Error>(req * 2) }));
/// let out = futures::executor::block_on(svc.oneshot(21)).unwrap();
/// assert_eq!(out, 42);
/// assert_eq!(bulkhead.metrics().admitted, 1);
/// # Ok::<(), parapet::ConfigError>(())
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
