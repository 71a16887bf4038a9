//! `mlp train` with no flags on raw CSVs: regression targets in the 100 000s standardized (and
//! predicted back in their units, by `predict` and the ONNX export alike), the default validation
//! split with early stopping, scores on the right rows, identifier columns dropped, and the
//! demo's settings kept to the demo.
//!
//! The regression CSVs come from `raw_regression.py` beside this file (standard library only), the
//! same generator its `golden` mode fed scikit-learn to write `raw_regression.json`.

use crate::util::Dir;
use std::path::PathBuf;

/// The Python that runs the generator: `$MLP_TEST_PYTHON` (scripts/test sets it), else `python3`.
fn python() -> Option<PathBuf> {
    let p = std::env::var_os("MLP_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| "python3".into());
    let works = std::process::Command::new(&p).arg("-c").arg("pass").status().is_ok_and(|s| s.success());
    if works {
        return Some(p);
    }
    assert!(
        std::env::var_os("MLP_REQUIRE_ALL").is_none(),
        "MLP_REQUIRE_ALL is set but no Python runs ({}); set MLP_TEST_PYTHON",
        p.display()
    );
    eprintln!("skipped: no Python to run raw_regression.py ({} does not run)", p.display());
    None
}

/// Writes the generator's CSVs into `d`; false (the test skips) without a Python.
fn raw_csvs(d: &Dir) -> bool {
    let Some(py) = python() else { return false };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/raw_regression.py");
    let out = std::process::Command::new(py).arg(script).arg("csv").arg(&d.path).output().expect("run python");
    assert!(out.status.success(), "raw_regression.py csv: {}", String::from_utf8_lossy(&out.stderr));
    true
}

/// The value of `key` on the report line starting with `prefix` (`test:`, `valid:`, `train:`).
fn score(out: &str, prefix: &str, key: &str) -> f64 {
    let line = out.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` line in:\n{out}"));
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == key {
            return words.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("bad {key} in `{line}`"));
        }
    }
    panic!("no {key} in `{line}`")
}

/// The training and validation row counts of the `data:` line.
fn row_counts(stderr: &str) -> (usize, usize) {
    let line = stderr.lines().find(|l| l.starts_with("data: ")).unwrap_or_else(|| panic!("no data line in:\n{stderr}"));
    let count = |what: &str| {
        line.split(", ")
            .find_map(|part| part.trim_start_matches("data: ").strip_suffix(what)?.trim().parse().ok())
            .unwrap_or(0)
    };
    (count(" training rows"), count(" validation rows"))
}

/// The last column of a CSV file, as numbers.
fn last_column(path: &std::path::Path) -> Vec<f64> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().skip(1).map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect()
}

fn r2(pred: &[f64], actual: &[f64]) -> f64 {
    let mean = actual.iter().sum::<f64>() / actual.len() as f64;
    let ss_res: f64 = pred.iter().zip(actual).map(|(p, a)| (p - a).powi(2)).sum();
    let ss_tot: f64 = actual.iter().map(|a| (a - mean).powi(2)).sum();
    1.0 - ss_res / ss_tot
}

#[test]
fn raw_scale_regression_matches_scikit_learn_with_default_flags() {
    let golden: serde_json::Value = serde_json::from_str(include_str!("raw_regression.json")).unwrap();
    for name in ["housing", "plant"] {
        let d = Dir::new(&format!("raw-{name}"));
        if !raw_csvs(&d) {
            return;
        }
        let (train, test) = (format!("{name}-train.csv"), format!("{name}-test.csv"));
        let run = d.mlp(&["train", "--data", &train, "--test", &test]);
        let out = run.ok().to_string();
        let sklearn = golden[name]["pipeline_scaled_target"]["test_r2_mean"].as_f64().unwrap();
        let raw_sklearn = golden[name]["pipeline"]["test_r2_mean"].as_f64().unwrap();
        let r2_test = score(&out, "test:", "r2");
        eprintln!("{name}: mlp test R² {r2_test:.4}, scikit-learn {sklearn:.4} (on the raw target {raw_sklearn:.4})");
        assert!(
            r2_test >= sklearn - 0.02,
            "{name}: R² {r2_test} against scikit-learn's {sklearn}:\n{out}\n{}",
            run.stderr
        );
        // Said, and done: the target standardized, a validation split with early stopping.
        for needle in ["standardized for training", "validation: 20% of the training rows held out", "early stopping"] {
            assert!(run.stderr.contains(needle), "{name}: no `{needle}` in:\n{}", run.stderr);
        }
        let train_rows = last_column(&d.join(&train)).len();
        assert_eq!(row_counts(&run.stderr), (train_rows * 4 / 5, train_rows / 5), "{}", run.stderr);
        assert!(score(&out, "valid:", "r2") > 0.8, "{out}");
        // The scores are in the target's own units (an MAE of thousands, not of standard deviations) …
        let mae = score(&out, "test:", "mae");
        assert!(mae > 1000.0, "{name}: test MAE {mae} is not in the target's units");
        // … and so are the predictions, which reproduce the reported R².
        let p = d.mlp(&["predict", "model.safetensors", "--input", &test]).ok().to_string();
        let pred: Vec<f64> = p.lines().skip(1).map(|l| l.parse().unwrap()).collect();
        let actual = last_column(&d.join(&test));
        let r2_predict = r2(&pred, &actual);
        assert!((r2_predict - r2_test).abs() < 1e-3, "{name}: predict gives R² {r2_predict}, train reported {r2_test}");
        let plots = d.mlp(&["train", "--data", &train, "--plots", "plots", "--out", "p.safetensors", "-q"]);
        plots.ok();
        let names = crate::plots::check_plots(&d.join("plots"));
        crate::plots::has_all(&names, &["loss.png", "mae.png"]);
        assert!(!names.iter().any(|n| n == "accuracy.png"), "a regression's metrics chart is not accuracy.png");
    }
}

/// The ONNX export of a model trained on a standardized target answers in the target's units.
#[test]
fn onnx_export_of_a_scaled_target_matches_predict() {
    use tract_onnx::prelude::*;
    let d = Dir::new("raw-onnx");
    if !raw_csvs(&d) {
        return;
    }
    d.mlp(&["train", "--data", "plant-train.csv", "--epochs", "20", "-q"]).ok();
    d.mlp(&["export", "model.safetensors", "--onnx", "m.onnx"]).ok();
    let p = d.mlp(&["predict", "model.safetensors", "--input", "plant-test.csv"]).ok().to_string();
    let pred: Vec<f32> = p.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    let text = std::fs::read_to_string(d.join("plant-test.csv")).unwrap();
    let x: Vec<f32> = text
        .lines()
        .skip(1)
        .flat_map(|l| l.split(',').take(5).map(|v| v.parse::<f32>().unwrap()).collect::<Vec<_>>())
        .collect();
    let model =
        tract_onnx::onnx().model_for_path(d.join("m.onnx")).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let input = tract_ndarray::Array2::from_shape_vec((pred.len(), 5), x).unwrap();
    let out = model.run(tvec!(Tensor::from(input).into())).unwrap();
    let onnx = out[0].to_plain_array_view::<f32>().unwrap();
    for (r, &p) in pred.iter().enumerate() {
        let o = onnx[[r, 0]];
        assert!((o - p).abs() <= 1e-4 * p.abs().max(1.0), "row {r}: onnx {o} vs predict {p}");
    }
    assert!(pred.iter().all(|p| p.abs() > 1000.0), "predictions are not in the target's units");
}

/// An identifier column is dropped with a warning naming it (and `--keep` encodes it anyway); the
/// default split is stratified, and `--validation-split 0` turns it off.
#[test]
fn classification_csv_with_an_id_column_trains_with_the_warning() {
    let d = Dir::new("id-column");
    let rows: String = (0..600)
        .map(|i| {
            let (a, b) = ((i * 37 % 100) as f32 / 10.0, (i * 53 % 100) as f32 / 10.0);
            let label = if a + b > 10.0 { "yes" } else { "no" };
            format!("cust-{i:05},{a},{b},{label}\n")
        })
        .collect();
    d.write("c.csv", &format!("customer_id,a,b,bought\n{rows}"));
    let run = d.mlp(&["train", "--data", "c.csv"]);
    let out = run.ok().to_string();
    assert!(
        run.stderr.contains("warning: dropped column `customer_id`: 600 different text values in 600 rows"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("2 features, 2 classes"), "{}", run.stderr);
    // Stratified: a fifth of each class, rounded.
    let (fit_rows, valid_rows) = row_counts(&run.stderr);
    assert!(fit_rows + valid_rows == 600 && (119..=121).contains(&valid_rows), "{}", run.stderr);
    assert!(run.stderr.contains("stratified by class"), "{}", run.stderr);
    assert!(out.contains("valid: loss"), "{out}");
    assert!(score(&out, "valid:", "accuracy") > 0.9, "{out}");
    // The model takes rows with the identifier and ignores it.
    let p = d.mlp(&["predict", "model.safetensors", "--input", "c.csv"]).ok().to_string();
    assert_eq!(p.lines().count(), 601);
    // --keep: one-hot encoded anyway, 600 features of it.
    let kept = d.mlp(&["train", "--data", "c.csv", "--keep", "customer_id", "--epochs", "1", "--out", "k.safetensors"]);
    kept.ok();
    assert!(kept.stderr.contains("602 features"), "{}", kept.stderr);
    d.mlp(&["train", "--data", "c.csv", "--keep", "nope", "--out", "n.safetensors"])
        .fails_with(&["no column `nope` to keep"]);
    // --validation-split 0: no validation rows, no early stopping, the epochs asked for.
    let off =
        d.mlp(&["train", "--data", "c.csv", "--validation-split", "0", "--epochs", "3", "--out", "o.safetensors"]);
    let off_out = off.ok().to_string();
    assert_eq!(row_counts(&off.stderr), (600, 0), "{}", off.stderr);
    assert!(!off.stderr.contains("validation:") && !off_out.contains("valid:"), "{off_out}\n{}", off.stderr);
    assert!(off_out.contains("trained 3 epochs (all epochs ran)"), "{off_out}");
}

/// The `train:` line scores the rows trained on, not the held-out ones: with a validation split
/// it matches `evaluate` on those rows' file, not on the whole file.
#[test]
fn the_train_line_scores_only_the_training_rows() {
    let d = Dir::new("train-rows");
    // Labels the features hardly predict, so the two parts score differently.
    let rows: String = (0..400)
        .map(|i| {
            format!(
                "{},{},{}\n",
                (i * 7919 % 1000) as f32 / 100.0,
                (i * 104729 % 997) as f32 / 100.0,
                (i * 31 + i / 3) % 2
            )
        })
        .collect();
    d.write("n.csv", &format!("a,b,y\n{rows}"));
    let run = d.mlp(&[
        "train",
        "--data",
        "n.csv",
        "--validation-split",
        "0.25",
        "--layers",
        "64:relu,2:softmax",
        "--epochs",
        "60",
        "--lr",
        "0.01",
    ]);
    let out = run.ok().to_string();
    let (train, valid) = (score(&out, "train:", "accuracy"), score(&out, "valid:", "accuracy"));
    let (n_fit, n_valid) = row_counts(&run.stderr);
    assert!(n_fit + n_valid == 400 && (99..=101).contains(&n_valid), "{}", run.stderr);
    let all =
        crate::util::metric(d.mlp(&["evaluate", "model.safetensors", "--data", "n.csv", "--json"]).ok(), "accuracy");
    // The whole file's accuracy is the row-weighted mean of the two parts.
    let mean = (n_fit as f64 * train + n_valid as f64 * valid) / 400.0;
    assert!((all - mean).abs() < 1e-3, "train {train}, valid {valid}, all {all}");
    // And the `train:` line is not the whole file's figure.
    assert!((train - all).abs() > 1e-4, "train {train} is the whole file's {all}");
}

/// The demo's settings stay with the demo: `--optimizer sgd` is plain SGD with its own learning
/// rate, and `--layers` keeps its own initializer.
#[test]
fn demo_defaults_do_not_leak() {
    let d = Dir::new("demo-leak");
    let run = d.mlp(&["train", "--optimizer", "sgd", "--epochs", "2", "--plots", "p"]);
    run.ok();
    crate::plots::check_plots(&d.join("p"));
    assert!(run.stderr.contains("optimizer sgd, lr 0.01"), "{}", run.stderr);
    let saved = mlp::model_file::load(&d.join("model.safetensors")).unwrap();
    let fit = &saved.meta.training.as_ref().unwrap()["fit"]["optimizer"];
    assert_eq!(fit["momentum"].as_f64(), Some(0.0), "{fit}");
    d.mlp(&["train", "--layers", "6:tanh:he_normal,2:softmax", "--epochs", "1", "--out", "l.safetensors", "-q"]).ok();
    let saved = mlp::model_file::load(&d.join("l.safetensors")).unwrap();
    assert_eq!(saved.model.config.layers[0].init.to_string(), "he_normal");
    // The demo itself is unchanged: its momentum SGD, test split and plateau stopper.
    let demo = d.mlp(&["train", "--epochs", "3", "--out", "d.safetensors", "--plots", "q"]);
    demo.ok();
    crate::plots::has_all(&crate::plots::check_plots(&d.join("q")), &["decision_boundary.gif", "loss.png"]);
    assert!(demo.stderr.contains("800 training rows, 200 test rows"), "{}", demo.stderr);
    assert!(demo.stderr.contains("optimizer momentum"), "{}", demo.stderr);
}
