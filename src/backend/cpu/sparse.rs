//! The products whose left operand is mostly zeros (image pixels, one-hot columns): only its non-zero terms are summed.
//!
//! A dense product reads all of `b` for every row of `a`. When most of a row is zero (an MNIST
//! digit is about 80% black pixels), summing only the non-zero terms reads a fifth of `b` and
//! does a fifth of the multiply-adds. The same holds for the weight gradient of the layer that
//! reads such an input, `dW = xᵀ·dz`, whose terms are the non-zero entries of each column of
//! `x`. Each output `c[i][j]` is summed over the non-zero terms of its row of `op(a)` in
//! ascending order, from zero, so an output row depends on its own terms alone: not on the batch
//! split, nor on the thread count.

use super::Real;
use rayon::prelude::*;
use std::cell::RefCell;

/// Above this fraction of non-zero values in `a`, the dense `gemm` product is the faster one.
/// Measured with `cargo run --release --example bench -- sparse` (one thread, AMD EPYC Zen 3 with
/// AVX2; BENCHMARKS.md): on MNIST test rows (15–19% non-zero), 784→512, one row takes 5 µs
/// against gemm's 33, 27 rows 207 against 316, 200 rows 1 062 against 1 770; 784→100, one row
/// 1 µs against 16, 200 rows 332 against 367 (6 December 2026). With the limit lifted the two
/// broke even at about 30% non-zeros for 27 rows or more, 50% for 8 or fewer (2 December, the
/// kernel before its packed blocks).
const MAX_DENSITY: f64 = 0.25;

/// Narrower left operands are not worth a density count: their products are small anyway.
const MIN_K: usize = 64;

/// Columns of `c` summed at once, in registers: 64 `f32` are eight AVX registers.
const BLOCK: usize = 64;

/// The fewest rows worth a parallel task of their own.
const MIN_ROWS_PER_TASK: usize = 8;

/// Output rows per task of the transposed product: its rows' costs differ (an image's border
/// pixels are always zero), so there are several tasks per thread to balance. At most 32: a
/// task keeps each input row's non-zero columns among them as the bits of a `u32`.
const ROWS_PER_TASK_T: usize = 32;

/// `c (m, n) = op(a) · b (k, n)`, all row-major, summing only the non-zero terms of `a`, or
/// `false` (and `c` untouched) when more than 25% of `a` is non-zero or `a`'s stored rows are
/// narrower than 64 (this module's `MAX_DENSITY` and `MIN_K`): never on the number of rows, so a
/// mostly-zero row of a forward product takes the same path, and gives the same bits, alone and
/// in any batch of such rows. `op(a)` is `(m, k)`: `a` is stored `(m, k)`, or
/// `(k, m)` when `ta` (the weight gradient `xᵀ·dz`). Runs on the current rayon pool when
/// `threads > 1` and there are rows to share.
///
/// # Panics
/// If a slice is too short for its shape: a bug in the caller's shapes.
#[allow(clippy::too_many_arguments)]
pub fn matmul_sparse_lhs<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    ta: bool,
    b: &[T],
    c: &mut [T],
    threads: usize,
) -> bool {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul_sparse_lhs: slices too short");
    // The density count is over `a`'s stored rows, whose width is the one that matters for a
    // one-row product: `k` for `a · b`, `m` for `aᵀ · b`.
    if (if ta { m } else { k }) < MIN_K || m == 0 || n == 0 || k == 0 {
        return false;
    }
    let a = &a[..m * k];
    if more_nonzero_than(a, (MAX_DENSITY * a.len() as f64) as usize) {
        return false;
    }
    let (b, c) = (&b[..k * n], &mut c[..m * n]);
    // Whether `b` is copied into column blocks first (only worth it for enough output rows).
    let pack = m >= PACK_MIN_ROWS;
    with_packed(b, n, pack, threads, |bp| {
        if ta {
            let task = |(t, ci): (usize, &mut [T])| columns(m, n, t * ROWS_PER_TASK_T, a, b, bp, ci);
            if threads > 1 && m > ROWS_PER_TASK_T {
                c.par_chunks_mut(ROWS_PER_TASK_T * n).enumerate().for_each(task);
            } else {
                c.chunks_mut(ROWS_PER_TASK_T * n).enumerate().for_each(task);
            }
            return;
        }
        let task = |(ci, ai): (&mut [T], &[T])| rows(k, n, ai, b, bp, ci);
        if threads > 1 && m > MIN_ROWS_PER_TASK {
            // One task per thread: each sweeps the blocks of `b` with as many rows as it can
            // (rows are independent, so the split changes no result).
            let per_task = m.div_ceil(threads).max(MIN_ROWS_PER_TASK);
            c.par_chunks_mut(per_task * n).zip(a.par_chunks(per_task * k)).for_each(task);
        } else {
            task((c, a));
        }
    });
    true
}

