//! The mlp half of the benchmark harness (`bench/run.sh` drives it; see BENCHMARKS.md).
//!
//! ```text
//! cargo run --release --example bench -- MODE [--threads T] [--epochs E] [--runs R]
//!     MODE: W1 | W2 | W3 | W4   train a workload, print one JSON line
//!           W5                  inference of the W1 model: batch-1000 throughput, batch-1 latency
//!           custom              784→H ReLU→10 softmax, RMSProp: --hidden H --batch B --rows N (scaling sweep)
//!           peak                sgemm GFLOP/s through mlp::backend::cpu::matmul (large squares, MNIST shapes)
//!           profile             W1 through a timing wrapper around the CPU backend: where each epoch goes
//!                               (--hidden H and --batch B change its width and batch)
//!           sparse              the 784→H product (--hidden H, default 512) on MNIST test rows and on
//!                               random rows of set densities, and its weight gradient on MNIST rows,
//!                               through gemm and through the zero-skipping product, one thread
//! ```
//!
//! Every mode prints exactly one JSON line on stdout (the fields are listed in BENCHMARKS.md).
//! Peak memory is the process's `VmHWM` (the same number as `getrusage().ru_maxrss`), so run one
//! workload per process. Data: `$MLP_DATA_DIR/mnist` or `../shared/data/mnist`.

use mlp::backend::Backend;
use mlp::backend::cpu::{Cpu, matmul, matmul_sparse_lhs};
use mlp::data::idx::{MnistSplit, load_mnist};
use mlp::data::{Dataset, Targets};
use mlp::loss::Loss;
use mlp::nn::{Activation, Net};
use mlp::optim::UpdateRule;
use mlp::train::{FitConfig, Trainer};
use mlp::{Matrix, ModelConfig, OptimizerConfig};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// One training workload.
struct Workload {
    name: &'static str,
    spec: String,
    optimizer: OptimizerConfig,
    batch: usize,
    epochs: usize,
}

fn workload(name: &str) -> Option<Workload> {
    let (name, spec, optimizer, batch, epochs) = match name {
        "W1" => ("W1", "512:relu,10:softmax", OptimizerConfig::rmsprop(1e-3), 128, 5),
        "W2" => ("W2", "512:relu,128:relu,64:relu,10:softmax", OptimizerConfig::adam(1e-3), 1000, 10),
        "W3" => ("W3", "128:relu,10:softmax", OptimizerConfig::momentum(0.01, 0.9), 32, 3),
        "W4" => ("W4", "2048:relu,2048:relu,10:softmax", OptimizerConfig::adam(1e-3), 256, 2),
        _ => return None,
    };
    Some(Workload { name, spec: spec.to_string(), optimizer, batch, epochs })
}

/// Command-line options (all optional).
struct Opts {
    mode: String,
    threads: usize,
    epochs: Option<usize>,
    batch: Option<usize>,
    hidden: usize,
    rows: Option<usize>,
    runs: usize,
    seed: u64,
}

fn parse_opts() -> AnyResult<Opts> {
    let mut args = std::env::args().skip(1);
    let mut o =
        Opts { mode: String::new(), threads: 2, epochs: None, batch: None, hidden: 512, rows: None, runs: 0, seed: 1 };
    while let Some(a) = args.next() {
        let mut val = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "--threads" => o.threads = val("--threads")?.parse()?,
            "--epochs" => o.epochs = Some(val("--epochs")?.parse()?),
            "--batch" => o.batch = Some(val("--batch")?.parse()?),
            "--hidden" => o.hidden = val("--hidden")?.parse()?,
            "--rows" => o.rows = Some(val("--rows")?.parse()?),
            "--runs" => o.runs = val("--runs")?.parse()?,
            "--seed" => o.seed = val("--seed")?.parse()?,
            "--json" => {}
            m if !m.starts_with('-') && o.mode.is_empty() => o.mode = m.to_string(),
            other => return Err(format!("unknown argument '{other}'").into()),
        }
    }
    if o.mode.is_empty() {
        return Err("usage: bench W1|W2|W3|W4|W5|custom|peak|profile [--threads T] [--epochs E] ...".into());
    }
    Ok(o)
}

