//! Loss functions: their names, which output activations they pair with, and the per-row formulas the backends share.

use crate::error::Error;
use crate::math::Real;
use crate::math::activation::Activation;
use crate::math::activation::{sigmoid, softplus};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What training minimizes, averaged over the batch (as Keras and PyTorch reduce).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Huber loss (PyTorch's `HuberLoss`, Keras's `Huber`): per element `½d²` where `|d| ≤ δ`,
    /// else `δ(|d| − ½δ)`, averaged over the outputs. Spec: `huber` (δ = 1) or `huber(δ)`.
    Huber {
        /// The threshold δ > 0 between the quadratic and the linear part.
        delta: f32,
    },
    /// Log-cosh (Keras's `log_cosh`): `mean_j ln cosh(a_j − t_j)`.
    LogCosh,
    /// Hinge (Keras's `hinge`): `mean_j max(0, 1 − y_j·a_j)` with targets `y = ±1` (a target ≤ 0
    /// counts as −1, so 0/1 labels work as Keras converts them).
    Hinge,
    /// Squared hinge (Keras's `squared_hinge`): `mean_j max(0, 1 − y_j·a_j)²`, targets as [`Loss::Hinge`].
    SquaredHinge,
    /// Kullback–Leibler divergence of the outputs from target distributions, `Σ_j t_j ln(t_j / a_j)`
    /// per row, averaged over rows (PyTorch's `KLDivLoss(reduction="batchmean")` on `ln a`);
    /// from the logits with a softmax output, else with `a` clipped to `[1e-7, 1]`.
    KlDivergence,
    /// Poisson negative log-likelihood of counts `t` given rates `a`: `mean_j a_j − t_j ln(a_j + 1e-8)`,
    /// PyTorch's `PoissonNLLLoss(log_input=False, full=False, eps=1e-8)` (the network outputs the
    /// rate itself, e.g. through softplus or exp, as Keras's `poisson`).
    Poisson,
}

/// Keeps [`Loss`] usable where `Eq` is asked for: the only float, Huber's δ, is validated finite and positive.
impl Eq for Loss {}