/// The fewest output rows for which `b` is packed: below, the copy costs more than it saves.
const PACK_MIN_ROWS: usize = 16;

/// Columns of `b` in one packed block: 32 `f32` are four AVX registers of partial sums per output
/// row. A block of a batch of 200 rows (the weight gradient's `b`) is 25 KiB, which stays in a
/// core's L1 cache; one of 784 rows (the forward product's weights) is 100 KiB, an L2.
const PACK: usize = 32;

thread_local! {
    /// `b`'s whole column blocks, each `(b_rows, PACK)` and contiguous, block after block.
    static PACKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `b` packed into contiguous column blocks (`f32` with AVX2 and FMA only), or with
/// `None`. A row of `b` is `n` values apart from the next, and with `n` a power of two (512) the
/// rows of a column slice land in the same few cache sets and evict each other; packed, a block
/// is contiguous and stays in the cache while every output row sums against it. The kernel reads
/// the same values either way, so packing changes no result, and when the buffer is busy (a
/// product run by a task of another product on this thread) `f` runs unpacked.
fn with_packed<T: Real>(b: &[T], n: usize, pack: bool, threads: usize, f: impl FnOnce(Option<&[f32]>)) {
    let blocks = n / PACK;
    if !pack || blocks == 0 || !fast_f32::<T>() {
        return f(None);
    }
    let b = as_f32(b);
    PACKED.with(|cell| {
        let Ok(mut bp) = cell.try_borrow_mut() else {
            return f(None);
        };
        let b_rows = b.len() / n;
        // The buffer only grows: a batch's forward product (784 rows of weights) and its weight
        // gradient (200 rows of dz) take turns in it, and shrinking it for one meant zeroing the
        // difference again for the other.
        let need = blocks * b_rows * PACK;
        if bp.len() < need {
            bp.resize(need, 0.0);
        }
        let bp = &mut bp[..need];
        let copy = |(q, block): (usize, &mut [f32])| {
            for (p, dst) in block.chunks_exact_mut(PACK).enumerate() {
                dst.copy_from_slice(&b[p * n + q * PACK..p * n + (q + 1) * PACK]);
            }
        };
        if threads > 1 {
            bp.par_chunks_mut(b_rows * PACK).enumerate().for_each(copy);
        } else {
            bp.chunks_mut(b_rows * PACK).enumerate().for_each(copy);
        }
        f(Some(bp));
    })
}

/// Whether the vector kernel [`block_f32`] runs here: `T` is `f32` and the CPU has AVX2 and FMA.
fn fast_f32<T: Real>() -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        return std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    }
    false
}

/// `v` as the `f32` slice it is, for the kernels that [`fast_f32`] allows.
///
/// # Panics
/// If `T` is not `f32`.
fn as_f32<T: Real>(v: &[T]) -> &[f32] {
    assert!(std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>(), "as_f32 on another type");
    // SAFETY: `T` is `f32` (checked above), so the slice is reinterpreted as itself.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len()) }
}

/// `v` as the `f32` vector it is, for the kernels that [`fast_f32`] allows.
///
/// # Panics
/// If `T` is not `f32`.
#[cfg(target_arch = "x86_64")]
fn as_f32_vec<T: Real>(v: &mut Vec<T>) -> &mut Vec<f32> {
    assert!(std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>(), "as_f32_vec on another type");
    // SAFETY: `T` is `f32` (checked above), so the vector is reinterpreted as itself.
    unsafe { &mut *(v as *mut Vec<T>).cast::<Vec<f32>>() }
}

/// Columns of `c` whose slice of `b` an unpacked product sweeps with every output row before the
/// next.
const CACHE_COLS: usize = 128;

/// Rows of a packed block that every output row sums against before the next rows: 400 rows of
/// [`PACK`] columns are 50 KiB. A forward product's block (784 rows, 100 KiB) is swept in two
/// such chunks, each output row's partial sums stored after the first and reloaded for the
/// second, which rounds nothing (the registers hold `f32` too). Measured on one thread (AMD EPYC
/// Zen 3, 200 MNIST rows, 784→512): the summing took 713 µs in two chunks of 392 rows, 742 in
/// four of 196, 817 in one (6 December 2026).
const CHUNK_ROWS: usize = 400;

