//! The leaf of the library: the element type `Real` and the scalar and row formulas of activations, losses and update rules.
//!
//! Nothing here imports from above (`nn`, `backend`, `train`): the backends and layers depend on
//! these formulas, never the other way round, so the math can be read, tested and reused alone.
//! The only outside dependency is [`crate::error`], itself a leaf.

pub mod activation;
pub mod lbfgs;
pub mod loss;
pub mod optim;
pub mod real;

pub use real::Real;
