//! L-BFGS over one flat parameter vector, line for line as `torch.optim.LBFGS.step` (with and without its strong-Wolfe line search), against any objective that returns the loss and fills the gradient.
//!
//! The state lives across calls of [`Lbfgs::step`] as torch's does across `step()` calls: the
//! last direction and step length, the correction pairs, the previous gradient and loss. All
//! vectors are `f64` on the host, allocated once (the correction pairs as they first fill, then
//! reused), so a step allocates nothing once the history is full.

use crate::math::optim::OptimizerConfig;
use std::collections::VecDeque;

/// What one [`Lbfgs::step`] ended with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsStep {
    /// The loss at the parameters the step started from (torch's return value).
    pub loss: f64,
    /// Iterations run in this step.
    pub iterations: usize,
    /// Objective evaluations in this step.
    pub evaluations: usize,
    /// Whether a tolerance ended the step before its budget (torch's `opt_cond`, or the
    /// loss/parameter change below `tolerance_change`): further steps would change nothing much.
    pub converged: bool,
}

/// The hyperparameters of [`OptimizerConfig::Lbfgs`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsConfig {
    /// Step length.
    pub lr: f64,
    /// Iterations per step.
    pub max_iter: usize,
    /// Evaluations per step.
    pub max_eval: usize,
    /// Converged when `max |g| ≤ tolerance_grad`.
    pub tolerance_grad: f64,
    /// Converged when the loss or the step changes by less than this.
    pub tolerance_change: f64,
    /// Correction pairs kept.
    pub history_size: usize,
    /// Strong-Wolfe line search.
    pub line_search: bool,
}

impl LbfgsConfig {
    /// The L-BFGS settings of `opt`, when it is L-BFGS.
    pub fn from_optimizer(opt: &OptimizerConfig) -> Option<Self> {
        match *opt {
            OptimizerConfig::Lbfgs {
                lr,
                max_iter,
                max_eval,
                tolerance_grad,
                tolerance_change,
                history_size,
                line_search,
            } => Some(Self {
                lr: lr as f64,
                max_iter,
                max_eval,
                tolerance_grad,
                tolerance_change,
                history_size,
                line_search,
            }),
            _ => None,
        }
    }
}

/// One correction pair `(y, s)` with `ρ = 1 / yᵀs`.
struct Pair {
    y: Vec<f64>,
    s: Vec<f64>,
    ro: f64,
}

/// L-BFGS state over `n` parameters.
pub struct Lbfgs {
    cfg: LbfgsConfig,
    /// The parameters (the objective is evaluated at these, or at `x + t·d` in a line search).
    x: Vec<f64>,
    g: Vec<f64>,
    d: Vec<f64>,
    t: f64,
    prev_g: Vec<f64>,
    prev_loss: f64,
    pairs: VecDeque<Pair>,
    /// A pair's vectors to reuse.
    spare: Option<Pair>,
    al: Vec<f64>,
    h_diag: f64,
    /// Iterations over all steps (torch's `state["n_iter"]`).
    n_iter: usize,
    /// Scratch for the trial point and the line search's gradients.
    trial: Vec<f64>,
    ls: [Vec<f64>; 4],
}

