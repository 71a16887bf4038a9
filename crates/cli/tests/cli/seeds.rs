//! What the seed texts teach, end to end: radial basis units from `--layers`, the dead-unit monitor and its warning, the seed's own stopping rule, the housing line in the data's units with its plots, and `--epochs 0`.

use crate::plots::{check_plots, has_all};
use crate::util::{Dir, metric};

/// The dead-unit fractions of layer 1 per epoch, from a `--history` file.
fn dead_series(d: &Dir, history: &str) -> Vec<f64> {
    std::fs::read_to_string(d.join(history))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["dead_units_1"].as_f64().expect("dead_units_1"))
        .collect()
}

#[test]
fn too_high_a_learning_rate_kills_relu_units_and_is_warned_about() {
    let d = Dir::new("dead-units");
    let common =
        ["train", "--data", "builtin:blobs", "--layers", "32:relu,3:softmax", "--optimizer", "sgd", "--epochs", "15"];
    let bad = d.mlp(
        &[&common[..], &["--lr", "8", "--history", "bad.jsonl", "--plots", "p", "--out", "bad.safetensors"]].concat(),
    );
    bad.ok();
    let dead = dead_series(&d, "bad.jsonl");
    assert!(dead.last().unwrap() > &0.4 && dead.last() > dead.first(), "dead fractions {dead:?}");
    assert!(bad.stderr.contains("warning: layer 1 (32:relu)") && bad.stderr.contains("lower --lr"), "{}", bad.stderr);
    assert!(bad.stderr.contains("dead_units_1"), "the progress line shows it: {}", bad.stderr);
    has_all(&check_plots(&d.join("p")), &["dead_units.png", "dead_units.svg"]);

    let good = d.mlp(&[&common[..], &["--lr", "0.1", "--history", "good.jsonl", "--out", "good.safetensors"]].concat());
    good.ok();
    let dead = dead_series(&d, "good.jsonl");
    assert!(dead.iter().all(|&f| f < 0.4), "a healthy run: {dead:?}");
    assert!(!good.stderr.contains("warning: layer"), "{}", good.stderr);

    // The threshold is the user's: at 0 every run with a dead unit warns; bad values are refused.
    d.mlp(&["train", "--data", "builtin:blobs", "--dead-units-warn", "1.5"]).fails_with(&["--dead-units-warn"]);
}

#[test]
fn the_seed_stopper_prints_the_seed_lines_and_stops_at_accuracy_one() {
    let d = Dir::new("seed-stopper");
    // Well-separated clusters reach training accuracy 1 within a few epochs: the `acc = 1` exit.
    let run = d.mlp(&[
        "train",
        "--data",
        "builtin:blobs?sd=0.2",
        "--layers",
        "8:relu,3:softmax",
        "--optimizer",
        "sgd",
        "--lr",
        "0.5",
        "--epochs",
        "200",
        "--seed-stopper",
        "1e-3:100:100:2",
    ]);
    let out = run.ok();
    assert!(run.stderr.contains("[2] training accuracy: "), "{}", run.stderr);
    assert!(run.stderr.contains("Training finished with final accuracy: 100 %"), "{}", run.stderr);
    assert!(out.contains("(seed stopper stopped after epoch"), "{out}");

    // A plateau that never reaches 1: the tolerance clauses end it after MIN epochs.
    let run = d.mlp(&[
        "train",
        "--data",
        "builtin:blobs?sd=2",
        "--layers",
        "3:softmax",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--epochs",
        "300",
        "--seed-stopper",
        "0.05:5:20",
        "--out",
        "m2.safetensors",
    ]);
    let out = run.ok();
    let epoch: usize =
        out.split("stopped after epoch ").nth(1).and_then(|s| s.split(')').next()).unwrap().parse().unwrap();
    assert!((21..300).contains(&epoch), "stopped after {epoch}: {out}");

    d.mlp(&["train", "--data", "builtin:blobs", "--seed-stopper", "1e-3:0:100"]).fails_with(&["--seed-stopper", "N"]);
    d.mlp(&["train", "--data", "builtin:linear", "--seed-stopper"]).fails_with(&["--seed-stopper", "classification"]);
}

