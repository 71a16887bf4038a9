//! The inference-time product whose left operand is mostly zeros (image pixels, one-hot columns): only its non-zero terms are summed.
//!
//! A dense product reads all of `b` for every row of `a`. When most of a row is zero (an MNIST
//! digit is about 80% black pixels), summing only the non-zero terms reads a fifth of `b` and
//! does a fifth of the multiply-adds. Each `c[i][j]` is summed over the non-zero `a[i][p]` in
//! ascending `p`, from zero, so a row's outputs depend on that row alone: not on the batch it
//! came in, nor on the thread count.

use super::Real;
use rayon::prelude::*;
use std::cell::RefCell;

/// Above this fraction of non-zero values in `a`, the dense `gemm` product is the faster one.
/// Measured with `cargo run --release --example bench -- sparse` (784→512, one thread, AMD EPYC
/// Zen 3 with AVX2, 2 December 2026; BENCHMARKS.md): on MNIST test rows (15–19% non-zero) one
/// row takes 5.9 µs against gemm's 41, 27 rows 203 against 430, 128 rows 803 against 1 827; with
/// the limit lifted the two broke even at about 30% non-zeros for 27 rows or more, 50% for 8 or
/// fewer.
const MAX_DENSITY: f64 = 0.25;

/// Narrower left operands are not worth a density count: their products are small anyway.
const MIN_K: usize = 64;

/// Columns of `c` summed at once, in registers: 64 `f32` are eight AVX registers.
const BLOCK: usize = 64;

/// The fewest rows worth a parallel task of their own.
const MIN_ROWS_PER_TASK: usize = 8;

/// `c (m, n) = a (m, k) · b (k, n)`, all row-major, summing only the non-zero terms of `a`, or
/// `false` (and `c` untouched) when more than 25% of `a` is non-zero or `k` is below 64 (this
/// module's `MAX_DENSITY` and `MIN_K`). Runs on the current rayon pool when `threads > 1` and
/// there are rows to share.
///
/// # Panics
/// If a slice is too short for its shape: a bug in the caller's shapes.
pub fn matmul_sparse_lhs<T: Real>(m: usize, n: usize, k: usize, a: &[T], b: &[T], c: &mut [T], threads: usize) -> bool {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul_sparse_lhs: slices too short");
    if k < MIN_K || m == 0 || n == 0 {
        return false;
    }
    let a = &a[..m * k];
    let nonzero = a.iter().filter(|&&v| v != T::ZERO).count();
    if nonzero as f64 > MAX_DENSITY * a.len() as f64 {
        return false;
    }
    let (b, c) = (&b[..k * n], &mut c[..m * n]);
    let task = |(ci, ai): (&mut [T], &[T])| rows(k, n, ai, b, ci);
    if threads > 1 && m > MIN_ROWS_PER_TASK {
        // One task per thread: each sweeps its cached blocks of `b` with as many rows as it can
        // (rows are independent, so the split changes no result).
        let per_task = m.div_ceil(threads).max(MIN_ROWS_PER_TASK);
        c.par_chunks_mut(per_task * n).zip(a.par_chunks(per_task * k)).for_each(task);
    } else {
        task((c, a));
    }
    true
}

/// Columns of `c` whose slice of `b` (`k` rows of them) is swept by every row before the next:
/// 128 columns of a 784-row `b` are 400 KiB, which stays in a core's L2 cache while it is reused.
const CACHE_COLS: usize = 128;

