//! `mpirun -np N mlp train --shards K` (issue 16): for N = 1, 2, 3, 4 the model's tensors are byte-identical to each other and to the default (non-MPI) binary's with the same shards, on built-in data and on an MNIST subset; a checkpoint written at N = 4 resumes at N = 3 to the same bytes; a killed rank ends the run within 30 s naming it; a build without the `mpi` feature refuses to run under mpirun.
//!
//! The feature binary is built by scripts/test and copied aside (`target/mpi-bin/mlp`, the default
//! binary relinked after it), which passes it in `MLP_MPI_BIN`. Without it (or without `mpirun`)
//! these tests say they skip, and fail when `MLP_REQUIRE_ALL` is set.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `mpi` build and `mpirun`, or `None` (having said why) when this machine lacks them.
fn mpi_bin(test: &str) -> Option<PathBuf> {
    let bin = std::env::var_os("MLP_MPI_BIN").map(PathBuf::from);
    let mpirun = Command::new("mpirun").arg("--version").output().is_ok_and(|o| o.status.success());
    match bin {
        Some(b) if b.is_file() && mpirun => Some(b),
        _ => {
            let why = "needs MLP_MPI_BIN (the `mpi` build, see scripts/test) and mpirun (openmpi-bin)";
            assert!(std::env::var_os("MLP_REQUIRE_ALL").is_none(), "{test}: MLP_REQUIRE_ALL is set but it {why}");
            eprintln!("skipped {test}: it {why}");
            None
        }
    }
}

/// A scratch directory of its own.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mlp-mpi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `mpirun -np n BIN ARGS` as root, more ranks than cores, ranks yielding while they wait.
fn mpirun(bin: &Path, n: usize, dir: &Path, args: &[impl AsRef<std::ffi::OsStr>]) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["--oversubscribe", "--bind-to", "none", "-np", &n.to_string()])
        .arg(bin)
        .args(args)
        .current_dir(dir)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_mpi_yield_when_idle", "1");
    c
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every tensor of a model file, name and bits.
fn tensors(path: &Path) -> Vec<(String, Vec<u32>)> {
    let saved = mlp::model_file::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let names = saved.model.config.named_specs();
    let values = saved.model.params.iter().flat_map(|p| &p.tensors);
    names
        .zip(values)
        .map(|((i, spec), t)| (format!("layers.{i}.{}", spec.name), t.data.iter().map(|v| v.to_bits()).collect()))
        .collect()
}

/// A history file's epochs without their timings (the one figure that differs run to run).
fn figures(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let mut m: serde_json::Map<String, serde_json::Value> = serde_json::from_str(l).unwrap();
            m.remove("seconds");
            m
        })
        .collect()
}

