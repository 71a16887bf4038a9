//! Issue 10, class 3: a run that fails never destroys a good file. An existing model at `--out` is
//! replaced only by a run that ended normally; a diverged run puts its last good weights beside
//! it; a full disk (a 64 KiB tmpfs, when run as root) costs neither the old model nor, for the
//! history and plots, the new one; and no partial or temporary file is left.

use crate::util::{Dir, Tmpfs, no_temporaries, signal, snapshot, spawn};

const OK: &str = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n";

/// Linear data that SGD with a huge learning rate blows up on.
const DIVERGE: &[&str] = &[
    "train",
    "--data",
    "builtin:linear",
    "--layers",
    "8:relu,1:linear",
    "--loss",
    "mse",
    "--optimizer",
    "sgd",
    "--lr",
    "100",
    "--epochs",
    "50",
    "--out",
    "m.safetensors",
    "-q",
];

#[test]
fn divergence_keeps_an_existing_model_and_writes_beside_it() {
    let d = Dir::new("fail-diverge");
    d.mlp(&[
        "train",
        "--data",
        "builtin:linear",
        "--layers",
        "8:relu,1:linear",
        "--epochs",
        "2",
        "--out",
        "m.safetensors",
        "-q",
    ])
    .ok();
    let good = std::fs::read(d.join("m.safetensors")).unwrap();
    d.mlp(DIVERGE).fails_with(&[
        "training diverged; the last good weights are in m.diverged.safetensors; m.safetensors is unchanged",
        "the loss became",
    ]);
    assert_eq!(std::fs::read(d.join("m.safetensors")).unwrap(), good, "the good model was replaced");
    let kept = mlp::model_file::load(&d.join("m.diverged.safetensors")).expect("the last good weights load");
    assert!(kept.model.check().is_ok());
    no_temporaries(&d.path, "diverged");
}

