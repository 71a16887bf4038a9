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
    if let Some(images) = args.input.as_deref().filter(|p| is_idx_images(p)) {
        return predict_idx(&args, &saved, images);
    }
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
    out.put(header_line(classes.as_deref(), out_dim, args.proba).as_bytes())?;
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
        format_rows(&p, classes.as_deref(), args.proba, &mut text);
        out.put(text.as_bytes())?;
        rows += p.rows;
    }
    if INTERRUPT.load(Ordering::SeqCst) {
        return Err(interrupted(rows, args.output.as_deref()));
    }
    out.finish()
}

/// The CSV header: `prediction` (and `p_<label>` per class with `--proba`), or one column per output.
fn header_line(classes: Option<&[String]>, out_dim: usize, proba: bool) -> String {
    let mut header = vec![];
    match classes {
        Some(labels) => {
            header.push("prediction".to_string());
            if proba {
                header.extend(labels.iter().map(|l| format!("p_{l}")));
            }
        }
        None if out_dim == 1 => header.push("prediction".into()),
        None => header.extend((1..=out_dim).map(|j| format!("prediction_{j}"))),
    }
    format!("{}\n", header.join(","))
}

/// Appends one CSV line per row of predictions `p`.
fn format_rows(p: &mlp::Matrix, classes: Option<&[String]>, proba: bool, text: &mut String) {
    for r in 0..p.rows {
        let row = p.row(r);
        match classes {
            Some(labels) => {
                // One sigmoid unit is P(class 1); spell it out as two probabilities.
                let probs: Vec<f32> = if row.len() == 1 { vec![1.0 - row[0], row[0]] } else { row.to_vec() };
                let best = (0..probs.len()).fold(0, |b, j| if probs[j] > probs[b] { j } else { b });
                text.push_str(&csv_field(labels.get(best).map_or("?", String::as_str)));
                if proba {
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
}

/// Whether `--input` names IDX images: a directory of IDX files, or an `…idx3-ubyte[.gz]` file.
fn is_idx_images(path: &Path) -> bool {
    path.is_dir() || path.file_name().is_some_and(|n| n.to_string_lossy().contains("idx3-ubyte"))
}

/// `mlp predict MODEL --input IMAGES`: IDX images (a file, or a directory's test split) through
/// an image model, one prediction per image, as the Keras recipe's `predict_classes`.
fn predict_idx(args: &PredictArgs, saved: &model_file::SavedModel, path: &Path) -> Result<()> {
    let mlp::model_file::InputSpec::Pixels { rows, cols, .. } = &saved.meta.input else {
        return Err(mlp::Error::config("--input", "IDX images need a model trained on IDX images").into());
    };
    let (x, size) = if path.is_dir() {
        let (set, _) = mlp::data::idx::load_idx(path, mlp::data::idx::MnistSplit::Test)?;
        (set.x, set.size)
    } else {
        mlp::data::idx::read_images_sized(path)?
    };
    if size != (*rows, *cols) {
        return Err(mlp::Error::Data(format!(
            "{}: the images are {}×{}, but the model was trained on {rows}×{cols} images",
            path.display(),
            size.0,
            size.1
        ))
        .into());
    }
    let classes = saved.meta.classes.as_deref();
    let mut out = Output::open(args.output.as_deref())?;
    out.put(header_line(classes, saved.model.config.output_dim(), args.proba).as_bytes())?;
    let mut text = String::new();
    for start in (0..x.rows).step_by(args.chunk_rows) {
        if INTERRUPT.load(Ordering::SeqCst) {
            return Err(interrupted(start, args.output.as_deref()));
        }
        let n = args.chunk_rows.min(x.rows - start);
        let chunk = mlp::Matrix::new(n, x.cols, x.data[start * x.cols..(start + n) * x.cols].to_vec());
        text.clear();
        format_rows(&saved.model.predict(&chunk)?, classes, args.proba, &mut text);
        out.put(text.as_bytes())?;
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
