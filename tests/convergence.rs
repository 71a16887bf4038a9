//! Convergence on the seed workloads: XOR, make_circles, three Gaussian clusters, the housing line.

use mlp::data::synth;
use mlp::data::{Dataset, Targets};
use mlp::train::{EarlyStopping, FitConfig};
use mlp::{Activation, Init, Loss, Matrix, ModelConfig, OptimizerConfig};

#[test]
fn xor_reaches_mse_below_1e_3() {
    // 2→4 tanh→1 sigmoid, as FANN's XOR test; seed 0.
    let data = synth::xor();
    let mut model = ModelConfig::new(2).dense(4, Activation::Tanh).dense(1, Activation::Sigmoid).init(0).unwrap();
    let cfg = FitConfig {
        loss: Loss::Mse,
        optimizer: OptimizerConfig::adam(0.05),
        epochs: 2000,
        batch_size: 4,
        threads: 1,
        ..Default::default()
    };
    let h = model.fit(&data, &cfg).unwrap();
    let mse = h.last().unwrap().get("loss").unwrap();
    assert!(mse < 1e-3, "XOR MSE after {} epochs: {mse}", h.epochs.len());
    assert_eq!(model.predict_classes(&data.x).unwrap(), vec![0, 1, 1, 0]);
}

#[test]
fn circles_reach_95_percent_with_81_parameters() {
    let data = synth::circles(100, 0.15, 0.3, 0);
    let cfg_model = ModelConfig::new(2).dense(20, Activation::Relu).dense(1, Activation::Sigmoid);
    assert_eq!(cfg_model.param_count(), 81);
    let mut model = cfg_model.init(0).unwrap();
    let cfg = FitConfig {
        loss: Loss::BinaryCrossEntropy,
        optimizer: OptimizerConfig::sgd(0.1),
        epochs: 100,
        batch_size: 10,
        ..Default::default()
    };
    model.fit(&data, &cfg).unwrap();
    let ev = model.evaluate(&data, Loss::BinaryCrossEntropy).unwrap();
    let acc = ev.metrics["accuracy"];
    assert!(acc >= 0.95, "make_circles accuracy {acc}");
}

#[test]
fn three_clusters_reach_90_percent() {
    let data = synth::blobs(100, &synth::BLOB_CENTERS, 1.0, 0);
    let mut model = ModelConfig::new(2).dense(3, Activation::Sigmoid).dense(3, Activation::Softmax).init(0).unwrap();
    let cfg = FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: OptimizerConfig::sgd(0.5),
        epochs: 200,
        batch_size: 16,
        ..Default::default()
    };
    model.fit(&data, &cfg).unwrap();
    let acc = model.evaluate(&data, Loss::CategoricalCrossEntropy).unwrap().metrics["accuracy"];
    assert!(acc >= 0.90, "three-cluster classification rate {acc}");
}

#[test]
fn housing_line_recovers_the_slope() {
    let data = synth::linear(100, 0);
    // Standardize x and y, fit, then map the slope back: slope = w · sd_y / sd_x.
    let stats = |v: &[f32]| {
        let n = v.len() as f64;
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let sd = (v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n).sqrt();
        (m, sd)
    };
    let Targets::Values(y) = &data.y else { panic!("linear data has values") };
    let ((mx, sx), (my, sy)) = (stats(&data.x.data), stats(&y.data));
    let xs = Matrix::new(100, 1, data.x.data.iter().map(|&v| ((v as f64 - mx) / sx) as f32).collect());
    let ys = Matrix::new(100, 1, y.data.iter().map(|&v| ((v as f64 - my) / sy) as f32).collect());
    let std_data = Dataset::new(xs, Targets::Values(ys));
    let mut model = ModelConfig::new(1).dense(1, Activation::Linear).with_init(Init::Zeros).init(0).unwrap();
    let cfg = FitConfig {
        loss: Loss::Mse,
        optimizer: OptimizerConfig::sgd(0.05),
        epochs: 100,
        batch_size: 10,
        early_stopping: Some(EarlyStopping { monitor: "loss".into(), patience: 5, ..Default::default() }),
        ..Default::default()
    };
    model.fit(&std_data, &cfg).unwrap();
    let slope = model.params[0].values("weight")[0] as f64 * sy / sx;
    assert!((slope - 1837.5).abs() / 1837.5 < 0.05, "slope {slope}");
}

#[test]
fn spirals_reach_99_percent_for_8_of_10_seeds() {
    use mlp::recipes::Spirals;
    use mlp::train::{StopReason, Trainer};
    let mut hits = Vec::new();
    for seed in 0..10 {
        let (train, _test) = synth::spirals(1000, 1.2, 0.03, seed).split(0.2, seed, true);
        let Spirals { model, fit, mut stopper } = Spirals::new(seed);
        let mut model = model.init(seed).unwrap();
        let h = Trainer::new(&fit).callback(&mut stopper).fit(&mut model, &train).unwrap();
        let acc = model.evaluate(&train, fit.loss).unwrap().metrics["accuracy"];
        // The plateau stopper must be what ended training, not the epoch limit.
        if acc >= 0.99 && matches!(h.stop, StopReason::Callback { .. }) {
            hits.push(seed);
        }
    }
    assert!(hits.len() >= 8, "only seeds {hits:?} reached 99% training accuracy");
}
