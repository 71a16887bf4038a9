//! The stopping and saving policies a session applies between epochs, kept out of the loop: early stopping with its best-weights copy, and the checkpoint schedule.

use super::callbacks::{BestTracker, EarlyStopping};
use super::history::{EpochRecord, History, StopReason};
use crate::backend::Backend;
use crate::nn::Net;

/// Early stopping as a session applies it: the rule, its running state, and (with
/// `restore_best_weights`) a device copy of the best epoch's weights.
pub(crate) struct EarlyStopper<B: Backend> {
    rule: EarlyStopping,
    /// `None` only when resumed from a checkpoint made without early stopping.
    pub(crate) tracker: Option<BestTracker>,
    /// The best weights so far, when they are to be restored.
    pub(crate) best: Option<Vec<B::Buf>>,
}

impl<B: Backend> EarlyStopper<B> {
    /// Watches `rule.monitor` (its `val_` prefix dropped when there is no validation data, rather
    /// than never improving); keeps the best weights of `net` when the rule restores them.
    pub(crate) fn new(rule: &EarlyStopping, has_valid: bool, net: &Net<B>) -> Self {
        let monitor = match rule.monitor.strip_prefix("val_") {
            Some(base) if !has_valid => base.to_string(),
            _ => rule.monitor.clone(),
        };
        Self {
            rule: rule.clone(),
            tracker: Some(BestTracker::new(&monitor)),
            best: rule.restore_best_weights.then(|| net.snapshot()),
        }
    }

    /// Feeds one epoch's record (copying the weights when it is a new best); returns whether to
    /// stop: `patience` epochs without improvement.
    pub(crate) fn observe(&mut self, record: &EpochRecord, net: &Net<B>) -> bool {
        let Some(tr) = self.tracker.as_mut() else { return false };
        if tr.update(record, self.rule.min_delta)
            && let Some(b) = self.best.as_mut()
        {
            net.save_to(b);
        }
        tr.wait >= self.rule.patience
    }

    /// At the end of training: puts the best epoch's weights back when they are not the last
    /// epoch's, and records which epoch they came from.
    pub(crate) fn restore_best(&self, net: &mut Net<B>, history: &mut History) {
        if let (Some(b), Some(tr)) = (self.best.as_ref(), self.tracker.as_ref())
            && tr.best.is_some()
            && tr.best_epoch != history.last().map_or(0, |r| r.epoch)
        {
            net.restore_from(b);
            history.restored_epoch = Some(tr.best_epoch);
        }
    }
}

/// When a run writes checkpoints: every `every` epochs (0: never), and whenever it is
/// interrupted (at the end of the epoch, or mid-epoch to continue from the next batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CheckpointSchedule {
    /// The period in epochs (0: only when interrupted).
    pub every: usize,
}

impl CheckpointSchedule {
    /// Whether a checkpoint is due after `epoch` ended, given why training is stopping (if it is).
    pub fn due_after_epoch(&self, epoch: usize, stop: Option<&StopReason>) -> bool {
        (self.every > 0 && epoch.is_multiple_of(self.every)) || matches!(stop, Some(StopReason::Interrupted { .. }))
    }
}
