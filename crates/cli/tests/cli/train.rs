//! Training end to end: the demo, built-in datasets, Titanic, MNIST, configs, checkpoints and
//! resume, Ctrl-C, and the other subcommands on the models it writes.

use crate::util::{Dir, data_dir, metric, weight_bits};

const SPIRALS: &str = "builtin:spirals?n=400";
const SPIRALS_TEST: &str = "builtin:spirals?n=200&seed=3";

#[test]
fn demo_runs_with_no_arguments() {
    let d = Dir::new("demo");
    let out = d.mlp(&["train"]).ok().to_string();
    assert!(out.contains("train: loss") && out.contains("test:  loss"), "{out}");
    let test_acc: f64 = out
        .lines()
        .find(|l| l.starts_with("test:"))
        .and_then(|l| l.split("accuracy ").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .expect("a test accuracy");
    assert!(test_acc >= 0.9, "the spirals demo should separate the spirals: {out}");
    assert!(out.contains("wrote model.safetensors"), "{out}");
    for f in [
        "loss.png",
        "loss.svg",
        "accuracy.png",
        "decision_boundary.png",
        "decision_boundary.gif",
        "confusion_matrix.png",
    ] {
        assert!(d.join("plots").join(f).is_file(), "plots/{f} missing");
    }
}

#[test]
fn spirals_pipeline_train_evaluate_predict_summary() {
    let d = Dir::new("spirals");
    d.mlp(&[
        "train",
        "--data",
        SPIRALS,
        "--test",
        SPIRALS_TEST,
        "--layers",
        "10:relu,2:softmax",
        "--optimizer",
        "sgd",
        "--momentum",
        "0.9",
        "--lr",
        "0.1",
        "--epochs",
        "5",
        "--out",
        "s.safetensors",
        "--history",
        "h.jsonl",
        "-q",
    ])
    .ok();
    let history = std::fs::read_to_string(d.join("h.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 5);
    for line in history.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["epoch"].is_u64() && v["loss"].is_f64() && v["accuracy"].is_f64(), "{line}");
    }
    let table = d.mlp(&["evaluate", "s.safetensors", "--data", SPIRALS_TEST]).ok().to_string();
    assert!(table.contains("accuracy") && table.contains("confusion matrix"), "{table}");
    let json = d.mlp(&["evaluate", "s.safetensors", "--data", SPIRALS_TEST, "--json"]).ok().to_string();
    assert!((0.0..=1.0).contains(&metric(&json, "accuracy")));

    // The same points as CSV (as `mlp data` writes them) score the same.
    d.mlp(&["data", "spirals", "--n", "200", "--seed", "3", "--out", "t.csv"]).ok();
    let json_csv = d.mlp(&["evaluate", "s.safetensors", "--data", "t.csv", "--json"]).ok().to_string();
    assert_eq!(metric(&json, "accuracy"), metric(&json_csv, "accuracy"));

    d.mlp(&["predict", "s.safetensors", "--input", "t.csv", "--output", "p.csv", "--proba"]).ok();
    let p = std::fs::read_to_string(d.join("p.csv")).unwrap();
    let mut lines = p.lines();
    assert_eq!(lines.next(), Some("prediction,p_0,p_1"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 200);
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        let (p0, p1): (f32, f32) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        assert!((p0 + p1 - 1.0).abs() < 1e-5 && ["0", "1"].contains(&f[0]), "{r}");
    }
    // Predictions streamed in chunks of 7 rows, through stdin and stdout, are the same.
    let csv = std::fs::read_to_string(d.join("t.csv")).unwrap();
    let streamed = d.mlp_stdin(&["predict", "s.safetensors", "--proba", "--chunk-rows", "7"], Some(&csv));
    assert_eq!(streamed.ok(), p);

    let summary = d.mlp(&["summary", "s.safetensors"]).ok().to_string();
    assert!(summary.contains("Total params: 52") && summary.contains("Classes: 0, 1"), "{summary}");
}

#[test]
fn circles_reach_95_percent() {
    let d = Dir::new("circles");
    d.mlp(&[
        "train",
        "--data",
        "builtin:circles?n=500&noise=0.1",
        "--layers",
        "16:relu,2:softmax",
        "--lr",
        "0.01",
        "--epochs",
        "60",
        "--out",
        "c.safetensors",
        "-q",
    ])
    .ok();
    let json = d.mlp(&["evaluate", "c.safetensors", "--data", "builtin:circles?n=500&noise=0.1&seed=1", "--json"]);
    let acc = metric(json.ok(), "accuracy");
    assert!(acc >= 0.95, "circles test accuracy {acc}");
}

#[test]
fn blobs_reach_90_percent() {
    let d = Dir::new("blobs");
    d.mlp(&[
        "train",
        "--data",
        "builtin:blobs?n=100",
        "--layers",
        "8:relu,3:softmax",
        "--lr",
        "0.01",
        "--epochs",
        "30",
        "-q",
    ])
    .ok();
    let json = d.mlp(&["evaluate", "model.safetensors", "--data", "builtin:blobs?n=100&seed=1", "--json"]);
    let acc = metric(json.ok(), "accuracy");
    assert!(acc >= 0.90, "blobs test accuracy {acc}");
}

#[test]
fn titanic_reaches_78_percent() {
    let d = Dir::new("titanic");
    let src = data_dir().join("titanic/train.csv");
    let text = std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    // Rows may hold quoted line breaks in principle; Titanic's do not, so lines are rows.
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 891);
    let part = |r: &[&str]| format!("{header}\n{}\n", r.join("\n"));
    d.write("train.csv", &part(&rows[..600]));
    d.write("test.csv", &part(&rows[600..]));
    let run = d.mlp(&[
        "train",
        "--data",
        "train.csv",
        "--test",
        "test.csv",
        "--target",
        "Survived",
        "--drop",
        "PassengerId,Name,Ticket,Cabin",
        "--impute",
        "--layers",
        "16:relu,2:softmax",
        "--epochs",
        "40",
        "--lr",
        "0.003",
        "--out",
        "titanic.safetensors",
    ]);
    run.ok();
    assert!(run.stderr.contains("imputed") && run.stderr.contains("Age"), "{}", run.stderr);
    let json = d.mlp(&["evaluate", "titanic.safetensors", "--data", "test.csv", "--json"]);
    let acc = metric(json.ok(), "accuracy");
    eprintln!("Titanic test accuracy: {acc:.4}");
    assert!(acc >= 0.78, "Titanic test accuracy {acc}");
    // Predict on rows without the target; labels are the file's own.
    let no_target: String = text
        .lines()
        .take(4)
        .map(|l| {
            let f: Vec<&str> = l.splitn(3, ',').collect();
            format!("{},{}\n", f[0], f[2])
        })
        .collect();
    d.write("new.csv", &no_target);
    let p = d.mlp(&["predict", "titanic.safetensors", "--input", "new.csv"]).ok().to_string();
    assert_eq!(p.lines().count(), 4);
    assert!(p.lines().skip(1).all(|l| l == "0" || l == "1"), "{p}");
}

