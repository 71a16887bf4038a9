//! mlp: multilayer perceptrons with hand-written backpropagation, fast on the CPU.
#![deny(missing_docs)]

pub mod backend;
pub mod data;
pub mod error;
pub mod fsio;
pub mod gradcheck;
pub mod math;
pub mod metrics;
pub mod model_file;
pub mod nn;
pub mod onnx;
pub mod preprocess;
pub mod recipes;
pub mod rows;
pub mod select;
pub mod setup;
pub mod tensor;
pub mod train;

// The formulas' old homes stay valid paths: `mlp::loss`, `mlp::optim`.
pub use math::{loss, optim};

pub use error::{Error, Result};
pub use loss::Loss;
pub use nn::{Activation, Init, LayerConfig, Model, ModelConfig};
pub use optim::{LrSchedule, OptimizerConfig};
pub use tensor::Matrix;
pub use train::{FitConfig, History, Predictor, Trainer, custom};
