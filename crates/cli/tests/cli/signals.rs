//! Issue 10, class 6: SIGTERM and SIGHUP stop `train` like Ctrl-C (checkpoint, exit 128 + the
//! signal); `predict` stops between chunks; a second signal exits at once; no temporary file is
//! ever left, and an existing model is never replaced by an interrupted run.

use crate::util::{Dir, Run, no_temporaries, signal, spawn};
use std::io::Read;
use std::time::{Duration, Instant};

/// A run long enough to be stopped mid-way, checkpointing every epoch.
const LONG: &[&str] = &[
    "train",
    "--data",
    "builtin:spirals?n=4000",
    "--layers",
    "64:relu,2:softmax",
    "--epochs",
    "100000",
    "--out",
    "m.safetensors",
    "--checkpoint",
    "ck.safetensors",
    "--checkpoint-every",
    "1",
    // No default validation split, so no early stopping: the run lasts until it is signalled.
    "--validation-split",
    "0",
];

/// Starts `args` in `d` and waits until its stderr shows `marker` (training has begun).
fn started(d: &Dir, args: &[&str], marker: &str) -> std::process::Child {
    let mut child = spawn(&d.path, args);
    let mut err = child.stderr.take().unwrap();
    let t0 = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(marker) {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0 && t0.elapsed() < Duration::from_secs(120), "never saw `{marker}`");
        seen.extend_from_slice(&buf[..n]);
    }
    // Keep draining stderr so the child never blocks on it; the rest is not needed.
    std::thread::spawn(move || while err.read(&mut buf).is_ok_and(|n| n > 0) {});
    child
}

fn train_stops_on(sig: &str, code: i32, name: &str) {
    let d = Dir::new(&format!("sig-train-{sig}"));
    d.mlp(&["train", "--data", "builtin:circles", "--epochs", "1", "--out", "m.safetensors", "-q"]).ok();
    let good = std::fs::read(d.join("m.safetensors")).unwrap();
    let child = started(&d, LONG, "epoch 2/");
    signal(&child, sig);
    let run = Run::of(child);
    assert_eq!(run.code, Some(code), "{sig}");
    let (ck, _) = mlp::model_file::load_checkpoint(&d.join("ck.safetensors")).expect("the checkpoint loads");
    assert!(ck.state.epoch >= 1);
    assert_eq!(std::fs::read(d.join("m.safetensors")).unwrap(), good, "{sig}: the old model was replaced");
    no_temporaries(&d.path, sig);
    // The stopped run resumes.
    d.mlp(&["train", "--resume", "ck.safetensors", "--epochs", "3", "--out", "r.safetensors", "-q"]).ok();
    let _ = name;
}

#[test]
fn sigterm_during_train_checkpoints_and_exits_143() {
    train_stops_on("TERM", 143, "SIGTERM");
}

#[test]
fn sighup_during_train_checkpoints_and_exits_129() {
    train_stops_on("HUP", 129, "SIGHUP");
}

#[test]
fn sigterm_message_names_the_signal() {
    let d = Dir::new("sig-message");
    let mut args = LONG.to_vec();
    args.push("-q");
    let child = spawn(&d.path, &args);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "TERM");
    Run::of(child).exits_with(143, &["interrupted at epoch", "(SIGTERM)", "--resume ck.safetensors"]);
    no_temporaries(&d.path, "message");
}

#[test]
fn double_sigint_during_train_exits_at_once_without_temporaries() {
    let d = Dir::new("sig-double-train");
    // One slow batch per epoch: the first Ctrl-C waits for its end, the second does not.
    let mut args = LONG.to_vec();
    args[4] = "1024:relu,1024:relu,2:softmax";
    args.extend(["--batch-size", "4000"]);
    let child = started(&d, &args, "epoch 1/");
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(150));
    signal(&child, "INT");
    let run = Run::of(child);
    assert_eq!(run.code, Some(130));
    assert!(!d.join("m.safetensors").exists());
    if d.join("ck.safetensors").exists() {
        mlp::model_file::load_checkpoint(&d.join("ck.safetensors")).expect("any checkpoint left is whole");
    }
    no_temporaries(&d.path, "double SIGINT");
}

