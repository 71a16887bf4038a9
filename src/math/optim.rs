//! Optimizers and learning-rate schedules: configuration with Keras's defaults, and the update formulas exactly as torch.optim documents them.
//!
//! An optimizer step is one backend operation per parameter tensor ([`crate::backend::Backend::update`])
//! over `(param, grad, state)`; [`update_slice`] is the formula, shared by the CPU backend and
//! mirrored line by line in the CUDA kernel.

use crate::error::Error;
use crate::math::Real;
use serde::{Deserialize, Serialize};

/// An optimizer and its hyperparameters. `Default` values are Keras's.
///
/// | optimizer | hyperparameters (default) |
/// |---|---|
/// | `Sgd` | lr 0.01, momentum 0, nesterov false, dampening 0, weight_decay 0 |
/// | `Adagrad` | lr 0.001, initial_accumulator 0.1, eps 1e-7, lr_decay 0, weight_decay 0 |
/// | `RmsProp` | lr 0.001, rho 0.9, eps 1e-7, momentum 0, centered false, weight_decay 0 |
/// | `Adam` / `AmsGrad` | lr 0.001, beta1 0.9, beta2 0.999, eps 1e-7, weight_decay 0 (L2, added to the gradient) |
/// | `AdamW` | as Adam, weight_decay 0.004 (decoupled: `p -= lr·wd·p`) |
/// | `Nadam` | lr 0.001, beta1 0.9, beta2 0.999, eps 1e-7, momentum_decay 0.004, weight_decay 0 (`torch.optim.NAdam`) |
/// | `Adamax` | lr 0.001, beta1 0.9, beta2 0.999, eps 1e-7, weight_decay 0 (`torch.optim.Adamax`) |
/// | `Rprop` | lr 0.01 (the first step size), eta_minus 0.5, eta_plus 1.2, step_min 1e-6, step_max 50 (`torch.optim.Rprop`, full batch) |
/// | `Lbfgs` | `torch.optim.LBFGS`'s: lr 1, max_iter 20, max_eval 25, tolerance_grad 1e-7, tolerance_change 1e-9, history_size 100; full batch (see [`crate::math::lbfgs`]) |
///
/// Spec strings ([`OptimizerConfig::parse`]) name an optimizer and optionally its
/// hyperparameters: `adam`, `nadam(momentum_decay=0.004)`, `rprop(eta_minus=0.5,eta_plus=1.2)`,
/// `lbfgs(line_search=strong_wolfe,history_size=10,max_iter=20)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
#[non_exhaustive]
pub enum OptimizerConfig {
    /// Minibatch SGD, with optional (Nesterov) momentum.
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum factor μ in `[0, 1)`.
        momentum: f32,
        /// Nesterov momentum: step along `g + μ·b` instead of `b`.
        nesterov: bool,
        /// Dampening τ of the momentum: `b = μb + (1 − τ)g`.
        dampening: f32,
        /// L2 weight decay added to the gradient.
        weight_decay: f32,
    },
    /// AdaGrad: per-weight rates shrinking with the sum of squared gradients.
    Adagrad {
        /// Learning rate.
        lr: f32,
        /// Starting value of the sum of squares.
        initial_accumulator: f32,
        /// Added to the denominator.
        eps: f32,
        /// Learning-rate decay per step.
        lr_decay: f32,
        /// L2 weight decay added to the gradient.
        weight_decay: f32,
    },
    /// RMSProp: divides by a running RMS of the gradient.
    RmsProp {
        /// Learning rate.
        lr: f32,
        /// Decay ρ of the squared-gradient average (torch's `alpha`).
        rho: f32,
        /// Added to the denominator.
        eps: f32,
        /// Momentum factor.
        momentum: f32,
        /// Normalize by the variance rather than the second moment.
        centered: bool,
        /// L2 weight decay added to the gradient.
        weight_decay: f32,
    },
    /// Adam (`amsgrad: false`) or AMSGrad (`amsgrad: true`), with L2 weight decay in the gradient.
    Adam {
        /// Learning rate.
        lr: f32,
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the denominator.
        eps: f32,
        /// Keep the running maximum of the second moment (AMSGrad).
        amsgrad: bool,
        /// L2 weight decay added to the gradient.
        weight_decay: f32,
    },
    /// AdamW: Adam with decoupled weight decay.
    AdamW {
        /// Learning rate.
        lr: f32,
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the denominator.
        eps: f32,
        /// Keep the running maximum of the second moment.
        amsgrad: bool,
        /// Decoupled weight decay.
        weight_decay: f32,
    },
    /// NAdam: Adam with Nesterov momentum and Dozat's momentum schedule `μ_t = β₁(1 − ½·0.96^{t·ψ})`.
    Nadam {
        /// Learning rate.
        lr: f32,
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the denominator.
        eps: f32,
        /// The momentum schedule's ψ (torch's `momentum_decay`).
        momentum_decay: f32,
        /// L2 weight decay added to the gradient.
        weight_decay: f32,
    },
    /// Adamax: Adam with the infinity norm, `u = max(β₂u, |g| + ε)`.
    Adamax {
        /// Learning rate.
        lr: f32,
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the infinity norm.
        beta2: f32,
        /// Added to `|g|` (torch's placement).
        eps: f32,
        /// L2 weight decay added to the gradient.
        weight_decay: f32,
    },
    /// Resilient propagation, iRPROP− as `torch.optim.Rprop` defines it: per weight, a step size
    /// grown by `eta_plus` while the gradient keeps its sign and cut by `eta_minus` (skipping that
    /// step) when it flips; only the gradient's sign is used, so train it on the full batch.
    Rprop {
        /// The initial step size.
        lr: f32,
        /// Factor on a sign flip, in (0, 1).
        eta_minus: f32,
        /// Factor while the sign holds, > 1.
        eta_plus: f32,
        /// Smallest step size.
        step_min: f32,
        /// Largest step size.
        step_max: f32,
    },
    /// L-BFGS as `torch.optim.LBFGS` defines it, over the whole model's trainable parameters and
    /// the full batch: each epoch is one `step()` of up to `max_iter` iterations, stopping early on
    /// the tolerances (then training stops, converged).
    Lbfgs {
        /// Step length (1 is the quasi-Newton step).
        lr: f32,
        /// Iterations per epoch.
        max_iter: usize,
        /// Loss evaluations per epoch.
        max_eval: usize,
        /// Converged when every gradient component is at most this in absolute value.
        tolerance_grad: f64,
        /// Converged when the loss or the step changes by less than this.
        tolerance_change: f64,
        /// Correction pairs kept.
        history_size: usize,
        /// Strong-Wolfe line search (torch's `line_search_fn="strong_wolfe"`) instead of fixed steps of `lr`.
        line_search: bool,
    },
}

