//! The only call into the `gemm` crate: a safe, strided, row-major matrix product.

use super::Real;
use gemm::Parallelism;

/// Products smaller than this many multiply-adds run on one thread: splitting them costs more
/// than it saves (the 128×512×10 output layer gets slower on two threads).
const PARALLEL_MIN_MACS: usize = 1 << 21;

/// `c (m, n) = op(a) · op(b)` (+ `c` when `accumulate`), all row-major.
///
/// `op(a)` is `(m, k)`, stored as `(m, k)`, or as `(k, m)` when `ta`; `op(b)` is `(k, n)`,
/// stored as `(k, n)`, or as `(n, k)` when `tb`. Transposes are expressed as strides, so
/// nothing is copied.
///
/// The `gemm` crate computes `dst := alpha·dst + beta·lhs·rhs` (alpha scales **dst**, unlike
/// BLAS) and ignores `alpha` when `read_dst` is false. Its strides are in elements, column
/// stride first.
///
/// # Panics
/// If a slice is too short for its shape: that is a bug in the caller's shapes.
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    ta: bool,
    b: &[T],
    tb: bool,
    c: &mut [T],
    accumulate: bool,
    threads: usize,
) {
    assert!(a.len() >= m * k, "matmul: lhs holds {} values, needs {m}×{k}", a.len());
    assert!(b.len() >= k * n, "matmul: rhs holds {} values, needs {k}×{n}", b.len());
    assert!(c.len() >= m * n, "matmul: dst holds {} values, needs {m}×{n}", c.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(T::ZERO);
        }
        return;
    }
    #[cfg(target_arch = "wasm32")]
    if m * n * k <= WASM_LOOP_MAX_MACS {
        return small_loop(m, n, k, a, ta, b, tb, c, accumulate);
    }
    // Element (i, p) of op(a) lives at i·rs + p·cs.
    let (a_cs, a_rs) = if ta { (m as isize, 1) } else { (1, k as isize) };
    let (b_cs, b_rs) = if tb { (k as isize, 1) } else { (1, n as isize) };
    let parallelism =
        if threads > 1 && m * n * k >= PARALLEL_MIN_MACS { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the asserts above guarantee every (i, p), (p, j), (i, j) addressed through these
    // strides lies inside its slice, and `c` does not alias `a` or `b` (&mut vs &).
    unsafe {
        gemm::gemm(
            /* m: usize = */ m,
            /* n: usize = */ n,
            /* k: usize = */ k,
            /* dst: *mut T = */ c.as_mut_ptr(),
            /* dst_cs: isize = */ 1,
            /* dst_rs: isize = */ n as isize,
            /* read_dst: bool = */ accumulate,
            /* lhs: *const T = */ a.as_ptr(),
            /* lhs_cs: isize = */ a_cs,
            /* lhs_rs: isize = */ a_rs,
            /* rhs: *const T = */ b.as_ptr(),
            /* rhs_cs: isize = */ b_cs,
            /* rhs_rs: isize = */ b_rs,
            /* alpha: T = */ T::ONE,
            /* beta: T = */ T::ONE,
            /* conj_dst: bool = */ false,
            /* conj_lhs: bool = */ false,
            /* conj_rhs: bool = */ false,
            /* parallelism: Parallelism = */ parallelism,
        );
    }
}

/// In WebAssembly the `gemm` crate runs its portable kernel, which allocates its packing buffers
/// on every call: for a browser playground's tiny layers that costs more than the product, so
/// products up to this many multiply-adds take [`small_loop`] there (native builds: `gemm` always).
#[cfg(target_arch = "wasm32")]
const WASM_LOOP_MAX_MACS: usize = 1 << 16;

