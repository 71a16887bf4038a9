// Bias + activation forward and the activation's backward: ports of row_forward/row_backward in
// src/backend/cpu/mod.rs. Shapes: z and dz are (rows, width), a and da are (rows, units), with
// width = units * pieces for maxout and width = units otherwise; bias is (width), alpha (units).

// z += bias (row-broadcast), then a = act(z): one thread per element.
extern "C" __global__ void bias_act_forward(int act, float param, int rows, int units, float* z,
                                            const float* bias, const float* alpha, float* a) {
    u64 n = (u64)rows * units;
    for (u64 i = global_index(); i < n; i += (u64)blockDim.x * gridDim.x) {
        int j = (int)(i % units);
        float v = z[i] + bias[j];
        z[i] = v;
        a[i] = act_apply(act, param, v, alpha ? alpha[j] : 0.0f);
    }
}

// Softmax over each row, one warp per row.
extern "C" __global__ void softmax_forward(int rows, int width, float* z, const float* bias, float* a) {
    int row = blockIdx.x * ROW_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    float* zr = z + (u64)row * width;
    float* ar = a + (u64)row * width;
    // Subtracting the row max keeps exp <= 1: no overflow for any logits.
    float m = neg_inf();
    for (int j = lane; j < width; j += 32) {
        float v = zr[j] + bias[j];
        zr[j] = v;
        m = fmaxf(m, v);
    }
    m = warp_max(m);
    float s = 0.0f;
    for (int j = lane; j < width; j += 32) {
        float e = expf(zr[j] - m);
        ar[j] = e;
        s += e;
    }
    float inv = 1.0f / warp_sum(s);
    for (int j = lane; j < width; j += 32) ar[j] *= inv;
}

// Maxout: one thread per output unit. A unit's pieces are adjacent in z, so a unit never needs
// another thread's data and a warp would only add a reduction over `pieces` (2 to 5) values.
extern "C" __global__ void maxout_forward(int rows, int units, int pieces, float* z, const float* bias, float* a) {
    u64 n = (u64)rows * units;
    for (u64 i = global_index(); i < n; i += (u64)blockDim.x * gridDim.x) {
        int u = (int)(i % units);
        float* zp = z + i * pieces;
        const float* bp = bias + (u64)u * pieces;
        float m = zp[0] + bp[0];
        zp[0] = m;
        for (int p = 1; p < pieces; p++) {
            float v = zp[p] + bp[p];
            zp[p] = v;
            m = fmaxf(m, v);
        }
        a[i] = m;
    }
}

// dz = da * act'(z): one thread per element.
extern "C" __global__ void act_backward(int act, float param, int rows, int units, const float* z, const float* a,
                                        const float* da, const float* alpha, float* dz) {
    u64 n = (u64)rows * units;
    for (u64 i = global_index(); i < n; i += (u64)blockDim.x * gridDim.x) {
        float g = da[i];
        if (act == ACT_RELU) {
            // A select, not g * 0: an infinite upstream gradient stays out of dead units, as on the CPU.
            dz[i] = z[i] > 0.0f ? g : 0.0f;
        } else if (act == ACT_LINEAR) {
            dz[i] = g;
        } else {
            int j = (int)(i % units);
            dz[i] = g * act_derivative(act, param, z[i], a[i], alpha ? alpha[j] : 0.0f);
        }
    }
}

// dz_j = a_j (da_j - sum_k da_k a_k): the softmax Jacobian times da without forming it. One warp per row.
extern "C" __global__ void softmax_backward(int rows, int width, const float* a, const float* da, float* dz) {
    int row = blockIdx.x * ROW_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    const float* ar = a + (u64)row * width;
    const float* gr = da + (u64)row * width;
    float* dr = dz + (u64)row * width;
    float dot = 0.0f;
    for (int j = lane; j < width; j += 32) dot += gr[j] * ar[j];
    dot = warp_sum(dot);
    for (int j = lane; j < width; j += 32) dr[j] = ar[j] * (gr[j] - dot);
}

// The gradient goes to the winning piece only (the first one on ties, as in forward). One thread per unit.
extern "C" __global__ void maxout_backward(int rows, int units, int pieces, const float* z, const float* da, float* dz) {
    u64 n = (u64)rows * units;
    for (u64 i = global_index(); i < n; i += (u64)blockDim.x * gridDim.x) {
        const float* zp = z + i * pieces;
        float* dp = dz + i * pieces;
        int best = 0;
        for (int p = 1; p < pieces; p++) {
            if (zp[p] > zp[best]) best = p;
        }
        for (int p = 0; p < pieces; p++) dp[p] = 0.0f;
        dp[best] = da[i];
    }
}

// Column sums of a (rows, cols) matrix, optionally only of the entries x[r, c] * y[r, c] where
// y[r, c] <= 0 (PReLU's slope gradient). A block owns COL_TILE columns; its COL_SPLIT thread rows
// each add every COL_SPLIT-th row in order, then one thread adds the COL_SPLIT partials in order.
// The additions happen in the same order on every run: no atomics, deterministic results.
__device__ __forceinline__ void column_sums(int rows, int cols, const float* x, const float* y, float* out) {
    __shared__ float part[COL_SPLIT][COL_TILE + 1];
    int c = blockIdx.x * COL_TILE + threadIdx.x;
    float s = 0.0f;
    if (c < cols) {
        for (int r = threadIdx.y; r < rows; r += COL_SPLIT) {
            u64 k = (u64)r * cols + c;
            if (y == 0) {
                s += x[k];
            } else if (y[k] <= 0.0f) {
                s += x[k] * y[k];
            }
        }
    }
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float t = part[0][threadIdx.x];
        for (int k = 1; k < COL_SPLIT; k++) t += part[k][threadIdx.x];
        out[c] = t;
    }
}

// db[j] = sum_r dz[r, j] (the bias gradient).
extern "C" __global__ void sum_rows(int rows, int cols, const float* dz, float* db) {
    column_sums(rows, cols, dz, 0, db);
}

// dL/dalpha_j = sum_r da[r, j] z[r, j] over the rows where z <= 0.
extern "C" __global__ void prelu_dalpha(int rows, int units, const float* z, const float* da, float* dalpha) {
    column_sums(rows, units, da, z, dalpha);
}