fn data_dir() -> PathBuf {
    mlp::data::data_dir().join("mnist")
}

/// Peak resident memory of this process in MiB (`VmHWM`, as `getrusage` reports it).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time other processes used while a measurement ran: `/proc/stat` busy jiffies minus ours.
struct Noise {
    wall: Instant,
    busy: u64,
    own: u64,
}

fn proc_busy_jiffies() -> u64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu = s.lines().next().unwrap_or_default();
    // user nice system idle iowait irq softirq steal …: busy = all but idle and iowait.
    let v: Vec<u64> = cpu.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    v.iter().enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, x)| x).sum()
}

fn own_jiffies() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" of the command name: state is field 3; utime, stime are fields 14, 15.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
}

impl Noise {
    fn start() -> Self {
        Self { wall: Instant::now(), busy: proc_busy_jiffies(), own: own_jiffies() }
    }
    /// Average number of cores other processes kept busy (USER_HZ = 100 jiffies per second).
    fn other_cores(&self) -> f64 {
        let wall = self.wall.elapsed().as_secs_f64();
        let other =
            proc_busy_jiffies().saturating_sub(self.busy) as f64 - own_jiffies().saturating_sub(self.own) as f64;
        (other / 100.0 / wall).max(0.0)
    }
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Matrix FLOPs of one pass over `n` rows: forward `2·n·in·out` per layer, backward `dW`
/// `2·n·in·out` per layer and `dX` `2·n·in·out` per layer but the first.
fn train_flops(dims: &[usize], n: usize) -> f64 {
    let mut f = 0.0;
    for (i, w) in dims.windows(2).enumerate() {
        let mac = (n * w[0] * w[1]) as f64;
        f += 2.0 * mac * if i == 0 { 2.0 } else { 3.0 };
    }
    f
}

fn infer_flops(dims: &[usize], n: usize) -> f64 {
    dims.windows(2).map(|w| 2.0 * (n * w[0] * w[1]) as f64).sum()
}

fn dims_of(cfg: &ModelConfig) -> Vec<usize> {
    std::iter::once(cfg.input_dim).chain(cfg.layers.iter().map(|l| l.units)).collect()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return f64::NAN;
    }
    let h = s.len() / 2;
    if s.len() % 2 == 1 { s[h] } else { 0.5 * (s[h - 1] + s[h]) }
}

fn load(rows: Option<usize>) -> AnyResult<(Dataset, Dataset)> {
    let dir = data_dir();
    let mut train = load_mnist(&dir, MnistSplit::Train)?;
    let test = load_mnist(&dir, MnistSplit::Test)?;
    if let Some(r) = rows
        && r < train.len()
    {
        train = train.head(r);
    }
    Ok((train, test))
}

fn fit_config(w: &Workload, threads: usize, seed: u64) -> FitConfig {
    FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: w.optimizer.clone(),
        epochs: w.epochs,
        batch_size: w.batch,
        shuffle: true,
        seed,
        validation_split: 0.0,
        threads,
        ..Default::default()
    }
}

