//! Stand-in for the CUDA backend when the crate is built without the `cuda` feature: same names, and an error that says how to get the real one.

use crate::error::{Error, Result};

/// The CUDA backend is not compiled in; [`Cuda::new`] always fails with a hint.
#[derive(Clone, Debug)]
pub struct Cuda(());

impl Cuda {
    /// Always an error: this build has no CUDA support.
    pub fn new(_device: usize) -> Result<Self> {
        Err(Error::Cuda(
            "this mlp was built without CUDA support: rebuild with `cargo build --release --features cuda`, \
             or train on the CPU with --device cpu"
                .into(),
        ))
    }

    /// Whether a usable GPU is present: never, in this build.
    pub fn is_available() -> bool {
        false
    }
}
