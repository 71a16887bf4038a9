//! `mlprs._engine`: the Python extension module over the mlp library — training runs, prediction
//! from borrowed numpy buffers, the fitted table preprocessing and the model file — with the
//! estimator classes themselves written in Python (`mlprs/`).
//!
//! Every call that can fail returns a Python exception carrying the engine's message (`ValueError`
//! for what the caller got wrong, `OSError` for files, `TypeError` for an array of the wrong
//! kind); nothing here unwraps on the caller's input. Training and prediction run with the GIL
//! released; between batches the training loop takes it back for a moment to let Python run its
//! signal handlers (Ctrl-C) and, when asked, a progress callback.

use mlp::backend::{Backend, Cpu, Cuda};
use mlp::data::csv::Table;
use mlp::data::{Dataset, Targets};
use mlp::model_file::{self, HistorySummary, InputSpec, ModelMeta, SavedModel};
use mlp::optim::OPTIMIZER_NAMES;
use mlp::preprocess::{PreprocessConfig, Preprocessor, TargetKind};
use mlp::train::{FitConfig, History, Next, Predictor, Session, SharedRows, StopReason, TrainingData};
use mlp::{Error, Init, Loss, Matrix, Model, ModelConfig, OptimizerConfig, setup};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// The engine's error as the Python exception of its kind.
fn py_err(e: Error) -> PyErr {
    match e {
        Error::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

fn value_err(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// A borrowed array's values, or a `TypeError` saying how to make the array acceptable. The
/// Python side converts once before calling (`np.ascontiguousarray(x, dtype=np.float32)`).
fn slice<'a, T: numpy::Element, D: numpy::ndarray::Dimension>(
    a: &'a numpy::PyReadonlyArray<'_, T, D>,
    what: &str,
) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| PyTypeError::new_err(format!("{what} must be a C-contiguous array")))
}

fn matrix(a: &PyReadonlyArray2<'_, f32>, what: &str) -> PyResult<Matrix> {
    let [rows, cols] = [a.shape()[0], a.shape()[1]];
    Ok(Matrix::new(rows, cols, slice(a, what)?.to_vec()))
}

/// A training or validation array of a `fit` call, which the session reads in place (the CPU
/// backend gathers its batches straight from it: no copy is made).
struct ArrayRows {
    ptr: *const f32,
    len: usize,
}

impl ArrayRows {
    /// A view of `x`, valid while the caller holds the read-only borrow that `x` came from.
    fn new(x: &[f32]) -> Self {
        Self { ptr: x.as_ptr(), len: x.len() }
    }
}

// SAFETY: the view is only read. `fit` keeps the array's read-only borrow (numpy's borrow
// tracking refuses writable borrows from Rust meanwhile) until after the session that holds the
// view is finished, which it asserts by the `Arc`'s count before it returns. With the GIL
// released, Python code on another thread could still write to the array, as it could during
// any numpy operation that releases the GIL: training would then read a mix of old and new
// values, never outside the buffer, which the borrow keeps alive.
unsafe impl Send for ArrayRows {}
unsafe impl Sync for ArrayRows {}

impl SharedRows for ArrayRows {
    fn values(&self) -> &[f32] {
        // SAFETY: see the `Send`/`Sync` impls: the borrowed buffer is alive and unchanged.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Refuses a NaN or infinite feature, naming its row and column (1-based, as the CLI's messages
/// do); scikit-learn's checks look for "NaN" or "inf" in the message.
fn check_finite_features(x: &[f32], inputs: usize) -> PyResult<()> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(value_err(format!(
            "Input X contains {} at row {}, column {}: the model needs finite numbers; impute or drop that row",
            if x[i].is_nan() { "NaN" } else { "infinity (inf)" },
            i / inputs.max(1) + 1,
            i % inputs.max(1) + 1
        ))),
    }
}

