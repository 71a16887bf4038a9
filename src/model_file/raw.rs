//! Raw numeric rows — a tensor of the model's input columns, as a model server receives them —
//! through the fitted input pipeline, encoded exactly as the same numbers in a CSV file would be.

use super::InputSpec;
use crate::error::{Error, Result};
use crate::preprocess::Column;
use crate::rows::NumericRows;
use crate::tensor::Matrix;

impl InputSpec {
    /// The raw input columns of one row, in the order a numeric tensor holds them: the training
    /// file's input columns (before one-hot expansion), the feature names, or `pixel_1…` for images.
    pub fn raw_columns(&self) -> Vec<String> {
        match self {
            InputSpec::Table { preprocessor } => preprocessor.input_columns().into_iter().map(str::to_string).collect(),
            InputSpec::Standardized { features, .. } => features.clone(),
            InputSpec::Pixels { .. } => (1..=self.n_features()).map(|i| format!("pixel_{i}")).collect(),
        }
    }

    /// The first raw input column that holds text categories (so that a numeric tensor cannot
    /// express it), if any.
    pub fn categorical_column(&self) -> Option<&str> {
        match self {
            InputSpec::Table { preprocessor } => {
                preprocessor.columns().iter().find(|c| matches!(c, Column::Categorical { .. })).map(Column::name)
            }
            _ => None,
        }
    }

    /// Encodes `x`, one row per sample and one column per [`raw_columns`](Self::raw_columns)
    /// entry, into the model's features: the same matrix [`transform_rows`](Self::transform_rows)
    /// gives for these numbers written as CSV cells. Images and standardized features are scaled
    /// without the detour through text, which keeps a one-row request fast.
    pub fn transform_raw(&self, x: &Matrix) -> Result<Matrix> {
        let enc = self.raw_encoder();
        if x.cols != enc.width() {
            return Err(Error::Data(format!("a row has {} values but the model takes {} inputs", x.cols, enc.width())));
        }
        Ok(Matrix::new(x.rows, self.n_features(), enc.encode(x.data.clone())?))
    }

    /// [`transform_raw`](Self::transform_raw) prepared once: the columns and scaling looked up
    /// ahead, for a server that encodes every request of a model the same way.
    pub fn raw_encoder(&self) -> RawEncoder {
        let scale = match self {
            InputSpec::Table { preprocessor } => Scale::Table {
                preprocessor: preprocessor.clone(),
                categorical: self.categorical_column().map(str::to_string),
            },
            InputSpec::Standardized { mean, std, .. } => Scale::Standard { mean: mean.clone(), std: std.clone() },
            InputSpec::Pixels { .. } => Scale::Pixels,
        };
        RawEncoder { columns: self.raw_columns(), features: self.n_features(), scale }
    }
}

/// How raw values become features (see [`InputSpec::raw_encoder`]).
#[derive(Clone, Debug)]
enum Scale {
    /// Through the fitted preprocessing, as CSV cells would go.
    Table { preprocessor: crate::preprocess::Preprocessor, categorical: Option<String> },
    /// `(x − mean) / std` per feature.
    Standard { mean: Vec<f32>, std: Vec<f32> },
    /// `x / 255`.
    Pixels,
}

/// Raw numeric rows to features, with everything that depends only on the model computed once:
/// encoding a row of pixels or standardized features allocates nothing but its output.
#[derive(Clone, Debug)]
pub struct RawEncoder {
    columns: Vec<String>,
    features: usize,
    scale: Scale,
}

impl RawEncoder {
    /// The raw input columns, as [`InputSpec::raw_columns`].
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Values in one raw row.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// Features in one encoded row (the network's input width).
    pub fn features(&self) -> usize {
        self.features
    }

