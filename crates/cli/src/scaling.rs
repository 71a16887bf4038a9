//! Regression targets standardized for training, with the inverse folded into the output layer
//! afterwards, so that the saved model (and so `predict`, `evaluate`, `serve` and the ONNX export)
//! gives values in the target's own units with nothing more to apply.
//!
//! Why: a target around 200 000 trained as it is starts every output unit five orders of magnitude
//! from its goal; the first gradients are huge and Adam's steps far too small for the distance, so
//! a default run ends at R² < 0. Scaled to mean 0 and deviation 1 it trains like any other.

use mlp::data::{Dataset, Targets};
use mlp::preprocess::Standardizer;
use mlp::{Activation, Loss, Model, ModelConfig};
use serde::Serialize;

/// Per-output mean and standard deviation of the training targets.
#[derive(Clone, Debug, Serialize)]
pub struct TargetScaling {
    /// The training mean of each output.
    pub mean: Vec<f64>,
    /// The training standard deviation of each output (1 for a constant one).
    pub std: Vec<f64>,
}

impl TargetScaling {
    /// The scaling for `y` when it applies: value targets, a loss measured on the values' own scale
    /// (MSE, MAE, Huber, log-cosh; not Poisson's counts nor the ±1 of hinge), and a dense linear
    /// output layer, on which the fold is exact.
    pub fn fit(y: &Targets, loss: Loss, config: &ModelConfig) -> Option<Self> {
        let Targets::Values(m) = y else { return None };
        if !matches!(loss, Loss::Mse | Loss::Mae | Loss::Huber { .. } | Loss::LogCosh) {
            return None;
        }
        let last = config.layers.last()?;
        if !last.kind.is_dense() || last.activation != Activation::Linear {
            return None;
        }
        let mut fit = Standardizer::new(m.cols);
        let mut row = vec![0.0f64; m.cols];
        for r in 0..m.rows {
            for (d, &v) in row.iter_mut().zip(m.row(r)) {
                *d = f64::from(v);
            }
            fit.push(&row);
        }
        let (mean, std) = fit.finish();
        Some(Self { mean, std })
    }

    /// `data` with its targets standardized (`(y − mean) / std`).
    pub fn scaled(&self, data: &Dataset) -> Dataset {
        let mut out = data.clone();
        if let Targets::Values(m) = &mut out.y {
            let cols = m.cols;
            for (i, v) in m.data.iter_mut().enumerate() {
                let j = i % cols;
                *v = ((f64::from(*v) - self.mean[j]) / self.std[j]) as f32;
            }
        }
        out
    }

    /// Folds the inverse into the output layer: `y = std·(x·W + b) + mean`, so column `j` of `W`
    /// is multiplied by `std_j` and `b_j` becomes `std_j·b_j + mean_j`.
    pub fn fold(&self, model: &mut Model) {
        let Some(last) = model.params.last_mut() else { return };
        if let Some(w) = last.get_mut("weight") {
            let cols = *w.shape.last().unwrap_or(&1);
            for (i, v) in w.data.iter_mut().enumerate() {
                *v = (f64::from(*v) * self.std[i % cols]) as f32;
            }
        }
        if let Some(b) = last.get_mut("bias") {
            for (j, v) in b.data.iter_mut().enumerate() {
                *v = (f64::from(*v) * self.std[j] + self.mean[j]) as f32;
            }
        }
    }

    /// One line for the user: what was scaled, and in which units the figures are.
    pub fn describe(&self, target: &str) -> String {
        let fmt = |v: &[f64]| v.iter().map(|&x| format!("{}", x as f32)).collect::<Vec<_>>().join(", ");
        format!(
            "target {target} standardized for training (mean {}, std {}); the progress lines' loss is in \
             standard deviations, the final scores in the target's units, and the model predicts in them \
             (--no-target-scaling trains on the raw values)",
            fmt(&self.mean),
            fmt(&self.std)
        )
    }
}
