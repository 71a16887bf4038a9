//! The command line as clap sees it: subcommands, flags, help texts and examples.
//!
//! `TrainSettings` doubles as the TOML schema of `--config`: every field is optional so that a
//! flag given on the command line overrides the file, and the file overrides the defaults
//! (see `plan.rs`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

const ABOUT: &str = "Multilayer perceptrons from the shell: train, evaluate, predict, plot and export.";

const EXAMPLES: &str = "\
Examples:
  mlp train                                   # the two-spirals demo, with plots in plots/
  mlp train --data train.csv --target Survived --drop PassengerId,Name --impute --out titanic.safetensors
  mlp evaluate titanic.safetensors --data test.csv
  mlp predict titanic.safetensors --input new.csv --output predictions.csv --proba
  mlp summary --layers 512:relu,10:softmax --inputs 784
  mlp data circles --n 500 --out circles.csv";

/// The `mlp` command.
#[derive(Parser, Debug)]
#[command(name = "mlp", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model on a CSV file, an MNIST directory or a built-in dataset and save it.
    #[command(after_help = TRAIN_EXAMPLES, allow_negative_numbers = true)]
    Train(Box<TrainArgs>),
    /// Score a saved model on labelled data: loss, accuracy, confusion matrix (or mse, mae, r2).
    #[command(after_help = EVALUATE_EXAMPLES)]
    Evaluate(EvaluateArgs),
    /// Predict with a saved model, applying the preprocessing it was trained with.
    #[command(after_help = PREDICT_EXAMPLES)]
    Predict(PredictArgs),
    /// Print the Keras-style table of a model's layers and parameter counts.
    #[command(after_help = SUMMARY_EXAMPLES)]
    Summary(SummaryArgs),
    /// Check the analytic gradients of a random small network against finite differences.
    #[command(after_help = GRADCHECK_EXAMPLES)]
    Gradcheck(GradcheckArgs),
    /// Write a built-in dataset as CSV: spirals, circles, blobs, xor, linear.
    #[command(after_help = DATA_EXAMPLES)]
    Data(DataArgs),
    /// Export a model to ONNX, preprocessing scale folded in.
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(ExportArgs),
    /// Redraw the learning curves (and, with a model and data, the other plots).
    #[command(after_help = PLOT_EXAMPLES)]
    Plot(PlotArgs),
    /// Cross-validate training settings: k-fold (stratified for classes), per-fold and mean ± std scores.
    #[command(after_help = CV_EXAMPLES, allow_negative_numbers = true)]
    Cv(Box<CvArgs>),
    /// Search training settings (grid, random, successive halving) by cross-validation; save the best model.
    #[command(after_help = TUNE_EXAMPLES, allow_negative_numbers = true)]
    Tune(Box<TuneArgs>),
    /// Serve models over HTTP: KServe V2 / Triton clients and MLflow's /invocations.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Serve the browser playground (the page `scripts/web` builds) on 127.0.0.1 and print its address.
    Playground(PlaygroundArgs),
}

const TRAIN_EXAMPLES: &str = "\
Data sources (--data, --test):
  a CSV file with a header row      string columns are one-hot encoded, features standardized
  an MNIST directory (IDX files)    --data uses the train split, --test the t10k split
  builtin:NAME?k=v&...              spirals, circles, blobs, xor, linear, e.g. builtin:circles?n=500&noise=0.1

Examples:
  mlp train
      the demo: two spirals, 10:relu,2:softmax, SGD with momentum; writes model.safetensors and plots/
  mlp train --data builtin:circles --layers 20:relu,1:sigmoid --loss binary_crossentropy --epochs 200
  mlp train --data titanic.csv --target Survived --drop PassengerId,Name,Ticket,Cabin --impute \\
            --layers 32:relu,2:softmax --validation-split 0.2 --early-stopping 10
  mlp train --data mnist/ --test mnist/ --layers 512:relu,10:softmax --optimizer rmsprop --lr 0.001 \\
            --batch-size 128 --epochs 5 --plots plots --history history.jsonl
  mlp train --config exp.toml --epochs 20        # TOML keys are the flag names with underscores
  mlp train --data big.csv --checkpoint-every 1 --checkpoint run.ckpt   # then, after Ctrl-C:
  mlp train --resume run.ckpt";