/// The optimizer names [`OptimizerConfig::from_name`] knows.
pub const OPTIMIZER_NAMES: &str =
    "sgd, momentum, nesterov, adagrad, rmsprop, adam, amsgrad, adamw, nadam, adamax, rprop, lbfgs";

impl OptimizerConfig {
    /// SGD with learning rate `lr` and no momentum.
    pub fn sgd(lr: f32) -> Self {
        OptimizerConfig::Sgd { lr, momentum: 0.0, nesterov: false, dampening: 0.0, weight_decay: 0.0 }
    }
    /// SGD with momentum.
    pub fn momentum(lr: f32, momentum: f32) -> Self {
        OptimizerConfig::Sgd { lr, momentum, nesterov: false, dampening: 0.0, weight_decay: 0.0 }
    }
    /// SGD with Nesterov momentum.
    pub fn nesterov(lr: f32, momentum: f32) -> Self {
        OptimizerConfig::Sgd { lr, momentum, nesterov: true, dampening: 0.0, weight_decay: 0.0 }
    }
    /// AdaGrad with Keras's defaults and learning rate `lr`.
    pub fn adagrad(lr: f32) -> Self {
        OptimizerConfig::Adagrad { lr, initial_accumulator: 0.1, eps: 1e-7, lr_decay: 0.0, weight_decay: 0.0 }
    }
    /// RMSProp with Keras's defaults and learning rate `lr`.
    pub fn rmsprop(lr: f32) -> Self {
        OptimizerConfig::RmsProp { lr, rho: 0.9, eps: 1e-7, momentum: 0.0, centered: false, weight_decay: 0.0 }
    }
    /// Adam with Keras's defaults and learning rate `lr`.
    pub fn adam(lr: f32) -> Self {
        OptimizerConfig::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-7, amsgrad: false, weight_decay: 0.0 }
    }
    /// AMSGrad with Keras's defaults and learning rate `lr`.
    pub fn amsgrad(lr: f32) -> Self {
        OptimizerConfig::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-7, amsgrad: true, weight_decay: 0.0 }
    }
    /// AdamW with Keras's defaults and learning rate `lr`.
    pub fn adamw(lr: f32) -> Self {
        OptimizerConfig::AdamW { lr, beta1: 0.9, beta2: 0.999, eps: 1e-7, amsgrad: false, weight_decay: 0.004 }
    }

    /// NAdam with Keras's defaults and learning rate `lr`.
    pub fn nadam(lr: f32) -> Self {
        OptimizerConfig::Nadam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-7, momentum_decay: 0.004, weight_decay: 0.0 }
    }
    /// Adamax with Keras's defaults and learning rate `lr`.
    pub fn adamax(lr: f32) -> Self {
        OptimizerConfig::Adamax { lr, beta1: 0.9, beta2: 0.999, eps: 1e-7, weight_decay: 0.0 }
    }
    /// Rprop with torch's defaults and first step size `lr`.
    pub fn rprop(lr: f32) -> Self {
        OptimizerConfig::Rprop { lr, eta_minus: 0.5, eta_plus: 1.2, step_min: 1e-6, step_max: 50.0 }
    }
    /// L-BFGS with torch's defaults, with or without the strong-Wolfe line search.
    pub fn lbfgs(line_search: bool) -> Self {
        OptimizerConfig::Lbfgs {
            lr: 1.0,
            max_iter: 20,
            max_eval: 25,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            line_search,
        }
    }

    /// Whether the optimizer steps on the gradient of all training rows at once (Rprop, L-BFGS):
    /// training then uses one batch of every row, whatever the batch size says.
    pub fn is_full_batch(&self) -> bool {
        matches!(self, OptimizerConfig::Rprop { .. } | OptimizerConfig::Lbfgs { .. })
    }

    /// Parses `name` or `name(key=value,…)`: the optimizer with its defaults (as
    /// [`OptimizerConfig::from_name`]), then each named hyperparameter, e.g.
    /// `lbfgs(line_search=strong_wolfe,history_size=10)`, `rprop(eta_plus=1.1)`, `nadam(beta2=0.99)`.
    /// Keys are the variant's field names (`lr` too); booleans are `true`/`false`, and L-BFGS's
    /// `line_search` also takes `strong_wolfe`/`none`.
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let spec = spec.trim();
        let Some((name, rest)) = spec.split_once('(') else { return Self::from_name(spec) };
        let bad = |msg: String| Error::config(format!("optimizer '{spec}'"), msg);
        let args = rest.strip_suffix(')').ok_or_else(|| bad("missing the closing ')'".into()))?;
        let mut opt = Self::from_name(name)?;
        for kv in args.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').ok_or_else(|| bad(format!("'{kv}' is not key=value")))?;
            opt.set_hyper(k.trim(), v.trim()).map_err(bad)?;
        }
        opt.validate()?;
        Ok(opt)
    }

    /// Sets the hyperparameter `key` from text.
    fn set_hyper(&mut self, key: &str, v: &str) -> Result<(), String> {
        fn num<N: std::str::FromStr>(v: &str, key: &str) -> Result<N, String> {
            v.parse().map_err(|_| format!("'{v}' is not a valid value for {key}"))
        }
        fn flag(v: &str, key: &str) -> Result<bool, String> {
            match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "strong_wolfe" => Ok(true),
                "false" | "no" | "0" | "none" => Ok(false),
                _ => Err(format!("'{v}' is not a valid value for {key} (true or false)")),
            }
        }
        if key == "lr" {
            self.set_lr(num(v, key)?);
            return Ok(());
        }
        let name = self.name();
        let unknown = || Err(format!("{name} has no hyperparameter '{key}'"));
        match self {
            OptimizerConfig::Sgd { momentum, nesterov, dampening, weight_decay, .. } => match key {
                "momentum" => *momentum = num(v, key)?,
                "nesterov" => *nesterov = flag(v, key)?,
                "dampening" => *dampening = num(v, key)?,
                "weight_decay" => *weight_decay = num(v, key)?,
                _ => return unknown(),
            },
            OptimizerConfig::Adagrad { initial_accumulator, eps, lr_decay, weight_decay, .. } => match key {
                "initial_accumulator" => *initial_accumulator = num(v, key)?,
                "eps" => *eps = num(v, key)?,
                "lr_decay" => *lr_decay = num(v, key)?,
                "weight_decay" => *weight_decay = num(v, key)?,
                _ => return unknown(),
            },
            OptimizerConfig::RmsProp { rho, eps, momentum, centered, weight_decay, .. } => match key {
                "rho" => *rho = num(v, key)?,
                "eps" => *eps = num(v, key)?,
                "momentum" => *momentum = num(v, key)?,
                "centered" => *centered = flag(v, key)?,
                "weight_decay" => *weight_decay = num(v, key)?,
                _ => return unknown(),
            },
            OptimizerConfig::Adam { beta1, beta2, eps, amsgrad, weight_decay, .. }
            | OptimizerConfig::AdamW { beta1, beta2, eps, amsgrad, weight_decay, .. } => match key {
                "beta1" => *beta1 = num(v, key)?,
                "beta2" => *beta2 = num(v, key)?,
                "eps" => *eps = num(v, key)?,
                "amsgrad" => *amsgrad = flag(v, key)?,
                "weight_decay" => *weight_decay = num(v, key)?,
                _ => return unknown(),
            },
            OptimizerConfig::Nadam { beta1, beta2, eps, momentum_decay, weight_decay, .. } => match key {
                "beta1" => *beta1 = num(v, key)?,
                "beta2" => *beta2 = num(v, key)?,
                "eps" => *eps = num(v, key)?,
                "momentum_decay" => *momentum_decay = num(v, key)?,
                "weight_decay" => *weight_decay = num(v, key)?,
                _ => return unknown(),
            },
            OptimizerConfig::Adamax { beta1, beta2, eps, weight_decay, .. } => match key {
                "beta1" => *beta1 = num(v, key)?,
                "beta2" => *beta2 = num(v, key)?,
                "eps" => *eps = num(v, key)?,
                "weight_decay" => *weight_decay = num(v, key)?,
                _ => return unknown(),
            },
            OptimizerConfig::Rprop { eta_minus, eta_plus, step_min, step_max, .. } => match key {
                "eta_minus" => *eta_minus = num(v, key)?,
                "eta_plus" => *eta_plus = num(v, key)?,
                "step_min" => *step_min = num(v, key)?,
                "step_max" => *step_max = num(v, key)?,
                _ => return unknown(),
            },
            OptimizerConfig::Lbfgs {
                max_iter,
                max_eval,
                tolerance_grad,
                tolerance_change,
                history_size,
                line_search,
                ..
            } => match key {
                "max_iter" => {
                    *max_iter = num(v, key)?;
                    // torch's default follows max_iter unless given (a later max_eval overrides).
                    *max_eval = *max_iter * 5 / 4;
                }
                "max_eval" => *max_eval = num(v, key)?,
                "tolerance_grad" => *tolerance_grad = num(v, key)?,
                "tolerance_change" => *tolerance_change = num(v, key)?,
                "history_size" => *history_size = num(v, key)?,
                "line_search" => *line_search = flag(v, key)?,
                _ => return unknown(),
            },
        }
        Ok(())
    }

    /// The optimizer called `name` with its default learning rate (SGD-family and Rprop 0.01,
    /// L-BFGS 1, others 0.001); `lbfgs` comes with the strong-Wolfe line search
    /// (`lbfgs(line_search=none)` for torch's fixed steps).
    pub fn from_name(name: &str) -> Result<Self, Error> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "nadam" => Self::nadam(0.001),
            "adamax" => Self::adamax(0.001),
            "rprop" => Self::rprop(0.01),
            "lbfgs" | "l_bfgs" | "l-bfgs" => Self::lbfgs(true),
            "sgd" => Self::sgd(0.01),
            "momentum" => Self::momentum(0.01, 0.9),
            "nesterov" => Self::nesterov(0.01, 0.9),
            "adagrad" => Self::adagrad(0.001),
            "rmsprop" => Self::rmsprop(0.001),
            "adam" => Self::adam(0.001),
            "amsgrad" => Self::amsgrad(0.001),
            "adamw" => Self::adamw(0.001),
            _ => {
                return Err(Error::config(
                    format!("optimizer '{name}'"),
                    format!("unknown optimizer; expected one of: {OPTIMIZER_NAMES}"),
                ));
            }
        })
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adagrad { lr, .. }
            | OptimizerConfig::RmsProp { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::AdamW { lr, .. }
            | OptimizerConfig::Nadam { lr, .. }
            | OptimizerConfig::Adamax { lr, .. }
            | OptimizerConfig::Rprop { lr, .. }
            | OptimizerConfig::Lbfgs { lr, .. } => lr,
        }
    }

    /// Sets the learning rate.
    pub fn set_lr(&mut self, new: f32) {
        match self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adagrad { lr, .. }
            | OptimizerConfig::RmsProp { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::AdamW { lr, .. }
            | OptimizerConfig::Nadam { lr, .. }
            | OptimizerConfig::Adamax { lr, .. }
            | OptimizerConfig::Rprop { lr, .. }
            | OptimizerConfig::Lbfgs { lr, .. } => *lr = new,
        }
    }

    /// A short name: `sgd`, `adam`…
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd { nesterov: true, .. } => "nesterov",
            OptimizerConfig::Sgd { momentum, .. } if *momentum != 0.0 => "momentum",
            OptimizerConfig::Sgd { .. } => "sgd",
            OptimizerConfig::Adagrad { .. } => "adagrad",
            OptimizerConfig::RmsProp { .. } => "rmsprop",
            OptimizerConfig::Adam { amsgrad: true, .. } => "amsgrad",
            OptimizerConfig::Adam { .. } => "adam",
            OptimizerConfig::AdamW { .. } => "adamw",
            OptimizerConfig::Nadam { .. } => "nadam",
            OptimizerConfig::Adamax { .. } => "adamax",
            OptimizerConfig::Rprop { .. } => "rprop",
            OptimizerConfig::Lbfgs { .. } => "lbfgs",
        }
    }

    /// Checks every hyperparameter's range, naming the first that is out of it.
    pub fn validate(&self) -> Result<(), Error> {
        fn check(ok: bool, what: &str, msg: String) -> Result<(), Error> {
            if ok { Ok(()) } else { Err(Error::config(what, msg)) }
        }
        let unit = |v: f32, what: &str| check((0.0..1.0).contains(&v), what, format!("must be in [0, 1), got {v}"));
        let pos = |v: f32, what: &str| check(v > 0.0 && v.is_finite(), what, format!("must be > 0, got {v}"));
        let nonneg = |v: f32, what: &str| check(v >= 0.0 && v.is_finite(), what, format!("must be ≥ 0, got {v}"));
        pos(self.lr(), "learning rate (--lr)")?;
        match *self {
            OptimizerConfig::Sgd { momentum, nesterov, dampening, weight_decay, .. } => {
                unit(momentum, "momentum")?;
                unit(dampening, "dampening")?;
                nonneg(weight_decay, "weight decay")?;
                check(
                    !nesterov || (momentum > 0.0 && dampening == 0.0),
                    "nesterov",
                    "Nesterov momentum needs momentum > 0 and dampening 0".into(),
                )
            }
            OptimizerConfig::Adagrad { initial_accumulator, eps, lr_decay, weight_decay, .. } => {
                nonneg(initial_accumulator, "initial accumulator")?;
                pos(eps, "eps")?;
                nonneg(lr_decay, "lr decay")?;
                nonneg(weight_decay, "weight decay")
            }
            OptimizerConfig::RmsProp { rho, eps, momentum, weight_decay, .. } => {
                unit(rho, "rho")?;
                pos(eps, "eps")?;
                unit(momentum, "momentum")?;
                nonneg(weight_decay, "weight decay")
            }
            OptimizerConfig::Adam { beta1, beta2, eps, weight_decay, .. }
            | OptimizerConfig::AdamW { beta1, beta2, eps, weight_decay, .. } => {
                unit(beta1, "beta1")?;
                unit(beta2, "beta2")?;
                pos(eps, "eps")?;
                nonneg(weight_decay, "weight decay")
            }
            OptimizerConfig::Nadam { beta1, beta2, eps, momentum_decay, weight_decay, .. } => {
                unit(beta1, "beta1")?;
                unit(beta2, "beta2")?;
                pos(eps, "eps")?;
                nonneg(momentum_decay, "momentum decay")?;
                nonneg(weight_decay, "weight decay")
            }
            OptimizerConfig::Adamax { beta1, beta2, eps, weight_decay, .. } => {
                unit(beta1, "beta1")?;
                unit(beta2, "beta2")?;
                pos(eps, "eps")?;
                nonneg(weight_decay, "weight decay")
            }
            OptimizerConfig::Rprop { eta_minus, eta_plus, step_min, step_max, .. } => {
                check(eta_minus > 0.0 && eta_minus < 1.0, "eta_minus", format!("must be in (0, 1), got {eta_minus}"))?;
                check(eta_plus > 1.0 && eta_plus.is_finite(), "eta_plus", format!("must be > 1, got {eta_plus}"))?;
                nonneg(step_min, "step_min")?;
                check(
                    step_max >= step_min && step_max.is_finite(),
                    "step_max",
                    format!("must be ≥ step_min ({step_min}), got {step_max}"),
                )
            }
            OptimizerConfig::Lbfgs { max_iter, max_eval, tolerance_grad, tolerance_change, history_size, .. } => {
                check(max_iter >= 1, "max_iter", "L-BFGS needs at least 1 iteration per epoch".into())?;
                check(max_eval >= 1, "max_eval", "L-BFGS needs at least 1 evaluation per epoch".into())?;
                check(history_size >= 1, "history_size", "L-BFGS needs at least 1 correction pair".into())?;
                check(tolerance_grad >= 0.0, "tolerance_grad", format!("must be ≥ 0, got {tolerance_grad}"))?;
                check(tolerance_change >= 0.0, "tolerance_change", format!("must be ≥ 0, got {tolerance_change}"))
            }
        }
    }

    /// How many state buffers each parameter tensor needs, and the value each starts at.
    pub fn state_init(&self) -> Vec<f32> {
        match *self {
            OptimizerConfig::Sgd { momentum, .. } => {
                if momentum != 0.0 {
                    vec![0.0]
                } else {
                    vec![]
                }
            }
            OptimizerConfig::Adagrad { initial_accumulator, .. } => vec![initial_accumulator],
            OptimizerConfig::RmsProp { momentum, centered, .. } => {
                let mut v = vec![0.0];
                if momentum != 0.0 {
                    v.push(0.0);
                }
                if centered {
                    v.push(0.0);
                }
                v
            }
            OptimizerConfig::Adam { amsgrad, .. } | OptimizerConfig::AdamW { amsgrad, .. } => {
                if amsgrad {
                    vec![0.0, 0.0, 0.0]
                } else {
                    vec![0.0, 0.0]
                }
            }
            OptimizerConfig::Nadam { .. } | OptimizerConfig::Adamax { .. } => vec![0.0, 0.0],
            // The previous gradient, and each weight's step size (starting at lr).
            OptimizerConfig::Rprop { lr, .. } => vec![0.0, lr],
            // Whole-model state, kept by the session (see crate::math::lbfgs).
            OptimizerConfig::Lbfgs { .. } => vec![],
        }
    }
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self::adam(0.001)
    }
}

