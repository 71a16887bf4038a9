//! Flags → a validated training plan: settings merged (flags over `--config` over a resumed
//! checkpoint over the defaults), every value checked before any data is read.

use crate::flags::{DeviceFlag, LogFormat, TrainArgs, TrainSettings};
use crate::paths::{Files, non_empty};
use crate::source::Source;
use anyhow::{Context, Result};
use mlp::backend::cuda::Cuda;
use mlp::optim::OptimizerConfig;
use mlp::train::{EarlyStopping, FitConfig};
use mlp::{Error, Init, Loss, LrSchedule};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The demo's data: the seed article's two spirals.
pub const DEMO_DATA: &str = "builtin:spirals?n=1000&cycles=1.2&sd=0.03";
/// The demo's network.
pub const DEMO_LAYERS: &str = "10:relu,2:softmax";
/// The demo's share of rows held out as test data.
pub const DEMO_TEST_SPLIT: f32 = 0.2;
/// The most `--threads` accepted: far above any machine's cores, far below what exhausts the
/// system's thread limit while the pool starts.
pub const MAX_THREADS: usize = 1024;
/// The files `--plots` may write into its directory.
pub const PLOT_FILES: [&str; 16] = [
    "loss.png",
    "loss.svg",
    "accuracy.png",
    "accuracy.svg",
    "mae.png",
    "mae.svg",
    "metrics.png",
    "metrics.svg",
    "confusion_matrix.png",
    "decision_boundary.png",
    "decision_boundary.gif",
    "dead_units.png",
    "dead_units.svg",
    "fit.png",
    "fit.gif",
    "predicted_vs_actual.png",
];

/// Where training runs, once `auto` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The CPU backend.
    Cpu,
    /// The CUDA backend on GPU 0.
    Cuda,
}

/// What the model file records as the training configuration, and `--resume` reads back.
#[derive(Serialize, Deserialize)]
pub struct StoredTraining {
    /// The merged settings, defaults filled in.
    pub settings: TrainSettings,
    /// Whether this was the no-argument demo (which adds its plateau stopper and test split).
    pub demo: bool,
    /// The trainer's configuration as resolved.
    pub fit: FitConfig,
}

/// A validated `mlp train`.
pub struct TrainPlan {
    /// The merged settings (stored in the model file).
    pub settings: TrainSettings,
    /// The no-argument demo.
    pub demo: bool,
    /// Training data.
    pub data: Source,
    /// Test data.
    pub test: Option<Source>,
    /// The loss, when given (else it follows from the target).
    pub loss: Option<Loss>,
    /// The trainer's configuration (its loss is set once the data is known).
    pub fit: FitConfig,
    /// Initializer for every layer.
    pub init: Option<Init>,
    /// Model file.
    pub out: PathBuf,
    /// Checkpoint file.
    pub checkpoint: PathBuf,
    /// Checkpoint period in epochs (0: only on Ctrl-C).
    pub checkpoint_every: usize,
    /// History JSONL.
    pub history: Option<PathBuf>,
    /// Plot directory.
    pub plots: Option<PathBuf>,
    /// Progress format.
    pub log_format: LogFormat,
    /// Quiet.
    pub quiet: bool,
    /// Device.
    pub device: Device,
    /// `--class-weight auto`.
    pub class_weight_auto: bool,
    /// Checkpoint to resume from.
    pub resume: Option<PathBuf>,
    /// The CSV field separator.
    pub delimiter: u8,
    /// Shards per batch (`--shards`; 1: unsharded).
    pub shards: usize,
    /// `--seed-stopper`: the seed's stopping rule, when asked for.
    pub seed_stopper: Option<mlp::train::SeedStopper>,
    /// `--dead-units-warn`: the dead fraction above which a hidden layer is warned about.
    pub dead_units_warn: f64,
    /// Neither `--validation-split`, `--early-stopping` nor `--seed-stopper` given (nor the demo): `mlp train` holds
    /// out [`AUTO_VALIDATION_SPLIT`] with early stopping when the data has enough rows.
    pub auto_validation: bool,
    /// `--epochs` given (else early stopping gets [`AUTO_EPOCHS`]).
    pub epochs_given: bool,
    /// Standardize a regression target for training (not `--no-target-scaling`).
    pub target_scaling: bool,
}

