//! Issue 10, class 5: memory and thread bounds are checked before the allocation they protect.
//! A text column unique per row is dropped with a warning (and, kept with `--keep`, refused
//! before it becomes one-hot features); an enormous layer is refused before its weights exist (both peak under 100 MB,
//! measured with VmHWM); `--threads` has a ceiling; a CSV of 100 000 columns is read in linear time.

use crate::util::{Dir, peak_run};
use std::fmt::Write as _;

#[test]
fn unique_id_column_is_dropped_and_forcing_it_in_is_refused_in_bounded_memory() {
    let d = Dir::new("limit-id");
    let mut csv = String::from("id,a,b,y\n");
    for i in 0..60_000 {
        let _ = writeln!(csv, "user-{i:06},{},{},{}", i % 13, i % 7, i % 2);
    }
    d.write("ids.csv", &csv);
    // Kept by force, its 60 000 one-hot features are refused before they exist.
    let args = ["train", "--data", "ids.csv", "--keep", "id", "--epochs", "1", "--out", "m.safetensors", "-q"];
    let (peak, run) = peak_run(&d.path, &args, &[("MLP_MEMORY_LIMIT_BYTES", "1073741824")]);
    run.fails_with(&["training needs about", "but only 1024 MiB is available"]);
    assert!(peak > 0 && peak < 100 * 1024, "the refused run peaked at {peak} KiB");
    eprintln!("refused 60 000-row unique-id run: peak {peak} KiB");
    assert!(!d.join("m.safetensors").exists());
    // By default it is dropped, with a warning naming it, and the rest trains.
    let run = d.mlp(&["train", "--data", "ids.csv", "--epochs", "1", "--out", "m.safetensors"]);
    run.ok();
    assert!(
        run.stderr.contains("warning: dropped column `id`: 60000 different text values in 60000 rows"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("2 features, 2 classes"), "{}", run.stderr);
    // Without --keep, the library's shape check still refuses it by name (for other front ends).
    let table = mlp::data::csv::Table::read_with(&d.join("ids.csv"), b',').unwrap();
    let err = mlp::setup::table_shape(&table, &Default::default()).unwrap_err().to_string();
    assert!(
        err.contains("column `id` has 60000 different text values in 60000 rows") && err.contains("--drop id"),
        "{err}"
    );
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
    let measured = |layers: &str, limit: Option<u64>| {
        let limit = limit.map(|b| b.to_string());
        let env: Vec<(&str, &str)> = limit.iter().map(|b| ("MLP_MEMORY_LIMIT_BYTES", b.as_str())).collect();
        let args = ["train", "--data", "d.csv", "--epochs", "1", "--layers", layers, "--out", "m.safetensors", "-q"];
        let (peak, run) = peak_run(&d.path, &args, &env);
        assert!(peak > 0 && peak < 100 * 1024, "{layers}: the refused run peaked at {peak} KiB");
        eprintln!("refused {layers}: peak {peak} KiB");
        run
    };
    // 10^8 units: beyond what one layer may have.
    measured("100000000:relu,2:softmax", None).fails_with(&["at most 16777216 units"]);
    // 10^7 units × 11 weights each × 4 bytes × 5 copies is about 2 GB: refused under a 1 GiB
    // ceiling, the same on any machine, before the weights exist.
    measured("10000000:relu,2:softmax", Some(1 << 30))
        .fails_with(&["training needs about", "but only 1024 MiB is available"]);
    // Two such layers need 10^14 weights: refused on any machine, by the size check.
    measured("10000000:relu,10000000:relu,2:softmax", None).fails_with(&["parameters"]);
    assert!(!d.join("m.safetensors").exists());
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
    let small = time(10_000);
    let big = time(100_000);
    eprintln!("10 000 columns: {small:.2} s, 100 000 columns: {big:.2} s");
    // Linear: about 10× (less, with the fixed start-up cost); quadratic would be 100× (and minutes).
    assert!(big < 40.0 * small.max(0.1) && big < 60.0, "10k columns {small:.2} s, 100k columns {big:.2} s");
    assert_eq!(std::fs::read_to_string(d.join("p.csv")).unwrap().lines().count(), 5);
}