/// Trains `w` on the CPU and reports time per epoch, accuracy, GFLOP/s and memory.
fn train_workload<B: Backend>(
    w: &Workload,
    o: &Opts,
    be: &B,
    rows: Option<usize>,
    after_fit: &mut dyn FnMut(),
) -> AnyResult<Value> {
    let (train, test) = load(rows)?;
    let cfg_model = ModelConfig::parse(784, &w.spec)?;
    let mut model = cfg_model.init(o.seed)?;
    let cfg = fit_config(w, o.threads, o.seed);
    let noise = Noise::start();
    let t0 = Instant::now();
    let hist = Trainer::new(&cfg).fit_on(be, &mut model, &train)?;
    let fit_s = t0.elapsed().as_secs_f64();
    let other_cores = noise.other_cores();
    after_fit();
    let ev = mlp::train::evaluate_on(be, &model, &test, Loss::CategoricalCrossEntropy)?;
    let secs: Vec<f64> = hist.epochs.iter().map(|r| r.seconds).collect();
    let flops = train_flops(&dims_of(&cfg_model), train.len());
    let med = median(&secs);
    Ok(json!({
        "impl": "mlp",
        "workload": w.name,
        "spec": format!("784-{}", w.spec),
        "optimizer": w.optimizer.name(),
        "batch": w.batch,
        "rows": train.len(),
        "threads": o.threads,
        "epochs": secs.len(),
        "epoch_seconds": secs,
        "median_epoch_s": med,
        "first_epoch_s": secs.first().copied().unwrap_or(f64::NAN),
        "fit_s": fit_s,
        "train_loss": hist.epochs.last().and_then(|r| r.get("loss")),
        "test_acc": ev.metrics["accuracy"],
        "flops_per_epoch": flops,
        "gflops": flops / med / 1e9,
        "peak_rss_mib": peak_rss_mib(),
        "other_cores": other_cores,
        "loadavg": loadavg(),
    }))
}

/// W5: inference of the W1 network (Glorot init; the weights' values do not change the work).
fn inference(o: &Opts) -> AnyResult<Value> {
    let (_, test) = load(None)?;
    let cfg_model = ModelConfig::parse(784, "512:relu,10:softmax")?;
    let model = cfg_model.init(o.seed)?;
    let be = Cpu::<f32>::new(o.threads)?;
    let runs = if o.runs > 0 { o.runs } else { 20 };
    let noise = Noise::start();
    let (batch_times, latencies, api_latencies) = be.clone().install(|| {
        let mut net = Net::new(&be, &model, 1000);
        let _ = net.predict(&test.x); // warm-up
        let batch_times: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                let p = net.predict(&test.x);
                std::hint::black_box(&p);
                t.elapsed().as_secs_f64()
            })
            .collect();
        let mut one = Net::new(&be, &model, 1);
        let rows: Vec<Matrix> = (0..2000).map(|i| Matrix::new(1, 784, test.x.row(i % test.len()).to_vec())).collect();
        for r in rows.iter().take(100) {
            std::hint::black_box(one.predict(r));
        }
        let latencies: Vec<f64> = rows
            .iter()
            .map(|r| {
                let t = Instant::now();
                std::hint::black_box(one.predict(r));
                t.elapsed().as_secs_f64()
            })
            .collect();
        // The public one-call API (`Model::predict`) builds a thread pool and a Net per call.
        let api_latencies: Vec<f64> = rows
            .iter()
            .take(200)
            .map(|r| {
                let t = Instant::now();
                std::hint::black_box(model.predict(r).expect("predict"));
                t.elapsed().as_secs_f64()
            })
            .collect();
        (batch_times, latencies, api_latencies)
    });
    let med = median(&batch_times);
    let preds = model.predict_classes(&test.x)?;
    let Targets::Classes { labels, .. } = &test.y else { unreachable!("MNIST has classes") };
    let acc = preds.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64;
    let flops = infer_flops(&dims_of(&cfg_model), test.len());
    Ok(json!({
        "impl": "mlp",
        "workload": "W5",
        "threads": o.threads,
        "rows": test.len(),
        "batch_seconds": batch_times,
        "median_pass_s": med,
        "rows_per_s": test.len() as f64 / med,
        "gflops": flops / med / 1e9,
        "latency_us_median": median(&latencies) * 1e6,
        "latency_calls": latencies.len(),
        "api_latency_us_median": median(&api_latencies) * 1e6,
        "test_acc_untrained": acc,
        "peak_rss_mib": peak_rss_mib(),
        "other_cores": noise.other_cores(),
        "loadavg": loadavg(),
    }))
}