/// Class indices (`0..n_classes`) or values as the engine's targets.
fn targets(
    labels: Option<&PyReadonlyArray1<'_, i64>>,
    values: Option<&PyReadonlyArray2<'_, f32>>,
    n_classes: Option<usize>,
    rows: usize,
) -> PyResult<Targets> {
    let y = match (labels, values) {
        (Some(l), None) => {
            let k = n_classes.ok_or_else(|| value_err("class targets need the number of classes"))?;
            let labels = slice(l, "the class labels")?
                .iter()
                .map(|&v| usize::try_from(v).ok().filter(|&i| i < k))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| value_err(format!("class indices must lie in 0..{k}")))?;
            Targets::Classes { labels, n_classes: k }
        }
        (None, Some(v)) => Targets::Values(matrix(v, "the targets")?),
        _ => return Err(value_err("give either class labels or target values")),
    };
    if y.len() != rows {
        return Err(value_err(format!("{rows} rows of features but {} targets", y.len())));
    }
    Ok(y)
}

/// What the Python side asks a training run to be: JSON, so that adding a setting needs no change
/// of signature.
#[derive(Deserialize)]
struct Request {
    /// The layer spec without the input width (`100:relu,3:softmax`).
    layers: String,
    #[serde(default)]
    init: Option<String>,
    #[serde(default)]
    l1: f32,
    #[serde(default)]
    l2: f32,
    /// An optimizer name (`OPTIMIZER_NAMES`) and hyperparameters overriding its defaults; a key the
    /// optimizer does not have is ignored (scikit-learn passes Adam's betas to every solver).
    optimizer: String,
    #[serde(default)]
    optimizer_params: serde_json::Map<String, Value>,
    /// [`FitConfig`] fields other than the loss and optimizer; missing ones take their defaults.
    #[serde(default)]
    fit: Value,
    loss: String,
    #[serde(default)]
    n_classes: Option<usize>,
    /// The fitted input pipeline to store; `None`: the features as given (an identity scaling
    /// named `features`).
    #[serde(default)]
    input: Option<InputSpec>,
    #[serde(default)]
    features: Option<Vec<String>>,
    #[serde(default)]
    classes: Option<Vec<String>>,
    #[serde(default = "cpu")]
    device: String,
    /// Whether `progress` wants a call per batch (otherwise per epoch only).
    #[serde(default)]
    batch_progress: bool,
}

fn cpu() -> String {
    "cpu".into()
}

fn optimizer(name: &str, params: &serde_json::Map<String, Value>) -> PyResult<OptimizerConfig> {
    let base = OptimizerConfig::from_name(name).map_err(py_err)?;
    let mut v = serde_json::to_value(&base).map_err(|e| value_err(e.to_string()))?;
    if let Value::Object(fields) = &mut v {
        for (k, val) in params {
            if k != "name" && fields.contains_key(k) {
                fields.insert(k.clone(), val.clone());
            }
        }
    }
    let opt: OptimizerConfig = serde_json::from_value(v).map_err(|e| value_err(format!("optimizer {name}: {e}")))?;
    opt.validate().map_err(py_err)?;
    Ok(opt)
}

/// The identity pipeline for features given as numbers: what `mlp evaluate` replays on a CSV
/// file with these columns.
fn identity_input(features: Vec<String>, target: &str) -> InputSpec {
    let n = features.len();
    InputSpec::Standardized { features, target: target.into(), mean: vec![0.0; n], std: vec![1.0; n] }
}

/// One dense layer's weights `(fan_in, units)` and biases `(units,)`.
type LayerArrays<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<f32>>);

/// A model loaded for prediction, with its metadata and (after `fit`) the full history.
#[pyclass(module = "mlprs._engine", frozen)]
struct Engine {
    saved: SavedModel,
    predictor: Predictor,
    /// One thread for a few rows: waking a second thread costs more than the product.
    small: Predictor,
    history: Option<History>,
}

/// Rows up to which a prediction runs on one thread with the GIL held.
const SMALL_ROWS: usize = 16;

