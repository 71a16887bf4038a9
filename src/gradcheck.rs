//! Gradient checking: the analytic backward pass against central finite differences, computed in `f64` through the same layer code that trains.

use crate::backend::{Backend, Cpu};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::nn::{Model, Net};
use crate::tensor::Matrix;

/// The worst relative error found in each parameter tensor of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerCheck {
    /// 1-based layer number.
    pub layer: usize,
    /// Worst relative error over the weights.
    pub weight: f64,
    /// Worst relative error over the biases.
    pub bias: f64,
    /// Worst relative error over PReLU's slopes, when the layer has them.
    pub alpha: Option<f64>,
}

impl LayerCheck {
    /// The worst of the layer's tensors.
    pub fn worst(&self) -> f64 {
        self.weight.max(self.bias).max(self.alpha.unwrap_or(0.0))
    }
}

/// The outcome of [`gradcheck`].
#[derive(Clone, Debug, PartialEq)]
pub struct GradCheck {
    /// Per layer, input to output.
    pub layers: Vec<LayerCheck>,
    /// The mean loss at the checked point.
    pub loss: f64,
}

impl GradCheck {
    /// The worst relative error anywhere.
    pub fn worst(&self) -> f64 {
        self.layers.iter().map(LayerCheck::worst).fold(0.0, f64::max)
    }
}

/// `|a − n| / max(|a|, |n|, 1e-3)`.
///
/// The floor keeps roundoff in the finite difference (about 1e-10 in f64 with ε = 1e-5) from
/// dominating gradients that are themselves near zero, e.g. behind a dead ReLU; a wrong
/// gradient is still off by far more than the tolerance.
pub fn relative_error(analytic: f64, numeric: f64) -> f64 {
    (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(1e-3)
}

/// Compares `dL/dθ` from backpropagation with `(L(θ+ε) − L(θ−ε)) / 2ε` for every parameter of
/// `model`, where `L` is the mean `loss` of the batch `x` against dense targets `t`.
///
/// Everything runs in `f64` on the CPU backend, so with `eps ≈ 1e-5` a correct backward pass
/// agrees to about 1e-8; a wrong one is off by order 1. Penalties (L1/L2) are not part of `L`:
/// the optimizer adds their gradient (see [`crate::optim::update_slice`]).
pub fn gradcheck(model: &Model, loss: Loss, x: &Matrix, t: &Matrix, eps: f64) -> Result<GradCheck> {
    model.check()?;
    if x.cols != model.config.input_dim || t.cols != model.config.output_dim() || x.rows != t.rows || x.rows == 0 {
        return Err(Error::Data(format!(
            "gradcheck: inputs {}×{} and targets {}×{} do not fit a {}→{} model",
            x.rows,
            x.cols,
            t.rows,
            t.cols,
            model.config.input_dim,
            model.config.output_dim()
        )));
    }
    let be = Cpu::<f64>::new(1)?;
    let rows = x.rows;
    let mut net = Net::new(&be, model, rows);
    net.set_input(x);
    let tb = be.upload(&t.data);
    let mean_loss = |net: &mut Net<Cpu<f64>>| {
        net.forward(rows);
        net.loss(loss, rows, &tb, None, None) / rows as f64
    };
    let loss0 = mean_loss(&mut net);
    net.forward(rows);
    net.loss(loss, rows, &tb, None, Some(1.0 / rows as f64));
    net.backward(rows);

    // Walk the tensors in the order Net stores them: per layer weight, bias, then slopes.
    let n_tensors: Vec<usize> = model.params.iter().map(|p| 2 + usize::from(p.alpha.is_some())).collect();
    let mut worst = Vec::new();
    let mut idx = 0;
    loop {
        let Some((len, analytic)) =
            net.params().nth(idx).map(|p| (p.len, (0..p.len).map(|i| be.get(&p.grad, i)).collect::<Vec<f64>>()))
        else {
            break;
        };
        let mut w = 0.0f64;
        for (i, &a) in analytic.iter().enumerate() {
            let orig = be.get(&net.params().nth(idx).expect("tensor").value, i);
            let at = |v: f64, net: &mut Net<Cpu<f64>>| {
                let p = net.params_mut().nth(idx).expect("tensor");
                be.set(&mut p.value, i, v);
                mean_loss(net)
            };
            let plus = at(orig + eps, &mut net);
            let minus = at(orig - eps, &mut net);
            at(orig, &mut net);
            let num = (plus - minus) / (2.0 * eps);
            w = w.max(relative_error(a, num));
        }
        let _ = len;
        worst.push(w);
        idx += 1;
    }
    let mut layers = Vec::new();
    let mut it = worst.into_iter();
    for (i, &n) in n_tensors.iter().enumerate() {
        let weight = it.next().unwrap_or(0.0);
        let bias = it.next().unwrap_or(0.0);
        let alpha = if n == 3 { it.next() } else { None };
        layers.push(LayerCheck { layer: i + 1, weight, bias, alpha });
    }
    Ok(GradCheck { layers, loss: loss0 })
}
