//! The model file and the checkpoint file: safetensors holding the weights in `torch.nn.Linear`'s layout, with
//! everything else (architecture, loss, fitted preprocessing, classes, training config, history) as JSON metadata.
//!
//! # Layout
//! | tensor | dtype | shape | holds |
//! |---|---|---|---|
//! | `layers.{i}.weight` | F32 | `[out, in]` | the transpose of [`LayerParams::weight`]; for maxout `out = units·pieces`, piece index fastest |
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

use crate::data::csv::{CsvReader, Table};
use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::nn::{Model, ModelConfig};
use crate::preprocess::Preprocessor;
use crate::tensor::Matrix;
use crate::train::{BestTracker, Checkpoint, History, LoopState, StopReason};
use safetensors::tensor::TensorInfo;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The value of the `format` metadata key.
pub const FORMAT: &str = "mlp";
/// The model-file format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// safetensors' own limit on the JSON header.
const MAX_HEADER: u64 = 100_000_000;

/// How raw input rows become the model's features, replayed exactly by `evaluate` and `predict`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputSpec {
    /// A CSV table encoded by a fitted [`Preprocessor`] (typing, one-hot, imputation, standardization).
    Table {
        /// The fitted preprocessing.
        preprocessor: Preprocessor,
    },
    /// Named numeric columns standardized as `(x − mean) / std` (built-in datasets).
    Standardized {
        /// The input column names, in feature order.
        features: Vec<String>,
        /// The target column's name in CSV files (`label` or `y`).
        target: String,
        /// The training mean of each feature.
        mean: Vec<f32>,
        /// The training standard deviation of each feature (never 0).
        std: Vec<f32>,
    },
    /// Image pixels `0..=255`, scaled to `[0, 1]` by dividing by 255 (IDX/MNIST data).
    Pixels {
        /// Image height.
        rows: usize,
        /// Image width.
        cols: usize,
        /// The target column's name in CSV files.
        target: String,
    },
}

impl InputSpec {
    /// Fits standardization on the columns of `x` (population deviation; a constant column gets 1).
    pub fn standardize(x: &Matrix, features: Vec<String>, target: &str) -> InputSpec {
        let n = x.rows.max(1) as f64;
        let mut mean = vec![0.0f64; x.cols];
        for r in 0..x.rows {
            for (m, &v) in mean.iter_mut().zip(x.row(r)) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0f64; x.cols];
        for r in 0..x.rows {
            for ((s, &v), m) in var.iter_mut().zip(x.row(r)).zip(&mean) {
                *s += (f64::from(v) - m).powi(2);
            }
        }
        let std = var.iter().map(|s| (s / n).sqrt()).map(|s| if s > 1e-12 { s as f32 } else { 1.0 }).collect();
        InputSpec::Standardized {
            features,
            target: target.to_string(),
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    /// The model's input width.
    pub fn n_features(&self) -> usize {
        match self {
            InputSpec::Table { preprocessor } => preprocessor.n_features(),
            InputSpec::Standardized { features, .. } => features.len(),
            InputSpec::Pixels { rows, cols, .. } => rows * cols,
        }
    }

    /// The target column's name in CSV files.
    pub fn target_name(&self) -> &str {
        match self {
            InputSpec::Table { preprocessor } => preprocessor.target_name(),
            InputSpec::Standardized { target, .. } | InputSpec::Pixels { target, .. } => target,
        }
    }

    /// Per-feature `(mean, std)` mapping unscaled numeric features to the model's inputs, for folding
    /// into an exported graph: the stored statistics, `(0, 255)` for pixels.
    pub fn scaling(&self) -> (Vec<f32>, Vec<f32>) {
        match self {
            InputSpec::Table { preprocessor } => (
                preprocessor.means().iter().map(|&v| v as f32).collect(),
                preprocessor.stds().iter().map(|&v| v as f32).collect(),
            ),
            InputSpec::Standardized { mean, std, .. } => (mean.clone(), std.clone()),
            InputSpec::Pixels { rows, cols, .. } => (vec![0.0; rows * cols], vec![255.0; rows * cols]),
        }
    }

    /// Applies the scaling to features that are already numbers in the model's column order (a
    /// built-in dataset regenerated, or raw pixels from the IDX reader, which are scaled already).
    pub fn scale_numeric(&self, x: &mut Matrix) -> Result<()> {
        if x.cols != self.n_features() {
            return Err(Error::Data(format!(
                "the data has {} features but the model expects {}",
                x.cols,
                self.n_features()
            )));
        }
        match self {
            InputSpec::Standardized { mean, std, .. } => {
                for r in 0..x.rows {
                    for ((v, m), s) in x.row_mut(r).iter_mut().zip(mean).zip(std) {
                        *v = (*v - m) / s;
                    }
                }
                Ok(())
            }
            InputSpec::Pixels { .. } => Ok(()),
            InputSpec::Table { .. } => Err(Error::Data(
                "this model was trained on a CSV file; give it a CSV file with the same columns".into(),
            )),
        }
    }

    /// The column index of each feature in `table`, checking the header; the target may be present.
    fn layout(&self, table: &Table) -> Result<Vec<usize>> {
        let target = self.target_name();
        match self {
            InputSpec::Table { .. } => unreachable!("tables go through the preprocessor"),
            InputSpec::Standardized { features, .. } => {
                let expected = || features.join(", ");
                for c in &table.columns {
                    if c != target && !features.contains(c) {
                        return Err(Error::format(
                            &table.path,
                            format!(
                                "has a column `{c}` the model was not trained on; expected the columns {} \
                                 (and optionally `{target}`)",
                                expected()
                            ),
                        ));
                    }
                }
                features
                    .iter()
                    .map(|f| {
                        table.column_index(f).ok_or_else(|| {
                            Error::format(
                                &table.path,
                                format!(
                                    "has no column `{f}`, which the model needs; expected the columns {}",
                                    expected()
                                ),
                            )
                        })
                    })
                    .collect()
            }
            InputSpec::Pixels { rows, cols, .. } => {
                let idx: Vec<usize> = (0..table.n_cols()).filter(|&j| table.columns[j] != target).collect();
                if idx.len() != rows * cols {
                    return Err(Error::format(
                        &table.path,
                        format!(
                            "has {} pixel columns but the model takes {rows}×{cols} = {} pixels (values 0-255), \
                             plus an optional `{target}` column",
                            idx.len(),
                            rows * cols
                        ),
                    ));
                }
                Ok(idx)
            }
        }
    }

    fn encode(&self, table: &Table, cols: &[usize]) -> Result<Matrix> {
        let mut x = Matrix::zeros(table.n_rows(), cols.len());
        for r in 0..table.n_rows() {
            let row = x.row_mut(r);
            for (f, &j) in cols.iter().enumerate() {
                let cell = table.cell(r, j);
                let v = cell.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    Error::parse(
                        &table.path,
                        table.line(r),
                        j as u64 + 1,
                        format!("column `{}` needs a finite number, but this cell is `{cell}`", table.columns[j]),
                    )
                })?;
                row[f] = match self {
                    InputSpec::Standardized { mean, std, .. } => (v - mean[f]) / std[f],
                    _ => v / 255.0,
                };
            }
        }
        Ok(x)
    }

