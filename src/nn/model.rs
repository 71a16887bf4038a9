//! The model: its configuration (input width and layers), its named parameter tensors on the host, and the Keras-style summary.

use super::layers::{self, LayerKind, ParamInit, ParamSpec};
use super::{Activation, Init};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One layer: its kind (dense unless said otherwise), its width and the activation it applies,
/// `a = act(f(x))` — for a dense layer `a = act(x·W + b)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerConfig {
    /// What the layer computes before its activation (not written for dense layers, so files
    /// from before layer kinds read unchanged).
    #[serde(default, skip_serializing_if = "LayerKind::is_dense")]
    pub kind: LayerKind,
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
        Self { kind: LayerKind::Dense, units, activation, init: Init::default(), l1: 0.0, l2: 0.0 }
    }

    /// This layer's named parameters on `fan_in` inputs, in storage order.
    pub fn param_specs(&self, fan_in: usize) -> Vec<ParamSpec> {
        self.kind.specs(self, fan_in)
    }

    /// Width of the pre-activation (units × pieces for maxout).
    pub fn pre_width(&self) -> usize {
        self.activation.pre_width(self.units)
    }

    /// Parses one layer of a spec: `units:activation[:init]`, e.g. `512:relu`, `64:leaky_relu(0.1):he_normal`.
    ///
    /// A width-keeping kind names no units: `dropout(0.2)`, `batchnorm`, `batchnorm:relu`,
    /// `batchnorm(momentum=0.1,eps=1e-5)`. Its `units` are 0 here until
    /// [`ModelConfig::parse`] sets them to the width before it.
    pub fn parse(spec: &str) -> Result<Self> {
        let what = || format!("layer '{spec}'");
        let mut head_rest = spec.trim().splitn(2, ':');
        if let Some(kind) = LayerKind::parse_head(head_rest.next().unwrap_or("")) {
            let kind = kind.map_err(|msg| Error::config(what(), msg))?;
            let activation = match head_rest.next() {
                Some(a) => a.parse()?,
                None => Activation::Linear,
            };
            return Ok(Self { kind, units: 0, activation, init: Init::default(), l1: 0.0, l2: 0.0 });
        }
        let mut parts = spec.trim().splitn(3, ':');
        let units_s = parts.next().unwrap_or("").trim();
        let units: usize = units_s.parse().map_err(|_| {
            Error::config(what(), format!("'{units_s}' is not a number of units; write units:activation, e.g. 64:relu"))
        })?;
        let (kind, activation) = match parts.next() {
            Some(a) => match LayerKind::parse_unit_kind(a) {
                Some(kind) => (kind.map_err(|msg| Error::config(what(), msg))?, Activation::Linear),
                None => (LayerKind::Dense, a.parse()?),
            },
            None => (LayerKind::Dense, Activation::Linear),
        };
        let init = match parts.next() {
            Some(i) => i.parse()?,
            None => Init::default(),
        };
        let layer = Self { kind, units, activation, init, l1: 0.0, l2: 0.0 };
        if units == 0 {
            return Err(Error::config(what(), "a layer needs at least 1 unit"));
        }
        Ok(layer)
    }
}

/// Splits a layer spec at the commas outside parentheses (`batchnorm(momentum=0.1,eps=1e-5)` is one item).
fn split_items(spec: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in spec.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth <= 0 => {
                items.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&spec[start..]);
    items
}

/// The most units a layer may have (far beyond any MLP that trains in memory); keeps every size
/// product in range.
pub const MAX_UNITS: usize = 1 << 24;
/// The most parameters a model may have: 2³² f32 values are 16 GiB.
pub const MAX_PARAMS: u64 = 1 << 32;

