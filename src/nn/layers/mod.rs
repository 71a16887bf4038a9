//! Layer kinds: the registry of what a layer can be, the parameters each kind declares, and the forward/backward interface every kind implements on a backend.
//!
//! A kind lives in its own file beside this one (`dense.rs`, …) and is registered here in three
//! places that the compiler lists when a variant is added: [`LayerKind`] (the plain-data config
//! that the model file and the CLI carry), [`LayerKind::specs`] (its named parameters) and
//! `build` (its state on a backend). Everything else — initialization, the optimizer, the
//! weight penalty, checkpoints, the model file, gradient checks, the summary — walks the
//! parameters through [`ParamSpec`]s and needs no change for a new kind.

pub mod batchnorm;
mod dense;
mod dropout;
mod rbf;
#[cfg(test)]
mod scale;

pub(crate) use dropout::mix as noise_mix;

use super::model::LayerConfig;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::loss::{CustomLoss, Loss};
use serde::{Deserialize, Serialize};

/// What a layer computes from its input, before its activation.
///
/// ```
/// use mlp::nn::{LayerConfig, LayerKind};
/// let l = LayerConfig::parse("64:relu")?;
/// assert_eq!(l.kind, LayerKind::Dense);
/// let names: Vec<_> = l.param_specs(10).iter().map(|s| s.name).collect();
/// assert_eq!(names, ["weight", "bias"]);
/// # Ok::<(), mlp::Error>(())
/// ```
///
/// Serialized as a lowercase name inside [`LayerConfig`]; a dense layer writes nothing, so model
/// files from before layer kinds existed read as dense layers and dense models write the same bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LayerKind {
    /// `a = act(x·W + b)`: the fully connected layer.
    #[default]
    Dense,
    /// Inverted dropout of the inputs at `rate` in train mode, the identity in eval mode
    /// (spec `dropout(RATE)`; it keeps its input width and has no parameters).
    Dropout {
        /// The fraction of inputs zeroed, in [0, 1).
        rate: f32,
    },
    /// Batch normalization as PyTorch's `BatchNorm1d`, then the layer's activation (spec
    /// `batchnorm`, `batchnorm:relu`, `batchnorm(momentum=0.1,eps=1e-5):relu`; it keeps its input
    /// width). Parameters: `weight` γ, `bias` β, and the non-trainable `running_mean`, `running_var`.
    #[serde(rename = "batchnorm")]
    BatchNorm {
        /// Weight of the batch statistics in the running ones (PyTorch's default 0.1).
        momentum: f32,
        /// Added to the variance (PyTorch's default 1e-5).
        eps: f32,
    },
    /// Radial basis units `h_j = exp(−‖x − c_j‖² / σ_j²)` (spec `16:rbf`, `16:rbf(sigma=0.5)`,
    /// `16:rbf(sigma=0.5,fixed)`): learned centres `weight` and per-unit widths `sigma`, learned
    /// unless fixed. A hidden layer only; its activation is linear (the exp is the unit itself).
    Rbf {
        /// The starting width of every unit.
        sigma: f32,
        /// Whether the optimizer learns the widths.
        learn_sigma: bool,
    },
    /// A test-only kind, `a = x ⊙ s` with one learned scale per unit: proves that a new kind is one
    /// file plus its registration.
    #[cfg(test)]
    Scale,
}

