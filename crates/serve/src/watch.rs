//! Hot reload: a `notify` watcher on the model paths; a burst of file events is let settle, then
//! the registry reloads what changed or appeared (see [`crate::models::Registry::refresh`]).

use crate::server::App;
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

/// How long the files must be quiet before a reload: one save is several events.
const SETTLE: Duration = Duration::from_millis(150);

/// Starts watching; reloading stops when the returned watcher is dropped.
pub fn start(app: Arc<App>) -> anyhow::Result<RecommendedWatcher> {
    let (tx, rx) = channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let Ok(event) = event else { return };
        // Reading a model opens it; only writes, creations, renames and removals matter.
        let relevant = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => false,
            _ => true,
        };
        if relevant {
            let _ = tx.send(());
        }
    })?;
    for root in app.registry.roots() {
        if root.is_dir() {
            watcher.watch(root, RecursiveMode::Recursive)?;
        } else {
            // The folder, not the file: a save that renames a new file over it replaces the inode.
            let dir = root.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }
    std::thread::Builder::new().name("mlp-watch".into()).spawn(move || {
        while rx.recv().is_ok() {
            loop {
                match rx.recv_timeout(SETTLE) {
                    Ok(()) => continue,
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            app.registry.refresh();
        }
    })?;
    Ok(watcher)
}
