//! Events the training loop emits, the callback trait that observes them, and the stock stoppers: early stopping, the plateau stopper and the seed's own stopping rule.

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

    /// Whether this callback adds metrics to `epoch`'s record (see [`Callback::epoch_metrics`]).
    fn wants_metrics(&self, _epoch: usize) -> bool {
        false
    }

    /// Metrics to add to `epoch`'s record, computed from the epoch's final weights; called before
    /// [`Event::EpochEnd`], so every callback (and the history) sees them. A name the record has
    /// already is left as it was.
    fn epoch_metrics(&mut self, _epoch: usize, _model: &Model) -> Vec<(String, f64)> {
        Vec::new()
    }
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

/// The seed text's own stopping callback (`mx.callback.train.stop` of the MXNet R post), rule for
/// rule: from the second epoch on, with `acc` this epoch's training accuracy and `log` the
/// accuracies of the epochs before it, stop when
/// `|acc − mean(last mean_n of log)| < tol` and `|acc − max(log)| < tol` and `epoch > min_epochs`,
/// or when `acc = 1`. Every `period` epochs it reports `[N] training accuracy: X %`, and when it
/// stops `Training finished with final accuracy: X %` (X rounded to 2 decimals, as R's `round`).
///
/// ```
/// use mlp::train::SeedStopper;
/// let mut s = SeedStopper::default();
/// assert!(!s.observe(1, 1.0), "the first epoch only starts the log");
/// assert!(s.observe(2, 1.0), "accuracy 1 stops at once");
/// assert_eq!(s.take_messages(), ["Training finished with final accuracy: 100 %"]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedStopper {
    /// The metric watched (`accuracy`: the epoch's running training accuracy, as MXNet's train metric).
    pub monitor: String,
    /// The tolerance (the seed's 1e-3).
    pub tol: f64,
    /// How many of the previous epochs are averaged (the seed's 100; fewer while the log is shorter).
    pub mean_n: usize,
    /// Never stop on the plateau clauses before an epoch greater than this (the seed's 100).
    pub min_epochs: usize,
    /// Report the accuracy every this many epochs (the seed's 100; 0 never).
    pub period: usize,
    #[serde(skip)]
    log: Vec<f64>,
    #[serde(skip)]
    messages: Vec<String>,
}

impl Default for SeedStopper {
    /// The seed's constants: `tol = 1e-3`, `mean.n = 100`, `period = 100`, `min.iter = 100`.
    fn default() -> Self {
        Self::new(1e-3, 100, 100, 100)
    }
}

/// `round(acc * 100, 2)` as R's `cat` prints it: at most two decimals, no trailing zeros.
fn r_percent(acc: f64) -> String {
    let s = format!("{:.2}", (acc * 100.0 * 100.0).round() / 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl SeedStopper {
    /// Watches `accuracy` with these constants.
    pub fn new(tol: f64, mean_n: usize, min_epochs: usize, period: usize) -> Self {
        Self {
            monitor: "accuracy".into(),
            tol,
            mean_n: mean_n.max(1),
            min_epochs,
            period,
            log: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// Feeds epoch `epoch`'s accuracy; returns whether training stops after it. Epochs are fed in order.
    pub fn observe(&mut self, epoch: usize, acc: f64) -> bool {
        let mut stop = false;
        if self.log.is_empty() {
            self.log.push(acc);
        } else {
            let tail = &self.log[self.log.len().saturating_sub(self.mean_n)..];
            let mean = tail.iter().sum::<f64>() / tail.len() as f64;
            let best = self.log.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let settled = (acc - mean).abs() < self.tol && (acc - best).abs() < self.tol && epoch > self.min_epochs;
            if settled || acc == 1.0 {
                self.messages.push(format!("Training finished with final accuracy: {} %", r_percent(acc)));
                stop = true;
            }
            self.log.push(acc);
        }
        if self.period > 0 && epoch.is_multiple_of(self.period) {
            self.messages.push(format!("[{epoch}] training accuracy: {} %", r_percent(acc)));
        }
        stop
    }

    /// The lines reported since the last call, in order.
    pub fn take_messages(&mut self) -> Vec<String> {
        std::mem::take(&mut self.messages)
    }
}

impl Callback for SeedStopper {
    fn on_event(&mut self, event: &Event<'_>) -> Control {
        let Event::EpochEnd { record } = event else { return Control::Continue };
        let Some(v) = record.get(&self.monitor) else { return Control::Continue };
        if self.observe(record.epoch, v) { Control::Stop } else { Control::Continue }
    }

    fn name(&self) -> &str {
        "seed stopper"
    }
}

#[cfg(test)]
mod seed_stopper_tests {
    use super::SeedStopper;

    /// Feeds `accs` as epochs 1, 2, …; returns the epoch it stopped after, if any.
    fn run(s: &mut SeedStopper, accs: &[f64]) -> Option<usize> {
        accs.iter().enumerate().find_map(|(i, &a)| s.observe(i + 1, a).then_some(i + 1))
    }

    #[test]
    fn accuracy_one_stops_at_once_but_not_in_the_first_epoch() {
        let mut s = SeedStopper::default();
        assert_eq!(run(&mut s, &[1.0, 0.5, 0.6, 1.0, 0.9]), Some(4));
        assert_eq!(s.take_messages(), ["Training finished with final accuracy: 100 %"]);
    }

    #[test]
    fn a_flat_run_stops_only_after_the_minimum_epochs() {
        // Constant accuracy meets both tolerance clauses from epoch 2; `iteration > min.iter` holds first at 101.
        let mut s = SeedStopper::default();
        assert_eq!(run(&mut s, &[0.9; 200]), Some(101));
        assert_eq!(s.take_messages(), ["[100] training accuracy: 90 %", "Training finished with final accuracy: 90 %"]);
    }

    #[test]
    fn each_tolerance_clause_is_needed() {
        let (tol, n, min) = (1e-3, 3, 2);
        // At the mean of the last 3 (from epoch 5) but far below the best: no stop.
        let mut below_best = SeedStopper::new(tol, n, min, 0);
        assert_eq!(run(&mut below_best, &[0.9, 0.5, 0.5, 0.5, 0.5, 0.5]), None);
        // At the best but far from the mean of the last 3 (a jump back up to an old best): no stop.
        let mut far_from_mean = SeedStopper::new(tol, n, min, 0);
        assert_eq!(run(&mut far_from_mean, &[0.9, 0.5, 0.5, 0.5, 0.9]), None);
        // The mean is over the last n only: once the 0.5s leave the window, a settled 0.9 stops.
        let mut settles = SeedStopper::new(tol, n, min, 0);
        assert_eq!(run(&mut settles, &[0.5, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9]), Some(6));
        // Within tol (strictly): 0.9 + 0.9995e-3 still counts, 0.9 + 1.5e-3 does not.
        // (min 3 epochs, so that the flat start cannot stop first.)
        let mut near = SeedStopper::new(tol, n, 3, 0);
        assert_eq!(run(&mut near, &[0.9, 0.9, 0.9, 0.9009995]), Some(4));
        let mut off = SeedStopper::new(tol, n, 3, 0);
        assert_eq!(run(&mut off, &[0.9, 0.9, 0.9, 0.9015]), None);
    }

    #[test]
    fn reports_every_period_and_rounds_as_r() {
        let mut s = SeedStopper::new(1e-3, 100, 1000, 2);
        run(&mut s, &[0.1, 0.99444, 0.5, 0.123456]);
        assert_eq!(s.take_messages(), ["[2] training accuracy: 99.44 %", "[4] training accuracy: 12.35 %"]);
    }
}
