//! The browser playground's engine: the mlp library compiled to WebAssembly and driven from a Web Worker through wasm-bindgen.
//!
//! A [`Playground`] owns one training run (or, opened from a model file, one trained model): the
//! page hands it raw rows and a setup, calls [`Playground::train_for`] in slices of a few
//! milliseconds, and asks between slices for what it draws (the output over a grid, every
//! neuron's output over a coarser grid, the weights, the dead units). Everything is computed by
//! the library itself (`Session`, `Predictor`, the model file), single-threaded, on the clock the
//! browser has.

mod features;
mod view;

use features::FeatureMap;
use mlp::data::{Dataset, Targets, synth};
use mlp::model_file::{self, HistorySummary, InputSpec, ModelMeta, SavedModel};
use mlp::recipes::Spirals;
use mlp::train::{
    Callback, Control, EarlyStopping, EpochRecord, Event, History, Next, PlateauStopper, Session, TrainingData,
};
use mlp::{FitConfig, Init, Loss, Matrix, Model, ModelConfig, OptimizerConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use wasm_bindgen::prelude::*;

/// What the page chose: the network, the loss, the optimizer, the features and the stoppers.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// Hidden and output layers, as `mlp train --layers` writes them (`4:tanh,2:tanh,1:tanh`).
    pub layers: String,
    /// The loss, by the CLI's names (`mse`, `categorical_crossentropy`…).
    pub loss: String,
    /// The optimizer, as `mlp train --optimizer` takes it (`sgd(lr=0.03)`, `adam(lr=0.01)`…).
    pub optimizer: String,
    /// Weight initialization for every layer (the CLI's names).
    #[serde(default)]
    pub init: Option<String>,
    /// Rows per batch.
    pub batch_size: usize,
    /// L1 and L2 penalties on every layer's weights.
    #[serde(default)]
    pub l1: f32,
    #[serde(default)]
    pub l2: f32,
    /// The raw columns of each row, in order (`x1`, `x2`, or an uploaded file's header).
    pub columns: Vec<String>,
    /// The network's inputs, computed from the columns (`x1`, `x1^2`, `x1*x2`, `sin(x1)`…).
    pub features: Vec<String>,
    /// The number of classes (the targets are class indices), or none for regression.
    #[serde(default)]
    pub classes: Option<usize>,
    /// The fraction of rows held out as test data (TF Playground's ratio is 1 − this).
    pub test_fraction: f32,
    /// Seed of the split, the initial weights and the shuffles.
    pub seed: u64,
    /// Stop once training accuracy settles (the seed's plateau stopper).
    #[serde(default)]
    pub plateau: bool,
    /// Early stopping on the test loss with this patience (best weights restored).
    #[serde(default)]
    pub early_stopping: Option<usize>,
}

/// The loop's figures after a slice of training, for the page's counters and curves.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Epochs finished.
    pub epoch: usize,
    /// The last epoch's metrics (`loss`, `accuracy`, `val_loss`, `val_accuracy`…).
    pub metrics: BTreeMap<String, f64>,
    /// Whether training ended (a stopper, early stopping, or a non-finite loss).
    pub finished: bool,
    /// Why it ended, in words, once it has.
    pub stop: Option<String>,
}

/// The run: a session while training, the final model once it ended.
enum Run {
    Training(Box<Session>),
    Done { model: Model, history: History },
}

/// One playground: data, setup and the training run (or a model opened from a file).
#[wasm_bindgen]
pub struct Playground {
    run: Run,
    map: FeatureMap,
    input: InputSpec,
    loss: Loss,
    classes: Option<usize>,
    /// The standardized training and test rows (empty for an opened model), and the fit settings.
    train: Dataset,
    test: Dataset,
    fit: FitConfig,
    /// The plateau stopper, shared with the session so that its state outlives a compaction.
    stopper: Option<Arc<Mutex<PlateauStopper>>>,
    /// 1 for each row held out as test data, in the order the rows were given.
    test_mask: Vec<u8>,
    setup: Option<Setup>,
    last: Option<EpochRecord>,
    error: Option<String>,
}