const EVALUATE_EXAMPLES: &str = "\
Examples:
  mlp evaluate model.safetensors --data test.csv
  mlp evaluate mnist.safetensors --data mnist/ --json
  mlp evaluate spirals.safetensors --data 'builtin:spirals?seed=7'";

const PREDICT_EXAMPLES: &str = "\
Examples:
  mlp predict model.safetensors --input new.csv --output predictions.csv
  mlp predict model.safetensors --proba < new.csv > predictions.csv";

const SUMMARY_EXAMPLES: &str = "\
Examples:
  mlp summary model.safetensors
  mlp summary --layers 512:relu,10:softmax --inputs 784";

const GRADCHECK_EXAMPLES: &str = "\
Examples:
  mlp gradcheck --layers 5:tanh,3:softmax --loss categorical_crossentropy
  mlp gradcheck --layers 4:prelu,3:maxout(2),1:linear --loss mse --inputs 6 --rows 8 --seed 3";

const DATA_EXAMPLES: &str = "\
Examples:
  mlp data spirals --n 1000 --noise 0.03 --out spirals.csv
  mlp data blobs --n 100 --seed 1 > blobs.csv";

const EXPORT_EXAMPLES: &str = "\
Examples:
  mlp export model.safetensors --onnx model.onnx";

const PLOT_EXAMPLES: &str = "\
Examples:
  mlp plot --history history.jsonl --out plots
  mlp plot --history history.jsonl --model model.safetensors --data test.csv --out plots";

const CV_EXAMPLES: &str = "\
Takes the data and training flags of `mlp train` (not its output flags); every fold trains from fresh
weights and is scored on its held-out rows. Folds run side by side, one thread each (--jobs to choose).

Examples:
  mlp cv --data 'builtin:circles?n=500&noise=0.1' --layers 8:relu,1:sigmoid --epochs 100
  mlp cv --data titanic.csv --target Survived --drop PassengerId,Name,Ticket,Cabin --impute \\
         --layers 32:relu,2:softmax --folds 10 --repeats 3 --log-format json";

const TUNE_EXAMPLES: &str = "\
Search space (any `mlp train` flag, by its name without dashes; `_` or `-` alike):
  --grid KEY=V1;V2;...     a grid axis; `;` separates values, so a value may hold commas (layer specs);
                           --grid KEY=V repeated for one KEY adds values. Every combination is a trial.
  --random KEY=LO..HI[:log] a range (integers when both ends are), drawn --trials times; with any
                           --random, --grid lists are drawn from too instead of combined.
  --random KEY=V1;V2;...   a list to draw from.
  true/false for switches (--grid nesterov=true;false).
Each trial is scored by --folds cross-validation (or --holdout FRACTION); --halving trains all trials
for few epochs and only the best 1/--eta on with --eta times as many, up to --epochs.
Writes DIR/results.csv, DIR/results.json (sorted, best first), DIR/scores.png, and the best setting
retrained on all the data to --out [default: DIR/best.safetensors], with the search in its metadata.

Examples:
  mlp tune --data 'builtin:circles?n=500&noise=0.1' --loss binary_crossentropy --epochs 100 \\
           --grid 'layers=1:relu,1:sigmoid;2:relu,1:sigmoid;4:relu,1:sigmoid;8:relu,1:sigmoid'
  mlp tune --data train.csv --layers 64:relu,2:softmax --random lr=1e-4..1e-1:log \\
           --random batch-size=16..256:log --trials 20 --halving --results tune-runs";

/// How progress is reported.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where training runs.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceFlag {
    /// The CPU.
    Cpu,
    /// The first CUDA GPU (fails when none is usable).
    Cuda,
    /// The GPU when one is usable, else the CPU.
    Auto,
}

/// `mlp train`.
#[derive(Args, Debug, Default)]
pub struct TrainArgs {
    /// Read settings from a TOML file (keys as the flags, with underscores); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Continue the run saved in this checkpoint (its settings apply; flags override them).
    #[arg(long, value_name = "CHECKPOINT")]
    pub resume: Option<PathBuf>,
    /// Print only errors and the final result.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub settings: TrainSettings,
}

