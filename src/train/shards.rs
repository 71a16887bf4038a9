//! Sharded gradients: each batch split into a fixed number of shards whose gradients are computed separately and summed in shard order, and the [`ShardExchange`] seam through which a front end (MPI, say) spreads the shards over processes without the library knowing how.
//!
//! The gradient of a batch of `R` rows split into `K` shards is `g₀ + g₁ + … + g_{K−1}`, added
//! left to right in `f32`, where `g_k` is the gradient of shard `k`'s rows' share of the mean loss
//! (`Σ_{rows of k} loss / R`). Shard `k` holds the batch's rows `k·R/K .. (k+1)·R/K` (integer
//! division), in the epoch's order. Neither the split nor the order depends on how many processes
//! compute the shards, so any exchange that hands every process the same ordered sum gives the
//! same bits for any process count. With `K = 1` a session takes its unsharded path, unchanged.

use super::dead::DeadUnits;
use super::rows::TrainRows;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::nn::Net;
use std::ops::Range;

/// Running figures per shard, in this order: summed loss (before the penalty), rows whose
/// predicted class was the label, summed row mean absolute error, rows.
pub const SHARD_FIGURES: usize = 4;

/// The shards process `rank` of `size` computes: a contiguous block, `rank·K/size ..
/// (rank+1)·K/size`, so ranks in order hold the shards in order.
pub fn shard_range(rank: usize, size: usize, shards: usize) -> Range<usize> {
    rank * shards / size..(rank + 1) * shards / size
}

/// The rows of a batch of `rows` rows that shard `k` of `shards` holds (offsets into the batch).
pub fn shard_rows(k: usize, shards: usize, rows: usize) -> Range<usize> {
    k * rows / shards..(k + 1) * rows / shards
}

/// `out = pieces[0] + pieces[1] + …`, left to right, where `pieces` holds
/// `pieces.len() / out.len()` vectors of `out.len()` values one after the other. An exchange
/// sums with this (per slice or whole), so that every process count gives the same bits.
pub fn sum_in_shard_order(pieces: &[f32], out: &mut [f32]) {
    let n = out.len();
    assert!(n > 0 && pieces.len().is_multiple_of(n) && !pieces.is_empty(), "sum_in_shard_order: bad lengths");
    out.copy_from_slice(&pieces[..n]);
    for piece in pieces[n..].chunks_exact(n) {
        for (o, &p) in out.iter_mut().zip(piece) {
            *o += p;
        }
    }
}

/// How the shards' results travel between the processes of a data-parallel run. Every process
/// runs the same session; process `rank()` computes the shards [`shard_range`] gives it, and the
/// exchange combines. Any error ends training with it.
///
/// [`LocalShards`] is the single-process exchange; an MPI front end implements this with
/// data-moving collectives (never a floating-point allreduce, whose summation order varies).
pub trait ShardExchange: Send {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;

    /// The number of processes.
    fn size(&self) -> usize;

    /// Makes `values` on every process equal to process 0's (the weights at the start, and the
    /// non-trainable statistics after each batch, which follow shard 0, that process 0 holds).
    fn broadcast(&mut self, values: &mut [f32]) -> Result<()>;

    /// `local` holds the gradients of this process's shards, one after the other (each
    /// `out.len()` values); fills `out`, on every process, with the sum over all shards in shard
    /// order, as [`sum_in_shard_order`] adds them.
    fn sum_gradients(&mut self, local: &[f32], out: &mut [f32]) -> Result<()>;

    /// `local` holds this process's shards' [`SHARD_FIGURES`] figures, one shard after the other;
    /// fills `out` (`shards × SHARD_FIGURES`) with every shard's, in shard order.
    fn gather_figures(&mut self, local: &[f64], out: &mut [f64]) -> Result<()>;

    /// Fills `out` (`size() × local.len()`) with every process's `local`, in rank order (once
    /// an epoch: the dead-unit monitor's flags).
    fn all_gather(&mut self, local: &[f32], out: &mut [f32]) -> Result<()>;
}

/// The exchange of a single process computing every shard.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalShards;

impl ShardExchange for LocalShards {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn broadcast(&mut self, _values: &mut [f32]) -> Result<()> {
        Ok(())
    }

    fn sum_gradients(&mut self, local: &[f32], out: &mut [f32]) -> Result<()> {
        sum_in_shard_order(local, out);
        Ok(())
    }

