//! The training rows of a session: uploaded to the device once (or, shared by their owner, read in place), split from the validation rows, drawn in a per-epoch order and gathered batch by batch; and the running sums of an epoch.

use super::eval::{correct, row_abs_error};
use super::session::{Features, SharedRows};
use crate::backend::Backend;
use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::nn::Net;
use crate::tensor::Matrix;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::ops::Range;
use std::sync::Arc;

/// The running sums of the epoch in progress, from which its training figures are computed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunningSums {
    /// Σ over rows of each batch's mean loss plus the weight penalty (as Keras reports it).
    pub loss: f64,
    /// Rows whose predicted class was their label (classification).
    pub correct: f64,
    /// Σ over rows of the row's mean absolute error (regression).
    pub abs_error: f64,
    /// Rows trained on.
    pub rows: f64,
}

impl RunningSums {
    /// The mean loss so far.
    pub fn loss(&self) -> f64 {
        self.loss / self.rows
    }

    /// The training accuracy so far.
    pub fn accuracy(&self) -> f64 {
        self.correct / self.rows
    }

    /// The training mean absolute error so far.
    pub fn mae(&self) -> f64 {
        self.abs_error / self.rows
    }

    /// As stored in [`super::LoopState::sums`] (and so in checkpoints): loss, correct, absolute
    /// error, rows.
    pub fn to_array(self) -> [f64; 4] {
        [self.loss, self.correct, self.abs_error, self.rows]
    }

    /// From [`RunningSums::to_array`]'s order.
    pub fn from_array([loss, correct, abs_error, rows]: [f64; 4]) -> Self {
        Self { loss, correct, abs_error, rows }
    }
}

/// The training features a session gathers its batches from: its own upload, or rows shared
/// with their owner and read in place.
pub(crate) enum RowSource<B: Backend> {
    Device(B::Buf),
    Host(Arc<dyn SharedRows>),
}

impl<B: Backend> RowSource<B> {
    /// `x` uploaded to `be`, or kept where shared and `be` reads host memory.
    pub(crate) fn new(be: &B, x: Features<'_>) -> Self {
        match x {
            Features::Shared(x, _) if be.gathers_host_rows() => RowSource::Host(x),
            Features::Shared(x, _) => RowSource::Device(be.upload(x.values())),
            Features::Lent(m) => RowSource::Device(be.upload(&m.data)),
        }
    }

    /// `dst[i, :] = x[idx[i], :]`.
    pub(crate) fn gather(&self, be: &B, cols: usize, idx: &[u32], dst: &mut B::Buf) {
        match self {
            RowSource::Device(x) => be.gather_rows(x, cols, idx, dst),
            RowSource::Host(x) => be.gather_host_rows(x.values(), cols, idx, dst),
        }
    }
}

/// The training rows on the device, with the batch buffers they are gathered into.
pub(crate) struct TrainRows<B: Backend> {
    /// Features, targets (one-hot for classes) and row weights of the whole training set.
    pub(crate) x: RowSource<B>,
    pub(crate) t: B::Buf,
    w: Option<B::Buf>,
    /// The batch's targets and row weights.
    pub(crate) t_batch: B::Buf,
    pub(crate) w_batch: Option<B::Buf>,
    /// Host targets, for the training error of values (empty for classes, which use `labels`).
    t_host: Matrix,
    pub(crate) labels: Option<Vec<usize>>,
    /// The rows trained on (all, or those the validation split left).
    rows: Vec<u32>,
    /// `rows` in the order of epoch `order_epoch` (0: not drawn yet).
    order: Vec<u32>,
    order_epoch: usize,
    cols: usize,
    out_dim: usize,
    pub(crate) batch_size: usize,
    /// The batch's outputs, read back for the running figures.
    out_host: Vec<f32>,
}