/// Each output row's terms: the indices of its non-zero values and the values themselves, side by
/// side, row after row, and where each row starts (the last entry is the total); kept between
/// calls, so that a warm product allocates nothing. The summing reads the values in order beside
/// their indices instead of looking them up in `a`: a column of `x`, whose values are the weight
/// gradient's terms, is a whole row of `x` apart from one value to the next.
struct Terms<T> {
    idx: Vec<u32>,
    vals: Vec<T>,
    starts: Vec<usize>,
    /// The transposed product's fill positions, one per output row.
    next: Vec<usize>,
    /// The transposed product's non-zero entries of its task's columns, row after row, each as
    /// `row · 32 + column` beside its value: the lists its counting sort sorts by column.
    flat: Vec<u32>,
    flat_vals: Vec<T>,
    /// Where each output row's terms reach each [`CHUNK_ROWS`] chunk of `b`'s rows: `chunks + 1`
    /// positions per row, from its start to its end.
    splits: Vec<usize>,
}

impl<T> Terms<T> {
    const fn new() -> Self {
        Terms {
            idx: Vec::new(),
            vals: Vec::new(),
            starts: Vec::new(),
            next: Vec::new(),
            flat: Vec::new(),
            flat_vals: Vec::new(),
            splits: Vec::new(),
        }
    }
}

thread_local! {
    static TERMS_F32: RefCell<Terms<f32>> = const { RefCell::new(Terms::new()) };
    static TERMS_F64: RefCell<Terms<f64>> = const { RefCell::new(Terms::new()) };
}

/// Runs `f` with this thread's term lists for `T` (`f32` or `f64`, the two [`Real`] types).
///
/// # Panics
/// If `T` is another type.
fn with_terms<T: Real, R>(f: impl FnOnce(&mut Terms<T>) -> R) -> R {
    /// The lists as the type they are.
    fn same<A: 'static, B: 'static>(t: &mut Terms<A>) -> &mut Terms<B> {
        assert!(std::any::TypeId::of::<A>() == std::any::TypeId::of::<B>(), "term lists of another type");
        // SAFETY: `A` and `B` are the same type (checked above).
        unsafe { &mut *(t as *mut Terms<A>).cast::<Terms<B>>() }
    }
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        TERMS_F32.with_borrow_mut(|t| f(same(t)))
    } else {
        TERMS_F64.with_borrow_mut(|t| f(same(t)))
    }
}

/// The rows of `a` (`k` wide) times `b` into `c`: output row `r`'s terms are the non-zero
/// `a[r][p]`, each against row `p` of `b`.
fn rows<T: Real>(k: usize, n: usize, a: &[T], b: &[T], bp: Option<&[f32]>, c: &mut [T]) {
    with_terms(|t: &mut Terms<T>| {
        t.idx.clear();
        t.vals.clear();
        t.starts.clear();
        t.starts.push(0);
        for ai in a.chunks_exact(k) {
            push_nonzero(ai, 0, &mut t.idx, &mut t.vals);
            t.starts.push(t.idx.len());
        }
        dispatch(n, b, bp, c, t);
    });
}

/// Output rows `i0..` (as many as `c` holds) of `aᵀ · b`, `a` stored `(k, m)`: output row `i`'s
/// terms are the non-zero `a[r][i]`, in ascending `r`, each against row `r` of `b`.
fn columns<T: Real>(m: usize, n: usize, i0: usize, a: &[T], b: &[T], bp: Option<&[f32]>, c: &mut [T]) {
    let w = c.len() / n;
    with_terms(|t: &mut Terms<T>| {
        // A counting sort of the non-zero entries of columns `i0..i0 + w` by column. One pass
        // over `a`, row by row (contiguously), lists them in row order as `r · 32 + j` beside
        // their values, with no branch on the values ([`push_nonzero`]); the counting and placing
        // passes then run over that list, not over each row's set bits (whose loops
        // mispredicted their exit once per row).
        assert!(w <= 32 && a.len() / m < 1 << 27, "a task's entries fit `r · 32 + j` in a u32");
        t.flat.clear();
        t.flat_vals.clear();
        for (r, ar) in a.chunks_exact(m).enumerate() {
            push_nonzero(&ar[i0..i0 + w], (r as u32) << 5, &mut t.flat, &mut t.flat_vals);
        }
        t.starts.clear();
        t.starts.resize(w + 1, 0);
        for &e in &t.flat {
            t.starts[(e & 31) as usize + 1] += 1;
        }
        for j in 0..w {
            t.starts[j + 1] += t.starts[j];
        }
        t.next.clear();
        t.next.extend_from_slice(&t.starts[..w]);
        t.idx.resize(t.starts[w], 0);
        t.vals.resize(t.starts[w], T::ZERO);
        let (idx, vals, next) = (&mut t.idx[..], &mut t.vals[..], &mut t.next[..]);
        for (&e, &v) in t.flat.iter().zip(&t.flat_vals) {
            let j = (e & 31) as usize;
            let at = next[j];
            idx[at] = e >> 5;
            vals[at] = v;
            next[j] = at + 1;
        }
        dispatch(n, b, bp, c, t);
    });
}

