//! make_circles (100 points, noise 0.15, factor 0.3) with 2→20 ReLU→1 sigmoid, binary
//! cross-entropy, SGD, batch 10, 100 epochs: `cargo run --release --example circles`
//! (expected: ≥ 95% accuracy; the summary shows 60 / 21 / 81 parameters).

use mlp::data::synth;
use mlp::train::FitConfig;
use mlp::{Activation, Loss, ModelConfig, OptimizerConfig};

fn main() -> Result<(), mlp::Error> {
    let data = synth::circles(100, 0.15, 0.3, 0);
    let mut model = ModelConfig::new(2).dense(20, Activation::Relu).dense(1, Activation::Sigmoid).init(0)?;
    print!("{}", model.summary());
    let cfg = FitConfig {
        loss: Loss::BinaryCrossEntropy,
        optimizer: OptimizerConfig::sgd(0.1),
        epochs: 100,
        batch_size: 10,
        ..Default::default()
    };
    model.fit(&data, &cfg)?;
    let ev = model.evaluate(&data, cfg.loss)?;
    println!("accuracy {:.1}%", 100.0 * ev.metrics["accuracy"]);
    Ok(())
}
