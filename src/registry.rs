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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::clock::{Clock, DefaultClock};
use crate::config_error::ConfigError;

type Make<T> = Box<dyn Fn(&str) -> Result<T, ConfigError> + Send + Sync>;

/// A name's place in the table: its instance, or the first use of the name
/// making it (outside the lock) while later uses wait.
enum Slot<T> {
    Ready(Entry<T>),
    Making(Arc<Pending<T>>),
}

struct Entry<T> {
    value: T,
    /// Clock time of the last `get`: written under the read lock.
    used: AtomicU64,
    /// The recency key of this entry's one live record in `Table::order`.
    queued: u64,
}

/// What waiters of a name being made get: the instance or `make`'s error.
struct Pending<T> {
    result: Mutex<Option<Result<T, ConfigError>>>,
    done: Condvar,
}

impl<T: Clone> Pending<T> {
    fn finish(&self, result: Result<T, ConfigError>) {
        *self.result.lock() = Some(result);
        self.done.notify_all();
    }

    fn wait(&self) -> Result<T, ConfigError> {
        let mut result = self.result.lock();
        loop {
            if let Some(result) = &*result {
                return result.clone();
            }
            self.done.wait(&mut result);
        }
    }
}

/// The instances and their recency. `order` is a min-heap of (last use
/// as last seen, name) records, one live record per entry: a `get` only
/// stores its time in the entry (under the read lock), and eviction pops
/// the oldest record, re-queues it at the entry's real last use if it was
/// used since, and evicts it otherwise. Each re-queue answers a `get`, so
/// making room costs O(log n) amortised, never a scan of every entry.
struct Table<T> {
    slots: HashMap<Arc<str>, Slot<T>>,
    order: BinaryHeap<Reverse<(u64, Arc<str>)>>,
    /// `Ready` slots.
    ready: usize,
}

impl<T> Table<T> {
    /// The live entry `record` stands for (a record left by a removed or
    /// re-queued entry stands for none).
    fn live(&self, (key, name): &(u64, Arc<str>)) -> Option<&Entry<T>> {
        match self.slots.get(name) {
            Some(Slot::Ready(entry)) if entry.queued == *key => Some(entry),
            _ => None,
        }
    }

    /// Pops the oldest live record whose entry is still unused since then
    /// and `evict` says may go, re-queueing those used since; stops at the
    /// first live, unused record `evict` keeps (or when empty).
    fn evict_oldest(&mut self, evict: impl Fn(u64, usize) -> bool) -> bool {
        while let Some(Reverse(record)) = self.order.peek() {
            let Some(entry) = self.live(record) else {
                self.order.pop();
                continue;
            };
            // Relaxed: a recency hint written by `get`.
            let used = entry.used.load(Ordering::Relaxed);
            if used > record.0 {
                let Some(Reverse((_, name))) = self.order.pop() else {
                    unreachable!("peeked")
                };
                if let Some(Slot::Ready(entry)) = self.slots.get_mut(&name) {
                    entry.queued = used;
                }
                self.order.push(Reverse((used, name)));
                continue;
            }
            if !evict(used, self.ready) {
                return false;
            }
            let Some(Reverse((_, name))) = self.order.pop() else {
                unreachable!("peeked")
            };
            self.slots.remove(&name);
            self.ready -= 1;
            return true;
        }
        false
    }

    /// Drops the records of removed entries once they outnumber the live
    /// ones: O(n), after at least n removals.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.ready + 64 {
            self.order = self
                .slots
                .iter()
                .filter_map(|(name, slot)| match slot {
                    Slot::Ready(entry) => Some(Reverse((entry.queued, Arc::clone(name)))),
                    Slot::Making(_) => None,
                })
                .collect();
        }
    }
}

struct Shared<T> {
    table: RwLock<Table<T>>,
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
            .field("len", &self.shared.table.read().ready)
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

/// Ends the first use of a name: on success stores the instance; if `make`
/// failed or panicked, clears the slot. Either way wakes the waiters.
struct Making<'a, T: Clone> {
    shared: &'a Shared<T>,
    name: &'a str,
    /// `None` once finished.
    pending: Option<Arc<Pending<T>>>,
}

