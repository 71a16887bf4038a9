//! L-BFGS reaches scikit-learn's `MLPClassifier(solver="lbfgs")` test accuracy, averaged over the
//! same five seeds, on made data (two spirals) and Titanic. sklearn's figures are computed by
//! `golden/sklearn_lbfgs.py` (which builds the same data the same way) and committed in
//! `golden/sklearn_lbfgs.json`. Titanic comes from `MLP_DATA_DIR` (else `../shared/data`): the
//! test fails loudly when it is missing.

use mlp::data::csv::Table;
use mlp::data::{Dataset, Targets};
use mlp::preprocess::{PreprocessConfig, Preprocessor, TargetKind};
use mlp::train::FitConfig;
use mlp::{Loss, Matrix, ModelConfig, OptimizerConfig};
use serde_json::Value;

fn sklearn(name: &str) -> (f64, Vec<f64>) {
    let g: Value = serde_json::from_str(include_str!("golden/sklearn_lbfgs.json")).unwrap();
    let accs = g[name]["accuracies"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    (g[name]["mean_accuracy"].as_f64().unwrap(), accs)
}

/// The two spirals of `golden/sklearn_lbfgs.py`: (train, test), every fifth row tested.
fn spirals() -> (Dataset, Dataset) {
    let (mut tr, mut te) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for i in 0..400usize {
        let (c, k) = (i % 2, i / 2);
        let t = 0.5 + 3.0 * std::f64::consts::PI * k as f64 / 200.0;
        let r = t / (3.0 * std::f64::consts::PI + 0.5);
        let a = t + c as f64 * std::f64::consts::PI;
        let p = [(r * a.cos() + 0.02 * (7.3 * i as f64).sin()) as f32, (r * a.sin() + 0.02 * (5.1 * i as f64).cos()) as f32];
        let dst = if i % 5 == 4 { &mut te } else { &mut tr };
        dst.0.extend(p);
        dst.1.push(c);
    }
    let ds = |(x, y): (Vec<f32>, Vec<usize>)| {
        let n = y.len();
        Dataset::new(Matrix::new(n, 2, x), Targets::Classes { labels: y, n_classes: 2 })
    };
    (ds(tr), ds(te))
}

fn titanic() -> (Dataset, Dataset) {
    // Missing data fails the test loudly, naming the path and how to provide it.
    let path = mlp::data::data_path("titanic/train.csv").unwrap();
    let table = Table::read(&path).unwrap();
    assert_eq!(table.n_rows(), 891);
    let cfg = PreprocessConfig {
        target: Some("Survived".into()),
        drop: ["PassengerId", "Name", "Ticket", "Cabin"].map(String::from).to_vec(),
        impute: true,
        standardize: true,
    };
    let (pre, train) = Preprocessor::fit(&table.rows(0..600), &cfg, TargetKind::Classes).unwrap();
    let test = pre.transform(&table.rows(600..891)).unwrap();
    (train, test)
}

/// Test accuracy after 200 L-BFGS iterations (10 epochs of 20, as sklearn's max_iter=200) with
/// the strong-Wolfe line search and 10 correction pairs (scipy's default).
fn ours(train: &Dataset, test: &Dataset, layers: &str, seed: u64, threads: usize) -> (f64, mlp::Model) {
    let model = ModelConfig::parse(train.x.cols, layers).unwrap().init(seed).unwrap();
    let mut model = model;
    let cfg = FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: OptimizerConfig::parse("lbfgs(history_size=10,max_iter=20)").unwrap(),
        epochs: 10,
        seed,
        threads,
        ..Default::default()
    };
    model.fit(train, &cfg).unwrap();
    let Targets::Classes { labels, .. } = &test.y else { unreachable!("classes") };
    let pred = model.predict_classes(&test.x).unwrap();
    (pred.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64, model)
}

fn reaches_sklearn(name: &str, (train, test): (Dataset, Dataset), layers: &str) {
    let (want, theirs) = sklearn(name);
    let accs: Vec<f64> = (0..5).map(|seed| ours(&train, &test, layers, seed, 1).0).collect();
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    println!("{name}: mlp lbfgs {accs:.4?} mean {mean:.4}; sklearn lbfgs {theirs:.4?} mean {want:.4}");
    assert!(mean >= want, "{name}: mlp's L-BFGS mean test accuracy {mean:.4} is below sklearn's {want:.4}");
}

#[test]
fn lbfgs_reaches_sklearn_on_two_spirals() {
    reaches_sklearn("spirals", spirals(), "32:tanh,2:softmax");
}

#[test]
fn lbfgs_reaches_sklearn_on_titanic() {
    reaches_sklearn("titanic", titanic(), "16:relu,2:softmax");
}

#[test]
fn lbfgs_is_the_same_for_any_thread_count() {
    let (train, test) = titanic();
    let one = ours(&train, &test, "16:relu,2:softmax,", 3, 1).1;
    let two = ours(&train, &test, "16:relu,2:softmax", 3, 2).1;
    assert_eq!(one, two, "L-BFGS weights differ between 1 and 2 threads");
}
