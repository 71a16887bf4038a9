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
