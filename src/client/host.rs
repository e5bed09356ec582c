//! One downstream host: the guards that keep their state across
//! reconfiguration (breaker, bulkhead, retry budget), and the pipeline new
//! calls take (timeouts and retries switch for calls that start after a
//! change).

use std::sync::Arc;

use parking_lot::RwLock;

use super::HostLimit;
use crate::config::{PipelineConfig, RetryConfig};
use crate::config_error::ConfigError;
use crate::fallback::Served;
use crate::name::Name;
use crate::pipeline::Pipeline;
use crate::retry::{Retry, RetryBudget};
use crate::timer::TokioTimer;

/// A host's pipeline: tokio's timer, the preset `K` as retry policy and as
/// the breaker's classifier, a bulkhead or an adaptive limit
/// ([`HostLimit`]).
pub type HostPipeline<K> = Pipeline<TokioTimer, K, K, HostLimit>;

/// A downstream host's guards, made from its configuration on first use
/// and reconfigured in place. Cheap to share (`Arc`).
pub(crate) struct Host<K> {
    key: Arc<str>,
    current: RwLock<Arc<Current<K>>>,
    /// Fallbacks served for this host, counted under its key.
    served: Served,
}

/// What a call starting now runs through.
pub(crate) struct Current<K> {
    /// The configuration key the settings came from (`defaults` for a host
    /// the configuration does not name).
    pub(crate) source: String,
    /// The generation of the configuration it came from.
    pub(crate) generation: u64,
    pub(crate) config: PipelineConfig,
    /// Every guard the configuration names.
    pub(crate) pipeline: Arc<HostPipeline<K>>,
    /// The same without retries: for a request whose method is not
    /// idempotent.
    pub(crate) once: Arc<HostPipeline<K>>,
    budget: Option<RetryBudget>,
}

impl<K> Clone for Current<K> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            generation: self.generation,
            config: self.config.clone(),
            pipeline: Arc::clone(&self.pipeline),
            once: Arc::clone(&self.once),
            budget: self.budget.clone(),
        }
    }
}

impl<K> Current<K> {
    pub(crate) fn fallback(&self) -> bool {
        self.config.fallback.unwrap_or(false)
    }

    pub(crate) fn retries_any_method(&self) -> bool {
        self.config.retry_non_idempotent.unwrap_or(false)
    }
}

impl<K: Clone + Send + Sync + 'static> Host<K> {
    pub(crate) fn new(
        key: &str,
        source: &str,
        generation: u64,
        config: &PipelineConfig,
        classifier: &K,
    ) -> Result<Self, ConfigError> {
        let key: Arc<str> = Arc::from(key);
        let current = build(&key, source, generation, config, classifier, None)?;
        Ok(Self {
            served: Served::new(Name::Shared(Arc::clone(&key))),
            key,
            current: RwLock::new(Arc::new(current)),
        })
    }

    pub(crate) fn key(&self) -> &Arc<str> {
        &self.key
    }

    pub(crate) fn served(&self) -> &Served {
        &self.served
    }

    pub(crate) fn current(&self) -> Arc<Current<K>> {
        Arc::clone(&self.current.read())
    }

    /// Applies `config` (from `source`): the breaker, bulkhead and budget
    /// keep their state where their settings can change in place; the
    /// pipeline new calls take is replaced. Unchanged settings change
    /// nothing.
    pub(crate) fn update(
        &self,
        source: &str,
        generation: u64,
        config: &PipelineConfig,
        classifier: &K,
    ) -> Result<(), ConfigError> {
        let mut current = self.current.write();
        if current.generation >= generation {
            return Ok(());
        }
        if current.config == *config && current.source == source {
            let same = Current {
                generation,
                ..Current::clone(&current)
            };
            *current = Arc::new(same);
            return Ok(());
        }
        let next = build(
            &self.key,
            source,
            generation,
            config,
            classifier,
            Some(&current),
        )?;
        *current = Arc::new(next);
        Ok(())
    }
}

