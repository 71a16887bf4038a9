//! A training run you can hold: an owned [`Session`] that trains batch by batch and epoch by epoch, for front ends that keep it as an object (Python, the browser) and for the [`super::Trainer`] that drives it to the end.

use super::callbacks::{Callback, Control, Event};
use super::clock::{Clock, default_clock};
use super::dead::DeadUnits;
use super::eval::EvalData;
use super::history::{EpochRecord, History, StopReason};
use super::params::{BatchInfo, GradientHook, ParamView};
use super::policy::{CheckpointSchedule, EarlyStopper};
use super::rows::{RunningSums, TrainRows, combine_weights, split_target_indices, tally_shards};
use super::shards::{ShardExchange, Sharding};
use super::{Checkpoint, CheckpointSink, FitConfig, LoopState, target_matrix};
use crate::backend::{Backend, Cpu};
use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::loss::CustomLoss;
use crate::math::lbfgs::{Lbfgs, LbfgsConfig};
use crate::nn::{Model, Net};
use crate::optim::{LrScheduler, OptimizerConfig};
use crate::tensor::Matrix;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Training features that their owner shares with a session instead of lending them: the
/// owner keeps them alive and unchanged for as long as a session holds them. A backend that
/// computes in host memory ([`Backend::gathers_host_rows`]) reads them in place, batch by batch;
/// any other uploads them once, as it does borrowed rows.
pub trait SharedRows: Send + Sync {
    /// The rows, row-major, one after the other.
    fn values(&self) -> &[f32];
}

impl SharedRows for Vec<f32> {
    fn values(&self) -> &[f32] {
        self
    }
}

/// Where a session's training features come from.
#[derive(Clone)]
pub(crate) enum Features<'d> {
    /// Lent while [`Session::prepare`] uploads them.
    Lent(&'d Matrix),
    /// Shared for the session's life, `cols` values per row.
    Shared(Arc<dyn SharedRows>, usize),
}

impl Features<'_> {
    pub(crate) fn cols(&self) -> usize {
        match self {
            Features::Lent(m) => m.cols,
            Features::Shared(_, cols) => *cols,
        }
    }
}

impl std::fmt::Debug for Features<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Features::Lent(m) => write!(f, "Lent({}×{})", m.rows, m.cols),
            Features::Shared(x, cols) => write!(f, "Shared({}×{cols})", x.values().len() / cols.max(&1)),
        }
    }
}

/// What a session trains on: features lent while [`Session::prepare`] uploads them, or shared
/// with it ([`TrainingData::shared`]); targets, validation rows and row weights, lent.
#[derive(Clone, Debug)]
pub struct TrainingData<'d> {
    x: Features<'d>,
    y: &'d Targets,
    /// Validation rows of their own (instead of `FitConfig::validation_split`): features lent
    /// ([`TrainingData::valid`]) or shared ([`TrainingData::valid_shared`]), and their targets.
    valid: Option<(Features<'d>, &'d Targets)>,
    /// A weight per training row, multiplying its loss.
    pub sample_weights: Option<&'d [f32]>,
}

/// Checks that `x` holds one row of `cols` values per row of `y`.
fn check_shared(x: &dyn SharedRows, cols: usize, y: &Targets, what: &str) -> Result<()> {
    let len = x.values().len();
    if cols == 0 || !len.is_multiple_of(cols) || len / cols != y.len() {
        return Err(Error::Data(format!(
            "{len} {what} feature values do not make {} rows of {cols} (one per target)",
            y.len()
        )));
    }
    Ok(())
}

impl<'d> TrainingData<'d> {
    /// Trains on `train`, validating on a split of it when the configuration asks for one.
    pub fn new(train: &'d Dataset) -> Self {
        Self { x: Features::Lent(&train.x), y: &train.y, valid: None, sample_weights: None }
    }

    /// Trains on features `x` (`cols` per row) shared with the session, and targets `y`: no copy
    /// of `x` is made where the backend reads host memory (the CPU). An error when `x` does not
    /// hold one row of `cols` values per target row.
    pub fn shared(x: Arc<dyn SharedRows>, cols: usize, y: &'d Targets) -> Result<Self> {
        check_shared(&*x, cols, y, "training")?;
        Ok(Self { x: Features::Shared(x, cols), y, valid: None, sample_weights: None })
    }

    /// Validates on `valid` instead.
    pub fn valid(self, valid: &'d Dataset) -> Self {
        Self { valid: Some((Features::Lent(&valid.x), &valid.y)), ..self }
    }

    /// Validates on features `x` (`cols` per row) shared with the session, and targets `y`,
    /// read in place as [`TrainingData::shared`] reads training rows. An error when `x` does not
    /// hold one row of `cols` values per target row.
    pub fn valid_shared(self, x: Arc<dyn SharedRows>, cols: usize, y: &'d Targets) -> Result<Self> {
        check_shared(&*x, cols, y, "validation")?;
        Ok(Self { valid: Some((Features::Shared(x, cols), y)), ..self })
    }

    /// Weighs each training row's loss.
    pub fn sample_weights(self, w: &'d [f32]) -> Self {
        Self { sample_weights: Some(w), ..self }
    }

    /// The training rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no training rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Features per row.
    pub fn cols(&self) -> usize {
        self.x.cols()
    }

