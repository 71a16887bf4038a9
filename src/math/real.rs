//! The element types the CPU backend computes in: `f32` for training, `f64` for gradient checks.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point element type: the same layer, loss and optimizer code runs in `f32` (fast)
/// and in `f64` (the gradient check's precision).
pub trait Real:
    Copy
    + Send
    + Sync
    + Debug
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + 'static
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Converts from `f64` (rounding).
    fn from_f64(v: f64) -> Self;
    /// Converts from `f32`.
    fn from_f32(v: f32) -> Self;
    /// Widens to `f64`.
    fn to_f64(self) -> f64;
    /// Narrows to `f32`.
    fn to_f32(self) -> f32;
    /// e^x.
    fn exp(self) -> Self;
    /// ln x.
    fn ln(self) -> Self;
    /// ln(1 + x), accurate near 0.
    fn ln_1p(self) -> Self;
    /// tanh x.
    fn tanh(self) -> Self;
    /// √x.
    fn sqrt(self) -> Self;
    /// |x|.
    fn abs(self) -> Self;
    /// The larger of the two (NaN-ignoring, as `f32::max`).
    fn max(self, o: Self) -> Self;
    /// Whether the value is neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// `self · a + b` rounded once (one instruction where the CPU has fused multiply-add and the
    /// caller is compiled for it; a slow library call otherwise).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// -1, 0 or 1 (0 for 0, which is the subgradient the L1 penalty uses at 0).
    fn signum0(self) -> Self {
        if self > Self::ZERO {
            Self::ONE
        } else if self < Self::ZERO {
            -Self::ONE
        } else {
            Self::ZERO
        }
    }
}

macro_rules! impl_real {
    ($t:ty, $tanh:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn from_f32(v: f32) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn max(self, o: Self) -> Self {
                <$t>::max(self, o)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }
    };
}
impl_real!(f32, tanh_f32);
impl_real!(f64, f64::tanh);

/// tanh in `f32`: the platform's `tanhf` natively (bit for bit what it always was), and in
/// WebAssembly, which has no tanh instruction and whose software `tanhf` (an `expm1f` and a
/// division) took 40% of a small tanh network's training time in the browser, [`rational_tanh`].
#[inline]
fn tanh_f32(x: f32) -> f32 {
    #[cfg(target_arch = "wasm32")]
    {
        rational_tanh(x)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        x.tanh()
    }
}

/// Eigen's rational approximation of tanh for `f32` (a degree-13 odd polynomial over a degree-6
/// even one, saturating beyond ±7.905): within 4·10⁻⁷ of tanh everywhere (3.97·10⁻⁷ at worst, measured in f64), without a transcendental.
#[cfg(any(test, target_arch = "wasm32"))]
#[inline]
fn rational_tanh(x: f32) -> f32 {
    const ALPHA: [f32; 7] =
        [4.893_524_6e-3, 6.372_619_3e-4, 1.485_722_4e-5, 5.122_297e-8, -8.604_672e-11, 2.000_188e-13, -2.760_768_5e-16];
    const BETA: [f32; 4] = [4.893_525e-3, 2.268_434_7e-3, 1.185_347e-4, 1.198_258_4e-6];
    let x = x.clamp(-7.905_311, 7.905_311);
    if x.abs() < 4e-4 {
        return x;
    }
    let x2 = x * x;
    let p = ALPHA.iter().rev().fold(0.0f32, |acc, &a| acc * x2 + a) * x;
    let q = BETA.iter().rev().fold(0.0f32, |acc, &b| acc * x2 + b);
    p / q
}

#[cfg(test)]
mod rational_tanh_tests {
    #[test]
    fn the_webassembly_tanh_is_within_5e7_of_tanh() {
        let worst = (-100_000..=100_000)
            .map(|i| i as f32 * 1e-4)
            .map(|x| (f64::from(super::rational_tanh(x)) - f64::from(x).tanh()).abs())
            .fold(0.0, f64::max);
        assert!(worst < 5e-7, "{worst}");
        assert!((super::rational_tanh(f32::INFINITY) - 1.0).abs() < 3e-7);
        assert!((super::rational_tanh(-50.0) + 1.0).abs() < 3e-7);
        assert!(super::rational_tanh(f32::NAN).is_nan());
    }
}
