//! Dynamic batching with neither a timer nor a thread of its own: the request that finds its model
//! idle leads — it yields once, so that the requests already readable on its worker queue up
//! behind it, then computes everything queued (up to `max_batch` rows) as one batched forward pass
//! on its own worker. Requests that arrive while a batch computes join the next one. A lone request
//! so pays one trip through the scheduler, not a hand-off to another thread, and under load the
//! batches grow by themselves.

use crate::stats::ModelStats;
use mlp::{Matrix, Predictor};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How a batch is formed.
#[derive(Clone, Debug)]
pub struct BatchConfig {
    /// The most rows one forward pass takes (a larger request runs on its own).
    pub max_batch: usize,
    /// How long the leader of a batch may wait for more requests; zero takes only what is queued
    /// once the requests already readable have been read.
    pub max_delay: Duration,
}

/// One request's rows, and where its outputs go.
struct Slot {
    x: Matrix,
    queued: Instant,
    result: Mutex<Option<mlp::Result<Vec<f32>>>>,
    /// Woken when the result is in, or when the request should try to lead.
    wake: Notify,
}

impl Slot {
    fn take(&self) -> Option<mlp::Result<Vec<f32>>> {
        lock(&self.result).take()
    }
}

#[derive(Default)]
struct Queue {
    /// A leader is gathering or computing a batch.
    busy: bool,
    waiting: VecDeque<Arc<Slot>>,
}

/// What only the leader touches: the batch's slots, inputs and outputs, kept between batches.
#[derive(Default)]
struct Scratch {
    slots: Vec<Arc<Slot>>,
    x: Vec<f32>,
    out: Vec<f32>,
}

