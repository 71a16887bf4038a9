//! Setting up a training run from data: the task and default loss, the default architecture, balanced
//! class weights, the `--init-from` architecture check, and the width and size checks that must run
//! before the one-hot matrix or the weights are allocated. Front ends (the CLI, later the Python
//! package and the server) call these instead of each deciding differently.

use crate::data::Targets;
use crate::data::csv::Table;
use crate::error::{Error, Result};
use crate::preprocess::{Column, PreprocessConfig, TargetKind, plan_columns};
use crate::{Loss, ModelConfig};

/// The loss when none is given: cross-entropy for classes, mean squared error for values.
pub fn default_loss(has_classes: bool) -> Loss {
    if has_classes { Loss::CategoricalCrossEntropy } else { Loss::Mse }
}

/// The task of a CSV target: decided by the loss when one is given, else guessed from the column
/// (`target`, or the last column) by [`TargetKind::infer`].
pub fn target_kind(loss: Option<Loss>, table: &Table, target: Option<&str>) -> Result<TargetKind> {
    match loss {
        Some(l) if l.is_classification() => Ok(TargetKind::Classes),
        Some(_) => Ok(TargetKind::Values),
        None => {
            let column = target.map(str::to_string).or_else(|| table.columns.last().cloned());
            TargetKind::infer(table, column.as_deref().unwrap_or_default())
        }
    }
}

/// The default layer spec for a task: one hidden layer of 64 ReLUs and the output the loss needs
/// (a sigmoid unit for binary cross-entropy, `k` softmax units for `k` classes, softplus units
/// for Poisson's positive rates, softmax units for KL divergence's distributions, else linear units).
pub fn default_layers(loss: Loss, classes: Option<usize>, targets: &Targets) -> String {
    let width = match targets {
        Targets::Values(m) => m.cols,
        Targets::Classes { .. } => 1,
    };
    let out = match (loss, classes) {
        (Loss::BinaryCrossEntropy, _) => "1:sigmoid".to_string(),
        (l, Some(k)) if l.is_classification() => format!("{k}:softmax"),
        (Loss::Poisson, _) => format!("{width}:softplus"),
        (Loss::KlDivergence, _) if width > 1 => format!("{width}:softmax"),
        _ => match targets {
            Targets::Values(m) => format!("{}:linear", m.cols),
            Targets::Classes { .. } => "1:linear".to_string(),
        },
    };
    format!("64:relu,{out}")
}

/// Balanced class weights `n / (k · n_c)` (scikit-learn's `class_weight="balanced"`); a class with
/// no rows gets 0.
pub fn balanced_class_weights(y: &Targets) -> Result<Vec<f32>> {
    let Targets::Classes { labels, n_classes } = y else {
        return Err(Error::Data("--class-weight needs class targets, but this is a regression".into()));
    };
    let mut counts = vec![0usize; *n_classes];
    for &l in labels {
        counts[l] += 1;
    }
    let n = labels.len() as f32;
    Ok(counts.iter().map(|&c| if c == 0 { 0.0 } else { n / (*n_classes as f32 * c as f32) }).collect())
}

/// Refuses an output layer too small for `classes` classes (one unit serves two classes).
pub fn check_classes_fit(loss: Loss, config: &ModelConfig, classes: usize) -> Result<()> {
    let out = config.output_dim();
    if loss.is_classification() && !crate::train::classes_fit(classes, out) {
        return Err(Error::config(
            "layers",
            format!("the data has {classes} classes but the output layer has {out} units; end with {classes}:softmax"),
        ));
    }
    Ok(())
}

/// The layers as a spec, `units:activation,…`.
pub fn spec_of(cfg: &ModelConfig) -> String {
    cfg.layers.iter().map(|l| format!("{}:{}", l.units, l.activation)).collect::<Vec<_>>().join(",")
}

/// Checks that a model to start from (`--init-from NAME`) has this run's architecture: the same
/// input width and the same units and activation in every layer.
pub fn check_same_architecture(start: &ModelConfig, run: &ModelConfig, name: &str) -> Result<()> {
    let same_layers = start.layers.len() == run.layers.len()
        && start.layers.iter().zip(&run.layers).all(|(a, b)| a.units == b.units && a.activation == b.activation);
    if start.input_dim != run.input_dim || !same_layers {
        return Err(Error::Data(format!(
            "--init-from {name}: its architecture ({} inputs, {}) differs from this run's ({} inputs, {})",
            start.input_dim,
            spec_of(start),
            run.input_dim,
            spec_of(run)
        )));
    }
    Ok(())
}

