//! Which process of a data-parallel run this is: the process count an MPI launcher (mpirun, srun, mpiexec) left in the environment, a refusal to run as one of several processes in a build without the `mpi` feature, and, with it, the MPI world whose exchange the training session sums sharded gradients through.

use anyhow::{Result, bail};
use mlp::train::ShardExchange;

/// The variables launchers set in every process they start, each holding the process count:
/// OpenMPI's mpirun, MPICH/Intel MPI's hydra (and srun with PMI-2), and Slurm's srun.
const SIZE_VARS: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"];

/// The process count a launcher gave this process and the variable that says so, when more
/// than one (a malformed value counts as one: it did not come from a launcher).
pub fn launched_as() -> Option<(usize, &'static str)> {
    SIZE_VARS.iter().find_map(|&var| {
        let n = std::env::var(var).ok()?.trim().parse::<usize>().ok()?;
        (n > 1).then_some((n, var))
    })
}

/// The variables launchers set to the number of processes they started on this host: OpenMPI's,
/// MPICH/Intel MPI's hydra, and Slurm's (tasks of this step on this node).
const LOCAL_SIZE_VARS: [&str; 3] = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_STEP_TASKS_PER_NODE"];

/// The CPU threads each process should use when `--threads` is not given: its share of this
/// host's cores when a launcher started several processes here (each taking every core would
/// run N × cores threads on the cores and slow every step), else 0 (one per core). Results do
/// not depend on it: training is bit-identical for any thread count.
pub fn default_threads() -> usize {
    let local = LOCAL_SIZE_VARS.iter().find_map(|&var| std::env::var(var).ok());
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    share_of_cores(local.as_deref(), cores)
}

/// `cores` divided among the processes a launcher's local-size value names (at least one thread
/// each); 0 (one per core) when it names one process or is not a count.
fn share_of_cores(local: Option<&str>, cores: usize) -> usize {
    // Slurm writes "4(x2),3" (4 tasks on each of the first 2 nodes, 3 on the next): the leading
    // count, exact when every node runs as many tasks, as cluster jobs usually do.
    let digits: String = local.unwrap_or("").trim().chars().take_while(char::is_ascii_digit).collect();
    match digits.parse::<usize>() {
        Ok(n) if n > 1 => (cores / n).max(1),
        _ => 0,
    }
}

/// Refuses to run as one of several processes where that cannot work: in a build without the
/// `mpi` feature (each process would train alone and overwrite the same files), and for any
/// subcommand but `train`.
pub fn check_launch(is_train: bool) -> Result<()> {
    let Some((n, var)) = launched_as() else { return Ok(()) };
    if !cfg!(feature = "mpi") {
        bail!(
            "started as one of {n} MPI processes ({var}={n}), but this mlp was built without the `mpi` feature: \
             each process would train alone and overwrite the same files; build it with \
             `cargo build --release -p mlp-cli --features mpi`, or run it without mpirun"
        );
    }
    if !is_train {
        bail!("started as one of {n} MPI processes ({var}={n}); only `mlp train` runs across processes");
    }
    Ok(())
}

/// This process's place in the run: rank 0 of 1 unless an MPI launcher started it.
pub struct World {
    rank: usize,
    size: usize,
    #[cfg(feature = "mpi")]
    mpi: Option<crate::mpi_world::MpiWorld>,
}

impl World {
    /// The world this process was started in: MPI's when a launcher started it (and the build
    /// has the `mpi` feature), else a single process.
    pub fn detect() -> Result<World> {
        #[cfg(feature = "mpi")]
        if let Some(w) = crate::mpi_world::MpiWorld::join()? {
            return Ok(World { rank: w.rank(), size: w.size(), mpi: Some(w) });
        }
        Ok(World {
            rank: 0,
            size: 1,
            #[cfg(feature = "mpi")]
            mpi: None,
        })
    }

    /// Rank 0: the one process that prints progress and writes files.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// The number of processes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The exchange a session with sharded gradients sums through.
    pub fn exchange(&mut self, shards: usize) -> Result<Box<dyn ShardExchange>> {
        #[cfg(feature = "mpi")]
        if let Some(w) = self.mpi.as_mut() {
            return w.exchange(shards);
        }
        let _ = shards;
        Ok(Box::new(mlp::train::LocalShards))
    }

    /// Ends the run with `result`. Under MPI an error ends every process at once (the others may
    /// be waiting for this one in a collective, where a clean shutdown would wait forever), after
    /// this process says which rank it is and what went wrong.
    pub fn end(self, result: Result<()>) -> Result<()> {
        #[cfg(feature = "mpi")]
        if let (Err(e), Some(w)) = (&result, self.mpi.as_ref())
            && self.size > 1
        {
            // An interruption reaches every rank; only rank 0, which wrote the checkpoint, says so.
            let echo = self.rank == 0 || e.downcast_ref::<crate::Interrupted>().is_none();
            w.abort(echo.then(|| crate::one_line(e)).as_deref());
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::share_of_cores;

    #[test]
    fn ranks_on_one_host_share_its_cores() {
        assert_eq!(share_of_cores(None, 16), 0, "no launcher: one thread per core");
        assert_eq!(share_of_cores(Some("1"), 16), 0);
        assert_eq!(share_of_cores(Some("4"), 16), 4);
        assert_eq!(share_of_cores(Some("3"), 16), 5);
        assert_eq!(share_of_cores(Some("4(x2),3"), 16), 4, "Slurm's per-node list");
        assert_eq!(share_of_cores(Some("8"), 2), 1, "oversubscribed: one thread each");
        assert_eq!(share_of_cores(Some("x"), 16), 0, "not a count");
    }
}
