//! The compute boundary: the few primitives an MLP needs, implemented by the CPU backend and (with the `cuda` feature) by CUDA.
//!
//! Layers, losses and optimizers call only these operations, so a new device is one new
//! implementation of [`Backend`]. Every operation works on the first `rows` rows of buffers that
//! were allocated once for the largest batch, so nothing is allocated inside the training loop.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(not(feature = "cuda"))]
#[path = "cuda_disabled.rs"]
pub mod cuda;

use crate::loss::Loss;
use crate::nn::Activation;
use crate::optim::UpdateRule;

pub use cpu::Cpu;
pub use cuda::Cuda;

/// A device that stores buffers and runs the MLP's operations on them.
///
/// Shapes are row-major. A matrix `(rows, cols)` occupies the first `rows * cols` elements of its buffer.
pub trait Backend: Clone + Send + Sync + 'static {
    /// A buffer of numbers on the device.
    type Buf: Send + Sync;

    /// A short name for messages ("cpu", "cpu-f64", "cuda:0").
    fn name(&self) -> String;

    /// A buffer of `n` zeros.
    fn zeros(&self, n: usize) -> Self::Buf;
    /// A buffer holding `src`.
    fn upload(&self, src: &[f32]) -> Self::Buf;
    /// Overwrites the first `src.len()` elements of `dst` with `src`.
    fn write(&self, src: &[f32], dst: &mut Self::Buf);
    /// Copies the first `out.len()` elements of `src` to the host.
    fn read(&self, src: &Self::Buf, out: &mut [f32]);
    /// Element `i` as `f64` (gradient checks; slow on a GPU, never on a hot path).
    fn get(&self, buf: &Self::Buf, i: usize) -> f64;
    /// Sets element `i` from an `f64` (gradient checks).
    fn set(&self, buf: &mut Self::Buf, i: usize, v: f64);
    /// `dst[..n] = src[..n]`.
    fn copy(&self, src: &Self::Buf, dst: &mut Self::Buf, n: usize);
    /// `buf[..n] = 0`.
    fn fill_zero(&self, buf: &mut Self::Buf, n: usize);
    /// Gathers rows: `dst[i, :] = src[idx[i], :]` for a `(_, cols)` source.
    fn gather_rows(&self, src: &Self::Buf, cols: usize, idx: &[u32], dst: &mut Self::Buf);

    /// Whether [`gather_host_rows`](Self::gather_host_rows) reads host memory where this backend
    /// computes (a CPU backend): a session then reads training rows that their owner shares with
    /// it ([`crate::train::TrainingData::shared`]) in place, instead of holding an upload of them.
    fn gathers_host_rows(&self) -> bool {
        false
    }

    /// [`gather_rows`](Self::gather_rows) from rows in host memory. The default gathers the
    /// batch on the host and writes it through a staging buffer allocated per call, which is
    /// why a session calls this only where [`gathers_host_rows`](Self::gathers_host_rows) says
    /// the backend reads host memory itself (and overrides this without the staging).
    fn gather_host_rows(&self, src: &[f32], cols: usize, idx: &[u32], dst: &mut Self::Buf) {
        let staged: Vec<f32> =
            idx.iter().flat_map(|&i| &src[i as usize * cols..(i as usize + 1) * cols]).copied().collect();
        self.write(&staged, dst);
    }

    /// Row-major matrix product `c (m, n) = op(a) · op(b)`, plus `c` itself when `accumulate`.
    ///
    /// `op(a)` is `(m, k)`: `a` is stored `(m, k)`, or `(k, m)` when `ta`. Likewise `op(b)` is
    /// `(k, n)`, stored `(n, k)` when `tb`. A transpose is a stride change, never a copy.
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &Self::Buf,
        ta: bool,
        b: &Self::Buf,
        tb: bool,
        c: &mut Self::Buf,
        accumulate: bool,
    );

    /// `c (m, n) = op(a) · b (k, n)` summing only the non-zero terms of `a`, for inputs that are
    /// mostly zeros; `op(a)` is `(m, k)`, stored `(k, m)` when `ta` (a weight gradient `xᵀ·dz`).
    /// `false`, with `c` untouched, where the backend has no such product or `a` is too dense for
    /// it to pay (the caller then runs [`matmul`](Self::matmul)). Each output row depends on its
    /// own terms alone, so results do not depend on the thread count.
    #[allow(clippy::too_many_arguments)]
    fn matmul_sparse_lhs(
        &self,
        _m: usize,
        _n: usize,
        _k: usize,
        _a: &Self::Buf,
        _ta: bool,
        _b: &Self::Buf,
        _c: &mut Self::Buf,
    ) -> bool {
        false
    }

    /// The fused pass after a dense layer's product: `z += bias` (row-broadcast) then `a = act(z)`.
    ///
    /// `z` is `(rows, width)` with `width = act.pre_width(units)`; `a` is `(rows, units)`;
    /// `alpha` holds PReLU's per-unit slopes.
    #[allow(clippy::too_many_arguments)]
    fn bias_act_forward(
        &self,
        act: &Activation,
        rows: usize,
        units: usize,
        z: &mut Self::Buf,
        bias: &Self::Buf,
        alpha: Option<&Self::Buf>,
        a: &mut Self::Buf,
    );

    /// `dz = dL/dz` from `da = dL/da` for `a = act(z)`; PReLU also writes `dalpha (units)`.
    #[allow(clippy::too_many_arguments)]
    fn act_backward(
        &self,
        act: &Activation,
        rows: usize,
        units: usize,
        z: &Self::Buf,
        a: &Self::Buf,
        da: &Self::Buf,
        alpha: Option<&Self::Buf>,
        dz: &mut Self::Buf,
        dalpha: Option<&mut Self::Buf>,
    );

    /// `db[j] = Σ_r dz[r, j]` over a `(rows, cols)` matrix (the bias gradient).
    fn sum_rows(&self, rows: usize, cols: usize, dz: &Self::Buf, db: &mut Self::Buf);

    /// The loss summed over the batch, each row weighted by `w` when given.
    ///
    /// `z` and `a` are the output layer's pre-activation and activation `(rows, cols)`, `t` the
    /// targets. When `grad` is given it receives the gradient of `scale ×` the summed loss
    /// (`scale = 1 / batch` gives the mean): with respect to `z` when [`Loss::fused_with`] the
    /// activation (softmax + cross-entropy, sigmoid + binary cross-entropy: the `p − t` shortcut),
    /// otherwise with respect to `a`, for the caller to pass through [`Backend::act_backward`].
    #[allow(clippy::too_many_arguments)]
    fn loss(
        &self,
        loss: Loss,
        act: &Activation,
        rows: usize,
        cols: usize,
        z: &Self::Buf,
        a: &Self::Buf,
        t: &Self::Buf,
        w: Option<&Self::Buf>,
        grad: Option<(&mut Self::Buf, f64)>,
    ) -> f64;

    /// One optimizer step over a parameter tensor of `n` elements; returns the penalty
    /// `l1·Σ|p| + l2·Σp²` of the weights before the step (0 when both are 0).
    fn update(
        &self,
        rule: &UpdateRule,
        n: usize,
        param: &mut Self::Buf,
        grad: &Self::Buf,
        state: &mut [Self::Buf],
    ) -> f64;

    /// `out[r, j] = x[r, j] · s[j]` over a `(rows, cols)` matrix (a per-column scale).
    ///
    /// The default body goes through the host: correct on any device, and meant to be replaced
    /// by a device pass where a layer kind using it becomes hot (the CPU backend does so).
    fn mul_cols(&self, rows: usize, cols: usize, x: &Self::Buf, s: &Self::Buf, out: &mut Self::Buf) {
        let (mut xh, mut sh) = (vec![0.0f32; rows * cols], vec![0.0f32; cols]);
        self.read(x, &mut xh);
        self.read(s, &mut sh);
        for row in xh.chunks_exact_mut(cols.max(1)) {
            for (v, &sj) in row.iter_mut().zip(&sh) {
                *v *= sj;
            }
        }
        self.write(&xh, out);
    }

    /// `out[j] = Σ_r a[r, j] · b[r, j]` over `(rows, cols)` matrices, rows added in order (the
    /// gradient of a per-column scale). The default body goes through the host, as for [`Backend::mul_cols`].
    fn col_dot(&self, rows: usize, cols: usize, a: &Self::Buf, b: &Self::Buf, out: &mut Self::Buf) {
        let (mut ah, mut bh) = (vec![0.0f32; rows * cols], vec![0.0f32; rows * cols]);
        self.read(a, &mut ah);
        self.read(b, &mut bh);
        let mut acc = vec![0.0f64; cols];
        for (ra, rb) in ah.chunks_exact(cols.max(1)).zip(bh.chunks_exact(cols.max(1))) {
            for ((s, &va), &vb) in acc.iter_mut().zip(ra).zip(rb) {
                *s += va as f64 * vb as f64;
            }
        }
        self.write(&acc.iter().map(|&v| v as f32).collect::<Vec<_>>(), out);
    }

    /// `out[i] = a[i] · b[i]` over the first `n` elements (a dropout mask, forward and back).
    ///
    /// The default body goes element by element through [`Backend::get`]/[`Backend::set`]: exact
    /// in any precision and allocation-free, if slow on a GPU.
    fn mul_elem(&self, n: usize, a: &Self::Buf, b: &Self::Buf, out: &mut Self::Buf) {
        for i in 0..n {
            self.set(out, i, self.get(a, i) * self.get(b, i));
        }
    }

    /// Batch normalization of a `(rows, cols)` matrix per column, as PyTorch's `BatchNorm1d`:
    /// `y = x̂·γ + β` with `x̂ = (x − μ) / √(σ² + eps)`. With `momentum` (train mode) μ and σ² are
    /// the batch's mean and biased variance, and the running statistics move towards the batch's
    /// (`r = (1 − m)·r + m·batch`, the variance unbiased by `rows / (rows − 1)`); without it
    /// (eval mode) μ and σ² are the running ones. `xhat (rows, cols)` and `inv_std (cols)` keep
    /// what the backward pass needs. Columns are independent and rows add in order, so the result
    /// does not depend on any split.
    #[allow(clippy::too_many_arguments)]
    fn batchnorm_forward(
        &self,
        rows: usize,
        cols: usize,
        x: &Self::Buf,
        gamma: &Self::Buf,
        beta: &Self::Buf,
        running: (&mut Self::Buf, &mut Self::Buf),
        eps: f64,
        momentum: Option<f64>,
        xhat: &mut Self::Buf,
        inv_std: &mut Self::Buf,
        y: &mut Self::Buf,
    ) {
        let (rmean, rvar) = running;
        for j in 0..cols {
            let (mean, var) = match momentum {
                Some(m) => {
                    let mut s = 0.0;
                    for r in 0..rows {
                        s += self.get(x, r * cols + j);
                    }
                    let mean = s / rows as f64;
                    let mut ss = 0.0;
                    for r in 0..rows {
                        let d = self.get(x, r * cols + j) - mean;
                        ss += d * d;
                    }
                    let var = ss / rows as f64;
                    // One row has no spread to estimate: its running variance sees the biased 0.
                    let unbiased = if rows > 1 { ss / (rows - 1) as f64 } else { var };
                    self.set(rmean, j, (1.0 - m) * self.get(rmean, j) + m * mean);
                    self.set(rvar, j, (1.0 - m) * self.get(rvar, j) + m * unbiased);
                    (mean, var)
                }
                None => (self.get(rmean, j), self.get(rvar, j)),
            };
            let is = 1.0 / (var + eps).sqrt();
            self.set(inv_std, j, is);
            let (g, b) = (self.get(gamma, j), self.get(beta, j));
            for r in 0..rows {
                let i = r * cols + j;
                let h = (self.get(x, i) - mean) * is;
                self.set(xhat, i, h);
                self.set(y, i, h * g + b);
            }
        }
    }

    /// The backward pass of [`Backend::batchnorm_forward`] from `dy = dL/dy`: `dγ = Σ dy·x̂`,
    /// `dβ = Σ dy`, and, when `dx` is asked for, in train mode
    /// `dx = γ·inv_std/rows · (rows·dy − Σdy − x̂·Σ dy·x̂)` (the batch statistics depend on x), in
    /// eval mode `dx = γ·inv_std·dy`.
    #[allow(clippy::too_many_arguments)]
    fn batchnorm_backward(
        &self,
        rows: usize,
        cols: usize,
        dy: &Self::Buf,
        xhat: &Self::Buf,
        inv_std: &Self::Buf,
        gamma: &Self::Buf,
        grads: (&mut Self::Buf, &mut Self::Buf),
        training: bool,
        mut dx: Option<&mut Self::Buf>,
    ) {
        let (dgamma, dbeta) = grads;
        for j in 0..cols {
            let (mut sdy, mut sdyh) = (0.0, 0.0);
            for r in 0..rows {
                let i = r * cols + j;
                let d = self.get(dy, i);
                sdy += d;
                sdyh += d * self.get(xhat, i);
            }
            self.set(dgamma, j, sdyh);
            self.set(dbeta, j, sdy);
            if let Some(dx) = dx.as_deref_mut() {
                let k = self.get(gamma, j) * self.get(inv_std, j);
                let n = rows as f64;
                for r in 0..rows {
                    let i = r * cols + j;
                    let d = self.get(dy, i);
                    let v = if training { k / n * (n * d - sdy - self.get(xhat, i) * sdyh) } else { k * d };
                    self.set(dx, i, v);
                }
            }
        }
    }

    /// `Σ buf[i]²` over the first `n` elements.
    fn sum_squares(&self, buf: &Self::Buf, n: usize) -> f64;
    /// `buf[..n] *= s`.
    fn scale(&self, buf: &mut Self::Buf, n: usize, s: f32);
    /// Whether all of the first `n` elements are finite.
    fn all_finite(&self, buf: &Self::Buf, n: usize) -> bool;
    /// Runs `f` with this backend's threads (the CPU's pool), so that nested parallel work
    /// neither oversubscribes the cores nor changes results with the thread count.
    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        f()
    }
}

