//! `mlp train`: data → fitted preprocessing → model → training on the chosen device → model file,
//! then history and plots, and the final scores. The library work (defaults for the task, class
//! weights, architecture checks, the width of the one-hot expansion) is `mlp::setup`'s; `run` is
//! the order of the steps, each refusing what it can before the next allocates.

use crate::Interrupted;
use crate::cmd::plot::{self, MAX_FRAMES, Plane};
use crate::cmd::regression;
use crate::flags::{LogFormat, TrainArgs, TrainSettings};
use crate::plan::{
    AUTO_EPOCHS, AUTO_PATIENCE, AUTO_VALIDATION_MIN_ROWS, AUTO_VALIDATION_SPLIT, Device, StoredTraining, TrainPlan,
};
use crate::progress::{Progress, Snapshots};
use crate::scaling::TargetScaling;
use crate::signals::{self, INTERRUPT};
use crate::source::{CsvOptions, TrainData, load_train};
use crate::term;
use crate::world::World;
use anyhow::{Context, Result, bail};
use mlp::backend::cuda::Cuda;
use mlp::data::{Dataset, Targets};
use mlp::model_file::{self, HistorySummary, ModelMeta, SavedModel};
use mlp::setup;
use mlp::train::{
    Checkpoint, EarlyStopping, FitConfig, History, MemoryEstimate, StopReason, Trainer, available_memory,
};
use mlp::{Error, Loss, Model, ModelConfig};
use std::path::{Path, PathBuf};

/// Scores to report: accuracy for classes, mae/r2 for values.
pub(crate) fn headline(model: &Model, data: &Dataset, loss: Loss, threads: usize) -> Result<Vec<(String, f64)>> {
    let ev = mlp::train::evaluate(model, data, loss, threads)?;
    let keys: &[&str] = match data.y {
        Targets::Classes { .. } => &["loss", "accuracy"],
        Targets::Values(_) => &["loss", "mae", "r2"],
    };
    Ok(keys.iter().filter_map(|k| ev.metrics.get(*k).map(|v| (k.to_string(), *v))).collect())
}

/// A line on stderr unless `--quiet`.
pub(crate) fn say(plan: &TrainPlan, text: &str) {
    if !plan.quiet {
        term::errln(text);
    }
}

/// A note on stderr unless `--quiet`: the text, or with `--log-format json` an object
/// `{"event": EVENT, "message": TEXT}`, so that every line stays JSON.
fn note(plan: &TrainPlan, event: &str, text: &str) {
    match plan.log_format {
        LogFormat::Text => say(plan, text),
        LogFormat::Json => say(plan, &serde_json::json!({ "event": event, "message": text }).to_string()),
    }
}

/// `mlp train` (one process, or one rank of `mpirun -np N mlp train --shards K`).
pub fn run(args: TrainArgs) -> Result<()> {
    let mut world = World::detect()?;
    let result = run_in(args, &mut world);
    world.end(result)
}

/// `mlp train` in `world`: every rank trains alike; only rank 0 prints and writes files.
fn run_in(args: TrainArgs, world: &mut World) -> Result<()> {
    let mut plan = TrainPlan::new(args)?;
    plan.quiet |= !world.is_root();
    if plan.fit.threads == 0 {
        plan.fit.threads = crate::world::default_threads();
    }
    signals::graceful();
    if plan.demo && plan.resume.is_none() {
        say(
            &plan,
            "training the demo: two spirals (builtin:spirals), 10:relu,2:softmax; `mlp train --help` for your own data",
        );
    }
    let t = fit_and_save(&plan, None, world)?;
    if !world.is_root() {
        return Ok(());
    }
    report(&plan, &t)
}

/// What [`prepare`] resolves once the data is read: the loss, the trainer's configuration
/// (class weights included) and the checked architecture.
pub(crate) struct Prepared {
    /// The loss (given, or following from the target).
    pub loss: Loss,
    /// The trainer's configuration.
    pub fit: FitConfig,
    /// The architecture, checked against the loss and the classes.
    pub config: ModelConfig,
}

