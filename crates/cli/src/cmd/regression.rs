//! What `mlp train` shows of a regression beyond its scores: a linear model's fitted line in the data's own units (`F(x) = 1837.52x + 19376.33`), the data with the model's curve for one input (PNG and a GIF over epochs), and predicted against actual values for more inputs.

use crate::plots::{self, CurveFit, CurveGif};
use anyhow::Result;
use mlp::data::{Dataset, Targets};
use mlp::model_file::ModelMeta;
use mlp::nn::LayerKind;
use mlp::{Activation, Matrix, Model};
use std::path::{Path, PathBuf};

/// Points along x of the drawn curve.
const CURVE_POINTS: usize = 200;

/// The names of the model's input features and of its target.
fn names(meta: &ModelMeta) -> (Vec<String>, String) {
    let features = match &meta.input {
        mlp::model_file::InputSpec::Table { preprocessor } => preprocessor.feature_names(),
        mlp::model_file::InputSpec::Standardized { features, .. } => features.clone(),
        other => (0..other.n_features()).map(|i| format!("x{}", i + 1)).collect(),
    };
    (features, meta.input.target_name().to_string())
}

/// Whether the whole network is one affine map: dense layers with linear activations only.
fn is_linear(model: &Model) -> bool {
    model.config.layers.iter().all(|l| l.kind == LayerKind::Dense && l.activation == Activation::Linear)
}

/// A linear regression's coefficients in the data's units, per output: `(slopes per raw feature,
/// intercept)`. Read off the model itself (its value at the origin and along each axis of its
/// One output's fitted line in the data's units: a slope per input, and the intercept.
pub type Line = (Vec<f64>, f64);

/// inputs), then the input standardization undone: so it holds for any depth of linear layers.
pub fn raw_coefficients(model: &Model, meta: &ModelMeta) -> Result<Option<Vec<Line>>> {
    if meta.classes.is_some() || !is_linear(model) {
        return Ok(None);
    }
    let d = model.config.input_dim;
    let mut probe = Matrix::zeros(d + 1, d);
    for i in 0..d {
        probe.data[(i + 1) * d + i] = 1.0;
    }
    let p = model.predict(&probe)?;
    let (mean, std) = meta.input.scaling();
    let outs = (0..p.cols)
        .map(|o| {
            let at = |r: usize| f64::from(p.data[r * p.cols + o]);
            let scaled: Vec<f64> = (0..d).map(|i| at(i + 1) - at(0)).collect();
            let slopes: Vec<f64> = scaled.iter().zip(&std).map(|(w, &s)| w / f64::from(s)).collect();
            let intercept = at(0) - slopes.iter().zip(&mean).map(|(w, &m)| w * f64::from(m)).sum::<f64>();
            (slopes, intercept)
        })
        .collect();
    Ok(Some(outs))
}

/// `F(x) = 1837.52x + 19376.33` (one feature, as the seed writes it) or
/// `price = 1.2·area − 3.4·rooms + 10.81`; one line per output.
pub fn formula(model: &Model, meta: &ModelMeta) -> Result<Option<String>> {
    let Some(coefs) = raw_coefficients(model, meta)? else { return Ok(None) };
    let (features, target) = names(meta);
    let term = |w: f64, name: &str, first: bool| {
        let sign = if w < 0.0 {
            " − "
        } else if first {
            ""
        } else {
            " + "
        };
        let w = if first && w < 0.0 { format!("−{:.2}", -w) } else { format!("{:.2}", w.abs()) };
        format!("{}{w}{name}", if first { "" } else { sign })
    };
    let lines: Vec<String> = coefs
        .iter()
        .map(|(slopes, b)| {
            let b = if *b < 0.0 { format!(" − {:.2}", -b) } else { format!(" + {b:.2}") };
            if slopes.len() == 1 {
                format!("F(x) = {}{b}", term(slopes[0], "x", true))
            } else {
                let terms: String = slopes
                    .iter()
                    .zip(&features)
                    .enumerate()
                    .map(|(i, (&w, n))| term(w, &format!("·{n}"), i == 0))
                    .collect();
                format!("{target} = {terms}{b}")
            }
        })
        .collect();
    Ok(Some(format!("fitted line (the data's units): {}", lines.join("; "))))
}