/// Every training setting; also the schema of `--config` files.
#[derive(Args, Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// Training data: a CSV file, an MNIST directory or builtin:NAME?k=v [default: the spirals demo].
    #[arg(long, value_name = "SOURCE")]
    pub data: Option<String>,
    /// Test data, scored after training with the same preprocessing.
    #[arg(long, value_name = "SOURCE")]
    pub test: Option<String>,
    /// The CSV target column [default: the last column].
    #[arg(long, value_name = "COLUMN")]
    pub target: Option<String>,
    /// CSV columns to ignore, comma-separated.
    #[arg(long, value_name = "COL,...", value_delimiter = ',')]
    pub drop: Option<Vec<String>>,
    /// Text columns to keep even with (nearly) one value per row, which are otherwise dropped as IDs.
    #[arg(long, value_name = "COL,...", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<Vec<String>>,
    /// The CSV field separator: one character, or `tab` [default: ,].
    #[arg(long, value_name = "CHAR", value_parser = check_delimiter)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Fill missing CSV cells (mean for numbers, most frequent for categories) instead of failing.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub impute: bool,
    /// Train on the regression target as it is, not standardized (by default it is standardized for
    /// training and the inverse folded into the output layer, so predictions come out in its units).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_target_scaling: bool,
    /// Layers as units:activation[:init], e.g. "64:relu,10:softmax", plus dropout(RATE) and batchnorm[:activation] items that keep the width, e.g. "64:linear,batchnorm:relu,dropout(0.2),10:softmax" [default: 64:relu plus an output for the task].
    #[arg(long, value_name = "SPEC")]
    pub layers: Option<String>,
    /// mse, mae, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy, huber[(DELTA)], log_cosh, hinge, squared_hinge (±1 targets), kl_divergence, poisson [default: from the target].
    #[arg(long, value_name = "LOSS")]
    pub loss: Option<String>,
    /// sgd, momentum, nesterov, adagrad, rmsprop, adam, amsgrad, adamw, nadam, adamax, rprop, lbfgs; hyperparameters as name(key=value,...), e.g. "lbfgs(history_size=10,max_iter=50)", "rprop(eta_plus=1.2)" (rprop and lbfgs train on the full batch; an lbfgs epoch is one torch LBFGS step) [default: adam].
    #[arg(long, value_name = "NAME")]
    pub optimizer: Option<String>,
    /// Learning rate [default: 0.01 for SGD, 0.001 otherwise].
    #[arg(long, value_name = "LR")]
    pub lr: Option<f32>,
    /// Momentum (sgd, rmsprop).
    #[arg(long, value_name = "M")]
    pub momentum: Option<f32>,
    /// Nesterov momentum (sgd).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nesterov: bool,
    /// Decay of the squared-gradient average (rmsprop).
    #[arg(long, value_name = "RHO")]
    pub rho: Option<f32>,
    /// First-moment decay (adam, adamw, amsgrad, nadam, adamax).
    #[arg(long, value_name = "B1")]
    pub beta1: Option<f32>,
    /// Second-moment decay (adam, adamw, amsgrad, nadam, adamax).
    #[arg(long, value_name = "B2")]
    pub beta2: Option<f32>,
    /// Added to the denominator (adagrad, rmsprop, adam…).
    #[arg(long, value_name = "EPS")]
    pub eps: Option<f32>,
    /// Weight decay (L2 in the gradient; decoupled for adamw).
    #[arg(long, value_name = "WD")]
    pub weight_decay: Option<f32>,
    /// Use AMSGrad's running maximum (adam, adamw).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub amsgrad: bool,
    /// constant | step:EVERY:GAMMA | exp:GAMMA | plateau:FACTOR:PATIENCE.
    #[arg(long, value_name = "SCHEDULE")]
    pub lr_schedule: Option<String>,
    /// Number of epochs [default: 10; up to 200 under the default early stopping; the demo: up to 600].
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Rows per batch [default: 32].
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Fraction of the training data held out for validation, in [0, 1); 0 turns it off [default: 0.2 (stratified) with early stopping, for 200 rows or more].
    #[arg(long, value_name = "FRACTION")]
    pub validation_split: Option<f32>,
    /// Stop after PATIENCE epochs without improvement (by more than MIN_DELTA) and keep the best weights [default: 10 with the default validation split].
    #[arg(long, value_name = "PATIENCE[:MIN_DELTA]")]
    pub early_stopping: Option<String>,
    /// The metric early stopping watches [default: val_loss, or loss without validation data].
    #[arg(long, value_name = "METRIC")]
    pub monitor: Option<String>,
    /// L1 penalty on every layer's weights.
    #[arg(long, value_name = "L1")]
    pub l1: Option<f32>,
    /// L2 penalty on every layer's weights.
    #[arg(long, value_name = "L2")]
    pub l2: Option<f32>,
    /// Weight initializer for every layer: glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_normal, uniform(LIMIT).
    #[arg(long, value_name = "INIT")]
    pub init: Option<String>,
    /// Seed for the weights, shuffles and splits [default: 0].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// CPU threads [default: one per core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Where to save the model [default: model.safetensors].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Start from this model file's weights (fine-tuning).
    #[arg(long, value_name = "MODEL")]
    pub init_from: Option<PathBuf>,
    /// Keep the rows in file order instead of reshuffling every epoch.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_shuffle: bool,
    /// Write the history, one JSON object per epoch.
    #[arg(long, value_name = "FILE.jsonl")]
    pub history: Option<PathBuf>,
    /// Write plots into this directory [the demo: plots].
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// text or json lines on stderr.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Per-class loss weights: auto (inverse frequency) or w0,w1,...
    #[arg(long, value_name = "auto|W0,W1,...")]
    pub class_weight: Option<String>,
    /// Write a checkpoint every N epochs.
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<usize>,
    /// The checkpoint file [default: the model path with .ckpt.safetensors].
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Rescale gradients whose global L2 norm exceeds X.
    #[arg(long, value_name = "X")]
    pub clip_norm: Option<f32>,
    /// Split each batch into K shards whose gradients are summed in shard order: the same model bits at any number of MPI processes N ≤ K (`mpirun -np N mlp train --shards K`) [default: 1].
    #[arg(long, value_name = "K")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
    /// cpu, cuda or auto [default: cpu].
    #[arg(long, value_enum, value_name = "DEVICE")]
    pub device: Option<DeviceFlag>,
    /// The seed's MXNet stopping rule on training accuracy: stop when within TOL of both the mean of
    /// the last N epochs and the best, after MIN epochs, or at accuracy 1; report it every PERIOD
    /// epochs [default when given alone: 1e-3:100:100:100].
    #[arg(long, value_name = "TOL:N:MIN[:PERIOD]", num_args = 0..=1, default_missing_value = "default")]
    pub seed_stopper: Option<String>,
    /// Warn when more than this fraction of a hidden layer's units are dead (ReLU: zero on every
    /// row of an epoch; sigmoid/tanh: saturated) [default: 0.4].
    #[arg(long, value_name = "FRACTION")]
    pub dead_units_warn: Option<f64>,
}

