//! The whole model's parameters and gradients seen as one flat vector (for whole-model optimizers such as L-BFGS), and the gradient hook a session runs between backward and the optimizer step (for a gradient exchange such as an MPI allreduce).

use crate::backend::Backend;
use crate::error::Result;
use crate::nn::Net;

/// Every parameter tensor of a network, and its gradient, as one flat vector of
/// [`ParamView::len`] numbers in the network's parameter order (per layer: weight, bias, then
/// PReLU slopes when the layer has them) — the order of [`crate::nn::Model::params`] and of the
/// checkpoint's optimizer state.
///
/// Flat vectors live on the host; every operation reads or writes the device buffers tensor by
/// tensor. A dot product is one running `f64` sum in element order, as a plain loop over the flat
/// vectors would give, so it depends neither on the tensor boundaries nor on the thread count.
pub struct ParamView<'n, B: Backend> {
    net: &'n mut Net<B>,
    /// Host staging for one tensor.
    scratch: Vec<f32>,
}

/// Which of a parameter's buffers an operation touches.
#[derive(Clone, Copy)]
enum Part {
    Value,
    Grad,
}

impl<'n, B: Backend> ParamView<'n, B> {
    /// A view of `net`'s parameters.
    pub(crate) fn new(net: &'n mut Net<B>) -> Self {
        Self { net, scratch: Vec::new() }
    }

    /// The number of parameters (and of gradient values).
    pub fn len(&self) -> usize {
        self.net.params().map(|p| p.len).sum()
    }

    /// Whether the network has no parameters (never, for a valid model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The length of each parameter tensor, in order (to split a flat vector per tensor).
    pub fn tensor_lens(&self) -> Vec<usize> {
        self.net.params().map(|p| p.len).collect()
    }

    /// Copies every parameter into `out` (`len()` values).
    pub fn store_params(&self, out: &mut [f32]) {
        self.store(Part::Value, out);
    }

    /// Overwrites every parameter with `src` (`len()` values).
    pub fn load_params(&mut self, src: &[f32]) {
        self.load(Part::Value, src);
    }

    /// Copies every gradient into `out` (`len()` values).
    pub fn store_grads(&self, out: &mut [f32]) {
        self.store(Part::Grad, out);
    }

    /// Overwrites every gradient with `src` (`len()` values), e.g. with the sum an allreduce returned.
    pub fn load_grads(&mut self, src: &[f32]) {
        self.load(Part::Grad, src);
    }

    /// `Σ params[i] · v[i]`, summed in `f64`.
    pub fn params_dot(&mut self, v: &[f32]) -> f64 {
        self.dot(Part::Value, v)
    }

    /// `Σ grads[i] · v[i]`, summed in `f64`.
    pub fn grads_dot(&mut self, v: &[f32]) -> f64 {
        self.dot(Part::Grad, v)
    }

    /// `params += a · x` (a line-search step along direction `x`).
    pub fn params_axpy(&mut self, a: f32, x: &[f32]) {
        self.axpy(Part::Value, a, x);
    }

    /// `grads += a · x`.
    pub fn grads_axpy(&mut self, a: f32, x: &[f32]) {
        self.axpy(Part::Grad, a, x);
    }

    /// The global L2 norm of all gradients (as gradient clipping measures it).
    pub fn grad_norm(&self) -> f64 {
        self.net.grad_norm()
    }

    /// Multiplies every gradient by `s` (e.g. `1 / world size` after a summing allreduce).
    pub fn scale_grads(&mut self, s: f32) {
        self.net.scale_grads(s);
    }

    fn check_len(&self, n: usize, what: &str) {
        let len = self.len();
        assert_eq!(n, len, "{what}: a flat vector of {n} values for {len} parameters");
    }

    fn store(&self, part: Part, out: &mut [f32]) {
        self.check_len(out.len(), "store");
        let be = self.net.backend();
        let mut at = 0;
        for p in self.net.params() {
            let buf = match part {
                Part::Value => &p.value,
                Part::Grad => &p.grad,
            };
            be.read(buf, &mut out[at..at + p.len]);
            at += p.len;
        }
    }

    fn load(&mut self, part: Part, src: &[f32]) {
        self.check_len(src.len(), "load");
        let be = self.net.backend().clone();
        let mut at = 0;
        for p in self.net.params_mut() {
            let buf = match part {
                Part::Value => &mut p.value,
                Part::Grad => &mut p.grad,
            };
            be.write(&src[at..at + p.len], buf);
            at += p.len;
        }
    }

    fn dot(&mut self, part: Part, v: &[f32]) -> f64 {
        self.check_len(v.len(), "dot");
        let be = self.net.backend().clone();
        let (mut at, mut sum) = (0, 0.0f64);
        for p in self.net.params() {
            let buf = match part {
                Part::Value => &p.value,
                Part::Grad => &p.grad,
            };
            self.scratch.resize(p.len, 0.0);
            be.read(buf, &mut self.scratch);
            for (&a, &b) in self.scratch.iter().zip(&v[at..at + p.len]) {
                sum += a as f64 * b as f64;
            }
            at += p.len;
        }
        sum
    }

    fn axpy(&mut self, part: Part, a: f32, x: &[f32]) {
        self.check_len(x.len(), "axpy");
        let be = self.net.backend().clone();
        let mut at = 0;
        let scratch = &mut self.scratch;
        for p in self.net.params_mut() {
            let buf = match part {
                Part::Value => &mut p.value,
                Part::Grad => &mut p.grad,
            };
            scratch.resize(p.len, 0.0);
            be.read(buf, scratch);
            for (s, &xi) in scratch.iter_mut().zip(&x[at..at + p.len]) {
                *s += a * xi;
            }
            be.write(scratch, buf);
            at += p.len;
        }
    }
}

/// Where the batch a [`GradientHook`] sees came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchInfo {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based batch within the epoch.
    pub batch: usize,
    /// Rows in this batch (the gradients are of the mean loss over them).
    pub rows: usize,
    /// The batch's summed (unweighted by `1 / rows`) loss, before the weight penalty.
    pub loss_sum: f64,
}

/// Runs after backward and before gradient clipping and the optimizer step, with every gradient
/// in reach: the place for a gradient exchange (an MPI allreduce over all ranks) or gradient
/// surgery. An error ends training with it.
///
/// Any `FnMut(&mut ParamView<B>, &BatchInfo) -> Result<()> + Send` closure is a hook.
pub trait GradientHook<B: Backend>: Send {
    /// Called once per batch with the batch's gradients.
    fn after_backward(&mut self, params: &mut ParamView<'_, B>, batch: &BatchInfo) -> Result<()>;
}

impl<B: Backend, F> GradientHook<B> for F
where
    F: FnMut(&mut ParamView<'_, B>, &BatchInfo) -> Result<()> + Send,
{
    fn after_backward(&mut self, params: &mut ParamView<'_, B>, batch: &BatchInfo) -> Result<()> {
        self(params, batch)
    }
}