/// One step's worth of everything the update formula needs for one parameter tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateRule {
    /// The optimizer, with the learning rate of this step.
    pub opt: OptimizerConfig,
    /// The step number, counting from 1 (bias corrections, SGD's first momentum step).
    pub step: u64,
    /// Keras L1 penalty λ₁ on this tensor: `λ₁·Σ|p|` is added to the loss.
    pub l1: f32,
    /// Keras L2 penalty λ₂ on this tensor: `λ₂·Σp²` is added to the loss.
    pub l2: f32,
}

/// The update of one parameter slice, with `state` the optimizer's buffers (as many as
/// [`OptimizerConfig::state_init`]); returns the penalty `λ₁Σ|p| + λ₂Σp²` before the step.
///
/// The formulas are torch.optim's (see each loop), with Keras's penalties added to the gradient
/// first. Each variant is its own branch-free loop (flags are const generics), so that the
/// compiler vectorizes it: the CPU backend calls this from an AVX-512 entry point when the
/// processor has one.
#[inline(always)]
pub fn update_slice<T: Real>(rule: &UpdateRule, p: &mut [T], g: &[T], state: &mut [&mut [T]]) -> f64 {
    let n = p.len();
    assert_eq!(g.len(), n, "update: gradient and parameter lengths differ");
    for s in state.iter() {
        assert_eq!(s.len(), n, "update: state and parameter lengths differ");
    }
    let penalty = penalty_sum(p, rule.l1, rule.l2);
    // d/dp (λ₁|p| + λ₂p²) = λ₁·sign(p) + 2λ₂·p; torch's L2-style weight decay adds wd·p too.
    let pen = Penalty { l1: T::from_f32(rule.l1), p_coef: T::from_f32(2.0 * rule.l2) };
    let t = rule.step;
    match (rule.opt.clone(), state) {
        (OptimizerConfig::Sgd { lr, momentum, nesterov, dampening, weight_decay }, st) => {
            let pen = pen.with_decay(weight_decay);
            let lr = T::from_f32(lr);
            match st {
                [] => {
                    for (pi, &gi) in p.iter_mut().zip(g) {
                        *pi -= lr * pen.grad(gi, *pi);
                    }
                }
                [b] => {
                    let (mu, damp) = (T::from_f32(momentum), T::ONE - T::from_f32(dampening));
                    // torch: b₁ = g₁, then b_t = μ·b_{t−1} + (1 − τ)·g_t; Nesterov steps along g + μ·b.
                    let (keep, add) = if t == 1 { (T::ZERO, T::ONE) } else { (mu, damp) };
                    let pairs = p.iter_mut().zip(g).zip(b.iter_mut());
                    if nesterov {
                        for ((pi, &gi), bi) in pairs {
                            let gg = pen.grad(gi, *pi);
                            *bi = keep * *bi + add * gg;
                            *pi -= lr * (gg + mu * *bi);
                        }
                    } else {
                        for ((pi, &gi), bi) in pairs {
                            *bi = keep * *bi + add * pen.grad(gi, *pi);
                            *pi -= lr * *bi;
                        }
                    }
                }
                _ => unreachable!("sgd keeps at most one buffer"),
            }
        }
        (OptimizerConfig::Adagrad { lr, eps, lr_decay, weight_decay, .. }, [sum]) => {
            let pen = pen.with_decay(weight_decay);
            let clr = T::from_f64(lr as f64 / (1.0 + (t as f64 - 1.0) * lr_decay as f64));
            let eps = T::from_f32(eps);
            for ((pi, &gi), si) in p.iter_mut().zip(g).zip(sum.iter_mut()) {
                let gg = pen.grad(gi, *pi);
                *si += gg * gg;
                *pi -= clr * gg / (si.sqrt() + eps);
            }
        }
        (OptimizerConfig::RmsProp { lr, rho, eps, momentum, centered, weight_decay }, st) => {
            let h = Rms {
                pen: pen.with_decay(weight_decay),
                lr: T::from_f32(lr),
                rho: T::from_f32(rho),
                eps: T::from_f32(eps),
                mu: T::from_f32(momentum),
            };
            match (momentum != 0.0, centered, st) {
                (false, false, [v]) => rmsprop::<T, false, false>(&h, p, g, v, &mut [], &mut []),
                (true, false, [v, b]) => rmsprop::<T, true, false>(&h, p, g, v, b, &mut []),
                (false, true, [v, ga]) => rmsprop::<T, false, true>(&h, p, g, v, &mut [], ga),
                (true, true, [v, b, ga]) => rmsprop::<T, true, true>(&h, p, g, v, b, ga),
                _ => unreachable!("rmsprop state count"),
            }
        }
        (
            OptimizerConfig::Adam { lr, beta1, beta2, eps, weight_decay, .. }
            | OptimizerConfig::AdamW { lr, beta1, beta2, eps, weight_decay, .. },
            st,
        ) => {
            let decoupled = matches!(rule.opt, OptimizerConfig::AdamW { .. });
            let bc1 = 1.0 - (beta1 as f64).powi(t as i32);
            let bc2 = 1.0 - (beta2 as f64).powi(t as i32);
            let h = AdamStep {
                // Adam's weight decay is L2 in the gradient; AdamW's shrinks the weight apart from it.
                pen: if decoupled { pen } else { pen.with_decay(weight_decay) },
                decay: if decoupled { T::ONE - T::from_f32(lr) * T::from_f32(weight_decay) } else { T::ONE },
                b1: T::from_f32(beta1),
                b2: T::from_f32(beta2),
                step_size: T::from_f64(lr as f64 / bc1),
                inv_bc2_sqrt: T::from_f64(1.0 / bc2.sqrt()),
                eps: T::from_f32(eps),
            };
            match st {
                [m, v] => adam::<T, false>(&h, p, g, m, v, &mut []),
                [m, v, vmax] => adam::<T, true>(&h, p, g, m, v, vmax),
                _ => unreachable!("adam keeps two or three buffers"),
            }
        }
        (OptimizerConfig::Nadam { lr, beta1, beta2, eps, momentum_decay, weight_decay }, [m, v]) => {
            let pen = pen.with_decay(weight_decay);
            let (b1, md) = (beta1 as f64, momentum_decay as f64);
            let mu_at = |i: u64| b1 * (1.0 - 0.5 * 0.96f64.powf(i as f64 * md));
            // torch keeps Π μ_i as state; it is a function of the step, so recompute it.
            let mu_product = nadam_mu_product(beta1, momentum_decay, t);
            let (mu, mu_next) = (mu_at(t), mu_at(t + 1));
            let bc2 = 1.0 - (beta2 as f64).powi(t as i32);
            let lr = lr as f64;
            let cg = T::from_f64(lr * (1.0 - mu) / (1.0 - mu_product));
            let cm = T::from_f64(lr * mu_next / (1.0 - mu_product * mu_next));
            let (b1, b2) = (T::from_f32(beta1), T::from_f32(beta2));
            let (one_b1, one_b2) = (T::ONE - b1, T::ONE - b2);
            let (inv_bc2, eps) = (T::from_f64(1.0 / bc2), T::from_f32(eps));
            // torch NAdam: m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²; d = √(v/(1−β₂ᵗ)) + ε;
            // p −= lr(1−μ_t)/(1−Πμ)·g/d + lr·μ_{t+1}/(1−Πμ·μ_{t+1})·m/d.
            for ((pi, &gi), (mi, vi)) in p.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut())) {
                let gg = pen.grad(gi, *pi);
                *mi = b1 * *mi + one_b1 * gg;
                *vi = b2 * *vi + one_b2 * gg * gg;
                let d = (*vi * inv_bc2).sqrt() + eps;
                *pi -= cg * gg / d + cm * *mi / d;
            }
        }
        (OptimizerConfig::Adamax { lr, beta1, beta2, eps, weight_decay }, [m, u]) => {
            let pen = pen.with_decay(weight_decay);
            let clr = T::from_f64(lr as f64 / (1.0 - (beta1 as f64).powi(t as i32)));
            let (b1, b2, eps) = (T::from_f32(beta1), T::from_f32(beta2), T::from_f32(eps));
            let one_b1 = T::ONE - b1;
            // torch Adamax: m = β₁m + (1−β₁)g; u = max(β₂u, |g| + ε); p −= lr/(1−β₁ᵗ)·m/u.
            for ((pi, &gi), (mi, ui)) in p.iter_mut().zip(g).zip(m.iter_mut().zip(u.iter_mut())) {
                let gg = pen.grad(gi, *pi);
                *mi = b1 * *mi + one_b1 * gg;
                *ui = (b2 * *ui).max(gg.abs() + eps);
                *pi -= clr * *mi / *ui;
            }
        }
        (OptimizerConfig::Rprop { eta_minus, eta_plus, step_min, step_max, .. }, [prev, size]) => {
            let (em, ep) = (T::from_f32(eta_minus), T::from_f32(eta_plus));
            let (lo, hi) = (T::from_f32(step_min), T::from_f32(step_max));
            // torch Rprop: by the sign of g·g_prev, the step size grows (×η₊), shrinks (×η₋, and
            // this step is skipped: g counts as 0, so the next comparison is neutral) or holds;
            // clamped to [step_min, step_max]; p −= sign(g)·size.
            for ((pi, &gi), (qi, si)) in p.iter_mut().zip(g).zip(prev.iter_mut().zip(size.iter_mut())) {
                let mut gg = pen.grad(gi, *pi);
                let prod = gg * *qi;
                let f = if prod > T::ZERO {
                    ep
                } else if prod < T::ZERO {
                    em
                } else {
                    T::ONE
                };
                let mut s = *si * f;
                if s < lo {
                    s = lo;
                }
                if s > hi {
                    s = hi;
                }
                *si = s;
                if prod < T::ZERO {
                    gg = T::ZERO;
                }
                *pi -= gg.signum0() * s;
                *qi = gg;
            }
        }
        (OptimizerConfig::Lbfgs { .. }, _) => {
            unreachable!("L-BFGS steps the whole model (crate::math::lbfgs), never one tensor")
        }
        _ => unreachable!("optimizer state does not match the optimizer"),
    }
    penalty
}