/// A one-input regression drawn in the data's units: the points, and the model's curve over them.
pub struct Curve {
    points: Vec<(f32, f32)>,
    grid_raw: Vec<f32>,
    grid: Matrix,
    x_name: String,
    y_name: String,
}

impl Curve {
    /// `None` unless the model has one input and one value output.
    pub fn new(meta: &ModelMeta, data: &Dataset) -> Option<Curve> {
        let Targets::Values(y) = &data.y else { return None };
        if data.x.cols != 1 || y.cols != 1 || data.x.rows == 0 {
            return None;
        }
        let (mean, std) = meta.input.scaling();
        let (m, s) = (*mean.first()?, *std.first()?);
        let points: Vec<(f32, f32)> = data.x.data.iter().zip(&y.data).map(|(&x, &y)| (x * s + m, y)).collect();
        let (lo, hi) = points.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), p| (l.min(p.0), h.max(p.0)));
        let grid_raw: Vec<f32> =
            (0..CURVE_POINTS).map(|i| lo + (hi - lo) * i as f32 / (CURVE_POINTS - 1) as f32).collect();
        let grid = Matrix::new(CURVE_POINTS, 1, grid_raw.iter().map(|&x| (x - m) / s).collect());
        let (features, target) = names(meta);
        let x_name = features.into_iter().next().unwrap_or_else(|| "x".into());
        Some(Curve { points, grid_raw, grid, x_name, y_name: target })
    }

    fn curve(&self, model: &Model) -> Result<Vec<(f32, f32)>> {
        let p = model.predict(&self.grid)?;
        Ok(self.grid_raw.iter().copied().zip(p.data).collect())
    }

    fn fit<'a>(&'a self, curve: &'a [(f32, f32)]) -> CurveFit<'a> {
        CurveFit { points: &self.points, curve, x_name: &self.x_name, y_name: &self.y_name }
    }

    /// Writes `fit.png`, titled with the fitted line for a linear model.
    pub fn png(&self, dir: &Path, model: &Model, meta: &ModelMeta) -> Result<PathBuf> {
        let path = dir.join("fit.png");
        let title = match formula(model, meta)? {
            Some(f) => f.trim_start_matches("fitted line (the data's units): ").to_string(),
            None => format!("{} against {}: data and model", self.y_name, self.x_name),
        };
        plots::curve_fit(&path, &self.fit(&self.curve(model)?), &title)?;
        Ok(path)
    }

    /// Writes `fit.gif`, one frame per `(epoch, weights)`.
    pub fn gif(&self, dir: &Path, frames: &[(usize, Model)]) -> Result<PathBuf> {
        let path = dir.join("fit.gif");
        let mut gif = CurveGif::create(&path, 120)?;
        for (epoch, model) in frames {
            gif.add_frame(&self.fit(&self.curve(model)?), &format!("epoch {epoch}"))?;
        }
        gif.finish()?;
        Ok(path)
    }
}

/// Writes `predicted_vs_actual.png` for a regression with more than one input (the first output).
pub fn predicted_vs_actual(dir: &Path, model: &Model, meta: &ModelMeta, data: &Dataset) -> Result<Option<PathBuf>> {
    let Targets::Values(y) = &data.y else { return Ok(None) };
    if data.x.cols < 2 || data.x.rows == 0 {
        return Ok(None);
    }
    let p = model.predict(&data.x)?;
    let pairs: Vec<(f32, f32)> = (0..y.rows).map(|r| (y.data[r * y.cols], p.data[r * p.cols])).collect();
    let path = dir.join("predicted_vs_actual.png");
    let target = meta.input.target_name();
    plots::predicted_vs_actual(&path, &pairs, target, &format!("{target}: predicted against actual"))?;
    Ok(Some(path))
}
