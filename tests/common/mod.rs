//! Helpers shared by the integration tests.

use mlp::Activation;

/// Every activation, with non-default parameters where it has them.
#[allow(dead_code)] // Each test binary compiles this module and uses only some of it.
pub fn every_activation() -> Vec<Activation> {
    vec![
        Activation::Linear,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Prelu { init: 0.25 },
        Activation::Elu { alpha: 1.0 },
        Activation::Softplus,
        Activation::Softmax,
        Activation::Maxout { pieces: 3 },
    ]
}

/// Every activation a hidden layer may use: all but softmax.
#[allow(dead_code)]
pub fn hidden_activations() -> Vec<Activation> {
    every_activation().into_iter().filter(|a| *a != Activation::Softmax).collect()
}
