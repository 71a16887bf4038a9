//! Built-in synthetic datasets (spirals, circles, blobs, XOR, a noisy line, 1-D functions) and the `name?key=value` specs that name them.
//!
//! Every generator takes an explicit seed and draws from `ChaCha8Rng`, so a spec always gives the
//! same rows. Rows come grouped by class (class 0 first); use [`Dataset::split`] or shuffled batches.
//!
//! | Spec name | Keys (default) | Targets |
//! |---|---|---|
//! | `spirals` | `n` (1000), `cycles` (1.2), `sd` (0.03), `seed` (0) | 2 classes |
//! | `circles` | `n` (100), `noise` (0.15), `factor` (0.3), `seed` (0) | 2 classes |
//! | `blobs` | `n` per class (100), `sd` (1.0), `seed` (0) | 3 classes, centres (−2,−2), (0,2), (2,−2) |
//! | `xor` | `targets` (`values` or `classes`; `values`) | 4 rows |
//! | `linear` | `n` (100), `seed` (0) | 1 value column |
//! | `function` | `f` (`sin`; also `cos`, `abs`, `square`, `step`, `sinc`, `gauss`), `n` (200), `noise` (0.1), `seed` (0) | 1 value column: `f(x)` plus noise, `x ~ U[−3, 3]` |

use super::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::tensor::Matrix;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::f64::consts::PI;

/// The centres of the default `blobs` workload.
pub const BLOB_CENTERS: [[f32; 2]; 3] = [[-2.0, -2.0], [0.0, 2.0], [2.0, -2.0]];

/// The most rows a spec may ask for: more is almost surely a typo, and would exhaust memory.
const MAX_ROWS: usize = 10_000_000;

/// A standard normal sampler scaled by `sd`; `sd` must be finite and non-negative.
fn normal(sd: f64) -> Normal<f64> {
    Normal::new(0.0, sd).unwrap_or_else(|e| panic!("synth: noise sd must be finite and >= 0, got {sd}: {e}"))
}

/// Two interleaved spirals, in the manner of R's `mlbench.spirals(n, cycles, sd)`.
///
/// Class 0 has `n - n/2` points at evenly spaced `w = i·cycles/(n - n/2)` along the curve
/// `r = (2w + 1)/3`, angle `2πw`; class 1 has `n/2` points on the point-reflected curve `(−x, −y)`.
/// Unlike mlbench's isotropic noise, each point moves by `N(0, sd)` along the curve's unit normal,
/// so `sd` is the distance from the curve and noise never slides a point along its own arm.
///
/// # Panics
/// If `sd` is negative or not finite (specs are checked by [`builtin`]).
pub fn spirals(n: usize, cycles: f32, sd: f32, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise = normal(f64::from(sd));
    let (n0, n1) = (n - n / 2, n / 2);
    let mut data = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for (class, count, sign) in [(0, n0, 1.0), (1, n1, -1.0)] {
        for i in 0..count {
            let w = i as f64 * f64::from(cycles) / n0 as f64;
            let (r, theta) = ((2.0 * w + 1.0) / 3.0, 2.0 * PI * w);
            let (cos, sin) = (theta.cos(), theta.sin());
            // d/dw of (r cos θ, r sin θ), with dr/dw = 2/3 and dθ/dw = 2π.
            let (tx, ty) = (2.0 / 3.0 * cos - r * 2.0 * PI * sin, 2.0 / 3.0 * sin + r * 2.0 * PI * cos);
            let len = tx.hypot(ty);
            let (nx, ny) = (-ty / len, tx / len);
            let e = noise.sample(&mut rng);
            data.push((sign * (r * cos) + e * nx) as f32);
            data.push((sign * (r * sin) + e * ny) as f32);
            labels.push(class);
        }
    }
    Dataset::new(Matrix::new(n, 2, data), Targets::Classes { labels, n_classes: 2 })
}

