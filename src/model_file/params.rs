//! A model's layer parameters as safetensors tensors and back: the names (`layers.{i}.{name}`),
//! shapes and layouts come from each layer kind's [`ParamSpec`](crate::nn::ParamSpec)s (a dense
//! layer's `weight` is stored `[out, in]`, the transpose of the in-memory weight), in the order
//! that is also [`crate::nn::Net`]'s parameter order (checkpoints number their optimizer state by it).

use super::container::{F32Tensor, RawFile};
use crate::error::Result;
use crate::nn::{Model, ModelConfig};

/// Appends the tensors of `model` under `prefix` (`""` or `"best."`), in parameter order.
pub(super) fn push_model(tensors: &mut Vec<(String, F32Tensor)>, prefix: &str, model: &Model) {
    for (name, shape, data) in model.file_tensors() {
        tensors.push((format!("{prefix}{name}"), F32Tensor::new(shape, data)));
    }
}

/// The model under `prefix` (`""` or `"best."`), recording which tensors were used.
pub(super) fn read_model(raw: &RawFile, prefix: &str, config: &ModelConfig, used: &mut Vec<String>) -> Result<Model> {
    Model::from_file_tensors(config, |name, shape| {
        let full = format!("{prefix}{name}");
        let v = raw.values(&full, shape)?;
        used.push(full);
        Ok(v)
    })
}