/// Parses `--seed-stopper`'s `TOL:N:MIN[:PERIOD]` (`default`: the seed's 1e-3:100:100:100).
fn parse_seed_stopper(s: &str) -> Result<mlp::train::SeedStopper, Error> {
    let what = "the seed stopper (--seed-stopper)";
    if s.trim() == "default" {
        return Ok(mlp::train::SeedStopper::default());
    }
    let parts: Vec<&str> = s.split(':').map(str::trim).collect();
    let bad = || Error::config(what, format!("'{s}' is not TOL:N:MIN[:PERIOD], e.g. 1e-3:100:100 (the seed's)"));
    if !(3..=4).contains(&parts.len()) {
        return Err(bad());
    }
    let tol: f64 = parts[0].parse().map_err(|_| bad())?;
    if !(tol > 0.0 && tol.is_finite()) {
        return Err(Error::config(what, format!("TOL must be > 0, got {tol}")));
    }
    let n: usize = parts[1].parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(Error::config(what, "N (the epochs averaged) must be at least 1"));
    }
    let min: usize = parts[2].parse().map_err(|_| bad())?;
    let period: usize = parts.get(3).map(|p| p.parse()).transpose().map_err(|_| bad())?.unwrap_or(100);
    Ok(mlp::train::SeedStopper::new(tol, n, min, period))
}

/// The validation share `mlp train` holds out when none is asked for.
pub const AUTO_VALIDATION_SPLIT: f32 = 0.2;
/// The fewest training rows for the default validation split: below this, a fifth of the rows is
/// too few to judge by (and too many to lose).
pub const AUTO_VALIDATION_MIN_ROWS: usize = 200;
/// Epochs without improvement before the default early stopping ends a run.
pub const AUTO_PATIENCE: usize = 10;
/// The epoch budget under the default early stopping, when `--epochs` is not given.
pub const AUTO_EPOCHS: usize = 200;

/// Refuses a thread count of 0 or above [`MAX_THREADS`].
pub fn check_threads(threads: Option<usize>) -> Result<()> {
    match threads {
        Some(0) => Err(Error::config("thread count", "--threads must be at least 1").into()),
        Some(n) if n > MAX_THREADS => Err(Error::config(
            "thread count",
            format!("--threads {n} is more than the {MAX_THREADS} allowed; one per core is the most that helps"),
        )
        .into()),
        _ => Ok(()),
    }
}

/// Checks that files can be created in `dir` (or, when it does not exist yet, in the nearest
/// directory above it, where it will be created), without leaving anything behind.
pub fn check_output_dir(dir: &Path, flag: &str) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::config(flag, format!("`{}` exists and is not a directory", dir.display())).into());
    }
    let mut probe_dir = dir;
    while !probe_dir.as_os_str().is_empty() && !probe_dir.exists() {
        probe_dir = probe_dir.parent().unwrap_or(Path::new(""));
    }
    let probe_dir = if probe_dir.as_os_str().is_empty() { Path::new(".") } else { probe_dir };
    if !probe_dir.is_dir() {
        return Err(Error::config(flag, format!("`{}` is not a directory", probe_dir.display())).into());
    }
    check_output(&probe_dir.join(".mlp-probe"), flag)
}

macro_rules! merge_settings {
    ($over:expr, $base:expr; options: $($o:ident),*; flags: $($f:ident),*) => {{
        let (over, base) = ($over, $base);
        TrainSettings { $($o: over.$o.or(base.$o),)* $($f: over.$f || base.$f,)* }
    }};
}

/// `over`'s values where given, else `base`'s.
pub fn merge(over: TrainSettings, base: TrainSettings) -> TrainSettings {
    merge_settings!(over, base;
        options: data, test, target, drop, keep, delimiter, layers, loss, optimizer, lr, momentum, rho, beta1, beta2, eps,
            weight_decay, lr_schedule, epochs, batch_size, validation_split, early_stopping, monitor, l1, l2,
            init, seed, threads, out, init_from, history, plots, log_format, class_weight, checkpoint_every,
            checkpoint, clip_norm, shards, device, seed_stopper, dead_units_warn;
        flags: impute, no_target_scaling, nesterov, amsgrad, no_shuffle)
}