/// The figure varies with the seed (97.01–98.01% over seeds 0–9, PyTorch's identical loop
/// 97.45–97.93%: see tests/mnist.rs); seed 4 is the one the library test uses too.
#[test]
fn mnist_reaches_97_8_percent() {
    let d = Dir::new("mnist");
    let mnist = data_dir().join("mnist");
    let mnist = mnist.to_str().unwrap();
    d.mlp(&[
        "train",
        "--data",
        mnist,
        "--test",
        mnist,
        "--layers",
        "512:relu,10:softmax",
        "--optimizer",
        "rmsprop",
        "--lr",
        "0.001",
        "--batch-size",
        "128",
        "--epochs",
        "5",
        "--validation-split",
        "0.2",
        "--seed",
        "4",
        "--out",
        "mnist.safetensors",
        "-q",
    ])
    .ok();
    let json = d.mlp(&["evaluate", "mnist.safetensors", "--data", mnist, "--json"]);
    let out = json.ok();
    let acc = metric(out, "accuracy");
    eprintln!("MNIST test accuracy: {acc:.4}");
    assert!(metric(out, "top_5_accuracy") >= acc);
    assert!(acc >= 0.978, "MNIST test accuracy {acc}");
}

#[test]
fn regression_on_a_csv() {
    let d = Dir::new("regression");
    let rows: String = (0..200)
        .map(|i| {
            let x = i as f32 / 20.0;
            format!("{x},{},{}\n", (i % 7) as f32, 3.0 * x - 2.0 + 0.5 * (i % 7) as f32)
        })
        .collect();
    d.write("r.csv", &format!("x,z,y\n{rows}"));
    d.mlp(&[
        "train", "--data", "r.csv", "--layers", "1:linear", "--loss", "mse", "--lr", "0.05", "--epochs", "100", "-q",
    ])
    .ok();
    let json = d.mlp(&["evaluate", "model.safetensors", "--data", "r.csv", "--json"]).ok().to_string();
    assert!(metric(&json, "r2") > 0.99, "{json}");
    let p = d.mlp(&["predict", "model.safetensors", "--input", "r.csv"]).ok().to_string();
    assert_eq!(p.lines().next(), Some("prediction"));
    let first: f32 = p.lines().nth(1).unwrap().parse().unwrap();
    assert!((first - -2.0).abs() < 0.3, "{first}");
    d.mlp(&["predict", "model.safetensors", "--input", "r.csv", "--proba"]).fails_with(&["--proba", "regression"]);
}

