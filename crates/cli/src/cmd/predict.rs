//! `mlp predict`: a CSV of any size through a saved model, chunk by chunk, with the preprocessing
//! the model was trained with; the output file appears only when complete. A signal stops it
//! between chunks (no output file is left); a prediction that is not a finite number is an error
//! naming the input line, never a `NaN` in the output.

use crate::Interrupted;
use crate::flags::PredictArgs;
use crate::output::Output;
use crate::paths::Files;
use crate::signals::{self, INTERRUPT};
use anyhow::Result;
use mlp::data::csv::{CsvReader, Table};
use mlp::model_file;
use std::path::Path;
use std::sync::atomic::Ordering;

/// `mlp predict`.
pub fn run(args: PredictArgs) -> Result<()> {
    signals::graceful();
    if args.chunk_rows == 0 {
        return Err(mlp::Error::config("--chunk-rows", "must be at least 1").into());
    }
    check_files(&args)?;
    let saved = model_file::load(&args.model)?;
    let mut reader = match &args.input {
        Some(p) => CsvReader::open_with(p, args.delimiter)?,
        None => CsvReader::stdin_with(args.delimiter)?,
    };
    let classes = saved.meta.classes.clone();
    if args.proba && classes.is_none() {
        return Err(mlp::Error::config("--proba", "the model is a regression; it predicts values, not classes").into());
    }
    let out_dim = saved.model.config.output_dim();
    let mut out = Output::open(args.output.as_deref())?;
    let mut header = vec![];
    match &classes {
        Some(labels) => {
            header.push("prediction".to_string());
            if args.proba {
                header.extend(labels.iter().map(|l| format!("p_{l}")));
            }
        }
        None if out_dim == 1 => header.push("prediction".into()),
        None => header.extend((1..=out_dim).map(|j| format!("prediction_{j}"))),
    }
    out.put(format!("{}\n", header.join(",")).as_bytes())?;
    let mut text = String::new();
    let mut rows = 0usize;
    while let Some(chunk) = reader.next_chunk(args.chunk_rows)? {
        if INTERRUPT.load(Ordering::SeqCst) {
            return Err(interrupted(rows, args.output.as_deref()));
        }
        chunk.check_f32_range()?;
        let x = saved.meta.input.transform_features(&chunk)?;
        let p = saved.model.predict(&x)?;
        check_finite(&chunk, &p)?;
        text.clear();
        for r in 0..p.rows {
            let row = p.row(r);
            match &classes {
                Some(labels) => {
                    // One sigmoid unit is P(class 1); spell it out as two probabilities.
                    let probs: Vec<f32> = if row.len() == 1 { vec![1.0 - row[0], row[0]] } else { row.to_vec() };
                    let best = (0..probs.len()).fold(0, |b, j| if probs[j] > probs[b] { j } else { b });
                    text.push_str(&csv_field(labels.get(best).map_or("?", String::as_str)));
                    if args.proba {
                        for j in 0..labels.len() {
                            text.push_str(&format!(",{}", probs.get(j).copied().unwrap_or(0.0)));
                        }
                    }
                }
                None => {
                    let vals: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                    text.push_str(&vals.join(","));
                }
            }
            text.push('\n');
        }
        out.put(text.as_bytes())?;
        rows += p.rows;
    }
    if INTERRUPT.load(Ordering::SeqCst) {
        return Err(interrupted(rows, args.output.as_deref()));
    }
    out.finish()
}

/// The output against the model and the input (and stdout, when it is a file, against both).
fn check_files(args: &PredictArgs) -> Result<()> {
    let mut files = Files::default();
    files.input("the model file", &args.model)?;
    if let Some(p) = &args.input {
        files.input("--input", p)?;
    }
    match &args.output {
        Some(p) => files.output("--output", p)?,
        // `mlp predict m --input x.csv >> x.csv` would read its own predictions back.
        None if std::fs::metadata("/dev/stdout").is_ok_and(|m| m.is_file()) => {
            files.output("stdout", Path::new("/dev/stdout"))?
        }
        None => &mut files,
    };
    files.check(&[])
}

fn interrupted(rows: usize, output: Option<&Path>) -> anyhow::Error {
    let kept = match output {
        Some(p) => format!("{} was not written", p.display()),
        None => format!("{rows} rows were written to stdout"),
    };
    Interrupted(format!("interrupted ({}) after {rows} rows; {kept}", signals::name())).into()
}

/// Refuses a chunk whose predictions are not all finite, naming the first such row's line.
fn check_finite(chunk: &Table, p: &mlp::Matrix) -> Result<()> {
    for r in 0..p.rows {
        if let Some(v) = p.row(r).iter().find(|v| !v.is_finite()) {
            return Err(mlp::Error::Data(format!(
                "{}:{}: the prediction for this row is {v}; its values are too large for the model \
                 (check the row, or retrain on data in this range)",
                chunk.path,
                chunk.line(r)
            ))
            .into());
        }
    }
    Ok(())
}

/// Quotes a label that holds a comma, quote or line break, as CSV requires.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}