/// The demo's settings (the library's tuned spirals recipe), under whatever the user gave, less
/// those that belong to a setting the user changed: the demo's learning rate and momentum go with
/// its optimizer (`--optimizer sgd` is plain SGD, `--optimizer adam` gets Adam's learning rate),
/// and its initializer and loss with its layers (`--layers 8:tanh:he_normal,2:softmax` keeps
/// he_normal).
fn demo_defaults(user: &TrainSettings) -> TrainSettings {
    let mut d = demo_recipe();
    if user.optimizer.is_some() {
        (d.optimizer, d.lr, d.momentum) = (None, None, None);
    }
    if user.layers.is_some() {
        (d.init, d.loss) = (None, None);
    }
    d
}

/// The demo's own settings: the library's tuned spirals recipe.
fn demo_recipe() -> TrainSettings {
    let recipe = mlp::recipes::Spirals::new(0);
    let (lr, momentum) = match recipe.fit.optimizer {
        mlp::OptimizerConfig::Sgd { lr, momentum, .. } => (lr, momentum),
        ref other => unreachable!("the spirals recipe uses SGD, not {}", other.name()),
    };
    TrainSettings {
        data: Some(DEMO_DATA.into()),
        layers: Some(DEMO_LAYERS.into()),
        loss: Some(recipe.fit.loss.to_string()),
        optimizer: Some("sgd".into()),
        lr: Some(lr),
        momentum: Some(momentum),
        batch_size: Some(recipe.fit.batch_size),
        init: Some(recipe.model.layers[0].init.to_string()),
        epochs: Some(recipe.fit.epochs),
        plots: Some("plots".into()),
        ..Default::default()
    }
}

/// Reads a `--config` TOML file.
pub fn read_config(path: &Path) -> Result<TrainSettings> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(crate::flags::parse_config(&text, &path.display().to_string())?)
}

/// Parses `constant | step:EVERY:GAMMA | exp:GAMMA | plateau:FACTOR:PATIENCE`.
pub fn parse_schedule(s: &str) -> Result<LrSchedule, Error> {
    let bad = || {
        Error::config(
            format!("learning-rate schedule '{s}'"),
            "expected constant, step:EVERY:GAMMA, exp:GAMMA or plateau:FACTOR:PATIENCE",
        )
    };
    let parts: Vec<&str> = s.trim().split(':').collect();
    let num = |i: usize| parts.get(i).and_then(|p| p.trim().parse::<f32>().ok()).ok_or_else(bad);
    let int = |i: usize| parts.get(i).and_then(|p| p.trim().parse::<usize>().ok()).ok_or_else(bad);
    let sched = match (parts[0].trim(), parts.len()) {
        ("constant", 1) => LrSchedule::Constant,
        ("step", 3) => LrSchedule::Step { every: int(1)?, gamma: num(2)? },
        ("exp", 2) => LrSchedule::Exponential { gamma: num(1)? },
        ("plateau", 3) => {
            LrSchedule::ReduceOnPlateau { factor: num(1)?, patience: int(2)?, min_delta: 0.0, min_lr: 0.0 }
        }
        _ => return Err(bad()),
    };
    sched.validate()?;
    Ok(sched)
}

/// Parses `PATIENCE[:MIN_DELTA]`.
fn parse_early_stopping(s: &str, monitor: Option<&str>) -> Result<EarlyStopping, Error> {
    let bad = || Error::config(format!("early stopping '{s}'"), "expected PATIENCE[:MIN_DELTA], e.g. 10 or 10:0.001");
    let (p, d) = s.split_once(':').unwrap_or((s, "0"));
    let patience: usize = p.trim().parse().map_err(|_| bad())?;
    let min_delta: f64 = d.trim().parse().map_err(|_| bad())?;
    if patience == 0 || !(min_delta >= 0.0 && min_delta.is_finite()) {
        return Err(Error::config(
            "early stopping (--early-stopping)",
            "patience must be at least 1 and min delta a number ≥ 0",
        ));
    }
    let mut es = EarlyStopping { patience, min_delta, ..Default::default() };
    if let Some(m) = monitor {
        const KNOWN: [&str; 6] = ["loss", "accuracy", "mae", "val_loss", "val_accuracy", "val_mae"];
        if !KNOWN.contains(&m) {
            return Err(Error::config(format!("monitor '{m}'"), format!("expected one of {}", KNOWN.join(", "))));
        }
        es.monitor = m.to_string();
    }
    Ok(es)
}

