//! Datasets: features and targets on the host, seeded splits, and the readers and generators that fill them.

pub mod csv;
mod dir;
pub mod idx;
pub mod synth;

pub use dir::{DATA_DIR_VAR, data_dir, data_path};

use crate::tensor::Matrix;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::ops::Range;

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

    /// The number of classes, or `None` for real-valued targets.
    pub fn n_classes(&self) -> Option<usize> {
        match self {
            Targets::Classes { n_classes, .. } => Some(*n_classes),
            Targets::Values(_) => None,
        }
    }

    /// The rows at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Self {
        match self {
            Targets::Classes { labels, n_classes } => {
                Targets::Classes { labels: idx.iter().map(|&i| labels[i]).collect(), n_classes: *n_classes }
            }
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

impl Dataset {
    /// Number of feature columns.
    pub fn n_features(&self) -> usize {
        self.x.cols
    }

    /// The first `n` samples (all of them when `n` exceeds the length).
    pub fn head(&self, n: usize) -> Self {
        self.rows(0..n)
    }

    /// The samples in `range`, in file order. The range is clamped to the dataset, so
    /// `rows(600..usize::MAX)` is "everything after row 600" and an empty overlap gives an empty set.
    pub fn rows(&self, range: Range<usize>) -> Self {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        let idx: Vec<usize> = (start..end).collect();
        self.select(&idx)
    }

    /// Splits into `(train, valid)`: a seeded shuffle, then `valid_fraction` of the rows go to `valid`.
    ///
    /// With `stratify` and class targets, each class is split on its own, so both parts keep the
    /// class proportions (a 20% split of a balanced two-class set is balanced); each class sends
    /// `round(n_class × valid_fraction)` rows to `valid`. Without it (or for value targets) `valid`
    /// gets `round(n × valid_fraction)` rows. Both parts come out shuffled, so classes are mixed
    /// even when the input is sorted by class. The same seed always gives the same split.
    ///
    /// # Panics
    /// If `valid_fraction` is not in `[0, 1]`: it is a setting, so check it where it is read
    /// (flag or config) and report it there.
    pub fn split(&self, valid_fraction: f32, seed: u64, stratify: bool) -> (Dataset, Dataset) {
        assert!(
            (0.0..=1.0).contains(&valid_fraction),
            "Dataset::split: valid_fraction must be in [0, 1], got {valid_fraction}"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n_valid_of = |n: usize| ((n as f64) * f64::from(valid_fraction)).round() as usize;
        let (mut train, mut valid) = (Vec::new(), Vec::new());
        match &self.y {
            Targets::Classes { labels, n_classes } if stratify => {
                let n_groups = labels.iter().max().map_or(0, |&m| m + 1).max(*n_classes);
                let mut groups = vec![Vec::new(); n_groups];
                for (i, &label) in labels.iter().enumerate() {
                    groups[label].push(i);
                }
                for mut group in groups {
                    group.shuffle(&mut rng);
                    let k = n_valid_of(group.len());
                    valid.extend_from_slice(&group[..k]);
                    train.extend_from_slice(&group[k..]);
                }
                // Without this the parts would be sorted by class, which hurts anyone who batches
                // them in order.
                train.shuffle(&mut rng);
                valid.shuffle(&mut rng);
            }
            _ => {
                let mut all: Vec<usize> = (0..self.len()).collect();
                all.shuffle(&mut rng);
                let k = n_valid_of(all.len());
                valid.extend_from_slice(&all[..k]);
                train.extend_from_slice(&all[k..]);
            }
        }
        (self.select(&train), self.select(&valid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_classes(n0: usize, n1: usize) -> Dataset {
        let n = n0 + n1;
        let x = Matrix::new(n, 1, (0..n).map(|i| i as f32).collect());
        let labels = (0..n).map(|i| usize::from(i >= n0)).collect();
        Dataset::new(x, Targets::Classes { labels, n_classes: 2 })
    }

    fn counts(d: &Dataset) -> [usize; 2] {
        let Targets::Classes { labels, .. } = &d.y else { panic!("classes expected") };
        let mut c = [0; 2];
        for &l in labels {
            c[l] += 1;
        }
        c
    }

    #[test]
    fn stratified_split_keeps_balance_and_partitions_rows() {
        let d = two_classes(100, 100);
        let (train, valid) = d.split(0.2, 7, true);
        assert_eq!(counts(&valid), [20, 20]);
        assert_eq!(counts(&train), [80, 80]);
        let mut seen: Vec<usize> = train.x.data.iter().chain(&valid.x.data).map(|&v| v as usize).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..200).collect::<Vec<_>>(), "every row exactly once");
        // Features still travel with their labels: row i has label i >= 100.
        for part in [&train, &valid] {
            let Targets::Classes { labels, .. } = &part.y else { unreachable!() };
            for (r, &l) in labels.iter().enumerate() {
                assert_eq!(l, usize::from(part.x.row(r)[0] >= 100.0));
            }
        }
    }

    #[test]
    fn stratified_split_keeps_proportions_of_unbalanced_classes() {
        let (train, valid) = two_classes(150, 50).split(0.2, 1, true);
        assert_eq!(counts(&valid), [30, 10]);
        assert_eq!(counts(&train), [120, 40]);
    }

    #[test]
    fn split_is_deterministic_and_shuffled() {
        let d = two_classes(50, 50);
        assert_eq!(d.split(0.3, 5, false), d.split(0.3, 5, false));
        assert_ne!(d.split(0.3, 5, false).0, d.split(0.3, 6, false).0);
        let (train, valid) = d.split(0.3, 5, false);
        assert_eq!((train.len(), valid.len()), (70, 30));
        let order: Vec<f32> = train.x.data.clone();
        assert!(order.windows(2).any(|w| w[0] > w[1]), "train part should be shuffled");
    }

    #[test]
    fn split_of_values_and_edge_fractions() {
        let d = Dataset::new(Matrix::new(10, 1, vec![0.0; 10]), Targets::Values(Matrix::zeros(10, 1)));
        let (t, v) = d.split(0.25, 0, true);
        assert_eq!((t.len(), v.len()), (7, 3)); // round(2.5) = 3
        assert_eq!(d.split(0.0, 0, true).1.len(), 0);
        assert_eq!(d.split(1.0, 0, true).0.len(), 0);
    }

    #[test]
    fn head_and_rows_clamp() {
        let d = two_classes(3, 3);
        assert_eq!(d.head(2).x.data, vec![0.0, 1.0]);
        assert_eq!(d.rows(4..100).x.data, vec![4.0, 5.0]);
        assert_eq!(d.rows(10..20).len(), 0);
        assert_eq!(d.head(100).len(), 6);
    }
}
