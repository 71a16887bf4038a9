//! Backend parity: each test body runs on every backend, and each backend must agree with the CPU reference `Cpu<f32>`.
//!
//! Every body is written once, generic over [`Backend`], and run on `Cpu<f32>` (the reference), on
//! `Cpu<f64>` (always: it checks the body and the reference against more precise arithmetic), and
//! on `Cuda` when a GPU is usable. Without one (no driver, no GPU, or a build without the `cuda`
//! feature, whose stand-in `Cuda` also implements `Backend`) the CUDA half prints
//! `skipped: no CUDA device (…)` and the CPU half still runs.
//!
//! Tolerance: `|got − want| ≤ tol · max(|want|, rms(want), term)` for each element of each output,
//! with `tol` = 1e-5 for CUDA (f32 against f32, differing only in summation order and the last
//! bits of exp/log/tanh). The floors make the bound relative to the output's scale where an element
//! is a sum that cancels to near zero: its rounding error is set by its terms, not by the result.

mod common;

use common::every_activation as all_activations;

use mlp::backend::{Backend, Cpu, Cuda};
use mlp::data::synth;
use mlp::optim::UpdateRule;
use mlp::train::{FitConfig, Trainer};
use mlp::{Activation, Loss, ModelConfig, OptimizerConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::OnceLock;

/// CUDA against the f32 CPU reference.
const GPU_TOL: f64 = 1e-5;
/// The f64 CPU backend against the f32 one: f32 rounding alone.
const F64_TOL: f64 = 1e-4;

/// One output of a test body: its name, its values widened to f64, and the magnitude of the terms
/// that each value sums (0 where an element is not a long sum).
type Output = (String, Vec<f64>, f64);
/// Every output of one test body.
type Outputs = Vec<Output>;

fn o(name: impl Into<String>, values: Vec<f64>) -> Output {
    (name.into(), values, 0.0)
}

/// An output whose elements are sums of terms of about `term` in size: a sum that cancels to
/// near zero keeps the rounding error of its terms, so its error is measured against them.
fn sum_of(name: impl Into<String>, values: Vec<f64>, term: f64) -> Output {
    (name.into(), values, term)
}

/// The GPU, opened once for the whole test binary (NVRTC compiles the kernels on opening).
fn cuda() -> Result<&'static Cuda, String> {
    static DEV: OnceLock<Result<Cuda, String>> = OnceLock::new();
    DEV.get_or_init(|| Cuda::new(0).map_err(|e| e.to_string())).as_ref().map_err(Clone::clone)
}

/// Compares `got` with `want` output by output, naming the first element out of tolerance.
fn check(test: &str, device: &str, got: &Outputs, want: &Outputs, tol: f64) {
    assert_eq!(got.len(), want.len(), "{test}: {device} produced {} outputs, the reference {}", got.len(), want.len());
    let mut worst = 0.0f64;
    for ((name, g, _), (wname, w, term)) in got.iter().zip(want) {
        assert_eq!(name, wname);
        assert_eq!(g.len(), w.len(), "{test}: {name}: {device} has {} values, the reference {}", g.len(), w.len());
        let rms = (w.iter().map(|v| v * v).sum::<f64>() / w.len().max(1) as f64).sqrt().max(*term);
        for (i, (&x, &y)) in g.iter().zip(w).enumerate() {
            let err = if x == y || (x.is_nan() && y.is_nan()) {
                0.0
            } else {
                (x - y).abs() / y.abs().max(rms).max(f64::MIN_POSITIVE)
            };
            assert!(
                err <= tol,
                "{test}: {name}[{i}]: {device} gives {x}, the CPU {y} (error {err:.2e} > {tol:.0e}) NOT OK"
            );
            worst = worst.max(err);
        }
    }
    println!("{test}: {device} OK (max error {worst:.2e})");
}