/// The run's loss, configuration and architecture for `data`, its memory checked (and, with
/// `tell`, reported).
pub(crate) fn prepare(
    plan: &TrainPlan,
    data: &TrainData,
    init_from: Option<&SavedModel>,
    tell: bool,
) -> Result<Prepared> {
    let loss = plan.loss.unwrap_or_else(|| setup::default_loss(data.classes.is_some()));
    let mut fit = plan.fit.clone();
    fit.loss = loss;
    if plan.class_weight_auto {
        fit.class_weights = Some(setup::balanced_class_weights(&data.train.y)?);
    }
    let config = architecture(plan, loss, data, init_from)?;
    check_memory(plan, &MemoryEstimate::new(&config, data.train.len(), &fit), tell)?;
    Ok(Prepared { loss, fit, config })
}

/// A finished `mlp train` run: the saved model, its data and history, and the files written.
pub(crate) struct Trained {
    /// What was saved to `--out`.
    pub saved: SavedModel,
    /// The data it was trained (and tested) on.
    pub data: TrainData,
    /// The training history.
    pub history: History,
    /// Every file written, the model first.
    pub written: Vec<PathBuf>,
    /// With a validation split: the rows trained on, and the rows held out.
    pub split: Option<(Dataset, Dataset)>,
}

/// Everything `mlp train` does between its plan and its report: data, model, training, model
/// file, history and plots. `tuning` (from `mlp tune`) is recorded in the model file's training
/// settings under `tuning`.
pub(crate) fn fit_and_save(plan: &TrainPlan, tuning: Option<serde_json::Value>, world: &mut World) -> Result<Trained> {
    let init_from = plan.settings.init_from.as_ref().map(|p| model_file::load(p)).transpose()?;
    let data = load_data(plan, init_from.as_ref())?;
    if plan.seed_stopper.is_some() && data.classes.is_none() {
        bail!("--seed-stopper watches the training accuracy, so it needs a classification target");
    }
    let Prepared { loss, mut fit, config } = prepare(plan, &data, init_from.as_ref(), true)?;
    // `mlp tune` retrains its best trial as it scored it, without these defaults.
    let own_run = tuning.is_none();
    if own_run {
        auto_validation(plan, data.train.len(), data.classes.is_some(), &mut fit);
    }
    // Weights from `--init-from` already answer in the target's units: they are trained on as they are.
    let scaling = (own_run && plan.target_scaling && init_from.is_none())
        .then(|| TargetScaling::fit(&data.train.y, loss, &config))
        .flatten();
    let scaled = scaling.as_ref().map(|s| s.scaled(&data.train));
    let fit_data = scaled.as_ref().unwrap_or(&data.train);
    let mut model = match &init_from {
        Some(m) => Model { config: config.clone(), params: m.model.params.clone() },
        None => config.init(fit.seed)?,
    };
    let mut meta = model_meta(plan, loss, &data, &fit, scaling.as_ref())?;
    if let (Some(t), Some(serde_json::Value::Object(training))) = (tuning, meta.training.as_mut()) {
        training.insert("tuning".into(), t);
    }
    if let Some(s) = &scaling {
        note(plan, "target_scaling", &s.describe(data.input.target_name()));
    }
    let split =
        (fit.validation_split > 0.0).then(|| mlp::train::split_indices(&data.train, fit.validation_split, fit.seed));
    describe(plan, &model, &data, &fit, split.as_ref().map(|(_, v)| v.len()));
    let plane = plan.plots.as_ref().and_then(|_| Plane::new(&meta, &data.train));
    let curve = plan.plots.as_ref().and_then(|_| regression::Curve::new(&meta, &data.train));
    let mut snapshots = Snapshots { every: fit.epochs.div_ceil(MAX_FRAMES).max(1), frames: Vec::new() };
    let animate = (plane.is_some() || curve.is_some()).then_some(&mut snapshots);
    let history = train(plan, &fit, &mut model, fit_data, &meta, animate, scaling.as_ref(), world)?;
    if let StopReason::Interrupted { epoch, batch } = history.stop {
        return Err(Interrupted(format!(
            "interrupted at epoch {epoch}, batch {batch} ({}); checkpoint saved to {1}; continue with `mlp train --resume {1}`; {2} was not written",
            signals::name(),
            plan.checkpoint.display(),
            plan.out.display()
        ))
        .into());
    }
    if let Some(s) = &scaling {
        s.fold(&mut model);
        for (_, m) in &mut snapshots.frames {
            s.fold(m);
        }
    }
    let saved = SavedModel { model, meta: ModelMeta { history: Some(HistorySummary::of(&history)), ..meta } };
    if !world.is_root() {
        return Ok(Trained { saved, data, history, written: Vec::new(), split: None });
    }
    model_file::save(&plan.out, &saved)?;
    let mut written = vec![plan.out.clone()];
    let drawn = Drawn { plane: plane.as_ref(), curve: curve.as_ref() };
    written.extend(side_outputs(plan, &saved, &data, &history, drawn, snapshots.frames)?);
    let split = split.map(|(t, v)| (data.train.select(&t), data.train.select(&v)));
    Ok(Trained { saved, data, history, written, split })
}

