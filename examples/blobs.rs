//! Three Gaussian clusters centred at (−2,−2), (0,2), (2,−2), 100 points each, with 2→3 sigmoid→3
//! softmax: `cargo run --release --example blobs` (expected: ≥ 90% classification rate).

use mlp::data::synth;
use mlp::train::FitConfig;
use mlp::{Activation, Loss, ModelConfig, OptimizerConfig};

fn main() -> Result<(), mlp::Error> {
    let data = synth::blobs(100, &synth::BLOB_CENTERS, 1.0, 0);
    let mut model = ModelConfig::new(2).dense(3, Activation::Sigmoid).dense(3, Activation::Softmax).init(0)?;
    print!("{}", model.summary());
    let cfg = FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: OptimizerConfig::sgd(0.5),
        epochs: 200,
        batch_size: 16,
        ..Default::default()
    };
    model.fit(&data, &cfg)?;
    let ev = model.evaluate(&data, cfg.loss)?;
    println!("classification rate {:.1}%", 100.0 * ev.metrics["accuracy"]);
    if let Some(cm) = ev.confusion {
        println!("confusion matrix (rows: true class): {cm:?}");
    }
    Ok(())
}
