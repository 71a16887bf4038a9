//! A model living on a backend: parameters, gradients, optimizer state and every activation buffer, allocated once for the largest batch.
//!
//! Shapes (row-major): layer `l` maps `x (rows, in_l)` to `z (rows, width_l)` and
//! `a (rows, units_l)`; `W (in_l, width_l)`, `b (width_l)`. Backward, for `dz = dL/dz`:
//! `dW = xᵀ·dz`, `db = Σ_rows dz`, `dx = dz·Wᵀ` (skipped for the first layer, whose input is data).

use super::{Activation, LayerParams, Model, ModelConfig};
use crate::backend::Backend;
use crate::loss::Loss;
use crate::optim::{OptimizerConfig, UpdateRule};
use crate::tensor::Matrix;

/// One parameter tensor with its gradient and optimizer state.
pub(crate) struct Param<B: Backend> {
    pub value: B::Buf,
    pub grad: B::Buf,
    pub state: Vec<B::Buf>,
    pub len: usize,
    /// Penalties apply to weights only, never to biases or PReLU slopes (as in Keras's kernel_regularizer).
    pub l1: f32,
    pub l2: f32,
}

impl<B: Backend> Param<B> {
    fn new(backend: &B, host: &[f32], l1: f32, l2: f32) -> Self {
        Self {
            value: backend.upload(host),
            grad: backend.zeros(host.len()),
            state: Vec::new(),
            len: host.len(),
            l1,
            l2,
        }
    }
}

/// PReLU's slopes and their gradient, borrowed together.
fn split_alpha<B: Backend>(alpha: &mut Option<Param<B>>) -> (Option<&B::Buf>, Option<&mut B::Buf>) {
    match alpha {
        Some(p) => (Some(&p.value), Some(&mut p.grad)),
        None => (None, None),
    }
}

struct Layer<B: Backend> {
    act: Activation,
    fan_in: usize,
    units: usize,
    width: usize,
    w: Param<B>,
    b: Param<B>,
    alpha: Option<Param<B>>,
    /// Pre-activation `(max_rows, width)`.
    z: B::Buf,
    /// Output `(max_rows, units)`.
    a: B::Buf,
    /// `dL/dz`, `(max_rows, width)`.
    dz: B::Buf,
    /// `dL/da`, `(max_rows, units)`.
    da: B::Buf,
}

/// A model on backend `B`, ready to run batches of up to `max_rows` rows.
pub struct Net<B: Backend> {
    backend: B,
    config: ModelConfig,
    layers: Vec<Layer<B>>,
    /// The input batch `(max_rows, input_dim)`.
    input: B::Buf,
    max_rows: usize,
    step: u64,
}