/// `mlp train`'s defaults when neither `--validation-split` nor `--early-stopping` is given:
/// [`AUTO_VALIDATION_SPLIT`] of the rows held out (stratified by class) and early stopping on
/// the validation loss that restores the best weights, with an epoch budget of [`AUTO_EPOCHS`]
/// unless `--epochs` says otherwise. Says what it did, or why not.
fn auto_validation(plan: &TrainPlan, rows: usize, classes: bool, fit: &mut FitConfig) {
    if !plan.auto_validation {
        return;
    }
    if rows < AUTO_VALIDATION_MIN_ROWS {
        note(
            plan,
            "validation",
            &format!(
                "no validation split: {rows} training rows, fewer than the {AUTO_VALIDATION_MIN_ROWS} the default \
                 split needs (--validation-split F holds some out)"
            ),
        );
        return;
    }
    fit.validation_split = AUTO_VALIDATION_SPLIT;
    fit.early_stopping = Some(EarlyStopping { patience: AUTO_PATIENCE, ..Default::default() });
    if !plan.epochs_given {
        fit.epochs = AUTO_EPOCHS;
    }
    let how = if classes { "stratified by class" } else { "shuffled" };
    note(
        plan,
        "validation",
        &format!(
            "validation: {:.0}% of the training rows held out ({how}); early stopping after {AUTO_PATIENCE} epochs \
             without a lower val_loss, up to {} epochs, restores the best epoch's weights (--validation-split 0 \
             turns this off)",
            AUTO_VALIDATION_SPLIT * 100.0,
            fit.epochs
        ),
    );
}

/// Reads the training (and test) data. The memory a run needs is checked twice before it is
/// allocated: here on the shape of the data, before its one-hot matrix exists, and in `run` on
/// the final architecture, before the weights exist.
pub(crate) fn load_data(plan: &TrainPlan, init_from: Option<&SavedModel>) -> Result<TrainData> {
    let s = &plan.settings;
    let csv = CsvOptions {
        target: s.target.as_deref(),
        drop: s.drop.as_deref().unwrap_or(&[]),
        keep: s.keep.as_deref().unwrap_or(&[]),
        impute: s.impute,
        delimiter: plan.delimiter,
    };
    let test_split = plan.demo.then_some(crate::plan::DEMO_TEST_SPLIT);
    let mut before_encoding = |width: usize, rows: usize, classes: Option<usize>| -> Result<()> {
        // The spec this run will use; a bad one is reported later, with the data known.
        let config = match (&s.layers, init_from) {
            (Some(spec), _) => ModelConfig::parse(width, spec).ok(),
            (None, Some(m)) => Some(ModelConfig { input_dim: width, ..m.model.config.clone() }),
            (None, None) => ModelConfig::parse(width, &format!("64:relu,{}:linear", classes.unwrap_or(1))).ok(),
        };
        match config {
            Some(c) => check_memory(plan, &MemoryEstimate::new(&c, rows, &plan.fit), false),
            None => Ok(()),
        }
    };
    let data =
        load_train(&plan.data, plan.test.as_ref(), &csv, plan.loss, plan.fit.seed, test_split, &mut before_encoding)?;
    for text in &data.notes {
        note(plan, "note", text);
    }
    Ok(data)
}