/// Trains with `args` on the default binary and under mpirun at 1, 2, 3 and 4 ranks; every model
/// must hold the same tensors, and every history the same figures (losses, metrics and the dead
/// units, which each rank sees only on its own rows until they are shared).
fn same_bits_at_every_n(test: &str, args: &[&str]) {
    let Some(bin) = mpi_bin(test) else { return };
    let d = scratch(test);
    let with_out = |out: &str| -> Vec<String> {
        let history = format!("{out}.history.jsonl");
        args.iter().copied().chain(["--out", out, "--history", &history, "-q"]).map(String::from).collect()
    };
    let plain = Command::new(env!("CARGO_BIN_EXE_mlp")).args(with_out("plain.safetensors")).current_dir(&d).output();
    check(&plain.unwrap(), &format!("{test}: the default binary"));
    let want = tensors(&d.join("plain.safetensors"));
    let want_figures = figures(&d.join("plain.safetensors.history.jsonl"));
    let dead: Vec<f64> = want_figures
        .iter()
        .flat_map(|e| e.iter().filter(|(k, _)| k.starts_with("dead_units_")))
        .map(|(_, v)| v.as_f64().unwrap())
        .collect();
    assert!(!dead.is_empty() && dead.iter().all(|&f| f < 1.0), "{test}: dead-unit fractions {dead:?}");
    for n in 1..=4 {
        let out = format!("n{n}.safetensors");
        check(&mpirun(&bin, n, &d, &with_out(&out)).output().unwrap(), &format!("{test}: mpirun -np {n}"));
        let got = tensors(&d.join(&out));
        for ((name, w), (_, g)) in want.iter().zip(&got) {
            let diff = w.iter().zip(g).filter(|(a, b)| a != b).count();
            assert_eq!(diff, 0, "{test}: {diff} values of {name} differ between -np {n} and the default binary");
        }
        assert_eq!(want.len(), got.len());
        let got_figures = figures(&d.join(format!("{out}.history.jsonl")));
        assert_eq!(got_figures, want_figures, "{test}: the history of -np {n} differs from the default binary's");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn builtin_data_gives_the_same_tensors_at_every_process_count() {
    // 6 shards: N = 4 does not divide them. Batch norm and dropout included (shard-local
    // statistics that follow shard 0, masks per shard); a validation split and clipping.
    same_bits_at_every_n(
        "builtin",
        &[
            "train",
            "--data",
            "builtin:spirals",
            "--layers",
            "32:linear,batchnorm:relu,dropout(0.1),16:tanh,2:softmax",
            "--epochs",
            "5",
            "--batch-size",
            "50",
            "--shards",
            "6",
            "--validation-split",
            "0.2",
            "--clip-norm",
            "2",
            "--seed",
            "3",
            "--threads",
            "1",
        ],
    );
}

/// The first `rows` MNIST training images and labels, as IDX files in `dir`.
fn mnist_subset(dir: &Path, rows: usize) -> PathBuf {
    let data = std::env::var_os("MLP_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")));
    let src = data.join("mnist");
    assert!(src.is_dir(), "MNIST is missing from {} (see shared/data/README.md, or set MLP_DATA_DIR)", data.display());
    let read = |name: &str| {
        let f = std::fs::File::open(src.join(name)).unwrap();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(f), &mut v).unwrap();
        v
    };
    let out = dir.join("mnist-subset");
    std::fs::create_dir_all(&out).unwrap();
    let write = |name: &str, header: &[u32], body: &[u8]| {
        let f = std::fs::File::create(out.join(name)).unwrap();
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        for h in header {
            gz.write_all(&h.to_be_bytes()).unwrap();
        }
        gz.write_all(body).unwrap();
        gz.finish().unwrap();
    };
    let (images, labels) = (read("train-images-idx3-ubyte.gz"), read("train-labels-idx1-ubyte.gz"));
    write("train-images-idx3-ubyte.gz", &[0x803, rows as u32, 28, 28], &images[16..16 + rows * 784]);
    write("train-labels-idx1-ubyte.gz", &[0x801, rows as u32], &labels[8..8 + rows]);
    out
}

#[test]
fn an_mnist_subset_gives_the_same_tensors_at_every_process_count() {
    if mpi_bin("mnist").is_none() {
        return;
    }
    let d = scratch("mnist-data");
    let sub = mnist_subset(&d, 1500);
    let sub = sub.to_str().unwrap();
    same_bits_at_every_n(
        "mnist",
        &[
            "train",
            "--data",
            sub,
            "--layers",
            "64:relu,10:softmax",
            "--epochs",
            "2",
            "--batch-size",
            "100",
            "--shards",
            "4",
            "--seed",
            "1",
            "--threads",
            "1",
        ],
    );
    let _ = std::fs::remove_dir_all(&d);
}

const RESUMABLE: &[&str] = &[
    "train",
    "--data",
    "builtin:circles?n=600",
    "--layers",
    "16:relu,2:softmax",
    "--batch-size",
    "40",
    "--shards",
    "4",
    "--seed",
    "5",
    "--threads",
    "1",
    "-q",
];

#[test]
fn a_checkpoint_written_by_four_ranks_resumes_on_three_to_the_same_bytes() {
    let Some(bin) = mpi_bin("resume") else { return };
    let d = scratch("resume");
    let args = |extra: &[&str]| -> Vec<String> { RESUMABLE.iter().chain(extra).map(|a| a.to_string()).collect() };
    let whole = args(&["--epochs", "6", "--out", "whole.safetensors"]);
    check(&mpirun(&bin, 4, &d, &whole).output().unwrap(), "the uninterrupted run at -np 4");
    let first =
        args(&["--epochs", "3", "--checkpoint-every", "3", "--checkpoint", "ck.safetensors", "--out", "a.safetensors"]);
    check(&mpirun(&bin, 4, &d, &first).output().unwrap(), "the first half at -np 4");
    assert!(d.join("ck.safetensors").is_file(), "rank 0 wrote no checkpoint");
    let rest = ["train", "--resume", "ck.safetensors", "--epochs", "6", "--out", "resumed.safetensors", "-q"];
    check(&mpirun(&bin, 3, &d, &rest).output().unwrap(), "the resumed run at -np 3");
    assert_eq!(tensors(&d.join("resumed.safetensors")), tensors(&d.join("whole.safetensors")));
    let _ = std::fs::remove_dir_all(&d);
}

