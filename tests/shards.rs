//! Sharded gradients: one shard is today's path bit for bit; K shards give the same bits whether one process computes them all or N processes (threads here, each with its own session, joined by an in-memory exchange that behaves as the MPI one: each process computes its own shards, the sums are done in shard order) share them, for N dividing K or not; and the gradient of K shards is the batch's gradient.

use mlp::data::{Dataset, Targets};
use mlp::train::{
    FitConfig, History, LocalShards, SHARD_FIGURES, ShardExchange, Trainer, shard_range, sum_in_shard_order,
};
use mlp::{Loss, Matrix, Model, ModelConfig, OptimizerConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::{Arc, Barrier, Mutex};

fn data(rows: usize) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let cols = 12;
    let x: Vec<f32> = (0..rows * cols).map(|_| StandardNormal.sample(&mut rng)).collect();
    let labels = (0..rows)
        .map(|r| usize::from(x[r * cols] > 0.0) + usize::from(x[r * cols + 1] * x[r * cols + 2] > 0.3))
        .collect();
    Dataset::new(Matrix::new(rows, cols, x), Targets::Classes { labels, n_classes: 3 })
}

fn config(opt: OptimizerConfig) -> FitConfig {
    FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: opt,
        epochs: 3,
        // 203 rows in batches of 40: a last batch of 3 rows, fewer than the shards.
        batch_size: 40,
        validation_split: 0.15,
        clip_norm: Some(5.0),
        threads: 1,
        seed: 11,
        ..Default::default()
    }
}

/// An epoch's number, its learning rate and its named metrics, as bits.
type EpochBits = (usize, u64, Vec<(String, u64)>);

/// The history without the times: every figure, to the bit.
fn figures(h: &History) -> Vec<EpochBits> {
    let f = |r: &mlp::train::EpochRecord| {
        (r.epoch, r.lr.to_bits(), r.metrics.iter().map(|(k, v)| (k.clone(), v.to_bits())).collect())
    };
    h.epochs.iter().map(f).collect()
}

fn bits(m: &Model) -> Vec<u32> {
    m.params.iter().flat_map(|p| p.tensors.iter().flat_map(|t| &t.data)).map(|v| v.to_bits()).collect()
}

/// What every process posts for one collective, and reads back once all have posted.
struct Board {
    size: usize,
    slots: Mutex<Vec<Vec<f64>>>,
    barrier: Barrier,
}

/// An exchange between threads: each collective posts this rank's values, waits for all, and
/// reads the board — data moving only, the sums done in shard order as the MPI exchange does.
struct Threads {
    rank: usize,
    shards: usize,
    board: Arc<Board>,
}

impl Threads {
    fn all(&self, mine: Vec<f64>) -> Vec<Vec<f64>> {
        self.board.slots.lock().unwrap()[self.rank] = mine;
        self.board.barrier.wait();
        let all = self.board.slots.lock().unwrap().clone();
        self.board.barrier.wait();
        all
    }
}

impl ShardExchange for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.board.size
    }
    fn broadcast(&mut self, values: &mut [f32]) -> mlp::Result<()> {
        let all = self.all(values.iter().map(|&v| v as f64).collect());
        for (v, &a) in values.iter_mut().zip(&all[0]) {
            *v = a as f32;
        }
        Ok(())
    }
    fn sum_gradients(&mut self, local: &[f32], out: &mut [f32]) -> mlp::Result<()> {
        assert_eq!(local.len(), shard_range(self.rank, self.board.size, self.shards).len() * out.len());
        let all = self.all(local.iter().map(|&v| v as f64).collect());
        let pieces: Vec<f32> = all.iter().flatten().map(|&v| v as f32).collect();
        sum_in_shard_order(&pieces, out);
        Ok(())
    }
    fn gather_figures(&mut self, local: &[f64], out: &mut [f64]) -> mlp::Result<()> {
        let all: Vec<f64> = self.all(local.to_vec()).concat();
        assert_eq!(all.len(), self.shards * SHARD_FIGURES);
        out.copy_from_slice(&all);
        Ok(())
    }
    fn all_gather(&mut self, local: &[f32], out: &mut [f32]) -> mlp::Result<()> {
        let all = self.all(local.iter().map(|&v| v as f64).collect()).concat();
        assert_eq!(all.len(), out.len());
        for (o, a) in out.iter_mut().zip(all) {
            *o = a as f32;
        }
        Ok(())
    }
}

fn train_local(spec: &str, cfg: &FitConfig, shards: Option<usize>) -> (Model, History) {
    let d = data(203);
    let mut model = ModelConfig::parse(12, spec).unwrap().init(2).unwrap();
    let mut t = Trainer::new(cfg).dead_units();
    if let Some(k) = shards {
        t = t.sharded(k, Box::new(LocalShards));
    }
    let h = t.fit(&mut model, &d).unwrap();
    (model, h)
}