/// The architecture: `--layers`, else `--init-from`'s, else the default for the task; with the
/// initializer and penalties applied and checked against the loss, the classes and `--init-from`.
fn architecture(plan: &TrainPlan, loss: Loss, data: &TrainData, init_from: Option<&SavedModel>) -> Result<ModelConfig> {
    let s = &plan.settings;
    let n_classes = data.classes.as_ref().map(Vec::len);
    let input_dim = data.train.x.cols;
    let mut config = match (&s.layers, init_from) {
        (Some(spec), _) => ModelConfig::parse(input_dim, spec)?,
        (None, Some(m)) => m.model.config.clone(),
        (None, None) => ModelConfig::parse(input_dim, &setup::default_layers(loss, n_classes, &data.train.y))?,
    };
    if let Some(init) = plan.init {
        config = config.with_init(init);
    }
    if s.l1.is_some() || s.l2.is_some() {
        config = config.with_penalties(s.l1.unwrap_or(0.0), s.l2.unwrap_or(0.0));
    }
    loss.check_output(config.output_activation(), config.output_dim())?;
    if let Some(k) = n_classes {
        setup::check_classes_fit(loss, &config, k)?;
    }
    if let (Some(m), Some(path)) = (init_from, &s.init_from) {
        setup::check_same_architecture(&m.model.config, &config, &path.display().to_string())?;
    }
    Ok(config)
}

/// Refuses up front a run that cannot fit, rather than swapping or being killed mid-run; `tell`
/// reports the estimate (once, for the final architecture).
fn check_memory(plan: &TrainPlan, estimate: &MemoryEstimate, tell: bool) -> Result<()> {
    if tell {
        let mib = |b: u64| b.div_ceil(1 << 20);
        say(
            plan,
            &match plan.log_format {
                LogFormat::Text => format!(
                    "data needs ~{} MiB ({} MiB in all with parameters, optimizer state and activations)",
                    mib(estimate.data),
                    mib(estimate.total())
                ),
                LogFormat::Json => serde_json::json!({
                    "event": "memory",
                    "data_bytes": estimate.data,
                    "total_bytes": estimate.total(),
                })
                .to_string(),
            },
        );
    }
    if let Some(available) = memory_limit()? {
        estimate.check(available)?;
    }
    Ok(())
}

/// What the model file records beside the weights.
fn model_meta(
    plan: &TrainPlan,
    loss: Loss,
    data: &TrainData,
    fit: &FitConfig,
    scaling: Option<&TargetScaling>,
) -> Result<ModelMeta> {
    // The thread count changes how fast, never what, a run computes (tests/determinism.rs), so it is
    // left out of the file: the same seed then gives byte-identical files with any --threads.
    let stored = StoredTraining {
        settings: TrainSettings { threads: None, ..plan.settings.clone() },
        demo: plan.demo,
        fit: FitConfig { threads: 0, ..fit.clone() },
    };
    Ok(ModelMeta {
        loss,
        input: data.input.clone(),
        classes: data.classes.clone(),
        training: Some(training_json(&stored, scaling)?),
        history: None,
        created_by: model_file::created_by(),
    })
}

/// The stored training settings, with the target scaling (already folded into the weights) recorded
/// as `target_scaling` for whoever reads the file.
fn training_json(stored: &StoredTraining, scaling: Option<&TargetScaling>) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(stored).context("cannot record the training settings")?;
    if let (Some(s), serde_json::Value::Object(map)) = (scaling, &mut v) {
        map.insert("target_scaling".into(), serde_json::to_value(s).context("cannot record the target scaling")?);
    }
    Ok(v)
}