/// The cubic interpolation torch's line search uses (`_cubic_interpolate`).
fn cubic_interpolate(x1: f64, f1: f64, g1: f64, x2: f64, f2: f64, g2: f64, bounds: Option<(f64, f64)>) -> f64 {
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        min_pos.max(lo).min(hi)
    } else {
        (lo + hi) / 2.0
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn abs_max(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

impl Lbfgs {
    /// A fresh state starting from the parameters `x0`.
    pub fn new(cfg: LbfgsConfig, x0: &[f64]) -> Self {
        let n = x0.len();
        Self {
            cfg,
            x: x0.to_vec(),
            g: vec![0.0; n],
            d: vec![0.0; n],
            t: 0.0,
            prev_g: vec![0.0; n],
            prev_loss: 0.0,
            pairs: VecDeque::with_capacity(cfg.history_size),
            spare: None,
            al: vec![0.0; cfg.history_size],
            h_diag: 1.0,
            n_iter: 0,
            trial: vec![0.0; n],
            ls: [vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]],
        }
    }

    /// The current parameters.
    pub fn params(&self) -> &[f64] {
        &self.x
    }

    /// Sets the learning rate (a schedule's).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// One `torch.optim.LBFGS.step(closure)`: `f(x, grad)` returns the loss at `x` and writes its
    /// gradient. On return [`Lbfgs::params`] holds the new parameters (the objective's last
    /// evaluation may have been elsewhere: set the parameters from them before using the model).
    pub fn step(&mut self, f: &mut dyn FnMut(&[f64], &mut [f64]) -> f64) -> LbfgsStep {
        let c = self.cfg;
        let mut loss = f(&self.x, &mut self.g);
        let orig_loss = loss;
        let mut evals = 1usize;
        let mut report = LbfgsStep { loss: orig_loss, iterations: 0, evaluations: 1, converged: false };
        if abs_max(&self.g) <= c.tolerance_grad {
            report.converged = true;
            return report;
        }
        let mut n_iter = 0usize;
        while n_iter < c.max_iter {
            n_iter += 1;
            self.n_iter += 1;
            if self.n_iter == 1 {
                for (d, g) in self.d.iter_mut().zip(&self.g) {
                    *d = -g;
                }
                self.pairs.clear();
                self.h_diag = 1.0;
            } else {
                self.update_direction();
            }
            self.prev_g.copy_from_slice(&self.g);
            self.prev_loss = loss;
            self.t = if self.n_iter == 1 {
                (1.0 / self.g.iter().map(|v| v.abs()).sum::<f64>()).min(1.0) * c.lr
            } else {
                c.lr
            };
            let gtd = dot(&self.g, &self.d);
            if gtd > -c.tolerance_change {
                report.converged = true;
                break;
            }
            let mut opt_cond = false;
            let ls_evals;
            if c.line_search {
                let (f_new, t, used) = self.strong_wolfe(f, loss, gtd, c.max_eval.saturating_sub(evals));
                loss = f_new;
                self.t = t;
                ls_evals = used;
                for (x, d) in self.x.iter_mut().zip(&self.d) {
                    *x += t * d;
                }
                opt_cond = abs_max(&self.g) <= c.tolerance_grad;
            } else {
                let t = self.t;
                for (x, d) in self.x.iter_mut().zip(&self.d) {
                    *x += t * d;
                }
                if n_iter != c.max_iter {
                    loss = f(&self.x, &mut self.g);
                    opt_cond = abs_max(&self.g) <= c.tolerance_grad;
                    ls_evals = 1;
                } else {
                    ls_evals = 0;
                }
            }
            evals += ls_evals;
            if n_iter == c.max_iter || evals >= c.max_eval {
                break;
            }
            let step_max = self.t.abs() * abs_max(&self.d);
            if opt_cond || step_max <= c.tolerance_change || (loss - self.prev_loss).abs() < c.tolerance_change {
                report.converged = true;
                break;
            }
        }
        report.iterations = n_iter;
        report.evaluations = evals;
        report
    }

    /// The two-loop recursion: a new correction pair from the last step, then `d = −H·g`.
    fn update_direction(&mut self) {
        let n = self.x.len();
        // y = g − g_prev, s = t·d, into the spare pair (the one the history last dropped).
        let mut pair = self.spare.take().unwrap_or_else(|| Pair { y: vec![0.0; n], s: vec![0.0; n], ro: 0.0 });
        for i in 0..n {
            pair.y[i] = self.g[i] - self.prev_g[i];
            pair.s[i] = self.d[i] * self.t;
        }
        let ys = dot(&pair.y, &pair.s);
        if ys > 1e-10 {
            if self.pairs.len() == self.cfg.history_size {
                self.spare = self.pairs.pop_front();
            }
            pair.ro = 1.0 / ys;
            self.h_diag = ys / dot(&pair.y, &pair.y);
            self.pairs.push_back(pair);
        } else {
            self.spare = Some(pair);
        }
        // q = −g; α_i = ρ_i s_iᵀq, q −= α_i y_i (newest first); r = H_diag·q; β = ρ_i y_iᵀr, r += (α_i − β) s_i.
        let q = &mut self.d;
        for (qi, gi) in q.iter_mut().zip(&self.g) {
            *qi = -gi;
        }
        for (i, p) in self.pairs.iter().enumerate().rev() {
            let a = dot(&p.s, q) * p.ro;
            self.al[i] = a;
            for (qi, yi) in q.iter_mut().zip(&p.y) {
                *qi -= a * yi;
            }
        }
        for qi in q.iter_mut() {
            *qi *= self.h_diag;
        }
        for (i, p) in self.pairs.iter().enumerate() {
            let be = dot(&p.y, q) * p.ro;
            let k = self.al[i] - be;
            for (qi, si) in q.iter_mut().zip(&p.s) {
                *qi += k * si;
            }
        }
    }

    /// torch's `_strong_wolfe` from `x` along `d` with initial step `self.t`; returns the loss,
    /// step and evaluations, leaving the gradient at the chosen point in `self.g`.
    #[allow(clippy::too_many_lines)]
    fn strong_wolfe(
        &mut self,
        f: &mut dyn FnMut(&[f64], &mut [f64]) -> f64,
        f0: f64,
        gtd0: f64,
        max_ls: usize,
    ) -> (f64, f64, usize) {
        const C1: f64 = 1e-4;
        const C2: f64 = 0.9;
        let tol = self.cfg.tolerance_change;
        let d_norm = abs_max(&self.d);
        // Buffers: ls[0] = g_prev, ls[1] = g_new, ls[2], ls[3] = the bracket's gradients.
        let [g_prev, g_new, bg0, bg1] = &mut self.ls;
        let mut eval = |t: f64, out: &mut [f64], x: &[f64], d: &[f64], trial: &mut [f64]| {
            for ((tr, xi), di) in trial.iter_mut().zip(x).zip(d) {
                *tr = xi + t * di;
            }
            f(trial, out)
        };
        let mut t = self.t;
        g_prev.copy_from_slice(&self.g);
        let mut f_new = eval(t, g_new, &self.x, &self.d, &mut self.trial);
        let mut evals = 1usize;
        let mut gtd_new = dot(g_new, &self.d);
        let (mut t_prev, mut f_prev, mut gtd_prev) = (0.0f64, f0, gtd0);
        let mut done = false;
        let mut ls_iter = 0usize;
        // The bracket: steps, losses, directional derivatives; gradients in bg0/bg1.
        let mut br = [0.0f64; 2];
        let mut bf = [0.0f64; 2];
        let mut bgtd = [0.0f64; 2];
        let mut one = false; // a bracket of a single point (Wolfe already satisfied)
        let mut bracketed = false;
        while ls_iter < max_ls {
            let sufficient = !(f_new > f0 + C1 * t * gtd0 || (ls_iter > 1 && f_new >= f_prev));
            let wolfe = gtd_new.abs() <= -C2 * gtd0;
            if !sufficient || (!wolfe && gtd_new >= 0.0) {
                br = [t_prev, t];
                bf = [f_prev, f_new];
                bgtd = [gtd_prev, gtd_new];
                bg0.copy_from_slice(g_prev);
                bg1.copy_from_slice(g_new);
                bracketed = true;
                break;
            }
            if wolfe {
                br = [t, t];
                bf = [f_new, f_new];
                bg0.copy_from_slice(g_new);
                one = true;
                done = true;
                break;
            }
            let min_step = t + 0.01 * (t - t_prev);
            let max_step = t * 10.0;
            let tmp = t;
            t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, Some((min_step, max_step)));
            t_prev = tmp;
            f_prev = f_new;
            g_prev.copy_from_slice(g_new);
            gtd_prev = gtd_new;
            f_new = eval(t, g_new, &self.x, &self.d, &mut self.trial);
            evals += 1;
            gtd_new = dot(g_new, &self.d);
            ls_iter += 1;
        }
        if ls_iter == max_ls && !bracketed && !one {
            // Out of evaluations: bracket [0, t] (torch leaves its gtd entries as they were).
            br = [0.0, t];
            bf = [f0, f_new];
            bg0.copy_from_slice(&self.g);
            bg1.copy_from_slice(g_new);
            bracketed = true;
        }
        let mut low = 0usize;
        if bracketed {
            let mut high;
            (low, high) = if bf[0] <= bf[1] { (0, 1) } else { (1, 0) };
            let mut insuf_progress = false;
            while !done && ls_iter < max_ls {
                if (br[1] - br[0]).abs() * d_norm < tol {
                    break;
                }
                t = cubic_interpolate(br[0], bf[0], bgtd[0], br[1], bf[1], bgtd[1], None);
                let (bmax, bmin) = (br[0].max(br[1]), br[0].min(br[1]));
                let eps = 0.1 * (bmax - bmin);
                if (bmax - t).min(t - bmin) < eps {
                    if insuf_progress || t >= bmax || t <= bmin {
                        t = if (t - bmax).abs() < (t - bmin).abs() { bmax - eps } else { bmin + eps };
                        insuf_progress = false;
                    } else {
                        insuf_progress = true;
                    }
                } else {
                    insuf_progress = false;
                }
                f_new = eval(t, g_new, &self.x, &self.d, &mut self.trial);
                evals += 1;
                gtd_new = dot(g_new, &self.d);
                ls_iter += 1;
                let bg = |i: usize, bg0: &mut Vec<f64>, bg1: &mut Vec<f64>, src: &[f64]| {
                    if i == 0 { bg0.copy_from_slice(src) } else { bg1.copy_from_slice(src) }
                };
                if f_new > f0 + C1 * t * gtd0 || f_new >= bf[low] {
                    br[high] = t;
                    bf[high] = f_new;
                    bg(high, bg0, bg1, g_new);
                    bgtd[high] = gtd_new;
                    (low, high) = if bf[0] <= bf[1] { (0, 1) } else { (1, 0) };
                } else {
                    if gtd_new.abs() <= -C2 * gtd0 {
                        done = true;
                    } else if gtd_new * (br[high] - br[low]) >= 0.0 {
                        br[high] = br[low];
                        bf[high] = bf[low];
                        if high == 0 {
                            bg0.copy_from_slice(bg1)
                        } else {
                            bg1.copy_from_slice(bg0)
                        }
                        bgtd[high] = bgtd[low];
                    }
                    br[low] = t;
                    bf[low] = f_new;
                    bg(low, bg0, bg1, g_new);
                    bgtd[low] = gtd_new;
                }
            }
        }
        let (t, f_best) = (br[low], bf[low]);
        self.g.copy_from_slice(if low == 0 { bg0 } else { bg1 });
        (f_best, t, evals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rosenbrock function: both variants reach its minimum at (1, 1).
    fn rosenbrock(x: &[f64], g: &mut [f64]) -> f64 {
        let (a, b) = (x[0], x[1]);
        g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
        g[1] = 200.0 * (b - a * a);
        (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
    }

    #[test]
    fn minimizes_rosenbrock_with_the_line_search() {
        let cfg = LbfgsConfig::from_optimizer(&OptimizerConfig::lbfgs(true)).unwrap();
        let mut opt = Lbfgs::new(cfg, &[-1.2, 1.0]);
        let mut last = None;
        for _ in 0..20 {
            last = Some(opt.step(&mut rosenbrock));
        }
        let x = opt.params();
        // It stops on the loss change (tolerance_change 1e-9), a few 1e-5 short of the minimum.
        assert!((x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-4, "{x:?}");
        assert!(last.unwrap().converged);
    }

    #[test]
    fn fixed_steps_descend_and_a_zero_gradient_converges_at_once() {
        let mut cfg = LbfgsConfig::from_optimizer(&OptimizerConfig::lbfgs(false)).unwrap();
        cfg.lr = 0.1;
        let mut opt = Lbfgs::new(cfg, &[-1.2, 1.0]);
        let first = opt.step(&mut rosenbrock).loss;
        let second = opt.step(&mut rosenbrock).loss;
        assert!(second < first, "{second} ≥ {first}");
        let mut flat = Lbfgs::new(cfg, &[1.0, 1.0]);
        let r = flat.step(&mut rosenbrock);
        assert!(r.converged && r.iterations == 0 && r.evaluations == 1, "{r:?}");
    }
}