/// Seconds from the browser's (or Node's) clock: `std::time::Instant` panics in WebAssembly.
fn now() -> f64 {
    js_sys::Date::now() / 1000.0
}

fn err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The targets of `y`: class indices checked against `classes`, or one value per row.
fn targets(y: &[f32], classes: Option<usize>) -> Result<Targets, String> {
    let Some(n_classes) = classes else {
        return Ok(Targets::Values(Matrix::new(y.len(), 1, y.to_vec())));
    };
    let labels = y
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ok = v >= 0.0 && v.fract() == 0.0 && (v as usize) < n_classes;
            if ok { Ok(v as usize) } else { Err(format!("row {}: label {v} is not a class in 0..{n_classes}", i + 1)) }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Targets::Classes { labels, n_classes })
}

/// The library's (stratified, seeded) split of `data`, and which rows went to the test part:
/// splitting the row numbers themselves tells the page which points to draw as test points.
fn split(data: &Dataset, test_fraction: f32, seed: u64, stratify: bool) -> (Dataset, Dataset, Vec<u8>) {
    let n = data.len();
    let numbers = Dataset::new(Matrix::new(n, 1, (0..n).map(|i| i as f32).collect()), data.y.clone());
    let (train, test) = numbers.split(test_fraction, seed, stratify);
    let rows = |d: &Dataset| d.x.data.iter().map(|&v| v as usize).collect::<Vec<_>>();
    let mut mask = vec![0u8; n];
    for r in rows(&test) {
        mask[r] = 1;
    }
    (data.select(&rows(&train)), data.select(&rows(&test)), mask)
}

/// The architecture, the fit configuration and the stopper a setup describes.
fn configure(s: &Setup, inputs: usize, has_test: bool) -> Result<(ModelConfig, FitConfig), JsError> {
    let mut model = ModelConfig::parse(inputs, &s.layers).map_err(err)?.with_penalties(s.l1, s.l2);
    if let Some(init) = &s.init {
        model = model.with_init(init.parse::<Init>().map_err(err)?);
    }
    let fit = FitConfig {
        loss: s.loss.parse().map_err(err)?,
        optimizer: OptimizerConfig::parse(&s.optimizer).map_err(err)?,
        // The page trains until it is paused or a stopper ends the run.
        epochs: u32::MAX as usize,
        batch_size: s.batch_size,
        seed: s.seed,
        early_stopping: s
            .early_stopping
            .filter(|_| has_test)
            .map(|patience| EarlyStopping { patience, ..EarlyStopping::default() }),
        threads: 1,
        ..FitConfig::default()
    };
    Ok((model, fit))
}

#[wasm_bindgen]
impl Playground {
    /// Starts a run on `x` (`rows × setup.columns` raw values, row after row) and `y` (a class
    /// index or a value per row); `setup` is the JSON of [`Setup`]. The features are standardized
    /// as `mlp train` standardizes built-in data, so the model file evaluates the same way there.
    #[wasm_bindgen(constructor)]
    pub fn new(setup: &str, x: Vec<f32>, y: Vec<f32>) -> Result<Playground, JsError> {
        let setup: Setup = serde_json::from_str(setup).map_err(|e| err(format!("playground setup: {e}")))?;
        let cols = setup.columns.len();
        if cols == 0 || x.len() != y.len() * cols {
            return Err(err(format!("{} values for {} rows of {cols} columns", x.len(), y.len())));
        }
        if !(0.0..1.0).contains(&setup.test_fraction) {
            return Err(err(format!("test fraction {} is not in [0, 1)", setup.test_fraction)));
        }
        let map = FeatureMap::parse(&setup.features, &setup.columns).map_err(err)?;
        let mut data =
            Dataset::new(map.apply(&Matrix::new(y.len(), cols, x)), targets(&y, setup.classes).map_err(err)?);
        let target = if setup.classes.is_some() { "label" } else { "y" };
        let input = InputSpec::standardize(&data.x, map.names().to_vec(), target);
        input.scale_numeric(&mut data.x).map_err(err)?;
        let (train, test, test_mask) = split(&data, setup.test_fraction, setup.seed, setup.classes.is_some());
        let (model_cfg, fit) = configure(&setup, map.names().len(), !test.is_empty())?;
        let model = model_cfg.init(setup.seed).map_err(err)?;
        let stopper = setup.plateau.then(|| Arc::new(Mutex::new(Spirals::new(0).stopper)));
        let session = start(&train, &test, stopper.as_ref(), |data| Session::prepare_cpu(&fit, &model, data))?;
        Ok(Playground {
            run: Run::Training(Box::new(session)),
            loss: fit.loss,
            classes: setup.classes,
            map,
            input,
            train,
            test,
            fit,
            stopper,
            test_mask,
            setup: Some(setup),
            last: None,
            error: None,
        })
    }

