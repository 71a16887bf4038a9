//! Issue 5, "nothing lost, exact resume": a run killed with SIGKILL at any moment, or stopped with
//! Ctrl-C, and resumed from its last checkpoint ends bit-identical to a run never interrupted; every
//! file left behind loads (no torn writes); the same seed gives byte-identical model files across
//! runs and thread counts.

use crate::util::{Dir, weight_bits};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Small but not trivial: 30 epochs of 100 batches, a checkpoint after every epoch.
const RUN: &[&str] = &[
    "train",
    "--data",
    "builtin:circles?n=1600",
    "--layers",
    "32:relu,16:relu,2:softmax",
    "--epochs",
    "30",
    "--optimizer",
    "adam",
    "--lr",
    "0.01",
    "--batch-size",
    "16",
    "--seed",
    "7",
    "--checkpoint-every",
    "1",
    "--checkpoint",
    "ck.safetensors",
    "--out",
    "m.safetensors",
    "-q",
];

fn spawn(d: &Dir, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mlp"))
        .current_dir(&d.path)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mlp")
}

/// Checks that every model or checkpoint file in `d` loads; returns how many temporary files an
/// interrupted atomic write left (those are never read: the final name appears only complete).
fn all_files_load(d: &Dir, what: &str) -> usize {
    let mut temps = 0;
    for f in d.files() {
        match f.as_str() {
            "ck.safetensors" => {
                mlp::model_file::load_checkpoint(&d.join(&f))
                    .unwrap_or_else(|e| panic!("{what}: torn checkpoint: {e}"));
            }
            "m.safetensors" => {
                mlp::model_file::load(&d.join(&f)).unwrap_or_else(|e| panic!("{what}: torn model: {e}"));
            }
            _ if f.contains(".tmp") => temps += 1,
            _ => panic!("{what}: unexpected file {f}"),
        }
    }
    temps
}

/// Runs the stopped training in `d` to completion: from the checkpoint when there is one, else from
/// scratch (stopped before its first checkpoint), else nothing to do (it had finished).
fn finish(d: &Dir) {
    if d.join("m.safetensors").exists() {
        return;
    }
    if d.join("ck.safetensors").exists() {
        d.mlp(&["train", "--resume", "ck.safetensors", "--out", "m.safetensors", "-q"]).ok();
    } else {
        d.mlp(RUN).ok();
    }
}

#[test]
fn sigkill_at_any_moment_then_resume_is_bit_identical() {
    let reference = Dir::new("kill-ref");
    let t0 = Instant::now();
    reference.mlp(RUN).ok();
    let duration = t0.elapsed();
    let want_bits = weight_bits(&reference.join("m.safetensors"));
    let want_bytes = std::fs::read(reference.join("m.safetensors")).unwrap();

    const KILLS: usize = 24;
    let (mut before_first, mut finished, mut mid_write) = (0, 0, 0);
    for i in 0..KILLS {
        // Spread the moments evenly over [0, 1.1 × duration), in a scrambled order (golden ratio).
        let at = duration.mul_f64(1.1 * ((i as f64 * 0.618_033_988_75) % 1.0));
        let d = Dir::new(&format!("kill-{i}"));
        let mut child = spawn(&d, RUN);
        std::thread::sleep(at);
        child.kill().expect("SIGKILL mlp"); // SIGKILL on unix: no handler, no cleanup
        let status = child.wait().unwrap();
        let what = format!("kill {i} at {at:?} ({status})");
        mid_write += usize::from(all_files_load(&d, &what) > 0);
        before_first += usize::from(!d.join("ck.safetensors").exists());
        finished += usize::from(d.join("m.safetensors").exists());
        finish(&d);
        assert!(weight_bits(&d.join("m.safetensors")) == want_bits, "{what}: resumed weights differ");
        assert!(std::fs::read(d.join("m.safetensors")).unwrap() == want_bytes, "{what}: resumed file differs");
    }
    eprintln!(
        "{KILLS} kills over a {duration:?} run in {:?}: {before_first} before the first checkpoint, \
         {mid_write} during a write, {finished} after the model was saved",
        t0.elapsed()
    );
}

/// Ctrl-C stops at the end of a batch with exit 130; resuming ends bit-identical too.
#[test]
fn sigint_then_resume_is_bit_identical() {
    let reference = Dir::new("int-ref");
    let t0 = Instant::now();
    reference.mlp(RUN).ok();
    let duration = t0.elapsed();
    let want = std::fs::read(reference.join("m.safetensors")).unwrap();
    for (i, share) in [0.3, 0.7].into_iter().enumerate() {
        let d = Dir::new(&format!("int-{i}"));
        let child = spawn(&d, RUN);
        std::thread::sleep(duration.mul_f64(share).max(Duration::from_millis(30)));
        Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        let out = child.wait_with_output().unwrap();
        let code = out.status.code();
        assert!(matches!(code, Some(130) | Some(0)), "{code:?}: {}", String::from_utf8_lossy(&out.stderr));
        all_files_load(&d, "sigint");
        finish(&d);
        assert!(std::fs::read(d.join("m.safetensors")).unwrap() == want, "SIGINT at {share}: resumed file differs");
    }
}

/// The same seed gives byte-identical model files: twice with --threads 1, and with --threads 2.
#[test]
fn same_seed_same_file_for_any_thread_count() {
    let args = |threads: &'static str| -> Vec<&str> {
        let mut a = RUN.to_vec();
        a[6] = "5"; // 5 epochs are enough to tell
        a.extend(["--threads", threads]);
        a
    };
    let file = |threads| {
        let d = Dir::new("threads");
        d.mlp(&args(threads)).ok();
        std::fs::read(d.join("m.safetensors")).unwrap()
    };
    let one = file("1");
    assert!(one == file("1"), "two runs with --threads 1 differ");
    assert!(one == file("2"), "--threads 1 and --threads 2 differ");
}
