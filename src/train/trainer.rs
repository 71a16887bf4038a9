//! The `Trainer` builder: a whole training run in one call, with borrowed validation data, callbacks, interrupt flag and checkpoint sink; a thin driver over [`Session`].

use super::callbacks::Callback;
use super::history::History;
use super::policy::CheckpointSchedule;
use super::session::{Lent, Session, TrainingData};
use super::shards::ShardExchange;
use super::{Checkpoint, CheckpointSink, FitConfig};
use crate::backend::{Backend, Cpu};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::Model;
use std::sync::atomic::AtomicBool;

/// A training run's inputs beyond the configuration: validation data, weights, callbacks,
/// interruption and checkpoints.
///
/// Everything is borrowed for the one call to [`Trainer::fit`]; to hold a run as an object, use
/// [`Session`], which this drives.
pub struct Trainer<'a> {
    cfg: &'a FitConfig,
    valid: Option<&'a Dataset>,
    sample_weights: Option<&'a [f32]>,
    callbacks: Vec<&'a mut (dyn Callback + Send)>,
    interrupt: Option<&'a AtomicBool>,
    checkpoint_every: usize,
    on_checkpoint: Option<&'a mut CheckpointSink<'a>>,
    resume: Option<Checkpoint>,
    sharding: Option<(usize, Box<dyn ShardExchange>)>,
    dead_units: bool,
    custom_loss: Option<std::sync::Arc<dyn crate::loss::CustomLoss>>,
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
            sharding: None,
            dead_units: false,
            custom_loss: None,
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

    /// Sums each batch's gradient over `shards` shards in shard order, spread over processes by
    /// `exchange` (see [`Session::set_sharding`]).
    pub fn sharded(mut self, shards: usize, exchange: Box<dyn ShardExchange>) -> Self {
        self.sharding = Some((shards, exchange));
        self
    }

    /// Trains on a user-defined loss instead of `cfg.loss` (see [`Session::set_custom_loss`]).
    pub fn custom_loss(mut self, loss: std::sync::Arc<dyn crate::loss::CustomLoss>) -> Self {
        self.custom_loss = Some(loss);
        self
    }

    /// Records the fraction of dead hidden units per layer and epoch in the history
    /// (`dead_units_1`, …; see [`Session::monitor_dead_units`]).
    pub fn dead_units(mut self) -> Self {
        self.dead_units = true;
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
        let mut data = TrainingData::new(train);
        if let Some(v) = self.valid {
            data = data.valid(v);
        }
        data.sample_weights = self.sample_weights;
        let mut session = Session::prepare(be, self.cfg, model, data)?;
        if let Some(ck) = self.resume.take() {
            session.restore(ck)?;
        }
        if let Some((shards, exchange)) = self.sharding.take() {
            session.set_sharding(shards, exchange)?;
        }
        session.set_schedule(CheckpointSchedule { every: self.checkpoint_every });
        if self.dead_units {
            session.monitor_dead_units();
        }
        if let Some(loss) = self.custom_loss.take() {
            session.set_custom_loss(loss);
        }
        let mut lent =
            Lent { callbacks: &mut self.callbacks, interrupt: self.interrupt, sink: self.on_checkpoint.as_deref_mut() };
        match session.run_lent(&mut lent) {
            Ok(()) => {
                let (trained, history) = session.finish_lent(&mut lent);
                *model = trained;
                Ok(history)
            }
            Err(e) => {
                // On a NaN or infinite loss, the caller gets the last finite weights.
                if matches!(e, Error::NonFinite { .. }) {
                    *model = session.model();
                }
                Err(e)
            }
        }
    }
}