    /// The training targets.
    pub fn targets(&self) -> &'d Targets {
        self.y
    }
}

/// What a session does on its next call (see [`Session::next`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// [`Session::train_batch`]: batches of this epoch are left.
    Batch,
    /// [`Session::end_epoch`]: every batch of this epoch was trained on.
    EndEpoch,
    /// [`Session::finish`]: all epochs ran, something stopped training, or a batch failed.
    Finish,
}

/// One trained batch, as [`Session::train_batch`] reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based batch number within the epoch.
    pub batch: usize,
    /// Batches in the epoch.
    pub batches: usize,
    /// Rows in this batch.
    pub rows: usize,
    /// Mean training loss over the epoch's batches so far (with the weight penalty).
    pub loss: f64,
    /// Training accuracy over the epoch so far (classification only).
    pub accuracy: Option<f64>,
}

/// What a [`super::Trainer`] lends a session for one call: its borrowed callbacks (called after
/// the session's own), interrupt flag and checkpoint sink.
#[derive(Default)]
pub(crate) struct Lent<'a, 'b> {
    pub(crate) callbacks: &'b mut [&'a mut (dyn Callback + Send)],
    pub(crate) interrupt: Option<&'a AtomicBool>,
    pub(crate) sink: Option<&'b mut CheckpointSink<'a>>,
}

/// An owned training run: the configuration, the data on the device, the network with its
/// optimizer state, the learning-rate schedule, the stopping policies and the callbacks.
///
/// Drive it step by step — [`Session::next`] says which call comes next — or to the end with
/// [`Session::run`]; [`Session::finish`] hands back the trained model and the history. Shuffles
/// are drawn from `(seed, epoch)`, so a session resumed from [`Session::checkpoint`] continues bit
/// for bit.
///
/// ```
/// use mlp::data::synth;
/// use mlp::train::{FitConfig, Next, Session, TrainingData};
/// use mlp::{Loss, ModelConfig, OptimizerConfig};
/// let data = synth::xor();
/// let model = ModelConfig::parse(2, "4:tanh,1:sigmoid").unwrap().init(0).unwrap();
/// let cfg = FitConfig { loss: Loss::BinaryCrossEntropy, optimizer: OptimizerConfig::adam(0.05), epochs: 5, batch_size: 4, threads: 1, ..Default::default() };
/// let mut s = Session::prepare_cpu(&cfg, &model, TrainingData::new(&data)).unwrap();
/// s.set_clock(|| 0.0);
/// loop {
///     match s.next() {
///         Next::Batch => { s.train_batch().unwrap(); }
///         Next::EndEpoch => { s.end_epoch().unwrap(); }
///         Next::Finish => break,
///     }
/// }
/// let (trained, history) = s.finish();
/// assert_eq!(history.epochs.len(), 5);
/// # let _ = trained;
/// ```
pub struct Session<B: Backend = Cpu<f32>> {
    cfg: FitConfig,
    be: B,
    net: Net<B>,
    /// The optimizer with the learning rate in force.
    opt: OptimizerConfig,
    sched: LrScheduler,
    data: TrainRows<B>,
    valid: Option<EvalData<B>>,
    early: Option<EarlyStopper<B>>,
    /// The epoch in progress or next (1-based) and the batches of it already trained on.
    epoch: usize,
    batch: usize,
    sums: RunningSums,
    /// Seconds spent in the epoch so far, and the clock reading its running lap began at.
    seconds: f64,
    lap: Option<f64>,
    history: History,
    /// The weights at the start of the epoch, put back when a step overflows them.
    epoch_start: Vec<B::Buf>,
    stop: Option<StopReason>,
    failed: bool,
    began: bool,
    clock: Box<dyn Clock>,
    callbacks: Vec<Box<dyn Callback + Send>>,
    hook: Option<Box<dyn GradientHook<B>>>,
    interrupt: Option<Arc<AtomicBool>>,
    checkpoints: CheckpointSchedule,
    sink: Option<Box<CheckpointSink<'static>>>,
    /// L-BFGS's whole-model state, from its first step (not part of checkpoints: a resumed run
    /// starts a fresh history).
    lbfgs: Option<Box<LbfgsRun>>,
    /// Sharded gradients, when more than one shard or process computes a batch.
    sharding: Option<Box<Sharding>>,
    /// The dead-unit monitor, when asked for ([`Session::monitor_dead_units`]).
    dead: Option<DeadUnits>,
    /// A user-defined loss trained on instead of `cfg.loss` ([`Session::set_custom_loss`]).
    custom_loss: Option<Arc<dyn CustomLoss>>,
}

/// L-BFGS's state and host staging for the flat trainable parameters and gradients.
struct LbfgsRun {
    opt: Lbfgs,
    values: Vec<f32>,
    grads: Vec<f32>,
    /// Each trainable tensor's `(len, l1, l2)`: the penalties are part of L-BFGS's objective.
    penalties: Vec<(usize, f32, f32)>,
}

/// Calls the session's callbacks, then the lent ones; returns the name of the first that asked to stop.
fn emit(
    own: &mut [Box<dyn Callback + Send>],
    lent: &mut [&mut (dyn Callback + Send)],
    event: &Event<'_>,
) -> Option<String> {
    let mut stop = None;
    let all = own
        .iter_mut()
        .map(|b| &mut **b as &mut dyn Callback)
        .chain(lent.iter_mut().map(|b| &mut **b as &mut dyn Callback));
    for cb in all {
        if cb.on_event(event) == Control::Stop && stop.is_none() {
            stop = Some(cb.name().to_string());
        }
    }
    stop
}

