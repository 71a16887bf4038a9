//! Titanic survival from Kaggle's train.csv: target `Survived`; PassengerId, Name, Ticket and Cabin
//! dropped; missing Age and Embarked imputed; the first 600 rows train, the other 291 test:
//! `cargo run --release --example titanic` (expected: test accuracy ≥ 78%).
//! Data: `$MLP_DATA_DIR/titanic/train.csv`, else `../shared/data/titanic/train.csv`.

use mlp::data::csv::Table;
use mlp::preprocess::{PreprocessConfig, Preprocessor, TargetKind};
use mlp::train::{EarlyStopping, FitConfig, Trainer};
use mlp::{Loss, ModelConfig, OptimizerConfig};

fn main() -> Result<(), mlp::Error> {
    let table = Table::read(&mlp::data::data_path("titanic/train.csv")?)?;
    let (train_t, test_t) = (table.rows(0..600), table.rows(600..table.n_rows()));
    let cfg = PreprocessConfig {
        target: Some("Survived".into()),
        drop: ["PassengerId", "Name", "Ticket", "Cabin"].map(String::from).to_vec(),
        impute: true,
        ..Default::default()
    };
    let (pre, train) = Preprocessor::fit(&train_t, &cfg, TargetKind::Classes)?;
    let test = pre.transform(&test_t)?;
    println!("features: {}", pre.feature_names().join(", "));
    for (col, n) in pre.imputed() {
        println!("imputed {n} missing {col} values");
    }
    let mut model = ModelConfig::parse(pre.n_features(), "16:relu,8:relu,1:sigmoid")?.init(0)?;
    let fit = FitConfig {
        loss: Loss::BinaryCrossEntropy,
        optimizer: OptimizerConfig::adam(0.01),
        epochs: 200,
        batch_size: 32,
        validation_split: 0.2,
        early_stopping: Some(EarlyStopping { patience: 20, ..Default::default() }),
        ..Default::default()
    };
    let h = Trainer::new(&fit).fit(&mut model, &train)?;
    let ev = model.evaluate(&test, fit.loss)?;
    println!(
        "test accuracy {:.1}% on {} passengers (best epoch {:?} of {})",
        100.0 * ev.metrics["accuracy"],
        ev.rows,
        h.restored_epoch,
        h.epochs.len()
    );
    Ok(())
}
