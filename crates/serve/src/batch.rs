//! Dynamic batching: requests for one model queue up while its batching thread computes, and the
//! thread then runs everything queued (up to `max_batch` rows) as one batched forward pass.

use crate::stats::ModelStats;
use mlp::{Matrix, Predictor};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How a batch is formed.
#[derive(Clone, Debug)]
pub struct BatchConfig {
    /// The most rows one forward pass takes (a larger request runs on its own).
    pub max_batch: usize,
    /// How long the first request of a batch may wait for others; zero takes only what is queued.
    pub max_delay: Duration,
}

/// Rows to predict and where their outputs go.
struct Job {
    x: Matrix,
    queued: Instant,
    reply: oneshot::Sender<mlp::Result<Vec<f32>>>,
}

/// The queue in front of one model's batching thread; the thread ends when this is dropped.
pub struct Batcher {
    tx: Sender<Job>,
}

impl Batcher {
    pub fn start(predictor: Arc<Predictor>, cfg: BatchConfig, stats: Arc<ModelStats>) -> Self {
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("mlp-batch".into())
            .spawn(move || run(&predictor, &cfg, &stats, &rx))
            .expect("a thread for the batcher");
        Self { tx }
    }

    /// The outputs of `x`'s rows, computed in a batch with whatever else is queued.
    pub async fn predict(&self, x: Matrix) -> mlp::Result<Vec<f32>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { x, queued: Instant::now(), reply })
            .map_err(|_| mlp::Error::Data("the model was unloaded".into()))?;
        rx.await.map_err(|_| mlp::Error::Data("the batch was dropped".into()))?
    }
}

fn run(predictor: &Predictor, cfg: &BatchConfig, stats: &ModelStats, rx: &Receiver<Job>) {
    let inputs = predictor.model().config.input_dim;
    let outputs = predictor.model().config.output_dim();
    let mut jobs: Vec<Job> = Vec::new();
    let mut x = Vec::new();
    let mut out = Vec::new();
    while let Ok(first) = rx.recv() {
        let deadline = first.queued + cfg.max_delay;
        let mut rows = first.x.rows;
        jobs.push(first);
        while rows < cfg.max_batch {
            let next = match rx.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    match rx.recv_timeout(deadline - now) {
                        Ok(job) => job,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            rows += next.x.rows;
            jobs.push(next);
        }
        let started = Instant::now();
        for j in &jobs {
            stats.queue.record(started.duration_since(j.queued).as_secs_f64());
        }
        x.clear();
        for j in &jobs {
            x.extend_from_slice(&j.x.data);
        }
        let batch = Matrix::new(rows, inputs, std::mem::take(&mut x));
        out.clear();
        out.resize(rows * outputs, 0.0);
        let result = predictor.predict_into(&batch, &mut out);
        x = batch.data;
        stats.compute.record(started.elapsed().as_secs_f64());
        stats.batch_rows.record(rows as f64);
        let mut start = 0;
        for j in jobs.drain(..) {
            let n = j.x.rows * outputs;
            let answer = match &result {
                Ok(()) => Ok(out[start..start + n].to_vec()),
                Err(e) => Err(mlp::Error::Data(e.to_string())),
            };
            start += n;
            let _ = j.reply.send(answer);
        }
    }
}