/// Rows per forward pass of the predictor (larger inputs go through in chunks of this many).
const PREDICT_ROWS: usize = 1024;

impl Engine {
    fn new(saved: SavedModel, history: Option<History>, threads: usize) -> PyResult<Self> {
        let predictor = Predictor::new(&saved.model, PREDICT_ROWS, threads).map_err(py_err)?;
        let small = Predictor::new(&saved.model, SMALL_ROWS, 1).map_err(py_err)?;
        Ok(Self { saved, predictor, small, history })
    }

    /// Whether numeric inputs reach the network unchanged (the scaling is the identity).
    fn passes_numbers_through(&self) -> bool {
        match &self.saved.meta.input {
            InputSpec::Standardized { mean, std, .. } => {
                mean.iter().all(|&m| m == 0.0) && std.iter().all(|&s| s == 1.0)
            }
            InputSpec::Pixels { .. } => true,
            InputSpec::Table { .. } => false,
        }
    }

    fn run(&self, py: Python<'_>, x: &[f32]) -> PyResult<Vec<f32>> {
        let outputs = self.saved.model.config.output_dim();
        let inputs = self.saved.model.config.input_dim;
        let mut out = vec![0.0f32; x.len() / inputs.max(1) * outputs];
        let p = &self.predictor;
        // A few rows cost less than releasing and taking back the GIL (the products are the same
        // bits on any thread count).
        if x.len() <= SMALL_ROWS * inputs {
            self.small.predict_slice_into(x, &mut out).map_err(py_err)?;
        } else {
            py.detach(|| p.predict_slice_into(x, &mut out)).map_err(py_err)?;
        }
        Ok(out)
    }

    fn output_array<'py>(&self, py: Python<'py>, out: Vec<f32>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let cols = self.saved.model.config.output_dim();
        let rows = out.len() / cols.max(1);
        let check = Matrix::new(rows, cols, out);
        model_file::check_outputs(&check).map_err(py_err)?;
        let a =
            numpy::ndarray::Array2::from_shape_vec((rows, cols), check.data).map_err(|e| value_err(e.to_string()))?;
        Ok(a.into_pyarray(py))
    }

    /// The outputs as float32 (`proba` false), or as scikit-learn's `predict_proba`: float64, one
    /// column per class — a lone sigmoid output p becomes the two columns 1 − p and p, softmax
    /// rows are renormalized in f64 so that they sum to 1 to the last bit scikit-learn checks.
    fn output_object<'py>(&self, py: Python<'py>, out: Vec<f32>, proba: bool) -> PyResult<Bound<'py, PyAny>> {
        if !proba {
            return Ok(self.output_array(py, out)?.into_any());
        }
        let cols = self.saved.model.config.output_dim().max(1);
        let checked = Matrix::new(out.len() / cols, cols, out);
        model_file::check_outputs(&checked).map_err(py_err)?;
        let out = checked.data;
        let probs: Vec<f64> = if cols == 1 {
            out.iter().flat_map(|&p| [1.0 - f64::from(p), f64::from(p)]).collect()
        } else {
            out.chunks(cols)
                .flat_map(|row| {
                    let sum: f64 = row.iter().map(|&p| f64::from(p)).sum();
                    row.iter().map(move |&p| f64::from(p) / sum)
                })
                .collect()
        };
        let width = if cols == 1 { 2 } else { cols };
        let a = numpy::ndarray::Array2::from_shape_vec((probs.len() / width, width), probs)
            .map_err(|e| value_err(e.to_string()))?;
        Ok(a.into_pyarray(py).into_any())
    }
}

#[pymethods]
impl Engine {
    /// Reads a model file held in memory (`bytes`); `threads` for prediction (0: every core).
    #[staticmethod]
    #[pyo3(signature = (data, threads = 0))]
    fn from_bytes(data: &[u8], threads: usize) -> PyResult<Self> {
        Self::new(model_file::from_bytes(data, "model bytes").map_err(py_err)?, None, threads)
    }

