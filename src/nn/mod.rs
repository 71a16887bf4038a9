//! Layers and networks: activations, initializers, the model's configuration and weights, and the forward and backward passes.

pub use crate::math::activation;
pub mod init;
mod model;
pub(crate) mod net;

pub use activation::Activation;
pub use init::Init;
pub use model::{LayerConfig, LayerParams, Model, ModelConfig};
pub use net::Net;