/// Appends each non-zero `v[j]` (NaN included) to `vals` and `base + j` to `idx`, in ascending `j`:
/// eight values at a time through a vector compare where the CPU has AVX2, with no branch on
/// the values (a loop over each group's set bits mispredicted its exit once per group, which
/// cost as much as the compare).
#[inline(always)]
fn push_nonzero<T: Real>(v: &[T], base: u32, idx: &mut Vec<u32>, vals: &mut Vec<T>) {
    assert_eq!(idx.len(), vals.len(), "terms and values side by side");
    #[cfg(target_arch = "x86_64")]
    if fast_f32::<T>() {
        // SAFETY: the CPU has AVX2 (`fast_f32`), and `T` is `f32`.
        return unsafe { push_nonzero_avx2(as_f32(v), base, idx, as_f32_vec(vals)) };
    }
    for (j, &x) in v.iter().enumerate() {
        if x != T::ZERO {
            idx.push(base + j as u32);
            vals.push(x);
        }
    }
}

/// For each 8-bit mask, the lanes whose bits are set, lowest first (the rest 0): the permutation
/// that moves a group's non-zero values to its front.
#[cfg(target_arch = "x86_64")]
static LEFT_PACK: [[u32; 8]; 256] = left_pack_table();

#[cfg(target_arch = "x86_64")]
const fn left_pack_table() -> [[u32; 8]; 256] {
    let mut table = [[0u32; 8]; 256];
    let mut mask = 0;
    while mask < 256 {
        let (mut lane, mut at) = (0, 0);
        while lane < 8 {
            if mask >> lane & 1 == 1 {
                table[mask][at] = lane as u32;
                at += 1;
            }
            lane += 1;
        }
        mask += 1;
    }
    table
}

/// [`push_nonzero`] on `f32` with AVX2: each group of eight is compared with zero, its non-zero
/// values and their indices are moved to the front ([`LEFT_PACK`]) and stored whole at the end of
/// the lists, which then grow by the group's count; the next group's store overwrites the rest.
///
/// # Safety
/// The CPU has AVX2; `idx` and `vals` are as long as each other.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn push_nonzero_avx2(v: &[f32], base: u32, idx: &mut Vec<u32>, vals: &mut Vec<f32>) {
    use std::arch::x86_64::{
        __m256i, _CMP_NEQ_UQ, _mm256_add_epi32, _mm256_cmp_ps, _mm256_loadu_ps, _mm256_loadu_si256, _mm256_movemask_ps,
        _mm256_permutevar8x32_ps, _mm256_set1_epi32, _mm256_setzero_ps, _mm256_storeu_ps, _mm256_storeu_si256,
    };
    // Room for every value of `v` plus one whole group's store past the last term.
    idx.reserve(v.len() + 8);
    vals.reserve(v.len() + 8);
    let (mut len, pi, pv) = (idx.len(), idx.as_mut_ptr(), vals.as_mut_ptr());
    let whole = v.len() / 8 * 8;
    for c in (0..whole).step_by(8) {
        // SAFETY: `c + 8 <= v.len()`; the stores write `len..len + 8` with `len` at most the
        // starting length plus `c`, inside the room reserved above; the table has 256 rows.
        unsafe {
            let x = _mm256_loadu_ps(v.as_ptr().add(c));
            let mask = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NEQ_UQ>(x, _mm256_setzero_ps())) as usize;
            let perm = _mm256_loadu_si256(LEFT_PACK[mask].as_ptr().cast::<__m256i>());
            _mm256_storeu_ps(pv.add(len), _mm256_permutevar8x32_ps(x, perm));
            _mm256_storeu_si256(
                pi.add(len).cast::<__m256i>(),
                _mm256_add_epi32(perm, _mm256_set1_epi32((base + c as u32) as i32)),
            );
            len += mask.count_ones() as usize;
        }
    }
    // SAFETY: every entry below `len` was written by a group's store (its first lanes).
    unsafe {
        idx.set_len(len);
        vals.set_len(len);
    }
    for (j, &x) in v.iter().enumerate().skip(whole) {
        if x != 0.0 {
            idx.push(base + j as u32);
            vals.push(x);
        }
    }
}