    /// Reads a model file (as `mlp train` writes it).
    #[staticmethod]
    #[pyo3(signature = (path, threads = 0))]
    fn load(path: PathBuf, threads: usize) -> PyResult<Self> {
        Self::new(model_file::load(&path).map_err(py_err)?, None, threads)
    }

    /// The model file's bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &model_file::to_bytes(&self.saved).map_err(py_err)?))
    }

    /// Writes the model file atomically (what `mlp evaluate` and `mlp predict` read).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        model_file::save(&path, &self.saved).map_err(py_err)
    }

    /// The same model recording that its inputs are image pixels scaled from `0..=255` to
    /// `[0, 1]` (what `mlp train` records for IDX data), so that `mlp evaluate --data mnist/`
    /// and `mlp predict` on pixel CSV files read it.
    fn with_pixels(&self, rows: usize, cols: usize) -> PyResult<Self> {
        let inputs = self.saved.model.config.input_dim;
        if rows.checked_mul(cols) != Some(inputs) {
            return Err(value_err(format!(
                "an image of {rows}×{cols} pixels does not make the model's {inputs} inputs"
            )));
        }
        let target = self.saved.meta.input.target_name().to_string();
        let mut saved = self.saved.clone();
        saved.meta.input = InputSpec::Pixels { rows, cols, target };
        Self::new(saved, self.history.clone(), 0)
    }

    /// Outputs (probabilities for softmax/sigmoid outputs) for numeric features, `rows × inputs`
    /// float32, C-contiguous: read in place when the model's input scaling is the identity.
    /// `proba`: scikit-learn's `predict_proba` instead (see [`Engine::output_object`]). A NaN or
    /// infinite feature is refused here, naming where it is: its output would not be a number.
    #[pyo3(signature = (x, proba = false))]
    fn predict<'py>(&self, py: Python<'py>, x: PyReadonlyArray2<'py, f32>, proba: bool) -> PyResult<Bound<'py, PyAny>> {
        let inputs = self.saved.model.config.input_dim;
        if x.shape()[1] != inputs {
            return Err(value_err(format!(
                "X has {} features, but this model expects {inputs} features as input",
                x.shape()[1]
            )));
        }
        let out = if let InputSpec::Table { preprocessor } = &self.saved.meta.input {
            // A numeric array for a table model: its columns are the table's input columns, and
            // a NaN is a missing cell for its imputation.
            let columns: Vec<String> = preprocessor.input_columns().iter().map(|c| c.to_string()).collect();
            let data: Vec<f64> = slice(&x, "X")?.iter().map(|&v| f64::from(v)).collect();
            let rows = mlp::rows::NumericRows::new("array", columns, &data).map_err(py_err)?;
            let m = self.saved.meta.input.transform_rows(&rows).map_err(py_err)?;
            self.run(py, &m.data)?
        } else {
            let data = slice(&x, "X")?;
            check_finite_features(data, inputs)?;
            if self.passes_numbers_through() {
                self.run(py, data)?
            } else {
                let mut m = matrix(&x, "X")?;
                self.saved.meta.input.scale_numeric(&mut m).map_err(py_err)?;
                self.run(py, &m.data)?
            }
        };
        self.output_object(py, out, proba)
    }

    /// Outputs for rows of named text cells (a DataFrame), encoded with the model's fitted
    /// pipeline: one-hot categories, imputation and standardization as at training time.
    #[pyo3(signature = (columns, rows, proba = false))]
    fn predict_rows<'py>(
        &self,
        py: Python<'py>,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
        proba: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let table = Table::from_rows("DataFrame", columns, rows);
        let m = self.saved.meta.input.transform_rows(&table).map_err(py_err)?;
        let out = self.run(py, &m.data)?;
        self.output_object(py, out, proba)
    }

    /// Scores on labelled data (features already encoded): the loss the model was trained with
    /// and the metrics of its task (accuracy, or mae/mse/r2), as the CLI's `evaluate` computes them.
    #[pyo3(signature = (x, labels=None, values=None, threads=0))]
    fn evaluate(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f32>,
        labels: Option<PyReadonlyArray1<'_, i64>>,
        values: Option<PyReadonlyArray2<'_, f32>>,
        threads: usize,
    ) -> PyResult<std::collections::BTreeMap<String, f64>> {
        let n_classes = self.saved.meta.classes.as_ref().map(Vec::len).or(Some(self.saved.model.config.output_dim()));
        let y = targets(labels.as_ref(), values.as_ref(), n_classes, x.shape()[0])?;
        let data = Dataset::new(matrix(&x, "X")?, y);
        let (model, loss) = (&self.saved.model, self.saved.meta.loss);
        let ev = py.detach(|| mlp::train::evaluate(model, &data, loss, threads)).map_err(py_err)?;
        Ok(ev.metrics)
    }

    /// The weights and biases of each dense layer: `(fan_in, units)` and `(units,)` arrays.
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Vec<LayerArrays<'py>>> {
        let mut out = Vec::new();
        for layer in &self.saved.model.params {
            let (Some(w), Some(b)) = (layer.get("weight"), layer.get("bias")) else { continue };
            let [fan_in, units] = [w.shape[0], w.shape[1]];
            out.push((
                PyArray1::from_vec(py, w.data.clone()).reshape([fan_in, units])?,
                PyArray1::from_vec(py, b.data.clone()),
            ));
        }
        Ok(out)
    }

    /// The architecture and metadata (loss, input pipeline, classes, training settings) as JSON.
    fn meta_json(&self) -> PyResult<String> {
        let v = serde_json::json!({ "architecture": self.saved.model.config, "meta": self.saved.meta });
        Ok(v.to_string())
    }

    /// Every epoch's metrics and how training ended, as JSON (`None` for a loaded file).
    fn history_json(&self) -> Option<String> {
        self.history.as_ref().map(|h| serde_json::to_string(h).unwrap_or_default())
    }

    /// The Keras-style summary table.
    fn summary(&self) -> String {
        self.saved.model.summary()
    }

    #[getter]
    fn input_dim(&self) -> usize {
        self.saved.model.config.input_dim
    }

    #[getter]
    fn output_dim(&self) -> usize {
        self.saved.model.config.output_dim()
    }

    /// The layer spec (`512:relu,10:softmax`).
    #[getter]
    fn layers(&self) -> String {
        setup::spec_of(&self.saved.model.config)
    }

    /// The loss the model was trained with, by its Keras name.
    #[getter]
    fn loss(&self) -> String {
        self.saved.meta.loss.to_string()
    }

    /// The class labels stored in the file (`None` for a regression).
    #[getter]
    fn classes(&self) -> Option<Vec<String>> {
        self.saved.meta.classes.clone()
    }

    /// The input pipeline's kind: `table`, `standardized` or `pixels`.
    #[getter]
    fn input_kind(&self) -> &'static str {
        match self.saved.meta.input {
            InputSpec::Table { .. } => "table",
            InputSpec::Standardized { .. } => "standardized",
            InputSpec::Pixels { .. } => "pixels",
        }
    }

    /// The input columns a table model reads, or the feature names of a numeric one.
    #[getter]
    fn input_columns(&self) -> Vec<String> {
        match &self.saved.meta.input {
            InputSpec::Table { preprocessor } => preprocessor.input_columns().iter().map(|c| c.to_string()).collect(),
            InputSpec::Standardized { features, .. } => features.clone(),
            InputSpec::Pixels { .. } => (1..=self.saved.model.config.input_dim).map(|i| format!("x{i}")).collect(),
        }
    }
}

