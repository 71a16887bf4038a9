//! Issue 10, class 1: a closed or broken stdout or stderr ends the output quietly: exit 0 with
//! nothing on stderr (no panic) for every subcommand, and `train` still saves its model and history.
//! Each case spawns `mlp` with the stream piped and its read end dropped at once.

use crate::util::{Dir, Run, no_temporaries, trained_on};
use std::process::{Command, Stdio};

const OK: &str = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n2,1,1\n4,3,0\n";

fn trained(name: &str) -> Dir {
    trained_on(name, OK)
}

/// Runs `mlp args…` in `d` with the read end of stdout (and of stderr, when `close_stderr`)
/// dropped before it writes anything.
fn closed(d: &Dir, args: &[&str], close_stderr: bool) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlp"))
        .current_dir(&d.path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    if close_stderr {
        drop(child.stderr.take());
    }
    Run::of(child)
}

fn quiet_success(run: &Run, what: &str) {
    assert_eq!(run.code, Some(0), "{what}: exit {:?}, stderr:\n{}", run.code, run.stderr);
    assert!(run.stderr.is_empty(), "{what}: nothing on stderr expected, got:\n{}", run.stderr);
}

#[test]
fn closed_stdout_every_read_only_subcommand_exits_0() {
    let d = trained("pipe-read");
    d.write("h.jsonl", "{\"epoch\":1,\"loss\":0.5}\n{\"epoch\":2,\"loss\":0.4}\n");
    let cases: &[&[&str]] = &[
        &["evaluate", "m.safetensors", "--data", "d.csv"],
        &["evaluate", "m.safetensors", "--data", "d.csv", "--json"],
        &["summary", "m.safetensors"],
        &["summary", "--layers", "512:relu,10:softmax", "--inputs", "784"],
        &["gradcheck", "--layers", "3:tanh,2:softmax", "--loss", "categorical_crossentropy"],
        &["data", "spirals", "--n", "200000"],
        &["predict", "m.safetensors", "--input", "c.csv", "--proba"],
        &["plot", "--history", "h.jsonl", "--out", "figs"],
        &["export", "m.safetensors", "--onnx", "m.onnx"],
        &["--help"],
        &["train", "--help"],
    ];
    let before = std::fs::read(d.join("m.safetensors")).unwrap();
    let mut csv = String::from("a,b\n");
    for i in 0..100_000 {
        csv += &format!("{},{}\n", i % 9, i % 7);
    }
    d.write("c.csv", &csv);
    for args in cases {
        quiet_success(&closed(&d, args, false), &args.join(" "));
    }
    // The files a command writes beside stdout are complete.
    assert!(d.join("figs/loss.png").is_file() && d.join("m.onnx").is_file());
    assert_eq!(std::fs::read(d.join("m.safetensors")).unwrap(), before);
    no_temporaries(&d.path, "closed stdout");
}

#[test]
fn closed_stdout_and_stderr_train_still_saves_the_model_and_history() {
    for (i, close_stderr) in [false, true].into_iter().enumerate() {
        let d = Dir::new(&format!("pipe-train-{i}"));
        d.write("d.csv", OK);
        // Not quiet: progress lines, the summary and the report all meet the closed streams.
        let run = closed(
            &d,
            &["train", "--data", "d.csv", "--epochs", "30", "--out", "m.safetensors", "--history", "h.jsonl"],
            close_stderr,
        );
        assert_eq!(run.code, Some(0), "close_stderr={close_stderr}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        mlp::model_file::load(&d.join("m.safetensors")).expect("the model was saved whole");
        assert_eq!(std::fs::read_to_string(d.join("h.jsonl")).unwrap().lines().count(), 30);
        no_temporaries(&d.path, "closed train streams");
    }
}

#[test]
fn train_piped_into_head_writes_the_model() {
    let d = Dir::new("pipe-head");
    d.write("d.csv", OK);
    let status = Command::new("sh")
        .current_dir(&d.path)
        .arg("-c")
        .arg(format!(
            "'{}' train --data d.csv --epochs 40 --out m.safetensors 2>&1 | head -3 >/dev/null",
            env!("CARGO_BIN_EXE_mlp")
        ))
        .output()
        .unwrap();
    assert!(status.status.success());
    let saved = mlp::model_file::load(&d.join("m.safetensors")).expect("`| head -3` must not lose the model");
    assert_eq!(saved.meta.history.map(|h| h.epochs), Some(40));
}

#[test]
fn closed_stderr_with_an_error_still_exits_2_without_a_panic() {
    let d = trained("pipe-error");
    d.write("bad.csv", "a,b\n1,x\n");
    for args in [
        &["predict", "m.safetensors", "--input", "bad.csv", "--output", "p.csv"][..],
        &["evaluate", "m.safetensors", "--data", "bad.csv"],
        &["train", "--data", "bad.csv", "--epochs", "1", "--out", "n.safetensors"],
        &["train", "--epochs", "many"],
    ] {
        let run = closed(&d, args, true);
        assert_eq!(run.code, Some(2), "{}", args.join(" "));
    }
    assert!(!d.join("p.csv").exists() && !d.join("n.safetensors").exists());
    no_temporaries(&d.path, "closed stderr");
}

#[test]
fn closed_stdout_predict_to_a_file_is_unaffected() {
    let d = trained("pipe-predict-file");
    let run = closed(&d, &["predict", "m.safetensors", "--input", "d.csv", "--output", "p.csv"], false);
    quiet_success(&run, "predict --output");
    assert_eq!(std::fs::read_to_string(d.join("p.csv")).unwrap().lines().count(), 7);
}
