//! The clock a training session reads for its epoch times, passed in by the caller so that the loop never calls `Instant::now()` (which panics in WebAssembly).

/// Seconds on a monotonic clock from any fixed origin; only differences are used.
///
/// Any `Fn() -> f64 + Send` closure is a clock, so a browser front end can pass
/// `move || performance.now() / 1000.0` and a test a fixed value.
pub trait Clock: Send {
    /// The current reading, in seconds.
    fn now(&self) -> f64;
}

impl<F: Fn() -> f64 + Send> Clock for F {
    fn now(&self) -> f64 {
        self()
    }
}

/// The operating system's monotonic clock (`std::time::Instant`).
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    origin: std::time::Instant,
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
impl SystemClock {
    /// Starts the clock at 0.
    pub fn new() -> Self {
        Self { origin: std::time::Instant::now() }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
impl Clock for SystemClock {
    fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }
}

/// The clock a session uses unless given another: [`SystemClock`] natively; in the browser
/// (`wasm32-unknown-unknown`, which has no clock in `std`) a stopped clock reading 0, so epoch
/// times are 0 until the front end passes its own (see [`crate::train::Session::set_clock`]).
pub fn default_clock() -> Box<dyn Clock> {
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    {
        Box::new(SystemClock::new())
    }
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    {
        Box::new(|| 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closures_are_clocks_and_the_system_clock_moves_forward() {
        let fixed = || 2.5;
        assert_eq!(fixed.now(), 2.5);
        let c = default_clock();
        let (a, b) = (c.now(), c.now());
        assert!(a >= 0.0 && b >= a);
    }
}