impl LayerKind {
    /// The Keras-style type name shown in the summary.
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerKind::Dense => "Dense",
            LayerKind::Dropout { .. } => "Dropout",
            LayerKind::BatchNorm { .. } => "BatchNorm",
            LayerKind::Rbf { .. } => "Rbf",
            #[cfg(test)]
            LayerKind::Scale => "Scale",
        }
    }

    /// Whether this is the dense kind (serde skips writing it, for byte-identical files).
    pub fn is_dense(&self) -> bool {
        matches!(self, LayerKind::Dense)
    }

    /// The parameters of a layer `cfg` of this kind on `fan_in` inputs, in storage order.
    pub fn specs(&self, cfg: &LayerConfig, fan_in: usize) -> Vec<ParamSpec> {
        match self {
            LayerKind::Dense => dense::specs(cfg, fan_in),
            LayerKind::Dropout { .. } => dropout::specs(cfg, fan_in),
            LayerKind::BatchNorm { .. } => batchnorm::specs(cfg, fan_in),
            LayerKind::Rbf { sigma, learn_sigma } => rbf::specs(cfg, fan_in, *sigma, *learn_sigma),
            #[cfg(test)]
            LayerKind::Scale => scale::specs(cfg, fan_in),
        }
    }

    /// Checks what only this kind knows (e.g. that a kind preserving the width gets the width it preserves).
    pub fn validate(&self, cfg: &LayerConfig, fan_in: usize, is_output: bool) -> Result<()> {
        let checked: std::result::Result<(), String> = match *self {
            LayerKind::Dense => Ok(()),
            LayerKind::Dropout { rate } => dropout::validate(cfg, rate, fan_in, is_output),
            LayerKind::BatchNorm { momentum, eps } => batchnorm::validate(cfg, momentum, eps, fan_in, is_output),
            LayerKind::Rbf { sigma, .. } => rbf::validate(cfg, sigma, is_output),
            #[cfg(test)]
            LayerKind::Scale => scale::validate(cfg, fan_in, is_output),
        };
        checked
            .map_err(|msg| Error::config(format!("layer {}:{} ({})", cfg.units, cfg.activation, self.type_name()), msg))
    }

    /// Whether the layer keeps its input width, so that a spec names no units for it (`dropout(0.2)`, `batchnorm`).
    pub fn keeps_width(&self) -> bool {
        matches!(self, LayerKind::Dropout { .. } | LayerKind::BatchNorm { .. })
    }

    /// The kind written as a layer spec item, without units (`dropout(0.2)`, `batchnorm`), for width-keeping kinds.
    pub fn spec(&self) -> Option<String> {
        match *self {
            LayerKind::Dropout { rate } => Some(format!("dropout({rate})")),
            LayerKind::BatchNorm { momentum, eps }
                if momentum == batchnorm::DEFAULT_MOMENTUM && eps == batchnorm::DEFAULT_EPS =>
            {
                Some("batchnorm".into())
            }
            LayerKind::BatchNorm { momentum, eps } => Some(format!("batchnorm(momentum={momentum},eps={eps})")),
            _ => None,
        }
    }

    /// The kind written in the activation place of a `units:KIND` spec item (`rbf(sigma=0.5)`),
    /// for kinds that take units but no activation.
    pub fn unit_spec(&self) -> Option<String> {
        match *self {
            LayerKind::Rbf { sigma, learn_sigma } => Some(rbf::spec(sigma, learn_sigma)),
            _ => None,
        }
    }

    /// Parses a kind named where a `units:…` item has its activation (`16:rbf(sigma=0.5,fixed)`);
    /// `None` when `s` names no such kind.
    pub fn parse_unit_kind(s: &str) -> Option<std::result::Result<LayerKind, String>> {
        let (name, args) = match split_call(s) {
            Ok(parts) => parts,
            Err(e) => return Some(Err(e)),
        };
        match name.as_str() {
            "rbf" | "radial" | "radial_basis" => {
                Some(rbf::parse_args(args.as_deref()).map(|(sigma, learn_sigma)| LayerKind::Rbf { sigma, learn_sigma }))
            }
            _ => None,
        }
    }

    /// Parses a width-keeping kind's spec head: `dropout(RATE)`, `batchnorm`, `batchnorm(momentum=M,eps=E)`;
    /// `None` when `head` names no such kind.
    pub fn parse_head(head: &str) -> Option<std::result::Result<LayerKind, String>> {
        let (name, args) = match split_call(head) {
            Ok(parts) => parts,
            Err(e) => return Some(Err(e)),
        };
        match name.as_str() {
            "dropout" => Some(match args.as_deref().map(str::trim) {
                Some(a) => a
                    .strip_prefix("rate=")
                    .unwrap_or(a)
                    .trim()
                    .parse::<f32>()
                    .map(|rate| LayerKind::Dropout { rate })
                    .map_err(|_| format!("'{a}' is not a dropout rate; write dropout(0.2)")),
                None => Err("dropout needs its rate, e.g. dropout(0.2)".into()),
            }),
            "batchnorm" | "batch_norm" | "batchnormalization" => {
                let (mut momentum, mut eps) = (batchnorm::DEFAULT_MOMENTUM, batchnorm::DEFAULT_EPS);
                for kv in args.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let parsed = kv.split_once('=').and_then(|(k, v)| Some((k.trim(), v.trim().parse::<f32>().ok()?)));
                    match parsed {
                        Some(("momentum", v)) => momentum = v,
                        Some(("eps", v)) => eps = v,
                        _ => return Some(Err(format!("'{kv}' is not momentum=M or eps=E"))),
                    }
                }
                Some(Ok(LayerKind::BatchNorm { momentum, eps }))
            }
            _ => None,
        }
    }
}

