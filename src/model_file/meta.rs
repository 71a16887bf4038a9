//! The metadata types of a model file: everything besides the weights, as the `mlp` JSON entry.

use super::input::InputSpec;
use crate::data::csv::Table;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::nn::{Model, ModelConfig};
use crate::rows::Rows;
use crate::tensor::Matrix;
use crate::train::{History, StopReason};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a finished training run looked like, for the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct HistorySummary {
    /// Epochs run.
    pub epochs: usize,
    /// The last epoch's metrics (non-finite values left out).
    pub final_metrics: BTreeMap<String, f64>,
    /// Why training ended.
    pub stop: StopReason,
    /// The epoch whose weights were kept, when best weights were restored.
    pub restored_epoch: Option<usize>,
}

impl HistorySummary {
    /// Summarizes `history`.
    pub fn of(history: &History) -> Self {
        Self {
            epochs: history.epochs.len(),
            final_metrics: history
                .last()
                .map(|r| r.metrics.iter().filter(|(_, v)| v.is_finite()).map(|(k, v)| (k.clone(), *v)).collect())
                .unwrap_or_default(),
            stop: history.stop.clone(),
            restored_epoch: history.restored_epoch,
        }
    }
}

/// Everything a model file holds besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The loss the model was trained with (decides classification or regression).
    #[serde(with = "loss_name")]
    pub loss: Loss,
    /// How raw inputs become features.
    pub input: InputSpec,
    /// The class labels (index `i` is class `i`), for classifiers.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// The effective training configuration, as the trainer resolved it.
    #[serde(default)]
    pub training: Option<serde_json::Value>,
    /// A summary of the training history.
    #[serde(default)]
    pub history: Option<HistorySummary>,
    /// The program and version that wrote the file.
    #[serde(default)]
    pub created_by: String,
}

/// The loss by its Keras name (`categorical_crossentropy`), the spelling users type and Python writes.
mod loss_name {
    use crate::loss::Loss;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(loss: &Loss, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(loss)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Loss, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A model with its metadata: what [`save`](super::save) writes and [`load`](super::load) returns.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedModel {
    /// Architecture and weights.
    pub model: Model,
    /// Everything else.
    pub meta: ModelMeta,
}

impl SavedModel {
    /// The model's outputs for features already encoded (the matrix [`InputSpec`] produces),
    /// checked: an output that is not finite is an error naming the row, never a NaN passed on.
    pub fn predict_features(&self, x: &Matrix) -> Result<Matrix> {
        let p = self.model.predict(x)?;
        check_outputs(&p)?;
        Ok(p)
    }

    /// Encodes `table` with the model's fitted input pipeline and predicts (checked, as
    /// [`predict_features`](Self::predict_features)).
    pub fn predict_table(&self, table: &Table) -> Result<Matrix> {
        self.predict_rows(table)
    }

    /// Encodes named rows from any source ([`Rows`]: JSON rows, a numpy array with column
    /// names, a CSV table) with the fitted pipeline and predicts, checked.
    pub fn predict_rows<R: Rows + ?Sized>(&self, rows: &R) -> Result<Matrix> {
        self.predict_features(&self.meta.input.transform_rows(rows)?)
    }
}

/// Fails on the first output that is not finite (weights too large for the inputs, or inputs
/// far outside the training data), naming its 1-based row.
pub fn check_outputs(p: &Matrix) -> Result<()> {
    match p.data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::Data(format!(
            "row {}: the model's output is {}, not a number; the inputs lie too far outside what the model was \
             trained on, or its weights are too large for them",
            i / p.cols.max(1) + 1,
            p.data[i]
        ))),
    }
}

/// The `mlp` metadata entry as JSON.
#[derive(Serialize, Deserialize)]
pub(super) struct Header {
    pub(super) architecture: ModelConfig,
    #[serde(flatten)]
    pub(super) meta: ModelMeta,
}

/// The string `created_by` gets by default.
pub fn created_by() -> String {
    format!("mlp {}", env!("CARGO_PKG_VERSION"))
}
