//! Turning a CSV [`Table`] into numbers: column typing, one-hot encoding, imputation, standardization
//! and target encoding, fitted once on training data and replayed identically at evaluate and predict time.
//!
//! # Brief overview
//! [`PreprocessConfig`] → [`Preprocessor::fit`] (on the training table) → [`Preprocessor`], which is
//! `Serialize` so it travels inside the model file, then [`Preprocessor::transform`] (table with
//! targets), [`Preprocessor::transform_features`] (features only) or
//! [`Preprocessor::transform_stream`] (a CSV of any size, chunk by chunk).
//!
//! # Fit rules
//! * A column is **numeric** when it has at least one number and every other cell is missing; it is
//!   **categorical** as soon as one cell is some other text, and is then one-hot encoded with its
//!   categories sorted, one feature `name=category` each.
//! * **Missing** cells are empty ones, plus `NA`, `N/A`, `null`, `NaN` and `inf` in numeric columns.
//!   They are an error unless `impute` is set; then numbers get the column mean and categories the
//!   most frequent value (the first in sorted order on ties), and [`Preprocessor::imputed`] says how many.
//! * Every expanded feature is **standardized** with the training mean and population standard
//!   deviation (a zero deviation becomes 1), computed in `f64`; matrices come out as `f32`.
//! * **Class** targets (numbers or strings) are sorted, numerically if all are numbers, and mapped to
//!   indices; **value** targets must be numbers and are passed through unscaled.

use crate::data::csv::{CsvReader, Table};
use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::rows::Rows;
use crate::tensor::Matrix;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether the target column holds class labels or real values. The caller decides (a CLI flag or
/// the loss); [`TargetKind::infer`] gives a default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Class labels, numbers or strings: a classification task.
    Classes,
    /// Real numbers: a regression task.
    Values,
}

/// Most distinct integer values a target may have and still be guessed to be classes.
const MAX_INFERRED_CLASSES: usize = 20;

impl TargetKind {
    /// Guesses the task from the target column of `table`: [`Classes`](Self::Classes) if any cell is
    /// not a number, or if all are integers with at most 20 distinct values; otherwise
    /// [`Values`](Self::Values). Empty cells are ignored.
    pub fn infer(table: &Table, column: &str) -> Result<TargetKind> {
        let j = table.column_index(column).ok_or_else(|| missing_target(&table.path, column, &table.columns))?;
        let mut distinct = std::collections::BTreeSet::new();
        let mut all_integers = true;
        for r in 0..table.n_rows() {
            match classify(table.cell(r, j)) {
                Cell::Empty => {}
                Cell::Number(v) => {
                    all_integers &= v.fract() == 0.0;
                    if distinct.len() <= MAX_INFERRED_CLASSES {
                        distinct.insert(v.to_bits());
                    }
                }
                Cell::NotANumber | Cell::Text => return Ok(TargetKind::Classes),
            }
        }
        Ok(if all_integers && distinct.len() <= MAX_INFERRED_CLASSES {
            TargetKind::Classes
        } else {
            TargetKind::Values
        })
    }
}

/// How to turn a table into features and targets.
///
/// | Field | Default | Purpose |
/// |---|---|---|
/// | `target` | last column | the column to predict |
/// | `drop` | none | columns to ignore (ids, free text); they may also appear at predict time |
/// | `impute` | `false` | fill missing cells (mean / most frequent) instead of failing |
/// | `standardize` | `true` | scale each feature to mean 0, deviation 1 on the training data |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreprocessConfig {
    /// The target column; `None` means the last column.
    pub target: Option<String>,
    /// Columns to ignore.
    pub drop: Vec<String>,
    /// Fill missing cells instead of reporting them.
    pub impute: bool,
    /// Standardize features with the training mean and deviation.
    pub standardize: bool,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self { target: None, drop: Vec::new(), impute: false, standardize: true }
    }
}

/// One input column as fitted: how it becomes one (numeric) or several (one-hot) features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Column {
    /// A number per row.
    Numeric {
        /// The column name.
        name: String,
        /// The training mean, used for missing cells when imputing.
        fill: f64,
    },
    /// Text categories, one-hot encoded in the order of `categories`.
    ///
    /// A category not seen in training encodes as all zeros (before standardization): the model
    /// then sees "none of the known categories" rather than an error, which is what `predict` on
    /// new data usually wants.
    Categorical {
        /// The column name.
        name: String,
        /// The training categories, sorted.
        categories: Vec<String>,
        /// The most frequent training category, used for missing cells when imputing.
        fill: String,
    },
}

impl Column {
    /// The column name.
    pub fn name(&self) -> &str {
        match self {
            Column::Numeric { name, .. } | Column::Categorical { name, .. } => name,
        }
    }

    /// How many features it expands to.
    pub fn width(&self) -> usize {
        match self {
            Column::Numeric { .. } => 1,
            Column::Categorical { categories, .. } => categories.len(),
        }
    }
}

/// The fitted target column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetEncoding {
    /// Class labels; class index `i` is `labels[i]`.
    Classes {
        /// The column name.
        name: String,
        /// The labels as written in the training file, sorted.
        labels: Vec<String>,
    },
    /// One real value per row.
    Values {
        /// The column name.
        name: String,
    },
}

/// Preprocessing fitted on a training table: replays the same encoding on any later table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    columns: Vec<Column>,
    target: TargetEncoding,
    dropped: Vec<String>,
    impute: bool,
    standardize: bool,
    means: Vec<f64>,
    stds: Vec<f64>,
    #[serde(default)]
    imputed: Vec<(String, usize)>,
}

/// What a cell holds, before knowing its column's type.
enum Cell {
    Empty,
    Number(f64),
    /// `NA`, `NaN`, `inf` and the like: missing in a numeric column, a category in a text one.
    NotANumber,
    Text,
}

fn classify(s: &str) -> Cell {
    let s = s.trim();
    if s.is_empty() {
        return Cell::Empty;
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Cell::Number(v),
        Ok(_) => Cell::NotANumber,
        Err(_) if ["na", "n/a", "null"].iter().any(|t| s.eq_ignore_ascii_case(t)) => Cell::NotANumber,
        Err(_) => Cell::Text,
    }
}

fn missing_target(path: &str, name: &str, columns: &[String]) -> Error {
    Error::format(path, missing_target_msg(name, columns))
}