/// Two concentric circles, as scikit-learn's `make_circles(n, noise=noise, factor=factor)`.
///
/// Class 0 has `n/2` points evenly spaced on the unit circle, class 1 the other `n - n/2` on the
/// circle of radius `factor`; every coordinate then gets `N(0, noise)` added.
///
/// # Panics
/// If `noise` is negative or not finite (specs are checked by [`builtin`]).
pub fn circles(n: usize, noise: f32, factor: f32, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise = normal(f64::from(noise));
    let (n_out, n_in) = (n / 2, n - n / 2);
    let mut data = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for (class, count, radius) in [(0, n_out, 1.0), (1, n_in, f64::from(factor))] {
        for i in 0..count {
            let theta = 2.0 * PI * i as f64 / count as f64;
            data.push((radius * theta.cos() + noise.sample(&mut rng)) as f32);
            data.push((radius * theta.sin() + noise.sample(&mut rng)) as f32);
            labels.push(class);
        }
    }
    Dataset::new(Matrix::new(n, 2, data), Targets::Classes { labels, n_classes: 2 })
}

/// Gaussian clusters: `n_per_class` points around each of `centers`, `N(0, sd)` per coordinate;
/// class `k` is the cluster around `centers[k]`. The seed workload is
/// `blobs(100, &BLOB_CENTERS, 1.0, seed)`.
///
/// # Panics
/// If `sd` is negative or not finite (specs are checked by [`builtin`]).
pub fn blobs(n_per_class: usize, centers: &[[f32; 2]], sd: f32, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise = normal(f64::from(sd));
    let n = n_per_class * centers.len();
    let mut data = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for (class, c) in centers.iter().enumerate() {
        for _ in 0..n_per_class {
            data.push((f64::from(c[0]) + noise.sample(&mut rng)) as f32);
            data.push((f64::from(c[1]) + noise.sample(&mut rng)) as f32);
            labels.push(class);
        }
    }
    Dataset::new(Matrix::new(n, 2, data), Targets::Classes { labels, n_classes: centers.len() })
}

/// The four XOR points `(0,0) (0,1) (1,0) (1,1)` with one target column `0 1 1 0`, as
/// [`Targets::Values`]: the classic sigmoid-output, MSE-loss test. For a softmax classifier use
/// [`xor_classes`].
pub fn xor() -> Dataset {
    let x = Matrix::new(4, 2, vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    Dataset::new(x, Targets::Values(Matrix::new(4, 1, vec![0.0, 1.0, 1.0, 0.0])))
}

/// [`xor`] with the targets as two classes (`0 1 1 0`).
pub fn xor_classes() -> Dataset {
    let x = xor().x;
    Dataset::new(x, Targets::Classes { labels: vec![0, 1, 1, 0], n_classes: 2 })
}

/// The housing line: floor area `x ~ U[30, 150]`, price `y = 1837.5·x + 14376.52 + U[0, 10000]`,
/// one value column. The noise is one-sided, so a least-squares fit finds the slope 1837.5 and an
/// intercept near 14376.52 + 5000.
pub fn linear(n: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let area: f64 = rng.random_range(30.0..=150.0);
        let noise: f64 = rng.random_range(0.0..=10_000.0);
        x.push(area as f32);
        y.push((1837.5 * area + 14376.52 + noise) as f32);
    }
    Dataset::new(Matrix::new(n, 1, x), Targets::Values(Matrix::new(n, 1, y)))
}

/// The 1-D functions of the `function` dataset: the universal approximation theorem's demonstration.
pub const FUNCTIONS: [&str; 7] = ["sin", "cos", "abs", "square", "step", "sinc", "gauss"];

