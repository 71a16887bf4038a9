//! The training history: one record per epoch with every metric, train and validation, as Keras's `History`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// The learning rate used in the epoch.
    pub lr: f64,
    /// Wall-clock seconds the epoch took (training and validation).
    pub seconds: f64,
    /// `loss`, `accuracy`, `val_loss`, `val_accuracy`, `mae`…
    pub metrics: BTreeMap<String, f64>,
}

impl EpochRecord {
    /// A metric by name.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied()
    }
}

/// Why training ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum StopReason {
    /// All epochs ran.
    #[default]
    Completed,
    /// Early stopping saw no improvement.
    EarlyStopping {
        /// The epoch it stopped after.
        epoch: usize,
    },
    /// A callback asked to stop.
    Callback {
        /// The callback's name.
        name: String,
        /// The epoch it stopped after.
        epoch: usize,
    },
    /// A whole-model optimizer (L-BFGS) met its tolerance: further epochs would change little.
    Converged {
        /// The epoch it converged in.
        epoch: usize,
    },
    /// The interrupt flag was raised (Ctrl-C).
    Interrupted {
        /// The epoch during which it stopped.
        epoch: usize,
        /// The last batch trained on.
        batch: usize,
    },
}

/// Every epoch's record, and how training ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct History {
    /// Records in epoch order.
    pub epochs: Vec<EpochRecord>,
    /// Why training ended.
    pub stop: StopReason,
    /// The epoch whose weights the model ends with, when best weights were restored.
    pub restored_epoch: Option<usize>,
}

impl History {
    /// The series of one metric, in epoch order (epochs without it are skipped).
    pub fn series(&self, name: &str) -> Vec<f64> {
        self.epochs.iter().filter_map(|r| r.get(name)).collect()
    }

    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }

    /// The names of all metrics recorded.
    pub fn metric_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.epochs.iter().flat_map(|r| r.metrics.keys().cloned()).collect();
        names.sort();
        names.dedup();
        names
    }
}
