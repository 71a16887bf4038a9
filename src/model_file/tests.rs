//! Round trips, layout, damaged files and atomic writes.

use super::*;
use crate::data::synth;
use crate::loss::Loss;
use crate::nn::ModelConfig;
use crate::optim::OptimizerConfig;
use crate::tensor::Matrix;
use crate::train::{Checkpoint, FitConfig, Trainer};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlp-model-file-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("m.safetensors")
}

fn meta(n: usize) -> ModelMeta {
    ModelMeta {
        loss: Loss::CategoricalCrossEntropy,
        input: InputSpec::Standardized {
            features: (1..=n).map(|i| format!("x{i}")).collect(),
            target: "label".into(),
            mean: vec![0.5; n],
            std: vec![2.0; n],
        },
        classes: Some(vec!["a".into(), "b".into(), "c".into()]),
        training: Some(serde_json::json!({"epochs": 3})),
        history: None,
        created_by: created_by(),
    }
}

fn bits(m: &Model) -> Vec<u32> {
    m.params.iter().flat_map(|p| p.tensors.iter().flat_map(|t| &t.data).map(|v| v.to_bits())).collect()
}

#[test]
fn round_trip_is_bit_exact_for_every_layer_kind() {
    let cfg = ModelConfig::parse(3, "4:prelu,3:maxout(3),5:leaky_relu(0.1),3:softmax").unwrap();
    let model = cfg.init(7).unwrap();
    let path = tmp("rt");
    let saved = SavedModel { model: model.clone(), meta: meta(3) };
    save(&path, &saved).unwrap();
    let back = load(&path).unwrap();
    assert_eq!(bits(&back.model), bits(&model));
    let first = std::fs::read(&path).unwrap();
    save(&path, &back).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), first, "the same model gives the same bytes");
    assert_eq!(back, saved);
    let x = Matrix::new(2, 3, vec![0.1, -0.2, 0.3, 1.0, 2.0, -3.0]);
    let (a, b) = (model.predict(&x).unwrap(), back.model.predict(&x).unwrap());
    assert_eq!(
        a.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn weights_are_stored_out_by_in() {
    let model = ModelConfig::parse(2, "3:relu").unwrap().init(1).unwrap();
    let path = tmp("layout");
    save(&path, &SavedModel { model: model.clone(), meta: ModelMeta { classes: None, loss: Loss::Mse, ..meta(2) } })
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = st.tensor("layers.0.weight").unwrap();
    assert_eq!(w.shape(), &[3, 2]);
    let v: Vec<f32> = w.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    // Row o of the file is output unit o: W[i][o] in memory.
    assert_eq!(v[2 + 1], model.params[0].values("weight")[3 + 1]);
    assert_eq!(v[1], model.params[0].values("weight")[3]);
}

#[test]
fn checkpoint_round_trip_is_bit_exact() {
    let data = synth::blobs(20, &synth::BLOB_CENTERS, 1.0, 0);
    let mut model = ModelConfig::parse(2, "5:relu,3:softmax").unwrap().init(0).unwrap();
    let cfg = FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: OptimizerConfig::adam(0.01),
        epochs: 2,
        early_stopping: Some(Default::default()),
        validation_split: 0.25,
        ..Default::default()
    };
    let mut cks = Vec::new();
    let mut sink = |c: &Checkpoint| {
        cks.push(c.clone());
        Ok(())
    };
    Trainer::new(&cfg).checkpoints(1, &mut sink).fit(&mut model, &data).unwrap();
    let ck = cks.pop().unwrap();
    let path = tmp("ck");
    save_checkpoint(&path, &ck, &meta(2)).unwrap();
    let (back, m) = load_checkpoint(&path).unwrap();
    assert_eq!(m, meta(2));
    assert_eq!(bits(&back.model), bits(&ck.model));
    assert_eq!(back.optimizer_state.len(), ck.optimizer_state.len());
    for (a, b) in back.optimizer_state.iter().flatten().zip(ck.optimizer_state.iter().flatten()) {
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
    assert_eq!(back.state, ck.state);
    assert_eq!(back.best.as_ref().map(bits), ck.best.as_ref().map(bits));
    // A checkpoint also loads as a model.
    assert_eq!(bits(&load(&path).unwrap().model), bits(&ck.model));
    // In memory: the same bytes as the file, and back.
    let bytes = checkpoint_to_bytes(&ck, &meta(2)).unwrap();
    assert_eq!(bytes, std::fs::read(&path).unwrap());
    let (mem, m) = checkpoint_from_bytes(&bytes, "<memory>").unwrap();
    assert_eq!((mem.state, m), (back.state, meta(2)));
}

#[test]
fn model_bytes_in_memory_are_the_file() {
    let model = ModelConfig::parse(3, "4:prelu,3:softmax").unwrap().init(3).unwrap();
    let saved = SavedModel { model, meta: meta(3) };
    let bytes = to_bytes(&saved).unwrap();
    let path = tmp("mem");
    save(&path, &saved).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(from_bytes(&bytes, "<memory>").unwrap(), saved);
    let e = from_bytes(&bytes[..20], "<memory>").unwrap_err().to_string();
    assert!(e.starts_with("<memory>: "), "{e}");
}

fn expect_err(path: &Path, needle: &str) {
    let e = load(path).unwrap_err().to_string();
    assert!(e.contains(needle), "expected `{needle}` in: {e}");
    assert!(!e.contains('\n'), "one line: {e}");
}

#[test]
fn damaged_files_are_rejected_with_a_reason() {
    let model = ModelConfig::parse(3, "4:relu,3:softmax").unwrap().init(7).unwrap();
    let path = tmp("bad");
    save(&path, &SavedModel { model: model.clone(), meta: meta(3) }).unwrap();
    let good = std::fs::read(&path).unwrap();
    let bad = tmp("bad2");

    std::fs::write(&bad, &good[..5]).unwrap();
    expect_err(&bad, "only 5 bytes");
    std::fs::write(&bad, &good[..good.len() - 10]).unwrap();
    expect_err(&bad, "is truncated");
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(&bad, &huge).unwrap();
    expect_err(&bad, "header claims 1099511627776 bytes");
    let mut garbled = good.clone();
    garbled[8] = b'!';
    std::fs::write(&bad, &garbled).unwrap();
    expect_err(&bad, "garbled header");

    let rewrite = |f: &dyn Fn(&mut serde_json::Value)| {
        let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        let mut h: serde_json::Value = serde_json::from_slice(&good[8..8 + n]).unwrap();
        f(&mut h);
        let mut hs = serde_json::to_vec(&h).unwrap();
        while !hs.len().is_multiple_of(8) {
            hs.push(b' ');
        }
        let mut out = (hs.len() as u64).to_le_bytes().to_vec();
        out.extend(hs);
        out.extend(&good[8 + n..]);
        std::fs::write(&bad, out).unwrap();
    };
    rewrite(&|h| h["__metadata__"]["format_version"] = "3".into());
    expect_err(&bad, "newer mlp");
    rewrite(&|h| h["__metadata__"]["mlp"] = "{not json".into());
    expect_err(&bad, "garbled `mlp` metadata");
    rewrite(&|h| {
        h.as_object_mut().unwrap().remove("__metadata__");
    });
    expect_err(&bad, "has no metadata");
    rewrite(&|h| h["layers.0.bias"]["dtype"] = "F16".into());
    expect_err(&bad, "dtype F16");
    rewrite(&|h| h["layers.0.weight"]["shape"] = serde_json::json!([3, 4]));
    expect_err(&bad, "shape [3, 4] but the architecture");
    rewrite(&|h| h["layers.0.weight"]["data_offsets"][1] = serde_json::json!(1u64 << 40));
    expect_err(&bad, "is truncated: tensor `layers.0.weight`");
    rewrite(&|h| {
        let o = h.as_object_mut().unwrap();
        let b = o.remove("layers.1.bias").unwrap();
        o.insert("layers.9.bias".into(), b);
    });
    expect_err(&bad, "no tensor `layers.1.bias`");

    let mut nan = model.clone();
    nan.params[0].get_mut("bias").unwrap().data[1] = f32::NAN;
    let raw = SavedModel { model: nan, meta: meta(3) };
    let mut tensors = Vec::new();
    push_model(&mut tensors, "", &raw.model);
    let bytes = serialize(&tensors, &base_metadata(&raw.model, &raw.meta).unwrap()).unwrap();
    std::fs::write(&bad, bytes).unwrap();
    expect_err(&bad, "non-finite value (NaN at index 1)");
    assert!(save(&bad, &raw).unwrap_err().to_string().contains("NaN"));
}
