//! `mlp plot`, and the drawing shared with `mlp train --plots`: learning curves, the decision
//! boundary (PNG, and a GIF over epochs) for 2-D classifiers, and the confusion matrix.

use crate::flags::PlotArgs;
use crate::plots::{self, DecisionGif, Grid};
use crate::source::{Source, load_for_model};
use anyhow::Result;
use mlp::data::{Dataset, Targets};
use mlp::model_file::{self, InputSpec, ModelMeta};
use mlp::train::{EpochRecord, History};
use mlp::{Matrix, Model};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Cells per side of the decision grid.
const GRID: usize = 120;
/// Most frames in the animation.
pub const MAX_FRAMES: usize = 60;

/// Draws the learning curves of `history` into `dir`.
pub fn curves(dir: &Path, history: &History) -> Result<Vec<PathBuf>> {
    let epochs: Vec<usize> = history.epochs.iter().map(|r| r.epoch).collect();
    let names = history.metric_names();
    let values: Vec<Vec<f64>> =
        names.iter().map(|n| history.epochs.iter().map(|r| r.get(n).unwrap_or(f64::NAN)).collect()).collect();
    let series: Vec<(&str, &[f64])> = names.iter().map(String::as_str).zip(values.iter().map(Vec::as_slice)).collect();
    let (dead, scores): (Vec<_>, Vec<_>) = series.into_iter().partition(|(n, _)| n.starts_with("dead_units_"));
    let mut files = plots::learning_curves(dir, &epochs, &scores)?;
    if !dead.is_empty() {
        files.extend(plots::dead_units(dir, &epochs, &dead)?);
    }
    Ok(files)
}

/// Writes `confusion_matrix.png` for a classifier on `data`.
pub fn confusion(dir: &Path, model: &Model, meta: &ModelMeta, data: &Dataset) -> Result<Option<PathBuf>> {
    let Some(classes) = &meta.classes else { return Ok(None) };
    let ev = mlp::train::evaluate(model, data, meta.loss, 0)?;
    let Some(counts) = ev.confusion else { return Ok(None) };
    let k = classes.len();
    let counts: Vec<Vec<usize>> = counts.iter().take(k).map(|r| r.iter().take(k).copied().collect()).collect();
    let path = dir.join("confusion_matrix.png");
    plots::confusion_matrix(&path, &counts, classes)?;
    Ok(Some(path))
}

/// The points of a 2-D classification dataset in the coordinates the plots use (the raw data for
/// standardized built-in data, the model's inputs otherwise), and the map back to model inputs.
pub struct Plane {
    points: Vec<[f32; 2]>,
    labels: Vec<usize>,
    n_classes: usize,
    x_range: (f32, f32),
    y_range: (f32, f32),
    grid_x: Matrix,
}

impl Plane {
    /// `None` unless the model takes 2 features and the data has classes.
    pub fn new(meta: &ModelMeta, data: &Dataset) -> Option<Plane> {
        let Targets::Classes { labels, .. } = &data.y else { return None };
        let classes = meta.classes.as_ref()?;
        if data.x.cols != 2 {
            return None;
        }
        let unscale = |v: f32, f: usize| match &meta.input {
            InputSpec::Standardized { mean, std, .. } => v * std[f] + mean[f],
            _ => v,
        };
        let points: Vec<[f32; 2]> =
            (0..data.x.rows).map(|r| [unscale(data.x.row(r)[0], 0), unscale(data.x.row(r)[1], 1)]).collect();
        let (x_range, y_range) = Grid::bounds_for(&points);
        let cells = Grid::points(x_range, y_range, GRID, GRID);
        let mut grid_x = Matrix::new(cells.len(), 2, cells.iter().flatten().copied().collect());
        if let InputSpec::Standardized { .. } = &meta.input {
            meta.input.scale_numeric(&mut grid_x).ok()?;
        }
        Some(Plane { points, labels: labels.clone(), n_classes: classes.len().max(2), x_range, y_range, grid_x })
    }

    fn grid(&self, model: &Model) -> Result<Grid> {
        let p = model.predict(&self.grid_x)?;
        let (classes, confidence) = (0..p.rows)
            .map(|r| {
                let row = p.row(r);
                if row.len() == 1 {
                    (usize::from(row[0] >= 0.5), row[0].max(1.0 - row[0]))
                } else {
                    let best = (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b });
                    (best, row[best])
                }
            })
            .unzip();
        Ok(Grid {
            x_range: self.x_range,
            y_range: self.y_range,
            nx: GRID,
            ny: GRID,
            classes,
            confidence: Some(confidence),
        })
    }

    /// Writes `decision_boundary.png`.
    pub fn png(&self, dir: &Path, model: &Model, title: &str) -> Result<PathBuf> {
        let path = dir.join("decision_boundary.png");
        plots::decision_boundary(&path, &self.points, &self.labels, self.n_classes, &self.grid(model)?, title)?;
        Ok(path)
    }

    /// Writes `decision_boundary.gif`, one frame per `(epoch, weights)`.
    pub fn gif(&self, dir: &Path, frames: &[(usize, Model)]) -> Result<PathBuf> {
        let path = dir.join("decision_boundary.gif");
        let mut gif = DecisionGif::create(&path, 480, 480, 120)?;
        for (epoch, model) in frames {
            gif.add_frame(&self.points, &self.labels, self.n_classes, &self.grid(model)?, &format!("epoch {epoch}"))?;
        }
        gif.finish()?;
        Ok(path)
    }
}