/// A text column with at least this many distinct values…
const UNIQUE_MIN_DISTINCT: usize = 50;
/// …for at least this share of its non-empty cells is an identifier or free text, not a category.
const UNIQUE_SHARE: f64 = 0.9;

/// What the features of a CSV table will be, known before any row is encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct TableShape {
    /// Features after one-hot expansion: the model's input width.
    pub width: usize,
    /// Data rows.
    pub rows: usize,
    /// Distinct non-empty target cells: at least the class count of a classification.
    pub target_values: usize,
}

/// A text column that is (nearly) unique per row: an identifier or free text, not a category.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentifierColumn {
    /// The column name.
    pub name: String,
    /// Its distinct values.
    pub distinct: usize,
    /// Its non-empty cells.
    pub filled: usize,
}

/// The feature columns of `table` under `cfg` that one-hot encoding would turn into about as many
/// features as rows: text columns with at least 50 distinct values, for at least 90% of their
/// non-empty cells.
pub fn identifier_columns(table: &Table, cfg: &PreprocessConfig) -> Result<Vec<IdentifierColumn>> {
    let columns = plan_columns(table, cfg)?;
    let index: std::collections::HashMap<&str, usize> =
        table.columns.iter().enumerate().rev().map(|(j, c)| (c.as_str(), j)).collect();
    let mut found = Vec::new();
    for c in &columns {
        let Column::Categorical { name, categories, .. } = c else { continue };
        let j = index.get(name.as_str()).copied().unwrap_or(0);
        let filled = (0..table.n_rows()).filter(|&r| !table.cell(r, j).is_empty()).count();
        if categories.len() >= UNIQUE_MIN_DISTINCT && categories.len() as f64 >= UNIQUE_SHARE * filled as f64 {
            found.push(IdentifierColumn { name: name.clone(), distinct: categories.len(), filled });
        }
    }
    Ok(found)
}

/// Types the feature columns of `table` as [`crate::preprocess::Preprocessor::fit`] will, and
/// refuses a text column that is (nearly) unique per row ([`identifier_columns`]), which one-hot
/// encoding would turn into as many features as rows: an identifier or free text, to be dropped.
/// Returns the width of the expansion, for a memory estimate before the matrix exists.
pub fn table_shape(table: &Table, cfg: &PreprocessConfig) -> Result<TableShape> {
    table_shape_keeping(table, cfg, &[])
}