/// Bit `j` set for each of `v[j]`, `j < 8`, that is non-zero: unordered-or-unequal counts NaN as
/// non-zero, as `!=` does: the compare behind [`count_nonzero`].
///
/// # Safety
/// The CPU has AVX2; `v[..8]` is in range.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn nonzero8(v: *const f32) -> u32 {
    use std::arch::x86_64::{_CMP_NEQ_UQ, _mm256_cmp_ps, _mm256_loadu_ps, _mm256_movemask_ps, _mm256_setzero_ps};
    // SAFETY: the caller's range.
    unsafe { _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NEQ_UQ>(_mm256_loadu_ps(v), _mm256_setzero_ps())) as u32 }
}

/// Whether more than `limit` values of `a` are non-zero (NaN included), counted a chunk at a time
/// and eight values at a time where the CPU has AVX2, stopping once the limit is passed: a
/// layer's input that is too dense for this product (a hidden layer's activations, about half
/// zeros) is declined after part of a scan, not a whole one, on every batch.
fn more_nonzero_than<T: Real>(a: &[T], limit: usize) -> bool {
    const CHUNK: usize = 4096;
    let mut count = 0;
    for chunk in a.chunks(CHUNK) {
        count += count_nonzero(chunk);
        if count > limit {
            return true;
        }
    }
    false
}

/// The number of non-zero values (NaN included) of `v`.
fn count_nonzero<T: Real>(v: &[T]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if fast_f32::<T>() {
        // SAFETY: the CPU has AVX2 (`fast_f32`).
        return unsafe { count_nonzero_avx2(as_f32(v)) };
    }
    v.iter().filter(|&&x| x != T::ZERO).count()
}

/// [`count_nonzero`] on `f32` with AVX2: a compare, a move mask and a bit count per eight.
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn count_nonzero_avx2(v: &[f32]) -> usize {
    let whole = v.len() / 8 * 8;
    let mut count = 0;
    for c in (0..whole).step_by(8) {
        // SAFETY: `c + 8 <= v.len()`; the caller's AVX2.
        count += unsafe { nonzero8(v.as_ptr().add(c)) }.count_ones() as usize;
    }
    count + v[whole..].iter().filter(|&&x| x != 0.0).count()
}

/// Runs the summation with fused multiply-adds where the CPU has them (the same terms in the
/// same order either way; a fused step rounds once instead of twice).
fn dispatch<T: Real>(n: usize, b: &[T], bp: Option<&[f32]>, c: &mut [T], t: &mut Terms<T>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU was just found to have both features the function is compiled for.
        return unsafe { sum_avx2_fma(n, b, bp, c, t) };
    }
    sum_terms::<T, false>(n, b, bp, c, t);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sum_avx2_fma<T: Real>(n: usize, b: &[T], bp: Option<&[f32]>, c: &mut [T], t: &mut Terms<T>) {
    sum_terms::<T, true>(n, b, bp, c, t);
}

/// `c[i][j] = Σ v · b[p][j]` over output row `i`'s terms `(p, v)`, in ascending `p`, from zero.
/// Packed (`bp`), block by block of [`PACK`] columns, each block in chunks of [`CHUNK_ROWS`]
/// rows; otherwise row by row over [`CACHE_COLS`] columns at a time. Each output's sum runs over
/// its terms in the same order either way, so the order of the loops changes no result.
#[inline(always)]
fn sum_terms<T: Real, const FUSED: bool>(n: usize, b: &[T], bp: Option<&[f32]>, c: &mut [T], t: &mut Terms<T>) {
    let outputs = c.len() / n;
    // The terms index `b`'s rows: in range by construction, checked here once so that the vector
    // kernel may index without checks.
    let b_rows = b.len() / n;
    assert!(
        t.starts.len() == outputs + 1
            && t.starts[outputs] == t.idx.len()
            && t.vals.len() == t.idx.len()
            && t.idx.iter().all(|&p| (p as usize) < b_rows)
    );
    let Some(bp) = bp else {
        let (idx, vals, starts) = (&t.idx, &t.vals, &t.starts);
        // Each row sweeps a cached slice of `b` (128 columns of 784 rows are 400 KiB, an L2) with
        // all its terms, block by block; the next row finds the slice in the cache.
        for jb in (0..n).step_by(CACHE_COLS) {
            let je = (jb + CACHE_COLS).min(n);
            for (i, ci) in c.chunks_exact_mut(n).enumerate() {
                let (idx, vals) = (&idx[starts[i]..starts[i + 1]], &vals[starts[i]..starts[i + 1]]);
                for j0 in (jb..je).step_by(BLOCK) {
                    add_terms::<T, FUSED>(n, b, None, idx, vals, ci, j0, (j0 + BLOCK).min(je), false);
                }
            }
        }
        return;
    };
    let chunks = b_rows.div_ceil(CHUNK_ROWS).max(1);
    split_terms(t, chunks);
    let (idx, vals, starts, splits) = (&t.idx, &t.vals, &t.starts, &t.splits);
    // Packed: block by block and chunk by chunk, every output row sums its terms against the
    // chunk (cached, and contiguous) with its partial sums in registers throughout; the columns
    // past the last whole block are read from `b` itself.
    let blocks = n / PACK;
    for q in 0..blocks {
        let block = &bp[q * PACK * b_rows..(q + 1) * PACK * b_rows];
        for h in 0..chunks {
            for (i, ci) in c.chunks_exact_mut(n).enumerate() {
                let (s, e) = (splits[i * (chunks + 1) + h], splits[i * (chunks + 1) + h + 1]);
                add_terms::<T, FUSED>(n, b, Some(block), &idx[s..e], &vals[s..e], ci, q * PACK, (q + 1) * PACK, h > 0);
            }
        }
    }
    if blocks * PACK < n {
        for (i, ci) in c.chunks_exact_mut(n).enumerate() {
            let (idx, vals) = (&idx[starts[i]..starts[i + 1]], &vals[starts[i]..starts[i + 1]]);
            add_terms::<T, FUSED>(n, b, None, idx, vals, ci, blocks * PACK, n, false);
        }
    }
}