impl<B: Backend> TrainRows<B> {
    /// Uploads the features `x` (or keeps them, when shared with a backend that reads host
    /// memory), the targets `y` (as `t_host`) and the row weights; batches of `batch_size` (at
    /// most the number of `rows`) are drawn from `rows`.
    pub(crate) fn upload(
        be: &B,
        x: Features<'_>,
        y: &Targets,
        t_host: Matrix,
        rows: Vec<u32>,
        row_weights: Option<Vec<f32>>,
        batch_size: usize,
    ) -> Self {
        let out_dim = t_host.cols;
        let labels = match y {
            Targets::Classes { labels, .. } => Some(labels.clone()),
            Targets::Values(_) => None,
        };
        let cols = x.cols();
        Self {
            x: RowSource::new(be, x),
            t: be.upload(&t_host.data),
            w: row_weights.as_ref().map(|w| be.upload(w)),
            t_batch: be.zeros(batch_size * out_dim),
            w_batch: row_weights.as_ref().map(|_| be.zeros(batch_size)),
            t_host: if labels.is_some() { Matrix::default() } else { t_host },
            labels,
            order: rows.clone(),
            rows,
            order_epoch: 0,
            cols,
            out_dim,
            batch_size,
            out_host: vec![0.0; batch_size * out_dim],
        }
    }

    /// Rows per epoch.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Batches per epoch.
    pub(crate) fn batches(&self) -> usize {
        self.rows.len().div_ceil(self.batch_size)
    }

    /// Draws the row order of `epoch`, unless it is drawn already.
    pub(crate) fn order_for(&mut self, epoch: usize, shuffle: bool, seed: u64) {
        if self.order_epoch != epoch {
            epoch_permutation(&mut self.order, &self.rows, shuffle, seed, epoch);
            self.order_epoch = epoch;
        }
    }

    /// Where batch `b` (0-based) lies in this epoch's order.
    fn span(&self, b: usize) -> std::ops::Range<usize> {
        b * self.batch_size..((b + 1) * self.batch_size).min(self.order.len())
    }

    /// Rows in batch `b`.
    pub(crate) fn batch_rows(&self, b: usize) -> usize {
        self.span(b).len()
    }

    /// Gathers batch `b`'s features into the net's input and its targets and weights into the
    /// batch buffers; returns its number of rows.
    pub(crate) fn gather(&mut self, be: &B, b: usize, net: &mut Net<B>) -> usize {
        self.gather_part(be, b, 0..usize::MAX, net)
    }

    /// Where the rows `part` (offsets into batch `b`, clipped to it) lie in this epoch's order.
    fn part_span(&self, b: usize, part: Range<usize>) -> Range<usize> {
        let span = self.span(b);
        let end = span.start.saturating_add(part.end).min(span.end);
        (span.start + part.start).min(end)..end
    }

    /// The rows `part` of batch `b`.
    fn part(&self, b: usize, part: Range<usize>) -> &[u32] {
        &self.order[self.part_span(b, part)]
    }

    /// [`TrainRows::gather`] for the rows `part` of batch `b` only (a shard), into the first rows
    /// of the buffers.
    pub(crate) fn gather_part(&mut self, be: &B, b: usize, part: Range<usize>, net: &mut Net<B>) -> usize {
        let idx = &self.order[self.part_span(b, part)];
        self.x.gather(be, self.cols, idx, net.input_mut());
        be.gather_rows(&self.t, self.out_dim, idx, &mut self.t_batch);
        if let (Some(wd), Some(wb)) = (&self.w, self.w_batch.as_mut()) {
            be.gather_rows(wd, 1, idx, wb);
        }
        idx.len()
    }

    /// The figures of the shard of batch `b` whose rows are `part`, from the net's outputs:
    /// `loss_sum` (the shard's summed loss), its hits, its summed absolute error, its rows.
    pub(crate) fn shard_figures(
        &mut self,
        be: &B,
        b: usize,
        part: Range<usize>,
        net: &Net<B>,
        loss_sum: f64,
    ) -> [f64; super::shards::SHARD_FIGURES] {
        let rows = self.part(b, part.clone()).len();
        let out_dim = self.out_dim;
        let mut out = std::mem::take(&mut self.out_host);
        be.read(net.output(), &mut out[..rows * out_dim]);
        let idx = self.part(b, part);
        let (mut hits, mut abs_error) = (0.0, 0.0);
        match &self.labels {
            Some(l) => hits = correct(&out[..rows * out_dim], out_dim, idx, l) as f64,
            None => {
                for (r, &i) in idx.iter().enumerate() {
                    abs_error += row_abs_error(&out[r * out_dim..(r + 1) * out_dim], self.t_host.row(i as usize));
                }
            }
        }
        self.out_host = out;
        [loss_sum, hits, abs_error, rows as f64]
    }