/// `(slope, intercept)` from a `F(x) = …x + …` line.
fn line(out: &str) -> (f64, f64) {
    let f = out.lines().find_map(|l| l.split("F(x) = ").nth(1)).unwrap_or_else(|| panic!("no F(x) line in {out}"));
    let (slope, rest) = f.split_once('x').unwrap();
    let intercept = rest.trim().replace(' ', "").replace('−', "-");
    (slope.trim().parse().unwrap(), intercept.parse().unwrap())
}

#[test]
fn the_housing_line_is_printed_in_the_data_units_and_drawn() {
    let d = Dir::new("housing-line");
    let out = d
        .mlp(&[
            "train",
            "--data",
            "builtin:linear?n=20000",
            "--layers",
            "1:linear",
            "--loss",
            "mse",
            "--optimizer",
            "sgd",
            "--lr",
            "0.05",
            "--lr-schedule",
            "exp:0.7",
            "--batch-size",
            "100",
            "--epochs",
            "15",
            "--plots",
            "p",
        ])
        .ok()
        .to_string();
    // y = 1837.5·x + 14376.52 + U(0, 10000): the least-squares line is 1837.5·x + 19376.52.
    let (slope, intercept) = line(&out);
    assert!((slope / 1837.5 - 1.0).abs() < 0.01, "slope {slope}: {out}");
    assert!((intercept / 19376.52 - 1.0).abs() < 0.01, "intercept {intercept}: {out}");
    let names = check_plots(&d.join("p"));
    has_all(&names, &["fit.png", "fit.gif"]);
    assert!(!names.iter().any(|n| n == "predicted_vs_actual.png"), "one input: the curve, not predicted vs actual");
}

#[test]
fn many_inputs_draw_predicted_against_actual() {
    let d = Dir::new("pva");
    let rows: String = (0..80).map(|i| format!("{i},{},{}\n", i % 7, 3 * i + 2 * (i % 7) + 1)).collect();
    d.write("r.csv", &format!("a,b,y\n{rows}"));
    let out = d
        .mlp(&["train", "--data", "r.csv", "--layers", "1:linear", "--loss", "mse", "--epochs", "3", "--plots", "p"])
        .ok()
        .to_string();
    assert!(out.contains("fitted line (the data's units): y = "), "{out}");
    has_all(&check_plots(&d.join("p")), &["predicted_vs_actual.png"]);
}

