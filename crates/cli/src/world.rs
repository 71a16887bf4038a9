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
