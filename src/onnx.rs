//! ONNX export: a trained [`Model`] (optionally with its input standardization) as an ONNX `ModelProto`.
//!
//! # Brief overview
//!
//! [`export`] builds the graph and encodes it; [`write()`] puts the bytes on disk atomically. The file
//! targets IR version [`IR_VERSION`] and the default-domain opset [`OPSET`]; tests/onnx.rs runs
//! every activation through tract and compares it with [`Model::predict`].
//!
//! | Piece of the model                    | ONNX nodes                                                       |
//! |---------------------------------------|------------------------------------------------------------------|
//! | scaling `(mean, std)`                 | `Sub(input, mean)` → `Div(·, std)`                               |
//! | dense layer                           | `Gemm(x, W, b, transB=1)` with `W` stored `[out, in]` (PyTorch)  |
//! | `linear`                              | nothing                                                          |
//! | `relu`, `sigmoid`, `tanh`, `softplus` | `Relu`, `Sigmoid`, `Tanh`, `Softplus`                            |
//! | `leaky_relu(α)`, `elu(α)`             | `LeakyRelu` / `Elu` with attribute `alpha`                       |
//! | `prelu`                               | `PRelu` with the learned slopes as a `[units]` initializer       |
//! | `softmax`                             | `Softmax(axis=-1)`                                               |
//! | `maxout(k)`                           | `Reshape(·, [-1, units, k])` → `ReduceMax(axes=[2], keepdims=0)` |
//! | radial basis units (`rbf`)            | `ReduceSumSquare` + `Gemm(x, −2C, ‖c‖²)` → `Add` → `Relu` → `Mul(−1/σ²)` → `Exp` |
//!
//! The graph's input is `input`, float `[N, input_dim]`, and its output `output`, float
//! `[N, output_dim]`, with `N` a symbolic batch size.
//!
//! # Example
//!
//! ```no_run
//! use mlp::{Activation, ModelConfig};
//! let model = ModelConfig::new(784).dense(512, Activation::Relu).dense(10, Activation::Softmax).init(0)?;
//! let bytes = mlp::onnx::export(&model, None)?;
//! mlp::onnx::write(std::path::Path::new("mnist.onnx"), &bytes)?;
//! # Ok::<(), mlp::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::nn::{Activation, LayerConfig, LayerKind, LayerParams, Model};
use prost::Message as _;
use std::path::Path;

/// The ONNX IR version the file declares: 8 shipped with opset 17 (onnx 1.12).
pub const IR_VERSION: i64 = 8;

/// The default-domain opset the graph is written against.
///
/// 17 rather than 18 because `ReduceMax` still takes `axes` as an attribute there (one initializer
/// fewer per maxout layer), and older runtimes (onnxruntime ≥ 1.12) can read it.
pub const OPSET: i64 = 17;

