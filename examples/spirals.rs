//! Two interleaved spirals (R's `mlbench.spirals(n = 1000, cycles = 1.2, sd = 0.03)`), the seed's
//! 2→10 ReLU→2 softmax network trained with SGD until the plateau stopper ends training.
//!
//! `cargo run --release --example spirals` trains seed 0 and prints the figures;
//! `cargo run --release --example spirals -- sweep` trains seeds 0–9 and counts how many reach
//! 99% training accuracy (the defaults below were chosen with this sweep).

use mlp::data::synth;
use mlp::recipes::Spirals;
use mlp::train::{Callback, Control, Event, StopReason, Trainer};

/// Counts epochs, to report when the plateau stopper ended training.
struct Epochs(usize);
impl Callback for Epochs {
    fn on_event(&mut self, e: &Event<'_>) -> Control {
        if let Event::EpochEnd { record } = e {
            self.0 = record.epoch;
        }
        Control::Continue
    }
}

/// Trains one seed; returns (train accuracy, test accuracy, epochs, whether the stopper ended it).
fn run(seed: u64) -> Result<(f64, f64, usize, bool), mlp::Error> {
    let data = synth::spirals(1000, 1.2, 0.03, seed);
    let (train, test) = data.split(0.2, seed, true);
    let Spirals { model: model_cfg, fit, mut stopper } = Spirals::new(seed);
    let mut model = model_cfg.init(seed)?;
    let mut epochs = Epochs(0);
    let h = Trainer::new(&fit).callback(&mut stopper).callback(&mut epochs).fit(&mut model, &train)?;
    let stopped = matches!(h.stop, StopReason::Callback { .. });
    let acc = |d| model.evaluate(d, fit.loss).map(|e| e.metrics["accuracy"]);
    Ok((acc(&train)?, acc(&test)?, epochs.0, stopped))
}

fn main() -> Result<(), mlp::Error> {
    if std::env::args().nth(1).as_deref() == Some("sweep") {
        let mut hits = 0;
        for seed in 0..10 {
            let (tr, te, ep, stopped) = run(seed)?;
            hits += usize::from(tr >= 0.99 && stopped);
            println!(
                "seed {seed}: train {:.2}%  test {:.2}%  epochs {ep}  plateau stop {stopped}",
                100.0 * tr,
                100.0 * te
            );
        }
        println!("{hits}/10 seeds reach 99% training accuracy with the plateau stopper ending training");
        return Ok(());
    }
    print!("{}", Spirals::new(0).model.summary());
    let (tr, te, ep, stopped) = run(0)?;
    println!(
        "train accuracy {:.2}%  test accuracy {:.2}%  after {ep} epochs ({})",
        100.0 * tr,
        100.0 * te,
        if stopped { "the plateau stopper ended training" } else { "epoch limit" }
    );
    Ok(())
}
