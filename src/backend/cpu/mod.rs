//! The CPU backend: `Vec` buffers, products through the `gemm` crate, fused element-wise passes split over a rayon pool.
//!
//! Every parallel split here depends on the shapes only, never on the number of threads, and
//! every reduction adds in a fixed order, so results are bit-identical for any thread count.

mod gemm;
mod sparse;

pub use crate::math::Real;
pub use gemm::{matmul, matmul_naive};
pub use sparse::matmul_sparse_lhs;

use super::Backend;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::nn::Activation;
use crate::optim::{UpdateRule, update_slice};
use rayon::prelude::*;
use std::marker::PhantomData;
use std::sync::Arc;

/// Element-wise passes smaller than this stay on one thread: waking a second costs more.
const PAR_MIN_ELEMS: usize = 1 << 15;
/// Elements per task in parallel element-wise passes (a few hundred KiB: L2-sized).
const CHUNK_ELEMS: usize = 1 << 14;

/// The CPU backend, computing in `T` (`f32`, or `f64` for gradient checks).
#[derive(Clone)]
pub struct Cpu<T: Real = f32> {
    /// The worker threads; `None` for one thread, which runs everything inline (and so needs no
    /// thread support at all, as in WebAssembly).
    pool: Option<Arc<rayon::ThreadPool>>,
    threads: usize,
    _t: PhantomData<T>,
}

impl<T: Real> std::fmt::Debug for Cpu<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cpu<{}>({} threads)", std::any::type_name::<T>(), self.threads)
    }
}

impl<T: Real> Cpu<T> {
    /// A backend with `threads` worker threads (`0`: one per core).
    pub fn new(threads: usize) -> Result<Self> {
        let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
        if threads == 1 {
            return Ok(Self { pool: None, threads, _t: PhantomData });
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("mlp-cpu-{i}"))
            .build()
            .map_err(|e| Error::config("threads", format!("cannot start {threads} threads: {e}")))?;
        Ok(Self { pool: Some(Arc::new(pool)), threads, _t: PhantomData })
    }

    /// A backend shared by every caller asking for the same thread count, so that repeated
    /// predictions do not start threads each time.
    pub fn shared(threads: usize) -> Result<Self> {
        use std::collections::HashMap;
        use std::sync::{Mutex, OnceLock};
        static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
        let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
        if threads == 1 {
            return Self::new(1);
        }
        let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(&threads) {
            return Ok(Self { pool: Some(pool.clone()), threads, _t: PhantomData });
        }
        let be = Self::new(threads)?;
        pools.insert(threads, be.pool.clone().expect("more than one thread has a pool"));
        Ok(be)
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn parallel(&self, elems: usize) -> bool {
        self.threads > 1 && elems >= PAR_MIN_ELEMS
    }

    /// Fills `dst`'s first `idx.len()` rows of `cols`, row `r` by `row(dst_row, idx[r])`.
    fn gather(&self, cols: usize, idx: &[u32], dst: &mut [T], row: impl Fn(&mut [T], usize) + Sync) {
        let dst = &mut dst[..idx.len() * cols];
        let body = |(d, &i): (&mut [T], &u32)| row(d, i as usize);
        if self.parallel(dst.len()) {
            dst.par_chunks_mut(cols).zip(idx.par_iter()).for_each(body);
        } else {
            dst.chunks_mut(cols).zip(idx.iter()).for_each(body);
        }
    }
}

/// Rows per parallel task for rows of `cols` elements.
fn row_block(cols: usize) -> usize {
    (CHUNK_ELEMS / cols.max(1)).max(1)
}

/// A raw pointer that may cross threads: used to hand disjoint chunks of several buffers to one task.
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: only used to build slices over disjoint index ranges, one range per task.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// Taking `self` makes closures capture the whole (Send) wrapper, not the raw field.
    fn get(self) -> *mut T {
        self.0
    }
}

