//! `mlp data`: a built-in dataset written as CSV (`x1,x2,…,label` or `…,y`).

use crate::flags::DataArgs;
use crate::output::Output;
use crate::source::target_column;
use anyhow::Result;
use mlp::data::{Targets, synth};

/// `mlp data`.
pub fn run(args: DataArgs) -> Result<()> {
    let mut q = Vec::new();
    if let Some(n) = args.n {
        q.push(format!("n={n}"));
    }
    if let Some(v) = args.noise {
        let key = match args.name.as_str() {
            "circles" => "noise",
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
