//! Layers and networks: activations, initializers, the model's configuration and weights, and the forward and backward passes.

pub use crate::math::activation;
pub mod init;
pub(crate) mod model;
pub(crate) mod net;

pub use activation::Activation;
pub use init::Init;
pub mod layers;
pub use layers::{LayerKind, ParamInit, ParamSpec};
pub use model::{LayerConfig, LayerParams, Model, ModelConfig, ParamTensor};
pub use net::Net;
