//! Issue 10, class 2: an output that is an input or another output is refused before anything is
//! read or trained (exit 2, both flags named), by file identity: the same name, another spelling,
//! a hard link or a symlink. The inputs stay byte-identical and nothing is written. An unwritable
//! `--plots` directory is refused up front like `--out`.

use crate::util::{Dir, OK, Tmpfs, is_root, no_temporaries, snapshot};

/// A directory with data, a model, a checkpoint and a config to clash with.
fn setup(name: &str) -> Dir {
    let d = Dir::new(name);
    d.write("d.csv", OK);
    d.write("t.csv", OK);
    d.write("exp.toml", "epochs = 1\n");
    d.mlp(&[
        "train",
        "--data",
        "d.csv",
        "--epochs",
        "2",
        "--layers",
        "4:relu,2:softmax",
        "--out",
        "m.safetensors",
        "--checkpoint-every",
        "1",
        "--checkpoint",
        "ck.safetensors",
        "-q",
    ])
    .ok();
    d
}

/// `mlp args…` fails with exit 2 naming `needles`, and leaves every file in `d` as it was.
fn refused(d: &Dir, args: &[&str], needles: &[&str]) {
    let before = snapshot(&d.path);
    d.mlp(args).fails_with(needles);
    assert!(snapshot(&d.path) == before, "`mlp {}` changed the files in its directory", args.join(" "));
}

