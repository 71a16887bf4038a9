//! User-defined losses and metrics: a custom loss gradient-checked through every layer and trained on, a `Metric` and a callback's own metric in the history.

use mlp::custom::{CustomLoss, Metric, MetricCallback};
use mlp::data::{Dataset, Targets, synth};
use mlp::gradcheck::gradcheck_custom;
use mlp::nn::Model;
use mlp::train::{Callback, Control, Event};
use mlp::{FitConfig, Loss, Matrix, ModelConfig, OptimizerConfig, Trainer};
use std::sync::Arc;

/// `mean((y − t)⁴)`: a loss mlp does not have.
struct Quartic;

impl CustomLoss for Quartic {
    fn name(&self) -> &str {
        "quartic"
    }

    fn row(&self, y: &[f64], t: &[f64], grad: Option<&mut [f64]>) -> f64 {
        let n = y.len() as f64;
        if let Some(g) = grad {
            for ((g, &y), &t) in g.iter_mut().zip(y).zip(t) {
                *g = 4.0 * (y - t).powi(3) / n;
            }
        }
        y.iter().zip(t).map(|(y, t)| (y - t).powi(4)).sum::<f64>() / n
    }
}

#[test]
fn a_custom_loss_is_gradient_checked_through_every_layer() {
    let x = Matrix::new(4, 3, (0..12).map(|i| (i as f32 * 0.37).sin()).collect());
    let t = Matrix::new(4, 2, vec![0.5, -1.0, 1.0, 0.2, -0.3, 0.8, 0.0, 1.5]);
    for spec in ["5:tanh,2:linear", "4:sigmoid,3:elu,2:softmax", "4:rbf,3:relu,2:sigmoid", "2:prelu"] {
        let model = ModelConfig::parse(3, spec).unwrap().init(3).unwrap();
        let report = gradcheck_custom(&model, &Quartic, &x, &t, 1e-5).unwrap();
        assert!(report.worst() < 1e-6, "{spec}: {:?}", report.layers);
    }
}

#[test]
fn training_on_a_custom_loss_lowers_it_and_records_it() {
    let data = synth::function("sin", 200, 0.0, 1).unwrap();
    let mut model = ModelConfig::parse(1, "16:tanh,1:linear").unwrap().init(0).unwrap();
    let fit = FitConfig {
        loss: Loss::Mse,
        optimizer: OptimizerConfig::adam(0.02),
        epochs: 30,
        batch_size: 20,
        ..Default::default()
    };
    let h = Trainer::new(&fit).custom_loss(Arc::new(Quartic)).fit(&mut model, &data).unwrap();
    let losses = h.series("loss");
    assert!(losses.last().unwrap() < &(0.2 * losses[0]), "the quartic loss fell: {losses:?}");
    // The recorded loss is the quartic's, not the MSE's: recompute it on the final weights.
    let p = model.predict(&data.x).unwrap();
    let Targets::Values(t) = &data.y else { unreachable!() };
    let quartic: f64 = p.data.iter().zip(&t.data).map(|(&y, &t)| f64::from(y - t).powi(4)).sum::<f64>() / p.rows as f64;
    let mse: f64 = p.data.iter().zip(&t.data).map(|(&y, &t)| f64::from(y - t).powi(2)).sum::<f64>() / p.rows as f64;
    assert!(quartic < mse, "quartic {quartic} vs mse {mse}: errors below 1 must shrink under the 4th power");
    assert!((losses.last().unwrap() - quartic).abs() < 0.5 * quartic.max(1e-4), "{losses:?} vs {quartic}");
}

/// The median absolute error, a metric mlp does not compute.
struct MedianAbsError;

impl Metric for MedianAbsError {
    fn name(&self) -> &str {
        "median_ae"
    }

    fn compute(&mut self, p: &Matrix, data: &Dataset) -> f64 {
        let Targets::Values(t) = &data.y else { return f64::NAN };
        let mut e: Vec<f64> = p.data.iter().zip(&t.data).map(|(&y, &t)| f64::from((y - t).abs())).collect();
        e.sort_by(f64::total_cmp);
        e[e.len() / 2]
    }
}

/// A callback that adds its own metric: the largest absolute weight of the model.
struct MaxWeight;

impl Callback for MaxWeight {
    fn on_event(&mut self, event: &Event<'_>) -> Control {
        if let Event::EpochEnd { record } = event {
            assert!(record.get("max_weight").is_some(), "the callbacks see the added metric");
        }
        Control::Continue
    }

    fn wants_metrics(&self, _epoch: usize) -> bool {
        true
    }

    fn epoch_metrics(&mut self, _epoch: usize, model: &Model) -> Vec<(String, f64)> {
        let w =
            model.params.iter().flat_map(|p| p.values("weight").iter().copied()).fold(0.0f32, |m, v| m.max(v.abs()));
        vec![("max_weight".into(), f64::from(w))]
    }
}

#[test]
fn metrics_and_callbacks_add_to_the_history() {
    let data = synth::function("abs", 150, 0.05, 2).unwrap();
    let mut model = ModelConfig::parse(1, "8:relu,1:linear").unwrap().init(0).unwrap();
    let fit = FitConfig {
        loss: Loss::Mse,
        optimizer: OptimizerConfig::adam(0.02),
        epochs: 12,
        batch_size: 16,
        ..Default::default()
    };
    let mut median = MetricCallback::new(MedianAbsError, &data);
    let mut max_weight = MaxWeight;
    let h = Trainer::new(&fit).callback(&mut median).callback(&mut max_weight).fit(&mut model, &data).unwrap();
    let med = h.series("median_ae");
    assert_eq!(med.len(), 12);
    assert!(med.last().unwrap() < &med[0], "{med:?}");
    // The last epoch's metric is the final model's.
    let final_median = MedianAbsError.compute(&model.predict(&data.x).unwrap(), &data);
    assert!((med.last().unwrap() - final_median).abs() < 1e-6);
    assert_eq!(h.series("max_weight").len(), 12);
}
