//! One prediction for a request: encoded features through the model, in a batch with other
//! requests when batching is on, on the request's own worker when the request is small (the fast
//! one-row path: no hand-off between threads), on a blocking thread when it is large.

use crate::error::ApiError;
use crate::models::Model;
use axum::http::StatusCode;
use mlp::Matrix;
use mlp::model_file::check_outputs;
use std::time::{Duration, Instant};

/// Rows up to which a request computes on the worker that read it.
const INLINE_ROWS: usize = 32;

/// The model's outputs for `x` (already encoded features), checked finite.
pub async fn predict(model: &Model, x: Matrix, timeout: Duration) -> Result<Matrix, ApiError> {
    let rows = x.rows;
    let work = async {
        if let Some(b) = &model.batcher
            && rows <= b.max_rows()
        {
            return b.predict(x).await;
        }
        if rows <= INLINE_ROWS {
            let started = Instant::now();
            let mut out = vec![0.0; rows * model.outputs];
            model.predictor.predict_into(&x, &mut out)?;
            model.stats.compute.record(started.elapsed().as_secs_f64());
            model.stats.batch_rows.record(rows as f64);
            return Ok(out);
        }
        let p = model.predictor.clone();
        let stats = model.stats.clone();
        let outputs = model.outputs;
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let mut out = vec![0.0; x.rows * outputs];
            p.predict_into(&x, &mut out)?;
            stats.compute.record(started.elapsed().as_secs_f64());
            stats.batch_rows.record(x.rows as f64);
            Ok(out)
        })
        .await
        .map_err(|e| mlp::Error::Data(format!("the prediction failed: {e}")))?
    };
    let out = match tokio::time::timeout(timeout, work).await {
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the prediction took longer than {} s (see --timeout)", timeout.as_secs_f64()),
            ));
        }
        Ok(r) => r?,
    };
    let out = Matrix::new(rows, model.outputs, out);
    check_outputs(&out)?;
    model.stats.rows.increment(rows as u64);
    Ok(out)
}

/// Class probabilities of one output row: one sigmoid unit is P(class 1), spelled out as two.
pub fn probabilities(row: &[f32]) -> Vec<f32> {
    if row.len() == 1 { vec![1.0 - row[0], row[0]] } else { row.to_vec() }
}

/// The index of the largest value (the first of equals), as `mlp predict` picks the class.
pub fn argmax(p: &[f32]) -> usize {
    (0..p.len()).fold(0, |b, j| if p[j] > p[b] { j } else { b })
}