/// NAdam's `Π_{i=1..t} μ_i` with `μ_i = β₁(1 − ½·0.96^{iψ})`, multiplied in step order. Each
/// thread remembers its last product, so consecutive steps cost one factor instead of `t`; the
/// factors are multiplied in the same order either way, so the bits do not depend on the cache.
fn nadam_mu_product(beta1: f32, momentum_decay: f32, t: u64) -> f64 {
    use std::cell::Cell;
    thread_local! {
        /// (β₁ bits, ψ bits, step, product).
        static LAST: Cell<(u32, u32, u64, f64)> = const { Cell::new((0, 0, 0, 1.0)) };
    }
    let (b1, md) = (beta1 as f64, momentum_decay as f64);
    let key = (beta1.to_bits(), momentum_decay.to_bits());
    LAST.with(|last| {
        let (kb, km, mut step, mut prod) = last.get();
        if (kb, km) != key || step > t {
            (step, prod) = (0, 1.0);
        }
        while step < t {
            step += 1;
            prod *= b1 * (1.0 - 0.5 * 0.96f64.powf(step as f64 * md));
        }
        last.set((key.0, key.1, step, prod));
        prod
    })
}

/// The gradient terms added to the loss gradient: Keras's L1/L2 penalties and L2 weight decay.
#[derive(Clone, Copy)]
struct Penalty<T> {
    l1: T,
    /// 2λ₂ + weight decay.
    p_coef: T,
}

