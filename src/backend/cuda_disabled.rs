//! Stand-in for the CUDA backend when the crate is built without the `cuda` feature: same names, and an error that says how to get the real one.
//!
//! [`Cuda`] also implements [`Backend`], so that code generic over the backend (the CLI's single
//! `match` on the device) compiles in both builds. Its constructor never succeeds, so its methods
//! cannot be reached; they say so (candle's dummy CUDA backend does the same).

use super::Backend;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::nn::Activation;
use crate::optim::UpdateRule;

/// The CUDA backend is not compiled in; [`Cuda::new`] always fails with a hint.
#[derive(Clone, Debug)]
pub struct Cuda(());

const UNREACHABLE: &str = "Cuda cannot be constructed without the cuda feature";

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

    /// Why no GPU can be used: this build has no CUDA support.
    pub fn unavailable_reason() -> Option<String> {
        Some("built without the cuda feature".into())
    }

    /// Accepted for API parity with the real backend; there is nothing to switch.
    pub fn with_tf32(self, _on: bool) -> Self {
        self
    }
}

impl Backend for Cuda {
    type Buf = Vec<f32>;

    fn name(&self) -> String {
        unreachable!("{UNREACHABLE}")
    }
    fn zeros(&self, _n: usize) -> Vec<f32> {
        unreachable!("{UNREACHABLE}")
    }
    fn upload(&self, _src: &[f32]) -> Vec<f32> {
        unreachable!("{UNREACHABLE}")
    }
    fn write(&self, _src: &[f32], _dst: &mut Vec<f32>) {
        unreachable!("{UNREACHABLE}")
    }
    fn read(&self, _src: &Vec<f32>, _out: &mut [f32]) {
        unreachable!("{UNREACHABLE}")
    }
    fn get(&self, _buf: &Vec<f32>, _i: usize) -> f64 {
        unreachable!("{UNREACHABLE}")
    }
    fn set(&self, _buf: &mut Vec<f32>, _i: usize, _v: f64) {
        unreachable!("{UNREACHABLE}")
    }
    fn copy(&self, _src: &Vec<f32>, _dst: &mut Vec<f32>, _n: usize) {
        unreachable!("{UNREACHABLE}")
    }
    fn fill_zero(&self, _buf: &mut Vec<f32>, _n: usize) {
        unreachable!("{UNREACHABLE}")
    }
    fn gather_rows(&self, _src: &Vec<f32>, _cols: usize, _idx: &[u32], _dst: &mut Vec<f32>) {
        unreachable!("{UNREACHABLE}")
    }
    fn matmul(
        &self,
        _m: usize,
        _n: usize,
        _k: usize,
        _a: &Vec<f32>,
        _ta: bool,
        _b: &Vec<f32>,
        _tb: bool,
        _c: &mut Vec<f32>,
        _accumulate: bool,
    ) {
        unreachable!("{UNREACHABLE}")
    }
    fn bias_act_forward(
        &self,
        _act: &Activation,
        _rows: usize,
        _units: usize,
        _z: &mut Vec<f32>,
        _bias: &Vec<f32>,
        _alpha: Option<&Vec<f32>>,
        _a: &mut Vec<f32>,
    ) {
        unreachable!("{UNREACHABLE}")
    }
    fn act_backward(
        &self,
        _act: &Activation,
        _rows: usize,
        _units: usize,
        _z: &Vec<f32>,
        _a: &Vec<f32>,
        _da: &Vec<f32>,
        _alpha: Option<&Vec<f32>>,
        _dz: &mut Vec<f32>,
        _dalpha: Option<&mut Vec<f32>>,
    ) {
        unreachable!("{UNREACHABLE}")
    }
    fn sum_rows(&self, _rows: usize, _cols: usize, _dz: &Vec<f32>, _db: &mut Vec<f32>) {
        unreachable!("{UNREACHABLE}")
    }
    fn loss(
        &self,
        _loss: Loss,
        _act: &Activation,
        _rows: usize,
        _cols: usize,
        _z: &Vec<f32>,
        _a: &Vec<f32>,
        _t: &Vec<f32>,
        _w: Option<&Vec<f32>>,
        _grad: Option<(&mut Vec<f32>, f64)>,
    ) -> f64 {
        unreachable!("{UNREACHABLE}")
    }
    fn update(
        &self,
        _rule: &UpdateRule,
        _n: usize,
        _param: &mut Vec<f32>,
        _grad: &Vec<f32>,
        _state: &mut [Vec<f32>],
    ) -> f64 {
        unreachable!("{UNREACHABLE}")
    }
    fn sum_squares(&self, _buf: &Vec<f32>, _n: usize) -> f64 {
        unreachable!("{UNREACHABLE}")
    }
    fn scale(&self, _buf: &mut Vec<f32>, _n: usize, _s: f32) {
        unreachable!("{UNREACHABLE}")
    }
    fn all_finite(&self, _buf: &Vec<f32>, _n: usize) -> bool {
        unreachable!("{UNREACHABLE}")
    }
}