fn missing_target_msg(name: &str, columns: &[String]) -> String {
    format!("has no target column `{name}`; available columns: {}; pass the right target column", columns.join(", "))
}

/// The one standardizer: per-feature mean and population standard deviation, fitted in `f64`
/// with Welford's running update (one pass, rows in order), for the CSV preprocessor and the
/// built-in datasets alike.
///
/// A feature is **constant** when all its training values are equal (or there are none): its
/// deviation becomes 1, so it standardizes to 0 instead of dividing by zero. Any other spread,
/// however small (values near 1e-13 that differ), is standardized. The exception is a spread
/// below f32's smallest normal number (about 1.2e-38), which the f32 the model computes in
/// cannot hold: that too counts as constant.
#[derive(Clone, Debug)]
pub struct Standardizer {
    n: usize,
    mean: Vec<f64>,
    m2: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
}

impl Standardizer {
    /// A fit over `width` features, no rows yet.
    pub fn new(width: usize) -> Self {
        Self {
            n: 0,
            mean: vec![0.0; width],
            m2: vec![0.0; width],
            min: vec![f64::INFINITY; width],
            max: vec![f64::NEG_INFINITY; width],
        }
    }

    /// Adds one row (`width` values, finite).
    pub fn push(&mut self, row: &[f64]) {
        assert_eq!(row.len(), self.mean.len(), "Standardizer::push: a row of the wrong width");
        self.n += 1;
        let k = self.n as f64;
        for (f, &x) in row.iter().enumerate() {
            let delta = x - self.mean[f];
            self.mean[f] += delta / k;
            self.m2[f] += delta * (x - self.mean[f]);
            self.min[f] = self.min[f].min(x);
            self.max[f] = self.max[f].max(x);
        }
    }

    /// The means and standard deviations (every deviation finite and positive).
    pub fn finish(self) -> (Vec<f64>, Vec<f64>) {
        let n = self.n.max(1) as f64;
        let stds = (0..self.mean.len())
            .map(|f| {
                let std = (self.m2[f] / n).sqrt();
                let constant = self.min[f].partial_cmp(&self.max[f]) != Some(std::cmp::Ordering::Less);
                if constant || std < f64::from(f32::MIN_POSITIVE) || !std.is_finite() { 1.0 } else { std }
            })
            .collect();
        (self.mean, stds)
    }
}

impl Preprocessor {
    /// Fits the preprocessing on `table` (the training rows only) and returns it with the encoded
    /// training set. See the [module docs](self) for the rules.
    pub fn fit(table: &Table, cfg: &PreprocessConfig, task: TargetKind) -> Result<(Preprocessor, Dataset)> {
        let path = &table.path;
        let target_name = match &cfg.target {
            Some(t) => t.clone(),
            None => table.columns.last().cloned().unwrap_or_default(),
        };
        let t = table.column_index(&target_name).ok_or_else(|| missing_target(path, &target_name, &table.columns))?;
        for d in &cfg.drop {
            if *d == target_name {
                return Err(Error::config(
                    "dropped columns",
                    format!("`{d}` is the target column and cannot be dropped"),
                ));
            }
            if table.column_index(d).is_none() {
                return Err(Error::format(
                    path,
                    format!("has no column `{d}` to drop; available columns: {}", table.columns.join(", ")),
                ));
            }
        }
        let feature_cols: Vec<usize> =
            (0..table.n_cols()).filter(|&j| j != t && !cfg.drop.contains(&table.columns[j])).collect();
        if feature_cols.is_empty() {
            return Err(Error::format(
                path,
                "has no feature columns left once the target and dropped columns are set aside",
            ));
        }

        let mut columns = Vec::with_capacity(feature_cols.len());
        let mut imputed = Vec::new();
        for &j in &feature_cols {
            let (column, n_missing) = fit_column(table, j, cfg.impute)?;
            if n_missing > 0 {
                imputed.push((column.name().to_string(), n_missing));
            }
            columns.push(column);
        }
        let target = fit_target(table, t, task)?;

        let width = columns.iter().map(Column::width).sum();
        let mut pre = Preprocessor {
            columns,
            target,
            dropped: cfg.drop.clone(),
            impute: cfg.impute,
            standardize: cfg.standardize,
            means: vec![0.0; width],
            stds: vec![1.0; width],
            imputed,
        };
        if cfg.standardize {
            pre.fit_scaling(table, &feature_cols)?;
        }
        let data = pre.transform(table)?;
        Ok((pre, data))
    }

    /// The training mean and standard deviation of every expanded feature ([`Standardizer`]).
    fn fit_scaling(&mut self, table: &Table, cols: &[usize]) -> Result<()> {
        let mut fit = Standardizer::new(self.means.len());
        let mut raw = vec![0.0f64; self.means.len()];
        for r in 0..table.n_rows() {
            self.encode_raw(table, r, cols, &mut raw)?;
            fit.push(&raw);
        }
        (self.means, self.stds) = fit.finish();
        Ok(())
    }

    /// Encodes `table` (which must have the target column) into features and targets.
    pub fn transform(&self, table: &Table) -> Result<Dataset> {
        let (cols, target) = self.layout(table, true)?;
        let x = self.encode(table, &cols)?;
        let t = target.expect("layout checks the target");
        let y = match &self.target {
            TargetEncoding::Classes { name, labels } => {
                let mut out = Vec::with_capacity(table.n_rows());
                for r in 0..table.n_rows() {
                    let cell = table.cell(r, t);
                    let at = |msg: String| Error::parse(&table.path, table.line(r), t as u64 + 1, msg);
                    if cell.is_empty() {
                        return Err(at(format!(
                            "the target `{name}` is empty; every row needs a class, remove the row or fill it"
                        )));
                    }
                    match label_index(labels, cell) {
                        Some(i) => out.push(i),
                        None => {
                            return Err(at(format!(
                                "class `{cell}` in target column `{name}` was not seen in training (known classes: {}); \
                                 remove these rows or retrain on data that has them",
                                labels.join(", ")
                            )));
                        }
                    }
                }
                Targets::Classes { labels: out, n_classes: labels.len() }
            }
            TargetEncoding::Values { name } => {
                let mut out = Vec::with_capacity(table.n_rows());
                for r in 0..table.n_rows() {
                    out.push(parse_value(table, r, t, name)? as f32);
                }
                Targets::Values(Matrix::new(table.n_rows(), 1, out))
            }
        };
        Ok(Dataset::new(x, y))
    }

