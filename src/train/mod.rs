//! Training: `fit` over epochs and shuffled batches with validation, early stopping, callbacks, checkpoints and resume; and `evaluate`.
//!
//! A [`Session`] owns a run and trains it batch by batch (gather → forward → loss → backward →
//! gradient hook → clip → step); [`Trainer`] drives one to the end in a single call. The loop
//! never prints: progress, plots and stopping rules observe [`Event`]s through [`Callback`]s.
//! Shuffles are drawn from `(seed, epoch)`, so a run resumed from a checkpoint continues exactly
//! where it stopped.

mod callbacks;
mod clock;
pub mod custom;
mod dead;
mod eval;
mod history;
mod params;
mod policy;
mod predictor;
mod rows;
mod session;
mod shards;
mod trainer;

pub use callbacks::{BestTracker, Callback, Control, EarlyStopping, Event, PlateauStopper, SeedStopper};
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub use clock::SystemClock;
pub use clock::{Clock, default_clock};
pub use dead::{DEFAULT_DEAD_WARN, dead_units_key};
pub use eval::{Evaluation, evaluate, evaluate_on};
pub use history::{EpochRecord, History, StopReason};
pub use params::{BatchInfo, GradientHook, ParamView};
pub use policy::CheckpointSchedule;
pub use predictor::Predictor;
pub use rows::{RunningSums, split_indices};
pub use session::{BatchReport, Next, Session, SharedRows, TrainingData};
pub use shards::{LocalShards, SHARD_FIGURES, ShardExchange, shard_range, shard_rows, sum_in_shard_order};
pub use trainer::Trainer;

use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::metrics;
use crate::nn::{Model, ModelConfig};
use crate::optim::{LrSchedule, OptimizerConfig};
use crate::tensor::Matrix;
use serde::{Deserialize, Serialize};
/// Everything about a training run except the data. `Default` is Adam, 10 epochs, batch 32.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FitConfig {
    /// The loss minimized.
    pub loss: Loss,
    /// The optimizer and its hyperparameters.
    pub optimizer: OptimizerConfig,
    /// How the learning rate changes over epochs.
    pub schedule: LrSchedule,
    /// Number of epochs; 0 trains nothing (the model comes back as it went in, to be scored untrained).
    pub epochs: usize,
    /// Rows per batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Reshuffle the training rows every epoch.
    pub shuffle: bool,
    /// Seed for shuffles and the validation split.
    pub seed: u64,
    /// Fraction of the training data held out for validation (0: none), shuffled and, for
    /// classes, stratified.
    pub validation_split: f32,
    /// Early stopping (and restoring the best weights).
    pub early_stopping: Option<EarlyStopping>,
    /// A weight per class, multiplying each row's loss (Keras's `class_weight`).
    pub class_weights: Option<Vec<f32>>,
    /// Rescale the gradients so that their global L2 norm is at most this.
    pub clip_norm: Option<f32>,
    /// CPU threads (0: one per core).
    pub threads: usize,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            loss: Loss::Mse,
            optimizer: OptimizerConfig::default(),
            schedule: LrSchedule::Constant,
            epochs: 10,
            batch_size: 32,
            shuffle: true,
            seed: 0,
            validation_split: 0.0,
            early_stopping: None,
            class_weights: None,
            clip_norm: None,
            threads: 0,
        }
    }
}

impl FitConfig {
    /// Checks every setting, naming the first that is out of range.
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        self.schedule.validate()?;
        if self.batch_size == 0 {
            return Err(Error::config("batch size (--batch-size)", "must be at least 1"));
        }
        if self.validation_split != 0.0 && !(self.validation_split > 0.0 && self.validation_split < 1.0) {
            return Err(Error::config(
                "validation split (--validation-split)",
                format!("must be 0 (none) or in (0, 1), got {}", self.validation_split),
            ));
        }
        if let Some(c) = self.clip_norm
            && !(c > 0.0 && c.is_finite())
        {
            return Err(Error::config("clip norm (--clip-norm)", format!("must be > 0, got {c}")));
        }
        if let Some(w) = &self.class_weights
            && w.iter().any(|v| !(*v >= 0.0 && v.is_finite()))
        {
            return Err(Error::config("class weights", "every weight must be a finite number ≥ 0"));
        }
        Ok(())
    }
}

/// Whether `classes` classes fit an output layer of `units` units: one unit (a sigmoid) holds
/// two classes, more units (a softmax) hold one class each.
pub fn classes_fit(classes: usize, units: usize) -> bool {
    if units == 1 { classes <= 2 } else { classes <= units }
}

/// [`classes_fit`] as a check, the error saying what the output layer should be.
pub fn check_classes_fit(classes: usize, units: usize) -> Result<()> {
    if classes_fit(classes, units) {
        return Ok(());
    }
    Err(Error::Data(if units == 1 {
        format!(
            "the data has {classes} classes but the output layer has 1 unit; use {classes}:softmax with categorical cross-entropy"
        )
    } else {
        format!(
            "the data has {classes} classes but the output layer has {units} units; make the last layer {classes}:softmax"
        )
    }))
}

/// The dense target matrix the loss compares with: one-hot rows for classes (a 0/1 column for
/// a single sigmoid unit), the values themselves otherwise.
pub fn target_matrix(y: &Targets, out_dim: usize) -> Result<Matrix> {
    match y {
        Targets::Classes { labels, n_classes } => {
            check_classes_fit(*n_classes, out_dim)?;
            if out_dim == 1 {
                return Ok(Matrix::new(labels.len(), 1, labels.iter().map(|&l| l as f32).collect()));
            }
            let mut t = Matrix::zeros(labels.len(), out_dim);
            for (r, &l) in labels.iter().enumerate() {
                t.data[r * out_dim + l] = 1.0;
            }
            Ok(t)
        }
        Targets::Values(m) => {
            if m.cols != out_dim {
                return Err(Error::Data(format!(
                    "the targets have {} columns but the output layer has {out_dim} units",
                    m.cols
                )));
            }
            Ok(m.clone())
        }
    }
}

