//! `mlp gradcheck`: backpropagation against central finite differences on a random small network.

use crate::flags::GradcheckArgs;
use crate::term;
use anyhow::{Result, bail};
use mlp::gradcheck::gradcheck;
use mlp::{Activation, Error, Loss, Matrix, ModelConfig};
use std::fmt::Write as _;

/// splitmix64: a few lines of well-mixed, seeded numbers are all a gradient check needs.
struct Mix(u64);

impl Mix {
    /// Uniform in `[-2, 2)`.
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
    }
}

/// `mlp gradcheck`.
pub fn run(args: GradcheckArgs) -> Result<()> {
    if args.inputs == 0 || args.rows == 0 {
        return Err(Error::config("gradcheck", "--inputs and --rows must be at least 1").into());
    }
    let loss: Loss = args.loss.parse()?;
    let cfg = ModelConfig::parse(args.inputs, &args.layers)?;
    loss.check_output(cfg.output_activation(), cfg.output_dim())?;
    let model = cfg.init(args.seed)?;
    let mut rng = Mix(args.seed);
    let x = Matrix::new(args.rows, args.inputs, (0..args.rows * args.inputs).map(|_| rng.next()).collect());
    let out = cfg.output_dim();
    let t = match cfg.output_activation() {
        Activation::Softmax => {
            let mut t = Matrix::zeros(args.rows, out);
            for r in 0..args.rows {
                t.row_mut(r)[(r * 7 + args.seed as usize) % out] = 1.0;
            }
            t
        }
        Activation::Sigmoid => Matrix::new(args.rows, out, (0..args.rows * out).map(|i| (i % 2) as f32).collect()),
        _ => Matrix::new(args.rows, out, (0..args.rows * out).map(|_| rng.next()).collect()),
    };
    let check = gradcheck(&model, loss, &x, &t, 1e-5)?;
    let mut text = format!(
        "gradient check: {} → {} ({}), loss {loss}, {} rows, seed {}\n",
        args.inputs, args.layers, out, args.rows, args.seed
    );
    let _ = writeln!(text, "{:<28}{:>14}{:>14}{:>14}", "layer", "weight", "bias", "alpha");
    for (l, lc) in cfg.layers.iter().zip(&check.layers) {
        let cell = |name: &str| lc.get(name).map(|e| format!("{e:.2e}")).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            text,
            "{:<28}{:>14}{:>14}{:>14}",
            format!("{} ({}:{})", lc.layer, l.units, l.activation),
            cell("weight"),
            cell("bias"),
            cell("alpha")
        );
    }
    let worst = check.worst();
    term::out(&text)?;
    if worst > args.tolerance {
        bail!("gradient check failed: worst relative error {worst:.2e} exceeds {:.0e}", args.tolerance);
    }
    term::outln(&format!("OK: worst relative error {worst:.2e} ≤ {:.0e}", args.tolerance))?;
    Ok(())
}
