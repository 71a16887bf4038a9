//! The MPI side of `mpirun -np N mlp train --shards K` (feature `mpi`): joining the world, the shard exchange over data-moving collectives (so the sums, done here in shard order, give the same bits at every N), and a watchdog that ends the run when a collective waits too long.
//!
//! The gradient exchange is a reduce-scatter and an allgather built from `MPI_Alltoallv` and
//! `MPI_Allgatherv`: the flat gradient is cut into N slices, rank `s` owning slice `s`; every
//! rank sends each of its shards' piece of slice `s` to rank `s`, which adds the K pieces in
//! shard order ([`sum_in_shard_order`]) and hands its summed slice to all. Per step each rank
//! sends `(K/N) · (N−1)/N` gradients and receives `(N−1)/N` of one, against a ring allreduce's
//! `2 (N−1)/N`: the same cost at K = N. `MPI_Allreduce` is not used: its summation order (and
//! so its bits) changes with N.

use anyhow::{Context, Result, bail};
use mlp::train::{SHARD_FIGURES, ShardExchange, shard_range, sum_in_shard_order};
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a collective may wait for the other ranks before this rank gives up, unless
/// `MLP_MPI_TIMEOUT` (seconds) says otherwise: far above any step's compute on a working run.
const DEFAULT_TIMEOUT_S: u64 = 120;

/// The MPI world of this run: the universe (finalized when dropped) and the world communicator.
pub struct MpiWorld {
    universe: Universe,
    rank: usize,
    size: usize,
}

impl MpiWorld {
    /// Initializes MPI when a launcher started this process (any process count, 1 included).
    pub fn join() -> Result<Option<MpiWorld>> {
        let launched = std::env::var_os("OMPI_COMM_WORLD_SIZE").is_some()
            || std::env::var_os("PMI_SIZE").is_some()
            || std::env::var_os("PMIX_RANK").is_some()
            || std::env::var_os("SLURM_STEP_NUM_TASKS").is_some();
        if !launched {
            return Ok(None);
        }
        // The session runs on one thread at a time, but not necessarily the main one (the CPU
        // backend trains inside its thread pool): serialized, not funneled.
        let (universe, got) = mpi::initialize_with_threading(mpi::Threading::Serialized)
            .context("MPI could not be initialized (was it already?)")?;
        if got < mpi::Threading::Serialized {
            bail!("this MPI library gives thread level {got:?}; mlp needs MPI_THREAD_SERIALIZED");
        }
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(Some(MpiWorld { universe, rank, size }))
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of processes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The exchange for a run of `shards` shards per batch, with its watchdog started.
    pub fn exchange(&mut self, shards: usize) -> Result<Box<dyn ShardExchange>> {
        let timeout = match std::env::var("MLP_MPI_TIMEOUT") {
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(s) if s > 0 => s,
                _ => bail!("MLP_MPI_TIMEOUT must be a whole number of seconds ≥ 1, got `{v}`"),
            },
            Err(_) => DEFAULT_TIMEOUT_S,
        };
        let watch = Watchdog::start(self.rank, Duration::from_secs(timeout));
        Ok(Box::new(MpiShards::new(self.universe.world(), self.rank, self.size, shards, watch)))
    }

    /// Ends every process of the run, this rank having said why (when given).
    pub fn abort(&self, why: Option<&str>) -> ! {
        if let Some(why) = why {
            eprintln!("mlp: rank {} of {}: {why}; stopping every rank", self.rank, self.size);
        }
        self.universe.world().abort(2)
    }
}

/// Watches the collectives of one rank: when one waits longer than the timeout, the rank that
/// is missing died or hung (a dead one mpirun usually reports first, naming it); this rank then
/// says so and exits, and mpirun ends the others.
struct Watchdog {
    /// Milliseconds since `epoch` at which the collective in progress began (0: none), and the
    /// step it belongs to.
    since_ms: AtomicU64,
    step: AtomicU64,
    epoch: Instant,
}