/// What one training run returns: the trained model, and the exception a signal handler raised
/// (KeyboardInterrupt) when that stopped it between batches.
type Trained = (Model, History, Option<PyErr>);

/// Calls `progress` (with the GIL) after letting Python handle pending signals; `Ok(true)` when
/// the callback asks to stop.
fn tell(
    progress: Option<&Py<PyAny>>,
    args: impl FnOnce(Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>>,
) -> PyResult<bool> {
    Python::attach(|py| {
        py.check_signals()?;
        match (progress, args(py)?) {
            (Some(cb), Some(a)) => {
                let r = cb.bind(py).call1(a.cast_into::<pyo3::types::PyTuple>()?)?;
                r.is_truthy()
            }
            _ => Ok(false),
        }
    })
}

/// Trains on `be` batch by batch, with the GIL released except for a moment between batches.
fn drive<B: Backend>(
    be: &B,
    cfg: &FitConfig,
    model: &Model,
    data: TrainingData<'_>,
    progress: Option<&Py<PyAny>>,
    batch_progress: bool,
) -> Result<Trained, PyErr> {
    let mut s = Session::prepare(be, cfg, model, data).map_err(py_err)?;
    let mut pending = None;
    loop {
        match s.next() {
            Next::Batch => {
                let Some(rep) = s.train_batch().map_err(py_err)? else { continue };
                let answer = tell(progress, |py| {
                    if !batch_progress {
                        return Ok(None);
                    }
                    let args = ("batch", rep.epoch, rep.batch, rep.batches, rep.loss, rep.accuracy);
                    Ok(Some(args.into_pyobject(py)?.into_any()))
                });
                match answer {
                    Err(e) => {
                        s.stop(StopReason::Interrupted { epoch: rep.epoch, batch: rep.batch }).map_err(py_err)?;
                        pending = Some(e);
                    }
                    Ok(true) => {
                        s.stop(StopReason::Callback { name: "callback".into(), epoch: rep.epoch }).map_err(py_err)?
                    }
                    Ok(false) => {}
                }
            }
            Next::EndEpoch => {
                let Some(rec) = s.end_epoch().map_err(py_err)? else { continue };
                let answer = tell(progress, |py| {
                    let metrics = PyDict::new(py);
                    for (k, v) in &rec.metrics {
                        metrics.set_item(k, v)?;
                    }
                    let args = ("epoch", rec.epoch, metrics, rec.seconds, rec.lr);
                    Ok(Some(args.into_pyobject(py)?.into_any()))
                });
                match answer {
                    Err(e) => {
                        s.stop(StopReason::Interrupted { epoch: rec.epoch, batch: s.batches() }).map_err(py_err)?;
                        pending = Some(e);
                    }
                    Ok(true) => {
                        s.stop(StopReason::Callback { name: "callback".into(), epoch: rec.epoch }).map_err(py_err)?
                    }
                    Ok(false) => {}
                }
            }
            Next::Finish => break,
        }
    }
    let (m, h) = s.finish();
    Ok((m, h, pending))
}

/// Trains a model. `request` is JSON (see the Python side, `mlprs/_core.py`); `x` float32
/// C-contiguous; targets as class indices (`labels`) or values; `init` continues from a model's
/// weights (warm start). Returns the engine and, when Ctrl-C stopped training, the exception to
/// raise once the caller has kept the model trained so far.
#[pyfunction]
#[pyo3(signature = (request, x, labels=None, values=None, sample_weight=None, valid_x=None, valid_labels=None, valid_values=None, init=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn fit<'py>(
    py: Python<'py>,
    request: &str,
    x: PyReadonlyArray2<'py, f32>,
    labels: Option<PyReadonlyArray1<'py, i64>>,
    values: Option<PyReadonlyArray2<'py, f32>>,
    sample_weight: Option<PyReadonlyArray1<'py, f32>>,
    valid_x: Option<PyReadonlyArray2<'py, f32>>,
    valid_labels: Option<PyReadonlyArray1<'py, i64>>,
    valid_values: Option<PyReadonlyArray2<'py, f32>>,
    init: Option<PyRef<'py, Engine>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Engine, Option<PyErr>)> {
    let req: Request = serde_json::from_str(request).map_err(|e| value_err(format!("bad training request: {e}")))?;
    let loss: Loss = req.loss.parse().map_err(py_err)?;
    let y = targets(labels.as_ref(), values.as_ref(), req.n_classes, x.shape()[0])?;
    let inputs = x.shape()[1];
    let shared: Arc<dyn SharedRows> = Arc::new(ArrayRows::new(slice(&x, "X")?));
    // The validation rows are read in place too, with their own view and the same checks.
    let valid = match &valid_x {
        Some(vx) => Some((
            Arc::new(ArrayRows::new(slice(vx, "the validation X")?)) as Arc<dyn SharedRows>,
            vx.shape()[1],
            targets(valid_labels.as_ref(), valid_values.as_ref(), req.n_classes, vx.shape()[0])?,
        )),
        None => None,
    };
    let weights = sample_weight.as_ref().map(|w| slice(w, "sample_weight")).transpose()?;

    let mut config = ModelConfig::parse(inputs, &req.layers).map_err(py_err)?;
    if let Some(init) = &req.init {
        config = config.with_init(init.parse::<Init>().map_err(py_err)?);
    }
    if req.l1 != 0.0 || req.l2 != 0.0 {
        config = config.with_penalties(req.l1, req.l2);
    }
    loss.check_output(config.output_activation(), config.output_dim()).map_err(py_err)?;
    if let Some(k) = req.n_classes {
        setup::check_classes_fit(loss, &config, k).map_err(py_err)?;
    }
    let fit_json = if req.fit.is_null() { Value::Object(Default::default()) } else { req.fit.clone() };
    let mut fit: FitConfig =
        serde_json::from_value(fit_json).map_err(|e| value_err(format!("bad fit settings: {e}")))?;
    fit.loss = loss;
    fit.optimizer = optimizer(&req.optimizer, &req.optimizer_params)?;
    fit.validate().map_err(py_err)?;
    let start = match &init {
        Some(e) => {
            setup::check_same_architecture(&e.saved.model.config, &config, "the model to continue from")
                .map_err(py_err)?;
            Model { config: config.clone(), params: e.saved.model.params.clone() }
        }
        None => config.init(fit.seed).map_err(py_err)?,
    };
    let target = if req.n_classes.is_some() { "label" } else { "y" };
    let features = req.features.clone().unwrap_or_else(|| (1..=inputs).map(|i| format!("x{i}")).collect());
    if features.len() != inputs {
        return Err(value_err(format!("{} feature names for {} features", features.len(), inputs)));
    }
    let input = req.input.clone().unwrap_or_else(|| identity_input(features, target));

    let mut data = TrainingData::shared(Arc::clone(&shared), inputs, &y).map_err(py_err)?;
    if let Some((vx, cols, vy)) = &valid {
        data = data.valid_shared(Arc::clone(vx), *cols, vy).map_err(py_err)?;
    }
    if let Some(w) = weights {
        data = data.sample_weights(w);
    }
    let progress = progress.as_ref();
    let (cfg, batch_progress) = (&fit, req.batch_progress);
    let device = req.device.trim().to_ascii_lowercase();
    let (model, history, pending) = py.detach(|| match device.as_str() {
        "cpu" => drive(&Cpu::<f32>::new(cfg.threads).map_err(py_err)?, cfg, &start, data, progress, batch_progress),
        d if d == "cuda" || d.starts_with("cuda:") => {
            let index = d
                .strip_prefix("cuda:")
                .map_or(Ok(0), str::parse::<usize>)
                .map_err(|_| value_err(format!("device `{d}`: expected cpu, cuda or cuda:N")))?;
            drive(&Cuda::new(index).map_err(py_err)?, cfg, &start, data, progress, batch_progress)
        }
        d => Err(value_err(format!("device `{d}`: expected cpu, cuda or cuda:N"))),
    })?;
    // The session that read `x` in place is gone (`drive` finished it); `x`'s borrow ends below.
    assert_eq!(Arc::strong_count(&shared), 1, "a training session outlived fit's borrow of X");
    if let Some((vx, _, _)) = &valid {
        assert_eq!(Arc::strong_count(vx), 1, "a training session outlived fit's borrow of the validation X");
    }
    let training = serde_json::json!({
        "front_end": "python",
        "layers": req.layers,
        "device": req.device,
        "fit": FitConfig { threads: 0, ..fit.clone() },
    });
    let meta = ModelMeta {
        loss,
        input,
        classes: req.classes.clone(),
        training: Some(training),
        history: Some(HistorySummary::of(&history)),
        created_by: format!("mlprs {} (python)", env!("CARGO_PKG_VERSION")),
    };
    let engine = Engine::new(SavedModel { model, meta }, Some(history), fit.threads)?;
    Ok((engine, pending))
}

