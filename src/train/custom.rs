//! User-defined losses and metrics: the [`CustomLoss`] trait (a row's value and its gradient with respect to the network's output), and the [`Metric`] trait with [`MetricCallback`], which adds a metric to every epoch's record.
//!
//! ```
//! use mlp::custom::CustomLoss;
//! /// Mean absolute error raised to the fourth power, a loss mlp does not have.
//! struct Quartic;
//! impl CustomLoss for Quartic {
//!     fn name(&self) -> &str { "quartic" }
//!     fn row(&self, y: &[f64], t: &[f64], grad: Option<&mut [f64]>) -> f64 {
//!         let n = y.len() as f64;
//!         if let Some(g) = grad {
//!             for ((g, &y), &t) in g.iter_mut().zip(y).zip(t) {
//!                 *g = 4.0 * (y - t).powi(3) / n;
//!             }
//!         }
//!         y.iter().zip(t).map(|(y, t)| (y - t).powi(4)).sum::<f64>() / n
//!     }
//! }
//! let model = mlp::ModelConfig::parse(2, "4:tanh,1:linear")?.init(0)?;
//! let x = mlp::Matrix::new(3, 2, vec![0.1, 0.2, -0.3, 0.4, 0.5, -0.6]);
//! let t = mlp::Matrix::new(3, 1, vec![1.0, -1.0, 0.5]);
//! assert!(mlp::gradcheck::gradcheck_custom(&model, &Quartic, &x, &t, 1e-5)?.worst() < 1e-6);
//! # Ok::<(), mlp::Error>(())
//! ```

use super::{Callback, Control, Event};
use crate::data::Dataset;
pub use crate::loss::CustomLoss;
use crate::nn::Model;
use crate::tensor::Matrix;

/// A metric defined by the user, computed from a model's predictions on a dataset.
pub trait Metric: Send {
    /// The key it is recorded under in the history.
    fn name(&self) -> &str;

    /// The metric of `predictions` (one row per row of `data`) against `data`'s targets.
    fn compute(&mut self, predictions: &Matrix, data: &Dataset) -> f64;
}

/// A callback that computes `metric` on `data` after every epoch and adds it to the epoch's
/// record (and so to the history, the progress line and the `EpochEnd` event).
pub struct MetricCallback<'a, M: Metric> {
    metric: M,
    data: &'a Dataset,
}

impl<'a, M: Metric> MetricCallback<'a, M> {
    /// Computes `metric` on `data` (the training rows, or any others) every epoch.
    pub fn new(metric: M, data: &'a Dataset) -> Self {
        Self { metric, data }
    }
}

impl<M: Metric> Callback for MetricCallback<'_, M> {
    fn on_event(&mut self, _event: &Event<'_>) -> Control {
        Control::Continue
    }

    fn name(&self) -> &str {
        self.metric.name()
    }

    fn wants_metrics(&self, _epoch: usize) -> bool {
        true
    }

    fn epoch_metrics(&mut self, _epoch: usize, model: &Model) -> Vec<(String, f64)> {
        match model.predict(&self.data.x) {
            Ok(p) => vec![(self.metric.name().to_string(), self.metric.compute(&p, self.data))],
            Err(_) => Vec::new(),
        }
    }
}
