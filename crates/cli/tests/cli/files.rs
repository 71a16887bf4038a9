//! Model files: a round trip is bit-exact and predicts identically; a file written by Python's
//! `safetensors` package predicts what numpy computed.

use crate::util::{Dir, fixtures, weight_bits};
use mlp::model_file;

#[test]
fn model_file_round_trip_is_bit_exact_with_identical_predictions() {
    let d = Dir::new("round-trip");
    d.mlp(&[
        "train",
        "--data",
        "builtin:blobs?n=50",
        "--layers",
        "6:prelu,4:maxout(2),3:softmax",
        "--epochs",
        "3",
        "--out",
        "a.safetensors",
        "-q",
    ])
    .ok();
    let a = model_file::load(&d.join("a.safetensors")).unwrap();
    model_file::save(&d.join("b.safetensors"), &a).unwrap();
    let b = model_file::load(&d.join("b.safetensors")).unwrap();
    assert_eq!(a, b);
    assert_eq!(weight_bits(&d.join("a.safetensors")), weight_bits(&d.join("b.safetensors")));
    assert_eq!(std::fs::read(d.join("a.safetensors")).unwrap(), std::fs::read(d.join("b.safetensors")).unwrap());
    d.mlp(&["data", "blobs", "--n", "20", "--seed", "8", "--out", "x.csv"]).ok();
    let pa = d.mlp(&["predict", "a.safetensors", "--input", "x.csv", "--proba"]).ok().to_string();
    let pb = d.mlp(&["predict", "b.safetensors", "--input", "x.csv", "--proba"]).ok().to_string();
    assert_eq!(pa, pb);
    assert_eq!(pa.lines().count(), 61);
}

#[test]
fn python_written_model_predicts_like_numpy() {
    let d = Dir::new("python");
    let model = fixtures().join("python_model.safetensors");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("python_model_expected.json")).unwrap()).unwrap();
    let rows: Vec<Vec<f64>> = serde_json::from_value(expected["inputs"].clone()).unwrap();
    let csv: String = rows.iter().map(|r| format!("{},{},{}\n", r[0], r[1], r[2])).collect();
    d.write("x.csv", &format!("a,b,c\n{csv}"));
    let out = d.mlp(&["predict", model.to_str().unwrap(), "--input", "x.csv", "--proba"]).ok().to_string();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("prediction,p_cat,p_dog,p_mouse"));
    let want: Vec<Vec<f64>> = serde_json::from_value(expected["probabilities"].clone()).unwrap();
    let labels: Vec<String> = serde_json::from_value(expected["classes"].clone()).unwrap();
    for ((line, w), label) in lines.zip(&want).zip(&labels) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], label);
        for (j, v) in w.iter().enumerate() {
            let got: f64 = f[j + 1].parse().unwrap();
            assert!((got - v).abs() < 1e-6, "NOT OK: {line} vs {w:?}");
        }
    }
    let s = d.mlp(&["summary", model.to_str().unwrap()]).ok().to_string();
    assert!(s.contains("Classes: cat, dog, mouse") && s.contains("prelu"), "{s}");
}

/// Issue 5: `predict` streams its input, so a CSV far larger than the limit is predicted with a
/// peak resident memory under 200 MB (here 50 MB of CSV; docs/robustness.md has the multi-GB run).
#[test]
fn predict_streams_a_large_csv_in_bounded_memory() {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let d = Dir::new("predict-rss");
    let mut x = 0x2545_f491_u32;
    let mut cell = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x % 100_000
    };
    let mut train = String::from("a,b,c,d,e,f,y\n");
    for i in 0..200 {
        let _ = writeln!(
            train,
            "0.{:05},0.{:05},0.{:05},0.{:05},0.{:05},0.{:05},{}",
            cell(),
            cell(),
            cell(),
            cell(),
            cell(),
            cell(),
            i % 2
        );
    }
    d.write("train.csv", &train);
    d.mlp(&[
        "train",
        "--data",
        "train.csv",
        "--layers",
        "32:relu,2:softmax",
        "--epochs",
        "1",
        "--out",
        "m.safetensors",
        "-q",
    ])
    .ok();
    let mut big = std::io::BufWriter::new(std::fs::File::create(d.join("big.csv")).unwrap());
    big.write_all(b"a,b,c,d,e,f\n").unwrap();
    const ROWS: usize = 1_100_000; // 6 × "0.xxxxx" + separators = 48 bytes a row: about 50 MB
    let mut line = String::new();
    for _ in 0..ROWS {
        line.clear();
        let _ = writeln!(
            line,
            "0.{:05},0.{:05},0.{:05},0.{:05},0.{:05},0.{:05}",
            cell(),
            cell(),
            cell(),
            cell(),
            cell(),
            cell()
        );
        big.write_all(line.as_bytes()).unwrap();
    }
    big.flush().unwrap();
    drop(big);
    assert!(std::fs::metadata(d.join("big.csv")).unwrap().len() > 50_000_000);

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mlp"))
        .current_dir(&d.path)
        .args(["predict", "m.safetensors", "--input", "big.csv", "--output", "p.csv"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // VmHWM is the peak resident set so far; poll it until the process exits.
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1))
        {
            peak_kib = peak_kib.max(kib.parse().unwrap_or(0));
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(status.success(), "predict failed");
    assert!(peak_kib > 0, "no VmHWM reading");
    assert!(peak_kib < 200 * 1024, "predict peaked at {peak_kib} KiB resident on a 50 MB CSV");
    let lines = std::fs::read_to_string(d.join("p.csv")).unwrap().lines().count();
    assert_eq!(lines, ROWS + 1);
}
