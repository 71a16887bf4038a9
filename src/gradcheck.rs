//! Gradient checking: the analytic backward pass against central finite differences, computed in `f64` through the same layer code that trains.

use crate::backend::{Backend, Cpu};
use crate::error::{Error, Result};
use crate::loss::{CustomLoss, Loss};
use crate::nn::{Model, Net};
use crate::tensor::Matrix;

/// The worst relative error found in each trainable parameter tensor of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerCheck {
    /// 1-based layer number.
    pub layer: usize,
    /// Per tensor, in the layer's storage order: its name (`weight`, `bias`, `alpha`, …) and worst relative error.
    pub tensors: Vec<(&'static str, f64)>,
}

impl LayerCheck {
    /// The worst of the layer's tensors.
    pub fn worst(&self) -> f64 {
        self.tensors.iter().map(|t| t.1).fold(0.0, f64::max)
    }

    /// The worst relative error of tensor `name`, when the layer has it.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.tensors.iter().find(|t| t.0 == name).map(|t| t.1)
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
    check_mode(model, Objective::Builtin(loss), x, t, eps, false)
}

/// [`gradcheck`] for a user-defined loss: its [`CustomLoss::row`] gradient, carried back through
/// the output activation and every layer, against finite differences of its value.
pub fn gradcheck_custom(model: &Model, loss: &dyn CustomLoss, x: &Matrix, t: &Matrix, eps: f64) -> Result<GradCheck> {
    check_mode(model, Objective::Custom(loss), x, t, eps, false)
}

/// The loss a check differentiates.
#[derive(Clone, Copy)]
enum Objective<'a> {
    Builtin(Loss),
    Custom(&'a dyn CustomLoss),
}

impl Objective<'_> {
    fn eval(self, net: &mut Net<Cpu<f64>>, rows: usize, t: &<Cpu<f64> as Backend>::Buf, grad: Option<f64>) -> f64 {
        match self {
            Objective::Builtin(loss) => net.loss(loss, rows, t, None, grad),
            Objective::Custom(loss) => net.custom_loss(loss, rows, t, None, grad),
        }
    }
}

/// [`gradcheck`] in train mode: dropout applies the mask drawn for step 0 of seed 0 (the same
/// for every evaluation, so the checked function is fixed), batch normalization uses the batch's
/// statistics (and its running statistics move at every evaluation, which train-mode outputs do
/// not read).
pub fn gradcheck_training(model: &Model, loss: Loss, x: &Matrix, t: &Matrix, eps: f64) -> Result<GradCheck> {
    check_mode(model, Objective::Builtin(loss), x, t, eps, true)
}

fn check_mode(
    model: &Model,
    loss: Objective<'_>,
    x: &Matrix,
    t: &Matrix,
    eps: f64,
    training: bool,
) -> Result<GradCheck> {
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
    net.set_training(training);
    net.set_input(x);
    let tb = be.upload(&t.data);
    let mean_loss = |net: &mut Net<Cpu<f64>>| {
        net.forward(rows);
        loss.eval(net, rows, &tb, None) / rows as f64
    };
    let loss0 = mean_loss(&mut net);
    net.forward(rows);
    loss.eval(&mut net, rows, &tb, Some(1.0 / rows as f64));
    net.backward(rows);

    // Every trainable tensor, element by element: nudge it both ways and difference the loss.
    let n_params = net.params().count();
    let mut layers: Vec<LayerCheck> =
        (0..model.config.layers.len()).map(|i| LayerCheck { layer: i + 1, tensors: Vec::new() }).collect();
    for idx in 0..n_params {
        let (layer, name, trainable, analytic) = {
            let (layer, p) = net.named_params().nth(idx).expect("tensor");
            (layer, p.name, p.trainable, (0..p.len).map(|i| be.get(&p.grad, i)).collect::<Vec<f64>>())
        };
        if !trainable {
            continue;
        }
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
        layers[layer].tensors.push((name, w));
    }
    Ok(GradCheck { layers, loss: loss0 })
}
