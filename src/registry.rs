//! A bounded registry of named instances: one breaker (or bulkhead,
//! retry, pipeline...) per host, per route, per tenant, made on first use.
//!
//! Per-key guards are where memory grows without limit in other libraries
//! (one breaker per host name ever seen). A [`Registry`] holds at most
//! `max_entries`: an entry not used for `idle_timeout` is evicted, and when
//! the registry is full the least recently used entry makes room. An
//! evicted instance lives on for whoever still holds a clone; the registry
//! only forgets it (the next use of the name makes a fresh one).
//!
//! Instances are made by a function of the name, so shared defaults and
//! per-name overrides are ordinary code; concurrent first uses of one name
//! make one instance. [`Registry::entries`] lists every instance, for an
//! exporter or an admin endpoint.
//!
//! # Examples
//!
//! ```
//! use palisade::circuit_breaker::{CircuitBreaker, Settings};
//! use palisade::registry::Registry;
//!
//! let mut defaults = Settings::default();
//! defaults.failure_rate_threshold = 0.5;
//! let breakers = Registry::builder(move |host: &str| {
//!     let mut settings = defaults.clone();
//!     if host == "payments.internal" {
//!         settings.failure_rate_threshold = 0.2; // a per-name override
//!     }
//!     CircuitBreaker::builder().name(host.to_owned()).settings(settings).build()
//! })
//! .max_entries(1000)
//! .build()?;
//!
//! let a = breakers.get("payments.internal")?;
//! let b = breakers.get("payments.internal")?;
//! assert_eq!(a.settings().failure_rate_threshold, 0.2);
//! assert_eq!(breakers.len(), 1);
//! # let _ = b;
//! # Ok::<(), palisade::ConfigError>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::clock::{Clock, DefaultClock};
use crate::error::ConfigError;

type Make<T> = Box<dyn Fn(&str) -> Result<T, ConfigError> + Send + Sync>;

struct Entry<T> {
    value: T,
    /// Clock time of the last `get`.
    used: AtomicU64,
}

struct Shared<T> {
    entries: RwLock<HashMap<Arc<str>, Entry<T>>>,
    make: Make<T>,
    max: usize,
    idle: u64,
    clock: Arc<dyn Clock>,
}

/// Named instances, made on first use, bounded. Cheap to clone: clones
/// share one registry. See the [module docs](self).
pub struct Registry<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Registry<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("len", &self.shared.entries.read().len())
            .field("max_entries", &self.shared.max)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Registry`].
#[must_use]
pub struct RegistryBuilder<T> {
    make: Make<T>,
    max: usize,
    idle: Option<Duration>,
    clock: Arc<dyn Clock>,
}

impl<T> fmt::Debug for RegistryBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("max_entries", &self.max)
            .field("idle_timeout", &self.idle)
            .finish_non_exhaustive()
    }
}

/// The most entries a registry may hold.
pub const MAX_ENTRIES: usize = 1 << 20;

impl<T: Clone> Registry<T> {
    /// A builder; `make` makes the instance for a name on its first use.
    pub fn builder(
        make: impl Fn(&str) -> Result<T, ConfigError> + Send + Sync + 'static,
    ) -> RegistryBuilder<T> {
        RegistryBuilder {
            make: Box::new(make),
            max: 1024,
            idle: None,
            clock: Arc::new(DefaultClock::new()),
        }
    }

    /// The instance for `name`, made now if the registry has none (or
    /// evicted it). Concurrent first uses make one instance.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of `make`, if it fails for this name; nothing
    /// is stored then.
    pub fn get(&self, name: &str) -> Result<T, ConfigError> {
        let now = self.shared.clock.now_nanos();
        if let Some(entry) = self.shared.entries.read().get(name) {
            // Relaxed: a recency hint for eviction.
            entry.used.store(now, Ordering::Relaxed);
            return Ok(entry.value.clone());
        }
        let mut entries = self.shared.entries.write();
        if let Some(entry) = entries.get(name) {
            entry.used.store(now, Ordering::Relaxed);
            return Ok(entry.value.clone());
        }
        let value = (self.shared.make)(name)?;
        self.shared.make_room(&mut entries, now);
        entries.insert(
            Arc::from(name),
            Entry {
                value: value.clone(),
                used: AtomicU64::new(now),
            },
        );
        Ok(value)
    }

    /// Every instance held now, with its name (sorted by name).
    pub fn entries(&self) -> Vec<(Arc<str>, T)> {
        let mut all: Vec<_> = self
            .shared
            .entries
            .read()
            .iter()
            .map(|(name, e)| (Arc::clone(name), e.value.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Forgets `name`'s instance; returns it if there was one.
    pub fn remove(&self, name: &str) -> Option<T> {
        self.shared.entries.write().remove(name).map(|e| e.value)
    }

    /// Instances held now.
    pub fn len(&self) -> usize {
        self.shared.entries.read().len()
    }

    /// True if no instance is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Shared<T> {
    /// Under the write lock, before an insert: evicts idle entries, then
    /// the least recently used ones until there is room for one more.
    fn make_room(&self, entries: &mut HashMap<Arc<str>, Entry<T>>, now: u64) {
        if self.idle != u64::MAX {
            entries.retain(|_, e| now.saturating_sub(e.used.load(Ordering::Relaxed)) < self.idle);
        }
        while entries.len() >= self.max {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.used.load(Ordering::Relaxed))
                .map(|(name, _)| Arc::clone(name));
            match oldest {
                Some(name) => entries.remove(&name),
                None => break,
            };
        }
    }
}

impl<T: Clone> RegistryBuilder<T> {
    /// The most instances held at once, in `1..=MAX_ENTRIES`. Default 1024.
    /// When full, the least recently used instance makes room.
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// Evict instances unused for this long (checked when a new instance
    /// is made). Default: never for idleness, only for room.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// The clock for idleness. Default: the crate's `DefaultClock`.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings and builds the registry.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `max_entries` or `idle_timeout`.
    pub fn build(self) -> Result<Registry<T>, ConfigError> {
        if self.max == 0 || self.max > MAX_ENTRIES {
            return Err(ConfigError::new(
                "max_entries",
                self.max,
                "must be at least 1 and at most MAX_ENTRIES (2^20)",
            ));
        }
        crate::timeout::check_duration("idle_timeout", self.idle)?;
        Ok(Registry {
            shared: Arc::new(Shared {
                entries: RwLock::new(HashMap::new()),
                make: self.make,
                max: self.max,
                idle: self.idle.map_or(u64::MAX, |d| d.as_nanos() as u64),
                clock: self.clock,
            }),
        })
    }
}