    /// Opens a model file (from `mlp train` or this page) to look at: its inputs must be
    /// standardized columns or formulas of the columns `x1` and `x2`.
    pub fn open(bytes: &[u8], name: &str) -> Result<Playground, JsError> {
        let saved = model_file::load_bytes(bytes, name).map_err(err)?;
        let InputSpec::Standardized { features, .. } = &saved.meta.input else {
            return Err(err(format!(
                "{name}: the playground draws models whose inputs are numeric columns x1, x2 (as `mlp train --data builtin:…` writes); this one reads a table"
            )));
        };
        let n = features.len();
        let columns = vec!["x1".to_string(), "x2".to_string()];
        let map = FeatureMap::parse(features, &columns).map_err(|e| err(format!("{name}: {e}")))?;
        let classes = saved.meta.classes.as_ref().map(Vec::len);
        Ok(Playground {
            run: Run::Done { model: saved.model, history: History::default() },
            loss: saved.meta.loss,
            classes,
            map,
            input: saved.meta.input,
            train: Dataset::new(Matrix::zeros(0, n), Targets::Values(Matrix::zeros(0, 1))),
            test: Dataset::new(Matrix::zeros(0, n), Targets::Values(Matrix::zeros(0, 1))),
            fit: FitConfig::default(),
            stopper: None,
            test_mask: Vec::new(),
            setup: None,
            last: None,
            error: None,
        })
    }

    /// 1 for each row held out as test data, 0 for a training row, in the order given.
    pub fn test_mask(&self) -> Vec<u8> {
        self.test_mask.clone()
    }

    /// Trains for about `budget_ms` milliseconds of whole epochs (at least one, at most
    /// `max_epochs`), then returns the [`Status`] as JSON.
    pub fn train_for(&mut self, budget_ms: f64, max_epochs: u32) -> Result<String, JsError> {
        let t0 = now();
        let mut done = 0u32;
        while let Run::Training(s) = &mut self.run {
            match s.next() {
                Next::Batch => {
                    if let Err(e) = s.train_batch() {
                        self.error = Some(e.to_string());
                    }
                }
                Next::EndEpoch => match s.end_epoch() {
                    Ok(record) => {
                        self.last = record;
                        done += 1;
                        if s.history().epochs.len() >= HISTORY_CAP {
                            self.compact()?;
                        }
                        if done >= max_epochs || (now() - t0) * 1000.0 >= budget_ms {
                            break;
                        }
                    }
                    Err(e) => self.error = Some(e.to_string()),
                },
                Next::Finish => self.finish(),
            }
        }
        self.status()
    }

    /// The [`Status`] as JSON, without training.
    pub fn status(&self) -> Result<String, JsError> {
        let (finished, stop) = match &self.run {
            Run::Training(_) => (false, None),
            Run::Done { history, .. } => (true, Some(self.error.clone().unwrap_or_else(|| view::stop_words(history)))),
        };
        let epoch = self.epochs();
        let metrics = self.last.as_ref().map(|r| r.metrics.clone()).unwrap_or_default();
        serde_json::to_string(&Status { epoch, metrics, finished, stop }).map_err(err)
    }