impl<T: Real> Penalty<T> {
    fn with_decay(self, wd: f32) -> Self {
        Self { l1: self.l1, p_coef: self.p_coef + T::from_f32(wd) }
    }

    #[inline(always)]
    fn grad(&self, g: T, p: T) -> T {
        g + self.l1 * p.signum0() + self.p_coef * p
    }
}

/// `λ₁Σ|p| + λ₂Σp²`, added in eight fixed lanes: vectorizable, and the same sum for any split.
/// A penalty whose λ is 0 is left out of the loop rather than multiplied by 0 (Keras's and
/// scikit-learn's `alpha` are L2 alone): the sums are the same for finite parameters, and the
/// loop does about half the work. Inlined into the update, so that it is compiled for the same
/// vector width (called, it ran two lanes wide: 4.5% of a scikit-learn-style fit of 784-512-10).
#[inline(always)]
fn penalty_sum<T: Real>(p: &[T], l1: f32, l2: f32) -> f64 {
    match (l1 != 0.0, l2 != 0.0) {
        (true, true) => penalty_lanes::<T, true, true>(p, l1, l2),
        (true, false) => penalty_lanes::<T, true, false>(p, l1, l2),
        (false, true) => penalty_lanes::<T, false, true>(p, l1, l2),
        (false, false) => 0.0,
    }
}

