//! `mlp data`: a built-in dataset written as CSV (`x1,x2,…,label` or `…,y`), or an IDX image set (`label,pixel_1,…`).

use crate::flags::DataArgs;
use crate::output::Output;
use crate::source::target_column;
use anyhow::Result;
use mlp::data::idx::{MnistSplit, load_idx};
use mlp::data::{Targets, synth};

/// `mlp data idx DIR`: one split of an IDX image set as CSV, `label,pixel_1,…` with the raw
/// 0–255 pixel values and the labels as the file has them: what `mlp predict` and `mlp train`
/// read back for a model trained on the images.
fn idx_csv(args: &DataArgs) -> Result<()> {
    let Some(dir) = &args.dir else {
        return Err(mlp::Error::config("mlp data idx", "needs the directory of IDX files: mlp data idx DIR").into());
    };
    let split = match args.split.as_str() {
        "train" => MnistSplit::Train,
        "test" => MnistSplit::Test,
        other => return Err(mlp::Error::config("--split", format!("expected train or test, got `{other}`")).into()),
    };
    if let Some(p) = &args.out {
        crate::paths::Files::default().output("--out", p)?.check(&[])?;
    }
    let (set, _) = load_idx(dir, split)?;
    let mut out = Output::open(args.out.as_deref())?;
    let mut text = String::from("label");
    text.extend((1..=set.x.cols).map(|i| format!(",pixel_{i}")));
    text.push('\n');
    out.put(text.as_bytes())?;
    for (r, label) in set.labels.iter().enumerate() {
        text.clear();
        text.push_str(&label.to_string());
        // The reader scaled by 1/255; this gives back the exact byte.
        text.extend(set.x.row(r).iter().map(|v| format!(",{}", (v * 255.0).round() as u8)));
        text.push('\n');
        out.put(text.as_bytes())?;
    }
    out.finish()
}

/// `mlp data`.
pub fn run(args: DataArgs) -> Result<()> {
    if matches!(args.name.as_str(), "idx" | "mnist") {
        return idx_csv(&args);
    }
    let mut q = Vec::new();
    if let Some(n) = args.n {
        q.push(format!("n={n}"));
    }
    if let Some(v) = args.noise {
        let key = match args.name.as_str() {
            "circles" | "function" => "noise",
            _ => "sd",
        };
        q.push(format!("{key}={v}"));
    }
    if let Some(s) = args.seed {
        q.push(format!("seed={s}"));
    }
    let spec = if q.is_empty() { args.name.clone() } else { format!("{}?{}", args.name, q.join("&")) };
    if let Some(p) = &args.out {
        crate::paths::Files::default().output("--out", p)?.check(&[])?;
    }
    let data = synth::builtin(&spec)?;
    let mut out = Output::open(args.out.as_deref())?;
    let header: Vec<String> = (1..=data.x.cols).map(|i| format!("x{i}")).collect();
    let target = target_column(&data.y);
    let mut text = String::new();
    text.push_str(&header.join(","));
    match &data.y {
        Targets::Values(m) if m.cols > 1 => {
            text.extend((1..=m.cols).map(|j| format!(",y{j}")));
        }
        _ => text.push_str(&format!(",{target}")),
    }
    text.push('\n');
    out.put(text.as_bytes())?;
    for r in 0..data.len() {
        text.clear();
        let row: Vec<String> = data.x.row(r).iter().map(|v| v.to_string()).collect();
        text.push_str(&row.join(","));
        match &data.y {
            Targets::Classes { labels, .. } => text.push_str(&format!(",{}", labels[r])),
            Targets::Values(m) => text.extend(m.row(r).iter().map(|v| format!(",{v}"))),
        }
        text.push('\n');
        out.put(text.as_bytes())?;
    }
    out.finish()
}
