//! Events the training loop emits, the callback trait that observes them, and the stock stoppers: early stopping and the plateau stopper.

use super::history::{EpochRecord, History};
use crate::nn::Model;
use serde::{Deserialize, Serialize};

/// What the training loop reports, in order: `TrainBegin`, then per epoch `EpochBegin`,
/// `BatchEnd`…, `EpochEnd`, and finally `TrainEnd`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Before the first epoch.
    TrainBegin {
        /// Epochs planned (the last epoch number).
        epochs: usize,
        /// Epoch the run starts at (1, or later when resumed).
        first_epoch: usize,
        /// Batches per epoch.
        batches: usize,
        /// Training rows.
        samples: usize,
        /// Validation rows (0 without validation).
        valid_samples: usize,
    },
    /// An epoch starts (1-based).
    EpochBegin {
        /// The epoch.
        epoch: usize,
    },
    /// A batch was trained on.
    BatchEnd {
        /// The epoch.
        epoch: usize,
        /// 1-based batch number.
        batch: usize,
        /// Batches in this epoch.
        batches: usize,
        /// Mean loss over the epoch's batches so far.
        loss: f64,
        /// Training accuracy over the epoch so far (classification only).
        accuracy: Option<f64>,
    },
    /// An epoch ended; its record holds every metric.
    EpochEnd {
        /// The epoch's record.
        record: &'a EpochRecord,
    },
    /// Training ended.
    TrainEnd {
        /// The whole history.
        history: &'a History,
    },
}

/// A callback's answer: go on, or stop after this event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop training (at the end of the current batch).
    Stop,
}

/// Observes training events and may stop training.
pub trait Callback {
    /// Called for every event; returning [`Control::Stop`] ends training.
    fn on_event(&mut self, event: &Event<'_>) -> Control;

    /// A short name, recorded as the reason when this callback stops training.
    fn name(&self) -> &str {
        "callback"
    }

    /// Whether this callback wants the current weights after `epoch` (see [`Callback::on_weights`]).
    ///
    /// Copying the weights off the device costs time, so the loop does it only for the epochs some
    /// callback asks for.
    fn wants_weights(&self, _epoch: usize) -> bool {
        false
    }

    /// Receives the weights at the end of `epoch`, after its [`Event::EpochEnd`], when
    /// [`Callback::wants_weights`] asked for them (e.g. to draw a decision boundary per epoch).
    fn on_weights(&mut self, _epoch: usize, _model: &Model) {}
}

/// Which way a monitored metric improves.
fn higher_is_better(metric: &str) -> bool {
    metric.contains("acc") || metric.contains("r2")
}

/// Keras's `EarlyStopping`: stop when `monitor` has not improved by more than `min_delta` for
/// `patience` epochs; with `restore_best_weights` (the default here, unlike Keras), the model ends
/// with the weights of its best epoch, whatever ended training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// The metric watched: `val_loss` (default), `loss`, `val_accuracy`, `accuracy`…
    pub monitor: String,
    /// The smallest change that counts as an improvement.
    pub min_delta: f64,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Return the best epoch's weights at the end.
    pub restore_best_weights: bool,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self { monitor: "val_loss".into(), min_delta: 0.0, patience: 10, restore_best_weights: true }
    }
}

/// The running state of early stopping (and of best-weights tracking).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestTracker {
    /// The metric watched.
    pub monitor: String,
    /// The best value seen.
    pub best: Option<f64>,
    /// The epoch of the best value.
    pub best_epoch: usize,
    /// Epochs since the last improvement.
    pub wait: usize,
}

impl BestTracker {
    /// Starts watching `monitor`.
    pub fn new(monitor: &str) -> Self {
        Self { monitor: monitor.into(), best: None, best_epoch: 0, wait: 0 }
    }

    /// Feeds one epoch; returns whether it is a new best.
    pub fn update(&mut self, record: &EpochRecord, min_delta: f64) -> bool {
        let Some(v) = record.get(&self.monitor) else { return false };
        let improved = match self.best {
            None => true,
            Some(b) if higher_is_better(&self.monitor) => v > b + min_delta,
            Some(b) => v < b - min_delta,
        };
        if improved {
            self.best = Some(v);
            self.best_epoch = record.epoch;
            self.wait = 0;
        } else {
            self.wait += 1;
        }
        improved
    }
}

/// The seed's MXNet callback: after `min_epochs`, stop once the monitored accuracy has moved
/// less than `tol` from the mean of the last `window` epochs *and* from the best so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlateauStopper {
    /// The metric watched (default `accuracy`).
    pub monitor: String,
    /// The largest change that still counts as a plateau.
    pub tol: f64,
    /// Epochs averaged.
    pub window: usize,
    /// Never stop before this epoch.
    pub min_epochs: usize,
    #[serde(skip)]
    recent: Vec<f64>,
    #[serde(skip)]
    best: Option<f64>,
}

impl PlateauStopper {
    /// Watches `accuracy` with the given tolerance, window and minimum number of epochs.
    pub fn new(tol: f64, window: usize, min_epochs: usize) -> Self {
        Self { monitor: "accuracy".into(), tol, window: window.max(1), min_epochs, recent: Vec::new(), best: None }
    }
}

impl Callback for PlateauStopper {
    fn on_event(&mut self, event: &Event<'_>) -> Control {
        let Event::EpochEnd { record } = event else { return Control::Continue };
        let Some(v) = record.get(&self.monitor) else { return Control::Continue };
        let best = self.best.map_or(v, |b| b.max(v));
        self.best = Some(best);
        let stop = record.epoch >= self.min_epochs && self.recent.len() >= self.window && {
            let mean = self.recent.iter().sum::<f64>() / self.recent.len() as f64;
            (v - mean).abs() < self.tol && (v - best).abs() < self.tol
        };
        self.recent.push(v);
        if self.recent.len() > self.window {
            self.recent.remove(0);
        }
        if stop { Control::Stop } else { Control::Continue }
    }

    fn name(&self) -> &str {
        "plateau stopper"
    }
}