/// How `mlp cv` and `mlp tune` split the data into folds.
#[derive(Args, Debug, Clone, Default)]
pub struct FoldFlags {
    /// Folds of k-fold cross-validation.
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub folds: usize,
    /// Repeat the k folds with fresh shuffles.
    #[arg(long, value_name = "R", default_value_t = 1)]
    pub repeats: usize,
    /// Plain folds instead of class-stratified ones.
    #[arg(long)]
    pub no_stratify: bool,
    /// Folds trained at once [default: one per thread, each on one thread].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

/// `mlp cv`.
#[derive(Args, Debug, Default)]
pub struct CvArgs {
    /// Read settings from a TOML file (keys as the flags, with underscores); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only errors and the final result.
    #[arg(long, short)]
    pub quiet: bool,
    /// Write which fold scores each row: a CSV of repeat,row,fold (rows 0-based, in data order).
    #[arg(long, value_name = "FILE.csv")]
    pub fold_file: Option<PathBuf>,
    #[command(flatten)]
    pub folds: FoldFlags,
    #[command(flatten)]
    pub settings: TrainSettings,
}

/// `mlp tune`.
#[derive(Args, Debug, Default)]
pub struct TuneArgs {
    /// Read settings from a TOML file (keys as the flags, with underscores); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only errors and the final result.
    #[arg(long, short)]
    pub quiet: bool,
    /// A grid axis: KEY=V1;V2;... (see below).
    #[arg(long, value_name = "KEY=V1;V2")]
    pub grid: Vec<String>,
    /// A random-search axis: KEY=LO..HI[:log] or KEY=V1;V2;...
    #[arg(long, value_name = "KEY=RANGE")]
    pub random: Vec<String>,
    /// Random-search trials.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub trials: usize,
    /// Score each trial on one held-out FRACTION of the rows instead of cross-validation.
    #[arg(long, value_name = "FRACTION")]
    pub holdout: Option<f32>,
    /// The score compared: accuracy, loss, mse, mae or r2 [default: accuracy for classes, mse for values].
    #[arg(long, value_name = "METRIC")]
    pub metric: Option<String>,
    /// Successive halving: stop weak trials early.
    #[arg(long)]
    pub halving: bool,
    /// Halving factor: the best 1/ETA of a rung train ETA times as long.
    #[arg(long, value_name = "ETA", default_value_t = 3, requires = "halving")]
    pub eta: usize,
    /// Epochs of the first halving rung, at least.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "halving")]
    pub min_epochs: usize,
    /// Where the results table and plot go.
    #[arg(long, value_name = "DIR", default_value = "tune")]
    pub results: PathBuf,
    #[command(flatten)]
    pub folds: FoldFlags,
    #[command(flatten)]
    pub settings: TrainSettings,
}

/// `mlp evaluate`.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// The model file.
    pub model: PathBuf,
    /// Labelled data: a CSV file, an MNIST directory (the t10k split) or builtin:NAME?k=v.
    #[arg(long, value_name = "SOURCE")]
    pub data: String,
    /// Print the metrics as JSON.
    #[arg(long)]
    pub json: bool,
    /// CPU threads [default: one per core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// The CSV field separator: one character, or `tab` [default: ,].
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter, default_value = ",")]
    pub delimiter: u8,
}

