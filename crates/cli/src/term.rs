//! The one checked writer for everything the command prints: results on stdout, progress and
//! messages on stderr. A closed or broken stream ends that stream's output quietly instead of
//! panicking the way `println!` does (`mlp train … | head -3`, a terminal closed mid-run).
//!
//! * stdout: the first write that fails with a broken pipe marks stdout closed and returns the
//!   error, so a command whose product *is* stdout (`predict`, `data`…) stops its work; `main`
//!   turns a broken pipe into exit 0. Later writes are dropped.
//! * stderr: progress and notes are best effort: a failure marks stderr closed and every later
//!   line is dropped, so training goes on and still saves its model.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout and flushes it. A broken pipe (the reader went away) closes stdout for
/// the rest of the run and is returned as an error naming `<stdout>`; `main` exits 0 on it.
pub fn out(text: &str) -> mlp::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Err(closed());
    }
    let mut lock = std::io::stdout().lock();
    match lock.write_all(text.as_bytes()).and_then(|()| lock.flush()) {
        Ok(()) => Ok(()),
        Err(e) => {
            if e.kind() == ErrorKind::BrokenPipe {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
            }
            Err(mlp::Error::io("<stdout>", e))
        }
    }
}

/// `out` with a line break.
pub fn outln(text: &str) -> mlp::Result<()> {
    out(&format!("{text}\n"))
}

fn closed() -> mlp::Error {
    mlp::Error::io("<stdout>", std::io::Error::from(ErrorKind::BrokenPipe))
}

/// Writes `text` to stderr, best effort: any failure closes stderr for the rest of the run.
pub fn err(text: &str) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut lock = std::io::stderr().lock();
    if lock.write_all(text.as_bytes()).and_then(|()| lock.flush()).is_err() {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// `err` with a line break.
pub fn errln(text: &str) {
    err(&format!("{text}\n"));
}

/// Whether stderr failed earlier (so a progress bar should not be drawn).
pub fn stderr_closed() -> bool {
    STDERR_CLOSED.load(Ordering::Relaxed)
}