/// The optimizer named in `s` with every given hyperparameter applied; a flag that does not
/// belong to that optimizer is an error rather than silently ignored.
fn build_optimizer(s: &TrainSettings) -> Result<OptimizerConfig, Error> {
    let name = s.optimizer.as_deref().unwrap_or("adam");
    let mut opt = OptimizerConfig::parse(name)?;
    let not_for =
        |flag: &str| Error::config(flag.to_string(), format!("does not apply to the {} optimizer", opt_name(name)));
    if let Some(v) = s.lr {
        opt.set_lr(v);
    }
    match &mut opt {
        OptimizerConfig::Sgd { momentum, nesterov, weight_decay, .. } => {
            if let Some(m) = s.momentum {
                *momentum = m;
            }
            if s.nesterov {
                *nesterov = true;
                if s.momentum.is_none() && *momentum == 0.0 {
                    *momentum = 0.9;
                }
            }
            if let Some(w) = s.weight_decay {
                *weight_decay = w;
            }
            for (given, flag) in [
                (s.rho.is_some(), "--rho"),
                (s.beta1.is_some(), "--beta1"),
                (s.beta2.is_some(), "--beta2"),
                (s.eps.is_some(), "--eps"),
                (s.amsgrad, "--amsgrad"),
            ] {
                if given {
                    return Err(not_for(flag));
                }
            }
        }
        OptimizerConfig::Adagrad { eps, weight_decay, .. } => {
            if let Some(v) = s.eps {
                *eps = v;
            }
            if let Some(w) = s.weight_decay {
                *weight_decay = w;
            }
            for (given, flag) in [
                (s.momentum.is_some(), "--momentum"),
                (s.nesterov, "--nesterov"),
                (s.rho.is_some(), "--rho"),
                (s.beta1.is_some(), "--beta1"),
                (s.beta2.is_some(), "--beta2"),
                (s.amsgrad, "--amsgrad"),
            ] {
                if given {
                    return Err(not_for(flag));
                }
            }
        }
        OptimizerConfig::RmsProp { rho, eps, momentum, weight_decay, .. } => {
            if let Some(v) = s.rho {
                *rho = v;
            }
            if let Some(v) = s.eps {
                *eps = v;
            }
            if let Some(v) = s.momentum {
                *momentum = v;
            }
            if let Some(w) = s.weight_decay {
                *weight_decay = w;
            }
            for (given, flag) in [
                (s.nesterov, "--nesterov"),
                (s.beta1.is_some(), "--beta1"),
                (s.beta2.is_some(), "--beta2"),
                (s.amsgrad, "--amsgrad"),
            ] {
                if given {
                    return Err(not_for(flag));
                }
            }
        }
        OptimizerConfig::Adam { beta1, beta2, eps, amsgrad, weight_decay, .. }
        | OptimizerConfig::AdamW { beta1, beta2, eps, amsgrad, weight_decay, .. } => {
            if let Some(v) = s.beta1 {
                *beta1 = v;
            }
            if let Some(v) = s.beta2 {
                *beta2 = v;
            }
            if let Some(v) = s.eps {
                *eps = v;
            }
            if let Some(w) = s.weight_decay {
                *weight_decay = w;
            }
            *amsgrad |= s.amsgrad;
            for (given, flag) in
                [(s.momentum.is_some(), "--momentum"), (s.nesterov, "--nesterov"), (s.rho.is_some(), "--rho")]
            {
                if given {
                    return Err(not_for(flag));
                }
            }
        }
        OptimizerConfig::Nadam { beta1, beta2, eps, weight_decay, .. }
        | OptimizerConfig::Adamax { beta1, beta2, eps, weight_decay, .. } => {
            if let Some(v) = s.beta1 {
                *beta1 = v;
            }
            if let Some(v) = s.beta2 {
                *beta2 = v;
            }
            if let Some(v) = s.eps {
                *eps = v;
            }
            if let Some(w) = s.weight_decay {
                *weight_decay = w;
            }
            for (given, flag) in [
                (s.momentum.is_some(), "--momentum"),
                (s.nesterov, "--nesterov"),
                (s.rho.is_some(), "--rho"),
                (s.amsgrad, "--amsgrad"),
            ] {
                if given {
                    return Err(not_for(flag));
                }
            }
        }
        // An optimizer the library gained before this command learned its flags: refuse them
        // rather than ignore them.
        _ => {
            for (given, flag) in [
                (s.momentum.is_some(), "--momentum"),
                (s.nesterov, "--nesterov"),
                (s.rho.is_some(), "--rho"),
                (s.beta1.is_some(), "--beta1"),
                (s.beta2.is_some(), "--beta2"),
                (s.eps.is_some(), "--eps"),
                (s.weight_decay.is_some(), "--weight-decay"),
                (s.amsgrad, "--amsgrad"),
            ] {
                if given {
                    return Err(not_for(flag));
                }
            }
        }
    }
    opt.validate()?;
    Ok(opt)
}