impl Watchdog {
    fn start(rank: usize, timeout: Duration) -> Arc<Watchdog> {
        let w = Arc::new(Watchdog { since_ms: AtomicU64::new(0), step: AtomicU64::new(0), epoch: Instant::now() });
        let watched = Arc::clone(&w);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(250));
                let since = watched.since_ms.load(Ordering::SeqCst);
                if since == 0 {
                    continue;
                }
                let waited = watched.now_ms().saturating_sub(since);
                if waited >= timeout.as_millis() as u64 {
                    eprintln!(
                        "mlp: rank {rank}: the other ranks did not answer for {} s in the gradient exchange of step {}: \
                         a rank died or hung (MLP_MPI_TIMEOUT sets the wait); stopping",
                        waited / 1000,
                        watched.step.load(Ordering::SeqCst)
                    );
                    std::process::exit(3);
                }
            }
        });
        w
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Runs one collective under watch.
    fn watch<T>(&self, f: impl FnOnce() -> T) -> T {
        self.since_ms.store(self.now_ms(), Ordering::SeqCst);
        let r = f();
        self.since_ms.store(0, Ordering::SeqCst);
        r
    }
}

/// [`ShardExchange`] over MPI's world communicator, with buffers sized on the first step.
struct MpiShards {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    shards: usize,
    watch: Arc<Watchdog>,
    send: Vec<f32>,
    recv: Vec<f32>,
    mine: Vec<f32>,
    /// Per rank: send and receive counts and displacements of the gradient exchange, the slice
    /// bounds of the allgather, and the figure counts and displacements.
    counts: [Vec<i32>; 8],
    /// The gradient length the buffers are sized for (0: not yet).
    planned: usize,
    steps: u64,
    /// `MLP_MPI_STATS`: seconds in collectives and since the first step, reported when dropped.
    stats: Option<Stats>,
}

/// Where a rank's time went, for bench/mpi_scaling.sh.
struct Stats {
    first: Option<Instant>,
    comm: Duration,
}

// SAFETY: MPI is initialized with MPI_THREAD_SERIALIZED and the session calls its exchange from
// one thread at a time; the communicator handle is not shared with any other thread.
unsafe impl Send for MpiShards {}

impl MpiShards {
    fn new(world: SimpleCommunicator, rank: usize, size: usize, shards: usize, watch: Arc<Watchdog>) -> Self {
        Self {
            world,
            rank,
            size,
            shards,
            watch,
            send: Vec::new(),
            recv: Vec::new(),
            mine: Vec::new(),
            counts: Default::default(),
            planned: 0,
            steps: 0,
            stats: std::env::var_os("MLP_MPI_STATS").map(|_| Stats { first: None, comm: Duration::ZERO }),
        }
    }

    /// Rank `r`'s slice of a flat vector of `n` values.
    fn slice(&self, r: usize, n: usize) -> std::ops::Range<usize> {
        r * n / self.size..(r + 1) * n / self.size
    }

    /// Sizes the buffers and counts for gradients of `n` values (once: `n` never changes).
    fn plan(&mut self, n: usize) {
        if self.planned == n {
            return;
        }
        self.planned = n;
        let (size, shards) = (self.size, self.shards);
        let owned = |r: usize| shard_range(r, size, shards);
        let mine = self.slice(self.rank, n).len();
        let c = |v: usize| i32::try_from(v).expect("an MPI count fits in an int");
        let mut counts: [Vec<i32>; 8] = Default::default();
        let (mut sent, mut got) = (0, 0);
        for r in 0..size {
            let (to, from) = (owned(self.rank).len() * self.slice(r, n).len(), owned(r).len() * mine);
            counts[0].push(c(to));
            counts[1].push(c(sent));
            counts[2].push(c(from));
            counts[3].push(c(got));
            (sent, got) = (sent + to, got + from);
            counts[4].push(c(self.slice(r, n).len()));
            counts[5].push(c(self.slice(r, n).start));
            counts[6].push(c(owned(r).len() * SHARD_FIGURES));
            counts[7].push(c(owned(r).start * SHARD_FIGURES));
        }
        self.counts = counts;
        self.send = vec![0.0; sent];
        self.recv = vec![0.0; got];
        self.mine = vec![0.0; mine];
    }
}