/// The metrics the callbacks add to `epoch`'s record, from the model `weights` builds (only when one asks).
fn callback_metrics(
    own: &mut [Box<dyn Callback + Send>],
    lent: &mut [&mut (dyn Callback + Send)],
    epoch: usize,
    weights: impl FnOnce() -> Model,
    metrics: &mut BTreeMap<String, f64>,
) {
    let mut all: Vec<&mut dyn Callback> = own
        .iter_mut()
        .map(|b| &mut **b as &mut dyn Callback)
        .chain(lent.iter_mut().map(|b| &mut **b as &mut dyn Callback))
        .filter(|cb| cb.wants_metrics(epoch))
        .collect();
    if all.is_empty() {
        return;
    }
    let model = weights();
    for cb in &mut all {
        for (k, v) in cb.epoch_metrics(epoch, &model) {
            metrics.entry(k).or_insert(v);
        }
    }
}

/// Checks that `cfg` is valid and that `model` fits `data`.
fn check_inputs(cfg: &FitConfig, model: &Model, data: &TrainingData<'_>) -> Result<()> {
    cfg.validate()?;
    model.check()?;
    cfg.loss.check_output(model.config.output_activation(), model.config.output_dim())?;
    if data.cols() != model.config.input_dim {
        return Err(Error::Data(format!(
            "the training data has {} features but the model expects {}",
            data.cols(),
            model.config.input_dim
        )));
    }
    if data.is_empty() {
        return Err(Error::Data("the training data has no rows".into()));
    }
    let valid_cols = data.valid.as_ref().map(|(x, _)| x.cols());
    if let Some(cols) = valid_cols
        && cols != model.config.input_dim
    {
        return Err(Error::Data(format!(
            "the validation data has {cols} features but the model expects {}",
            model.config.input_dim
        )));
    }
    if let Some(w) = data.sample_weights
        && w.len() != data.len()
    {
        return Err(Error::Data(format!("{} sample weights for {} rows", w.len(), data.len())));
    }
    Ok(())
}

/// The training and validation rows: a split of the training data when asked for and no
/// validation data of its own is given. The data stays in one upload; these index into it.
fn split_rows(cfg: &FitConfig, data: &TrainingData<'_>) -> Result<(Vec<u32>, Vec<u32>)> {
    let to_u32 = |v: Vec<usize>| v.into_iter().map(|i| i as u32).collect();
    let (train, valid) = match (data.valid.is_some(), cfg.validation_split > 0.0) {
        (false, true) => {
            let (t, v) = split_target_indices(data.targets(), cfg.validation_split, cfg.seed);
            (to_u32(t), to_u32(v))
        }
        _ => ((0..data.len() as u32).collect(), Vec::new()),
    };
    if train.is_empty() {
        return Err(Error::Data("no training rows are left after the validation split".into()));
    }
    Ok((train, valid))
}

impl Session<Cpu<f32>> {
    /// [`Session::prepare`] on the CPU with `cfg.threads` threads (one, in WebAssembly).
    pub fn prepare_cpu(cfg: &FitConfig, model: &Model, data: TrainingData<'_>) -> Result<Self> {
        Self::prepare(&Cpu::new(cfg.threads)?, cfg, model, data)
    }

    /// [`Session::resume`] on the CPU with `cfg.threads` threads.
    pub fn resume_cpu(cfg: &FitConfig, checkpoint: Checkpoint, data: TrainingData<'_>) -> Result<Self> {
        Self::resume(&Cpu::new(cfg.threads)?, cfg, checkpoint, data)
    }
}

impl<B: Backend> Session<B> {
    /// Checks `cfg` and `data` against `model`, uploads the data to `backend` and sets up the
    /// network (starting from `model`'s weights), the optimizer state and the policies.
    pub fn prepare(backend: &B, cfg: &FitConfig, model: &Model, data: TrainingData<'_>) -> Result<Self> {
        check_inputs(cfg, model, &data)?;
        let (train_idx, valid_idx) = split_rows(cfg, &data)?;
        let y = data.targets();
        let row_weights = combine_weights(y, data.sample_weights.map(<[f32]>::to_vec), cfg.class_weights.as_deref())?;
        let out_dim = model.config.output_dim();
        // Full-batch optimizers (Rprop, L-BFGS) step on the gradient of every row at once.
        let bs = if cfg.optimizer.is_full_batch() { train_idx.len() } else { cfg.batch_size.min(train_idx.len()) };
        let t_host = target_matrix(y, out_dim)?;
        let valid = match data.valid {
            Some((x, vy)) if !vy.is_empty() => Some(EvalData::own(backend, x, vy, out_dim)?),
            Some(_) => None,
            None if valid_idx.is_empty() => None,
            None => Some(EvalData::shared(y, &t_host, valid_idx)),
        };
        let rows = TrainRows::upload(backend, data.x, y, t_host, train_idx, row_weights, bs);
        let mut net = Net::new(backend, model, bs);
        net.set_seed(cfg.seed);
        net.init_optimizer(&cfg.optimizer);
        let early = cfg.early_stopping.as_ref().map(|es| EarlyStopper::new(es, valid.is_some(), &net));
        // A fresh scheduler's plateau state is (∞, 0): no best loss yet, no epoch waited.
        let sched = LrScheduler::new(cfg.schedule.clone(), cfg.optimizer.lr());
        Ok(Self {
            cfg: cfg.clone(),
            be: backend.clone(),
            opt: cfg.optimizer.clone(),
            sched,
            data: rows,
            valid,
            early,
            epoch: 1,
            batch: 0,
            sums: RunningSums::default(),
            seconds: 0.0,
            lap: None,
            history: History::default(),
            epoch_start: net.snapshot(),
            net,
            stop: None,
            failed: false,
            began: false,
            clock: default_clock(),
            callbacks: Vec::new(),
            hook: None,
            interrupt: None,
            checkpoints: CheckpointSchedule::default(),
            sink: None,
            lbfgs: None,
            sharding: None,
            dead: None,
            custom_loss: None,
        })
    }