/// sgemm GFLOP/s through the engine's own GEMM wrapper.
fn peak(o: &Opts) -> AnyResult<Value> {
    let be = Cpu::<f32>::new(o.threads)?;
    let threads = o.threads;
    // (label, m, n, k, ta, tb) for c (m×n) = op(a) (m×k) · op(b) (k×n).
    let shapes: Vec<(String, usize, usize, usize, bool, bool)> = vec![
        ("2048³ NN".into(), 2048, 2048, 2048, false, false),
        ("4096³ NN".into(), 4096, 4096, 4096, false, false),
        ("W1 fwd 128×784·784×512".into(), 128, 512, 784, false, false),
        ("W1 dW 784×128·128×512 (TN)".into(), 784, 512, 128, true, false),
        ("W1 fwd 128×512·512×10".into(), 128, 10, 512, false, false),
        ("W1 dW 512×128·128×10 (TN)".into(), 512, 10, 128, true, false),
        ("W1 dX 128×10·10×512 (NT)".into(), 128, 512, 10, false, true),
        ("W2 fwd 1000×784·784×512".into(), 1000, 512, 784, false, false),
        ("W2 dW 784×1000·1000×512 (TN)".into(), 784, 512, 1000, true, false),
        ("W2 dX 1000×128·128×512 (NT)".into(), 1000, 512, 128, false, true),
        ("W3 fwd 32×784·784×128".into(), 32, 128, 784, false, false),
        ("W4 fwd 256×2048·2048×2048".into(), 256, 2048, 2048, false, false),
        ("W4 dW 2048×256·256×2048 (TN)".into(), 2048, 2048, 256, true, false),
        ("W4 dX 256×2048·2048×2048 (NT)".into(), 256, 2048, 2048, false, true),
    ];
    // The server's batches of the Keras seed network's first layer (`mlp serve --batching on`).
    let shapes: Vec<_> = shapes
        .into_iter()
        .chain([1, 8, 16, 27, 32, 64].map(|m| (format!("serve fwd {m}×784·784×512"), m, 512, 784, false, false)))
        .collect();
    let noise = Noise::start();
    let results: Vec<Value> = be.clone().install(|| {
        shapes
            .iter()
            .map(|(label, m, n, k, ta, tb)| {
                let (m, n, k) = (*m, *n, *k);
                let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 13.0).collect();
                let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 11.0).collect();
                let mut c = vec![0.0f32; m * n];
                let flop = 2.0 * (m * n * k) as f64;
                // Enough calls for ≈0.5 s per shape, after a warm-up.
                let t = Instant::now();
                matmul(m, n, k, &a, *ta, &b, *tb, &mut c, false, threads);
                let once = t.elapsed().as_secs_f64().max(1e-7);
                let reps = ((0.5 / once) as usize).clamp(3, 5000);
                let mut times = Vec::with_capacity(reps);
                for _ in 0..reps {
                    let t = Instant::now();
                    matmul(m, n, k, &a, *ta, &b, *tb, &mut c, false, threads);
                    times.push(t.elapsed().as_secs_f64());
                }
                std::hint::black_box(&c);
                let med = median(&times);
                json!({ "shape": label, "m": m, "n": n, "k": k, "calls": reps, "median_s": med, "gflops": flop / med / 1e9 })
            })
            .collect()
    });
    let peak = results.iter().take(2).filter_map(|r| r["gflops"].as_f64()).fold(0.0, f64::max);
    Ok(json!({
        "impl": "mlp",
        "workload": "peak",
        "threads": threads,
        "peak_gflops": peak,
        "shapes": results,
        "other_cores": noise.other_cores(),
        "loadavg": loadavg(),
    }))
}

/// Seconds and calls per operation, shared by the clones of a [`Timed`] backend.
type Ledger = Arc<Mutex<BTreeMap<String, (u64, f64)>>>;

/// The CPU backend with a stopwatch around every operation: the real training loop, itemized.
#[derive(Clone)]
struct Timed {
    inner: Cpu<f32>,
    ledger: Ledger,
}

impl Timed {
    fn time<R>(&self, key: impl FnOnce() -> String, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        let dt = t.elapsed().as_secs_f64();
        let mut l = self.ledger.lock().expect("ledger");
        let e = l.entry(key()).or_insert((0, 0.0));
        e.0 += 1;
        e.1 += dt;
        r
    }
}

