//! The search half of model selection: a space of named settings (lists and numeric ranges),
//! its full grid or seeded random draws, the rungs of successive halving, and ranking by score.
//!
//! Settings are named strings here (the CLI's flag names and values): what a name means is the
//! caller's business, so any setting can be searched without this module knowing it.

use crate::error::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The values one setting may take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "spec")]
pub enum Values {
    /// These values (a grid axis; random search picks one uniformly).
    List(Vec<String>),
    /// A number in `[lo, hi]`: uniform, or log-uniform with `log`; rounded to an integer with
    /// `integer`. Only random search draws from it.
    Range {
        /// The low end.
        lo: f64,
        /// The high end.
        hi: f64,
        /// Draw the logarithm uniformly (for learning rates, penalties, widths).
        log: bool,
        /// Round to the nearest integer.
        integer: bool,
    },
}

impl Values {
    /// Checks the values: a non-empty list, or a finite range with `lo ≤ hi` (positive when log).
    pub fn validate(&self, name: &str) -> Result<()> {
        match *self {
            Values::List(ref v) if v.is_empty() => Err(Error::config(name.to_string(), "has no values")),
            Values::List(_) => Ok(()),
            Values::Range { lo, hi, log, .. } => {
                if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                    return Err(Error::config(
                        name.to_string(),
                        format!("range {lo}..{hi} must be finite, low to high"),
                    ));
                }
                if log && lo <= 0.0 {
                    return Err(Error::config(
                        name.to_string(),
                        format!("a log range must be above 0, got {lo}..{hi}"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// One draw.
    fn draw(&self, rng: &mut ChaCha8Rng) -> String {
        match *self {
            Values::List(ref v) => v[rng.random_range(0..v.len())].clone(),
            Values::Range { lo, hi, log, integer } => {
                let u: f64 = rng.random_range(0.0..=1.0);
                let x = if log { (lo.ln() + u * (hi.ln() - lo.ln())).exp() } else { lo + u * (hi - lo) };
                if integer {
                    format!("{}", x.round().clamp(lo.ceil(), hi.floor()) as i64)
                } else {
                    // Three significant digits: a value the user can read and type back.
                    let s = format!("{x:.2e}");
                    let v: f64 = s.parse().unwrap_or(x);
                    format!("{v}")
                }
            }
        }
    }
}

/// One trial: a value for each setting, in the space's order.
pub type Trial = Vec<(String, String)>;

/// Every combination of the list values, the first setting varying slowest (as nested loops
/// written in the space's order). Ranges have no grid.
pub fn grid(space: &[(String, Values)]) -> Result<Vec<Trial>> {
    let mut trials: Vec<Trial> = vec![Vec::new()];
    for (name, values) in space {
        values.validate(name)?;
        let Values::List(list) = values else {
            return Err(Error::config(
                name.clone(),
                "a range can only be drawn from; give a list of values for a grid, or search at random",
            ));
        };
        trials = trials
            .into_iter()
            .flat_map(|t| {
                list.iter().map(move |v| {
                    let mut t = t.clone();
                    t.push((name.clone(), v.clone()));
                    t
                })
            })
            .collect();
    }
    Ok(trials)
}

/// `n` random trials drawn from `seed`: each setting independently, lists uniformly.
pub fn sample(space: &[(String, Values)], n: usize, seed: u64) -> Result<Vec<Trial>> {
    for (name, values) in space {
        values.validate(name)?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Ok((0..n).map(|_| space.iter().map(|(name, v)| (name.clone(), v.draw(&mut rng))).collect()).collect())
}

/// One round of successive halving: how many trials train, and for how many epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rung {
    /// Trials trained in this rung (the best of the previous rung).
    pub trials: usize,
    /// Epochs each trains for (from fresh weights).
    pub epochs: usize,
}

/// The rungs of successive halving (Jamieson & Talwalkar 2016; scikit-learn's
/// `HalvingGridSearchCV` with epochs as the resource): `n` trials start with few epochs, the best
/// `1/eta` go on to `eta` times as many, until the last rung trains for `max_epochs`. There are
/// as many rungs as keep the first at `min_epochs` or more and at least one trial in each.
pub fn halving_rungs(n: usize, max_epochs: usize, eta: usize, min_epochs: usize) -> Result<Vec<Rung>> {
    if eta < 2 {
        return Err(Error::config("halving factor (--eta)", format!("must be at least 2, got {eta}")));
    }
    let min_epochs = min_epochs.max(1);
    let mut rungs = 1;
    // Grow while another rung still starts with at least `min_epochs` epochs and `eta` trials.
    while max_epochs / eta.pow(rungs as u32) >= min_epochs && n.div_ceil(eta.pow(rungs as u32 - 1)) >= eta {
        rungs += 1;
    }
    let mut out = Vec::with_capacity(rungs);
    let mut trials = n;
    for r in 0..rungs {
        let epochs = if r + 1 == rungs { max_epochs } else { (max_epochs / eta.pow((rungs - 1 - r) as u32)).max(1) };
        out.push(Rung { trials, epochs });
        trials = trials.div_ceil(eta);
    }
    Ok(out)
}

/// The indices of `scores` from best to worst (NaN last, ties in index order).
pub fn rank(scores: &[f64], higher_is_better: bool) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let key = |s: f64| {
        if s.is_nan() {
            f64::INFINITY
        } else if higher_is_better {
            -s
        } else {
            s
        }
    };
    idx.sort_by(|&a, &b| key(scores[a]).total_cmp(&key(scores[b])));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Values {
        Values::List(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn grid_is_every_combination_in_order() {
        let g = grid(&[("a".into(), list(&["1", "2"])), ("b".into(), list(&["x;y", "z"]))]).unwrap();
        let flat: Vec<String> = g.iter().map(|t| format!("{}{}", t[0].1, t[1].1)).collect();
        assert_eq!(flat, ["1x;y", "1z", "2x;y", "2z"]);
        assert!(grid(&[("lr".into(), Values::Range { lo: 0.1, hi: 1.0, log: false, integer: false })]).is_err());
    }

    #[test]
    fn random_draws_stay_in_range_and_repeat_with_the_seed() {
        let space = vec![
            ("lr".to_string(), Values::Range { lo: 1e-4, hi: 1e-1, log: true, integer: false }),
            ("n".to_string(), Values::Range { lo: 2.0, hi: 9.0, log: false, integer: true }),
        ];
        let t = sample(&space, 200, 5).unwrap();
        assert_eq!(t, sample(&space, 200, 5).unwrap());
        let lrs: Vec<f64> = t.iter().map(|t| t[0].1.parse().unwrap()).collect();
        assert!(lrs.iter().all(|&v| (1e-4..=1e-1).contains(&v)));
        // Log-uniform: about a third of the draws fall in each decade.
        let low = lrs.iter().filter(|&&v| v < 1e-3).count();
        assert!((40..=95).contains(&low), "{low}");
        assert!(t.iter().all(|t| (2..=9).contains(&t[1].1.parse::<i64>().unwrap())));
        assert!(Values::Range { lo: 0.0, hi: 1.0, log: true, integer: false }.validate("lr").is_err());
    }

    #[test]
    fn halving_rungs_shrink_trials_and_grow_epochs() {
        let r = halving_rungs(9, 90, 3, 1).unwrap();
        assert_eq!(r, [Rung { trials: 9, epochs: 10 }, Rung { trials: 3, epochs: 30 }, Rung { trials: 1, epochs: 90 }]);
        assert_eq!(halving_rungs(2, 90, 3, 1).unwrap(), [Rung { trials: 2, epochs: 90 }]);
        assert_eq!(halving_rungs(27, 20, 3, 5).unwrap().len(), 2);
        assert!(halving_rungs(4, 10, 1, 1).is_err());
    }

    #[test]
    fn rank_puts_nan_last() {
        assert_eq!(rank(&[0.5, f64::NAN, 0.9, 0.5], true), [2, 0, 3, 1]);
        assert_eq!(rank(&[0.5, f64::NAN, 0.9, 0.5], false), [0, 3, 2, 1]);
    }
}
