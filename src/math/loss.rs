//! Loss functions: their names, which output activations they pair with, and the per-row formulas the backends share.

use crate::error::Error;
use crate::math::Real;
use crate::math::activation::Activation;
use crate::math::activation::{sigmoid, softplus};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What training minimizes, averaged over the batch (as Keras and PyTorch reduce).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Loss {
    /// Mean squared error: `mean_j (a_j − t_j)²` per row.
    Mse,
    /// Mean absolute error: `mean_j |a_j − t_j|` per row.
    Mae,
    /// Binary cross-entropy on sigmoid outputs, `mean_j −[t ln a + (1−t) ln(1−a)]`, computed from the logits.
    BinaryCrossEntropy,
    /// Categorical cross-entropy on softmax outputs, `−Σ_j t_j ln a_j`, with one-hot (or soft) targets.
    CategoricalCrossEntropy,
    /// Categorical cross-entropy with integer class labels as targets.
    SparseCategoricalCrossEntropy,
}

/// Probabilities are clipped to `[EPS, 1 − EPS]` where a cross-entropy cannot use the logits (Keras's epsilon).
const EPS: f64 = 1e-7;

impl Loss {
    /// Whether targets are classes (cross-entropies) rather than values.
    pub fn is_classification(self) -> bool {
        matches!(self, Loss::BinaryCrossEntropy | Loss::CategoricalCrossEntropy | Loss::SparseCategoricalCrossEntropy)
    }

    /// Whether the gradient with respect to the logits is the `p − t` shortcut for this output activation.
    pub fn fused_with(self, act: &Activation) -> bool {
        match self {
            Loss::CategoricalCrossEntropy | Loss::SparseCategoricalCrossEntropy => *act == Activation::Softmax,
            Loss::BinaryCrossEntropy => *act == Activation::Sigmoid,
            Loss::Mse | Loss::Mae => false,
        }
    }

    /// Checks that the output layer suits the loss: cross-entropies need probabilities.
    pub fn check_output(self, act: &Activation, units: usize) -> Result<(), Error> {
        let bad = |msg: String| Err(Error::config(format!("loss {self}"), msg));
        match self {
            Loss::CategoricalCrossEntropy | Loss::SparseCategoricalCrossEntropy if *act != Activation::Softmax => {
                bad(format!("needs a softmax output layer, but the last layer is {units}:{act}; end with `N:softmax`"))
            }
            Loss::CategoricalCrossEntropy | Loss::SparseCategoricalCrossEntropy if units < 2 => {
                bad("needs at least 2 output units; for two classes with one unit use binary_crossentropy with sigmoid"
                    .into())
            }
            Loss::BinaryCrossEntropy if *act != Activation::Sigmoid => {
                bad(format!("needs a sigmoid output layer, but the last layer is {units}:{act}; end with `1:sigmoid`"))
            }
            _ => Ok(()),
        }
    }