    /// Encodes the features of `table` (the target column may be present; it is ignored).
    pub fn transform_features(&self, table: &Table) -> Result<Matrix> {
        match self {
            InputSpec::Table { preprocessor } => preprocessor.transform_features(table),
            _ => self.encode(table, &self.layout(table)?),
        }
    }

    /// Encodes the features of a CSV of any size, `chunk_rows` rows at a time (see
    /// [`Preprocessor::transform_stream`]). Returns the number of rows.
    pub fn transform_stream(
        &self,
        reader: &mut CsvReader,
        chunk_rows: usize,
        mut f: impl FnMut(Matrix) -> Result<()>,
    ) -> Result<usize> {
        if let InputSpec::Table { preprocessor } = self {
            return preprocessor.transform_stream(reader, chunk_rows, f);
        }
        let header = Table::from_rows(reader.path(), reader.columns().to_vec(), Vec::new());
        let cols = self.layout(&header)?;
        let mut n = 0;
        while let Some(chunk) = reader.next_chunk(chunk_rows)? {
            n += chunk.n_rows();
            f(self.encode(&chunk, &cols)?)?;
        }
        Ok(n)
    }

    /// Encodes `table` with its target column into a dataset; class labels are matched against
    /// `classes` (the model's), and a label never seen in training is an error naming the cell.
    pub fn transform(&self, table: &Table, classes: Option<&[String]>) -> Result<Dataset> {
        if let InputSpec::Table { preprocessor } = self {
            return preprocessor.transform(table);
        }
        let x = self.transform_features(table)?;
        let target = self.target_name();
        let t = table.column_index(target).ok_or_else(|| {
            Error::format(
                &table.path,
                format!(
                    "has no target column `{target}`; available columns: {}; add the target to evaluate on this file",
                    table.columns.join(", ")
                ),
            )
        })?;
        let y = match classes {
            Some(labels) => {
                let mut out = Vec::with_capacity(table.n_rows());
                for r in 0..table.n_rows() {
                    let cell = table.cell(r, t);
                    let found = labels.iter().position(|l| l == cell).or_else(|| {
                        let v = cell.parse::<f64>().ok()?;
                        labels.iter().position(|l| l.parse::<f64>().ok() == Some(v))
                    });
                    match found {
                        Some(i) => out.push(i),
                        None => {
                            return Err(Error::parse(
                                &table.path,
                                table.line(r),
                                t as u64 + 1,
                                format!(
                                    "class `{cell}` in target column `{target}` was not seen in training \
                                     (known classes: {}); remove these rows or retrain on data that has them",
                                    labels.join(", ")
                                ),
                            ));
                        }
                    }
                }
                Targets::Classes { labels: out, n_classes: labels.len() }
            }
            None => {
                let mut out = Vec::with_capacity(table.n_rows());
                for r in 0..table.n_rows() {
                    let cell = table.cell(r, t);
                    let v = cell.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                        Error::parse(
                            &table.path,
                            table.line(r),
                            t as u64 + 1,
                            format!("target column `{target}` needs a number, but this cell is `{cell}`"),
                        )
                    })?;
                    out.push(v);
                }
                Targets::Values(Matrix::new(table.n_rows(), 1, out))
            }
        };
        Ok(Dataset::new(x, y))
    }
}