/// Runs `$body` on every backend and compares each with the `Cpu<f32>` reference.
macro_rules! parity_test {
    ($name:ident, $body:ident) => {
        parity_test!($name, $body, F64_TOL);
    };
    ($name:ident, $body:ident, $f64_tol:expr) => {
        #[test]
        fn $name() {
            let test = stringify!($name);
            let want = $body(&Cpu::<f32>::new(1).unwrap());
            check(test, "cpu-f64", &$body(&Cpu::<f64>::new(1).unwrap()), &want, $f64_tol);
            match cuda() {
                Ok(gpu) => check(test, "cuda", &$body(gpu), &want, GPU_TOL),
                Err(why) => println!("{test}: skipped: no CUDA device ({why})"),
            }
        }
    };
}

fn randn(rng: &mut ChaCha8Rng, n: usize, sd: f32) -> Vec<f32> {
    (0..n).map(|_| sd * Distribution::<f32>::sample(&StandardNormal, rng)).collect()
}

fn host<B: Backend>(be: &B, buf: &B::Buf, n: usize) -> Vec<f64> {
    let mut v = vec![0.0f32; n];
    be.read(buf, &mut v);
    v.into_iter().map(f64::from).collect()
}

// ---- matrix products --------------------------------------------------------------------------

fn matmul_body<B: Backend>(be: &B) -> Outputs {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let dims = [1usize, 63, 64, 65];
    let mut out = Vec::new();
    let mut shapes: Vec<(usize, usize, usize)> = Vec::new();
    for &m in &dims {
        for &n in &dims {
            for &k in &dims {
                shapes.push((m, n, k));
            }
        }
    }
    // An empty inner dimension (the product is 0, or c itself) and a shape spanning many tiles.
    shapes.extend([(5, 7, 0), (300, 257, 129)]);
    for (m, n, k) in shapes {
        for ta in [false, true] {
            for tb in [false, true] {
                for acc in [false, true] {
                    let a = be.upload(&randn(&mut rng, m * k, 1.0));
                    let b = be.upload(&randn(&mut rng, k * n, 1.0));
                    let mut c = be.upload(&randn(&mut rng, m * n, 1.0));
                    be.matmul(m, n, k, &a, ta, &b, tb, &mut c, acc);
                    // Each element adds k products of two N(0, 1) values (and c, when accumulating).
                    out.push(sum_of(format!("m{m} n{n} k{k} ta {ta} tb {tb} acc {acc}"), host(be, &c, m * n), 1.0));
                }
            }
        }
    }
    out
}
parity_test!(matmul_every_transpose_and_shape, matmul_body);

// ---- activations ------------------------------------------------------------------------------

/// Layer inputs for `act`: z (rows, width) with the bias not yet added, the bias, PReLU slopes.
fn layer_inputs(act: &Activation, rows: usize, units: usize, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let width = act.pre_width(units);
    // Large logits check that softmax subtracts the row max; the rest stay where the curves bend.
    let sd = if *act == Activation::Softmax { 20.0 } else { 2.0 };
    let z = randn(rng, rows * width, sd);
    let bias = randn(rng, width, 0.5);
    let alpha: Vec<f32> = (0..units).map(|_| rng.random_range(-0.5f32..0.5)).collect();
    (z, bias, alpha)
}

fn forward_body<B: Backend>(be: &B) -> Outputs {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut out = Vec::new();
    for act in all_activations() {
        // 65 units: more than two warps, not a multiple of 32; 3 units: a narrow output layer.
        for (rows, units) in [(37, 65), (129, 3), (1, 1)] {
            if act == Activation::Softmax && units == 1 {
                continue;
            }
            let (z0, bias, alpha) = layer_inputs(&act, rows, units, &mut rng);
            let mut z = be.upload(&z0);
            let (bias_d, alpha_d) = (be.upload(&bias), be.upload(&alpha));
            let mut a = be.zeros(rows * units);
            be.bias_act_forward(&act, rows, units, &mut z, &bias_d, act.has_alpha().then_some(&alpha_d), &mut a);
            out.push(o(format!("{act} {rows}x{units} z"), host(be, &z, rows * act.pre_width(units))));
            out.push(o(format!("{act} {rows}x{units} a"), host(be, &a, rows * units)));
        }
    }
    out
}
parity_test!(bias_act_forward_every_activation, forward_body);