/// Fits the engine's table preprocessing (typing, one-hot categories, imputation,
/// standardization) on rows of text cells, the target column among them, as `mlp train` does for
/// a CSV file. Returns the encoded features, class indices or values, the pipeline as JSON (for
/// `fit`'s request) and the class labels in index order.
#[pyfunction]
#[pyo3(signature = (columns, rows, target, classes, impute=true, drop=Vec::new()))]
#[allow(clippy::type_complexity)]
fn encode_table<'py>(
    py: Python<'py>,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    target: String,
    classes: bool,
    impute: bool,
    drop: Vec<String>,
) -> PyResult<(
    Bound<'py, PyArray2<f32>>,
    Option<Bound<'py, PyArray1<i64>>>,
    Option<Bound<'py, PyArray2<f32>>>,
    String,
    Option<Vec<String>>,
)> {
    if let Some((r, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != columns.len()) {
        return Err(value_err(format!("row {} has {} cells for {} columns", r + 1, row.len(), columns.len())));
    }
    let table = Table::from_rows("DataFrame", columns, rows);
    let cfg = PreprocessConfig { target: Some(target), drop, impute, standardize: true };
    setup::table_shape(&table, &cfg).map_err(py_err)?;
    let kind = if classes { TargetKind::Classes } else { TargetKind::Values };
    let (pre, data) = Preprocessor::fit(&table, &cfg, kind).map_err(py_err)?;
    let labels = pre.class_labels().map(<[String]>::to_vec);
    let x = PyArray1::from_vec(py, data.x.data).reshape([data.x.rows, data.x.cols])?;
    let (l, v) = match data.y {
        Targets::Classes { labels, .. } => {
            (Some(PyArray1::from_vec(py, labels.into_iter().map(|l| l as i64).collect())), None)
        }
        Targets::Values(m) => (None, Some(PyArray1::from_vec(py, m.data).reshape([m.rows, m.cols])?)),
    };
    let spec = serde_json::to_string(&InputSpec::Table { preprocessor: pre }).map_err(|e| value_err(e.to_string()))?;
    Ok((x, l, v, spec, labels))
}

/// The Keras-style summary table of a layer spec on `input_dim` inputs, before any training.
#[pyfunction]
fn summary_of(input_dim: usize, layers: &str) -> PyResult<String> {
    Ok(ModelConfig::parse(input_dim, layers).map_err(py_err)?.summary())
}

/// The optimizer names the engine knows (`solver=` / `optimizer=`), comma-separated.
#[pyfunction]
fn optimizer_names() -> &'static str {
    OPTIMIZER_NAMES
}

/// The Python extension module.
#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(encode_table, m)?)?;
    m.add_function(wrap_pyfunction!(optimizer_names, m)?)?;
    m.add_function(wrap_pyfunction!(summary_of, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