/// The ONNX protobuf messages, restricted to the fields the exporter writes.
///
/// Field numbers are those of `onnx/onnx.proto` (checked against the prost code that tract-onnx
/// generates from it). onnx.proto is proto2, where a scalar set to its default value is still
/// present on the wire; prost drops plain scalars equal to their default, so the scalars that can
/// legitimately be 0 (`AttributeProto.f`, `.i`) are `optional`: onnx's checker rejects an
/// attribute with no value field.
mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        #[prost(int64, tag = "1")]
        pub ir_version: i64,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OperatorSetIdProto>,
        #[prost(string, tag = "2")]
        pub producer_name: String,
        #[prost(string, tag = "3")]
        pub producer_version: String,
        #[prost(string, tag = "6")]
        pub doc_string: String,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OperatorSetIdProto {
        #[prost(string, tag = "1")]
        pub domain: String,
        #[prost(int64, tag = "2")]
        pub version: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<TensorProto>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfoProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeProto {
        #[prost(string, repeated, tag = "1")]
        pub input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub output: Vec<String>,
        #[prost(string, tag = "3")]
        pub name: String,
        #[prost(string, tag = "4")]
        pub op_type: String,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(float, optional, tag = "2")]
        pub f: Option<f32>,
        #[prost(int64, optional, tag = "3")]
        pub i: Option<i64>,
        #[prost(int64, repeated, packed = "false", tag = "8")]
        pub ints: Vec<i64>,
        /// `AttributeProto.AttributeType`: FLOAT = 1, INT = 2, INTS = 7.
        #[prost(int32, tag = "20")]
        pub r#type: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        #[prost(int64, repeated, packed = "false", tag = "1")]
        pub dims: Vec<i64>,
        /// `TensorProto.DataType`: FLOAT = 1, INT64 = 7.
        #[prost(int32, tag = "2")]
        pub data_type: i32,
        #[prost(string, tag = "8")]
        pub name: String,
        #[prost(bytes = "vec", tag = "9")]
        pub raw_data: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfoProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<TypeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProto {
        #[prost(oneof = "type_proto::Value", tags = "1")]
        pub value: Option<type_proto::Value>,
    }

    pub mod type_proto {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(message, tag = "1")]
            TensorType(Tensor),
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Tensor {
            /// A `TensorProto.DataType`.
            #[prost(int32, tag = "1")]
            pub elem_type: i32,
            #[prost(message, optional, tag = "2")]
            pub shape: Option<super::TensorShapeProto>,
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<tensor_shape_proto::Dimension>,
    }

    pub mod tensor_shape_proto {
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Dimension {
            #[prost(oneof = "Value", tags = "1, 2")]
            pub value: Option<Value>,
        }

        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(int64, tag = "1")]
            DimValue(i64),
            #[prost(string, tag = "2")]
            DimParam(String),
        }
    }
}

const FLOAT: i32 = 1;
const INT64: i32 = 7;
const ATTR_FLOAT: i32 = 1;
const ATTR_INT: i32 = 2;
const ATTR_INTS: i32 = 7;

/// The graph's input and output, and its symbolic batch dimension.
const INPUT: &str = "input";
const OUTPUT: &str = "output";
const BATCH: &str = "N";

