//! A model's layer parameters as safetensors tensors and back: the one place that knows the
//! tensor names (`layers.{i}.weight` `[out, in]`, the transpose of the in-memory weight,
//! `.bias`, `.alpha`) and their order, which is also [`crate::nn::Net`]'s parameter order
//! (checkpoints number their optimizer state by it).

use super::container::{F32Tensor, RawFile};
use crate::error::Result;
use crate::nn::{LayerParams, Model, ModelConfig};
use crate::tensor::Matrix;

/// Appends the tensors of `model` under `prefix` (`""` or `"best."`), in parameter order.
pub(super) fn push_model(tensors: &mut Vec<(String, F32Tensor)>, prefix: &str, model: &Model) {
    for (i, p) in model.params.iter().enumerate() {
        let t = p.weight.transpose();
        tensors.push((format!("{prefix}layers.{i}.weight"), F32Tensor::new(vec![t.rows, t.cols], t.data)));
        tensors.push((format!("{prefix}layers.{i}.bias"), F32Tensor::new(vec![p.bias.len()], p.bias.iter().copied())));
        if let Some(a) = &p.alpha {
            tensors.push((format!("{prefix}layers.{i}.alpha"), F32Tensor::new(vec![a.len()], a.iter().copied())));
        }
    }
}

/// The model under `prefix` (`""` or `"best."`), recording which tensors were used.
pub(super) fn read_model(raw: &RawFile, prefix: &str, config: &ModelConfig, used: &mut Vec<String>) -> Result<Model> {
    let mut params = Vec::with_capacity(config.layers.len());
    for (i, l) in config.layers.iter().enumerate() {
        let (fan_in, width) = (config.layer_input(i), l.pre_width());
        let w_name = format!("{prefix}layers.{i}.weight");
        let w = Matrix::new(width, fan_in, raw.values(&w_name, &[width, fan_in])?).transpose();
        let b_name = format!("{prefix}layers.{i}.bias");
        let bias = raw.values(&b_name, &[width])?;
        used.extend([w_name, b_name]);
        let alpha = if l.activation.has_alpha() {
            let a_name = format!("{prefix}layers.{i}.alpha");
            let a = raw.values(&a_name, &[l.units])?;
            used.push(a_name);
            Some(a)
        } else {
            None
        };
        params.push(LayerParams { weight: w, bias, alpha });
    }
    Ok(Model { config: config.clone(), params })
}