impl Backend for Timed {
    type Buf = Vec<f32>;
    fn name(&self) -> String {
        self.inner.name()
    }
    fn zeros(&self, n: usize) -> Vec<f32> {
        self.time(|| "setup: allocate/upload".into(), || self.inner.zeros(n))
    }
    fn upload(&self, src: &[f32]) -> Vec<f32> {
        self.time(|| "setup: allocate/upload".into(), || self.inner.upload(src))
    }
    fn write(&self, src: &[f32], dst: &mut Vec<f32>) {
        self.time(|| "host copies (write/read/copy)".into(), || self.inner.write(src, dst))
    }
    fn read(&self, src: &Vec<f32>, out: &mut [f32]) {
        self.time(|| "host copies (write/read/copy)".into(), || self.inner.read(src, out))
    }
    fn get(&self, buf: &Vec<f32>, i: usize) -> f64 {
        self.inner.get(buf, i)
    }
    fn set(&self, buf: &mut Vec<f32>, i: usize, v: f64) {
        self.inner.set(buf, i, v)
    }
    fn copy(&self, src: &Vec<f32>, dst: &mut Vec<f32>, n: usize) {
        self.time(|| "host copies (write/read/copy)".into(), || self.inner.copy(src, dst, n))
    }
    fn fill_zero(&self, buf: &mut Vec<f32>, n: usize) {
        self.time(|| "fill_zero".into(), || self.inner.fill_zero(buf, n))
    }
    fn gather_rows(&self, src: &Vec<f32>, cols: usize, idx: &[u32], dst: &mut Vec<f32>) {
        self.time(|| format!("data: gather_rows ({cols} cols)"), || self.inner.gather_rows(src, cols, idx, dst))
    }
    fn matmul(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &Vec<f32>,
        ta: bool,
        b: &Vec<f32>,
        tb: bool,
        c: &mut Vec<f32>,
        accumulate: bool,
    ) {
        let what = match (ta, tb) {
            (true, _) => "dW",
            (_, true) => "dX",
            _ => "fwd",
        };
        self.time(|| format!("gemm {what} {m}×{k}·{k}×{n}"), || self.inner.matmul(m, n, k, a, ta, b, tb, c, accumulate))
    }
    fn matmul_sparse_lhs(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &Vec<f32>,
        ta: bool,
        b: &Vec<f32>,
        c: &mut Vec<f32>,
    ) -> bool {
        let what = if ta { "dW" } else { "fwd" };
        // The key is made after the call, once it is known whether the product ran.
        let took = std::cell::Cell::new(false);
        self.time(
            || format!("zero-skipping {what} {m}×{k}·{k}×{n}{}", if took.get() { "" } else { " (declined)" }),
            || took.set(self.inner.matmul_sparse_lhs(m, n, k, a, ta, b, c)),
        );
        took.get()
    }
    fn bias_act_forward(
        &self,
        act: &Activation,
        rows: usize,
        units: usize,
        z: &mut Vec<f32>,
        bias: &Vec<f32>,
        alpha: Option<&Vec<f32>>,
        a: &mut Vec<f32>,
    ) {
        self.time(
            || format!("elementwise: bias+{act} forward ({units} units)"),
            || self.inner.bias_act_forward(act, rows, units, z, bias, alpha, a),
        )
    }
    fn act_backward(
        &self,
        act: &Activation,
        rows: usize,
        units: usize,
        z: &Vec<f32>,
        a: &Vec<f32>,
        da: &Vec<f32>,
        alpha: Option<&Vec<f32>>,
        dz: &mut Vec<f32>,
        dalpha: Option<&mut Vec<f32>>,
    ) {
        self.time(
            || format!("elementwise: {act} backward ({units} units)"),
            || self.inner.act_backward(act, rows, units, z, a, da, alpha, dz, dalpha),
        )
    }
    fn sum_rows(&self, rows: usize, cols: usize, dz: &Vec<f32>, db: &mut Vec<f32>) {
        self.time(
            || format!("elementwise: bias grad sum_rows ({cols} cols)"),
            || self.inner.sum_rows(rows, cols, dz, db),
        )
    }
    fn loss(
        &self,
        loss: Loss,
        act: &Activation,
        rows: usize,
        cols: usize,
        z: &Vec<f32>,
        a: &Vec<f32>,
        t: &Vec<f32>,
        w: Option<&Vec<f32>>,
        grad: Option<(&mut Vec<f32>, f64)>,
    ) -> f64 {
        self.time(|| "loss: softmax-CE value+grad".into(), || self.inner.loss(loss, act, rows, cols, z, a, t, w, grad))
    }
    fn update(
        &self,
        rule: &UpdateRule,
        n: usize,
        param: &mut Vec<f32>,
        grad: &Vec<f32>,
        state: &mut [Vec<f32>],
    ) -> f64 {
        self.time(
            || format!("optimizer: {} update ({n} params)", rule.opt.name()),
            || self.inner.update(rule, n, param, grad, state),
        )
    }
    fn sum_squares(&self, buf: &Vec<f32>, n: usize) -> f64 {
        self.time(|| "other reductions".into(), || self.inner.sum_squares(buf, n))
    }
    fn scale(&self, buf: &mut Vec<f32>, n: usize, s: f32) {
        self.time(|| "other reductions".into(), || self.inner.scale(buf, n, s))
    }
    fn all_finite(&self, buf: &Vec<f32>, n: usize) -> bool {
        self.time(|| "check: all_finite".into(), || self.inner.all_finite(buf, n))
    }
    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.inner.install(f)
    }
}