/// Probabilities are clipped to `[EPS, 1 − EPS]` where a cross-entropy cannot use the logits (Keras's epsilon).
const EPS: f64 = 1e-7;
/// Added to the rate inside Poisson's logarithm (PyTorch's `PoissonNLLLoss` default).
const POISSON_EPS: f64 = 1e-8;

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
            Loss::KlDivergence => *act == Activation::Softmax,
            _ => false,
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
            Loss::Huber { delta } if !(delta > 0.0 && delta.is_finite()) => {
                bad(format!("needs a threshold δ > 0, got {delta}; write e.g. huber(1.0)"))
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
            Loss::Huber { delta } => {
                let dl = delta as f64;
                let mut s = 0.0;
                for j in 0..cols {
                    let d = (a[j] - t[j]).to_f64();
                    s += if d.abs() <= dl { 0.5 * d * d } else { dl * (d.abs() - 0.5 * dl) };
                }
                if let Some((g, scale)) = grad {
                    let f = scale * T::from_f64(inv_cols);
                    let (dt, mdt) = (T::from_f64(dl), T::from_f64(-dl));
                    for j in 0..cols {
                        let d = a[j] - t[j];
                        g[j] = f * if d > dt {
                            dt
                        } else if d < mdt {
                            mdt
                        } else {
                            d
                        };
                    }
                }
                s * inv_cols
            }
            Loss::LogCosh => {
                // ln cosh d = |d| + ln(1 + e^{−2|d|}) − ln 2: no overflow for any d.
                let mut s = 0.0;
                for j in 0..cols {
                    let d = (a[j] - t[j]).to_f64().abs();
                    s += d + (-2.0 * d).exp().ln_1p() - std::f64::consts::LN_2;
                }
                if let Some((g, scale)) = grad {
                    let f = scale * T::from_f64(inv_cols);
                    for j in 0..cols {
                        g[j] = f * (a[j] - t[j]).tanh();
                    }
                }
                s * inv_cols
            }
            Loss::Hinge | Loss::SquaredHinge => {
                let squared = self == Loss::SquaredHinge;
                let mut s = 0.0;
                for j in 0..cols {
                    let y = if t[j] > T::ZERO { 1.0 } else { -1.0 };
                    let m = (1.0 - y * a[j].to_f64()).max(0.0);
                    s += if squared { m * m } else { m };
                }
                if let Some((g, scale)) = grad {
                    let f = scale * T::from_f64(inv_cols);
                    for j in 0..cols {
                        let y = if t[j] > T::ZERO { T::ONE } else { -T::ONE };
                        let m = T::ONE - y * a[j];
                        // Zero on the flat side, and at the kink (PyTorch's subgradient of max(0, ·) there).
                        g[j] = if m > T::ZERO {
                            if squared { f * T::from_f64(-2.0) * m * y } else { -f * y }
                        } else {
                            T::ZERO
                        };
                    }
                }
                s * inv_cols
            }
            Loss::KlDivergence if fused => {
                // ln a_j = z_j − lse(z); t ln t counts 0 where t = 0 (PyTorch's xlogy).
                let lse = log_sum_exp(z);
                let mut s = 0.0;
                let mut tsum = T::ZERO;
                for j in 0..cols {
                    let tj = t[j].to_f64();
                    if tj > 0.0 {
                        s += tj * (tj.ln() - (z[j].to_f64() - lse));
                    }
                    tsum += t[j];
                }
                if let Some((g, scale)) = grad {
                    for j in 0..cols {
                        g[j] = scale * (a[j] * tsum - t[j]);
                    }
                }
                s
            }
            Loss::KlDivergence => {
                let mut s = 0.0;
                for j in 0..cols {
                    let tj = t[j].to_f64();
                    if tj > 0.0 {
                        s += tj * (tj.ln() - a[j].to_f64().clamp(EPS, 1.0).ln());
                    }
                }
                if let Some((g, scale)) = grad {
                    for j in 0..cols {
                        let p = a[j].to_f64();
                        g[j] = if p > EPS && p < 1.0 { -scale * t[j] / a[j] } else { T::ZERO };
                    }
                }
                s
            }
            Loss::Poisson => {
                let mut s = 0.0;
                for j in 0..cols {
                    let aj = a[j].to_f64();
                    s += aj - t[j].to_f64() * (aj + POISSON_EPS).ln();
                }
                if let Some((g, scale)) = grad {
                    let f = scale * T::from_f64(inv_cols);
                    let e = T::from_f64(POISSON_EPS);
                    for j in 0..cols {
                        g[j] = f * (T::ONE - t[j] / (a[j] + e));
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
                let lse = log_sum_exp(z);
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

/// `ln Σ exp(z_j)` of one row of logits, with the row max subtracted so that exp never overflows
/// (the log-softmax of the fused cross-entropies and of KL divergence from logits).
fn log_sum_exp<T: Real>(z: &[T]) -> f64 {
    let mut m = z[0];
    for &v in &z[1..] {
        m = m.max(v);
    }
    let mut sum = 0.0f64;
    for &v in z {
        sum += (v - m).to_f64().exp();
    }
    m.to_f64() + sum.ln()
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Loss::Huber { delta } = *self {
            return if delta == 1.0 { f.write_str("huber") } else { write!(f, "huber({delta})") };
        }
        f.write_str(match self {
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::BinaryCrossEntropy => "binary_crossentropy",
            Loss::CategoricalCrossEntropy => "categorical_crossentropy",
            Loss::SparseCategoricalCrossEntropy => "sparse_categorical_crossentropy",
            Loss::Huber { .. } => unreachable!("written above"),
            Loss::LogCosh => "log_cosh",
            Loss::Hinge => "hinge",
            Loss::SquaredHinge => "squared_hinge",
            Loss::KlDivergence => "kl_divergence",
            Loss::Poisson => "poisson",
        })
    }
}

impl FromStr for Loss {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let name = s.trim().to_ascii_lowercase().replace('-', "_");
        if let Some(arg) = name.strip_prefix("huber(").and_then(|r| r.strip_suffix(')')) {
            let delta: f32 = arg.trim().parse().map_err(|_| {
                Error::config(
                    format!("loss '{s}'"),
                    format!("'{arg}' is not a number; write huber(DELTA), e.g. huber(1.0)"),
                )
            })?;
            let loss = Loss::Huber { delta };
            loss.check_output(&Activation::Linear, 1)?;
            return Ok(loss);
        }
        Ok(match name.as_str() {
            "mse" | "mean_squared_error" => Loss::Mse,
            "mae" | "mean_absolute_error" => Loss::Mae,
            "binary_crossentropy" | "bce" | "binary_cross_entropy" => Loss::BinaryCrossEntropy,
            "categorical_crossentropy" | "cce" | "categorical_cross_entropy" | "crossentropy" => {
                Loss::CategoricalCrossEntropy
            }
            "sparse_categorical_crossentropy" | "sparse_cce" => Loss::SparseCategoricalCrossEntropy,
            "huber" => Loss::Huber { delta: 1.0 },
            "log_cosh" | "logcosh" => Loss::LogCosh,
            "hinge" => Loss::Hinge,
            "squared_hinge" => Loss::SquaredHinge,
            "kl_divergence" | "kld" | "kl_div" | "kullback_leibler_divergence" => Loss::KlDivergence,
            "poisson" => Loss::Poisson,
            _ => {
                return Err(Error::config(
                    format!("loss '{s}'"),
                    "expected one of: mse, mae, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy, huber, huber(DELTA), log_cosh, hinge, squared_hinge, kl_divergence, poisson",
                ));
            }
        })
    }
}

/// A loss defined by the user: trained on by `Trainer::custom_loss` and checked by
/// `gradcheck::gradcheck_custom` like the built-in ones.
pub trait CustomLoss: Send + Sync {
    /// The name it is reported under (the history's `loss` is its value).
    fn name(&self) -> &str;

    /// The loss of one row, from the network's output `y` (after the output activation) and the
    /// target row `t`; when `grad` is given, `dL/dy` into it (same length as `y`). The training
    /// loss is the mean over the batch's rows (weighted by row weights where given).
    fn row(&self, y: &[f64], t: &[f64], grad: Option<&mut [f64]>) -> f64;
}