/// `n` points `x ~ U[−3, 3]` (sorted) with `y = f(x) + N(0, noise)`, `f` one of [`FUNCTIONS`];
/// `None` for another name.
///
/// # Panics
/// If `noise` is negative or not finite (specs are checked by [`builtin`]).
pub fn function(f: &str, n: usize, noise: f32, seed: u64) -> Option<Dataset> {
    let g: fn(f64) -> f64 = match f {
        "sin" => f64::sin,
        "cos" => f64::cos,
        "abs" => f64::abs,
        "square" => |x| x * x / 3.0,
        "step" => |x| if x < 0.0 { 0.0 } else { 1.0 },
        "sinc" => |x| if x == 0.0 { 1.0 } else { (PI * x).sin() / (PI * x) },
        "gauss" => |x| (-x * x).exp(),
        _ => return None,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise = normal(f64::from(noise));
    let mut x: Vec<f64> = (0..n).map(|_| rng.random_range(-3.0..=3.0)).collect();
    x.sort_by(f64::total_cmp);
    let y: Vec<f32> = x.iter().map(|&v| (g(v) + noise.sample(&mut rng)) as f32).collect();
    Some(Dataset::new(Matrix::new(n, 1, x.iter().map(|&v| v as f32).collect()), Targets::Values(Matrix::new(n, 1, y))))
}

/// Builds a built-in dataset from a spec such as `spirals?n=1000&cycles=1.2&sd=0.03&seed=1`.
///
/// A leading `builtin:` is stripped. Names, keys and defaults are in the [module table](self);
/// an unknown name or key, a repeated key, or a value that does not parse or is out of range is an
/// [`Error::Config`] naming it and listing what is allowed.
pub fn builtin(spec: &str) -> Result<Dataset> {
    let spec = spec.trim();
    let spec = spec.strip_prefix("builtin:").unwrap_or(spec);
    let (name, query) = spec.split_once('?').unwrap_or((spec, ""));
    let what = format!("builtin dataset `{spec}`");
    let allowed: &[&str] = match name {
        "spirals" => &["n", "cycles", "sd", "seed"],
        "circles" => &["n", "noise", "factor", "seed"],
        "blobs" => &["n", "sd", "seed"],
        "xor" => &["targets"],
        "linear" => &["n", "seed"],
        "function" => &["f", "n", "noise", "seed"],
        _ => {
            return Err(Error::config(
                what,
                format!("unknown name `{name}`; expected one of spirals, circles, blobs, xor, linear, function"),
            ));
        }
    };
    let mut args = Args { what, name, allowed, pairs: Vec::new() };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(args.err(format!("`{pair}` is not key=value; write e.g. `{name}?{}=…`", allowed[0])));
        };
        if !allowed.contains(&key) {
            return Err(args.err(format!("unknown key `{key}`; `{name}` accepts {}", allowed.join(", "))));
        }
        if args.pairs.iter().any(|(k, _)| *k == key) {
            return Err(args.err(format!("key `{key}` is given twice; keep one")));
        }
        args.pairs.push((key, value));
    }
    let seed = args.get("seed", 0u64, "a whole number")?;
    Ok(match name {
        "spirals" => {
            let n = args.rows(1000, 2)?;
            let cycles = args.float("cycles", 1.2, |v| v > 0.0, "a number > 0")?;
            let sd = args.float("sd", 0.03, |v| v >= 0.0, "a number >= 0")?;
            spirals(n, cycles, sd, seed)
        }
        "circles" => {
            let n = args.rows(100, 2)?;
            let noise = args.float("noise", 0.15, |v| v >= 0.0, "a number >= 0")?;
            let factor = args.float("factor", 0.3, |v| (0.0..1.0).contains(&v), "a number in [0, 1)")?;
            circles(n, noise, factor, seed)
        }
        "blobs" => {
            let n = args.rows(100, 1)?;
            let sd = args.float("sd", 1.0, |v| v >= 0.0, "a number >= 0")?;
            blobs(n, &BLOB_CENTERS, sd, seed)
        }
        "xor" => match args.value("targets").unwrap_or("values") {
            "values" => xor(),
            "classes" => xor_classes(),
            other => {
                return Err(args.err(format!("targets=`{other}` is not allowed; expected `values` or `classes`")));
            }
        },
        "function" => {
            let n = args.rows(200, 1)?;
            let noise = args.float("noise", 0.1, |v| v >= 0.0, "a number >= 0")?;
            let f = args.value("f").unwrap_or("sin");
            function(f, n, noise, seed).ok_or_else(|| {
                args.err(format!("f=`{f}` is not a function here; expected one of {}", FUNCTIONS.join(", ")))
            })?
        }
        _ => linear(args.rows(100, 1)?, seed),
    })
}

