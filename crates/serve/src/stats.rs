//! Prometheus metrics: the recorder behind `GET /metrics` and the per-model counters and
//! histograms (requests, failures, rows predicted, batch sizes, queue and compute time).

use metrics::{Counter, Histogram, counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once); later calls reuse it.
pub fn install() -> anyhow::Result<()> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let seconds = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 0.5, 1.0, 5.0];
    let sizes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)?
        .set_buckets_for_metric(Matcher::Full("mlp_batch_rows".into()), &sizes)?
        .install_recorder()?;
    let _ = HANDLE.set(handle);
    Ok(())
}

/// Folds the histogram samples recorded since the last call into their buckets. The recorder
/// keeps every raw sample until then, so this must run periodically or memory grows per request.
pub fn upkeep() {
    if let Some(h) = HANDLE.get() {
        h.run_upkeep();
    }
}

/// The metrics in Prometheus' text format.
pub fn render() -> String {
    HANDLE.get().map(PrometheusHandle::render).unwrap_or_default()
}

/// Handles to one model's metrics, looked up once at load so a request only adds to them.
pub struct ModelStats {
    pub requests: Counter,
    pub rows: Counter,
    pub reloads: Counter,
    pub batch_rows: Histogram,
    pub queue: Histogram,
    pub compute: Histogram,
}

impl ModelStats {
    pub fn new(model: &str) -> Self {
        let m = model.to_string();
        Self {
            requests: counter!("mlp_requests_total", "model" => m.clone()),
            rows: counter!("mlp_inference_rows_total", "model" => m.clone()),
            reloads: counter!("mlp_model_loads_total", "model" => m.clone()),
            batch_rows: histogram!("mlp_batch_rows", "model" => m.clone()),
            queue: histogram!("mlp_queue_seconds", "model" => m.clone()),
            compute: histogram!("mlp_compute_seconds", "model" => m),
        }
    }

    /// Counts a request that failed with `status`; `model` is empty when no served model was named.
    pub fn failure(model: &str, status: u16) {
        counter!("mlp_request_failures_total", "model" => model.to_string(), "status" => status.to_string())
            .increment(1);
    }

    /// Counts a model file that failed to load.
    pub fn load_failure(model: &str) {
        counter!("mlp_model_load_failures_total", "model" => model.to_string()).increment(1);
    }
}