/// The loop's position and running figures: with the weights and optimizer state, all a
/// checkpoint needs to continue bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct LoopState {
    /// The epoch in progress or next (1-based).
    pub epoch: usize,
    /// Batches of that epoch already trained on.
    pub batch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// The learning rate in force.
    pub lr: f32,
    /// Running sums of the epoch in progress, in [`RunningSums::to_array`]'s order (loss,
    /// correct predictions, absolute error, rows): an array, as checkpoint files store it.
    pub sums: [f64; 4],
    /// Seconds spent in the epoch so far.
    pub seconds: f64,
    /// Records of finished epochs.
    pub history: History,
    /// Early stopping's state.
    pub tracker: Option<BestTracker>,
    /// Reduce-on-plateau's state: best loss and epochs waited.
    pub plateau: (f64, usize),
}

/// A resumable snapshot of training, taken between batches.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The current weights.
    pub model: Model,
    /// The optimizer's state buffers, per parameter tensor in [`crate::nn::Net`]'s order.
    pub optimizer_state: Vec<Vec<Vec<f32>>>,
    /// The weights of the best epoch so far, when early stopping restores them.
    pub best: Option<Model>,
    /// Where the loop is.
    pub state: LoopState,
}

/// Where checkpoints go: typically a closure writing them to a file.
pub type CheckpointSink<'a> = dyn FnMut(&Checkpoint) -> Result<()> + Send + 'a;

/// What a training run will hold in memory beyond the caller's dataset, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// The training features and targets as uploaded to the backend.
    pub data: u64,
    /// Weights, gradients, optimizer state and the best-weights snapshot.
    pub params: u64,
    /// Activation buffers for one batch.
    pub activations: u64,
}

impl MemoryEstimate {
    /// For `rows × features` training data on `model` with `cfg`.
    pub fn new(model: &ModelConfig, rows: usize, cfg: &FitConfig) -> Self {
        let f = std::mem::size_of::<f32>() as u64;
        let out = model.output_dim() as u64;
        let data = rows as u64 * (model.input_dim as u64 + out + 1) * f;
        // value + gradient + optimizer state + epoch-start snapshot (+ best weights).
        let copies = 3 + cfg.optimizer.state_init().len() as u64 + u64::from(cfg.early_stopping.is_some());
        let params = model.param_count() as u64 * copies * f;
        let bs = cfg.batch_size.min(rows.max(1)) as u64;
        let widths: u64 = model.layers.iter().map(|l| 2 * (l.pre_width() + l.units) as u64).sum();
        let activations = bs * (model.input_dim as u64 + widths + out) * f;
        Self { data, params, activations }
    }

    /// The total.
    pub fn total(&self) -> u64 {
        self.data + self.params + self.activations
    }

    /// Refuses a run that would not fit in `available` bytes, with a message saying what to do.
    pub fn check(&self, available: u64) -> Result<()> {
        if self.total() > available {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            return Err(Error::Data(format!(
                "training needs about {:.0} MiB ({:.0} MiB data, {:.0} MiB parameters and optimizer state, {:.0} MiB activations) \
                 but only {:.0} MiB is available; use fewer rows, a smaller model or a smaller --batch-size",
                mib(self.total()),
                mib(self.data),
                mib(self.params),
                mib(self.activations),
                mib(available)
            )));
        }
        Ok(())
    }
}

/// Memory the system can give without swapping (`MemAvailable` of /proc/meminfo), when known.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Model {
    /// Trains on the CPU with `cfg` (see [`Trainer`] for validation data, callbacks and more).
    pub fn fit(&mut self, train: &Dataset, cfg: &FitConfig) -> Result<History> {
        Trainer::new(cfg).fit(self, train)
    }

    /// Outputs for every row of `x`: probabilities for softmax/sigmoid outputs, values otherwise.
    ///
    /// Allocates a network for the call; to predict many times, keep a [`Predictor`].
    pub fn predict(&self, x: &Matrix) -> Result<Matrix> {
        Predictor::predict_once(self, x, x.rows.clamp(1, 1024))
    }

    /// The predicted class of each row: argmax, or `p ≥ 0.5` for one sigmoid unit.
    pub fn predict_classes(&self, x: &Matrix) -> Result<Vec<usize>> {
        Ok(metrics::predicted_classes(&self.predict(x)?))
    }

    /// Scores on `data` (see [`evaluate`]).
    pub fn evaluate(&self, data: &Dataset, loss: Loss) -> Result<Evaluation> {
        evaluate(self, data, loss, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_classes_fit_one_sigmoid_unit_and_k_classes_k_softmax_units() {
        assert!(classes_fit(2, 1) && !classes_fit(3, 1));
        assert!(classes_fit(3, 3) && classes_fit(2, 3) && !classes_fit(4, 3));
        let m = check_classes_fit(3, 1).unwrap_err().to_string();
        assert!(m.contains("3 classes") && m.contains("1 unit; use 3:softmax"), "{m}");
        let y = Targets::Classes { labels: vec![0, 3], n_classes: 4 };
        let m = target_matrix(&y, 3).unwrap_err().to_string();
        assert!(m.ends_with("has 3 units; make the last layer 4:softmax"), "{m}");
    }
}