impl<B: Backend> Net<B> {
    /// Uploads `model` to `backend` with buffers for batches of up to `max_rows` rows.
    pub fn new(backend: &B, model: &Model, max_rows: usize) -> Self {
        let max_rows = max_rows.max(1);
        let cfg = &model.config;
        let layers = cfg
            .layers
            .iter()
            .zip(&model.params)
            .enumerate()
            .map(|(i, (l, p))| {
                let (fan_in, width) = (cfg.layer_input(i), l.pre_width());
                assert_eq!(
                    (p.weight.rows, p.weight.cols),
                    (fan_in, width),
                    "layer {i}: weights {}×{} for a {fan_in}→{width} layer",
                    p.weight.rows,
                    p.weight.cols
                );
                Layer {
                    act: l.activation.clone(),
                    fan_in,
                    units: l.units,
                    width,
                    w: Param::new(backend, &p.weight.data, l.l1, l.l2),
                    b: Param::new(backend, &p.bias, 0.0, 0.0),
                    alpha: p.alpha.as_ref().map(|a| Param::new(backend, a, 0.0, 0.0)),
                    z: backend.zeros(max_rows * width),
                    a: backend.zeros(max_rows * l.units),
                    dz: backend.zeros(max_rows * width),
                    da: backend.zeros(max_rows * l.units),
                }
            })
            .collect();
        Self {
            backend: backend.clone(),
            config: cfg.clone(),
            layers,
            input: backend.zeros(max_rows * cfg.input_dim),
            max_rows,
            step: 0,
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The largest batch the buffers hold.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Train (`true`) or evaluation mode, for layers that differ (dropout, batch norm); none do yet.
    pub fn set_training(&mut self, _on: bool) {}

    /// Optimizer steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    pub(crate) fn set_steps(&mut self, step: u64) {
        self.step = step;
    }

    /// The input batch buffer, for gathering rows into.
    pub(crate) fn input_mut(&mut self) -> &mut B::Buf {
        &mut self.input
    }

    /// The output layer's activation buffer.
    pub(crate) fn output(&self) -> &B::Buf {
        &self.layers.last().expect("a model has layers").a
    }

    /// Runs the forward pass over the first `rows` rows of the input buffer.
    pub fn forward(&mut self, rows: usize) {
        assert!(rows <= self.max_rows, "forward: batch of {rows} rows exceeds the {} allocated", self.max_rows);
        let be = &self.backend;
        for l in 0..self.layers.len() {
            let (before, rest) = self.layers.split_at_mut(l);
            let layer = &mut rest[0];
            let x = if l == 0 { &self.input } else { &before[l - 1].a };
            be.matmul(rows, layer.width, layer.fan_in, x, false, &layer.w.value, false, &mut layer.z, false);
            be.bias_act_forward(
                &layer.act,
                rows,
                layer.units,
                &mut layer.z,
                &layer.b.value,
                layer.alpha.as_ref().map(|p| &p.value),
                &mut layer.a,
            );
        }
    }

    /// The loss of the last forward pass against targets `t (rows, out)` with optional row weights;
    /// with `grad_scale`, also stores `grad_scale × dL/dz` of the output layer for [`Net::backward`].
    pub fn loss(&mut self, loss: Loss, rows: usize, t: &B::Buf, w: Option<&B::Buf>, grad_scale: Option<f64>) -> f64 {
        let be = &self.backend;
        let out = self.layers.last_mut().expect("a model has layers");
        let fused = loss.fused_with(&out.act);
        let grad = grad_scale.map(|s| (if fused { &mut out.dz } else { &mut out.da }, s));
        let value = be.loss(loss, &out.act, rows, out.units, &out.z, &out.a, t, w, grad);
        if grad_scale.is_some() && !fused {
            let (alpha, dalpha) = split_alpha(&mut out.alpha);
            be.act_backward(&out.act, rows, out.units, &out.z, &out.a, &out.da, alpha, &mut out.dz, dalpha);
        }
        value
    }

    /// Backpropagates the output gradient stored by [`Net::loss`] into every parameter's gradient.
    pub fn backward(&mut self, rows: usize) {
        let be = &self.backend;
        for l in (0..self.layers.len()).rev() {
            let (before, rest) = self.layers.split_at_mut(l);
            let layer = &mut rest[0];
            let x = if l == 0 { &self.input } else { &before[l - 1].a };
            // dW (in, width) = xᵀ (in, rows) · dz (rows, width)
            be.matmul(layer.fan_in, layer.width, rows, x, true, &layer.dz, false, &mut layer.w.grad, false);
            be.sum_rows(rows, layer.width, &layer.dz, &mut layer.b.grad);
            if l > 0 {
                let prev = &mut before[l - 1];
                // dx (rows, in) = dz (rows, width) · Wᵀ (width, in)
                be.matmul(rows, layer.fan_in, layer.width, &layer.dz, false, &layer.w.value, true, &mut prev.da, false);
                let (alpha, dalpha) = split_alpha(&mut prev.alpha);
                be.act_backward(&prev.act, rows, prev.units, &prev.z, &prev.a, &prev.da, alpha, &mut prev.dz, dalpha);
            }
        }
    }

    pub(crate) fn params_mut(&mut self) -> impl Iterator<Item = &mut Param<B>> {
        self.layers.iter_mut().flat_map(|l| [Some(&mut l.w), Some(&mut l.b), l.alpha.as_mut()].into_iter().flatten())
    }

    pub(crate) fn params(&self) -> impl Iterator<Item = &Param<B>> {
        self.layers.iter().flat_map(|l| [Some(&l.w), Some(&l.b), l.alpha.as_ref()].into_iter().flatten())
    }

    /// Allocates the optimizer's state buffers (once, before training).
    pub fn init_optimizer(&mut self, opt: &OptimizerConfig) {
        let init = opt.state_init();
        let be = self.backend.clone();
        for p in self.params_mut() {
            p.state = init.iter().map(|&v| be.upload(&vec![v; p.len])).collect();
        }
    }

    /// The global L2 norm of all gradients.
    pub fn grad_norm(&self) -> f64 {
        self.params().map(|p| self.backend.sum_squares(&p.grad, p.len)).sum::<f64>().sqrt()
    }

    /// Multiplies every gradient by `s` (gradient clipping).
    pub fn scale_grads(&mut self, s: f32) {
        let be = self.backend.clone();
        for p in self.params_mut() {
            be.scale(&mut p.grad, p.len, s);
        }
    }

    /// One optimizer step on every parameter with learning rate `opt.lr()`; returns the weight
    /// penalty (`Σ λ₁|w| + λ₂w²`) before the step.
    pub fn step(&mut self, opt: &OptimizerConfig) -> f64 {
        self.step += 1;
        let step = self.step;
        let be = self.backend.clone();
        let mut penalty = 0.0;
        for p in self.params_mut() {
            let rule = UpdateRule { opt: opt.clone(), step, l1: p.l1, l2: p.l2 };
            penalty += be.update(&rule, p.len, &mut p.value, &p.grad, &mut p.state);
        }
        penalty
    }

    /// The weight penalty `Σ λ₁|w| + λ₂w²` of the current weights (computed on the host; not for hot loops).
    pub fn penalty(&self) -> f64 {
        let mut host = Vec::new();
        self.params()
            .filter(|p| p.l1 != 0.0 || p.l2 != 0.0)
            .map(|p| {
                host.resize(p.len, 0.0f32);
                self.backend.read(&p.value, &mut host);
                host.iter().map(|&v| (p.l1 * v.abs() + p.l2 * v * v) as f64).sum::<f64>()
            })
            .sum()
    }

    /// Whether every parameter is finite.
    pub fn params_finite(&self) -> bool {
        self.params().all(|p| self.backend.all_finite(&p.value, p.len))
    }

    /// Copies the weights back to the host.
    pub fn to_model(&self) -> Model {
        let be = &self.backend;
        let read = |p: &Param<B>| {
            let mut v = vec![0.0f32; p.len];
            be.read(&p.value, &mut v);
            v
        };
        let params = self
            .layers
            .iter()
            .map(|l| LayerParams {
                weight: Matrix::new(l.fan_in, l.width, read(&l.w)),
                bias: read(&l.b),
                alpha: l.alpha.as_ref().map(read),
            })
            .collect();
        Model { config: self.config.clone(), params }
    }

    /// Overwrites the weights with `model`'s (same architecture).
    pub fn load_weights(&mut self, model: &Model) {
        assert_eq!(model.config.layers.len(), self.layers.len(), "load_weights: different architecture");
        let be = self.backend.clone();
        for (l, p) in self.layers.iter_mut().zip(&model.params) {
            be.write(&p.weight.data, &mut l.w.value);
            be.write(&p.bias, &mut l.b.value);
            if let (Some(dst), Some(src)) = (l.alpha.as_mut(), p.alpha.as_ref()) {
                be.write(src, &mut dst.value);
            }
        }
    }

    /// Copies all parameter values into `dst` (a snapshot made by [`Net::snapshot`]).
    pub(crate) fn save_to(&self, dst: &mut [B::Buf]) {
        for (p, d) in self.params().zip(dst.iter_mut()) {
            self.backend.copy(&p.value, d, p.len);
        }
    }

    /// Restores parameter values from a snapshot.
    pub(crate) fn restore_from(&mut self, src: &[B::Buf]) {
        let be = self.backend.clone();
        for (p, s) in self.params_mut().zip(src) {
            be.copy(s, &mut p.value, p.len);
        }
    }

    /// Buffers to hold a copy of every parameter.
    pub(crate) fn snapshot(&self) -> Vec<B::Buf> {
        self.params()
            .map(|p| {
                let mut b = self.backend.zeros(p.len);
                self.backend.copy(&p.value, &mut b, p.len);
                b
            })
            .collect()
    }

    /// Predictions for every row of `x`, in batches of at most `max_rows`.
    pub fn predict(&mut self, x: &Matrix) -> Matrix {
        assert_eq!(
            x.cols, self.config.input_dim,
            "predict: {} features for a model on {}",
            x.cols, self.config.input_dim
        );
        let out_dim = self.config.output_dim();
        let mut out = Matrix::zeros(x.rows, out_dim);
        let bs = self.max_rows;
        for start in (0..x.rows).step_by(bs) {
            let rows = bs.min(x.rows - start);
            let be = self.backend.clone();
            be.write(&x.data[start * x.cols..(start + rows) * x.cols], &mut self.input);
            self.forward(rows);
            be.read(self.output(), &mut out.data[start * out_dim..(start + rows) * out_dim]);
        }
        out
    }

    /// Sets the input batch from host rows (tests, gradient checks).
    pub fn set_input(&mut self, x: &Matrix) {
        assert!(x.rows <= self.max_rows && x.cols == self.config.input_dim);
        let be = self.backend.clone();
        be.write(&x.data, &mut self.input);
    }
}