/// W1 through [`Timed`]: every backend operation's share of the epochs after the first.
fn profile(o: &Opts) -> AnyResult<Value> {
    let mut w = workload("W1").expect("W1");
    w.epochs = o.epochs.unwrap_or(3);
    w.spec = format!("{}:relu,10:softmax", o.hidden);
    w.batch = o.batch.unwrap_or(w.batch);
    let be = Timed { inner: Cpu::<f32>::new(o.threads)?, ledger: Arc::default() };
    // The ledger as training left it (the test-set evaluation afterwards is not counted).
    let mut ledger = BTreeMap::new();
    let mut r = train_workload(&w, o, &be, o.rows, &mut || ledger = be.ledger.lock().expect("ledger").clone())?;
    // Setup (allocation, uploads) is reported apart from the per-epoch work.
    let fit_s = r["fit_s"].as_f64().unwrap_or(f64::NAN);
    let epoch_total: f64 = r["epoch_seconds"].as_array().map_or(0.0, |v| v.iter().filter_map(Value::as_f64).sum());
    let mut ops: Vec<Value> =
        ledger.iter().map(|(k, (calls, s))| json!({ "op": k, "calls": calls, "seconds": s })).collect();
    ops.sort_by(|a, b| b["seconds"].as_f64().unwrap_or(0.0).total_cmp(&a["seconds"].as_f64().unwrap_or(0.0)));
    let in_epochs: f64 = ledger.iter().filter(|(k, _)| !k.starts_with("setup")).map(|(_, v)| v.1).sum();
    r["workload"] = json!("profile-W1");
    r["ops"] = json!(ops);
    r["epochs_total_s"] = json!(epoch_total);
    r["ops_in_epochs_s"] = json!(in_epochs);
    r["loop_overhead_s"] = json!(epoch_total - in_epochs);
    r["fit_total_s"] = json!(fit_s);
    Ok(r)
}

/// Median seconds of `f` over enough calls for about 0.3 s, after one warm-up call.
fn time_calls(mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    let reps = ((0.3 / t.elapsed().as_secs_f64().max(1e-7)) as usize).clamp(3, 20000);
    let times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    median(&times)
}

/// `m` MNIST test rows, spread over the set, one after another.
fn mnist_rows(test: &Dataset, m: usize) -> Vec<f32> {
    (0..m).flat_map(|i| test.x.row(i * 37 % test.len()).to_vec()).collect()
}

