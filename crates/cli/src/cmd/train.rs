//! `mlp train`: data → fitted preprocessing → model → training on the chosen device → model file,
//! history, plots and the final scores.

use crate::Interrupted;
use crate::cmd::plot::{self, MAX_FRAMES, Plane};
use crate::flags::{LogFormat, TrainArgs, TrainSettings};
use crate::plan::{Device, StoredTraining, TrainPlan};
use crate::progress::{Progress, Snapshots};
use crate::source::{CsvOptions, TrainData, load_train};
use anyhow::{Context, Result, bail};
use mlp::backend::cuda::Cuda;
use mlp::data::{Dataset, Targets};
use mlp::model_file::{self, HistorySummary, ModelMeta, SavedModel};
use mlp::train::{Checkpoint, FitConfig, History, MemoryEstimate, StopReason, Trainer, available_memory};
use mlp::{Error, Loss, Model, ModelConfig};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// Set by the Ctrl-C handler; the trainer stops at the end of the current batch.
pub static INTERRUPT: AtomicBool = AtomicBool::new(false);

/// The default network for a task when `--layers` is not given: one hidden layer of 64 ReLUs and
/// the output the loss needs.
fn default_layers(loss: Loss, classes: Option<usize>, targets: &Targets) -> String {
    let out = match (loss, classes) {
        (Loss::BinaryCrossEntropy, _) => "1:sigmoid".to_string(),
        (l, Some(k)) if l.is_classification() => format!("{k}:softmax"),
        _ => match targets {
            Targets::Values(m) => format!("{}:linear", m.cols),
            Targets::Classes { .. } => "1:linear".to_string(),
        },
    };
    format!("64:relu,{out}")
}

/// The loss when `--loss` is not given: cross-entropy for classes, mean squared error for values.
fn default_loss(data: &TrainData) -> Loss {
    if data.classes.is_some() { Loss::CategoricalCrossEntropy } else { Loss::Mse }
}

/// Balanced class weights `n / (k · n_c)` (scikit-learn's `class_weight="balanced"`).
fn auto_class_weights(y: &Targets) -> Result<Vec<f32>> {
    let Targets::Classes { labels, n_classes } = y else {
        bail!("--class-weight needs class targets, but this is a regression");
    };
    let mut counts = vec![0usize; *n_classes];
    for &l in labels {
        counts[l] += 1;
    }
    let n = labels.len() as f32;
    Ok(counts.iter().map(|&c| if c == 0 { 0.0 } else { n / (*n_classes as f32 * c as f32) }).collect())
}

/// Scores to report: accuracy for classes, mae/r2 for values.
fn headline(model: &Model, data: &Dataset, loss: Loss, threads: usize) -> Result<Vec<(String, f64)>> {
    let ev = mlp::train::evaluate(model, data, loss, threads)?;
    let keys: &[&str] = match data.y {
        Targets::Classes { .. } => &["loss", "accuracy"],
        Targets::Values(_) => &["loss", "mae", "r2"],
    };
    Ok(keys.iter().filter_map(|k| ev.metrics.get(*k).map(|v| (k.to_string(), *v))).collect())
}