/// `mlp predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// The model file.
    pub model: PathBuf,
    /// A CSV file with the model's input columns (the target may be there too) [default: stdin].
    #[arg(long, value_name = "FILE.csv")]
    pub input: Option<PathBuf>,
    /// Where to write the predictions [default: stdout].
    #[arg(long, value_name = "FILE.csv")]
    pub output: Option<PathBuf>,
    /// Add a p_<label> column per class.
    #[arg(long)]
    pub proba: bool,
    /// Rows per chunk: memory stays bounded by one chunk.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub chunk_rows: usize,
    /// The CSV field separator: one character, or `tab` [default: ,].
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter, default_value = ",")]
    pub delimiter: u8,
}

/// `mlp summary`.
#[derive(Args, Debug)]
pub struct SummaryArgs {
    /// The model file (or use --layers and --inputs).
    #[arg(required_unless_present = "layers", conflicts_with = "layers")]
    pub model: Option<PathBuf>,
    /// A layer spec, e.g. 512:relu,10:softmax.
    #[arg(long, value_name = "SPEC", requires = "inputs")]
    pub layers: Option<String>,
    /// Input width for --layers.
    #[arg(long, value_name = "N")]
    pub inputs: Option<usize>,
}

/// `mlp gradcheck`.
#[derive(Args, Debug)]
pub struct GradcheckArgs {
    /// The layers, e.g. 5:tanh,3:softmax.
    #[arg(long, value_name = "SPEC")]
    pub layers: String,
    /// The loss.
    #[arg(long, value_name = "LOSS")]
    pub loss: String,
    /// Input width.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub inputs: usize,
    /// Rows in the batch.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub rows: usize,
    /// Seed for the weights and data.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// The largest relative error that passes.
    #[arg(long, value_name = "TOL", default_value_t = 1e-6)]
    pub tolerance: f64,
}

/// `mlp data`.
#[derive(Args, Debug)]
pub struct DataArgs {
    /// spirals, circles, blobs, xor, linear; or idx (also mnist) with a directory of IDX files.
    pub name: String,
    /// For idx: the directory of IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST…).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// For idx: train or test.
    #[arg(long, value_name = "SPLIT", default_value = "train")]
    pub split: String,
    /// Rows (per class for blobs).
    #[arg(long, value_name = "N")]
    pub n: Option<usize>,
    /// Noise: the standard deviation (spirals sd, circles noise, blobs sd).
    #[arg(long, value_name = "SD")]
    pub noise: Option<f32>,
    /// Seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Where to write the CSV [default: stdout].
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
}

/// `mlp export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The model file.
    pub model: PathBuf,
    /// The ONNX file to write.
    #[arg(long, value_name = "OUT.onnx")]
    pub onnx: PathBuf,
}