/// A model and a CSV big enough that predicting it takes a while.
fn predict_setup(name: &str) -> Dir {
    use std::io::Write;
    let d = Dir::new(name);
    d.mlp(&["data", "circles", "--n", "200", "--out", "c.csv"]).ok();
    d.mlp(&[
        "train",
        "--data",
        "c.csv",
        "--epochs",
        "1",
        "--layers",
        "256:relu,256:relu,2:softmax",
        "--out",
        "m.safetensors",
        "-q",
    ])
    .ok();
    let mut f = std::io::BufWriter::new(std::fs::File::create(d.join("big.csv")).unwrap());
    writeln!(f, "x1,x2").unwrap();
    for i in 0..1_500_000u32 {
        writeln!(f, "{}.{},{}", i % 3, i % 97, i % 5).unwrap();
    }
    f.flush().unwrap();
    d
}

#[test]
fn sigterm_and_sighup_stop_predict_without_output() {
    let d = predict_setup("sig-predict");
    for (sig, code) in [("TERM", 143), ("HUP", 129)] {
        let child = spawn(&d.path, &["predict", "m.safetensors", "--input", "big.csv", "--output", "p.csv"]);
        std::thread::sleep(Duration::from_millis(700));
        signal(&child, sig);
        let run = Run::of(child);
        run.exits_with(code, &["interrupted", "p.csv was not written"]);
        assert!(!d.join("p.csv").exists(), "{sig}: a partial prediction file");
        no_temporaries(&d.path, sig);
    }
}

#[test]
fn double_sigint_stops_predict_at_once() {
    let d = predict_setup("sig-predict-double");
    // The whole file is one chunk, so the first Ctrl-C alone would wait for all of it.
    let args = ["predict", "m.safetensors", "--input", "big.csv", "--output", "p.csv", "--chunk-rows", "2000000"];
    let child = spawn(&d.path, &args);
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(100));
    signal(&child, "INT");
    let second = Instant::now();
    let run = Run::of(child);
    let waited = second.elapsed();
    assert_eq!(run.code, Some(130), "{}", run.stderr);
    // Either the first Ctrl-C was seen before the chunk started (on a busy machine, "interrupted
    // after 0 rows") or the second one ended the run in the middle of the chunk; what must never
    // happen is waiting for the 1.5-million-row chunk to finish.
    let mid_chunk = !run.stderr.contains("interrupted");
    assert!(mid_chunk || run.stderr.contains("after 0 rows"), "the second Ctrl-C waited for the chunk: {}", run.stderr);
    assert!(waited < Duration::from_secs(3), "the second Ctrl-C took {waited:?} to end predict");
    assert!(!d.join("p.csv").exists());
    no_temporaries(&d.path, "double SIGINT predict");
}

#[test]
fn sigterm_stops_evaluate_and_data() {
    let d = predict_setup("sig-eval");
    // evaluate reads the whole file first: the signal comes while it reads.
    let mut labelled = String::from("x1,x2,label\n");
    for i in 0..600_000 {
        labelled += &format!("{}.{},{},{}\n", i % 3, i % 97, i % 5, i % 2);
    }
    d.write("labelled.csv", &labelled);
    let child = spawn(&d.path, &["evaluate", "m.safetensors", "--data", "labelled.csv"]);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "TERM");
    let t0 = Instant::now();
    let run = Run::of(child);
    assert!(matches!(run.code, Some(143) | Some(0)), "{:?} {}", run.code, run.stderr);
    assert!(t0.elapsed() < Duration::from_secs(5));
    let child = spawn(&d.path, &["data", "spirals", "--n", "5000000", "--out", "s.csv"]);
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "TERM");
    assert_eq!(Run::of(child).code, Some(143));
    assert!(!d.join("s.csv").exists());
    no_temporaries(&d.path, "data");
}