#[test]
fn toml_config_with_flags_overriding_is_stored_in_the_model() {
    let d = Dir::new("config");
    d.write(
        "exp.toml",
        "data = \"builtin:blobs?n=30\"\nlayers = \"6:tanh,3:softmax\"\noptimizer = \"sgd\"\nlr = 0.05\nepochs = 9\nseed = 4\n",
    );
    d.mlp(&["train", "--config", "exp.toml", "--epochs", "3", "--history", "h.jsonl", "-q"]).ok();
    assert_eq!(std::fs::read_to_string(d.join("h.jsonl")).unwrap().lines().count(), 3, "--epochs overrides the file");
    let saved = mlp::model_file::load(&d.join("model.safetensors")).unwrap();
    let t = saved.meta.training.expect("training settings are stored");
    assert_eq!(t["settings"]["epochs"], 3);
    assert_eq!(t["settings"]["layers"], "6:tanh,3:softmax");
    assert_eq!(t["fit"]["optimizer"]["name"], "sgd");
    d.write("bad.toml", "epochs = 3\nlearning_rate = 0.1\n");
    d.mlp(&["train", "--config", "bad.toml"]).fails_with(&["bad.toml:2", "learning_rate"]);
}

/// Issue 5: a run interrupted and resumed from its checkpoint ends bit-identical to one that was not.
#[test]
fn resume_from_checkpoint_is_bit_identical() {
    let d = Dir::new("resume");
    let common = [
        "--data",
        "builtin:spirals?n=300",
        "--layers",
        "8:relu,2:softmax",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--validation-split",
        "0.2",
        "--seed",
        "5",
        "-q",
    ];
    let run = |extra: &[&str]| {
        let mut a = vec!["train"];
        a.extend_from_slice(&common);
        a.extend_from_slice(extra);
        d.mlp(&a).ok().to_string()
    };
    run(&["--epochs", "6", "--out", "full.safetensors"]);
    run(&["--epochs", "3", "--out", "half.safetensors", "--checkpoint-every", "1", "--checkpoint", "half.ckpt"]);
    assert!(d.join("half.ckpt").is_file());
    d.mlp(&["train", "--resume", "half.ckpt", "--epochs", "6", "--out", "resumed.safetensors", "-q"]).ok();
    assert_eq!(weight_bits(&d.join("resumed.safetensors")), weight_bits(&d.join("full.safetensors")));
    assert_ne!(weight_bits(&d.join("half.safetensors")), weight_bits(&d.join("full.safetensors")));
}

/// Issue 5: Ctrl-C stops after the current batch, writes the checkpoint and exits 130.
#[test]
fn ctrl_c_writes_a_checkpoint_and_exits_130() {
    let d = Dir::new("sigint");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mlp"))
        .current_dir(&d.path)
        .args([
            "train",
            "--data",
            "builtin:spirals?n=20000",
            "--layers",
            "64:relu,2:softmax",
            "--epochs",
            "100000",
            "--out",
            "m.safetensors",
            "-q",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted at epoch") && err.contains("--resume m.ckpt.safetensors"), "{err}");
    assert!(!d.join("m.safetensors").exists(), "an interrupted run saves no model");
    let (ck, _) = mlp::model_file::load_checkpoint(&d.join("m.ckpt.safetensors")).expect("the checkpoint loads");
    assert!(ck.state.epoch >= 1);
}

#[test]
fn init_from_fine_tunes_and_checks_the_architecture() {
    let d = Dir::new("init-from");
    d.mlp(&[
        "train",
        "--data",
        "builtin:circles",
        "--layers",
        "8:relu,2:softmax",
        "--epochs",
        "2",
        "--out",
        "a.safetensors",
        "-q",
    ])
    .ok();
    // Zero epochs is not allowed, so one epoch at a tiny rate shows the weights were taken over.
    d.mlp(&[
        "train",
        "--data",
        "builtin:circles",
        "--init-from",
        "a.safetensors",
        "--epochs",
        "1",
        "--optimizer",
        "sgd",
        "--lr",
        "1e-30",
        "--out",
        "b.safetensors",
        "-q",
    ])
    .ok();
    assert_eq!(weight_bits(&d.join("a.safetensors")), weight_bits(&d.join("b.safetensors")));
    d.mlp(&[
        "train",
        "--data",
        "builtin:circles",
        "--init-from",
        "a.safetensors",
        "--layers",
        "4:relu,2:softmax",
        "-q",
    ])
    .fails_with(&["--init-from a.safetensors", "differs"]);
}

#[test]
fn options_clip_norm_schedule_class_weight_device_auto_and_json_logs() {
    let d = Dir::new("options");
    let run = d.mlp(&[
        "train",
        "--data",
        "builtin:blobs?n=40",
        "--layers",
        "8:relu,3:softmax",
        "--epochs",
        "3",
        "--clip-norm",
        "1",
        "--lr-schedule",
        "step:1:0.5",
        "--class-weight",
        "auto",
        "--early-stopping",
        "5:0.001",
        "--monitor",
        "val_loss",
        "--validation-split",
        "0.25",
        "--device",
        "auto",
        "--threads",
        "1",
        "--log-format",
        "json",
        "--no-shuffle",
    ]);
    run.ok();
    for line in run.stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["event"].is_string(), "{line}");
    }
    let epochs: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "epoch")
        .collect();
    assert_eq!(epochs.len(), 3);
    assert_eq!(
        epochs[1]["lr"].as_f64().unwrap() * 2.0,
        epochs[0]["lr"].as_f64().unwrap(),
        "step schedule halves the rate"
    );
    let result: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("the result is one JSON object");
    assert!(result["train"]["accuracy"].is_f64());
    let quiet = d.mlp(&[
        "train",
        "--data",
        "builtin:xor?targets=classes",
        "--layers",
        "4:tanh,2:softmax",
        "--epochs",
        "2",
        "-q",
    ]);
    quiet.ok();
    assert!(quiet.stderr.is_empty(), "--quiet prints only errors: {}", quiet.stderr);
}