/// Reads a history written by `mlp train --history`: one object per line with `epoch`, `lr`,
/// `seconds` and the metrics.
pub fn read_history(path: &Path) -> Result<History> {
    let file = std::fs::File::open(path).map_err(|e| mlp::Error::io(path, e))?;
    let mut history = History::default();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| mlp::Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| mlp::Error::parse(path, i as u64 + 1, 1, msg);
        let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&line)
            .map_err(|e| bad(format!("not a JSON object ({e}); expected a history line")))?;
        let epoch = obj.get("epoch").and_then(|v| v.as_u64()).ok_or_else(|| bad("no `epoch` number".into()))?;
        let mut record = EpochRecord {
            epoch: epoch as usize,
            lr: obj.get("lr").and_then(|v| v.as_f64()).unwrap_or(f64::NAN),
            seconds: obj.get("seconds").and_then(|v| v.as_f64()).unwrap_or(0.0),
            metrics: Default::default(),
        };
        for (k, v) in &obj {
            if !["epoch", "lr", "seconds"].contains(&k.as_str())
                && let Some(x) = v.as_f64()
            {
                record.metrics.insert(k.clone(), x);
            }
        }
        history.epochs.push(record);
    }
    if history.epochs.is_empty() {
        return Err(mlp::Error::format(path, "has no epochs; expected one JSON object per line").into());
    }
    Ok(history)
}

/// One JSON line per epoch: `epoch`, `lr`, `seconds`, then every metric.
pub fn history_jsonl(history: &History) -> String {
    let mut out = String::new();
    for r in &history.epochs {
        let mut j = serde_json::json!({"epoch": r.epoch, "lr": r.lr, "seconds": r.seconds});
        for (k, v) in &r.metrics {
            j[k] = serde_json::json!(v);
        }
        out.push_str(&j.to_string());
        out.push('\n');
    }
    out
}

/// Draws plots into `dir` through a staging directory beside them: `draw` writes into the stage,
/// then each file is renamed into `dir`, so a plot appears whole or not at all and a failure (a
/// full disk) leaves neither half a PNG nor the stage behind. Returns the final paths.
pub fn staged(dir: &Path, draw: impl FnOnce(&Path) -> Result<Vec<PathBuf>>) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| mlp::Error::io(dir, e))?;
    let stage = dir.join(format!(".mlp-plots.{}.tmp", std::process::id()));
    // A stage left by a killed run with this pid is stale.
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir(&stage).map_err(|e| mlp::Error::io(dir, e))?;
    crate::signals::watch_dir(&stage);
    let result = draw(&stage).and_then(|files| {
        let mut placed = Vec::with_capacity(files.len());
        for f in files {
            let to = dir.join(f.file_name().unwrap_or_default());
            std::fs::rename(&f, &to).map_err(|e| mlp::Error::io(&to, e))?;
            placed.push(to);
        }
        Ok(placed)
    });
    // Best effort: on success the stage is empty; on failure the error is what matters.
    let _ = std::fs::remove_dir_all(&stage);
    result
}

/// `mlp plot`.
pub fn run(args: PlotArgs) -> Result<()> {
    let mut files = crate::paths::Files::default();
    files.input("--history", &args.history)?;
    if let Some(m) = &args.model {
        files.input("--model", m)?;
    }
    if let Some(d) = &args.data {
        crate::paths::non_empty("--data", d)?;
        files.source("--data", &Source::parse(d))?;
    }
    crate::paths::non_empty("--out", &args.out.to_string_lossy())?;
    for name in crate::plan::PLOT_FILES {
        files.output("--out", &args.out.join(name))?;
    }
    files.check(&[])?;
    crate::plan::check_output_dir(&args.out, "--out")?;
    let history = read_history(&args.history)?;
    let model = match (&args.model, &args.data) {
        (Some(model_path), Some(data)) => {
            let saved = model_file::load(model_path)?;
            let data = load_for_model(&Source::parse(data), &saved.meta, b',')?;
            Some((saved, data))
        }
        _ => None,
    };
    let written = staged(&args.out, |stage| {
        let mut written = curves(stage, &history)?;
        if let Some((saved, data)) = &model {
            written.extend(confusion(stage, &saved.model, &saved.meta, data)?);
            if let Some(plane) = Plane::new(&saved.meta, data) {
                written.push(plane.png(stage, &saved.model, "decision boundary")?);
            }
        }
        Ok(written)
    })?;
    let text: String = written.iter().map(|p| format!("wrote {}\n", p.display())).collect();
    crate::term::out(&text)?;
    Ok(())
}