/// The pid of rank `rank` among mpirun's children (read from their environment).
fn rank_pid(mpirun: u32, rank: usize) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{mpirun}/task/{mpirun}/children")).ok()?;
    children.split_whitespace().filter_map(|p| p.parse::<u32>().ok()).find(|pid| {
        std::fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == format!("OMPI_COMM_WORLD_RANK={rank}").as_bytes()))
    })
}

#[test]
fn killing_one_rank_ends_every_rank_within_30_s_naming_it() {
    let Some(bin) = mpi_bin("kill") else { return };
    let d = scratch("kill");
    // No default validation split: its early stopping would end the run before the kill.
    let long = [RESUMABLE, &["--epochs", "100000", "--validation-split", "0", "--out", "m.safetensors"]].concat();
    let mut job = mpirun(&bin, 3, &d, &long).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Wait for rank 1 to be running (and training: a few seconds in).
    let start = Instant::now();
    let pid = loop {
        if let Some(p) = rank_pid(job.id(), 1) {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "rank 1 never started");
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(4));
    let ranks: Vec<u32> = (0..3).filter_map(|r| rank_pid(job.id(), r)).collect();
    assert_eq!(ranks.len(), 3, "not every rank is running");
    assert!(job.try_wait().unwrap().is_none(), "the run ended before the kill");
    let killed = Instant::now();
    Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    let status = loop {
        if let Some(s) = job.try_wait().unwrap() {
            break s;
        }
        if killed.elapsed() > Duration::from_secs(30) {
            let _ = job.kill();
            panic!("the run was still going 30 s after rank 1 was killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = job.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!status.success(), "a run that lost a rank exited 0");
    assert!(text.contains("rank 1") && text.contains("signal 9"), "the message does not name rank 1:\n{text}");
    // No rank is left behind.
    std::thread::sleep(Duration::from_millis(500));
    for pid in ranks {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(state.is_empty() || state.contains(") Z "), "rank pid {pid} outlived the run: {state}");
    }
    assert!(!d.join("m.safetensors").exists(), "a model was written by a run that lost a rank");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_hung_rank_ends_every_rank_once_the_timeout_passes() {
    let Some(bin) = mpi_bin("hang") else { return };
    let d = scratch("hang");
    // No default validation split: its early stopping would end the run before the kill.
    let long = [RESUMABLE, &["--epochs", "100000", "--validation-split", "0", "--out", "m.safetensors"]].concat();
    let mut cmd = mpirun(&bin, 3, &d, &long);
    let mut job = cmd.env("MLP_MPI_TIMEOUT", "5").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    let pid = loop {
        if let Some(p) = rank_pid(job.id(), 2) {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "rank 2 never started");
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(4));
    assert!(job.try_wait().unwrap().is_none(), "the run ended before the stop");
    // SIGSTOP: rank 2 stays alive but never answers (a hang mpirun cannot see).
    Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap();
    let stopped = Instant::now();
    while job.try_wait().unwrap().is_none() {
        if stopped.elapsed() > Duration::from_secs(30) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            let _ = job.kill();
            panic!("the run was still going 30 s after rank 2 hung (MLP_MPI_TIMEOUT=5)");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    let out = job.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("the other ranks did not answer for 5 s") && err.contains("a rank died or hung"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_build_without_the_feature_refuses_to_run_under_mpirun() {
    if mpi_bin("refusal").is_none() {
        return;
    }
    let d = scratch("refusal");
    let plain = PathBuf::from(env!("CARGO_BIN_EXE_mlp"));
    let out = mpirun(&plain, 2, &d, &["train", "--data", "builtin:xor", "--out", "m.safetensors"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the default build ran under mpirun -np 2");
    assert!(
        err.contains("started as one of 2 MPI processes") && err.contains("built without the `mpi` feature"),
        "{err}"
    );
    assert!(!d.join("m.safetensors").exists(), "it wrote a model");
    let _ = std::fs::remove_dir_all(&d);
}
