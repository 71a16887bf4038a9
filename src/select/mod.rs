//! Model selection: the folds of k-fold cross-validation (stratified, repeated) or a held-out
//! split, a runner that trains and scores any settings on them (in parallel across cores), and
//! the pieces of a hyperparameter search (grids, random draws, successive halving).
//!
//! The runner never prints: callers see each finished fold through a callback. Results depend on
//! the settings, the data and the seed only — never on how many threads or jobs ran them — since
//! every fold is an independent run and the CPU backend is bit-identical for any thread count.

mod cv;
mod folds;
mod search;

pub use cv::{Candidate, CvOptions, CvReport, FoldScore, cross_validate, cross_validate_all, plan_jobs};
pub use folds::{Fold, Resampling};
pub use search::{Rung, Values, grid, halving_rungs, rank, sample};