    /// Encodes `raw` (whole rows of [`width`](Self::width) values, row-major) into the rows'
    /// features, row-major: pixels and standardized features are scaled in place (no allocation),
    /// a table goes through its fitted preprocessing.
    pub fn encode(&self, mut raw: Vec<f32>) -> Result<Vec<f32>> {
        let width = self.width();
        if width == 0 || !raw.len().is_multiple_of(width) {
            return Err(Error::Data(format!("{} values do not make whole rows of the {width} inputs", raw.len())));
        }
        let (mean, std) = match &self.scale {
            Scale::Table { preprocessor, categorical } => {
                if let Some(c) = categorical {
                    return Err(Error::Data(format!(
                        "the column `{c}` holds text categories, which a numeric tensor cannot carry; send named \
                         columns instead"
                    )));
                }
                let data: Vec<f64> = raw.iter().map(|&v| f64::from(v)).collect();
                let m = preprocessor.transform_rows(&NumericRows::new("request", self.columns.clone(), &data)?)?;
                return Ok(m.data);
            }
            Scale::Standard { mean, std } => (Some(mean), Some(std)),
            Scale::Pixels => (None, None),
        };
        for (i, v) in raw.iter_mut().enumerate() {
            let (f, x) = (i % width, *v);
            *v = match (mean, std) {
                (Some(mean), Some(std)) => (x - mean[f]) / std[f],
                _ => x / 255.0,
            };
            if !v.is_finite() {
                return Err(Error::Data(format!(
                    "row {}, input {}: the value {x} is not a finite number{}",
                    i / width + 1,
                    f + 1,
                    if x.is_finite() { " once scaled" } else { "" }
                )));
            }
        }
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::csv::Table;
    use crate::preprocess::{PreprocessConfig, Preprocessor, TargetKind};
    use crate::rows::Rows;

    fn numbers_as_rows(spec: &InputSpec, x: &Matrix) -> Matrix {
        let data: Vec<f64> = x.data.iter().map(|&v| f64::from(v)).collect();
        let rows = NumericRows::new("t", spec.raw_columns(), &data).unwrap();
        assert_eq!(rows.n_rows(), x.rows);
        spec.transform_rows(&rows).unwrap()
    }

    #[test]
    fn raw_numbers_encode_as_the_same_numbers_written_in_a_csv() {
        let x = Matrix::new(3, 2, vec![0.5, -1.25, 3.0, 7.1, 255.0, 0.0]);
        let std = InputSpec::Standardized {
            features: vec!["a".into(), "b".into()],
            target: "y".into(),
            mean: vec![1.0, -2.0],
            std: vec![0.5, 3.0],
        };
        let pix = InputSpec::Pixels { rows: 1, cols: 2, target: "label".into() };
        let rows: Vec<Vec<String>> =
            (0..6).map(|i| vec![format!("{}", i as f32 * 0.7), format!("{}", 10 - i), format!("{}", i % 2)]).collect();
        let table = Table::from_rows("t.csv", vec!["a".into(), "b".into(), "y".into()], rows);
        let (pre, _) = Preprocessor::fit(&table, &PreprocessConfig::default(), TargetKind::Classes).unwrap();
        let tab = InputSpec::Table { preprocessor: pre };
        for spec in [std, pix, tab] {
            assert_eq!(spec.raw_columns().len(), 2);
            let got = spec.transform_raw(&x).unwrap();
            let want = numbers_as_rows(&spec, &x);
            assert_eq!((got.rows, got.cols), (want.rows, want.cols));
            for (a, b) in got.data.iter().zip(&want.data) {
                assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{spec:?}: {a} vs {b}");
            }
            let err = spec.transform_raw(&Matrix::new(1, 3, vec![0.0; 3])).unwrap_err().to_string();
            assert!(err.contains("3 values") && err.contains("2 inputs"), "{err}");
        }
    }

    #[test]
    fn categories_and_non_finite_values_are_refused_with_the_reason() {
        let rows: Vec<Vec<String>> =
            (0..4).map(|i| vec![["x", "z"][i % 2].to_string(), format!("{i}"), format!("{}", i % 2)]).collect();
        let table = Table::from_rows("t.csv", vec!["c".into(), "n".into(), "y".into()], rows);
        let (pre, _) = Preprocessor::fit(&table, &PreprocessConfig::default(), TargetKind::Classes).unwrap();
        let tab = InputSpec::Table { preprocessor: pre };
        assert_eq!(tab.categorical_column(), Some("c"));
        let err = tab.transform_raw(&Matrix::new(1, 2, vec![0.0, 1.0])).unwrap_err().to_string();
        assert!(err.contains("`c`") && err.contains("named columns"), "{err}");
        let pix = InputSpec::Pixels { rows: 1, cols: 1, target: "label".into() };
        let err = pix.transform_raw(&Matrix::new(1, 1, vec![f32::INFINITY])).unwrap_err().to_string();
        assert!(err.contains("row 1, input 1") && err.contains("inf"), "{err}");
    }
}