/// A sequential stack of layers on inputs of width `input_dim`: plain data (serde, the CLI's
/// `--layers`, the model file's header) that [`ModelConfig::init`] turns into a [`Model`].
///
/// ```
/// use mlp::{Activation, ModelConfig};
/// let cfg = ModelConfig::parse(784, "512:relu,10:softmax")?;
/// assert_eq!(cfg.param_count(), 784 * 512 + 512 + 512 * 10 + 10);
/// let same = ModelConfig::new(784).dense(512, Activation::Relu).dense(10, Activation::Softmax);
/// assert_eq!(cfg, same);
/// # Ok::<(), mlp::Error>(())
/// ```
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
        let mut layers = split_items(spec)
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .map(LayerConfig::parse)
            .collect::<Result<Vec<_>>>()?;
        // Width-keeping kinds (dropout, batchnorm) take the width before them.
        let mut width = input_dim;
        for l in &mut layers {
            if l.kind.keeps_width() && l.units == 0 {
                l.units = width;
            }
            width = l.units;
        }
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
            if i == last && !layers::can_be_output(l.kind) {
                return Err(Error::config(what(), "the output layer must be a dense layer"));
            }
            l.kind.validate(l, self.layer_input(i), i == last)?;
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
                match self.layers[i].kind {
                    LayerKind::Dense => fi * w + w + self.layers[i].units as u128,
                    // Other kinds' tensors are a few per unit: count them as declared.
                    _ => self.layer_specs(i).iter().map(|s| s.shape.iter().map(|&d| d as u128).product::<u128>()).sum(),
                }
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

    /// The named parameters of layer `i`, in storage order.
    pub fn layer_specs(&self, i: usize) -> Vec<ParamSpec> {
        self.layers[i].param_specs(self.layer_input(i))
    }

    /// Every parameter tensor as `(layer, spec)`, layer by layer in storage order: the one walk
    /// that the network, the optimizer state, checkpoints and the model file share.
    pub fn named_specs(&self) -> impl Iterator<Item = (usize, ParamSpec)> + '_ {
        (0..self.layers.len()).flat_map(move |i| self.layer_specs(i).into_iter().map(move |s| (i, s)))
    }

    /// Number of parameters of layer `i` (trainable or not).
    pub fn layer_params(&self, i: usize) -> usize {
        self.layer_specs(i).iter().map(ParamSpec::len).sum()
    }

    /// Number of parameters of layer `i` that the optimizer does not update (running statistics).
    pub fn layer_non_trainable(&self, i: usize) -> usize {
        self.layer_specs(i).iter().filter(|s| !s.trainable).map(ParamSpec::len).sum()
    }

    /// Total number of parameters.
    pub fn param_count(&self) -> usize {
        (0..self.layers.len()).map(|i| self.layer_params(i)).sum()
    }

    /// Draws the weights from `seed` (layer after layer from one stream); the other tensors start
    /// at their kind's constant (biases at zero).
    pub fn init(&self, seed: u64) -> Result<Model> {
        self.validate()?;
        let mut rng = Init::rng(seed);
        let params = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| LayerParams {
                tensors: self
                    .layer_specs(i)
                    .into_iter()
                    .map(|spec| {
                        let data = match spec.init {
                            ParamInit::Weights { fan_in, fan_out } => l.init.sample(fan_in, fan_out, &mut rng),
                            ParamInit::Const(v) => vec![v; spec.len()],
                        };
                        ParamTensor { name: spec.name.to_string(), shape: spec.shape, data }
                    })
                    .collect(),
            })
            .collect();
        Ok(Model { config: self.clone(), params })
    }

    /// The Keras-style table: each layer, its output shape and parameter count, then the totals.
    pub fn summary(&self) -> String {
        let mut rows = vec![("input (InputLayer)".to_string(), format!("(None, {})", self.input_dim), 0usize)];
        for (i, l) in self.layers.iter().enumerate() {
            rows.push((
                format!("{}_{} ({}, {})", l.kind.type_name().to_lowercase(), i + 1, l.kind.type_name(), l.activation),
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
        let fixed: usize = (0..self.layers.len()).map(|i| self.layer_non_trainable(i)).sum();
        let _ = writeln!(s, "Total params: {total}");
        let _ = writeln!(s, "Trainable params: {}", total - fixed);
        let _ = writeln!(s, "Non-trainable params: {fixed}");
        s
    }
}

/// One named parameter tensor on the host, in memory order (see [`ParamSpec`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamTensor {
    /// The name within the layer (`weight`, `bias`, `alpha`, …).
    pub name: String,
    /// The in-memory shape; a dense layer's weights are `(fan_in, pre_width)`, column `j` holding
    /// the weights into pre-activation unit `j`.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f32>,
}

/// The learned values of one layer, on the host: its tensors in its kind's storage order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerParams {
    /// The tensors, in the order of the layer's [`ParamSpec`]s.
    pub tensors: Vec<ParamTensor>,
}