    /// Adds batch `b`'s figures to `sums`: its loss (`loss_sum` over its rows, plus the weight
    /// `penalty`) and its hits or errors, from the net's outputs.
    pub(crate) fn tally(
        &mut self,
        be: &B,
        b: usize,
        net: &Net<B>,
        loss_sum: f64,
        penalty: f64,
        sums: &mut RunningSums,
    ) {
        let idx = &self.order[self.span(b)];
        let (rows, out_dim) = (idx.len(), self.out_dim);
        let out = &mut self.out_host[..rows * out_dim];
        be.read(net.output(), out);
        sums.loss += (loss_sum / rows as f64 + penalty) * rows as f64;
        sums.rows += rows as f64;
        match &self.labels {
            Some(l) => sums.correct += correct(out, out_dim, idx, l) as f64,
            None => {
                for (r, &i) in idx.iter().enumerate() {
                    sums.abs_error += row_abs_error(&out[r * out_dim..(r + 1) * out_dim], self.t_host.row(i as usize));
                }
            }
        }
    }
}

/// Adds a sharded batch's figures to `sums`: `figures` holds every shard's
/// [`super::shards::SHARD_FIGURES`] (summed loss, hits, absolute error, rows), added in shard order.
pub(crate) fn tally_shards(figures: &[f64], penalty: f64, sums: &mut RunningSums) {
    let mut shards = figures.chunks_exact(super::shards::SHARD_FIGURES);
    let Some(first) = shards.next() else { return };
    let (mut loss_sum, mut correct, mut rows) = (first[0], first[1], first[3]);
    sums.abs_error += first[2];
    for f in shards {
        loss_sum += f[0];
        correct += f[1];
        sums.abs_error += f[2];
        rows += f[3];
    }
    sums.loss += (loss_sum / rows + penalty) * rows;
    sums.rows += rows;
    sums.correct += correct;
}

/// Fills `perm` with the row order of `epoch`: drawn from `(seed, epoch)` alone, so that any
/// epoch's order can be reproduced without replaying the ones before it.
fn epoch_permutation(perm: &mut [u32], rows: &[u32], shuffle: bool, seed: u64, epoch: usize) {
    perm.copy_from_slice(rows);
    if shuffle {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(epoch as u64);
        perm.shuffle(&mut rng);
    }
}

/// Train and validation row indices: shuffled with `seed`, each class split in proportion. The
/// split `FitConfig::validation_split` makes, public so that a front end can score the same rows.
pub fn split_indices(data: &Dataset, fraction: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    split_target_indices(&data.y, fraction, seed)
}

/// [`split_indices`] of the rows of targets `y`.
pub(crate) fn split_target_indices(y: &Targets, fraction: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::MAX);
    let groups: Vec<Vec<usize>> = match y {
        Targets::Classes { labels, n_classes } => {
            let mut g = vec![Vec::new(); *n_classes];
            for (i, &l) in labels.iter().enumerate() {
                g[l].push(i);
            }
            g
        }
        Targets::Values(_) => vec![(0..y.len()).collect()],
    };
    let (mut tr, mut va) = (Vec::new(), Vec::new());
    for mut g in groups {
        g.shuffle(&mut rng);
        let k = ((g.len() as f64) * fraction as f64).round() as usize;
        va.extend_from_slice(&g[..k]);
        tr.extend_from_slice(&g[k..]);
    }
    tr.shuffle(&mut rng);
    va.sort_unstable();
    (tr, va)
}

/// Per-row loss weights from sample weights and class weights (their product), if any.
pub(crate) fn combine_weights(
    y: &Targets,
    sample: Option<Vec<f32>>,
    class: Option<&[f32]>,
) -> Result<Option<Vec<f32>>> {
    let Some(cw) = class else { return Ok(sample) };
    let Targets::Classes { labels, n_classes } = y else {
        return Err(Error::config("class weights", "class weights need class targets, not values"));
    };
    if cw.len() != *n_classes {
        return Err(Error::config("class weights", format!("{} weights for {n_classes} classes", cw.len())));
    }
    let mut w = sample.unwrap_or_else(|| vec![1.0; labels.len()]);
    for (wi, &l) in w.iter_mut().zip(labels) {
        *wi *= cw[l];
    }
    Ok(Some(w))
}