/// Fills `t.splits`: where each output row's terms (ascending in `p`) reach each chunk of
/// [`CHUNK_ROWS`] rows of `b`.
fn split_terms<T>(t: &mut Terms<T>, chunks: usize) {
    t.splits.clear();
    for i in 0..t.starts.len() - 1 {
        let (s, e) = (t.starts[i], t.starts[i + 1]);
        t.splits.push(s);
        for h in 1..chunks {
            let bound = (h * CHUNK_ROWS) as u32;
            t.splits.push(s + t.idx[s..e].partition_point(|&p| p < bound));
        }
        t.splits.push(e);
    }
}

/// `ci[j0..je] = Σ v · b[p][j0..je]` over the terms `(idx[x], vals[x])`, from zero, or from
/// `ci[j0..je]` as it is when `resume` (the partial sums of the terms before these): the vector
/// kernel for whole groups of 8 columns (from the packed `block`, when given, for its [`PACK`]
/// columns), the generic loop for the rest.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
// Elsewhere than x86-64 only the generic loop is compiled: the packed block goes unread and the
// column cursor is never moved.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, unused_variables))]
fn add_terms<T: Real, const FUSED: bool>(
    n: usize,
    b: &[T],
    block: Option<&[f32]>,
    idx: &[u32],
    vals: &[T],
    ci: &mut [T],
    j0: usize,
    je: usize,
    resume: bool,
) {
    let mut j = j0;
    #[cfg(target_arch = "x86_64")]
    if FUSED && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        // SAFETY: `T` is `f32`; FUSED is set only on CPUs with AVX2 and FMA; the terms were
        // checked by the caller, and each call's columns lie in `j..je`.
        unsafe {
            let (vals, b) = (as_f32(vals), b.as_ptr().cast::<f32>());
            let out = ci.as_mut_ptr().cast::<f32>();
            if let Some(block) = block {
                block_f32::<{ PACK / 8 }>(idx, vals, block.as_ptr(), PACK, out.add(j0), resume);
                return;
            }
            if je - j >= BLOCK {
                block_f32::<8>(idx, vals, b.add(j), n, out.add(j), resume);
                j += BLOCK;
            }
            if je - j >= 32 {
                block_f32::<4>(idx, vals, b.add(j), n, out.add(j), resume);
                j += 32;
            }
            if je - j >= 16 {
                block_f32::<2>(idx, vals, b.add(j), n, out.add(j), resume);
                j += 16;
            }
            if je - j >= 8 {
                block_f32::<1>(idx, vals, b.add(j), n, out.add(j), resume);
                j += 8;
            }
            if j < je {
                tail_f32(idx, vals, b.add(j), n, out.add(j), je - j, resume);
                return;
            }
        }
    }
    if j == je {
        return;
    }
    let step = |v: T, w: T, s: T| if FUSED { v.mul_add(w, s) } else { v * w + s };
    let part = &mut ci[j..je];
    if !resume {
        part.fill(T::ZERO);
    }
    for (&p, &v) in idx.iter().zip(vals) {
        let p = p as usize;
        for (s, &wj) in part.iter_mut().zip(&b[p * n + j..p * n + je]) {
            *s = step(v, wj, *s);
        }
    }
}

