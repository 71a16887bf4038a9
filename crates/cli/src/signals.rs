//! SIGINT, SIGTERM and SIGHUP, handled alike by every subcommand.
//!
//! `train` and `predict` call [`graceful`]: the first signal only raises [`INTERRUPT`], the trainer
//! stops at the end of its batch and checkpoints, `predict` stops before its next chunk; both then
//! exit with 128 + the signal. Every other command, and a second signal in any command, exits at
//! once with 128 + the signal, after removing the temporary files of the outputs registered with
//! [`watch`], so no `….tmp` is ever left behind by a signal (only `kill -9` can leave one).

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Raised by the first signal; the trainer and `predict` poll it.
pub static INTERRUPT: AtomicBool = AtomicBool::new(false);
/// The first signal received (0 while none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Whether the running command stops on its own at the first signal.
static GRACEFUL: AtomicBool = AtomicBool::new(false);
/// Outputs whose temporary files an immediate exit removes, and staging directories it removes whole.
static WATCHED: Mutex<Vec<Watched>> = Mutex::new(Vec::new());

enum Watched {
    File(PathBuf),
    Dir(PathBuf),
}

/// Starts the thread that receives the signals. Without it (the handler cannot be installed, which
/// does not happen on Linux) the signals keep their default action: exit at once.
pub fn install() {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            let first = SIGNAL.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst).is_ok();
            let again = INTERRUPT.swap(true, Ordering::SeqCst);
            if !first || again || !GRACEFUL.load(Ordering::SeqCst) {
                remove_temporaries();
                std::process::exit(128 + sig);
            }
        }
    });
}

/// The running command stops by itself at the first signal (it polls [`INTERRUPT`]).
pub fn graceful() {
    GRACEFUL.store(true, Ordering::SeqCst);
}

/// The exit code for the signal that stopped the run: 128 + its number (130 for SIGINT).
pub fn exit_code() -> u8 {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => 130,
        s => (128 + s).clamp(0, 255) as u8,
    }
}

/// The name of the signal received, for messages ("Ctrl-C" for SIGINT).
pub fn name() -> &'static str {
    match SIGNAL.load(Ordering::SeqCst) {
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "Ctrl-C",
    }
}

/// Registers an output file: on an immediate exit, its temporary files are removed.
pub fn watch(path: &Path) {
    if let Ok(mut w) = WATCHED.lock() {
        w.push(Watched::File(path.to_path_buf()));
    }
}

/// Registers a staging directory, removed whole on an immediate exit.
pub fn watch_dir(path: &Path) {
    if let Ok(mut w) = WATCHED.lock() {
        w.push(Watched::Dir(path.to_path_buf()));
    }
}

/// Removes this process's temporary files beside every watched output, by the atomic writer's
/// naming rule (`mlp::fsio::own_temp_prefix`), so only ours match.
fn remove_temporaries() {
    let Ok(watched) = WATCHED.lock() else { return };
    let pid = std::process::id();
    for w in watched.iter() {
        match w {
            Watched::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Watched::File(path) => {
                let Some(name) = path.file_name() else { continue };
                let prefix = mlp::fsio::own_temp_prefix(&name.to_string_lossy(), pid);
                let dir = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let Ok(entries) = std::fs::read_dir(dir) else { continue };
                for e in entries.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if n.starts_with(&prefix) && n.ends_with(".tmp") {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
    }
}