fn opt_name(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// Checks that `path` can be written (its directory exists and takes a new file) without leaving
/// anything behind.
pub fn check_output(path: &Path, flag: &str) -> Result<()> {
    let what = format!("output path ({flag})");
    match mlp::model_file::AtomicFile::create(path) {
        Ok(probe) => {
            drop(probe);
            Ok(())
        }
        Err(Error::Config { msg, .. }) => Err(Error::config(what, msg).into()),
        Err(Error::Io { source, .. }) => Err(Error::config(
            what,
            format!("cannot create a file beside `{}`: {source}; choose a writable directory", path.display()),
        )
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// Resolves `--device auto` and checks `--device cuda` now, before any data is read.
pub fn resolve_device(flag: DeviceFlag) -> Result<Device> {
    Ok(match flag {
        DeviceFlag::Cpu => Device::Cpu,
        DeviceFlag::Cuda => {
            Cuda::new(0)?;
            Device::Cuda
        }
        DeviceFlag::Auto => {
            if Cuda::new(0).is_ok() {
                Device::Cuda
            } else {
                Device::Cpu
            }
        }
    })
}

impl TrainPlan {
    /// Merges and checks everything that does not need the data.
    pub fn new(args: TrainArgs) -> Result<TrainPlan> {
        let TrainArgs { config, resume, quiet, settings } = args;
        for (flag, path) in [("--config", &config), ("--resume", &resume)] {
            if let Some(p) = path {
                non_empty(flag, &p.to_string_lossy())?;
            }
        }
        let mut merged = settings;
        if let Some(path) = &config {
            merged = merge(merged, read_config(path)?);
        }
        let mut demo = false;
        if let Some(path) = &resume {
            let (_, meta) = mlp::model_file::load_checkpoint(path)?;
            let stored: StoredTraining =
                meta.training.clone().and_then(|v| serde_json::from_value(v).ok()).with_context(|| {
                    format!("{}: the checkpoint has no training settings to resume with", path.display())
                })?;
            // A resumed demo with data of the user's own is no longer the demo.
            demo = stored.demo && merged.data.is_none();
            merged = merge(merged, stored.settings);
        }
        if merged.data.is_none() {
            demo = true;
        }
        if demo {
            let defaults = demo_defaults(&merged);
            merged = merge(merged, defaults);
        }
        let s = &merged;
        let loss = s.loss.as_deref().map(str::parse::<Loss>).transpose()?;
        let optimizer = build_optimizer(s)?;
        let schedule = s.lr_schedule.as_deref().map(parse_schedule).transpose()?.unwrap_or_default();
        let early_stopping =
            s.early_stopping.as_deref().map(|e| parse_early_stopping(e, s.monitor.as_deref())).transpose()?;
        if s.monitor.is_some() && early_stopping.is_none() {
            return Err(Error::config("--monitor", "needs --early-stopping PATIENCE").into());
        }
        check_threads(s.threads)?;
        if s.shards == Some(0) {
            return Err(Error::config("--shards", "must be at least 1").into());
        }
        if s.checkpoint_every == Some(0) {
            return Err(Error::config("--checkpoint-every", "must be at least 1 epoch").into());
        }
        let init = s.init.as_deref().map(str::parse::<Init>).transpose()?;
        for (v, flag) in [(s.l1, "--l1"), (s.l2, "--l2")] {
            if let Some(v) = v
                && !(v >= 0.0 && v.is_finite())
            {
                return Err(Error::config(flag, format!("must be a number ≥ 0, got {v}")).into());
            }
        }
        let (class_weights, class_weight_auto) = match s.class_weight.as_deref() {
            None => (None, false),
            Some("auto") => (None, true),
            Some(list) => {
                let w: Result<Vec<f32>, _> = list.split(',').map(|v| v.trim().parse::<f32>()).collect();
                let w = w.map_err(|_| {
                    Error::config(format!("class weights '{list}'"), "expected auto or numbers such as 1,3.5")
                })?;
                (Some(w), false)
            }
        };
        let fit = FitConfig {
            loss: loss.unwrap_or(Loss::Mse),
            optimizer,
            schedule,
            epochs: s.epochs.unwrap_or(10),
            batch_size: s.batch_size.unwrap_or(32),
            shuffle: !s.no_shuffle,
            seed: s.seed.unwrap_or(0),
            validation_split: s.validation_split.unwrap_or(0.0),
            early_stopping,
            class_weights,
            clip_norm: s.clip_norm,
            threads: s.threads.unwrap_or(0),
        };
        fit.validate()?;

        let delimiter = match &s.delimiter {
            Some(d) => crate::flags::parse_delimiter(d).map_err(|e| Error::config("--delimiter", e))?,
            None => b',',
        };
        for (flag, value) in [("--data", &s.data), ("--test", &s.test)] {
            if let Some(v) = value {
                crate::paths::non_empty(flag, v)?;
            }
        }
        let data = Source::parse(s.data.as_deref().unwrap_or(DEMO_DATA));
        let test = s.test.as_deref().map(Source::parse);
        let out = s.out.clone().unwrap_or_else(|| PathBuf::from("model.safetensors"));
        let checkpoint = s.checkpoint.clone().unwrap_or_else(|| out.with_extension("ckpt.safetensors"));
        check_files(s, &config, &resume, &data, test.as_ref(), &out, &checkpoint)?;
        check_output(&out, "--out")?;
        check_output(&checkpoint, "--checkpoint")?;
        if let Some(h) = &s.history {
            check_output(h, "--history")?;
        }
        if let Some(p) = &s.plots {
            check_output_dir(p, "--plots")?;
        }
        let device = resolve_device(s.device.unwrap_or(DeviceFlag::Cpu))?;
        let seed_stopper = s.seed_stopper.as_deref().map(parse_seed_stopper).transpose()?;
        let dead_units_warn = s.dead_units_warn.unwrap_or(mlp::train::DEFAULT_DEAD_WARN);
        if !(0.0..=1.0).contains(&dead_units_warn) {
            return Err(Error::config(
                "--dead-units-warn",
                format!("must be a fraction in [0, 1], got {dead_units_warn}"),
            )
            .into());
        }
        Ok(TrainPlan {
            seed_stopper,
            dead_units_warn,
            demo,
            data,
            test,
            loss,
            fit,
            init,
            out,
            checkpoint,
            checkpoint_every: s.checkpoint_every.unwrap_or(0),
            history: s.history.clone(),
            plots: s.plots.clone(),
            log_format: s.log_format.unwrap_or(LogFormat::Text),
            quiet,
            device,
            class_weight_auto,
            resume,
            delimiter,
            shards: s.shards.unwrap_or(1),
            auto_validation: !demo
                && s.validation_split.is_none()
                && s.early_stopping.is_none()
                && s.seed_stopper.is_none(),
            epochs_given: s.epochs.is_some(),
            target_scaling: !s.no_target_scaling,
            settings: merged,
        })
    }
}

/// Every output of `mlp train` against every input and every other output (see `paths.rs`).
fn check_files(
    s: &TrainSettings,
    config: &Option<PathBuf>,
    resume: &Option<PathBuf>,
    data: &Source,
    test: Option<&Source>,
    out: &Path,
    checkpoint: &Path,
) -> Result<()> {
    let mut files = Files::default();
    files.source("--data", data)?;
    if let Some(t) = test {
        files.source("--test", t)?;
    }
    for (flag, path) in [("--init-from", &s.init_from), ("--resume", resume), ("--config", config)] {
        if let Some(p) = path {
            files.input(flag, p)?;
        }
    }
    files.output("--out", out)?.output("--checkpoint", checkpoint)?;
    if let Some(h) = &s.history {
        files.output("--history", h)?;
    }
    if let Some(dir) = &s.plots {
        non_empty("--plots", &dir.to_string_lossy())?;
        for name in PLOT_FILES {
            files.output("--plots", &dir.join(name))?;
        }
    }
    // A resumed run goes on writing the checkpoint it started from.
    files.check(&[("--checkpoint", "--resume")])
}
