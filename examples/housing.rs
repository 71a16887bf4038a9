//! The seed's one-feature housing line, y = 1837.5·x + 14376.52 + U(0, 10000) for floor areas x in
//! 30–150: a 1→1 linear model with MSE on standardized x and y recovers the slope:
//! `cargo run --release --example housing` (expected: within 5% of 1837.5).

use mlp::data::{Dataset, Targets, synth};
use mlp::train::{EarlyStopping, FitConfig};
use mlp::{Activation, Init, Loss, Matrix, ModelConfig, OptimizerConfig};

/// Mean and population standard deviation.
fn stats(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    (m, (v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n).sqrt())
}

fn main() -> Result<(), mlp::Error> {
    let data = synth::linear(100, 0);
    let Targets::Values(y) = &data.y else { unreachable!("the housing line has values") };
    // Standardizing both sides makes one learning rate suit areas in the hundreds and prices in the hundred-thousands.
    let ((mx, sx), (my, sy)) = (stats(&data.x.data), stats(&y.data));
    let scale = |v: &[f32], m: f64, s: f64| v.iter().map(|&x| ((x as f64 - m) / s) as f32).collect();
    let std_data = Dataset::new(
        Matrix::new(data.len(), 1, scale(&data.x.data, mx, sx)),
        Targets::Values(Matrix::new(data.len(), 1, scale(&y.data, my, sy))),
    );
    let mut model = ModelConfig::new(1).dense(1, Activation::Linear).with_init(Init::Zeros).init(0)?;
    let cfg = FitConfig {
        loss: Loss::Mse,
        optimizer: OptimizerConfig::sgd(0.05),
        epochs: 100,
        batch_size: 10,
        early_stopping: Some(EarlyStopping { monitor: "loss".into(), patience: 5, ..Default::default() }),
        ..Default::default()
    };
    let h = model.fit(&std_data, &cfg)?;
    let (w, b) = (model.params[0].values("weight")[0] as f64, model.params[0].values("bias")[0] as f64);
    let slope = w * sy / sx;
    let intercept = my + sy * b - slope * mx;
    println!(
        "y = {slope:.1}·x + {intercept:.1}  (true slope 1837.5, {:.2}% off) after {} epochs",
        100.0 * (slope / 1837.5 - 1.0).abs(),
        h.epochs.len()
    );
    Ok(())
}