/// `8 · R` columns of an output row, `out[..8R] = Σ v · w[p · stride..][..8R]` over the terms
/// `(idx[x], vals[x])`, from zero or (`resume`) from `out[..8R]`, in `R` AVX registers: the
/// generic loop's arithmetic (a fused step per term, in the same order), with no bounds checks
/// left in the loop.
///
/// # Safety
/// The CPU has AVX2 and FMA; `vals` is as long as `idx`; every term's `w` row, and `out[..8R]`,
/// are in range.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_f32<const R: usize>(
    idx: &[u32],
    vals: &[f32],
    w: *const f32,
    stride: usize,
    out: *mut f32,
    resume: bool,
) {
    use std::arch::x86_64::{_mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps};
    let mut acc = [_mm256_setzero_ps(); R];
    if resume {
        for (q, s) in acc.iter_mut().enumerate() {
            // SAFETY: `out[..8R]` is in range.
            *s = unsafe { _mm256_loadu_ps(out.add(8 * q)) };
        }
    }
    for (x, &p) in idx.iter().enumerate() {
        // SAFETY: the caller's ranges.
        unsafe {
            let v = _mm256_set1_ps(*vals.get_unchecked(x));
            let w = w.add(p as usize * stride);
            for (q, s) in acc.iter_mut().enumerate() {
                *s = _mm256_fmadd_ps(v, _mm256_loadu_ps(w.add(8 * q)), *s);
            }
        }
    }
    for (q, s) in acc.iter().enumerate() {
        // SAFETY: `out[..8R]` is in range.
        unsafe { _mm256_storeu_ps(out.add(8 * q), *s) };
    }
}