impl MpiShards {
    /// Runs one collective under the watchdog, its time counted when asked for.
    fn timed<T>(&mut self, f: impl FnOnce(&SimpleCommunicator) -> T) -> T {
        let started = Instant::now();
        let r = self.watch.watch(|| f(&self.world));
        if let Some(s) = self.stats.as_mut() {
            s.comm += started.elapsed();
            s.first.get_or_insert(started);
        }
        r
    }
}

impl Drop for MpiShards {
    /// With `MLP_MPI_STATS`, one line per rank: steps, and per step the time in collectives
    /// (communication, plus waiting for slower ranks) and the rest (computing).
    fn drop(&mut self) {
        if let Some(Stats { first: Some(first), comm }) = &self.stats {
            // From the first exchange on: the steps after the first, each whole.
            let (total, steps) = (first.elapsed().as_secs_f64(), self.steps.saturating_sub(1).max(1) as f64);
            eprintln!(
                "mpi-stats rank={} size={} shards={} steps={} step_ms={:.4} comm_ms={:.4} compute_ms={:.4}",
                self.rank,
                self.size,
                self.shards,
                self.steps,
                1e3 * total / steps,
                1e3 * comm.as_secs_f64() / steps,
                1e3 * (total - comm.as_secs_f64()) / steps
            );
        }
    }
}

impl ShardExchange for MpiShards {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn broadcast(&mut self, values: &mut [f32]) -> mlp::Result<()> {
        self.watch.watch(|| self.world.process_at_rank(0).broadcast_into(values));
        Ok(())
    }

    fn sum_gradients(&mut self, local: &[f32], out: &mut [f32]) -> mlp::Result<()> {
        let n = out.len();
        self.plan(n);
        self.steps += 1;
        self.watch.step.store(self.steps, Ordering::SeqCst);
        // Pack: for each destination rank, this rank's shards' pieces of its slice, in shard order.
        let mut at = 0;
        for r in 0..self.size {
            let sl = self.slice(r, n);
            for shard in local.chunks_exact(n) {
                self.send[at..at + sl.len()].copy_from_slice(&shard[sl.clone()]);
                at += sl.len();
            }
        }
        let (send, mut recv, mut mine) =
            (std::mem::take(&mut self.send), std::mem::take(&mut self.recv), std::mem::take(&mut self.mine));
        let counts = std::mem::take(&mut self.counts);
        let [sc, sd, rc, rd, gc, gd, ..] = &counts;
        self.timed(|w| {
            w.all_to_all_varcount_into(
                &Partition::new(&send[..], &sc[..], &sd[..]),
                &mut PartitionMut::new(&mut recv[..], &rc[..], &rd[..]),
            )
        });
        // Ranks in order hold the shards in order, so `recv` is every shard's piece in shard order.
        if !mine.is_empty() {
            sum_in_shard_order(&recv, &mut mine);
        }
        self.timed(|w| w.all_gather_varcount_into(&mine[..], &mut PartitionMut::new(out, &gc[..], &gd[..])));
        (self.send, self.recv, self.mine, self.counts) = (send, recv, mine, counts);
        Ok(())
    }

    fn gather_figures(&mut self, local: &[f64], out: &mut [f64]) -> mlp::Result<()> {
        let counts = std::mem::take(&mut self.counts);
        let [.., fc, fd] = &counts;
        self.timed(|w| w.all_gather_varcount_into(local, &mut PartitionMut::new(out, &fc[..], &fd[..])));
        self.counts = counts;
        Ok(())
    }

    fn all_gather(&mut self, local: &[f32], out: &mut [f32]) -> mlp::Result<()> {
        self.timed(|w| w.all_gather_into(local, out));
        Ok(())
    }
}
