//! Batch normalization, exactly as PyTorch's `BatchNorm1d` (affine, tracking running statistics), followed by an optional element-wise activation: `a = act(γ·(x − μ)/√(σ² + eps) + β)`.
//!
//! Train mode normalizes by the batch's mean and biased variance and moves the running mean and
//! (unbiased) variance towards them by `momentum`; eval mode normalizes by the running ones. The
//! running statistics are parameters that are not trainable: the optimizer skips them, and the
//! model file and checkpoints store them (`layers.{i}.running_mean`, `layers.{i}.running_var`).

use super::{LayerOps, Param, ParamInit, ParamSpec};
use crate::backend::Backend;
use crate::math::activation::Activation;
use crate::nn::model::LayerConfig;

/// PyTorch's defaults.
pub const DEFAULT_MOMENTUM: f32 = 0.1;
/// PyTorch's default epsilon.
pub const DEFAULT_EPS: f32 = 1e-5;

pub(super) fn specs(cfg: &LayerConfig, _fan_in: usize) -> Vec<ParamSpec> {
    let v = |name, init, trainable| ParamSpec {
        name,
        shape: vec![cfg.units],
        init: ParamInit::Const(init),
        trainable,
        penalized: false,
        file_transposed: false,
    };
    vec![v("weight", 1.0, true), v("bias", 0.0, true), v("running_mean", 0.0, false), v("running_var", 1.0, false)]
}

pub(super) fn validate(
    cfg: &LayerConfig,
    momentum: f32,
    eps: f32,
    fan_in: usize,
    is_output: bool,
) -> Result<(), String> {
    if !(0.0..=1.0).contains(&momentum) {
        return Err(format!("the momentum must be in [0, 1], got {momentum}"));
    }
    if !(eps > 0.0 && eps.is_finite()) {
        return Err(format!("eps must be > 0, got {eps}"));
    }
    if cfg.units != fan_in {
        return Err(format!("batch normalization keeps its input width {fan_in}; write batchnorm"));
    }
    if matches!(cfg.activation, Activation::Prelu { .. } | Activation::Maxout { .. } | Activation::Softmax) {
        return Err(format!("batchnorm takes an element-wise activation without parameters, not {}", cfg.activation));
    }
    if is_output {
        return Err("batchnorm cannot be the output layer".into());
    }
    Ok(())
}

const GAMMA: usize = 0;
const BETA: usize = 1;
const MEAN: usize = 2;
const VAR: usize = 3;

pub(super) struct BatchNorm<B: Backend> {
    act: Activation,
    units: usize,
    momentum: f32,
    eps: f32,
    xhat: B::Buf,
    inv_std: B::Buf,
    /// Normalized and affine, before the activation.
    z: B::Buf,
    a: B::Buf,
    dz: B::Buf,
    da: B::Buf,
    zero: B::Buf,
    training: bool,
}

impl<B: Backend> BatchNorm<B> {
    pub(super) fn new(be: &B, cfg: &LayerConfig, momentum: f32, eps: f32, max_rows: usize) -> Self {
        let n = max_rows * cfg.units;
        Self {
            act: cfg.activation.clone(),
            units: cfg.units,
            momentum,
            eps,
            xhat: be.zeros(n),
            inv_std: be.zeros(cfg.units),
            z: be.zeros(n),
            a: be.zeros(n),
            dz: be.zeros(n),
            da: be.zeros(n),
            zero: be.zeros(cfg.units),
            training: false,
        }
    }
}

impl<B: Backend> LayerOps<B> for BatchNorm<B> {
    fn forward(&mut self, be: &B, params: &mut [Param<B>], x: &B::Buf, rows: usize, training: bool) {
        self.training = training;
        let (affine, running) = params.split_at_mut(MEAN);
        let (mean, var) = running.split_at_mut(1);
        be.batchnorm_forward(
            rows,
            self.units,
            x,
            &affine[GAMMA].value,
            &affine[BETA].value,
            (&mut mean[0].value, &mut var[VAR - MEAN - 1].value),
            self.eps as f64,
            training.then_some(self.momentum as f64),
            &mut self.xhat,
            &mut self.inv_std,
            &mut self.z,
        );
        be.bias_act_forward(&self.act, rows, self.units, &mut self.z, &self.zero, None, &mut self.a);
    }

    fn output(&self) -> &B::Buf {
        &self.a
    }

    fn output_and_grad(&mut self) -> (&B::Buf, &mut B::Buf) {
        (&self.a, &mut self.da)
    }

    fn backward(&mut self, be: &B, params: &mut [Param<B>], _x: &B::Buf, rows: usize, dx: Option<&mut B::Buf>) {
        be.act_backward(&self.act, rows, self.units, &self.z, &self.a, &self.da, None, &mut self.dz, None);
        let (g, rest) = params.split_at_mut(BETA);
        let gamma = &mut g[GAMMA];
        be.batchnorm_backward(
            rows,
            self.units,
            &self.dz,
            &self.xhat,
            &self.inv_std,
            &gamma.value,
            (&mut gamma.grad, &mut rest[0].grad),
            self.training,
            dx,
        );
    }
}
