//! The dead-unit monitor: per hidden layer and epoch, the fraction of units whose output was dead on every training row of the epoch — exactly zero for ReLU, saturated for sigmoid and tanh.
//!
//! It reads each watched layer's output after the training forward pass of every batch into a
//! host buffer allocated once, and keeps one "seen alive" flag per unit: no allocation in the
//! loop, and the result depends only on the outputs, so it is the same for any thread count.
//! The fractions go into the epoch's record as `dead_units_{layer}` (1-based layer number).

use crate::backend::Backend;
use crate::math::activation::Activation;
use crate::nn::{LayerKind, ModelConfig, Net};
use std::collections::BTreeMap;

/// The fraction of dead units in a hidden layer above which the CLI warns (the notebook's advice).
pub const DEFAULT_DEAD_WARN: f64 = 0.4;

/// A sigmoid output within this distance of 0 or 1, or a tanh output within it of ±1, counts as
/// saturated: its derivative is below 1% of its largest.
const SATURATION: f32 = 0.01;

/// The record key of layer `layer`'s (0-based) dead fraction.
pub fn dead_units_key(layer: usize) -> String {
    format!("dead_units_{}", layer + 1)
}

/// Whether an output of `act` is dead (`None`: `act` is not watched, its units cannot die so).
fn dead_test(act: &Activation) -> Option<fn(f32) -> bool> {
    match act {
        Activation::Relu => Some(|a: f32| a == 0.0),
        Activation::Sigmoid => Some(|a: f32| !(SATURATION..=1.0 - SATURATION).contains(&a)),
        Activation::Tanh => Some(|a: f32| a.abs() >= 1.0 - SATURATION),
        _ => None,
    }
}

struct Watched {
    layer: usize,
    units: usize,
    dead: fn(f32) -> bool,
    /// Whether each unit has had a live output this epoch.
    alive: Vec<bool>,
}

/// The monitor of one training run.
pub(crate) struct DeadUnits {
    layers: Vec<Watched>,
    /// One batch of one layer's outputs, `(max_rows, widest watched layer)`.
    host: Vec<f32>,
}

impl DeadUnits {
    /// Watches the hidden dense and batch-normalization layers of `cfg` whose activation can die,
    /// for batches of up to `max_rows` rows.
    pub(crate) fn new(cfg: &ModelConfig, max_rows: usize) -> Self {
        let hidden = cfg.layers.len().saturating_sub(1);
        let layers: Vec<Watched> = cfg.layers[..hidden]
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l.kind, LayerKind::Dense | LayerKind::BatchNorm { .. }))
            .filter_map(|(i, l)| {
                dead_test(&l.activation).map(|dead| Watched {
                    layer: i,
                    units: l.units,
                    dead,
                    alive: vec![false; l.units],
                })
            })
            .collect();
        let widest = layers.iter().map(|w| w.units).max().unwrap_or(0);
        Self { host: vec![0.0; if widest > 0 { max_rows * widest } else { 0 }], layers }
    }

    /// Marks the units that had a live output in the last forward pass over `rows` rows.
    pub(crate) fn observe<B: Backend>(&mut self, net: &Net<B>, rows: usize) {
        for w in &mut self.layers {
            let out = &mut self.host[..rows * w.units];
            net.backend().read(net.layer_output(w.layer), out);
            for row in out.chunks_exact(w.units) {
                for (alive, &a) in w.alive.iter_mut().zip(row) {
                    *alive |= !(w.dead)(a);
                }
            }
        }
    }

    /// Every watched unit's flag, layer after layer: 1 when it had a live output this epoch.
    pub(crate) fn alive_flags(&self) -> Vec<f32> {
        self.layers.iter().flat_map(|w| w.alive.iter().map(|&a| f32::from(u8::from(a)))).collect()
    }

    /// Takes flags laid out as [`DeadUnits::alive_flags`] gives them (any value above zero: alive).
    pub(crate) fn set_alive_flags(&mut self, flags: &[f32]) {
        let mut at = 0;
        for w in &mut self.layers {
            for (alive, &f) in w.alive.iter_mut().zip(&flags[at..at + w.units]) {
                *alive = f > 0.0;
            }
            at += w.units;
        }
    }

    /// Writes each watched layer's dead fraction into `metrics` and starts a new epoch.
    pub(crate) fn end_epoch(&mut self, metrics: &mut BTreeMap<String, f64>) {
        for w in &mut self.layers {
            let dead = w.alive.iter().filter(|a| !**a).count();
            metrics.insert(dead_units_key(w.layer), dead as f64 / w.units as f64);
            w.alive.iter_mut().for_each(|a| *a = false);
        }
    }
}