/// `size` threads, each a whole training run of its own computing its shards.
fn train_threads(spec: &str, cfg: &FitConfig, shards: usize, size: usize) -> Vec<(Model, History)> {
    let board = Arc::new(Board { size, slots: Mutex::new(vec![Vec::new(); size]), barrier: Barrier::new(size) });
    let runs: Vec<_> = (0..size)
        .map(|rank| {
            let (board, cfg, spec) = (Arc::clone(&board), cfg.clone(), spec.to_string());
            std::thread::spawn(move || {
                let d = data(203);
                // Every rank but 0 starts from other weights: the broadcast must make them rank 0's.
                let mut model = ModelConfig::parse(12, &spec).unwrap().init(2 + rank as u64).unwrap();
                let ex = Threads { rank, shards, board };
                let h = Trainer::new(&cfg).dead_units().sharded(shards, Box::new(ex)).fit(&mut model, &d).unwrap();
                (model, h)
            })
        })
        .collect();
    runs.into_iter().map(|r| r.join().unwrap()).collect()
}

const SPECS: [&str; 2] = ["16:tanh,3:softmax", "16:linear,batchnorm:relu,dropout(0.2),3:softmax"];

#[test]
fn one_shard_is_the_unsharded_run_bit_for_bit() {
    for spec in SPECS {
        let cfg = config(OptimizerConfig::adam(0.01));
        let (plain, hp) = train_local(spec, &cfg, None);
        let (one, h1) = train_local(spec, &cfg, Some(1));
        assert_eq!(bits(&plain), bits(&one), "{spec}");
        assert_eq!(figures(&hp), figures(&h1), "{spec}");
    }
}

#[test]
fn k_shards_give_the_same_bits_on_one_process_or_any_number() {
    for spec in SPECS {
        for opt in [OptimizerConfig::adam(0.01), OptimizerConfig::sgd(0.1)] {
            let cfg = config(opt.clone());
            let (local, hl) = train_local(spec, &cfg, Some(4));
            let (plain, _) = train_local(spec, &cfg, None);
            // Every shard's rows count towards the dead units (each process sees only its own
            // until the epoch's flags are shared): none of these layers is wholly dead.
            for r in &hl.epochs {
                let dead = r.metrics.iter().filter(|(k, _)| k.starts_with("dead_units_")).map(|(_, v)| *v);
                let dead: Vec<f64> = dead.collect();
                assert!(
                    !dead.is_empty() && dead.iter().all(|&f| f < 1.0),
                    "{spec}: epoch {} dead units {dead:?}",
                    r.epoch
                );
            }
            // Sharding does change the bits (another summation order, shard-local batch
            // statistics), so the comparisons below are not vacuous.
            assert_ne!(bits(&local), bits(&plain), "{spec}");
            for size in [1, 2, 3, 4] {
                for (rank, (m, h)) in train_threads(spec, &cfg, 4, size).iter().enumerate() {
                    let what = format!("{spec}, {}, {size} processes, rank {rank}", opt.name());
                    assert_eq!(bits(m), bits(&local), "{what}: weights");
                    assert_eq!(figures(h), figures(&hl), "{what}: history");
                }
            }
        }
    }
}

#[test]
fn the_sharded_gradient_is_the_batch_gradient() {
    // One full-batch SGD step: sharded and unsharded differ only by rounding.
    let spec = "16:tanh,3:softmax";
    let cfg = FitConfig {
        epochs: 1,
        batch_size: 203,
        validation_split: 0.0,
        clip_norm: None,
        ..config(OptimizerConfig::sgd(1.0))
    };
    let start = ModelConfig::parse(12, spec).unwrap().init(2).unwrap();
    let (plain, _) = train_local(spec, &cfg, None);
    let (sharded, _) = train_local(spec, &cfg, Some(7));
    let (a, b, s) = (bits(&plain), bits(&sharded), bits(&start));
    let mut worst = 0.0f64;
    for ((a, b), s) in a.iter().zip(&b).zip(&s) {
        let (a, b, s) = (f32::from_bits(*a) as f64, f32::from_bits(*b) as f64, f32::from_bits(*s) as f64);
        let step = (a - s).abs().max(1e-3);
        worst = worst.max((a - b).abs() / step);
    }
    assert!(worst < 1e-4, "sharded and unsharded steps differ by {worst} of a step");
}

#[test]
fn bad_shardings_are_refused_with_the_flag_named() {
    let d = data(203);
    let cfg = config(OptimizerConfig::adam(0.01));
    let mut model = ModelConfig::parse(12, "4:relu,3:softmax").unwrap().init(0).unwrap();
    let e = Trainer::new(&cfg).sharded(41, Box::new(LocalShards)).fit(&mut model, &d).unwrap_err().to_string();
    assert!(e.contains("--shards") && e.contains("at most the batch size"), "{e}");
    let lbfgs = FitConfig { optimizer: OptimizerConfig::lbfgs(true), ..cfg };
    let e = Trainer::new(&lbfgs).sharded(2, Box::new(LocalShards)).fit(&mut model, &d).unwrap_err().to_string();
    assert!(e.contains("L-BFGS is not sharded"), "{e}");
}