    /// Records, per hidden ReLU, sigmoid or tanh layer and epoch, the fraction of units dead on
    /// every training row of the epoch, as `dead_units_{layer}` in the history (see [`super::dead_units_key`]).
    pub fn monitor_dead_units(&mut self) {
        self.dead = Some(DeadUnits::new(self.net.config(), self.net.max_rows()));
    }

    /// Trains on `loss` instead of the configuration's: the history's `loss` is its mean over the
    /// epoch's rows (validation is still scored with the configuration's loss, which must suit
    /// the output layer). Not for the full-batch L-BFGS, whose objective is the built-in loss.
    pub fn set_custom_loss(&mut self, loss: Arc<dyn CustomLoss>) {
        self.custom_loss = Some(loss);
    }

    /// Like [`Session::prepare`], continuing from `checkpoint` (its weights, optimizer state,
    /// best weights, position and history) exactly where it was taken.
    pub fn resume(backend: &B, cfg: &FitConfig, checkpoint: Checkpoint, data: TrainingData<'_>) -> Result<Self> {
        let mut s = Self::prepare(backend, cfg, &checkpoint.model, data)?;
        s.restore(checkpoint)?;
        Ok(s)
    }

    /// Loads `ck` into a session prepared for the same architecture.
    pub(crate) fn restore(&mut self, ck: Checkpoint) -> Result<()> {
        if ck.model.config != *self.net.config() {
            return Err(Error::Data("the checkpoint was made for a different architecture".into()));
        }
        self.net.load_weights(&ck.model);
        let be = self.be.clone();
        for (p, host) in self.net.params_mut().zip(&ck.optimizer_state) {
            if p.state.len() != host.len() || host.iter().any(|h| h.len() != p.len) {
                return Err(Error::Data("the checkpoint's optimizer state does not match --optimizer".into()));
            }
            for (s, h) in p.state.iter_mut().zip(host) {
                be.write(h, s);
            }
        }
        if let (Some(b), Some(bm)) = (self.early.as_mut().and_then(|e| e.best.as_mut()), ck.best.as_ref()) {
            Net::new(&be, bm, 1).save_to(b);
        }
        let st = ck.state;
        (self.epoch, self.batch, self.seconds) = (st.epoch, st.batch, st.seconds);
        self.sums = RunningSums::from_array(st.sums);
        self.history = st.history;
        if !matches!(self.history.stop, StopReason::Completed | StopReason::Interrupted { .. }) {
            self.stop = Some(self.history.stop.clone());
        }
        if let Some(es) = self.early.as_mut() {
            es.tracker = st.tracker;
        }
        self.sched.set_plateau_state(st.plateau);
        // Reduce-on-plateau continues from the reduced rate, not from the base rate.
        self.sched.set_current(st.lr);
        self.net.set_steps(st.step);
        self.opt.set_lr(st.lr);
        self.net.save_to(&mut self.epoch_start);
        Ok(())
    }

    /// Adds a callback, called (in the order added) for every [`Event`].
    pub fn add_callback(&mut self, callback: Box<dyn Callback + Send>) {
        self.callbacks.push(callback);
    }

    /// Reads epoch times from `clock` instead of the default (see [`default_clock`]).
    pub fn set_clock(&mut self, clock: impl Clock + 'static) {
        self.clock = Box::new(clock);
    }

    /// Runs `hook` on every batch's gradients, after backward and before clipping and the step.
    pub fn set_gradient_hook(&mut self, hook: impl GradientHook<B> + 'static) {
        self.hook = Some(Box::new(hook));
    }

    /// Computes each batch's gradient as the sum, in shard order, of `shards` shards' gradients
    /// (see [`super::shard_rows`] and [`ShardExchange`]), the shards spread over processes by
    /// `exchange` ([`super::LocalShards`] for one process). One shard on one process is the
    /// unsharded path, bit for bit. Set before the first batch; L-BFGS is not sharded.
    pub fn set_sharding(&mut self, shards: usize, exchange: Box<dyn ShardExchange>) -> Result<()> {
        if self.began {
            return Err(Error::config("shards (--shards)", "must be set before training begins"));
        }
        if shards == 1 && exchange.size() == 1 {
            self.sharding = None;
            return Ok(());
        }
        if LbfgsConfig::from_optimizer(&self.opt).is_some() {
            return Err(Error::config("shards (--shards)", "L-BFGS is not sharded; use one shard and one process"));
        }
        let (trainable, frozen) = (self.net.trainable_len(), self.net.frozen_len());
        let sharding = Sharding::new(shards, exchange, self.data.batch_size, trainable, frozen)?;
        self.sharding = Some(Box::new(sharding));
        Ok(())
    }

