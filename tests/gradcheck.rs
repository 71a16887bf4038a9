//! Gradient checks: every activation × loss, on one- and three-layer nets, against central differences in f64.

mod common;

use common::hidden_activations;

use mlp::gradcheck::gradcheck;
use mlp::{Activation, Loss, Matrix, ModelConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, Uniform};

/// Targets that make sense for the loss: one-hot rows, probabilities, or any values.
fn targets(loss: Loss, rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Matrix {
    let mut t = Matrix::zeros(rows, cols);
    for r in 0..rows {
        match loss {
            Loss::CategoricalCrossEntropy | Loss::SparseCategoricalCrossEntropy => {
                let k = Uniform::new(0, cols).unwrap().sample(rng);
                t.data[r * cols + k] = 1.0;
            }
            Loss::BinaryCrossEntropy => {
                for c in 0..cols {
                    t.data[r * cols + c] = Uniform::new(0.0f32, 1.0).unwrap().sample(rng);
                }
            }
            Loss::Mse | Loss::Mae | Loss::Huber { .. } | Loss::LogCosh => {
                for c in 0..cols {
                    t.data[r * cols + c] = StandardNormal.sample(rng);
                }
            }
            Loss::Hinge | Loss::SquaredHinge => {
                for c in 0..cols {
                    t.data[r * cols + c] =
                        if Uniform::new(0.0f32, 1.0).unwrap().sample(rng) < 0.5 { -1.0 } else { 1.0 };
                }
            }
            Loss::KlDivergence => {
                // A probability distribution per row.
                let v: Vec<f32> = (0..cols).map(|_| Uniform::new(0.05f32, 1.0).unwrap().sample(rng)).collect();
                let s: f32 = v.iter().sum();
                for (dst, vc) in t.data[r * cols..(r + 1) * cols].iter_mut().zip(&v) {
                    *dst = vc / s;
                }
            }
            Loss::Poisson => {
                for c in 0..cols {
                    t.data[r * cols + c] = Uniform::new(0u32, 5).unwrap().sample(rng) as f32;
                }
            }
            other => panic!("no gradient-check targets for the {other} loss yet: add them here"),
        }
    }
    t
}

fn check(hidden: &[Activation], output: Activation, loss: Loss, seed: u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (rows, input, out) = (5, 4, 3);
    let mut cfg = ModelConfig::new(input);
    for h in hidden {
        cfg = cfg.dense(6, h.clone());
    }
    let cfg = cfg.dense(out, output.clone()).with_init(mlp::Init::GlorotNormal);
    let mut model = cfg.init(seed).unwrap();
    // Non-zero biases and negative PReLU inputs exercise every branch.
    for p in &mut model.params {
        for b in &mut p.get_mut("bias").unwrap().data {
            *b = 0.1 * Distribution::<f32>::sample(&StandardNormal, &mut rng);
        }
    }
    let x = Matrix::new(rows, input, (0..rows * input).map(|_| StandardNormal.sample(&mut rng)).collect());
    let t = targets(loss, rows, out, &mut rng);
    let report = gradcheck(&model, loss, &x, &t, 1e-5).unwrap();
    let worst = report.worst();
    assert!(
        worst <= 1e-6,
        "hidden {hidden:?} → {output} with {loss}: worst relative error {worst:e}, per layer {:?}",
        report.layers
    );
    worst
}

/// The output activations each loss is checked with.
fn outputs_for(loss: Loss) -> Vec<Activation> {
    match loss {
        // Cross-entropies are defined on probabilities: softmax (fused) or sigmoid.
        Loss::CategoricalCrossEntropy | Loss::SparseCategoricalCrossEntropy => vec![Activation::Softmax],
        Loss::BinaryCrossEntropy => vec![Activation::Sigmoid],
        Loss::Mse | Loss::Mae | Loss::Huber { .. } | Loss::LogCosh => {
            let mut v = hidden_activations();
            v.push(Activation::Softmax);
            v
        }
        Loss::Hinge | Loss::SquaredHinge => vec![Activation::Linear, Activation::Tanh],
        // Probabilities: softmax (from the logits) or sigmoid (clipped outputs).
        Loss::KlDivergence => vec![Activation::Softmax, Activation::Sigmoid],
        // Positive rates.
        Loss::Poisson => vec![Activation::Softplus, Activation::Sigmoid, Activation::Softmax],
        other => panic!("no output activations listed for the {other} loss yet: add them here"),
    }
}

/// Every loss, with two Huber thresholds.
const LOSSES: [Loss; 12] = [
    Loss::Mse,
    Loss::Mae,
    Loss::BinaryCrossEntropy,
    Loss::CategoricalCrossEntropy,
    Loss::SparseCategoricalCrossEntropy,
    Loss::Huber { delta: 1.0 },
    Loss::Huber { delta: 0.3 },
    Loss::LogCosh,
    Loss::Hinge,
    Loss::SquaredHinge,
    Loss::KlDivergence,
    Loss::Poisson,
];

#[test]
fn every_activation_with_every_loss() {
    let mut seed = 0;
    for loss in LOSSES {
        for output in outputs_for(loss) {
            for hidden in hidden_activations() {
                seed += 1;
                // One layer (the output alone), and three (two hidden of the same kind).
                check(&[], output.clone(), loss, seed);
                check(&[hidden.clone(), hidden.clone()], output.clone(), loss, seed);
            }
        }
    }
}

#[test]
fn detects_a_wrong_gradient() {
    // The checker itself must be able to fail: compare against a perturbed loss definition by
    // checking a softmax output under MSE with targets far away, then tampering with eps so that
    // the finite difference is meaningless.
    let cfg = ModelConfig::new(2).dense(3, Activation::Tanh).dense(2, Activation::Softmax);
    let model = cfg.init(1).unwrap();
    let x = Matrix::new(2, 2, vec![0.5, -1.0, 1.5, 0.25]);
    let t = Matrix::new(2, 2, vec![1.0, 0.0, 0.0, 1.0]);
    let good = gradcheck(&model, Loss::CategoricalCrossEntropy, &x, &t, 1e-6).unwrap();
    assert!(good.worst() < 1e-6);
    // A step of 10 makes the central difference a poor estimate: the checker must see it.
    let coarse = gradcheck(&model, Loss::CategoricalCrossEntropy, &x, &t, 10.0).unwrap();
    assert!(coarse.worst() > 1e-3, "{coarse:?}");
}

/// Dropout (train mode: the mask drawn for step 0 stays fixed across the check's evaluations) and
/// batch normalization (train mode: batch statistics, whose dependence on every row the backward
/// pass must carry; eval mode: running statistics), between dense layers.
#[test]
fn dropout_and_batchnorm_in_train_and_eval_mode() {
    use mlp::gradcheck::gradcheck_training;
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let (rows, input) = (7, 4);
    let x = Matrix::new(rows, input, (0..rows * input).map(|_| StandardNormal.sample(&mut rng)).collect());
    for (spec, loss) in [
        ("6:tanh,dropout(0.4),3:softmax", Loss::CategoricalCrossEntropy),
        ("6:linear,batchnorm,3:softmax", Loss::CategoricalCrossEntropy),
        ("6:linear,batchnorm:tanh,dropout(0.3),batchnorm(momentum=0.3,eps=1e-3):sigmoid,2:linear", Loss::Mse),
        ("batchnorm:softplus,5:elu,3:softmax", Loss::KlDivergence),
    ] {
        let mut model = ModelConfig::parse(input, spec).unwrap().init(3).unwrap();
        // γ ≠ 1, β ≠ 0 and running statistics away from (0, 1), so that no term vanishes.
        for p in &mut model.params {
            for t in &mut p.tensors {
                if t.name != "weight" || t.shape.len() == 1 {
                    for v in &mut t.data {
                        *v = if t.name == "running_var" { 0.5 } else { 1.0 }
                            + 0.3 * Distribution::<f32>::sample(&StandardNormal, &mut rng).abs();
                    }
                }
            }
        }
        let t = targets(loss, rows, model.config.output_dim(), &mut rng);
        for (mode, report) in [
            ("train", gradcheck_training(&model, loss, &x, &t, 1e-5).unwrap()),
            ("eval", gradcheck(&model, loss, &x, &t, 1e-5).unwrap()),
        ] {
            let worst = report.worst();
            println!("{spec} ({mode} mode): worst relative error {worst:.1e}");
            assert!(worst <= 1e-6, "{spec} in {mode} mode: worst relative error {worst:e}, {:?}", report.layers);
            for (i, l) in model.config.layers.iter().enumerate() {
                if matches!(l.kind, mlp::nn::LayerKind::BatchNorm { .. }) {
                    let names: Vec<_> = report.layers[i].tensors.iter().map(|t| t.0).collect();
                    assert_eq!(names, ["weight", "bias"], "γ and β are checked, the running statistics are not");
                }
            }
        }
    }
    // The train-mode check sees batch statistics: the eval-mode gradient is wrong there.
    let model = ModelConfig::parse(input, "6:linear,batchnorm:tanh,3:softmax").unwrap().init(3).unwrap();
    let t = targets(Loss::CategoricalCrossEntropy, rows, 3, &mut rng);
    let train = gradcheck_training(&model, Loss::CategoricalCrossEntropy, &x, &t, 1e-5).unwrap();
    let eval = gradcheck(&model, Loss::CategoricalCrossEntropy, &x, &t, 1e-5).unwrap();
    assert!(train.worst() < 1e-6 && eval.worst() < 1e-6 && (train.loss - eval.loss).abs() > 1e-3);
}

/// Radial basis units (learned and fixed widths, first and deeper layers, so that both the centre,
/// width and input gradients are exercised) with every loss and each of its output activations.
#[test]
fn radial_basis_units_with_every_loss() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (rows, input, out) = (5, 3, 3);
    let mut seed = 100;
    for loss in LOSSES {
        // Kinked outputs (ReLU family, maxout) are left out: a finite difference across their kink
        // says nothing of the radial units, and their own gradients are checked above.
        let smooth = outputs_for(loss).into_iter().filter(|a| {
            let name = a.to_string();
            !name.contains("relu") && !name.contains("maxout")
        });
        for output in smooth {
            for hidden in ["4:rbf", "4:tanh,5:rbf(sigma=0.8,fixed)", "5:rbf(sigma=1.5),4:sigmoid"] {
                seed += 1;
                let spec = format!("{hidden},{out}:{output}");
                let model =
                    ModelConfig::parse(input, &spec).unwrap().with_init(mlp::Init::GlorotNormal).init(seed).unwrap();
                let x = Matrix::new(rows, input, (0..rows * input).map(|_| StandardNormal.sample(&mut rng)).collect());
                let t = targets(loss, rows, out, &mut rng);
                let report = gradcheck(&model, loss, &x, &t, 1e-5).unwrap();
                assert!(report.worst() <= 1e-6, "{spec} with {loss}: {:?}", report.layers);
                // The learned widths are among the tensors checked, the fixed ones are not.
                let sigmas = report.layers.iter().filter(|l| l.get("sigma").is_some()).count();
                assert_eq!(sigmas, usize::from(!hidden.contains("fixed")), "{spec}: {:?}", report.layers);
            }
        }
    }
}
