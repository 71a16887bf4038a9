//! `mlp summary`: the Keras-style table of a model file or of a layer spec.

use crate::flags::SummaryArgs;
use crate::term;
use anyhow::Result;
use mlp::model_file::{self, InputSpec};
use mlp::{Error, ModelConfig};
use std::fmt::Write as _;

/// `mlp summary`.
pub fn run(args: SummaryArgs) -> Result<()> {
    if let Some(spec) = &args.layers {
        let inputs = args.inputs.ok_or_else(|| Error::config("--inputs", "give the input width with --layers"))?;
        term::out(&ModelConfig::parse(inputs, spec)?.summary())?;
        return Ok(());
    }
    let Some(path) = &args.model else {
        return Err(Error::config("summary", "give a model file, or --layers and --inputs").into());
    };
    let saved = model_file::load(path)?;
    let mut text = saved.model.summary();
    let m = &saved.meta;
    let _ = writeln!(text, "Loss: {}", m.loss);
    let input = match &m.input {
        InputSpec::Table { preprocessor } => {
            format!("CSV columns {} (target `{}`)", preprocessor.input_columns().join(", "), preprocessor.target_name())
        }
        InputSpec::Standardized { features, target, .. } => {
            format!("standardized {} (target `{target}`)", features.join(", "))
        }
        InputSpec::Pixels { rows, cols, .. } => format!("{rows}×{cols} pixels, 0-255 scaled to [0, 1]"),
    };
    let _ = writeln!(text, "Input: {input}");
    if let Some(c) = &m.classes {
        let _ = writeln!(text, "Classes: {}", c.join(", "));
    }
    if let Some(h) = &m.history {
        let metrics: Vec<String> = h.final_metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        let _ = writeln!(text, "Trained: {} epochs; last epoch {}", h.epochs, metrics.join("  "));
    }
    if !m.created_by.is_empty() {
        let _ = writeln!(text, "Written by: {}", m.created_by);
    }
    term::out(&text)?;
    Ok(())
}