/// The queue in front of one model.
pub struct Batcher {
    predictor: Arc<Predictor>,
    cfg: BatchConfig,
    stats: Arc<ModelStats>,
    queue: Mutex<Queue>,
    scratch: Mutex<Scratch>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Batcher {
    pub fn new(predictor: Arc<Predictor>, cfg: BatchConfig, stats: Arc<ModelStats>) -> Self {
        Self { predictor, cfg, stats, queue: Mutex::default(), scratch: Mutex::default() }
    }

    /// The most rows a request may have to be batched (more: it runs on its own).
    pub fn max_rows(&self) -> usize {
        self.cfg.max_batch
    }

    /// The outputs of `x`'s rows, computed in a batch with whatever else is queued.
    pub async fn predict(&self, x: Matrix) -> mlp::Result<Vec<f32>> {
        let slot = Arc::new(Slot { x, queued: Instant::now(), result: Mutex::new(None), wake: Notify::new() });
        let mut queued = Queued { batcher: self, slot: &slot, answered: false };
        lock(&self.queue).waiting.push_back(slot.clone());
        loop {
            if self.try_lead() {
                let leading = Leading(self);
                self.gather(&slot).await;
                self.lead(&slot);
                drop(leading);
            }
            if let Some(r) = slot.take() {
                queued.answered = true;
                return r;
            }
            slot.wake.notified().await;
        }
    }

    fn try_lead(&self) -> bool {
        let mut q = lock(&self.queue);
        !std::mem::replace(&mut q.busy, true)
    }

    fn queued_rows(&self) -> usize {
        lock(&self.queue).waiting.iter().map(|s| s.x.rows).sum()
    }

    /// Lets the requests that are ready to run on this worker join the batch (one yield: the
    /// scheduler polls the sockets before it comes back), then, with a delay configured, keeps
    /// yielding until the batch is full or the first request has waited that long.
    async fn gather(&self, own: &Slot) {
        tokio::task::yield_now().await;
        if self.cfg.max_delay.is_zero() {
            return;
        }
        let deadline = own.queued + self.cfg.max_delay;
        while Instant::now() < deadline && self.queued_rows() < self.cfg.max_batch {
            tokio::task::yield_now().await;
        }
    }

    /// Computes batches from the front of the queue until `own` is answered (or nothing is queued).
    fn lead(&self, own: &Slot) {
        let mut s = lock(&self.scratch);
        let s = &mut *s;
        loop {
            let mut rows = 0;
            {
                let mut q = lock(&self.queue);
                while let Some(next) = q.waiting.front() {
                    if !s.slots.is_empty() && rows + next.x.rows > self.cfg.max_batch {
                        break;
                    }
                    rows += next.x.rows;
                    s.slots.extend(q.waiting.pop_front());
                }
            }
            if s.slots.is_empty() {
                return;
            }
            self.compute(s, rows);
            if lock(&own.result).is_some() {
                return;
            }
        }
    }

    /// One forward pass over the slots in `s`, answering each.
    fn compute(&self, s: &mut Scratch, rows: usize) {
        let outputs = self.predictor.model().config.output_dim();
        let started = Instant::now();
        s.x.clear();
        for slot in &s.slots {
            self.stats.queue.record(started.duration_since(slot.queued).as_secs_f64());
            s.x.extend_from_slice(&slot.x.data);
        }
        s.out.clear();
        s.out.resize(rows * outputs, 0.0);
        let result = self.predictor.predict_slice_into(&s.x, &mut s.out);
        self.stats.compute.record(started.elapsed().as_secs_f64());
        self.stats.batch_rows.record(rows as f64);
        let mut start = 0;
        for slot in s.slots.drain(..) {
            let n = slot.x.rows * outputs;
            let answer = match &result {
                Ok(()) => Ok(s.out[start..start + n].to_vec()),
                Err(e) => Err(mlp::Error::Data(e.to_string())),
            };
            start += n;
            *lock(&slot.result) = Some(answer);
            slot.wake.notify_one();
        }
    }

    /// After a leader: the next queued request, if any, is told to lead.
    fn release(&self) {
        let mut q = lock(&self.queue);
        q.busy = false;
        if let Some(next) = q.waiting.front() {
            next.wake.notify_one();
        }
    }
}

/// Gives up the lead when the leader is done — or dropped mid-way (its client went away, or its
/// timeout fired), so that the queue never stalls behind a request that no longer runs.
struct Leading<'a>(&'a Batcher);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Takes a request that is dropped before its answer out of the queue, and passes on a turn to
/// lead that it may have been given.
struct Queued<'a> {
    batcher: &'a Batcher,
    slot: &'a Arc<Slot>,
    answered: bool,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let mut q = lock(&self.batcher.queue);
        q.waiting.retain(|s| !Arc::ptr_eq(s, self.slot));
        if !q.busy
            && let Some(next) = q.waiting.front()
        {
            next.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlp::ModelConfig;

    fn batcher(max_batch: usize) -> (Arc<Batcher>, Arc<Predictor>) {
        let model = ModelConfig::parse(3, "8:relu,2:softmax").unwrap().init(5).unwrap();
        let p = Arc::new(Predictor::new(&model, max_batch, 1).unwrap());
        let stats = Arc::new(ModelStats::new("t"));
        (Arc::new(Batcher::new(p.clone(), BatchConfig { max_batch, max_delay: Duration::ZERO }, stats)), p)
    }

    fn rows(n: usize, seed: usize) -> Matrix {
        Matrix::new(n, 3, (0..n * 3).map(|i| ((i * 7 + seed * 13) % 11) as f32 / 5.0 - 1.0).collect())
    }

    #[test]
    fn concurrent_requests_on_one_thread_share_batches_and_get_their_own_rows() {
        let (b, p) = batcher(8);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let answers = rt.block_on(async {
            let tasks: Vec<_> = (0..20)
                .map(|i| {
                    let b = b.clone();
                    tokio::spawn(async move { b.predict(rows(1 + i % 3, i)).await.unwrap() })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        for (i, got) in answers.iter().enumerate() {
            assert_eq!(got, &p.predict(&rows(1 + i % 3, i)).unwrap().data, "request {i}");
        }
        let q = lock(&b.queue);
        assert!(!q.busy && q.waiting.is_empty(), "the queue is left idle");
    }

    #[test]
    fn a_request_dropped_while_leading_or_queued_does_not_stall_the_others() {
        let (b, p) = batcher(4);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            // Polled once: it leads and is parked in its yield, then dropped.
            let mut lead = Box::pin(b.predict(rows(1, 0)));
            assert!(futures_poll_once(lead.as_mut()).await.is_none());
            let b2 = b.clone();
            let queued = tokio::spawn(async move { b2.predict(rows(2, 1)).await.unwrap() });
            tokio::task::yield_now().await;
            drop(lead);
            let got = tokio::time::timeout(Duration::from_secs(5), queued).await.expect("not stalled").unwrap();
            assert_eq!(got, p.predict(&rows(2, 1)).unwrap().data);
        });
        let q = lock(&b.queue);
        assert!(!q.busy && q.waiting.is_empty());
    }

    /// Polls `f` once: its output if it was ready.
    async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