    /// Epochs finished.
    fn epochs(&self) -> usize {
        self.last.as_ref().map_or(0, |r| r.epoch)
    }

    /// Restarts the session from its own checkpoint with all but the last epochs of its history
    /// dropped: a page left training for an hour runs tens of millions of epochs, and their
    /// records would fill the 4 GiB a WebAssembly page may have. Resuming is exact (weights,
    /// optimizer state, shuffles by epoch, early stopping's best weights and counters).
    fn compact(&mut self) -> Result<(), JsError> {
        let Run::Training(s) = &self.run else { return Ok(()) };
        let mut ck = s.checkpoint();
        let epochs = &mut ck.state.history.epochs;
        epochs.drain(..epochs.len().saturating_sub(HISTORY_KEEP));
        let fit = &self.fit;
        let session = start(&self.train, &self.test, self.stopper.as_ref(), |data| Session::resume_cpu(fit, ck, data))?;
        self.run = Run::Training(Box::new(session));
        Ok(())
    }

    /// Ends the run: early stopping's best weights come back here.
    fn finish(&mut self) {
        let run = std::mem::replace(&mut self.run, Run::Done { model: empty_model(), history: History::default() });
        self.run = match run {
            Run::Training(s) => {
                let (model, history) = s.finish();
                Run::Done { model, history }
            }
            done => done,
        };
    }

    /// The model as it stands (a copy of the session's weights while training).
    fn model(&self) -> Model {
        match &self.run {
            Run::Training(s) => s.model(),
            Run::Done { model, .. } => model.clone(),
        }
    }

    /// The network's outputs over an `n × n` grid of raw points (`x1` from `x0` to `x1`
    /// left to right, `x2` from `y1` down to `y0`), row after row, every output unit of a point
    /// together.
    pub fn output_grid(&self, n: usize, x0: f32, x1: f32, y0: f32, y1: f32) -> Result<Vec<f32>, JsError> {
        let model = self.model();
        let layers = model.config.layers.len();
        view::layer_outputs(&model, layers - 1, &self.grid_features(n, [x0, x1, y0, y1])?).map_err(err)
    }

    /// Every unit's output over an `n × n` grid, for the thumbnails: first each input feature
    /// (standardized), then each layer's units, one `n²` block per unit.
    pub fn neuron_grids(&self, n: usize, x0: f32, x1: f32, y0: f32, y1: f32) -> Result<Vec<f32>, JsError> {
        let model = self.model();
        let x = self.grid_features(n, [x0, x1, y0, y1])?;
        let mut out = view::unit_major(&x);
        for k in 0..model.config.layers.len() {
            let m = Matrix::new(x.rows, model.config.layers[k].units, view::layer_outputs(&model, k, &x).map_err(err)?);
            out.extend(view::unit_major(&m));
        }
        Ok(out)
    }

    /// The standardized features of the grid's raw points.
    fn grid_features(&self, n: usize, [x0, x1, y0, y1]: [f32; 4]) -> Result<Matrix, JsError> {
        if self.map.columns() != 2 {
            return Err(err(format!("the data has {} columns; a boundary is drawn over two", self.map.columns())));
        }
        let step = |a: f32, b: f32, i: usize| a + (b - a) * (i as f32 + 0.5) / n as f32;
        let raw: Vec<f32> = (0..n * n).flat_map(|p| [step(x0, x1, p % n), step(y1, y0, p / n)]).collect();
        let mut x = self.map.apply(&Matrix::new(n * n, 2, raw));
        self.input.scale_numeric(&mut x).map_err(err)?;
        Ok(x)
    }

    /// The weights and biases of every layer as JSON: `[{fan_in, width, weight, bias}]`, the
    /// weight of input `i` into unit `j` at `weight[i·width + j]`.
    pub fn weights(&self) -> Result<String, JsError> {
        serde_json::to_string(&view::weights(&self.model())).map_err(err)
    }

    /// Per hidden layer, the fraction of its units whose output is the same for every training
    /// row: a dead ReLU, or a saturated unit, passes no gradient and learns nothing.
    pub fn dead_fractions(&self) -> Result<Vec<f32>, JsError> {
        view::dead_fractions(&self.model(), &self.train.x).map_err(err)
    }

