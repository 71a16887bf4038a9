//! Activation functions: their names, their scalar formulas and derivatives, and their parsing from `relu`, `leaky_relu(0.1)`, `maxout(3)`.
//!
//! The CPU backend calls these scalar functions; the CUDA kernels copy the same formulas.

use crate::error::Error;
use crate::math::Real;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a dense layer applies to `z = x·W + b`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Activation {
    /// `a = z` (also called identity).
    Linear,
    /// `a = 1 / (1 + e^-z)`.
    Sigmoid,
    /// `a = tanh z`.
    Tanh,
    /// `a = max(0, z)`.
    Relu,
    /// `a = z` for `z > 0`, else `alpha·z`.
    LeakyRelu {
        /// Slope for negative inputs (Keras's default is 0.3, PyTorch's 0.01).
        alpha: f32,
    },
    /// Leaky ReLU whose slope is learned, one per unit (He et al. 2015).
    Prelu {
        /// The slopes' initial value (PyTorch's default is 0.25).
        init: f32,
    },
    /// `a = z` for `z > 0`, else `alpha·(e^z − 1)`.
    Elu {
        /// Scale of the negative part.
        alpha: f32,
    },
    /// `a = ln(1 + e^z)`.
    Softplus,
    /// `a_j = e^{z_j} / Σ_k e^{z_k}` over each row: class probabilities for an output layer.
    Softmax,
    /// Each unit is the largest of `pieces` linear functions (Goodfellow et al. 2013).
    Maxout {
        /// Linear pieces per unit (at least 2).
        pieces: usize,
    },
}

impl Activation {
    /// Width of the pre-activation `z` for `units` outputs: `units × pieces` for maxout.
    pub fn pre_width(&self, units: usize) -> usize {
        match self {
            Activation::Maxout { pieces } => units * pieces,
            _ => units,
        }
    }

    /// Whether the activation has learned parameters (PReLU's slopes).
    pub fn has_alpha(&self) -> bool {
        matches!(self, Activation::Prelu { .. })
    }

    /// Whether the activation mixes the units of a row (softmax, maxout), so that it cannot be
    /// applied element by element.
    pub fn is_row_wise(&self) -> bool {
        matches!(self, Activation::Softmax | Activation::Maxout { .. })
    }

    /// Checks the activation's own parameters.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |msg: String| Err(Error::config(format!("activation {self}"), msg));
        match *self {
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha } if !alpha.is_finite() => {
                bad(format!("alpha must be a finite number, got {alpha}"))
            }
            Activation::Prelu { init } if !init.is_finite() => {
                bad(format!("the initial slope must be a finite number, got {init}"))
            }
            Activation::Maxout { pieces } if pieces < 2 => {
                bad(format!("maxout needs at least 2 pieces per unit, got {pieces}"))
            }
            _ => Ok(()),
        }
    }

    /// `a = f(z)` for the element-wise activations (`alpha` is PReLU's slope for this unit).
    ///
    /// # Panics
    /// For softmax and maxout, which are row-wise.
    #[inline(always)]
    pub fn apply<T: Real>(&self, z: T, alpha: T) -> T {
        match *self {
            Activation::Linear => z,
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => z.tanh(),
            Activation::Relu => {
                if z > T::ZERO {
                    z
                } else {
                    T::ZERO
                }
            }
            Activation::LeakyRelu { alpha } => {
                if z > T::ZERO {
                    z
                } else {
                    T::from_f32(alpha) * z
                }
            }
            Activation::Prelu { .. } => {
                if z > T::ZERO {
                    z
                } else {
                    alpha * z
                }
            }
            Activation::Elu { alpha } => {
                if z > T::ZERO {
                    z
                } else {
                    // exp(z) − 1 loses digits near 0; exp(z).ln_1p-free form is fine for ELU's use.
                    T::from_f32(alpha) * (z.exp() - T::ONE)
                }
            }
            Activation::Softplus => softplus(z),
            Activation::Softmax | Activation::Maxout { .. } => {
                unreachable!("{self} is row-wise: use the backend's row operations")
            }
        }
    }

    /// `da/dz` for the element-wise activations, from `z` and `a = f(z)` (whichever is cheaper).
    #[inline(always)]
    pub fn derivative<T: Real>(&self, z: T, a: T, alpha: T) -> T {
        match *self {
            Activation::Linear => T::ONE,
            Activation::Sigmoid => a * (T::ONE - a),
            Activation::Tanh => T::ONE - a * a,
            Activation::Relu => {
                if z > T::ZERO {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
            Activation::LeakyRelu { alpha } => {
                if z > T::ZERO {
                    T::ONE
                } else {
                    T::from_f32(alpha)
                }
            }
            Activation::Prelu { .. } => {
                if z > T::ZERO {
                    T::ONE
                } else {
                    alpha
                }
            }
            // For z ≤ 0, d/dz α(e^z − 1) = αe^z = a + α.
            Activation::Elu { alpha } => {
                if z > T::ZERO {
                    T::ONE
                } else {
                    a + T::from_f32(alpha)
                }
            }
            Activation::Softplus => sigmoid(z),
            Activation::Softmax | Activation::Maxout { .. } => {
                unreachable!("{self} is row-wise: use the backend's row operations")
            }
        }
    }
}

/// The logistic function, evaluated so that neither branch overflows: e^-z for z ≥ 0, e^z below.
#[inline(always)]
pub fn sigmoid<T: Real>(z: T) -> T {
    if z >= T::ZERO {
        T::ONE / (T::ONE + (-z).exp())
    } else {
        let e = z.exp();
        e / (T::ONE + e)
    }
}

/// ln(1 + e^z) = max(z, 0) + ln(1 + e^-|z|): no overflow for large |z|.
#[inline(always)]
pub fn softplus<T: Real>(z: T) -> T {
    z.max(T::ZERO) + (-z.abs()).exp().ln_1p()
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Linear => write!(f, "linear"),
            Activation::Sigmoid => write!(f, "sigmoid"),
            Activation::Tanh => write!(f, "tanh"),
            Activation::Relu => write!(f, "relu"),
            Activation::LeakyRelu { alpha } => write!(f, "leaky_relu({alpha})"),
            Activation::Prelu { init } => write!(f, "prelu({init})"),
            Activation::Elu { alpha } => write!(f, "elu({alpha})"),
            Activation::Softplus => write!(f, "softplus"),
            Activation::Softmax => write!(f, "softmax"),
            Activation::Maxout { pieces } => write!(f, "maxout({pieces})"),
        }
    }
}