/// Encodes `model` as an ONNX model (protobuf bytes), ready for [`write()`].
///
/// With `scaling = Some((mean, std))`, one pair per input feature, the graph first computes
/// `(x − mean) / std`, so the exported model takes raw (encoded but unscaled) features, the same
/// rows the CLI's `predict` reads. Without it, the graph takes the rows the model was trained on.
///
/// # Errors
/// [`Error::Config`] if `mean` or `std` does not have one value per input feature, or if a value
/// is not finite or a `std` is 0; [`Error::Data`] (from [`Model::check`]) if the weights do not
/// fit the architecture.
pub fn export(model: &Model, scaling: Option<(&[f32], &[f32])>) -> Result<Vec<u8>> {
    model.check()?;
    let cfg = &model.config;
    let mut g = GraphBuilder::default();
    let mut x = INPUT.to_string();

    if let Some((mean, std)) = scaling {
        check_scaling(cfg.input_dim, mean, std)?;
        let m = g.f32_init("scaling.mean", &[mean.len()], mean);
        let s = g.f32_init("scaling.std", &[std.len()], std);
        x = g.node("Sub", "scaling.sub", vec![x, m], vec![]);
        x = g.node("Div", "scaling.div", vec![x, s], vec![]);
    }

    for (i, (l, p)) in cfg.layers.iter().zip(&model.params).enumerate() {
        let name = format!("dense_{}", i + 1);
        match l.kind {
            LayerKind::Dense => {}
            // Inference-time dropout is the identity: nothing to write.
            LayerKind::Dropout { .. } => continue,
            LayerKind::BatchNorm { eps, .. } => {
                // ONNX's BatchNormalization in inference mode is BatchNorm1d's eval mode.
                let name = format!("batchnorm_{}", i + 1);
                let u = l.units;
                let ins = ["weight", "bias", "running_mean", "running_var"]
                    .map(|t| g.f32_init(&format!("{name}.{t}"), &[u], p.values(t)));
                let [scale, bias, mean, var] = ins;
                x = g.node(
                    "BatchNormalization",
                    &format!("{name}.bn"),
                    vec![x, scale, bias, mean, var],
                    vec![attr_float("epsilon", eps)],
                );
                x = activation_nodes(&mut g, &name, l, p, x);
                continue;
            }
            LayerKind::Rbf { .. } => {
                x = rbf_nodes(&mut g, &format!("rbf_{}", i + 1), cfg.layer_input(i), l.units, p, x);
                continue;
            }
            #[allow(unreachable_patterns)] // the test-only kinds
            _ => {
                return Err(Error::Data(format!(
                    "layer {} is a {} layer, which the ONNX export does not write yet",
                    i + 1,
                    l.kind.type_name()
                )));
            }
        }
        let (fan_in, width) = (cfg.layer_input(i), l.pre_width());
        let (weight, bias) = (p.values("weight"), p.values("bias"));
        // PyTorch's [out, in] layout with transB=1: what torch.onnx.export writes, so tools that
        // pattern-match exported Linear layers recognize ours.
        let mut w_t = vec![0.0f32; fan_in * width];
        for (r, row) in weight.chunks_exact(width).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                w_t[c * fan_in + r] = v;
            }
        }
        let w = g.f32_init(&format!("{name}.weight"), &[width, fan_in], &w_t);
        let b = g.f32_init(&format!("{name}.bias"), &[width], bias);
        x = g.node("Gemm", &format!("{name}.gemm"), vec![x, w, b], vec![attr_int("transB", 1)]);

        x = activation_nodes(&mut g, &name, l, p, x);
    }

    // Renaming the last node's output, rather than threading an "is last" flag through every
    // branch, works because the last node pushed is always the one that produced `x`.
    match g.nodes.last_mut() {
        Some(last) => last.output[0] = OUTPUT.to_string(),
        None => unreachable!("check() guarantees at least one layer, hence one Gemm"),
    }

    let graph = pb::GraphProto {
        node: g.nodes,
        name: "mlp".to_string(),
        initializer: g.inits,
        input: vec![value_info(INPUT, cfg.input_dim)],
        output: vec![value_info(OUTPUT, cfg.output_dim())],
    };
    let spec: Vec<String> = cfg
        .layers
        .iter()
        .map(|l| match (l.kind.spec(), l.kind.unit_spec()) {
            (Some(k), _) => format!("{k}:{}", l.activation),
            (None, Some(k)) => format!("{}:{k}", l.units),
            (None, None) => format!("{}:{}", l.units, l.activation),
        })
        .collect();
    let doc = format!(
        "mlp {} inputs → {}{}",
        cfg.input_dim,
        spec.join(","),
        if scaling.is_some() { "; inputs are standardized inside the graph" } else { "" }
    );
    let proto = pb::ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "mlp".to_string(),
        producer_version: env!("CARGO_PKG_VERSION").to_string(),
        doc_string: doc,
        graph: Some(graph),
    };
    Ok(proto.encode_to_vec())
}

/// Radial basis units on `x`: `d² = Relu(‖x‖² + Gemm(x, −2·C, ‖c‖²))` (the clamp the library applies
/// against roundoff), then `h = Exp(d² · (−1/σ²))`; returns the output's name.
fn rbf_nodes(g: &mut GraphBuilder, name: &str, fan_in: usize, units: usize, p: &LayerParams, x: String) -> String {
    let (centres, sigma) = (p.values("weight"), p.values("sigma"));
    // −2·Cᵀ in PyTorch's [out, in] layout (transB=1), as the dense layers write theirs.
    let mut w_t = vec![0.0f32; fan_in * units];
    let mut norms = vec![0.0f32; units];
    for (k, row) in centres.chunks_exact(units).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            w_t[j * fan_in + k] = -2.0 * v;
            norms[j] += v * v;
        }
    }
    let inv: Vec<f32> = sigma.iter().map(|s| -1.0 / (s * s)).collect();
    let w = g.f32_init(&format!("{name}.centres_x_minus2"), &[units, fan_in], &w_t);
    let c = g.f32_init(&format!("{name}.centre_norms"), &[units], &norms);
    let k = g.f32_init(&format!("{name}.minus_inv_sigma2"), &[units], &inv);
    let xn = g.node(
        "ReduceSumSquare",
        &format!("{name}.input_norms"),
        vec![x.clone()],
        vec![attr_ints("axes", &[1]), attr_int("keepdims", 1)],
    );
    let cross = g.node("Gemm", &format!("{name}.gemm"), vec![x, w, c], vec![attr_int("transB", 1)]);
    let d2 = g.node("Add", &format!("{name}.d2"), vec![cross, xn], vec![]);
    let d2 = g.node("Relu", &format!("{name}.clamp"), vec![d2], vec![]);
    let z = g.node("Mul", &format!("{name}.scaled"), vec![d2, k], vec![]);
    g.node("Exp", &format!("{name}.exp"), vec![z], vec![])
}