/// Runs the optimizer update compiled for AVX-512, or else AVX2, when the processor has it: the
/// generic `update_slice` is inlined here, so the same source vectorizes 16 or 8 lanes wide
/// instead of the baseline's 4. The results are the same bits on every path: the compiler never
/// fuses a multiply and an add on its own, and each lane rounds as the scalar code does.
fn update_dispatch<T: Real>(rule: &UpdateRule, p: &mut [T], g: &[T], state: &mut [&mut [T]]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the features this function is compiled for were just detected.
            return unsafe { update_avx512(rule, p, g, state) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { update_avx2(rule, p, g, state) };
        }
    }
    update_slice(rule, p, g, state)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn update_avx2<T: Real>(rule: &UpdateRule, p: &mut [T], g: &[T], state: &mut [&mut [T]]) -> f64 {
    update_slice(rule, p, g, state)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,fma,avx2")]
unsafe fn update_avx512<T: Real>(rule: &UpdateRule, p: &mut [T], g: &[T], state: &mut [&mut [T]]) -> f64 {
    update_slice(rule, p, g, state)
}

/// Whether `act` maps each z to its a alone, the same way for every unit (not softmax or maxout
/// over a row, not PReLU's slope per unit): a block of rows is then one flat loop. For the
/// playground's layers of one to eight units, dispatching row by row cost more than the arithmetic.
fn is_flat(act: &Activation) -> bool {
    !matches!(act, Activation::Softmax | Activation::Maxout { .. } | Activation::Prelu { .. })
}

/// `a = f(z)` element by element, for an activation [`is_flat`] accepts; the common ones have
/// their own loop so that the match is not taken per element.
fn flat_forward<T: Real>(act: &Activation, z: &[T], a: &mut [T]) {
    match *act {
        Activation::Relu => {
            for (aj, &zj) in a.iter_mut().zip(z) {
                *aj = if zj > T::ZERO { zj } else { T::ZERO };
            }
        }
        Activation::Linear => a.copy_from_slice(z),
        Activation::Tanh => {
            for (aj, &zj) in a.iter_mut().zip(z) {
                *aj = zj.tanh();
            }
        }
        Activation::Sigmoid => {
            for (aj, &zj) in a.iter_mut().zip(z) {
                *aj = crate::math::activation::sigmoid(zj);
            }
        }
        _ => {
            for (aj, &zj) in a.iter_mut().zip(z) {
                *aj = act.apply(zj, T::ZERO);
            }
        }
    }
}

/// `dz = da · f'(z)` element by element, for an activation [`is_flat`] accepts.
fn flat_backward<T: Real>(act: &Activation, z: &[T], a: &[T], da: &[T], dz: &mut [T]) {
    match *act {
        Activation::Relu => {
            for ((d, &g), &zj) in dz.iter_mut().zip(da).zip(z) {
                *d = if zj > T::ZERO { g } else { T::ZERO };
            }
        }
        Activation::Linear => dz.copy_from_slice(da),
        Activation::Tanh => {
            for ((d, &g), &aj) in dz.iter_mut().zip(da).zip(a) {
                *d = g * (T::ONE - aj * aj);
            }
        }
        Activation::Sigmoid => {
            for ((d, &g), &aj) in dz.iter_mut().zip(da).zip(a) {
                *d = g * (aj * (T::ONE - aj));
            }
        }
        _ => {
            for (j, d) in dz.iter_mut().enumerate() {
                *d = da[j] * act.derivative(z[j], a[j], T::ZERO);
            }
        }
    }
}

fn add_bias<T: Real>(z: &mut [T], bias: &[T]) {
    for zr in z.chunks_exact_mut(bias.len().max(1)) {
        for (zj, &bj) in zr.iter_mut().zip(bias) {
            *zj += bj;
        }
    }
}

fn row_forward<T: Real>(act: &Activation, z: &mut [T], bias: &[T], alpha: Option<&[T]>, a: &mut [T]) {
    add_bias(z, bias);
    match *act {
        Activation::Softmax => {
            // Subtracting the row max keeps exp ≤ 1: no overflow for any logits.
            let mut m = z[0];
            for &v in &z[1..] {
                m = m.max(v);
            }
            let mut s = T::ZERO;
            for (aj, &zj) in a.iter_mut().zip(z.iter()) {
                *aj = (zj - m).exp();
                s += *aj;
            }
            let inv = T::ONE / s;
            for aj in a.iter_mut() {
                *aj *= inv;
            }
        }
        Activation::Maxout { pieces } => {
            for (aj, zp) in a.iter_mut().zip(z.chunks_exact(pieces)) {
                let mut m = zp[0];
                for &v in &zp[1..] {
                    m = m.max(v);
                }
                *aj = m;
            }
        }
        Activation::Prelu { .. } => {
            let alpha = alpha.expect("PReLU needs its slopes");
            for ((aj, &zj), &al) in a.iter_mut().zip(z.iter()).zip(alpha) {
                *aj = act.apply(zj, al);
            }
        }
        _ => flat_forward(act, z, a),
    }
}

fn row_backward<T: Real>(act: &Activation, z: &[T], a: &[T], da: &[T], alpha: Option<&[T]>, dz: &mut [T]) {
    match *act {
        Activation::Softmax => {
            // dz_j = a_j·(da_j − Σ_k da_k·a_k): the softmax Jacobian times da without forming it.
            let mut dot = T::ZERO;
            for (&g, &aj) in da.iter().zip(a) {
                dot += g * aj;
            }
            for ((d, &g), &aj) in dz.iter_mut().zip(da).zip(a) {
                *d = aj * (g - dot);
            }
        }
        Activation::Maxout { pieces } => {
            // The gradient goes to the winning piece only (the first one on ties, as in forward).
            for ((dzp, zp), &g) in dz.chunks_exact_mut(pieces).zip(z.chunks_exact(pieces)).zip(da) {
                let mut best = 0;
                for p in 1..pieces {
                    if zp[p] > zp[best] {
                        best = p;
                    }
                }
                dzp.fill(T::ZERO);
                dzp[best] = g;
            }
        }
        Activation::Prelu { .. } => {
            let alpha = alpha.expect("PReLU needs its slopes");
            for (j, d) in dz.iter_mut().enumerate() {
                *d = da[j] * act.derivative(z[j], a[j], alpha[j]);
            }
        }
        _ => flat_backward(act, z, a, da, dz),
    }
}

impl<T: Real> Backend for Cpu<T> {
    type Buf = Vec<T>;

    fn name(&self) -> String {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() { "cpu".into() } else { "cpu-f64".into() }
    }

    fn zeros(&self, n: usize) -> Vec<T> {
        vec![T::ZERO; n]
    }

    fn upload(&self, src: &[f32]) -> Vec<T> {
        src.iter().map(|&v| T::from_f32(v)).collect()
    }

    fn write(&self, src: &[f32], dst: &mut Vec<T>) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = T::from_f32(s);
        }
    }

    fn read(&self, src: &Vec<T>, out: &mut [f32]) {
        for (o, &s) in out.iter_mut().zip(src.iter()) {
            *o = s.to_f32();
        }
    }

    fn get(&self, buf: &Vec<T>, i: usize) -> f64 {
        buf[i].to_f64()
    }

    fn set(&self, buf: &mut Vec<T>, i: usize, v: f64) {
        buf[i] = T::from_f64(v);
    }

    fn copy(&self, src: &Vec<T>, dst: &mut Vec<T>, n: usize) {
        dst[..n].copy_from_slice(&src[..n]);
    }

    fn fill_zero(&self, buf: &mut Vec<T>, n: usize) {
        buf[..n].fill(T::ZERO);
    }

    fn gather_rows(&self, src: &Vec<T>, cols: usize, idx: &[u32], dst: &mut Vec<T>) {
        self.gather(cols, idx, dst, |d, i| d.copy_from_slice(&src[i * cols..(i + 1) * cols]));
    }

    fn gathers_host_rows(&self) -> bool {
        true
    }

    fn gather_host_rows(&self, src: &[f32], cols: usize, idx: &[u32], dst: &mut Vec<T>) {
        self.gather(cols, idx, dst, |d, i| {
            for (d, &s) in d.iter_mut().zip(&src[i * cols..(i + 1) * cols]) {
                *d = T::from_f32(s);
            }
        });
    }

    fn matmul(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &Vec<T>,
        ta: bool,
        b: &Vec<T>,
        tb: bool,
        c: &mut Vec<T>,
        accumulate: bool,
    ) {
        matmul(m, n, k, a, ta, b, tb, c, accumulate, self.threads);
    }

    fn matmul_sparse_lhs(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &Vec<T>,
        ta: bool,
        b: &Vec<T>,
        c: &mut Vec<T>,
    ) -> bool {
        sparse::matmul_sparse_lhs(m, n, k, a, ta, b, c, self.threads)
    }

    fn bias_act_forward(
        &self,
        act: &Activation,
        rows: usize,
        units: usize,
        z: &mut Vec<T>,
        bias: &Vec<T>,
        alpha: Option<&Vec<T>>,
        a: &mut Vec<T>,
    ) {
        let width = act.pre_width(units);
        let (z, a) = (&mut z[..rows * width], &mut a[..rows * units]);
        let alpha = alpha.map(|v| v.as_slice());
        let block = |zc: &mut [T], ac: &mut [T]| {
            if is_flat(act) {
                add_bias(zc, bias);
                flat_forward(act, zc, ac);
                return;
            }
            for (zr, ar) in zc.chunks_exact_mut(width).zip(ac.chunks_exact_mut(units)) {
                row_forward(act, zr, bias, alpha, ar);
            }
        };
        if self.parallel(z.len()) {
            let rb = row_block(width);
            z.par_chunks_mut(rb * width).zip(a.par_chunks_mut(rb * units)).for_each(|(zc, ac)| block(zc, ac));
        } else {
            block(z, a);
        }
    }

    fn act_backward(
        &self,
        act: &Activation,
        rows: usize,
        units: usize,
        z: &Vec<T>,
        a: &Vec<T>,
        da: &Vec<T>,
        alpha: Option<&Vec<T>>,
        dz: &mut Vec<T>,
        dalpha: Option<&mut Vec<T>>,
    ) {
        let width = act.pre_width(units);
        let (z, a, da, dz) = (&z[..rows * width], &a[..rows * units], &da[..rows * units], &mut dz[..rows * width]);
        let alpha_s = alpha.map(|v| v.as_slice());
        let block = |r0: usize, dzc: &mut [T]| {
            if is_flat(act) {
                let span = r0 * units..r0 * units + dzc.len();
                flat_backward(act, &z[span.clone()], &a[span.clone()], &da[span], dzc);
                return;
            }
            for (i, dzr) in dzc.chunks_exact_mut(width).enumerate() {
                let r = r0 + i;
                row_backward(
                    act,
                    &z[r * width..(r + 1) * width],
                    &a[r * units..(r + 1) * units],
                    &da[r * units..(r + 1) * units],
                    alpha_s,
                    dzr,
                );
            }
        };
        if self.parallel(dz.len()) {
            let rb = row_block(width);
            dz.par_chunks_mut(rb * width).enumerate().for_each(|(c, dzc)| block(c * rb, dzc));
        } else {
            block(0, dz);
        }
        if let Some(dalpha) = dalpha {
            // dL/dα_j = Σ_r da[r, j]·z[r, j] over the rows where z < 0, added row by row in order.
            let dalpha = &mut dalpha[..units];
            dalpha.fill(T::ZERO);
            for r in 0..rows {
                for j in 0..units {
                    let zj = z[r * units + j];
                    if zj <= T::ZERO {
                        dalpha[j] += da[r * units + j] * zj;
                    }
                }
            }
        }
    }

    fn sum_rows(&self, rows: usize, cols: usize, dz: &Vec<T>, db: &mut Vec<T>) {
        let db = &mut db[..cols];
        // Each column is summed over the rows in order, whatever the split over columns.
        let block = |c0: usize, dbc: &mut [T]| {
            dbc.fill(T::ZERO);
            for r in 0..rows {
                let row = &dz[r * cols + c0..r * cols + c0 + dbc.len()];
                for (d, &v) in dbc.iter_mut().zip(row) {
                    *d += v;
                }
            }
        };
        if self.parallel(rows * cols) && cols >= 64 {
            let cb = cols.div_ceil(self.threads).next_multiple_of(16);
            db.par_chunks_mut(cb).enumerate().for_each(|(c, dbc)| block(c * cb, dbc));
        } else {
            block(0, db);
        }
    }

    fn loss(
        &self,
        loss: Loss,
        act: &Activation,
        rows: usize,
        cols: usize,
        z: &Vec<T>,
        a: &Vec<T>,
        t: &Vec<T>,
        w: Option<&Vec<T>>,
        grad: Option<(&mut Vec<T>, f64)>,
    ) -> f64 {
        // The output layer is narrow: one pass over its rows costs little next to the products.
        let mut total = 0.0;
        let mut grad = grad;
        for r in 0..rows {
            let wr = w.map_or(T::ONE, |w| w[r]);
            let zr = &z[r * cols..(r + 1) * cols];
            let ar = &a[r * cols..(r + 1) * cols];
            let tr = &t[r * cols..(r + 1) * cols];
            let g = grad.as_mut().map(|(g, scale)| (&mut g[r * cols..(r + 1) * cols], T::from_f64(*scale) * wr));
            total += wr.to_f64() * loss.row(act, zr, ar, tr, g);
        }
        total
    }

    fn update(&self, rule: &UpdateRule, n: usize, param: &mut Vec<T>, grad: &Vec<T>, state: &mut [Vec<T>]) -> f64 {
        if !self.parallel(n) {
            let n_states = state.len();
            let mut st: [&mut [T]; 3] = [&mut [], &mut [], &mut []];
            for (s, buf) in st.iter_mut().zip(state.iter_mut()) {
                *s = &mut buf[..n];
            }
            return update_dispatch(rule, &mut param[..n], &grad[..n], &mut st[..n_states]);
        }
        let p = SendPtr(param.as_mut_ptr());
        let mut sp = [SendPtr(std::ptr::null_mut()); 3];
        for (s, buf) in sp.iter_mut().zip(state.iter_mut()) {
            assert!(buf.len() >= n, "optimizer state shorter than its parameter");
            *s = SendPtr(buf.as_mut_ptr());
        }
        let n_states = state.len();
        let g = &grad[..n];
        assert!(param.len() >= n);
        let task = |c: usize| -> f64 {
            let lo = c * CHUNK_ELEMS;
            let len = CHUNK_ELEMS.min(n - lo);
            // SAFETY: chunk c covers lo..lo+len of every buffer (each at least n long, checked
            // above); chunks are disjoint, so no two tasks touch the same element.
            unsafe {
                let pc = std::slice::from_raw_parts_mut(p.get().add(lo), len);
                let mut st: [&mut [T]; 3] = [&mut [], &mut [], &mut []];
                for (s, ptr) in st.iter_mut().zip(&sp[..n_states]) {
                    *s = std::slice::from_raw_parts_mut(ptr.get().add(lo), len);
                }
                update_dispatch(rule, pc, &g[lo..lo + len], &mut st[..n_states])
            }
        };
        let chunks = n.div_ceil(CHUNK_ELEMS);
        if rule.l1 == 0.0 && rule.l2 == 0.0 {
            (0..chunks).into_par_iter().for_each(|c| {
                task(c);
            });
            0.0
        } else {
            // Partial penalties are added in chunk order so that the sum does not depend on scheduling.
            let parts: Vec<f64> = (0..chunks).into_par_iter().map(task).collect();
            parts.iter().sum()
        }
    }

    fn mul_cols(&self, rows: usize, cols: usize, x: &Vec<T>, s: &Vec<T>, out: &mut Vec<T>) {
        for (o, xr) in out[..rows * cols].chunks_exact_mut(cols.max(1)).zip(x.chunks_exact(cols.max(1))) {
            for ((oj, &xj), &sj) in o.iter_mut().zip(xr).zip(&s[..cols]) {
                *oj = xj * sj;
            }
        }
    }

    fn col_dot(&self, rows: usize, cols: usize, a: &Vec<T>, b: &Vec<T>, out: &mut Vec<T>) {
        let out = &mut out[..cols];
        out.fill(T::ZERO);
        for r in 0..rows {
            let (ra, rb) = (&a[r * cols..(r + 1) * cols], &b[r * cols..(r + 1) * cols]);
            for ((o, &va), &vb) in out.iter_mut().zip(ra).zip(rb) {
                *o += va * vb;
            }
        }
    }

    fn sum_squares(&self, buf: &Vec<T>, n: usize) -> f64 {
        buf[..n].iter().map(|v| v.to_f64() * v.to_f64()).sum()
    }

    fn scale(&self, buf: &mut Vec<T>, n: usize, s: f32) {
        let s = T::from_f32(s);
        for v in &mut buf[..n] {
            *v *= s;
        }
    }

    fn all_finite(&self, buf: &Vec<T>, n: usize) -> bool {
        buf[..n].iter().all(|v| v.is_finite())
    }

    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        // One thread never reaches rayon (every parallel path checks `threads > 1`), so it has no
        // pool and skips the hand-off: that costs microseconds, the whole budget of a one-row prediction.
        match &self.pool {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }
}
