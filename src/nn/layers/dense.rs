//! The dense layer with its activation, `a = act(x·W + b)`: its parameters, and its forward and backward passes.
//!
//! Shapes (row-major): `x (rows, in)`, `W (in, width)`, `b (width)`, `z (rows, width)`,
//! `a (rows, units)`, where `width = units × pieces` for maxout and `units` otherwise.
//! Backward, for `dz = dL/dz`: `dW = xᵀ·dz`, `db = Σ_rows dz`, `dx = dz·Wᵀ`.

use super::{LayerOps, Param, ParamInit, ParamSpec};
use crate::backend::Backend;
use crate::loss::{CustomLoss, Loss};
use crate::math::activation::Activation;
use crate::nn::model::LayerConfig;

/// The parameters of a dense layer: weights, biases, and PReLU's slopes when it has them.
pub(super) fn specs(cfg: &LayerConfig, fan_in: usize) -> Vec<ParamSpec> {
    let width = cfg.pre_width();
    let mut specs = vec![
        ParamSpec {
            name: "weight",
            shape: vec![fan_in, width],
            init: ParamInit::Weights { fan_in, fan_out: width },
            trainable: true,
            penalized: true,
            file_transposed: true,
        },
        ParamSpec {
            name: "bias",
            shape: vec![width],
            init: ParamInit::Const(0.0),
            trainable: true,
            penalized: false,
            file_transposed: false,
        },
    ];
    if let Activation::Prelu { init } = cfg.activation {
        specs.push(ParamSpec {
            name: "alpha",
            shape: vec![cfg.units],
            init: ParamInit::Const(init),
            trainable: true,
            penalized: false,
            file_transposed: false,
        });
    }
    specs
}

/// Indices of the parameters in [`specs`]' order.
const W: usize = 0;
const B: usize = 1;
const ALPHA: usize = 2;

pub(super) struct Dense<Bk: Backend> {
    act: Activation,
    fan_in: usize,
    units: usize,
    width: usize,
    /// Pre-activation `(max_rows, width)`.
    z: Bk::Buf,
    /// Output `(max_rows, units)`.
    a: Bk::Buf,
    /// `dL/dz`, `(max_rows, width)`.
    dz: Bk::Buf,
    /// `dL/da`, `(max_rows, units)`.
    da: Bk::Buf,
    /// Set when the loss wrote `dz` directly (softmax or sigmoid fused with cross-entropy), so
    /// that backward does not pass it through the activation again.
    dz_ready: bool,
    /// Host rows for a user-defined loss (output, target, gradient), sized on its first use.
    custom_rows: Vec<f64>,
}

impl<Bk: Backend> Dense<Bk> {
    pub(super) fn new(be: &Bk, cfg: &LayerConfig, fan_in: usize, max_rows: usize) -> Self {
        let width = cfg.pre_width();
        Self {
            act: cfg.activation.clone(),
            fan_in,
            units: cfg.units,
            width,
            z: be.zeros(max_rows * width),
            a: be.zeros(max_rows * cfg.units),
            dz: be.zeros(max_rows * width),
            da: be.zeros(max_rows * cfg.units),
            dz_ready: false,
            custom_rows: Vec::new(),
        }
    }
}

/// PReLU's slopes and their gradient, borrowed together.
fn split_alpha<Bk: Backend>(params: &mut [Param<Bk>]) -> (Option<&Bk::Buf>, Option<&mut Bk::Buf>) {
    match params.get_mut(ALPHA) {
        Some(p) => (Some(&p.value), Some(&mut p.grad)),
        None => (None, None),
    }
}

impl<Bk: Backend> LayerOps<Bk> for Dense<Bk> {
    fn forward(&mut self, be: &Bk, params: &mut [Param<Bk>], x: &Bk::Buf, rows: usize, _training: bool) {
        self.dz_ready = false;
        // Inputs that are mostly zeros (pixels, one-hot columns) take the product that skips
        // them, in training and at inference alike, so that a model predicts what it was
        // evaluated on while it learned.
        let (w, width, fan_in) = (&params[W].value, self.width, self.fan_in);
        if !be.matmul_sparse_lhs(rows, width, fan_in, x, false, w, &mut self.z) {
            be.matmul(rows, width, fan_in, x, false, w, false, &mut self.z, false);
        }
        let alpha = params.get(ALPHA).map(|p| &p.value);
        be.bias_act_forward(&self.act, rows, self.units, &mut self.z, &params[B].value, alpha, &mut self.a);
    }