/// The guards `config` describes for `key`, reusing `previous`'s where
/// they can take the new settings in place:
///
/// - the breaker is reconfigured (its window and state kept) unless its
///   window's shape changed (`count` to `time`, or a new size), which needs
///   a new window;
/// - the bulkhead is resized (places held and queued kept) unless its queue
///   settings changed;
/// - the retry budget is kept while its settings are the same.
fn build<K: Clone + Send + Sync + 'static>(
    key: &Arc<str>,
    source: &str,
    generation: u64,
    config: &PipelineConfig,
    classifier: &K,
    previous: Option<&Current<K>>,
) -> Result<Current<K>, ConfigError> {
    let name = key.to_string();
    let old = previous.map(|p| (&p.config, &p.pipeline));
    let breaker = match &config.circuit_breaker {
        None => None,
        Some(settings) => {
            let fresh = settings
                .builder(&name)
                .classifier(classifier.clone())
                .build()?;
            let kept = old.and_then(|(old_config, pipeline)| {
                let same_window = old_config.circuit_breaker.as_ref()?.window == settings.window;
                same_window.then(|| pipeline.circuit_breaker().cloned())?
            });
            match kept {
                Some(kept) => {
                    kept.reconfigure(fresh.settings())?;
                    Some(kept)
                }
                None => Some(fresh),
            }
        }
    };
    let old_limit = previous.and_then(|p| p.pipeline.limiter());
    let limit = match (&config.bulkhead, &config.adaptive_limit) {
        (Some(settings), _) => {
            let kept = old.and_then(|(old_config, _)| {
                let old = old_config.bulkhead.as_ref()?;
                let same_queue =
                    (old.max_waiters, old.max_wait) == (settings.max_waiters, settings.max_wait);
                same_queue.then(|| old_limit?.bulkhead().cloned())?
            });
            let fresh = settings.builder(&name)?.build()?;
            Some(HostLimit::Bulkhead(match kept {
                // Validated as a whole first, so a bad value changes nothing.
                Some(kept) => {
                    kept.resize(fresh.metrics().limit)?;
                    kept
                }
                None => fresh,
            }))
        }
        (None, Some(settings)) => {
            let fresh = settings.builder(&name).build()?;
            let kept = old.and_then(|(old_config, _)| {
                let old = old_config.adaptive_limit.as_ref()?;
                let same = (old.algorithm, old.window) == (settings.algorithm, settings.window);
                same.then(|| old_limit?.adaptive().cloned())?
            });
            Some(HostLimit::Adaptive(match kept {
                // The limit it reached is kept, within the new bounds.
                Some(kept) => {
                    let (min, max) = fresh.bounds();
                    kept.set_bounds(min, max)?;
                    kept
                }
                None => fresh,
            }))
        }
        (None, None) => None,
    };
    let budget = match config.retry.as_ref().and_then(|r| r.budget.as_ref()) {
        None => None,
        Some(settings) => {
            let same = previous.and_then(|p| {
                let old = p.config.retry.as_ref()?.budget.as_ref()?;
                (old == settings).then(|| p.budget.clone())?
            });
            Some(match same {
                Some(kept) => kept,
                None => settings.build()?,
            })
        }
    };
    let retry = config
        .retry
        .as_ref()
        .map(|settings| retry(&name, settings, classifier, budget.clone()))
        .transpose()?;
    let pipeline = Pipeline::builder(TokioTimer)
        .name(name)
        .timeout_opt(config.timeout)
        .attempt_timeout_opt(config.attempt_timeout)
        .hold_open_on_hint_opt(config.hold_open_on_hint)
        .guards(retry, breaker, limit)
        .build()?;
    let once = pipeline.adjusted(super::Skip::RETRY, None)?;
    Ok(Current {
        source: source.to_owned(),
        generation,
        config: config.clone(),
        pipeline: Arc::new(pipeline),
        once: Arc::new(once),
        budget,
    })
}

fn retry<K: Clone + Send + Sync + 'static>(
    name: &str,
    settings: &RetryConfig,
    classifier: &K,
    budget: Option<RetryBudget>,
) -> Result<Retry<K>, ConfigError> {
    let mut builder = settings.builder(name).timer(TokioTimer);
    if let Some(budget) = budget {
        builder = builder.budget(budget);
    }
    builder.policy(classifier.clone()).build()
}