fn backward_body<B: Backend>(be: &B) -> Outputs {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut out = Vec::new();
    for act in all_activations() {
        for (rows, units) in [(37, 65), (300, 3), (1, 1)] {
            if act == Activation::Softmax && units == 1 {
                continue;
            }
            let width = act.pre_width(units);
            let (z0, bias, alpha) = layer_inputs(&act, rows, units, &mut rng);
            let mut z = be.upload(&z0);
            let (bias_d, alpha_d) = (be.upload(&bias), be.upload(&alpha));
            let alpha_opt = act.has_alpha().then_some(&alpha_d);
            let mut a = be.zeros(rows * units);
            be.bias_act_forward(&act, rows, units, &mut z, &bias_d, alpha_opt, &mut a);
            let da = be.upload(&randn(&mut rng, rows * units, 1.0));
            let mut dz = be.upload(&randn(&mut rng, rows * width, 1.0));
            let mut dalpha = be.upload(&randn(&mut rng, units, 1.0));
            let dalpha_opt = if act.has_alpha() { Some(&mut dalpha) } else { None };
            be.act_backward(&act, rows, units, &z, &a, &da, alpha_opt, &mut dz, dalpha_opt);
            out.push(o(format!("{act} {rows}x{units} dz"), host(be, &dz, rows * width)));
            if act.has_alpha() {
                // Each slope gradient adds one da·z term per row.
                out.push(sum_of(format!("{act} {rows}x{units} dalpha"), host(be, &dalpha, units), 1.0));
            }
        }
    }
    out
}
parity_test!(act_backward_every_activation, backward_body);

fn sum_rows_body<B: Backend>(be: &B) -> Outputs {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut out = Vec::new();
    for (rows, cols) in [(1, 1), (37, 65), (300, 130), (1000, 3), (0, 5)] {
        let dz = be.upload(&randn(&mut rng, rows * cols, 1.0));
        let mut db = be.upload(&randn(&mut rng, cols, 1.0));
        be.sum_rows(rows, cols, &dz, &mut db);
        out.push(sum_of(format!("{rows}x{cols}"), host(be, &db, cols), 1.0));
    }
    out
}
parity_test!(sum_rows_shapes, sum_rows_body);

// ---- losses -----------------------------------------------------------------------------------

fn loss_body<B: Backend>(be: &B) -> Outputs {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut out = Vec::new();
    // Each loss with its fused output activation and with an unfused one (the gradient then goes
    // through act_backward), one output column and several.
    let cases = [
        (Loss::Mse, Activation::Linear),
        (Loss::Mse, Activation::Tanh),
        (Loss::Mae, Activation::Linear),
        (Loss::Mae, Activation::Sigmoid),
        (Loss::BinaryCrossEntropy, Activation::Sigmoid),
        (Loss::BinaryCrossEntropy, Activation::Softmax),
        (Loss::CategoricalCrossEntropy, Activation::Softmax),
        (Loss::CategoricalCrossEntropy, Activation::Sigmoid),
        (Loss::SparseCategoricalCrossEntropy, Activation::Softmax),
    ];
    for (loss, act) in cases {
        for (rows, cols) in [(37, 1), (128, 10), (5, 65)] {
            if act == Activation::Softmax && cols == 1 {
                continue;
            }
            let z0 = randn(&mut rng, rows * cols, 3.0);
            let t: Vec<f32> = match loss {
                Loss::Mse | Loss::Mae => randn(&mut rng, rows * cols, 1.0),
                Loss::BinaryCrossEntropy => (0..rows * cols).map(|_| rng.random_range(0.0f32..1.0)).collect(),
                _ => {
                    let mut t = vec![0.0f32; rows * cols];
                    for r in 0..rows {
                        t[r * cols + rng.random_range(0..cols)] = 1.0;
                    }
                    t
                }
            };
            let mut z = be.upload(&z0);
            let mut a = be.zeros(rows * cols);
            be.bias_act_forward(&act, rows, cols, &mut z, &be.zeros(cols), None, &mut a);
            let t = be.upload(&t);
            let w = be.upload(&(0..rows).map(|_| rng.random_range(0.0f32..2.0)).collect::<Vec<_>>());
            for weighted in [false, true] {
                let name = format!("{loss} {act} {rows}x{cols} weighted {weighted}");
                let mut g = be.zeros(rows * cols);
                let w = weighted.then_some(&w);
                let with_grad = be.loss(loss, &act, rows, cols, &z, &a, &t, w, Some((&mut g, 1.0 / rows as f64)));
                let value_only = be.loss(loss, &act, rows, cols, &z, &a, &t, w, None);
                out.push(o(format!("{name} loss"), vec![with_grad, value_only]));
                out.push(o(format!("{name} grad"), host(be, &g, rows * cols)));
            }
        }
    }
    out
}
parity_test!(loss_every_loss_and_output, loss_body);

