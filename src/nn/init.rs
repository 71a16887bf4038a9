//! Weight initializers: Glorot/Xavier, He and LeCun, drawn from one seeded ChaCha8 stream.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// How a layer's weights are drawn; biases start at zero.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Init {
    /// U(−l, l) with l = √(6 / (fan_in + fan_out)): Keras's default.
    #[default]
    GlorotUniform,
    /// N(0, 2 / (fan_in + fan_out)).
    GlorotNormal,
    /// U(−l, l) with l = √(6 / fan_in).
    HeUniform,
    /// N(0, 2 / fan_in): suits ReLU layers.
    HeNormal,
    /// N(0, 1 / fan_in).
    LecunNormal,
    /// All zeros (tests; a network of zeros cannot break symmetry).
    Zeros,
    /// U(−limit, limit) whatever the fan: MXNet's `mx.init.uniform(scale)` (spec `uniform(0.01)`,
    /// the default of the R package's `mx.model.FeedForward.create`, which the seed text trains with).
    Uniform {
        /// The half-width of the range.
        limit: f32,
    },
}

impl Init {
    /// `fan_in × fan_out` weights, row-major `(fan_in, fan_out)`, drawn from `rng`.
    pub fn sample(self, fan_in: usize, fan_out: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let n = fan_in * fan_out;
        let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        let uniform = |limit: f64, rng: &mut ChaCha8Rng| -> Vec<f32> {
            let d = Uniform::new_inclusive(-limit, limit).expect("a finite limit");
            (0..n).map(|_| d.sample(rng) as f32).collect()
        };
        let normal = |std: f64, rng: &mut ChaCha8Rng| -> Vec<f32> {
            let d = Normal::new(0.0, std).expect("a finite standard deviation");
            (0..n).map(|_| d.sample(rng) as f32).collect()
        };
        match self {
            Init::GlorotUniform => uniform((6.0 / (fi + fo)).sqrt(), rng),
            Init::GlorotNormal => normal((2.0 / (fi + fo)).sqrt(), rng),
            Init::HeUniform => uniform((6.0 / fi).sqrt(), rng),
            Init::HeNormal => normal((2.0 / fi).sqrt(), rng),
            Init::LecunNormal => normal((1.0 / fi).sqrt(), rng),
            Init::Zeros => vec![0.0; n],
            Init::Uniform { limit } => uniform(f64::from(limit), rng),
        }
    }

    /// A generator seeded for reproducible draws: the same seed gives the same weights on every platform.
    pub fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Init::Uniform { limit } = self {
            return write!(f, "uniform({limit})");
        }
        f.write_str(match self {
            Init::GlorotUniform => "glorot_uniform",
            Init::GlorotNormal => "glorot_normal",
            Init::HeUniform => "he_uniform",
            Init::HeNormal => "he_normal",
            Init::LecunNormal => "lecun_normal",
            Init::Zeros => "zeros",
            Init::Uniform { .. } => unreachable!("written above"),
        })
    }
}

impl FromStr for Init {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some(arg) = lower.strip_prefix("uniform(").and_then(|r| r.strip_suffix(')')) {
            let limit = arg.trim().strip_prefix("scale=").unwrap_or(arg.trim()).trim();
            return match limit.parse::<f32>() {
                Ok(limit) if limit > 0.0 && limit.is_finite() => Ok(Init::Uniform { limit }),
                _ => Err(Error::config(
                    format!("initializer '{s}'"),
                    "uniform takes a half-width > 0, e.g. uniform(0.01) (MXNet's default)",
                )),
            };
        }
        Ok(match lower.as_str() {
            "glorot_uniform" | "xavier_uniform" => Init::GlorotUniform,
            "glorot_normal" | "xavier_normal" => Init::GlorotNormal,
            "he_uniform" | "kaiming_uniform" => Init::HeUniform,
            "he_normal" | "kaiming_normal" => Init::HeNormal,
            "lecun_normal" => Init::LecunNormal,
            "zeros" => Init::Zeros,
            _ => {
                return Err(Error::config(
                    format!("initializer '{s}'"),
                    "expected one of: glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_normal, zeros, uniform(LIMIT)",
                ));
            }
        })
    }
}