/// The parsed `key=value` pairs of one spec, with the context its error messages need.
struct Args<'a> {
    what: String,
    name: &'a str,
    allowed: &'a [&'a str],
    pairs: Vec<(&'a str, &'a str)>,
}

impl Args<'_> {
    fn err(&self, msg: String) -> Error {
        Error::config(self.what.clone(), msg)
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn get<T: std::str::FromStr>(&self, key: &str, default: T, expected: &str) -> Result<T> {
        if !self.allowed.contains(&key) {
            return Ok(default);
        }
        match self.value(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| self.err(format!("{key}=`{v}` is not {expected}; write e.g. `{}?{key}=…`", self.name))),
        }
    }

    fn rows(&self, default: usize, min: usize) -> Result<usize> {
        let n = self.get("n", default, "a whole number")?;
        if !(min..=MAX_ROWS).contains(&n) {
            return Err(self.err(format!("n={n} is out of range; expected {min} to {MAX_ROWS} rows")));
        }
        Ok(n)
    }

    fn float(&self, key: &str, default: f32, ok: impl Fn(f32) -> bool, expected: &str) -> Result<f32> {
        let v = self.get(key, default, expected)?;
        if !v.is_finite() || !ok(v) {
            return Err(self.err(format!("{key}={v} is out of range; expected {expected}")));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(d: &Dataset) -> &[usize] {
        match &d.y {
            Targets::Classes { labels, .. } => labels,
            Targets::Values(_) => panic!("classes expected"),
        }
    }

    #[test]
    fn spirals_are_balanced_point_reflections() {
        let d = spirals(1000, 1.2, 0.0, 3);
        assert_eq!(d.x.rows, 1000);
        let l = labels(&d);
        assert_eq!(l.iter().filter(|&&c| c == 0).count(), 500);
        for i in 0..500 {
            let (a, b) = (d.x.row(i), d.x.row(500 + i));
            assert_eq!((l[i], l[500 + i]), (0, 1));
            assert_eq!([a[0], a[1]], [-b[0], -b[1]], "row {i}");
        }
        // The curve starts at radius 1/3 and ends just short of (2·1.2 + 1)/3.
        let r = |p: &[f32]| p[0].hypot(p[1]);
        assert!((r(d.x.row(0)) - 1.0 / 3.0).abs() < 1e-6);
        assert!(r(d.x.row(499)) < (2.0 * 1.2 + 1.0) / 3.0);
    }

    #[test]
    fn spiral_noise_is_normal_to_the_curve_and_seeded() {
        let clean = spirals(200, 1.0, 0.0, 0);
        let noisy = spirals(200, 1.0, 0.05, 9);
        assert_eq!(noisy, spirals(200, 1.0, 0.05, 9));
        assert_ne!(noisy, spirals(200, 1.0, 0.05, 10));
        let mut sq = 0.0;
        for i in 0..200 {
            let (a, b) = (clean.x.row(i), noisy.x.row(i));
            sq += f64::from((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2));
        }
        let rms = (sq / 200.0).sqrt();
        assert!((0.035..0.065).contains(&rms), "rms displacement {rms} should be about sd = 0.05");
    }

    #[test]
    fn circles_have_the_two_radii() {
        let d = circles(100, 0.0, 0.3, 1);
        let l = labels(&d);
        for (r, &class) in l.iter().enumerate() {
            let p = d.x.row(r);
            let expected = if class == 0 { 1.0 } else { 0.3 };
            assert!((p[0].hypot(p[1]) - expected).abs() < 1e-5);
        }
        assert_eq!(l.iter().filter(|&&c| c == 1).count(), 50);
        let noisy = circles(2000, 0.1, 0.5, 2);
        let mean_r: f32 = (0..1000).map(|r| noisy.x.row(r)[0].hypot(noisy.x.row(r)[1])).sum::<f32>() / 1000.0;
        assert!((mean_r - 1.0).abs() < 0.02, "outer radius {mean_r}");
    }

    #[test]
    fn blobs_gather_around_their_centres() {
        let d = blobs(100, &BLOB_CENTERS, 1.0, 4);
        assert_eq!(d.x.rows, 300);
        assert_eq!(d.y.n_classes(), Some(3));
        for (k, c) in BLOB_CENTERS.iter().enumerate() {
            let rows = k * 100..(k + 1) * 100;
            assert!(rows.clone().all(|r| labels(&d)[r] == k));
            let mx: f32 = rows.clone().map(|r| d.x.row(r)[0]).sum::<f32>() / 100.0;
            let my: f32 = rows.map(|r| d.x.row(r)[1]).sum::<f32>() / 100.0;
            assert!((mx - c[0]).abs() < 0.3 && (my - c[1]).abs() < 0.3, "centre {k}: ({mx}, {my})");
        }
    }

    #[test]
    fn xor_in_both_forms() {
        let v = xor();
        assert_eq!(v.y, Targets::Values(Matrix::new(4, 1, vec![0.0, 1.0, 1.0, 0.0])));
        assert_eq!(labels(&xor_classes()), &[0, 1, 1, 0]);
        assert_eq!(xor_classes().x, v.x);
    }

    #[test]
    fn linear_slope_by_least_squares() {
        let d = linear(100, 0);
        let Targets::Values(y) = &d.y else { panic!() };
        let n = d.len() as f64;
        let (xs, ys): (Vec<f64>, Vec<f64>) =
            d.x.data.iter().zip(&y.data).map(|(&a, &b)| (f64::from(a), f64::from(b))).unzip();
        assert!(xs.iter().all(|x| (30.0..=150.0).contains(x)));
        let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
        let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        let slope = sxy / sxx;
        assert!((slope / 1837.5 - 1.0).abs() < 0.05, "slope {slope}");
    }

    #[test]
    fn builtin_parses_specs_and_defaults() {
        assert_eq!(builtin("spirals?n=1000&cycles=1.2&sd=0.03&seed=1").unwrap(), spirals(1000, 1.2, 0.03, 1));
        assert_eq!(builtin("builtin:spirals").unwrap(), spirals(1000, 1.2, 0.03, 0));
        assert_eq!(builtin("circles").unwrap(), circles(100, 0.15, 0.3, 0));
        assert_eq!(builtin("blobs?seed=2").unwrap(), blobs(100, &BLOB_CENTERS, 1.0, 2));
        assert_eq!(builtin("linear?n=10").unwrap(), linear(10, 0));
        assert_eq!(builtin("xor").unwrap(), xor());
        assert_eq!(builtin("xor?targets=classes").unwrap(), xor_classes());
    }

    #[test]
    fn builtin_errors_name_the_problem() {
        let msg = |spec: &str| builtin(spec).unwrap_err().to_string();
        let m = msg("spiral?n=3");
        assert!(m.contains("unknown name `spiral`") && m.contains("spirals, circles, blobs, xor, linear"), "{m}");
        let m = msg("spirals?noise=0.1");
        assert!(m.contains("unknown key `noise`") && m.contains("n, cycles, sd, seed"), "{m}");
        let m = msg("circles?n=abc");
        assert!(m.contains("n=`abc` is not a whole number"), "{m}");
        let m = msg("circles?factor=1.5");
        assert!(m.contains("factor=1.5 is out of range") && m.contains("[0, 1)"), "{m}");
        let m = msg("spirals?sd=-1");
        assert!(m.contains("sd=-1 is out of range"), "{m}");
        let m = msg("spirals?sd=NaN");
        assert!(m.contains("sd=NaN is out of range"), "{m}");
        let m = msg("spirals?n=1");
        assert!(m.contains("n=1 is out of range"), "{m}");
        let m = msg("linear?n=5&n=6");
        assert!(m.contains("`n` is given twice"), "{m}");
        let m = msg("linear?n");
        assert!(m.contains("`n` is not key=value"), "{m}");
        let m = msg("xor?targets=onehot");
        assert!(m.contains("`values` or `classes`"), "{m}");
        assert!(m.starts_with("invalid builtin dataset `xor?targets=onehot`"), "{m}");
    }
}
