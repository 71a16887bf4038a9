//! Files from before the layer-kind seam (model-file format version 1, written by commit 63b6815's
//! `mlp`, see tests/fixtures/v1/README.md) still load, predict the same bytes, and the same command
//! still writes the same file.

use crate::util::{Dir, fixtures};

/// The command that wrote `v1/spirals.safetensors`: PReLU and maxout layers, so that every
/// parameter kind of a dense layer (weights, biases, slopes, pieces) is in the file.
const TRAIN: &[&str] = &[
    "train",
    "--data",
    "builtin:spirals?n=300",
    "--layers",
    "8:prelu,6:maxout(2),2:softmax",
    "--optimizer",
    "adam",
    "--epochs",
    "3",
    "--seed",
    "3",
    "--quiet",
    "--out",
    "spirals.safetensors",
];

#[test]
fn version_1_model_predicts_the_same_bytes() {
    let dir = Dir::new("compat-predict");
    let v1 = fixtures().join("v1");
    let model = v1.join("spirals.safetensors");
    let input = v1.join("inputs.csv");
    let run = dir.mlp(&["predict", model.to_str().unwrap(), "--input", input.to_str().unwrap(), "--proba"]);
    let want = std::fs::read_to_string(v1.join("predictions.csv")).unwrap();
    assert_eq!(run.ok(), want, "predictions of the version-1 file changed");
}

#[test]
fn the_same_command_writes_the_same_file() {
    let dir = Dir::new("compat-train");
    dir.mlp(TRAIN).ok();
    let now = std::fs::read(dir.join("spirals.safetensors")).unwrap();
    let then = std::fs::read(fixtures().join("v1/spirals.safetensors")).unwrap();
    assert!(
        now == then,
        "the model file written today differs from the version-1 file ({} vs {} bytes)",
        now.len(),
        then.len()
    );
}
