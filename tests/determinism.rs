//! Reproducibility: the same seed gives bit-identical weights, run after run and for 1 or 2 threads.

use mlp::data::{Dataset, Targets};
use mlp::train::FitConfig;
use mlp::{Loss, Matrix, ModelConfig, OptimizerConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Big enough that every parallel path runs: threaded products (m·n·k ≥ 2M), chunked element-wise
/// passes (≥ 32k elements) and the chunked optimizer update.
fn data() -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (rows, cols) = (1024, 300);
    let x: Vec<f32> = (0..rows * cols).map(|_| StandardNormal.sample(&mut rng)).collect();
    let labels = (0..rows)
        .map(|r| usize::from(x[r * cols] + x[r * cols + 1] > 0.0) + 2 * usize::from(x[r * cols + 2] > 0.5))
        .collect();
    Dataset::new(Matrix::new(rows, cols, x), Targets::Classes { labels, n_classes: 4 })
}

fn train(threads: usize, opt: OptimizerConfig, l2: f32) -> Vec<u32> {
    let d = data();
    let mut model =
        ModelConfig::parse(300, "512:relu,256:tanh,4:softmax").unwrap().with_penalties(0.0, l2).init(3).unwrap();
    let cfg = FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: opt,
        epochs: 2,
        batch_size: 256,
        validation_split: 0.25,
        threads,
        seed: 5,
        ..Default::default()
    };
    model.fit(&d, &cfg).unwrap();
    model.params.iter().flat_map(|p| p.tensors.iter().flat_map(|t| &t.data)).map(|v| v.to_bits()).collect()
}

#[test]
fn same_seed_same_bits_for_one_or_two_threads() {
    for (opt, l2) in [(OptimizerConfig::adam(1e-3), 1e-4), (OptimizerConfig::rmsprop(1e-3), 0.0)] {
        let one = train(1, opt.clone(), l2);
        let two = train(2, opt.clone(), l2);
        let again = train(2, opt.clone(), l2);
        assert_eq!(two, again, "{}: two runs with 2 threads differ", opt.name());
        let diff = one.iter().zip(&two).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 0, "{}: {diff} of {} weights differ between 1 and 2 threads", opt.name(), one.len());
    }
}

#[test]
fn predictor_matches_predict_and_reuses_buffers() {
    let d = data();
    let model = ModelConfig::parse(300, "64:relu,4:softmax").unwrap().init(1).unwrap();
    let all = model.predict(&d.x).unwrap();
    for threads in [1, 2] {
        let p = mlp::Predictor::new(&model, 100, threads).unwrap();
        // 1024 rows through a 100-row buffer: ten full batches and a partial one.
        let again = p.predict(&d.x).unwrap();
        assert!(all.data.iter().zip(&again.data).all(|(a, b)| a.to_bits() == b.to_bits()));
        let one = p.predict(&d.x.select_rows(&[7])).unwrap();
        assert_eq!(one.row(0), all.row(7));
    }
}

#[test]
fn memory_estimate_counts_mnist_and_refuses_what_does_not_fit() {
    use mlp::train::{MemoryEstimate, available_memory};
    let model = ModelConfig::parse(784, "512:relu,10:softmax").unwrap();
    let cfg = FitConfig { optimizer: OptimizerConfig::rmsprop(1e-3), batch_size: 128, ..Default::default() };
    let m = MemoryEstimate::new(&model, 60_000, &cfg);
    // 60000 × (784 + 10 + 1) floats = 190.8 MB of data; 407050 parameters × 4 copies × 4 bytes.
    assert_eq!(m.data, 60_000 * 795 * 4);
    assert_eq!(m.params, 407_050 * 4 * 4);
    assert!(m.check(1 << 40).is_ok());
    let e = m.check(100 << 20).unwrap_err().to_string();
    assert!(e.contains("training needs about") && e.contains("only 100 MiB is available"), "{e}");
    assert!(available_memory().is_some_and(|b| b > 0));
}

/// Dropout masks and batch statistics, with the new optimizers: the same bits for 1 or 2 threads.
#[test]
fn dropout_batchnorm_and_new_optimizers_are_thread_count_independent() {
    let d = data();
    let run = |threads: usize, opt: OptimizerConfig| {
        let mut model = ModelConfig::parse(300, "256:relu,dropout(0.3),128:linear,batchnorm:tanh,4:softmax")
            .unwrap()
            .init(3)
            .unwrap();
        let cfg = FitConfig {
            loss: Loss::CategoricalCrossEntropy,
            optimizer: opt,
            epochs: 2,
            batch_size: 256,
            threads,
            seed: 5,
            ..Default::default()
        };
        model.fit(&d, &cfg).unwrap();
        model
            .params
            .iter()
            .flat_map(|p| p.tensors.iter().flat_map(|t| &t.data))
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    for opt in [OptimizerConfig::nadam(1e-3), OptimizerConfig::adamax(1e-3), OptimizerConfig::rprop(1e-3)] {
        let (one, two) = (run(1, opt.clone()), run(2, opt.clone()));
        let diff = one.iter().zip(&two).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 0, "{}: {diff} of {} values differ between 1 and 2 threads", opt.name(), one.len());
    }
    // Another training seed draws other dropout masks: the seed reaches them.
    let mut a = ModelConfig::parse(300, "64:relu,dropout(0.5),4:softmax").unwrap().init(3).unwrap();
    let mut b = a.clone();
    let cfg = |seed| FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        epochs: 1,
        batch_size: 256,
        seed,
        shuffle: false,
        ..Default::default()
    };
    a.fit(&d, &cfg(1)).unwrap();
    b.fit(&d, &cfg(2)).unwrap();
    assert_ne!(a, b);
}
