//! What the page draws from a model: the outputs of any layer over a set of rows, unit-major blocks for the thumbnails, the weights, the dead units, the stop reason in words.

use mlp::train::{History, StopReason};
use mlp::{Matrix, Model, ModelConfig, Predictor, Result};
use serde::Serialize;

/// The outputs of layer `k` (0-based) for every row of `x`, row after row: the library's own
/// forward pass on the model cut after that layer.
pub fn layer_outputs(model: &Model, k: usize, x: &Matrix) -> Result<Vec<f32>> {
    let cut = Model {
        config: ModelConfig { input_dim: model.config.input_dim, layers: model.config.layers[..=k].to_vec() },
        params: model.params[..=k].to_vec(),
    };
    Ok(Predictor::new(&cut, x.rows.max(1), 1)?.predict(x)?.data)
}

/// The columns of `m` one after another (each unit's values over all rows together).
pub fn unit_major(m: &Matrix) -> Vec<f32> {
    (0..m.cols).flat_map(|j| (0..m.rows).map(move |r| m.data[r * m.cols + j])).collect()
}

/// One layer's weights for the page's links.
#[derive(Serialize)]
pub struct LayerWeights {
    fan_in: usize,
    width: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// Every layer's weights and biases (in-memory layout: `weight[i·width + j]` from input `i` to unit `j`).
pub fn weights(model: &Model) -> Vec<LayerWeights> {
    model
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let weight = p.values("weight").to_vec();
            let fan_in = model.config.layer_input(i);
            LayerWeights { fan_in, width: weight.len() / fan_in.max(1), weight, bias: p.values("bias").to_vec() }
        })
        .collect()
}

/// Per hidden layer, the fraction of units whose output is the same on every row of `x`.
pub fn dead_fractions(model: &Model, x: &Matrix) -> Result<Vec<f32>> {
    let hidden = model.config.layers.len().saturating_sub(1);
    if x.rows == 0 {
        return Ok(vec![0.0; hidden]);
    }
    (0..hidden)
        .map(|k| {
            let units = model.config.layers[k].units;
            let out = layer_outputs(model, k, x)?;
            let dead = (0..units)
                .filter(|&j| {
                    let first = out[j];
                    (0..x.rows).all(|r| (out[r * units + j] - first).abs() <= 1e-6)
                })
                .count();
            Ok(dead as f32 / units as f32)
        })
        .collect()
}

/// Why a run ended, for the page.
pub fn stop_words(history: &History) -> String {
    match &history.stop {
        StopReason::Completed => "the epoch limit was reached".into(),
        StopReason::EarlyStopping { epoch } => match history.restored_epoch {
            Some(best) => format!("early stopping after epoch {epoch} (the weights of epoch {best} kept)"),
            None => format!("early stopping after epoch {epoch}"),
        },
        StopReason::Callback { name, epoch } => format!("the {name} ended training after epoch {epoch}"),
        StopReason::Converged { epoch } => format!("the optimizer converged in epoch {epoch}"),
        StopReason::Interrupted { epoch, .. } => format!("interrupted in epoch {epoch}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_that_outputs_zero_everywhere_is_dead() {
        let mut model = ModelConfig::parse(1, "2:relu,1:sigmoid").unwrap().init(0).unwrap();
        // Unit 0 gets a large negative bias: ReLU 0 for every input in [0, 1].
        model.params[0].get_mut("weight").unwrap().data = vec![1.0, 1.0];
        model.params[0].get_mut("bias").unwrap().data = vec![-10.0, 0.0];
        let x = Matrix::new(3, 1, vec![0.0, 0.5, 1.0]);
        assert_eq!(dead_fractions(&model, &x).unwrap(), vec![0.5]);
        assert_eq!(layer_outputs(&model, 0, &x).unwrap(), vec![0.0, 0.0, 0.0, 0.5, 0.0, 1.0]);
        assert_eq!(unit_major(&Matrix::new(2, 2, vec![1.0, 2.0, 3.0, 4.0])), vec![1.0, 3.0, 2.0, 4.0]);
    }
}
