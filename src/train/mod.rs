//! Training: `fit` over epochs and shuffled batches with validation, early stopping, callbacks, checkpoints and resume; and `evaluate`.
//!
//! The loop body is batch → forward → loss → backward → update. It never prints: progress,
//! plots and stopping rules observe [`Event`]s through [`Callback`]s. Shuffles are drawn from
//! `(seed, epoch)`, so a run resumed from a checkpoint continues exactly where it stopped.

mod callbacks;
mod history;

pub use callbacks::{BestTracker, Callback, Control, EarlyStopping, Event, PlateauStopper};
pub use history::{EpochRecord, History, StopReason};

use crate::backend::{Backend, Cpu};
use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::metrics;
use crate::nn::{Model, ModelConfig, Net};
use crate::optim::{LrSchedule, LrScheduler, OptimizerConfig};
use crate::tensor::Matrix;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Everything about a training run except the data. `Default` is Adam, 10 epochs, batch 32.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FitConfig {
    /// The loss minimized.
    pub loss: Loss,
    /// The optimizer and its hyperparameters.
    pub optimizer: OptimizerConfig,
    /// How the learning rate changes over epochs.
    pub schedule: LrSchedule,
    /// Number of epochs.
    pub epochs: usize,
    /// Rows per batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Reshuffle the training rows every epoch.
    pub shuffle: bool,
    /// Seed for shuffles and the validation split.
    pub seed: u64,
    /// Fraction of the training data held out for validation (0: none), shuffled and, for
    /// classes, stratified.
    pub validation_split: f32,
    /// Early stopping (and restoring the best weights).
    pub early_stopping: Option<EarlyStopping>,
    /// A weight per class, multiplying each row's loss (Keras's `class_weight`).
    pub class_weights: Option<Vec<f32>>,
    /// Rescale the gradients so that their global L2 norm is at most this.
    pub clip_norm: Option<f32>,
    /// CPU threads (0: one per core).
    pub threads: usize,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            loss: Loss::Mse,
            optimizer: OptimizerConfig::default(),
            schedule: LrSchedule::Constant,
            epochs: 10,
            batch_size: 32,
            shuffle: true,
            seed: 0,
            validation_split: 0.0,
            early_stopping: None,
            class_weights: None,
            clip_norm: None,
            threads: 0,
        }
    }
}

impl FitConfig {
    /// Checks every setting, naming the first that is out of range.
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        self.schedule.validate()?;
        if self.epochs == 0 {
            return Err(Error::config("epochs (--epochs)", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch size (--batch-size)", "must be at least 1"));
        }
        if self.validation_split != 0.0 && !(self.validation_split > 0.0 && self.validation_split < 1.0) {
            return Err(Error::config(
                "validation split (--validation-split)",
                format!("must be in (0, 1), got {}", self.validation_split),
            ));
        }
        if let Some(c) = self.clip_norm
            && !(c > 0.0 && c.is_finite())
        {
            return Err(Error::config("clip norm (--clip-norm)", format!("must be > 0, got {c}")));
        }
        if let Some(w) = &self.class_weights
            && w.iter().any(|v| !(*v >= 0.0 && v.is_finite()))
        {
            return Err(Error::config("class weights", "every weight must be a finite number ≥ 0"));
        }
        Ok(())
    }
}

/// The dense target matrix the loss compares with: one-hot rows for classes (a 0/1 column for
/// a single sigmoid unit), the values themselves otherwise.
pub fn target_matrix(y: &Targets, out_dim: usize) -> Result<Matrix> {
    match y {
        Targets::Classes { labels, n_classes } => {
            if out_dim == 1 {
                if *n_classes > 2 {
                    return Err(Error::Data(format!(
                        "the data has {n_classes} classes but the output layer has 1 unit; use {n_classes}:softmax with categorical cross-entropy"
                    )));
                }
                return Ok(Matrix::new(labels.len(), 1, labels.iter().map(|&l| l as f32).collect()));
            }
            if *n_classes > out_dim {
                return Err(Error::Data(format!(
                    "the data has {n_classes} classes but the output layer has {out_dim} units; make the last layer {n_classes}:softmax"
                )));
            }
            let mut t = Matrix::zeros(labels.len(), out_dim);
            for (r, &l) in labels.iter().enumerate() {
                t.data[r * out_dim + l] = 1.0;
            }
            Ok(t)
        }
        Targets::Values(m) => {
            if m.cols != out_dim {
                return Err(Error::Data(format!(
                    "the targets have {} columns but the output layer has {out_dim} units",
                    m.cols
                )));
            }
            Ok(m.clone())
        }
    }
}

/// The loop's position and running figures: with the weights and optimizer state, all a
/// checkpoint needs to continue bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct LoopState {
    /// The epoch in progress or next (1-based).
    pub epoch: usize,
    /// Batches of that epoch already trained on.
    pub batch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// The learning rate in force.
    pub lr: f32,
    /// Running sums of the epoch in progress: loss, correct predictions, absolute error, rows.
    pub sums: [f64; 4],
    /// Seconds spent in the epoch so far.
    pub seconds: f64,
    /// Records of finished epochs.
    pub history: History,
    /// Early stopping's state.
    pub tracker: Option<BestTracker>,
    /// Reduce-on-plateau's state: best loss and epochs waited.
    pub plateau: (f64, usize),
}