/// The node(s) of layer `l`'s activation on `x`; returns the output's name.
fn activation_nodes(g: &mut GraphBuilder, name: &str, l: &LayerConfig, p: &LayerParams, x: String) -> String {
    let act = format!("{name}.{}", op_suffix(&l.activation));
    match l.activation {
        Activation::Linear => x,
        Activation::Sigmoid => g.node("Sigmoid", &act, vec![x], vec![]),
        Activation::Tanh => g.node("Tanh", &act, vec![x], vec![]),
        Activation::Relu => g.node("Relu", &act, vec![x], vec![]),
        Activation::Softplus => g.node("Softplus", &act, vec![x], vec![]),
        Activation::LeakyRelu { alpha } => g.node("LeakyRelu", &act, vec![x], vec![attr_float("alpha", alpha)]),
        Activation::Elu { alpha } => g.node("Elu", &act, vec![x], vec![attr_float("alpha", alpha)]),
        Activation::Prelu { .. } => {
            // check() guarantees the slopes exist for a PReLU layer.
            let alpha = p.values("alpha");
            let slope = g.f32_init(&format!("{name}.alpha"), &[alpha.len()], alpha);
            g.node("PRelu", &act, vec![x, slope], vec![])
        }
        // Opset ≥ 13 normalizes over `axis` alone, which for a 2-D input is the row-wise softmax.
        Activation::Softmax => g.node("Softmax", &act, vec![x], vec![attr_int("axis", -1)]),
        Activation::Maxout { pieces } => {
            // Unit u's pieces are the contiguous columns u·k .. (u+1)·k, so a row-major reshape
            // puts them on the last axis. -1 keeps the batch size symbolic.
            let shape = g.i64_init(&format!("{name}.maxout_shape"), &[-1, l.units as i64, pieces as i64]);
            let r = g.node("Reshape", &format!("{name}.maxout_reshape"), vec![x, shape], vec![]);
            g.node("ReduceMax", &act, vec![r], vec![attr_ints("axes", &[2]), attr_int("keepdims", 0)])
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, then a rename, so
/// a reader never sees half a model and a failed write leaves any previous file intact
/// ([`crate::fsio::write_atomic`], which also writes symlinks through and devices directly).
///
/// # Errors
/// An error naming the file that could not be written or renamed.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsio::write_atomic(path, bytes)
}

fn check_scaling(input_dim: usize, mean: &[f32], std: &[f32]) -> Result<()> {
    let bad = |msg: String| Err(Error::config("ONNX input scaling", msg));
    if mean.len() != input_dim || std.len() != input_dim {
        return bad(format!(
            "expected one mean and one std per input feature ({input_dim}), got {} means and {} stds; \
             pass the scaler fitted for this model",
            mean.len(),
            std.len()
        ));
    }
    if let Some(f) = mean.iter().position(|v| !v.is_finite()) {
        return bad(format!("the mean of feature {f} is {}; it must be finite", mean[f]));
    }
    if let Some(f) = std.iter().position(|&v| !v.is_finite() || v == 0.0) {
        return bad(format!(
            "the std of feature {f} is {}; it must be finite and non-zero (use 1 for a constant feature)",
            std[f]
        ));
    }
    Ok(())
}

/// The suffix naming an activation node: the ONNX op in lower case, for readable graphs in Netron.
fn op_suffix(act: &Activation) -> &'static str {
    match act {
        Activation::Linear => "linear",
        Activation::Sigmoid => "sigmoid",
        Activation::Tanh => "tanh",
        Activation::Relu => "relu",
        Activation::LeakyRelu { .. } => "leaky_relu",
        Activation::Prelu { .. } => "prelu",
        Activation::Elu { .. } => "elu",
        Activation::Softplus => "softplus",
        Activation::Softmax => "softmax",
        Activation::Maxout { .. } => "maxout",
    }
}

/// Nodes and initializers in the order they are added; names double as tensor names.
#[derive(Default)]
struct GraphBuilder {
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
}

impl GraphBuilder {
    /// Adds a node whose single output is named after the node; returns that name.
    fn node(&mut self, op: &str, name: &str, inputs: Vec<String>, attribute: Vec<pb::AttributeProto>) -> String {
        self.nodes.push(pb::NodeProto {
            input: inputs,
            output: vec![name.to_string()],
            name: name.to_string(),
            op_type: op.to_string(),
            attribute,
        });
        name.to_string()
    }

    fn f32_init(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.init(name, FLOAT, dims.iter().map(|&d| d as i64).collect(), raw)
    }

    /// A 1-D int64 initializer (shape operands).
    fn i64_init(&mut self, name: &str, data: &[i64]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.init(name, INT64, vec![data.len() as i64], raw)
    }

    fn init(&mut self, name: &str, data_type: i32, dims: Vec<i64>, raw_data: Vec<u8>) -> String {
        // raw_data is little-endian by the ONNX spec, whatever the host.
        self.inits.push(pb::TensorProto { dims, data_type, name: name.to_string(), raw_data });
        name.to_string()
    }
}

fn attr_int(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.to_string(), i: Some(i), r#type: ATTR_INT, ..Default::default() }
}

fn attr_float(name: &str, f: f32) -> pb::AttributeProto {
    pb::AttributeProto { name: name.to_string(), f: Some(f), r#type: ATTR_FLOAT, ..Default::default() }
}

fn attr_ints(name: &str, ints: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto { name: name.to_string(), ints: ints.to_vec(), r#type: ATTR_INTS, ..Default::default() }
}

/// A float tensor `[N, width]` with `N` symbolic.
fn value_info(name: &str, width: usize) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, Value};
    let dim = vec![
        Dimension { value: Some(Value::DimParam(BATCH.to_string())) },
        Dimension { value: Some(Value::DimValue(width as i64)) },
    ];
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: FLOAT,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ModelConfig;

    #[test]
    fn rejects_bad_scaling() {
        let model = ModelConfig::new(3).dense(2, Activation::Relu).init(0).unwrap();
        let ok = [0.0f32; 3];
        let e = export(&model, Some((&ok[..2], &[1.0; 3]))).unwrap_err();
        assert!(matches!(e, Error::Config { .. }) && e.to_string().contains("2 means"), "{e}");
        let e = export(&model, Some((&ok, &[1.0, 0.0, 1.0]))).unwrap_err().to_string();
        assert!(e.contains("std of feature 1 is 0"), "{e}");
        let e = export(&model, Some((&[0.0, f32::NAN, 0.0], &[1.0; 3]))).unwrap_err().to_string();
        assert!(e.contains("mean of feature 1"), "{e}");
    }

    #[test]
    fn zero_valued_attributes_are_on_the_wire() {
        // keepdims=0 must be encoded: onnx's checker rejects an attribute with no value field.
        let a = attr_int("keepdims", 0).encode_to_vec();
        assert_eq!(a, [0x0a, 8, b'k', b'e', b'e', b'p', b'd', b'i', b'm', b's', 0x18, 0, 0xa0, 0x01, 2]);
    }

    #[test]
    fn write_is_atomic_and_cleans_up() {
        let dir = std::env::temp_dir().join(format!("mlp-onnx-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.onnx");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("m.onnx")]);
        let e = write(&dir.join("missing/m.onnx"), b"x").unwrap_err().to_string();
        assert!(e.contains("does not exist") && e.contains("create it first"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
