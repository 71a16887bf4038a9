// Shared by every kernel file: sizes, the activation and loss codes, the scalar formulas of
// src/nn/activation.rs, and warp/block reductions. NVRTC compiles the files concatenated into one
// program, without the toolkit's headers, so nothing here is #included.
//
// Launch conventions (src/backend/cuda/launch.rs sets them): element-wise kernels use 1-D blocks of
// BLOCK threads over a flat index; row-wise kernels give one warp to a row, ROW_WARPS rows per block.

typedef unsigned long long u64;

#define BLOCK 256
#define ROW_WARPS 4
#define COL_TILE 32
#define COL_SPLIT 8

// The codes of crate::nn::Activation (launch.rs: act_code).
#define ACT_LINEAR 0
#define ACT_SIGMOID 1
#define ACT_TANH 2
#define ACT_RELU 3
#define ACT_LEAKY_RELU 4
#define ACT_PRELU 5
#define ACT_ELU 6
#define ACT_SOFTPLUS 7

// The codes of crate::loss::Loss (the two categorical losses share one: their targets are both dense rows).
#define LOSS_MSE 0
#define LOSS_MAE 1
#define LOSS_BCE 2
#define LOSS_CCE 3

// Probabilities are clipped to [EPS, 1 - EPS] where a cross-entropy cannot use the logits (Keras's epsilon).
#define LOSS_EPS 1e-7

// No <math.h> under NVRTC: infinity by its bit pattern.
__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }

// Neither NaN nor ±inf: the exponent bits are not all ones.
__device__ __forceinline__ bool finite(float x) { return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u; }

__device__ __forceinline__ u64 global_index() { return (u64)blockIdx.x * blockDim.x + threadIdx.x; }

// -1, 0 or 1 (0 at 0: the subgradient the L1 penalty uses there), as Real::signum0.
__device__ __forceinline__ float signum0(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); }

// The logistic function, evaluated so that neither branch overflows: e^-z for z >= 0, e^z below.
__device__ __forceinline__ float sigmoid(float z) {
    if (z >= 0.0f) {
        return 1.0f / (1.0f + expf(-z));
    }
    float e = expf(z);
    return e / (1.0f + e);
}

// ln(1 + e^z) = max(z, 0) + ln(1 + e^-|z|): no overflow for large |z|.
__device__ __forceinline__ float softplus(float z) { return fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z))); }

// Activation::apply for the element-wise activations; `param` is leaky_relu's or elu's alpha,
// `slope` PReLU's learned slope for this unit.
__device__ __forceinline__ float act_apply(int act, float param, float z, float slope) {
    switch (act) {
    case ACT_SIGMOID: return sigmoid(z);
    case ACT_TANH: return tanhf(z);
    case ACT_RELU: return z > 0.0f ? z : 0.0f;
    case ACT_LEAKY_RELU: return z > 0.0f ? z : param * z;
    case ACT_PRELU: return z > 0.0f ? z : slope * z;
    case ACT_ELU: return z > 0.0f ? z : param * (expf(z) - 1.0f);
    case ACT_SOFTPLUS: return softplus(z);
    default: return z;
    }
}

// Activation::derivative: da/dz from z and a = f(z), whichever is cheaper.
__device__ __forceinline__ float act_derivative(int act, float param, float z, float a, float slope) {
    switch (act) {
    case ACT_SIGMOID: return a * (1.0f - a);
    case ACT_TANH: return 1.0f - a * a;
    case ACT_RELU: return z > 0.0f ? 1.0f : 0.0f;
    case ACT_LEAKY_RELU: return z > 0.0f ? 1.0f : param;
    case ACT_PRELU: return z > 0.0f ? 1.0f : slope;
    // For z <= 0, d/dz alpha(e^z - 1) = alpha e^z = a + alpha.
    case ACT_ELU: return z > 0.0f ? 1.0f : a + param;
    case ACT_SOFTPLUS: return sigmoid(z);
    default: return 1.0f;
    }
}

// Butterfly reductions: every lane ends with the result, so no broadcast is needed afterwards.
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Adds `v` over a BLOCK-thread block and writes the block's total to out[blockIdx.x]. Every thread
// of the block must call it. The tree is fixed, so the result does not depend on scheduling.
__device__ __forceinline__ void block_sum_to(double v, double* out) {
    __shared__ double warps[BLOCK / 32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = warp_sum_d(v);
    if (lane == 0) warps[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < BLOCK / 32 ? warps[lane] : 0.0;
        v = warp_sum_d(v);
        if (lane == 0) out[blockIdx.x] = v;
    }
}