/// A resumable snapshot of training, taken between batches.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The current weights.
    pub model: Model,
    /// The optimizer's state buffers, per parameter tensor in [`Net`]'s order.
    pub optimizer_state: Vec<Vec<Vec<f32>>>,
    /// The weights of the best epoch so far, when early stopping restores them.
    pub best: Option<Model>,
    /// Where the loop is.
    pub state: LoopState,
}

/// Where checkpoints go: typically a closure writing them to a file.
pub type CheckpointSink<'a> = dyn FnMut(&Checkpoint) -> Result<()> + Send + 'a;

/// A training run's inputs beyond the configuration: validation data, weights, callbacks,
/// interruption and checkpoints.
pub struct Trainer<'a> {
    cfg: &'a FitConfig,
    valid: Option<&'a Dataset>,
    sample_weights: Option<&'a [f32]>,
    callbacks: Vec<&'a mut (dyn Callback + Send)>,
    interrupt: Option<&'a AtomicBool>,
    checkpoint_every: usize,
    on_checkpoint: Option<&'a mut CheckpointSink<'a>>,
    resume: Option<Checkpoint>,
}

impl<'a> Trainer<'a> {
    /// A run with `cfg`.
    pub fn new(cfg: &'a FitConfig) -> Self {
        Self {
            cfg,
            valid: None,
            sample_weights: None,
            callbacks: Vec::new(),
            interrupt: None,
            checkpoint_every: 0,
            on_checkpoint: None,
            resume: None,
        }
    }

    /// Validates on `valid` instead of splitting the training data.
    pub fn valid(mut self, valid: &'a Dataset) -> Self {
        self.valid = Some(valid);
        self
    }

    /// A weight per training row, multiplying its loss.
    pub fn sample_weights(mut self, w: &'a [f32]) -> Self {
        self.sample_weights = Some(w);
        self
    }

    /// Adds a callback.
    pub fn callback(mut self, cb: &'a mut (dyn Callback + Send)) -> Self {
        self.callbacks.push(cb);
        self
    }