/// [`penalty_sum`] with each penalty in the loop or out of it.
#[inline(always)]
fn penalty_lanes<T: Real, const L1: bool, const L2: bool>(p: &[T], l1: f32, l2: f32) -> f64 {
    let (l1, l2) = (l1 as f64, l2 as f64);
    let term = |v: f64| match (L1, L2) {
        (true, true) => l1 * v.abs() + l2 * v * v,
        (true, false) => l1 * v.abs(),
        _ => l2 * v * v,
    };
    let mut acc = [0.0f64; 8];
    let chunks = p.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += term(v.to_f64());
        }
    }
    for (a, &v) in acc.iter_mut().zip(rest) {
        *a += term(v.to_f64());
    }
    acc.iter().sum()
}

struct Rms<T> {
    pen: Penalty<T>,
    lr: T,
    rho: T,
    eps: T,
    mu: T,
}

/// torch RMSprop: v = ρv + (1−ρ)g²; centered: ḡ = ρḡ + (1−ρ)g, v̂ = v − ḡ²;
/// momentum: b = μb + g/(√v̂ + ε), p −= lr·b; else p −= lr·g/(√v̂ + ε).
#[inline(always)]
fn rmsprop<T: Real, const MOMENTUM: bool, const CENTERED: bool>(
    h: &Rms<T>,
    p: &mut [T],
    g: &[T],
    v: &mut [T],
    b: &mut [T],
    ga: &mut [T],
) {
    let n = p.len();
    let (g, v) = (&g[..n], &mut v[..n]);
    let b = if MOMENTUM { &mut b[..n] } else { b };
    let ga = if CENTERED { &mut ga[..n] } else { ga };
    let one_rho = T::ONE - h.rho;
    for i in 0..n {
        let gi = h.pen.grad(g[i], p[i]);
        v[i] = h.rho * v[i] + one_rho * gi * gi;
        let mut avg = v[i];
        if CENTERED {
            ga[i] = h.rho * ga[i] + one_rho * gi;
            avg -= ga[i] * ga[i];
        }
        let d = gi / (avg.sqrt() + h.eps);
        if MOMENTUM {
            b[i] = h.mu * b[i] + d;
            p[i] -= h.lr * b[i];
        } else {
            p[i] -= h.lr * d;
        }
    }
}