#[test]
fn zero_epochs_scores_and_plots_the_untrained_network() {
    let d = Dir::new("epochs-0");
    let run = d.mlp(&[
        "train",
        "--data",
        "builtin:spirals?n=200",
        "--layers",
        "10:relu,2:softmax",
        "--epochs",
        "0",
        "--validation-split",
        "0",
        "--plots",
        "p",
    ]);
    let out = run.ok();
    assert!(out.contains("no training (--epochs 0)"), "{out}");
    let acc: f64 = out.split("accuracy ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(acc < 0.8, "an untrained net scores near chance, got {acc}");
    has_all(&check_plots(&d.join("p")), &["decision_boundary.png", "confusion_matrix.png"]);
    // The model file holds the untrained weights and evaluates to the same score.
    let ev = d.mlp(&["evaluate", "model.safetensors", "--data", "builtin:spirals?n=200", "--json"]).ok().to_string();
    assert!((metric(&ev, "accuracy") - acc).abs() < 1e-4, "{ev}");
}

#[test]
fn rbf_units_from_the_command_line() {
    let d = Dir::new("rbf-cli");
    let out = d
        .mlp(&[
            "train",
            "--data",
            "builtin:circles?n=200&noise=0.05",
            "--layers",
            "6:rbf,2:softmax",
            "--optimizer",
            "adam",
            "--lr",
            "0.05",
            "--epochs",
            "40",
        ])
        .ok()
        .to_string();
    let acc: f64 = out.split("accuracy ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(acc >= 0.95, "{out}");
    let summary = d.mlp(&["summary", "model.safetensors"]).ok().to_string();
    assert!(summary.contains("Rbf"), "{summary}");
    d.mlp(&["export", "model.safetensors", "--onnx", "m.onnx"]).ok();
}

/// Writes an IDX file: magic, dimensions, bytes.
fn write_idx(path: &std::path::Path, magic: u32, dims: &[u32], data: &[u8]) {
    let mut bytes = magic.to_be_bytes().to_vec();
    dims.iter().for_each(|d| bytes.extend(d.to_be_bytes()));
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// An EMNIST-letters-shaped split: 28×28 images, labels 1–26, each letter a bright 5×5 block at
/// its own place with pixel noise around it.
fn letters(dir: &std::path::Path, split: &str, per_class: usize, seed: u64) {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 60) as u8
    };
    for i in 0..26 * per_class {
        let letter = (i % 26) as u8 + 1;
        let (r0, c0) = (((letter - 1) / 6) as usize * 5 + 2, ((letter - 1) % 6) as usize * 4 + 1);
        for r in 0..28 {
            for c in 0..28 {
                let on = (r0..r0 + 5).contains(&r) && (c0..c0 + 5).contains(&c);
                images.push(if on { 200 + noise() / 2 } else { noise() });
            }
        }
        labels.push(letter);
    }
    let n = labels.len() as u32;
    write_idx(&dir.join(format!("emnist-letters-{split}-images-idx3-ubyte")), 0x803, &[n, 28, 28], &images);
    write_idx(&dir.join(format!("emnist-letters-{split}-labels-idx1-ubyte")), 0x801, &[n], &labels);
}

#[test]
fn emnist_letters_shaped_idx_trains_evaluates_and_predicts() {
    let d = Dir::new("emnist");
    let dir = d.join("letters");
    std::fs::create_dir_all(&dir).unwrap();
    letters(&dir, "train", 20, 1);
    letters(&dir, "test", 8, 2);
    let out = d
        .mlp(&[
            "train",
            "--data",
            "letters",
            "--test",
            "letters",
            "--layers",
            "32:relu,26:softmax",
            "--epochs",
            "8",
            "--optimizer",
            "adam",
            "--lr",
            "0.005",
        ])
        .ok()
        .to_string();
    assert!(out.contains("test:"), "{out}");
    let summary = d.mlp(&["summary", "model.safetensors"]).ok().to_string();
    assert!(summary.contains("28×28"), "{summary}");
    let ev = d.mlp(&["evaluate", "model.safetensors", "--data", "letters", "--json"]).ok().to_string();
    let acc = metric(&ev, "accuracy");
    assert!(acc > 0.9, "26 separable letters: {ev}");

    // `mlp predict` on the IDX images file gives the letters (1–26) that evaluate scored.
    let pred = d
        .mlp(&["predict", "model.safetensors", "--input", "letters/emnist-letters-test-images-idx3-ubyte"])
        .ok()
        .to_string();
    let labels = std::fs::read(dir.join("emnist-letters-test-labels-idx1-ubyte")).unwrap()[8..].to_vec();
    let predicted: Vec<u8> = pred.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    assert_eq!(predicted.len(), labels.len());
    assert!(predicted.iter().all(|p| (1..=26).contains(p)), "letters are 1–26");
    let right = predicted.iter().zip(&labels).filter(|(p, l)| p == l).count();
    assert!(
        (right as f64 / labels.len() as f64 - acc).abs() < 1e-9,
        "predict {right}/{} vs evaluate {acc}",
        labels.len()
    );

    // `mlp data idx` writes them as CSV, which predict reads back to the same predictions.
    d.mlp(&["data", "idx", "letters", "--split", "test", "--out", "test.csv"]).ok();
    let csv = std::fs::read_to_string(d.join("test.csv")).unwrap();
    assert!(csv.starts_with("label,pixel_1,") && csv.lines().count() == labels.len() + 1);
    let again = d.mlp(&["predict", "model.safetensors", "--input", "test.csv"]).ok().to_string();
    assert_eq!(again, pred);
}
