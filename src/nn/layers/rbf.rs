//! Radial basis units, `h_j = exp(−‖x − c_j‖² / σ_j²)`: each unit measures the distance of the input to its learned centre `c_j`, with a width `σ_j` per unit that is learned or fixed.
//!
//! Shapes (row-major): `x (rows, in)`, centres `C (in, units)` (column `j` is `c_j`, stored like a
//! dense layer's weights so that the cross term is one `gemm`), `σ (units)`, `d² (rows, units)`,
//! `h (rows, units)`. Forward: `d²[r, j] = ‖x_r‖² − 2·(x·C)[r, j] + ‖c_j‖²` (clamped at 0 against
//! roundoff), `h = exp(−d²/σ²)`. Backward, for `g = dL/dd² = −dL/dh · h/σ²`:
//! `dC = −2·xᵀ·g + 2·C ⊙ colsum(g)`, `dx = 2·x ⊙ rowsum(g) − 2·g·Cᵀ`, `dσ_j = Σ_r dL/dh · h · 2d²/σ³`.
//! The products go through the backend's `gemm`; the per-element passes through
//! [`Backend::get`]/[`Backend::set`], which keep `f64` exact for the gradient checks.

use super::{LayerOps, Param, ParamInit, ParamSpec};
use crate::backend::Backend;
use crate::nn::model::LayerConfig;

/// The starting width σ of every unit: inputs are standardized, so a unit first sees about one
/// standard deviation around its centre.
pub const DEFAULT_SIGMA: f32 = 1.0;

pub(super) fn specs(cfg: &LayerConfig, fan_in: usize, sigma: f32, learn_sigma: bool) -> Vec<ParamSpec> {
    vec![
        ParamSpec {
            name: "weight",
            shape: vec![fan_in, cfg.units],
            init: ParamInit::Weights { fan_in, fan_out: cfg.units },
            trainable: true,
            penalized: true,
            file_transposed: true,
        },
        ParamSpec {
            name: "sigma",
            shape: vec![cfg.units],
            init: ParamInit::Const(sigma),
            trainable: learn_sigma,
            penalized: false,
            file_transposed: false,
        },
    ]
}

pub(super) fn validate(cfg: &LayerConfig, sigma: f32, is_output: bool) -> Result<(), String> {
    if !(sigma > 0.0 && sigma.is_finite()) {
        return Err(format!("the width sigma must be > 0, got {sigma}"));
    }
    if cfg.activation != crate::nn::Activation::Linear {
        return Err(format!(
            "radial basis units apply their own exp(−d²/σ²), not {}; write {}:rbf",
            cfg.activation, cfg.units
        ));
    }
    if is_output {
        return Err("radial basis units cannot be the output layer; put a dense layer after them".into());
    }
    Ok(())
}

/// Parses the arguments of `rbf(sigma=S,fixed)`: the starting width and whether it stays fixed.
pub(super) fn parse_args(args: Option<&str>) -> Result<(f32, bool), String> {
    let (mut sigma, mut learn) = (DEFAULT_SIGMA, true);
    for kv in args.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match kv.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("sigma", v)) => {
                sigma = v.parse().map_err(|_| format!("'{v}' is not a width; write rbf(sigma=0.5)"))?;
            }
            None if kv == "fixed" => learn = false,
            None if kv == "learned" => learn = true,
            _ => return Err(format!("'{kv}' is not sigma=S, fixed or learned; e.g. 16:rbf(sigma=0.5,fixed)")),
        }
    }
    Ok((sigma, learn))
}

/// The spec item's kind part: `rbf`, `rbf(sigma=0.5)`, `rbf(sigma=0.5,fixed)`.
pub(super) fn spec(sigma: f32, learn_sigma: bool) -> String {
    match (sigma == DEFAULT_SIGMA, learn_sigma) {
        (true, true) => "rbf".into(),
        (false, true) => format!("rbf(sigma={sigma})"),
        (_, false) => format!("rbf(sigma={sigma},fixed)"),
    }
}

const C: usize = 0;
const SIGMA: usize = 1;

pub(super) struct Rbf<B: Backend> {
    fan_in: usize,
    units: usize,
    learn_sigma: bool,
    /// `x·C`, then (in place) the squared distances `d² (max_rows, units)`.
    d2: B::Buf,
    /// The output `h (max_rows, units)`.
    a: B::Buf,
    /// `dL/dh`.
    da: B::Buf,
    /// `dL/dd²`, `(max_rows, units)`.
    g: B::Buf,
    /// Host scratch, allocated once: `‖c_j‖²` or `Σ_r g[r, j]` per unit, `‖x_r‖²` or `Σ_j g[r, j]` per row.
    per_unit: Vec<f64>,
    per_row: Vec<f64>,
}

