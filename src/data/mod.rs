//! Datasets: features and targets on the host, seeded splits, and the readers and generators that fill them.

use crate::tensor::Matrix;
use serde::{Deserialize, Serialize};

/// What a model learns to predict for each row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Targets {
    /// Class indices in `0..n_classes`, one per row.
    Classes {
        /// The class index of each row.
        labels: Vec<usize>,
        /// How many classes there are (at least the largest label + 1).
        n_classes: usize,
    },
    /// Real-valued targets: one row of `cols` values per sample.
    Values(Matrix),
}

impl Targets {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Values(m) => m.rows,
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Self {
        match self {
            Targets::Classes { labels, n_classes } => Targets::Classes {
                labels: idx.iter().map(|&i| labels[i]).collect(),
                n_classes: *n_classes,
            },
            Targets::Values(m) => Targets::Values(m.select_rows(idx)),
        }
    }
}

/// Features `x` (one row per sample) and their targets `y`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Features, `(n, n_features)`.
    pub x: Matrix,
    /// Targets, `n` rows.
    pub y: Targets,
}

impl Dataset {
    /// Pairs features with targets.
    ///
    /// # Panics
    /// If the row counts differ.
    pub fn new(x: Matrix, y: Targets) -> Self {
        assert_eq!(x.rows, y.len(), "Dataset::new: {} feature rows but {} targets", x.rows, y.len());
        Self { x, y }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.rows
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.x.rows == 0
    }

    /// The samples at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Self {
        Self { x: self.x.select_rows(idx), y: self.y.select(idx) }
    }
}