    /// Encodes the features of `table`; the target column may be present (it is ignored) or absent.
    pub fn transform_features(&self, table: &Table) -> Result<Matrix> {
        self.transform_rows(table)
    }

    /// Encodes the features of named rows from any source ([`Rows`]: a CSV table, JSON rows, a
    /// numpy array with column names) exactly as [`transform_features`](Self::transform_features)
    /// does a CSV table: columns matched by name, the target ignored if present.
    pub fn transform_rows<R: Rows + ?Sized>(&self, rows: &R) -> Result<Matrix> {
        let (cols, _) = self.layout(rows, false)?;
        self.encode(rows, &cols)
    }

    /// Encodes the features of a CSV of any size, `chunk_rows` rows at a time, handing each chunk's
    /// matrix to `f` in file order; memory stays bounded by one chunk. Returns the number of rows.
    /// Error messages keep the file's own line numbers.
    pub fn transform_stream(
        &self,
        reader: &mut CsvReader,
        chunk_rows: usize,
        mut f: impl FnMut(Matrix) -> Result<()>,
    ) -> Result<usize> {
        // Check the header before the first row, so a wrong file fails at once, not after a chunk.
        let header = Table::from_rows(reader.path(), reader.columns().to_vec(), Vec::new());
        let (cols, _) = self.layout(&header, false)?;
        let mut n = 0;
        while let Some(chunk) = reader.next_chunk(chunk_rows)? {
            n += chunk.n_rows();
            f(self.encode(&chunk, &cols)?)?;
        }
        Ok(n)
    }

    /// Matches `table`'s header to the fitted columns by name: the table column of each input
    /// column, and of the target when present. Unknown and missing columns are errors.
    fn layout<R: Rows + ?Sized>(&self, table: &R, need_target: bool) -> Result<(Vec<usize>, Option<usize>)> {
        let target_name = self.target_name();
        // Name lookups through hash maps keep a file of 100 000 columns linear, not quadratic.
        let fitted: std::collections::HashSet<&str> = self.columns.iter().map(Column::name).collect();
        let index: std::collections::HashMap<&str, usize> =
            table.columns().iter().enumerate().rev().map(|(j, c)| (c.as_str(), j)).collect();
        for c in table.columns() {
            let known = c == target_name || self.dropped.contains(c) || fitted.contains(c.as_str());
            if !known {
                return Err(table.error(format!(
                    "has a column `{c}` the model was not trained on; expected the columns {}{}; \
                         remove it, or retrain with it dropped",
                    self.input_columns().join(", "),
                    if self.dropped.is_empty() {
                        String::new()
                    } else {
                        format!(" (ignored: {})", self.dropped.join(", "))
                    }
                )));
            }
        }
        let mut cols = Vec::with_capacity(self.columns.len());
        for k in &self.columns {
            match index.get(k.name()) {
                Some(&j) => cols.push(j),
                None => {
                    return Err(table.error(format!(
                        "has no column `{}`, which the model needs; expected the columns {}",
                        k.name(),
                        self.input_columns().join(", ")
                    )));
                }
            }
        }
        let target = table.column_index(target_name);
        if need_target && target.is_none() {
            return Err(table.error(missing_target_msg(target_name, table.columns())));
        }
        Ok((cols, target))
    }

    /// All rows of `table`, encoded and standardized.
    fn encode<R: Rows + ?Sized>(&self, table: &R, cols: &[usize]) -> Result<Matrix> {
        let width = self.n_features();
        let mut x = Matrix::zeros(table.n_rows(), width);
        let mut raw = vec![0.0f64; width];
        for r in 0..table.n_rows() {
            self.encode_raw(table, r, cols, &mut raw)?;
            for (f, (out, v)) in x.row_mut(r).iter_mut().zip(&raw).enumerate() {
                *out = ((v - self.means[f]) / self.stds[f]) as f32;
                if !out.is_finite() {
                    return Err(self.too_far(table, r, cols, f));
                }
            }
        }
        Ok(x)
    }

    /// The error for feature `f` of row `r` standardizing beyond f32's range: a value very far
    /// from the training data for a tiny training spread.
    fn too_far<R: Rows + ?Sized>(&self, table: &R, r: usize, cols: &[usize], f: usize) -> Error {
        let (mut start, mut i) = (0, 0);
        while i + 1 < self.columns.len() && start + self.columns[i].width() <= f {
            start += self.columns[i].width();
            i += 1;
        }
        let j = cols[i];
        table.cell_error(
            r,
            j,
            format!(
                "column `{}` holds `{}`, which lies beyond f32's range once standardized (training mean {}, \
                 deviation {}); the value is far outside the training data",
                self.columns[i].name(),
                table.cell(r, j),
                self.means[f],
                self.stds[f]
            ),
        )
    }

    /// Row `r` as unscaled features: numbers as they are, categories one-hot, missing cells filled.
    fn encode_raw<R: Rows + ?Sized>(&self, table: &R, r: usize, cols: &[usize], out: &mut [f64]) -> Result<()> {
        let mut f = 0;
        for (column, &j) in self.columns.iter().zip(cols) {
            let text = table.cell(r, j);
            let cell = text.trim();
            let at = |msg: String| table.cell_error(r, j, msg);
            let missing = || {
                at(format!(
                    "column `{}` has a missing value (`{cell}`); the model was fitted without imputation, \
                     so fill the cell, or retrain with --impute",
                    column.name()
                ))
            };
            match column {
                Column::Numeric { name, fill } => {
                    out[f] = match classify(cell) {
                        Cell::Number(v) if !in_f32_range(v) => return Err(out_of_range(table, r, j)),
                        Cell::Number(v) => v,
                        Cell::Empty | Cell::NotANumber if self.impute => *fill,
                        Cell::Empty | Cell::NotANumber => return Err(missing()),
                        Cell::Text => {
                            return Err(at(format!(
                                "column `{name}` was numeric in training, but this cell is `{cell}`; expected a number"
                            )));
                        }
                    };
                    f += 1;
                }
                Column::Categorical { categories, fill, .. } => {
                    let value = match cell {
                        "" if self.impute => fill.as_str(),
                        "" => return Err(missing()),
                        v => v,
                    };
                    let slots = &mut out[f..f + categories.len()];
                    slots.fill(0.0);
                    if let Ok(i) = categories.binary_search_by(|c| c.as_str().cmp(value)) {
                        slots[i] = 1.0;
                    }
                    f += categories.len();
                }
            }
        }
        Ok(())
    }