struct AdamStep<T> {
    pen: Penalty<T>,
    decay: T,
    b1: T,
    b2: T,
    step_size: T,
    inv_bc2_sqrt: T,
    eps: T,
}

/// torch Adam/AdamW: p ← decay·p; m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²; AMSGrad keeps
/// v_max = max(v_max, v); p −= lr/(1−β₁ᵗ) · m / (√v / √(1−β₂ᵗ) + ε).
#[inline(always)]
fn adam<T: Real, const AMS: bool>(h: &AdamStep<T>, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], vmax: &mut [T]) {
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let vmax = if AMS { &mut vmax[..n] } else { vmax };
    let (one_b1, one_b2) = (T::ONE - h.b1, T::ONE - h.b2);
    for i in 0..n {
        let gi = h.pen.grad(g[i], p[i]);
        p[i] *= h.decay;
        m[i] = h.b1 * m[i] + one_b1 * gi;
        v[i] = h.b2 * v[i] + one_b2 * gi * gi;
        let second = if AMS {
            vmax[i] = vmax[i].max(v[i]);
            vmax[i]
        } else {
            v[i]
        };
        p[i] -= h.step_size * m[i] / (second.sqrt() * h.inv_bc2_sqrt + h.eps);
    }
}

/// How the learning rate changes from epoch to epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "name", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LrSchedule {
    /// The optimizer's rate throughout.
    #[default]
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between drops.
        every: usize,
        /// Factor at each drop.
        gamma: f32,
    },
    /// Multiply by `gamma` every epoch.
    Exponential {
        /// Factor per epoch.
        gamma: f32,
    },
    /// Multiply by `factor` when the validation loss (training loss without validation) has not
    /// improved by more than `min_delta` for `patience` epochs, down to `min_lr`.
    ReduceOnPlateau {
        /// Factor at each reduction.
        factor: f32,
        /// Epochs without improvement before a reduction.
        patience: usize,
        /// The smallest improvement that counts.
        min_delta: f32,
        /// Floor of the learning rate.
        min_lr: f32,
    },
}