    /// Stops at the end of the current batch once `flag` is set (and checkpoints, if asked to).
    pub fn interrupt(mut self, flag: &'a AtomicBool) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// Calls `sink` with a checkpoint every `every` epochs (0: never) and when interrupted.
    pub fn checkpoints(mut self, every: usize, sink: &'a mut CheckpointSink<'a>) -> Self {
        self.checkpoint_every = every;
        self.on_checkpoint = Some(sink);
        self
    }

    /// Continues from `checkpoint` instead of starting afresh.
    pub fn resume(mut self, checkpoint: Checkpoint) -> Self {
        self.resume = Some(checkpoint);
        self
    }

    /// Trains `model` on `train` on the CPU with `cfg.threads` threads.
    pub fn fit(self, model: &mut Model, train: &Dataset) -> Result<History> {
        let be = Cpu::<f32>::new(self.cfg.threads)?;
        self.fit_on(&be, model, train)
    }

    /// Trains `model` on `train` on `backend`; `model` ends with the trained (or best) weights.
    ///
    /// On a NaN or infinite loss, `model` gets the last finite weights and the error says where.
    pub fn fit_on<B: Backend>(self, backend: &B, model: &mut Model, train: &Dataset) -> Result<History> {
        backend.clone().install(move || self.run(backend, model, train))
    }

    fn run<B: Backend>(mut self, be: &B, model: &mut Model, train: &Dataset) -> Result<History> {
        let cfg = self.cfg;
        cfg.validate()?;
        model.check()?;
        let out_dim = model.config.output_dim();
        cfg.loss.check_output(model.config.output_activation(), out_dim)?;
        if train.x.cols != model.config.input_dim {
            return Err(Error::Data(format!(
                "the training data has {} features but the model expects {}",
                train.x.cols, model.config.input_dim
            )));
        }
        if train.is_empty() {
            return Err(Error::Data("the training data has no rows".into()));
        }

        // The features go to the device once; the validation split is a list of row indices into
        // them, so that no copy of the data is made on the host.
        if let Some(w) = self.sample_weights
            && w.len() != train.len()
        {
            return Err(Error::Data(format!("{} sample weights for {} rows", w.len(), train.len())));
        }
        let (train_idx, valid_idx): (Vec<u32>, Vec<u32>) = match (self.valid, cfg.validation_split > 0.0) {
            (None, true) => {
                let (t, v) = split_indices(train, cfg.validation_split, cfg.seed);
                (t.into_iter().map(|i| i as u32).collect(), v.into_iter().map(|i| i as u32).collect())
            }
            _ => ((0..train.len() as u32).collect(), Vec::new()),
        };
        if train_idx.is_empty() {
            return Err(Error::Data("no training rows are left after the validation split".into()));
        }
        let row_weights =
            combine_weights(&train.y, self.sample_weights.map(<[f32]>::to_vec), cfg.class_weights.as_deref())?;

        let n = train_idx.len();
        let bs = cfg.batch_size.min(n);
        let batches = n.div_ceil(bs);
        let t_host = target_matrix(&train.y, out_dim)?;
        let x_dev = be.upload(&train.x.data);
        let t_dev = be.upload(&t_host.data);
        let w_dev = row_weights.as_ref().map(|w| be.upload(w));
        let mut t_batch = be.zeros(bs * out_dim);
        let mut w_batch = row_weights.as_ref().map(|_| be.zeros(bs));
        let mut valid_dev = match self.valid {
            Some(v) if !v.is_empty() => Some(EvalData::upload(be, v, out_dim)?),
            Some(_) => None,
            None if valid_idx.is_empty() => None,
            None => Some(EvalData::shared(&train.y, &t_host, valid_idx)),
        };

        let mut net = Net::new(be, model, bs.max(valid_dev.as_ref().map_or(0, |_| bs)));
        net.init_optimizer(&cfg.optimizer);
        let mut opt = cfg.optimizer.clone();
        let mut st = LoopState { epoch: 1, lr: opt.lr(), plateau: (f64::INFINITY, 0), ..Default::default() };
        st.tracker = cfg.early_stopping.as_ref().map(|es| BestTracker::new(&monitor_name(es, valid_dev.is_some())));
        let restore = cfg.early_stopping.as_ref().is_some_and(|es| es.restore_best_weights);
        let mut best = restore.then(|| net.snapshot());
        if let Some(ck) = self.resume.take() {
            if ck.model.config != model.config {
                return Err(Error::Data("the checkpoint was made for a different architecture".into()));
            }
            net.load_weights(&ck.model);
            for (p, host) in net.params_mut().zip(&ck.optimizer_state) {
                if p.state.len() != host.len() || host.iter().any(|h| h.len() != p.len) {
                    return Err(Error::Data("the checkpoint's optimizer state does not match --optimizer".into()));
                }
                for (s, h) in p.state.iter_mut().zip(host) {
                    be.write(h, s);
                }
            }
            if let (Some(b), Some(bm)) = (best.as_mut(), ck.best.as_ref()) {
                let tmp = Net::new(be, bm, 1);
                tmp.save_to(b);
                drop(tmp);
            }
            st = ck.state;
            net.set_steps(st.step);
            opt.set_lr(st.lr);
        }
        let mut sched = LrScheduler::new(cfg.schedule.clone(), cfg.optimizer.lr());
        sched.set_plateau_state(st.plateau);
        let mut epoch_start = net.snapshot();

        let labels: Option<&[usize]> = match &train.y {
            Targets::Classes { labels, .. } => Some(labels),
            Targets::Values(_) => None,
        };
        let mut out_host = vec![0.0f32; bs * out_dim];
        let mut perm: Vec<u32> = train_idx.clone();

        emit(
            &mut self.callbacks,
            &Event::TrainBegin {
                epochs: cfg.epochs,
                first_epoch: st.epoch,
                batches,
                samples: n,
                valid_samples: valid_dev.as_ref().map_or(0, |v| v.idx.len()),
            },
        );
        let mut stop: Option<StopReason> = None;
        while st.epoch <= cfg.epochs && stop.is_none() {
            let epoch = st.epoch;
            let started = Instant::now();
            epoch_permutation(&mut perm, &train_idx, cfg.shuffle, cfg.seed, epoch);
            if st.batch == 0 {
                net.save_to(&mut epoch_start);
                if emit(&mut self.callbacks, &Event::EpochBegin { epoch }).is_some() {
                    stop = Some(StopReason::Callback { name: "callback".into(), epoch });
                    break;
                }
            }
            while st.batch < batches {
                let b = st.batch;
                let idx = &perm[b * bs..((b + 1) * bs).min(n)];
                let rows = idx.len();
                be.gather_rows(&x_dev, train.x.cols, idx, net.input_mut());
                be.gather_rows(&t_dev, out_dim, idx, &mut t_batch);
                if let (Some(wd), Some(wb)) = (&w_dev, w_batch.as_mut()) {
                    be.gather_rows(wd, 1, idx, wb);
                }
                net.forward(rows);
                let loss_sum = net.loss(cfg.loss, rows, &t_batch, w_batch.as_ref(), Some(1.0 / rows as f64));
                if !loss_sum.is_finite() {
                    if !net.params_finite() {
                        net.restore_from(&epoch_start);
                    }
                    *model = net.to_model();
                    return Err(Error::NonFinite { epoch, batch: b + 1, value: format!("{loss_sum}") });
                }
                net.backward(rows);
                if let Some(max) = cfg.clip_norm {
                    let norm = net.grad_norm();
                    if norm > max as f64 {
                        net.scale_grads((max as f64 / norm) as f32);
                    }
                }
                let penalty = net.step(&opt);
                st.step = net.steps();

                // Running figures: the loss is the batch mean plus the penalty, as Keras reports it.
                be.read(net.output(), &mut out_host[..rows * out_dim]);
                st.sums[0] += (loss_sum / rows as f64 + penalty) * rows as f64;
                st.sums[3] += rows as f64;
                match labels {
                    Some(l) => st.sums[1] += correct(&out_host[..rows * out_dim], out_dim, idx, l) as f64,
                    None => {
                        for (r, &i) in idx.iter().enumerate() {
                            let (p, t) = (&out_host[r * out_dim..(r + 1) * out_dim], t_host.row(i as usize));
                            st.sums[2] +=
                                p.iter().zip(t).map(|(a, b)| (a - b).abs() as f64).sum::<f64>() / out_dim as f64;
                        }
                    }
                }
                st.batch += 1;
                let event = Event::BatchEnd {
                    epoch,
                    batch: st.batch,
                    batches,
                    loss: st.sums[0] / st.sums[3],
                    accuracy: labels.map(|_| st.sums[1] / st.sums[3]),
                };
                if let Some(name) = emit(&mut self.callbacks, &event) {
                    stop = Some(StopReason::Callback { name, epoch });
                }
                if self.interrupt.is_some_and(|f| f.load(Ordering::SeqCst)) {
                    stop = Some(StopReason::Interrupted { epoch, batch: st.batch });
                }
                if stop.is_some() && st.batch < batches {
                    break;
                }
            }
            st.seconds += started.elapsed().as_secs_f64();
            // A step can overflow the weights while the loss, computed before it, was finite; catch
            // that here, once per epoch, before a checkpoint, a callback or the caller sees them.
            // This also keeps every epoch-start snapshot finite.
            if !net.params_finite() {
                net.restore_from(&epoch_start);
                *model = net.to_model();
                return Err(Error::NonFinite {
                    epoch,
                    batch: st.batch,
                    value: "finite but the weights overflowed".into(),
                });
            }
            if st.batch < batches {
                // Interrupted mid-epoch: the checkpoint continues from this batch.
                st.plateau = sched.plateau_state();
                self.checkpoint(&net, best.as_deref(), &st)?;
                break;
            }

            let mut metrics = BTreeMap::new();
            metrics.insert("loss".to_string(), st.sums[0] / st.sums[3]);
            match labels {
                Some(_) => metrics.insert("accuracy".to_string(), st.sums[1] / st.sums[3]),
                None => metrics.insert("mae".to_string(), st.sums[2] / st.sums[3]),
            };
            if let Some(v) = valid_dev.as_mut() {
                let e = v.evaluate(&mut net, cfg.loss, &x_dev, &t_dev);
                for (k, val) in e {
                    metrics.insert(format!("val_{k}"), val);
                }
            }
            let vstart = Instant::now();
            let record = EpochRecord {
                epoch,
                lr: opt.lr() as f64,
                seconds: st.seconds + vstart.elapsed().as_secs_f64(),
                metrics,
            };
            if let Some(tr) = st.tracker.as_mut() {
                let es = cfg.early_stopping.as_ref().expect("tracker implies early stopping");
                if tr.update(&record, es.min_delta)
                    && let Some(b) = best.as_mut()
                {
                    net.save_to(b);
                }
                if tr.wait >= es.patience && stop.is_none() {
                    stop = Some(StopReason::EarlyStopping { epoch });
                }
            }
            let monitored = record.get("val_loss").or(record.get("loss")).unwrap_or(f64::NAN);
            st.history.epochs.push(record);
            let rec = st.history.epochs.last().expect("just pushed");
            if let Some(name) = emit(&mut self.callbacks, &Event::EpochEnd { record: rec })
                && stop.is_none()
            {
                stop = Some(StopReason::Callback { name, epoch });
            }
            if self.callbacks.iter().any(|cb| cb.wants_weights(epoch)) {
                let current = net.to_model();
                for cb in self.callbacks.iter_mut().filter(|cb| cb.wants_weights(epoch)) {
                    cb.on_weights(epoch, &current);
                }
            }
            opt.set_lr(sched.next_lr(epoch, monitored));
            st.lr = opt.lr();
            st.plateau = sched.plateau_state();
            st.epoch += 1;
            st.batch = 0;
            st.sums = [0.0; 4];
            st.seconds = 0.0;
            let due = self.checkpoint_every > 0 && epoch.is_multiple_of(self.checkpoint_every);
            if due || matches!(stop, Some(StopReason::Interrupted { .. })) {
                self.checkpoint(&net, best.as_deref(), &st)?;
            }
        }
        st.history.stop = stop.unwrap_or_default();
        if let (Some(b), Some(tr)) = (best.as_ref(), st.tracker.as_ref())
            && tr.best.is_some()
            && tr.best_epoch != st.history.last().map_or(0, |r| r.epoch)
        {
            net.restore_from(b);
            st.history.restored_epoch = Some(tr.best_epoch);
        }
        *model = net.to_model();
        emit(&mut self.callbacks, &Event::TrainEnd { history: &st.history });
        Ok(st.history)
    }

    fn checkpoint<B: Backend>(&mut self, net: &Net<B>, best: Option<&[B::Buf]>, st: &LoopState) -> Result<()> {
        let Some(sink) = self.on_checkpoint.as_mut() else { return Ok(()) };
        let be = net.backend();
        let read = |b: &B::Buf, len: usize| {
            let mut v = vec![0.0f32; len];
            be.read(b, &mut v);
            v
        };
        let optimizer_state = net.params().map(|p| p.state.iter().map(|s| read(s, p.len)).collect()).collect();
        let best = best.map(|bufs| {
            let mut m = net.to_model();
            let tensors = m.params.iter_mut().flat_map(|lp| lp.tensors.iter_mut());
            for ((t, b), p) in tensors.zip(bufs).zip(net.params()) {
                t.data = read(b, p.len);
            }
            m
        });
        sink(&Checkpoint { model: net.to_model(), optimizer_state, best, state: st.clone() })
    }
}

/// Calls every callback; returns the name of the first that asked to stop.
fn emit(callbacks: &mut [&mut (dyn Callback + Send)], event: &Event<'_>) -> Option<String> {
    let mut stop = None;
    for cb in callbacks.iter_mut() {
        if cb.on_event(event) == Control::Stop && stop.is_none() {
            stop = Some(cb.name().to_string());
        }
    }
    stop
}

fn monitor_name(es: &EarlyStopping, has_valid: bool) -> String {
    // Without validation data, "val_loss" falls back to "loss" (and so on) rather than never improving.
    match es.monitor.strip_prefix("val_") {
        Some(base) if !has_valid => base.to_string(),
        _ => es.monitor.clone(),
    }
}

/// How many rows of a batch's outputs predict their label.
fn correct(out: &[f32], cols: usize, idx: &[u32], labels: &[usize]) -> usize {
    out.chunks_exact(cols).zip(idx).filter(|(row, i)| metrics::predicted_class(row) == labels[**i as usize]).count()
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

/// Train and validation row indices: shuffled with `seed`, each class split in proportion.
fn split_indices(data: &Dataset, fraction: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::MAX);
    let groups: Vec<Vec<usize>> = match &data.y {
        Targets::Classes { labels, n_classes } => {
            let mut g = vec![Vec::new(); *n_classes];
            for (i, &l) in labels.iter().enumerate() {
                g[l].push(i);
            }
            g
        }
        Targets::Values(_) => vec![(0..data.len()).collect()],
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
fn combine_weights(y: &Targets, sample: Option<Vec<f32>>, class: Option<&[f32]>) -> Result<Option<Vec<f32>>> {
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

/// Validation or test rows, evaluated in batches with the training net's buffers: either data of
/// its own on the device, or row indices into the training upload (a validation split).
struct EvalData<B: Backend> {
    /// Own features and targets, when not a split of the training data.
    own: Option<(B::Buf, B::Buf)>,
    /// Host targets and labels, indexed by row like the device data.
    t_host: Matrix,
    labels: Option<Vec<usize>>,
    /// The rows evaluated.
    idx: Vec<u32>,
    /// Allocated at the first evaluation, for the net's batch size.
    t_batch: Option<B::Buf>,
    out: Vec<f32>,
}

impl<B: Backend> EvalData<B> {
    fn upload(be: &B, d: &Dataset, out_dim: usize) -> Result<Self> {
        let t_host = target_matrix(&d.y, out_dim)?;
        let own = Some((be.upload(&d.x.data), be.upload(&t_host.data)));
        Ok(Self { own, ..Self::shared(&d.y, &t_host, (0..d.len() as u32).collect()) })
    }

    fn shared(y: &Targets, t_host: &Matrix, idx: Vec<u32>) -> Self {
        let labels = match y {
            Targets::Classes { labels, .. } => Some(labels.clone()),
            Targets::Values(_) => None,
        };
        // Validation on classes needs only the labels; values need the targets for the error.
        let t_host = if labels.is_some() { Matrix::default() } else { t_host.clone() };
        Self { own: None, t_host, labels, idx, t_batch: None, out: Vec::new() }
    }
    /// `loss` (with the weight penalty) and `accuracy` or `mae` over all rows; `x` and `t` are the
    /// training upload, used when the rows are a split of it.
    fn evaluate(&mut self, net: &mut Net<B>, loss: Loss, x: &B::Buf, t: &B::Buf) -> Vec<(String, f64)> {
        let be = net.backend().clone();
        let bs = net.max_rows();
        let cols = net.config().input_dim;
        let out_dim = net.config().output_dim();
        if self.out.len() < bs * out_dim || self.t_batch.is_none() {
            self.out = vec![0.0; bs * out_dim];
            self.t_batch = Some(be.zeros(bs * out_dim));
        }
        let t_batch = self.t_batch.as_mut().expect("allocated above");
        let (x, t) = self.own.as_ref().map_or((x, t), |(x, t)| (x, t));
        let (mut loss_sum, mut hits, mut abs) = (0.0, 0usize, 0.0);
        for idx in self.idx.chunks(bs) {
            let rows = idx.len();
            be.gather_rows(x, cols, idx, net.input_mut());
            be.gather_rows(t, out_dim, idx, t_batch);
            net.forward(rows);
            loss_sum += net.loss(loss, rows, t_batch, None, None);
            be.read(net.output(), &mut self.out[..rows * out_dim]);
            match &self.labels {
                Some(l) => hits += correct(&self.out[..rows * out_dim], out_dim, idx, l),
                None => {
                    for (r, &i) in idx.iter().enumerate() {
                        let p = &self.out[r * out_dim..(r + 1) * out_dim];
                        abs +=
                            p.iter().zip(self.t_host.row(i as usize)).map(|(a, b)| (a - b).abs() as f64).sum::<f64>()
                                / out_dim as f64;
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

/// What a training run will hold in memory beyond the caller's dataset, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// The training features and targets as uploaded to the backend.
    pub data: u64,
    /// Weights, gradients, optimizer state and the best-weights snapshot.
    pub params: u64,
    /// Activation buffers for one batch.
    pub activations: u64,
}

impl MemoryEstimate {
    /// For `rows × features` training data on `model` with `cfg`.
    pub fn new(model: &ModelConfig, rows: usize, cfg: &FitConfig) -> Self {
        let f = std::mem::size_of::<f32>() as u64;
        let out = model.output_dim() as u64;
        let data = rows as u64 * (model.input_dim as u64 + out + 1) * f;
        // value + gradient + optimizer state + epoch-start snapshot (+ best weights).
        let copies = 3 + cfg.optimizer.state_init().len() as u64 + u64::from(cfg.early_stopping.is_some());
        let params = model.param_count() as u64 * copies * f;
        let bs = cfg.batch_size.min(rows.max(1)) as u64;
        let widths: u64 = model.layers.iter().map(|l| 2 * (l.pre_width() + l.units) as u64).sum();
        let activations = bs * (model.input_dim as u64 + widths + out) * f;
        Self { data, params, activations }
    }

    /// The total.
    pub fn total(&self) -> u64 {
        self.data + self.params + self.activations
    }

    /// Refuses a run that would not fit in `available` bytes, with a message saying what to do.
    pub fn check(&self, available: u64) -> Result<()> {
        if self.total() > available {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            return Err(Error::Data(format!(
                "training needs about {:.0} MiB ({:.0} MiB data, {:.0} MiB parameters and optimizer state, {:.0} MiB activations) \
                 but only {:.0} MiB is available; use fewer rows, a smaller model or a smaller --batch-size",
                mib(self.total()),
                mib(self.data),
                mib(self.params),
                mib(self.activations),
                mib(available)
            )));
        }
        Ok(())
    }
}

/// Memory the system can give without swapping (`MemAvailable` of /proc/meminfo), when known.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A model loaded once for repeated predictions: the backend, weights and buffers stay allocated,
/// so a call does no allocation beyond its output.
pub struct Predictor {
    net: Net<Cpu<f32>>,
}

impl Predictor {
    /// Prepares `model` for batches of up to `max_rows` rows on `threads` CPU threads (0: all cores;
    /// 1 suits single-row latency).
    pub fn new(model: &Model, max_rows: usize, threads: usize) -> Result<Self> {
        model.check()?;
        let be = Cpu::<f32>::shared(threads)?;
        Ok(Self { net: Net::new(&be, model, max_rows) })
    }

    /// Outputs for every row of `x`.
    pub fn predict(&mut self, x: &Matrix) -> Result<Matrix> {
        let mut out = Matrix::zeros(x.rows, self.net.config().output_dim());
        self.predict_into(x, &mut out.data)?;
        Ok(out)
    }

    /// Outputs for every row of `x` into `out` (`x.rows × outputs` values).
    pub fn predict_into(&mut self, x: &Matrix, out: &mut [f32]) -> Result<()> {
        let (input, output) = (self.net.config().input_dim, self.net.config().output_dim());
        if x.cols != input {
            return Err(Error::Data(format!("the input has {} features but the model expects {input}", x.cols)));
        }
        assert_eq!(out.len(), x.rows * output, "predict_into: output buffer of the wrong size");
        let be = self.net.backend().clone();
        let bs = self.net.max_rows();
        be.clone().install(|| {
            for (start, xs) in (0..x.rows).step_by(bs).zip(x.data.chunks(bs * input)) {
                let rows = xs.len() / input;
                be.write(xs, self.net.input_mut());
                self.net.forward(rows);
                be.read(self.net.output(), &mut out[start * output..(start + rows) * output]);
            }
        });
        Ok(())
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
    let t = target_matrix(&data.y, out_dim)?;
    let p = net.predict(&data.x);
    let mut ev = EvalData::upload(be, data, out_dim)?;
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

impl Model {
    /// Trains on the CPU with `cfg` (see [`Trainer`] for validation data, callbacks and more).
    pub fn fit(&mut self, train: &Dataset, cfg: &FitConfig) -> Result<History> {
        Trainer::new(cfg).fit(self, train)
    }

    /// Outputs for every row of `x`: probabilities for softmax/sigmoid outputs, values otherwise.
    ///
    /// Allocates a network for the call; to predict many times, keep a [`Predictor`].
    pub fn predict(&self, x: &Matrix) -> Result<Matrix> {
        let mut p = Predictor::new(self, x.rows.clamp(1, 1024), 0)?;
        p.predict(x)
    }

    /// The predicted class of each row: argmax, or `p ≥ 0.5` for one sigmoid unit.
    pub fn predict_classes(&self, x: &Matrix) -> Result<Vec<usize>> {
        Ok(metrics::predicted_classes(&self.predict(x)?))
    }

    /// Scores on `data` (see [`evaluate`]).
    pub fn evaluate(&self, data: &Dataset, loss: Loss) -> Result<Evaluation> {
        evaluate(self, data, loss, 0)
    }
}