    /// Stops at the end of the current batch once `flag` is set (see [`StopReason::Interrupted`]).
    pub fn set_interrupt(&mut self, flag: Arc<AtomicBool>) {
        self.interrupt = Some(flag);
    }

    /// Has [`Session::run`] pass a checkpoint to `sink` on `schedule` and whenever training stops
    /// mid-epoch.
    pub fn set_checkpoints(
        &mut self,
        schedule: CheckpointSchedule,
        sink: impl FnMut(&Checkpoint) -> Result<()> + Send + 'static,
    ) {
        self.checkpoints = schedule;
        self.sink = Some(Box::new(sink));
    }

    /// The configuration trained with.
    pub fn config(&self) -> &FitConfig {
        &self.cfg
    }

    /// The epoch in progress or next (1-based).
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Batches of the current epoch already trained on.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Batches per epoch.
    pub fn batches(&self) -> usize {
        self.data.batches()
    }

    /// Training rows per epoch.
    pub fn samples(&self) -> usize {
        self.data.len()
    }

    /// The running sums of the epoch in progress.
    pub fn sums(&self) -> RunningSums {
        self.sums
    }

    /// The learning rate in force.
    pub fn lr(&self) -> f32 {
        self.opt.lr()
    }

    /// The records of the epochs finished so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Why training is stopping, once something asked it to.
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.as_ref()
    }

    /// The current weights, copied off the device.
    pub fn model(&self) -> Model {
        self.net.to_model()
    }

    /// Every parameter and gradient as one flat vector (for whole-model optimizers).
    pub fn params(&mut self) -> ParamView<'_, B> {
        ParamView::new(&mut self.net)
    }

    /// Which call comes next.
    pub fn next(&self) -> Next {
        if self.failed {
            Next::Finish
        } else if self.batch == self.data.batches() {
            Next::EndEpoch
        } else if self.stop.is_some() || self.epoch > self.cfg.epochs {
            Next::Finish
        } else {
            Next::Batch
        }
    }

    /// Whether training stopped between two batches of an epoch (a checkpoint then continues
    /// from the next batch).
    pub fn stopped_mid_epoch(&self) -> bool {
        self.stop.is_some() && self.batch > 0 && self.batch < self.data.batches()
    }

    /// Stops training before the next batch, `reason` replacing any earlier one; an epoch whose
    /// batches all ran still ends ([`Next::EndEpoch`]) before [`Next::Finish`].
    pub fn stop(&mut self, reason: StopReason) -> Result<()> {
        self.stop = Some(reason);
        if self.stopped_mid_epoch() { self.pause() } else { Ok(()) }
    }

    /// Trains on the next batch; `None` when [`Session::next`] is not [`Next::Batch`] or a
    /// callback stopped training as the epoch began.
    ///
    /// On a NaN or infinite loss the weights go back to the last finite ones (see
    /// [`Session::model`]) and the error says where; the session then only finishes.
    pub fn train_batch(&mut self) -> Result<Option<BatchReport>> {
        let be = self.be.clone();
        be.install(|| self.train_batch_lent(&mut Lent::default()))
    }

    /// Ends the epoch whose batches all ran: validation, the record, early stopping, callbacks
    /// and the next learning rate; `None` unless [`Session::next`] is [`Next::EndEpoch`].
    pub fn end_epoch(&mut self) -> Result<Option<EpochRecord>> {
        let be = self.be.clone();
        be.install(|| self.end_epoch_lent(&mut Lent::default()))
    }

    /// Trains until [`Session::next`] is [`Next::Finish`], writing checkpoints as
    /// [`Session::set_checkpoints`] asked.
    pub fn run(&mut self) -> Result<()> {
        let be = self.be.clone();
        be.install(|| self.run_lent(&mut Lent::default()))
    }

    /// A resumable snapshot of the run as it stands (between batches).
    pub fn checkpoint(&self) -> Checkpoint {
        let be = &self.be;
        let read = |b: &B::Buf, len: usize| {
            let mut v = vec![0.0f32; len];
            be.read(b, &mut v);
            v
        };
        let optimizer_state = self.net.params().map(|p| p.state.iter().map(|s| read(s, p.len)).collect()).collect();
        let model = self.net.to_model();
        let best = self.early.as_ref().and_then(|e| e.best.as_deref()).map(|bufs| {
            let mut tmp = Net::new(be, &model, 1);
            tmp.restore_from(bufs);
            tmp.to_model()
        });
        Checkpoint { model, optimizer_state, best, state: self.loop_state() }
    }

    /// The loop's position and running figures, as a checkpoint stores them.
    fn loop_state(&self) -> LoopState {
        let mut history = self.history.clone();
        // A run that has stopped for good (early stopping, a callback) resumes stopped: the last
        // epoch's checkpoint is taken after that decision, and without it a resume would train
        // one epoch more than the run it continues. An interrupt is not kept: resuming is
        // what it is for.
        if let Some(stop) = self.stop.as_ref().filter(|s| !matches!(s, StopReason::Interrupted { .. })) {
            history.stop = stop.clone();
        }
        LoopState {
            epoch: self.epoch,
            batch: self.batch,
            step: self.net.steps(),
            lr: self.opt.lr(),
            sums: self.sums.to_array(),
            seconds: self.seconds,
            history,
            tracker: self.early.as_ref().and_then(|e| e.tracker.clone()),
            plateau: self.sched.plateau_state(),
        }
    }

    /// Ends training: the best weights back when early stopping kept them, then
    /// [`Event::TrainEnd`]; returns the trained model and the history.
    pub fn finish(mut self) -> (Model, History) {
        let be = self.be.clone();
        be.install(|| self.finish_lent(&mut Lent::default()))
    }

    pub(crate) fn finish_lent(&mut self, lent: &mut Lent<'_, '_>) -> (Model, History) {
        self.begin_lent(lent);
        let mut history = std::mem::take(&mut self.history);
        history.stop = self.stop.take().unwrap_or_default();
        if let Some(es) = self.early.as_ref() {
            es.restore_best(&mut self.net, &mut history);
        }
        let model = self.net.to_model();
        emit(&mut self.callbacks, lent.callbacks, &Event::TrainEnd { history: &history });
        (model, history)
    }

    /// The driver [`Session::run`] and the [`super::Trainer`] share.
    pub(crate) fn run_lent(&mut self, lent: &mut Lent<'_, '_>) -> Result<()> {
        self.begin_lent(lent);
        loop {
            match self.next() {
                Next::Batch => {
                    self.train_batch_lent(lent)?;
                }
                Next::EndEpoch => {
                    let epoch = self.epoch;
                    self.end_epoch_lent(lent)?;
                    if self.checkpoints.due_after_epoch(epoch, self.stop.as_ref()) {
                        self.write_checkpoint(lent)?;
                    }
                }
                Next::Finish => {
                    if self.stopped_mid_epoch() {
                        self.write_checkpoint(lent)?;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Sets where checkpoints go when a [`super::Trainer`] drives: its schedule (the sink is lent).
    pub(crate) fn set_schedule(&mut self, schedule: CheckpointSchedule) {
        self.checkpoints = schedule;
    }

    fn write_checkpoint(&mut self, lent: &mut Lent<'_, '_>) -> Result<()> {
        if lent.sink.is_none() && self.sink.is_none() {
            return Ok(());
        }
        let ck = self.checkpoint();
        if let Some(sink) = lent.sink.as_mut() {
            sink(&ck)?;
        }
        if let Some(sink) = self.sink.as_mut() {
            sink(&ck)?;
        }
        Ok(())
    }

    /// [`Event::TrainBegin`], once.
    fn begin_lent(&mut self, lent: &mut Lent<'_, '_>) {
        if std::mem::replace(&mut self.began, true) {
            return;
        }
        let event = Event::TrainBegin {
            epochs: self.cfg.epochs,
            first_epoch: self.epoch,
            batches: self.data.batches(),
            samples: self.data.len(),
            valid_samples: self.valid.as_ref().map_or(0, |v| v.idx.len()),
        };
        emit(&mut self.callbacks, lent.callbacks, &event);
    }

    /// Gather → forward → loss → backward → gradient hook → clip → step, then the running figures
    /// and [`Event::BatchEnd`].
    pub(crate) fn train_batch_lent(&mut self, lent: &mut Lent<'_, '_>) -> Result<Option<BatchReport>> {
        if self.next() != Next::Batch {
            return Ok(None);
        }
        self.begin_lent(lent);
        self.lap.get_or_insert_with(|| self.clock.now());
        if self.batch == 0 && !self.start_epoch(lent) {
            return Ok(None);
        }
        let (epoch, b) = (self.epoch, self.batch);
        self.data.order_for(epoch, self.cfg.shuffle, self.cfg.seed);
        self.net.set_training(true);
        if self.sharding.is_some() {
            return self.sharded_batch(lent, b).map(Some);
        }
        let rows = self.data.gather(&self.be, b, &mut self.net);
        if let Some(lcfg) = LbfgsConfig::from_optimizer(&self.opt) {
            return self.lbfgs_batch(lent, lcfg, b, rows).map(Some);
        }
        self.net.forward(rows);
        if let Some(d) = self.dead.as_mut() {
            d.observe(&self.net, rows);
        }
        let (t, w) = (&self.data.t_batch, self.data.w_batch.as_ref());
        let loss_sum = match &self.custom_loss {
            Some(c) => self.net.custom_loss(&**c, rows, t, w, Some(1.0 / rows as f64)),
            None => self.net.loss(self.cfg.loss, rows, t, w, Some(1.0 / rows as f64)),
        };
        if !loss_sum.is_finite() {
            return Err(self.non_finite(b + 1, format!("{loss_sum}")));
        }
        self.net.backward(rows);
        self.gradient_hook(&BatchInfo { epoch, batch: b + 1, rows, loss_sum })?;
        self.clip_gradients();
        let penalty = self.net.step(&self.opt);
        self.data.tally(&self.be, b, &self.net, loss_sum, penalty, &mut self.sums);
        self.batch += 1;
        self.after_batch(lent, rows).map(Some)
    }

    /// [`Session::train_batch_lent`] with a sharded gradient: the shards' gradients summed in
    /// shard order (over every process), then the hook, clip and step as unsharded.
    fn sharded_batch(&mut self, lent: &mut Lent<'_, '_>, b: usize) -> Result<BatchReport> {
        let rows = self.data.batch_rows(b);
        let sh = self.sharding.as_deref_mut().expect("sharded");
        let summed =
            sh.gradients(&self.be, &mut self.net, &mut self.data, self.cfg.loss, (b, rows), self.dead.as_mut());
        let loss_sum = summed.inspect_err(|_| self.failed = true)?;
        if !loss_sum.is_finite() {
            return Err(self.non_finite(b + 1, format!("{loss_sum}")));
        }
        self.gradient_hook(&BatchInfo { epoch: self.epoch, batch: b + 1, rows, loss_sum })?;
        self.clip_gradients();
        let penalty = self.net.step(&self.opt);
        let sh = self.sharding.as_deref().expect("sharded");
        tally_shards(&sh.figures, penalty, &mut self.sums);
        self.batch += 1;
        self.after_batch(lent, rows)
    }

    /// One `torch.optim.LBFGS.step` on the gathered (full) batch: the objective is the mean loss
    /// plus the weight penalty, evaluated by forward, loss and backward passes in train mode.
    /// The batch's figures are those at the new weights.
    fn lbfgs_batch(
        &mut self,
        lent: &mut Lent<'_, '_>,
        lcfg: LbfgsConfig,
        b: usize,
        rows: usize,
    ) -> Result<BatchReport> {
        let run = self.lbfgs.get_or_insert_with(|| {
            let n = self.net.trainable_len();
            let mut values = vec![0.0f32; n];
            self.net.read_trainable(false, &mut values);
            let x0: Vec<f64> = values.iter().map(|&v| v as f64).collect();
            Box::new(LbfgsRun {
                opt: Lbfgs::new(lcfg, &x0),
                values,
                grads: vec![0.0f32; n],
                penalties: self.net.trainable_penalties(),
            })
        });
        run.opt.set_lr(self.opt.lr() as f64);
        let (net, data, loss) = (&mut self.net, &self.data, self.cfg.loss);
        let LbfgsRun { opt, values, grads, penalties } = &mut **run;
        let mut objective = |x: &[f64], g: &mut [f64]| -> f64 {
            for (v, &xi) in values.iter_mut().zip(x) {
                *v = xi as f32;
            }
            net.write_trainable(values);
            net.forward(rows);
            let sum = net.loss(loss, rows, &data.t_batch, data.w_batch.as_ref(), Some(1.0 / rows as f64));
            net.backward(rows);
            net.read_trainable(true, grads);
            let mut value = sum / rows as f64;
            let mut at = 0;
            for &(len, l1, l2) in penalties.iter() {
                let (l1, l2) = (l1 as f64, l2 as f64);
                for i in at..at + len {
                    let w = x[i];
                    g[i] = grads[i] as f64;
                    if l1 != 0.0 || l2 != 0.0 {
                        value += l1 * w.abs() + l2 * w * w;
                        g[i] += l1 * w.signum() * f64::from(u8::from(w != 0.0)) + 2.0 * l2 * w;
                    }
                }
                at += len;
            }
            value
        };
        let report = opt.step(&mut objective);
        for (v, &xi) in values.iter_mut().zip(opt.params()) {
            *v = xi as f32;
        }
        self.net.write_trainable(values);
        self.net.count_step();
        // The figures at the new weights (train mode, as any batch's).
        self.net.forward(rows);
        let (t, w) = (&self.data.t_batch, self.data.w_batch.as_ref());
        let loss_sum = self.net.loss(self.cfg.loss, rows, t, w, None);
        if !loss_sum.is_finite() || !report.loss.is_finite() {
            return Err(self.non_finite(b + 1, format!("{loss_sum}")));
        }
        let penalty = self.net.penalty();
        self.data.tally(&self.be, b, &self.net, loss_sum, penalty, &mut self.sums);
        self.batch += 1;
        if report.converged && self.stop.is_none() {
            self.stop = Some(StopReason::Converged { epoch: self.epoch });
        }
        self.after_batch(lent, rows)
    }

    /// Keeps the epoch's starting weights and sends [`Event::EpochBegin`]; false when a callback
    /// stopped training there.
    fn start_epoch(&mut self, lent: &mut Lent<'_, '_>) -> bool {
        self.net.save_to(&mut self.epoch_start);
        let epoch = self.epoch;
        if emit(&mut self.callbacks, lent.callbacks, &Event::EpochBegin { epoch }).is_some() {
            self.stop = Some(StopReason::Callback { name: "callback".into(), epoch });
            return false;
        }
        true
    }

    fn gradient_hook(&mut self, info: &BatchInfo) -> Result<()> {
        let Some(hook) = self.hook.as_mut() else { return Ok(()) };
        let r = hook.after_backward(&mut ParamView::new(&mut self.net), info);
        self.failed |= r.is_err();
        r
    }

    /// Rescales the gradients so that their global norm is at most `clip_norm`.
    fn clip_gradients(&mut self) {
        if let Some(max) = self.cfg.clip_norm {
            let norm = self.net.grad_norm();
            if norm > max as f64 {
                self.net.scale_grads((max as f64 / norm) as f32);
            }
        }
    }

    /// [`Event::BatchEnd`], the interrupt flag, and (when stopped mid-epoch) the end of the lap.
    fn after_batch(&mut self, lent: &mut Lent<'_, '_>, rows: usize) -> Result<BatchReport> {
        let (epoch, batch, batches) = (self.epoch, self.batch, self.data.batches());
        let accuracy = self.data.labels.as_ref().map(|_| self.sums.accuracy());
        let report = BatchReport { epoch, batch, batches, rows, loss: self.sums.loss(), accuracy };
        let event = Event::BatchEnd { epoch, batch, batches, loss: report.loss, accuracy };
        if let Some(name) = emit(&mut self.callbacks, lent.callbacks, &event) {
            self.stop = Some(StopReason::Callback { name, epoch });
        }
        let flagged = |f: Option<&AtomicBool>| f.is_some_and(|f| f.load(Ordering::SeqCst));
        if flagged(lent.interrupt) || flagged(self.interrupt.as_deref()) {
            self.stop = Some(StopReason::Interrupted { epoch, batch });
        }
        if self.stopped_mid_epoch() {
            self.pause()?;
        }
        Ok(report)
    }

    /// Ends the running lap: adds its time to the epoch's, and checks that no step overflowed
    /// the weights while the loss, computed before it, was finite — once per lap, before a
    /// checkpoint, a callback or the caller sees them. This also keeps every epoch-start
    /// snapshot finite.
    fn pause(&mut self) -> Result<()> {
        if let Some(start) = self.lap.take() {
            self.seconds += self.clock.now() - start;
        }
        if !self.net.params_finite() {
            return Err(self.non_finite(self.batch, "finite but the weights overflowed".into()));
        }
        Ok(())
    }

    /// The error for a NaN or infinite loss or weights, after putting back the epoch's starting
    /// weights if the current ones are not finite; the session then only finishes.
    fn non_finite(&mut self, batch: usize, value: String) -> Error {
        if !self.net.params_finite() {
            self.net.restore_from(&self.epoch_start);
        }
        self.failed = true;
        Error::NonFinite { epoch: self.epoch, batch, value }
    }

    pub(crate) fn end_epoch_lent(&mut self, lent: &mut Lent<'_, '_>) -> Result<Option<EpochRecord>> {
        if self.next() != Next::EndEpoch {
            return Ok(None);
        }
        let epoch = self.epoch;
        self.pause()?;
        if let (Some(sh), Some(d)) = (self.sharding.as_deref_mut(), self.dead.as_mut()) {
            sh.share_dead_units(d).inspect_err(|_| self.failed = true)?;
        }
        let mut record = self.epoch_record();
        let net = &self.net;
        callback_metrics(&mut self.callbacks, lent.callbacks, epoch, || net.to_model(), &mut record.metrics);
        if let Some(es) = self.early.as_mut()
            && es.observe(&record, &self.net)
            && self.stop.is_none()
        {
            self.stop = Some(StopReason::EarlyStopping { epoch });
        }
        let monitored = record.get("val_loss").or(record.get("loss")).unwrap_or(f64::NAN);
        self.history.epochs.push(record);
        let rec = self.history.epochs.last().expect("just pushed");
        if let Some(name) = emit(&mut self.callbacks, lent.callbacks, &Event::EpochEnd { record: rec })
            && self.stop.is_none()
        {
            self.stop = Some(StopReason::Callback { name, epoch });
        }
        let record = rec.clone();
        self.send_weights(lent, epoch);
        self.opt.set_lr(self.sched.next_lr(epoch, monitored));
        self.epoch += 1;
        self.batch = 0;
        self.sums = RunningSums::default();
        self.seconds = 0.0;
        Ok(Some(record))
    }

    /// The finished epoch's figures: training from the running sums, then validation.
    fn epoch_record(&mut self) -> EpochRecord {
        let mut metrics = BTreeMap::new();
        metrics.insert("loss".to_string(), self.sums.loss());
        match self.data.labels {
            Some(_) => metrics.insert("accuracy".to_string(), self.sums.accuracy()),
            None => metrics.insert("mae".to_string(), self.sums.mae()),
        };
        if let Some(d) = self.dead.as_mut() {
            d.end_epoch(&mut metrics);
        }
        if let Some(v) = self.valid.as_mut() {
            let started = self.clock.now();
            for (k, val) in v.evaluate(&mut self.net, self.cfg.loss, &self.data.x, &self.data.t) {
                metrics.insert(format!("val_{k}"), val);
            }
            self.seconds += self.clock.now() - started;
        }
        EpochRecord { epoch: self.epoch, lr: self.opt.lr() as f64, seconds: self.seconds, metrics }
    }

    /// Hands the weights to the callbacks that want them after `epoch`.
    fn send_weights(&mut self, lent: &mut Lent<'_, '_>, epoch: usize) {
        let wants = self.callbacks.iter().any(|cb| cb.wants_weights(epoch))
            || lent.callbacks.iter().any(|cb| cb.wants_weights(epoch));
        if !wants {
            return;
        }
        let current = self.net.to_model();
        for cb in self.callbacks.iter_mut().filter(|cb| cb.wants_weights(epoch)) {
            cb.on_weights(epoch, &current);
        }
        for cb in lent.callbacks.iter_mut().filter(|cb| cb.wants_weights(epoch)) {
            cb.on_weights(epoch, &current);
        }
    }
}