/// The model summary and a line about the data (training and held-out validation rows counted
/// apart), before training.
fn describe(plan: &TrainPlan, model: &Model, data: &TrainData, fit: &FitConfig, valid_rows: Option<usize>) {
    if plan.quiet || plan.log_format != LogFormat::Text {
        return;
    }
    term::err(&model.summary());
    let valid = valid_rows.map(|v| format!(", {v} validation rows")).unwrap_or_default();
    let test = data.test.as_ref().map(|t| format!(", {} test rows", t.len())).unwrap_or_default();
    let classes = data.classes.as_ref().map(|k| format!(", {} classes", k.len())).unwrap_or_default();
    term::errln(&format!(
        "data: {} training rows{valid}{test}, {} features{classes}; loss {}, optimizer {}, lr {}",
        data.train.len() - valid_rows.unwrap_or(0),
        data.train.x.cols,
        fit.loss,
        fit.optimizer.name(),
        fit.optimizer.lr()
    ));
}

/// Trains `model` with the callbacks (progress, the demo's plateau stopper, weight snapshots for
/// the animation) and checkpoints, with `--shards` sharded gradients summed through `world`'s
/// exchange. A diverged run keeps its last finite weights (see [`diverged`]).
// The run's plan, its data and the three optional attachments (snapshots, target scaling, MPI world).
#[allow(clippy::too_many_arguments)]
fn train(
    plan: &TrainPlan,
    fit: &FitConfig,
    model: &mut Model,
    data: &Dataset,
    meta: &ModelMeta,
    snapshots: Option<&mut Snapshots>,
    scaling: Option<&TargetScaling>,
    world: &mut World,
) -> Result<History> {
    let mut progress = Progress::new(plan.log_format, plan.quiet);
    let mut plateau = mlp::recipes::Spirals::new(fit.seed).stopper;
    let mut seed_stopper = plan.seed_stopper.clone().map(|stopper| SeedStopLines { stopper, quiet: plan.quiet });
    let ck_path = plan.checkpoint.clone();
    let root = world.is_root();
    let mut sink = |ck: &Checkpoint| if root { model_file::save_checkpoint(&ck_path, ck, meta) } else { Ok(()) };
    let mut trainer = Trainer::new(fit).interrupt(&INTERRUPT).checkpoints(plan.checkpoint_every, &mut sink);
    if plan.shards > 1 || world.size() > 1 {
        trainer = trainer.sharded(plan.shards, world.exchange(plan.shards)?);
    }
    trainer = trainer.callback(&mut progress).dead_units();
    if let Some(s) = seed_stopper.as_mut() {
        trainer = trainer.callback(s);
    } else if plan.demo {
        trainer = trainer.callback(&mut plateau);
    }
    if let Some(s) = snapshots {
        trainer = trainer.callback(s);
    }
    if let Some(p) = &plan.resume {
        trainer = trainer.resume(model_file::load_checkpoint(p)?.0);
    }
    let result = match plan.device {
        Device::Cpu => trainer.fit(model, data),
        Device::Cuda => trainer.fit_on(&Cuda::new(0)?, model, data),
    };
    match result {
        Ok(h) => {
            if root {
                warn_dead_units(plan, model, &h);
            }
            Ok(h)
        }
        Err(e @ Error::NonFinite { .. }) if root => {
            if let Some(s) = scaling {
                s.fold(model);
            }
            Err(diverged(plan, e, model, meta))
        }
        Err(e) => Err(e.into()),
    }
}

/// The seed's stopping rule, printing its lines as the seed's `cat` did (on stderr, with the progress).
struct SeedStopLines {
    stopper: mlp::train::SeedStopper,
    quiet: bool,
}

impl mlp::train::Callback for SeedStopLines {
    fn on_event(&mut self, event: &mlp::train::Event<'_>) -> mlp::train::Control {
        let control = mlp::train::Callback::on_event(&mut self.stopper, event);
        for line in self.stopper.take_messages() {
            if !self.quiet {
                term::errln(&line);
            }
        }
        control
    }

    fn name(&self) -> &str {
        mlp::train::Callback::name(&self.stopper)
    }
}