    /// The architecture and input, as JSON: `{layers, features, loss, classes, mean, std}`, for
    /// drawing an opened model.
    pub fn describe(&self) -> Result<String, JsError> {
        let model = self.model();
        let (mean, std) = self.input.scaling();
        let layers: Vec<String> = model.config.layers.iter().map(|l| format!("{}:{}", l.units, l.activation)).collect();
        let d = serde_json::json!({
            "layers": layers.join(","),
            "features": self.map.names(),
            "loss": self.loss.to_string(),
            "classes": self.classes,
            "mean": mean,
            "std": std,
        });
        Ok(d.to_string())
    }

    /// The model file of the model as it stands, as `mlp train` writes one: `mlp evaluate`,
    /// `mlp serve` and `mlp export` take it.
    pub fn model_file(&self) -> Result<Vec<u8>, JsError> {
        let history = match &self.run {
            Run::Training(s) => s.history().clone(),
            Run::Done { history, .. } => history.clone(),
        };
        let meta = ModelMeta {
            loss: self.loss,
            input: self.input.clone(),
            classes: self.classes.map(|k| (0..k).map(|i| i.to_string()).collect()),
            training: self.setup.as_ref().map(|s| serde_json::json!({ "playground": s })),
            history: Some(HistorySummary { epochs: self.epochs(), ..HistorySummary::of(&history) }),
            created_by: format!("{} (playground)", model_file::created_by()),
        };
        model_file::to_bytes(&SavedModel { model: self.model(), meta }).map_err(err)
    }
}

/// Epochs of history a session holds before [`Playground::compact`] trims it to the last
/// [`HISTORY_KEEP`] (a few MiB of records).
const HISTORY_CAP: usize = 20_000;
const HISTORY_KEEP: usize = 100;

/// The plateau stopper (with the seed demo's settings) as the session's callback, its state kept
/// by the playground across compactions.
struct SharedStopper(Arc<Mutex<PlateauStopper>>);

impl Callback for SharedStopper {
    fn on_event(&mut self, event: &Event<'_>) -> Control {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).on_event(event)
    }

    fn name(&self) -> &str {
        "plateau stopper"
    }
}

/// A session on `train` (validated on `test` when there is one) made by `make`, on the browser's
/// clock, with the plateau stopper when asked for.
fn start(
    train: &Dataset,
    test: &Dataset,
    stopper: Option<&Arc<Mutex<PlateauStopper>>>,
    make: impl FnOnce(TrainingData<'_>) -> mlp::Result<Session>,
) -> Result<Session, JsError> {
    let data = if test.is_empty() { TrainingData::new(train) } else { TrainingData::new(train).valid(test) };
    let mut session = make(data).map_err(err)?;
    session.set_clock(now);
    if let Some(s) = stopper {
        session.add_callback(Box::new(SharedStopper(s.clone())));
    }
    Ok(session)
}

/// A placeholder while the session is being finished (never seen: replaced in the same call).
fn empty_model() -> Model {
    Model { config: ModelConfig::new(1), params: Vec::new() }
}

/// Rows of a built-in dataset (`spirals?n=1000&seed=3`, `blobs`…, as `mlp train --data builtin:…`
/// takes them), three values per row: `x1`, `x2`, then the class or value.
#[wasm_bindgen]
pub fn builtin_rows(spec: &str) -> Result<Vec<f32>, JsError> {
    let d = synth::builtin(spec).map_err(err)?;
    if d.x.cols != 2 {
        return Err(err(format!("`{spec}` has {} columns; the page draws two", d.x.cols)));
    }
    let y: Vec<f32> = match &d.y {
        Targets::Classes { labels, .. } => labels.iter().map(|&l| l as f32).collect(),
        Targets::Values(m) => m.data.clone(),
    };
    Ok((0..d.len()).flat_map(|r| [d.x.row(r)[0], d.x.row(r)[1], y[r]]).collect())
}