    fn gather_figures(&mut self, local: &[f64], out: &mut [f64]) -> Result<()> {
        out.copy_from_slice(local);
        Ok(())
    }

    fn all_gather(&mut self, local: &[f32], out: &mut [f32]) -> Result<()> {
        out.copy_from_slice(local);
        Ok(())
    }
}

/// A session's sharding: the exchange, this process's shards and the host buffers the shards'
/// gradients and figures travel in (allocated once, when set).
pub(crate) struct Sharding {
    shards: usize,
    exchange: Box<dyn ShardExchange>,
    owned: Range<usize>,
    /// This process's shards' trainable gradients, one after the other.
    local: Vec<f32>,
    /// The summed gradient (and, before the first batch, the weights being broadcast).
    total: Vec<f32>,
    local_figures: Vec<f64>,
    /// Every shard's figures, in shard order, after the batch's exchange.
    pub(crate) figures: Vec<f64>,
    /// The non-trainable statistics after shard 0's forward pass.
    frozen: Vec<f32>,
    started: bool,
}

impl Sharding {
    /// `shards` shards per batch for a network with `trainable` trainable and `frozen`
    /// non-trainable values, this process's share of them given by `exchange`.
    pub(crate) fn new(
        shards: usize,
        exchange: Box<dyn ShardExchange>,
        batch_size: usize,
        trainable: usize,
        frozen: usize,
    ) -> Result<Self> {
        check_sharding(shards, exchange.size(), batch_size)?;
        let owned = shard_range(exchange.rank(), exchange.size(), shards);
        Ok(Self {
            shards,
            local: vec![0.0; owned.len() * trainable],
            total: vec![0.0; trainable],
            local_figures: vec![0.0; owned.len() * SHARD_FIGURES],
            figures: vec![0.0; shards * SHARD_FIGURES],
            frozen: vec![0.0; frozen],
            owned,
            exchange,
            started: false,
        })
    }

    /// Before the first batch: every process takes process 0's weights and statistics.
    fn start<B: Backend>(&mut self, net: &mut Net<B>) -> Result<()> {
        if std::mem::replace(&mut self.started, true) {
            return Ok(());
        }
        net.read_trainable(false, &mut self.total);
        self.exchange.broadcast(&mut self.total)?;
        net.write_trainable(&self.total);
        self.share_frozen(net, true)
    }

    /// Every process takes process 0's non-trainable statistics (`read`: its current ones; else
    /// those kept after shard 0's forward pass).
    fn share_frozen<B: Backend>(&mut self, net: &mut Net<B>, read: bool) -> Result<()> {
        if self.frozen.is_empty() {
            return Ok(());
        }
        if read {
            net.read_frozen(&mut self.frozen);
        }
        self.exchange.broadcast(&mut self.frozen)?;
        net.write_frozen(&self.frozen);
        Ok(())
    }

    /// Leaves in `net`'s gradients the sum, in shard order, of the gradients of batch `b`'s
    /// `rows` rows' shards — this process computing its own, each forward pass observed by
    /// `dead` — and every shard's figures in [`Sharding::figures`]; returns the batch's summed
    /// loss. Batch normalization's running statistics end as shard 0's forward pass left them
    /// (shard-local batch statistics, as PyTorch's DDP without SyncBatchNorm; the buffers follow
    /// the first shard, as DDP's follow rank 0).
    pub(crate) fn gradients<B: Backend>(
        &mut self,
        be: &B,
        net: &mut Net<B>,
        data: &mut TrainRows<B>,
        loss: Loss,
        (b, rows): (usize, usize),
        mut dead: Option<&mut DeadUnits>,
    ) -> Result<f64> {
        self.start(net)?;
        let n = self.total.len();
        for (j, k) in self.owned.clone().enumerate() {
            let part = shard_rows(k, self.shards, rows);
            let grads = &mut self.local[j * n..(j + 1) * n];
            let figures = &mut self.local_figures[j * SHARD_FIGURES..(j + 1) * SHARD_FIGURES];
            let got = data.gather_part(be, b, part.clone(), net);
            if got == 0 {
                grads.fill(0.0);
                figures.fill(0.0);
                continue;
            }
            net.set_shard(k);
            net.forward(got);
            if let Some(d) = dead.as_deref_mut() {
                d.observe(net, got);
            }
            if k == 0 && !self.frozen.is_empty() {
                net.read_frozen(&mut self.frozen);
            }
            // A non-finite loss is reported after the exchange, by every process alike.
            let sum = net.loss(loss, got, &data.t_batch, data.w_batch.as_ref(), Some(1.0 / rows as f64));
            net.backward(got);
            net.read_trainable(true, grads);
            figures.copy_from_slice(&data.shard_figures(be, b, part, net, sum));
        }
        net.set_shard(0);
        self.exchange.sum_gradients(&self.local, &mut self.total)?;
        net.write_trainable_grads(&self.total);
        self.share_frozen(net, false)?;
        self.exchange.gather_figures(&self.local_figures, &mut self.figures)?;
        let mut losses = self.figures.iter().step_by(SHARD_FIGURES);
        let first = losses.next().copied().unwrap_or(0.0);
        Ok(losses.fold(first, |a, &l| a + l))
    }

