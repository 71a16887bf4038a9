// The loss of each row and its gradient: a port of Loss::row in src/loss.rs, one warp per row.
// Sums are kept in double as the CPU code keeps them; the gradient is computed in float with the
// same operations in the same order. row_loss[r] receives w[r] times the row's loss; reduce_sum
// adds the rows afterwards.
//
// `fused` (Loss::fused_with the activation) selects the logits shortcut: softmax + categorical
// cross-entropy and sigmoid + binary cross-entropy give the gradient with respect to z, p - t;
// the others give the gradient with respect to a. `grad` may be null (evaluation only); `scale`
// multiplies the gradient (1 / batch gives the mean).
extern "C" __global__ void loss_rows(int kind, int fused, int rows, int cols, const float* z, const float* a,
                                     const float* t, const float* w, float* grad, float scale, double* row_loss) {
    int row = blockIdx.x * ROW_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    u64 off = (u64)row * cols;
    const float* zr = z + off;
    const float* ar = a + off;
    const float* tr = t + off;
    float* gr = grad ? grad + off : 0;
    float wr = w ? w[row] : 1.0f;
    float sc = scale * wr;
    double inv_cols = 1.0 / (double)cols;
    double s = 0.0;
    if (kind == LOSS_MSE) {
        for (int j = lane; j < cols; j += 32) {
            double d = (double)(ar[j] - tr[j]);
            s += d * d;
        }
        if (gr) {
            float f = sc * (float)(2.0 * inv_cols);
            for (int j = lane; j < cols; j += 32) gr[j] = f * (ar[j] - tr[j]);
        }
        s = warp_sum_d(s) * inv_cols;
    } else if (kind == LOSS_MAE) {
        for (int j = lane; j < cols; j += 32) s += fabs((double)(ar[j] - tr[j]));
        if (gr) {
            float f = sc * (float)inv_cols;
            for (int j = lane; j < cols; j += 32) gr[j] = f * signum0(ar[j] - tr[j]);
        }
        s = warp_sum_d(s) * inv_cols;
    } else if (kind == LOSS_BCE && fused) {
        // From the logits: -[t ln sigmoid(z) + (1-t) ln(1 - sigmoid(z))] = softplus(z) - t z, exact for any z.
        for (int j = lane; j < cols; j += 32) s += (double)(softplus(zr[j]) - tr[j] * zr[j]);
        if (gr) {
            float f = sc * (float)inv_cols;
            for (int j = lane; j < cols; j += 32) gr[j] = f * (sigmoid(zr[j]) - tr[j]);
        }
        s = warp_sum_d(s) * inv_cols;
    } else if (kind == LOSS_BCE) {
        for (int j = lane; j < cols; j += 32) {
            // A clamp written as selects keeps a NaN probability NaN, as f64::clamp does.
            double p = (double)ar[j];
            p = p < LOSS_EPS ? LOSS_EPS : (p > 1.0 - LOSS_EPS ? 1.0 - LOSS_EPS : p);
            double y = (double)tr[j];
            s -= y * log(p) + (1.0 - y) * log(1.0 - p);
        }
        if (gr) {
            for (int j = lane; j < cols; j += 32) {
                double p = (double)ar[j], y = (double)tr[j];
                // Zero where the clip is active, as the clipped function is flat there.
                gr[j] = p > LOSS_EPS && p < 1.0 - LOSS_EPS ? sc * (float)(inv_cols * (p - y) / (p * (1.0 - p))) : 0.0f;
            }
        }
        s = warp_sum_d(s) * inv_cols;
    } else if (fused) {
        // log-softmax with the row max subtracted, so that exp never overflows.
        float m = neg_inf();
        for (int j = lane; j < cols; j += 32) m = fmaxf(m, zr[j]);
        m = warp_max(m);
        double sum = 0.0;
        for (int j = lane; j < cols; j += 32) sum += exp((double)(zr[j] - m));
        double lse = (double)m + log(warp_sum_d(sum));
        float tsum = 0.0f;
        for (int j = lane; j < cols; j += 32) {
            s += (double)tr[j] * (lse - (double)zr[j]);
            tsum += tr[j];
        }
        tsum = warp_sum(tsum);
        if (gr) {
            for (int j = lane; j < cols; j += 32) gr[j] = sc * (ar[j] * tsum - tr[j]);
        }
        s = warp_sum_d(s);
    } else {
        for (int j = lane; j < cols; j += 32) s -= (double)tr[j] * log(fmax((double)ar[j], LOSS_EPS));
        if (gr) {
            for (int j = lane; j < cols; j += 32) {
                double p = (double)ar[j];
                gr[j] = p > LOSS_EPS ? -sc * tr[j] / ar[j] : 0.0f;
            }
        }
        s = warp_sum_d(s);
    }
    if (lane == 0) row_loss[row] = (double)wr * s;
}