// ---- optimizers -------------------------------------------------------------------------------

fn optimizers() -> Vec<OptimizerConfig> {
    vec![
        OptimizerConfig::sgd(0.1),
        OptimizerConfig::momentum(0.1, 0.9),
        OptimizerConfig::nesterov(0.1, 0.9),
        OptimizerConfig::Sgd { lr: 0.05, momentum: 0.8, nesterov: false, dampening: 0.3, weight_decay: 0.01 },
        OptimizerConfig::adagrad(0.1),
        OptimizerConfig::Adagrad { lr: 0.1, initial_accumulator: 0.5, eps: 1e-6, lr_decay: 0.1, weight_decay: 0.01 },
        OptimizerConfig::rmsprop(0.01),
        OptimizerConfig::RmsProp { lr: 0.01, rho: 0.8, eps: 1e-6, momentum: 0.9, centered: false, weight_decay: 0.0 },
        OptimizerConfig::RmsProp { lr: 0.01, rho: 0.9, eps: 1e-6, momentum: 0.0, centered: true, weight_decay: 0.01 },
        OptimizerConfig::RmsProp { lr: 0.01, rho: 0.9, eps: 1e-6, momentum: 0.5, centered: true, weight_decay: 0.0 },
        OptimizerConfig::adam(0.01),
        OptimizerConfig::Adam { lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, amsgrad: false, weight_decay: 0.01 },
        OptimizerConfig::amsgrad(0.01),
        OptimizerConfig::adamw(0.01),
        OptimizerConfig::AdamW { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-7, amsgrad: true, weight_decay: 0.1 },
    ]
}

fn update_body<B: Backend>(be: &B) -> Outputs {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut out = Vec::new();
    for opt in optimizers() {
        // No penalty, and Keras's L1 + L2: the penalty sum then spans several GPU blocks.
        for (l1, l2) in [(0.0f32, 0.0f32), (1e-3, 1e-2)] {
            for n in [1usize, 1000, 5000] {
                let name = format!("{opt:?} l1 {l1} l2 {l2} n {n}");
                let mut p = be.upload(&randn(&mut rng, n, 1.0));
                let mut state: Vec<B::Buf> = opt.state_init().iter().map(|&v| be.upload(&vec![v; n])).collect();
                let mut penalties = Vec::new();
                // Three steps: SGD's first momentum step, then bias corrections at t = 2, 3.
                for step in 1..=3 {
                    let g = be.upload(&randn(&mut rng, n, 1.0));
                    let rule = UpdateRule { opt: opt.clone(), step, l1, l2 };
                    penalties.push(be.update(&rule, n, &mut p, &g, &mut state));
                }
                out.push(o(format!("{name} param"), host(be, &p, n)));
                for (i, s) in state.iter().enumerate() {
                    out.push(o(format!("{name} state {i}"), host(be, s, n)));
                }
                out.push(o(format!("{name} penalty"), penalties));
            }
        }
    }
    out
}
parity_test!(update_every_optimizer, update_body);