/// A warning, with the notebook's advice, for each hidden layer whose dead fraction passed
/// `--dead-units-warn` in some epoch: the first such epoch and the last epoch's fraction.
fn warn_dead_units(plan: &TrainPlan, model: &Model, history: &History) {
    for (i, layer) in model.config.layers.iter().enumerate() {
        let key = mlp::train::dead_units_key(i);
        let Some((epoch, frac)) =
            history.epochs.iter().find_map(|r| r.get(&key).filter(|&f| f > plan.dead_units_warn).map(|f| (r.epoch, f)))
        else {
            continue;
        };
        let last = history.last().and_then(|r| r.get(&key)).unwrap_or(frac);
        let (what, advice) = match layer.activation {
            mlp::Activation::Relu => {
                ("dead (zero on every row)", "lower --lr, use leaky_relu(0.01) or elu, or he_uniform initialization")
            }
            _ => ("saturated on every row", "standardize the inputs, lower --lr, or use relu"),
        };
        term::errln(&format!(
            "warning: layer {} ({}:{}): {:.0}% of its units were {what} in epoch {epoch} ({:.0}% in the last); {advice}",
            i + 1,
            layer.units,
            layer.activation,
            100.0 * frac,
            100.0 * last
        ));
    }
}

/// A diverged run: the model holds the last finite weights; they go to `--out` when that is a
/// new file, else beside it (`NAME.diverged.safetensors`), so that a good model already at
/// `--out` is never replaced by one from a failed run. Never a NaN.
fn diverged(plan: &TrainPlan, e: Error, model: &Model, meta: &ModelMeta) -> anyhow::Error {
    if model.check().is_err() {
        return e.into();
    }
    let (path, kept) = if plan.out.exists() {
        (beside(&plan.out, "diverged"), format!("; {} is unchanged", plan.out.display()))
    } else {
        (plan.out.clone(), String::new())
    };
    signals::watch(&path);
    let saved = SavedModel { model: model.clone(), meta: meta.clone() };
    if let Err(w) = model_file::save(&path, &saved) {
        return anyhow::Error::from(e)
            .context(format!("training diverged, and its last good weights were not saved ({w})"));
    }
    anyhow::Error::from(e).context(format!("training diverged; the last good weights are in {}{kept}", path.display()))
}

/// `dir/stem.TAG.ext` beside `path` (`m.safetensors` → `m.diverged.safetensors`).
fn beside(path: &Path, tag: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{tag}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{tag}"),
    };
    path.with_file_name(name)
}

/// What the plots of a run draw besides its curves: a 2-D classifier's plane, a 1-input regression's curve.
struct Drawn<'a> {
    plane: Option<&'a Plane>,
    curve: Option<&'a regression::Curve>,
}

/// The history and the plots, written after the model so that a failure here (a full disk) never
/// costs it; each appears whole or not at all. Returns what was written.
fn side_outputs(
    plan: &TrainPlan,
    saved: &SavedModel,
    data: &TrainData,
    history: &History,
    drawn: Drawn<'_>,
    mut frames: Vec<(usize, Model)>,
) -> Result<Vec<PathBuf>> {
    let last = history.last().map_or(0, |r| r.epoch);
    if frames.last().is_none_or(|(e, _)| *e != last) {
        frames.push((last, saved.model.clone()));
    }
    let mut written = Vec::new();
    let mut failed = Vec::new();
    if let Some(path) = &plan.history {
        match model_file::write_atomic(path, plot::history_jsonl(history).as_bytes()) {
            Ok(()) => written.push(path.clone()),
            Err(e) => failed.push(format!("the history was not written ({e})")),
        }
    }
    if let Some(dir) = &plan.plots {
        let drawn = plot::staged(dir, |stage| {
            let mut files = plot::curves(stage, history)?;
            let shown = data.test.as_ref().unwrap_or(&data.train);
            files.extend(plot::confusion(stage, &saved.model, &saved.meta, shown)?);
            if let Some(plane) = drawn.plane {
                files.push(plane.png(stage, &saved.model, "decision boundary")?);
                if frames.len() >= 2 {
                    files.push(plane.gif(stage, &frames)?);
                }
            }
            if let Some(curve) = drawn.curve {
                files.push(curve.png(stage, &saved.model, &saved.meta)?);
                if frames.len() >= 2 {
                    files.push(curve.gif(stage, &frames)?);
                }
            } else {
                files.extend(regression::predicted_vs_actual(stage, &saved.model, &saved.meta, shown)?);
            }
            Ok(files)
        });
        match drawn {
            Ok(files) => written.extend(files),
            Err(e) => failed.push(format!("the plots were not written ({})", crate::one_line(&e))),
        }
    }
    if !failed.is_empty() {
        bail!("the model was saved to {}, but {}", plan.out.display(), failed.join("; and "));
    }
    Ok(written)
}

