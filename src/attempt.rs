//! How a composer makes each attempt of a call: the [`Attempts`] trait,
//! which any `FnMut() -> Fut` is, and its tower form, [`ServiceAttempts`]:
//! the first attempt through the service `poll_ready` readied, each later
//! one through a fresh clone that readies itself. The pipeline, the hedge
//! and the client make their attempts through it.

use std::future::Future;
#[cfg(feature = "tower")]
use std::pin::Pin;
#[cfg(feature = "tower")]
use std::task::{Context, Poll};

#[cfg(feature = "tower")]
use pin_project_lite::pin_project;
#[cfg(feature = "tower")]
use tower_service::Service;

/// Makes each attempt's future: a closure for
/// [`Pipeline::call`](crate::pipeline::Pipeline::call) and
/// [`Hedge::call`](crate::hedge::Hedge::call), a readied service and then
/// clones of it for the tower forms.
pub trait Attempts {
    /// One attempt.
    type Attempt: Future;

    /// The next attempt's future.
    fn next_attempt(&mut self) -> Self::Attempt;
}

impl<F: FnMut() -> Fut, Fut: Future> Attempts for F {
    type Attempt = Fut;

    #[inline]
    fn next_attempt(&mut self) -> Fut {
        self()
    }
}

/// The attempts of a tower call: the readied service first, then clones.
#[cfg(feature = "tower")]
#[derive(Debug)]
pub struct ServiceAttempts<S, Req> {
    ready: Option<S>,
    template: S,
    req: Req,
}

#[cfg(feature = "tower")]
impl<S, Req> ServiceAttempts<S, Req> {
    /// `ready` (a service readied for the first attempt, if any) calls
    /// first, then clones of `template`, readied in turn.
    pub(crate) fn new(ready: Option<S>, template: S, req: Req) -> Self {
        Self {
            ready,
            template,
            req,
        }
    }
}

#[cfg(feature = "tower")]
impl<S, Req> Attempts for ServiceAttempts<S, Req>
where
    S: Service<Req> + Clone,
    Req: Clone,
{
    type Attempt = ServiceAttempt<S, Req>;

    fn next_attempt(&mut self) -> ServiceAttempt<S, Req> {
        let stage = match self.ready.take() {
            Some(mut ready) => Stage::Calling {
                fut: ready.call(self.req.clone()),
            },
            None => Stage::Readying {
                service: self.template.clone(),
                req: Some(self.req.clone()),
            },
        };
        ServiceAttempt { stage }
    }
}

#[cfg(feature = "tower")]
pin_project! {
    /// One attempt of a tower call: readies its service, then calls it.
    #[must_use = "futures do nothing unless polled"]
    pub struct ServiceAttempt<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        stage: Stage<S, Req>,
    }
}

#[cfg(feature = "tower")]
pin_project! {
    #[project = StageProj]
    enum Stage<S, Req>
    where
        S: Service<Req>,
    {
        Readying { service: S, req: Option<Req> },
        Calling { #[pin] fut: S::Future },
    }
}

#[cfg(feature = "tower")]
impl<S: Service<Req>, Req> ServiceAttempt<S, Req> {
    /// An attempt that readies `service`, then sends `req`.
    #[cfg(feature = "client")]
    pub(crate) fn new(service: S, req: Req) -> Self {
        ServiceAttempt {
            stage: Stage::Readying {
                service,
                req: Some(req),
            },
        }
    }
}

#[cfg(feature = "tower")]
impl<S: Service<Req>, Req> Future for ServiceAttempt<S, Req> {
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut stage = self.project().stage;
        loop {
            match stage.as_mut().project() {
                StageProj::Readying { service, req } => {
                    if let Err(e) = std::task::ready!(service.poll_ready(cx)) {
                        return Poll::Ready(Err(e));
                    }
                    let req = req.take().expect("called once");
                    let fut = service.call(req);
                    stage.set(Stage::Calling { fut });
                }
                StageProj::Calling { fut } => return fut.poll(cx),
            }
        }
    }
}

#[cfg(feature = "tower")]
impl<S: Service<Req>, Req> std::fmt::Debug for ServiceAttempt<S, Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAttempt").finish_non_exhaustive()
    }
}
