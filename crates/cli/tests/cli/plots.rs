//! Every plot file is written and decodes to a non-trivial image: PNG and GIF through their
//! decoders, SVG by its markup.

use crate::util::Dir;
use std::fs::File;
use std::path::Path;

/// Decodes a PNG and checks it has size and more than a handful of colours.
pub fn check_png(path: &Path) {
    let decoder = png::Decoder::new(std::io::BufReader::new(File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size().expect("a bounded image")];
    let info = reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(info.width >= 100 && info.height >= 100, "{}: {}x{}", path.display(), info.width, info.height);
    let px = info.color_type.samples();
    let mut colours: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 8, "{}: only {} colours", path.display(), colours.len());
}

/// Decodes every frame of a GIF; returns the frame count.
fn gif_frames(path: &Path) -> usize {
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let mut dec = opts.read_info(File::open(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames = 0;
    while let Some(frame) = dec.read_next_frame().unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        assert!(frame.width > 0 && frame.height > 0);
        frames += 1;
    }
    frames
}

/// Decodes every file of a plot directory by its kind and returns their names, sorted; a file of
/// any other kind fails the test, so no plot a test writes goes unread.
pub fn check_plots(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "{}: no plot written", dir.display());
    for name in &names {
        let path = dir.join(name);
        match path.extension().and_then(|e| e.to_str()) {
            Some("png") => check_png(&path),
            Some("svg") => check_svg(&path),
            Some("gif") => assert!(gif_frames(&path) >= 1, "{}: no frame", path.display()),
            _ => panic!("{}: not a plot file", path.display()),
        }
    }
    names
}

/// Asserts that `names` (from [`check_plots`]) holds each of `wanted`.
pub fn has_all(names: &[String], wanted: &[&str]) {
    for w in wanted {
        assert!(names.iter().any(|n| n == w), "no {w} among {names:?}");
    }
}

fn check_svg(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("<svg") && text.contains("</svg>"), "{}", path.display());
    assert!(text.matches("<polyline").count() + text.matches("<path").count() >= 1, "{}: no curve", path.display());
    assert!(text.contains("epoch"), "{}: no axis label", path.display());
}

#[test]
fn train_writes_every_plot() {
    let d = Dir::new("plots");
    d.mlp(&[
        "train",
        "--data",
        "builtin:spirals?n=300",
        "--test",
        "builtin:spirals?n=100&seed=2",
        "--layers",
        "10:relu,2:softmax",
        "--optimizer",
        "sgd",
        "--momentum",
        "0.9",
        "--lr",
        "0.1",
        "--epochs",
        "12",
        "--validation-split",
        "0.2",
        "--plots",
        "figs",
        "--history",
        "h.jsonl",
        "-q",
    ])
    .ok();
    let figs = d.join("figs");
    let names = check_plots(&figs);
    has_all(
        &names,
        &["loss.png", "accuracy.png", "confusion_matrix.png", "decision_boundary.png", "loss.svg", "accuracy.svg"],
    );
    let frames = gif_frames(&figs.join("decision_boundary.gif"));
    assert!(frames >= 2, "the animation has {frames} frames");

    // `mlp plot` redraws them from the history and the model.
    d.mlp(&[
        "plot",
        "--history",
        "h.jsonl",
        "--model",
        "model.safetensors",
        "--data",
        "builtin:spirals?n=100&seed=2",
        "--out",
        "again",
    ])
    .ok();
    has_all(
        &check_plots(&d.join("again")),
        &["loss.png", "accuracy.png", "confusion_matrix.png", "decision_boundary.png", "loss.svg"],
    );
    d.write("bad.jsonl", "{\"epoch\": 1, \"loss\": 0.5}\nnot json\n");
    d.mlp(&["plot", "--history", "bad.jsonl", "--out", "x"]).fails_with(&["bad.jsonl:2:1", "not a JSON object"]);
}

#[test]
fn regression_and_many_features_write_curves_only() {
    let d = Dir::new("plots-regression");
    let rows: String = (0..60).map(|i| format!("{i},{},{}\n", i % 5, 2 * i + 1)).collect();
    d.write("r.csv", &format!("x,z,y\n{rows}"));
    d.mlp(&[
        "train", "--data", "r.csv", "--layers", "1:linear", "--loss", "mse", "--epochs", "4", "--plots", "p", "-q",
    ])
    .ok();
    // The metrics chart is named after its metric; no classification chart.
    let names = check_plots(&d.join("p"));
    has_all(&names, &["loss.png", "mae.png", "mae.svg"]);
    for f in ["accuracy.png", "decision_boundary.png", "confusion_matrix.png"] {
        assert!(!names.iter().any(|n| n == f), "a regression wrote {f}: {names:?}");
    }
}
