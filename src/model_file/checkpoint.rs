//! Checkpoints: a model file plus the optimizer state, the best weights so far and the loop
//! state, enough to resume a run bit for bit.

use super::container::{F32Tensor, RawFile, serialize};
use super::meta::ModelMeta;
use super::params::{push_model, read_model};
use super::validate::check_meta;
use super::{base_metadata, check_writable};
use crate::error::{Error, Result};
use crate::fsio::write_atomic;
use crate::train::{BestTracker, Checkpoint, LoopState};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The `checkpoint` metadata entry. Floats whose exact bits matter for a bit-identical resume,
/// or which may be infinite (JSON has no infinity), travel as their bit patterns.
#[derive(Serialize, Deserialize)]
pub(super) struct CheckpointHeader {
    state: LoopState,
    lr_bits: u32,
    sums_bits: [u64; 4],
    plateau_best_bits: u64,
    tracker_best_bits: Option<u64>,
    has_best: bool,
}

/// Writes a resumable checkpoint (weights, optimizer state, best weights, loop state) with the
/// model's metadata to `path`, atomically.
pub fn save_checkpoint(path: &Path, ck: &Checkpoint, meta: &ModelMeta) -> Result<()> {
    write_atomic(path, &checkpoint_to_bytes(ck, meta)?)
}

/// The bytes of the checkpoint file for `ck`: what [`save_checkpoint`] writes, built in memory.
pub fn checkpoint_to_bytes(ck: &Checkpoint, meta: &ModelMeta) -> Result<Vec<u8>> {
    check_writable(&ck.model, meta)?;
    let mut tensors = Vec::new();
    push_model(&mut tensors, "", &ck.model);
    if let Some(best) = &ck.best {
        push_model(&mut tensors, "best.", best);
    }
    for (k, states) in ck.optimizer_state.iter().enumerate() {
        for (s, v) in states.iter().enumerate() {
            tensors.push((format!("optim.{k}.{s}"), F32Tensor::new(vec![v.len()], v.iter().copied())));
        }
    }
    let mut state = ck.state.clone();
    // Non-finite history figures cannot be written as JSON; they only feed plots and summaries.
    for r in &mut state.history.epochs {
        r.metrics.retain(|_, v| v.is_finite());
    }
    let header = CheckpointHeader {
        lr_bits: state.lr.to_bits(),
        sums_bits: state.sums.map(f64::to_bits),
        plateau_best_bits: state.plateau.0.to_bits(),
        tracker_best_bits: state.tracker.as_ref().and_then(|t| t.best).map(f64::to_bits),
        has_best: ck.best.is_some(),
        state: LoopState {
            sums: [0.0; 4],
            plateau: (0.0, state.plateau.1),
            tracker: state.tracker.take().map(|t| BestTracker { best: None, ..t }),
            ..state
        },
    };
    let mut metadata = base_metadata(&ck.model, meta)?;
    metadata.insert(
        "checkpoint".into(),
        serde_json::to_string(&header).map_err(|e| Error::Data(format!("cannot encode the checkpoint state: {e}")))?,
    );
    serialize(&tensors, &metadata)
}

/// Reads and checks a checkpoint written by [`save_checkpoint`].
pub fn load_checkpoint(path: &Path) -> Result<(Checkpoint, ModelMeta)> {
    checkpoint_raw(RawFile::read(path)?)
}

/// [`load_checkpoint`] from bytes in memory; `name` stands for the file in messages.
pub fn load_checkpoint_bytes(bytes: &[u8], name: &str) -> Result<(Checkpoint, ModelMeta)> {
    checkpoint_raw(RawFile::parse(Path::new(name), bytes.to_vec())?)
}

/// Reads and checks a checkpoint held in memory: [`load_checkpoint_bytes`], under the name that
/// pairs with [`checkpoint_to_bytes`].
pub fn checkpoint_from_bytes(bytes: &[u8], name: &str) -> Result<(Checkpoint, ModelMeta)> {
    load_checkpoint_bytes(bytes, name)
}

pub(super) fn checkpoint_raw(raw: RawFile) -> Result<(Checkpoint, ModelMeta)> {
    let header = raw.header()?;
    let ck_json = raw.metadata.get("checkpoint").ok_or_else(|| {
        raw.err("is a model file, not a checkpoint; pass a file written by --checkpoint-every or Ctrl-C to --resume")
    })?;
    let ckh: CheckpointHeader = serde_json::from_str(ck_json)
        .map_err(|e| raw.err(format!("has a garbled `checkpoint` metadata entry ({e}); the file is damaged")))?;
    let mut used = Vec::new();
    let model = read_model(&raw, "", &header.architecture, &mut used)?;
    let best = if ckh.has_best { Some(read_model(&raw, "best.", &header.architecture, &mut used)?) } else { None };
    let mut optimizer_state = Vec::new();
    // The optimizer state is numbered by parameter tensor, in the order the writer lays them out.
    let mut params = Vec::new();
    push_model(&mut params, "", &model);
    let lens: Vec<usize> = params.iter().map(|(_, t)| t.len()).collect();
    for (k, &len) in lens.iter().enumerate() {
        let mut states = Vec::new();
        while raw.tensors.contains_key(&format!("optim.{k}.{}", states.len())) {
            let name = format!("optim.{k}.{}", states.len());
            states.push(raw.values(&name, &[len])?);
            used.push(name);
        }
        optimizer_state.push(states);
    }
    raw.no_extra(&used)?;
    check_meta(&model, &header.meta).map_err(|e| raw.err(e))?;
    let mut state = ckh.state;
    state.lr = f32::from_bits(ckh.lr_bits);
    state.sums = ckh.sums_bits.map(f64::from_bits);
    state.plateau.0 = f64::from_bits(ckh.plateau_best_bits);
    if let Some(t) = state.tracker.as_mut() {
        t.best = ckh.tracker_best_bits.map(f64::from_bits);
    }
    Ok((Checkpoint { model, optimizer_state, best, state }, header.meta))
}
