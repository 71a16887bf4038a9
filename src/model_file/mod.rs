//! The model file and the checkpoint file: safetensors holding the weights in `torch.nn.Linear`'s layout, with
//! everything else (architecture, loss, fitted preprocessing, classes, training config, history) as JSON metadata.
//!
//! # Layout
//! | tensor | dtype | shape | holds |
//! |---|---|---|---|
//! | `layers.{i}.weight` | F32 | `[out, in]` | the transpose of the in-memory `weight` tensor ([`crate::nn::ParamSpec::file_transposed`]); for maxout `out = units·pieces`, piece index fastest |
//! | `layers.{i}.bias` | F32 | `[out]` | the biases |
//! | `layers.{i}.alpha` | F32 | `[units]` | PReLU slopes, for PReLU layers only |
//!
//! Metadata (safetensors' `__metadata__`, string → string): `format` = `"mlp"`, `format_version` =
//! `"1"`, and `mlp` = the JSON of the architecture, loss, [`InputSpec`], class labels, effective
//! training configuration, history summary and the writing version. A checkpoint adds the tensors
//! `optim.{k}.{s}` (state buffer `s` of parameter tensor `k`, in [`crate::nn::Net`]'s order: per
//! layer weight, bias, alpha; weights' state in the in-memory `(fan_in, width)` order, flat), the
//! best weights so far as `best.layers.…`, and the loop state as the `checkpoint` metadata entry.
//!
//! A file written by Python's `safetensors` package with these names and keys loads the same way
//! (see `tests/fixtures/make_python_model.py`). [`load`] trusts nothing in the file: sizes are
//! checked against the file's length before anything is allocated, and every tensor against the
//! architecture. [`save`] writes a temporary file beside the target, syncs it and renames it, so a
//! crash or a full disk never leaves a half-written model.
//!
//! # Parts
//! [`input`](InputSpec) holds the fitted input pipeline, `meta` the metadata types, `container`
//! the safetensors reader and writer, `params` the mapping of layer parameters to tensors,
//! `checkpoint` the resumable snapshots and `validate` the consistency checks. Atomic writes are
//! [`crate::fsio`]'s.

mod checkpoint;
mod container;
mod input;
mod meta;
mod params;
mod raw;
mod validate;

pub use crate::fsio::{AtomicFile, write_atomic};
pub use checkpoint::{
    checkpoint_from_bytes, checkpoint_to_bytes, load_checkpoint, load_checkpoint_bytes, save_checkpoint,
};
pub use input::InputSpec;
pub use meta::{HistorySummary, ModelMeta, SavedModel, check_outputs, created_by};
pub use raw::RawEncoder;

use crate::error::{Error, Result};
use crate::nn::Model;
use container::{RawFile, serialize};
use meta::Header;
use params::{push_model, read_model};
use std::collections::BTreeMap;
use std::path::Path;
use validate::check_meta;

/// The value of the `format` metadata key.
pub const FORMAT: &str = "mlp";
/// The newest model-file format this build reads and writes. Version 1 holds dense layers only
/// and is what a dense model is still written as (byte for byte what older versions wrote);
/// version 2 adds layer kinds (`kind` in the architecture), so that an mlp that does not know
/// them refuses the file by its version instead of misreading it.
pub const FORMAT_VERSION: u32 = 2;

/// The version a file for `model` is written with: the oldest that can describe it.
pub fn format_version_for(model: &Model) -> u32 {
    if model.config.layers.iter().all(|l| l.kind.is_dense()) { 1 } else { FORMAT_VERSION }
}

/// The checks a reader makes, made before writing: a file is never written that would not load.
fn check_writable(model: &Model, meta: &ModelMeta) -> Result<()> {
    model.check().map_err(|e| Error::Data(format!("refusing to save an invalid model: {e}")))?;
    check_meta(model, meta).map_err(|e| Error::Data(format!("refusing to save a model file that {e}")))
}

fn base_metadata(model: &Model, meta: &ModelMeta) -> Result<BTreeMap<String, String>> {
    let header = Header { architecture: model.config.clone(), meta: meta.clone() };
    let json = serde_json::to_string(&header)
        .map_err(|e| Error::Data(format!("cannot encode the model's metadata as JSON: {e}")))?;
    Ok(BTreeMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("format_version".to_string(), format_version_for(model).to_string()),
        ("mlp".to_string(), json),
    ]))
}

/// The bytes of the model file for `saved`: what [`save`] writes, built entirely in memory (for a
/// browser, a Python front end or a server that never touches the disk). The same model gives
/// the same bytes.
pub fn to_bytes(saved: &SavedModel) -> Result<Vec<u8>> {
    check_writable(&saved.model, &saved.meta)?;
    let mut tensors = Vec::new();
    push_model(&mut tensors, "", &saved.model);
    serialize(&tensors, &base_metadata(&saved.model, &saved.meta)?)
}

/// Reads and checks a model file held in memory; `name` stands for the file in messages. The
/// same as [`load_bytes`], under the name that pairs with [`to_bytes`].
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<SavedModel> {
    load_bytes(bytes, name)
}

/// Writes `model` and its metadata to `path` atomically: the file is either the old one or the
/// complete new one, never a mix, whatever happens during the write.
pub fn save(path: &Path, saved: &SavedModel) -> Result<()> {
    write_atomic(path, &to_bytes(saved)?)
}

/// Reads and checks a model file written by [`save`] (or by any safetensors writer using the
/// same tensor names and metadata).
pub fn load(path: &Path) -> Result<SavedModel> {
    load_raw(RawFile::read(path)?)
}

/// [`load`] from bytes in memory; `name` stands for the file in messages. Any bytes give `Ok` or
/// an error, never a panic (fuzzed: see FUZZING.md).
pub fn load_bytes(bytes: &[u8], name: &str) -> Result<SavedModel> {
    load_raw(RawFile::parse(Path::new(name), bytes.to_vec())?)
}

fn load_raw(raw: RawFile) -> Result<SavedModel> {
    if raw.metadata.contains_key("checkpoint") {
        // A checkpoint holds a complete model too; use its current weights.
        return checkpoint::checkpoint_raw(raw).map(|(ck, meta)| SavedModel { model: ck.model, meta });
    }
    let header = raw.header()?;
    let mut used = Vec::new();
    let model = read_model(&raw, "", &header.architecture, &mut used)?;
    raw.no_extra(&used)?;
    check_meta(&model, &header.meta).map_err(|e| raw.err(e))?;
    Ok(SavedModel { model, meta: header.meta })
}

#[cfg(test)]
mod tests;
