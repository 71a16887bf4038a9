//! ONNX export round trip: every activation's exported graph, run by tract, matches `Model::predict`.
//!
//! tract is an independent ONNX runtime, so agreement checks both the graph (operators,
//! attributes, weight layout) and the protobuf encoding (field numbers, wire types).
//!
//! Set `MLP_ONNX_DUMP=<dir>` to keep every exported file there, each beside a JSON file with its
//! input and `predict`'s output, for checking in another runtime (onnxruntime, onnx's checker)
//! without making this suite depend on one.

mod common;

use common::hidden_activations as every_activation;

use mlp::{Activation, Matrix, Model, ModelConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tract_onnx::prelude::*;

const TOL: f32 = 1e-5;

/// Random weights, biases and (non-uniform) PReLU slopes, so that no bug hides behind zeros or
/// behind every unit sharing one slope.
fn random_model(cfg: ModelConfig, seed: u64) -> Model {
    let mut model = cfg.init(seed).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    for p in &mut model.params {
        for b in &mut p.get_mut("bias").unwrap().data {
            *b = rng.random_range(-0.5..0.5);
        }
        if let Some(alpha) = p.get_mut("alpha") {
            for a in alpha.data.iter_mut() {
                *a = rng.random_range(-0.5..1.5);
            }
        }
    }
    model
}

fn random_matrix(rows: usize, cols: usize, scale: f32, seed: u64) -> Matrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Matrix::new(rows, cols, (0..rows * cols).map(|_| rng.random_range(-scale..scale)).collect())
}

/// Loads `bytes` with tract and runs it on `x`; the batch dimension stays symbolic until run time.
fn run_onnx(bytes: &[u8], x: &Matrix) -> TractResult<Matrix> {
    let model = tract_onnx::onnx().model_for_read(&mut &*bytes)?.into_optimized()?.into_runnable()?;
    let input = Tensor::from_shape(&[x.rows, x.cols], &x.data)?;
    let out = model.run(tvec!(input.into_tvalue()))?;
    let view = out[0].to_plain_array_view::<f32>()?;
    let shape = view.shape().to_vec();
    assert_eq!(shape.len(), 2, "output rank: {shape:?}");
    Ok(Matrix::new(shape[0], shape[1], view.iter().copied().collect()))
}

/// Keeps `bytes` and the case it was checked on when `MLP_ONNX_DUMP` names a directory.
fn dump(name: &str, bytes: &[u8], x: &Matrix, want: &Matrix) {
    let Some(dir) = std::env::var_os("MLP_ONNX_DUMP") else { return };
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let file: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    mlp::onnx::write(&dir.join(format!("{file}.onnx")), bytes).unwrap();
    let case = serde_json::json!({ "x": x, "want": want });
    std::fs::write(dir.join(format!("{file}.json")), case.to_string()).unwrap();
}

