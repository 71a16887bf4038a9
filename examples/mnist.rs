//! MNIST, the seed's two networks: `cargo run --release --example mnist [-- adam]`.
//!
//! Default: 784→512 ReLU→10 softmax, RMSProp lr 0.001, batch 128, 5 epochs, validation split
//! 0.2 (expected test accuracy ≥ 97.8%). With `adam`: 784→512→128→64 ReLU→10 softmax, Adam,
//! batch 1000, 10 epochs (≥ 97.5%). Data: `$MLP_DATA_DIR/mnist` or `../shared/data/mnist`
//! (see `mlp::data::data_dir`).

use mlp::data::idx::{MnistSplit, load_mnist};
use mlp::train::{Callback, Control, EarlyStopping, Event, FitConfig, Trainer};
use mlp::{Loss, ModelConfig, OptimizerConfig};

struct PrintEpochs;
impl Callback for PrintEpochs {
    fn on_event(&mut self, e: &Event<'_>) -> Control {
        if let Event::EpochEnd { record } = e {
            let m = &record.metrics;
            println!(
                "epoch {:>2}  loss {:.4}  acc {:.4}  val_loss {:.4}  val_acc {:.4}  ({:.2} s)",
                record.epoch,
                m["loss"],
                m["accuracy"],
                m.get("val_loss").copied().unwrap_or(f64::NAN),
                m.get("val_accuracy").copied().unwrap_or(f64::NAN),
                record.seconds
            );
        }
        Control::Continue
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = mlp::data::data_path("mnist")?;
    let train = load_mnist(&dir, MnistSplit::Train)?;
    let test = load_mnist(&dir, MnistSplit::Test)?;
    let adam = std::env::args().nth(1).as_deref() == Some("adam");
    let (spec, opt, batch, epochs) = if adam {
        ("512:relu,128:relu,64:relu,10:softmax", OptimizerConfig::adam(0.001), 1000, 10)
    } else {
        ("512:relu,10:softmax", OptimizerConfig::rmsprop(0.001), 128, 5)
    };
    let cfg_model = ModelConfig::parse(784, spec)?;
    print!("{}", cfg_model.summary());
    let seed: u64 = std::env::var("MLP_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    let mut model = cfg_model.init(seed)?;
    let cfg = FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: opt,
        epochs,
        batch_size: batch,
        validation_split: 0.2,
        seed,
        early_stopping: std::env::var("MLP_ES").ok().map(|_| EarlyStopping { patience: 10, ..Default::default() }),
        ..Default::default()
    };
    let mut printer = PrintEpochs;
    Trainer::new(&cfg).callback(&mut printer).fit(&mut model, &train)?;
    let ev = model.evaluate(&test, Loss::CategoricalCrossEntropy)?;
    println!("test loss {:.4}  test accuracy {:.2}%", ev.metrics["loss"], 100.0 * ev.metrics["accuracy"]);
    Ok(())
}