/// The zero-skipping product's median µs per call on one thread, or `None` where it declines
/// (above its density limit, where the layer runs gemm).
fn time_sparse(m: usize, n: usize, k: usize, a: &[f32], ta: bool, b: &[f32], c: &mut [f32]) -> Option<f64> {
    matmul_sparse_lhs(m, n, k, a, ta, b, c, 1).then(|| {
        time_calls(|| {
            std::hint::black_box(matmul_sparse_lhs(m, n, k, a, ta, b, c, 1));
        }) * 1e6
    })
}

/// gemm against the zero-skipping product for the Keras seed network's first layer, by batch
/// size and input density: where the crossover lies (`sparse::MAX_DENSITY`).
fn sparse(o: &Opts) -> AnyResult<Value> {
    let (_, test) = load(None)?;
    let (n, k) = (o.hidden, 784);
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 11.0).collect();
    let mut rows = Vec::new();
    for m in [1usize, 8, 27, 64, 128, 200] {
        let mut inputs = vec![("mnist".to_string(), mnist_rows(&test, m))];
        for d in [0.1, 0.2, 0.3, 0.4, 0.5] {
            let a: Vec<f32> =
                (0..m * k).map(|i| if (i * 2654435761 % 1000) as f64 / 1000.0 < d { 0.5 } else { 0.0 }).collect();
            inputs.push((format!("{d}"), a));
        }
        for (label, a) in inputs {
            let density = a.iter().filter(|&&v| v != 0.0).count() as f64 / a.len() as f64;
            let mut c = vec![0.0f32; m * n];
            let dense = time_calls(|| matmul(m, n, k, &a, false, &b, false, &mut c, false, 1));
            let sparse = time_sparse(m, n, k, &a, false, &b, &mut c);
            rows.push(
                json!({ "m": m, "input": label, "density": density, "gemm_us": dense * 1e6, "sparse_us": sparse }),
            );
        }
    }
    // The weight gradient of the same layer in training, dW (784, H) = xᵀ · dz, over a batch of
    // MNIST training-shaped rows (test rows here) and a dense dz.
    let mut grads = Vec::new();
    for m in [128usize, 200] {
        let a = mnist_rows(&test, m);
        let dz: Vec<f32> = (0..m * n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 13.0).collect();
        let mut c = vec![0.0f32; k * n];
        let dense = time_calls(|| matmul(k, n, m, &a, true, &dz, false, &mut c, false, 1));
        let sparse = time_sparse(k, n, m, &a, true, &dz, &mut c);
        grads.push(json!({ "m": m, "input": "mnist", "gemm_us": dense * 1e6, "sparse_us": sparse }));
    }
    Ok(json!({ "impl": "mlp", "workload": "sparse", "rows": rows, "weight_grad": grads, "loadavg": loadavg() }))
}

fn main() -> AnyResult<()> {
    let o = parse_opts()?;
    let out = match o.mode.as_str() {
        "W5" => inference(&o)?,
        "peak" => peak(&o)?,
        "profile" => profile(&o)?,
        "sparse" => sparse(&o)?,
        "custom" => {
            let w = Workload {
                name: "custom",
                spec: format!("{}:relu,10:softmax", o.hidden),
                optimizer: OptimizerConfig::rmsprop(1e-3),
                batch: o.batch.unwrap_or(128),
                epochs: o.epochs.unwrap_or(2),
            };
            let be = Cpu::<f32>::new(o.threads)?;
            let mut r = train_workload(&w, &o, &be, o.rows, &mut || {})?;
            r["hidden"] = json!(o.hidden);
            r
        }
        name => {
            let mut w = workload(name).ok_or_else(|| format!("unknown mode '{name}'"))?;
            if let Some(e) = o.epochs {
                w.epochs = e;
            }
            if let Some(b) = o.batch {
                w.batch = b;
            }
            let be = Cpu::<f32>::new(o.threads)?;
            train_workload(&w, &o, &be, o.rows, &mut || {})?
        }
    };
    println!("{out}");
    Ok(())
}
