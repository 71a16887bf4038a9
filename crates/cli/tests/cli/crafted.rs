//! Crafted model files at the command line (issue 10, class 4): metadata edited field by field
//! after training makes `predict`, `evaluate` and `summary` exit 2 with one line naming the field,
//! never a panic or NaN predictions, and leaves no output file behind.

use crate::util::Dir;
use serde_json::{Value, json};

const DATA: &str = "color,size,label\nred,1,yes\nblue,3,no\nred,5,yes\ngreen,7,no\nblue,2,no\nred,6,yes\n";

/// `good` with its `mlp` metadata JSON edited at `pointer`.
fn crafted(good: &[u8], pointer: &str, v: Value) -> Vec<u8> {
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&good[8..8 + n]).unwrap();
    let mut mlp: Value = serde_json::from_str(header["__metadata__"]["mlp"].as_str().unwrap()).unwrap();
    *mlp.pointer_mut(pointer).unwrap_or_else(|| panic!("no {pointer}")) = v;
    header["__metadata__"]["mlp"] = Value::String(mlp.to_string());
    let mut hs = serde_json::to_vec(&header).unwrap();
    while !hs.len().is_multiple_of(8) {
        hs.push(b' ');
    }
    let mut out = (hs.len() as u64).to_le_bytes().to_vec();
    out.extend(hs);
    out.extend(&good[8 + n..]);
    out
}

#[test]
fn crafted_metadata_is_refused_by_every_command_naming_the_field() {
    let d = Dir::new("crafted");
    d.write("d.csv", DATA);
    d.mlp(&[
        "train",
        "--data",
        "d.csv",
        "--target",
        "label",
        "--layers",
        "3:relu,2:softmax",
        "--epochs",
        "2",
        "--out",
        "model.safetensors",
        "-q",
    ])
    .ok();
    let good = std::fs::read(d.join("model.safetensors")).unwrap();
    let pre = "/input/preprocessor";
    let cases: Vec<(String, Value, &str)> = vec![
        (format!("{pre}/stds/0"), json!(0.0), "`preprocessor.stds[0]` is 0"),
        (format!("{pre}/means"), json!([0.0]), "`preprocessor.means` has 1 values but the columns expand to 4"),
        (format!("{pre}/columns/0/categories"), json!(["red", "blue"]), "out of order or repeated"),
        (format!("{pre}/columns/1/name"), json!("color"), "names a column twice"),
        (format!("{pre}/target/labels"), json!(["no", "no"]), "`preprocessor.target.labels` has the class `no` twice"),
        ("/classes".into(), json!(["yes", "no"]), "`classes` differs"),
        ("/classes".into(), json!(["a", "b", "c"]), "lists 3 classes but the output layer has 2 units"),
        ("/architecture/input_dim".into(), json!(5), "tensor `layers.0.weight` has shape"),
    ];
    for (pointer, v, needle) in cases {
        std::fs::write(d.join("bad.safetensors"), crafted(&good, &pointer, v)).unwrap();
        d.mlp(&["predict", "bad.safetensors", "--input", "d.csv", "--output", "p.csv"])
            .fails_with(&["bad.safetensors", needle]);
        d.mlp(&["evaluate", "bad.safetensors", "--data", "d.csv"]).fails_with(&["bad.safetensors", needle]);
        d.mlp(&["summary", "bad.safetensors"]).fails_with(&["bad.safetensors", needle]);
        assert!(!d.join("p.csv").exists(), "no predictions written from a crafted file ({pointer})");
    }
}

#[test]
fn values_beyond_f32_are_refused_naming_the_cell() {
    let d = Dir::new("beyond-f32");
    d.write("d.csv", DATA);
    d.write("huge.csv", "color,size,label\nred,1,yes\nblue,1e39,no\nred,5,yes\n");
    d.mlp(&["train", "--data", "huge.csv", "--target", "label", "--epochs", "1", "-q"]).fails_with(&[
        "huge.csv:3:2",
        "`1e39`",
        "32-bit floats",
    ]);
    d.mlp(&[
        "train",
        "--data",
        "d.csv",
        "--target",
        "label",
        "--layers",
        "3:relu,2:softmax",
        "--epochs",
        "2",
        "--out",
        "model.safetensors",
        "-q",
    ])
    .ok();
    d.mlp(&["predict", "model.safetensors", "--input", "huge.csv", "--output", "p.csv"])
        .fails_with(&["huge.csv:3:2", "`1e39`"]);
    d.mlp(&["evaluate", "model.safetensors", "--data", "huge.csv"]).fails_with(&["huge.csv:3:2", "`1e39`"]);
    assert!(!d.join("p.csv").exists());
}
