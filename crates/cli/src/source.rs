//! Data sources named on the command line (CSV file, MNIST directory, `builtin:` generator), read
//! into datasets with the preprocessing fitted on the training part and replayed on the rest.

use anyhow::{Context, Result, bail};
use mlp::Loss;
use mlp::data::csv::Table;
use mlp::data::idx::{MnistSplit, load_idx};
use mlp::data::synth;
use mlp::data::{Dataset, Targets};
use mlp::model_file::{InputSpec, ModelMeta};
use mlp::preprocess::{PreprocessConfig, Preprocessor, TargetKind};
use mlp::setup;
use std::path::{Path, PathBuf};

/// Where rows come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A CSV file with a header row.
    Csv(PathBuf),
    /// A directory of MNIST IDX files.
    Idx(PathBuf),
    /// `builtin:NAME?k=v&…`.
    Builtin(String),
}

impl Source {
    /// Reads a `--data` value: `builtin:` prefix, else a directory (IDX), else a file (CSV).
    pub fn parse(s: &str) -> Source {
        if s.starts_with("builtin:") {
            Source::Builtin(s.to_string())
        } else if Path::new(s).is_dir() {
            Source::Idx(PathBuf::from(s))
        } else {
            Source::Csv(PathBuf::from(s))
        }
    }
}

/// How to read the training CSV.
pub struct CsvOptions<'a> {
    /// The field separator (`--delimiter`).
    pub delimiter: u8,
    /// The target column (default: last).
    pub target: Option<&'a str>,
    /// Columns to ignore.
    pub drop: &'a [String],
    /// Identifier-like text columns to encode anyway (`--keep`).
    pub keep: &'a [String],
    /// Fill missing cells.
    pub impute: bool,
}

/// Training (and test) data, encoded, with what `predict` needs to encode new data the same way.
pub struct TrainData {
    /// The training rows (validation is split off later by the trainer).
    pub train: Dataset,
    /// The test rows, when given (or split off, for the demo).
    pub test: Option<Dataset>,
    /// The fitted input encoding.
    pub input: InputSpec,
    /// Class labels, for class targets.
    pub classes: Option<Vec<String>>,
    /// Notes for the user (imputed cells…).
    pub notes: Vec<String>,
}

fn numbered_classes(y: &Targets) -> Option<Vec<String>> {
    y.n_classes().map(|k| (0..k).map(|i| i.to_string()).collect())
}

/// The label bytes a model trained on IDX images names its classes by (`0`…`9`, `1`…`26`).
pub fn idx_label_values(classes: Option<&[String]>) -> Result<Vec<u8>> {
    let Some(classes) = classes else { bail!("this model is a regression; IDX labels are classes") };
    classes
        .iter()
        .map(|c| c.parse::<u8>().with_context(|| format!("the model's class `{c}` is not an IDX label (0 to 255)")))
        .collect()
}

fn feature_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("x{i}")).collect()
}

/// The target column name `mlp data` writes for these targets.
pub fn target_column(y: &Targets) -> &'static str {
    match y {
        Targets::Classes { .. } => "label",
        Targets::Values(_) => "y",
    }
}

/// Reads a whole CSV file and refuses numbers beyond `f32`'s range, for train, evaluate and plot alike.
fn read_table(path: &Path, delimiter: u8) -> Result<Table> {
    let table = Table::read_with(path, delimiter)?;
    table.check_f32_range()?;
    Ok(table)
}

/// Checked before the encoded matrix is allocated: the input width (after one-hot expansion), the
/// rows, and an upper bound of the class count.
pub type BeforeEncoding<'a> = &'a mut dyn FnMut(usize, usize, Option<usize>) -> Result<()>;