// ---- data movement and whole-buffer reductions ------------------------------------------------

fn buffer_ops_body<B: Backend>(be: &B) -> Outputs {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    for n in [1usize, 1000, 100_000] {
        let v = randn(&mut rng, n, 1.0);
        let mut buf = be.upload(&v);
        out.push(o(format!("sum_squares {n}"), vec![be.sum_squares(&buf, n), be.sum_squares(&buf, n / 2)]));
        be.scale(&mut buf, n, 0.37);
        out.push(o(format!("scale {n}"), host(be, &buf, n)));
    }
    // all_finite: clean, NaN inside the range, infinity inside it, NaN just past the range.
    let mut v = randn(&mut rng, 3000, 1.0);
    let mut flags = Vec::new();
    let buf = be.upload(&v);
    flags.push(be.all_finite(&buf, 3000));
    v[1234] = f32::NAN;
    flags.push(be.all_finite(&be.upload(&v), 3000));
    v[1234] = 0.0;
    v[2999] = f32::INFINITY;
    flags.push(be.all_finite(&be.upload(&v), 3000));
    flags.push(be.all_finite(&be.upload(&v), 2999));
    out.push(o("all_finite", flags.into_iter().map(|f| f as u8 as f64).collect()));

    // copy / fill_zero / write / read / get / set on part of a buffer.
    let src = be.upload(&randn(&mut rng, 100, 1.0));
    let mut dst = be.upload(&randn(&mut rng, 100, 1.0));
    be.copy(&src, &mut dst, 60);
    be.fill_zero(&mut dst, 10);
    be.write(&[1.5, -2.5, 3.5], &mut dst);
    be.set(&mut dst, 99, 0.125);
    out.push(o("copy fill write set", host(be, &dst, 100)));
    out.push(o("get", vec![be.get(&dst, 0), be.get(&dst, 50), be.get(&dst, 99)]));
    let mut partial = vec![0.0f32; 7];
    be.read(&dst, &mut partial);
    out.push(o("read prefix", partial.into_iter().map(f64::from).collect()));

    // gather_rows: repeated indices, a narrow and a wide row, and a later call with more indices
    // than the first (the GPU's index buffer must grow).
    for (rows, cols) in [(50, 1), (50, 7), (1000, 784)] {
        let src = be.upload(&randn(&mut rng, rows * cols, 1.0));
        for count in [5usize, 300] {
            let idx: Vec<u32> = (0..count).map(|_| rng.random_range(0..rows as u32)).collect();
            let mut dst = be.zeros(count * cols);
            be.gather_rows(&src, cols, &idx, &mut dst);
            out.push(o(format!("gather {rows}x{cols} by {count}"), host(be, &dst, count * cols)));
        }
    }
    out
}
parity_test!(buffer_ops, buffer_ops_body);

// ---- whole training runs ----------------------------------------------------------------------

/// The per-epoch loss and accuracy of a short training run on `be`.
fn curves<B: Backend>(be: &B, model_cfg: &ModelConfig, fit: &FitConfig) -> Vec<f64> {
    let data = synth::spirals(400, 1.5, 0.05, 0);
    let mut model = model_cfg.init(0).unwrap();
    let h = Trainer::new(fit).fit_on(be, &mut model, &data).unwrap();
    h.epochs.iter().flat_map(|e| [e.get("loss").unwrap(), e.get("accuracy").unwrap()]).collect()
}