thread_local! {
    /// The non-zero columns of each row of `a`, row after row, and where each row's start: kept
    /// between calls, so that a warm product allocates nothing.
    static NONZERO: RefCell<(Vec<u32>, Vec<usize>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The rows of `a` (`k` wide) times `b` into `c`, with fused multiply-adds where the CPU has them
/// (the same terms in the same order either way; a fused step rounds once instead of twice).
fn rows<T: Real>(k: usize, n: usize, a: &[T], b: &[T], c: &mut [T]) {
    NONZERO.with_borrow_mut(|(cols, starts)| {
        cols.clear();
        starts.clear();
        starts.push(0);
        for ai in a.chunks_exact(k) {
            // Branch-free: every column is written, the count moves past the non-zero ones only.
            let mut len = cols.len();
            cols.resize(len + k, 0);
            for (p, &v) in ai.iter().enumerate() {
                cols[len] = p as u32;
                len += usize::from(v != T::ZERO);
            }
            cols.truncate(len);
            starts.push(len);
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU was just found to have both features the function is compiled for.
            return unsafe { rows_avx2_fma(k, n, a, b, c, cols, starts) };
        }
        rows_body::<T, false>(k, n, a, b, c, cols, starts);
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_avx2_fma<T: Real>(k: usize, n: usize, a: &[T], b: &[T], c: &mut [T], cols: &[u32], starts: &[usize]) {
    rows_body::<T, true>(k, n, a, b, c, cols, starts);
}

/// Block by block of [`BLOCK`] columns, so that the partial sums stay in registers while the
/// row's non-zero terms stream the matching slice of each row of `b`; [`CACHE_COLS`] at a time
/// for all rows, so that those slices are read from the cache after the first row.
#[inline(always)]
fn rows_body<T: Real, const FUSED: bool>(
    k: usize,
    n: usize,
    a: &[T],
    b: &[T],
    c: &mut [T],
    cols: &[u32],
    starts: &[usize],
) {
    let step = |v: T, w: T, s: T| if FUSED { v.mul_add(w, s) } else { v * w + s };
    for jb in (0..n).step_by(CACHE_COLS) {
        let je = (jb + CACHE_COLS).min(n);
        for (r, (ai, ci)) in a.chunks_exact(k).zip(c.chunks_exact_mut(n)).enumerate() {
            let nz = &cols[starts[r]..starts[r + 1]];
            let mut j0 = jb;
            while j0 + BLOCK <= je {
                let mut acc = [T::ZERO; BLOCK];
                for &p in nz {
                    let (v, p) = (ai[p as usize], p as usize);
                    let w: &[T; BLOCK] = b[p * n + j0..p * n + j0 + BLOCK].try_into().expect("a whole block");
                    for (s, &wj) in acc.iter_mut().zip(w) {
                        *s = step(v, wj, *s);
                    }
                }
                ci[j0..j0 + BLOCK].copy_from_slice(&acc);
                j0 += BLOCK;
            }
            if j0 < je {
                let tail = &mut ci[j0..je];
                tail.fill(T::ZERO);
                for &p in nz {
                    let (v, p) = (ai[p as usize], p as usize);
                    for (s, &wj) in tail.iter_mut().zip(&b[p * n + j0..p * n + je]) {
                        *s = step(v, wj, *s);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::matmul_naive;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `(m, k)` values of which about `density` are non-zero.
    fn sparse(m: usize, k: usize, density: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
        (0..m * k).map(|_| if rng.random::<f64>() < density { rng.random::<f64>() * 2.0 - 1.0 } else { 0.0 }).collect()
    }

    #[test]
    fn agrees_with_the_naive_product_for_block_and_tail_widths() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (m, n, k) in [(1, 512, 784), (27, 10, 64), (9, 65, 100), (17, 130, 300), (3, 63, 64)] {
            let a = sparse(m, k, 0.1, &mut rng);
            let b: Vec<f64> = (0..k * n).map(|_| rng.random::<f64>() - 0.5).collect();
            let mut want = vec![0.0; m * n];
            matmul_naive(m, n, k, &a, false, &b, false, &mut want, false);
            for threads in [1, 2] {
                let mut got = vec![f64::NAN; m * n];
                assert!(matmul_sparse_lhs(m, n, k, &a, &b, &mut got, threads), "{m}×{k} at 10% is sparse");
                let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max);
                assert!(worst < 1e-12, "{m}×{n}×{k} on {threads} threads: worst difference {worst}");
            }
        }
    }

    #[test]
    fn a_row_gives_the_same_bits_alone_in_any_batch_and_on_any_thread_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (m, n, k) = (40, 96, 200);
        let a: Vec<f32> = sparse(m, k, 0.15, &mut rng).into_iter().map(|v| v as f32).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.random::<f32>() - 0.5).collect();
        let mut batch = vec![0.0f32; m * n];
        assert!(matmul_sparse_lhs(m, n, k, &a, &b, &mut batch, 2));
        for i in [0, 7, 8, 39] {
            let mut one = vec![0.0f32; n];
            assert!(matmul_sparse_lhs(1, n, k, &a[i * k..(i + 1) * k], &b, &mut one, 1));
            assert_eq!(one, batch[i * n..(i + 1) * n], "row {i}");
        }
    }

    #[test]
    fn declines_dense_or_narrow_operands_and_leaves_c_alone() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let dense = sparse(4, 100, 0.9, &mut rng);
        let b = vec![1.0; 100 * 8];
        let mut c = vec![7.0; 4 * 8];
        assert!(!matmul_sparse_lhs(4, 8, 100, &dense, &b, &mut c, 1));
        assert!(!matmul_sparse_lhs(4, 8, 10, &vec![0.0; 40], &b, &mut c, 1), "k below MIN_K");
        assert!(c.iter().all(|&v| v == 7.0));
    }
}
