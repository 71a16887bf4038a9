// Optimizer steps: a line-by-line port of update_slice in src/optim.rs, one kernel per optimizer
// family and one thread per parameter. Scalars that the CPU derives per step (bias corrections,
// decayed rates) are computed on the host in the same precision and passed in.
//
// Every kernel first reads p, adds its share of the Keras penalty l1 |p| + l2 p^2 (before the
// step) to a per-block partial when `partials` is not null, then updates. One element per thread
// keeps the partition into blocks a function of n alone, so the penalty is deterministic.

// d/dp (l1 |p| + l2 p^2) = l1 sign(p) + 2 l2 p, added to the gradient.
__device__ __forceinline__ float penalized(float g, float p, float l1, float l2, int has_penalty) {
    return has_penalty ? g + l1 * signum0(p) + 2.0f * l2 * p : g;
}

__device__ __forceinline__ double penalty_of(float p, float l1, float l2) { return (double)(l1 * fabsf(p) + l2 * p * p); }

// SGD, with momentum buffer b when b is not null: torch's b_1 = g_1, then b_t = mu b_{t-1} + (1 - tau) g_t.
extern "C" __global__ void sgd_update(u64 n, float* p, const float* g, float* b, float lr, float mu, float damp, float wd,
                                      int nesterov, int first, float l1, float l2, double* partials) {
    u64 i = global_index();
    int has_penalty = partials != 0;
    double pen = 0.0;
    if (i < n) {
        float pi = p[i];
        if (has_penalty) pen = penalty_of(pi, l1, l2);
        float gi = penalized(g[i], pi, l1, l2, has_penalty) + wd * pi;
        if (b == 0) {
            p[i] = pi - lr * gi;
        } else {
            float bi = first ? gi : mu * b[i] + damp * gi;
            b[i] = bi;
            float step = nesterov ? gi + mu * bi : bi;
            p[i] = pi - lr * step;
        }
    }
    if (has_penalty) block_sum_to(pen, partials);
}

// AdaGrad: `clr` is the step's decayed rate lr / (1 + (t - 1) lr_decay).
extern "C" __global__ void adagrad_update(u64 n, float* p, const float* g, float* sum, float clr, float eps, float wd,
                                          float l1, float l2, double* partials) {
    u64 i = global_index();
    int has_penalty = partials != 0;
    double pen = 0.0;
    if (i < n) {
        float pi = p[i];
        if (has_penalty) pen = penalty_of(pi, l1, l2);
        float gi = penalized(g[i], pi, l1, l2, has_penalty) + wd * pi;
        float si = sum[i] + gi * gi;
        sum[i] = si;
        p[i] = pi - clr * gi / (sqrtf(si) + eps);
    }
    if (has_penalty) block_sum_to(pen, partials);
}

// RMSProp: v is the square average; b (momentum) and ga (centered: the gradient average) may be null.
extern "C" __global__ void rmsprop_update(u64 n, float* p, const float* g, float* v, float* b, float* ga, float lr,
                                          float rho, float one_rho, float eps, float mu, float wd, float l1, float l2,
                                          double* partials) {
    u64 i = global_index();
    int has_penalty = partials != 0;
    double pen = 0.0;
    if (i < n) {
        float pi = p[i];
        if (has_penalty) pen = penalty_of(pi, l1, l2);
        float gi = penalized(g[i], pi, l1, l2, has_penalty) + wd * pi;
        float vi = rho * v[i] + one_rho * gi * gi;
        v[i] = vi;
        float avg = vi;
        if (ga) {
            float gai = rho * ga[i] + one_rho * gi;
            ga[i] = gai;
            avg -= gai * gai;
        }
        float d = gi / (sqrtf(avg) + eps);
        if (b) {
            float bi = mu * b[i] + d;
            b[i] = bi;
            p[i] = pi - lr * bi;
        } else {
            p[i] = pi - lr * d;
        }
    }
    if (has_penalty) block_sum_to(pen, partials);
}

// Adam, AMSGrad (vmax not null) and AdamW (decay = 1 - lr wd, l2wd = 0; Adam has decay = 1 and
// l2wd = its L2 weight decay). step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t).
extern "C" __global__ void adam_update(u64 n, float* p, const float* g, float* m, float* v, float* vmax, float b1,
                                       float one_b1, float b2, float one_b2, float step_size, float bc2_sqrt, float eps,
                                       float l2wd, float decay, float l1, float l2, double* partials) {
    u64 i = global_index();
    int has_penalty = partials != 0;
    double pen = 0.0;
    if (i < n) {
        float pi = p[i];
        if (has_penalty) pen = penalty_of(pi, l1, l2);
        float gi = penalized(g[i], pi, l1, l2, has_penalty) + l2wd * pi;
        // AdamW shrinks the weight before the step, apart from the gradient.
        pi *= decay;
        float mi = b1 * m[i] + one_b1 * gi;
        float vi = b2 * v[i] + one_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float second = vi;
        if (vmax) {
            second = fmaxf(vmax[i], vi);
            vmax[i] = second;
        }
        float denom = sqrtf(second) / bc2_sqrt + eps;
        p[i] = pi - step_size * mi / denom;
    }
    if (has_penalty) block_sum_to(pen, partials);
}
