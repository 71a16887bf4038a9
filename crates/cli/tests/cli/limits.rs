//! Issue 10, class 5: memory and thread bounds are checked before the allocation they protect.
//! A text column unique per row is refused with a `--drop` hint before it becomes one-hot
//! features; an enormous layer is refused before its weights exist (both peak under 100 MB,
//! measured with VmHWM); `--threads` has a ceiling; a CSV of 100 000 columns is read in linear time.

use crate::util::{Dir, peak_kib, spawn};
use std::fmt::Write as _;

#[test]
fn unique_id_column_is_refused_with_a_hint_in_bounded_memory() {
    let d = Dir::new("limit-id");
    let mut csv = String::from("id,a,b,y\n");
    for i in 0..60_000 {
        let _ = writeln!(csv, "user-{i:06},{},{},{}", i % 13, i % 7, i % 2);
    }
    d.write("ids.csv", &csv);
    let (peak, run) =
        peak_kib(spawn(&d.path, &["train", "--data", "ids.csv", "--epochs", "1", "--out", "m.safetensors", "-q"]));
    run.fails_with(&["ids.csv: column `id` has 60000 different text values in 60000 rows", "--drop id"]);
    assert!(peak > 0 && peak < 100 * 1024, "the refused run peaked at {peak} KiB");
    eprintln!("refused 60 000-row unique-id run: peak {peak} KiB");
    assert!(!d.join("m.safetensors").exists());
    // Dropped, it trains.
    d.mlp(&["train", "--data", "ids.csv", "--drop", "id", "--epochs", "1", "--out", "m.safetensors", "-q"]).ok();
}

#[test]
fn huge_layer_is_refused_before_its_weights_exist() {
    let d = Dir::new("limit-layer");
    let mut csv = String::from("a,b,c,d,e,f,g,h,y\n");
    for i in 0..50 {
        let _ =
            writeln!(csv, "{},{},{},{},{},{},{},{},{}", i, i % 3, i % 5, i % 7, i % 11, i % 13, i % 17, i % 19, i % 2);
    }
    d.write("d.csv", &csv);
    let args = [
        "train",
        "--data",
        "d.csv",
        "--epochs",
        "1",
        "--layers",
        "100000000:relu,2:softmax",
        "--out",
        "m.safetensors",
        "-q",
    ];
    // 10^8 units × 9 inputs and outputs × 4 bytes × 5 copies is about 20 GB; a 4 GiB ceiling makes
    // the refusal the same on any machine.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mlp"));
    child.current_dir(&d.path).args(args).env("MLP_MEMORY_LIMIT_BYTES", (4u64 << 30).to_string());
    child.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let (peak, run) = peak_kib(child.spawn().unwrap());
    run.fails_with(&["training needs about", "but only 4096 MiB is available"]);
    assert!(peak > 0 && peak < 100 * 1024, "the refused run peaked at {peak} KiB");
    eprintln!("refused 10^8-unit layer: peak {peak} KiB");
    // Without a ceiling the machine's own memory refuses it too (it needs ~20 GB; checked only
    // where less than that is available).
    if mlp::train::available_memory().is_some_and(|m| m < 20 << 30) {
        let (peak, run) = peak_kib(spawn(&d.path, &args));
        run.fails_with(&["training needs about"]);
        assert!(peak < 100 * 1024, "{peak} KiB");
    }
}

#[test]
fn one_hot_width_counts_in_the_estimate_before_encoding() {
    let d = Dir::new("limit-onehot");
    // 2 000 categories shared by two rows each: not an identifier, but wide.
    let mut csv = String::from("city,a,y\n");
    for i in 0..4000 {
        let _ = writeln!(csv, "c{},{},{}", i % 2000, i % 9, i % 2);
    }
    d.write("d.csv", &csv);
    // 4000 rows × 2001 features × 4 bytes is 32 MB of data: refused under a 16 MB ceiling.
    d.mlp_env(
        &["train", "--data", "d.csv", "--epochs", "1", "--out", "m.safetensors", "-q"],
        &[("MLP_MEMORY_LIMIT_BYTES", "16000000")],
    )
    .fails_with(&["training needs about 3", "MiB data", "but only 15 MiB is available"]);
    assert!(!d.join("m.safetensors").exists());
}

#[test]
fn thread_count_has_a_ceiling() {
    let d = Dir::new("limit-threads");
    d.write("d.csv", "a,b,y\n1,2,0\n3,4,1\n");
    d.mlp(&["train", "--data", "d.csv", "--epochs", "1", "--threads", "100000", "-q"])
        .fails_with(&["--threads 100000 is more than the 1024 allowed"]);
    d.mlp(&["train", "--data", "d.csv", "--epochs", "1", "--threads", "1", "--out", "m.safetensors", "-q"]).ok();
    d.mlp(&["evaluate", "m.safetensors", "--data", "d.csv", "--threads", "5000"])
        .fails_with(&["--threads 5000 is more than the 1024 allowed"]);
    d.mlp(&["evaluate", "m.safetensors", "--data", "d.csv", "--threads", "0"])
        .fails_with(&["--threads must be at least 1"]);
    d.mlp(&["train", "--data", "d.csv", "--epochs", "1", "--threads", "18446744073709551615", "-q"])
        .fails_with(&["is more than the 1024 allowed"]);
}

fn wide_csv(cols: usize) -> String {
    let mut s = String::new();
    s.push_str(&(0..cols).map(|j| format!("c{j}")).collect::<Vec<_>>().join(","));
    s.push_str(",y\n");
    for r in 0..4 {
        s.push_str(&(0..cols).map(|j| ((j + r) % 10).to_string()).collect::<Vec<_>>().join(","));
        let _ = writeln!(s, ",{}", r % 2);
    }
    s
}

#[test]
fn a_100000_column_csv_is_read_in_linear_time() {
    let d = Dir::new("limit-wide");
    let time = |cols: usize| {
        d.write("w.csv", &wide_csv(cols));
        let t0 = std::time::Instant::now();
        d.mlp(&["train", "--data", "w.csv", "--epochs", "1", "--layers", "2:softmax", "--out", "w.safetensors", "-q"])
            .ok();
        d.mlp(&["predict", "w.safetensors", "--input", "w.csv", "--output", "p.csv"]).ok();
        t0.elapsed().as_secs_f64()
    };
    let small = time(25_000);
    let big = time(100_000);
    eprintln!("25 000 columns: {small:.2} s, 100 000 columns: {big:.2} s");
    // Linear: about 4×; quadratic would be 16× (and minutes).
    assert!(big < 10.0 * small.max(0.05) && big < 60.0, "25k columns {small:.2} s, 100k columns {big:.2} s");
    assert_eq!(std::fs::read_to_string(d.join("p.csv")).unwrap().lines().count(), 5);
}
