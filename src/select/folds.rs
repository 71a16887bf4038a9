//! Which rows train and which score each fold: k-fold (stratified by class, repeated) and a
//! single held-out split, all drawn from one seed.

use crate::data::Targets;
use crate::error::{Error, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How the rows are resampled into (train, test) pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Resampling {
    /// k-fold cross-validation, `repeats` times with fresh shuffles: every row is scored exactly
    /// once per repeat.
    KFold {
        /// Folds per repeat (at least 2).
        folds: usize,
        /// Repeats (at least 1).
        repeats: usize,
        /// For class targets: deal each class over the folds separately, so that every fold
        /// keeps the class proportions (within one row), as scikit-learn's `StratifiedKFold`.
        stratify: bool,
    },
    /// One split: a `fraction` of the rows scores, the rest trains (as `Dataset::split`).
    Holdout {
        /// The scored share, in (0, 1).
        fraction: f32,
        /// Keep the class proportions in both parts.
        stratify: bool,
    },
}

/// One (train, test) pair of row indices, both sorted ascending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    /// 0-based repeat.
    pub repeat: usize,
    /// 0-based fold within the repeat.
    pub index: usize,
    /// The rows trained on.
    pub train: Vec<usize>,
    /// The rows scored.
    pub test: Vec<usize>,
}

impl Resampling {
    /// Checks the settings against the number of rows (and, stratified, the smallest class).
    pub fn validate(&self, rows: usize) -> Result<()> {
        match *self {
            Resampling::KFold { folds, repeats, .. } => {
                if folds < 2 {
                    return Err(Error::config("folds (--folds)", format!("must be at least 2, got {folds}")));
                }
                if repeats == 0 {
                    return Err(Error::config("repeats (--repeats)", "must be at least 1"));
                }
                if folds > rows {
                    return Err(Error::Data(format!(
                        "{folds} folds need at least {folds} rows but the data has {rows}; use fewer --folds"
                    )));
                }
            }
            Resampling::Holdout { fraction, .. } => {
                if !(fraction > 0.0 && fraction < 1.0) {
                    return Err(Error::config("holdout fraction", format!("must be in (0, 1), got {fraction}")));
                }
                let scored = (rows as f64 * f64::from(fraction)).round() as usize;
                if scored == 0 || scored == rows {
                    return Err(Error::Data(format!(
                        "a {fraction} holdout of {rows} rows leaves one part empty; use more rows or another fraction"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every fold, in (repeat, index) order, for targets `y`, drawn from `seed`.
    ///
    /// Stratified k-fold shuffles each class, lays the classes end to end and deals that
    /// sequence round-robin over the folds: each class then lands in every fold ⌊n_c/k⌋ or
    /// ⌈n_c/k⌉ times, and fold sizes differ by at most one row.
    pub fn folds(&self, y: &Targets, seed: u64) -> Result<Vec<Fold>> {
        let n = y.len();
        self.validate(n)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        match *self {
            Resampling::KFold { folds: k, repeats, stratify } => {
                let mut out = Vec::with_capacity(k * repeats);
                for repeat in 0..repeats {
                    let order = shuffled_order(y, stratify, &mut rng);
                    let mut fold_of = vec![0usize; n];
                    for (pos, &row) in order.iter().enumerate() {
                        fold_of[row] = pos % k;
                    }
                    for index in 0..k {
                        let (test, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|&r| fold_of[r] == index);
                        out.push(Fold { repeat, index, train, test });
                    }
                }
                Ok(out)
            }
            Resampling::Holdout { fraction, stratify } => {
                // The same rows as `Dataset::split(fraction, seed, stratify)` holds out.
                let idx = crate::data::Dataset::new(
                    crate::tensor::Matrix::new(n, 1, (0..n).map(|i| i as f32).collect()),
                    y.clone(),
                );
                let (train, test) = idx.split(fraction, seed, stratify);
                let rows = |d: &crate::data::Dataset| {
                    let mut v: Vec<usize> = d.x.data.iter().map(|&r| r as usize).collect();
                    v.sort_unstable();
                    v
                };
                Ok(vec![Fold { repeat: 0, index: 0, train: rows(&train), test: rows(&test) }])
            }
        }
    }
}

/// A shuffle of the rows; stratified, each class's rows shuffled and laid end to end.
fn shuffled_order(y: &Targets, stratify: bool, rng: &mut ChaCha8Rng) -> Vec<usize> {
    match y {
        Targets::Classes { labels, n_classes } if stratify => {
            let groups = labels.iter().max().map_or(0, |&m| m + 1).max(*n_classes);
            let mut by_class = vec![Vec::new(); groups];
            for (i, &l) in labels.iter().enumerate() {
                by_class[l].push(i);
            }
            let mut order = Vec::with_capacity(labels.len());
            for mut g in by_class {
                g.shuffle(rng);
                order.extend(g);
            }
            order
        }
        _ => {
            let mut order: Vec<usize> = (0..y.len()).collect();
            order.shuffle(rng);
            order
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(counts: &[usize]) -> Targets {
        let labels: Vec<usize> = counts.iter().enumerate().flat_map(|(c, &n)| std::iter::repeat_n(c, n)).collect();
        Targets::Classes { labels, n_classes: counts.len() }
    }

    #[test]
    fn stratified_folds_partition_rows_and_keep_proportions() {
        let y = classes(&[37, 11, 52]);
        let Targets::Classes { labels, .. } = &y else { unreachable!() };
        let folds = Resampling::KFold { folds: 5, repeats: 2, stratify: true }.folds(&y, 3).unwrap();
        assert_eq!(folds.len(), 10);
        for repeat in 0..2 {
            let mut seen = vec![0; 100];
            for f in folds.iter().filter(|f| f.repeat == repeat) {
                assert_eq!(f.train.len() + f.test.len(), 100);
                assert!(f.test.iter().all(|r| f.train.binary_search(r).is_err()), "disjoint");
                for &r in &f.test {
                    seen[r] += 1;
                }
                assert!((19..=21).contains(&f.test.len()));
                for (c, n) in [(0, 37.0), (1, 11.0), (2, 52.0)] {
                    let got = f.test.iter().filter(|&&r| labels[r] == c).count() as f64;
                    assert!((got - n / 5.0).abs() < 1.0, "class {c}: {got} of {n}");
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "every row scored once per repeat");
        }
        assert_ne!(folds[0].test, folds[5].test, "repeats reshuffle");
        assert_eq!(folds, Resampling::KFold { folds: 5, repeats: 2, stratify: true }.folds(&y, 3).unwrap());
    }

    #[test]
    fn plain_folds_and_holdout() {
        let y = Targets::Values(crate::tensor::Matrix::zeros(10, 1));
        let folds = Resampling::KFold { folds: 3, repeats: 1, stratify: true }.folds(&y, 0).unwrap();
        let sizes: Vec<usize> = folds.iter().map(|f| f.test.len()).collect();
        assert_eq!(sizes, [4, 3, 3]);
        let h = Resampling::Holdout { fraction: 0.3, stratify: false }.folds(&y, 0).unwrap();
        assert_eq!((h[0].train.len(), h[0].test.len()), (7, 3));
        assert!(Resampling::KFold { folds: 11, repeats: 1, stratify: false }.folds(&y, 0).is_err());
        assert!(Resampling::KFold { folds: 1, repeats: 1, stratify: false }.validate(10).is_err());
    }
}
