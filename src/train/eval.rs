//! Scoring a network on rows: the validation pass a session runs after each epoch, and `evaluate` (loss, accuracy or errors, confusion matrix) of a model on a dataset.

use super::rows::RowSource;
use super::session::Features;
use super::target_matrix;
use crate::backend::{Backend, Cpu};
use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::metrics;
use crate::nn::{Model, Net};
use crate::tensor::Matrix;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many rows of a batch's outputs predict their label.
pub(crate) fn correct(out: &[f32], cols: usize, idx: &[u32], labels: &[usize]) -> usize {
    out.chunks_exact(cols).zip(idx).filter(|(row, i)| metrics::predicted_class(row) == labels[**i as usize]).count()
}

/// The mean absolute error of one output row against its target row.
pub(crate) fn row_abs_error(p: &[f32], t: &[f32]) -> f64 {
    p.iter().zip(t).map(|(a, b)| (a - b).abs() as f64).sum::<f64>() / p.len() as f64
}

/// Validation or test rows, evaluated in batches with the training net's buffers: either data of
/// its own on the device, or row indices into the training upload (a validation split).
pub(crate) struct EvalData<B: Backend> {
    /// Own features and targets, when not a split of the training data.
    own: Option<(RowSource<B>, B::Buf)>,
    /// Host targets and labels, indexed by row like the device data.
    t_host: Matrix,
    labels: Option<Vec<usize>>,
    /// The rows evaluated.
    pub(crate) idx: Vec<u32>,
    /// Allocated at the first evaluation, for the net's batch size.
    t_batch: Option<B::Buf>,
    out: Vec<f32>,
}

impl<B: Backend> EvalData<B> {
    /// Rows of their own: features `x` uploaded to the device (or kept, when shared with a
    /// backend that reads host memory) and targets `y`.
    pub(crate) fn own(be: &B, x: Features<'_>, y: &Targets, out_dim: usize) -> Result<Self> {
        let t_host = target_matrix(y, out_dim)?;
        let own = Some((RowSource::new(be, x), be.upload(&t_host.data)));
        Ok(Self { own, ..Self::shared(y, &t_host, (0..y.len() as u32).collect()) })
    }

    /// The rows `idx` of the training upload (a validation split).
    pub(crate) fn shared(y: &Targets, t_host: &Matrix, idx: Vec<u32>) -> Self {
        let labels = match y {
            Targets::Classes { labels, .. } => Some(labels.clone()),
            Targets::Values(_) => None,
        };
        // Validation on classes needs only the labels; values need the targets for the error.
        let t_host = if labels.is_some() { Matrix::default() } else { t_host.clone() };
        Self { own: None, t_host, labels, idx, t_batch: None, out: Vec::new() }
    }

    /// `loss` (with the weight penalty) and `accuracy` or `mae` over all rows; `x` and `t` are the
    /// training features (uploaded or shared) and targets, used when the rows are a split of them.
    pub(crate) fn evaluate(
        &mut self,
        net: &mut Net<B>,
        loss: Loss,
        x: &RowSource<B>,
        t: &B::Buf,
    ) -> Vec<(String, f64)> {
        let be = net.backend().clone();
        let bs = net.max_rows();
        let cols = net.config().input_dim;
        let out_dim = net.config().output_dim();
        if self.out.len() < bs * out_dim || self.t_batch.is_none() {
            self.out = vec![0.0; bs * out_dim];
            self.t_batch = Some(be.zeros(bs * out_dim));
        }
        let t_batch = self.t_batch.as_mut().expect("allocated above");
        net.set_training(false);
        let (mut loss_sum, mut hits, mut abs) = (0.0, 0usize, 0.0);
        for idx in self.idx.chunks(bs) {
            let rows = idx.len();
            let (x, t) = self.own.as_ref().map_or((x, t), |(x, t)| (x, t));
            x.gather(&be, cols, idx, net.input_mut());
            be.gather_rows(t, out_dim, idx, t_batch);
            net.forward(rows);
            loss_sum += net.loss(loss, rows, t_batch, None, None);
            be.read(net.output(), &mut self.out[..rows * out_dim]);
            match &self.labels {
                Some(l) => hits += correct(&self.out[..rows * out_dim], out_dim, idx, l),
                None => {
                    for (r, &i) in idx.iter().enumerate() {
                        abs += row_abs_error(&self.out[r * out_dim..(r + 1) * out_dim], self.t_host.row(i as usize));
                    }
                }
            }
        }
        let n = self.idx.len().max(1) as f64;
        let mut v = vec![("loss".to_string(), loss_sum / n + net.penalty())];
        match self.labels {
            Some(_) => v.push(("accuracy".to_string(), hits as f64 / n)),
            None => v.push(("mae".to_string(), abs / n)),
        }
        v
    }
}

/// Scores of a model on a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Rows evaluated.
    pub rows: usize,
    /// `loss`, and `accuracy`, `top_5_accuracy`… for classes, or `mse`, `mae`, `r2` for values.
    pub metrics: BTreeMap<String, f64>,
    /// `counts[true][predicted]`, for classes.
    pub confusion: Option<Vec<Vec<usize>>>,
}

/// Scores `model` on `data` with `loss` (plus the weight penalty), on the CPU.
pub fn evaluate(model: &Model, data: &Dataset, loss: Loss, threads: usize) -> Result<Evaluation> {
    let be = Cpu::<f32>::new(threads)?;
    be.clone().install(|| evaluate_on(&be, model, data, loss))
}

/// Scores `model` on `data` on `backend`.
pub fn evaluate_on<B: Backend>(be: &B, model: &Model, data: &Dataset, loss: Loss) -> Result<Evaluation> {
    model.check()?;
    if data.x.cols != model.config.input_dim {
        return Err(Error::Data(format!(
            "the data has {} features but the model expects {}",
            data.x.cols, model.config.input_dim
        )));
    }
    let out_dim = model.config.output_dim();
    let mut net = Net::new(be, model, 1024.min(data.len().max(1)));
    net.set_training(false);
    let t = target_matrix(&data.y, out_dim)?;
    let p = net.predict(&data.x);
    let mut ev = EvalData::own(be, Features::Lent(&data.x), &data.y, out_dim)?;
    let (x, t_dev) = ev.own.take().expect("uploaded above");
    let mut metrics: BTreeMap<String, f64> = ev.evaluate(&mut net, loss, &x, &t_dev).into_iter().collect();
    let mut confusion = None;
    match &data.y {
        Targets::Classes { labels, n_classes } => {
            let k = (*n_classes).max(out_dim);
            if out_dim > 5 {
                metrics.insert("top_5_accuracy".into(), metrics::top_k_accuracy(&p, labels, 5));
            }
            confusion = Some(metrics::confusion_matrix(&metrics::predicted_classes(&p), labels, k));
        }
        Targets::Values(_) => {
            metrics.insert("mse".into(), metrics::mse(&p, &t));
            metrics.insert("r2".into(), metrics::r2(&p, &t));
        }
    }
    Ok(Evaluation { rows: data.len(), metrics, confusion })
}
