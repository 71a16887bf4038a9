// Data movement and whole-buffer reductions: row gathers for batches, scaling, the squared norm,
// the finiteness check, and the second stage of every double-precision sum.

// dst[i, :] = src[idx[i], :] for a (_, cols) source: one thread per element, so that a warp reads
// one source row contiguously.
extern "C" __global__ void gather_rows(int n_idx, int cols, const float* src, const unsigned int* idx, float* dst) {
    u64 n = (u64)n_idx * cols;
    for (u64 i = global_index(); i < n; i += (u64)blockDim.x * gridDim.x) {
        u64 r = i / cols, c = i % cols;
        dst[i] = src[(u64)idx[r] * cols + c];
    }
}

// buf[..n] *= s.
extern "C" __global__ void scale(u64 n, float* buf, float s) {
    for (u64 i = global_index(); i < n; i += (u64)blockDim.x * gridDim.x) buf[i] *= s;
}

// Per-block partial sums of buf[i]^2, in double as the CPU backend adds them; one element per
// thread, so the partition into blocks depends on n only.
extern "C" __global__ void sum_squares(u64 n, const float* buf, double* partials) {
    u64 i = global_index();
    double v = 0.0;
    if (i < n) {
        double x = (double)buf[i];
        v = x * x;
    }
    block_sum_to(v, partials);
}

// Sets *flag when any of the first n elements is NaN or infinite. Every writer stores the same
// value, so the race between them is harmless and needs no atomic.
extern "C" __global__ void all_finite(u64 n, const float* buf, unsigned int* flag) {
    for (u64 i = global_index(); i < n; i += (u64)blockDim.x * gridDim.x) {
        if (!finite(buf[i])) *flag = 1u;
    }
}

// out[0] = sum of in[..n], by one block: each thread adds a fixed stride of the inputs in order,
// then a fixed tree joins the threads. Deterministic for a given n.
extern "C" __global__ void reduce_sum(int n, const double* in, double* out) {
    double v = 0.0;
    for (int i = threadIdx.x; i < n; i += BLOCK) v += in[i];
    block_sum_to(v, out);
}