    fn output(&self) -> &Bk::Buf {
        &self.a
    }

    fn output_and_grad(&mut self) -> (&Bk::Buf, &mut Bk::Buf) {
        (&self.a, &mut self.da)
    }

    fn backward(&mut self, be: &Bk, params: &mut [Param<Bk>], x: &Bk::Buf, rows: usize, dx: Option<&mut Bk::Buf>) {
        if !std::mem::take(&mut self.dz_ready) {
            let (alpha, dalpha) = split_alpha(params);
            be.act_backward(&self.act, rows, self.units, &self.z, &self.a, &self.da, alpha, &mut self.dz, dalpha);
        }
        let (w, rest) = params.split_at_mut(B);
        // dW (in, width) = xᵀ (in, rows) · dz (rows, width), over x's non-zeros when it is sparse
        let (fan_in, width) = (self.fan_in, self.width);
        if !be.matmul_sparse_lhs(fan_in, width, rows, x, true, &self.dz, &mut w[W].grad) {
            be.matmul(fan_in, width, rows, x, true, &self.dz, false, &mut w[W].grad, false);
        }
        be.sum_rows(rows, self.width, &self.dz, &mut rest[0].grad);
        if let Some(dx) = dx {
            // dx (rows, in) = dz (rows, width) · Wᵀ (width, in)
            be.matmul(rows, self.fan_in, self.width, &self.dz, false, &w[W].value, true, dx, false);
        }
    }

    fn loss(
        &mut self,
        be: &Bk,
        params: &mut [Param<Bk>],
        loss: Loss,
        rows: usize,
        t: &Bk::Buf,
        w: Option<&Bk::Buf>,
        grad_scale: Option<f64>,
    ) -> f64 {
        let fused = loss.fused_with(&self.act);
        let grad = grad_scale.map(|s| (if fused { &mut self.dz } else { &mut self.da }, s));
        let value = be.loss(loss, &self.act, rows, self.units, &self.z, &self.a, t, w, grad);
        if grad_scale.is_some() {
            if fused {
                self.dz_ready = true;
            } else {
                // Through the activation now, as the loss's own last step, so that `dz` (and
                // PReLU's slope gradient) are ready whether or not backward follows.
                let (alpha, dalpha) = split_alpha(params);
                be.act_backward(&self.act, rows, self.units, &self.z, &self.a, &self.da, alpha, &mut self.dz, dalpha);
                self.dz_ready = true;
            }
        }
        value
    }

    fn custom_loss(
        &mut self,
        be: &Bk,
        params: &mut [Param<Bk>],
        loss: &dyn CustomLoss,
        rows: usize,
        t: &Bk::Buf,
        w: Option<&Bk::Buf>,
        grad_scale: Option<f64>,
    ) -> f64 {
        let u = self.units;
        self.custom_rows.resize(3 * u, 0.0);
        let (y, rest) = self.custom_rows.split_at_mut(u);
        let (tr, g) = rest.split_at_mut(u);
        let mut total = 0.0;
        for r in 0..rows {
            for (j, (yj, tj)) in y.iter_mut().zip(tr.iter_mut()).enumerate() {
                *yj = be.get(&self.a, r * u + j);
                *tj = be.get(t, r * u + j);
            }
            let wr = w.map_or(1.0, |w| be.get(w, r));
            total += wr * loss.row(y, tr, grad_scale.is_some().then_some(&mut *g));
            if let Some(s) = grad_scale {
                for (j, &gj) in g.iter().enumerate() {
                    be.set(&mut self.da, r * u + j, gj * s * wr);
                }
            }
        }
        if grad_scale.is_some() {
            let (alpha, dalpha) = split_alpha(params);
            be.act_backward(&self.act, rows, self.units, &self.z, &self.a, &self.da, alpha, &mut self.dz, dalpha);
            self.dz_ready = true;
        }
        total
    }
}