impl<T: Clone> Making<'_, T> {
    fn finish(mut self, result: Result<T, ConfigError>) -> Result<T, ConfigError> {
        let pending = self.pending.take().expect("finished once");
        let now = self.shared.clock.now_nanos();
        {
            let mut table = self.shared.table.write();
            let ours = matches!(
                table.slots.get(self.name),
                Some(Slot::Making(p)) if Arc::ptr_eq(p, &pending)
            );
            // Always ours (nothing else removes a slot being made; `remove`
            // takes only made instances): checked, not assumed.
            if ours {
                match &result {
                    Ok(value) => {
                        self.shared.make_room(&mut table, now);
                        let name: Arc<str> = Arc::from(self.name);
                        table.slots.insert(
                            Arc::clone(&name),
                            Slot::Ready(Entry {
                                value: value.clone(),
                                used: AtomicU64::new(now),
                                queued: now,
                            }),
                        );
                        table.order.push(Reverse((now, name)));
                        table.ready += 1;
                    }
                    Err(_) => {
                        table.slots.remove(self.name);
                    }
                }
            }
        }
        pending.finish(result.clone());
        result
    }
}

impl<T: Clone> Drop for Making<'_, T> {
    /// `make` panicked: the slot goes, and the waiters get an error.
    fn drop(&mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let mut table = self.shared.table.write();
        if matches!(
            table.slots.get(self.name),
            Some(Slot::Making(p)) if Arc::ptr_eq(p, &pending)
        ) {
            table.slots.remove(self.name);
        }
        drop(table);
        pending.finish(Err(ConfigError::new("make", self.name, "panicked")));
    }
}

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
    /// evicted it). Concurrent first uses make one instance: the first
    /// calls `make`, outside the registry's lock, and the others wait for
    /// it (so `make` may use the registry, but not ask it for the name it
    /// is making). Making room costs O(log n) amortised.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of `make`, if it fails for this name; nothing
    /// is stored then.
    pub fn get(&self, name: &str) -> Result<T, ConfigError> {
        let now = self.shared.clock.now_nanos();
        let pending = match self.shared.table.read().slots.get(name) {
            Some(Slot::Ready(entry)) => {
                // Relaxed: a recency hint for eviction.
                entry.used.store(now, Ordering::Relaxed);
                return Ok(entry.value.clone());
            }
            Some(Slot::Making(pending)) => Some(Arc::clone(pending)),
            None => None,
        };
        if let Some(pending) = pending {
            return pending.wait();
        }
        let making = {
            let mut table = self.shared.table.write();
            match table.slots.get(name) {
                Some(Slot::Ready(entry)) => {
                    entry.used.store(now, Ordering::Relaxed);
                    return Ok(entry.value.clone());
                }
                Some(Slot::Making(pending)) => Err(Arc::clone(pending)),
                None => {
                    let pending = Arc::new(Pending {
                        result: Mutex::new(None),
                        done: Condvar::new(),
                    });
                    table
                        .slots
                        .insert(Arc::from(name), Slot::Making(Arc::clone(&pending)));
                    Ok(pending)
                }
            }
        };
        match making {
            Err(pending) => pending.wait(),
            Ok(pending) => {
                let making = Making {
                    shared: &self.shared,
                    name,
                    pending: Some(pending),
                };
                // User code, outside the lock.
                let result = (self.shared.make)(name);
                making.finish(result)
            }
        }
    }

    /// Every instance held now, with its name (sorted by name).
    pub fn entries(&self) -> Vec<(Arc<str>, T)> {
        let mut all: Vec<_> = self
            .shared
            .table
            .read()
            .slots
            .iter()
            .filter_map(|(name, slot)| match slot {
                Slot::Ready(e) => Some((Arc::clone(name), e.value.clone())),
                Slot::Making(_) => None,
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Forgets `name`'s instance; returns it if there was one.
    pub fn remove(&self, name: &str) -> Option<T> {
        let mut table = self.shared.table.write();
        if !matches!(table.slots.get(name), Some(Slot::Ready(_))) {
            return None;
        }
        let Some(Slot::Ready(entry)) = table.slots.remove(name) else {
            unreachable!("checked above")
        };
        table.ready -= 1;
        table.compact();
        Some(entry.value)
    }

    /// Instances held now.
    pub fn len(&self) -> usize {
        self.shared.table.read().ready
    }

    /// True if no instance is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Shared<T> {
    /// Under the write lock, before an insert: evicts idle entries, then
    /// the least recently used ones until there is room for one more.
    fn make_room(&self, table: &mut Table<T>, now: u64) {
        if self.idle != u64::MAX {
            while table.evict_oldest(|used, _| now.saturating_sub(used) >= self.idle) {}
        }
        while table.evict_oldest(|_, ready| ready >= self.max) {}
        table.compact();
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
        crate::limits::check_duration("idle_timeout", self.idle)?;
        Ok(Registry {
            shared: Arc::new(Shared {
                table: RwLock::new(Table {
                    slots: HashMap::new(),
                    order: BinaryHeap::new(),
                    ready: 0,
                }),
                make: self.make,
                max: self.max,
                idle: self.idle.map_or(u64::MAX, |d| d.as_nanos() as u64),
                clock: self.clock,
            }),
        })
    }
}