/// The last `width < 8` columns of an output row, as [`block_f32`] sums them, in one AVX
/// register whose lanes past `width` are neither read from `w` nor written to `out`: the generic
/// loop kept these sums in memory, a load and a store per term.
///
/// # Safety
/// As [`block_f32`], for `width` columns.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tail_f32(idx: &[u32], vals: &[f32], w: *const f32, stride: usize, out: *mut f32, width: usize, resume: bool) {
    use std::arch::x86_64::{
        _mm256_cmpgt_epi32, _mm256_fmadd_ps, _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_set1_epi32,
        _mm256_set1_ps, _mm256_setr_epi32, _mm256_setzero_ps,
    };
    let lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(width as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    // SAFETY: `out[..width]` is in range; masked-off lanes are not read.
    let mut acc = if resume { unsafe { _mm256_maskload_ps(out, lanes) } } else { _mm256_setzero_ps() };
    for (x, &p) in idx.iter().enumerate() {
        // SAFETY: the caller's ranges; masked-off lanes are not read.
        unsafe {
            acc = _mm256_fmadd_ps(
                _mm256_set1_ps(*vals.get_unchecked(x)),
                _mm256_maskload_ps(w.add(p as usize * stride), lanes),
                acc,
            );
        }
    }
    // SAFETY: `out[..width]` is in range; masked-off lanes are not written.
    unsafe { _mm256_maskstore_ps(out, lanes, acc) };
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
        for (m, n, k) in [(1, 512, 784), (7, 10, 64), (9, 65, 100), (17, 300, 300), (40, 512, 784), (3, 63, 64)] {
            let a = sparse(m, k, 0.1, &mut rng);
            let b: Vec<f64> = (0..k * n).map(|_| rng.random::<f64>() - 0.5).collect();
            agrees_with_naive(m, n, k, &a, false, &b);
        }
    }

    /// `op(a) · b` through the zero-skipping product on one and two threads: within 1e-12 of the
    /// naive product in `f64`, within 1e-4 in `f32`. Returns each thread count's `f64` result.
    fn agrees_with_naive(m: usize, n: usize, k: usize, a: &[f64], ta: bool, b: &[f64]) -> Vec<Vec<f64>> {
        let mut want = vec![0.0; m * n];
        matmul_naive(m, n, k, a, ta, b, false, &mut want, false);
        let mut results = Vec::new();
        for threads in [1, 2] {
            let mut got = vec![f64::NAN; m * n];
            assert!(matmul_sparse_lhs(m, n, k, a, ta, b, &mut got, threads), "{m}×{n}×{k} (ta {ta}) at 10% is sparse");
            let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-12, "{m}×{n}×{k} (ta {ta}) on {threads} threads: worst difference {worst}");
            assert_close_in_f32(m, n, k, a, ta, b, &want, threads);
            results.push(got);
        }
        results
    }

    /// The `f32` product (the vector kernel, where the CPU has it) against the `f64` oracle.
    #[allow(clippy::too_many_arguments)]
    fn assert_close_in_f32(m: usize, n: usize, k: usize, a: &[f64], ta: bool, b: &[f64], want: &[f64], threads: usize) {
        let (a32, b32): (Vec<f32>, Vec<f32>) =
            (a.iter().map(|&v| v as f32).collect(), b.iter().map(|&v| v as f32).collect());
        let mut got = vec![f32::NAN; m * n];
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
        assert!(pool.install(|| matmul_sparse_lhs(m, n, k, &a32, ta, &b32, &mut got, threads)));
        let worst = got.iter().zip(want).map(|(&g, w)| (g as f64 - w).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-4, "f32 {m}×{n}×{k} (ta {ta}) on {threads} threads: worst difference {worst}");
    }

    /// A `(rows, cols)` left operand 15% non-zero and a dense `(b_rows, n)` right one, in `f32`.
    fn f32_operands(rows: usize, cols: usize, b_rows: usize, n: usize, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<f32>) {
        let a = sparse(rows, cols, 0.15, rng).into_iter().map(|v| v as f32).collect();
        let b = (0..b_rows * n).map(|_| rng.random::<f32>() - 0.5).collect();
        (a, b)
    }

    #[test]
    fn a_row_gives_the_same_bits_alone_in_any_batch_and_on_any_thread_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        // A batch sums against packed blocks, in chunks of `CHUNK_ROWS` rows of `b` when `k` is
        // longer (900: three chunks, the partial sums stored and resumed twice); a row alone
        // sums against `b` itself, in one go.
        for (m, n, k) in [(40, 320, 200), (40, 96, 900)] {
            let (a, b) = f32_operands(m, k, k, n, &mut rng);
            let mut batch = vec![0.0f32; m * n];
            assert!(matmul_sparse_lhs(m, n, k, &a, false, &b, &mut batch, 2));
            for i in [0, 7, 8, 39] {
                let mut one = vec![0.0f32; n];
                assert!(matmul_sparse_lhs(1, n, k, &a[i * k..(i + 1) * k], false, &b, &mut one, 1));
                assert_eq!(one, batch[i * n..(i + 1) * n], "row {i} of {m}×{n}×{k}");
            }
        }
    }

    #[test]
    fn declines_dense_or_narrow_operands_and_leaves_c_alone() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let dense = sparse(4, 100, 0.9, &mut rng);
        let b = vec![1.0; 100 * 8];
        let mut c = vec![7.0; 4 * 8];
        assert!(!matmul_sparse_lhs(4, 8, 100, &dense, false, &b, &mut c, 1));
        let mut ct = vec![7.0; 100 * 8];
        assert!(!matmul_sparse_lhs(100, 8, 4, &dense, true, &b, &mut ct, 1), "transposed");
        assert!(!matmul_sparse_lhs(4, 8, 10, &vec![0.0; 40], false, &b, &mut c, 1), "k below MIN_K");
        let mut cn = vec![7.0; 10 * 8];
        assert!(!matmul_sparse_lhs(10, 8, 4, &vec![0.0; 40], true, &b, &mut cn, 1), "stored width below MIN_K");
        assert!(c.iter().chain(&ct).chain(&cn).all(|&v| v == 7.0));
        // Narrow outputs, one row or many: the row count never decides.
        let (zeros, b) = (vec![0.0; 200 * 100], vec![1.0; 100 * 8]);
        for m in [1, 15, 16, 200] {
            assert!(matmul_sparse_lhs(m, 8, 100, &zeros, false, &b, &mut vec![7.0; m * 8], 1), "{m} rows, 8 columns");
        }
    }

    #[test]
    fn the_transposed_product_agrees_with_the_naive_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        // (m, n, k): `a` is stored (k, m), as a batch of k rows of m features; widths cover
        // whole blocks, tails, and output rows with no terms at all (columns of zeros).
        for (m, n, k) in [(784, 512, 128), (64, 256, 27), (100, 300, 9), (300, 257, 1), (70, 320, 200)] {
            let mut a = sparse(k, m, 0.1, &mut rng);
            for r in 0..k {
                a[r * m] = 0.0;
            }
            let b: Vec<f64> = (0..k * n).map(|_| rng.random::<f64>() - 0.5).collect();
            for got in agrees_with_naive(m, n, k, &a, true, &b) {
                assert!(got[..n].iter().all(|&v| v == 0.0), "a column of zeros gives a row of zeros");
            }
        }
    }

    #[test]
    fn the_transposed_product_gives_the_same_bits_on_any_thread_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let (m, n, k) = (300, 296, 50);
        let (a, b) = f32_operands(k, m, k, n, &mut rng);
        let mut one = vec![0.0f32; m * n];
        assert!(matmul_sparse_lhs(m, n, k, &a, true, &b, &mut one, 1));
        for threads in [2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
            let mut many = vec![0.0f32; m * n];
            assert!(pool.install(|| matmul_sparse_lhs(m, n, k, &a, true, &b, &mut many, threads)));
            assert_eq!(one, many, "{threads} threads");
        }
    }
}