    /// The number of features after one-hot expansion: the model's input width.
    pub fn n_features(&self) -> usize {
        self.means.len()
    }

    /// The expanded feature names, in matrix column order: `Age`, `Sex=female`, `Sex=male`, ….
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.n_features());
        for c in &self.columns {
            match c {
                Column::Numeric { name, .. } => names.push(name.clone()),
                Column::Categorical { name, categories, .. } => {
                    names.extend(categories.iter().map(|k| format!("{name}={k}")));
                }
            }
        }
        names
    }

    /// The input columns, in the training file's order.
    pub fn input_columns(&self) -> Vec<&str> {
        self.columns.iter().map(Column::name).collect()
    }

    /// The fitted input columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The class labels (index `i` is class `i`), or `None` for a value target.
    pub fn class_labels(&self) -> Option<&[String]> {
        match &self.target {
            TargetEncoding::Classes { labels, .. } => Some(labels),
            TargetEncoding::Values { .. } => None,
        }
    }

    /// The target column's name.
    pub fn target_name(&self) -> &str {
        match &self.target {
            TargetEncoding::Classes { name, .. } | TargetEncoding::Values { name } => name,
        }
    }

    /// Whether the target is classes or values.
    pub fn target_kind(&self) -> TargetKind {
        match self.target {
            TargetEncoding::Classes { .. } => TargetKind::Classes,
            TargetEncoding::Values { .. } => TargetKind::Values,
        }
    }

    /// The fitted target encoding.
    pub fn target(&self) -> &TargetEncoding {
        &self.target
    }

    /// The columns that were dropped at fit time (and are ignored if present later).
    pub fn dropped(&self) -> &[String] {
        &self.dropped
    }

    /// The training mean of each expanded feature (0 when not standardizing).
    pub fn means(&self) -> &[f64] {
        &self.means
    }

    /// The training standard deviation of each expanded feature (1 when not standardizing or constant).
    pub fn stds(&self) -> &[f64] {
        &self.stds
    }

    /// How many training cells were imputed, per column, for columns that had any.
    pub fn imputed(&self) -> &[(String, usize)] {
        &self.imputed
    }
    /// Checks a preprocessor read from a file (which anyone can write) for internal consistency:
    /// the column names, widths, statistics and labels that [`transform`](Self::transform) indexes
    /// and divides by. The error names the offending field.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.columns.is_empty() {
            return Err("`preprocessor.columns` is empty; a model needs at least one input column".into());
        }
        let target = self.target_name();
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in self.columns.iter().enumerate() {
            let at = format!("`preprocessor.columns[{i}]` (`{}`)", c.name());
            if !seen.insert(c.name()) {
                return Err(format!("{at} names a column twice"));
            }
            if c.name() == target {
                return Err(format!("{at} is also the target column"));
            }
            if self.dropped.iter().any(|d| d == c.name()) {
                return Err(format!("{at} is also listed in `preprocessor.dropped`"));
            }
            match c {
                Column::Numeric { fill, .. } if !(fill.is_finite() && fill.abs() <= f64::from(f32::MAX)) => {
                    return Err(format!("{at} has a `fill` {fill:?} that is not a finite number in f32's range"));
                }
                Column::Numeric { .. } => {}
                Column::Categorical { categories, fill, .. } => {
                    if categories.is_empty() {
                        return Err(format!("{at} has no `categories`"));
                    }
                    // Encoding looks categories up by binary search.
                    if let Some(w) = categories.windows(2).find(|w| w[0] >= w[1]) {
                        return Err(format!(
                            "{at} has `categories` out of order or repeated (`{}` before `{}`)",
                            w[0], w[1]
                        ));
                    }
                    if self.impute && categories.binary_search(fill).is_err() {
                        return Err(format!("{at} has a `fill` `{fill}` that is not one of its categories"));
                    }
                }
            }
        }
        let width: usize = self.columns.iter().map(Column::width).sum();
        for (field, v) in [("means", &self.means), ("stds", &self.stds)] {
            if v.len() != width {
                return Err(format!(
                    "`preprocessor.{field}` has {} values but the columns expand to {width} features",
                    v.len()
                ));
            }
        }
        if let Some(f) = self.means.iter().position(|m| !m.is_finite() || m.abs() > f64::from(f32::MAX)) {
            return Err(format!(
                "`preprocessor.means[{f}]` is {:?}, not a finite number in f32's range",
                self.means[f]
            ));
        }
        if let Some(f) = self.stds.iter().position(|s| !(s.is_finite() && *s > 0.0 && *s <= f64::from(f32::MAX))) {
            return Err(format!(
                "`preprocessor.stds[{f}]` is {}; a standard deviation must be finite and positive",
                self.stds[f]
            ));
        }
        if let TargetEncoding::Classes { labels, .. } = &self.target {
            check_labels(labels).map_err(|e| format!("`preprocessor.target.labels` {e}"))?;
        }
        Ok(())
    }
}

/// Checks a list of class labels read from a file: at least one, none empty, no two the same
/// class (`1` and `1.0` are one class, see [`label_index`]).
pub fn check_labels(labels: &[String]) -> std::result::Result<(), String> {
    if labels.is_empty() {
        return Err("is empty; a classifier has at least one class".into());
    }
    let mut seen = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        if l.trim().is_empty() {
            return Err(format!("has an empty label at index {i}"));
        }
        if let Some(&j) = seen.get(&label_key(l)) {
            return Err(format!("has the class `{l}` twice (at {j} as `{}` and at {i})", labels[j]));
        }
        seen.insert(label_key(l), i);
    }
    Ok(())
}

/// What makes two class labels the same class: the number they spell (so `1`, `1.0` and ` 1`
/// agree; `-0` is `0`), or else the text, trimmed. The rule [`label_index`] applies.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum LabelKey<'a> {
    Number(u64),
    Text(&'a str),
}

fn label_key(cell: &str) -> LabelKey<'_> {
    let cell = cell.trim();
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => LabelKey::Number((v + 0.0).to_bits()),
        _ => LabelKey::Text(cell),
    }
}

