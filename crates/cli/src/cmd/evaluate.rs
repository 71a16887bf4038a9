//! `mlp evaluate`: a saved model scored on labelled data, as a table or JSON.

use crate::flags::EvaluateArgs;
use crate::source::{Source, load_for_model};
use crate::term;
use anyhow::Result;
use mlp::model_file;
use std::fmt::Write as _;

/// Largest class count for which the confusion matrix is printed.
const MAX_CONFUSION: usize = 20;

/// `mlp evaluate`.
pub fn run(args: EvaluateArgs) -> Result<()> {
    crate::plan::check_threads(args.threads)?;
    crate::paths::non_empty("--data", &args.data)?;
    crate::paths::non_empty("the model file", &args.model.to_string_lossy())?;
    let saved = model_file::load(&args.model)?;
    let data = load_for_model(&Source::parse(&args.data), &saved.meta, args.delimiter)?;
    let ev = mlp::train::evaluate(&saved.model, &data, saved.meta.loss, args.threads.unwrap_or(0))?;
    // A non-finite score is a broken model or input, never a result to print with exit 0.
    if let Some((k, v)) = ev.metrics.iter().find(|(_, v)| !v.is_finite()) {
        return Err(mlp::Error::Data(format!(
            "{}: the {k} on {} came out {v}; the model or the data holds values too large for 32-bit floats",
            args.model.display(),
            args.data
        ))
        .into());
    }
    let classes = saved.meta.classes.as_deref();
    if args.json {
        let j = serde_json::json!({
            "rows": ev.rows,
            "metrics": ev.metrics,
            "classes": classes,
            "confusion": ev.confusion,
        });
        term::outln(&j.to_string())?;
        return Ok(());
    }
    let mut out = String::new();
    let _ = writeln!(out, "{:<16}{}", "rows", ev.rows);
    let order = ["loss", "accuracy", "top_5_accuracy", "mse", "mae", "r2"];
    for k in order.iter().filter(|k| ev.metrics.contains_key(**k)) {
        let _ = writeln!(out, "{k:<16}{:.4}", ev.metrics[*k]);
    }
    for (k, v) in ev.metrics.iter().filter(|(k, _)| !order.contains(&k.as_str())) {
        let _ = writeln!(out, "{k:<16}{v:.4}");
    }
    if let (Some(counts), Some(labels)) = (&ev.confusion, classes)
        && labels.len() <= MAX_CONFUSION
    {
        let k = labels.len();
        let w = labels
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(1)
            .max(counts.iter().flatten().max().unwrap_or(&0).to_string().len())
            + 2;
        let _ = writeln!(out, "\nconfusion matrix (rows: true class, columns: predicted)");
        let _ = write!(out, "{:>w$}", "");
        for l in labels {
            let _ = write!(out, "{l:>w$}");
        }
        out.push('\n');
        for (i, l) in labels.iter().enumerate() {
            let _ = write!(out, "{l:>w$}");
            for j in 0..k {
                let _ = write!(out, "{:>w$}", counts.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0));
            }
            out.push('\n');
        }
    }
    term::out(&out)?;
    Ok(())
}
