//! The model: its configuration (input width and dense layers), its weights on the host, and the Keras-style summary.

use super::{Activation, Init};
use crate::error::{Error, Result};
use crate::tensor::Matrix;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One dense layer: `a = act(x·W + b)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerConfig {
    /// Output units.
    pub units: usize,
    /// The activation.
    pub activation: Activation,
    /// How the weights are drawn.
    #[serde(default)]
    pub init: Init,
    /// Keras L1 penalty λ₁ on the weights: `λ₁·Σ|w|` is added to the loss.
    #[serde(default)]
    pub l1: f32,
    /// Keras L2 penalty λ₂ on the weights: `λ₂·Σw²` is added to the loss.
    #[serde(default)]
    pub l2: f32,
}

impl LayerConfig {
    /// A layer of `units` with `activation`, Glorot-uniform weights and no penalty.
    pub fn new(units: usize, activation: Activation) -> Self {
        Self { units, activation, init: Init::default(), l1: 0.0, l2: 0.0 }
    }

    /// Width of the pre-activation (units × pieces for maxout).
    pub fn pre_width(&self) -> usize {
        self.activation.pre_width(self.units)
    }

    /// Parses one layer of a spec: `units:activation[:init]`, e.g. `512:relu`, `64:leaky_relu(0.1):he_normal`.
    pub fn parse(spec: &str) -> Result<Self> {
        let what = || format!("layer '{spec}'");
        let mut parts = spec.trim().splitn(3, ':');
        let units_s = parts.next().unwrap_or("").trim();
        let units: usize = units_s.parse().map_err(|_| {
            Error::config(what(), format!("'{units_s}' is not a number of units; write units:activation, e.g. 64:relu"))
        })?;
        let activation = match parts.next() {
            Some(a) => a.parse()?,
            None => Activation::Linear,
        };
        let init = match parts.next() {
            Some(i) => i.parse()?,
            None => Init::default(),
        };
        let layer = Self { units, activation, init, l1: 0.0, l2: 0.0 };
        if units == 0 {
            return Err(Error::config(what(), "a layer needs at least 1 unit"));
        }
        Ok(layer)
    }
}

/// The most units a layer may have (far beyond any MLP that trains in memory); keeps every size
/// product in range.
pub const MAX_UNITS: usize = 1 << 24;
/// The most parameters a model may have: 2³² f32 values are 16 GiB.
pub const MAX_PARAMS: u64 = 1 << 32;

/// A sequential stack of dense layers on inputs of width `input_dim`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Width of the input rows.
    pub input_dim: usize,
    /// The layers, from input to output.
    pub layers: Vec<LayerConfig>,
}

impl ModelConfig {
    /// A model on `input_dim` inputs with no layers yet.
    pub fn new(input_dim: usize) -> Self {
        Self { input_dim, layers: Vec::new() }
    }

    /// Adds a dense layer (builder style).
    pub fn dense(mut self, units: usize, activation: Activation) -> Self {
        self.layers.push(LayerConfig::new(units, activation));
        self
    }

    /// Adds a configured layer (builder style).
    pub fn layer(mut self, layer: LayerConfig) -> Self {
        self.layers.push(layer);
        self
    }

    /// Sets every layer's initializer (builder style).
    pub fn with_init(mut self, init: Init) -> Self {
        for l in &mut self.layers {
            l.init = init;
        }
        self
    }

    /// Sets every layer's L1 and L2 penalties (builder style).
    pub fn with_penalties(mut self, l1: f32, l2: f32) -> Self {
        for l in &mut self.layers {
            l.l1 = l1;
            l.l2 = l2;
        }
        self
    }

    /// Parses a comma-separated spec such as `512:relu,10:softmax` (see [`LayerConfig::parse`]).
    pub fn parse(input_dim: usize, spec: &str) -> Result<Self> {
        let layers =
            spec.split(',').filter(|s| !s.trim().is_empty()).map(LayerConfig::parse).collect::<Result<Vec<_>>>()?;
        let cfg = Self { input_dim, layers };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Width of the output rows.
    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(self.input_dim, |l| l.units)
    }

    /// The last layer's activation.
    pub fn output_activation(&self) -> &Activation {
        self.layers.last().map_or(&Activation::Linear, |l| &l.activation)
    }

    /// Input width of layer `i`.
    pub fn layer_input(&self, i: usize) -> usize {
        if i == 0 { self.input_dim } else { self.layers[i - 1].units }
    }

    /// Checks the structure: at least one layer, no zero widths, softmax only at the output,
    /// penalties finite and non-negative.
    pub fn validate(&self) -> Result<()> {
        if self.input_dim == 0 {
            return Err(Error::config("input width", "the model needs at least one input feature"));
        }
        if self.layers.is_empty() {
            return Err(Error::config("layers", "the model needs at least one layer, e.g. --layers 10:softmax"));
        }
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let what = || format!("layer {} ({}:{})", i + 1, l.units, l.activation);
            if l.units == 0 {
                return Err(Error::config(what(), "a layer needs at least 1 unit"));
            }
            l.activation.validate()?;
            if l.units > MAX_UNITS {
                return Err(Error::config(what(), format!("a layer can have at most {MAX_UNITS} units")));
            }
            if l.activation == Activation::Softmax && i != last {
                return Err(Error::config(what(), "softmax can only be the output layer"));
            }
            for (name, v) in [("l1", l.l1), ("l2", l.l2)] {
                if !(v >= 0.0 && v.is_finite()) {
                    return Err(Error::config(what(), format!("the {name} penalty must be ≥ 0, got {v}")));
                }
            }
        }
        // Sizes come from the user: count in u128 so that no product can overflow, and refuse a
        // model whose weights could not be allocated anyway.
        let params: u128 = (0..self.layers.len())
            .map(|i| {
                let (fi, w) = (self.layer_input(i) as u128, self.layers[i].pre_width() as u128);
                fi * w + w + self.layers[i].units as u128
            })
            .sum();
        if params > MAX_PARAMS as u128 {
            return Err(Error::config(
                "layers",
                format!(
                    "the model would have about {params} parameters, more than the {MAX_PARAMS} mlp handles; use fewer or smaller layers"
                ),
            ));
        }
        Ok(())
    }

    /// Number of parameters of layer `i`: weights, biases and PReLU slopes.
    pub fn layer_params(&self, i: usize) -> usize {
        let l = &self.layers[i];
        let w = l.pre_width();
        self.layer_input(i) * w + w + if l.activation.has_alpha() { l.units } else { 0 }
    }

    /// Total number of parameters.
    pub fn param_count(&self) -> usize {
        (0..self.layers.len()).map(|i| self.layer_params(i)).sum()
    }

    /// Draws the weights from `seed` (layer after layer from one stream); biases start at zero.
    pub fn init(&self, seed: u64) -> Result<Model> {
        self.validate()?;
        let mut rng = Init::rng(seed);
        let params = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let (fan_in, width) = (self.layer_input(i), l.pre_width());
                LayerParams {
                    weight: Matrix::new(fan_in, width, l.init.sample(fan_in, width, &mut rng)),
                    bias: vec![0.0; width],
                    alpha: match l.activation {
                        Activation::Prelu { init } => Some(vec![init; l.units]),
                        _ => None,
                    },
                }
            })
            .collect();
        Ok(Model { config: self.clone(), params })
    }

    /// The Keras-style table: each layer, its output shape and parameter count, then the totals.
    pub fn summary(&self) -> String {
        let mut rows = vec![("input (InputLayer)".to_string(), format!("(None, {})", self.input_dim), 0usize)];
        for (i, l) in self.layers.iter().enumerate() {
            rows.push((
                format!("dense_{} (Dense, {})", i + 1, l.activation),
                format!("(None, {})", l.units),
                self.layer_params(i),
            ));
        }
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(12) + 2;
        let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(12) + 2;
        let w2 = 10;
        let line = |c: char| c.to_string().repeat(w0 + w1 + w2);
        let mut s = String::new();
        let _ = writeln!(s, "Model: \"sequential\"");
        let _ = writeln!(s, "{}", line('_'));
        let _ = writeln!(s, "{:<w0$}{:<w1$}{:>w2$}", "Layer (type)", "Output Shape", "Param #");
        let _ = writeln!(s, "{}", line('='));
        for (i, (name, shape, n)) in rows.iter().enumerate() {
            let _ = writeln!(s, "{name:<w0$}{shape:<w1$}{n:>w2$}");
            let _ = writeln!(s, "{}", if i + 1 == rows.len() { line('=') } else { line('_') });
        }
        let total = self.param_count();
        let _ = writeln!(s, "Total params: {total}");
        let _ = writeln!(s, "Trainable params: {total}");
        let _ = writeln!(s, "Non-trainable params: 0");
        s
    }
}

/// The learned values of one layer, on the host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerParams {
    /// Weights `(fan_in, pre_width)`: column `j` holds the weights into pre-activation unit `j`.
    pub weight: Matrix,
    /// Biases, `pre_width`.
    pub bias: Vec<f32>,
    /// PReLU slopes, one per unit.
    pub alpha: Option<Vec<f32>>,
}

/// A configured model with its weights: what training produces and a model file stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// The architecture.
    pub config: ModelConfig,
    /// The weights of each layer.
    pub params: Vec<LayerParams>,
}

impl Model {
    /// The Keras-style summary table.
    pub fn summary(&self) -> String {
        self.config.summary()
    }

    /// Total number of parameters.
    pub fn param_count(&self) -> usize {
        self.config.param_count()
    }

    /// Checks that the weights have the shapes the configuration says and are finite.
    pub fn check(&self) -> Result<()> {
        self.config.validate()?;
        if self.params.len() != self.config.layers.len() {
            return Err(Error::Data(format!(
                "the model has {} layers but weights for {}",
                self.config.layers.len(),
                self.params.len()
            )));
        }
        for (i, (l, p)) in self.config.layers.iter().zip(&self.params).enumerate() {
            let (fi, w) = (self.config.layer_input(i), l.pre_width());
            let alpha_len = p.alpha.as_ref().map(|a| a.len());
            let want_alpha = l.activation.has_alpha().then_some(l.units);
            if p.weight.rows != fi
                || p.weight.cols != w
                || p.weight.data.len() != fi * w
                || p.bias.len() != w
                || alpha_len != want_alpha
            {
                return Err(Error::Data(format!(
                    "layer {}: weights are {}×{} with {} biases, but the architecture needs {fi}×{w} with {w} biases",
                    i + 1,
                    p.weight.rows,
                    p.weight.cols,
                    p.bias.len()
                )));
            }
            let finite = p.weight.data.iter().chain(&p.bias).chain(p.alpha.iter().flatten()).all(|v| v.is_finite());
            if !finite {
                return Err(Error::Data(format!("layer {}: the weights contain NaN or infinite values", i + 1)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circles_net_counts_60_21_81() {
        let cfg = ModelConfig::new(2).dense(20, Activation::Relu).dense(1, Activation::Sigmoid);
        assert_eq!(cfg.layer_params(0), 60);
        assert_eq!(cfg.layer_params(1), 21);
        assert_eq!(cfg.param_count(), 81);
        let s = cfg.summary();
        assert!(s.contains("(None, 20)") && s.contains("Total params: 81"), "{s}");
        for n in ["60", "21"] {
            assert!(s.lines().any(|l| l.trim_end().ends_with(n)), "{s}");
        }
    }

    #[test]
    fn maxout_and_prelu_counts() {
        let cfg = ModelConfig::parse(4, "3:maxout(2),2:prelu,1:linear").unwrap();
        // 4·6 + 6, then 3·2 + 2 + 2 slopes, then 2·1 + 1.
        assert_eq!(cfg.param_count(), 30 + 10 + 3);
    }

    #[test]
    fn parse_errors_name_the_layer() {
        let e = ModelConfig::parse(2, "0:relu,1:sigmoid").unwrap_err().to_string();
        assert!(e.contains("layer '0:relu'") && e.contains("at least 1 unit"), "{e}");
        let e = ModelConfig::parse(2, "x:relu").unwrap_err().to_string();
        assert!(e.contains("not a number of units"), "{e}");
        let e = ModelConfig::parse(2, "4:softmax,1:sigmoid").unwrap_err().to_string();
        assert!(e.contains("softmax can only be the output layer"), "{e}");
    }

    #[test]
    fn same_seed_same_weights() {
        let cfg = ModelConfig::parse(5, "7:relu,3:softmax").unwrap();
        assert_eq!(cfg.init(3).unwrap(), cfg.init(3).unwrap());
        assert_ne!(cfg.init(3).unwrap(), cfg.init(4).unwrap());
    }
}