impl LayerParams {
    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&ParamTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The tensor named `name`, to change.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut ParamTensor> {
        self.tensors.iter_mut().find(|t| t.name == name)
    }

    /// The values of tensor `name` (empty when the layer has none).
    pub fn values(&self, name: &str) -> &[f32] {
        self.get(name).map_or(&[], |t| &t.data)
    }
}

/// A configured model with its weights: what training produces and a model file stores.
///
/// ```
/// use mlp::{data::synth, train::FitConfig, Activation, Loss, ModelConfig, OptimizerConfig};
/// let data = synth::xor();
/// let mut model = ModelConfig::new(2).dense(4, Activation::Tanh).dense(1, Activation::Sigmoid).init(0)?;
/// let cfg = FitConfig { loss: Loss::Mse, optimizer: OptimizerConfig::adam(0.05), epochs: 2000, batch_size: 4, ..Default::default() };
/// model.fit(&data, &cfg)?;
/// assert_eq!(model.predict_classes(&data.x)?, vec![0, 1, 1, 0]);
/// // Parameters by name, layer by layer:
/// assert_eq!(model.params[0].get("weight").unwrap().shape, vec![2, 4]);
/// # Ok::<(), mlp::Error>(())
/// ```
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
        for (i, p) in self.params.iter().enumerate() {
            let specs = self.config.layer_specs(i);
            let fits = specs.len() == p.tensors.len()
                && specs
                    .iter()
                    .zip(&p.tensors)
                    .all(|(s, t)| s.name == t.name && s.shape == t.shape && s.len() == t.data.len());
            if !fits {
                let have: Vec<String> = p.tensors.iter().map(|t| format!("{} {:?}", t.name, t.shape)).collect();
                let want: Vec<String> = specs.iter().map(|s| format!("{} {:?}", s.name, s.shape)).collect();
                return Err(Error::Data(format!(
                    "layer {}: the tensors are [{}], but the architecture needs [{}]",
                    i + 1,
                    have.join(", "),
                    want.join(", ")
                )));
            }
            if p.tensors.iter().any(|t| t.data.iter().any(|v| !v.is_finite())) {
                return Err(Error::Data(format!("layer {}: the weights contain NaN or infinite values", i + 1)));
            }
        }
        Ok(())
    }

    /// Every parameter tensor with its layer and spec, in storage order.
    pub fn named_params(&self) -> impl Iterator<Item = (usize, ParamSpec, &ParamTensor)> + '_ {
        self.config.named_specs().zip(self.params.iter().flat_map(|p| &p.tensors)).map(|((i, s), t)| (i, s, t))
    }

    /// Every parameter tensor in the model file's layout: `(layers.{i}.{name}, file shape, values)`.
    pub fn file_tensors(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        self.named_params()
            .map(|(i, spec, t)| (format!("layers.{i}.{}", spec.name), spec.file_shape(), spec.to_file(&t.data)))
            .collect()
    }

    /// Builds the parameters of `config` from model-file tensors: `lookup(name, file_shape)` gives
    /// the values stored under `layers.{i}.{name}` (checking their shape), in the file's layout.
    pub fn from_file_tensors(
        config: &ModelConfig,
        mut lookup: impl FnMut(&str, &[usize]) -> Result<Vec<f32>>,
    ) -> Result<Model> {
        let params = (0..config.layers.len())
            .map(|i| {
                let tensors = config
                    .layer_specs(i)
                    .into_iter()
                    .map(|spec| {
                        let data = lookup(&format!("layers.{i}.{}", spec.name), &spec.file_shape())?;
                        Ok(ParamTensor { name: spec.name.to_string(), data: spec.from_file(data), shape: spec.shape })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(LayerParams { tensors })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Model { config: config.clone(), params })
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