/// [`table_shape`], encoding the identifier-like columns named in `keep` rather than refusing them.
pub fn table_shape_keeping(table: &Table, cfg: &PreprocessConfig, keep: &[String]) -> Result<TableShape> {
    if let Some(IdentifierColumn { name, distinct, filled }) =
        identifier_columns(table, cfg)?.into_iter().find(|c| !keep.contains(&c.name))
    {
        return Err(Error::format(
            &table.path,
            format!(
                "column `{name}` has {distinct} different text values in {filled} rows, so one-hot encoding would make \
                 {distinct} features of it; it looks like an identifier or free text: drop it with --drop {name}"
            ),
        ));
    }
    let columns = plan_columns(table, cfg)?;
    let target = cfg.target.clone().or_else(|| table.columns.last().cloned()).unwrap_or_default();
    let target_values = table.column_index(&target).map_or(0, |t| {
        let mut seen = std::collections::HashSet::new();
        (0..table.n_rows()).map(|r| table.cell(r, t)).filter(|c| !c.is_empty() && seen.insert(*c)).count()
    });
    Ok(TableShape { width: columns.iter().map(Column::width).sum(), rows: table.n_rows(), target_values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Matrix;

    fn table(text: &str) -> Table {
        Table::from_reader(std::io::Cursor::new(text.as_bytes().to_vec()), "t.csv").unwrap()
    }

    #[test]
    fn defaults_follow_the_task() {
        assert_eq!(default_loss(true), Loss::CategoricalCrossEntropy);
        assert_eq!(default_loss(false), Loss::Mse);
        let classes = Targets::Classes { labels: vec![0, 1, 2], n_classes: 3 };
        assert_eq!(default_layers(Loss::CategoricalCrossEntropy, Some(3), &classes), "64:relu,3:softmax");
        assert_eq!(default_layers(Loss::BinaryCrossEntropy, Some(2), &classes), "64:relu,1:sigmoid");
        let values = Targets::Values(Matrix::zeros(4, 2));
        assert_eq!(default_layers(Loss::Mse, None, &values), "64:relu,2:linear");
    }

    #[test]
    fn target_kind_from_loss_or_column() {
        let t = table("a,y\n1,0\n2,1\n3,0.5\n");
        assert_eq!(target_kind(None, &t, None).unwrap(), TargetKind::Values);
        assert_eq!(target_kind(Some(Loss::CategoricalCrossEntropy), &t, None).unwrap(), TargetKind::Classes);
        assert_eq!(target_kind(Some(Loss::Mse), &t, Some("a")).unwrap(), TargetKind::Values);
        assert_eq!(target_kind(None, &t, Some("a")).unwrap(), TargetKind::Classes);
        assert!(target_kind(None, &t, Some("nope")).is_err());
    }

    #[test]
    fn balanced_weights() {
        let y = Targets::Classes { labels: vec![0, 0, 0, 1], n_classes: 3 };
        let w = balanced_class_weights(&y).unwrap();
        assert_eq!(w, vec![4.0 / 9.0, 4.0 / 3.0, 0.0]);
        assert!(balanced_class_weights(&Targets::Values(Matrix::zeros(2, 1))).is_err());
    }

    #[test]
    fn class_count_and_architecture_checks() {
        let two = ModelConfig::parse(3, "4:relu,2:softmax").unwrap();
        assert!(check_classes_fit(Loss::CategoricalCrossEntropy, &two, 2).is_ok());
        let m = check_classes_fit(Loss::CategoricalCrossEntropy, &two, 3).unwrap_err().to_string();
        assert!(m.contains("3 classes") && m.contains("end with 3:softmax"), "{m}");
        let sig = ModelConfig::parse(3, "1:sigmoid").unwrap();
        assert!(check_classes_fit(Loss::BinaryCrossEntropy, &sig, 2).is_ok());
        assert!(check_classes_fit(Loss::BinaryCrossEntropy, &sig, 3).is_err());
        assert!(check_same_architecture(&two, &two.clone(), "a").is_ok());
        let wider = ModelConfig::parse(4, "4:relu,2:softmax").unwrap();
        let m = check_same_architecture(&two, &wider, "a.safetensors").unwrap_err().to_string();
        assert!(m.contains("3 inputs, 4:relu,2:softmax") && m.contains("4 inputs"), "{m}");
        let tanh = ModelConfig::parse(3, "4:tanh,2:softmax").unwrap();
        assert!(check_same_architecture(&two, &tanh, "a").is_err());
    }

    #[test]
    fn table_shape_counts_one_hot_width_and_refuses_identifiers() {
        let cfg = PreprocessConfig::default();
        let s = table_shape(&table("a,c,y\n1,x,0\n2,y,1\n3,x,2\n"), &cfg).unwrap();
        assert_eq!(s, TableShape { width: 3, rows: 3, target_values: 3 });
        let mut text = String::from("id,a,y\n");
        for i in 0..100 {
            text += &format!("user{i},{},{}\n", i % 7, i % 2);
        }
        let m = table_shape(&table(&text), &cfg).unwrap_err().to_string();
        assert!(m.contains("column `id` has 100 different text values in 100 rows") && m.contains("--drop id"), "{m}");
        let dropped = PreprocessConfig { drop: vec!["id".into()], ..cfg.clone() };
        assert_eq!(table_shape(&table(&text), &dropped).unwrap().width, 1);
        // A category shared by a few rows each is not an identifier.
        let mut text = String::from("city,y\n");
        for i in 0..100 {
            text += &format!("c{},{}\n", i % 60, i % 2);
        }
        assert_eq!(table_shape(&table(&text), &cfg).unwrap().width, 60);
    }
}