/// `mlp train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let plan = TrainPlan::new(args)?;
    let say = |text: &str| {
        if !plan.quiet {
            eprintln!("{text}");
        }
    };
    if plan.demo && plan.resume.is_none() {
        say(
            "training the demo: two spirals (builtin:spirals), 10:relu,2:softmax; `mlp train --help` for your own data",
        );
    }
    let s = &plan.settings;
    let csv = CsvOptions { target: s.target.as_deref(), drop: s.drop.as_deref().unwrap_or(&[]), impute: s.impute };
    let test_split = plan.demo.then_some(crate::plan::DEMO_TEST_SPLIT);
    let data = load_train(&plan.data, plan.test.as_ref(), &csv, plan.loss, plan.fit.seed, test_split)?;
    for note in &data.notes {
        say(note);
    }
    let loss = plan.loss.unwrap_or_else(|| default_loss(&data));
    let mut fit = plan.fit.clone();
    fit.loss = loss;
    if plan.class_weight_auto {
        fit.class_weights = Some(auto_class_weights(&data.train.y)?);
    }

    // The architecture: --layers, else --init-from's, else the default for the task.
    let init_from = s.init_from.as_ref().map(|p| model_file::load(p)).transpose()?;
    let n_classes = data.classes.as_ref().map(Vec::len);
    let input_dim = data.train.x.cols;
    let mut config = match (&s.layers, &init_from) {
        (Some(spec), _) => ModelConfig::parse(input_dim, spec)?,
        (None, Some(m)) => m.model.config.clone(),
        (None, None) => ModelConfig::parse(input_dim, &default_layers(loss, n_classes, &data.train.y))?,
    };
    if let Some(init) = plan.init {
        config = config.with_init(init);
    }
    if s.l1.is_some() || s.l2.is_some() {
        config = config.with_penalties(s.l1.unwrap_or(0.0), s.l2.unwrap_or(0.0));
    }
    loss.check_output(config.output_activation(), config.output_dim())?;
    if let Some(k) = n_classes {
        let out = config.output_dim();
        if loss.is_classification() && ((out == 1 && k > 2) || (out > 1 && k > out)) {
            return Err(Error::config(
                "layers",
                format!("the data has {k} classes but the output layer has {out} units; end with {k}:softmax"),
            )
            .into());
        }
    }
    let mut model = match &init_from {
        Some(m) => {
            if m.model.config.input_dim != input_dim
                || m.model
                    .config
                    .layers
                    .iter()
                    .map(|l| (l.units, &l.activation))
                    .ne(config.layers.iter().map(|l| (l.units, &l.activation)))
            {
                bail!(
                    "--init-from {}: its architecture ({} inputs, {}) differs from this run's ({input_dim} inputs, {})",
                    s.init_from.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                    m.model.config.input_dim,
                    spec_of(&m.model.config),
                    spec_of(&config)
                );
            }
            Model { config: config.clone(), params: m.model.params.clone() }
        }
        None => config.init(fit.seed)?,
    };
    let resume: Option<Checkpoint> = match &plan.resume {
        Some(p) => Some(model_file::load_checkpoint(p)?.0),
        None => None,
    };

    // Refuse up front a run whose data cannot fit, rather than swapping or being killed mid-run.
    let estimate = MemoryEstimate::new(&config, data.train.len(), &fit);
    let mib = |b: u64| b.div_ceil(1 << 20);
    say(&match plan.log_format {
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
    });
    if let Some(available) = memory_limit()? {
        estimate.check(available)?;
    }

    // The thread count changes how fast, never what, a run computes (tests/determinism.rs), so it is
    // left out of the file: the same seed then gives byte-identical files with any --threads.
    let stored = StoredTraining {
        settings: TrainSettings { threads: None, ..plan.settings.clone() },
        demo: plan.demo,
        fit: FitConfig { threads: 0, ..fit.clone() },
    };
    let meta = ModelMeta {
        loss,
        input: data.input.clone(),
        classes: data.classes.clone(),
        training: Some(serde_json::to_value(&stored).context("cannot record the training settings")?),
        history: None,
        created_by: model_file::created_by(),
    };

    if !plan.quiet && plan.log_format == LogFormat::Text {
        eprint!("{}", model.summary());
        let test = data.test.as_ref().map(|t| format!(", {} test rows", t.len())).unwrap_or_default();
        let classes = n_classes.map(|k| format!(", {k} classes")).unwrap_or_default();
        eprintln!(
            "data: {} training rows{test}, {input_dim} features{classes}; loss {loss}, optimizer {}, lr {}",
            data.train.len(),
            fit.optimizer.name(),
            fit.optimizer.lr()
        );
    }

    // Callbacks: progress, the demo's plateau stopper, weight snapshots for the animation.
    let mut progress = Progress::new(plan.log_format, plan.quiet);
    let mut plateau = mlp::recipes::Spirals::new(fit.seed).stopper;
    let plane = plan.plots.as_ref().and_then(|_| Plane::new(&meta, &data.train));
    let mut snapshots = Snapshots { every: fit.epochs.div_ceil(MAX_FRAMES).max(1), frames: Vec::new() };
    let ck_path = plan.checkpoint.clone();
    let mut sink = |ck: &Checkpoint| model_file::save_checkpoint(&ck_path, ck, &meta);
    let mut trainer = Trainer::new(&fit).interrupt(&INTERRUPT).checkpoints(plan.checkpoint_every, &mut sink);
    trainer = trainer.callback(&mut progress);
    if plan.demo {
        trainer = trainer.callback(&mut plateau);
    }
    if plane.is_some() {
        trainer = trainer.callback(&mut snapshots);
    }
    if let Some(ck) = resume {
        trainer = trainer.resume(ck);
    }
    let result = match plan.device {
        Device::Cpu => trainer.fit(&mut model, &data.train),
        Device::Cuda => trainer.fit_on(&Cuda::new(0)?, &mut model, &data.train),
    };
    let history = match result {
        Ok(h) => h,
        Err(e @ Error::NonFinite { .. }) => {
            // The model holds the last finite weights; keep them, never a NaN.
            if model.check().is_ok() {
                let saved = SavedModel { model, meta: meta.clone() };
                model_file::save(&plan.out, &saved)?;
                return Err(anyhow::Error::from(e)
                    .context(format!("training diverged; the last good weights are in {}", plan.out.display())));
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(path) = &plan.history {
        model_file::write_atomic(path, plot::history_jsonl(&history).as_bytes())?;
    }
    if let StopReason::Interrupted { epoch, batch } = history.stop {
        return Err(Interrupted(format!(
            "interrupted at epoch {epoch}, batch {batch}; checkpoint saved to {0}; continue with `mlp train --resume {0}`",
            plan.checkpoint.display()
        ))
        .into());
    }

    let meta = ModelMeta { history: Some(HistorySummary::of(&history)), ..meta };
    let saved = SavedModel { model, meta };
    model_file::save(&plan.out, &saved)?;
    let mut written = vec![plan.out.clone()];
    written.extend(plan.history.clone());

    if let Some(dir) = &plan.plots {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        written.extend(plot::curves(dir, &history)?);
        let shown = data.test.as_ref().unwrap_or(&data.train);
        written.extend(plot::confusion(dir, &saved.model, &saved.meta, shown)?);
        if let Some(plane) = &plane {
            written.push(plane.png(dir, &saved.model, "decision boundary")?);
            let mut frames = snapshots.frames;
            let last = history.last().map_or(0, |r| r.epoch);
            if frames.last().is_none_or(|(e, _)| *e != last) {
                frames.push((last, saved.model.clone()));
            }
            if frames.len() >= 2 {
                written.push(plane.gif(dir, &frames)?);
            }
        }
    }
    report(&plan, &saved, &data, &history, &written)
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

fn spec_of(cfg: &ModelConfig) -> String {
    cfg.layers.iter().map(|l| format!("{}:{}", l.units, l.activation)).collect::<Vec<_>>().join(",")
}

/// The final result on stdout (text or one JSON object).
fn report(
    plan: &TrainPlan,
    saved: &SavedModel,
    data: &TrainData,
    history: &History,
    written: &[PathBuf],
) -> Result<()> {
    let threads = plan.fit.threads;
    let loss = saved.meta.loss;
    let train = headline(&saved.model, &data.train, loss, threads)?;
    let test = data.test.as_ref().map(|t| headline(&saved.model, t, loss, threads)).transpose()?;
    let stop = match &history.stop {
        StopReason::Completed => "all epochs ran".to_string(),
        StopReason::EarlyStopping { epoch } => format!("early stopping after epoch {epoch}"),
        StopReason::Callback { name, epoch } => format!("{name} stopped after epoch {epoch}"),
        StopReason::Interrupted { epoch, .. } => format!("interrupted in epoch {epoch}"),
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
            "test": test.as_deref().map(obj),
            "files": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        });
        println!("{j}");
        return Ok(());
    }
    let fmt = |m: &[(String, f64)]| m.iter().map(|(k, v)| format!("{k} {v:.4}")).collect::<Vec<_>>().join("  ");
    let restored = history.restored_epoch.map(|e| format!("; kept the weights of epoch {e}")).unwrap_or_default();
    println!("trained {} epochs ({stop}{restored})", history.epochs.len());
    println!("train: {}", fmt(&train));
    if let Some(t) = &test {
        println!("test:  {}", fmt(t));
    }
    println!("wrote {}", written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    Ok(())
}
