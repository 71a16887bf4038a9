//! Model selection: the folds of k-fold cross-validation (stratified, repeated) or a held-out
//! split, a runner that trains and scores any settings on them (in parallel across cores), and
//! the pieces of a hyperparameter search (grids, random draws, successive halving).
//!
//! The runner never prints: callers see each finished fold through a callback. Results depend on
//! the settings, the data and the seed only — never on how many threads or jobs ran them — since
//! every fold is an independent run and the CPU backend is bit-identical for any thread count.
//!
//! ```
//! use mlp::select::{Candidate, CvOptions, Resampling, cross_validate};
//! use mlp::{FitConfig, Loss, ModelConfig};
//!
//! let data = mlp::data::synth::circles(200, 0.1, 0.4, 0);
//! let model = ModelConfig::parse(2, "8:relu,2:softmax")?;
//! let fit = FitConfig { loss: Loss::CategoricalCrossEntropy, epochs: 5, ..FitConfig::default() };
//! let folds = Resampling::KFold { folds: 5, repeats: 1, stratify: true }.folds(&data.y, 0)?;
//! let report = cross_validate(Candidate { model: &model, fit: &fit, data: &data, folds: &folds }, &CvOptions::default())?;
//! assert_eq!(report.folds.len(), 5);
//! println!("accuracy {:.3} ± {:.3}", report.mean["accuracy"], report.std["accuracy"]);
//! # Ok::<(), mlp::Error>(())
//! ```

mod cv;
mod folds;
mod search;

pub use cv::{Candidate, CvOptions, CvReport, FoldScore, cross_validate, cross_validate_all, plan_jobs};
pub use folds::{Fold, Resampling};
pub use search::{Rung, Trial, Values, grid, halving_rungs, rank, sample};
