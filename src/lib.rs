//! mlp: multilayer perceptrons with hand-written backpropagation, fast on the CPU.
#![warn(missing_docs)]

pub mod data;
pub mod error;
pub mod preprocess;
pub mod tensor;

pub use error::{Error, Result};
pub use tensor::Matrix;
