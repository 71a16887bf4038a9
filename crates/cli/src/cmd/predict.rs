//! `mlp predict`: a CSV of any size through a saved model, chunk by chunk, with the preprocessing
//! the model was trained with; the output file appears only when complete.

use crate::flags::PredictArgs;
use crate::output::Output;
use anyhow::Result;
use mlp::data::csv::CsvReader;
use mlp::model_file;

/// `mlp predict`.
pub fn run(args: PredictArgs) -> Result<()> {
    if args.chunk_rows == 0 {
        return Err(mlp::Error::config("--chunk-rows", "must be at least 1").into());
    }
    let saved = model_file::load(&args.model)?;
    let mut reader = match &args.input {
        Some(p) => CsvReader::open(p)?,
        None => CsvReader::stdin()?,
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
    saved.meta.input.transform_stream(&mut reader, args.chunk_rows, |x| {
        let p = saved.model.predict(&x)?;
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
        out.put(text.as_bytes())
    })?;
    out.finish()
}

/// Quotes a label that holds a comma, quote or line break, as CSV requires.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}