/// The memory a run may use: `MLP_MEMORY_LIMIT_BYTES` when set (for tests, and for a user who
/// wants a lower ceiling than the machine's), else what the system has available, when known.
fn memory_limit() -> Result<Option<u64>> {
    match std::env::var("MLP_MEMORY_LIMIT_BYTES") {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(b) => Ok(Some(b)),
            Err(_) => bail!("MLP_MEMORY_LIMIT_BYTES must be a number of bytes, got `{v}`"),
        },
        Err(_) => Ok(available_memory()),
    }
}

/// The final result on stdout (text or one JSON object).
/// The scores are those of the saved model in the target's own units: `train` on the rows trained
/// on (not the held-out ones), `valid` on the validation rows, `test` on the test data.
fn report(plan: &TrainPlan, t: &Trained) -> Result<()> {
    let Trained { saved, data, history, written, split } = t;
    let threads = plan.fit.threads;
    let loss = saved.meta.loss;
    let fit_rows = split.as_ref().map_or(&data.train, |(tr, _)| tr);
    let train = headline(&saved.model, fit_rows, loss, threads)?;
    let valid = split.as_ref().map(|(_, v)| headline(&saved.model, v, loss, threads)).transpose()?;
    let test = data.test.as_ref().map(|t| headline(&saved.model, t, loss, threads)).transpose()?;
    let stop = match &history.stop {
        StopReason::Completed => "all epochs ran".to_string(),
        StopReason::EarlyStopping { epoch } => format!("early stopping after epoch {epoch}"),
        StopReason::Callback { name, epoch } => format!("{name} stopped after epoch {epoch}"),
        StopReason::Interrupted { epoch, .. } => format!("interrupted in epoch {epoch}"),
        StopReason::Converged { epoch } => format!("converged in epoch {epoch}"),
    };
    if plan.log_format == LogFormat::Json {
        let obj = |m: &[(String, f64)]| {
            m.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>()
        };
        let j = serde_json::json!({
            "epochs": history.epochs.len(),
            "stop": stop,
            "restored_epoch": history.restored_epoch,
            "train": obj(&train),
            "valid": valid.as_deref().map(obj),
            "test": test.as_deref().map(obj),
            "files": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        });
        term::outln(&j.to_string())?;
        return Ok(());
    }
    let fmt = |m: &[(String, f64)]| m.iter().map(|(k, v)| format!("{k} {v:.4}")).collect::<Vec<_>>().join("  ");
    let restored = history.restored_epoch.map(|e| format!("; kept the weights of epoch {e}")).unwrap_or_default();
    let mut text = if history.epochs.is_empty() {
        format!("no training (--epochs 0): the scores are the untrained network's\ntrain: {}\n", fmt(&train))
    } else {
        format!("trained {} epochs ({stop}{restored})\ntrain: {}\n", history.epochs.len(), fmt(&train))
    };
    if let Some(v) = &valid {
        text.push_str(&format!("valid: {}\n", fmt(v)));
    }
    if let Some(t) = &test {
        text.push_str(&format!("test:  {}\n", fmt(t)));
    }
    if let Some(line) = regression::formula(&saved.model, &saved.meta)? {
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str(&format!(
        "wrote {}\n",
        written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    ));
    term::out(&text)?;
    Ok(())
}