/// The index of `cell` among the class `labels`: an exact match, or else the label with the
/// same numeric value (`1`, `1.0` and ` 1` are one class), or else the same text once trimmed.
pub fn label_index(labels: &[String], cell: &str) -> Option<usize> {
    labels.iter().position(|l| l == cell).or_else(|| {
        let cell = cell.trim();
        match cell.parse::<f64>() {
            Ok(v) if v.is_finite() => labels.iter().position(|l| l.trim().parse::<f64>().ok() == Some(v)),
            _ => labels.iter().position(|l| l.trim() == cell),
        }
    })
}

/// The feature columns [`Preprocessor::fit`] would make of `table` under `cfg`, typed and with
/// their categories, without encoding a row: the width of the one-hot expansion is then known
/// before its matrix is allocated (see `crate::setup::table_shape`). Missing cells, a missing
/// target and bad `drop` names are left for `fit` to report.
pub fn plan_columns(table: &Table, cfg: &PreprocessConfig) -> Result<Vec<Column>> {
    let target = cfg.target.clone().or_else(|| table.columns.last().cloned()).unwrap_or_default();
    (0..table.n_cols())
        .filter(|&j| table.columns[j] != target && !cfg.drop.contains(&table.columns[j]))
        .map(|j| fit_column(table, j, true).map(|(c, _)| c))
        .collect()
}

/// Types one training column and fits its fill value and categories; returns it with its missing count.
fn fit_column(table: &Table, j: usize, impute: bool) -> Result<(Column, usize)> {
    let name = &table.columns[j];
    let (mut sum, mut n_numbers) = (0.0f64, 0usize);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut first_huge = None;
    let mut has_text = false;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut first_empty, mut first_nan) = (None, None);
    let (mut n_empty, mut n_nan) = (0, 0);
    for r in 0..table.n_rows() {
        let cell = table.cell(r, j);
        match classify(cell) {
            Cell::Empty => {
                n_empty += 1;
                first_empty.get_or_insert(r);
                continue;
            }
            Cell::Number(v) => {
                sum += v;
                n_numbers += 1;
                (lo, hi) = (lo.min(v), hi.max(v));
                if !in_f32_range(v) {
                    first_huge.get_or_insert(r);
                }
            }
            Cell::NotANumber => {
                n_nan += 1;
                first_nan.get_or_insert(r);
            }
            Cell::Text => has_text = true,
        }
        *counts.entry(cell).or_default() += 1;
    }
    let numeric = n_numbers > 0 && !has_text;
    if let (true, Some(r)) = (numeric, first_huge) {
        return Err(out_of_range(table, r, j));
    }
    let (n_missing, first_missing) = match (numeric, first_empty, first_nan) {
        (true, Some(a), Some(b)) => (n_empty + n_nan, Some(a.min(b))),
        (true, a, b) => (n_empty + n_nan, a.or(b)),
        (false, a, _) => (n_empty, a),
    };
    if counts.is_empty() {
        return Err(Error::format(
            &table.path,
            format!("column `{name}` has no values (every cell is empty); drop it"),
        ));
    }
    if let (Some(r), false) = (first_missing, impute) {
        let shown =
            if table.cell(r, j).is_empty() { "an empty cell".to_string() } else { format!("`{}`", table.cell(r, j)) };
        return Err(Error::parse(
            &table.path,
            table.line(r),
            j as u64 + 1,
            format!(
                "column `{name}` has a missing value ({shown}; {n_missing} in this column); \
                 pass --impute to fill missing values, or drop the column"
            ),
        ));
    }
    let column = if numeric {
        // All values equal: the fill is that value exactly (a mean can round away from it), so
        // imputing keeps the column constant.
        let fill = if lo == hi { lo } else { sum / n_numbers as f64 };
        Column::Numeric { name: name.clone(), fill }
    } else {
        // Ties go to the first category in sorted order, so the fill does not depend on row order.
        let fill = counts.iter().fold(("", 0), |best, (&k, &n)| if n > best.1 { (k, n) } else { best }).0;
        Column::Categorical {
            name: name.clone(),
            categories: counts.keys().map(|k| k.to_string()).collect(),
            fill: fill.to_string(),
        }
    };
    Ok((column, n_missing))
}

/// Collects and orders the class labels, or checks that a value target is numeric.
fn fit_target(table: &Table, t: usize, task: TargetKind) -> Result<TargetEncoding> {
    let name = table.columns[t].clone();
    match task {
        TargetKind::Values => {
            for r in 0..table.n_rows() {
                parse_value(table, r, t, &name)?;
            }
            Ok(TargetEncoding::Values { name })
        }
        TargetKind::Classes => {
            let mut labels: Vec<String> = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for r in 0..table.n_rows() {
                let cell = table.cell(r, t);
                if cell.is_empty() {
                    return Err(Error::parse(
                        &table.path,
                        table.line(r),
                        t as u64 + 1,
                        format!(
                            "the target `{name}` is empty; every training row needs a class, remove the row or fill it"
                        ),
                    ));
                }
                // One class per number, however written (`1`, `1.0`, ` 1`): the first spelling
                // seen names it, and `label_index` maps the others to it.
                if seen.insert(label_key(cell)) {
                    labels.push(cell.to_string());
                }
            }
            let numbers: Option<Vec<f64>> =
                labels.iter().map(|l| l.trim().parse::<f64>().ok().filter(|v| v.is_finite())).collect();
            match numbers {
                Some(_) => labels.sort_by(|a, b| {
                    let num = |l: &str| l.trim().parse::<f64>().unwrap_or(0.0);
                    let (x, y) = (num(a), num(b));
                    x.total_cmp(&y).then_with(|| a.cmp(b))
                }),
                None => labels.sort(),
            }
            if labels.len() < 2 {
                return Err(Error::Data(format!(
                    "{}: target column `{name}` has a single class `{}`; a classifier needs at least two \
                     (is `{name}` the right target column?)",
                    table.path,
                    labels.first().map_or("", String::as_str)
                )));
            }
            Ok(TargetEncoding::Classes { name, labels })
        }
    }
}

/// Whether `v` fits the f32 the model computes in (and its square the f64 variance).
fn in_f32_range(v: f64) -> bool {
    v.abs() <= f64::from(f32::MAX)
}

