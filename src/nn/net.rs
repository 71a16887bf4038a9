//! A model living on a backend: each layer's parameters (with gradients and optimizer state) and its kind's activation buffers, allocated once for the largest batch.
//!
//! The network only sequences its layers: forward from the input to the output, the loss at the
//! output, backward from the output to the first layer (whose input is data, so no `dx`). What a
//! layer computes is its kind's business ([`super::layers`]).

use super::layers::{self, LayerOps};
use super::{LayerParams, Model, ModelConfig, ParamTensor};
use crate::backend::Backend;
use crate::loss::Loss;
use crate::optim::{OptimizerConfig, UpdateRule};
use crate::tensor::Matrix;

pub(crate) use super::layers::Param;

/// One layer on the backend: the parameters the network keeps for it, and its kind's state.
struct Slot<B: Backend> {
    params: Vec<Param<B>>,
    ops: Box<dyn LayerOps<B>>,
}

/// A model on backend `B`, ready to run batches of up to `max_rows` rows.
pub struct Net<B: Backend> {
    backend: B,
    config: ModelConfig,
    layers: Vec<Slot<B>>,
    /// The input batch `(max_rows, input_dim)`.
    input: B::Buf,
    max_rows: usize,
    step: u64,
    /// Train mode (dropout masks, batch statistics) or eval mode.
    training: bool,
    /// The seed that train-mode random draws (dropout masks) derive from, with the layer and step.
    seed: u64,
    /// The shard of the batch being computed (0 when unsharded), mixed into the dropout masks of
    /// shards after the first so that shards do not share masks.
    shard: u64,
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
                let specs = cfg.layer_specs(i);
                assert_eq!(specs.len(), p.tensors.len(), "layer {i}: tensors do not match its kind");
                let params = specs
                    .iter()
                    .zip(&p.tensors)
                    .map(|(spec, t)| {
                        assert_eq!(spec.shape, t.shape, "layer {i}: tensor {} of shape {:?}", spec.name, t.shape);
                        Param::new(backend, spec, &t.data, l)
                    })
                    .collect();
                Slot { params, ops: layers::build(backend, l, cfg.layer_input(i), max_rows) }
            })
            .collect();
        Self {
            backend: backend.clone(),
            config: cfg.clone(),
            layers,
            input: backend.zeros(max_rows * cfg.input_dim),
            max_rows,
            step: 0,
            training: false,
            seed: 0,
            shard: 0,
        }
    }

    /// Train mode (`true`: dropout and batch statistics act) or eval mode; a new network is in eval mode.
    pub fn set_training(&mut self, on: bool) {
        self.training = on;
    }

    /// Sets the seed of train-mode random draws: dropout masks come from `(seed, layer, step)`,
    /// so they are the same for any thread count and again when a run resumes at that step.
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
    }

    /// Sets the shard of the batch the next forward passes compute (see [`crate::train::shard_rows`]).
    pub(crate) fn set_shard(&mut self, shard: usize) {
        self.shard = shard as u64;
    }

    /// Fixes the dropout mask of layer `layer` (0-based) to `keep` (one flag per element of the
    /// batch, row-major: kept elements are scaled by `1 / (1 − rate)`), or draws masks again
    /// with `None` — for tests against another implementation's mask.
    ///
    /// # Panics
    /// If layer `layer` is not a dropout layer, or `keep` is longer than the batch buffers.
    pub fn set_dropout_mask(&mut self, layer: usize, keep: Option<&[bool]>) {
        let be = self.backend.clone();
        assert!(self.layers[layer].ops.set_mask(&be, keep), "layer {layer} is not a dropout layer");
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
    /// Layer `l`'s output buffer `(max_rows, units)` after the last forward pass.
    pub(crate) fn layer_output(&self, l: usize) -> &B::Buf {
        self.layers[l].ops.output()
    }

    pub(crate) fn output(&self) -> &B::Buf {
        self.layers.last().expect("a model has layers").ops.output()
    }

    /// Runs the forward pass over the first `rows` rows of the input buffer.
    pub fn forward(&mut self, rows: usize) {
        assert!(rows <= self.max_rows, "forward: batch of {rows} rows exceeds the {} allocated", self.max_rows);
        let be = &self.backend;
        for l in 0..self.layers.len() {
            let (before, rest) = self.layers.split_at_mut(l);
            let x = if l == 0 { &self.input } else { before[l - 1].ops.output() };
            let slot = &mut rest[0];
            if self.training {
                let mut key = layers::noise_mix(layers::noise_mix(self.seed ^ layers::noise_mix(l as u64)) ^ self.step);
                if self.shard > 0 {
                    key = layers::noise_mix(key ^ self.shard);
                }
                slot.ops.set_noise_key(key);
            }
            slot.ops.forward(be, &mut slot.params, x, rows, self.training);
        }
    }

    /// The loss of the last forward pass against targets `t (rows, out)` with optional row weights;
    /// with `grad_scale`, also stores `grad_scale × dL/d output` for [`Net::backward`].
    pub fn loss(&mut self, loss: Loss, rows: usize, t: &B::Buf, w: Option<&B::Buf>, grad_scale: Option<f64>) -> f64 {
        let out = self.layers.last_mut().expect("a model has layers");
        out.ops.loss(&self.backend, &mut out.params, loss, rows, t, w, grad_scale)
    }

    /// [`Net::loss`] for a user-defined loss on the output after its activation.
    pub fn custom_loss(
        &mut self,
        loss: &dyn crate::loss::CustomLoss,
        rows: usize,
        t: &B::Buf,
        w: Option<&B::Buf>,
        grad_scale: Option<f64>,
    ) -> f64 {
        let out = self.layers.last_mut().expect("a model has layers");
        out.ops.custom_loss(&self.backend, &mut out.params, loss, rows, t, w, grad_scale)
    }

    /// Backpropagates the output gradient stored by [`Net::loss`] into every parameter's gradient.
    pub fn backward(&mut self, rows: usize) {
        let be = &self.backend;
        for l in (0..self.layers.len()).rev() {
            let (before, rest) = self.layers.split_at_mut(l);
            let slot = &mut rest[0];
            if l == 0 {
                slot.ops.backward(be, &mut slot.params, &self.input, rows, None);
            } else {
                let (x, dx) = before[l - 1].ops.output_and_grad();
                slot.ops.backward(be, &mut slot.params, x, rows, Some(dx));
            }
        }
    }

    /// Every parameter tensor, layer by layer in storage order (the order of [`ModelConfig::named_specs`]).
    pub(crate) fn params_mut(&mut self) -> impl Iterator<Item = &mut Param<B>> {
        self.layers.iter_mut().flat_map(|l| l.params.iter_mut())
    }

    /// Every parameter tensor, layer by layer in storage order.
    pub(crate) fn params(&self) -> impl Iterator<Item = &Param<B>> {
        self.layers.iter().flat_map(|l| l.params.iter())
    }

    /// Every parameter tensor with its layer index, in storage order.
    pub(crate) fn named_params(&self) -> impl Iterator<Item = (usize, &Param<B>)> {
        self.layers.iter().enumerate().flat_map(|(i, l)| l.params.iter().map(move |p| (i, p)))
    }

    /// The number of trainable parameters (the flat vector of whole-model optimizers).
    pub(crate) fn trainable_len(&self) -> usize {
        self.params().filter(|p| p.trainable).map(|p| p.len).sum()
    }

    /// Copies every trainable parameter (`grads`: its gradient) into `out`, in storage order.
    pub(crate) fn read_trainable(&self, grads: bool, out: &mut [f32]) {
        self.read_kind(true, grads, out);
    }

    /// Overwrites every trainable parameter from `src`, in storage order.
    pub(crate) fn write_trainable(&mut self, src: &[f32]) {
        self.write_kind(true, false, src);
    }

    /// Overwrites every trainable parameter's gradient from `src`, in storage order.
    pub(crate) fn write_trainable_grads(&mut self, src: &[f32]) {
        self.write_kind(true, true, src);
    }

    /// The number of non-trainable values (batch normalization's running statistics).
    pub(crate) fn frozen_len(&self) -> usize {
        self.params().filter(|p| !p.trainable).map(|p| p.len).sum()
    }

    /// Copies every non-trainable parameter into `out`, in storage order.
    pub(crate) fn read_frozen(&self, out: &mut [f32]) {
        self.read_kind(false, false, out);
    }

    /// Overwrites every non-trainable parameter from `src`, in storage order.
    pub(crate) fn write_frozen(&mut self, src: &[f32]) {
        self.write_kind(false, false, src);
    }

    fn read_kind(&self, trainable: bool, grads: bool, out: &mut [f32]) {
        let mut at = 0;
        for p in self.params().filter(|p| p.trainable == trainable) {
            self.backend.read(if grads { &p.grad } else { &p.value }, &mut out[at..at + p.len]);
            at += p.len;
        }
    }

    fn write_kind(&mut self, trainable: bool, grads: bool, src: &[f32]) {
        let be = self.backend.clone();
        let mut at = 0;
        for p in self.params_mut().filter(|p| p.trainable == trainable) {
            be.write(&src[at..at + p.len], if grads { &mut p.grad } else { &mut p.value });
            at += p.len;
        }
    }

    /// Each trainable tensor's `(len, l1, l2)`, in storage order.
    pub(crate) fn trainable_penalties(&self) -> Vec<(usize, f32, f32)> {
        self.params().filter(|p| p.trainable).map(|p| (p.len, p.l1, p.l2)).collect()
    }

    /// Counts one optimizer step taken outside [`Net::step`] (a whole-model optimizer's).
    pub(crate) fn count_step(&mut self) {
        self.step += 1;
    }

    /// Allocates the optimizer's state buffers (once, before training).
    pub fn init_optimizer(&mut self, opt: &OptimizerConfig) {
        let init = opt.state_init();
        let be = self.backend.clone();
        for p in self.params_mut().filter(|p| p.trainable) {
            p.state = init.iter().map(|&v| be.upload(&vec![v; p.len])).collect();
        }
    }

    /// The global L2 norm of all gradients.
    pub fn grad_norm(&self) -> f64 {
        self.params().filter(|p| p.trainable).map(|p| self.backend.sum_squares(&p.grad, p.len)).sum::<f64>().sqrt()
    }

    /// Multiplies every gradient by `s` (gradient clipping).
    pub fn scale_grads(&mut self, s: f32) {
        let be = self.backend.clone();
        for p in self.params_mut().filter(|p| p.trainable) {
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
        for p in self.params_mut().filter(|p| p.trainable) {
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
        let params = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| LayerParams {
                tensors: self
                    .config
                    .layer_specs(i)
                    .into_iter()
                    .zip(&l.params)
                    .map(|(spec, p)| {
                        let mut data = vec![0.0f32; p.len];
                        be.read(&p.value, &mut data);
                        ParamTensor { name: spec.name.to_string(), shape: spec.shape, data }
                    })
                    .collect(),
            })
            .collect();
        Model { config: self.config.clone(), params }
    }

    /// Overwrites the weights with `model`'s (same architecture).
    pub fn load_weights(&mut self, model: &Model) {
        assert_eq!(model.config.layers.len(), self.layers.len(), "load_weights: different architecture");
        let be = self.backend.clone();
        for (l, p) in self.layers.iter_mut().zip(&model.params) {
            for (dst, src) in l.params.iter_mut().zip(&p.tensors) {
                be.write(&src.data, &mut dst.value);
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
