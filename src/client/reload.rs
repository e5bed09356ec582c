//! Applying a configuration file whenever it changes (feature `reload`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::Clients;
use crate::config::Config;

/// How long the watcher waits for a file's changes to settle before it
/// reads the file (an editor or a ConfigMap update writes in several steps).
const SETTLE: Duration = Duration::from_millis(100);

/// What happened when the watched file changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadEvent {
    /// The file's configuration was applied.
    Applied {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read, parsed or checked: the last good
    /// configuration stays in force.
    Rejected {
        /// The file.
        path: PathBuf,
        /// Why, naming the key path for a bad value.
        error: String,
    },
}

/// Watches a configuration file for [`Clients::watch`]; dropping it stops
/// the watching (the thread that applies changes ends).
pub struct ConfigWatcher {
    watcher: Option<notify::RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for ConfigWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigWatcher").finish_non_exhaustive()
    }
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        // Dropping the watcher closes its channel: the thread's wait ends.
        drop(self.watcher.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<K: Clone + Send + Sync + 'static> Clients<K> {
    /// Reads `path`, parses it with `parse` and [applies](Self::apply) it.
    ///
    /// # Errors
    ///
    /// Why the file could not be read, parsed or checked (nothing changed
    /// then), as text naming the file.
    pub fn reload_from<E: fmt::Display>(
        &self,
        path: &Path,
        parse: impl Fn(&str) -> Result<Config, E>,
    ) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let config = parse(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
        self.apply(config)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Applies `path` whenever it changes, on a thread of its own, until
    /// the returned watcher is dropped. It watches the file's directory, so
    /// a file replaced by a rename or a symlink swap (a Kubernetes
    /// ConfigMap) is seen too; it waits for changes to settle (100 ms),
    /// reads the file with `parse` (`toml::from_str`, `serde_json::from_str`)
    /// and applies it. A file that cannot be read, parsed or checked
    /// changes nothing: the last good configuration stays in force, and
    /// `on_event` hears why (as does `tracing`, feature `tracing`), once
    /// for each text the file takes: the same text is not judged again.
    ///
    /// # Errors
    ///
    /// The watcher could not be started (the directory does not exist,
    /// the system's watch limit is reached).
    pub fn watch<E: fmt::Display>(
        &self,
        path: impl Into<PathBuf>,
        parse: impl Fn(&str) -> Result<Config, E> + Send + 'static,
        on_event: impl Fn(&ReloadEvent) + Send + 'static,
    ) -> Result<ConfigWatcher, notify::Error> {
        let path = path.into();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tx, rx) = mpsc::channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok() {
                    let _ = tx.send(());
                }
            })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        let clients = self.clone();
        let thread = std::thread::Builder::new()
            .name("palisade-reload".into())
            .spawn(move || {
                let mut last: Option<String> = None;
                // Each change: wait until the directory is quiet, then read.
                while rx.recv().is_ok() {
                    loop {
                        match rx.recv_timeout(SETTLE) {
                            Ok(()) => continue,
                            Err(mpsc::RecvTimeoutError::Timeout) => break,
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    // Another file of the directory changed, or this one
                    // was only read (reading it makes events too): the text
                    // is the one last judged, applied or rejected, and the
                    // same text gets the same verdict.
                    let text = std::fs::read_to_string(&path).ok();
                    if text.is_some() && text == last {
                        continue;
                    }
                    last = text;
                    let event = match clients.reload_from(&path, &parse) {
                        Ok(()) => ReloadEvent::Applied { path: path.clone() },
                        Err(error) => ReloadEvent::Rejected {
                            path: path.clone(),
                            error,
                        },
                    };
                    #[cfg(feature = "tracing")]
                    match &event {
                        ReloadEvent::Applied { path } => {
                            tracing::info!(path = %path.display(), "palisade: configuration applied");
                        }
                        ReloadEvent::Rejected { error, .. } => {
                            tracing::warn!(%error, "palisade: configuration rejected, the last good one stays");
                        }
                    }
                    on_event(&event);
                }
            })
            .map_err(notify::Error::io)?;
        Ok(ConfigWatcher {
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }
}
