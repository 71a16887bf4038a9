//! Dropout (inverted, as Keras and PyTorch): in train mode each input is kept with probability `1 − rate` and scaled by `1 / (1 − rate)`, else zeroed; in eval mode the layer is the identity.
//!
//! Masks are drawn from a counter-based hash of `(key, element)`, where the network derives the
//! key from the training seed, the layer and the optimizer step: the same mask for any thread
//! count, the same again when a run resumes, and the same for every evaluation within one step
//! (so full-batch optimizers and gradient checks see one fixed function). Tests can fix the mask
//! outright ([`crate::nn::Net::set_dropout_mask`]).

use super::{LayerOps, Param, ParamSpec};
use crate::backend::Backend;
use crate::nn::model::LayerConfig;

pub(super) fn specs(_cfg: &LayerConfig, _fan_in: usize) -> Vec<ParamSpec> {
    Vec::new()
}

pub(super) fn validate(cfg: &LayerConfig, rate: f32, fan_in: usize, is_output: bool) -> Result<(), String> {
    if !(0.0..1.0).contains(&rate) {
        return Err(format!("the dropout rate must be in [0, 1), got {rate}"));
    }
    if cfg.units != fan_in {
        return Err(format!("dropout keeps its input width {fan_in}; write dropout({rate})"));
    }
    if cfg.activation != crate::nn::Activation::Linear {
        return Err("dropout applies no activation; put it on the layer before".into());
    }
    if is_output {
        return Err("dropout cannot be the output layer".into());
    }
    Ok(())
}

/// SplitMix64's finalizer: a bijective mix of 64 bits.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(super) struct Dropout<B: Backend> {
    rate: f32,
    units: usize,
    /// `1/(1 − rate)` where kept, 0 where dropped, `(max_rows, units)`.
    mask: B::Buf,
    a: B::Buf,
    da: B::Buf,
    key: u64,
    /// A mask set from outside, used instead of drawing one.
    fixed: bool,
    /// Whether the last forward pass was in train mode (backward follows it).
    training: bool,
    max_rows: usize,
}

impl<B: Backend> Dropout<B> {
    pub(super) fn new(be: &B, cfg: &LayerConfig, rate: f32, max_rows: usize) -> Self {
        let n = max_rows * cfg.units;
        Self {
            rate,
            units: cfg.units,
            mask: be.zeros(n),
            a: be.zeros(n),
            da: be.zeros(n),
            key: 0,
            fixed: false,
            training: false,
            max_rows,
        }
    }

    fn draw(&mut self, be: &B, n: usize) {
        let scale = 1.0 / (1.0 - self.rate as f64);
        let rate = self.rate as f64;
        for i in 0..n {
            // The top 53 bits as a uniform number in [0, 1).
            let u = (mix(self.key ^ mix(i as u64)) >> 11) as f64 / (1u64 << 53) as f64;
            be.set(&mut self.mask, i, if u >= rate { scale } else { 0.0 });
        }
    }
}

impl<B: Backend> LayerOps<B> for Dropout<B> {
    fn forward(&mut self, be: &B, _params: &mut [Param<B>], x: &B::Buf, rows: usize, training: bool) {
        let n = rows * self.units;
        self.training = training && self.rate > 0.0;
        if self.training {
            if !self.fixed {
                self.draw(be, n);
            }
            be.mul_elem(n, x, &self.mask, &mut self.a);
        } else {
            be.copy(x, &mut self.a, n);
        }
    }

    fn output(&self) -> &B::Buf {
        &self.a
    }

    fn output_and_grad(&mut self) -> (&B::Buf, &mut B::Buf) {
        (&self.a, &mut self.da)
    }

    fn backward(&mut self, be: &B, _params: &mut [Param<B>], _x: &B::Buf, rows: usize, dx: Option<&mut B::Buf>) {
        if let Some(dx) = dx {
            let n = rows * self.units;
            if self.training {
                be.mul_elem(n, &self.da, &self.mask, dx);
            } else {
                be.copy(&self.da, dx, n);
            }
        }
    }

    fn set_noise_key(&mut self, key: u64) {
        self.key = key;
    }

    fn set_mask(&mut self, be: &B, keep: Option<&[bool]>) -> bool {
        match keep {
            Some(keep) => {
                assert!(keep.len() <= self.max_rows * self.units, "dropout mask larger than the batch buffers");
                let scale = 1.0 / (1.0 - self.rate as f64);
                for (i, &k) in keep.iter().enumerate() {
                    be.set(&mut self.mask, i, if k { scale } else { 0.0 });
                }
                self.fixed = true;
            }
            None => self.fixed = false,
        }
        true
    }
}
