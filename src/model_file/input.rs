//! The fitted input pipeline: how raw rows (a CSV table, regenerated built-in data, IDX pixels)
//! become the model's features, replayed exactly by `evaluate` and `predict`.

use crate::data::csv::{CsvReader, Table};
use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::preprocess::{Preprocessor, Standardizer, label_index};
use crate::rows::Rows;
use crate::tensor::Matrix;
use serde::{Deserialize, Serialize};

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
    /// Fits standardization on the columns of `x` with the one [`Standardizer`] (population
    /// deviation in f64; a constant column gets 1).
    pub fn standardize(x: &Matrix, features: Vec<String>, target: &str) -> InputSpec {
        let mut fit = Standardizer::new(x.cols);
        let mut row = vec![0.0f64; x.cols];
        for r in 0..x.rows {
            for (d, &v) in row.iter_mut().zip(x.row(r)) {
                *d = f64::from(v);
            }
            fit.push(&row);
        }
        let (mean, std) = fit.finish();
        InputSpec::Standardized {
            features,
            target: target.to_string(),
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std: std.into_iter().map(|s| s as f32).collect(),
        }
    }

    /// Checks a spec read from a file for internal consistency: lengths of names and statistics,
    /// finite means, positive finite deviations, image sizes. The error names the field.
    pub fn check(&self) -> std::result::Result<(), String> {
        match self {
            InputSpec::Table { preprocessor } => preprocessor.check(),
            InputSpec::Standardized { features, target, mean, std } => {
                if features.is_empty() {
                    return Err("`input.features` is empty; a model needs at least one input".into());
                }
                let mut seen = std::collections::BTreeSet::new();
                for (i, f) in features.iter().enumerate() {
                    if !seen.insert(f) {
                        return Err(format!("`input.features[{i}]` (`{f}`) names a feature twice"));
                    }
                    if f == target {
                        return Err(format!("`input.features[{i}]` (`{f}`) is also the target column"));
                    }
                }
                for (field, v) in [("mean", mean), ("std", std)] {
                    if v.len() != features.len() {
                        return Err(format!(
                            "`input.{field}` has {} values but `input.features` names {}",
                            v.len(),
                            features.len()
                        ));
                    }
                }
                if let Some(i) = mean.iter().position(|m| !m.is_finite()) {
                    return Err(format!("`input.mean[{i}]` is {}, not a finite number", mean[i]));
                }
                if let Some(i) = std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
                    return Err(format!(
                        "`input.std[{i}]` is {}; a standard deviation must be finite and positive",
                        std[i]
                    ));
                }
                Ok(())
            }
            InputSpec::Pixels { rows, cols, .. } => match rows.checked_mul(*cols) {
                Some(n) if n > 0 => Ok(()),
                _ => Err(format!("`input.rows` × `input.cols` ({rows} × {cols}) is not a usable image size")),
            },
        }
    }

    /// The model's input width.
    pub fn n_features(&self) -> usize {
        match self {
            InputSpec::Table { preprocessor } => preprocessor.n_features(),
            InputSpec::Standardized { features, .. } => features.len(),
            InputSpec::Pixels { rows, cols, .. } => rows.saturating_mul(*cols),
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
            InputSpec::Pixels { .. } => (vec![0.0; self.n_features()], vec![255.0; self.n_features()]),
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
            InputSpec::Standardized { mean, std, features, .. } => {
                for r in 0..x.rows {
                    for (f, ((v, m), s)) in x.row_mut(r).iter_mut().zip(mean).zip(std).enumerate() {
                        let raw = *v;
                        *v = (raw - m) / s;
                        if !v.is_finite() {
                            return Err(Error::Data(format!(
                                "row {}, feature `{}`: the value {raw} is not a finite number in f32's range once \
                                 standardized (training mean {m}, deviation {s})",
                                r + 1,
                                features[f]
                            )));
                        }
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
    fn layout<R: Rows + ?Sized>(&self, table: &R) -> Result<Vec<usize>> {
        let target = self.target_name();
        match self {
            InputSpec::Table { .. } => unreachable!("tables go through the preprocessor"),
            InputSpec::Standardized { features, .. } => {
                let expected = || features.join(", ");
                for c in table.columns() {
                    if c != target && !features.contains(c) {
                        return Err(table.error(format!(
                            "has a column `{c}` the model was not trained on; expected the columns {} \
                                 (and optionally `{target}`)",
                            expected()
                        )));
                    }
                }
                features
                    .iter()
                    .map(|f| {
                        table.column_index(f).ok_or_else(|| {
                            table.error(format!(
                                "has no column `{f}`, which the model needs; expected the columns {}",
                                expected()
                            ))
                        })
                    })
                    .collect()
            }
            InputSpec::Pixels { rows, cols, .. } => {
                let idx: Vec<usize> = (0..table.columns().len()).filter(|&j| table.columns()[j] != target).collect();
                if idx.len() != self.n_features() {
                    return Err(table.error(format!(
                        "has {} pixel columns but the model takes {rows}×{cols} = {} pixels (values 0-255), \
                             plus an optional `{target}` column",
                        idx.len(),
                        self.n_features()
                    )));
                }
                Ok(idx)
            }
        }
    }

    fn encode<R: Rows + ?Sized>(&self, table: &R, cols: &[usize]) -> Result<Matrix> {
        let mut x = Matrix::zeros(table.n_rows(), cols.len());
        for r in 0..table.n_rows() {
            let row = x.row_mut(r);
            for (f, &j) in cols.iter().enumerate() {
                let text = table.cell(r, j);
                let cell = text.trim();
                let v = cell.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    table.cell_error(
                        r,
                        j,
                        format!("column `{}` needs a finite number, but this cell is `{cell}`", table.columns()[j]),
                    )
                })?;
                row[f] = match self {
                    InputSpec::Standardized { mean, std, .. } => (v - mean[f]) / std[f],
                    _ => v / 255.0,
                };
                if !row[f].is_finite() {
                    return Err(table.cell_error(
                        r,
                        j,
                        format!(
                            "column `{}` holds `{cell}`, which lies beyond f32's range once standardized; the value \
                             is far outside the training data",
                            table.columns()[j]
                        ),
                    ));
                }
            }
        }
        Ok(x)
    }

    /// Encodes the features of `table` (the target column may be present; it is ignored).
    pub fn transform_features(&self, table: &Table) -> Result<Matrix> {
        self.transform_rows(table)
    }

    /// Encodes the features of named rows from any source ([`Rows`]: a CSV table, JSON rows, a
    /// numpy array with column names) with the fitted pipeline, exactly as a CSV table.
    pub fn transform_rows<R: Rows + ?Sized>(&self, rows: &R) -> Result<Matrix> {
        match self {
            InputSpec::Table { preprocessor } => preprocessor.transform_rows(rows),
            _ => self.encode(rows, &self.layout(rows)?),
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
                    match label_index(labels, cell) {
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