fn max_abs_diff(a: &Matrix, b: &Matrix) -> f32 {
    assert_eq!((a.rows, a.cols), (b.rows, b.cols), "shapes differ");
    a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Exports `model` with and without input scaling and compares tract's outputs to `predict`.
fn check(model: &Model, rows: usize, seed: u64) {
    let name = model.config.layers.iter().map(|l| format!("{}:{}", l.units, l.activation)).collect::<Vec<_>>();
    let d = model.config.input_dim;
    let x = random_matrix(rows, d, 2.0, seed);
    let want = model.predict(&x).unwrap();

    let bytes = mlp::onnx::export(model, None).unwrap();
    dump(&name.join("-"), &bytes, &x, &want);
    let diff = max_abs_diff(&run_onnx(&bytes, &x).unwrap(), &want);
    assert!(diff <= TOL, "{name:?} unscaled: max |Δ| = {diff:e}");

    // The scaled graph takes raw rows and must agree with predict on the standardized rows.
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
    let mean: Vec<f32> = (0..d).map(|_| rng.random_range(-3.0..3.0)).collect();
    let std: Vec<f32> = (0..d).map(|_| rng.random_range(0.5..4.0)).collect();
    let mut raw = x.clone();
    for row in raw.data.chunks_exact_mut(d) {
        for ((v, m), s) in row.iter_mut().zip(&mean).zip(&std) {
            *v = *v * s + m;
        }
    }
    let mut scaled = raw.clone();
    for row in scaled.data.chunks_exact_mut(d) {
        for ((v, m), s) in row.iter_mut().zip(&mean).zip(&std) {
            *v = (*v - m) / s;
        }
    }
    let want = model.predict(&scaled).unwrap();
    let bytes = mlp::onnx::export(model, Some((&mean, &std))).unwrap();
    dump(&format!("{}-scaled", name.join("-")), &bytes, &raw, &want);
    let diff = max_abs_diff(&run_onnx(&bytes, &raw).unwrap(), &want);
    assert!(diff <= TOL, "{name:?} scaled: max |Δ| = {diff:e}");
}

#[test]
fn every_hidden_activation_matches_predict() {
    for (i, act) in every_activation().into_iter().enumerate() {
        // Hidden layer of the activation under test, then a linear output so nothing squashes errors.
        let cfg = ModelConfig::new(5).dense(6, act.clone()).dense(3, Activation::Linear);
        check(&random_model(cfg, i as u64), 7, 100 + i as u64);
    }
}

#[test]
fn every_output_activation_matches_predict() {
    let mut acts = every_activation();
    acts.push(Activation::Softmax);
    for (i, act) in acts.into_iter().enumerate() {
        let cfg = ModelConfig::new(4).dense(8, Activation::Tanh).dense(3, act.clone());
        check(&random_model(cfg, 50 + i as u64), 7, 200 + i as u64);
    }
}

#[test]
fn deep_mixed_model_matches_predict() {
    let cfg = ModelConfig::parse(6, "9:maxout(3),7:prelu,5:elu(1.5),4:leaky_relu(0.1),3:softmax").unwrap();
    check(&random_model(cfg, 7), 7, 7);
}

#[test]
fn single_row_and_large_batch_share_one_file() {
    let model = random_model(ModelConfig::parse(3, "4:relu,2:softmax").unwrap(), 3);
    let bytes = mlp::onnx::export(&model, None).unwrap();
    for rows in [1, 300] {
        let x = random_matrix(rows, 3, 1.0, rows as u64);
        let diff = max_abs_diff(&run_onnx(&bytes, &x).unwrap(), &model.predict(&x).unwrap());
        assert!(diff <= TOL, "{rows} rows: max |Δ| = {diff:e}");
    }
}

#[test]
fn mnist_sized_softmax_model_matches_predict() {
    let model = random_model(ModelConfig::parse(784, "512:relu,10:softmax").unwrap(), 784);
    let x = random_matrix(7, 784, 1.0, 9);
    let bytes = mlp::onnx::export(&model, None).unwrap();
    let want = model.predict(&x).unwrap();
    dump("784-512_relu-10_softmax", &bytes, &x, &want);
    // 784·512 + 512 + 512·10 + 10 floats, plus the graph: about 1.6 MB.
    assert!(bytes.len() > 4 * model.param_count() && bytes.len() < 4 * model.param_count() + 4096, "{}", bytes.len());
    let got = run_onnx(&bytes, &x).unwrap();
    let diff = max_abs_diff(&got, &want);
    assert!(diff <= TOL, "784→512→10: max |Δ| = {diff:e}");
    for r in 0..got.rows {
        let s: f32 = got.row(r).iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "row {r} sums to {s}");
    }
}

#[test]
fn written_file_loads_from_disk() {
    let model = random_model(ModelConfig::parse(2, "3:sigmoid,1:sigmoid").unwrap(), 1);
    let dir = std::env::temp_dir().join(format!("mlp-onnx-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("xor.onnx");
    mlp::onnx::write(&path, &mlp::onnx::export(&model, None).unwrap()).unwrap();
    let runnable = tract_onnx::onnx().model_for_path(&path).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let x = random_matrix(4, 2, 1.0, 0);
    let out = runnable.run(tvec!(Tensor::from_shape(&[4, 2], &x.data).unwrap().into_tvalue())).unwrap();
    let got = out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect::<Vec<_>>();
    let want = model.predict(&x).unwrap();
    assert!(got.iter().zip(&want.data).all(|(a, b)| (a - b).abs() <= TOL), "{got:?} vs {:?}", want.data);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dropout_and_batchnorm_export_matches_predict() {
    // Trained a little, so that the running statistics are far from (0, 1) and γ, β from (1, 0):
    // the graph must use them (inference mode) and drop the dropout layers.
    let data = mlp::data::synth::blobs(120, &[[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]], 0.6, 0);
    let cfg =
        ModelConfig::parse(2, "8:linear,batchnorm:relu,dropout(0.3),6:tanh,batchnorm(momentum=0.3,eps=0.01),3:softmax")
            .unwrap();
    let mut model = cfg.init(1).unwrap();
    let fit = mlp::FitConfig {
        loss: mlp::Loss::CategoricalCrossEntropy,
        optimizer: mlp::OptimizerConfig::adam(0.05),
        epochs: 5,
        batch_size: 16,
        ..Default::default()
    };
    model.fit(&data, &fit).unwrap();
    let mean = model.params[1].values("running_mean");
    assert!(mean.iter().any(|m| m.abs() > 0.1), "the running mean moved: {mean:?}");
    check(&model, 7, 9);
    check(&model, 1, 10);
}

#[test]
fn radial_basis_units_export_matches_predict() {
    // Trained a little, so that the centres and widths are not their starting values.
    let data = mlp::data::synth::blobs(60, &mlp::data::synth::BLOB_CENTERS, 1.0, 0);
    let mut model = ModelConfig::parse(2, "6:rbf,4:tanh,3:rbf(sigma=0.7,fixed),3:softmax").unwrap().init(1).unwrap();
    let fit =
        mlp::FitConfig { optimizer: mlp::OptimizerConfig::adam(0.05), epochs: 5, batch_size: 16, ..Default::default() };
    model.fit(&data, &fit).unwrap();
    assert!(model.params[0].values("sigma").iter().any(|&s| (s - 1.0).abs() > 1e-3), "the widths moved");
    check(&model, 7, 9);
    check(&model, 1, 10);
}