fn training_runs() -> Vec<(&'static str, ModelConfig, FitConfig)> {
    let softmax =
        ModelConfig::new(2).dense(32, Activation::Tanh).dense(32, Activation::Relu).dense(2, Activation::Softmax);
    let softmax_fit = FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: OptimizerConfig::adam(0.01),
        epochs: 5,
        batch_size: 32,
        threads: 1,
        ..Default::default()
    };
    // The other paths: maxout, PReLU, a sigmoid output with binary cross-entropy, penalties,
    // momentum RMSProp and gradient clipping (sum_squares and scale).
    let sigmoid = ModelConfig::new(2)
        .dense(16, Activation::Maxout { pieces: 2 })
        .dense(16, Activation::Prelu { init: 0.25 })
        .dense(1, Activation::Sigmoid)
        .with_penalties(1e-4, 1e-3);
    let sigmoid_fit = FitConfig {
        loss: Loss::BinaryCrossEntropy,
        optimizer: OptimizerConfig::RmsProp {
            lr: 0.005,
            rho: 0.9,
            eps: 1e-7,
            momentum: 0.5,
            centered: false,
            weight_decay: 0.0,
        },
        epochs: 5,
        batch_size: 50,
        clip_norm: Some(1.0),
        threads: 1,
        ..Default::default()
    };
    vec![("spirals softmax adam", softmax, softmax_fit), ("spirals maxout prelu bce rmsprop", sigmoid, sigmoid_fit)]
}

#[test]
fn training_curves_match() {
    for (name, model, fit) in training_runs() {
        let want = vec![o(name, curves(&Cpu::<f32>::new(1).unwrap(), &model, &fit))];
        // CPU side: the reference is bit-identical for any thread count (src/backend/cpu/mod.rs).
        let two = vec![o(name, curves(&Cpu::<f32>::new(2).unwrap(), &model, &fit))];
        check(name, "cpu, 2 threads", &two, &want, 0.0);
        match cuda() {
            // Training feeds rounding differences back through every step: a looser bound than one op.
            Ok(gpu) => check(name, "cuda", &vec![o(name, curves(gpu, &model, &fit))], &want, 1e-3),
            Err(why) => println!("training_curves_match ({name}): skipped: no CUDA device ({why})"),
        }
    }
}

// ---- set-up and errors ------------------------------------------------------------------------

/// Without a usable GPU, opening one is a one-line error that names the CPU alternative, not a panic.
#[test]
fn cuda_new_without_a_device_is_a_clear_error() {
    if Cuda::is_available() {
        println!("cuda_new_without_a_device_is_a_clear_error: skipped: a CUDA device is present");
        return;
    }
    let msg = Cuda::new(0).map(|_| ()).unwrap_err().to_string();
    println!("Cuda::new(0): {msg}");
    assert!(msg.contains("--device cpu"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    assert_eq!(Cuda::unavailable_reason().is_some(), !Cuda::is_available());
}

/// The kernels compile with NVRTC alone (no GPU or driver needed) to machine code holding every
/// kernel the backend loads. Run with libnvrtc.so.13 on LD_LIBRARY_PATH to check them without a GPU.
#[cfg(feature = "cuda")]
#[test]
fn kernels_compile_with_nvrtc() {
    use mlp::backend::cuda::{KERNEL_NAMES, compile_kernels, nvrtc_version};
    // Turing (the oldest that CUDA 13 supports), Ampere, Hopper.
    for arch in ["sm_75", "sm_80", "sm_90"] {
        match compile_kernels(arch) {
            Ok(cubin) => {
                assert!(cubin.starts_with(b"\x7fELF"), "{arch}: NVRTC returned no cubin");
                for name in KERNEL_NAMES {
                    assert!(
                        cubin
                            .windows(name.len() + 1)
                            .any(|w| w[..name.len()] == *name.as_bytes() && w[name.len()] == 0),
                        "{arch}: kernel {name} missing from the cubin"
                    );
                }
                let v = nvrtc_version();
                println!(
                    "kernels_compile_with_nvrtc: NVRTC {v}, {arch} OK ({} kernels, {} bytes)",
                    KERNEL_NAMES.len(),
                    cubin.len()
                );
            }
            Err(e) if e.to_string().contains("not found") => {
                println!("kernels_compile_with_nvrtc: skipped: {e}");
                return;
            }
            Err(e) => panic!("{arch}: {e}"),
        }
    }
}