    /// Makes each process's dead-unit monitor hold every process's epoch: a unit is alive when
    /// it was alive on any process's rows (an OR, so every process count gives the same
    /// fractions).
    pub(crate) fn share_dead_units(&mut self, dead: &mut DeadUnits) -> Result<()> {
        let size = self.exchange.size();
        if size == 1 {
            return Ok(());
        }
        let mine = dead.alive_flags();
        let mut all = vec![0.0f32; size * mine.len()];
        self.exchange.all_gather(&mine, &mut all)?;
        let mut any = vec![0.0f32; mine.len()];
        for flags in all.chunks_exact(mine.len().max(1)) {
            for (a, &f) in any.iter_mut().zip(flags) {
                *a = a.max(f);
            }
        }
        dead.set_alive_flags(&any);
        Ok(())
    }
}

/// Checks a sharding against the batch size and the process count.
pub(crate) fn check_sharding(shards: usize, size: usize, batch_size: usize) -> Result<()> {
    if shards == 0 {
        return Err(Error::config("shards (--shards)", "must be at least 1"));
    }
    if shards < size {
        return Err(Error::config(
            "shards (--shards)",
            format!(
                "{shards} shards for {size} processes: every process needs a shard; use --shards {size} or more, the same at every process count"
            ),
        ));
    }
    if shards > batch_size {
        return Err(Error::config(
            "shards (--shards)",
            format!("{shards} shards of a batch of {batch_size} rows; use --shards at most the batch size"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_hold_contiguous_blocks_covering_every_shard_once() {
        for shards in 1..10 {
            for size in 1..=shards {
                let mut next = 0;
                for r in 0..size {
                    let got = shard_range(r, size, shards);
                    assert_eq!(got.start, next);
                    assert!(!got.is_empty(), "K={shards} N={size} rank {r}");
                    next = got.end;
                }
                assert_eq!(next, shards);
            }
        }
        assert_eq!(shard_rows(2, 3, 10), 6..10);
    }

    #[test]
    fn the_ordered_sum_of_slices_is_the_slice_of_the_ordered_sum() {
        let pieces: Vec<f32> = (0..12).map(|i| 1.0 / (i as f32 + 0.3)).collect();
        let mut whole = [0.0f32; 4];
        sum_in_shard_order(&pieces, &mut whole);
        for (a, b) in [(0, 1), (1, 4)] {
            let sliced: Vec<f32> = pieces.chunks_exact(4).flat_map(|p| p[a..b].to_vec()).collect();
            let mut part = vec![0.0f32; b - a];
            sum_in_shard_order(&sliced, &mut part);
            assert_eq!(part, whole[a..b]);
        }
        // Left to right, not pairwise: ((p0 + p1) + p2).
        assert_eq!(whole[0], (pieces[0] + pieces[4]) + pieces[8]);
    }

    #[test]
    fn sharding_is_checked_against_processes_and_batch() {
        assert!(check_sharding(4, 3, 32).is_ok());
        let m = check_sharding(2, 3, 32).unwrap_err().to_string();
        assert!(m.contains("use --shards 3 or more"), "{m}");
        assert!(check_sharding(64, 1, 32).unwrap_err().to_string().contains("at most the batch size"));
        assert!(check_sharding(0, 1, 32).is_err());
    }
}