/// What a finished training run looked like, for the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct HistorySummary {
    /// Epochs run.
    pub epochs: usize,
    /// The last epoch's metrics (non-finite values left out).
    pub final_metrics: BTreeMap<String, f64>,
    /// Why training ended.
    pub stop: StopReason,
    /// The epoch whose weights were kept, when best weights were restored.
    pub restored_epoch: Option<usize>,
}

impl HistorySummary {
    /// Summarizes `history`.
    pub fn of(history: &History) -> Self {
        Self {
            epochs: history.epochs.len(),
            final_metrics: history
                .last()
                .map(|r| r.metrics.iter().filter(|(_, v)| v.is_finite()).map(|(k, v)| (k.clone(), *v)).collect())
                .unwrap_or_default(),
            stop: history.stop.clone(),
            restored_epoch: history.restored_epoch,
        }
    }
}

/// Everything a model file holds besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The loss the model was trained with (decides classification or regression).
    #[serde(with = "loss_name")]
    pub loss: Loss,
    /// How raw inputs become features.
    pub input: InputSpec,
    /// The class labels (index `i` is class `i`), for classifiers.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// The effective training configuration, as the trainer resolved it.
    #[serde(default)]
    pub training: Option<serde_json::Value>,
    /// A summary of the training history.
    #[serde(default)]
    pub history: Option<HistorySummary>,
    /// The program and version that wrote the file.
    #[serde(default)]
    pub created_by: String,
}

