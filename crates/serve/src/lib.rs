//! `mlp serve`: an HTTP server for saved models that existing inference clients talk to unmodified —
//! the Open Inference Protocol (KServe V2, with the binary tensor data and classification
//! extensions, as Triton speaks it) and MLflow's `POST /invocations` — with hot reload, Prometheus
//! metrics, limits, timeouts, optional bearer tokens and a graceful shutdown.
//!
//! The model side (loading, the fitted input pipeline, the thread-safe predictor) is the `mlp`
//! library's; this crate only speaks HTTP.

mod batch;
mod body;
mod error;
mod files;
mod infer;
mod mlflow;
mod models;
mod server;
mod stats;
mod v2;
mod watch;

pub use batch::BatchConfig;
pub use files::serve_dir;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Where the server's log lines go (one event per line: loads, reloads, failures, shutdown).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// Everything `mlp serve` is told.
#[derive(Clone)]
pub struct Config {
    /// Model files, or directories of them.
    pub paths: Vec<PathBuf>,
    /// The address to listen on (port 0: any free port).
    pub addr: SocketAddr,
    /// The bearer token every request but the health checks must carry; `None`: no check.
    pub token: Option<String>,
    /// The one origin browsers may call from (CORS); `None`: no CORS headers.
    pub cors: Option<String>,
    /// The largest request body accepted (bigger: 413).
    pub max_body: usize,
    /// How long a client may take to send its headers, and then its body.
    pub read_timeout: Duration,
    /// How long a prediction may take once the request is read.
    pub request_timeout: Duration,
    /// How long a shutdown waits for requests in flight.
    pub drain_timeout: Duration,
    /// Dynamic batching across concurrent requests; `None`: each request computes on its own.
    pub batch: Option<BatchConfig>,
    /// Worker threads for HTTP (0: one per core).
    pub threads: usize,
    /// Reload models when their files change or appear.
    pub watch: bool,
    /// Log lines.
    pub log: Log,
}

/// Serves until `stop` is raised (by the caller's signal handler), then reports not-ready, finishes
/// the requests in flight and returns. `on_ready` gets the bound address once every model is loaded
/// and the socket listens.
pub fn run(
    config: Config,
    stop: &'static AtomicBool,
    on_ready: impl FnOnce(SocketAddr, &[String]),
) -> anyhow::Result<()> {
    let rt = runtime(config.threads)?;
    rt.block_on(server::serve(config, stop, on_ready))
}

/// The runtime for `threads` HTTP workers (0: one per core this process may run on — the CPU
/// affinity mask and cgroup quota, as `available_parallelism` reads them, so `taskset -c 0` gives
/// one). One worker is a current-thread runtime: the accept loop and every connection share the
/// thread, with no hand-off between threads and no second thread contending for the one core.
fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = if threads > 0 { threads } else { std::thread::available_parallelism().map_or(1, |n| n.get()) };
    if threads == 1 {
        return tokio::runtime::Builder::new_current_thread().enable_all().build();
    }
    tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
}