/// Loads the training source and fits its preprocessing; `loss` (when given) decides the task,
/// else the target decides. `test_split` holds out that fraction as test data (the demo).
///
/// `before_encoding` sees the shape of the data before the encoded matrix exists (for a CSV file,
/// whose one-hot expansion can be far larger than the file) and may refuse it.
pub fn load_train(
    source: &Source,
    test: Option<&Source>,
    csv: &CsvOptions<'_>,
    loss: Option<Loss>,
    seed: u64,
    test_split: Option<f32>,
    before_encoding: BeforeEncoding<'_>,
) -> Result<TrainData> {
    let mut notes = Vec::new();
    let (train, input, classes) = match source {
        Source::Csv(path) => {
            let table = read_table(path, csv.delimiter)?;
            let kind = setup::target_kind(loss, &table, csv.target)?;
            let mut cfg = PreprocessConfig {
                target: csv.target.map(str::to_string),
                drop: csv.drop.to_vec(),
                impute: csv.impute,
                standardize: true,
            };
            drop_identifiers(&table, &mut cfg, csv.keep, &mut notes)?;
            let shape = setup::table_shape_keeping(&table, &cfg, csv.keep)?;
            let classes = (kind == TargetKind::Classes).then_some(shape.target_values);
            before_encoding(shape.width, shape.rows, classes)?;
            let (pre, data) = Preprocessor::fit(&table, &cfg, kind)?;
            if !pre.imputed().is_empty() {
                let list: Vec<String> = pre.imputed().iter().map(|(c, n)| format!("{c} {n}")).collect();
                let total: usize = pre.imputed().iter().map(|(_, n)| n).sum();
                notes.push(format!("imputed {total} missing cells: {}", list.join(", ")));
            }
            let classes = pre.class_labels().map(<[String]>::to_vec);
            (data, InputSpec::Table { preprocessor: pre }, classes)
        }
        Source::Idx(dir) => {
            // The classes are the label values present (EMNIST letters: 1–26), in order.
            let (set, labels_path) = load_idx(dir, MnistSplit::Train)?;
            let values = set.label_values();
            let data = set.to_dataset(&values, &labels_path)?;
            let (rows, cols) = set.size;
            let input = InputSpec::Pixels { rows, cols, target: "label".into() };
            (data, input, Some(values.iter().map(u8::to_string).collect()))
        }
        Source::Builtin(spec) => {
            let mut data = synth::builtin(spec)?;
            let classes = numbered_classes(&data.y);
            let input = InputSpec::standardize(&data.x, feature_names(data.x.cols), target_column(&data.y));
            input.scale_numeric(&mut data.x)?;
            (data, input, classes)
        }
    };
    if !matches!(source, Source::Csv(_)) {
        before_encoding(train.x.cols, train.len(), classes.as_ref().map(Vec::len))?;
    }
    if let Some(classes) = &classes
        && classes.len() < 2
    {
        bail!("the training data has a single class; a classifier needs at least two");
    }
    let (train, test) = match (test, test_split) {
        (Some(t), _) => (train, Some(load_eval(t, &input, classes.as_deref(), csv.delimiter)?)),
        (None, Some(f)) => {
            let (tr, te) = train.split(f, seed, true);
            (tr, Some(te))
        }
        (None, None) => (train, None),
    };
    Ok(TrainData { train, test, input, classes, notes })
}

/// Adds to `cfg.drop` every text column with (nearly) one value per row, which one-hot encoding
/// would turn into as many features as rows, with a warning naming it; `keep` names those to
/// encode anyway.
fn drop_identifiers(table: &Table, cfg: &mut PreprocessConfig, keep: &[String], notes: &mut Vec<String>) -> Result<()> {
    if let Some(k) = keep.iter().find(|k| table.column_index(k).is_none()) {
        bail!("{}: has no column `{k}` to keep (--keep); available columns: {}", table.path, table.columns.join(", "));
    }
    for id in setup::identifier_columns(table, cfg)? {
        if keep.contains(&id.name) {
            continue;
        }
        notes.push(format!(
            "warning: dropped column `{0}`: {1} different text values in {2} rows, an identifier or free text \
             rather than a category (--keep {0} one-hot encodes it anyway, as {1} features)",
            id.name, id.distinct, id.filled
        ));
        cfg.drop.push(id.name);
    }
    Ok(())
}

/// Loads labelled data for a model with `input` encoding and `classes`: the test split of an
/// MNIST directory, a regenerated built-in dataset, or a CSV file with the model's columns.
pub fn load_eval(source: &Source, input: &InputSpec, classes: Option<&[String]>, delimiter: u8) -> Result<Dataset> {
    let data = match source {
        Source::Csv(path) => input.transform(&read_table(path, delimiter)?, classes)?,
        Source::Idx(dir) => {
            let (set, labels_path) = load_idx(dir, MnistSplit::Test)?;
            if !matches!(input, InputSpec::Pixels { .. }) {
                bail!("{}: this model was not trained on images; give it data like its training data", dir.display());
            }
            let mut d = set.to_dataset(&idx_label_values(classes)?, &labels_path)?;
            input.scale_numeric(&mut d.x)?;
            d
        }
        Source::Builtin(spec) => {
            let mut d = synth::builtin(spec)?;
            if matches!(input, InputSpec::Table { .. }) {
                bail!("`{spec}`: this model was trained on a CSV file; give it a CSV file with the same columns");
            }
            input.scale_numeric(&mut d.x).with_context(|| format!("`{spec}` does not fit this model"))?;
            d
        }
    };
    if let (Targets::Classes { n_classes, .. }, Some(classes)) = (&data.y, classes)
        && *n_classes > classes.len()
    {
        bail!(
            "the data has {n_classes} classes but the model knows {} ({}); give it data with the model's classes",
            classes.len(),
            classes.join(", ")
        );
    }
    Ok(data)
}

/// [`load_eval`] for a saved model.
pub fn load_for_model(source: &Source, meta: &ModelMeta, delimiter: u8) -> Result<Dataset> {
    load_eval(source, &meta.input, meta.classes.as_deref(), delimiter)
}