/// How a parameter tensor starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamInit {
    /// Drawn by the layer's [`crate::Init`] from the fan-in and fan-out (the one random draw).
    Weights {
        /// Inputs per unit.
        fan_in: usize,
        /// Outputs.
        fan_out: usize,
    },
    /// Every element set to this value.
    Const(f32),
}

/// One named parameter tensor a layer declares: the single description that the network, the
/// optimizer, checkpoints, the model file and gradient checks all read.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// The name within the layer (`weight`, `bias`, `alpha`, …): the model file stores it as `layers.{i}.{name}`.
    pub name: &'static str,
    /// The in-memory shape, row-major.
    pub shape: Vec<usize>,
    /// How it starts.
    pub init: ParamInit,
    /// Whether the optimizer updates it (running statistics are state, not trainable).
    pub trainable: bool,
    /// Whether the layer's L1/L2 penalties apply (Keras's kernel_regularizer: weights, not biases).
    pub penalized: bool,
    /// Whether the model file stores the transpose of a 2-D tensor (PyTorch's `[out, in]` weights).
    pub file_transposed: bool,
}

impl ParamSpec {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape the model file stores.
    pub fn file_shape(&self) -> Vec<usize> {
        let mut s = self.shape.clone();
        if self.file_transposed {
            s.reverse();
        }
        s
    }

    /// `data` (in memory order) as the model file stores it.
    pub fn to_file(&self, data: &[f32]) -> Vec<f32> {
        match (self.file_transposed, self.shape.as_slice()) {
            (true, &[r, c]) => transpose(data, r, c),
            _ => data.to_vec(),
        }
    }

    /// The model file's values back in memory order.
    pub fn from_file(&self, data: Vec<f32>) -> Vec<f32> {
        match (self.file_transposed, self.shape.as_slice()) {
            (true, &[r, c]) => transpose(&data, c, r),
            _ => data,
        }
    }
}

/// The transpose of a row-major `(rows, cols)` matrix.
fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; data.len()];
    for (r, row) in data.chunks_exact(cols.max(1)).enumerate().take(rows) {
        for (c, &v) in row.iter().enumerate() {
            t[c * rows + r] = v;
        }
    }
    t
}

/// One parameter tensor on a backend with its gradient and optimizer state.
pub(crate) struct Param<B: Backend> {
    /// The name within its layer.
    pub name: &'static str,
    pub value: B::Buf,
    pub grad: B::Buf,
    pub state: Vec<B::Buf>,
    pub len: usize,
    /// Whether the optimizer steps it (and it takes part in clipping and gradient checks).
    pub trainable: bool,
    /// Penalties apply to weights only, never to biases or PReLU slopes (as in Keras's kernel_regularizer).
    pub l1: f32,
    pub l2: f32,
}

impl<B: Backend> Param<B> {
    pub(crate) fn new(backend: &B, spec: &ParamSpec, host: &[f32], layer: &LayerConfig) -> Self {
        let (l1, l2) = if spec.penalized { (layer.l1, layer.l2) } else { (0.0, 0.0) };
        Self {
            name: spec.name,
            value: backend.upload(host),
            grad: backend.zeros(host.len()),
            state: Vec::new(),
            len: host.len(),
            trainable: spec.trainable,
            l1,
            l2,
        }
    }
}

/// A layer's computation on backend `B`: its activation buffers (allocated once for `max_rows`)
/// and its forward and backward passes over the parameters the network keeps for it, in the order
/// of its [`ParamSpec`]s.
pub(crate) trait LayerOps<B: Backend>: Send + Sync {
    /// `output = f(x)` over the first `rows` rows; `training` selects train-mode behaviour
    /// (dropout masks, batch statistics) where a kind has any.
    fn forward(&mut self, be: &B, params: &mut [Param<B>], x: &B::Buf, rows: usize, training: bool);

