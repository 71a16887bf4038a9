//! XOR with 2→4 tanh→1 sigmoid: `cargo run --release --example xor` (expected: MSE < 1e-3, outputs 0 1 1 0).

use mlp::data::synth;
use mlp::train::FitConfig;
use mlp::{Activation, Loss, ModelConfig, OptimizerConfig};

fn main() -> Result<(), mlp::Error> {
    let data = synth::xor();
    let mut model = ModelConfig::new(2).dense(4, Activation::Tanh).dense(1, Activation::Sigmoid).init(0)?;
    print!("{}", model.summary());
    let cfg = FitConfig {
        loss: Loss::Mse,
        optimizer: OptimizerConfig::adam(0.05),
        epochs: 2000,
        batch_size: 4,
        ..Default::default()
    };
    let history = model.fit(&data, &cfg)?;
    let p = model.predict(&data.x)?;
    println!(
        "MSE {:.2e} after {} epochs",
        history.last().map_or(f64::NAN, |r| r.metrics["loss"]),
        history.epochs.len()
    );
    for r in 0..4 {
        println!("{:?} -> {:.4}", data.x.row(r), p.data[r]);
    }
    Ok(())
}
