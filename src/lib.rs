//! mlp: multilayer perceptrons with hand-written backpropagation, fast on the CPU.
#![warn(missing_docs)]

pub mod backend;
pub mod data;
pub mod error;
pub mod fsio;
pub mod gradcheck;
pub mod loss;
pub mod metrics;
pub mod model_file;
pub mod nn;
pub mod onnx;
pub mod optim;
pub mod preprocess;
pub mod recipes;
pub mod rows;
pub mod tensor;
pub mod train;

pub use error::{Error, Result};
pub use loss::Loss;
pub use nn::{Activation, Init, LayerConfig, Model, ModelConfig};
pub use optim::{LrSchedule, OptimizerConfig};
pub use tensor::Matrix;
pub use train::{FitConfig, History, Predictor, Trainer};