    /// The key of the next train-mode forward pass's random draws (dropout masks); kinds without
    /// randomness ignore it.
    fn set_noise_key(&mut self, _key: u64) {}

    /// Fixes the dropout mask (`keep[i]` for element `i` of the batch, row-major) instead of
    /// drawing it, or draws again with `None`; false for kinds without a mask.
    fn set_mask(&mut self, _be: &B, _keep: Option<&[bool]>) -> bool {
        false
    }

    /// The output `(max_rows, units)`.
    fn output(&self) -> &B::Buf;

    /// The output and `dL/d output`, borrowed together: the next layer reads one and writes the other.
    fn output_and_grad(&mut self) -> (&B::Buf, &mut B::Buf);

    /// From `dL/d output` (written by the next layer or the loss): every parameter's gradient,
    /// and `dL/dx` into `dx` unless this is the first layer.
    fn backward(&mut self, be: &B, params: &mut [Param<B>], x: &B::Buf, rows: usize, dx: Option<&mut B::Buf>);

    /// The summed loss of the last forward pass against `t` (see [`Backend::loss`]); with
    /// `grad_scale`, also the output gradient for [`LayerOps::backward`]. Only kinds that
    /// [`ModelConfig::validate`](crate::ModelConfig::validate) admits as output layers override it.
    #[allow(clippy::too_many_arguments)]
    fn loss(
        &mut self,
        _be: &B,
        _params: &mut [Param<B>],
        _loss: Loss,
        _rows: usize,
        _t: &B::Buf,
        _w: Option<&B::Buf>,
        _grad_scale: Option<f64>,
    ) -> f64 {
        unreachable!("ModelConfig::validate admits only layers with an activation as the output layer")
    }

    /// [`LayerOps::loss`] for a user-defined loss, row by row on the output after its
    /// activation; only output-capable kinds override it.
    #[allow(clippy::too_many_arguments)]
    fn custom_loss(
        &mut self,
        _be: &B,
        _params: &mut [Param<B>],
        _loss: &dyn CustomLoss,
        _rows: usize,
        _t: &B::Buf,
        _w: Option<&B::Buf>,
        _grad_scale: Option<f64>,
    ) -> f64 {
        unreachable!("ModelConfig::validate admits only layers with an activation as the output layer")
    }
}

/// The state of layer `cfg` on `backend` for batches of up to `max_rows` rows.
pub(crate) fn build<B: Backend>(
    backend: &B,
    cfg: &LayerConfig,
    fan_in: usize,
    max_rows: usize,
) -> Box<dyn LayerOps<B>> {
    match cfg.kind {
        LayerKind::Dense => Box::new(dense::Dense::new(backend, cfg, fan_in, max_rows)),
        LayerKind::Dropout { rate } => Box::new(dropout::Dropout::new(backend, cfg, rate, max_rows)),
        LayerKind::BatchNorm { momentum, eps } => {
            Box::new(batchnorm::BatchNorm::new(backend, cfg, momentum, eps, max_rows))
        }
        LayerKind::Rbf { learn_sigma, .. } => Box::new(rbf::Rbf::new(backend, cfg, fan_in, learn_sigma, max_rows)),
        #[cfg(test)]
        LayerKind::Scale => Box::new(scale::Scale::new(backend, cfg, max_rows)),
    }
}

/// Whether a kind may end the network (the loss needs an activation to pair with).
pub(crate) fn can_be_output(kind: LayerKind) -> bool {
    matches!(kind, LayerKind::Dense)
}

/// Splits a spec item `name(args)` (lower-cased, trimmed) into its name and its arguments, if any.
fn split_call(s: &str) -> std::result::Result<(String, Option<String>), String> {
    let s = s.trim().to_ascii_lowercase();
    match s.split_once('(') {
        Some((n, rest)) => match rest.strip_suffix(')') {
            Some(a) => Ok((n.trim().to_string(), Some(a.to_string()))),
            None => Err(format!("missing the closing ')' in '{s}'")),
        },
        None => Ok((s, None)),
    }
}