/// `matmul` as plain loops, each `c[i][j]` accumulated over `p` in order (the naive loop's
/// arithmetic, term for term). Without a transposed `b` the loop runs `i, p, j`, so the inner loop
/// walks a row of `b` and of `c`; with one, `i, j, p` over a row of `b`.
#[cfg(any(test, target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments)]
fn small_loop<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    ta: bool,
    b: &[T],
    tb: bool,
    c: &mut [T],
    accumulate: bool,
) {
    if m == 0 || n == 0 || k == 0 {
        if !accumulate {
            c[..m * n].fill(T::ZERO);
        }
        return;
    }
    // Element (i, p) of op(a) lives at i·a_i + p·a_p.
    let (a_i, a_p) = if ta { (1, m) } else { (k, 1) };
    for (i, ci) in c[..m * n].chunks_exact_mut(n).enumerate() {
        if tb {
            for (cij, bj) in ci.iter_mut().zip(b.chunks_exact(k)) {
                let mut s = if accumulate { *cij } else { T::ZERO };
                for (p, &bv) in bj.iter().enumerate() {
                    s += a[i * a_i + p * a_p] * bv;
                }
                *cij = s;
            }
        } else {
            if !accumulate {
                ci.fill(T::ZERO);
            }
            for (p, bp) in b[..k * n].chunks_exact(n).enumerate() {
                let av = a[i * a_i + p * a_p];
                for (cij, &bv) in ci.iter_mut().zip(bp) {
                    *cij += av * bv;
                }
            }
        }
    }
}

/// The naive triple loop: the oracle the fast paths are tested against.
#[allow(clippy::too_many_arguments)]
pub fn matmul_naive(
    m: usize,
    n: usize,
    k: usize,
    a: &[f64],
    ta: bool,
    b: &[f64],
    tb: bool,
    c: &mut [f64],
    accumulate: bool,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = if accumulate { c[i * n + j] } else { 0.0 };
            for p in 0..k {
                let av = if ta { a[p * m + i] } else { a[i * k + p] };
                let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                s += av * bv;
            }
            c[i * n + j] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn agrees_with_naive_loop_on_edge_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let dims = [0usize, 1, 2, 17, 63, 64, 65];
        let mut worst = 0.0f64;
        for &m in &dims {
            for &n in &[0usize, 1, 10, 64, 65] {
                for &k in &[0usize, 1, 63, 64, 65, 130] {
                    for (ta, tb, acc) in
                        [(false, false, false), (true, false, true), (false, true, false), (true, true, true)]
                    {
                        let mut r =
                            |len: usize| -> Vec<f64> { (0..len).map(|_| StandardNormal.sample(&mut rng)).collect() };
                        let (a, b, c0) = (r(m * k), r(k * n), r(m * n));
                        let af: Vec<f32> = a.iter().map(|&v| v as f32).collect();
                        let bf: Vec<f32> = b.iter().map(|&v| v as f32).collect();
                        let mut cf: Vec<f32> = c0.iter().map(|&v| v as f32).collect();
                        let mut c = c0.clone();
                        matmul_naive(m, n, k, &a, ta, &b, tb, &mut c, acc);
                        for threads in [1, 2] {
                            let mut cf2 = cf.clone();
                            matmul(m, n, k, &af, ta, &bf, tb, &mut cf2, acc, threads);
                            for (x, y) in cf2.iter().zip(&c) {
                                let err = (*x as f64 - y).abs() / (1.0 + y.abs());
                                worst = worst.max(err);
                                assert!(err < 1e-4, "m={m} n={n} k={k} ta={ta} tb={tb}: {x} vs {y}");
                            }
                        }
                        // f64 path too.
                        let mut c64 = c0.clone();
                        matmul(m, n, k, &a, ta, &b, tb, &mut c64, acc, 1);
                        for (x, y) in c64.iter().zip(&c) {
                            assert!((x - y).abs() <= 1e-9 * (1.0 + y.abs()));
                        }
                        cf.truncate(0);
                        cf.extend(c0.iter().map(|&v| v as f32));
                    }
                }
            }
        }
        assert!(worst < 1e-4);
    }

    #[test]
    fn the_small_loop_is_the_naive_loop_term_for_term() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for (m, n, k) in [(0, 3, 2), (3, 0, 2), (4, 3, 0), (1, 1, 1), (10, 4, 2), (10, 1, 2), (7, 5, 9), (2, 64, 33)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    for acc in [false, true] {
                        let mut r =
                            |len: usize| -> Vec<f64> { (0..len).map(|_| StandardNormal.sample(&mut rng)).collect() };
                        let (a, b, c0) = (r(m * k), r(k * n), r(m * n));
                        let (mut want, mut got) = (c0.clone(), c0);
                        matmul_naive(m, n, k, &a, ta, &b, tb, &mut want, acc);
                        small_loop(m, n, k, &a, ta, &b, tb, &mut got, acc);
                        assert_eq!(got, want, "m={m} n={n} k={k} ta={ta} tb={tb} acc={acc}");
                    }
                }
            }
        }
    }
}