/// The error for a finite number too large for f32, at row `r`, column `j` of `table`.
fn out_of_range<R: Rows + ?Sized>(table: &R, r: usize, j: usize) -> Error {
    table.cell_error(
        r,
        j,
        format!(
            "column `{}` holds `{}`, beyond the range of the 32-bit floats mlp computes in (±3.4e38); \
             rescale the column (say, to other units) or drop it",
            table.columns()[j],
            table.cell(r, j)
        ),
    )
}

/// The regression target at row `r`, or an error pointing at the cell.
fn parse_value(table: &Table, r: usize, t: usize, name: &str) -> Result<f64> {
    let cell = table.cell(r, t);
    match classify(cell) {
        Cell::Number(v) if !in_f32_range(v) => Err(out_of_range(table, r, t)),
        Cell::Number(v) => Ok(v),
        _ => Err(Error::parse(
            &table.path,
            table.line(r),
            t as u64 + 1,
            format!(
                "target column `{name}` must hold numbers for a regression, but this cell is {}; \
                 fill or remove the row, or train a classifier if `{name}` holds classes",
                if cell.is_empty() { "empty".to_string() } else { format!("`{cell}`") }
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn table(text: &str) -> Table {
        Table::from_reader(std::io::Cursor::new(text.as_bytes().to_vec()), "t.csv").unwrap()
    }

    fn cfg(target: &str, drop: &[&str], impute: bool) -> PreprocessConfig {
        PreprocessConfig {
            target: Some(target.to_string()),
            drop: drop.iter().map(|s| s.to_string()).collect(),
            impute,
            ..Default::default()
        }
    }

    fn fit_err(text: &str, cfg: &PreprocessConfig, task: TargetKind) -> String {
        Preprocessor::fit(&table(text), cfg, task).unwrap_err().to_string()
    }

    const SMALL: &str = "id,color,size,label\n1,red,1.0,yes\n2,blue,3.0,no\n3,red,5.0,yes\n4,green,7.0,no\n";

    #[test]
    fn fit_one_hot_standardize_and_labels() {
        let (pre, data) = Preprocessor::fit(&table(SMALL), &cfg("label", &["id"], false), TargetKind::Classes).unwrap();
        assert_eq!(pre.feature_names(), ["color=blue", "color=green", "color=red", "size"]);
        assert_eq!(pre.class_labels().unwrap(), ["no", "yes"]);
        assert_eq!(data.y, Targets::Classes { labels: vec![1, 0, 1, 0], n_classes: 2 });
        assert_eq!(pre.means()[3], 4.0);
        assert!((pre.stds()[3] - 5f64.sqrt()).abs() < 1e-12);
        let size: Vec<f32> = (0..4).map(|r| data.x.row(r)[3]).collect();
        let expected = [-3.0, -1.0, 1.0, 3.0].map(|v: f64| (v / 5f64.sqrt()) as f32);
        assert_eq!(size, expected);
        // color=red is on in rows 0 and 2: mean 0.5, population std 0.5.
        assert_eq!((0..4).map(|r| data.x.row(r)[2]).collect::<Vec<_>>(), [1.0, -1.0, 1.0, -1.0]);
    }

    #[test]
    fn defaults_last_column_target_no_scaling_and_constant_columns() {
        let c = PreprocessConfig { standardize: false, ..Default::default() };
        let (pre, data) = Preprocessor::fit(&table("a,b,y\n1,5,0\n2,5,1\n"), &c, TargetKind::Classes).unwrap();
        assert_eq!(pre.target_name(), "y");
        assert_eq!(data.x.data, [1.0, 5.0, 2.0, 5.0]);
        let (pre, data) =
            Preprocessor::fit(&table("a,b,y\n1,5,0\n2,5,1\n"), &Default::default(), TargetKind::Classes).unwrap();
        assert_eq!(pre.stds()[1], 1.0, "a constant column keeps std 1");
        assert_eq!(data.x.data, [-1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn numeric_class_labels_sort_numerically() {
        let (pre, data) =
            Preprocessor::fit(&table("x,y\n1,10\n2,9\n3,10\n4,-1\n"), &Default::default(), TargetKind::Classes)
                .unwrap();
        assert_eq!(pre.class_labels().unwrap(), ["-1", "9", "10"]);
        assert_eq!(data.y, Targets::Classes { labels: vec![2, 1, 2, 0], n_classes: 3 });
    }

    #[test]
    fn regression_targets_pass_through() {
        let (pre, data) =
            Preprocessor::fit(&table("x,price\n1,10.5\n2,20\n"), &Default::default(), TargetKind::Values).unwrap();
        assert_eq!(pre.class_labels(), None);
        assert_eq!(data.y, Targets::Values(Matrix::new(2, 1, vec![10.5, 20.0])));
        assert_eq!(TargetKind::infer(&table("x,price\n1,10.5\n2,20\n"), "price").unwrap(), TargetKind::Values);
        assert_eq!(TargetKind::infer(&table(SMALL), "label").unwrap(), TargetKind::Classes);
        assert_eq!(TargetKind::infer(&table(SMALL), "id").unwrap(), TargetKind::Classes);
    }

    #[test]
    fn imputation_fills_and_counts() {
        let text = "a,c,y\n1,x,0\n,x,1\n3,,0\nNA,z,1\n";
        let (pre, data) = Preprocessor::fit(
            &table(text),
            &PreprocessConfig { impute: true, standardize: false, ..Default::default() },
            TargetKind::Classes,
        )
        .unwrap();
        assert_eq!(pre.imputed(), [("a".to_string(), 2), ("c".to_string(), 1)]);
        // a: mean of 1 and 3; c: most frequent is x.
        assert_eq!(data.x.data, [1.0, 1.0, 0.0, 2.0, 1.0, 0.0, 3.0, 1.0, 0.0, 2.0, 0.0, 1.0]);
    }

    #[test]
    fn missing_value_without_impute_names_cell_and_hint() {
        let m = fit_err("a,b,y\n1,2,0\n3,,1\n", &Default::default(), TargetKind::Classes);
        assert!(m.starts_with("t.csv:3:2: column `b` has a missing value (an empty cell; 1 in this column)"), "{m}");
        assert!(m.contains("pass --impute to fill missing values"), "{m}");
        let m = fit_err("a,b,y\n1,2,0\n3,nan,1\n", &Default::default(), TargetKind::Classes);
        assert!(m.starts_with("t.csv:3:2: column `b` has a missing value (`nan`"), "{m}");
        let m = fit_err("a,b,y\n1,,0\n3,,1\n", &cfg("y", &[], true), TargetKind::Classes);
        assert!(m.contains("column `b` has no values"), "{m}");
    }

    #[test]
    fn target_errors() {
        let m = fit_err(SMALL, &cfg("lable", &[], false), TargetKind::Classes);
        assert!(m.starts_with("t.csv: has no target column `lable`; available columns: id, color, size, label"), "{m}");
        let m = fit_err("x,y\n1,a\n2,a\n", &Default::default(), TargetKind::Classes);
        assert!(m.contains("t.csv: target column `y` has a single class `a`"), "{m}");
        let m = fit_err(SMALL, &cfg("label", &[], false), TargetKind::Values);
        assert!(
            m.starts_with(
                "t.csv:2:4: target column `label` must hold numbers for a regression, but this cell is `yes`"
            ),
            "{m}"
        );
        let m = fit_err("x,y\n1,a\n2,\n", &Default::default(), TargetKind::Classes);
        assert!(m.starts_with("t.csv:3:2: the target `y` is empty"), "{m}");
    }

    #[test]
    fn drop_errors() {
        let m = fit_err(SMALL, &cfg("label", &["ID"], false), TargetKind::Classes);
        assert!(m.contains("has no column `ID` to drop; available columns: id, color"), "{m}");
        let m = fit_err(SMALL, &cfg("label", &["label"], false), TargetKind::Classes);
        assert!(m.contains("`label` is the target column and cannot be dropped"), "{m}");
        let m = fit_err(SMALL, &cfg("label", &["id", "color", "size"], false), TargetKind::Classes);
        assert!(m.contains("no feature columns left"), "{m}");
    }

    fn fitted() -> Preprocessor {
        Preprocessor::fit(&table(SMALL), &cfg("label", &["id"], false), TargetKind::Classes).unwrap().0
    }

    #[test]
    fn transform_matches_by_name_and_replays_fit() {
        let pre = fitted();
        // Columns reordered, the dropped id absent, the target present.
        let data = pre.transform(&table("label,size,color\nno,4.0,green\nyes,4.0,purple\n")).unwrap();
        assert_eq!(data.y, Targets::Classes { labels: vec![0, 1], n_classes: 2 });
        assert_eq!(data.x.row(0)[3], 0.0);
        assert_eq!(data.x.row(0)[1], pre.transform(&table(SMALL)).unwrap().x.row(3)[1]);
        // An unseen category is all zeros before scaling: (0 - mean) / std for each slot.
        let unseen: Vec<f32> = (0..3).map(|f| (-pre.means()[f] / pre.stds()[f]) as f32).collect();
        assert_eq!(&data.x.row(1)[..3], &unseen[..]);
        let x = pre.transform_features(&table("color,size\nred,1\n")).unwrap();
        assert_eq!(x.row(0), pre.transform(&table(SMALL)).unwrap().x.row(0));
    }

    #[test]
    fn transform_errors() {
        let pre = fitted();
        let m = pre.transform(&table("color,size,label,weight\nred,1,yes,3\n")).unwrap_err().to_string();
        assert!(m.starts_with("t.csv: has a column `weight` the model was not trained on; expected the columns color, size (ignored: id)"), "{m}");
        let m = pre.transform_features(&table("color,label\nred,yes\n")).unwrap_err().to_string();
        assert!(m.starts_with("t.csv: has no column `size`, which the model needs"), "{m}");
        let m = pre.transform(&table("color,size\nred,1\n")).unwrap_err().to_string();
        assert!(m.starts_with("t.csv: has no target column `label`; available columns: color, size"), "{m}");
        let m = pre.transform(&table("color,size,label\nred,1,yes\nred,2,maybe\n")).unwrap_err().to_string();
        assert!(
            m.starts_with(
                "t.csv:3:3: class `maybe` in target column `label` was not seen in training (known classes: no, yes)"
            ),
            "{m}"
        );
        let m = pre.transform(&table("color,size,label\nred,big,yes\n")).unwrap_err().to_string();
        assert!(m.starts_with("t.csv:2:2: column `size` was numeric in training, but this cell is `big`"), "{m}");
        let m = pre.transform_features(&table("color,size\n,1\n")).unwrap_err().to_string();
        assert!(m.starts_with("t.csv:2:1: column `color` has a missing value") && m.contains("--impute"), "{m}");
    }

    #[test]
    fn serde_round_trip_and_stream_agree() {
        let pre = fitted();
        let json = serde_json::to_string(&pre).unwrap();
        let back: Preprocessor = serde_json::from_str(&json).unwrap();
        assert_eq!(back, pre);
        let text = "color,size\nred,1\nblue,2\ngreen,3\nred,4\nblue,5\n";
        let whole = pre.transform_features(&table(text)).unwrap();
        let mut reader = CsvReader::from_reader(std::io::Cursor::new(text.as_bytes().to_vec()), "s.csv").unwrap();
        let mut rows = Vec::new();
        let n = back
            .transform_stream(&mut reader, 2, |m| {
                assert!(m.rows <= 2);
                rows.extend(m.data);
                Ok(())
            })
            .unwrap();
        assert_eq!((n, rows), (5, whole.data));
        let mut bad =
            CsvReader::from_reader(std::io::Cursor::new(b"color,size\nred,1\nred,x\n".to_vec()), "<stdin>").unwrap();
        let m = pre.transform_stream(&mut bad, 1, |_| Ok(())).unwrap_err().to_string();
        assert!(m.starts_with("<stdin>:3:2: column `size`"), "{m}");
    }

    #[test]
    fn tiny_spreads_are_standardized_constant_columns_are_not() {
        let (pre, data) = Preprocessor::fit(
            &table("a,b,c,y\n1e-13,5,0.1,0\n2e-13,5,,1\n3e-13,5,0.1,0\n"),
            &cfg("y", &[], true),
            TargetKind::Classes,
        )
        .unwrap();
        assert!((pre.stds()[0] - (2.0f64 / 3.0).sqrt() * 1e-13).abs() < 1e-25, "{}", pre.stds()[0]);
        let a: Vec<f32> = (0..3).map(|r| data.x.row(r)[0]).collect();
        assert!((a[0] + 1.2247449).abs() < 1e-5 && a[1].abs() < 1e-5 && (a[2] - 1.2247449).abs() < 1e-5, "{a:?}");
        // A constant column, and one made constant by imputing its own value, keep std 1 and encode as 0.
        assert_eq!((pre.stds()[1], pre.stds()[2]), (1.0, 1.0));
        assert!((0..3).all(|r| data.x.row(r)[1] == 0.0 && data.x.row(r)[2] == 0.0));
    }

    #[test]
    fn numbers_beyond_f32_are_errors_naming_the_cell() {
        let m = fit_err("a,b,y\n1,2,0\n3,1e39,1\n", &Default::default(), TargetKind::Classes);
        assert!(m.starts_with("t.csv:3:2: column `b` holds `1e39`, beyond the range of the 32-bit floats"), "{m}");
        let m = fit_err("a,y\n1,2\n3,-4e38\n", &Default::default(), TargetKind::Values);
        assert!(m.starts_with("t.csv:3:2: column `y` holds `-4e38`"), "{m}");
        let pre = fitted();
        let m = pre.transform_features(&table("color,size\nred,1e300\n")).unwrap_err().to_string();
        assert!(m.starts_with("t.csv:2:2: column `size` holds `1e300`"), "{m}");
        // Big but in range: fine, and the squares do not overflow the f64 variance.
        let (pre, data) =
            Preprocessor::fit(&table("a,y\n3e38,0\n-3e38,1\n"), &Default::default(), TargetKind::Classes).unwrap();
        assert!(pre.stds()[0].is_finite() && data.x.data.iter().all(|v| v.is_finite()));
        // A value far outside a tiny training spread is an error, not an infinity.
        let (pre, _) =
            Preprocessor::fit(&table("a,y\n1e-30,0\n2e-30,1\n"), &Default::default(), TargetKind::Classes).unwrap();
        let m = pre.transform_features(&table("a\n1e30\n")).unwrap_err().to_string();
        assert!(m.starts_with("t.csv:2:1: column `a` holds `1e30`, which lies beyond f32's range"), "{m}");
    }

    #[test]
    fn a_number_written_differently_is_one_class_in_train_and_evaluate() {
        let rows = vec![
            vec!["1".to_string(), "1".to_string()],
            vec!["2".into(), "1.0".into()],
            vec!["3".into(), " 1".into()],
            vec!["4".into(), "2".into()],
            vec!["5".into(), "02".into()],
        ];
        let t = Table::from_rows("t.csv", vec!["x".into(), "y".into()], rows);
        let (pre, data) = Preprocessor::fit(&t, &Default::default(), TargetKind::Classes).unwrap();
        assert_eq!(pre.class_labels().unwrap(), ["1", "2"]);
        assert_eq!(data.y, Targets::Classes { labels: vec![0, 0, 0, 1, 1], n_classes: 2 });
        let eval = pre.transform(&table("x,y\n1,1.00\n2,2e0\n")).unwrap();
        assert_eq!(eval.y, Targets::Classes { labels: vec![0, 1], n_classes: 2 });
        assert_eq!(label_index(pre.class_labels().unwrap(), " 2.0 "), Some(1));
        assert!(check_labels(&["1".into(), "1.0".into()]).unwrap_err().contains("twice"));
    }

    #[test]
    fn one_standardizer_for_every_path() {
        let mut s = Standardizer::new(3);
        for r in [[1.0, 5.0, 1e-13], [3.0, 5.0, 2e-13]] {
            s.push(&r);
        }
        let (mean, std) = s.finish();
        assert_eq!(mean[..2], [2.0, 5.0]);
        assert_eq!(std[..2], [1.0, 1.0], "spread 1 and a constant column");
        assert!((std[2] - 0.5e-13).abs() < 1e-26);
        let (_, std) = Standardizer::new(2).finish();
        assert_eq!(std, [1.0, 1.0], "no rows: nothing to divide by");
        let x = Matrix::new(2, 2, vec![1.0, 5.0, 3.0, 5.0]);
        let spec = crate::model_file::InputSpec::standardize(&x, vec!["a".into(), "b".into()], "y");
        let crate::model_file::InputSpec::Standardized { mean, std, .. } = spec else { panic!() };
        assert_eq!((mean, std), (vec![2.0, 5.0], vec![1.0, 1.0]));
    }

    fn titanic(name: &str) -> PathBuf {
        let dir = std::env::var_os("MLP_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")));
        let path = dir.join("titanic").join(name);
        assert!(
            path.is_file(),
            "test data {} is missing: set MLP_DATA_DIR to the shared data directory",
            path.display()
        );
        path
    }

    #[test]
    fn real_titanic_train() {
        let table = Table::read(&titanic("train.csv")).unwrap_or_else(|e| panic!("{e}"));
        let c = cfg("Survived", &["PassengerId", "Name", "Ticket", "Cabin"], true);
        let (pre, data) = Preprocessor::fit(&table, &c, TargetKind::Classes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data.len(), 891);
        assert_eq!(
            pre.feature_names(),
            [
                "Pclass",
                "Sex=female",
                "Sex=male",
                "Age",
                "SibSp",
                "Parch",
                "Fare",
                "Embarked=C",
                "Embarked=Q",
                "Embarked=S"
            ]
        );
        assert_eq!(pre.imputed(), [("Age".to_string(), 177), ("Embarked".to_string(), 2)]);
        assert_eq!(pre.class_labels().unwrap(), ["0", "1"]);
        let Targets::Classes { labels, .. } = &data.y else { panic!() };
        assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 342);
        for f in 0..data.x.cols {
            let mean: f64 = (0..891).map(|r| f64::from(data.x.row(r)[f])).sum::<f64>() / 891.0;
            assert!(mean.abs() < 1e-5, "feature {f} mean {mean}");
        }
        // Fit on the first 600 rows, apply to the rest and to test.csv (which has no Survived and a missing Fare).
        let (pre, train) = Preprocessor::fit(&table.rows(0..600), &c, TargetKind::Classes).unwrap();
        assert_eq!(train.len(), 600);
        assert_eq!(pre.transform(&table.rows(600..usize::MAX)).unwrap().len(), 291);
        let test = Table::read(&titanic("test.csv")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pre.transform_features(&test).unwrap().rows, 418);
    }
}