/// `mlp plot`.
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A history written by `mlp train --history`.
    #[arg(long, value_name = "FILE.jsonl")]
    pub history: PathBuf,
    /// A model, to draw its confusion matrix (and decision boundary for 2-D inputs) on --data.
    #[arg(long, value_name = "MODEL", requires = "data")]
    pub model: Option<PathBuf>,
    /// Labelled data for --model.
    #[arg(long, value_name = "SOURCE", requires = "model")]
    pub data: Option<String>,
    /// The output directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Parses `--delimiter`: one ASCII character, or `tab` (also `\t`).
pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => Ok(s.as_bytes()[0]),
        _ => Err(format!("expected one character such as ';' or '|', or tab, not `{s}`")),
    }
}

/// [`parse_delimiter`] as a check on the text `--delimiter` and `--config` keep.
fn check_delimiter(s: &str) -> Result<String, String> {
    parse_delimiter(s).map(|_| s.to_string())
}

/// Parses the text of a `--config` TOML file named `name` (for messages). Kept here, beside the
/// schema and free of the rest of the binary, so that `fuzz/` can reach it.
pub fn parse_config(text: &str, name: &str) -> Result<TrainSettings, mlp::Error> {
    toml::from_str(text).map_err(|e| {
        // toml's message spans several lines (a caret under the offending text); keep the gist on one.
        let msg = e.message().to_string();
        let at = e.span().map(|s| {
            // Count newlines in bytes: a span need not fall on a char boundary of `text`.
            let line = text.as_bytes()[..s.start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1;
            format!(":{line}")
        });
        mlp::Error::format(format!("{name}{}", at.unwrap_or_default()), msg)
    })
}

const SERVE_EXAMPLES: &str = "\
Models: a file NAME.safetensors serves as model NAME (version 1); a directory serves every
NAME.safetensors in it, and NAME/VERSION/*.safetensors as versions. Changed or new files are
reloaded; a file that fails to load leaves the version already loaded serving.

Endpoints: GET /v2/health/live, /v2/health/ready, /v2/models/NAME[/versions/V][/ready], /metrics;
POST /v2/models/NAME[/versions/V]/infer (JSON or binary tensors), /invocations (MLflow).

Examples:
  mlp serve models/                              # every model in models/, on 127.0.0.1:8080
  mlp serve titanic.safetensors --port 9000
  curl -s localhost:8080/invocations -H 'Content-Type: text/csv' --data-binary @new.csv
  curl -s localhost:8080/invocations -H 'Content-Type: application/json' \\
       -d '{\"dataframe_split\": {\"columns\": [\"x1\", \"x2\"], \"data\": [[0.3, -0.7]]}}'
  mlp serve models/ --host 0.0.0.0 --token-file token.txt";

/// `mlp playground`.
#[derive(Args, Debug)]
pub struct PlaygroundArgs {
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, value_name = "N", default_value_t = 8000)]
    pub port: u16,
    /// The built page: the output of `scripts/web`.
    #[arg(long, value_name = "DIR", default_value = "web/dist")]
    pub dir: PathBuf,
}

/// `mlp serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Model files, or directories of them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The address to listen on; one beyond loopback needs --token-file or --no-auth.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub host: String,
    /// The port (0: any free port; the address is printed when ready).
    #[arg(long, value_name = "N", default_value_t = 8080)]
    pub port: u16,
    /// A file holding the bearer token every request but the health checks must carry.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Listen beyond loopback with no token.
    #[arg(long, conflicts_with = "token_file")]
    pub no_auth: bool,
    /// Let browser pages from this origin call the server (CORS) [default: none].
    #[arg(long, value_name = "ORIGIN")]
    pub cors: Option<String>,
    /// The largest request body accepted.
    #[arg(long, value_name = "MIB", default_value_t = 32)]
    pub max_body_mib: usize,
    /// Seconds a prediction may take once its request is read.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,
    /// Seconds a client may take to send its headers, and then its body.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub read_timeout: f64,
    /// Seconds a shutdown waits for the requests in flight.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub drain_timeout: f64,
    /// Dynamic batching: concurrent requests for one model share a forward pass.
    #[arg(long, value_name = "on|off", default_value = "off", value_parser = ["on", "off"])]
    pub batching: String,
    /// The most rows in one batch.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_batch: usize,
    /// Microseconds the request leading a batch may wait for more (0: only those already arrived).
    #[arg(long, value_name = "US", default_value_t = 0)]
    pub max_queue_delay_us: u64,
    /// HTTP worker threads (0: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Do not reload models when their files change.
    #[arg(long)]
    pub no_watch: bool,
}
