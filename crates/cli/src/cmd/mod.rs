//! One module per subcommand.

pub mod data;
pub mod evaluate;
// TODO(merge): `mod export;` once the onnx branch brings `mlp::onnx::export` (see export.rs and main.rs).
pub mod gradcheck;
pub mod plot;
pub mod predict;
pub mod summary;
pub mod train;