impl<B: Backend> Rbf<B> {
    pub(super) fn new(be: &B, cfg: &LayerConfig, fan_in: usize, learn_sigma: bool, max_rows: usize) -> Self {
        let n = max_rows * cfg.units;
        Self {
            fan_in,
            units: cfg.units,
            learn_sigma,
            d2: be.zeros(n),
            a: be.zeros(n),
            da: be.zeros(n),
            g: be.zeros(n),
            per_unit: vec![0.0; cfg.units],
            per_row: vec![0.0; max_rows],
        }
    }
}

impl<B: Backend> LayerOps<B> for Rbf<B> {
    fn forward(&mut self, be: &B, params: &mut [Param<B>], x: &B::Buf, rows: usize, _training: bool) {
        let (fi, u) = (self.fan_in, self.units);
        be.matmul(rows, u, fi, x, false, &params[C].value, false, &mut self.d2, false);
        for (j, s) in self.per_unit.iter_mut().enumerate() {
            *s = (0..fi).map(|k| be.get(&params[C].value, k * u + j).powi(2)).sum();
        }
        for r in 0..rows {
            let xn: f64 = (0..fi).map(|k| be.get(x, r * fi + k).powi(2)).sum();
            for (j, &norm) in self.per_unit.iter().enumerate() {
                let i = r * u + j;
                let d2 = (xn - 2.0 * be.get(&self.d2, i) + norm).max(0.0);
                let s = be.get(&params[SIGMA].value, j);
                be.set(&mut self.d2, i, d2);
                be.set(&mut self.a, i, (-d2 / (s * s)).exp());
            }
        }
    }

    fn output(&self) -> &B::Buf {
        &self.a
    }

    fn output_and_grad(&mut self) -> (&B::Buf, &mut B::Buf) {
        (&self.a, &mut self.da)
    }

    fn backward(&mut self, be: &B, params: &mut [Param<B>], x: &B::Buf, rows: usize, dx: Option<&mut B::Buf>) {
        let (fi, u) = (self.fan_in, self.units);
        let (c, rest) = params.split_at_mut(SIGMA);
        let (c, sigma) = (&mut c[C], &mut rest[0]);
        self.per_unit.iter_mut().for_each(|s| *s = 0.0);
        for (r, row_sum) in self.per_row.iter_mut().enumerate().take(rows) {
            *row_sum = 0.0;
            for (j, col_sum) in self.per_unit.iter_mut().enumerate() {
                let i = r * u + j;
                let (s, h, da) = (be.get(&sigma.value, j), be.get(&self.a, i), be.get(&self.da, i));
                let g = -da * h / (s * s);
                be.set(&mut self.g, i, g);
                *col_sum += g;
                *row_sum += g;
            }
        }
        if self.learn_sigma {
            for j in 0..u {
                let ds: f64 = (0..rows)
                    .map(|r| {
                        let i = r * u + j;
                        be.get(&self.da, i) * be.get(&self.a, i) * 2.0 * be.get(&self.d2, i)
                    })
                    .sum::<f64>()
                    / be.get(&sigma.value, j).powi(3);
                be.set(&mut sigma.grad, j, ds);
            }
        }
        // dC (in, units) = xᵀ (in, rows) · g (rows, units), then −2·that + 2·C ⊙ colsum(g).
        be.matmul(fi, u, rows, x, true, &self.g, false, &mut c.grad, false);
        for k in 0..fi {
            for (j, &col_sum) in self.per_unit.iter().enumerate() {
                let i = k * u + j;
                let v = -2.0 * be.get(&c.grad, i) + 2.0 * be.get(&c.value, i) * col_sum;
                be.set(&mut c.grad, i, v);
            }
        }
        if let Some(dx) = dx {
            // dx (rows, in) = g (rows, units) · Cᵀ (units, in), then 2·x ⊙ rowsum(g) − 2·that.
            be.matmul(rows, fi, u, &self.g, false, &c.value, true, dx, false);
            for (r, &row_sum) in self.per_row.iter().enumerate().take(rows) {
                for k in 0..fi {
                    let i = r * fi + k;
                    let v = 2.0 * be.get(x, i) * row_sum - 2.0 * be.get(dx, i);
                    be.set(dx, i, v);
                }
            }
        }
    }
}