/// The loss by its Keras name (`categorical_crossentropy`), the spelling users type and Python writes.
mod loss_name {
    use crate::loss::Loss;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(loss: &Loss, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(loss)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Loss, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A model with its metadata: what [`save`] writes and [`load`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedModel {
    /// Architecture and weights.
    pub model: Model,
    /// Everything else.
    pub meta: ModelMeta,
}

/// The `mlp` metadata entry as JSON.
#[derive(Serialize, Deserialize)]
struct Header {
    architecture: ModelConfig,
    #[serde(flatten)]
    meta: ModelMeta,
}

/// The `checkpoint` metadata entry. Floats whose exact bits matter for a bit-identical resume,
/// or which may be infinite (JSON has no infinity), travel as their bit patterns.
#[derive(Serialize, Deserialize)]
struct CheckpointHeader {
    state: LoopState,
    lr_bits: u32,
    sums_bits: [u64; 4],
    plateau_best_bits: u64,
    tracker_best_bits: Option<u64>,
    has_best: bool,
}

/// The string `created_by` gets by default.
pub fn created_by() -> String {
    format!("mlp {}", env!("CARGO_PKG_VERSION"))
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

struct F32Tensor {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl F32Tensor {
    fn new(shape: Vec<usize>, values: impl IntoIterator<Item = f32>) -> Self {
        Self { shape, bytes: values.into_iter().flat_map(f32::to_le_bytes).collect() }
    }
}

fn push_model(tensors: &mut Vec<(String, F32Tensor)>, prefix: &str, model: &Model) {
    for (name, shape, data) in model.file_tensors() {
        tensors.push((format!("{prefix}{name}"), F32Tensor::new(shape, data)));
    }
}

fn check_writable(model: &Model) -> Result<()> {
    model.check().map_err(|e| Error::Data(format!("refusing to save an invalid model: {e}")))
}

fn base_metadata(model: &Model, meta: &ModelMeta) -> Result<BTreeMap<String, String>> {
    let header = Header { architecture: model.config.clone(), meta: meta.clone() };
    let json = serde_json::to_string(&header)
        .map_err(|e| Error::Data(format!("cannot encode the model's metadata as JSON: {e}")))?;
    Ok(BTreeMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ("mlp".to_string(), json),
    ]))
}

/// The safetensors bytes: the 8-byte little-endian header length, the JSON header padded with
/// spaces to a multiple of 8, then the tensors back to back.
///
/// Written here rather than by `safetensors::serialize`, whose metadata is a `HashMap` and comes
/// out in a different order on every run: the same model must give the same bytes (issue 5).
/// Keys are sorted, tensors laid out in name order, as safetensors itself orders equal dtypes.
fn serialize(tensors: &[(String, F32Tensor)], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut order: Vec<&(String, F32Tensor)> = tensors.iter().collect();
    order.sort_by(|a, b| a.0.cmp(&b.0));
    let enc = |v: &str| serde_json::to_string(v).expect("a string always encodes");
    let mut header = String::from("{\"__metadata__\":{");
    let meta: Vec<String> = metadata.iter().map(|(k, v)| format!("{}:{}", enc(k), enc(v))).collect();
    header.push_str(&meta.join(","));
    header.push('}');
    let mut offset = 0usize;
    for (name, t) in &order {
        let shape: Vec<String> = t.shape.iter().map(usize::to_string).collect();
        let end = offset + t.bytes.len();
        header.push_str(&format!(
            ",{}:{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            enc(name),
            shape.join(",")
        ));
        offset = end;
    }
    header.push('}');
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    if header.len() as u64 > MAX_HEADER {
        return Err(Error::Data(format!(
            "the model's header would be {} bytes, over safetensors' limit",
            header.len()
        )));
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for (_, t) in order {
        out.extend_from_slice(&t.bytes);
    }
    Ok(out)
}

/// Writes `model` and its metadata to `path` atomically: the file is either the old one or the
/// complete new one, never a mix, whatever happens during the write.
pub fn save(path: &Path, saved: &SavedModel) -> Result<()> {
    check_writable(&saved.model)?;
    let mut tensors = Vec::new();
    push_model(&mut tensors, "", &saved.model);
    let bytes = serialize(&tensors, &base_metadata(&saved.model, &saved.meta)?)?;
    write_atomic(path, &bytes)
}

/// Writes a resumable checkpoint (weights, optimizer state, best weights, loop state) with the
/// model's metadata to `path`, atomically.
pub fn save_checkpoint(path: &Path, ck: &Checkpoint, meta: &ModelMeta) -> Result<()> {
    check_writable(&ck.model)?;
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
    let bytes = serialize(&tensors, &metadata)?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and then
/// renamed over `path`. On any error the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.commit()
}

/// A file that appears at its path only when complete: writes go to a temporary file beside it,
/// [`AtomicFile::commit`] syncs it and renames it into place, and dropping it uncommitted (an
/// error, a panic, Ctrl-C unwinding) removes the temporary file.
///
/// A path that exists and is not a regular file (`/dev/stdout`, `/dev/full`, a FIFO) is written
/// directly: renaming over a device would replace the device, and such targets cannot hold a
/// partial file anyway.
pub struct AtomicFile {
    path: PathBuf,
    /// The temporary file, or `None` when writing straight to a device.
    tmp: Option<PathBuf>,
    file: Option<std::io::BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `path`; fails at once when its directory is missing or not writable.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(Error::config(
                    "output path",
                    format!("`{}` is a directory; give a file name inside it", path.display()),
                ));
            }
            Ok(m) if !m.is_file() => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(path)
                    .map_err(|e| Error::io(path, e))?;
                return Ok(AtomicFile { path: path.into(), tmp: None, file: Some(std::io::BufWriter::new(f)) });
            }
            _ => {}
        }
        let dir = parent_dir(path);
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::config(
                    "output path",
                    format!("`{}` is not a directory, so `{}` cannot be written", dir.display(), path.display()),
                ));
            }
            Err(_) => {
                return Err(Error::config(
                    "output path",
                    format!("the directory `{}` does not exist; create it first or write elsewhere", dir.display()),
                ));
            }
        }
        let (tmp, file) = create_temp(path)?;
        Ok(AtomicFile {
            path: path.into(),
            tmp: Some(tmp),
            file: Some(std::io::BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        let Some(buf) = self.file.take() else { return Ok(()) };
        let result = buf.into_inner().map_err(|e| e.into_error()).and_then(|f| match &self.tmp {
            // Devices and pipes cannot always be synced, and need not be.
            None => Ok(()),
            Some(_) => f.sync_all(),
        });
        let result = result.and_then(|()| match &self.tmp {
            Some(tmp) => std::fs::rename(tmp, &self.path),
            None => Ok(()),
        });
        if let Err(e) = result {
            return Err(Error::io(&self.path, e));
        }
        if let Some(_tmp) = self.tmp.take() {
            // The rename is durable only once the directory is synced; not every platform or
            // filesystem allows opening a directory, and the data is safe either way.
            if let Ok(dir) = File::open(parent_dir(&self.path)) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().map_or(Ok(0), |f| f.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        self.file.take();
        if let Some(tmp) = self.tmp.take() {
            // Best effort: whatever failed is reported by the caller.
            let _ = std::fs::remove_file(tmp);
        }
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates a fresh temporary file next to `path` (same directory, so the rename stays atomic).
fn create_temp(path: &Path) -> Result<(PathBuf, File)> {
    let name = path.file_name().ok_or_else(|| {
        Error::config(
            "output path",
            format!("`{}` is not a file name; give a path such as model.safetensors", path.display()),
        )
    })?;
    let dir = parent_dir(path);
    let pid = std::process::id();
    for attempt in 0..100u32 {
        let tmp = dir.join(format!(".{}.{pid}.{attempt}.tmp", name.to_string_lossy()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Err(Error::format(path, "cannot find a free temporary file name beside it; remove stale `.*.tmp` files"))
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// A checked safetensors file: header, metadata and the raw data section.
struct RawFile {
    path: PathBuf,
    tensors: BTreeMap<String, TensorInfo>,
    metadata: HashMap<String, String>,
    data: Vec<u8>,
}

impl RawFile {
    fn err(&self, msg: impl Into<String>) -> Error {
        Error::format(&self.path, msg)
    }

    /// Reads and checks a file. A file of another kind (say a large CSV passed by mistake) is
    /// refused from its first 8 bytes, without reading the rest.
    fn read(path: &Path) -> Result<RawFile> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut head = [0u8; 8];
        if len >= 8 {
            file.read_exact(&mut head).map_err(|e| Error::io(path, e))?;
        }
        Self::header_len(path, len, head)?;
        let mut whole = Vec::with_capacity(len as usize);
        file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(path, e))?;
        file.read_to_end(&mut whole).map_err(|e| Error::io(path, e))?;
        Self::parse(path, whole)
    }

    /// The header length from the first 8 bytes of a `len`-byte file, when it fits the file.
    fn header_len(path: &Path, len: u64, head: [u8; 8]) -> Result<u64> {
        let fmt = |msg: String| Error::format(path, msg);
        if len < 8 {
            return Err(fmt(format!(
                "is not a safetensors model file: it has only {len} bytes (a model file starts with an 8-byte \
                 header length); check the path, or re-save the model"
            )));
        }
        let n = u64::from_le_bytes(head);
        if n > len - 8 || n > MAX_HEADER {
            return Err(fmt(format!(
                "is truncated or not a safetensors file: its header claims {n} bytes but only {} follow; \
                 re-download or re-save the model",
                len - 8
            )));
        }
        Ok(n)
    }

    /// Checks a whole file held in memory (`path` only names it in messages): lengths, header
    /// JSON, dtypes and offsets, then the data. Every size the header declares is checked against
    /// the bytes present before anything is allocated for it.
    fn parse(path: &Path, mut whole: Vec<u8>) -> Result<RawFile> {
        let fmt = |msg: String| Error::format(path, msg);
        let len = whole.len() as u64;
        let mut head = [0u8; 8];
        if len >= 8 {
            head.copy_from_slice(&whole[..8]);
        }
        let n = Self::header_len(path, len, head)?;
        let header = &whole[8..8 + n as usize];
        let text = std::str::from_utf8(header).map_err(|_| {
            fmt("is not a safetensors file: its header is not UTF-8 text; the file is damaged or of another kind"
                .into())
        })?;
        let json: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).map_err(|e| {
            fmt(format!("has a garbled header (not a JSON object: {e}); the file is damaged, re-save the model"))
        })?;
        let mut tensors = BTreeMap::new();
        let mut metadata = None;
        for (name, value) in json {
            if name == "__metadata__" {
                let m: HashMap<String, String> = serde_json::from_value(value).map_err(|e| {
                    fmt(format!("has garbled metadata (`__metadata__` must map strings to strings: {e})"))
                })?;
                metadata = Some(m);
                continue;
            }
            let dtype = value.get("dtype").and_then(|d| d.as_str()).unwrap_or("?").to_string();
            if dtype != "F32" {
                return Err(fmt(format!(
                    "tensor `{name}` has dtype {dtype}, but mlp model files hold F32 only; convert the weights to \
                     float32 before saving"
                )));
            }
            let info: TensorInfo = serde_json::from_value(value)
                .map_err(|e| fmt(format!("tensor `{name}` has a garbled entry in the header: {e}")))?;
            tensors.insert(name, info);
        }
        let data_len = len - 8 - n;
        for (name, info) in &tensors {
            let (start, end) = info.data_offsets;
            if start > end || end as u64 > data_len {
                return Err(fmt(format!(
                    "is truncated: tensor `{name}` needs bytes {start}..{end} of the data but the file holds only \
                     {data_len}; re-download or re-save the model"
                )));
            }
            let elems = info.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if elems.and_then(|e| e.checked_mul(4)) != Some(end - start) {
                return Err(fmt(format!(
                    "tensor `{name}` has shape {:?} but {} bytes of data; the file is damaged",
                    info.shape,
                    end - start
                )));
            }
        }
        // The container rules (contiguous offsets, nothing left over) are safetensors' own.
        safetensors::SafeTensors::deserialize(&whole).map_err(|e| {
            fmt(format!("is not a valid safetensors file ({e}); the file is damaged, re-download or re-save it"))
        })?;
        let metadata = metadata.ok_or_else(|| {
            fmt("has no metadata: it is a safetensors file but was not written by mlp (no `__metadata__` with \
                 `format`, `format_version` and `mlp`); save it with mlp or add that metadata"
                .into())
        })?;
        let data = whole.split_off(8 + n as usize);
        Ok(RawFile { path: path.to_path_buf(), tensors, metadata, data })
    }

    fn meta_key(&self, key: &str) -> Result<&str> {
        self.metadata.get(key).map(String::as_str).ok_or_else(|| {
            self.err(format!("has no `{key}` metadata entry, which mlp model files have; the file is not an mlp model"))
        })
    }

    /// Checks `format` and `format_version` and decodes the `mlp` entry.
    fn header(&self) -> Result<Header> {
        let format = self.meta_key("format")?;
        if format != FORMAT {
            return Err(self.err(format!("is a `{format}` file, not an mlp model (metadata `format` must be `mlp`)")));
        }
        let version = self.meta_key("format_version")?;
        let v: u32 = version.trim().parse().map_err(|_| {
            self.err(format!("has a garbled `format_version` `{version}`; expected a whole number such as 1"))
        })?;
        if v > FORMAT_VERSION {
            return Err(self.err(format!(
                "was written by a newer mlp (format version {v}; this mlp reads up to {FORMAT_VERSION}); upgrade mlp"
            )));
        }
        if v == 0 {
            return Err(self.err("has format version 0, which no mlp ever wrote; the file is damaged"));
        }
        let json = self.meta_key("mlp")?;
        let header: Header = serde_json::from_str(json).map_err(|e| {
            self.err(format!("has garbled `mlp` metadata ({e}); the file is damaged, re-save the model"))
        })?;
        header.architecture.validate().map_err(|e| self.err(format!("describes an impossible architecture: {e}")))?;
        Ok(header)
    }

    fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let info = self.tensors.get(name).ok_or_else(|| {
            self.err(format!("has no tensor `{name}`, which its architecture needs; the file is incomplete"))
        })?;
        if info.shape != shape {
            return Err(self.err(format!(
                "tensor `{name}` has shape {:?} but the architecture in the metadata says {shape:?}; \
                 the weights and the metadata do not belong together",
                info.shape
            )));
        }
        let bytes = &self.data[info.data_offsets.0..info.data_offsets.1];
        let v: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(self.err(format!(
                "tensor `{name}` holds a non-finite value ({} at index {i}); the model is unusable, retrain it",
                v[i]
            )));
        }
        Ok(v)
    }

    /// The model under `prefix` (`""` or `"best."`), recording which tensors were used.
    fn model(&self, prefix: &str, config: &ModelConfig, used: &mut Vec<String>) -> Result<Model> {
        Model::from_file_tensors(config, |name, shape| {
            let full = format!("{prefix}{name}");
            let v = self.values(&full, shape)?;
            used.push(full);
            Ok(v)
        })
    }

    fn no_extra(&self, used: &[String]) -> Result<()> {
        if let Some(extra) = self.tensors.keys().find(|k| !used.contains(k)) {
            return Err(self.err(format!(
                "has an unexpected tensor `{extra}` that its architecture does not use; the weights and the \
                 metadata do not belong together"
            )));
        }
        Ok(())
    }
}

fn check_meta(raw: &RawFile, model: &Model, meta: &ModelMeta) -> Result<()> {
    let cfg = &model.config;
    if meta.input.n_features() != cfg.input_dim {
        return Err(raw.err(format!(
            "its preprocessing produces {} features but the architecture takes {}; the file is inconsistent",
            meta.input.n_features(),
            cfg.input_dim
        )));
    }
    meta.loss
        .check_output(cfg.output_activation(), cfg.output_dim())
        .map_err(|e| raw.err(format!("has a loss that does not fit its output layer: {e}")))?;
    if let Some(classes) = &meta.classes {
        let out = cfg.output_dim();
        let fits = if out == 1 { classes.len() <= 2 } else { classes.len() <= out };
        if classes.is_empty() || !fits {
            return Err(raw.err(format!(
                "lists {} classes but the output layer has {out} units; the file is inconsistent",
                classes.len()
            )));
        }
    }
    Ok(())
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

/// [`load_checkpoint`] from bytes in memory; `name` stands for the file in messages.
pub fn load_checkpoint_bytes(bytes: &[u8], name: &str) -> Result<(Checkpoint, ModelMeta)> {
    checkpoint_raw(RawFile::parse(Path::new(name), bytes.to_vec())?)
}

fn load_raw(raw: RawFile) -> Result<SavedModel> {
    if raw.metadata.contains_key("checkpoint") {
        // A checkpoint holds a complete model too; use its current weights.
        return checkpoint_raw(raw).map(|(ck, meta)| SavedModel { model: ck.model, meta });
    }
    let header = raw.header()?;
    let mut used = Vec::new();
    let model = raw.model("", &header.architecture, &mut used)?;
    raw.no_extra(&used)?;
    check_meta(&raw, &model, &header.meta)?;
    Ok(SavedModel { model, meta: header.meta })
}

/// Reads and checks a checkpoint written by [`save_checkpoint`].
pub fn load_checkpoint(path: &Path) -> Result<(Checkpoint, ModelMeta)> {
    checkpoint_raw(RawFile::read(path)?)
}

fn checkpoint_raw(raw: RawFile) -> Result<(Checkpoint, ModelMeta)> {
    let header = raw.header()?;
    let ck_json = raw.metadata.get("checkpoint").ok_or_else(|| {
        raw.err("is a model file, not a checkpoint; pass a file written by --checkpoint-every or Ctrl-C to --resume")
    })?;
    let ckh: CheckpointHeader = serde_json::from_str(ck_json)
        .map_err(|e| raw.err(format!("has a garbled `checkpoint` metadata entry ({e}); the file is damaged")))?;
    let mut used = Vec::new();
    let model = raw.model("", &header.architecture, &mut used)?;
    let best = if ckh.has_best { Some(raw.model("best.", &header.architecture, &mut used)?) } else { None };
    let mut optimizer_state = Vec::new();
    let mut lens = Vec::new();
    for (_, spec, _) in model.named_params() {
        lens.push(spec.len());
    }
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
    check_meta(&raw, &model, &header.meta)?;
    let mut state = ckh.state;
    state.lr = f32::from_bits(ckh.lr_bits);
    state.sums = ckh.sums_bits.map(f64::from_bits);
    state.plateau.0 = f64::from_bits(ckh.plateau_best_bits);
    if let Some(t) = state.tracker.as_mut() {
        t.best = ckh.tracker_best_bits.map(f64::from_bits);
    }
    Ok((Checkpoint { model, optimizer_state, best, state }, header.meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth;
    use crate::optim::OptimizerConfig;
    use crate::train::{FitConfig, Trainer};

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mlp-model-file-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("m.safetensors")
    }

    fn meta(n: usize) -> ModelMeta {
        ModelMeta {
            loss: Loss::CategoricalCrossEntropy,
            input: InputSpec::Standardized {
                features: (1..=n).map(|i| format!("x{i}")).collect(),
                target: "label".into(),
                mean: vec![0.5; n],
                std: vec![2.0; n],
            },
            classes: Some(vec!["a".into(), "b".into(), "c".into()]),
            training: Some(serde_json::json!({"epochs": 3})),
            history: None,
            created_by: created_by(),
        }
    }

    fn bits(m: &Model) -> Vec<u32> {
        m.params.iter().flat_map(|p| p.tensors.iter().flat_map(|t| &t.data).map(|v| v.to_bits())).collect()
    }

    #[test]
    fn round_trip_is_bit_exact_for_every_layer_kind() {
        let cfg = ModelConfig::parse(3, "4:prelu,3:maxout(3),5:leaky_relu(0.1),3:softmax").unwrap();
        let model = cfg.init(7).unwrap();
        let path = tmp("rt");
        let saved = SavedModel { model: model.clone(), meta: meta(3) };
        save(&path, &saved).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(bits(&back.model), bits(&model));
        let first = std::fs::read(&path).unwrap();
        save(&path, &back).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), first, "the same model gives the same bytes");
        assert_eq!(back, saved);
        let x = Matrix::new(2, 3, vec![0.1, -0.2, 0.3, 1.0, 2.0, -3.0]);
        let (a, b) = (model.predict(&x).unwrap(), back.model.predict(&x).unwrap());
        assert_eq!(
            a.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn weights_are_stored_out_by_in() {
        let model = ModelConfig::parse(2, "3:relu").unwrap().init(1).unwrap();
        let path = tmp("layout");
        save(
            &path,
            &SavedModel { model: model.clone(), meta: ModelMeta { classes: None, loss: Loss::Mse, ..meta(2) } },
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let w = st.tensor("layers.0.weight").unwrap();
        assert_eq!(w.shape(), &[3, 2]);
        let v: Vec<f32> = w.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        // Row o of the file is output unit o: W[i][o] in memory.
        assert_eq!(v[2 + 1], model.params[0].values("weight")[3 + 1]);
        assert_eq!(v[1], model.params[0].values("weight")[3]);
    }

    #[test]
    fn checkpoint_round_trip_is_bit_exact() {
        let data = synth::blobs(20, &synth::BLOB_CENTERS, 1.0, 0);
        let mut model = ModelConfig::parse(2, "5:relu,3:softmax").unwrap().init(0).unwrap();
        let cfg = FitConfig {
            loss: Loss::CategoricalCrossEntropy,
            optimizer: OptimizerConfig::adam(0.01),
            epochs: 2,
            early_stopping: Some(Default::default()),
            validation_split: 0.25,
            ..Default::default()
        };
        let mut cks = Vec::new();
        let mut sink = |c: &Checkpoint| {
            cks.push(c.clone());
            Ok(())
        };
        Trainer::new(&cfg).checkpoints(1, &mut sink).fit(&mut model, &data).unwrap();
        let ck = cks.pop().unwrap();
        let path = tmp("ck");
        save_checkpoint(&path, &ck, &meta(2)).unwrap();
        let (back, m) = load_checkpoint(&path).unwrap();
        assert_eq!(m, meta(2));
        assert_eq!(bits(&back.model), bits(&ck.model));
        assert_eq!(back.optimizer_state.len(), ck.optimizer_state.len());
        for (a, b) in back.optimizer_state.iter().flatten().zip(ck.optimizer_state.iter().flatten()) {
            assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
        assert_eq!(back.state, ck.state);
        assert_eq!(back.best.as_ref().map(bits), ck.best.as_ref().map(bits));
        // A checkpoint also loads as a model.
        assert_eq!(bits(&load(&path).unwrap().model), bits(&ck.model));
    }

    fn expect_err(path: &Path, needle: &str) {
        let e = load(path).unwrap_err().to_string();
        assert!(e.contains(needle), "expected `{needle}` in: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn damaged_files_are_rejected_with_a_reason() {
        let model = ModelConfig::parse(3, "4:relu,3:softmax").unwrap().init(7).unwrap();
        let path = tmp("bad");
        save(&path, &SavedModel { model: model.clone(), meta: meta(3) }).unwrap();
        let good = std::fs::read(&path).unwrap();
        let bad = tmp("bad2");

        std::fs::write(&bad, &good[..5]).unwrap();
        expect_err(&bad, "only 5 bytes");
        std::fs::write(&bad, &good[..good.len() - 10]).unwrap();
        expect_err(&bad, "is truncated");
        let mut huge = good.clone();
        huge[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        std::fs::write(&bad, &huge).unwrap();
        expect_err(&bad, "header claims 1099511627776 bytes");
        let mut garbled = good.clone();
        garbled[8] = b'!';
        std::fs::write(&bad, &garbled).unwrap();
        expect_err(&bad, "garbled header");

        let rewrite = |f: &dyn Fn(&mut serde_json::Value)| {
            let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
            let mut h: serde_json::Value = serde_json::from_slice(&good[8..8 + n]).unwrap();
            f(&mut h);
            let mut hs = serde_json::to_vec(&h).unwrap();
            while !hs.len().is_multiple_of(8) {
                hs.push(b' ');
            }
            let mut out = (hs.len() as u64).to_le_bytes().to_vec();
            out.extend(hs);
            out.extend(&good[8 + n..]);
            std::fs::write(&bad, out).unwrap();
        };
        rewrite(&|h| h["__metadata__"]["format_version"] = "2".into());
        expect_err(&bad, "newer mlp");
        rewrite(&|h| h["__metadata__"]["mlp"] = "{not json".into());
        expect_err(&bad, "garbled `mlp` metadata");
        rewrite(&|h| {
            h.as_object_mut().unwrap().remove("__metadata__");
        });
        expect_err(&bad, "has no metadata");
        rewrite(&|h| h["layers.0.bias"]["dtype"] = "F16".into());
        expect_err(&bad, "dtype F16");
        rewrite(&|h| h["layers.0.weight"]["shape"] = serde_json::json!([3, 4]));
        expect_err(&bad, "shape [3, 4] but the architecture");
        rewrite(&|h| h["layers.0.weight"]["data_offsets"][1] = serde_json::json!(1u64 << 40));
        expect_err(&bad, "is truncated: tensor `layers.0.weight`");
        rewrite(&|h| {
            let o = h.as_object_mut().unwrap();
            let b = o.remove("layers.1.bias").unwrap();
            o.insert("layers.9.bias".into(), b);
        });
        expect_err(&bad, "no tensor `layers.1.bias`");

        let mut nan = model.clone();
        nan.params[0].get_mut("bias").unwrap().data[1] = f32::NAN;
        let raw = SavedModel { model: nan, meta: meta(3) };
        let mut tensors = Vec::new();
        push_model(&mut tensors, "", &raw.model);
        let bytes = serialize(&tensors, &base_metadata(&raw.model, &raw.meta).unwrap()).unwrap();
        std::fs::write(&bad, bytes).unwrap();
        expect_err(&bad, "non-finite value (NaN at index 1)");
        assert!(save(&bad, &raw).unwrap_err().to_string().contains("NaN"));
    }

    #[test]
    fn failed_atomic_write_leaves_nothing() {
        let dir = tmp("atomic").parent().unwrap().to_path_buf();
        let path = dir.join("out.bin");
        {
            let mut f = AtomicFile::create(&path).unwrap();
            f.write_all(b"half a model").unwrap();
            // Dropped without commit, as on an error.
        }
        assert!(!path.exists());
        let e = write_atomic(Path::new("/dev/full"), b"x").unwrap_err().to_string();
        assert!(e.contains("No space left on device"), "{e}");
        let e = write_atomic(&dir.join("missing/out.bin"), b"x").unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        assert!(std::fs::read_dir(&dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
    }
}