impl LrSchedule {
    /// Checks the schedule's parameters.
    pub fn validate(&self) -> Result<(), Error> {
        let f = |v: f32, what: &str| {
            if v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(Error::config(format!("learning-rate schedule {what}"), format!("must be in (0, 1], got {v}")))
            }
        };
        match *self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::Step { every, gamma } => {
                if every == 0 {
                    return Err(Error::config("learning-rate schedule step", "the step must be at least 1 epoch"));
                }
                f(gamma, "gamma")
            }
            LrSchedule::Exponential { gamma } => f(gamma, "gamma"),
            LrSchedule::ReduceOnPlateau { factor, .. } => f(factor, "factor"),
        }
    }
}

/// The running state of a schedule: call [`LrScheduler::next_lr`] at each epoch's end.
#[derive(Clone, Debug)]
pub struct LrScheduler {
    schedule: LrSchedule,
    base: f32,
    best: f64,
    wait: usize,
    current: f32,
}

impl LrScheduler {
    /// Starts `schedule` from the optimizer's rate `base`.
    pub fn new(schedule: LrSchedule, base: f32) -> Self {
        Self { schedule, base, best: f64::INFINITY, wait: 0, current: base }
    }

    /// Reduce-on-plateau's best loss and wait count (for checkpoints).
    pub fn plateau_state(&self) -> (f64, usize) {
        (self.best, self.wait)
    }

    /// Restores [`LrScheduler::plateau_state`].
    pub fn set_plateau_state(&mut self, (best, wait): (f64, usize)) {
        self.best = best;
        self.wait = wait;
    }

    /// Restores the rate in force (a checkpoint's), which reduce-on-plateau continues from.
    pub fn set_current(&mut self, lr: f32) {
        self.current = lr;
    }

    /// The rate for the epoch after `epoch` (1-based), given that epoch's monitored loss.
    pub fn next_lr(&mut self, epoch: usize, monitored_loss: f64) -> f32 {
        self.current = match self.schedule {
            LrSchedule::Constant => self.base,
            LrSchedule::Step { every, gamma } => self.base * gamma.powi((epoch / every) as i32),
            LrSchedule::Exponential { gamma } => self.base * gamma.powi(epoch as i32),
            LrSchedule::ReduceOnPlateau { factor, patience, min_delta, min_lr } => {
                if monitored_loss < self.best - min_delta as f64 {
                    self.best = monitored_loss;
                    self.wait = 0;
                    self.current
                } else {
                    self.wait += 1;
                    if self.wait >= patience {
                        self.wait = 0;
                        (self.current * factor).max(min_lr)
                    } else {
                        self.current
                    }
                }
            }
        };
        self.current
    }
}