#[test]
fn train_outputs_against_inputs() {
    let d = setup("alias-train-in");
    let t = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["train", "--data", "d.csv", "--epochs", "1", "--layers", "4:relu,2:softmax", "-q"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let cases: &[(&[&str], &[&str])] = &[
        (&["--out", "d.csv"], &["--out and the input --data are the same file (`d.csv`)"]),
        (&["--out", "./d.csv"], &["--out and the input --data", "`./d.csv` and `d.csv`"]),
        (&["--test", "t.csv", "--out", "t.csv"], &["--out and the input --test"]),
        (&["--init-from", "m.safetensors", "--out", "m.safetensors"], &["--out and the input --init-from"]),
        (&["--config", "exp.toml", "--out", "exp.toml"], &["--out and the input --config"]),
        (&["--checkpoint", "d.csv"], &["--checkpoint and the input --data"]),
        (&["--history", "d.csv"], &["--history and the input --data"]),
        (&["--history", "exp.toml", "--config", "exp.toml"], &["--history and the input --config"]),
        (
            &["--checkpoint", "m.safetensors", "--init-from", "m.safetensors", "--out", "n.safetensors"],
            &["--checkpoint and the input --init-from"],
        ),
    ];
    for (extra, needles) in cases {
        let args = t(extra);
        refused(&d, &args.iter().map(String::as_str).collect::<Vec<_>>(), needles);
    }
    // --resume: the checkpoint is an input; only --checkpoint may go on writing it.
    refused(
        &d,
        &["train", "--resume", "ck.safetensors", "--out", "ck.safetensors", "-q"],
        &["--out and the input --resume"],
    );
    refused(
        &d,
        &["train", "--resume", "ck.safetensors", "--history", "ck.safetensors", "-q"],
        &["--history and the input --resume"],
    );
    no_temporaries(&d.path, "train aliasing");
}

#[test]
fn train_outputs_against_each_other() {
    let d = setup("alias-train-out");
    let base = ["train", "--data", "d.csv", "--epochs", "1", "--layers", "4:relu,2:softmax", "-q"];
    let cases: &[(&[&str], &[&str])] = &[
        (&["--out", "x.safetensors", "--checkpoint", "x.safetensors"], &["--checkpoint and the output --out"]),
        (&["--out", "x.safetensors", "--history", "x.safetensors"], &["--history and the output --out"]),
        (&["--checkpoint", "h.jsonl", "--history", "h.jsonl"], &["--history and the output --checkpoint"]),
        (&["--out", "figs/loss.png", "--plots", "figs"], &["--plots and the output --out"]),
        (&["--history", "figs/accuracy.svg", "--plots", "figs"], &["--plots and the output --history"]),
        // A new file spelled two ways is one file too.
        (&["--out", "new.safetensors", "--history", "./new.safetensors"], &["--history and the output --out"]),
    ];
    for (extra, needles) in cases {
        refused(&d, &[&base[..], extra].concat(), needles);
    }
}

#[test]
fn links_are_the_file_they_point_to() {
    let d = setup("alias-links");
    std::fs::hard_link(d.join("d.csv"), d.join("hard.csv")).unwrap();
    std::os::unix::fs::symlink("d.csv", d.join("soft.csv")).unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", d.join("sub/up")).unwrap();
    let base = ["train", "--data", "d.csv", "--epochs", "1", "-q"];
    refused(&d, &[&base[..], &["--out", "hard.csv"]].concat(), &["--out and the input --data", "`hard.csv`"]);
    refused(&d, &[&base[..], &["--out", "soft.csv"]].concat(), &["--out and the input --data", "`soft.csv`"]);
    refused(&d, &[&base[..], &["--out", "sub/up/d.csv"]].concat(), &["--out and the input --data"]);
    refused(
        &d,
        &["predict", "m.safetensors", "--input", "soft.csv", "--output", "hard.csv"],
        &["--output and the input --input"],
    );
}

#[test]
fn predict_export_plot_and_data_outputs() {
    let d = setup("alias-other");
    d.mlp(&["train", "--data", "d.csv", "--epochs", "2", "--out", "m2.safetensors", "--history", "h.jsonl", "-q"]).ok();
    refused(
        &d,
        &["predict", "m.safetensors", "--input", "d.csv", "--output", "d.csv"],
        &["--output and the input --input are the same file (`d.csv`)"],
    );
    refused(
        &d,
        &["predict", "m.safetensors", "--input", "d.csv", "--output", "m.safetensors"],
        &["--output and the input the model file"],
    );
    refused(&d, &["export", "m.safetensors", "--onnx", "m.safetensors"], &["--onnx and the input the model file"]);
    std::fs::create_dir(d.join("figs")).unwrap();
    std::fs::copy(d.join("h.jsonl"), d.join("figs/loss.svg")).unwrap();
    refused(&d, &["plot", "--history", "figs/loss.svg", "--out", "figs"], &["--out and the input --history"]);
    std::fs::copy(d.join("d.csv"), d.join("figs/decision_boundary.png")).unwrap();
    refused(
        &d,
        &[
            "plot",
            "--history",
            "h.jsonl",
            "--model",
            "m.safetensors",
            "--data",
            "figs/decision_boundary.png",
            "--out",
            "figs",
        ],
        &["--out and the input --data"],
    );
    // `>> x.csv`: stdout is the input file.
    let before = std::fs::read(d.join("d.csv")).unwrap();
    let append = std::fs::OpenOptions::new().append(true).open(d.join("d.csv")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlp"))
        .current_dir(&d.path)
        .args(["predict", "m.safetensors", "--input", "d.csv"])
        .stdout(append)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdout and the input --input"));
    assert_eq!(std::fs::read(d.join("d.csv")).unwrap(), before);
    // Two outputs on one device are fine: /dev/null is written in place.
    d.mlp(&["train", "--data", "d.csv", "--epochs", "1", "--history", "/dev/null", "--out", "n.safetensors", "-q"])
        .ok();
    // Resuming goes on writing the checkpoint it started from.
    d.mlp(&["train", "--resume", "ck.safetensors", "--epochs", "3", "--out", "r.safetensors", "-q"]).ok();
}

#[test]
fn unwritable_plots_directory_is_refused_before_training() {
    let d = Dir::new("alias-plots-ro");
    d.write("d.csv", OK);
    let args = |plots: &str| {
        ["train", "--data", "d.csv", "--epochs", "1", "--out", "m.safetensors", "--plots", plots, "-q"]
            .map(str::to_string)
            .to_vec()
    };
    // sysfs refuses new files even to root.
    let a = args("/sys/mlp-plots");
    d.mlp(&a.iter().map(String::as_str).collect::<Vec<_>>()).fails_with(&["--plots", "Permission denied"]);
    assert!(!d.join("m.safetensors").exists());
    d.write("file", "x");
    let a = args("file");
    d.mlp(&a.iter().map(String::as_str).collect::<Vec<_>>()).fails_with(&["--plots", "is not a directory"]);
    if is_root() {
        if let Some(ro) = Tmpfs::mount(d.join("ro"), "64k", true) {
            let a = args(&ro.path.join("figs").display().to_string());
            d.mlp(&a.iter().map(String::as_str).collect::<Vec<_>>()).fails_with(&["--plots", "Read-only file system"]);
            assert!(!d.join("m.safetensors").exists());
        }
    } else {
        eprintln!("skipped the read-only mount: needs root");
    }
}
