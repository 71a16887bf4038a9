//! Radial basis units: what they learn (the three Gaussian clusters, a ring a linear model cannot separate), their spec and their round trip through the model file.

use mlp::data::synth;
use mlp::model_file::{self, InputSpec, ModelMeta, SavedModel};
use mlp::nn::LayerKind;
use mlp::{FitConfig, Loss, ModelConfig, OptimizerConfig};

fn fit_accuracy(spec: &str, data: &mlp::data::Dataset, epochs: usize) -> f64 {
    let mut model = ModelConfig::parse(2, spec).unwrap().init(1).unwrap();
    let fit = FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: OptimizerConfig::adam(0.05),
        epochs,
        batch_size: 16,
        ..Default::default()
    };
    model.fit(data, &fit).unwrap();
    model.evaluate(data, Loss::CategoricalCrossEntropy).unwrap().metrics["accuracy"]
}

#[test]
fn rbf_units_separate_the_three_gaussian_clusters() {
    let data = synth::blobs(100, &synth::BLOB_CENTERS, 1.0, 0);
    let acc = fit_accuracy("8:rbf,3:softmax", &data, 60);
    assert!(acc >= 0.90, "8 RBF units on the seed's three clusters: accuracy {acc}");
}

#[test]
fn rbf_units_separate_a_ring_that_a_linear_model_cannot() {
    // The inner circle inside the outer one: no line separates them, one unit centred inside does.
    let data = synth::circles(300, 0.08, 0.4, 2);
    let linear = fit_accuracy("2:softmax", &data, 60);
    let rbf = fit_accuracy("4:rbf,2:softmax", &data, 60);
    assert!(linear < 0.75, "a linear model should fail on the ring, got {linear}");
    assert!(rbf >= 0.95, "4 RBF units on the ring: accuracy {rbf} (linear {linear})");
}

#[test]
fn rbf_spec_parses_and_round_trips_through_the_model_file() {
    let cfg = ModelConfig::parse(2, "6:rbf(sigma=0.5,fixed),3:softmax").unwrap();
    assert_eq!(cfg.layers[0].kind, LayerKind::Rbf { sigma: 0.5, learn_sigma: false });
    let specs = cfg.layer_specs(0);
    assert_eq!(specs.iter().map(|s| (s.name, s.trainable)).collect::<Vec<_>>(), [("weight", true), ("sigma", false)]);
    assert_eq!(
        ModelConfig::parse(2, "6:rbf,3:softmax").unwrap().layers[0].kind,
        LayerKind::Rbf { sigma: 1.0, learn_sigma: true }
    );
    for bad in ["6:rbf(sigma=0),3:softmax", "6:rbf(width=2),3:softmax", "4:relu,3:rbf"] {
        assert!(ModelConfig::parse(2, bad).is_err(), "{bad} should be refused");
    }

    // Trained (so that the centres and widths moved), saved, loaded: the same predictions.
    let data = synth::blobs(40, &synth::BLOB_CENTERS, 1.0, 3);
    let mut model = ModelConfig::parse(2, "5:rbf,3:softmax").unwrap().init(2).unwrap();
    let fit = FitConfig { optimizer: OptimizerConfig::adam(0.05), epochs: 5, batch_size: 8, ..Default::default() };
    model.fit(&data, &fit).unwrap();
    assert!(model.params[0].values("sigma").iter().any(|&s| (s - 1.0).abs() > 1e-3), "the widths are learned");
    let meta = ModelMeta {
        loss: Loss::CategoricalCrossEntropy,
        input: InputSpec::Standardized {
            features: vec!["x".into(), "y".into()],
            target: "label".into(),
            mean: vec![0.0, 0.0],
            std: vec![1.0, 1.0],
        },
        classes: Some(vec!["0".into(), "1".into(), "2".into()]),
        training: None,
        history: None,
        created_by: model_file::created_by(),
    };
    let bytes = model_file::to_bytes(&SavedModel { model: model.clone(), meta }).unwrap();
    let back = model_file::from_bytes(&bytes, "rbf.safetensors").unwrap().model;
    assert_eq!(back.config, model.config);
    assert_eq!(back.predict(&data.x).unwrap().data, model.predict(&data.x).unwrap().data);
}