/// [`Backend::update`] through the host with the shared formula: for a device that has no kernel
/// for an optimizer yet (it copies, so it is not for hot paths).
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) fn update_via_host<B: Backend>(
    be: &B,
    rule: &UpdateRule,
    n: usize,
    param: &mut B::Buf,
    grad: &B::Buf,
    state: &mut [B::Buf],
) -> f64 {
    let read = |b: &B::Buf| {
        let mut v = vec![0.0f32; n];
        be.read(b, &mut v);
        v
    };
    let (mut p, g) = (read(param), read(grad));
    let mut st: Vec<Vec<f32>> = state.iter().map(read).collect();
    let mut views: Vec<&mut [f32]> = st.iter_mut().map(|v| v.as_mut_slice()).collect();
    let penalty = crate::optim::update_slice(rule, &mut p, &g, &mut views);
    be.write(&p, param);
    for (h, d) in st.iter().zip(state.iter_mut()) {
        be.write(h, d);
    }
    penalty
}

/// [`Backend::loss`] through the host with the shared row formula, for a device without a kernel for `loss`.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) fn loss_via_host<B: Backend>(
    be: &B,
    loss: Loss,
    act: &Activation,
    rows: usize,
    cols: usize,
    bufs: (&B::Buf, &B::Buf, &B::Buf),
    w: Option<&B::Buf>,
    grad: Option<(&mut B::Buf, f64)>,
) -> f64 {
    let read = |b: &B::Buf, len: usize| {
        let mut v = vec![0.0f32; len];
        be.read(b, &mut v);
        v
    };
    let (z, a, t) = (read(bufs.0, rows * cols), read(bufs.1, rows * cols), read(bufs.2, rows * cols));
    let w = w.map(|w| read(w, rows));
    let mut g = vec![0.0f32; if grad.is_some() { rows * cols } else { 0 }];
    let scale = grad.as_ref().map(|(_, s)| *s as f32);
    let mut total = 0.0;
    for r in 0..rows {
        let span = r * cols..(r + 1) * cols;
        let wr = w.as_ref().map_or(1.0, |w| w[r]);
        let gr = scale.map(|s| (&mut g[span.clone()], s * wr));
        total += wr as f64 * loss.row(act, &z[span.clone()], &a[span.clone()], &t[span], gr);
    }
    if let Some((gb, _)) = grad {
        be.write(&g, gb);
    }
    total
}