#[test]
fn an_interrupted_run_leaves_the_old_model_and_history_alone() {
    let d = Dir::new("fail-interrupt");
    d.write("d.csv", OK);
    d.mlp(&["train", "--data", "d.csv", "--epochs", "2", "--out", "m.safetensors", "--history", "h.jsonl", "-q"]).ok();
    let before = snapshot(&d.path);
    let child = spawn(
        &d.path,
        &[
            "train",
            "--data",
            "builtin:spirals?n=20000",
            "--layers",
            "64:relu,2:softmax",
            "--epochs",
            "100000",
            "--out",
            "m.safetensors",
            "--history",
            "h.jsonl",
            "--checkpoint",
            "ck.safetensors",
            "-q",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    signal(&child, "INT");
    crate::util::Run::of(child).exits_with(
        130,
        &["interrupted at epoch", "checkpoint saved to ck.safetensors", "m.safetensors was not written"],
    );
    let after = snapshot(&d.path);
    for name in ["m.safetensors", "h.jsonl", "d.csv"] {
        assert!(after[name] == before[name], "{name} changed");
    }
    mlp::model_file::load_checkpoint(&d.join("ck.safetensors")).expect("the checkpoint loads");
    no_temporaries(&d.path, "interrupted");
}

#[test]
fn full_disk_for_the_model_keeps_the_old_one() {
    let d = Dir::new("fail-full-model");
    d.write("d.csv", OK);
    let Some(fs) = Tmpfs::mount(d.join("full"), "64k", false) else { return };
    d.mlp(&["train", "--data", "d.csv", "--epochs", "1", "--out", "full/m.safetensors", "-q"]).ok();
    let good = std::fs::read(d.join("full/m.safetensors")).unwrap();
    fs.fill();
    // Wide enough that the model (about 100 KB) cannot fit in what is left.
    d.mlp(&[
        "train",
        "--data",
        "d.csv",
        "--epochs",
        "1",
        "--layers",
        "5000:relu,2:softmax",
        "--out",
        "full/m.safetensors",
        "-q",
    ])
    .fails_with(&["full/m.safetensors", "No space left on device"]);
    assert_eq!(std::fs::read(d.join("full/m.safetensors")).unwrap(), good);
    no_temporaries(&d.path, "full disk, model");
}

#[test]
fn full_disk_for_the_history_keeps_the_model() {
    let d = Dir::new("fail-full-history");
    d.write("d.csv", OK);
    let Some(fs) = Tmpfs::mount(d.join("full"), "64k", false) else { return };
    std::fs::write(d.join("full/h.jsonl"), "{\"epoch\":1,\"loss\":1}\n").unwrap();
    fs.fill();
    d.mlp(&[
        "train",
        "--data",
        "d.csv",
        "--epochs",
        "400",
        "--out",
        "m.safetensors",
        "--history",
        "full/h.jsonl",
        "-q",
    ])
    .fails_with(&["the model was saved to m.safetensors, but the history was not written", "No space left on device"]);
    let saved = mlp::model_file::load(&d.join("m.safetensors")).expect("the model is kept");
    assert_eq!(saved.meta.history.map(|h| h.epochs), Some(400));
    assert_eq!(std::fs::read_to_string(d.join("full/h.jsonl")).unwrap(), "{\"epoch\":1,\"loss\":1}\n");
    no_temporaries(&d.path, "full disk, history");
}

#[test]
fn full_disk_for_the_plots_keeps_the_model_and_leaves_no_half_plot() {
    let d = Dir::new("fail-full-plots");
    let Some(fs) = Tmpfs::mount(d.join("full"), "64k", false) else { return };
    std::fs::create_dir(d.join("full/figs")).unwrap();
    fs.fill();
    d.mlp(&[
        "train",
        "--data",
        "builtin:circles?n=100",
        "--epochs",
        "3",
        "--out",
        "m.safetensors",
        "--plots",
        "full/figs",
        "-q",
    ])
    .fails_with(&["the model was saved to m.safetensors, but the plots were not written"]);
    mlp::model_file::load(&d.join("m.safetensors")).expect("the model is kept");
    let left: Vec<_> = std::fs::read_dir(d.join("full/figs")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "no plot, whole or partial, and no stage: {left:?}");
    // `mlp plot` alike.
    d.mlp(&[
        "train",
        "--data",
        "builtin:circles?n=100",
        "--epochs",
        "3",
        "--out",
        "m2.safetensors",
        "--history",
        "h.jsonl",
        "-q",
    ])
    .ok();
    d.mlp(&["plot", "--history", "h.jsonl", "--out", "full/figs"]).fails_with(&["full/figs"]);
    assert!(std::fs::read_dir(d.join("full/figs")).unwrap().next().is_none());
    no_temporaries(&d.path, "full disk, plots");
}

#[test]
fn full_disk_for_predict_data_and_export_leaves_nothing() {
    let d = Dir::new("fail-full-other");
    d.write("d.csv", OK);
    d.mlp(&[
        "train",
        "--data",
        "d.csv",
        "--epochs",
        "1",
        "--layers",
        "2000:relu,2:softmax",
        "--out",
        "m.safetensors",
        "-q",
    ])
    .ok();
    let Some(fs) = Tmpfs::mount(d.join("full"), "64k", false) else { return };
    fs.fill();
    d.mlp(&["data", "spirals", "--n", "5000", "--out", "full/s.csv"]).fails_with(&["No space left on device"]);
    d.mlp(&["export", "m.safetensors", "--onnx", "full/m.onnx"]).fails_with(&["No space left on device"]);
    let mut big = String::from("a,b\n");
    for i in 0..20_000 {
        big += &format!("{},{}\n", i % 10, i % 3);
    }
    d.write("x.csv", &big);
    d.mlp(&["predict", "m.safetensors", "--input", "x.csv", "--output", "full/p.csv"])
        .fails_with(&["No space left on device"]);
    for f in ["s.csv", "m.onnx", "p.csv"] {
        assert!(!d.join("full").join(f).exists(), "{f}: a partial output was left");
    }
    no_temporaries(&d.path, "full disk, other outputs");
}