    /// The loss of one row and, when `grad` is given, its gradient times `scale`: with respect to
    /// `z` when [`Loss::fused_with`] the activation, else with respect to `a`.
    #[inline]
    pub fn row<T: Real>(self, act: &Activation, z: &[T], a: &[T], t: &[T], grad: Option<(&mut [T], T)>) -> f64 {
        let cols = a.len();
        let fused = self.fused_with(act);
        let inv_cols = 1.0 / cols as f64;
        match self {
            Loss::Mse => {
                let mut s = 0.0;
                for j in 0..cols {
                    let d = (a[j] - t[j]).to_f64();
                    s += d * d;
                }
                if let Some((g, scale)) = grad {
                    let f = scale * T::from_f64(2.0 * inv_cols);
                    for j in 0..cols {
                        g[j] = f * (a[j] - t[j]);
                    }
                }
                s * inv_cols
            }
            Loss::Mae => {
                let mut s = 0.0;
                for j in 0..cols {
                    s += (a[j] - t[j]).to_f64().abs();
                }
                if let Some((g, scale)) = grad {
                    let f = scale * T::from_f64(inv_cols);
                    for j in 0..cols {
                        g[j] = f * (a[j] - t[j]).signum0();
                    }
                }
                s * inv_cols
            }
            Loss::BinaryCrossEntropy if fused => {
                // From the logits: −[t ln σ(z) + (1−t) ln(1−σ(z))] = softplus(z) − t·z, exact for any z.
                let mut s = 0.0;
                for j in 0..cols {
                    s += (softplus(z[j]) - t[j] * z[j]).to_f64();
                }
                if let Some((g, scale)) = grad {
                    let f = scale * T::from_f64(inv_cols);
                    for j in 0..cols {
                        g[j] = f * (sigmoid(z[j]) - t[j]);
                    }
                }
                s * inv_cols
            }
            Loss::BinaryCrossEntropy => {
                let mut s = 0.0;
                for j in 0..cols {
                    let p = a[j].to_f64().clamp(EPS, 1.0 - EPS);
                    let y = t[j].to_f64();
                    s -= y * p.ln() + (1.0 - y) * (1.0 - p).ln();
                }
                if let Some((g, scale)) = grad {
                    for j in 0..cols {
                        let p = a[j].to_f64();
                        let y = t[j].to_f64();
                        // Zero where the clip is active, as the clipped function is flat there.
                        g[j] = if p > EPS && p < 1.0 - EPS {
                            scale * T::from_f64(inv_cols * (p - y) / (p * (1.0 - p)))
                        } else {
                            T::ZERO
                        };
                    }
                }
                s * inv_cols
            }
            Loss::CategoricalCrossEntropy | Loss::SparseCategoricalCrossEntropy if fused => {
                // log-softmax with the row max subtracted, so that exp never overflows.
                let mut m = z[0];
                for &v in &z[1..] {
                    m = m.max(v);
                }
                let mut sum = 0.0f64;
                for &v in z {
                    sum += (v - m).to_f64().exp();
                }
                let lse = m.to_f64() + sum.ln();
                let mut s = 0.0;
                let mut tsum = T::ZERO;
                for j in 0..cols {
                    s += t[j].to_f64() * (lse - z[j].to_f64());
                    tsum += t[j];
                }
                if let Some((g, scale)) = grad {
                    for j in 0..cols {
                        g[j] = scale * (a[j] * tsum - t[j]);
                    }
                }
                s
            }
            Loss::CategoricalCrossEntropy | Loss::SparseCategoricalCrossEntropy => {
                let mut s = 0.0;
                for j in 0..cols {
                    s -= t[j].to_f64() * a[j].to_f64().max(EPS).ln();
                }
                if let Some((g, scale)) = grad {
                    for j in 0..cols {
                        let p = a[j].to_f64();
                        g[j] = if p > EPS { -scale * t[j] / a[j] } else { T::ZERO };
                    }
                }
                s
            }
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::BinaryCrossEntropy => "binary_crossentropy",
            Loss::CategoricalCrossEntropy => "categorical_crossentropy",
            Loss::SparseCategoricalCrossEntropy => "sparse_categorical_crossentropy",
        })
    }
}

impl FromStr for Loss {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "mse" | "mean_squared_error" => Loss::Mse,
            "mae" | "mean_absolute_error" => Loss::Mae,
            "binary_crossentropy" | "bce" | "binary_cross_entropy" => Loss::BinaryCrossEntropy,
            "categorical_crossentropy" | "cce" | "categorical_cross_entropy" | "crossentropy" => {
                Loss::CategoricalCrossEntropy
            }
            "sparse_categorical_crossentropy" | "sparse_cce" => Loss::SparseCategoricalCrossEntropy,
            _ => {
                return Err(Error::config(
                    format!("loss '{s}'"),
                    "expected one of: mse, mae, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy",
                ));
            }
        })
    }
}