#[test]
fn gradcheck_data_and_summary_commands() {
    let d = Dir::new("misc");
    let out = d
        .mlp(&["gradcheck", "--layers", "5:tanh,4:prelu,3:softmax", "--loss", "categorical_crossentropy"])
        .ok()
        .to_string();
    assert!(out.contains("OK: worst relative error") && out.lines().filter(|l| l.contains(':')).count() >= 3, "{out}");
    d.mlp(&["gradcheck", "--layers", "3:maxout(2),1:linear", "--loss", "mse", "--inputs", "3", "--rows", "4"]).ok();
    d.mlp(&["gradcheck", "--layers", "3:relu,1:sigmoid", "--loss", "binary_crossentropy", "--tolerance", "0"])
        .fails_with(&["gradient check failed"]);
    let csv = d.mlp(&["data", "linear", "--n", "5"]).ok().to_string();
    assert_eq!(csv.lines().next(), Some("x1,y"));
    assert_eq!(csv.lines().count(), 6);
    let csv = d.mlp(&["data", "blobs", "--n", "4", "--noise", "0.5", "--seed", "2"]).ok().to_string();
    assert_eq!(csv.lines().next(), Some("x1,x2,label"));
    assert_eq!(csv.lines().count(), 13);
    let s = d.mlp(&["summary", "--layers", "512:relu,10:softmax", "--inputs", "784"]).ok().to_string();
    assert!(s.contains("401920") && s.contains("5130") && s.contains("Total params: 407050"), "{s}");
    let help = d.mlp(&["train", "--help"]).ok().to_string();
    assert!(help.contains("Examples:") && help.contains("--early-stopping"), "{help}");
}

#[test]
fn broken_pipe_exits_quietly_with_0() {
    let d = Dir::new("pipe");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mlp"))
        .current_dir(&d.path)
        .args(["data", "spirals", "--n", "2000000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    use std::io::Read;
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty());
}

#[test]
fn export_runs_in_tract_and_matches_predict() {
    use tract_onnx::prelude::*;
    let d = Dir::new("export");
    d.mlp(&[
        "train",
        "--data",
        SPIRALS,
        "--layers",
        "10:relu,2:softmax",
        "--epochs",
        "3",
        "--out",
        "s.safetensors",
        "-q",
    ])
    .ok();
    d.mlp(&["export", "s.safetensors", "--onnx", "s.onnx"]).ok();
    d.mlp(&["data", "spirals", "--n", "50", "--out", "t.csv"]).ok();
    let p = d.mlp(&["predict", "s.safetensors", "--input", "t.csv", "--proba"]).ok().to_string();
    let csv = std::fs::read_to_string(d.join("t.csv")).unwrap();
    let x: Vec<f32> = csv
        .lines()
        .skip(1)
        .flat_map(|l| l.split(',').take(2).map(|v| v.parse::<f32>().unwrap()).collect::<Vec<_>>())
        .collect();
    let model =
        tract_onnx::onnx().model_for_path(d.join("s.onnx")).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let input = tract_ndarray::Array2::from_shape_vec((50, 2), x).unwrap();
    let out = model.run(tvec!(Tensor::from(input).into())).unwrap();
    let probs = out[0].to_plain_array_view::<f32>().unwrap();
    for (r, line) in p.lines().skip(1).enumerate() {
        let f: Vec<f32> = line.split(',').skip(1).map(|v| v.parse().unwrap()).collect();
        for j in 0..2 {
            assert!((probs[[r, j]] - f[j]).abs() <= 1e-5, "row {r}: onnx {} vs mlp {}", probs[[r, j]], f[j]);
        }
    }
}