/// The names [`Activation::from_str`] accepts, for error messages.
pub const ACTIVATION_NAMES: &str =
    "linear, sigmoid, tanh, relu, leaky_relu(alpha), prelu(init), elu(alpha), softplus, softmax, maxout(pieces)";

impl FromStr for Activation {
    type Err = Error;

    /// Parses `relu`, `leaky_relu(0.1)`, `maxout(3)`…; a parameter in parentheses is optional
    /// where a default exists (leaky_relu 0.01, prelu 0.25, elu 1.0, maxout 2).
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let (name, arg) = match s.find('(') {
            Some(i) if s.ends_with(')') => (&s[..i], Some(s[i + 1..s.len() - 1].trim())),
            Some(_) => {
                return Err(Error::config(
                    format!("activation '{s}'"),
                    "a parameter must be written in parentheses, e.g. leaky_relu(0.1)",
                ));
            }
            None => (s, None),
        };
        let name = name.trim().to_ascii_lowercase();
        let num = |default: f32| -> Result<f32, Error> {
            match arg {
                None | Some("") => Ok(default),
                Some(a) => a
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| Error::config(format!("activation '{s}'"), format!("'{a}' is not a number"))),
            }
        };
        let no_arg = |act: Activation| -> Result<Activation, Error> {
            match arg {
                None => Ok(act),
                Some(_) => Err(Error::config(format!("activation '{s}'"), format!("{name} takes no parameter"))),
            }
        };
        let act = match name.as_str() {
            "linear" | "identity" | "none" => no_arg(Activation::Linear)?,
            "sigmoid" | "logistic" => no_arg(Activation::Sigmoid)?,
            "tanh" => no_arg(Activation::Tanh)?,
            "relu" => no_arg(Activation::Relu)?,
            "softplus" => no_arg(Activation::Softplus)?,
            "softmax" => no_arg(Activation::Softmax)?,
            "leaky_relu" | "leakyrelu" => Activation::LeakyRelu { alpha: num(0.01)? },
            "prelu" => Activation::Prelu { init: num(0.25)? },
            "elu" => Activation::Elu { alpha: num(1.0)? },
            "maxout" => {
                let pieces = match arg {
                    None | Some("") => 2,
                    Some(a) => a.parse::<usize>().map_err(|_| {
                        Error::config(format!("activation '{s}'"), format!("'{a}' is not a whole number of pieces"))
                    })?,
                };
                Activation::Maxout { pieces }
            }
            _ => {
                return Err(Error::config(
                    format!("activation '{s}'"),
                    format!("unknown activation; expected one of: {ACTIVATION_NAMES}"),
                ));
            }
        };
        act.validate()?;
        Ok(act)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for s in ["linear", "relu", "leaky_relu(0.1)", "prelu(0.25)", "elu(1)", "maxout(3)", "softmax"] {
            let a: Activation = s.parse().unwrap();
            assert_eq!(a.to_string().parse::<Activation>().unwrap(), a, "{s}");
        }
        assert_eq!("leaky_relu".parse::<Activation>().unwrap(), Activation::LeakyRelu { alpha: 0.01 });
    }

    #[test]
    fn rejects_unknown_and_bad_parameters() {
        let e = "swish".parse::<Activation>().unwrap_err().to_string();
        assert!(e.contains("unknown activation") && e.contains("leaky_relu(alpha)"), "{e}");
        assert!("maxout(1)".parse::<Activation>().unwrap_err().to_string().contains("at least 2"));
        assert!("leaky_relu(x)".parse::<Activation>().unwrap_err().to_string().contains("not a number"));
        assert!("relu(2)".parse::<Activation>().unwrap_err().to_string().contains("takes no parameter"));
    }

    #[test]
    fn stable_at_extremes() {
        for act in [
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Softplus,
            Activation::Elu { alpha: 1.0 },
            Activation::Relu,
            Activation::LeakyRelu { alpha: 0.1 },
        ] {
            for z in [-1000.0f32, 1000.0] {
                let a = act.apply(z, 0.25);
                let d = act.derivative(z, a, 0.25);
                assert!(a.is_finite() && d.is_finite(), "{act} at {z}: {a}, {d}");
            }
        }
        assert_eq!(sigmoid(-1000.0f32), 0.0);
        assert_eq!(softplus(1000.0f32), 1000.0);
    }
}
